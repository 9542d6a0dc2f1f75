"""/metrics, /healthz and /readyz of the real daemon (DESIGN §3.6)."""
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import DEMO_POSTS, Emulator, Mentiond, config, demo_alert_count, token_file, wait_for, x_source


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def value(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
            return float(m.group(3))
    raise AssertionError("no sample %s{%s}" % (name, want))


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
    assert sum(value(text, "mentiond_alerts_enqueued_total", level=l)
               for l in ("critical", "high", "normal", "low")) == n
    assert value(text, "mentiond_alerts_enqueued_total", level="critical") == 3
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
