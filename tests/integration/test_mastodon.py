"""Mastodon as it is now: several instances from one section, each with its
own token; Mastodon 4.5 instances whose live feeds are off (the public stream
carries only deletes) read by polling the timeline from the newest status
id; a stream that comes back after a drop, or a restart, asks the timeline
for what it missed.  Against scripts/mastodon-emulator (one real HTTP server
per instance) and a real redis-server."""
import os
import re

from conftest import Mentiond, MastodonInstance as Instance, config, replay, value, wait_for
from test_sources import demo, landed_ids, mastodon_status, write_jsonl

def templates(workdir):
    """The demo posts as Statuses, and which of them alert (by the replay)."""
    statuses = [mastodon_status(r) for r in demo()]
    path = write_jsonl(os.path.join(workdir, "statuses.jsonl"), statuses)
    alerting = {a["post"]["id"] for a in replay(path, fmt="mastodon", framing="lines")}
    return path, [s["id"] in alerting for s in statuses]


def expected(alerts, base_id, first, last):
    """The ids of the released statuses first..last-1 that alert."""
    return sorted(str(base_id + i) for i in range(first, last) if alerts[i % len(alerts)])


def tokens(workdir, **by_host):
    for host, tok in by_host.items():
        with open(os.path.join(workdir, "%s.token" % host), "w") as f:
            f.write(tok + "\n")
    return os.path.join(workdir, "{instance}.token")


def mastodon_section(instances, tokfile, extra=""):
    return ('[source "masto"]\ntype = mastodon\ninstances = %s\nstream = public\npoll_interval = 1\n'
            "token_file = %s\nstall_timeout = 5\n%s\n" % (", ".join(instances), tokfile, extra))


def backfilled(redis_server):
    return sorted(a["post"]["id"] for q in redis_server.alerts().values() for a in q
                  if a["type"] == "mention" and a.get("meta", {}).get("backfill") is True)


def polling(m, name):
    return value(m.metrics(), "mentiond_source_polling", source=name)


A_BASE, B_BASE = 113600000000000000, 113700000000000000


def test_two_instances_one_streaming_one_polled(workdir, redis_server, procs):
    """instances = a, b with a token each: a streams; b answers as Mastodon
    4.5 with its live feeds off (its public stream carries only deletes), is
    found so from /api/v2/instance, logged once, shown in metrics, and read
    by polling its timeline from the newest id: every status of both alerted
    once; a delete on b's stream is honoured."""
    path, alerts = templates(workdir)
    a = Instance(path, "token-a", ["--base-id", str(A_BASE)])
    b = Instance(path, "token-b", ["--base-id", str(B_BASE), "--live-feeds", "disabled"])
    procs += [a, b]
    tok = tokens(workdir, **{a.host: "token-a", b.host: "token-b"})
    m = Mentiond(workdir, config(redis_server.sock, mastodon_section([a.url, b.url], tok)))
    procs.append(m)
    na, nb = "masto@" + a.host, "masto@" + b.host
    m.wait_log(r"source %s: connected" % re.escape(na))
    m.wait_log(r"source %s: streaming is off: the instance \(Mastodon 4\.5\.0\) has its local live feeds off "
               r"\(timelines_access\); polling its timeline instead" % re.escape(nb))
    a.control(release=20)
    b.control(release=20)
    want = sorted(expected(alerts, A_BASE, 0, 20) + expected(alerts, B_BASE, 0, 20))
    assert len(want) >= 10
    wait_for(lambda: landed_ids(redis_server) == want, 20, what="every status of both instances alerted once")
    assert polling(m, nb) == 1 and polling(m, na) == 0
    sa, sb = a.stats(), b.stats()
    assert sa["unauthorized"] == 0 and sb["unauthorized"] == 0      # each got its own token
    assert sb["streams_open"] == 0 and sb["polls"]
    assert not sa["polls"]
    # the next 5 on b: polled from the newest id, nothing asked twice
    b.control(release=5)
    wait_for(lambda: landed_ids(redis_server) == sorted(want + expected(alerts, B_BASE, 20, 25)), 10,
             what="the next statuses of b")
    assert any(p.endswith("&since_id=%d&min_id=%d" % (B_BASE + 19, B_BASE + 19)) for p in b.stats()["polls"])
    assert len(re.findall(r"streaming is off", m.text())) == 1          # logged once
    # a delete reaches a's stream: the deletion record follows its alert
    first = expected(alerts, A_BASE, 0, 20)[0]
    a.control(delete=first)
    wait_for(lambda: landed_ids(redis_server, "deleted") == [first], 10, what="the deletion record")
    assert "token-a" not in m.text() and "token-b" not in m.text()
    assert m.stop() == 0


def test_a_dropped_stream_asks_the_timeline_for_what_it_missed(workdir, redis_server, procs):
    """The stream is a live tail: statuses that happen while it is down are
    fetched from the timeline (min_id = the newest seen) when it comes back,
    and after a restart from the id saved in Redis: none lost, none twice,
    and the ledger counts those gaps as filled."""
    path, alerts = templates(workdir)
    a = Instance(path, "token-a", ["--base-id", str(A_BASE)])
    procs.append(a)
    tok = tokens(workdir, **{a.host: "token-a"})
    name = "masto@" + a.host
    m = Mentiond(workdir, config(redis_server.sock, mastodon_section([a.url], tok)))
    procs.append(m)
    m.wait_log(r"source %s: connected" % re.escape(name))
    a.control(release=8)
    wait_for(lambda: landed_ids(redis_server) == expected(alerts, A_BASE, 0, 8), 10, what="the first 8")
    a.control(drop=1)                       # the stream ends ...
    a.control(release=8)                    # ... and these happen while it is down
    wait_for(lambda: landed_ids(redis_server) == expected(alerts, A_BASE, 0, 16), 15, what="the missed 8")
    assert any("min_id=" in p for p in a.stats()["polls"])
    # the caught-up ones say so (meta.backfill), the streamed ones do not
    assert backfilled(redis_server) == expected(alerts, A_BASE, 8, 16)
    text = m.metrics()
    assert value(text, "mentiond_source_gaps_total", source=name, cause="reconnect", filled="yes") == 1
    assert value(text, "mentiond_source_gaps_total", source=name, cause="reconnect", filled="no") == 0
    r = redis_server.client()
    wait_for(lambda: r.get("mentiond:cursor:" + name) == str(A_BASE + 15).encode(), 10, what="the id saved")
    assert m.stop() == 0
    a.control(release=8)                    # while mentiond is stopped
    m2 = Mentiond(workdir, config(redis_server.sock, mastodon_section([a.url], tok)))
    procs.append(m2)
    m2.wait_log(r"source %s: resuming from the saved position %d" % (re.escape(name), A_BASE + 15))
    wait_for(lambda: landed_ids(redis_server) == expected(alerts, A_BASE, 0, 24), 15, what="the 8 of the restart")
    assert backfilled(redis_server) == expected(alerts, A_BASE, 8, 24)
    m2.wait_log(r"source %s: connected" % re.escape(name))
    a.control(release=4)                    # and the stream goes on
    ids = landed_ids(redis_server)
    wait_for(lambda: landed_ids(redis_server) == expected(alerts, A_BASE, 0, 28), 10, what="streamed again")
    assert len(set(ids)) == len(ids)
    text = m2.metrics()
    assert value(text, "mentiond_posts_duplicate_total") == 0
    assert value(text, "mentiond_source_gaps_total", source=name, cause="backfill_partial", filled="no") == 0
    assert m2.stop() == 0


def test_an_instance_that_switches_its_feed_off(workdir, redis_server, procs):
    """A streaming instance switches its live feeds off (4.5): the stream
    stays open and goes quiet, is found quiet, the instance's document says
    why, and the timeline is polled from the newest id: nothing doubled
    across the switch, nothing lost."""
    path, alerts = templates(workdir)
    a = Instance(path, "token-a", ["--base-id", str(A_BASE), "--rate", "4", "--keepalive", "0.5"])
    procs.append(a)
    tok = tokens(workdir, **{a.host: "token-a"})
    name = "masto@" + a.host
    m = Mentiond(workdir, config(redis_server.sock, mastodon_section([a.url], tok, "quiet_timeout = 4\n")))
    procs.append(m)
    m.wait_log(r"source %s: connected" % re.escape(name))
    wait_for(lambda: value(m.metrics(), "mentiond_source_rate_posts_per_second", source=name) > 2, 25,
             what="the rate learnt")
    a.control(live_feeds="disabled")
    m.wait_log(r"source %s: disconnected: quiet" % re.escape(name), 15)
    m.wait_log(r"source %s: streaming is off: the instance \(Mastodon 4\.5\.0\) has its local live feeds off"
               % re.escape(name), 10)
    n = a.stats()["statuses"] + 4
    wait_for(lambda: a.stats()["statuses"] >= n, 5, what="more statuses")
    # every status since the first connection (a live tail) up to one polled
    # recently, each alerted once
    first = int(min(landed_ids(redis_server))) - A_BASE

    def caught_up():
        total = a.stats()["statuses"]
        ids = landed_ids(redis_server)
        return len(set(ids)) == len(ids) and set(expected(alerts, A_BASE, first, total - 8)) <= set(ids)
    try:
        wait_for(caught_up, 15, what="caught up by polling")
    except AssertionError:
        total = a.stats()["statuses"]
        ids = landed_ids(redis_server)
        print("total", total, "landed", len(ids), "unique", len(set(ids)))
        print("missing", sorted(set(expected(alerts, A_BASE, first, total - 8)) - set(ids))[:20])
        print("\n".join(l for l in m.text().splitlines() if "source masto" in l)[-4000:])
        raise
    ids = landed_ids(redis_server)
    assert set(ids) <= set(expected(alerts, A_BASE, 0, a.stats()["statuses"]))
    assert polling(m, name) == 1
    # nothing asked twice: no post seen again, none deduplicated by Redis
    text = m.metrics()
    assert value(text, "mentiond_posts_duplicate_total") == 0
    assert value(text, "mentiond_alerts_deduplicated_total") == 0
    assert m.stop() == 0
