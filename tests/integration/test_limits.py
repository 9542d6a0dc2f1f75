"""Header sizes from hostile or broken servers: a raw TCP server on loopback
answers the daemon's requests with oversized HTTP header lines, a header
past libcurl's limit, and a WebSocket upgrade whose head never ends.  The
daemon must keep its caps (a 512-byte header line is only ignored, a head
over 16 KiB ends the connection), say why, reconnect, and stay up."""
import socket
import threading

from conftest import Mentiond, config, wait_for

POST = (b'{"id": "lim-1", "text": "Nordvik bank: I am calling my lawyer about the fees", '
        b'"author": {"id": "9", "handle": "pat", "followers": 100}}\n')


class RawServer:
    """Accepts connections; for each, reads the request head and sends
    reply(n) (n counts connections from 1), then holds it open."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.conns.append(c)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    break
                head += chunk
            try:
                c.sendall(self.reply(self.connections))
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


def chunked(body):
    return b"%x\r\n%s\r\n" % (len(body), body)


def ndjson_source(port, name="lim"):
    return ("[source \"%s\"]\ntype = ndjson\nurl = http://127.0.0.1:%d/stream\nstall_timeout = 30\n"
            % (name, port))


def test_long_header_lines_are_ignored_not_copied(workdir, redis_server, procs):
    """A 600-byte ETag and a 60 KB header line (over our 512-byte line cap,
    under libcurl's): both ignored, the stream read, the post alerted."""
    def reply(n):
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                b"ETag: \"" + b"e" * 600 + b"\"\r\nX-Padding: " + b"p" * 60000 + b"\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + chunked(POST))
    srv = RawServer(reply)
    try:
        m = Mentiond(workdir, config(redis_server.sock, ndjson_source(srv.port)))
        procs.append(m)
        wait_for(lambda: redis_server.count() == 1, 20, what="the post's alert")
        (queue, alerts), = redis_server.alerts().items()
        assert queue == "mentiond:q:press:critical"
        assert alerts[0]["post"]["text"].startswith("Nordvik bank: I am calling my lawyer")
        assert srv.connections == 1
        assert "e" * 600 not in m.text()          # never copied into a log line
        assert m.stop() == 0
    finally:
        srv.stop()


def test_header_past_libcurls_limit_is_refused_and_retried(workdir, redis_server, procs):
    """A single 300 KB header line: libcurl refuses the response; the daemon
    logs the failure, backs off, connects again, and the next answer (a
    normal one) is read."""
    def reply(n):
        if n == 1:
            return (b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 300000 + b"\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + chunked(POST))
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(POST)
    srv = RawServer(reply)
    try:
        m = Mentiond(workdir, config(redis_server.sock, ndjson_source(srv.port)))
        procs.append(m)
        wait_for(lambda: srv.connections >= 2, 30, what="a second connection")
        wait_for(lambda: redis_server.count() == 1, 20, what="the post, from the second answer")
        assert "source lim: disconnected: a response header over libcurl's 100 KiB limit" in m.text()
        assert m.metrics()                      # still serving
        assert m.stop() == 0
    finally:
        srv.stop()


def test_websocket_handshake_head_over_16k_ends_the_connection(workdir, redis_server, procs):
    """An upgrade answer whose head grows past 16 KiB without ending: the
    connection is closed with the reason logged, and the source retries."""
    def reply(n):
        return b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + b"w" * 20000
    srv = RawServer(reply)
    try:
        src = ("[source \"bsky\"]\ntype = jetstream\nurl = ws://127.0.0.1:%d/subscribe\nstall_timeout = 30\n"
               % srv.port)
        m = Mentiond(workdir, config(redis_server.sock, src))
        procs.append(m)
        m.wait_log(r"source bsky: .*handshake response head over 16 KiB", 20)
        wait_for(lambda: srv.connections >= 2, 30, what="a reconnection")
        assert m.stop() == 0
    finally:
        srv.stop()


def test_rate_limit_text_says_only_what_the_server_sent(workdir, redis_server, procs):
    """A plain feed's 429 with one rate-limit header (no limit, no reset):
    the log says what was sent, not '0 of ?, reset ?'."""
    def reply(n):
        if n == 1:
            return (b"HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-remaining: 0\r\nContent-Length: 2\r\n"
                    b"Connection: close\r\n\r\n{}")
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(POST)
    srv = RawServer(reply)
    try:
        m = Mentiond(workdir, config(redis_server.sock, ndjson_source(srv.port)))
        procs.append(m)
        m.wait_log(r"source lim: disconnected: HTTP 429", 20)
        log = m.text()
        assert "rate limit remaining 0" in log, log
        assert "?" not in "".join(l for l in log.splitlines() if "rate limit" in l), log
        assert m.stop() == 0
    finally:
        srv.stop()
