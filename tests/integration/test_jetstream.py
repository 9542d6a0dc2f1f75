"""Bluesky Jetstream through mentiond's own WebSocket client, against
scripts/jetstream-emulator (python3-websockets: a real RFC 6455 server that
is not ours) and a real redis-server.  The reference for what should land is
the offline replay of the same events."""
import os
import re

import pytest

from conftest import (CORPUS, JETSTREAM_EVENTS, JetstreamEmulator, Mentiond, config, jetstream_source, replay,
                      value, wait_for)


def alert_ids(redis_server):
    return [a["id"] for q in redis_server.alerts().values() for a in q]


def expected_ids(path=JETSTREAM_EVENTS, rules=None, first=None, name="bsky"):
    """Alert ids the replay gives (of the first `first` events only, if set)."""
    if first is not None:
        with open(path) as f:
            lines = f.readlines()[:first]
        path = path + ".head"
        with open(path, "w") as f:
            f.writelines(lines)
    kw = {"rules": rules} if rules else {}
    ids = [a["id"].replace("replay:", name + ":", 1) for a in replay(path, fmt="jetstream", **kw)]
    if first is not None:
        os.unlink(path)
    return ids


def start(workdir, redis_server, procs, emu, extra="", stall=10, rules=None):
    kw = {"rules": rules} if rules else {}
    m = Mentiond(workdir, config(redis_server.sock, jetstream_source(emu.url, extra=extra, stall=stall), **kw))
    procs.append(m)
    return m


def rejected(m, reason):
    mt = re.search(r'^mentiond_records_rejected_total\{source="bsky",reason="%s"\} (\S+)' % reason,
                   m.metrics(), re.M)
    return float(mt.group(1)) if mt else None


def test_live_fragmented_pinged_matches_replay(workdir, redis_server, procs):
    """Live tail: filters in the URL, fragmented messages and server pings
    handled; exactly the replay's alerts; skipped kinds counted."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS, "--ping-interval", "0.3"])
    procs.append(emu)
    emu.control(fragment=3)
    m = start(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: no saved position; starting live")
    m.wait_log(r"source bsky: connected \(HTTP 101\)")
    emu.control(release="all")
    want = expected_ids()
    assert len(want) == 6
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="the replay's alerts")
    st = emu.stats()
    assert st["requests"][0] == "/subscribe?wantedCollections=app.bsky.feed.post&maxMessageSizeBytes=1048576"
    assert st["connects"] == 1
    # identity and account events bypass wantedCollections: skipped by us
    wait_for(lambda: rejected(m, "not_a_post") == 2, what="2 skipped events")
    assert rejected(m, "malformed") == 0
    # the saved position is the last event's time_us once its alerts settled
    r = redis_server.client()
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"1783175888011000", what="cursor saved")
    assert 0 < r.ttl("mentiond:cursor:bsky") <= 7 * 86400
    assert m.stop() == 0
    assert 1001 in emu.stats()["client_close_codes"]       # going away, on shutdown


def test_restart_resumes_from_saved_cursor(workdir, redis_server, procs):
    """Events published while mentiond is down are fetched on restart from
    the cursor in Redis: nothing lost, nothing doubled."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    m = start(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: connected")
    emu.control(release=6)
    first = expected_ids(first=6)
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(first), what="alerts of the first 6 events")
    r = redis_server.client()
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"1783175888005000", what="cursor of event 6")
    assert m.stop() == 0
    emu.control(release="all")              # published while we are away
    m2 = start(workdir, redis_server, procs, emu)
    m2.wait_log(r"source bsky: resuming from the saved position 1783175888005000")
    want = expected_ids()
    wait_for(lambda: len(alert_ids(redis_server)) >= len(want), what="every alert")
    ids = alert_ids(redis_server)
    assert sorted(ids) == sorted(want) and len(set(ids)) == len(ids)
    # resumed 3 s before the position (time_us is not strictly ordered)
    assert emu.stats()["requests"][1].endswith("&cursor=%d" % (1783175888005000 - 3000000))
    assert m2.stop() == 0


def test_faults_reconnect_without_loss(workdir, redis_server, procs):
    """Refused upgrade (HTTP backoff), a dropped connection, a server close
    (1011), a protocol violation (masked server frame: we close with 1002)
    and an oversized message: each time the client reconnects from its
    position, and every alert arrives exactly once."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    emu.control(refuse=503)
    m = start(workdir, redis_server, procs, emu, extra="max_record = 4096")
    m.wait_log(r"source bsky: disconnected: HTTP 503 instead of 101 .*http backoff")
    emu.control(refuse=0)
    m.wait_log(r"source bsky: connected", timeout=15)
    emu.control(release=3)
    wait_for(lambda: len(alert_ids(redis_server)) == 2, what="2 alerts")
    emu.control(drop=1)
    wait_for(lambda: emu.stats()["connects"] == 2, what="reconnect after a drop")
    emu.control(release=3)
    emu.control(close=1011)
    wait_for(lambda: emu.stats()["connects"] == 3, what="reconnect after close 1011")
    m.wait_log(r"server closed the WebSocket: code 1011")
    emu.control(raw="8181000000006100")    # FIN text, MASK bit set: forbidden from a server
    wait_for(lambda: emu.stats()["connects"] == 4, what="reconnect after a protocol error")
    m.wait_log(r"masked frame from the server")
    assert 1002 in emu.stats()["client_close_codes"]
    emu.control(big=20000)                 # over max_record: skipped, connection kept
    emu.control(release="all")
    want = expected_ids()
    wait_for(lambda: len(alert_ids(redis_server)) >= len(want), what="every alert")
    ids = alert_ids(redis_server)
    assert sorted(ids) == sorted(want) and len(set(ids)) == len(ids)
    wait_for(lambda: rejected(m, "oversized") == 1, what="oversized counted")
    assert emu.stats()["connects"] == 4
    # each reconnect asked for the position it had reached, rewound 3 s
    assert all("&cursor=" in q for q in emu.stats()["requests"][1:])
    assert m.stop() == 0


def test_quiet_stream_kept_alive_by_pings_then_stall(workdir, redis_server, procs):
    """A quiet stream is not a dead one: our pings get pongs, so no stall;
    a server that stops answering is detected and replaced."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    m = start(workdir, redis_server, procs, emu, stall=3)
    m.wait_log(r"source bsky: connected")
    import time
    time.sleep(5)                           # > stall_timeout with no event
    assert "stalled" not in m.text()
    assert emu.stats()["connects"] == 1
    emu.control(freeze=1)                   # no reads, no pongs
    m.wait_log(r"source bsky: disconnected: stalled", timeout=10)
    wait_for(lambda: emu.stats()["connects"] == 2, what="a new connection")
    assert m.stop() == 0


def test_long_did_list_goes_in_options_update(workdir, redis_server, procs):
    """300 DIDs do not fit a URL: requireHello and an options_update carry
    them, and the server's filter applies."""
    a = "did:plc:a2c4e6g8i0k2m4o6q8s0u2w4"
    dids = [a] + ["did:plc:%024d" % i for i in range(299)]
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    path = os.path.join(workdir, "dids.txt")
    with open(path, "w") as f:
        f.write("\n".join(dids[1:]) + "\n")
    m = start(workdir, redis_server, procs, emu, extra="dids = %s\ndids_file = %s" % (a, path))
    m.wait_log(r"source bsky: connected")
    wait_for(lambda: emu.stats()["hello"], what="options_update")
    st = emu.stats()
    assert "requireHello=true" in st["requests"][0] and "wantedDids" not in st["requests"][0]
    payload = st["hello"][0]["payload"]
    assert payload["wantedDids"] == dids and payload["wantedCollections"] == ["app.bsky.feed.post"]
    emu.control(release="all")
    want = [i for i in expected_ids() if a in i]
    assert want
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="only the listed author's alerts")
    assert m.stop() == 0


CORPUS_JS = os.path.join(CORPUS, "bluesky-jetstream")


def test_compressed_real_events_with_dictionary(workdir, redis_server, procs):
    """compress=true with the official dictionary: the 152 real events, one
    zstd frame each, give exactly the replay's alerts; a corrupt frame is
    counted and skipped without dropping the stream."""
    events = os.path.join(CORPUS_JS, "corpus-expected_v1.jsonl")
    zdict = os.path.join(CORPUS_JS, "legacy_subscribe.zdict")
    if not os.path.exists(events):
        pytest.skip("SKIPPED: ../shared/corpus is absent; real-payload test not run")
    rules = os.path.join(workdir, "js.rules")
    with open(rules, "w") as f:
        f.write('[rule "common"]\nquery = the OR and OR youtube OR "https" OR #art\n')
    emu = JetstreamEmulator(["--events", events, "--dictionary", zdict])
    procs.append(emu)
    m = start(workdir, redis_server, procs, emu, rules=rules,
              extra="compress = on\ndictionary = %s\ncollections = app.bsky.feed.*" % zdict)
    m.wait_log(r"zstd dictionary .* \(id 1612007021\)")
    m.wait_log(r"source bsky: connected")
    emu.control(badzstd=1)                 # a cut frame: counted, skipped, stream kept
    wait_for(lambda: rejected(m, "malformed") == 1, what="the corrupt frame counted")
    m.wait_log(r"compressed message \(\d+ bytes\) skipped: zstd: ")
    emu.control(release="all")
    want = expected_ids(events, rules=rules)
    assert len(want) >= 5
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="the replay's alerts")
    assert "compress=true" in emu.stats()["requests"][0]
    assert "wantedCollections=app.bsky.feed.*" in emu.stats()["requests"][0]
    assert rejected(m, "malformed") == 1 and emu.stats()["connects"] == 1
    assert m.stop() == 0


def test_wss_verifies_the_server_certificate(workdir, redis_server, procs):
    """wss://: TLS through our bufferevent transport.  A certificate the
    system store does not trust is refused (and says why); with ca_file
    naming it, the stream works."""
    import subprocess
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS, "--tls-cert", cert, "--tls-key", key])
    procs.append(emu)
    assert emu.url.startswith("wss://")
    m = start(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: disconnected: TLS: certificate of 127.0.0.1 not accepted: self.signed certificate")
    assert m.stop() == 0
    os.unlink(os.path.join(workdir, "mentiond.conf"))
    m2 = start(workdir, redis_server, procs, emu, extra="ca_file = %s" % cert)
    m2.wait_log(r"source bsky: connected \(HTTP 101\)")
    emu.control(release="all")
    want = expected_ids()
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="the replay's alerts over wss")
    assert m2.stop() == 0


# ---- the v2 endpoint (network.bsky.jetstream.subscribeEvents) ----------

V2 = "/xrpc/network.bsky.jetstream.subscribeEvents"


def start_v2(workdir, redis_server, procs, emu, extra="", rules=None):
    kw = {"rules": rules} if rules else {}
    kw["extra_daemon"] = "heartbeat_interval = 1\n"
    m = Mentiond(workdir, config(redis_server.sock, jetstream_source(emu.url.replace("/subscribe", V2),
                                                                      extra=extra), **kw))
    procs.append(m)
    return m


def events_after(workdir, n, path=JETSTREAM_EVENTS):
    """A copy of the events file without its first n events."""
    out = os.path.join(workdir, "after-%d.jsonl" % n)
    with open(path) as f, open(out, "w") as o:
        o.writelines(f.readlines()[n:])
    return out


def gaps(m, cause, filled):
    return value(m.metrics(), "mentiond_source_gaps_total", source="bsky", cause=cause, filled=filled)


def deleted_ids(redis_server):
    return [a["id"] for q in redis_server.alerts().values() for a in q if a.get("type") == "deleted"]


def test_v2_live_resume_and_delete_markers(workdir, redis_server, procs):
    """v2: its filter names and subprotocol, seq positions saved and resumed
    from exactly (inclusive: the last event comes again and is not alerted
    twice), a delete marker publishes the deletion record; the same alerts
    as the replay of the same events."""
    events = os.path.join(workdir, "events.jsonl")
    with open(JETSTREAM_EVENTS) as f, open(events, "w") as out:
        out.write(f.read())
        # the first post (alerted) deleted at the end: a marker on the v2 wire
        out.write('{"did":"did:plc:a2c4e6g8i0k2m4o6q8s0u2w4","time_us":1783175888000013,"kind":"commit",'
                  '"commit":{"rev":"3mptb0013abc2a","operation":"delete","collection":"app.bsky.feed.post",'
                  '"rkey":"3mnv0001aaa2a"}}\n')
    emu = JetstreamEmulator(["--events", events])
    procs.append(emu)
    m = start_v2(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: connected \(HTTP 101\)")
    emu.control(release=6)
    first = expected_ids(first=6)
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(first), what="alerts of the first 6 events")
    st = emu.stats()
    assert st["requests"][0] == V2 + "?kinds=commit&collections=app.bsky.feed.post&maxMessageSizeBytes=1048576"
    assert st["subprotocols"] == ["xrpc.v1.json"]
    r = redis_server.client()
    # events 2 (a like) and 4 (identity) were filtered by the server: seq 6 is the last
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"6", what="the seq of event 6 saved")
    assert m.stop() == 0
    emu.control(release="all")              # published while we are away
    m2 = start_v2(workdir, redis_server, procs, emu)
    m2.wait_log(r"source bsky: resuming from the saved position 6(?!\d)")
    want = expected_ids(events)             # the deletion record has its alert's id
    wait_for(lambda: len(alert_ids(redis_server)) >= len(want), what="every alert")
    ids = alert_ids(redis_server)
    assert sorted(ids) == sorted(want) and len(set(ids)) == len(ids) - 1
    assert emu.stats()["requests"][1].endswith("&cursor=6")
    assert deleted_ids(redis_server) == ["bsky:at://did:plc:a2c4e6g8i0k2m4o6q8s0u2w4/app.bsky.feed.post/3mnv0001aaa2a"]
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"13", what="the last seq saved")
    assert gaps(m2, "cursor_too_old", "no") == 0 and gaps(m2, "cursor_jump", "no") == 0
    assert m2.stop() == 0


def test_v2_cursor_too_old_resumes_from_the_floor(workdir, redis_server, procs):
    """A saved seq the server no longer keeps is refused before the upgrade
    (HTTP 400, CursorTooOld, the floor in the message): mentiond resumes
    from the floor at once, the events in between are lost and the ledger
    says so (a gap not filled)."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    m = start_v2(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: connected")
    emu.control(release=3)
    r = redis_server.client()
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"3", what="the seq of event 3 saved")
    assert m.stop() == 0
    emu.control(release="all", floor=9)      # events 4..8 fell out of the lookback meanwhile
    m2 = start_v2(workdir, redis_server, procs, emu)
    m2.wait_log(r"source bsky: cursor 3 is older than the server keeps \(CursorTooOld\): resuming from its "
                r"oldest, seq 9; the events in between are lost")
    kept = set(expected_ids(first=3))
    later = set(expected_ids(events_after(workdir, 8)))
    wait_for(lambda: set(alert_ids(redis_server)) == kept | later, what="alerts of events 1-3 and 9-12")
    st = emu.stats()
    assert st["v2_errors"] == ["CursorTooOld"]
    # the refused request (cursor=3) was never upgraded; the next asked from the floor
    assert len(st["requests"]) == 2 and st["requests"][1].endswith("&cursor=9")
    assert gaps(m2, "cursor_too_old", "no") == 1
    assert gaps(m2, "cursor_too_old", "yes") == 0
    wait_for(lambda: (r.hget("mentiond:instance:it", "source:bsky:last_gap") or b"").endswith(b" cursor_too_old unfilled"),
             what="the heartbeat's last gap")
    assert m2.stop() == 0


def test_v2_future_cursor_starts_positions_anew(workdir, redis_server, procs):
    """A saved seq from another archive (beyond the server's next seq): the
    server starts at the tip with an #info FutureCursor; the gap is
    recorded, the new seqs become the position and are saved although they
    are lower than the old one."""
    emu = JetstreamEmulator(["--events", JETSTREAM_EVENTS])
    procs.append(emu)
    emu.control(release=6)
    r = redis_server.client()
    r.set("mentiond:cursor:bsky", "900000")
    m = start_v2(workdir, redis_server, procs, emu)
    m.wait_log(r"source bsky: resuming from the saved position 900000(?!\d)")
    m.wait_log(r"Jetstream notice FutureCursor: .*events before it may be missing")
    emu.control(release="all")
    want = set(expected_ids(events_after(workdir, 6)))
    wait_for(lambda: set(alert_ids(redis_server)) == want, what="alerts of events 7-12 only")
    m.wait_log(r"source bsky: the server numbers its positions anew \(asked from 900000, got \d+\)")
    wait_for(lambda: r.get("mentiond:cursor:bsky") == b"12", what="the new, lower seq saved")
    wait_for(lambda: gaps(m, "cursor_jump", "no") == 1, what="the jump in the ledger")
    assert m.stop() == 0


def test_v2_compressed_and_a_retired_dictionary(workdir, redis_server, procs):
    """zstdDictionary=<id of our dictionary file>: the real events in
    binary frames give the replay's alerts.  A dictionary the server no
    longer has (UnknownZstdDictionary) is said plainly, and the source goes
    on uncompressed rather than stopping."""
    events = os.path.join(CORPUS_JS, "corpus-expected_v1.jsonl")
    zdict = os.path.join(CORPUS_JS, "legacy_subscribe.zdict")
    if not os.path.exists(events):
        pytest.skip("SKIPPED: ../shared/corpus is absent; real-payload test not run")
    import zstandard
    with open(events, "rb") as f:
        samples = f.read().splitlines()
    other = os.path.join(workdir, "retired.zdict")
    with open(other, "wb") as f:
        f.write(zstandard.train_dictionary(4096, samples * 3).as_bytes())
    rules = os.path.join(workdir, "js.rules")
    with open(rules, "w") as f:
        f.write('[rule "common"]\nquery = the OR and OR youtube OR "https" OR #art\n')
    want = expected_ids(events, rules=rules)
    emu = JetstreamEmulator(["--events", events, "--dictionary", zdict])
    procs.append(emu)
    m = start_v2(workdir, redis_server, procs, emu, rules=rules,
                 extra="compress = on\ndictionary = %s\ncollections = app.bsky.feed.*" % zdict)
    m.wait_log(r"source bsky: connected")
    emu.control(release="all")
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="the replay's alerts")
    assert "&zstdDictionary=1612007021" in emu.stats()["requests"][0]
    assert rejected(m, "malformed") == 0
    assert m.stop() == 0
    redis_server.client().flushall()
    emu.stop()
    emu = JetstreamEmulator(["--events", events, "--dictionary", zdict])
    procs.append(emu)
    m2 = start_v2(workdir, redis_server, procs, emu, rules=rules,
                  extra="compress = on\ndictionary = %s\ncollections = app.bsky.feed.*" % other)
    m2.wait_log(r"source bsky: the server no longer has the zstd dictionary in .*retired.zdict "
                r"\(UnknownZstdDictionary\): reading uncompressed")
    m2.wait_log(r"source bsky: connected")
    emu.control(release="all")
    wait_for(lambda: sorted(alert_ids(redis_server)) == sorted(want), what="the alerts, uncompressed")
    st = emu.stats()
    assert st["v2_errors"] == ["UnknownZstdDictionary"]
    assert "zstdDictionary" not in st["requests"][-1]
    assert m2.stop() == 0
