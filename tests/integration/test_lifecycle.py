"""Signals, reload and systemd integration of the real daemon."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import (demo_alert_count, BIN, DEMO_POSTS, TOP, Emulator, Mentiond, RULES, config, token_file, value, wait_for,
                      x_source)


def copy_rules(workdir):
    d = os.path.join(workdir, "rules.d")
    shutil.copytree(os.path.join(TOP, "conf", "rules.d"), d)
    return d


def test_sigterm_flushes_buffer_when_redis_returns(workdir, redis_server, procs):
    redis_server.stop()
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir))))
    procs.append(m)
    m.wait_log(r"buffered %d," % demo_alert_count())
    m.signal(signal.SIGTERM)
    m.wait_log(r"signal 15: stopping sources, flushing %d alerts" % demo_alert_count())
    redis_server.start()
    assert m.wait(timeout=15) == 0
    assert redis_server.count() == demo_alert_count()
    assert "shutdown: all alerts delivered" in m.text()


def test_sigterm_reports_what_it_could_not_deliver(workdir, redis_server, procs):
    redis_server.stop()
    src = '[source "f"]\ntype = file\npath = %s\n' % DEMO_POSTS
    m = Mentiond(workdir, config(redis_server.sock, src, spool=False).replace("shutdown_timeout = 10",
                                                                               "shutdown_timeout = 1"))
    procs.append(m)
    m.wait_log(r"redis: cannot connect to .*redis.sock: .*retrying")
    m.wait_log(r"buffered %d," % demo_alert_count())
    t0 = time.monotonic()
    assert m.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert "%d alerts could not be delivered to Redis within 1s and are lost" % demo_alert_count() in m.text()


@pytest.mark.parametrize("workers", [0, 2])
def test_sighup_reload_valid_and_invalid(workdir, redis_server, procs, workers):
    rules = copy_rules(workdir)
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 rules=os.path.join(rules, "*.rules"), extra_daemon="workers = %d" % workers))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= demo_alert_count(), 10, what="first alerts")

    # a valid new rule file: applied, the stream keeps its connection
    with open(os.path.join(rules, "50-new.rules"), "w") as f:
        f.write('[rule "weather"]\nquery = weather OR cafe\nqueue = chatter\n')
    m.signal(signal.SIGHUP)
    m.wait_log(r"reload applied: 7 rules from 6 files and 0 from Redis, 1 sources")
    assert emu.stats()["connections"] == 1
    text = m.metrics()
    assert value(text, "mentiond_reloads_total", trigger="sighup", result="applied") == 1
    assert value(text, "mentiond_reloads_total", trigger="sighup", result="rejected") == 0
    assert value(text, "mentiond_config_last_reload_successful") == 1
    assert value(text, "mentiond_rules") == 7
    emu.control(records=['{"data":{"id":"77","text":"nice weather today"}}'])
    wait_for(lambda: "mentiond:q:chatter:normal" in redis_server.alerts(), 10, what="new rule")

    # an invalid one: rejected with file:line, the old set keeps running
    bad = os.path.join(rules, "60-bad.rules")
    with open(bad, "w") as f:
        f.write('[rule "broken"]\nquery = (weather\n')
    m.signal(signal.SIGHUP)
    m.wait_log(r"reload rejected: %s:2:9: rule \"broken\": unbalanced parenthesis" % bad)
    m.wait_log(r"reload rejected \(1 error\); the previous configuration and 7 rules keep running")
    text = m.metrics()
    assert value(text, "mentiond_reloads_total", trigger="sighup", result="rejected") == 1
    assert value(text, "mentiond_config_last_reload_successful") == 0
    assert value(text, "mentiond_rules") == 7
    emu.control(records=['{"data":{"id":"78","text":"cafe au lait"}}'])
    wait_for(lambda: len(redis_server.alerts().get("mentiond:q:chatter:normal", [])) == 2, 10,
             what="old rules still matching")
    assert emu.stats()["connections"] == 1
    assert m.stop() == 0


def test_reload_restarts_only_changed_sources(workdir, redis_server, procs):
    e1 = Emulator(["--posts", DEMO_POSTS, "--keepalive", "0.5"])
    e2 = Emulator(["--posts", DEMO_POSTS, "--keepalive", "0.5"])
    procs += [e1, e2]
    tok = token_file(workdir)
    srcs = x_source(e1.url, tok, name="one") + x_source(e2.url, tok, name="two")
    m = Mentiond(workdir, config(redis_server.sock, srcs))
    procs.append(m)
    wait_for(lambda: e1.stats()["connections"] == 1 and e2.stats()["connections"] == 1, 10)
    with open(m.conf, "w") as f:
        f.write(config(redis_server.sock, x_source(e1.url, tok, name="one")
                       + x_source(e2.url, tok, name="two", stall=7)))
    m.signal(signal.SIGHUP)
    m.wait_log(r"reload applied")
    wait_for(lambda: e2.stats()["connections"] == 2, 10, what="changed source reconnects")
    time.sleep(0.5)
    assert e1.stats()["connections"] == 1
    assert m.stop() == 0


def test_systemd_notify_protocol(workdir, redis_server, procs):
    """READY=1 after start, RELOADING=1 then READY=1 around a reload,
    WATCHDOG=1 from the loop, STOPPING=1 on SIGTERM: on a real notify socket."""
    path = os.path.join(workdir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    conf = os.path.join(workdir, "m.conf")
    with open(conf, "w") as f:
        f.write(config(redis_server.sock, '[source "f"]\ntype = file\npath = %s\n' % DEMO_POSTS))
    p = subprocess.Popen([BIN, "-c", conf], env=env, stderr=subprocess.DEVNULL)
    msgs = []

    def seen(pred):
        try:
            while True:
                msgs.append(s.recv(4096).decode())
        except socket.timeout:
            pass
        return pred()

    def count(word, start=0):
        return sum(word in m for m in msgs[start:])
    try:
        wait_for(lambda: seen(lambda: count("READY=1") == 1), 10, what="READY=1")
        wait_for(lambda: seen(lambda: count("WATCHDOG=1") >= 3), 5, what="watchdog pings")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: seen(lambda: count("RELOADING=1") == 1), 5, what="RELOADING=1")
        i = [n for n, m in enumerate(msgs) if "RELOADING=1" in m][0]
        assert "MONOTONIC_USEC=" in msgs[i]
        wait_for(lambda: seen(lambda: count("READY=1", i + 1) == 1), 5, what="READY=1 after reload")
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        assert seen(lambda: count("STOPPING=1") == 1)
    finally:
        if p.poll() is None:
            p.kill()
        s.close()


def test_systemd_unit_verifies_and_is_hardened(workdir):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    unit = os.path.join(workdir, "mentiond.service")
    with open(os.path.join(TOP, "systemd", "mentiond.service")) as f:
        text = f.read().replace("/usr/local/bin/mentiond", BIN)
    with open(unit, "w") as f:
        f.write(text)
    # verify also runs man for every Documentation=man: page: give it ours
    manpath = os.path.join(workdir, "man")
    for page, sec in (("mentiond.8", "man8"), ("mentiond.conf.5", "man5")):
        os.makedirs(os.path.join(manpath, sec), exist_ok=True)
        shutil.copy(os.path.join(TOP, "build", "man", page), os.path.join(manpath, sec, page))
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       env=dict(os.environ, MANPATH=manpath))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                       capture_output=True, text=True)
    line = [l for l in r.stdout.splitlines() if "Overall exposure level" in l][0]
    exposure = float(line.split(":")[1].split()[0])
    assert exposure <= 2.0, line


def test_rules_from_a_redis_hash(workdir, redis_server, procs):
    """Services manage rules through a Redis hash: applied within seconds
    without reconnecting any source; a bad rule is rejected and reported in
    <prefix>:rules:status, and the previous set keeps running."""
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 extra_redis="rules_key = mentiond:rules\nrules_poll_ms = 200"))
    procs.append(m)
    r = redis_server.client()
    wait_for(lambda: redis_server.count() >= demo_alert_count(), 10, what="file rules working")

    r.hset("mentiond:rules", "weather", json.dumps(
        {"query": "weather OR \"cardamom buns\"", "queue": "chatter", "priority": "low",
         "meta": {"owner": "social-team"}}))
    m.wait_log(r"rules from Redis applied: 7 rules from 5 files and 1 from Redis", 5)
    status = json.loads(r.get("mentiond:rules:status"))
    assert status["applied"] is True and status["redis_rules"] == 1 and status["errors"] == []
    emu.control(records=['{"data":{"id":"501","text":"nice weather today"}}'])
    wait_for(lambda: "mentiond:q:chatter:low" in redis_server.alerts(), 5, what="alert from the hash rule")
    a = redis_server.alerts()["mentiond:q:chatter:low"][0]
    assert a["matches"][0]["rule"] == "weather" and a["meta"] == {"owner": "social-team"}

    r.hset("mentiond:rules", "broken", json.dumps({"query": "(weather", "queue": "chatter"}))
    m.wait_log(r"rules from Redis rejected: redis:mentiond:rules/broken:1:1: rule \"broken\": "
               r"unbalanced parenthesis", 5)
    wait_for(lambda: json.loads(r.get("mentiond:rules:status"))["applied"] is False, 5)
    assert "redis:mentiond:rules/broken:1:1" in json.loads(r.get("mentiond:rules:status"))["errors"][0]
    emu.control(records=['{"data":{"id":"502","text":"weather again"}}'])
    wait_for(lambda: len(redis_server.alerts().get("mentiond:q:chatter:low", [])) == 2, 5,
             what="the previous set still matching")

    r.hset("mentiond:rules", "bad-json", "{not json")
    r.hdel("mentiond:rules", "broken")
    m.wait_log(r"redis:mentiond:rules/bad-json:1: offset", 5)
    r.hdel("mentiond:rules", "bad-json", "weather")
    m.wait_log(r"rules from Redis applied: 6 rules from 5 files and 0 from Redis", 5)
    assert emu.stats()["connections"] == 1           # no source reconnected
    assert m.stop() == 0
