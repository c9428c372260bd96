#!/usr/bin/env python3
"""The web pages (issue 27) at the HTTP level: every page's status, CSP
and security headers; a hostile description and README shown as text or
dropped; sign-in and sign-out with CSRF; a read token of one registry
gets 403 on another's pages; GET changes nothing; a crate with 500
versions (its render time is printed, never asserted)."""

import http.client
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import create_token, crate_meta, index_path, make_crate  # noqa: E402
from harness import publish_body, sha256_hex  # noqa: E402
from tls_common import TlsBase, client_ctx, https_get  # noqa: E402
import standins as S  # noqa: E402

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; "
       "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")

HOSTILE_DESC = 'evil <script>alert(1)</script> "quoted" <img src=x onerror=alert(2)>'
HOSTILE_README = """# Hello <script>alert(3)</script>

<!-- a comment that must vanish -->

<img src="x" onerror="alert(4)">

[click me](javascript:alert(5)) and [data](data:text/html,<script>alert(6)</script>)
and [fine](https://example.com/ok) and ![pic](https://example.com/p.png)

<div onclick="alert(7)">raw block</div>

| a | b |
|---|---|
| 1 | 2 |
"""


class WebBase(harness.TestCase):

    def page(self, srv, path, headers=None, method="GET", body=None):
        r = srv.request(method, path, body=body, headers=headers)
        return r

    def check_headers(self, r):
        self.assertEqual(r.header("Content-Security-Policy"), CSP)
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.header("Referrer-Policy"), "same-origin")
        self.assertTrue(r.header("Content-Type").startswith("text/html"))

    def no_inline(self, text):
        """No inline script or style, no event handler attribute."""
        for m in re.finditer(r"<script\b([^>]*)>", text):
            self.assertIn("src=", m.group(1))
        self.assertNotRegex(text, r"<style\b")
        self.assertNotRegex(text, r"\sstyle=")
        self.assertNotRegex(text, r"<[^>]+\son[a-z]+\s*=")


class TestPages(WebBase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_crated()
        crate = make_crate("evil", "1.0.0", {"README.md": HOSTILE_README})
        meta = crate_meta("evil", "1.0.0", description=HOSTILE_DESC,
                          readme="README.md")
        r = self.srv.publish(meta, crate)
        self.assertEqual(r.status, 200, r.body)
        r = self.srv.publish(crate_meta("good", "0.1.0", deps=[
            harness.dep("evil", "^1")]), make_crate("good", "0.1.0"))
        self.assertEqual(r.status, 200, r.body)

    def test_every_page(self):
        for path, status in (("/", 200), ("/local/", 200),
                             ("/local/crates/evil", 200),
                             ("/local/crates/good", 200),
                             ("/local/crates/nope", 404),
                             ("/nope/", 404), ("/-/ops", 200),
                             ("/-/signin", 200), ("/local/me", 200)):
            r = self.page(self.srv, path)
            self.assertEqual(r.status, status, path)
            self.check_headers(r)
            self.no_inline(r.text())
        r = self.page(self.srv, "/local")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/local/")

    def test_home(self):
        t = self.page(self.srv, "/").text()
        self.assertIn('data-registry="local"', t)
        self.assertIn('<button type="button" class="copy" data-copy="#cargo-config-local"', t)
        self.assertIn("[registries.local]", t)
        self.assertIn('href="/local/me"', t)

    def test_static(self):
        t = self.page(self.srv, "/").text()
        css = re.search(r'href="(/-/static/style\.[0-9a-f]+\.css)"', t).group(1)
        js = re.search(r'src="(/-/static/app\.[0-9a-f]+\.js)"', t).group(1)
        r = self.srv.get(css)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/css"))
        self.assertIn("immutable", r.header("Cache-Control"))
        r = self.srv.get(js)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/javascript"))
        self.assertEqual(self.srv.get("/-/static/nope.css").status, 404)
        self.assertEqual(self.srv.get("/-/static/..%2fx").status, 404)

    def test_registry_search(self):
        t = self.page(self.srv, "/local/").text()
        self.assertIn('<li class="crate" data-name="evil">', t)
        self.assertIn('<li class="crate" data-name="good">', t)
        self.assertIn('<form role="search" method="get"', t)
        t = self.page(self.srv, "/local/?q=goo").text()
        self.assertNotIn('data-name="evil"', t)
        self.assertIn('data-name="good"', t)
        # by description
        t = self.page(self.srv, "/local/?q=quoted").text()
        self.assertIn('data-name="evil"', t)
        t = self.page(self.srv, "/local/?q=%3Cscript%3E&sort=recent&page=9").text()
        self.assertNotIn("<script>alert", t)
        self.assertIn("&lt;script&gt;", t)

    def test_hostile_escaped(self):
        for path in ("/local/", "/local/crates/evil", "/local/?q=evil"):
            t = self.page(self.srv, path).text()
            self.assertNotIn("<script>alert", t, path)
            self.assertNotIn("onerror", t.replace("onerror=alert(2)&gt;", ""), path)
            self.assertNotIn("javascript:", t, path)
            self.assertNotIn("data:text", t, path)
            self.assertNotIn("<!--", t, path)
            self.assertNotIn("a comment that must vanish", t, path)
            self.no_inline(t)
        t = self.page(self.srv, "/local/crates/evil").text()
        self.assertIn("evil &lt;script&gt;alert(1)&lt;/script&gt;", t)
        self.assertIn('<article class="readme"', t)
        self.assertIn('<a href="https://example.com/ok">fine</a>', t)
        self.assertNotIn("<img", t)
        self.assertIn("<table>", t)     # GFM tables
        self.assertIn("click me", t)    # the text of a dropped link stays
        self.assertIn('<pre id="cargo-toml">evil = { version = "1.0.0", registry = "local" }</pre>', t)
        self.assertIn('<tr data-version="1.0.0"', t)

    def test_readme_kept_across_restart(self):
        """A README is rendered once per version and kept on disk: after a
        restart it shows though the .crate is gone."""
        t = self.page(self.srv, "/local/crates/evil").text()
        self.assertIn('<a href="https://example.com/ok">fine</a>', t)
        kept = os.path.join(self.srv.data_dir, "local", "web", "readme",
                            index_path("evil"), "1.0.0.json")
        self.assertTrue(os.path.exists(kept))
        self.srv.stop()
        os.unlink(os.path.join(self.srv.data_dir, "local", "crates", "evil",
                               "evil-1.0.0.crate"))
        self.srv = self.start_crated()
        t = self.page(self.srv, "/local/crates/evil").text()
        self.assertIn('<article class="readme"', t)
        self.assertIn('<a href="https://example.com/ok">fine</a>', t)
        self.assertIn("<table>", t)
        self.assertNotIn("cannot be shown", t)

    def test_registry_list_follows_changes(self):
        """The list's summary is kept in memory and follows what the store
        says changed: publishes (a new crate, a new version and its
        description), a yank; a restart walks the index again."""
        t = self.page(self.srv, "/local/").text()
        self.assertRegex(t, r'data-name="good"><a [^>]*>good</a><span class="vers">0\.1\.0<')
        r = self.srv.publish(crate_meta("good", "0.2.0", description="second"),
                             make_crate("good", "0.2.0"))
        self.assertEqual(r.status, 200, r.body)
        r = self.srv.publish(crate_meta("fresh", "1.0.0"), make_crate("fresh", "1.0.0"))
        self.assertEqual(r.status, 200, r.body)
        t = self.page(self.srv, "/local/").text()
        self.assertRegex(t, r'data-name="good"><a [^>]*>good</a><span class="vers">0\.2\.0<')
        self.assertIn('data-name="fresh"', t)
        self.assertIn("second", self.page(self.srv, "/local/?q=second").text())
        # yanked: the newest version not yanked is shown
        r = self.srv.request("DELETE", "/local/api/v1/crates/good/0.2.0/yank")
        self.assertEqual(r.status, 200)
        t = self.page(self.srv, "/local/").text()
        self.assertRegex(t, r'data-name="good"><a [^>]*>good</a><span class="vers">0\.1\.0<')
        # crated sees only what is written through it (it holds the data
        # directory's lock): a file removed behind its back is seen at the
        # next start, whose walk of index/ makes the list again
        os.unlink(os.path.join(self.srv.data_dir, "local", "index", index_path("fresh")))
        self.srv.stop()
        self.srv = self.start_crated()
        t = self.page(self.srv, "/local/").text()
        self.assertNotIn('data-name="fresh"', t)
        self.assertIn('data-name="good"', t)
        self.assertIn("quoted", self.page(self.srv, "/local/?q=quoted").text())

    def test_me_page_in_frame(self):
        """/R/me: its content, in the frame and style of the other pages."""
        r = self.page(self.srv, "/local/me")
        self.check_headers(r)
        t = r.text()
        self.assertIn('<header class="top">', t)
        self.assertRegex(t, r'<link rel="stylesheet" href="/-/static/style\.[0-9a-f]+\.css">')
        self.assertIn("crated token create --registry local", t)
        self.assertIn('index = "sparse+http://127.0.0.1:%d/local/"' % self.srv.port, t)
        self.assertIn('data-copy="#me-config"', t)
        self.assertIn("CARGO_REGISTRIES_LOCAL_TOKEN", t)
        # the Host header is escaped where the base URL shows
        r = self.srv.request("GET", "/local/me", headers={"Host": 'x"<b>'})
        self.assertNotIn("<b>", r.text())

    def test_crate_page(self):
        t = self.page(self.srv, "/local/crates/good").text()
        self.assertIn('<table class="versions">', t)
        self.assertIn('<a href="/local/crates/evil">evil</a>', t)
        self.assertIn("MIT", t)
        r = self.srv.request("DELETE", "/local/crates/good")
        self.assertEqual(r.status, 405)

    def test_yanked_and_versions(self):
        for v in ("1.0.1", "1.1.0"):
            r = self.srv.publish(crate_meta("evil", v), make_crate("evil", v))
            self.assertEqual(r.status, 200)
        r = self.srv.request("DELETE", "/local/api/v1/crates/evil/1.1.0/yank")
        self.assertEqual(r.status, 200)
        t = self.page(self.srv, "/local/crates/evil").text()
        self.assertRegex(t, r'<tr data-version="1.1.0" class="yanked')
        # the newest not yanked is selected
        self.assertIn('<pre id="cargo-toml">evil = { version = "1.0.1"', t)
        t = self.page(self.srv, "/local/crates/evil?v=1.0.0").text()
        self.assertIn('<tr data-version="1.0.0" class="selected"', t)

    def test_get_changes_nothing(self):
        before = harness.settled_snapshot(self.srv.data_dir)
        for path in ("/", "/local/", "/local/crates/evil", "/-/ops",
                     "/-/signin", "/local/crates/evil?v=1.0.0"):
            self.assertLess(self.page(self.srv, path).status, 500)
            self.page(self.srv, path, method="HEAD")
        after = harness.settled_snapshot(self.srv.data_dir)
        # only the rendered README, kept under local/web/readme/, may appear
        diff = [d for d in harness.snapshot_diff(before, after)
                if not d.startswith("added   local/web")]
        self.assertEqual(diff, [])

    def test_ops(self):
        for _ in range(3):
            self.srv.get("/local/config.json")
        t = self.page(self.srv, "/-/ops").text()
        self.assertIn('<svg class="chart"', t)
        self.assertIn("<rect", t)
        self.assertIn("Latest relayed writes", t)


class TestAuth(WebBase):

    REGS = ("[registries.local]\nauth_required = true\n\n"
            "[registries.other]\nauth_required = true\n\n"
            "[registries.open]\n")

    def setUp(self):
        super().setUp()
        self.cfg = harness.write_config(os.path.join(self.tmp, "crated.toml"),
                                        os.path.join(self.tmp, "data"),
                                        registries=self.REGS)
        self.pub = create_token(self.cfg, "alice", "publish", None, "local")
        self.read_local = create_token(self.cfg, "reader", "read", None, "local")
        self.read_other = create_token(self.cfg, "otto", "read", None, "other")
        self.glob = create_token(self.cfg, "globby", "read", "go*", "local")
        self.srv = self.start_crated(config_path=self.cfg)
        auth = {"Authorization": self.pub}
        for name in ("good", "evil"):
            r = self.srv.publish(crate_meta(name, "1.0.0"),
                                 make_crate(name, "1.0.0"), headers=auth)
            self.assertEqual(r.status, 200, r.body)

    def signin(self, token):
        r = self.srv.get("/-/signin?next=/local/")
        self.assertEqual(r.status, 200)
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text()).group(1)
        cookie = r.header("Set-Cookie").split(";")[0]
        self.assertEqual(cookie, "crated_csrf=" + csrf)
        body = "csrf=%s&token=%s&next=%%2Flocal%%2F" % (csrf, token)
        return self.srv.request("POST", "/-/signin", body=body.encode(), headers={
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://127.0.0.1:%d" % self.srv.port,
            "Host": "127.0.0.1:%d" % self.srv.port})

    def session(self, token):
        r = self.signin(token)
        self.assertEqual(r.status, 303, r.body)
        self.assertEqual(r.header("Location"), "/local/")
        c = r.header("Set-Cookie")
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
            self.assertIn(attr, c)
        self.assertNotIn("Secure", c)
        return c.split(";")[0]

    def test_not_signed_in(self):
        r = self.srv.get("/local/")
        self.assertEqual(r.status, 401)
        self.check_headers(r)
        self.assertIn('href="/-/signin?next=%2Flocal%2F"', r.text())
        t = self.srv.get("/").text()
        self.assertIn('data-registry="open"', t)
        self.assertNotIn('data-registry="local"', t)
        self.assertEqual(self.srv.get("/open/").status, 200)
        # the ops page: counts and the readable registries only
        r = self.srv.get("/-/ops")
        self.assertEqual(r.status, 200)
        self.assertIn('<svg class="chart"', r.text())
        self.assertIn("<h3>open ", r.text())
        self.assertNotIn("<h3>local ", r.text())
        self.assertNotIn('id="stores"', r.text())

    def test_ops_admin(self):
        admin = create_token(self.cfg, "root", "admin", None, "*")
        r = self.srv.get("/-/ops", headers={"Authorization": admin})
        self.assertEqual(r.status, 200)
        self.assertIn("<h3>local ", r.text())
        self.assertIn('id="stores"', r.text())
        # no store configured: said in words, not as JSON; the sessions
        # have their own section, not under the relayed writes
        self.assertIn("None configured.", r.text())
        self.assertNotIn("[]", r.text())
        self.assertIn('<h2>Sessions</h2>\n<p id="sessions">', r.text())
        cookie = self.session(admin)
        r = self.srv.get("/-/ops", headers={"Cookie": cookie})
        self.assertIn('id="stores"', r.text())

    def test_signin_and_out(self):
        cookie = self.session(self.read_local)
        r = self.srv.get("/local/", headers={"Cookie": cookie})
        self.assertEqual(r.status, 200)
        self.assertIn('data-name="good"', r.text())
        self.assertIn("Signed in as reader", r.text())
        t = self.srv.get("/", headers={"Cookie": cookie}).text()
        self.assertIn('data-registry="local"', t)
        self.assertNotIn('data-registry="other"', t)
        # another registry: 403 with a sign-in link
        r = self.srv.get("/other/", headers={"Cookie": cookie})
        self.assertEqual(r.status, 403)
        self.assertIn("/-/signin", r.text())
        self.assertEqual(self.srv.get("/other/crates/good",
                                      headers={"Cookie": cookie}).status, 403)
        # sign out: without the CSRF field refused, with it done
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', t).group(1)
        r = self.srv.request("POST", "/-/signout", body=b"csrf=" + b"0" * 64,
                             headers={"Cookie": cookie})
        self.assertEqual(r.status, 403)
        r = self.srv.request("POST", "/-/signout", body=("csrf=" + csrf).encode(),
                             headers={"Cookie": cookie})
        self.assertEqual(r.status, 303)
        self.assertIn("Max-Age=0", r.header("Set-Cookie"))
        self.assertEqual(self.srv.get("/local/", headers={"Cookie": cookie}).status, 401)

    def test_signin_refused(self):
        r = self.signin("crated_" + "Z" * 43)
        self.assertEqual(r.status, 401)
        self.assertIsNone(re.search("crated_session", r.header("Set-Cookie") or ""))
        # no CSRF cookie
        r = self.srv.request("POST", "/-/signin", body=("csrf=%s&token=%s" % (
            "a" * 64, self.read_local)).encode())
        self.assertEqual(r.status, 403)
        # another origin
        r0 = self.srv.get("/-/signin")
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', r0.text()).group(1)
        r = self.srv.request("POST", "/-/signin", body=("csrf=%s&token=%s" % (
            csrf, self.read_local)).encode(), headers={
            "Cookie": "crated_csrf=" + csrf, "Origin": "http://evil.example"})
        self.assertEqual(r.status, 403)
        # GET never signs in
        r = self.srv.get("/-/signin?csrf=%s&token=%s" % (csrf, self.read_local))
        self.assertNotIn("crated_session", r.header("Set-Cookie") or "")

    def test_glob_limits_crates(self):
        cookie = self.session(self.glob)
        t = self.srv.get("/local/", headers={"Cookie": cookie}).text()
        self.assertIn('data-name="good"', t)
        self.assertNotIn('data-name="evil"', t)
        self.assertEqual(self.srv.get("/local/crates/evil",
                                      headers={"Cookie": cookie}).status, 404)

    def test_bearer_header(self):
        r = self.srv.get("/local/crates/good", headers={"Authorization": self.read_other})
        self.assertEqual(r.status, 403)
        r = self.srv.get("/local/crates/good", headers={"Authorization": self.read_local})
        self.assertEqual(r.status, 200)


class TestTls(TlsBase, WebBase):

    def test_secure_cookies(self):
        """Over TLS both cookies carry Secure; over plain HTTP neither."""
        self.start_tls(registries="[registries.local]\nauth_required = true\n")
        token = create_token(self.cfg, "tessa", "read", None, "local")
        r, _, _, _ = https_get(self.tls_port, self.pki.ca, "/-/signin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Security-Policy"), CSP)
        self.assertIn("; Secure", r.header("Set-Cookie"))
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text()).group(1)
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=15,
                                           context=client_ctx(self.pki.ca))
        try:
            conn.request("POST", "/-/signin", body="csrf=%s&token=%s" % (csrf, token),
                         headers={"Cookie": "crated_csrf=" + csrf})
            rr = conn.getresponse()
            rr.read()
            self.assertEqual(rr.status, 303)
            c = rr.getheader("Set-Cookie")
            self.assertRegex(c, r"^crated_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict;"
                                r" Path=/; Max-Age=43200; Secure$")
        finally:
            conn.close()
        r, _, _, _ = https_get(self.tls_port, self.pki.ca, "/local/",
                               headers={"Cookie": c.split(";")[0]})
        self.assertEqual(r.status, 200)


class TestManyVersions(WebBase):

    def test_500_versions(self):
        srv = self.start_crated()
        # an index file with 500 lines written straight into the store
        rel = os.path.join(srv.data_dir, "local", "index", index_path("big"))
        os.makedirs(os.path.dirname(rel), exist_ok=True)
        lines = []
        for i in range(500):
            lines.append(json.dumps({
                "name": "big", "vers": "0.%d.%d" % (i // 10, i % 10),
                "deps": [{"name": "serde", "req": "^1", "features": [],
                          "optional": False, "default_features": True,
                          "target": None, "kind": "normal"}],
                "cksum": sha256_hex(b"%d" % i), "features": {"std": [], "x": ["std"]},
                "yanked": i % 7 == 0, "v": 2, "rust_version": "1.70",
                "pubtime": "2026-01-01T00:00:00Z"}, separators=(",", ":")))
        with open(rel, "w") as f:
            f.write("\n".join(lines) + "\n")
        times = []
        for _ in range(5):
            r = srv.get("/local/crates/big")
            self.assertEqual(r.status, 200)
            st = r.header("Server-Timing")
            m = re.search(r"load;dur=([0-9.]+), render;dur=([0-9.]+)", st)
            times.append((float(m.group(1)), float(m.group(2))))
        t = r.text()
        self.assertEqual(t.count("<tr data-version="), 500)
        print("500 versions: load (worker) ms / render (loop) ms: %s; page %d bytes"
              % (", ".join("%.2f/%.2f" % x for x in times), len(r.body)),
              file=sys.stderr)


class TestMirrorList(WebBase):
    """A mirror's list: sort=recent by last use of the cached .crate files
    (the index file's change when none is cached), how many versions are
    cached, and each crate's description, read from its cached .crate
    when it was stored (no crate page viewed)."""

    def setUp(self):
        super().setUp()
        self.si, self.tree, up, _ = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        toml = ('[package]\nname = "mu-alpha"\nversion = "1.0.0"\nedition = "2021"\n'
                'license = "MIT"\ndescription = "quokka wrangling toolkit"\n')
        self.tree.add("mu-alpha", "1.0.0", make_crate("mu-alpha", "1.0.0",
                                                      {"Cargo.toml": toml}))
        self.tree.add("mu-beta", "1.0.0", make_crate("mu-beta", "1.0.0"))
        self.tree.add("mu-gamma", "1.0.0", make_crate("mu-gamma", "1.0.0"))
        toml = ('[package]\nname = "mu-evil"\nversion = "1.0.0"\n'
                'description = "zorilla %s"\n' % HOSTILE_DESC.replace('"', '\\"'))
        self.tree.add("mu-evil", "1.0.0", make_crate("mu-evil", "1.0.0", {"Cargo.toml": toml}))
        self.srv = self.start_crated(registries="[registries.local]\n" +
                                     S.mirror_toml("mirror", up, index_ttl=0))

    def download(self, name, vers="1.0.0"):
        """Downloads name's .crate and waits until the cache counts it (a
        fetched .crate is committed after the answer, on the worker)."""
        r = self.srv.get("/mirror/api/v1/crates/%s/%s/download" % (name, vers))
        self.assertEqual(r.status, 200, name)
        self.assertTrue(harness.wait_until(
            lambda: "last used " in self.names("?q=" + name)[1], 30),
            "%s never counted in the cache" % name)

    def next_second(self):
        """Waits for the clock's next second (last use is kept in seconds)."""
        t = int(time.time())
        deadline = time.monotonic() + 5
        while int(time.time()) == t and time.monotonic() < deadline:
            time.sleep(0.05)

    def names(self, query):
        r = self.page(self.srv, "/mirror/" + query)
        self.assertEqual(r.status, 200)
        self.check_headers(r)
        return re.findall(r'<li class="crate" data-name="([^"]+)"', r.text()), r.text()

    def test_recent_use_and_description(self):
        # index files: alpha, beta, then gamma (the newest change, never downloaded)
        for name in ("mu-alpha", "mu-beta", "mu-gamma"):
            self.assertEqual(self.srv.get("/mirror/" + index_path(name)).status, 200)
        names, t = self.names("?q=quokka")
        self.assertEqual(names, [], "a description before the .crate is cached")
        self.download("mu-beta")
        self.next_second()
        self.download("mu-alpha")
        names, t = self.names("?sort=recent")
        self.assertEqual(names[:2], ["mu-alpha", "mu-beta"], t)
        self.assertIn("recently used</option>", t)
        self.assertRegex(t, r'data-name="mu-alpha">.*last used [^<]* · 1\u00a0version cached<')
        self.assertEqual(names[2], "mu-gamma")   # no crate cached: its index change
        self.assertRegex(t, r'data-name="mu-gamma">.*no \.crate cached · index changed ')
        self.next_second()
        self.download("mu-beta")                 # a cache hit is a use
        names, _ = self.names("?sort=recent")
        self.assertEqual(names[:2], ["mu-beta", "mu-alpha"])
        names, _ = self.names("?sort=name")
        self.assertEqual(names, ["mu-alpha", "mu-beta", "mu-gamma"])

        # the description was read from the .crate when it was stored: no
        # crate page was viewed (none rendered a README)
        self.assertTrue(harness.wait_until(lambda: self.names("?q=quokka")[0], 30),
                        "the description never became searchable")
        names, t = self.names("?q=quokka")
        self.assertEqual(names, ["mu-alpha"], t)
        self.assertIn("<p>quokka wrangling toolkit</p>", t)
        names, t = self.names("?q=wrangling&sort=recent")
        self.assertEqual(names, ["mu-alpha"])
        self.assertFalse(os.path.exists(os.path.join(self.srv.data_dir, "mirror", "web",
                                                     "readme")), "a README was rendered")
        with open(os.path.join(self.srv.data_dir, "mirror", "web", "about",
                               index_path("mu-alpha") + ".json")) as f:
            self.assertEqual(json.load(f), {"vers": "1.0.0",
                                            "description": "quokka wrangling toolkit"})

    def test_hostile_description(self):
        """A description read from a mirrored .crate is shown as text."""
        self.assertEqual(self.srv.get("/mirror/" + index_path("mu-evil")).status, 200)
        self.download("mu-evil")
        self.assertTrue(harness.wait_until(lambda: self.names("?q=zorilla")[0], 30))
        names, t = self.names("?q=zorilla")
        self.assertEqual(names, ["mu-evil"])
        self.assertIn("zorilla evil &lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot;"
                      " &lt;img src=x onerror=alert(2)&gt;", t)
        self.assertNotIn("<script>alert", t)
        self.no_inline(t)

    def test_added_removed_newer(self):
        """An index file cached, a newer version's .crate, an index file
        the upstream no longer has (a 404 when revalidated: removed)."""
        names, _ = self.names("")
        self.assertEqual(names, [])
        # the index file is written after the answer, on a worker
        self.assertEqual(self.srv.get("/mirror/" + index_path("mu-alpha")).status, 200)
        self.assertTrue(harness.wait_until(lambda: self.names("")[0] == ["mu-alpha"], 30))
        self.download("mu-alpha")
        self.assertTrue(harness.wait_until(lambda: self.names("?q=quokka")[0], 30))
        toml = ('[package]\nname = "mu-alpha"\nversion = "1.1.0"\n'
                'description = """\nquokka wrangling\ntoolkit, second edition"""\n')
        self.tree.add("mu-alpha", "1.1.0", make_crate("mu-alpha", "1.1.0", {"Cargo.toml": toml}))
        self.assertEqual(self.srv.get("/mirror/" + index_path("mu-alpha")).status, 200)
        self.assertTrue(harness.wait_until(
            lambda: '<span class="vers">1.1.0<' in self.names("")[1], 30))
        r = self.srv.get("/mirror/api/v1/crates/mu-alpha/1.1.0/download")
        self.assertEqual(r.status, 200)
        self.assertTrue(harness.wait_until(
            lambda: "second edition" in self.names("?q=quokka")[1], 30),
            "the newer version's description never replaced the older one")
        self.assertTrue(harness.wait_until(
            lambda: "2\u00a0versions cached" in self.names("?q=mu-alpha")[1], 30))
        # gone upstream: the next revalidation (index_ttl 0) removes it here
        self.assertEqual(self.srv.get("/mirror/" + index_path("mu-beta")).status, 200)
        self.assertTrue(harness.wait_until(
            lambda: self.names("")[0] == ["mu-alpha", "mu-beta"], 30))
        self.si.del_file(self.tree.base + index_path("mu-beta"))
        self.assertEqual(self.srv.get("/mirror/" + index_path("mu-beta")).status, 404)
        self.assertTrue(harness.wait_until(lambda: self.names("")[0] == ["mu-alpha"], 30),
                        "a removed index file stays listed")


class TestMirrorEvicted(WebBase):
    """A .crate evicted under max_cache_bytes: its crate stays listed (the
    index file is kept), with its description, as having no .crate
    cached; the one that took its room is listed as cached."""

    def test_evicted(self):
        si, tree, up, _ = S.standin_registry(self.tmp)
        self.addCleanup(si.stop)
        size = 0
        for name in ("ev-old", "ev-new"):
            toml = ('[package]\nname = "%s"\nversion = "1.0.0"\n'
                    'description = "%s pangolin"\n' % (name, name))
            c = make_crate(name, "1.0.0", {"Cargo.toml": toml,
                                            "data.bin": os.urandom(20000)})
            tree.add(name, "1.0.0", c)
            size = max(size, len(c))
        # room for one crate (eviction goes down to 90% of the limit)
        srv = self.start_crated(registries="[registries.local]\n" + S.mirror_toml(
            "mirror", up, index_ttl=600, max_cache_bytes=(size * 3 // 2 + 8) // 9 * 10))

        def rows():
            t = srv.get("/mirror/?q=pangolin").text()
            return dict(re.findall(r'<li class="crate" data-name="([^"]+)">.*?'
                                   r'<p class="muted">([^<]*)</p></li>', t))

        for name in ("ev-old", "ev-new"):
            self.assertEqual(srv.get("/mirror/" + index_path(name)).status, 200)
            self.assertEqual(srv.get("/mirror/api/v1/crates/%s/1.0.0/download" % name).status,
                             200)
            if name == "ev-old":
                self.assertTrue(harness.wait_until(
                    lambda: "1\u00a0version cached" in rows().get("ev-old", ""), 30), rows())
        self.assertTrue(harness.wait_until(
            lambda: "1\u00a0version cached" in rows().get("ev-new", "") and
            "no .crate cached" in rows().get("ev-old", ""), 30), rows())
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "mirror", "crates",
                                                     "ev-old", "ev-old-1.0.0.crate")))
        self.assertEqual(sorted(rows()), ["ev-new", "ev-old"])


def packaged(pk, tmp, name, vers, description, registry="st"):
    """A .crate made by `cargo package` (which rewrites Cargo.toml: a
    description with a newline becomes a multi-line string)."""
    d = os.path.join(tmp, "pkg", "%s-%s" % (name, vers))
    os.makedirs(os.path.join(d, "src"), exist_ok=True)
    with open(os.path.join(d, "Cargo.toml"), "w") as f:
        f.write('[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n'
                'license = "MIT"\ndescription = %s\npublish = ["%s"]\n'
                % (name, vers, json.dumps(description), registry))
    with open(os.path.join(d, "src", "lib.rs"), "w") as f:
        f.write("pub fn f() -> u32 { %d }\n" % len(name))
    return S.cargo_package(pk, d, name, vers, registry)


class TestMirrorDescriptions(WebBase):
    """A mirror crate's description comes from its cached .crate, whatever
    cached it: cargo through crated, `crated prefetch`, `crated import`;
    it survives a restart, and a data directory without the kept
    descriptions (an older crated's, an import) gets them at start."""

    DESC = {"md-one": "axolotl breeding\nmanual", "md-two": "narwhal tusk polish"}

    def setUp(self):
        super().setUp()
        self.si, self.tree, self.up, pk = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        for name, desc in self.DESC.items():
            self.tree.add(name, "1.0.0", packaged(pk, self.tmp, name, "1.0.0", desc))
        self.proj = harness.make_project(
            os.path.join(self.tmp, "consumer"), "consumer", publish=False,
            deps='md-one = { version = "1", registry = "mirror" }\n'
                 'md-two = { version = "1", registry = "mirror" }')

    def cfg(self, name, data, **kw):
        return harness.write_config(os.path.join(self.tmp, name + ".toml"), data,
                                    registries=S.mirror_toml("mirror", self.up, **kw))

    def found(self, srv, word):
        r = srv.get("/mirror/?q=" + word)
        self.assertEqual(r.status, 200)
        return re.findall(r'<li class="crate" data-name="([^"]+)"', r.text())

    def assert_found(self, srv, wait=False):
        for word, name in (("axolotl", "md-one"), ("narwhal", "md-two")):
            if wait:
                harness.wait_until(lambda: self.found(srv, word), 30)
            self.assertEqual(self.found(srv, word), [name], word)
        t = srv.get("/mirror/?q=axolotl").text()
        self.assertIn("<p>axolotl breeding\nmanual</p>", t)

    def test_cargo_restart_and_old_data(self):
        data = os.path.join(self.tmp, "data")
        cfg = self.cfg("m", data, index_ttl=600)
        srv = self.start_crated(config_path=cfg)
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n'
                              % srv.url)
        cargo.run(["fetch"], self.proj, logs=[srv])
        self.assert_found(srv, wait=True)
        self.assertFalse(os.path.exists(os.path.join(data, "mirror", "web", "readme")),
                         "a crate page was rendered")
        srv.stop()
        # kept: found at the first view after a restart
        srv = self.start_crated(config_path=cfg)
        self.assert_found(srv)
        srv.stop()
        # none kept (an older crated's data directory): read at start
        shutil.rmtree(os.path.join(data, "mirror", "web"))
        srv = self.start_crated(config_path=cfg)
        self.assert_found(srv, wait=True)
        srv.check_log_clean()

    def test_prefetch_and_import(self):
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "%s"\n' % self.up)
        cargo.run(["generate-lockfile"], self.proj)
        lock = os.path.join(self.proj, "Cargo.lock")
        a = os.path.join(self.tmp, "A")
        a_cfg = self.cfg("a", a)
        rc, out, err = harness.run_crated(["prefetch", "--config", a_cfg, lock], timeout=120)
        harness.check_sanitizer(err, "crated prefetch")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("2 fetched", out)
        srv = self.start_crated(config_path=self.cfg("a-offline", a, offline=True))
        self.assert_found(srv, wait=True)
        srv.stop()
        # A's bundle (index/, crates/, meta/: no web/) into an empty E
        bundle = os.path.join(self.tmp, "a.tar.gz")
        rc, out, err = harness.run_crated(["export", "--data-dir", a, bundle])
        self.assertEqual(rc, 0, out + err)
        e = os.path.join(self.tmp, "E")
        e_cfg = self.cfg("e", e, offline=True)
        rc, out, err = harness.run_crated(["import", "--config", e_cfg, bundle])
        self.assertEqual(rc, 0, out + err)
        self.assertFalse(os.path.exists(os.path.join(e, "mirror", "web")))
        srv = self.start_crated(config_path=e_cfg)
        self.assert_found(srv, wait=True)


if __name__ == "__main__":
    harness.main()
