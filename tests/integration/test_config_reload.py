"""Reload (SIGHUP) and the configuration table's reload column: every key,
changed in turn, either takes effect (GET /config shows the new value) or,
if it applies only at restart, keeps its running value with one warning
that names it.  The README's configuration tables must say the same."""
import os
import re
import shutil
import signal
import time
import urllib.request

from conftest import LEXICONS, RULES, TOP, Mentiond, wait_for

SECTIONS = ("daemon", "redis", "priority", "alerting")


def base_values(workdir, sock):
    return {
        "daemon": {"name": "it", "rules": RULES, "lexicons": LEXICONS, "log_level": "info",
                   "status_interval": "60", "metrics_listen": "127.0.0.1:0",
                   "spool_dir": os.path.join(workdir, "spool"), "shutdown_timeout": "5"},
        # stream mode, so that stream_groups can change alone
        "redis": {"url": "unix://" + sock, "mode": "stream"},
        "priority": {},
        "alerting": {},
    }


def render(values):
    return "".join("[%s]\n%s\n" % (sec, "".join("%s = %s\n" % kv for kv in keys.items()))
                   for sec, keys in values.items())


def parse_dump(text):
    """GET /config -> ({section: {key: value}}, [(section, key) restart-only])."""
    restart = re.findall(r"\[(\w+)\] (\w+),", re.search(r"^# restart-only:(.*)$", text, re.M).group(1))
    out, sec = {}, None
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            sec = m.group(1)
            out[sec] = {}
            continue
        m = re.match(r"^(\w+) = (.*)$", line)
        if m and sec:
            out[sec][m.group(1)] = m.group(2)
    return out, restart


def alternatives(workdir, sock):
    """A valid value other than the base for every key that is not a number
    (numbers get their value plus one), and keys that must change with it."""
    lex2 = os.path.join(workdir, "lexicons2")
    if not os.path.isdir(lex2):
        shutil.copytree(LEXICONS, lex2)
    files = {"pw": "a-password\n", "pd.key": "ROUTINGKEY\n", "hook.url": "http://127.0.0.1:9/hook2\n"}
    for name, text in files.items():
        with open(os.path.join(workdir, name), "w") as f:
            f.write(text)
    pw = os.path.join(workdir, "pw")
    return {
        ("daemon", "name"): ("it-renamed", {}),
        ("daemon", "rules"): (os.path.join(TOP, "conf", "rules.d", "1*.rules"), {}),
        ("daemon", "lexicons"): (lex2, {}),
        ("daemon", "log_level"): ("debug", {}),
        ("daemon", "syslog_facility"): ("local3", {}),
        ("daemon", "spool_dir"): (os.path.join(workdir, "spool2"), {}),
        ("daemon", "durability"): ("spool", {}),
        ("daemon", "spool_fsync"): ("always", {}),
        ("daemon", "metrics_listen"): ("127.0.0.1:1", {}),
        ("daemon", "accents"): ("fold", {}),
        ("daemon", "own_handles"): ("NordvikHelp, NordvikBank", {}),
        ("daemon", "impersonation_queue"): ("fraud", {}),
        ("daemon", "impersonation_allow"): ("NordvikCareers", {}),
        ("daemon", "fleet"): ("bank", {}),
        ("priority", "reach_followers"): ("500, 5000", {}),
        ("priority", "pii_level"): ("critical", {}),
        ("priority", "account_pattern"): ("dddd-dddddd", {}),
        ("priority", "canned_reply_queue"): ("canned2", {}),
        ("redis", "url"): ("unix://" + os.path.join(workdir, "other.sock"), {}),
        ("redis", "username"): ("app", {("redis", "password_file"): pw}),
        ("redis", "password_file"): (pw, {}),
        ("redis", "key_prefix"): ("other", {}),
        ("redis", "mode"): ("list", {}),
        ("redis", "stream_groups"): ("g1", {}),
        ("redis", "rules_key"): ("mentiond:rules2", {}),
        ("redis", "cluster"): ("on", {("redis", "url"): "redis://127.0.0.1:1"}),
        ("redis", "cluster_nodes"): ("127.0.0.1:2", {("redis", "cluster"): "on",
                                                     ("redis", "url"): "redis://127.0.0.1:1"}),
        ("alerting", "alertmanager_url"): ("http://127.0.0.1:9/", {}),
        ("alerting", "pagerduty_url"): ("http://127.0.0.1:9/pd", {}),
        ("alerting", "pagerduty_routing_key_file"): (os.path.join(workdir, "pd.key"), {}),
        ("alerting", "webhook_url"): ("http://127.0.0.1:9/hook", {}),
        ("alerting", "webhook_url_file"): (os.path.join(workdir, "hook.url"), {}),
        ("alerting", "queue"): ("incidents2", {}),
        ("alerting", "spike_queues"): ("on", {}),
    }


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def reload(m, text):
    """Write the file, SIGHUP, wait for the verdict; returns the log lines
    this reload wrote."""
    with open(m.conf, "w") as f:
        f.write(text)
    before = m.text()
    n = len(re.findall(r"reload (applied|rejected)", before))
    m.signal(signal.SIGHUP)
    wait_for(lambda: len(re.findall(r"reload (applied|rejected)", m.text())) > n, what="the reload's verdict")
    time.sleep(0.05)
    new = m.text()[len(before):]
    assert "reload rejected" not in new, new
    return new


def test_every_key_reloads_or_warns(workdir, redis_server, procs):
    base = base_values(workdir, redis_server.sock)
    m = Mentiond(workdir, render(base))
    procs.append(m)
    url = m.metrics_url("/config")
    running, restart = parse_dump(fetch(url))
    alts = alternatives(workdir, redis_server.sock)
    assert len(restart) >= 20, restart
    keys = [(sec, k) for sec in SECTIONS for k in running[sec]]
    assert len(keys) > 70
    checked = {"live": 0, "restart": 0}
    for sec, key in keys:
        old = running[sec][key]
        if (sec, key) in alts:
            new, also = alts[(sec, key)]
        else:
            assert re.match(r"^-?\d+$", old), "[%s] %s = %s: give the test an alternative value" % (sec, key, old)
            new, also = str(int(old) + 1), {}
        values = {s: dict(v) for s, v in base.items()}
        values[sec][key] = new
        for (s2, k2), v2 in also.items():
            values[s2][k2] = v2
        log = reload(m, render(values))
        now, _ = parse_dump(fetch(url))
        warned = re.findall(r"reload: (.*) changed; (?:it applies|they apply) at the next restart", log)
        if (sec, key) in restart:
            names = ["[%s] %s" % sk for sk in [(sec, key)] + list(also)]
            assert len(warned) == 1 and sorted(warned[0].split(", ")) == sorted(names), "[%s] %s: %s" % (sec, key, log)
            assert now[sec][key] == old, "[%s] %s changed to %s on reload" % (sec, key, now[sec][key])
            checked["restart"] += 1
        else:
            assert not warned, "[%s] %s: %s" % (sec, key, log)
            shown = "(hidden)" if key == "webhook_url" else new
            assert now[sec][key] == shown, "[%s] %s = %s after reload, not %s" % (sec, key, now[sec][key], new)
            checked["live"] += 1
    # back to the base: nothing pending, every value as at the start
    reload(m, render(base))
    assert parse_dump(fetch(url))[0] == running
    print("reloaded %(live)d live keys and %(restart)d restart-only keys" % checked)
    assert m.stop() == 0


def test_status_interval_applies_at_reload(workdir, redis_server, procs):
    """A live key takes effect for real: the status line's timer is re-armed."""
    base = base_values(workdir, redis_server.sock)
    m = Mentiond(workdir, render(base))
    procs.append(m)
    m.wait_log(r"metrics: listening")
    time.sleep(1.5)
    assert "status:" not in m.text()
    base["daemon"]["status_interval"] = "1"
    reload(m, render(base))
    wait_for(lambda: m.text().count("status:") >= 2, timeout=10, what="status lines every second")
    assert m.stop() == 0


def readme_restart_keys():
    """(section, key) pairs the README's configuration tables mark restart."""
    with open(os.path.join(TOP, "README.md")) as f:
        text = f.read()
    conf = text[text.index("## Configuration"):text.index("## Writing rules")]
    out, seen = set(), set()
    for m in re.finditer(r"^`\[(\w+)\]`.*?\n\n((?:\|.*\n)+)", conf, re.M):
        sec, table = m.group(1), m.group(2).splitlines()
        head = [c.strip() for c in table[0].strip("|").split("|")]
        assert "reload" in head, "the [%s] table has no reload column" % sec
        col = head.index("reload")
        for row in table[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")]
            for key in re.findall(r"`(\w+)`", cells[0]):
                seen.add((sec, key))
                assert cells[col] in ("yes", "restart"), row
                if cells[col] == "restart":
                    out.add((sec, key))
    return out, seen


def test_readme_says_which_keys_need_a_restart(workdir, redis_server, procs):
    m = Mentiond(workdir, render(base_values(workdir, redis_server.sock)))
    procs.append(m)
    running, restart = parse_dump(fetch(m.metrics_url("/config")))
    documented, seen = readme_restart_keys()
    every = {(sec, k) for sec in SECTIONS for k in running[sec]}
    assert every - seen == set(), "keys missing from the README's tables"
    assert seen - every == set(), "README documents keys the daemon does not have"
    assert documented == set(restart)
    assert m.stop() == 0
