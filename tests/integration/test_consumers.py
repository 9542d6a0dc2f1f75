"""The reference workers of the README (scripts/consumer-list and
scripts/consumer-stream) against alerts the real daemon wrote."""
import json
import re
import os
import signal
import subprocess
import time

from conftest import LEVELS, TOP, Emulator, Mentiond, config, token_file, wait_for, x_source
from test_delivery import gen, metric, verify, wait_all

LIST = os.path.join(TOP, "scripts", "consumer-list")
STREAM = os.path.join(TOP, "scripts", "consumer-stream")


def run(args, timeout=30):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def levels_of(out):
    return [json.loads(l)["priority"]["level"] for l in out.splitlines()]


def daemon(workdir, redis_server, procs, posts, extra_redis=""):
    emu = Emulator(["--posts", posts, "--token", "it-token"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)), extra_redis=extra_redis))
    procs.append(m)
    return m


def test_list_worker_pops_by_strict_priority(workdir, redis_server, procs):
    n = 80
    m = daemon(workdir, redis_server, procs, gen(workdir, n))
    wait_all(redis_server, n, 20)
    # gap-check's posts go to four queues, one level each; put a mixed
    # queue together from them so the order is worth checking
    r = redis_server.client()
    for key in list(r.scan_iter(match="mentiond:q:*")):
        lvl = key.decode().rsplit(":", 1)[1]
        for raw in r.lrange(key, 0, -1):
            r.rpush("mentiond:q:mixed:" + lvl, raw)
    out = run([LIST, "--queue", "mixed", "--socket", redis_server.sock, "--once"])
    assert out.returncode == 0, out.stderr
    got = levels_of(out.stdout)
    assert len(got) == n
    assert got == sorted(got, key=LEVELS.index)            # all critical, then high, ...
    assert not any(r.exists("mentiond:q:mixed:" + l) for l in LEVELS)
    # a failing handler puts the alert back where it was
    r.rpush("mentiond:q:mixed:high", b'{"priority":{"level":"high"},"n":1}')
    out = run([LIST, "--queue", "mixed", "--socket", redis_server.sock, "--once", "--exec", "exit 3"])
    assert out.returncode == 1 and "put back" in out.stderr
    assert r.lrange("mentiond:q:mixed:high", 0, -1) == [b'{"priority":{"level":"high"},"n":1}']
    assert m.stop() == 0


def test_stream_worker_acks_and_claims_what_a_dead_worker_left(workdir, redis_server, procs):
    n = 40
    m = daemon(workdir, redis_server, procs, gen(workdir, n),
               extra_redis="mode = stream\nstream_groups = workers")
    wait_all(redis_server, n, 20, mode="stream")
    r = redis_server.client()
    queue, key = "online", "mentiond:s:online:high"          # gap-check's high level
    total = r.xlen(key)
    assert total == n // 4
    # worker 1 fails every alert: they stay pending, owned by it
    out = run([STREAM, "--queue", queue, "--group", "workers", "--consumer", "w1", "--socket",
               redis_server.sock, "--exec", "exit 1", "--once"])
    assert out.returncode == 1
    assert r.xpending(key, "workers")["pending"] == total
    # worker 2 finds nothing new, and after the idle time claims them all
    time.sleep(0.3)
    out = run([STREAM, "--queue", queue, "--group", "workers", "--consumer", "w2", "--socket",
               redis_server.sock, "--claim-idle-ms", "200", "--once"])
    assert out.returncode == 0, out.stderr
    ids = [json.loads(l)["post"]["id"] for l in out.stdout.splitlines()]
    assert len(ids) == total and len(set(ids)) == total
    assert r.xpending(key, "workers")["pending"] == 0
    # a poison alert (always failing) ends in the dead-letter stream
    m.stop()
    r.xadd("mentiond:s:online:critical", {"alert": '{"priority":{"level":"critical"},"post":{"id":"x"}}'})
    said = ""
    for _ in range(3):
        said += run([STREAM, "--queue", queue, "--group", "workers", "--consumer", "w3", "--socket",
                     redis_server.sock, "--claim-idle-ms", "0", "--max-deliveries", "2", "--exec", "exit 1",
                     "--once"]).stderr
    assert r.xlen("mentiond:s:online:critical:dead") == 1
    # ids as Redis writes them, not Python's bytes repr
    assert re.search(r"consumer-stream: mentiond:s:online:critical \d+-\d+ moved to "
                     r"mentiond:s:online:critical:dead", said), said
    assert "b'" not in said, said
    assert r.xpending("mentiond:s:online:critical", "workers")["pending"] == 0


def test_stream_worker_follows_a_live_daemon(workdir, redis_server, procs):
    """A long-running worker started before any alert: it takes every alert
    as it arrives, once, and exits cleanly on SIGTERM."""
    n = 60
    posts = gen(workdir, n)
    emu = Emulator(["--posts", posts, "--token", "it-token", "--rate", "40"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 extra_redis="mode = stream\nstream_groups = workers"))
    procs.append(m)
    worker = subprocess.Popen([STREAM, "--queue", "press", "--group", "workers", "--consumer", "live",
                               "--socket", redis_server.sock, "--block-ms", "200"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_all(redis_server, n, 30, mode="stream")
        wait_for(lambda: redis_server.client().xpending("mentiond:s:press:critical", "workers")["pending"] == 0
                 and redis_server.client().xinfo_groups("mentiond:s:press:critical")[0]["entries-read"] == n // 4,
                 10, what="the worker to take every press alert")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=10)
    assert worker.returncode == 0, err
    ids = [json.loads(l)["post"]["id"] for l in out.splitlines()]
    assert len(ids) == n // 4 == len(set(ids))
    assert m.stop() == 0
