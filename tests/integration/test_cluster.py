"""[redis] cluster = on: the real daemon against a real Redis Cluster on
loopback (six redis-server, three primaries and three replicas, made with
redis-cli --cluster create).  What is checked: alerts for 20 queues at all
four levels land in their queue's hash-tagged keys, each once and in order,
spread over the three primaries; a primary killed while alerts flow (its
replica promoted): nothing lost, nothing doubled, in order."""
import json
import os
import re
import subprocess
import time

from conftest import (LEVELS, LEXICONS, Emulator, Mentiond, token_file, total, value, wait_for)

QUEUES = ["q%02d" % q for q in range(1, 21)]


def cluster_rules(workdir):
    """A rule per queue and level: the post's keyword says which."""
    path = os.path.join(workdir, "cluster.rules")
    with open(path, "w") as f:
        for q in QUEUES:
            for lv in LEVELS:
                f.write('[rule "%s-%s"]\nquery = %s%s\nqueue = %s\npriority = %s\n\n' % (q, lv, q, lv, q, lv))
    return path


def cluster_posts(rounds, base=1980000000000000000):
    """rounds x 80 posts in X v2 shape, cycling through every queue and
    level; returns (records, {(queue, level): [post ids in order]})."""
    recs, want = [], {}
    for i in range(rounds * len(QUEUES) * len(LEVELS)):
        q, lv = QUEUES[(i // len(LEVELS)) % len(QUEUES)], LEVELS[i % len(LEVELS)]
        pid, uid = str(base + i), str(700000 + i)
        recs.append({"data": {"id": pid, "text": "%s%s post %d" % (q, lv, i), "author_id": uid, "lang": "en",
                              "created_at": "2026-12-07T08:00:00.000Z", "conversation_id": pid,
                              "edit_history_tweet_ids": [pid]},
                     "includes": {"users": [{"id": uid, "username": "u%d" % i, "name": "U", "verified": False,
                                             "public_metrics": {"followers_count": 20, "following_count": 5,
                                                                "tweet_count": 50, "listed_count": 0}}]},
                     "matching_rules": [{"id": "1", "tag": "t"}]})
        want.setdefault((q, lv), []).append(pid)
    return recs, want


def cluster_conf(workdir, cluster, emu, extra_redis=""):
    seed, more = cluster.ports[0], cluster.ports[1]
    return ("[daemon]\nname = it\nrules = %s\nlexicons = %s\nlog_level = debug\nstatus_interval = 1\n"
            "metrics_listen = 127.0.0.1:0\nspool_dir = %s\nshutdown_timeout = 10\n\n"
            "[redis]\nurl = redis://127.0.0.1:%d\ncluster = on\ncluster_nodes = 127.0.0.1:%d\n%s\n"
            "[source \"x-it\"]\ntype = x_v2\nurl = %s\ntoken_file = %s\nstall_timeout = 5\n"
            % (cluster_rules(workdir), LEXICONS, os.path.join(workdir, "spool"), seed, more, extra_redis,
               emu.url, token_file(workdir)))


def landed(cluster):
    """{(queue, level): [post ids in list order]} from the cluster."""
    out = {}
    for q in QUEUES:
        for lv in LEVELS:
            key = "mentiond:{%s}:q:%s" % (q, lv)
            ids = [json.loads(x)["post"]["id"] for x in cluster.lrange(key)]
            if ids:
                out[(q, lv)] = ids
    return out


def posts_emulator(workdir, procs, rounds, rate):
    """The stream emulator serving cluster_posts(rounds); (emulator, want)."""
    recs, want = cluster_posts(rounds)
    path = os.path.join(workdir, "posts.jsonl")
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    emu = Emulator(["--posts", path, "--rate", str(rate), "--keepalive", "0.5", "--token", "it-token"])
    procs.append(emu)
    return emu, want


def start(workdir, cluster, procs, rounds, rate):
    emu, want = posts_emulator(workdir, procs, rounds, rate)
    md = Mentiond(workdir, cluster_conf(workdir, cluster, emu))
    procs.append(md)
    return md, want


def test_queues_and_levels_land_in_their_slots(workdir, redis_cluster, procs):
    md, want = start(workdir, redis_cluster, procs, rounds=4, rate=200)
    total = sum(len(v) for v in want.values())
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= total, 60, interval=0.5,
             what="%d alerts in the cluster" % total)
    time.sleep(1)
    got = landed(redis_cluster)
    assert got == want                  # every key: its posts, once each, in the order posted
    # the 20 queues are spread over the three primaries, each queue's keys on one
    where = {q: {redis_cluster.primary_of("mentiond:{%s}:q:%s" % (q, lv)) for lv in LEVELS} for q in QUEUES}
    assert all(len(p) == 1 for p in where.values())
    assert len({p for ps in where.values() for p in ps}) == 3
    assert not redis_cluster.keys("mentiond:q:*")          # nothing in the one-server layout
    seen = redis_cluster.keys("mentiond:{q*}:seen:*")
    assert len(seen) == total
    text = md.metrics()
    assert value(text, "mentiond_redis_cluster_primaries") == 3
    for port in redis_cluster.primaries():
        assert value(text, "mentiond_redis_node_state", node="127.0.0.1:%d" % port) == 1
    assert md.stop() == 0


def test_primary_killed_replica_takes_over(workdir, redis_cluster, procs):
    """While alerts flow, the primary holding q01's slot is killed (-9): its
    replica is promoted after cluster-node-timeout; the alerts in flight are
    sent again to it, and every key ends with its posts once, in order."""
    md, want = start(workdir, redis_cluster, procs, rounds=15, rate=100)
    total = sum(len(v) for v in want.values())
    victim = redis_cluster.primary_of("mentiond:{q01}:q:critical")
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= total // 4, 30, interval=0.2,
             what="a quarter of the alerts in")
    t0 = time.time()
    redis_cluster.kill(victim)
    md.wait_log(r"redis: down: node 127\.0\.0\.1:%d" % victim, timeout=10)
    redis_cluster.wait_ok(timeout=30)           # a replica took the dead primary's slots
    md.wait_log(r"redis: up \(cluster of 3 primaries\)", timeout=30)
    print("killed %d: mentiond sending again %.1f s after" % (victim, time.time() - t0))
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= total, 90, interval=0.5,
             what="%d alerts in the cluster" % total)
    time.sleep(1)
    assert landed(redis_cluster) == want        # nothing lost, nothing doubled, in order per key
    text = md.metrics()
    assert value(text, "mentiond_redis_cluster_primaries") == 3
    assert value(text, "mentiond_redis_cluster_map_reads_total", result="ok") >= 2
    assert md.stop() == 0


def node_id(cluster, port):
    return cluster.node(port).execute_command("CLUSTER", "MYID").decode()


def test_slots_resharded_while_alerts_flow(workdir, redis_cluster, procs):
    """redis-cli --cluster reshard moves every slot of one primary to another
    while alerts flow: mentiond follows ASK (keys of a slot being migrated)
    and MOVED (the slot moved), and every key ends with its posts once, in
    order."""
    md, want = start(workdir, redis_cluster, procs, rounds=20, rate=100)      # 16 s: the reshard ends within
    total = sum(len(v) for v in want.values())
    prim = sorted(redis_cluster.primaries())
    src, dst = prim[0], prim[1]
    moved_queues = [q for q in QUEUES if redis_cluster.primary_of("mentiond:{%s}:q:low" % q) == src]
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= total // 5, 30, interval=0.2,
             what="a fifth of the alerts in")
    t0 = time.time()
    out = subprocess.run(["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % src,
                          "--cluster-from", node_id(redis_cluster, src), "--cluster-to", node_id(redis_cluster, dst),
                          "--cluster-slots", "16384", "--cluster-yes"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    print("resharded %d queues' slots in %.1f s" % (len(moved_queues), time.time() - t0))
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= total, 90, interval=0.5,
             what="%d alerts in the cluster" % total)
    time.sleep(1)
    assert moved_queues and all(redis_cluster.primary_of("mentiond:{%s}:q:low" % q) == dst for q in moved_queues)
    assert landed(redis_cluster) == want        # nothing lost, nothing doubled, in order per key
    text = md.metrics()
    redirects = {k: value(text, "mentiond_redis_cluster_redirects_total", kind=k)
                 for k in ("moved", "ask", "tryagain", "clusterdown")}
    print("redirects followed: %s" % redirects)
    assert sum(redirects.values()) >= 1         # MOVED once a slot is gone; ASK or TRYAGAIN while it goes
    assert md.stop() == 0


def test_whole_cluster_down_with_spool(workdir, redis_cluster, procs):
    """durability = spool: the whole cluster stopped for 20 s while posts
    keep coming; every alert is on disk meanwhile and delivered once, in
    order, when the cluster is back."""
    emu, want = posts_emulator(workdir, procs, 10, 40)
    conf = cluster_conf(workdir, redis_cluster, emu).replace("shutdown_timeout = 10\n",
                                                             "shutdown_timeout = 10\ndurability = spool\n")
    md = Mentiond(workdir, conf)
    procs.append(md)
    n = sum(len(v) for v in want.values())
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= 40, 30, interval=0.2,
             what="the first alerts in")
    ports = list(redis_cluster.procs)
    for p in ports:
        redis_cluster.procs[p].terminate()
    for p in ports:
        redis_cluster.procs[p].wait(10)
    md.wait_log(r"redis: down: node ", timeout=10)
    time.sleep(20)
    text = md.metrics()
    spooled = total(text, "mentiond_spool_alerts") + value(text, "mentiond_alerts_buffered")
    for p in ports:
        redis_cluster.start_node(p)
    redis_cluster.wait_ok(timeout=60)
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= n, 120, interval=0.5,
             what="%d alerts in the cluster" % n)
    time.sleep(1)
    print("%d alerts waited (on disk, in memory) while the cluster was down" % spooled)
    assert spooled > 0
    assert landed(redis_cluster) == want
    assert md.stop() == 0


SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")


def test_streams_groups_and_reference_consumers(workdir, redis_cluster, procs):
    """mode = stream with a consumer group in a cluster: the groups exist on
    every queue's streams (in the queue's slot), and the reference consumers
    (consumer-stream, and consumer-list on a list-mode run) and gap-check
    take --cluster and read them, most urgent level first."""
    emu, want = posts_emulator(workdir, procs, 2, 200)
    md = Mentiond(workdir, cluster_conf(workdir, redis_cluster, emu, "mode = stream\nstream_groups = workers\n"))
    procs.append(md)
    n = sum(len(v) for v in want.values())

    def streamed():
        return sum(redis_cluster.node(redis_cluster.primary_of(k)).xlen(k) for k in redis_cluster.keys(
            "mentiond:{q*}:s:*"))
    wait_for(lambda: streamed() >= n, 60, interval=0.5, what="%d alerts in the streams" % n)
    key = "mentiond:{q07}:s:high"
    groups = redis_cluster.node(redis_cluster.primary_of(key)).xinfo_groups(key)
    assert [g["name"] for g in groups] == [b"workers"]
    url = "redis://127.0.0.1:%d" % redis_cluster.ports[2]
    out = subprocess.run([os.path.join(SCRIPTS, "consumer-stream"), "--cluster", "--url", url, "--queue", "q07",
                          "--group", "workers", "--consumer", "c1", "--once"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    got = [json.loads(x) for x in out.stdout.splitlines()]
    assert [(a["queue"], a["priority"]["level"], a["post"]["id"]) for a in got] == [
        ("q07", lv, pid) for lv in LEVELS for pid in want[("q07", lv)]]
    assert md.stop() == 0
    gap = subprocess.run([os.path.join(SCRIPTS, "gap-check"), "verify", "0", "--cluster", "--url", url,
                          "--mode", "stream", "--allow-missing"], capture_output=True, text=True, timeout=60)
    assert json.loads(gap.stdout)["other_alerts"] == n      # every stream of every primary read (acked stay)


def test_consumer_list_in_a_cluster(workdir, redis_cluster, procs):
    """consumer-list --cluster drains one queue, most urgent level first."""
    md, want = start(workdir, redis_cluster, procs, rounds=2, rate=200)
    n = sum(len(v) for v in want.values())
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= n, 60, interval=0.5,
             what="%d alerts in the cluster" % n)
    url = "redis://127.0.0.1:%d" % redis_cluster.ports[3]
    out = subprocess.run([os.path.join(SCRIPTS, "consumer-list"), "--cluster", "--url", url, "--queue", "q13",
                          "--once"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = [json.loads(x) for x in out.stdout.splitlines()]
    assert [(a["priority"]["level"], a["post"]["id"]) for a in got] == [
        (lv, pid) for lv in LEVELS for pid in want[("q13", lv)]]
    assert not landed(redis_cluster).get(("q13", "critical"))     # taken
    assert md.stop() == 0


def test_fleet_on_a_cluster(workdir, redis_cluster, procs):
    """A fleet whose Redis is a cluster: the leases, the surge counts and the
    share counts live in the fleet's slot ({<fleet>}), so two members share
    two sources, and shares read on both make one viral incident."""
    from test_fleet import FLEET, Fleet, pick, posts, retweets
    names = ["fleet-a", "fleet-b"]
    srcs = [next(s for s in ["x%d" % i for i in range(1, 7)] if pick(names, s) == n) for n in names]
    extra = "cluster = on\n\n[alerting]\nviral_shares = 5\nviral_window = 60\ncooldown = 0\n\n"
    fl = Fleet(workdir, None, procs, per_source=1, rate=1, sources=srcs, extra=extra)
    url = "redis://127.0.0.1:%d" % redis_cluster.ports[0]
    for n in names:
        fl.start(n, redis_url=url)

    def holders():
        out = {}
        for s in srcs:
            key = "mentiond:fleet:{%s}:lease:%s" % (FLEET, s)
            v = redis_cluster.node(redis_cluster.primary_of(key)).get(key)
            out[s] = v.decode().split(" ")[0] if v else None
        return out
    want = {s: pick(names, s) for s in srcs}
    wait_for(lambda: holders() == want, 20, interval=0.2, what="the leases held as %s" % want)
    src_a = [s for s in srcs if want[s] == "fleet-a"][0]
    src_b = [s for s in srcs if want[s] == "fleet-b"][0]
    orig = posts(1, 1996000000000000000)[0]
    oid = orig["data"]["id"]
    fl.emus[src_a].control(records=[orig], rate=5)
    care = "mentiond:{care}:q:normal"
    wait_for(lambda: any(json.loads(x)["post"]["id"] == oid for x in redis_cluster.lrange(care)), 20,
             what="the original alerted")
    fl.emus[src_a].control(records=retweets(orig, 3, 1997000000000000000), rate=5)
    fl.emus[src_b].control(records=retweets(orig, 3, 1998000000000000000), rate=5)
    inc = "mentiond:{incidents}:q:critical"

    def viral():
        return [json.loads(x) for x in redis_cluster.lrange(inc) if json.loads(x)["type"] == "viral"]
    got = wait_for(viral, 30, interval=0.5, what="the fleet's viral incident")
    assert len(got) == 1 and got[0]["action"] == "open"
    shares = "mentiond:fleet:{%s}:shares:x_v2:%s" % (FLEET, oid)
    # the viral incident comes with the batch that crossed 5; the sixth share may be a second behind
    wait_for(lambda: int(redis_cluster.node(redis_cluster.primary_of(shares)).get(shares)) == 6, 5,
             interval=0.2, what="the sixth share counted")
    for n in names:
        assert fl.members[n].stop() == 0


def test_ask_while_a_slot_migrates(workdir, redis_cluster, procs):
    """A queue's slot set MIGRATING on its primary and IMPORTING on another
    before its first alert: the keys are not on the source, which answers
    ASK; mentiond sends ASKING and the enqueue to the target.  Then the
    migration ends (SETSLOT NODE) and the next alerts get MOVED.  Every key:
    its posts once, in order."""
    q = "q05"
    key = "mentiond:{%s}:q:low" % q
    slot = redis_cluster.node(redis_cluster.ports[0]).execute_command("CLUSTER", "KEYSLOT", key)
    src = redis_cluster.primary_of(key)
    dst = [p for p in redis_cluster.primaries() if p != src][0]
    redis_cluster.node(dst).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(redis_cluster, src))
    redis_cluster.node(src).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(redis_cluster, dst))
    md, want = start(workdir, redis_cluster, procs, rounds=6, rate=100)
    n = sum(len(v) for v in want.values())
    wait_for(lambda: value(md.metrics(), "mentiond_redis_cluster_redirects_total", kind="ask") >= 4, 30,
             interval=0.2, what="ASK redirects followed")
    for p in redis_cluster.primaries():
        redis_cluster.node(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id(redis_cluster, dst))
    wait_for(lambda: redis_cluster.primary_of(key) == dst, 10, what="the slot on its new primary everywhere")
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= n, 60, interval=0.5,
             what="%d alerts in the cluster" % n)
    time.sleep(1)
    assert landed(redis_cluster) == want
    text = md.metrics()
    print("redirects: ask %d, moved %d" % (value(text, "mentiond_redis_cluster_redirects_total", kind="ask"),
                                           value(text, "mentiond_redis_cluster_redirects_total", kind="moved")))
    assert md.stop() == 0


def test_deletion_follows_its_alert_to_its_queue(workdir, redis_cluster, procs):
    """A deletion does not know its alert's queue; in a cluster the seen key
    lives in the queue's slot, so the deletion goes to every queue the rules
    name and lands only behind its alert."""
    from conftest import RULES, replay
    from test_sources import demo, mastodon_status, write_jsonl
    statuses = [mastodon_status(r) for r in demo()]
    ref = write_jsonl(os.path.join(workdir, "ref.jsonl"), statuses)
    alerted = [a["post"]["id"] for a in replay(ref, fmt="mastodon", framing="lines")]
    emu = Emulator(["--protocol", "mastodon", "--posts", ref, "--token", "m-token"])
    procs.append(emu)
    conf = ("[daemon]\nname = it\nrules = %s\nlexicons = %s\nlog_level = debug\nmetrics_listen = 127.0.0.1:0\n"
            "spool_dir =\n\n[redis]\nurl = redis://127.0.0.1:%d\ncluster = on\n\n"
            "[source \"masto\"]\ntype = mastodon\nurl = %s/api/v1/streaming/public\ntoken_file = %s\n"
            % (RULES, LEXICONS, redis_cluster.ports[0], emu.url, token_file(workdir, "m-token")))
    md = Mentiond(workdir, conf)
    procs.append(md)

    def queues():
        out = {}
        for k in redis_cluster.keys("mentiond:{*}:q:*"):
            out[k] = [json.loads(x) for x in redis_cluster.lrange(k)]
        return out
    wait_for(lambda: sum(len(v) for v in queues().values()) >= len(alerted), 30, what="the alerts")
    first = alerted[0]
    key = next(k for k, al in queues().items() if any(a["post"]["id"] == first for a in al))
    emu.control(records=[{"event": "delete", "data": first}])

    def deleted():
        return {k: [a for a in al if a["type"] == "deleted"] for k, al in queues().items()
                if any(a["type"] == "deleted" for a in al)}
    got = wait_for(deleted, 10, what="the deleted record")
    time.sleep(1)
    got = deleted()
    assert list(got) == [key] and [a["id"] for a in got[key]] == ["masto:" + first]
    assert queues()[key][-1]["type"] == "deleted"
    assert md.stop() == 0


def test_acl_user_and_cluster_slots(workdir, redis_cluster, procs):
    """An ACL user that may not run CLUSTER SHARDS (as on a server before
    Redis 7): the map is read with CLUSTER SLOTS instead, and the alerts
    land as with the default user."""
    pw = os.path.join(workdir, "redis.pw")
    with open(pw, "w") as f:
        f.write("s3cret-pw\n")
    for p in redis_cluster.ports:
        redis_cluster.node(p).execute_command("ACL", "SETUSER", "alerts", "on", ">s3cret-pw", "~*", "&*", "+@all",
                                              "-cluster|shards")
    emu, want = posts_emulator(workdir, procs, 1, 200)
    md = Mentiond(workdir, cluster_conf(workdir, redis_cluster, emu,
                                        "username = alerts\npassword_file = %s\n" % pw))
    procs.append(md)
    n = sum(len(v) for v in want.values())
    wait_for(lambda: sum(len(v) for v in landed(redis_cluster).values()) >= n, 30, interval=0.5,
             what="%d alerts in the cluster" % n)
    assert landed(redis_cluster) == want
    assert value(md.metrics(), "mentiond_redis_cluster_map_reads_total", result="ok") >= 1
    assert re.search(r"CLUSTER SHARDS refused \(NOPERM.*reading the map with CLUSTER SLOTS", md.text())
    assert "s3cret-pw" not in md.text()
    assert md.stop() == 0
