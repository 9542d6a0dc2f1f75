"""make run: the demo as a new user starts it, on a machine where mentiond
was never installed.

The demo (scripts/run-demo, what `make run` runs after building) is started
exactly as make runs it.  Where the test may (root, unshare), it runs in a
private mount namespace whose /var/lib and /etc/mentiond are empty, so a
path the demo's daemon takes from the packaged defaults fails here as it
would on a fresh machine, even on a machine where mentiond is installed."""
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import TOP, wait_for

DEMO = os.path.join(TOP, "scripts", "run-demo")
ALERT_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)?(critical|high|normal|low)\b")
pytestmark = pytest.mark.skipif(os.environ.get("MENTIOND_SANITIZED") == "1",
                                reason="the demo runs build/mentiond; once, in the plain run, is enough")


def hidden_install():
    """The command prefix that hides an installed mentiond, or [] (said)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return []
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        return []
    mounts = "mount -t tmpfs tmpfs /var/lib"
    if os.path.isdir("/etc/mentiond"):
        mounts += " && mount -t tmpfs tmpfs /etc/mentiond"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts + ' && exec "$0"']


class Demo:
    def __init__(self):
        prefix = hidden_install()
        if not prefix:
            print("note: cannot hide /var/lib and /etc/mentiond here (not root or no unshare); "
                  "the demo runs against this machine's directories")
        self.out = b""
        self.started = time.monotonic()
        self.proc = subprocess.Popen(prefix + [DEMO], cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={k: v for k, v in os.environ.items() if k != "DEMO_RATE"})
        os.set_blocking(self.proc.stdout.fileno(), False)

    def read(self):
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.out += chunk
        return self.out.decode(errors="replace").splitlines()

    def alerts(self):
        return [l for l in self.read() if ALERT_LINE.match(l)]

    def text(self):
        return "\n".join(self.read())

    def children(self):
        """Processes whose parent is the demo: what it started."""
        kids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                kids.append((int(pid), cmd))
        return kids

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout)
        time.sleep(0.1)
        self.read()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def demo_processes():
    """Processes of a demo in this checkout, whoever their parent is now."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if gone(int(pid)):
            continue
        if os.path.join(TOP, "run") + "/" in cmd or (cwd == TOP and ("scripts/stream-emulator" in cmd or
                                                                     "scripts/watch-alerts" in cmd)):
            found.append((int(pid), cmd))
    return found


@pytest.fixture
def demo():
    d = Demo()
    yield d
    d.kill()


def test_demo_shows_alerts_and_stops_on_ctrl_c(demo):
    wait_for(lambda: demo.alerts() or demo.proc.poll() is not None, timeout=60, what="the demo's first alert")
    assert demo.proc.poll() is None, "the demo exited:\n" + demo.text()
    print("first alert %.1f s after the demo started" % (time.monotonic() - demo.started))
    kids = demo.children()
    names = " ".join(cmd for _, cmd in kids)
    for want in ("redis-server", "stream-emulator", "mentiond", "watch-alerts"):
        assert want in names, "%s is not a child of the demo: %s" % (want, names)
    # Every path the running daemon uses is under the checkout (its
    # configuration as it runs, from GET /config).
    port = re.search(r"metrics at http://127.0.0.1:(\d+)/", demo.text()).group(1)
    with urllib.request.urlopen("http://127.0.0.1:%s/config" % port, timeout=5) as r:
        running = r.read().decode()
    paths = re.findall(r"^\w+ = (/\S*)", running, re.M)
    assert paths, running
    outside = [p for p in paths if not p.startswith(TOP + "/")]
    assert not outside, "the demo's daemon uses paths outside the checkout: %s" % outside
    assert re.search(r"^spool_dir = %s/run/spool$" % re.escape(TOP), running, re.M), running

    demo.proc.send_signal(signal.SIGINT)
    assert demo.wait() == 0, demo.text()
    assert "demo: stopped" in demo.text()
    left = [(pid, cmd) for pid, cmd in kids if not gone(pid)]
    assert not left, "still running after the demo stopped: %s" % left


def test_demo_reports_a_dead_mentiond(demo):
    wait_for(lambda: demo.alerts() or demo.proc.poll() is not None, timeout=60, what="the demo's first alert")
    assert demo.proc.poll() is None, "the demo exited:\n" + demo.text()
    kids = demo.children()
    mentiond = [pid for pid, cmd in kids if "build/mentiond" in cmd]
    assert len(mentiond) == 1, kids
    os.kill(mentiond[0], signal.SIGKILL)
    rc = demo.wait()
    out = demo.text()
    assert rc != 0, out
    assert "demo: mentiond exited (killed by SIGKILL)" in out, out
    assert "demo: last lines of run/mentiond.log:" in out, out
    # the log's own lines, on the terminal
    assert re.search(r"^    \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mentiond\[notice\]: mentiond \S+ starting: "
                     r"instance demo", out, re.M), out
    left = [(pid, cmd) for pid, cmd in kids if not gone(pid)]
    assert not left, "still running after the demo gave up: %s" % left


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.4, 0.8])
def test_demo_ctrl_c_while_starting_leaves_nothing(delay):
    """Ctrl-C at any moment of the start (here: while it starts Redis, the
    emulator or mentiond) stops what was started: none is orphaned."""
    assert not demo_processes(), "a demo is already running here: %s" % demo_processes()
    d = Demo()
    try:
        time.sleep(delay)
        d.proc.send_signal(signal.SIGINT)
        assert d.wait() == 0, d.text()
    finally:
        d.kill()
    time.sleep(0.2)
    left = demo_processes()
    assert not left, "left running after Ctrl-C %.2f s into the start: %s\n%s" % (delay, left, d.text())
