"""Surge detection and on-call paging, end to end: the real stream emulator
drives a steady trickle of outage complaints, then a surge, then the trickle
again, through the real mentiond into the real Prometheus Alertmanager
(Debian's prometheus-alertmanager, started here on loopback) and a local
HTTP receiver that stands in for PagerDuty's Events API and a chat webhook.

Alertmanager is asked through its own API (GET /api/v2/alerts) and through
its own notifications (its webhook receiver, send_resolved) whether exactly
one alert fired within 60 s of the surge's start and was resolved after it
ended.  The PagerDuty and webhook documents are checked byte by byte: each
is rebuilt from the documented schema (field names, order, types) with the
values that vary taken from the document, and must serialise to exactly the
bytes received."""
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (Emulator, Mentiond, config, free_port, token_file, wait_for, x_source)

ALERTMANAGER = shutil.which("prometheus-alertmanager")
PD_SEVERITIES = {"critical", "error", "warning", "info"}

RULE = """[rule "online-banking-down"]
query = (nordvik OR @NordvikHelp) ("can't log in" OR "app is down" OR outage)
queue = online
priority = normal
spike = on
"""


def outage_posts(n):
    """Our own posts in X v2 stream shape: n different customers."""
    texts = ["@NordvikHelp can't log in to the app again", "Is Nordvik app is down for everyone? outage?",
             "@NordvikHelp the app is down, I need to pay my rent"]
    out = []
    for i in range(n):
        pid = str(1950000000000000000 + i)
        uid = str(700000 + i)
        out.append({"data": {"id": pid, "text": texts[i % 3] + " #%d" % i, "author_id": uid, "lang": "en",
                             "created_at": "2026-11-23T08:00:00.000Z", "conversation_id": pid,
                             "edit_history_tweet_ids": [pid]},
                    "includes": {"users": [{"id": uid, "username": "customer%d" % i, "name": "Customer %d" % i,
                                            "verified": False,
                                            "public_metrics": {"followers_count": 10 + i, "following_count": 5,
                                                               "tweet_count": 50, "listed_count": 0}}]},
                    "matching_rules": [{"id": "1", "tag": "nordvik"}]})
    return out


def write_inputs(workdir, records):
    """The emulator's posts file and a rules glob holding RULE."""
    posts = os.path.join(workdir, "posts.jsonl")
    with open(posts, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    rules_dir = os.path.join(workdir, "rules.d")
    os.makedirs(rules_dir)
    with open(os.path.join(rules_dir, "outage.rules"), "w") as f:
        f.write(RULE)
    return posts, os.path.join(rules_dir, "*.rules")


class Receiver:
    """Records every POST: (path, headers, body bytes); 202 like PagerDuty."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.got.append((self.path, dict(self.headers), body))
                reply = b'{"status":"success","message":"Event processed"}'
                self.send_response(202 if self.path == "/pd" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def bodies(self, path):
        with self.lock:
            return [b for p, h, b in self.got if p == path]

    def stop(self):
        self.srv.shutdown()


class Alertmanager:
    def __init__(self, workdir, hook_url):
        self.port = free_port()
        cfg = os.path.join(workdir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write("route:\n  receiver: hook\n  group_by: ['incident']\n  group_wait: 1s\n"
                    "  group_interval: 1s\n  repeat_interval: 1h\n"
                    "receivers:\n  - name: hook\n    webhook_configs:\n      - url: %s\n"
                    "        send_resolved: true\n" % hook_url)
        self.log = open(os.path.join(workdir, "alertmanager.log"), "w")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, "--config.file=" + cfg, "--storage.path=" + os.path.join(workdir, "am-data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_for(self._ready, timeout=20, what="alertmanager ready")

    def _ready(self):
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def alerts(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as r:
            return [a for a in json.loads(r.read()) if a["labels"].get("alertname") == "MentiondSurge"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def iso(ts):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts), ts
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")


def expected_incident(got, name, queue, status):
    """The incident object as oncall.h documents it, field by field."""
    samples = [{"id": s["id"], "url": s["url"], "author": s["author"], "text": s["text"]}
               for s in got["samples"]]
    assert 1 <= len(samples) <= 3
    for s in samples:
        assert re.fullmatch(r"19500000000000\d{5}", s["id"]) and s["author"].startswith("customer")
        assert "nordvik" in s["text"].lower()
    return {"key": got["key"], "kind": "rule" if got["kind"] == "rule" else "topic", "name": name,
            "queue": queue, "status": status, "started": got["started"], "resolved": got["resolved"],
            "window_seconds": 10, "count": got["count"], "baseline": got["baseline"], "peak": got["peak"],
            "samples": samples}


def check_pagerduty(bodies, routing_key):
    """Every document is exactly the Events API v2 shape, one dedup_key per
    incident, triggers before the resolve."""
    docs = [json.loads(b) for b in bodies]
    by_key = {}
    for raw, d in zip(bodies, docs):
        assert d["routing_key"] == routing_key
        if d["event_action"] == "resolve":
            assert raw == compact({"routing_key": routing_key, "event_action": "resolve",
                                   "dedup_key": d["dedup_key"]})
        else:
            p = d["payload"]
            assert d["event_action"] == "trigger" and p["severity"] in PD_SEVERITIES
            assert 0 < len(p["summary"]) <= 1024
            iso(p["timestamp"])
            cd = p["custom_details"]
            name, queue = ("online-banking-down", "online") if cd["kind"] == "rule" else ("outage", "")
            want = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": d["dedup_key"],
                    "payload": {"summary": p["summary"], "source": "it", "severity": "critical",
                                "timestamp": p["timestamp"], "component": name,
                                "group": queue or cd["kind"], "class": "surge",
                                "custom_details": expected_incident(cd, name, queue, cd["status"])},
                    "client": "mentiond"}
            assert raw == compact(want)
            assert d["dedup_key"] == cd["key"]
            assert re.fullmatch(r"it:(rule:online-banking-down|topic:outage):\d+", d["dedup_key"])
        by_key.setdefault(d["dedup_key"], []).append(d["event_action"])
    return by_key


def check_webhook(bodies):
    by_key = {}
    for raw in bodies:
        d = json.loads(raw)
        inc = d["incident"]
        name, queue = ("online-banking-down", "online") if inc["kind"] == "rule" else ("outage", "")
        status = "resolved" if d["action"] == "resolve" else inc["status"]
        want = {"text": d["text"], "instance": "it", "action": d["action"],
                "incident": expected_incident(inc, name, queue, status)}
        assert raw == compact(want)
        assert d["text"].startswith("[it] ") and inc["kind"] in d["text"] and name in d["text"]
        if d["action"] == "resolve":
            assert inc["resolved"] and iso(inc["resolved"]) >= iso(inc["started"])
        else:
            assert inc["resolved"] is None
        by_key.setdefault(inc["key"], []).append(d["action"])
    return by_key


@pytest.mark.skipif(not ALERTMANAGER, reason="prometheus-alertmanager is not installed (scripts/install-deps)")
def test_surge_pages_once_and_resolves(workdir, redis_server, procs):
    rx = Receiver()
    am = Alertmanager(workdir, "http://127.0.0.1:%d/am-hook" % rx.port)
    posts, rules = write_inputs(workdir, outage_posts(200))
    key_file = os.path.join(workdir, "pd.key")
    with open(key_file, "w") as f:
        f.write("R0UT1NGKEY0123456789abcdef012345\n")
    hook_file = os.path.join(workdir, "hook.url")
    with open(hook_file, "w") as f:
        f.write("http://127.0.0.1:%d/hook\n" % rx.port)
    emu = Emulator(["--posts", posts, "--rate", "2", "--loop", "--fresh-ids", "--token", "it-token"])
    procs.append(emu)
    alerting = ("[alerting]\nalertmanager_url = %s\npagerduty_url = http://127.0.0.1:%d/pd\n"
                "pagerduty_routing_key_file = %s\nwebhook_url_file = %s\nspike_window = 10\nspike_warmup = 20\n"
                "spike_baseline = 60\nspike_resolve = 5\nspike_min_count = 20\nresend_interval = 5\n"
                "cooldown = 0\n" % (am.url, rx.port, key_file, hook_file))
    conf = config(redis_server.sock, x_source(emu.url, token_file(workdir)) + alerting,
                  rules=rules)
    md = Mentiond(workdir, conf)
    procs.append(md)
    try:
        md.wait_log(r"paging: alertmanager on, pagerduty on, webhook on")
        time.sleep(24)                  # warm-up (20 s) at the trickle: nothing may page
        assert am.alerts() == [] and rx.got == []
        emu.control(rate=40)
        t0 = time.time()
        wait_for(lambda: am.alerts(), timeout=60, interval=0.2, what="Alertmanager alert")
        delay = time.time() - t0
        assert delay < 60
        print("detection delay through Alertmanager: %.1f s" % delay)
        time.sleep(8)                   # the surge goes on: still one alert, paged once
        firing = am.alerts()
        assert len(firing) == 1
        a = firing[0]
        assert a["status"]["state"] == "active"
        assert a["labels"]["incident"].startswith("it:rule:online-banking-down:")
        assert a["labels"]["severity"] == "critical" and a["labels"]["queue"] == "online"
        assert "nordvik" in a["annotations"]["samples"].lower()
        emu.control(rate=2)
        t1 = time.time()
        wait_for(lambda: not am.alerts(), timeout=60, interval=0.2, what="the alert resolved")
        assert time.time() - t1 >= 5    # not before the surge's window emptied
        # Alertmanager's own notifications: firing once, then resolved.
        wait_for(lambda: any(json.loads(b)["status"] == "resolved" for b in rx.bodies("/am-hook")),
                 timeout=30, what="Alertmanager's resolved notification")
        am_notes = [json.loads(b) for b in rx.bodies("/am-hook")]
        surge_notes = [n for n in am_notes if n["commonLabels"].get("alertname") == "MentiondSurge"]
        statuses = [n["status"] for n in surge_notes]
        assert statuses.count("resolved") == 1 and statuses[-1] == "resolved"
        incidents = {al["labels"]["incident"] for n in surge_notes for al in n["alerts"]}
        assert len(incidents) == 1
        wait_for(lambda: any(b"resolve" in b for b in rx.bodies("/pd")) and
                 any(b'"action":"resolve"' in b for b in rx.bodies("/hook")), timeout=20,
                 what="PagerDuty and webhook resolutions")
        pd = check_pagerduty(rx.bodies("/pd"), "R0UT1NGKEY0123456789abcdef012345")
        hook = check_webhook(rx.bodies("/hook"))
        assert set(pd) == set(hook) == incidents
        for actions in list(pd.values()) + list(hook.values()):
            assert actions[-1] in ("resolve",) and actions.count("resolve") == 1
            assert actions[0] in ("trigger", "open")
        # The incident queue got the reports, critical, type spike.
        recs = [json.loads(x) for x in redis_server.client().lrange("mentiond:q:incidents:critical", 0, -1)]
        assert {r["type"] for r in recs} == {"spike"}
        assert {r["incident"]["key"] for r in recs} == incidents
        assert recs[0]["action"] == "open" and recs[-1]["action"] == "resolve"
        assert recs[0]["priority"]["level"] == "critical" and recs[0]["queue"] == "incidents"
        m = md.metrics()
        assert re.search(r'mentiond_incidents_total\{kind="rule"\} 1\b', m)
        assert re.search(r'mentiond_notifications_failed_total\{receiver="pagerduty"\} 0\b', m)
        log = md.text()
        assert "R0UT1NGKEY" not in log and "/hook" not in log   # secrets never logged
        assert md.stop() == 0
    finally:
        am.stop()
        rx.stop()


@pytest.mark.skipif(not ALERTMANAGER, reason="prometheus-alertmanager is not installed (scripts/install-deps)")
def test_receiver_down_is_retried_then_delivered(workdir, redis_server, procs):
    """A receiver that answers 503 then comes back gets the page on a retry;
    one that answers 400 is not retried and is counted as failed."""
    rx = Receiver()
    posts, rules = write_inputs(workdir, outage_posts(200))
    dead = free_port()                  # nothing listens: connection refused, retried
    emu = Emulator(["--posts", posts, "--rate", "40", "--loop", "--fresh-ids", "--token", "it-token"])
    procs.append(emu)
    alerting = ("[alerting]\nalertmanager_url = http://127.0.0.1:%d\nwebhook_url = http://127.0.0.1:%d/hook\n"
                "spike_window = 10\nspike_warmup = 0\nspike_min_count = 20\nnotify_retries = 20\n"
                "notify_timeout = 2\n" % (dead, rx.port))
    conf = config(redis_server.sock, x_source(emu.url, token_file(workdir)) + alerting,
                  rules=rules)
    # warm-up 0: the first seconds are the baseline; start quiet, then surge
    emu.control(rate=1)
    md = Mentiond(workdir, conf)
    procs.append(md)
    md.wait_log(r"paging: alertmanager on")
    time.sleep(12)
    emu.control(rate=40)
    md.wait_log(r"incident it:rule:online-banking-down:\d+: \[it\] Surge", timeout=40)
    wait_for(lambda: rx.bodies("/hook"), timeout=20, what="webhook page")
    md.wait_log(r"notify alertmanager: open it:rule:online-banking-down:\d+: .*retrying", timeout=20)
    # Alertmanager comes up on the dead port: the retry delivers.
    am_dir = os.path.join(workdir, "am")
    os.makedirs(am_dir)
    with open(os.path.join(am_dir, "am.yml"), "w") as f:
        f.write("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    am = subprocess.Popen([ALERTMANAGER, "--config.file=" + os.path.join(am_dir, "am.yml"),
                           "--storage.path=" + am_dir, "--web.listen-address=127.0.0.1:%d" % dead,
                           "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def am_has_it():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v2/alerts" % dead, timeout=2) as r:
                    return [a for a in json.loads(r.read()) if a["labels"].get("alertname") == "MentiondSurge"]
            except OSError:
                return []
        wait_for(am_has_it, timeout=90, interval=0.5, what="the page delivered on a retry")
        m = md.metrics()
        assert re.search(r'mentiond_notification_retries_total\{receiver="alertmanager"\} [1-9]', m)
        assert re.search(r'mentiond_notifications_sent_total\{receiver="alertmanager"\} [1-9]', m)
        assert "/hook" not in md.text()
        assert md.stop() == 0
    finally:
        am.terminate()
        am.wait(10)
        rx.stop()


def test_viral_post_one_incident(workdir, redis_server, procs):
    """An alerted complaint retweeted past viral_shares becomes one viral
    incident on the incident queue and one webhook page; more retweets do
    not page again."""
    rx = Receiver()
    orig = outage_posts(1)[0]
    oid = orig["data"]["id"]
    records = [orig]
    for i in range(8):
        rid, uid = str(1960000000000000000 + i), str(800000 + i)
        records.append({"data": {"id": rid, "text": "RT @customer0: " + orig["data"]["text"], "author_id": uid,
                                 "lang": "en", "created_at": "2026-11-23T08:01:00.000Z", "conversation_id": rid,
                                 "edit_history_tweet_ids": [rid],
                                 "referenced_tweets": [{"type": "retweeted", "id": oid}]},
                        "includes": {"users": [{"id": uid, "username": "fan%d" % i, "name": "Fan",
                                                "verified": False,
                                                "public_metrics": {"followers_count": 3, "following_count": 1,
                                                                   "tweet_count": 1, "listed_count": 0}}],
                                     "tweets": [dict(orig["data"], author_id=orig["data"]["author_id"])]}})
    posts, rules = write_inputs(workdir, records)
    emu = Emulator(["--posts", posts, "--rate", "20", "--token", "it-token"])
    procs.append(emu)
    conf = config(redis_server.sock, x_source(emu.url, token_file(workdir)) +
                  "[alerting]\nwebhook_url = http://127.0.0.1:%d/hook\nviral_shares = 5\n" % rx.port,
                  rules=rules)
    md = Mentiond(workdir, conf)
    procs.append(md)
    try:
        wait_for(lambda: rx.bodies("/hook"), timeout=30, what="the viral page")
        wait_for(lambda: emu.stats()["records_sent"] == len(records), timeout=30, what="all records sent")
        time.sleep(1.5)
        pages = [json.loads(b) for b in rx.bodies("/hook")]
        assert len(pages) == 1
        inc = pages[0]["incident"]
        assert inc["kind"] == "viral" and inc["name"] == "x_v2:" + oid and inc["count"] == 5
        assert inc["samples"][0]["id"] == oid and "can't log in" in inc["samples"][0]["text"]
        recs = [json.loads(x) for x in redis_server.client().lrange("mentiond:q:incidents:critical", 0, -1)]
        assert [(r["type"], r["action"]) for r in recs] == [("viral", "open")]
        assert re.search(r"mentiond_viral_posts_total 1\b", md.metrics())
        assert md.stop() == 0
    finally:
        rx.stop()


def test_restart_keeps_the_surge_baseline(workdir, redis_server, procs):
    """What the surge detector learnt outlives the process (mentiond:spike:it):
    a run learns the trickle (warm-up 10 s) and saves it at its SIGTERM; the
    next start, with the default warm-up of 900 s, pages a surge that begins
    5 s after it; so does the start after a kill -9 (the periodic save); and
    with the saved baselines deleted the same surge pages nothing."""
    posts, rules = write_inputs(workdir, outage_posts(200))
    emu = Emulator(["--posts", posts, "--rate", "2", "--loop", "--fresh-ids", "--token", "it-token"])
    procs.append(emu)
    src = x_source(emu.url, token_file(workdir))
    r = redis_server.client()
    key, field = "mentiond:spike:it", b"rule/online-banking-down"
    surge = r"incident it:rule:online-banking-down:\d+: \[it\] Surge"

    def start(warmup=""):
        alerting = ("[alerting]\nspike_window = 10\nspike_baseline = 60\nspike_resolve = 5\nspike_min_count = 20\n"
                    "cooldown = 0\nspike_save_interval = 1\n%s" % warmup)
        md = Mentiond(workdir, config(redis_server.sock, src + alerting, rules=rules))
        procs.append(md)
        return md, md.wait_log(r"spike baselines: (\d+) of (\d+) saved series restored", timeout=15)

    def surge_pages(md):
        time.sleep(5)
        emu.control(rate=40)
        t0 = time.time()
        md.wait_log(surge, timeout=60)
        print("surge paged %.1f s after it began, %.1f s after the start" % (time.time() - t0, time.time() - t0 + 5))
        emu.control(rate=2)

    md, got = start("spike_warmup = 10\n")
    assert got.groups() == ("0", "0")
    time.sleep(20)                      # the trickle learnt past its warm-up
    assert md.stop() == 0
    mean, var, secs, window = r.hget(key, field).split()
    assert 10 <= float(mean) <= 40 and float(var) >= 0 and int(secs) >= 15     # 2 posts/s, 10 s windows
    assert window == b"10"
    assert 0 < r.ttl(key) <= 7 * 86400

    md, got = start()                   # SIGTERM'd: the save at the stop
    assert got.groups() == ("1", "1")
    surge_pages(md)
    time.sleep(3)                       # saved every second
    md.signal(signal.SIGKILL)
    md.wait()

    md, got = start()                   # killed: the last periodic save
    assert got.groups() == ("1", "1")
    surge_pages(md)
    assert md.stop() == 0

    r.delete(key)                       # the control: without them, the warm-up holds
    r.hset(key, field, "not a baseline")   # and a field that is not one: refused, counted
    md, got = start()
    assert got.groups() == ("0", "1")
    assert "mentiond_spike_baselines_rejected_total 1\n" in md.metrics()
    time.sleep(5)
    emu.control(rate=40)
    time.sleep(25)
    emu.control(rate=2)
    assert not re.search(surge, md.text())
    assert md.stop() == 0
