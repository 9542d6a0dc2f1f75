"""What ops teams plug in beside the daemon: the Prometheus alerting rules and
the Grafana dashboard, run against a real Prometheus scraping the real daemon."""
import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest import (DEMO_POSTS, TOP, Emulator, Mentiond, config, demo_alert_count, free_port, token_file, wait_for,
                      x_source)

RULES_FILE = os.path.join(TOP, "ops", "prometheus", "mentiond.rules.yml")
DASHBOARD = os.path.join(TOP, "ops", "grafana", "mentiond.json")
with open(RULES_FILE) as _f:
    ALERT_RULES = len(re.findall(r"^\s*- alert: ", _f.read(), re.M))     # what promtool must find


def need(tool):
    if not shutil.which(tool):
        pytest.skip("%s is not installed (Debian package prometheus)" % tool)


def test_alert_rules_check_and_unit_tests():
    need("promtool")
    r = subprocess.run(["promtool", "check", "rules", RULES_FILE], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ALERT_RULES >= 12 and "SUCCESS: %d rules found" % ALERT_RULES in r.stdout
    r = subprocess.run(["promtool", "test", "rules", "mentiond.rules.test.yml"], capture_output=True, text=True,
                       cwd=os.path.dirname(RULES_FILE))
    assert r.returncode == 0, r.stdout + r.stderr


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return dash, out


class Prometheus:
    def __init__(self, workdir, target):
        need("prometheus")
        self.port = free_port()
        conf = os.path.join(workdir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: mentiond\n    static_configs:\n      - targets: ['%s']\n"
                    % (RULES_FILE, target))
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 30, what="prometheus ready")

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, expr):
        return self.api("query", query=expr)["data"]["result"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


def test_dashboard_and_rules_against_a_real_prometheus(workdir, redis_server, procs):
    """Every dashboard query parses and the core panels have data from a real
    scrape; every alerting rule evaluates without error and none fires on a
    healthy instance."""
    dash, exprs = dashboard_exprs()
    assert dash["uid"] == "mentiond" and len(exprs) >= 20
    emu = Emulator(["--posts", DEMO_POSTS, "--token", "it-token", "--keepalive", "0.5"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir))))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= demo_alert_count(), 10)
    target = re.match(r"http://([^/]+)/", m.metrics_url()).group(1)
    prom = Prometheus(workdir, target)
    procs.append(prom)
    wait_for(lambda: prom.query('mentiond_posts_decoded_total{job="mentiond"}'), 20, what="a scrape")
    # two scrapes at least, so rate() has something to work with
    wait_for(lambda: prom.query('count_over_time(mentiond_redis_up[1m]) >= 3'), 20, what="three scrapes")

    empty = []
    for title, expr in exprs:
        res = prom.api("query", query=expr.replace("$instance", ".*"))
        assert res["status"] == "success", (title, expr, res)
        if not res["data"]["result"]:
            empty.append(title)
    # what an on-call engineer looks at first has data now
    for title in ("Scraped", "Redis", "Sources down", "Alerts dropped (1h)", "Posts decoded per second",
                  "Source down time", "Alerts enqueued per second, by level", "Alerts enqueued per second, by queue",
                  "Waiting: memory and spool", "Latency, post to queue", "Top rules by matches (per minute)"):
        assert title not in empty, "panel %r has no data" % title
    assert prom.query('up{job="mentiond"}')[0]["value"][1] == "1"
    assert prom.query('mentiond_redis_up')[0]["value"][1] == "1"
    assert prom.query('sum(mentiond_alerts_enqueued_total)')[0]["value"][1] == str(demo_alert_count())

    wait_for(lambda: all(r.get("lastEvaluation", "").startswith("20") and not r["lastEvaluation"].startswith("0001")
                         for g in prom.api("rules")["data"]["groups"] for r in g["rules"]), 20,
             what="every rule evaluated")
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert len(rules) == ALERT_RULES
    for r in rules:
        assert r["health"] == "ok", (r["name"], r.get("lastError"))
        assert r["state"] == "inactive", (r["name"], r["alerts"])

    # Redis stops: the rule's condition holds (pending; it fires after 1 minute)
    redis_server.stop()
    wait_for(lambda: any(r["name"] == "MentiondRedisDown" and r["state"] == "pending"
                         for g in prom.api("rules")["data"]["groups"] for r in g["rules"]), 20,
             what="MentiondRedisDown pending")
    assert m.stop() == 0


def config_keys():
    """Every key of the configuration table in daemon/config.c."""
    with open(os.path.join(TOP, "daemon", "config.c")) as f:
        return sorted(set(re.findall(r'^\s*\{"(?:daemon|redis|priority|alerting|source)", "([a-z_.]+)"', f.read(), re.M)))


@pytest.mark.parametrize("page", ["mentiond.8", "mentiond.conf.5"])
def test_man_pages_render_without_warnings(page):
    path = os.path.join(TOP, "build", "man", page)
    for width in ("80", "60", "120"):
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH=width, LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat"))
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", "%s at width %s: %s" % (page, width, r.stderr)
    text = r.stdout
    if page == "mentiond.conf.5":
        # the manual documents every key the parser takes (it is made from the README)
        missing = [k for k in config_keys() if not re.search(r"\b%s\b" % re.escape(k), text)]
        assert not missing, "keys missing from mentiond.conf(5) and README.md: %s" % missing
        for sect in ("[daemon]", "[redis]", "[priority]", "[alerting]", 'source "NAME"', "RULE FILES"):
            assert sect in text, sect
    else:
        for opt in ("--check", "--replay", "SIGHUP", "EXIT STATUS", "CREDENTIALS_DIRECTORY"):
            assert opt in text, opt


def test_make_install_and_uninstall(tmp_path):
    dest = str(tmp_path / "root")
    make = ["make", "-s", "-C", TOP, "DESTDIR=" + dest, "PREFIX=/usr"]
    r = subprocess.run(make + ["install"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("usr/bin/mentiond", "usr/lib/systemd/system/mentiond.service", "usr/share/man/man8/mentiond.8",
              "usr/share/man/man5/mentiond.conf.5", "etc/mentiond/mentiond.conf", "etc/mentiond/rules.d/10-cards.rules",
              "etc/mentiond/lexicons/urgency.txt", "usr/share/mentiond/prometheus/mentiond.rules.yml",
              "usr/share/mentiond/grafana/mentiond.json", "usr/share/doc/mentiond/README.md",
              "usr/share/doc/mentiond/examples/consumer-list"):
        assert os.path.isfile(os.path.join(dest, f)), f
    assert os.access(os.path.join(dest, "usr/bin/mentiond"), os.X_OK)
    unit = open(os.path.join(dest, "usr/lib/systemd/system/mentiond.service")).read()
    assert "ExecStart=/usr/bin/mentiond -c /etc/mentiond/mentiond.conf" in unit
    assert "/usr/local" not in unit

    # the installed configuration is valid as shipped (no source yet: it says so)
    etc = os.path.join(dest, "etc", "mentiond")
    conf = open(os.path.join(etc, "mentiond.conf")).read().replace("/etc/mentiond", etc)
    # /var/lib/mentiond is the unit's StateDirectory=: systemd makes it before ExecStartPre's -t
    conf += "\n[daemon]\nspool_dir = %s\n" % os.path.join(str(tmp_path), "state", "spool")
    os.makedirs(os.path.join(str(tmp_path), "state"))
    with open(os.path.join(str(tmp_path), "check.conf"), "w") as f:
        f.write(conf)
    r = subprocess.run([os.path.join(dest, "usr/bin/mentiond"), "-t", "-c", f.name], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no [source \"name\"] section: nothing is watched until one is added" in r.stderr

    # an upgrade keeps what ops edited
    with open(os.path.join(etc, "mentiond.conf"), "a") as f:
        f.write("; edited by ops\n")
    os.unlink(os.path.join(etc, "rules.d", "90-mentions.rules"))
    r = subprocess.run(make + ["install"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(etc, "mentiond.conf")).read().endswith("; edited by ops\n")
    assert not os.path.exists(os.path.join(etc, "rules.d", "90-mentions.rules"))

    r = subprocess.run(make + ["uninstall"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    left = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)
    assert left and all(p.startswith("etc/mentiond/") for p in left), left
