"""The daemon under valgrind memcheck through a stream with faults, a reload,
rules from Redis, a Redis restart and a clean SIGTERM: no memory error and
no definite leak."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, DEMO_POSTS, Emulator, config, demo_alert_count, token_file, wait_for, x_source


def test_memcheck_clean_through_a_session(workdir, redis_server, procs):
    if not shutil.which("valgrind"):
        pytest.skip("valgrind not installed")
    if os.environ.get("MENTIOND_SANITIZED"):
        pytest.skip("the daemon under test is built with ASan, which valgrind cannot run; "
                    "the plain build's run covers memcheck")
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5",
                    '--fault={"cut_after": 3}', '--fault={"garbage_after": 2}'])
    procs.append(emu)
    conf = os.path.join(workdir, "m.conf")
    with open(conf, "w") as f:
        f.write(config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                       extra_redis="rules_key = mentiond:rules\nrules_poll_ms = 200"))
    log = os.path.join(workdir, "valgrind.log")
    p = subprocess.Popen(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                          "--error-exitcode=9", "--log-file=" + log, BIN, "-f", "-c", conf],
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: redis_server.count() >= demo_alert_count(), 60, what="alerts under valgrind")
        r = redis_server.client()
        r.hset("mentiond:rules", "w", json.dumps({"query": "weather"}))
        time.sleep(2)
        r.hset("mentiond:rules", "bad", json.dumps({"query": "(weather"}))
        time.sleep(2)
        p.send_signal(signal.SIGHUP)
        time.sleep(3)
        redis_server.stop()
        time.sleep(0.5)
        redis_server.start()
        time.sleep(2)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    report = open(log).read()
    assert rc == 0, report[-3000:]
    assert "ERROR SUMMARY: 0 errors" in report
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report
