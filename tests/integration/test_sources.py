"""Source protocols other than X v2, through the real transport:
X v1.1 (CRLF and delimited=length) and Mastodon SSE (events, heartbeats,
deletes), each against the emulator speaking that protocol, with faults.
The reference for what should land is the offline replay of the same
records; the records are our demo posts written in each service's shape."""
import html
import json
import os

from conftest import (DEMO_POSTS, Emulator, Mentiond, config, replay, token_file, value, wait_for)


def demo():
    with open(DEMO_POSTS) as f:
        return [json.loads(l) for l in f if l.strip()]


def v1_status(rec):
    """A demo post (X v2 stream record) as a v1.1 statuses/filter status."""
    d = rec["data"]
    u = rec["includes"]["users"][0]
    st = {
        "created_at": "Sun Nov 22 10:00:00 +0000 2026", "id": int(d["id"]), "id_str": d["id"],
        "text": d["text"], "truncated": False, "lang": d.get("lang"),
        "user": {"id": int(u["id"]), "id_str": u["id"], "name": u["name"], "screen_name": u["username"],
                 "followers_count": u["public_metrics"]["followers_count"], "verified": u.get("verified", False),
                 "description": u.get("description")},
        "entities": {"hashtags": [], "urls": [], "user_mentions": []},
        "in_reply_to_status_id_str": None, "timestamp_ms": "1795420872000",
    }
    if len(d["text"]) > 140:    # compatibility mode: the full text is in extended_tweet
        st["truncated"] = True
        st["text"] = d["text"][:139] + "\u2026"
        st["extended_tweet"] = {"full_text": d["text"], "display_text_range": [0, len(d["text"])]}
    return st


def mastodon_status(rec):
    """A demo post as a Mastodon Status: HTML content, acct, followers."""
    d = rec["data"]
    u = rec["includes"]["users"][0]
    paras = "".join("<p>%s</p>" % html.escape(p) for p in d["text"].split("\n"))
    return {
        "id": d["id"], "created_at": d["created_at"], "in_reply_to_id": None, "in_reply_to_account_id": None,
        "sensitive": False, "spoiler_text": "", "visibility": "public", "language": d.get("lang"),
        "uri": "https://social.example/users/%s/statuses/%s" % (u["username"], d["id"]),
        "url": "https://social.example/@%s/%s" % (u["username"], d["id"]),
        "content": paras, "reblog": None, "edited_at": None,
        "account": {"id": u["id"], "username": u["username"], "acct": u["username"] + "@social.example",
                    "display_name": u["name"], "note": "<p>%s</p>" % html.escape(u.get("description") or ""),
                    "followers_count": u["public_metrics"]["followers_count"], "bot": False},
        "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
    }


def write_jsonl(path, objs):
    with open(path, "w") as f:
        for o in objs:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    return path


def landed_ids(redis_server, kind="mention"):
    return sorted(a["post"]["id"] for alerts in redis_server.alerts().values() for a in alerts
                  if a["type"] == kind)


def source(name, typ, url, tok, stall=5, extra=""):
    return ('[source "%s"]\ntype = %s\nurl = %s\n%sstall_timeout = %d\n%s\n'
            % (name, typ, url, "token_file = %s\n" % tok if tok else "", stall, extra))


def test_x_v1_crlf_and_length_framing(workdir, redis_server, procs):
    path = write_jsonl(os.path.join(workdir, "v1.jsonl"), [v1_status(r) for r in demo()])
    want = sorted(a["post"]["id"] for a in replay(path, fmt="x_v1"))
    assert len(want) >= 10
    faults = [{"disconnect_after": 4}, {"cut_after": 3}, {"garbage_after": 2, "disconnect_after": 5}]
    emu = Emulator(["--protocol", "x_v1", "--posts", path, "--rate", "200"]
                   + ["--fault=" + json.dumps(f) for f in faults])
    procs.append(emu)
    # The URL asks for delimited=length, so both ends use length prefixes.
    m = Mentiond(workdir, config(redis_server.sock,
                                 source("v1", "x_v1", emu.url + "/1.1/statuses/filter.json?delimited=length",
                                        None)))
    procs.append(m)
    wait_for(lambda: len(landed_ids(redis_server)) >= len(want), 30, what="all v1.1 alerts")
    assert landed_ids(redis_server) == want          # nothing lost or doubled through the faults
    assert emu.stats()["connections"] == 4
    log = m.text()
    assert "connection ended inside a record" in log
    assert "malformed record" in log
    # the alerts carry the full text, not the truncated one
    texts = [a["post"]["text"] for al in redis_server.alerts().values() for a in al]
    assert not any(t.endswith("\u2026") for t in texts)
    assert m.stop() == 0


def test_x_v1_control_messages_counted(workdir, redis_server, procs):
    recs = [v1_status(r) for r in demo()[:3]]
    recs.insert(1, {"limit": {"track": 13, "timestamp_ms": "1447202107771"}})
    recs.insert(2, {"limit": {"track": 2, "timestamp_ms": "1447202108771"}})
    recs.append({"disconnect": {"code": 1, "stream_name": "it", "reason": "Shutdown"}})
    path = write_jsonl(os.path.join(workdir, "v1c.jsonl"), recs)
    emu = Emulator(["--protocol", "x_v1", "--posts", path, "--drip"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, source("v1", "x_v1", emu.url + "/1.1/statuses/filter.json",
                                                             None)))
    procs.append(m)
    m.wait_log(r"disconnect notice: code 1 \(Shutdown\)", timeout=20)
    log = m.text()
    assert "limit notice: 13 posts withheld" in log and "limit notice: 2 posts withheld" in log
    wait_for(lambda: 'mentiond_control_messages_total{source="v1"} 3' in m.metrics(), 5,
             what="control messages counted")
    assert m.stop() == 0


def mastodon_run(workdir, redis_server, procs, records, emu_args=(), token="m-token", stall=5):
    path = write_jsonl(os.path.join(workdir, "m.jsonl"), records)
    emu = Emulator(["--protocol", "mastodon", "--posts", path, "--token", "m-token"] + list(emu_args))
    procs.append(emu)
    tok = token_file(workdir, token)
    m = Mentiond(workdir, config(redis_server.sock,
                                 source("masto", "mastodon", emu.url + "/api/v1/streaming/public", tok, stall)))
    procs.append(m)
    return emu, m


def test_mastodon_sse_alerts_match_replay(workdir, redis_server, procs):
    statuses = [mastodon_status(r) for r in demo()]
    ref = write_jsonl(os.path.join(workdir, "ref.jsonl"), statuses)
    want = sorted(a["post"]["id"] for a in replay(ref, fmt="mastodon", framing="lines"))
    assert len(want) >= 10
    emu, m = mastodon_run(workdir, redis_server, procs, statuses,
                          ["--rate", "100", "--keepalive", "0.3",
                           '--fault={"disconnect_after": 5}', '--fault={"cut_after": 4}'])
    wait_for(lambda: len(landed_ids(redis_server)) >= len(want), 30, what="all Mastodon alerts")
    assert landed_ids(redis_server) == want
    a = next(a for al in redis_server.alerts().values() for a in al)
    assert a["source"] == {"name": "masto", "type": "mastodon"}
    assert a["post"]["author"]["handle"].endswith("@social.example")
    assert "<p>" not in a["post"]["text"]             # HTML became text
    wait_for(lambda: 'mentiond_keepalives_total{source="masto"}' in m.metrics(), 5, what="metrics")
    assert "it-token" not in m.text() and "m-token" not in m.text()
    assert m.stop() == 0


def test_mastodon_delete_follows_or_withdraws(workdir, redis_server, procs):
    statuses = [mastodon_status(r) for r in demo()]
    ref = write_jsonl(os.path.join(workdir, "ref.jsonl"), statuses)
    alerted = [a["post"]["id"] for a in replay(ref, fmt="mastodon", framing="lines")]
    emu, m = mastodon_run(workdir, redis_server, procs, statuses)
    wait_for(lambda: len(landed_ids(redis_server)) >= len(alerted), 20, what="alerts")
    # 1. an alert already in Redis: a "deleted" record follows it on its queue
    first = alerted[0]
    key = next(k for k, al in redis_server.alerts().items() if any(a["post"]["id"] == first for a in al))
    emu.control(records=[{"event": "delete", "data": first}, {"event": "delete", "data": "99999"}])
    wait_for(lambda: landed_ids(redis_server, "deleted") == [first], 10, what="deleted record")
    tail = redis_server.alerts()[key][-1]
    assert tail["type"] == "deleted" and tail["id"] == "masto:" + first
    # the unknown id left nothing behind
    assert not redis_server.client().exists("mentiond:seen:masto:99999")
    # 2. Redis away: the alert waits in the buffer, the delete withdraws it
    redis_server.stop()
    m.wait_log(r"redis: down")
    fresh = dict(statuses[0], id="1900000000000009999")
    emu.control(records=[fresh, {"event": "delete", "data": fresh["id"]}])
    m.wait_log(r"alert masto:1900000000000009999 withdrawn")
    redis_server.start()
    wait_for(lambda: 'mentiond_alerts_withdrawn_total 1' in m.metrics(), 10, what="withdrawn counted")
    m.wait_log(r"redis: up")
    assert "1900000000000009999" not in landed_ids(redis_server)
    assert m.stop() == 0


def total(text, name):
    """The sum of a family's samples, whatever their labels."""
    import re
    return sum(float(v) for v in re.findall(r"^%s(?:\{[^}]*\})? (\S+)$" % name, text, re.M))


def test_mastodon_delete_blanks_a_spooled_alert(workdir, redis_server, procs):
    """Redis away and memory full: alerts wait in the spool on disk.  A
    delete of one of them blanks its record in place (its text leaves the
    disk), and when Redis is back it is never sent; the others are."""
    import glob
    statuses = [mastodon_status(r) for r in demo()]
    ref = write_jsonl(os.path.join(workdir, "ref.jsonl"), statuses)
    alerted = [a["post"]["id"] for a in replay(ref, fmt="mastodon", framing="lines")]
    path = write_jsonl(os.path.join(workdir, "m.jsonl"), [])
    emu = Emulator(["--protocol", "mastodon", "--posts", path, "--token", "m-token"])
    procs.append(emu)
    tok = token_file(workdir, "m-token")
    conf = config(redis_server.sock, source("masto", "mastodon", emu.url + "/api/v1/streaming/public", tok),
                  extra_redis="buffer_alerts = 2\n")
    m = Mentiond(workdir, conf)
    procs.append(m)
    m.wait_log(r"source masto: connected")
    redis_server.stop()
    m.wait_log(r"redis: down")
    emu.control(records=statuses)
    wait_for(lambda: total(m.metrics(), "mentiond_alerts_spooled_total") >= len(alerted) - 2, 10,
             what="alerts in the spool")
    victim = next(st for st in statuses if st["id"] == alerted[-1])
    words = victim["content"][3:40]
    spool = lambda: b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(workdir, "spool", "*.spool")))
    assert html.unescape(words).encode() in spool() or words.encode() in spool()
    emu.control(records=[{"event": "delete", "data": victim["id"]}])
    m.wait_log(r"alert masto:%s withdrawn: its post was deleted before it was sent \(blanked in the spool\)"
               % victim["id"])
    assert html.unescape(words).encode() not in spool() and words.encode() not in spool()
    assert value(m.metrics(), "mentiond_spool_withdrawn_total") == 1
    redis_server.start()
    wait_for(lambda: landed_ids(redis_server) == sorted(alerted[:-1]), 20, what="the others delivered")
    assert value(m.metrics(), "mentiond_alerts_withdrawn_total") == 1
    assert m.stop() == 0


def test_mastodon_needs_a_valid_token(workdir, redis_server, procs):
    emu, m = mastodon_run(workdir, redis_server, procs, [mastodon_status(demo()[0])], token="wrong")
    m.wait_log(r"HTTP 401: the server refused our credentials")
    m.wait_log(r"reconnecting in [\d.]+s \(http backoff")
    assert "wrong" not in m.text().replace("wrong token", "")
    assert redis_server.count() == 0
    assert m.stop() == 0


def test_mastodon_heartbeats_keep_the_stream_up_and_silence_is_a_stall(workdir, redis_server, procs):
    emu, m = mastodon_run(workdir, redis_server, procs, [mastodon_status(demo()[0])],
                          ["--keepalive", "0.4", '--fault={"stall_after": 1}'], stall=2)
    m.wait_log(r"stalled: no data or keep-alive for 2s", timeout=15)
    wait_for(lambda: emu.stats()["connections"] >= 2, 10, what="reconnect after the stall")
    # the second connection gets :thump every 0.4 s: no further stall
    wait_for(lambda: emu.stats()["keepalives_sent"] >= 8, 10, what="heartbeats")
    assert m.text().count("stalled:") == 1
    assert m.stop() == 0


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rss")


def test_rss_restart_delivers_nothing_twice(workdir, redis_server, procs):
    """A restart forgets the feed's validators, so the first poll reads every
    item again: the seen keys in Redis drop each one already alerted (counted
    as deduplicated), and only an item new since then alerts (n8n's
    duplicates after a restart)."""
    rules = os.path.join(workdir, "nordvik.rules")
    with open(rules, "w") as f:
        f.write('[rule "nordvik"]\nquery = nordvik\nqueue = web\n')
    emu = Emulator(["--protocol", "rss", "--feed", os.path.join(FIXTURES, "forum.rss")])
    procs.append(emu)
    conf = config(redis_server.sock, source("forum", "rss", emu.url + "/banki.rss", None, extra="interval = 1\n"),
                  rules=rules)
    m = Mentiond(workdir, conf)
    procs.append(m)
    wait_for(lambda: landed_ids(redis_server) == ["forum-1001"], 10, what="the first item")
    assert m.stop() == 0
    m2 = Mentiond(workdir, conf)
    procs.append(m2)
    wait_for(lambda: value(m2.metrics(), "mentiond_alerts_deduplicated_total") >= 1, 10,
             what="the item read again and dropped by its seen key")
    assert redis_server.count() == 1
    emu.control(feed=os.path.join(FIXTURES, "forum-updated.rss"))
    wait_for(lambda: landed_ids(redis_server) == ["forum-1001", "forum-1003"], 10, what="the new item")
    wait_for(lambda: emu.stats()["status_sent"].get("304", 0) >= 1, 10, what="conditional polls again")
    assert redis_server.count() == 2
    assert m2.stop() == 0


def test_rss_polls_conditionally_and_survives_a_charset_change(workdir, redis_server, procs):
    rules = os.path.join(workdir, "nordvik.rules")
    with open(rules, "w") as f:
        f.write('[rule "nordvik"]\nquery = nordvik\nqueue = web\n')
    feed = os.path.join(FIXTURES, "forum.rss")
    # What the feed holds, read from the UTF-8 file offline.
    want = {a["post"]["id"]: a["post"]["text"] for a in replay(feed, rules=rules, fmt="rss")}
    assert list(want) == ["forum-1001"]
    emu = Emulator(["--protocol", "rss", "--feed", feed, "--encoding", "ISO-8859-2",
                    '--fault={"status": 503}'])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock,
                                 source("forum", "rss", emu.url + "/banki.rss", None, extra="interval = 1\n"),
                                 rules=rules))
    procs.append(m)
    m.wait_log(r"HTTP 503.*http backoff")
    wait_for(lambda: landed_ids(redis_server) == ["forum-1001"], 20, what="the Latin-2 item")
    (key, alerts), = redis_server.alerts().items()
    assert key.startswith("mentiond:q:web:")
    got = alerts[0]["post"]
    assert got["text"] == want["forum-1001"]           # the Latin-2 bytes decoded to the same text
    assert got["url"] == "https://forum.example/banki/t/1001"
    assert got["author"]["handle"] == "\u0141ukasz"
    # Later polls send the ETag and get 304.
    wait_for(lambda: emu.stats()["status_sent"].get("304", 0) >= 2, 10, what="304 answers")
    assert any(h and h.startswith('"') for h in emu.stats()["if_none_match"])
    # The site switches to UTF-8 and adds an item: only the new one alerts.
    emu.control(feed=os.path.join(FIXTURES, "forum-updated.rss"), encoding="UTF-8")
    wait_for(lambda: landed_ids(redis_server) == ["forum-1001", "forum-1003"], 10, what="the new item")
    # A GB2312 Atom feed (a charset expat does not know) decodes too.
    emu.control(feed=os.path.join(FIXTURES, "blog-zh.atom"), encoding="GB2312")
    wait_for(lambda: "tag:blog.example,2026:post-7" in landed_ids(redis_server), 10, what="the GB2312 entry")
    zh = [a for al in redis_server.alerts().values() for a in al if a["post"]["id"].startswith("tag:")][0]["post"]
    assert zh["text"] == "Nordvik \u94f6\u884c\u5361\u88ab\u51bb\u7ed3\n\n" \
        "\u6211\u7684 Nordvik \u94f6\u884c\u5361\u5728\u56fd\u5916\u88ab\u51bb\u7ed3\u4e86\uff0c" \
        "\u5ba2\u670d\u6ca1\u6709\u56de\u590d\u3002"
    assert zh["author"]["handle"] == "\u5c0f\u738b"
    assert zh["lang"] == "zh"
    assert m.stop() == 0
