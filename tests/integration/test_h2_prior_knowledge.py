#!/usr/bin/env python3
"""HTTP/2 with prior knowledge on a cleartext listener (issue 25, item 2):
a client that opens with the connection preface (PRI * HTTP/2.0 ...), as
h2load and nghttp do for http:// and nghttpx does towards its backends,
is served over HTTP/2 with the limits of any HTTP/2 connection.

* real clients: nghttp (index file, a large .crate, a publish with a
  body) and h2load (many streams on several connections, gzip as cargo
  asks: every request answered 2xx); cargo, which offers Upgrade: h2c
  instead, still resolves and downloads;
* raw sockets: the preface in pieces; held half-way (408 at the head
  deadline, however it trickles); garbage that starts like it, and the
  preface after an HTTP/1.1 request (505 with a reason, then closed);
  bytes after a good preface that are not frames (GOAWAY); the
  stream limits of an upgraded connection (SETTINGS, 4 bodies at once);
* http2 = false: the preface gets a SETTINGS frame and a GOAWAY with
  HTTP_1_1_REQUIRED and the reason, which nghttp shows; HTTP/1.1 on the
  same port is served as before.

The raw client asks for SETTINGS_HEADER_TABLE_SIZE 0, so crated's :status
is the first field of a header block with no dynamic-table references."""

import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from h2_wire import hpack_int, status_of  # noqa: E402
from harness import RawConn, build_request, crate_meta, make_crate, make_project  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
REFUSED_STREAM, HTTP_1_1_REQUIRED = 7, 0xd
NGHTTP = shutil.which("nghttp")
H2LOAD = shutil.which("h2load")
NEED = "nghttp2-client (nghttp, h2load) is not installed: ./dev.sh test installs it"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def headers_block(fields):
    """Literal fields without indexing, new names, no Huffman."""
    block = b""
    for k, v in fields:
        k, v = k.encode(), v.encode()
        block += b"\x00" + hpack_int(len(k), 7) + k + hpack_int(len(v), 7) + v
    return block


def request_frame(sid, method, path, extra=(), end=True):
    block = headers_block([(":method", method), (":scheme", "http"), (":path", path),
                           (":authority", "127.0.0.1")] + list(extra))
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block)


# Ours: HEADER_TABLE_SIZE 0, ENABLE_PUSH 0.
CLIENT_SETTINGS = frame(SETTINGS, 0, 0, struct.pack(">HIHI", 1, 0, 2, 0))


class Frames:
    """Reads HTTP/2 frames off a socket: (type, flags, stream, payload)."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for a frame from crated")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def next(self):
        """The next frame, or None once crated has closed."""
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            if self.eof:
                return None
            self._fill(deadline)
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        return f

    def all(self):
        """Every frame until crated closes."""
        out = []
        while True:
            f = self.next()
            if f is None:
                return out
            out.append(f)


def exchange(sock, reader, sids, timeout=10.0):
    """Reads frames until every stream of sids (an id, or several) has
    ended, answering SETTINGS and PING and giving back the window taken:
    {sid: (status, body)} (for one id, its (status, body)), and the frames
    seen as (type, flags, stream)."""
    want = [sids] if isinstance(sids, int) else list(sids)
    got = {sid: [None, b""] for sid in want}
    ended, seen = set(), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and ended != set(want):
        f = reader.next()
        if f is None:
            raise AssertionError("crated closed before streams %r ended: %r" % (want, seen))
        seen.append(f[:3])
        ftype, flags, fsid, payload = f
        if ftype == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK:
            sock.sendall(frame(PING, ACK, 0, payload))
        elif fsid in got and ftype == HEADERS:
            got[fsid][0] = status_of(payload)
        elif fsid in got and ftype == DATA:
            got[fsid][1] += payload
            if payload:
                sock.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))) +
                             frame(WINDOW_UPDATE, 0, fsid, struct.pack(">I", len(payload))))
        elif fsid in got and ftype == RST_STREAM:
            raise AssertionError("stream %d reset: %r" % (fsid, payload))
        if fsid in got and ftype in (HEADERS, DATA) and flags & END_STREAM:
            ended.add(fsid)
    if ended != set(want):
        raise AssertionError("streams %r did not end: %r" % (want, seen))
    if isinstance(sids, int):
        return tuple(got[sids]), seen
    return {sid: tuple(v) for sid, v in got.items()}, seen


def settings_of(payload):
    return dict(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))


def run(args, timeout=60):
    p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


class PriorKnowledgeTest(harness.SharedServer, unittest.TestCase):
    """One crated with http2 on (the default): a crate with a 300 KB file
    in it (more than one DATA frame and the client's first window), and an
    index file of 40 versions."""

    @classmethod
    def server_ready(cls):
        cls.base = "http://127.0.0.1:%d" % cls.srv.port
        blob = bytes((i * 7919 + i // 251) & 0xff for i in range(300_000))
        cls.crate = make_crate("pk", "1.0.0", {"data.bin": blob})
        r = cls.srv.publish(crate_meta("pk", "1.0.0"), cls.crate)
        assert r.status == 200, r
        for i in range(1, 40):
            r, _ = cls.srv.publish_simple("pk", "1.%d.0" % i)
            assert r.status == 200, r
        cls.index = cls.srv.get("/local/2/pk")
        assert cls.index.status == 200 and len(cls.index.body) > 4000, cls.index

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        return s, Frames(s)

    # real clients

    @unittest.skipUnless(NGHTTP, NEED)
    def test_nghttp_prior_knowledge(self):
        # nghttp speaks HTTP/2 from the first byte on http:// (no -u): the
        # index file and the .crate come back as over HTTP/1.1, byte for byte.
        rc, out, err = run([NGHTTP, self.base + "/local/2/pk"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, self.index.body)
        rc, out, err = run([NGHTTP, self.base + "/local/api/v1/crates/pk/1.0.0/download"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(self.crate).hexdigest())
        # Three streams on one connection, and no HTTP/1.1 on the way.
        rc, out, err = run([NGHTTP, "-nv", self.base + "/local/config.json",
                            self.base + "/local/2/pk", self.base + "/local/2/no"])
        text = out.decode(errors="replace")
        self.assertEqual(rc, 0, err + text[-2000:])
        self.assertNotIn("HTTP Upgrade", text)
        self.assertEqual(sorted(re.findall(r"recv \(stream_id=(\d+)\) :status: (\d+)", text)),
                         [("13", "200"), ("15", "200"), ("17", "404")], text[-3000:])
        self.assertEqual(text.count("Connected"), 1, text[-2000:])

    @unittest.skipUnless(NGHTTP, NEED)
    def test_nghttp_publish(self):
        # A body over a prior-knowledge connection goes through the same
        # admission as any: published, then in the index.
        body = os.path.join(self.tmp, "pkpub.body")
        with open(body, "wb") as f:
            f.write(harness.publish_body(crate_meta("pkpub", "0.1.0"), make_crate("pkpub", "0.1.0")))
        rc, out, err = run([NGHTTP, "-d", body, "-H", ":method: PUT", "-H", "authorization: x",
                            self.base + "/local/api/v1/crates/new"])
        self.assertEqual(rc, 0, err)
        self.assertIn(b"warnings", out)
        self.assertEqual([l["vers"] for l in self.srv.index_lines("pkpub")], ["0.1.0"])

    @unittest.skipUnless(H2LOAD, NEED)
    def test_h2load_all_answered(self):
        # h2load's default for http://: many streams on several connections;
        # every request answered 2xx, as cargo asks (gzip) and plain, and a
        # download larger than a stream's first window.
        for path, n, hdrs in (("/local/2/pk", 2000, ["-H", "accept-encoding: deflate, gzip"]),
                              ("/local/2/pk", 1000, []),
                              ("/local/api/v1/crates/pk/1.0.0/download", 200, [])):
            rc, out, err = run([H2LOAD, "-n", str(n), "-c", "4", "-m", "32"] + hdrs +
                               [self.base + path], timeout=120)
            text = out.decode(errors="replace")
            self.assertEqual(rc, 0, err + text)
            self.assertIn("requests: %d total, %d started, %d done, %d succeeded, 0 failed, "
                          "0 errored, 0 timeout" % (n, n, n, n), text)
            self.assertIn("status codes: %d 2xx, 0 3xx, 0 4xx, 0 5xx" % n, text)
            self.assertIn("Application protocol: h2c", text)

    def test_cargo_still_works(self):
        # cargo offers Upgrade: h2c (or speaks HTTP/1.1): unchanged.
        cargo = harness.CargoEnv(os.path.join(self.tmp, "cargo"), self.srv.port)
        proj = make_project(os.path.join(self.tmp, "cargo", "app"), "app",
                            deps='pk = { version = "1.0.0", registry = "local" }', publish=False)
        cargo.run_cargo(["generate-lockfile"], proj, server=self.srv)
        cargo.run_cargo(["fetch"], proj, server=self.srv)
        lock = harness.read_lock(os.path.join(proj, "Cargo.lock"))
        self.assertIn(("pk", "1.39.0"), [(p["name"], p["version"]) for p in lock])

    # raw sockets

    def test_preface_in_pieces(self):
        # A preface cut anywhere (here after 1, 17 and 22 bytes: "P", the
        # part that looks like an HTTP/1.x head, all but its last) is
        # waited for, then served as HTTP/2.
        for cuts in ((1,), (17, 18), (22,), (1, 2, 3, 14, 16, 18, 23)):
            s, rd = self.connect()
            last = 0
            for c in cuts + (len(PREFACE),):
                s.sendall(PREFACE[last:c])
                last = c
                time.sleep(0.05)
            s.sendall(CLIENT_SETTINGS + request_frame(1, "GET", "/local/2/pk"))
            (status, body), seen = exchange(s, rd, 1)
            self.assertEqual((status, body), (200, self.index.body), (cuts, seen))
            self.assertEqual(seen[0][0], SETTINGS, "the server's preface is a SETTINGS frame")

    def test_preface_and_request_in_one_write(self):
        # As h2load sends it: preface, SETTINGS, WINDOW_UPDATE, HEADERS.
        s, rd = self.connect()
        s.sendall(PREFACE + CLIENT_SETTINGS +
                  frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)) +
                  request_frame(1, "GET", "/local/config.json") +
                  request_frame(3, "HEAD", "/local/2/pk"))
        got, _ = exchange(s, rd, (1, 3))
        self.assertEqual(got[1][0], 200)
        self.assertIn(b'"dl"', got[1][1])
        self.assertEqual(got[3], (200, b""))

    def test_limits_of_any_h2_connection(self):
        # The server's SETTINGS are those of an upgraded or TLS connection:
        # 128 streams, a 1 MiB stream window; and at most 4 streams receive
        # a body at once (the 5th is refused, which clients retry).
        s, rd = self.connect()
        s.sendall(PREFACE + CLIENT_SETTINGS)
        f = rd.next()
        self.assertEqual(f[0], SETTINGS)
        got = settings_of(f[3])
        self.assertEqual((got.get(3), got.get(4)), (128, 1 << 20), got)
        s.sendall(frame(SETTINGS, ACK, 0) + b"".join(
            request_frame(sid, "PUT", "/local/api/v1/crates/new",
                          [("content-length", "100000"), ("authorization", "x")], end=False)
            for sid in (1, 3, 5, 7, 9)))
        deadline = time.monotonic() + 10
        rst = {}
        while 9 not in rst and time.monotonic() < deadline:
            f = rd.next()
            self.assertIsNotNone(f, "closed")
            if f[0] == RST_STREAM:
                rst[f[2]] = struct.unpack(">I", f[3])[0]
        self.assertEqual(rst, {9: REFUSED_STREAM})

    def test_garbage_after_a_good_preface(self):
        # Not a frame after the preface: HTTP/2's own answer, a GOAWAY
        # (PROTOCOL_ERROR), and the connection closes.
        s, rd = self.connect()
        s.sendall(PREFACE + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        frames = rd.all()
        goaways = [f for f in frames if f[0] == GOAWAY]
        self.assertTrue(goaways, frames)
        self.assertNotEqual(struct.unpack(">I", goaways[0][3][4:8])[0], 0, goaways)

    def test_lookalikes_are_refused(self):
        # Bytes that start as the preface and are not it are HTTP/1.1 heads:
        # 505 (an HTTP/2.0 request line) or 400, with a reason, then closed.
        for data, status in ((b"PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n", 505),
                             (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r!", 505),
                             (b"PRI * HTTP/1.1\r\n\r\n", 400),
                             (b"PRIX * HTTP/2.0\r\n\r\n", 505),
                             (b"PR\x00", 400)):
            with RawConn(self.srv.port) as c:
                c.send(data)
                r = c.read_response()
                self.assertEqual(r.status, status, (data, r))
                detail = harness.errors_detail(self, r, [status])
                if status == 505 and data.startswith(b"PRI "):
                    self.assertIn("first bytes of a connection", detail)
                self.assertTrue(c.closed_by_peer(), data)

    def test_preface_after_a_request(self):
        # Prior knowledge is for a connection's first bytes only
        # (RFC 9113 3.4): after an HTTP/1.1 request it is a 505.
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/config.json"))
            self.assertEqual(c.read_response().status, 200)
            c.send(PREFACE + CLIENT_SETTINGS)
            r = c.read_response()
            self.assertEqual(r.status, 505, r)
            self.assertIn("first bytes of a connection", harness.errors_detail(self, r, [505]))
            self.assertTrue(c.closed_by_peer())
        # An empty line first makes it a later byte too.
        with RawConn(self.srv.port) as c:
            c.send(b"\r\n" + PREFACE)
            self.assertEqual(c.read_response().status, 505)

    def test_held_preface_is_cut_at_the_head_deadline(self):
        # Part of a preface, then silence; or the preface a byte every
        # second (it would take 24 s): both end at the 20 s head deadline,
        # as a head does, while other clients are served. About 20 s.
        held = RawConn(self.srv.port, timeout=40)
        self.addCleanup(held.close)
        held.send(PREFACE[:18])
        trickle = RawConn(self.srv.port, timeout=40)
        self.addCleanup(trickle.close)
        start = time.monotonic()
        ended = {}

        def drip():
            for i in range(len(PREFACE)):
                try:
                    trickle.send(PREFACE[i:i + 1])
                except OSError:
                    break
                time.sleep(1.0)
            ended.setdefault("trickle", time.monotonic() - start)

        t = threading.Thread(target=drip, daemon=True)
        t.start()
        time.sleep(2)
        self.assertEqual(self.srv.get("/local/config.json").status, 200)
        r = held.read_response(timeout=40)
        held_after = time.monotonic() - start
        self.assertEqual(r.status, 408, r)
        self.assertGreaterEqual(held_after, 15, "cut before the 20 s head allowance")
        r = trickle.read_response(timeout=40)
        self.assertEqual(r.status, 408, r)
        self.assertTrue(trickle.closed_by_peer())
        t.join(30)


class PriorKnowledgeOffTest(harness.SharedServer, unittest.TestCase):
    """http2 = false."""

    @classmethod
    def server_options(cls):
        return {"config_extra": "http2 = false\n"}

    def test_preface_gets_http_1_1_required(self):
        # The client reads HTTP/2 only: SETTINGS (the server's preface),
        # then GOAWAY with HTTP_1_1_REQUIRED and the reason; then closed.
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(PREFACE + CLIENT_SETTINGS + request_frame(1, "GET", "/local/config.json"))
        frames = Frames(s).all()
        self.assertEqual([f[0] for f in frames], [SETTINGS, GOAWAY], frames)
        last, code = struct.unpack(">II", frames[1][3][:8])
        self.assertEqual((last, code), (0, HTTP_1_1_REQUIRED))
        self.assertIn(b"http2 = false", frames[1][3][8:])
        harness.wait_log(self.srv, "refusing an HTTP/2 connection")

    @unittest.skipUnless(NGHTTP, NEED)
    def test_nghttp_shows_why(self):
        rc, out, err = run([NGHTTP, "-v", "http://127.0.0.1:%d/local/config.json" % self.srv.port])
        text = out.decode(errors="replace") + err
        self.assertIn("Some requests were not processed", text)
        self.assertIn("HTTP_1_1_REQUIRED", text)
        self.assertIn("http2 = false", text)

    def test_split_preface_and_http_1_1(self):
        # A preface in pieces is refused the same way; HTTP/1.1 is served.
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(PREFACE[:5])
        time.sleep(0.1)
        s.sendall(PREFACE[5:])
        frames = Frames(s).all()
        self.assertEqual([f[0] for f in frames], [SETTINGS, GOAWAY], frames)
        r = self.srv.get("/local/config.json")
        self.assertEqual((r.status, r.version), (200, "HTTP/1.1"))
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/config.json"))
            self.assertEqual(c.read_response().status, 200)
            c.send(PREFACE)
            r = c.read_response()
            self.assertEqual(r.status, 505)
            self.assertIn("http2 = false", harness.errors_detail(self, r, [505]))


if __name__ == "__main__":
    harness.main()
