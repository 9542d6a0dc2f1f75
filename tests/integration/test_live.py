"""The live path: emulator (chunked HTTP on loopback) -> mentiond -> redis-server.
Asserts on what lands in Redis, compared with the offline replay of the same
posts, and on reconnection through every fault the emulator can produce."""
import json
import os
import re
import signal
import time

import pytest

from conftest import (demo_alert_count, CORPUS, DEMO_POSTS, LEVELS, Emulator, Mentiond, config, replay, token_file,
                      wait_for, x_source)


def expected():
    """(id, queue, level) of every alert the demo posts should give."""
    return sorted((a["id"].split(":", 1)[1], a["queue"], a["priority"]["level"])
                  for a in replay(DEMO_POSTS))


def landed(redis_server):
    out = []
    for key, alerts in redis_server.alerts().items():
        _, _, queue, level = key.split(":")
        for a in alerts:
            assert a["queue"] == queue and a["priority"]["level"] == level, key
            out.append((a["post"]["id"], queue, level))
    return sorted(out)


def start(workdir, redis_server, procs, emu_args, stall=5, extra_daemon=""):
    emu = Emulator(emu_args)
    procs.append(emu)
    tok = token_file(workdir)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, tok, stall=stall),
                                 extra_daemon=extra_daemon))
    procs.append(m)
    return emu, m


# workers = 2: the same results from decode-and-match threads, in the same order.
@pytest.mark.parametrize("workers", [0, 2])
def test_alerts_land_once_by_queue_and_level(workdir, redis_server, procs, workers):
    want = expected()
    emu, m = start(workdir, redis_server, procs, ["--posts", DEMO_POSTS, "--token", "it-token"],
                   extra_daemon="workers = %d" % workers)
    wait_for(lambda: redis_server.count() >= len(want), 15, what="all alerts in Redis")
    m.wait_log(r"status: .* alerts enqueued %d" % len(want))
    assert landed(redis_server) == want
    # within each list, the stream's order is kept
    for key, alerts in redis_server.alerts().items():
        ids = [int(a["post"]["id"]) for a in alerts]
        assert ids == sorted(ids), key
        for a in alerts:
            assert a["source"] == {"name": "x-it", "type": "x_v2"}
            assert a["instance"] == "it"
    assert set(redis_server.alerts()) == {"mentiond:q:%s:%s" % (q, l) for _, q, l in want}
    assert "mentiond_worker_threads %d" % workers in m.metrics()
    log = m.text()
    assert "it-token" not in log                     # the bearer token never reaches the log
    assert re.search(r"connection rate limit remaining 49 of 50, reset \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", log)
    assert m.stop() == 0
    # a clean stop closes Redis without a warning
    assert "redis: down:" not in m.text() and "redis: closed" in m.text(), m.text()[-2000:]


@pytest.mark.parametrize("workers", [0, 1])
def test_reconnects_through_faults_and_loses_nothing(workdir, redis_server, procs, workers):
    want = expected()
    faults = [{"disconnect_after": 4}, {"cut_after": 3}, {"garbage_after": 2, "disconnect_after": 5},
              {"status": 503}, {"oversized_after": 1}]
    emu, m = start(workdir, redis_server, procs,
                   ["--posts", DEMO_POSTS, "--token", "it-token", "--rate", "200"]
                   + ["--fault=" + json.dumps(f) for f in faults], extra_daemon="workers = %d" % workers)
    wait_for(lambda: redis_server.count() >= len(want), 30, what="all alerts in Redis")
    assert landed(redis_server) == want              # every post once: nothing lost, nothing doubled
    st = emu.stats()
    assert st["connections"] == 5                    # one per fault; the last stays up
    # backoff, from the emulator's own clock: a dropped healthy-looking
    # connection is retried after 250 ms (network, attempt 1), an HTTP 503
    # after at least 5 s
    t = st["connection_times"]
    assert t[4] - t[3] >= 5.0, t
    assert t[1] - t[0] >= 0.25
    log = m.text()
    assert "malformed record" in log and "offset" in log
    assert re.search(r"stream offset \d+: record over 1048576 bytes skipped \(1 so far\); raise the source's "
                     r"max_record if such records are real", log), log
    assert "connection ended inside a record" in log
    assert "HTTP 503" in log and "http backoff" in log
    m.wait_log(r"rejected records 3,")            # garbage + oversized + cut, all counted
    assert m.stop() == 0


def test_rate_limit_uses_the_429_backoff(workdir, redis_server, procs):
    emu, m = start(workdir, redis_server, procs,
                   ["--posts", DEMO_POSTS, "--token", "it-token", '--fault={"status": 429}'])
    line = m.wait_log(r"HTTP 429.*reconnecting in ([\d.]+)s \(rate-limit backoff")
    assert 60.0 <= float(line.group(1)) <= 72.0
    assert "connection rate limit remaining 0 of 50" in m.text()
    assert m.stop() == 0


def test_wrong_token_is_reported_not_logged(workdir, redis_server, procs):
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "the-right-token"])
    procs.append(emu)
    tok = token_file(workdir, "a-wrong-token")
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, tok)))
    procs.append(m)
    m.wait_log(r"HTTP 401: the server refused our credentials")
    m.wait_log(r"reconnecting in [\d.]+s \(http backoff, attempt 1\)")
    assert "a-wrong-token" not in m.text()
    assert redis_server.count() == 0
    assert m.stop() == 0


def test_stall_is_detected_and_keepalives_are_not_a_stall(workdir, redis_server, procs):
    want = expected()
    emu, m = start(workdir, redis_server, procs,
                   ["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "60",
                    '--fault={"stall_after": 5}'], stall=2)
    wait_for(lambda: redis_server.count() >= len(want), 20, what="all alerts after the stall")
    assert landed(redis_server) == want
    m.wait_log(r"stalled: no data or keep-alive for 2s")
    st = emu.stats()
    assert st["connections"] == 2
    assert 1.9 <= st["connection_times"][1] - st["connection_times"][0] <= 6
    m.stop()

    # Idle but with keep-alives every 0.5 s: one connection, no stall.
    emu2, m2 = start(workdir, redis_server, procs,
                     ["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"],
                     stall=2)
    wait_for(lambda: emu2.stats()["keepalives_sent"] >= 8, 10, what="keep-alives")
    assert emu2.stats()["connections"] == 1
    assert "stalled" not in m2.text()
    assert m2.stop() == 0


def test_redis_outage_buffers_and_delivers(workdir, redis_server, procs):
    """Redis stops mid-stream and comes back: what was buffered arrives."""
    want = expected()
    emu, m = start(workdir, redis_server, procs,
                   ["--posts", DEMO_POSTS, "--token", "it-token", "--rate", "10"])
    wait_for(lambda: redis_server.count() >= 3, 10, what="first alerts")
    redis_server.stop()
    m.wait_log(r"redis: down")
    wait_for(lambda: emu.stats()["records_sent"] >= 20, 10, what="posts sent while Redis is down")
    redis_server.start()
    m.wait_log(r"redis: up .*\n(.|\n)*redis: up", 15)
    wait_for(lambda: redis_server.count() >= len(want), 20, what="all alerts after the outage")
    # nothing lost, and the resent in-flight alert is not doubled (seen keys)
    assert landed(redis_server) == want
    assert m.stop() == 0


def test_buffer_overflow_drops_least_urgent_and_counts(workdir, redis_server, procs):
    redis_server.stop()
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token"])
    procs.append(emu)
    tok = token_file(workdir)
    # no spool_dir: memory only, so the overflow is dropped (with a spool it
    # goes to disk: test_delivery.py)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, tok),
                                 extra_redis="buffer_alerts = 5", spool=False))
    procs.append(m)
    wait_for(lambda: emu.stats()["records_sent"] >= 28, 10, what="all posts sent")
    m.wait_log(r"buffered 5, spooled 0, dropped %d" % (demo_alert_count() - 5))
    drops = [l for l in m.text().splitlines() if "buffer full (5 alerts); dropped a" in l]
    assert 1 <= len(drops) <= 5                               # logged, with a rate limit
    redis_server.start()
    wait_for(lambda: redis_server.count() >= 5, 15, what="buffered alerts")
    levels = sorted(a["priority"]["level"] for v in redis_server.alerts().values() for a in v)
    assert levels == ["critical"] * 3 + ["high"] * 2        # the most urgent were kept
    assert m.stop() == 0


def test_ndjson_source_with_field_mapping(workdir, redis_server, procs):
    feed = os.path.join(workdir, "feed.jsonl")
    with open(feed, "w") as f:
        f.write(json.dumps({"msg": {"uid": "n1", "body": "Nordvik app crashed, can't log in"},
                            "who": {"login": "pat", "fans": 5000}}) + "\n")
        f.write(json.dumps({"msg": {"uid": "n2", "body": "nothing relevant"}}) + "\n")
    emu = Emulator(["--posts", feed])
    procs.append(emu)
    src = ('[source "feed"]\ntype = ndjson\nurl = %s\nfield.id = /msg/uid\nfield.text = /msg/body\n'
           'field.author_handle = /who/login\nfield.author_followers = /who/fans\n' % emu.url)
    m = Mentiond(workdir, config(redis_server.sock, src))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= 1, 10, what="ndjson alert")
    a = redis_server.alerts()["mentiond:q:online:high"][0]
    assert a["id"] == "feed:n1" and a["post"]["author"]["handle"] == "pat"
    assert a["post"]["author"]["followers"] == 5000
    assert m.stop() == 0


def test_nul_in_text_hides_nothing(workdir, redis_server, procs):
    """One JSON escape must not hide a post: a NUL before the words that
    match (and a bell inside) reaches Redis as U+FFFD with the whole text."""
    feed = os.path.join(workdir, "feed.jsonl")
    with open(feed, "w") as f:
        f.write('{"msg": {"uid": "n1", "body": "\\u0000 Nordvik app crashed\\u0007, can\'t log in"}}\n')
    emu = Emulator(["--posts", feed])
    procs.append(emu)
    src = '[source "feed"]\ntype = ndjson\nurl = %s\nfield.id = /msg/uid\nfield.text = /msg/body\n' % emu.url
    m = Mentiond(workdir, config(redis_server.sock, src))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= 1, 10, what="the alert of the post with a NUL")
    a = redis_server.alerts()["mentiond:q:online:high"][0]
    assert a["post"]["text"] == "\ufffd Nordvik app crashed\ufffd, can't log in"
    assert "mentiond_text_controls_replaced_total 2" in m.metrics()
    assert re.search(r"post n1 from feed: 2 control characters replaced", m.text())
    assert m.stop() == 0


def test_file_source(workdir, redis_server, procs):
    src = '[source "recorded"]\ntype = file\npath = %s\nformat = x_v2\nrate = 1000\n' % DEMO_POSTS
    m = Mentiond(workdir, config(redis_server.sock, src))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= demo_alert_count(), 10, what="file alerts")
    m.wait_log(r"source recorded: end of .*: 32 posts, 0 rejected records")
    assert m.stop() == 0


def comparable(a):
    """An alert without what differs from run to run (times, alert ids) or
    with the order the emulator sends the captures in (the author's history:
    context and the score it adds to)."""
    a = dict(a)
    for k in ("id", "times", "context", "priority", "instance"):
        a.pop(k, None)
    a["source"] = a["source"]["type"]
    # alert ids in the context are "<source name>:<post id>"
    return json.dumps(a, sort_keys=True).replace('"x-it:', '"').replace('"replay:', '"')


@pytest.mark.parametrize("workers", [0, 2])
def test_corpus_over_http_matches_replay(workdir, redis_server, procs, workers):
    d = os.path.join(CORPUS, "twitter-v2-stream", "twarc-csv")
    if not os.path.isdir(d):
        pytest.skip("../shared/corpus is absent; real-payload test not run")
    rules = os.path.join(workdir, "common.rules")
    with open(rules, "w") as f:
        f.write('[rule "common"]\nquery = the OR a OR och OR de OR rt\nqueue = all\n')
    # the reference: --replay of the same captures with the same rules
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jsonl"))
    allcaps = os.path.join(workdir, "all.jsonl")
    with open(allcaps, "wb") as out:
        for f in files:
            out.write(open(f, "rb").read())
    ref = replay(allcaps, rules=rules)
    want = sorted(a["post"]["id"] for a in ref)
    assert len(want) > 400
    emu = Emulator(["--corpus", d])
    procs.append(emu)
    tok = token_file(workdir)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, tok), rules=rules,
                                 extra_daemon="workers = %d" % workers))
    procs.append(m)
    total = emu.stats()["total"]
    wait_for(lambda: emu.stats()["records_sent"] >= total, 20, what="corpus sent")
    wait_for(lambda: redis_server.count() >= len(want), 20, what="corpus alerts")
    m.wait_log(r"status: .*posts 1417, rejected records 0")
    live = [a for v in redis_server.alerts().values() for a in v]
    got = sorted(a["post"]["id"] for a in live)
    assert got == want
    # whole alerts as the offline replay (inline) makes them: post, matches, masking, meta

    assert sorted(map(comparable, live)) == sorted(map(comparable, ref))
    assert m.stop() == 0


def test_max_queue_length_trims_least_urgent_first(workdir, redis_server, procs):
    """max_queue_length caps a queue's four levels together; past it the
    oldest of the least urgent level goes, so criticals are the last kept."""
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 extra_redis="max_queue_length = 3"))
    procs.append(m)
    # the same policy, applied in arrival order to the offline replay
    queues, trimmed = {}, {l: 0 for l in LEVELS}
    for a in replay(DEMO_POSTS):
        q = queues.setdefault(a["queue"], {l: [] for l in LEVELS})
        q[a["priority"]["level"]].append(a["post"]["id"])
        while sum(len(v) for v in q.values()) > 3:
            victim = next(l for l in reversed(LEVELS) if q[l])
            q[victim].pop(0)
            trimmed[victim] += 1
    want = {"mentiond:q:%s:%s" % (name, l): ids for name, q in queues.items() for l, ids in q.items() if ids}
    m.wait_log(r"alerts enqueued %d" % demo_alert_count())
    time.sleep(0.3)
    got = {k: [a["post"]["id"] for a in v] for k, v in redis_server.alerts().items()}
    assert got == want
    assert sum(trimmed.values()) > 0 and trimmed["low"] + trimmed["normal"] > trimmed["critical"]
    text = m.metrics()
    for l in LEVELS:
        assert 'mentiond_alerts_trimmed_total{level="%s"} %d' % (l, trimmed[l]) in text
    assert "over max_queue_length (3): trimmed" in m.text()
    assert m.stop() == 0

def test_hung_redis_hits_the_deadlines_and_recovers(workdir, redis_server, procs):
    """hiredis 0.14 has no timeouts: a frozen Redis must trip mentiond's own
    command and connect deadlines, and everything arrives once it thaws."""
    want = expected()
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--rate", "20"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 extra_redis="command_timeout_ms = 300\nconnect_timeout_ms = 300"))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= 2, 10, what="first alerts")
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        m.wait_log(r"redis: down: no reply for \d+ms", 10)
        m.wait_log(r"connect timed out after 300ms", 10)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: set(landed(redis_server)) == set(want), 20, what="all alerts after the thaw")
    # Commands already in the socket when Redis froze run after the thaw and
    # are also resent; the seen keys keep each alert once.
    time.sleep(0.5)
    assert landed(redis_server) == want
    assert m.stop() == 0


def test_in_stream_control_messages_are_logged_and_counted(workdir, redis_server, procs):
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir))))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= demo_alert_count(), 10)
    emu.control(records=[
        {"errors": [{"title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect",
                     "detail": "This stream has been disconnected for operational reasons.",
                     "type": "https://api.x.com/2/problems/operational-disconnect"}]},
        {"data": {"id": "900", "text": "Nordvik outage again"}}])
    m.wait_log(r"source x-it: stream offset \d+: in-stream error: operational-disconnect "
               r"\(UpstreamOperationalDisconnect\)")
    wait_for(lambda: redis_server.count() >= demo_alert_count() + 1, 10, what="the post after the control message")
    assert m.stop() == 0


def test_restart_replaying_the_same_posts_adds_nothing(workdir, redis_server, procs):
    """A restart (or a backfill) that brings the same posts again: the
    seen keys in Redis keep every alert once."""
    want = expected()
    emu, m = start(workdir, redis_server, procs, ["--posts", DEMO_POSTS, "--token", "it-token"])
    wait_for(lambda: redis_server.count() >= len(want), 15, what="first run")
    assert m.stop() == 0
    emu2, m2 = start(workdir, redis_server, procs, ["--posts", DEMO_POSTS, "--token", "it-token"])
    m2.wait_log(r"status: .*posts 32,")
    time.sleep(0.5)
    assert landed(redis_server) == want
    assert redis_server.client().ttl("mentiond:seen:x-it:" + want[0][0]) > 86000
    assert m2.stop() == 0


def test_backfill_on_reconnect_gives_each_alert_once(workdir, redis_server, procs):
    """backfill_minutes: asked for on every connect (the first one covers a
    restart's gap); the posts the server sends again (X re-delivers the last
    minutes) give no second alert."""
    want = expected()
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--rate", "40",
                    "--fault", json.dumps({"disconnect_after": 12})])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir), stall=5,
                                                             extra="backfill_minutes = 2")))
    procs.append(m)
    wait_for(lambda: emu.stats()["connections"] >= 2, 15, what="a reconnect")
    wait_for(lambda: emu.stats()["position"] == emu.stats()["total"], 20, what="every post sent")
    wait_for(lambda: landed(redis_server) == want, 15, what="every alert, once")
    st = emu.stats()
    assert all(p.endswith("?backfill_minutes=2") for p in st["request_paths"][:2])
    assert st["backfilled"] == 12                # sent twice...
    time.sleep(0.5)
    assert landed(redis_server) == want          # ...alerted once
    assert m.stop() == 0


def test_script_flush_reloads_the_enqueue_script(workdir, redis_server, procs):
    """The script cache empties on a Redis restart or failover: NOSCRIPT
    must reload it and lose nothing."""
    want = expected()
    emu, m = start(workdir, redis_server, procs, ["--posts", DEMO_POSTS, "--token", "it-token", "--rate", "20"])
    wait_for(lambda: redis_server.count() >= 3, 10, what="first alerts")
    redis_server.client().script_flush()
    m.wait_log(r"the enqueue script is gone .*loading it again", 10)
    wait_for(lambda: landed(redis_server) == want, 20, what="every alert, once")
    assert m.stop() == 0
