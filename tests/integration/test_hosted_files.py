#!/usr/bin/env python3
"""A hosted index file larger than a small file (16 KB) that a client takes
plain over HTTP/1.1 is answered with sendfile from the file, kept open
beside its memory-cache entry, rather than copied from memory: the same
bytes, ETag and Last-Modified either way, 304 on that ETag, HEAD without a
body, and after a publish the new file. (The file is used only when its
ETag is the memory entry's; the moment between a publish's rename and its
done callback, where the two differ, is not reached by these tests.)

Files sent with sendfile that the socket does not take at once: a
.crate of 24 MiB goes out with its head (MSG_MORE) and as much of the file
as the socket takes straight from the handler, and the rest from the loop
as the client reads. A client that stops reading gets the rest, whole, when
it reads again, while others are served meanwhile; two pipelined downloads
on one connection arrive whole and in order. (libevent takes a sendfile
that would block for the end of the connection: every such file was cut
where the socket first filled, about 4 MB on loopback.) A file that ends
short of its size while being sent ends its connection, without spinning."""

import fcntl
import hashlib
import os
import socket
import struct
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import cpu_seconds  # noqa: E402
from harness import index_path  # noqa: E402

NAME = "bigplain"
VERSIONS = 110          # index lines of ~190 bytes: over 16 KB


class HostedLargePlainTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_crated()
        for i in range(VERSIONS):
            r, _ = self.srv.publish_simple(NAME, "0.%d.0" % i)
            self.assertEqual(r.status, 200, r)
        self.path = "/local/" + index_path(NAME)
        self.file = os.path.join(self.srv.data_dir, "local", "index",
                                 index_path(NAME))

    def on_disk(self):
        with open(self.file, "rb") as f:
            return f.read()

    def held_open(self):
        return [p for p in self.srv.open_files()
                if p.startswith(os.path.realpath(self.file))]

    def test_large_plain_answers(self):
        body = self.on_disk()
        self.assertGreater(len(body), 16 * 1024)
        self.assertEqual(self.held_open(), [], "held open before any request")

        answers = [self.srv.get(self.path) for _ in range(4)]
        for r in answers:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, body)
            self.assertEqual(r.header("content-length"), str(len(body)))
            self.assertEqual(r.header("content-encoding"), None)
        for h in ("etag", "last-modified", "cache-control", "vary"):
            self.assertEqual({r.header(h) for r in answers},
                             {answers[0].header(h)}, h)
        self.assertEqual(self.held_open(), [os.path.realpath(self.file)],
                         "the file is not what answered (not held open)")

        etag = answers[0].header("etag")
        nm = self.srv.get(self.path, {"If-None-Match": etag})
        self.assertNotModified(nm, etag)
        head = self.srv.request("HEAD", self.path)
        self.assertEqual(head.status, 200, head)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.header("content-length"), str(len(body)))
        self.assertEqual(head.header("etag"), etag)

        # One connection, many answers back to back: each whole, in order.
        conn = harness.http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                                  timeout=harness.HTTP_TIMEOUT)
        try:
            for _ in range(20):
                conn.request("GET", self.path)
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.read(), body)
        finally:
            conn.close()

        r, _ = self.srv.publish_simple(NAME, "1.0.0")
        self.assertEqual(r.status, 200, r)
        new = self.on_disk()
        self.assertNotEqual(new, body)
        for _ in range(3):
            after = self.srv.get(self.path, {"If-None-Match": etag})
            self.assertEqual(after.status, 200, after)
            self.assertEqual(after.body, new, "the old file after a publish")
            self.assertNotEqual(after.header("etag"), etag)
            self.assertEqual(after.body.splitlines()[-1],
                             new.splitlines()[-1])
            self.assertIn(b'"1.0.0"', after.body.splitlines()[-1])
        self.assertEqual(self.held_open(), [os.path.realpath(self.file)],
                         "the replaced file is still held open")

    def test_gzip_and_small_files_unchanged(self):
        """A gzip client gets the gzip form; a file of 16 KB or less is
        read into the reply, never held open for this."""
        import gzip
        body = self.on_disk()
        gz = self.srv.get(self.path, {"Accept-Encoding": "gzip"})
        self.assertEqual(gz.status, 200, gz)
        self.assertEqual(gz.header("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(gz.body), body)

        small = "smallplain"
        r, _ = self.srv.publish_simple(small, "0.1.0")
        self.assertEqual(r.status, 200, r)
        sp = os.path.join(self.srv.data_dir, "local", "index",
                          index_path(small))
        for _ in range(3):
            r = self.srv.get("/local/" + index_path(small))
            self.assertEqual(r.status, 200, r)
            with open(sp, "rb") as f:
                self.assertEqual(r.body, f.read())
        self.assertNotIn(os.path.realpath(sp), self.srv.open_files())


def read_response(sock, deadline):
    """One HTTP/1.1 response with Content-Length from sock: (head, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise AssertionError("no response head in time")
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before the head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    assert length is not None, head
    body = bytearray(rest)
    while len(body) < length:
        if time.monotonic() > deadline:
            raise AssertionError("body cut at %d of %d bytes" % (len(body), length))
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("closed at %d of %d bytes" % (len(body), length))
        body += chunk
    return head, bytes(body[:length]), bytes(body[length:])


def wait_stalled(sock):
    """Waits until crated has sent what the sockets take: the answer has
    begun to arrive on sock and no more comes between two looks."""
    last = [-1]

    def full():
        n = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        same, last[0] = n == last[0] and n > 0, n
        return same
    harness.wait_until(full, 10)


class LargeDownloadTest(harness.TestCase):
    SIZE = 24 << 20     # far more than a loopback socket buffer takes

    def setUp(self):
        super().setUp()
        data = os.path.join(self.tmp, "data")
        d = os.path.join(data, "local", "crates", "bigdl")
        os.makedirs(d)
        self.crates = {}
        lines = []
        for v in ("1.0.0", "2.0.0"):
            self.crates[v] = os.urandom(self.SIZE)
            with open(os.path.join(d, "bigdl-%s.crate" % v), "wb") as f:
                f.write(self.crates[v])
            lines.append('{"name":"bigdl","vers":"%s","deps":[],"cksum":"%s","features":{},'
                         '"yanked":false}\n' % (v, hashlib.sha256(self.crates[v]).hexdigest()))
        # with their index lines: a .crate without one is swept at start
        ip = os.path.join(data, "local", "index", index_path("bigdl"))
        os.makedirs(os.path.dirname(ip))
        with open(ip, "w") as f:
            f.write("".join(lines))
        self.file = os.path.join(d, "bigdl-1.0.0.crate")
        self.crate = self.crates["1.0.0"]
        self.srv = self.start_crated()
        self.path = self.url("1.0.0")
        self.digest = hashlib.sha256(self.crate).hexdigest()

    @staticmethod
    def url(vers):
        return "/local/api/v1/crates/bigdl/%s/download" % vers

    def connect(self, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(harness.HTTP_TIMEOUT)
        s.connect(("127.0.0.1", self.srv.port))
        self.addCleanup(s.close)
        return s

    def get_line(self, path=None):
        return ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                % (path or self.path)).encode()

    def test_stalled_reader_then_others(self):
        stalled = self.connect(rcvbuf=4096)
        stalled.sendall(self.get_line())
        wait_stalled(stalled)
        t0 = time.monotonic()
        for _ in range(3):
            r = self.srv.get(self.path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), self.digest)
        self.assertEqual(self.srv.get("/local/config.json").status, 200)
        self.assertLess(time.monotonic() - t0, harness.HTTP_TIMEOUT)
        head, body, extra = read_response(stalled, time.monotonic() + 30)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertEqual(len(body), self.SIZE)
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.digest,
                         "the rest of a stalled download is not the file's")
        self.assertEqual(extra, b"")

    def test_pipelined_downloads(self):
        s = self.connect()
        order = ["2.0.0", "1.0.0", "2.0.0"]
        s.sendall(b"".join(self.get_line(self.url(v)) for v in order) +
                  self.get_line("/local/config.json"))
        deadline = time.monotonic() + 30
        rest = b""
        for i, v in enumerate(order):
            head, body, rest = read_response(_Prefixed(s, rest), deadline)
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            self.assertEqual(hashlib.sha256(body).digest(),
                             hashlib.sha256(self.crates[v]).digest(),
                             "answer %d of %d on one connection is not %s"
                             % (i + 1, len(order), v))
        head, body, rest = read_response(_Prefixed(s, rest), deadline)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertIn(b'"dl"', body)

    def test_file_ending_short_ends_the_connection(self):
        """A file cut behind crated's back (nothing but crated may write
        its data directory) while a client is stalled: the connection
        ends short of Content-Length within seconds, without spinning,
        and others are still served."""
        stalled = self.connect(rcvbuf=4096)
        stalled.sendall(self.get_line())
        wait_stalled(stalled)
        os.truncate(self.file, 1 << 20)
        cpu0, t0 = cpu_seconds(self.srv.proc.pid), time.monotonic()
        got, closed = 0, False
        deadline = t0 + 30
        while time.monotonic() < deadline:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                closed = True
                break
            got += len(chunk)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(self.srv.proc.pid) - cpu0
        self.assertTrue(closed, "the connection did not end (%d bytes)" % got)
        self.assertLess(got, self.SIZE, "more bytes than the file has now")
        self.assertLess(cpu, wall / 2 + 0.5,
                        "%.2f s of CPU in %.2f s: spinning" % (cpu, wall))
        r = self.srv.get(self.url("2.0.0"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.crates["2.0.0"])


class _Prefixed:
    """A socket whose first reads return bytes already received."""

    def __init__(self, sock, pre):
        self.sock, self.pre = sock, pre

    def recv(self, n):
        if self.pre:
            out, self.pre = self.pre[:n], self.pre[n:]
            return out
        return self.sock.recv(n)


if __name__ == "__main__":
    harness.main()
