"""The completeness ledger (README "Completeness"): a stream that stays open,
keep-alives flowing, but stops bringing posts while its rate says it should
not (the failure nobody notices) is found within quiet_timeout and
reconnected; the gap is recorded with its cause and whether the source
asked for what it missed (x_v2 backfill_minutes), in /metrics and the
heartbeat; with backfill every post of the gap is alerted once, without it
the ledger says the gap was not filled and the posts are indeed missing.
Real parts: the stream emulator (quiet_after: the records go on happening
at the source but are not sent), real redis-server, the real daemon."""
import calendar
import json
import os
import re
import time

from conftest import Emulator, Mentiond, config, token_file, value, wait_for, x_source
from test_fleet import RULES, posts

N, QUIET_AFTER = 300, 220


def run(workdir, redis_server, procs, backfill, extra="", emu_args=(), n=N, rate=20, faults=None):
    recs = posts(n, 1993500000000000000)
    path = os.path.join(workdir, "posts.jsonl")
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    rules = os.path.join(workdir, "q.rules")
    with open(rules, "w") as f:
        f.write(RULES)
    faults = faults or ['--fault={"quiet_after": %d}' % QUIET_AFTER]
    emu = Emulator(["--posts", path, "--rate", str(rate), "--keepalive", "0.5", "--token", "it-token"] + faults +
                   list(emu_args))
    procs.append(emu)
    extra = "quiet_timeout = 3\n" + ("backfill_minutes = 1\n" if backfill else "") + extra
    md = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir), name="xq",
                                                              extra=extra, stall=5),
                                  rules=rules, extra_daemon="heartbeat_interval = 1\n"))
    procs.append(md)
    return md, emu, {r["data"]["id"] for r in recs}


def alerted(redis_server):
    return [a["post"]["id"] for al in redis_server.alerts().values() for a in al]


def test_quiet_stream_reconnected_and_the_gap_filled(workdir, redis_server, procs):
    md, emu, ids = run(workdir, redis_server, procs, backfill=True)
    t0 = time.time()
    md.wait_log(r"source xq: disconnected: quiet: no post for 3s while it usually brings [\d.]+ a second", timeout=40)
    wait_for(lambda: len(alerted(redis_server)) >= N, 60, interval=0.5, what="every post alerted")
    time.sleep(1)
    got = alerted(redis_server)
    assert sorted(got) == sorted(ids)                   # the gap's posts came back, once each
    st = emu.stats()
    text = md.metrics()
    # once the emulator has sent its last post the stream goes quiet for good,
    # and is found quiet again: every quiet spell is one reconnect and one gap
    quiet = value(text, "mentiond_source_quiet_total", source="xq")
    assert quiet >= 1 and st["connections"] == 1 + quiet
    assert st["records_withheld"] > 0 and st["backfilled"] > 0
    assert value(text, "mentiond_source_gaps_total", source="xq", cause="quiet", filled="yes") == quiet
    assert value(text, "mentiond_source_gaps_total", source="xq", cause="quiet", filled="no") == 0
    assert value(text, "mentiond_source_gap_open", source="xq") == 0
    assert 15 <= value(text, "mentiond_source_rate_posts_per_second", source="xq") <= 25
    # the posts say 08:00 UTC today: the lag is the time since, to the minute
    lag = value(text, "mentiond_source_lag_seconds", source="xq")
    assert lag > 0 and abs(lag - (time.time() - calendar.timegm((2026, 12, 7, 8, 0, 0)))) < 120, lag
    assert abs(value(text, "mentiond_source_last_post_timestamp_seconds", source="xq") - time.time()) < 30
    hb = wait_for(lambda: (lambda h: h if int(h.get(b"source:xq:gaps", 0)) >= 1 else None)(
        redis_server.client().hgetall("mentiond:instance:it")), 5, what="the heartbeat's ledger")
    assert re.match(rb"\S+Z (\S+Z quiet filled|open quiet open)$", hb[b"source:xq:last_gap"]), hb
    print("every post alerted %.1f s after the start (%d quiet spells)" % (time.time() - t0, quiet))
    assert md.stop() == 0


def test_without_backfill_the_ledger_says_unfilled(workdir, redis_server, procs):
    md, emu, ids = run(workdir, redis_server, procs, backfill=False)
    md.wait_log(r"source xq: disconnected: quiet: no post for 3s", timeout=40)
    wait_for(lambda: value(md.metrics(), "mentiond_source_gaps_total", source="xq", cause="quiet",
                           filled="no") == 1, 10, what="the gap recorded as not filled")
    wait_for(lambda: emu.stats()["position"] >= N, 60, what="the emulator through its posts")
    time.sleep(2)
    missing = ids - set(alerted(redis_server))
    assert len(missing) == emu.stats()["records_withheld"] > 0       # what the quiet spell withheld
    assert md.stop() == 0


def test_quiet_gap_filled_by_recent_search(workdir, redis_server, procs):
    """Without backfill_minutes, gap_fill = search asks X's recent search for
    each rule's query from the newest id seen: every post of the gap comes
    back once, its alert says meta.backfill, and the gap counts as filled."""
    # 15 posts a second: the 10 s the rate takes to learn, then what a quiet
    # spell withholds (about 4 s) stays well inside one page of 100
    md, emu, ids = run(workdir, redis_server, procs, backfill=False, extra="gap_fill = search\n", n=260, rate=15,
                       faults=['--fault={"quiet_after": 160}'])
    md.wait_log(r"source xq: disconnected: quiet", timeout=40)
    md.wait_log(r"source xq: asking X's recent search for what the stream missed \(1 rules\)", timeout=10)
    wait_for(lambda: len(alerted(redis_server)) >= len(ids), 60, interval=0.5, what="every post alerted")
    time.sleep(1)
    got = alerted(redis_server)
    assert sorted(got) == sorted(ids)
    st = emu.stats()
    assert st["searched"] >= 1 and st["records_withheld"] >= 1
    assert all("since_id=" in q and "query=nordvik%20OR%20%40NordvikHelp" in q for q in st["search_requests"])
    backfilled = [a["post"]["id"] for al in redis_server.alerts().values() for a in al
                  if a.get("meta", {}).get("backfill") is True]
    assert 1 <= len(backfilled) <= st["searched"]
    text = md.metrics()
    assert value(text, "mentiond_source_gaps_total", source="xq", cause="quiet", filled="yes") >= 1
    assert value(text, "mentiond_source_gaps_total", source="xq", cause="quiet", filled="no") == 0
    assert md.stop() == 0


def test_search_refused_leaves_the_gap_unfilled(workdir, redis_server, procs):
    """An account without search (HTTP 403): said plainly, the stream
    connects again at once, and the gap counts as backfill_refused, not
    filled.  (A dropped connection makes the gap here.)"""
    md, emu, ids = run(workdir, redis_server, procs, backfill=False, extra="gap_fill = search\n",
                       emu_args=["--search-status", "403"], n=100, rate=100,
                       faults=['--fault={"disconnect_after": 30}'])
    md.wait_log(r"source xq: disconnected: ", timeout=20)
    md.wait_log(r"source xq: asking for what the stream missed failed \(HTTP 403", timeout=10)
    wait_for(lambda: value(md.metrics(), "mentiond_source_gaps_total", source="xq", cause="backfill_refused",
                           filled="no") >= 1, 10, what="the refused gap counted")
    md.wait_log(r"source xq: connected", timeout=10)
    assert md.stop() == 0
