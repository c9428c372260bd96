#!/usr/bin/env python3
"""Bad input: every case gets a clear 4xx (with a cargo-format errors body on
API routes), the server stays healthy, and nothing in the data dir changes.

One server for the file, with max_body_bytes = 65536. A sentinel file
outside the data dir (and a real crate inside it) are the targets of the
path traversal attempts."""

import json
import os
import select
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import RawConn, build_request, crate_meta, dep, make_crate, publish_body  # noqa: E402

MAX_BODY = 65536
SENTINEL = b"SENTINEL-outside-the-data-dir-7f3a\n"


class BadInputTest(harness.SharedServer, unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def server_options(cls):
        with open(os.path.join(cls.tmp, "secret.txt"), "wb") as f:
            f.write(SENTINEL)
        return {"config_extra": "max_body_bytes = %d\n" % MAX_BODY}

    @classmethod
    def server_ready(cls):
        for name in ("alpha", "al-pha"):
            r, _ = cls.srv.publish_simple(name, "1.0.0")
            if r.status != 200:
                raise AssertionError("setup publish %s: %r\n%s" % (name, r, cls.srv.log_tail()))

    def setUp(self):
        self.before = harness.snapshot(self.srv.data_dir)

    def tearDown(self):
        # every test here: nothing on disk changed, server still answers;
        # once crated has seen every connection closed (aborted uploads
        # cleaned up) and the data dir is settled
        harness.wait_connections(self.srv, 0)
        after = harness.settled_snapshot(self.srv.data_dir)
        diff = harness.snapshot_diff(self.before, after)
        self.assertTrue(self.srv.running(), "crated died; log:\n" + self.srv.log_tail())
        self.assertTrue(self.srv.healthy(), "crated no longer serves config.json")
        if diff:
            self.fail("data dir changed:\n  " + "\n  ".join(diff[:30]))

    def wait_taken_in(self, c):
        """Waits until crated has taken in the part of a request sent on c:
        it holds the connection waiting for the rest, or it has answered."""
        harness.wait_until(lambda: select.select([c.sock], [], [], 0)[0]
                           or harness.metrics(self.srv).get("crated_open_connections") == 2, 5)

    def put_raw(self, body, headers=None):
        return self.srv.request("PUT", "/local/api/v1/crates/new", body,
                                dict({"Authorization": "anything"}, **(headers or {})))

    # --- publish metadata ------------------------------------------------

    def test_invalid_names_in_publish(self):
        names = ["", "a" * 65, "\u00e9t\u00e9", "caf\u00e9", "1abc", "..", ".", "a/b", "a\\b",
                 "a\u0000b", "a b", "a.b", "-abc", "_abc", "a%2fb", "a\nb"]
        for name in names:
            with self.subTest(name=repr(name)):
                crate = make_crate("x", "1.0.0")
                # json.dumps escapes NUL as \u0000 and non-ASCII as \u00e9
                r = self.srv.publish(crate_meta(name, "1.0.0"), crate)
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)
        # the same names in raw UTF-8 (not \u escaped)
        for name in ("\u00e9t\u00e9", "\u0430lpha"):  # Cyrillic a
            with self.subTest(raw=repr(name)):
                j = json.dumps(crate_meta(name, "1.0.0"), ensure_ascii=False).encode()
                r = self.put_raw(publish_body(j, make_crate("x", "1.0.0")))
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)

    def test_name_64_bytes_is_the_limit(self):
        # positive control for the 65-byte case: 64 bytes is valid. This one
        # changes the data dir on purpose, so refresh the "before" snapshot.
        name = "n" + "x" * 63
        r, crate = self.srv.publish_simple(name, "1.0.0")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.srv.get("/local/" + harness.index_path(name)).status, 200)
        self.before = harness.snapshot(self.srv.data_dir)

    def test_invalid_deps(self):
        bad = [
            [dep("", "^1")],
            [dep("1bad", "^1")],
            [dep("../x", "^1")],
            [dep("ok", "")],
            [dep("ok", "^1", kind="weird")],
            [dep("ok", "^1", optional="yes")],
            [dep("ok", "^1", features="x")],
            [dep("ok", "^1", explicit_name_in_toml="../up")],
            ["not-an-object"],
        ]
        for deps in bad:
            with self.subTest(deps=deps):
                r = self.srv.publish(crate_meta("gooddeps", "1.0.0", deps=deps), make_crate("gooddeps", "1.0.0"))
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)
        r = self.srv.publish(crate_meta("gooddeps", "1.0.0", deps="nope"), make_crate("gooddeps", "1.0.0"))
        self.assertTrue(400 <= r.status < 500, r)
        harness.errors_detail(self, r)

    def test_bad_versions(self):
        for vers in ("", "1", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0.0", "1.0.0+",
                     "1.0.0-a..b", " 1.0.0", "1.0.0/../x", "1.0.0\u0000"):
            with self.subTest(vers=repr(vers)):
                r = self.srv.publish(crate_meta("goodname", vers), make_crate("goodname", "1.0.0"))
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)
        r = self.srv.publish(crate_meta("goodname", 100), make_crate("goodname", "1.0.0"))
        self.assertTrue(400 <= r.status < 500, r)

    def test_bad_json(self):
        crate = make_crate("jsonbad", "1.0.0")
        for j in (b"{not json", b"[]", b'"str"', b"null", b"{}", b'{"name":"jsonbad"}',
                  b'{"name":"jsonbad","vers":"1.0.0"}',  # no deps
                  b"\xff\xfe{}", json.dumps(crate_meta("jsonbad", "1.0.0")).encode() + b"garbage"):
            with self.subTest(json=j[:40]):
                r = self.put_raw(publish_body(j, crate))
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)

    def test_crate_not_gzip(self):
        for c in (b"hello, not gzip", b"", b"\x1f", b"PK\x03\x04zip"):
            with self.subTest(crate=c):
                r = self.srv.publish(crate_meta("notgzip", "1.0.0"), c)
                self.assertTrue(400 <= r.status < 500, r)
                harness.errors_detail(self, r)

    def test_lengths_do_not_add_up(self):
        meta = json.dumps(crate_meta("lengths", "1.0.0"), separators=(",", ":")).encode()
        crate = make_crate("lengths", "1.0.0")
        J, C = len(meta), len(crate)
        u32 = lambda n: struct.pack("<I", n)  # noqa: E731
        bodies = {
            "empty": b"",
            "2 bytes": b"\x01\x00",
            "J only": u32(J),
            "J too big": u32(J + 1000) + meta + u32(C) + crate,
            "J huge": u32(0xFFFFFFFF) + meta + u32(C) + crate,
            "J too small": u32(J - 5) + meta + u32(C) + crate,
            "no C": u32(J) + meta,
            "C truncated": u32(J) + meta + b"\x01\x00",
            "C too big": u32(J) + meta + u32(C + 1) + crate,
            "C too small": u32(J) + meta + u32(C - 1) + crate,
            "C huge": u32(J) + meta + u32(0xFFFFFFFF) + crate,
            "trailing bytes": u32(J) + meta + u32(C) + crate + b"extra",
            "crate truncated": u32(J) + meta + u32(C) + crate[: C // 2],
            "J zero": u32(0) + u32(C) + crate,
        }
        for what, body in bodies.items():
            with self.subTest(what=what):
                r = self.put_raw(body)
                self.assertEqual(r.status, 400, r)
                harness.errors_detail(self, r)

    def test_body_over_max(self):
        name = "toobig"
        crate = make_crate(name, "1.0.0", {"pad.bin": os.urandom(MAX_BODY + 4096)})
        body = publish_body(crate_meta(name, "1.0.0"), crate)
        self.assertGreater(len(body), MAX_BODY)
        # whole body sent: 413 (the server may answer early; it must still
        # get the 413 to the client, e.g. by draining or lingering close)
        try:
            with RawConn(self.srv.port) as c:
                req = build_request("PUT", "/local/api/v1/crates/new",
                                    [("Authorization", "anything")], body)
                try:
                    c.send(req)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                r = c.read_response("PUT")
        except ConnectionResetError as e:
            self.fail("connection reset before the 413 could be read: %s" % e)
        self.assertEqual(r.status, 413, r)
        harness.errors_detail(self, r)
        # with Expect: 100-continue the server refuses before the body is sent
        with RawConn(self.srv.port) as c:
            c.send(build_request("PUT", "/local/api/v1/crates/new",
                                 [("Authorization", "anything"), ("Expect", "100-continue"),
                                  ("Content-Length", str(len(body)))], b""))
            r = c.read_response("PUT", timeout=5, skip_interim=False)
            self.assertEqual(r.status, 413, "want 413 instead of 100 Continue: %r" % r)
        # a declared length far over the limit, no body: answered at once
        t0 = time.monotonic()
        with RawConn(self.srv.port) as c:
            c.send(build_request("PUT", "/local/api/v1/crates/new",
                                 [("Authorization", "anything"), ("Content-Length", "1000000000")], b""))
            r = c.read_response("PUT", timeout=5)
        self.assertEqual(r.status, 413, r)
        self.assertLess(time.monotonic() - t0, 5)

    def test_bad_content_length(self):
        for cl in ("-1", "abc", "1 2", "99999999999999999999999"):
            with self.subTest(cl=cl):
                with RawConn(self.srv.port) as c:
                    c.send(build_request("PUT", "/local/api/v1/crates/new",
                                         [("Content-Length", cl)], b""))
                    try:
                        r = c.read_response("PUT", timeout=5)
                    except (ConnectionError, OSError) as e:
                        self.fail("no response to Content-Length %r: %s" % (cl, e))
                    self.assertIn(r.status, (400, 413), r)

    def test_client_disconnects_mid_body(self):
        name = "partial"
        for declared in (60000, 100000):   # under and over max_body_bytes
            with self.subTest(content_length=declared):
                with RawConn(self.srv.port) as c:
                    c.send(build_request("PUT", "/local/api/v1/crates/new",
                                         [("Authorization", "anything"),
                                          ("Content-Length", str(declared))], b"")
                           + struct.pack("<I", 200) + b"{\"name\":")
                    self.wait_taken_in(c)
                harness.wait_connections(self.srv, 0)
                self.assertTrue(self.srv.healthy())
        # a well-formed body prefix for a real crate, cut off
        crate = make_crate(name, "1.0.0")
        body = publish_body(crate_meta(name, "1.0.0"), crate)
        with RawConn(self.srv.port) as c:
            c.send(build_request("PUT", "/local/api/v1/crates/new",
                                 [("Authorization", "anything"), ("Content-Length", str(len(body)))],
                                 b"") + body[:-10])
            self.wait_taken_in(c)
        harness.wait_connections(self.srv, 0)
        self.assertEqual(self.srv.index_lines(name), [])
        self.assertEqual(self.srv.get("/local/api/v1/crates/%s/1.0.0/download" % name).status, 404)

    def test_slow_client_does_not_block_others(self):
        with RawConn(self.srv.port) as slow:
            slow.send(b"GET /local/config.json HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            r = self.srv.get("/local/2/ab", None, timeout=5)
            self.assertEqual(r.status, 404)
            self.assertLess(time.monotonic() - t0, 3)

    # --- name collisions -------------------------------------------------

    def test_name_collisions(self):
        # existing: alpha, al-pha
        cases = [("Alpha", "alpha"), ("ALPHA", "alpha"), ("al_pha", "al-pha"),
                 ("AL_PHA", "al-pha"), ("Al-Pha", "al-pha")]
        for new, existing in cases:
            for vers in ("1.0.0", "2.0.0"):
                with self.subTest(new=new, vers=vers):
                    r = self.srv.publish(crate_meta(new, vers), make_crate(new, vers))
                    self.assertTrue(400 <= r.status < 500, r)
                    d = harness.errors_detail(self, r)
                    # a clear message names the crate that is already there
                    self.assertIn(existing, d, "message should name %r: %r" % (existing, d))
        self.assertEqual([l["name"] for l in self.srv.index_lines("alpha")], ["alpha"])
        self.assertEqual(self.srv.get("/local/al/_p/al_pha").status, 404)

    # --- paths -----------------------------------------------------------

    def assertNoLeak(self, r):
        self.assertNotIn(b"SENTINEL", r.body)
        self.assertNotIn(b"root:", r.body)
        self.assertNotEqual(r.body[:2], b"\x1f\x8b", "served a .crate through a bad path")

    def test_traversal_paths(self):
        paths = [
            "/local/3/./..x", "/local/%2e%2e/%2e%2e/secret.txt", "/local/%2e%2e/",
            "/local/../etc/passwd", "/local/../../secret.txt", "/local/../../../../../../etc/passwd",
            "/local/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/local/..%2f..%2fsecret.txt",
            "/local/al/ph/../../crates/alpha/alpha-1.0.0.crate",
            "/local/al/ph/..%2f..%2fcrates/alpha/alpha-1.0.0.crate",
            "/local/crates/alpha/alpha-1.0.0.crate", "/local/index/al/ph/alpha",
            "/local/owners/al/ph/alpha", "/local/tmp/", "/local/al/ph/alpha/",
            "/local/al/ph/alpha/..", "/local/al/ph/./alpha", "/local/al//ph/alpha",
            "/local/al/ph/alpha%00", "/local/al/ph/alph%61",
            "/local/api/v1/crates/..%2f..%2fetc/1.0.0/download",
            "/local/api/v1/crates/..%2F..%2F..%2Fsecret.txt/1.0.0/download",
            "/local/api/v1/crates/../../../../etc/passwd/1.0.0/download",
            "/local/api/v1/crates/alpha/..%2f..%2f..%2f..%2fsecret.txt/download",
            "/local/api/v1/crates/alpha/../../alpha/1.0.0/download",
            "/local/api/v1/crates/alpha/1.0.0%2f..%2f..%2f..%2fsecret.txt/download",
            "/local/api/v1/crates/%2e%2e/1.0.0/download",
            "/local/api/v1/crates/alpha/%2e%2e/download",
            "/local/api/v1/crates/alpha/1.0.0/download/..",
            "/%2e%2e/secret.txt", "/../secret.txt", "/..", "/local/..",
        ]
        for p in paths:
            with self.subTest(path=p):
                r = harness.raw_exchange(self.srv.port, build_request("GET", p))
                self.assertIn(r.status, (400, 404), r)
                self.assertNoLeak(r)

    def assertRefused(self, request, statuses):
        """Sends request on a connection of its own: the answer must be one
        of statuses (and leak nothing), or the connection closed."""
        with RawConn(self.srv.port) as c:
            c.send(request)
            try:
                r = c.read_response()
            except ConnectionError:
                return  # closing the connection on garbage is acceptable
            self.assertIn(r.status, statuses, r)
            self.assertNoLeak(r)

    def test_nul_and_control_in_path(self):
        for p in (b"/local/al/ph/alpha\x00", b"/local/1/\x01", b"/local/api/v1/crates/alpha\x00/1.0.0/download"):
            with self.subTest(path=p):
                self.assertRefused(b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404))

    def test_control_bytes_in_a_whole_head(self):
        # A head that came whole is checked byte by byte where it is
        # parsed: any control byte but HTAB in a header, NUL anywhere, a
        # bare CR or LF inside a line (or starting one, which must not
        # pass for the end of the head), is a 400; HTAB in a value and
        # obs-text (bytes >= 0x80) are not.
        bad = (b"X-A: a\x01b", b"X-A: a\x7fb", b"X-A: a\x00b", b"X-A: a\nb", b"X-A: a\rb",
               b"X\x01A: b", b"X-A\x00: b", b"\x00X-A: b", b"\rContent-Length: 5")
        for h in bad:
            with self.subTest(header=h):
                self.assertRefused(b"GET /local/config.json HTTP/1.1\r\nHost: x\r\n" + h
                                   + b"\r\n\r\n", (400,))
        for h in (b"X-A: a\tb", b"X-A: caf\xc3\xa9"):
            with self.subTest(header=h):
                with RawConn(self.srv.port) as c:
                    c.send(b"GET /local/config.json HTTP/1.1\r\nHost: x\r\n" + h + b"\r\n\r\n")
                    self.assertEqual(c.read_response().status, 200)
        self.assertTrue(self.srv.healthy())

    def test_unknown_paths(self):
        for p in ("/nope", "/nope/config.json", "/nope/al/ph/alpha", "/local/api/v1/nope",
                  "/local/api/v1/crates/alpha/1.0.0/frobnicate", "/local/api/v2/crates",
                  "/local/xx", "/local/al", "/local/al/ph", "/local/1/", "/local/config.json/x",
                  "/local/api/v1/crates/alpha/1.0.0", "/LOCAL/config.json",
                  "/local/api/v1/crates/alpha/owners/extra"):
            with self.subTest(path=p):
                r = self.srv.get(p)
                self.assertEqual(r.status, 404, r)

    def test_api_errors_are_cargo_format(self):
        h = {"Authorization": "anything", "Accept": "application/json"}
        cases = [
            ("DELETE", "/local/api/v1/crates/nosuch/1.0.0/yank", None, (404,)),
            ("PUT", "/local/api/v1/crates/nosuch/1.0.0/unyank", b"", (404,)),
            ("DELETE", "/local/api/v1/crates/alpha/9.9.9/yank", None, (404,)),
            ("DELETE", "/local/api/v1/crates/1bad/1.0.0/yank", None, (400, 404)),
            ("DELETE", "/local/api/v1/crates/alpha/not-semver/yank", None, (400, 404)),
            ("GET", "/local/api/v1/crates/nosuch/owners", None, (404,)),
            ("PUT", "/local/api/v1/crates/alpha/owners", b"{not json", (400,)),
            ("PUT", "/local/api/v1/crates/alpha/owners", b'{"users":"x"}', (400,)),
            ("PUT", "/local/api/v1/crates/alpha/owners", b'{"users":[1]}', (400,)),
            ("DELETE", "/local/api/v1/crates/alpha/owners", b"[]", (400,)),
        ]
        for method, path, body, statuses in cases:
            with self.subTest(method=method, path=path, body=body):
                hh = dict(h)
                if body is not None:
                    hh["Content-Length"] = str(len(body))
                r = self.srv.request(method, path, body, hh)
                harness.errors_detail(self, r, statuses)

    def test_wrong_method(self):
        # no route for the method: 404 or 405 (a 405 should say Allow)
        for method, path in (("POST", "/local/config.json"), ("DELETE", "/local/al/ph/alpha"),
                             ("PUT", "/local/al/ph/alpha"), ("GET", "/local/api/v1/crates/new"),
                             ("POST", "/local/api/v1/crates/new")):
            with self.subTest(method=method, path=path):
                r = self.srv.request(method, path, b"" if method != "GET" else None)
                self.assertIn(r.status, (404, 405), r)
        self.assertEqual(len(self.srv.index_lines("alpha")), 1)

    # --- limits on the request head --------------------------------------

    def test_long_request_line(self):
        p = "/local/" + "a" * 16384
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", p))
            r = c.read_response()
        self.assertIn(r.status, (414, 400), r)

    def test_many_headers(self):
        hs = [("X-Filler-%d" % i, "v") for i in range(200)]
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/config.json", hs))
            r = c.read_response()
        self.assertIn(r.status, (431, 400), r)

    def test_huge_header(self):
        with RawConn(self.srv.port) as c:
            try:
                c.send(build_request("GET", "/local/config.json", [("X-Big", "b" * 65536)]))
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                r = c.read_response()
            except ConnectionResetError as e:
                self.fail("connection reset before a 431/400 arrived: %s" % e)
        self.assertIn(r.status, (431, 400), r)

    def test_garbage_request(self):
        for data in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50,  # TLS hello
                     b"HELLO\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /local/config.json HTTP/1.1\r\nBad Header Line\r\n\r\n",
                     # not the HTTP/2 preface, which is served (prior
                     # knowledge: test_h2_prior_knowledge.py), but its
                     # HTTP/1.x-like head followed by something else
                     b"PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n"):
            with self.subTest(data=data[:20]):
                with RawConn(self.srv.port, timeout=5) as c:
                    c.send(data)
                    try:
                        r = c.read_response(timeout=2 if b"\r\n" not in data else 5)
                        self.assertTrue(400 <= r.status < 600, r)
                    except (ConnectionError, ValueError):
                        pass  # closing the connection is acceptable for garbage
                    except socket.timeout:
                        # no complete request line yet (the TLS hello has no
                        # CRLF): waiting for more bytes is acceptable, as long
                        # as other clients are served meanwhile
                        self.assertNotIn(b"\r\n", data, "no answer and no close for %r within 5 s" % data[:20])
                        self.assertTrue(self.srv.healthy())


if __name__ == "__main__":
    harness.main()
