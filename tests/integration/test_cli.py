"""The command line: --replay, -t, usage errors and exit codes (README "Command line")."""
import json
import os
import subprocess

from conftest import BIN, CORPUS, DEMO_POSTS, LEVELS, LEXICONS, RULES, TOP, replay

import pytest


def run(*args, stdin=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, input=stdin)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("mentiond ")
    r = run("--help")
    assert r.returncode == 0 and "--replay FILE" in r.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--replay", "x"], ["--format", "x_v2"], ["extra"],
                                  ["-t", "--replay", "x", "--format", "x_v2"]])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert r.stderr


def test_replay_demo_posts():
    alerts = replay(DEMO_POSTS)
    # 32 posts: the bank's own replies and unrelated posts give none, a retweet
    # of an alerted post is folded into its shares, the rest alert once each
    assert len(alerts) == 23
    ids = [a["id"] for a in alerts]
    assert len(set(ids)) == len(ids)
    # base levels of conf/rules.d; the alert takes the most urgent match's
    # level and goes to that rule's queue (the first such rule on a tie)
    rule_level = {"cards-fraud": 1, "cards-general": 2, "online-outage": 1,
                  "press-escalation": 0, "brand-mention": 3}
    by_level = {}
    for a in alerts:
        assert a["v"] == 1
        best = min(a["matches"], key=lambda m: rule_level[m["rule"]])
        # the scorer may raise a level (never lower it), and says why
        assert a["priority"]["reasons"][0] == "rule:" + ["critical", "high", "normal", "low"][rule_level[best["rule"]]]
        assert LEVELS.index(a["priority"]["level"]) <= rule_level[best["rule"]]
        assert a["queue"] == best["queue"]
        by_level[a["priority"]["level"]] = by_level.get(a["priority"]["level"], 0) + 1
        # the bank's own replies never alert
        assert a["post"]["author"]["handle"] != "NordvikHelp"
    assert by_level == {"critical": 3, "high": 15, "normal": 4, "low": 1}
    card = [a for a in alerts if "4111" in a["post"]["text"]][0]
    assert "4111 **** **** 1111" in card["post"]["text"] and card["pii"]["redacted"] == ["card_number"]
    press = [a for a in alerts if a["queue"] == "press"]
    assert all(a["priority"]["level"] == "critical" for a in press)


def test_replay_stdin_and_summary():
    with open(DEMO_POSTS) as f:
        r = run("--replay", "-", "--format", "x_v2", "--rules", RULES, stdin=f.read() + "garbage\n")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 23
    assert "33 records, 32 posts, 23 alerts" in r.stderr
    assert "1 malformed" in r.stderr
    assert "offset" in r.stderr          # the malformed record is located


def test_replay_bad_rules_exit_1(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('[rule "x"]\nquery = (a OR b\n')
    r = run("--replay", DEMO_POSTS, "--format", "x_v2", "--rules", str(bad))
    assert r.returncode == 1
    assert "%s:2:9: rule \"x\": unbalanced parenthesis" % bad in r.stderr


def test_replay_unknown_format_and_missing_input():
    assert run("--replay", DEMO_POSTS, "--format", "nope", "--rules", RULES).returncode == 2
    r = run("--replay", "/nonexistent", "--format", "x_v2", "--rules", RULES)
    assert r.returncode == 3 and "/nonexistent" in r.stderr


def test_check_ok(tmp_path):
    tok = tmp_path / "t"
    tok.write_text("secret-value\n")
    conf = tmp_path / "m.conf"
    conf.write_text('[daemon]\nrules = %s\nlexicons = %s\nspool_dir = %s/spool\n[source "x"]\ntype = x_v2\n'
                    'url = http://127.0.0.1:9/s\ntoken_file = %s\n' % (RULES, LEXICONS, tmp_path, tok))
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and "6 rules in 5 files" in r.stdout
    assert "secret-value" not in r.stdout + r.stderr


def test_check_runs_the_starts_validation(tmp_path):
    """What would stop the start stops -t, each with file:line (the unit
    runs -t as ExecStartPre), and the start refuses it the same way."""
    conf = tmp_path / "m.conf"
    conf.write_text('[daemon]\nrules = %s\nspool_dir = /nonexistent-parent/spool\n'
                    'metrics_listen = 127.0.0.1:99999\nlexicons = %s/missing\n[redis]\nurl = redis//nowhere\n'
                    % (RULES, tmp_path))
    want = ["%s:3: [daemon] spool_dir = /nonexistent-parent/spool: cannot be created: its parent "
            "/nonexistent-parent does not exist" % conf,
            "%s:4: [daemon] metrics_listen = 127.0.0.1:99999: expected a port from 0 to 65535" % conf,
            "%s:5: [daemon] lexicons = %s/missing: No such file or directory" % (conf, tmp_path),
            "%s:7: [redis] url = redis//nowhere: expected redis://host:port/db or unix:///path" % conf]
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    for w in want:
        assert w in r.stderr, r.stderr
    assert "4 errors" in r.stderr
    start = run("-f", "-c", str(conf))
    assert start.returncode == 1
    for w in want:
        assert w in start.stderr, start.stderr


def test_check_warns_of_missing_default_lexicons(tmp_path):
    if os.path.isdir("/etc/mentiond/lexicons"):
        pytest.skip("/etc/mentiond/lexicons exists here (installed): the default is there")
    conf = tmp_path / "m.conf"
    conf.write_text('[daemon]\nrules = %s\nspool_dir =\n' % RULES)
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert ("warning: %s: [daemon] lexicons = /etc/mentiond/lexicons (the default) does not exist: priorities "
            "are scored without the urgency and negative word lists" % conf) in r.stderr


def test_replay_says_which_word_lists_scored(tmp_path):
    """Without a configuration, replay scores with the project's word lists
    (as the daemon with the example configuration does) and says so."""
    rules = tmp_path / "my.rules"
    rules.write_text('[rule "r"]\nquery = nordvik\n')
    r = run("--replay", DEMO_POSTS, "--format", "x_v2", "--rules", str(rules))
    assert r.returncode == 0, r.stderr
    assert ("replay: priorities scored with the word lists urgency, negative from %s/conf/lexicons" % TOP
            in r.stderr), r.stderr
    with_lists = [json.loads(l) for l in r.stdout.splitlines()]
    assert any(x.startswith("urgency:") for a in with_lists for x in a["priority"]["reasons"])
    # a binary away from the project, with no lists beside the rules: said
    alone = tmp_path / "bin" / "mentiond"
    alone.parent.mkdir()
    alone.write_bytes(open(BIN, "rb").read())
    alone.chmod(0o755)
    r = subprocess.run([str(alone), "--replay", DEMO_POSTS, "--format", "x_v2", "--rules", str(rules)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if os.path.isdir("/etc/mentiond/lexicons"):
        assert "from /etc/mentiond/lexicons" in r.stderr
    else:
        assert "replay: priorities scored without the urgency and negative word lists" in r.stderr, r.stderr
        without = [json.loads(l) for l in r.stdout.splitlines()]
        assert not any(x.startswith("urgency:") for a in without for x in a["priority"]["reasons"])
    # with a configuration, its lexicons; a configured directory that is missing is an error
    conf = tmp_path / "m.conf"
    conf.write_text('[daemon]\nrules = %s\nspool_dir =\nlexicons = %s/nowhere\n' % (rules, tmp_path))
    r = run("--replay", DEMO_POSTS, "--format", "x_v2", "-c", str(conf))
    assert r.returncode == 1
    assert "%s:4: [daemon] lexicons = %s/nowhere: No such file or directory" % (conf, tmp_path) in r.stderr


def test_check_reports_every_error(tmp_path):
    """Every error of the configuration and of every rule file in one run:
    a bad value elsewhere does not hide the rule files' errors."""
    rules = tmp_path / "r.rules"
    rules.write_text('[rule "a"]\nquery = -x\n[rule "b"]\nquery = b\npriority = urgent\n')
    conf = tmp_path / "m.conf"
    conf.write_text('[daemon]\nrules = %s\nbogus = 1\nspool_dir =\nworkers = 99\n[source "x"]\ntype = file\n'
                    'path = /dev/null\n' % rules)
    for args in (["-t", "-c", str(conf)], ["-f", "-c", str(conf)],
                 ["--replay", DEMO_POSTS, "--format", "x_v2", "-c", str(conf)]):
        r = run(*args)
        assert r.returncode == 1, args
        assert "%s:3: unknown key 'bogus' in [daemon]" % conf in r.stderr, r.stderr
        assert "%s:5: [daemon] workers = 99: expected an integer from 0 to 8" % conf in r.stderr
        assert "%s:2:9: rule \"a\": a rule needs at least one positive term" % rules in r.stderr
        assert "%s:5: priority = urgent" % rules in r.stderr
    assert "4 errors" in run("-t", "-c", str(conf)).stderr
    # an empty rule glob is said together with the rest too
    conf.write_text('[daemon]\nrules = %s/none/*.rules\nworkers = 99\nspool_dir =\n' % tmp_path)
    r = run("-t", "-c", str(conf))
    assert "%s:2: [daemon] rules = %s/none/*.rules: no rule file matches" % (conf, tmp_path) in r.stderr, r.stderr
    assert "workers = 99" in r.stderr and "2 errors" in r.stderr


def test_replay_whole_v2_corpus():
    d = os.path.join(CORPUS, "twitter-v2-stream", "twarc-csv")
    if not os.path.isdir(d):
        pytest.skip("../shared/corpus is absent; real-payload test not run")
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jsonl"))
    data = b"".join(open(f, "rb").read() for f in files)
    r = subprocess.run([BIN, "--replay", "-", "--format", "x_v2", "--rules", RULES],
                       input=data, capture_output=True)
    assert r.returncode == 0
    assert b"1417 posts" in r.stderr
    for line in r.stdout.splitlines():
        json.loads(line)


def test_example_rules_never_alert_on_the_brands_own_posts():
    """The shipped rules exclude both own accounts on every alternative
    (AND binds tighter than OR: a trailing -from: on the last alternative
    only would let the brand's own posts through).  Without a configuration,
    so own_handles does not hide a wrong rule."""
    own = os.path.join(TOP, "tests", "fixtures", "x_v2", "own-accounts.jsonl")
    r = run("--replay", own, "--format", "x_v2", "--rules", RULES)
    assert r.returncode == 0, r.stderr
    assert "6 records, 6 posts, 0 alerts" in r.stderr, r.stderr + r.stdout


def test_replay_says_why_posts_gave_no_alert():
    r = run("--replay", DEMO_POSTS, "--format", "x_v2", "--rules", RULES)
    assert r.returncode == 0, r.stderr
    # the 32 demo posts: 23 alerts, one retweet of an alerted post folded
    # into its shares, the rest (the bank's replies too: no configuration,
    # so no own_handles) matched no rule
    assert ("replay: of 32 posts: 23 matched a rule, 8 matched none, 1 folded as shares of an alerted post, "
            "0 duplicates, 0 by own_handles; 0 control characters replaced") in r.stderr, r.stderr
    # the same posts twice: the second copy of each is a duplicate
    with open(DEMO_POSTS) as f:
        twice = f.read() * 2
    r = run("--replay", "-", "--format", "x_v2", "--rules", RULES, stdin=twice)
    assert "of 64 posts: 23 matched a rule, 8 matched none, 1 folded" in r.stderr
    assert "32 duplicates" in r.stderr, r.stderr


def test_replay_frames_each_format_as_its_live_source(tmp_path):
    sse = os.path.join(TOP, "tests", "fixtures", "mastodon", "stream.sse")
    r = run("--replay", sse, "--format", "mastodon", "--rules", RULES)
    assert r.returncode == 0, r.stderr
    assert "7 records, 5 posts" in r.stderr and "0 malformed" in r.stderr, r.stderr
    # a file of statuses, one per line: said, and read with --framing lines
    statuses = tmp_path / "statuses.jsonl"
    statuses.write_text("".join(l[6:] for l in open(sse) if l.startswith("data: {")))
    r = run("--replay", str(statuses), "--format", "mastodon", "--rules", RULES)
    assert "0 records" in r.stderr
    assert "hint: no server-sent event in the input; for one record per line give --framing lines" in r.stderr
    r = run("--replay", str(statuses), "--format", "mastodon", "--framing", "lines", "--rules", RULES)
    assert "5 records, 4 posts" in r.stderr, r.stderr       # one data: line is a notification
    # an event stream read as lines: the hint the other way
    r = run("--replay", sse, "--format", "ndjson", "--rules", RULES)
    assert "hint: the input looks like an event stream (server-sent events); give --framing sse" in r.stderr


def test_replay_counts_control_characters():
    line = ('{"data":{"id":"7","text":"\\u0000 nordvik fraud: my card was stolen","author_id":"5","lang":"en"},'
            '"includes":{"users":[{"id":"5","username":"u","name":"U"}]}}\n')
    r = run("--replay", "-", "--format", "x_v2", "--rules", RULES, stdin=line)
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(alerts) == 1 and alerts[0]["post"]["text"] == "\ufffd nordvik fraud: my card was stolen"
    assert "1 control characters replaced" in r.stderr


def test_replay_without_word_lists_still_reads_list_files_beside_the_rules(tmp_path):
    """No urgency or negative list anywhere: scored without them, but a
    rule's list:NAME still comes from lexicons/ beside the rules."""
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "lexicons" / "brands.txt").write_text("nordvik\n")
    (tmp_path / "rules.d" / "a.rules").write_text('[rule "r"]\nquery = list:brands\n')
    alone = tmp_path / "bin" / "mentiond"
    alone.parent.mkdir()
    alone.write_bytes(open(BIN, "rb").read())
    alone.chmod(0o755)
    r = subprocess.run([str(alone), "--replay", DEMO_POSTS, "--format", "x_v2", "--rules",
                        str(tmp_path / "rules.d" / "*.rules")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) > 10
    if not os.path.isdir("/etc/mentiond/lexicons"):
        assert "priorities scored without the urgency and negative word lists" in r.stderr, r.stderr
