"""Delivery guarantees (README "Delivery") under faults, with real redis-server
processes: numbered posts in (scripts/gap-check generate), and the alert set
in Redis checked for gaps and doubles (gap-check verify) after Redis stops,
restarts, sleeps or runs out of memory, and after mentiond is stopped
mid-burst or killed."""
import glob
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import LEVELS, TOP, Emulator, Mentiond, config, token_file, wait_for, x_source

GAP = os.path.join(TOP, "scripts", "gap-check")


def gen(workdir, n, start=0):
    path = os.path.join(workdir, "posts-%d-%d.jsonl" % (start, n))
    subprocess.run([GAP, "generate", str(n), path, "--start", str(start)], check=True)
    return path


def verify(redis_server, n, mode="list", allow_missing=False):
    args = [GAP, "verify", str(n), "--socket", redis_server.sock, "--mode", mode]
    if allow_missing:
        args.append("--allow-missing")
    out = subprocess.run(args, capture_output=True, text=True)
    return out.returncode, json.loads(out.stdout)


def wait_all(redis_server, n, timeout, mode="list"):
    """Every post's alert in Redis, each exactly once, at the right level."""
    wait_for(lambda: verify(redis_server, n, mode)[1]["found"] >= n, timeout, interval=0.5,
             what="all %d alerts" % n)
    rc, res = verify(redis_server, n, mode)
    assert rc == 0 and res["missing"] == 0 and res["doubled"] == 0, res


def metric(text, name, **labels):
    """Sum of the samples of name whose labels include the given ones."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if not m:
            continue
        ls = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(ls.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def segments(workdir):
    return glob.glob(os.path.join(workdir, "spool", "*.spool"))


def start(workdir, redis_server, procs, posts, rate=None, extra_daemon="", extra_redis="", source_extra="",
          shutdown_timeout=10):
    args = ["--posts", posts, "--token", "it-token"] + (["--rate", str(rate)] if rate else [])
    emu = Emulator(args)
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir), extra=source_extra),
                                 extra_daemon=extra_daemon, extra_redis=extra_redis,
                                 shutdown_timeout=shutdown_timeout))
    procs.append(m)
    return emu, m


def test_redis_down_30s_under_steady_stream(workdir, redis_server, procs):
    """30 s without Redis at 80 posts/s: the memory buffer (200) fills, the
    rest goes to the spool; afterwards every alert arrives once."""
    n = 3200
    emu, m = start(workdir, redis_server, procs, gen(workdir, n), rate=80, extra_redis="buffer_alerts = 200")
    wait_for(lambda: redis_server.count() >= 100, 20, what="first alerts")
    redis_server.stop()
    m.wait_log(r"redis: down")
    time.sleep(30)
    text = m.metrics()
    assert metric(text, "mentiond_alerts_spooled_total") > 1000
    assert metric(text, "mentiond_alerts_buffered") <= 200 + 1000      # memory stays bounded
    assert metric(text, "mentiond_spool_bytes") > 0
    assert metric(text, "mentiond_redis_up") == 0
    redis_server.start()
    wait_all(redis_server, n, 90)
    assert emu.stats()["records_sent"] == n
    text = m.metrics()
    assert metric(text, "mentiond_spool_replayed_total") == metric(text, "mentiond_alerts_spooled_total")
    assert metric(text, "mentiond_alerts_dropped_total") == 0
    assert metric(text, "mentiond_redis_state_changes_total", to="down") >= 1
    assert m.stop() == 0
    assert segments(workdir) == []          # everything delivered: nothing left on disk


def test_redis_restarted_repeatedly_during_a_burst(workdir, redis_server, procs):
    n = 6000
    emu, m = start(workdir, redis_server, procs, gen(workdir, n), rate=1000)
    wait_for(lambda: redis_server.count() >= 200, 20, what="first alerts")
    for _ in range(3):
        redis_server.stop()
        time.sleep(0.4)
        redis_server.start()
        time.sleep(0.8)
    wait_all(redis_server, n, 60)
    text = m.metrics()
    assert metric(text, "mentiond_redis_state_changes_total", to="down") >= 3
    # the in-flight alerts of each dead connection were sent again and the
    # seen keys turned the ones Redis had already applied into no-ops
    assert metric(text, "mentiond_redis_requeued_total") > 0
    assert m.stop() == 0


def test_slow_redis_fills_the_window_and_nothing_is_lost(workdir, redis_server, procs):
    """DEBUG SLEEP stalls Redis for 2 s twice: the in-flight window (50) and
    the memory buffer (100) fill, the rest waits on disk; no reconnect is
    needed (the command deadline is longer than the stall)."""
    redis_server.args = ["--enable-debug-command", "local"]
    redis_server.stop()
    redis_server.start()
    n = 4000
    emu, m = start(workdir, redis_server, procs, gen(workdir, n), rate=1000,
                   extra_redis="max_inflight = 50\nbuffer_alerts = 100\ncommand_timeout_ms = 5000")
    wait_for(lambda: redis_server.count() >= 100, 20, what="first alerts")
    for _ in range(2):
        redis_server.client().execute_command("DEBUG", "SLEEP", "2")
        time.sleep(0.3)
    wait_all(redis_server, n, 60)
    text = m.metrics()
    assert metric(text, "mentiond_alerts_spooled_total") > 0
    assert metric(text, "mentiond_redis_timeouts_total") == 0
    assert metric(text, "mentiond_redis_state_changes_total", to="down") == 0
    assert m.stop() == 0


def test_redis_out_of_memory_refuses_then_recovers(workdir, redis_server, procs):
    """maxmemory reached (noeviction): Redis answers OOM errors; the alerts
    are kept and retried, and all arrive once memory is raised."""
    r = redis_server.client()
    used = int(r.info("memory")["used_memory"])
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", str(used + 400 * 1024))
    n = 3000
    emu, m = start(workdir, redis_server, procs, gen(workdir, n), rate=600)
    m.wait_log(r"enqueue refused for .*OOM", 30)
    wait_for(lambda: emu.stats()["records_sent"] >= n, 20, what="all posts sent")
    rc, res = verify(redis_server, n)
    assert res["missing"] > 0                # Redis really was refusing
    text = m.metrics()
    assert metric(text, "mentiond_redis_errors_total") > 0
    assert metric(text, "mentiond_alerts_dropped_total") == 0
    r.config_set("maxmemory", "0")
    wait_all(redis_server, n, 60)
    assert m.stop() == 0


def test_sigterm_mid_burst_spools_and_the_next_start_replays(workdir, redis_server, procs):
    """Redis stalls (SIGSTOP) with commands in flight; SIGTERM gives up after
    shutdown_timeout and writes memory to the spool.  Redis then wakes and
    applies the commands it had read, so some spooled alerts are already
    there: the next start replays the spool and the seen keys keep those
    single."""
    n = 2000
    posts = gen(workdir, n)
    emu, m = start(workdir, redis_server, procs, posts, rate=400, shutdown_timeout=2)
    wait_for(lambda: redis_server.count() >= 50, 20, what="first alerts")
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: metric(m.metrics(), "mentiond_posts_decoded_total") >= n, 30, what="all posts decoded")
        m.signal(signal.SIGTERM)
        assert m.wait(20) == 0
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    first = m.text()
    assert re.search(r"shutdown: \d+ alerts not delivered to Redis within 2s are in the spool", first)
    assert segments(workdir)
    time.sleep(0.5)
    rc, res = verify(redis_server, n)
    assert res["missing"] > 0 and res["doubled"] == 0

    empty = os.path.join(workdir, "empty.jsonl")
    open(empty, "w").close()
    emu2, m2 = start(workdir, redis_server, procs, empty)
    m2.wait_log(r"spool: \d+ alerts left in .* by an earlier run")
    wait_all(redis_server, n, 60)
    text = m2.metrics()
    assert metric(text, "mentiond_spool_recovered") > 0
    assert metric(text, "mentiond_alerts_deduplicated_total") > 0     # the ones Redis had applied
    assert m2.stop() == 0
    assert segments(workdir) == []


@pytest.mark.parametrize("workers", [0, 2])
def test_sigterm_with_redis_down_keeps_every_record_read(workdir, redis_server, procs, workers):
    """SIGTERM mid-stream with Redis down: every record the daemon had read
    (its own count, in the shutdown log) was decoded and its alert spooled;
    the next start delivers exactly those, each once."""
    n = 600
    redis_server.stop()
    emu, m = start(workdir, redis_server, procs, gen(workdir, n), rate=400, shutdown_timeout=1,
                   extra_daemon="workers = %d" % workers)
    m.wait_log(r"source x-it: connected")
    wait_for(lambda: metric(m.metrics(), "mentiond_posts_decoded_total") >= 100, 20, what="100 posts decoded")
    m.signal(signal.SIGTERM)
    assert m.wait(20) == 0
    said = re.search(r"shutdown: since the start (\d+) records read, (\d+) posts decoded, 0 rejected; "
                     r"0 alerts acknowledged by Redis, (\d+) still to deliver", m.text())
    assert said, m.text()[-3000:]
    read, decoded, left = (int(x) for x in said.groups())
    assert read == decoded == left and 100 <= read < n, said.group(0)
    assert re.search(r"shutdown: %d alerts not delivered to Redis within 1s are in the spool" % read, m.text())
    emu.stop()

    redis_server.start()
    empty = os.path.join(workdir, "empty.jsonl")
    open(empty, "w").close()
    emu2, m2 = start(workdir, redis_server, procs, empty)
    wait_all(redis_server, read, 30)          # posts 1..read, each exactly once
    rc, res = verify(redis_server, n, allow_missing=True)
    assert res["found"] == read and res["doubled"] == 0, res
    assert m2.stop() == 0


def kill9_with_redis_down(workdir, redis_server, procs, durability, n):
    """Redis down, all posts decoded, then kill -9; Redis back, mentiond
    started again with the same spool.  Returns gap-check's summary."""
    redis_server.stop()
    emu, m = start(workdir, redis_server, procs, gen(workdir, n),
                   extra_daemon="durability = %s\nspool_fsync = never" % durability)
    wait_for(lambda: metric(m.metrics(), "mentiond_posts_decoded_total") >= n, 30, what="all posts decoded")
    m.proc.send_signal(signal.SIGKILL)
    m.wait(10)
    redis_server.start()
    empty = os.path.join(workdir, "empty.jsonl")
    open(empty, "w").close()
    emu2, m2 = start(workdir, redis_server, procs, empty)
    m2.wait_log(r"redis: up")
    if durability == "spool":
        wait_all(redis_server, n, 60)
    else:
        time.sleep(2)
    res = verify(redis_server, n, allow_missing=True)[1]
    assert m2.stop() == 0
    return res


def test_kill9_with_durability_spool_loses_nothing(workdir, redis_server, procs):
    res = kill9_with_redis_down(workdir, redis_server, procs, "spool", 800)
    assert res["found"] == 800 and res["doubled"] == 0
    assert segments(workdir) == []


def test_kill9_with_durability_memory_loses_the_buffer(workdir, redis_server, procs):
    """The control for the test above, and what the README says the default
    can lose: alerts held only in memory die with the process."""
    res = kill9_with_redis_down(workdir, redis_server, procs, "memory", 800)
    assert res["found"] == 0 and res["missing"] == 800


def test_full_spool_drops_the_least_urgent_first(workdir, redis_server, procs):
    """A 1 MiB spool cannot hold 1,600 alerts: lows, then normals, are
    deleted to make room, and every critical survives."""
    redis_server.stop()
    n = 1600
    emu, m = start(workdir, redis_server, procs, gen(workdir, n),
                   extra_daemon="spool_max_bytes = 1048576", extra_redis="buffer_alerts = 10")
    wait_for(lambda: metric(m.metrics(), "mentiond_posts_decoded_total") >= n, 30, what="all posts decoded")
    text = m.metrics()
    assert metric(text, "mentiond_spool_bytes") <= 1048576
    assert metric(text, "mentiond_alerts_dropped_total", reason="spool_full", level="low") > 0
    assert metric(text, "mentiond_alerts_dropped_total", level="critical") == 0
    assert re.search(r"spool: full \(1048576 bytes\): deleting .*low-", m.text())
    redis_server.start()
    m.wait_log(r"redis: up")
    wait_for(lambda: metric(m.metrics(), "mentiond_spool_alerts") == 0 and
             metric(m.metrics(), "mentiond_alerts_buffered") == 0, 30, what="spool drained")
    res = verify(redis_server, n, allow_missing=True)[1]
    assert res["doubled"] == 0 and res["missing"] > 0
    by_level = {}
    for key, alerts in redis_server.alerts().items():
        by_level[key.rsplit(":", 1)[1]] = by_level.get(key.rsplit(":", 1)[1], 0) + len(alerts)
    assert by_level.get("critical") == n // 4                        # every critical kept
    assert by_level.get("low", 0) < by_level.get("high", 0)         # lows went first
    dropped = metric(m.metrics(), "mentiond_alerts_dropped_total")
    assert res["found"] + dropped == n                              # every loss is counted
    assert m.stop() == 0


def test_stream_mode_with_consumer_groups(workdir, redis_server, procs):
    n = 400
    emu, m = start(workdir, redis_server, procs, gen(workdir, n),
                   extra_redis="mode = stream\nstream_groups = workers, audit\nmax_queue_length = 100000")
    wait_all(redis_server, n, 30, mode="stream")
    r = redis_server.client()
    keys = sorted(k.decode() for k in r.scan_iter(match="mentiond:s:*"))
    # the groups exist on every level of every queue the rules name, created
    # at start (so workers can attach before the first alert)
    for q in ("cards", "online", "press", "service", "default"):
        for lvl in LEVELS:
            key = "mentiond:s:%s:%s" % (q, lvl)
            assert key in keys, key
            groups = sorted(g["name"].decode() for g in r.xinfo_groups(key))
            assert groups == ["audit", "workers"], key
    assert not list(r.scan_iter(match="mentiond:q:*"))
    assert m.stop() == 0


def test_redis_acl_user_and_password_file(workdir, redis_server, procs):
    secret = "s3cret-acl-pass"
    redis_server.args = ["--user", "mentiond", "on", ">" + secret, "~*", "&*", "+@all",
                         "--requirepass", "other-admin-pass"]
    redis_server.password = "other-admin-pass"
    redis_server.stop()
    redis_server.start()
    pw = os.path.join(workdir, "redis.pass")
    with open(pw, "w") as f:
        f.write(secret + "\n")
    n = 40
    emu, m = start(workdir, redis_server, procs, gen(workdir, n),
                   extra_redis="username = mentiond\npassword_file = %s" % pw)
    wait_for(lambda: redis_server.count() >= n, 20, what="alerts as the ACL user")
    assert m.stop() == 0
    assert secret not in m.text()
    # a wrong password is refused, logged without the password, and Redis
    # stays down in the metrics
    with open(pw, "w") as f:
        f.write("wrong-" + secret + "\n")
    emu2, m2 = start(workdir, redis_server, procs, gen(workdir, 4, start=n),
                     extra_redis="username = mentiond\npassword_file = %s" % pw)
    m2.wait_log(r"redis: handshake refused: WRONGPASS")
    assert metric(m2.metrics(), "mentiond_redis_up") == 0
    assert m2.stop() == 0
    assert secret not in m2.text()


def test_tcp_and_database_number(workdir, procs):
    """redis://127.0.0.1:PORT/3: TCP on loopback and SELECT 3 (the other
    tests use the unix socket and database 0)."""
    import socket
    import redis as redis_py
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", workdir, "--logfile", os.path.join(workdir, "redis-tcp.log")])
    try:
        r = redis_py.Redis(host="127.0.0.1", port=port, db=3)
        wait_for(lambda: _ping(r), 10, what="redis on TCP")
        n = 20
        emu = Emulator(["--posts", gen(workdir, n), "--token", "it-token"])
        procs.append(emu)
        conf = config("/unused", x_source(emu.url, token_file(workdir))).replace(
            "url = unix:///unused", "url = redis://127.0.0.1:%d/3" % port).replace(
            "spool_dir = /spool", "spool_dir = %s/spool" % workdir)
        m = Mentiond(workdir, conf)
        procs.append(m)
        wait_for(lambda: sum(r.llen(k) for k in r.scan_iter(match="mentiond:q:*")) >= n, 20, what="alerts in db 3")
        assert not list(redis_py.Redis(host="127.0.0.1", port=port, db=0).scan_iter(match="mentiond:*"))
        assert m.stop() == 0
    finally:
        proc.terminate()
        proc.wait(10)


def _ping(r):
    try:
        return r.ping()
    except Exception:
        return False
