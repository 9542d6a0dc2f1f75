"""Impersonation end to end: the stream emulator serves, over HTTP, a
complaint to @NordvikHelp, a look-alike's reply with a phone number, the
same reply from @NordvikHelp itself, a look-alike asking for a DM with no
victim seen, a customer whose handle contains the brand, and the look-alike
again; the real mentiond and redis-server between them."""
import os

from conftest import TOP, Emulator, Mentiond, config, token_file, total, value, wait_for, x_source

POSTS = os.path.join(TOP, "tests", "fixtures", "x_v2", "impersonation.jsonl")
OWN = "own_handles = NordvikHelp, NordvikBank\nimpersonation_queue = fraud\n"


def impersonations(redis_server):
    out = []
    for key, alerts in redis_server.alerts().items():
        out += [(key, a) for a in alerts if a["type"] == "impersonation"]
    return sorted(out, key=lambda ka: ka[1]["post"]["id"])


def test_lookalike_answering_a_complainant(workdir, redis_server, procs):
    emu = Emulator(["--posts", POSTS])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)), extra_daemon=OWN))
    procs.append(m)
    wait_for(lambda: len(impersonations(redis_server)) >= 3, 10, what="three impersonation alerts")
    m.wait_log(r"impersonation: @NordvikHe1p looks like @NordvikHelp and answers @anna_k, who wrote to it; "
               r"alert x-it:impersonation:1866000000000000105 \(2 from this account\)")
    found = impersonations(redis_server)
    assert [a["post"]["id"] for _, a in found] == ["1866000000000000101", "1866000000000000103",
                                                    "1866000000000000105"], found
    # the look-alike's reply to the complaint: critical, with what it is and what it asks
    key, a = found[0]
    assert key == "mentiond:q:fraud:critical"
    assert a["id"] == "x-it:impersonation:1866000000000000101"
    assert a["priority"]["reasons"] == ["lookalike:NordvikHelp~NordvikHe1p", "new_account", "phone_number",
                                        "asks_for_dm", "asks_for_card"]
    imp = a["impersonation"]
    assert imp["imitates"] == "NordvikHelp"
    assert imp["victim"] == {"handle": "anna_k", "post_id": "1866000000000000100"}
    assert imp["account"]["handle"] == "NordvikHe1p" and imp["account"]["verified_type"] == "blue"
    assert imp["account"]["created_at"] == "2026-12-01T00:00:00.000Z"
    assert imp["evidence"] == {"phones": ["+46 8 123 456 78"], "links": []}
    assert imp["account_alerts"] == 1
    # a look-alike asking for a DM, nobody's complaint seen: high
    key, a = found[1]
    assert key == "mentiond:q:fraud:high"
    assert a["priority"]["reasons"] == ["lookalike:NordvikHelp~Nordvik_Support_Desk", "asks_for_dm",
                                        "no_victim_seen"]
    assert a["impersonation"]["victim"] is None
    # the same account again: a repeat offender, its link kept as evidence
    key, a = found[2]
    assert key == "mentiond:q:fraud:critical"
    assert a["impersonation"]["account_alerts"] == 2
    assert a["impersonation"]["evidence"]["links"] == ["https://nordvik-refund.example/verify"]
    # the real @NordvikHelp's identical reply and the customer Nordvik_Anna: no impersonation
    ids = {a["post"]["id"] for _, a in found}
    assert "1866000000000000102" not in ids and "1866000000000000104" not in ids
    metrics = m.metrics()
    assert value(metrics, "mentiond_impersonation_alerts_total", reason="lookalike") == 3
    assert value(metrics, "mentiond_impersonation_alerts_total", reason="no_victim_seen") == 1
    assert value(metrics, "mentiond_impersonation_alerts_total", reason="phone_number") == 1
    # lookalike 3, new_account 2, phone 1, link 1, DM 2, card 2, no victim 1
    assert total(metrics, "mentiond_impersonation_alerts_total") == 12
    assert m.stop() == 0


def test_no_impersonation_without_own_handles(workdir, redis_server, procs):
    """Without own_handles nothing looks like the brand: the same stream
    gives mentions only."""
    emu = Emulator(["--posts", POSTS])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir))))
    procs.append(m)
    m.wait_log(r"status: 1/1 sources up.*posts 6,")
    assert impersonations(redis_server) == []
    assert "impersonation:" not in m.text()
    assert m.stop() == 0
