#!/usr/bin/env python3
"""TLS connections read with SSL_read from an event of their own and write
each reply with SSL_write in records of up to 16 KiB (server/http/http.c:
tls_own_io, flush_tls): a client that reads slowly gets every byte of
large replies (the socket fills, OpenSSL's pending record is retried by
the bufferevent) and the connection goes on; pipelined requests in one
record, a head cut into one-byte records and requests split across
records are all answered in order; a connection crated ends after a
reply ends with close_notify, so the client's session resumes; HTTP/2
over ALPN (curl, where there is one) still works."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, make_crate  # noqa: E402
from tls_common import TlsBase, client_ctx  # noqa: E402


def read_reply(s, buf):
    """(status, headers dict, body, rest of buf) of one HTTP/1.1 reply
    with a Content-Length read from the TLS socket s."""
    while b"\r\n\r\n" not in buf:
        got = s.recv(65536)
        if not got:
            raise AssertionError("connection closed inside a head: %r" % buf)
        buf += got
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(buf) < n:
        got = s.recv(65536)
        if not got:
            raise AssertionError("connection closed after %d of %d body bytes" % (len(buf), n))
        buf += got
    return status, hdrs, buf[:n], buf[n:]


def request(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" %
            (path, "Connection: close\r\n" if close else "")).encode()


class TlsIoTest(TlsBase):

    def connect(self, rcvbuf=None):
        raw = socket.socket()
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", self.tls_port))
        s = client_ctx(self.pki.ca).wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(s.close)
        return s

    def publish(self, srv, name, size):
        crate = make_crate(name, "1.0.0", extra_files={"data.bin": os.urandom(size)})
        pr = srv.publish(crate_meta(name, "1.0.0"), crate, timeout=60)
        self.assertEqual(pr.status, 200, pr)
        return "/local/api/v1/crates/%s/1.0.0/download" % name, crate

    def test_slow_reader_gets_large_replies_whole(self):
        srv = self.start_tls()
        # one read from the file into the reply (<= 256 KiB), one larger
        small_path, small = self.publish(srv, "tlsmid", 200 << 10)
        big_path, big = self.publish(srv, "tlsbig", 3 << 20)
        s = self.connect(rcvbuf=4096)
        for path, want in ((big_path, big), (small_path, small), (big_path, big),
                           ("/-/health", b"ok\n")):
            s.sendall(request(path))
            time.sleep(0.3)     # the server's socket fills meanwhile
            status, _, body, rest = read_reply(s, b"")
            self.assertEqual(status, 200)
            self.assertEqual(rest, b"")
            self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(want).hexdigest(),
                             path)

    def test_pipelined_and_split_requests(self):
        srv = self.start_tls()
        path, crate = self.publish(srv, "tlspipe", 40 << 10)
        s = self.connect()
        # three requests in one TLS record, answered in order
        s.sendall(request("/-/health") + request(path) + request("/-/health"))
        buf = b""
        for want in (b"ok\n", crate, b"ok\n"):
            status, _, body, buf = read_reply(s, buf)
            self.assertEqual((status, body == want), (200, True))
        self.assertEqual(buf, b"")
        # a head sent one byte per record
        for b in request(path):
            s.sendall(bytes([b]))
        status, _, body, buf = read_reply(s, b"")
        self.assertEqual((status, body == crate, buf), (200, True, b""))
        # a second request split across records, the first whole before it
        two = request("/-/health") + request(path, close=True)
        s.sendall(two[:50])
        s.sendall(two[50:70])
        s.sendall(two[70:])
        status, _, body, buf = read_reply(s, b"")
        self.assertEqual((status, body), (200, b"ok\n"))
        status, hdrs, body, buf = read_reply(s, buf)
        self.assertEqual((status, body == crate, hdrs.get("connection")), (200, True, "close"))
        self.assertEqual(s.recv(100), b"")       # closed after it

    def test_close_notify_and_resumption(self):
        """A reply that ends the connection ends it with close_notify (a
        ragged end raises here), and the session resumes."""
        self.start_tls()
        ctx = client_ctx(self.pki.ca)
        session = None
        for i in range(3):
            raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=15)
            s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session,
                                suppress_ragged_eofs=False)
            self.addCleanup(s.close)
            s.sendall(b"GET /-/health HTTP/1.0\r\n\r\n")
            got = b""
            while True:
                b = s.recv(4096)        # SSLEOFError without close_notify
                if not b:
                    break
                got += b
            self.assertTrue(got.startswith(b"HTTP/1.1 200") and got.endswith(b"ok\n"), got)
            self.assertEqual(s.session_reused, i > 0, i)
            session = s.session
            s.close()

    def test_http2_over_alpn(self):
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("no curl")
        if b"HTTP2" not in subprocess.run([curl, "--version"], capture_output=True).stdout:
            self.skipTest("curl without HTTP/2")
        srv = self.start_tls()
        path, crate = self.publish(srv, "tlsh2", 300 << 10)
        out = os.path.join(self.tmp, "got")
        p = subprocess.run([curl, "-sS", "--http2", "--cacert", self.pki.ca, "-o", out,
                            "-w", "%{http_version} %{http_code}",
                            "https://127.0.0.1:%d%s" % (self.tls_port, path)],
                           capture_output=True, timeout=60)
        self.assertEqual(p.stdout.decode(), "2 200", p.stderr)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(crate).hexdigest())


if __name__ == "__main__":
    harness.main()
