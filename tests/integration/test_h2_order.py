#!/usr/bin/env python3
"""HTTP/2 answers go out one after another, not interleaved.

cargo asks for dozens of index files at once over one HTTP/2 connection
and can read a file only once all of it has come. crated's SETTINGS say
SETTINGS_NO_RFC7540_PRIORITIES = 1 (RFC 9218), so nghttp2 schedules its
streams by urgency and, within one urgency, a stream that is not
incremental (the default) is sent to its end before the next one starts;
under RFC 7540's tree, which cargo's curl never shapes, every ready stream
got one 16 KB DATA frame in turn and every file was complete only near
the end of the batch.

Here two large index files, both already in crated's memory, are asked
for in one write over h2c (cargo's way in), with windows large enough for
both: the DATA frames of one stream must all come before the other's,
and the bytes must be the files'."""

import base64
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

WINDOW = 16 << 20
# SETTINGS_INITIAL_WINDOW_SIZE (0x4) = WINDOW, as cargo's curl raises it.
SETTINGS = struct.pack(">HI", 4, WINDOW)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS_T, GOAWAY, WINDOW_UPDATE, RST = 0, 1, 4, 7, 8, 3
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_literal(fields):
    """Header fields as HPACK literals without indexing, new names, no
    Huffman (every length here is under 127)."""
    out = b""
    for n, v in fields:
        n, v = n.encode(), v.encode()
        out += b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
    return out


def big_file(name, n):
    """n index lines of name, each bulked up with features (~1.3 KB)."""
    feats = {"f%03d" % i: [] for i in range(120)}
    return "".join(S.index_line(name, "0.%d.0" % i, "a" * 64, features=feats) + "\n"
                   for i in range(n)).encode()


class H2OrderTest(harness.TestCase):

    def read_frame(self, sock, buf, deadline):
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed after %d bytes" % len(buf))
            buf += chunk
        n = int.from_bytes(buf[:3], "big")
        f = (buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff,
             buf[9:9 + n])
        return f, buf[9 + n:]

    def test_streams_sent_one_after_another(self):
        si, tree, up_url, _ = S.standin_registry(self.tmp)
        self.addCleanup(si.stop)
        files = {}
        for name in ("orderone", "ordertwo"):
            files[name] = big_file(name, 60)        # ~80 KB: 5 DATA frames
            si.put_file("/reg/" + index_path(name), files[name])
        si.put_file("/reg/" + index_path("ordersmall"), big_file("ordersmall", 1))
        c = self.start_crated(registries=S.mirror_toml("m", up_url, index_ttl=3600))
        for name in files:      # both filled and in memory, ready at once
            r = c.get("/m/" + index_path(name))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, files[name])

        sock = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(harness.build_request("GET", "/m/" + index_path("ordersmall"), [
            ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
            ("HTTP2-Settings", base64.urlsafe_b64encode(SETTINGS).decode().rstrip("="))]))
        buf = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            self.assertTrue(chunk, "closed before the 101")
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        out = PREFACE + frame(SETTINGS_T, 0, 0, SETTINGS) + \
            frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", WINDOW))
        want = {}
        for sid, name in ((3, "orderone"), (5, "ordertwo")):
            want[sid] = files[name]
            out += frame(HEADERS, END_STREAM | END_HEADERS, sid, hpack_literal([
                (":method", "GET"), (":scheme", "http"),
                (":path", "/m/" + index_path(name)), (":authority", "127.0.0.1")]))
        sock.sendall(out)       # both requests in one write

        got = {3: b"", 5: b""}
        order = []
        ended = set()
        while ended != {1, 3, 5}:
            (ftype, flags, sid, payload), buf = self.read_frame(sock, buf, deadline)
            if ftype == SETTINGS_T and not flags & ACK:
                sock.sendall(frame(SETTINGS_T, ACK, 0))
            self.assertNotIn(ftype, (GOAWAY, RST), payload)
            if ftype == DATA and sid in got:
                got[sid] += payload
                if not order or order[-1] != sid:
                    order.append(sid)
            if ftype in (DATA, HEADERS) and flags & END_STREAM:
                ended.add(sid)
        self.assertEqual(got[3], want[3])
        self.assertEqual(got[5], want[5])
        self.assertEqual(len(order), 2,
                         "the two answers' DATA frames were interleaved: %r" % order)


if __name__ == "__main__":
    harness.main()
