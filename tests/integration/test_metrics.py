"""/metrics, /healthz and /readyz of the real daemon (README "Operation")."""
import datetime
import glob
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
import time


from conftest import DEMO_POSTS, RULES, Emulator, total, value, Mentiond, config, demo_alert_count, token_file, wait_for, x_source


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_health_and_readiness(workdir, redis_server, procs):
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir))))
    procs.append(m)
    n = demo_alert_count()
    wait_for(lambda: redis_server.count() >= n, 10)
    url = m.metrics_url()
    code, text = get(url)
    assert code == 200
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        print("SKIPPED: promtool check: promtool is not installed")
    assert value(text, "mentiond_posts_decoded_total", source="x-it") == 32
    assert value(text, "mentiond_source_up", source="x-it") == 1
    assert value(text, "mentiond_redis_up") == 1
    assert total(text, "mentiond_alerts_enqueued_total") == n
    assert total(text, "mentiond_alerts_enqueued_total", level="critical") == 3
    # per queue: what the queues in Redis hold
    for key, alerts in redis_server.alerts().items():
        queue, level = key.split(":")[2:4]
        assert value(text, "mentiond_alerts_enqueued_total", queue=queue, level=level) == len(alerts), key
    assert value(text, "mentiond_rule_matches_total", rule="press-escalation") == 3
    assert value(text, "mentiond_alert_latency_seconds_count") == n
    assert value(text, "mentiond_alert_latency_seconds_bucket", le="+Inf") == n
    assert value(text, "mentiond_records_rejected_total", source="x-it", reason="malformed") == 0
    assert value(text, "mentiond_shares_folded_total") == 1

    assert get(m.metrics_url("/healthz")) == (200, "ok\n")
    assert get(m.metrics_url("/readyz"))[0] == 200
    assert get(url, method="POST")[0] == 405
    assert get(m.metrics_url("/nope"))[0] == 404

    redis_server.stop()
    wait_for(lambda: get(m.metrics_url("/readyz"))[0] == 503, 10, what="not ready without Redis")
    assert "redis is not connected" in get(m.metrics_url("/readyz"))[1]
    assert value(get(url)[1], "mentiond_redis_up") == 0
    assert get(m.metrics_url("/healthz"))[0] == 200          # alive, though not ready
    redis_server.start()
    wait_for(lambda: get(m.metrics_url("/readyz"))[0] == 200, 15, what="ready again")
    assert m.stop() == 0


def test_metrics_listen_that_cannot_bind_is_fatal(workdir, redis_server):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    addr = "127.0.0.1:%d" % taken.getsockname()[1]
    conf = config(redis_server.sock, '[source "f"]\ntype = file\npath = %s\n' % DEMO_POSTS)
    m = Mentiond(workdir, conf.replace("metrics_listen = 127.0.0.1:0", "metrics_listen = " + addr))
    try:
        assert m.proc.wait(10) == 3
        assert "metrics_listen = %s: cannot listen there" % addr in m.text()
    finally:
        taken.close()


def test_heartbeat_hash(workdir, redis_server, procs):
    """mentiond:instance:<name>: version, start, counters and source states,
    refreshed every heartbeat_interval, expiring when the instance dies."""
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"])
    procs.append(emu)
    conf = config(redis_server.sock, x_source(emu.url, token_file(workdir)), extra_daemon="heartbeat_interval = 1\n")
    m = Mentiond(workdir, conf)
    procs.append(m)
    r = redis_server.client()
    key = "mentiond:instance:it"
    n = demo_alert_count()
    wait_for(lambda: r.hget(key, "alerts_enqueued") == str(n).encode(), 10, what="heartbeat with the alerts")
    hb = {k.decode(): v.decode() for k, v in r.hgetall(key).items()}
    version = subprocess.run([m.proc.args[0], "--version"], capture_output=True, text=True).stdout
    assert hb["version"] in version
    assert hb["state"] == "running"
    assert hb["pid"] == str(m.proc.pid)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", hb["started"])
    assert hb["sources"] == "1" and hb["sources_up"] == "1"
    assert hb["source:x-it"] == "up"
    assert hb["source:x-it:posts"] == "32"
    assert hb["posts_decoded"] == "32"
    rules = sum(len(re.findall(r'^\[rule "', open(f).read(), re.M)) for f in glob.glob(RULES))
    assert hb["rules"] == str(rules)
    assert hb["last_reload"] == "none"
    assert 0 < r.ttl(key) <= 3
    # refreshed: the update time moves and the TTL is set again
    first = hb["updated"]
    wait_for(lambda: r.hget(key, "updated").decode() != first, 5, what="a later heartbeat")
    assert 0 < r.ttl(key) <= 3

    # Redis away: the heartbeat comes back with it
    redis_server.stop()
    before = time.time()
    redis_server.start()
    r = redis_server.client()
    wait_for(lambda: r.hget(key, "updated") and
             datetime.datetime.fromisoformat(r.hget(key, "updated").decode().replace("Z", "+00:00")).timestamp()
             >= before, 10, what="a heartbeat after Redis returned")
    assert r.hget(key, "state") == b"running"

    # a clean stop says so, and the hash still expires
    assert m.stop() == 0
    assert r.hget(key, "state") == b"stopped"
    assert 0 < r.ttl(key) <= 3
    wait_for(lambda: not r.exists(key), 6, what="the hash to expire")


def test_heartbeat_expires_when_the_instance_dies(workdir, redis_server, procs):
    conf = config(redis_server.sock, '[source "f"]\ntype = file\npath = %s\n' % DEMO_POSTS,
                  extra_daemon="heartbeat_interval = 1\n")
    m = Mentiond(workdir, conf)
    procs.append(m)
    r = redis_server.client()
    key = "mentiond:instance:it"
    wait_for(lambda: r.hget(key, "source:f") == b"done", 10, what="heartbeat with the file read")
    m.signal(signal.SIGKILL)
    m.proc.wait(5)
    assert r.hget(key, "state") == b"running"       # nobody said otherwise...
    wait_for(lambda: not r.exists(key), 6, what="the dead instance's hash to expire")


def test_source_down_seconds_spans_reconnect_attempts(workdir, redis_server, procs):
    """A source that cannot connect: the down time counts from the first
    failure across every attempt (readiness and the alert rules use it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                           # nothing listens: connections refused
    m = Mentiond(workdir, config(redis_server.sock, x_source("http://127.0.0.1:%d/stream" % port,
                                                              token_file(workdir))))
    procs.append(m)
    wait_for(lambda: value(m.metrics(), "mentiond_source_reconnects_total", source="x-it") >= 3, 15,
             what="three reconnect attempts")
    wait_for(lambda: value(m.metrics(), "mentiond_source_down_seconds", source="x-it") >= 2, 10,
             what="down time across attempts")
    text = m.metrics()
    assert value(text, "mentiond_source_up", source="x-it") == 0
    assert get(m.metrics_url("/readyz"))[0] == 200      # within its one-minute budget
    assert m.stop() == 0
