"""Integration test harness: real redis-server, the real stream emulator on
loopback, the real mentiond binary.  Run with Debian's /usr/bin/python3."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import redis

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MENTIOND_BIN", os.path.join(TOP, "build", "mentiond"))
EMULATOR = os.path.join(TOP, "scripts", "stream-emulator")
DEMO_POSTS = os.path.join(TOP, "scripts", "demo", "posts.jsonl")
RULES = os.path.join(TOP, "conf", "rules.d", "*.rules")
LEXICONS = os.path.join(TOP, "conf", "lexicons")
CORPUS = os.path.abspath(os.path.join(TOP, "..", "shared", "corpus"))
LEVELS = ["critical", "high", "normal", "low"]


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class RedisServer:
    def __init__(self, workdir):
        self.dir = workdir
        self.sock = os.path.join(workdir, "redis.sock")
        self.proc = None
        self.args = []                  # extra redis-server arguments
        self.password = None            # for the test's own client

    def start(self):
        # appendfsync always: what Redis acknowledged survives a restart,
        # so a test can tell loss in mentiond from loss in Redis.
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir,
             "--logfile", os.path.join(self.dir, "redis.log")] + self.args)
        wait_for(lambda: os.path.exists(self.sock) and self._ping(), what="redis-server")

    def _ping(self):
        try:
            return self.client().ping()
        except redis.exceptions.ConnectionError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def client(self):
        return redis.Redis(unix_socket_path=self.sock, password=self.password)

    def alerts(self, prefix="mentiond"):
        """{key: [alert dicts]} of every queue list, without consuming."""
        r = self.client()
        out = {}
        for key in sorted(r.scan_iter(match=prefix + ":q:*")):
            out[key.decode()] = [json.loads(x) for x in r.lrange(key, 0, -1)]
        return out

    def count(self, prefix="mentiond"):
        return sum(len(v) for v in self.alerts(prefix).values())


class Emulator:
    def __init__(self, args):
        self.proc = subprocess.Popen([EMULATOR] + args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on ([\d.]+):(\d+)", line)
        assert m, "emulator did not start: %r" % line
        self.addr = "%s:%s" % (m.group(1), m.group(2))
        self.url = "http://%s/2/tweets/search/stream" % self.addr

    def stats(self):
        with urllib.request.urlopen("http://%s/stats" % self.addr, timeout=5) as r:
            return json.loads(r.read())

    def control(self, **kw):
        req = urllib.request.Request("http://%s/control" % self.addr, data=json.dumps(kw).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Mentiond:
    def __init__(self, workdir, conf_text):
        self.dir = workdir
        self.conf = os.path.join(workdir, "mentiond.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.logpath = os.path.join(workdir, "mentiond.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([BIN, "-f", "-c", self.conf], stderr=self.log,
                                     stdout=subprocess.DEVNULL)

    def text(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.text()), timeout, what="log line /%s/" % pattern)

    def metrics_url(self, path="/metrics"):
        m = self.wait_log(r"metrics: listening on .* \(port (\d+)\)")
        return "http://127.0.0.1:%s%s" % (m.group(1), path)

    def metrics(self):
        """The /metrics text."""
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as r:
            return r.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20):
        """Wait for an exit already asked for (a second SIGTERM means "now")."""
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="mentiond-it-") as d:
        yield d


@pytest.fixture
def redis_server(workdir):
    r = RedisServer(workdir)
    r.start()
    yield r
    r.stop()


class RedisClusterNodes:
    """A real Redis Cluster on loopback: six redis-server processes with
    cluster-enabled (three primaries, three replicas), joined with
    redis-cli --cluster create, each on its own port and directory."""

    NODE_TIMEOUT_MS = 2000              # a dead primary's replica takes over after about this

    def __init__(self, workdir, n=6):
        self.dir = os.path.join(workdir, "cluster")
        self.ports = [self._node_port() for _ in range(n)]
        self.procs = {}

    @staticmethod
    def _node_port():
        """A free port whose cluster bus port (port + 10000) is free too."""
        while True:
            p = free_port()
            if p + 10000 > 65535:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p + 10000))
                    return p
                except OSError:
                    pass

    def start_node(self, port):
        d = os.path.join(self.dir, str(port))
        os.makedirs(d, exist_ok=True)
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.NODE_TIMEOUT_MS),
             "--repl-diskless-sync-delay", "0",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", d,
             "--logfile", os.path.join(d, "redis.log")])
        wait_for(lambda: self._ping(port), what="cluster node %d" % port)

    def _ping(self, port):
        try:
            return redis.Redis(port=port).ping()
        except redis.exceptions.ConnectionError:
            return False

    def start(self):
        for p in self.ports:
            self.start_node(p)
        subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in self.ports] +
                       ["--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        self.wait_ok()

    def wait_ok(self, timeout=30):
        """Every live node says the cluster is ok and sees every slot served
        by a live primary, and every replica is in sync with its primary."""
        def ok():
            for p in self.live():
                try:
                    info = redis.Redis(port=p).execute_command("CLUSTER", "INFO").decode()
                except redis.exceptions.ConnectionError:
                    return False
                if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                    return False
                slots = redis.Redis(port=p).execute_command("CLUSTER", "SLOTS")
                if any(int(primary[1]) not in self.live() for _, _, primary, *_ in slots):
                    return False            # a dead primary still in this node's view
                repl = redis.Redis(port=p).info("replication")
                if repl["role"] == "slave" and repl.get("master_link_status") != "up":
                    return False            # a replica not synced yet could not take over
            return True
        wait_for(ok, timeout, interval=0.2, what="the cluster's state ok")

    def live(self):
        return [p for p, pr in self.procs.items() if pr.poll() is None]

    def primaries(self):
        """{port: [(start, end), ...]} as the live nodes see it."""
        for p in self.live():
            try:
                slots = redis.Redis(port=p).execute_command("CLUSTER", "SLOTS")
            except redis.exceptions.ConnectionError:
                continue
            out = {}
            for start, end, primary, *_ in slots:
                out.setdefault(int(primary[1]), []).append((int(start), int(end)))
            return out
        return {}

    def primary_of(self, key):
        slot = redis.Redis(port=self.live()[0]).execute_command("CLUSTER", "KEYSLOT", key)
        for port, ranges in self.primaries().items():
            if any(a <= slot <= b for a, b in ranges):
                return port
        return None

    def node(self, port):
        return redis.Redis(port=port)

    def keys(self, pattern):
        """Every key matching pattern, on the primaries."""
        out = set()
        for p in self.primaries():
            out |= {k.decode() for k in self.node(p).scan_iter(match=pattern, count=1000)}
        return out

    def lrange(self, key):
        return self.node(self.primary_of(key)).lrange(key, 0, -1)

    def kill(self, port):
        self.procs[port].kill()
        self.procs[port].wait(10)

    def stop(self):
        for pr in self.procs.values():
            if pr.poll() is None:
                pr.terminate()
        for pr in self.procs.values():
            try:
                pr.wait(10)
            except subprocess.TimeoutExpired:
                pr.kill()


@pytest.fixture
def redis_cluster(workdir):
    c = RedisClusterNodes(workdir)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def procs():
    """Processes a test starts; all stopped at the end whatever happens."""
    started = []
    yield started
    for p in started:
        try:
            p.stop()
        except Exception:
            pass


def config(redis_sock, sources, rules=RULES, extra_daemon="", extra_redis="", spool=True, shutdown_timeout=10):
    """A configuration for the test's Redis; the spool (when on) is in the
    test's directory, beside the Redis socket."""
    spool_dir = os.path.join(os.path.dirname(redis_sock), "spool") if spool else ""
    return ("[daemon]\nname = it\nrules = %s\nlexicons = %s\nlog_level = debug\nstatus_interval = 1\n"
            "metrics_listen = 127.0.0.1:0\nspool_dir = %s\n"
            "shutdown_timeout = %d\n%s\n[redis]\nurl = unix://%s\n%s\n%s"
            % (rules, LEXICONS, spool_dir, shutdown_timeout, extra_daemon, redis_sock, extra_redis, sources))


def x_source(url, token_file, name="x-it", extra="", stall=5):
    return ("[source \"%s\"]\ntype = x_v2\nurl = %s\ntoken_file = %s\nstall_timeout = %d\n%s\n"
            % (name, url, token_file, stall, extra))


def token_file(workdir, token="it-token"):
    path = os.path.join(workdir, "x.token")
    with open(path, "w") as f:
        f.write(token + "\n")
    return path


def demo_alert_count():
    """How many alerts the demo posts give (the offline replay decides)."""
    return len(replay(DEMO_POSTS))


def replay(path, rules=RULES, fmt="x_v2", framing=None):
    """Alerts the offline replay gives for a file: the reference for live runs."""
    out = subprocess.run([BIN, "--replay", path, "--format", fmt, "--rules", rules] +
                         (["--framing", framing] if framing else []), capture_output=True, text=True, check=True)
    return [json.loads(l) for l in out.stdout.splitlines()]


JETSTREAM_EMULATOR = os.path.join(TOP, "scripts", "jetstream-emulator")
JETSTREAM_EVENTS = os.path.join(TOP, "tests", "fixtures", "jetstream", "events.jsonl")


class ControlledServer:
    """One of our emulators: started with its arguments, "listening on
    HOST:PORT" on its first line, GET /stats and /control?k=v."""
    tls = False

    def __init__(self, cmd, args, what):
        self.proc = subprocess.Popen([cmd] + list(args), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on ([\d.]+):(\d+)", line)
        assert m, "%s did not start: %r" % (what, line)
        self.addr = "%s:%s" % (m.group(1), m.group(2))

    def _get(self, path):
        import ssl
        ctx = ssl._create_unverified_context() if self.tls else None
        with urllib.request.urlopen("%s://%s%s" % ("https" if self.tls else "http", self.addr, path),
                                    timeout=5, context=ctx) as r:
            return json.loads(r.read())

    def stats(self):
        return self._get("/stats")

    def control(self, **kw):
        return self._get("/control?" + "&".join("%s=%s" % kv for kv in kw.items()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class JetstreamEmulator(ControlledServer):
    """scripts/jetstream-emulator: python3-websockets serving /subscribe (and v2)."""

    def __init__(self, args):
        self.tls = "--tls-cert" in args
        super().__init__(JETSTREAM_EMULATOR, args, "jetstream emulator")
        self.url = "%s://%s/subscribe" % ("wss" if self.tls else "ws", self.addr)


MASTODON_EMULATOR = os.path.join(TOP, "scripts", "mastodon-emulator")


class MastodonInstance(ControlledServer):
    """scripts/mastodon-emulator: one instance on a port of its own."""

    def __init__(self, statuses, token, args=()):
        super().__init__(MASTODON_EMULATOR, ["--statuses", statuses, "--token", token] + list(args),
                         "mastodon emulator")
        self.host = self.addr
        self.url = "http://" + self.host


def jetstream_source(url, name="bsky", extra="", stall=10):
    return ("[source \"%s\"]\ntype = jetstream\nurl = %s\nstall_timeout = %d\n%s\n"
            % (name, url, stall, extra))


def value(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
            return float(m.group(3))
    raise AssertionError("no sample %s{%s}" % (name, want))


def total(text, name, **labels):
    """The sum of name's samples that carry these labels (and maybe others)."""
    n = 0.0
    for m in re.finditer(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", text, re.M):
        have = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        if m.group(1) == name and all(have.get(k) == v for k, v in labels.items()):
            n += float(m.group(3))
    return n


def free_port():
    """A loopback port nothing listens on (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
