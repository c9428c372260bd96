#!/usr/bin/env python3
"""Raw HTTP behaviour of crated's hosted registry: config.json, index paths,
validators, compression, downloads, HEAD, keep-alive, pipelining, h2c
upgrade headers, Expect: 100-continue, leading //.

One server for the whole file; crates are published once in setUpClass
through raw PUT bodies built here."""

import calendar
import email.utils
import gzip
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (RawConn, build_request, check_not_modified, crate_meta,  # noqa: E402
                     index_path, make_crate)


class HttpTest(harness.SharedServer, unittest.TestCase):
    maxDiff = 4000
    config_extra = ""

    @classmethod
    def server_options(cls):
        return {"config_extra": cls.config_extra}

    @classmethod
    def server_ready(cls):
        cls.crates = {}
        # 1-, 2-, 3-, 4+-letter names, a mixed-case one, a '+' version.
        # Several versions of "abcd" so its index file is big enough that
        # compressing it is worthwhile.
        pubs = [("a", "0.1.0"), ("ab", "0.1.0"), ("abc", "0.1.0"),
                ("XyZ", "1.0.0"), ("Serde_Json", "1.0.0"),
                ("abcd", "1.0.0+meta.1")]
        pubs += [("abcd", "1.%d.0" % i) for i in range(1, 20)]
        for name, vers in pubs:
            crate = make_crate(name, vers)
            r = cls.srv.publish(crate_meta(name, vers), crate)
            if r.status != 200:
                raise AssertionError("setup publish %s %s failed: %r\nlog:\n%s"
                                     % (name, vers, r, cls.srv.log_tail()))
            cls.crates[(name, vers)] = crate

    def get(self, path, headers=None):
        return self.srv.get(path, headers)

    # --- config.json -----------------------------------------------------

    def test_config_json(self):
        r = self.get("/local/config.json")
        self.assertEqual(r.status, 200, r)
        cfg = r.json()
        base = "http://127.0.0.1:%d/local" % self.srv.port
        self.assertEqual(cfg.get("dl"), base + "/api/v1/crates", cfg)
        self.assertEqual(cfg.get("api"), base, cfg)
        self.assertFalse(cfg["api"].endswith("/"), "api must not end with /")
        # auth is off: auth-required false (or absent, which cargo reads as false)
        self.assertIs(cfg.get("auth-required", False), False, cfg)

    def test_config_json_never_304(self):
        # cargo fetches config.json unconditionally and treats a 304 as an
        # internal error (protocol doc §3): even a matching validator gets 200.
        r = self.get("/local/config.json")
        h = {"If-None-Match": r.header("etag") or "*"}
        if r.header("last-modified"):
            h["If-Modified-Since"] = r.header("last-modified")
        r2 = self.get("/local/config.json", h)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.body, r.body)

    # --- index paths -----------------------------------------------------

    def test_index_paths(self):
        expect = {"a": "1/a", "ab": "2/ab", "abc": "3/a/abc", "XyZ": "3/x/xyz",
                  "Serde_Json": "se/rd/serde_json", "abcd": "ab/cd/abcd"}
        for name, path in expect.items():
            with self.subTest(name=name):
                self.assertEqual(index_path(name), path)
                r = self.get("/local/" + path)
                self.assertEqual(r.status, 200, r)
                self.assertTrue((r.header("content-type") or "").startswith("text/plain"), r)
                lines = r.body.decode().split("\n")
                self.assertEqual(lines[-1], "", "index file must end with a newline: %r" % r.body[-80:])
                for line in lines[:-1]:
                    doc = json.loads(line)
                    # name keeps the case it was published with
                    self.assertEqual(doc["name"], name)
                    self.assertRegex(doc["cksum"], r"^[0-9a-f]{64}$")
                    self.assertIsInstance(doc["deps"], list)
                    self.assertLessEqual(doc.get("v", 1), 2)
                    self.assertIn(doc.get("yanked", False), (False,))
                    if "pubtime" in doc:
                        self.assertRegex(doc["pubtime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
                    crate = self.crates[(name, doc["vers"])]
                    self.assertEqual(doc["cksum"], harness.sha256_hex(crate))

    def test_index_one_line_per_version(self):
        r = self.get("/local/ab/cd/abcd")
        vers = [json.loads(l)["vers"] for l in r.body.decode().splitlines() if l]
        want = [v for (n, v) in self.crates if n == "abcd"]
        self.assertEqual(sorted(vers), sorted(want))
        self.assertEqual(len(vers), len(set(vers)))

    def test_index_paths_are_lowercase_only(self):
        # cargo always asks for the lowercased path (§4); an upper-case path
        # is not an index file (the server matches lowercase index paths).
        for p in ("/local/3/X/xyz", "/local/3/x/XyZ", "/local/Se/rd/Serde_Json"):
            with self.subTest(path=p):
                self.assertEqual(self.get(p).status, 404)

    def test_unknown_crate_is_404(self):
        for p in ("/local/un/kn/unknown", "/local/1/z", "/local/2/zz", "/local/3/z/zzz",
                  "/local/ab/cd/abcd-nope", "/local/ab/cd/abc_d"):
            with self.subTest(path=p):
                r = self.get(p)
                self.assertEqual(r.status, 404, r)  # never 410/451
        r = self.get("/local/api/v1/crates/unknown/1.0.0/download")
        self.assertEqual(r.status, 404, r)
        r = self.get("/local/api/v1/crates/abcd/9.9.9/download")
        self.assertEqual(r.status, 404, r)

    # --- validators ------------------------------------------------------

    def test_etag_if_none_match(self):
        r = self.get("/local/ab/cd/abcd")
        self.assertEqual(r.status, 200)
        etag = r.header("etag")
        self.assertTrue(etag, "no ETag on index 200: %r" % r)
        r304 = self.get("/local/ab/cd/abcd", {"If-None-Match": etag})
        check_not_modified(self, r304, etag)
        for other in ('"nope"', 'W/"nope"', etag[:-1] + 'x"'):
            r2 = self.get("/local/ab/cd/abcd", {"If-None-Match": other})
            self.assertEqual(r2.status, 200, "If-None-Match %s: %r" % (other, r2))
            self.assertEqual(r2.body, r.body)
        # a list that contains the ETag matches too (RFC 9110 13.1.2)
        r3 = self.get("/local/ab/cd/abcd", {"If-None-Match": '"zzz", %s' % etag})
        self.assertEqual(r3.status, 304, r3)
        # 304 on a HEAD without a body as well; then a 304 must have no body on
        # the wire: check with a second request on the same connection
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/ab/cd/abcd", {"If-None-Match": etag}))
            a = c.read_response()
            self.assertEqual(a.status, 304)
            c.send(build_request("GET", "/local/config.json"))
            b = c.read_response()
            self.assertEqual(b.status, 200)
            json.loads(b.body)

    def test_header_past_the_sixteenth(self):
        """Headers past the 16 a request keeps without an allocation of
        their own are read too: If-None-Match as the 20th."""
        etag = self.get("/local/ab/cd/abcd").header("etag")
        h = dict(("X-Filler-%02d" % i, "v%d" % i) for i in range(19))
        h["If-None-Match"] = etag
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/ab/cd/abcd", h))
            a = c.read_response()
        self.assertEqual(a.status, 304, a)

    def test_etag_changes_after_publish(self):
        name = "etagchange"
        r, _ = self.srv.publish_simple(name, "0.1.0")
        self.assertEqual(r.status, 200, r)
        p = "/local/" + index_path(name)
        r1 = self.get(p)
        e1 = r1.header("etag")
        r, _ = self.srv.publish_simple(name, "0.2.0")
        self.assertEqual(r.status, 200, r)
        r2 = self.get(p, {"If-None-Match": e1})
        self.assertEqual(r2.status, 200, "stale ETag must not give 304 after a publish: %r" % r2)
        self.assertNotEqual(r2.header("etag"), e1)
        self.assertEqual(len(r2.body.decode().splitlines()), 2)

    def test_last_modified(self):
        r = self.get("/local/2/ab")
        lm = r.header("last-modified")
        self.assertTrue(lm, "no Last-Modified on index 200: %r" % r)
        self.assertIsNotNone(email.utils.parsedate_to_datetime(lm))
        r2 = self.get("/local/2/ab", {"If-Modified-Since": lm})
        self.assertEqual(r2.status, 304, r2)
        self.assertEqual(r2.body, b"")
        old = "Sat, 01 Jan 2000 00:00:00 GMT"
        r3 = self.get("/local/2/ab", {"If-Modified-Since": old})
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(r3.body, r.body)
        # If-None-Match takes precedence over If-Modified-Since (RFC 9110
        # 13.2.2): a non-matching ETag means 200 even if the date matches.
        r4 = self.get("/local/2/ab", {"If-Modified-Since": lm, "If-None-Match": '"nope"'})
        self.assertEqual(r4.status, 200, r4)

    # --- compression -----------------------------------------------------

    def test_gzip_index(self):
        p = "/local/ab/cd/abcd"
        ident = self.get(p)
        self.assertEqual(ident.status, 200)
        self.assertIsNone(ident.header("content-encoding"), ident)
        # identity responses of a negotiable resource carry Vary too, so a
        # cache in front does not hand them to gzip clients and vice versa
        self.assertIn("accept-encoding", (ident.header("vary") or "").lower(), ident)
        for ae in ("gzip", "deflate, gzip, br, zstd"):
            with self.subTest(accept_encoding=ae):
                gz = self.get(p, {"Accept-Encoding": ae})
                self.assertEqual(gz.status, 200)
                self.assertEqual((gz.header("content-encoding") or "").lower(), "gzip", gz)
                self.assertIn("accept-encoding", (gz.header("vary") or "").lower(), gz)
                self.assertEqual(gzip.decompress(gz.body), ident.body)
                self.assertTrue(gz.header("etag"))
                self.assertNotEqual(gz.header("etag"), ident.header("etag"),
                                    "gzip and identity variants need different ETags")
                r304 = self.get(p, {"Accept-Encoding": ae, "If-None-Match": gz.header("etag")})
                check_not_modified(self, r304, gz.header("etag"))
        no = self.get(p, {"Accept-Encoding": "gzip;q=0, identity"})
        self.assertIsNone(no.header("content-encoding"), "gzip;q=0 refuses gzip: %r" % no)
        self.assertEqual(no.body, ident.body)

    # --- downloads -------------------------------------------------------

    def test_download_identical(self):
        for (name, vers), crate in sorted(self.crates.items())[:8]:
            with self.subTest(name=name, vers=vers):
                for ae in (None, "gzip", "deflate, gzip, br, zstd"):
                    h = {"Accept-Encoding": ae} if ae else None
                    r = self.get("/local/api/v1/crates/%s/%s/download" % (name, vers), h)
                    self.assertEqual(r.status, 200, r)
                    self.assertIsNone(r.header("content-encoding"),
                                      ".crate must never carry Content-Encoding: %r" % r)
                    self.assertEqual(r.body, crate)

    def test_download_plus_version(self):
        crate = self.crates[("abcd", "1.0.0+meta.1")]
        r = self.get("/local/api/v1/crates/abcd/1.0.0+meta.1/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, crate)
        # '+' is literal: it is not a space
        r = self.get("/local/api/v1/crates/abcd/1.0.0%20meta.1/download")
        self.assertEqual(r.status, 404, r)
        f = os.path.join(self.srv.data_dir, "local", "crates", "abcd", "abcd-1.0.0+meta.1.crate")
        self.assertTrue(os.path.isfile(f), "expected %s" % f)

    def test_download_mixed_case(self):
        # the dl template gives the name with its published case
        crate = self.crates[("Serde_Json", "1.0.0")]
        r = self.get("/local/api/v1/crates/Serde_Json/1.0.0/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, crate)
        f = os.path.join(self.srv.data_dir, "local", "crates", "serde_json", "serde_json-1.0.0.crate")
        self.assertTrue(os.path.isfile(f), "expected %s" % f)

    # --- HEAD ------------------------------------------------------------

    def test_head(self):
        for p in ("/local/config.json", "/local/ab/cd/abcd",
                  "/local/api/v1/crates/abc/0.1.0/download"):
            with self.subTest(path=p):
                g = self.get(p)
                self.assertEqual(g.status, 200)
                with RawConn(self.srv.port) as c:
                    c.send(build_request("HEAD", p))
                    h = c.read_response("HEAD")
                    self.assertEqual(h.status, 200, h)
                    self.assertEqual(h.header("content-length"), str(len(g.body)), h)
                    if p != "/local/config.json":
                        self.assertEqual(h.header("etag"), g.header("etag"))
                    # no body on the wire: the next response parses cleanly
                    c.send(build_request("GET", "/local/config.json"))
                    n = c.read_response()
                    self.assertEqual(n.status, 200, n)
                    json.loads(n.body)
        with RawConn(self.srv.port) as c:
            c.send(build_request("HEAD", "/local/zz/zz/zzzz"))
            self.assertEqual(c.read_response("HEAD").status, 404)

    # --- connections -----------------------------------------------------

    def test_keep_alive(self):
        with RawConn(self.srv.port) as c:
            for p in ("/local/config.json", "/local/1/a", "/local/2/ab", "/local/un/kn/unknown",
                      "/local/api/v1/crates/a/0.1.0/download", "/local/3/a/abc"):
                c.send(build_request("GET", p))
                r = c.read_response()
                self.assertIn(r.status, (200, 404), r)
                self.assertNotEqual((r.header("connection") or "").lower(), "close", r)
            self.assertFalse(c.eof)

    def test_pipelined(self):
        paths = ["/local/1/a", "/local/2/ab", "/local/3/a/abc"]
        with RawConn(self.srv.port) as c:
            c.send(b"".join(build_request("GET", p) for p in paths))
            for p in paths:
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                name = json.loads(r.body.decode().splitlines()[0])["name"]
                self.assertEqual(index_path(name), p[len("/local/"):], "responses out of order")
            # still usable
            c.send(build_request("GET", "/local/config.json"))
            self.assertEqual(c.read_response().status, 200)

    def test_head_split_across_reads(self):
        # A head that arrives in two pieces, cut anywhere (inside the
        # request line, a header name, its value, the final CRLF CRLF), is
        # read whole; and so are empty lines before a request line (RFC
        # 9112 2.2). Each piece waits long enough to be a read of its own.
        req = (b"GET /local/1/a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"If-None-Match: \"nope\"\r\n\r\n")
        cuts = [3, 10, len(b"GET /local/1/a HTTP/1.1\r\nHo"), len(req) - 6, len(req) - 3,
                len(req) - 2, len(req) - 1]
        with RawConn(self.srv.port) as c:
            for cut in cuts:
                with self.subTest(cut=cut):
                    c.send(req[:cut])
                    time.sleep(0.05)    # under test: the request reaches crated in two reads
                    c.send(req[cut:])
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(json.loads(r.body.decode().splitlines()[0])["name"], "a")
            c.send(b"\r\n\r\n" + req)
            self.assertEqual(c.read_response().status, 200)
            self.assertFalse(c.eof)

    H2C = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"), ("Accept", "text/plain"),
           ("cargo-protocol", "version=1")]

    def test_h2c_upgrade_accepted(self):
        # http2 = true (the default): cargo's h2c offer is taken, 101, then
        # the server speaks HTTP/2 first (its SETTINGS frame).
        with RawConn(self.srv.port) as c:
            c.send(build_request("GET", "/local/1/a", self.H2C))
            r = c.read_response(skip_interim=False)
            self.assertEqual(r.status, 101, r)
            self.assertEqual((r.header("upgrade") or "").lower(), "h2c", r)
            c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            deadline = time.monotonic() + 5
            while len(c.buf) < 9 and c._fill(deadline):
                pass
            # A frame header: 3-byte length, type 4 (SETTINGS).
            self.assertGreaterEqual(len(c.buf), 9, c.buf)
            self.assertEqual(c.buf[3], 4, c.buf[:9])

    def test_h2c_upgrade_ignored_when_http2_off(self):
        # http2 = false: the offer is ignored, the answer is HTTP/1.1 and the
        # connection stays usable (a server that closes here halves cargo's
        # cold resolution speed).
        tmp = harness.make_tempdir()
        srv = harness.start_crated(tmp, config_extra="http2 = false\n")
        try:
            with RawConn(srv.port) as c:
                c.send(build_request("GET", "/local/1/a", self.H2C))
                r = c.read_response(skip_interim=False)
                self.assertEqual(r.version, "HTTP/1.1")
                self.assertEqual(r.status, 404, "h2c upgrade must be ignored (no 101/400): %r" % r)
                self.assertIsNone(r.header("upgrade"), r)
                c.send(build_request("GET", "/local/config.json"))
                r2 = c.read_response()
                self.assertEqual(r2.status, 200, r2)
        finally:
            srv.stop()

    def test_expect_100_continue(self):
        name, vers = "expectcont", "0.1.0"
        crate = make_crate(name, vers)
        body = harness.publish_body(crate_meta(name, vers), crate)
        with RawConn(self.srv.port) as c:
            c.send(build_request("PUT", "/local/api/v1/crates/new",
                                 [("Authorization", "anything"), ("Expect", "100-continue"),
                                  ("Content-Length", str(len(body)))], b""))
            interim = c.read_response("PUT", timeout=3, skip_interim=False)
            self.assertEqual(interim.status, 100, interim)
            self.assertTrue(c.buf == b"" or c.buf.startswith(b"HTTP/1.1"), c.buf[:100])
            c.send(body)
            final = c.read_response("PUT")
            self.assertEqual(final.status, 200, final)
        self.assertEqual([l["vers"] for l in self.srv.index_lines(name)], [vers])

    def test_publish_without_content_type(self):
        # cargo before 0.97 sends no Content-Type; http.client adds none
        r, crate = self.srv.publish_simple("noctype", "0.1.0")
        self.assertEqual(r.status, 200, r)
        if r.body.strip():
            doc = r.json()
            self.assertNotIn("errors", doc)
        r = self.srv.publish(crate_meta("withctype2", "0.1.0"), make_crate("withctype2", "0.1.0"),
                             {"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)

    def test_leading_double_slash(self):
        a = self.get("/local/config.json")
        b = self.get("//local/config.json")
        self.assertEqual(b.status, 200, b)
        self.assertEqual(b.body, a.body)
        c = self.get("//local/1/a")
        self.assertEqual(c.status, 200, c)
        self.assertEqual(c.body, self.get("/local/1/a").body)

    # --- web API shapes (what cargo parses, §9) --------------------------

    def test_yank_unyank_api(self):
        name = "yankme"
        r, _ = self.srv.publish_simple(name, "0.1.0")
        self.assertEqual(r.status, 200, r)
        p = "/local/" + index_path(name)
        e0 = self.get(p).header("etag")
        hdr = {"Authorization": "anything", "Accept": "application/json"}
        r = self.srv.request("DELETE", "/local/api/v1/crates/%s/0.1.0/yank" % name, headers=hdr)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"ok": True})
        lines = self.srv.index_lines(name)
        self.assertEqual(len(lines), 1)
        self.assertIs(lines[0]["yanked"], True)
        self.assertEqual(self.get(p, {"If-None-Match": e0}).status, 200, "ETag must change on yank")
        # yanked versions stay downloadable (lock files still use them)
        self.assertEqual(self.get("/local/api/v1/crates/%s/0.1.0/download" % name).status, 200)
        r = self.srv.request("PUT", "/local/api/v1/crates/%s/0.1.0/unyank" % name, body=b"",
                             headers=dict(hdr, **{"Content-Length": "0"}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"ok": True})
        self.assertIs(self.srv.index_lines(name)[0]["yanked"], False)
        r = self.srv.request("DELETE", "/local/api/v1/crates/%s/9.9.9/yank" % name, headers=hdr)
        self.assertEqual(r.status, 404, r)
        harness.errors_detail(self, r)
        r = self.srv.request("DELETE", "/local/api/v1/crates/nosuchcrate/0.1.0/yank", headers=hdr)
        self.assertEqual(r.status, 404, r)
        harness.errors_detail(self, r)

    def test_owners_api(self):
        hdr = {"Authorization": "anything", "Accept": "application/json",
               "Content-Type": "application/json"}
        base = "/local/api/v1/crates/ab/owners"
        r = self.srv.request("PUT", base, json.dumps({"users": ["someone"]}).encode(), hdr)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertIs(doc.get("ok"), True, doc)
        self.assertIsInstance(doc.get("msg"), str, "owner add needs ok and msg: %r" % doc)
        r = self.srv.request("GET", base, headers=hdr)
        self.assertEqual(r.status, 200, r)
        users = r.json()["users"]
        self.assertIn("someone", [u["login"] for u in users])
        for u in users:
            self.assertIsInstance(u["id"], int)
            self.assertTrue(0 <= u["id"] < 2 ** 32)
        r = self.srv.request("DELETE", base, json.dumps({"users": ["someone"]}).encode(), hdr)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertIs(doc.get("ok"), True, doc)
        self.assertIsInstance(doc.get("msg"), str, "owner remove needs ok and msg: %r" % doc)
        r = self.srv.request("GET", base, headers=hdr)
        self.assertNotIn("someone", [u["login"] for u in r.json()["users"]])
        r = self.srv.request("GET", "/local/api/v1/crates/nosuchcrate/owners", headers=hdr)
        self.assertEqual(r.status, 404, r)
        harness.errors_detail(self, r)

    def test_owner_remove_with_expect(self):
        # curl sends DELETE-with-body as an upload, with Expect: 100-continue
        body = json.dumps({"users": ["nobody"]}).encode()
        with RawConn(self.srv.port) as c:
            c.send(build_request("DELETE", "/local/api/v1/crates/abc/owners",
                                 [("Authorization", "anything"), ("Expect", "100-continue"),
                                  ("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))], b""))
            interim = c.read_response("DELETE", timeout=3, skip_interim=False)
            self.assertEqual(interim.status, 100, interim)
            c.send(body)
            final = c.read_response("DELETE")
            # removing a login that is not an owner: either fine or a clear error
            self.assertIn(final.status, (200, 400, 404), final)
            if final.status == 200:
                self.assertIs(final.json().get("ok"), True)
            else:
                harness.errors_detail(self, final)

    def test_search_api(self):
        r = self.srv.get("/local/api/v1/crates?q=abc&per_page=10",
                         {"Accept": "application/json"})
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        names = [c["name"] for c in doc["crates"]]
        self.assertIn("abc", names)
        for c in doc["crates"]:
            self.assertIn("max_version", c)
            self.assertIn("description", c)
        self.assertIsInstance(doc["meta"]["total"], int)
        self.assertGreaterEqual(doc["meta"]["total"], len(doc["crates"]))
        r = self.srv.get("/local/api/v1/crates?q=abcd&per_page=10")
        abcd = [c for c in r.json()["crates"] if c["name"] == "abcd"]
        self.assertEqual(len(abcd), 1, r)
        self.assertEqual(abcd[0]["max_version"], "1.19.0")
        # the name is matched case-insensitively and the answer keeps the case
        r = self.srv.get("/local/api/v1/crates?q=serde_json&per_page=10")
        self.assertIn("Serde_Json", [c["name"] for c in r.json()["crates"]], r)
        # per_page caps the list, meta.total counts all matches
        r = self.srv.get("/local/api/v1/crates?q=a&per_page=1")
        doc = r.json()
        self.assertEqual(len(doc["crates"]), 1, r)
        self.assertGreaterEqual(doc["meta"]["total"], 2, r)
        r = self.srv.get("/local/api/v1/crates?q=%20nothing%20matches&per_page=10")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["crates"], [])

    def test_duplicate_publish_refused(self):
        crate = self.crates[("ab", "0.1.0")]
        before = harness.snapshot(self.srv.data_dir)
        for vers in ("0.1.0", "0.1.0+other"):
            with self.subTest(vers=vers):
                # the .crate must match its version (issue 22): one made
                # for vers, so that the duplicate is what is refused
                r = self.srv.publish(crate_meta("ab", vers), crate if vers == "0.1.0"
                                     else make_crate("ab", vers))
                self.assertTrue(400 <= r.status < 500, r)
                d = harness.errors_detail(self, r).lower()
                # exact duplicate: "already exists"; differing only in build
                # metadata: any clear message naming the existing version
                self.assertIn("already exists" if vers == "0.1.0" else "0.1.0", d)
                self.assertIn("already", d)
        self.assertEqual(snapshot_files(before), snapshot_files(harness.snapshot(self.srv.data_dir)))

    def test_cargo_publish_bodies(self):
        # exact bodies cargo 1.95 sent (tests/data/publish/*.body) give the
        # index lines of *.line (same JSON; pubtime is the time of publish)
        d = os.path.join(harness.TEST_DATA, "publish")
        names = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".body"))
        self.assertTrue(names, "no fixtures in %s" % d)
        for n in names:
            with self.subTest(fixture=n):
                with open(os.path.join(d, n + ".body"), "rb") as f:
                    body = f.read()
                with open(os.path.join(d, n + ".line")) as f:
                    want = json.loads(f.read())
                t0 = time.time()
                r = self.srv.request("PUT", "/local/api/v1/crates/new", body,
                                     {"Authorization": "anything", "Accept": "application/json",
                                      "Content-Type": "application/octet-stream"})
                self.assertEqual(r.status, 200, r)
                lines = [l for l in self.srv.index_lines(want["name"]) if l["vers"] == want["vers"]]
                self.assertEqual(len(lines), 1)
                got = lines[0]
                pt = got.pop("pubtime", None)
                want.pop("pubtime", None)
                self.assertEqual(got, want)
                self.assertRegex(pt or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
                ts = calendar.timegm(time.strptime(pt, "%Y-%m-%dT%H:%M:%SZ"))
                self.assertLess(abs(ts - t0), 120, "pubtime %s is not the time of publish" % pt)
                dl = self.srv.get("/local/api/v1/crates/%s/%s/download" % (want["name"], want["vers"]))
                self.assertEqual(dl.status, 200, dl)
                self.assertEqual(harness.sha256_hex(dl.body), want["cksum"])


def snapshot_files(s):
    return {k: v for k, v in s.items() if v[0] == "file"}


class HttpFromDiskTest(HttpTest):
    """The same, with no memory cache: plain requests for index files are
    answered from disk with sendfile and the ETag remembered in an
    extended attribute; the answers must not differ."""
    config_extra = "memory_cache_bytes = 0\n"

    def test_disk_etag_matches_bytes(self):
        for name in ("a", "abcd", "Serde_Json"):
            r = self.srv.get("/local/" + index_path(name))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("etag"),
                             '"%s"' % harness.sha256_hex(r.body)[:32], r)
            r2 = self.srv.get("/local/" + index_path(name),
                              headers={"If-None-Match": r.header("etag")})
            self.assertEqual(r2.status, 304, r2)
            self.assertEqual(r2.body, b"")

    def test_files_kept_open(self):
        """Answered from disk, an index file stays open (open_file_cache);
        a publish closes it, and the next answer has the new version."""
        name = "keptopen"
        r, _ = self.srv.publish_simple(name, "0.1.0")
        self.assertEqual(r.status, 200, r)
        p = "/local/" + index_path(name)
        path = os.path.realpath(os.path.join(self.srv.data_dir, "local", "index",
                                             index_path(name)))
        first = self.get(p)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(self.get(p).body, first.body)
        self.assertIn(path, self.srv.open_files())
        m = self.srv.get("/-/metrics").body.decode()
        kept = re.search(r"^crated_open_index_files (\d+)$", m, re.M)
        self.assertIsNotNone(kept, m)
        self.assertGreaterEqual(int(kept.group(1)), 1, m)
        r, _ = self.srv.publish_simple(name, "0.2.0")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(path + " (deleted)", self.srv.open_files(),
                         "the replaced index file is still held open")
        after = self.get(p, {"If-None-Match": first.header("etag")})
        self.assertEqual(after.status, 200, after)
        self.assertEqual(len(after.body.decode().splitlines()), 2, after)
        self.assertIn(path, self.srv.open_files())


class HttpFromDiskUncachedTest(HttpTest):
    """From disk with nothing kept open (open_file_cache = 0): every
    request opens the file."""
    config_extra = "memory_cache_bytes = 0\nopen_file_cache = 0\n"


if __name__ == "__main__":
    harness.main()
