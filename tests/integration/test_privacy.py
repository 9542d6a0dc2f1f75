"""No unmasked card or account number reaches Redis or the logs, with the
daemon at debug level: customers post them in public, a bank must not copy
them into its queues.  (The disk spool of the delivery issue will be
checked here too once it exists.)"""
import json
import os
import re
import socket
import threading

import pytest

from conftest import TOP, Emulator, Mentiond, config, demo_alert_count, token_file, wait_for, x_source

SECRETS = ["4111111111111111", "5555555555554444", "378282246310005", "SE4550000000058398257466",
           "GB82WEST12345698765432", "83279123456"]


def post(i, text, name="Jane Doe"):
    return {"data": {"id": "77%02d" % i, "text": text, "author_id": "a%d" % i, "lang": "en"},
            "includes": {"users": [{"id": "a%d" % i, "username": "u%d" % i, "name": name,
                                    "public_metrics": {"followers_count": 10}}]}}


POSTS = [
    post(1, "@NordvikHelp my card 4111 1111 1111 1111 was charged twice"),
    post(2, "@NordvikHelp fraud on 5555-5555-5555-4444 !!"),
    post(3, "Nordvik card 3782 822463 10005 stolen"),
    post(4, "@NordvikHelp please refund to SE45 5000 0000 0583 9825 7466"),
    post(5, "@NordvikHelp iban GB82WEST12345698765432 fraud"),
    post(6, "@NordvikHelp konto 8327-9123456 spärrat kort"),
    post(7, "@NordvikHelp my card was charged twice", name="Card 4111111111111111"),
]


class SyslogCapture:
    """A datagram socket at /dev/log, if nothing owns that path."""

    def __init__(self):
        self.lines = []
        self.sock = None
        if os.path.exists("/dev/log"):
            return
        try:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind("/dev/log")
        except OSError:
            self.sock = None
            return
        self.sock.settimeout(0.2)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.stop_flag = False
        self.t.start()

    def run(self):
        while not self.stop_flag:
            try:
                self.lines.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                pass

    def close(self):
        if self.sock:
            self.stop_flag = True
            self.t.join()
            self.sock.close()
            os.unlink("/dev/log")


def leaked(text):
    digits = re.sub(r"[^0-9A-Za-z]", "", text)
    return [s for s in SECRETS if s in text or s in digits]


def test_no_card_number_reaches_redis_or_logs(workdir, redis_server, procs):
    feed = os.path.join(workdir, "pii.jsonl")
    with open(feed, "w") as f:
        for p in POSTS:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
        f.write('{"data": {"id": "7799", "text": "4111 1111 1111 1111 broken\n')     # malformed
    syslog = SyslogCapture()
    try:
        emu = Emulator(["--posts", feed, "--token", "it-token"])
        procs.append(emu)
        conf = config(redis_server.sock, x_source(emu.url, token_file(workdir)))
        conf = conf.replace("[redis]", "[priority]\naccount_pattern = dddd-ddddddd\n\n[redis]")
        m = Mentiond(workdir, conf)
        procs.append(m)
        wait_for(lambda: redis_server.count() >= 7, 10, what="the alerts")
        m.wait_log(r"malformed record")
        assert m.stop() == 0
    finally:
        syslog.close()

    r = redis_server.client()
    everything = []
    for key in r.scan_iter(match="*"):
        t = r.type(key).decode()
        if t == "list":
            everything += [v.decode() for v in r.lrange(key, 0, -1)]
        elif t == "string":
            everything.append(r.get(key).decode())
        everything.append(key.decode())
    alerts = [json.loads(v) for v in everything if v.startswith('{"v":1')]
    assert len(alerts) == 7
    for a in alerts:
        assert a["pii"]["redacted"], a["post"]["text"]
        assert a["priority"]["level"] in ("critical", "high")
        assert any(x.startswith("pii:") for x in a["priority"]["reasons"])
    texts = {a["post"]["id"]: a["post"]["text"] for a in alerts}
    assert texts["7701"] == "@NordvikHelp my card 4111 **** **** 1111 was charged twice"
    assert texts["7704"] == "@NordvikHelp please refund to SE45 **** **** **** **** 7466"
    assert texts["7706"] == "@NordvikHelp konto ****-***3456 spärrat kort"
    assert [a for a in alerts if a["post"]["id"] == "7707"][0]["post"]["author"]["name"] == "Card 4111********1111"
    assert leaked("\n".join(everything)) == []
    assert leaked(m.text()) == []
    if syslog.sock:
        assert any("mentiond" in l for l in syslog.lines), "syslog got nothing"
        assert leaked("\n".join(syslog.lines)) == []
    else:
        print("SKIPPED: syslog capture: /dev/log is owned by this system; stderr was checked")


@pytest.mark.parametrize("workers", [0, 2])
def test_retweet_alert_names_the_customer_and_masks_the_original(workdir, redis_server, procs, workers):
    """A retweet of a complaint, its text cut by X before the words that
    matter: the alert carries the original post (masked like the post),
    says which rules matched only through it, names its author as the
    customer, and counts that author's reach, not the retweeter's 5."""
    fixture = os.path.join(TOP, "tests", "fixtures", "x_v2", "retweet.jsonl")
    emu = Emulator(["--posts", fixture, "--token", "it-token"])
    procs.append(emu)
    m = Mentiond(workdir, config(redis_server.sock, x_source(emu.url, token_file(workdir)),
                                 extra_daemon="workers = %d" % workers))
    procs.append(m)
    wait_for(lambda: redis_server.count() >= 1, 10, what="the retweet's alert")
    assert m.stop() == 0
    a = [x for alerts in redis_server.alerts().values() for x in alerts][0]
    ref = a["post"]["referenced"]
    assert ref["id"] == "1900000000000000500" and a["post"]["referenced_id"] == ref["id"]
    assert ref["text"].startswith("@NordvikHelp honestly the worst week: someone used my card 4111 **** **** 1111 "
                                  "for fraud while I was abroad")
    assert ref["author"] == {"id": "101", "handle": "jane_lindqvist", "name": "Jane Lindqvist", "followers": 143000}
    assert a["customer"] == {"id": "101", "handle": "jane_lindqvist", "name": "Jane Lindqvist",
                             "is": "referenced_author"}
    assert {x["rule"]: x["in"] for x in a["matches"]} == {"cards-fraud": "referenced", "cards-general": "referenced",
                                                          "brand-mention": "text"}
    assert "reach:143000:@jane_lindqvist" in a["priority"]["reasons"]
    assert a["pii"]["redacted"] == ["card_number"]
    assert leaked(json.dumps(a)) == [] and leaked(m.text()) == []
