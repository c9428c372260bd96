#!/usr/bin/env python3
"""crated's web pages (issue 27) in a real browser: Debian's chromium,
headless, driven by tests/browser/pages.mjs (puppeteer-core from
tests/node, installed by ./dev.sh test with npm ci).

One crated serves four registries:
  local   hosted, filled by real `cargo publish`: webbase 0.1.0 (yanked
          with `cargo yank`) and 0.2.0; webdemo 0.2.0 and 0.3.0, with a
          README each, features, a dependency on webbase, rust-version;
          hostile, whose description and README carry <script>, a
          javascript: link, <img onerror> and an HTML comment; and 50
          small crates published over HTTP (zz-fill-NN) for the pages.
  mirror  a mirror of a standins.StandIn registry (mir-one 1.0.0 and
          1.1.0, mir-two 0.1.0), of which real cargo fetched mir-one
          1.1.0 through crated (mir-two is never asked for).
  secret, other
          auth_required hosted registries, tokens made with `crated token
          create`, sec-alpha and sec-beta in secret, oth-crate in other.
The browser visits every page anonymously, then signed in with a read
token of secret, with a read token of secret limited to sec-a*, and with a
bogus token; the driver's JSON is asserted on here: the crates and
versions shown, search, the copy buttons (the clipboard), keyboard focus,
sign-in and what a token sees, no console error, no failed request, no
request off the origin, no dialog, no foreign script or on* attribute.
Screenshots of each page at 1280x800 and 390x844 are written to
$CRATED_TEST_ARTEFACTS/web-browser/ (meson: BUILD/meson-logs/artefacts;
the paths are printed)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import create_token  # noqa: E402

CHROMIUM = os.environ.get("CRATED_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.path.join(harness.REPO, "tests", "browser", "pages.mjs")
PUPPETEER = os.path.join(harness.REPO, "tests", "node", "node_modules", "puppeteer-core")
BROWSER_TIMEOUT = 420       # seconds for the whole browser run (ASan crated, 2 shared cores)

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

HOSTILE = ["<script>alert(1)</script>", "[x](javascript:alert(1))",
           "<img src=x onerror=alert(1)>", "<!-- comment -->"]
HOSTILE_DESC = "evil " + " ".join(HOSTILE)
HOSTILE_README = """# Hostile crate

Plain words stay.

<script>alert(1)</script>

A [javascript link](javascript:alert(1)) and [x](javascript:alert(1)) and
<img src=x onerror=alert(1)> inline.

<!-- comment -->

<img src=x onerror=alert(1)>

<a href="javascript:alert(1)" onclick="alert(1)">raw anchor</a>

Last words stay.
"""

DEMO_README = """# webdemo

README of %(v)s: a demonstration crate.

| feature | what |
| ------- | ---- |
| fast    | goes fast |

- [x] task list
- ~~strike~~ through

```rust
let x = webdemo::f();
```
"""


def write_project(path, name, version, registry, description, readme=None, deps="",
                  features="", rust_version=None, lib_rs="pub fn f() -> u32 { 1 }\n"):
    """A cargo project: Cargo.toml (with readme and rust-version when
    given), src/lib.rs, README.md."""
    os.makedirs(os.path.join(path, "src"), exist_ok=True)
    toml = ['[package]', 'name = "%s"' % name, 'version = "%s"' % version,
            'edition = "2021"', 'license = "MIT OR Apache-2.0"',
            'description = %s' % json.dumps(description),
            'publish = ["%s"]' % registry]
    if rust_version:
        toml.append('rust-version = "%s"' % rust_version)
    if readme is not None:
        toml.append('readme = "README.md"')
        with open(os.path.join(path, "README.md"), "w") as f:
            f.write(readme)
    toml += ["", "[dependencies]", deps.strip(), "", "[features]", features.strip(), ""]
    with open(os.path.join(path, "Cargo.toml"), "w") as f:
        f.write("\n".join(toml))
    with open(os.path.join(path, "src", "lib.rs"), "w") as f:
        f.write(lib_rs)
    return path


def write_many(data_dir):
    """Registry many's crate many: an index file of 500 versions (each with
    a dependency, features, a rust-version and a pubtime; every 7th
    yanked), written before crated starts."""
    path = os.path.join(data_dir, "many", "index", harness.index_path("many"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = []
    for i in range(500):
        lines.append(json.dumps({
            "name": "many", "vers": "0.%d.%d" % (i // 10, i % 10),
            "deps": [{"name": "serde", "req": "^1", "features": [], "optional": False,
                      "default_features": True, "target": None, "kind": "normal"}],
            "cksum": harness.sha256_hex(b"%d" % i), "features": {"std": [], "x": ["std"]},
            "yanked": i % 7 == 0, "v": 2, "rust_version": "1.70",
            "pubtime": "2026-01-01T00:00:00Z"}, separators=(",", ":")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def artefact_dir(name):
    """Where this test's output for people goes: $CRATED_TEST_ARTEFACTS/name
    (meson sets it to BUILD/meson-logs/artefacts), else beside crated's
    binary in meson-logs/artefacts/name."""
    base = os.environ.get("CRATED_TEST_ARTEFACTS") or os.path.join(
        os.path.dirname(os.path.abspath(harness.CRATED_BIN)), "meson-logs", "artefacts")
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


def missing_tools():
    out = []
    if not os.access(CHROMIUM, os.X_OK):
        out.append("%s (apt-get install chromium)" % CHROMIUM)
    if shutil.which("node") is None:
        out.append("node")
    if not os.path.isdir(PUPPETEER):
        out.append("puppeteer-core (npm ci --prefix tests/node)")
    return out


# The browser's plan: sessions of steps (see tests/browser/pages.mjs).
def plan_sessions(tokens):
    anon = [
        dict(op="visit", id="home", path="/", shot="home", tabs=60, copy=True),
        dict(op="visit", id="local", path="/local/", shot="registry-hosted", tabs=120),
        dict(op="visit", id="me", path="/local/me", shot="me", copy=True),
        dict(op="visit", id="local-noslash", path="/local"),
        dict(op="visit", id="local-page2", path="/local/?page=2"),
        dict(op="visit", id="local-recent", path="/local/?sort=recent"),
        dict(op="search", id="search-name", path="/local/", q="webdemo"),
        dict(op="search", id="search-desc", path="/local/", q="zebrafish"),
        dict(op="search", id="search-hostile", path="/local/",
             q="<img src=x onerror=alert(1)>\"'<script>alert(1)</script>"),
        dict(op="visit", id="webdemo", path="/local/crates/webdemo", shot="crate-hosted",
             tabs=80, copy=True),
        dict(op="visit", id="webdemo-v020", path="/local/crates/webdemo?v=0.2.0", copy=True),
        dict(op="visit", id="webbase", path="/local/crates/webbase"),
        dict(op="visit", id="hostile", path="/local/crates/hostile", shot="crate-hostile"),
        dict(op="visit", id="hostile-list", path="/local/?q=hostile"),
        dict(op="visit", id="mirror", path="/mirror/", shot="registry-mirror", tabs=40,
             narrow=True),
        dict(op="visit", id="mir-one", path="/mirror/crates/mir-one", shot="crate-mirror",
             copy=True),
        dict(op="visit", id="ops-anon", path="/-/ops", shot="ops-anonymous", tabs=40,
             narrow=True),
        dict(op="visit", id="many", path="/many/crates/many", shot="crate-500", narrow=True),
        dict(op="visit", id="signin-page", path="/-/signin", shot="signin", tabs=20),
        dict(op="visit", id="secret-anon", path="/secret/", shot="unauthorized"),
        dict(op="visit", id="secret-crate-anon", path="/secret/crates/sec-alpha"),
    ]
    reader = [
        dict(op="signin", id="signin", token=tokens["reader"]),
        dict(op="visit", id="home", path="/"),
        dict(op="visit", id="secret", path="/secret/", shot="registry-signed-in"),
        dict(op="visit", id="sec-alpha", path="/secret/crates/sec-alpha"),
        dict(op="visit", id="other", path="/other/", shot="forbidden"),
        dict(op="visit", id="other-crate", path="/other/crates/oth-crate"),
        dict(op="visit", id="get-signout", path="/-/signout"),
        dict(op="visit", id="secret-still", path="/secret/"),
        dict(op="signout", id="signout", path="/secret/"),
        dict(op="visit", id="secret-after", path="/secret/"),
    ]
    glob = [
        dict(op="signin", id="signin", token=tokens["glob"]),
        dict(op="visit", id="secret", path="/secret/"),
        dict(op="visit", id="sec-beta", path="/secret/crates/sec-beta"),
        dict(op="search", id="search-beta", path="/secret/", q="sec-beta"),
    ]
    admin = [
        dict(op="signin", id="signin", token=tokens["admin"]),
        dict(op="visit", id="ops", path="/-/ops", shot="ops", tabs=40, narrow=True),
        dict(op="visit", id="home", path="/", shot="home-admin"),
    ]
    nojs = [
        dict(op="visit", id="home", path="/"),
        dict(op="search", id="search", path="/local/", q="webdemo"),
        dict(op="visit", id="webdemo", path="/local/crates/webdemo"),
        dict(op="signin", id="signin", token=tokens["reader"]),
        dict(op="visit", id="secret", path="/secret/"),
        dict(op="signout", id="signout", path="/secret/"),
        dict(op="visit", id="secret-after", path="/secret/"),
    ]
    bogus = [
        dict(op="signin", id="signin", token="crated_" + "Q" * 43),
        dict(op="visit", id="secret", path="/secret/"),
    ]
    return [dict(name="anon", steps=anon), dict(name="reader", steps=reader),
            dict(name="glob", steps=glob), dict(name="admin", steps=admin),
            dict(name="nojs", steps=nojs, javascript=False),
            dict(name="bogus", steps=bogus)]


class WebBrowserTest(unittest.TestCase):
    maxDiff = 6000

    # setting up: registries, crates, tokens, the browser run ----------------

    @classmethod
    def setUpClass(cls):
        missing = missing_tools()
        if missing:
            raise unittest.SkipTest("browser tests need " + ", ".join(missing))
        cls.tmp = harness.make_tempdir()
        cls.procs = []
        try:
            cls.prepare()
            cls.run_browser()
        except BaseException:
            cls.stop_all(check=False)
            harness.remove_tempdir(cls.tmp)
            raise

    @classmethod
    def stop_all(cls, check):
        for p in reversed(cls.procs):
            p.stop(**({"check": check} if isinstance(p, harness.Crated) else {}))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_all(check=True)
        finally:
            harness.remove_tempdir(cls.tmp)

    @classmethod
    def prepare(cls):
        tmp = cls.tmp
        # the mirror's upstream
        cls.si, cls.tree, up_url, pk = S.standin_registry(tmp, reg="st")
        cls.procs.append(cls.si)
        for name, vers in (("mir-one", "1.0.0"), ("mir-one", "1.1.0"), ("mir-two", "0.1.0")):
            d = write_project(os.path.join(tmp, "up", name + "-" + vers), name, vers, "st",
                              "mirrored crate %s" % name,
                              readme="# %s\n\nREADME of mirrored %s %s.\n" % (name, name, vers))
            cls.tree.add(name, vers, S.cargo_package(pk, d, name, vers, "st"))

        regs = ("[registries.local]\n\n" + S.mirror_toml("mirror", up_url, index_ttl=600,
                                                       max_cache_bytes=100 << 20) +
                "\n[registries.secret]\nauth_required = true\n"
                "\n[registries.other]\nauth_required = true\n"
                "\n[registries.many]\n")
        cls.cfg = harness.write_config(os.path.join(tmp, "crated.toml"),
                                       os.path.join(tmp, "data"), registries=regs)
        write_many(os.path.join(tmp, "data"))
        cls.tokens = {
            "secret-pub": create_token(cls.cfg, "sec-publisher", "publish", registry="secret"),
            "other-pub": create_token(cls.cfg, "oth-publisher", "publish", registry="other"),
            "reader": create_token(cls.cfg, "sec-reader", "read", registry="secret"),
            "glob": create_token(cls.cfg, "sec-glob-reader", "read", crates="sec-a*",
                                 registry="secret"),
            "admin": create_token(cls.cfg, "sec-admin", "admin", registry="secret"),
        }
        cls.srv = harness.start_crated(tmp, config_path=cls.cfg)
        cls.procs.append(cls.srv)
        base = cls.srv.url
        cls.cargo = harness.Cargo(tmp, (
            '[registries.local]\nindex = "sparse+%s/local/"\n'
            '[registries.mirror]\nindex = "sparse+%s/mirror/"\n'
            '[registries.secret]\nindex = "sparse+%s/secret/"\n'
            'credential-provider = ["cargo:token"]\n'
            '[registries.other]\nindex = "sparse+%s/other/"\n'
            'credential-provider = ["cargo:token"]\n') % (base, base, base, base),
            tokens={"local": "anything", "secret": cls.tokens["secret-pub"],
                    "other": cls.tokens["other-pub"]})
        cls.publish_hosted()
        cls.cache_mirror()

    @classmethod
    def cargo_run(cls, args, d):
        return cls.cargo.run(args, d, logs=[cls.srv])

    @classmethod
    def publish(cls, reg, name, vers, **kw):
        d = write_project(os.path.join(cls.tmp, "pub", "%s-%s" % (name, vers)), name, vers,
                          reg, **kw)
        cls.cargo_run(["publish", "--registry", reg, "--no-verify", "--allow-dirty"], d)
        return d

    @classmethod
    def publish_hosted(cls):
        cls.publish("local", "webbase", "0.1.0", description="the base of webdemo",
                    readme="# webbase\n\nREADME of webbase.\n")
        cls.publish("local", "webbase", "0.2.0", description="the base of webdemo",
                    readme="# webbase\n\nREADME of webbase.\n")
        d = cls.publish("local", "webdemo", "0.2.0",
                        description="a demonstration crate about zebrafish",
                        readme=DEMO_README % {"v": "0.2.0"})
        cls.publish("local", "webdemo", "0.3.0",
                    description="a demonstration crate about zebrafish",
                    readme=DEMO_README % {"v": "0.3.0"}, rust_version="1.70",
                    deps='webbase = { version = "0.2", registry = "local", optional = true }\n'
                         'serde-like = { package = "webbase", version = "0.2", '
                         'registry = "local" }\n',
                    features='default = ["fast"]\nfast = []\nwith-base = ["dep:webbase"]\n')
        cls.cargo_run(["yank", "--registry", "local", "--version", "0.1.0", "webbase"], d)
        cls.publish("local", "hostile", "0.1.0", description=HOSTILE_DESC,
                    readme=HOSTILE_README)
        cls.publish("secret", "sec-alpha", "1.0.0", description="secret alpha")
        cls.publish("secret", "sec-beta", "1.0.0", description="secret beta")
        cls.publish("other", "oth-crate", "1.0.0", description="other's crate")
        # 50 more, so that /local/ has two pages (not through cargo: only the
        # count matters)
        for i in range(50):
            r, _ = cls.srv.publish_simple("zz-fill-%02d" % i, "1.0.0")
            if r.status != 200:
                raise AssertionError("publishing zz-fill-%02d: %r" % (i, r))

    @classmethod
    def cache_mirror(cls):
        d = os.path.join(cls.tmp, "consumer")
        harness.make_project(d, "consumer", publish=False,
                             deps='mir-one = { version = "1.0", registry = "mirror" }')
        cls.cargo_run(["fetch"], d)
        # the description is read from the .crate in the background, after
        # it is stored; the list shows it without a crate page viewed
        if not harness.wait_until(lambda: 'data-name="mir-one"' in cls.srv.get(
                "/mirror/?q=mirrored").text(), 60):
            raise AssertionError("mir-one's description never reached the mirror's list")

    @classmethod
    def run_browser(cls):
        cls.shots = artefact_dir("web-browser")
        for f in os.listdir(cls.shots):
            if f.endswith(".png"):
                os.remove(os.path.join(cls.shots, f))
        plan = {"chromium": CHROMIUM, "origin": cls.srv.url, "shots": cls.shots,
                "timeout_ms": 60000, "watchdog_ms": (BROWSER_TIMEOUT - 20) * 1000,
                "sessions": plan_sessions(cls.tokens)}
        plan_path = os.path.join(cls.tmp, "plan.json")
        with open(plan_path, "w") as f:
            json.dump(plan, f)
        p = subprocess.run(["node", DRIVER, plan_path], capture_output=True,
                           timeout=BROWSER_TIMEOUT, stdin=subprocess.DEVNULL,
                           env=harness.clean_env())
        err = p.stderr.decode(errors="replace")
        if p.returncode != 0:
            raise AssertionError("the browser driver failed (rc %d):\n%s\n--- crated log:\n%s"
                                 % (p.returncode, err[-6000:], cls.srv.log_tail(30)))
        cls.result = json.loads(p.stdout.decode())
        with open(os.path.join(cls.shots, "result.json"), "w") as f:
            json.dump(cls.result, f, indent=1)
        sys.stdout.write("browser: %s\nscreenshots and result.json in %s:\n" %
                         (cls.result["browser"], cls.shots))
        for f in sorted(os.listdir(cls.shots)):
            sys.stdout.write("  %s\n" % os.path.join(cls.shots, f))
        sys.stdout.flush()
        cls.steps = {}
        sys.stdout.write("document wait (ms, Navigation Timing; not asserted):\n")
        for sess in cls.result["sessions"]:
            for s in sess["steps"]:
                cls.steps[(sess["name"], s["id"])] = s
                t = (s.get("page") or {}).get("timing")
                if t:
                    sys.stdout.write("  %s/%s %s: %.2f (load %d)\n" % (
                        sess["name"], s["id"], s.get("status"), t["ttfb_ms"], t["load_ms"]))
        sys.stdout.flush()

    # helpers -------------------------------------------------------------------

    def step(self, sess, sid, status=200):
        """The step's result, checked: no driver error, the status, a clean
        page (see check_clean)."""
        s = self.steps[(sess, sid)]
        self.assertFalse(s.get("error"), "%s/%s: %s" % (sess, sid, s.get("error")))
        if status is not None:
            self.assertEqual(s.get("status"), status, "%s/%s: status %r at %s" % (
                sess, sid, s.get("status"), s["page"]["url"]))
        return s

    def page(self, sess, sid, status=200):
        return self.step(sess, sid, status)["page"]

    def names(self, page):
        return [c["name"] for c in page["crates"]]

    def row(self, page, version):
        rows = [v for v in page["versions"] if v["version"] == version]
        self.assertEqual(len(rows), 1, "version %s: rows %r" % (version, page["versions"]))
        return rows[0]

    def link_to(self, page, path):
        return [a for a in page["links"] if a["href"].split("#")[0] == self.srv.url + path]

    # every step: clean -----------------------------------------------------------

    def test_every_page_is_clean(self):
        """No console error, page error, failed request or dialog; no
        request leaves the origin; crated's own scripts only (from
        /-/static/), no inline script or style, no on* attribute, no
        javascript: URL, no frame."""
        origin = self.srv.url + "/"
        for (sess, sid), s in sorted(self.steps.items()):
            with self.subTest(session=sess, step=sid):
                self.assertFalse(s.get("error"), s.get("error"))
                ev = s["events"]
                main_bad = s.get("status", 200) >= 400
                console = [c for c in ev["console"]
                           if not (main_bad and c["text"].startswith("Failed to load resource")
                                   and c["url"].split("?")[0] == s["page"]["url"].split("?")[0])]
                self.assertEqual(console, [], "console errors on %s" % s["page"]["url"])
                self.assertEqual(ev["pageerrors"], [])
                self.assertEqual(ev["failed"], [], "failed requests")
                self.assertEqual([b for b in ev["bad"] if not b["nav"]], [],
                                 "subresources answered >= 400")
                self.assertEqual(ev["dialogs"], [], "a dialog opened")
                off = [r["url"] for r in ev["requests"]
                       if not r["url"].startswith(origin) and not r["url"].startswith("data:")]
                self.assertEqual(off, [], "requests off the origin")
                p = s["page"]
                for sc in p["scripts"]:
                    self.assertFalse(sc["inline"], "inline script: %r" % sc["text"])
                    self.assertTrue(sc["src"].startswith(origin + "-/static/"), sc["src"])
                self.assertEqual(p["styles_inline"], 0, "<style> elements")
                self.assertEqual(p["style_attrs"], 0, "style= attributes")
                for css in p["stylesheets"]:
                    self.assertTrue(css.startswith(origin + "-/static/"), css)
                self.assertEqual(p["on_attrs"], [], "on* attributes")
                self.assertEqual(p["js_urls"], [], "javascript: URLs")
                self.assertEqual(p["embeds"], 0, "iframe/object/embed/base/meta http-equiv")
                if s.get("status") in (200, 401, 403):   # crated's own pages
                    self.assertTrue(p["lang"], "<html> without lang")
                    self.assertTrue(p["viewport_meta"], "no <meta name=viewport>")

    def test_headers(self):
        """Every page answers with the contract's CSP, nosniff and
        Referrer-Policy (plain HTTP: what the browser got)."""
        for path in ("/", "/local/", "/local/crates/webdemo", "/mirror/", "/mirror/crates/mir-one",
                     "/-/ops", "/-/signin", "/secret/"):
            with self.subTest(path=path):
                r = self.srv.get(path)
                self.assertIn(r.status, (200, 401), r)
                self.assertEqual(r.header("Content-Security-Policy"), CSP)
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
                self.assertEqual(r.header("Referrer-Policy"), "same-origin")
                self.assertTrue((r.header("Content-Type") or "").startswith("text/html"), r)

    def test_static_assets(self):
        """The pages' style and script: under /-/static/ with a content hash
        in the name, cached for long, the right type, nosniff."""
        p = self.page("anon", "home")
        assets = p["stylesheets"] + [x["src"] for x in p["scripts"] if x["src"]]
        self.assertTrue(p["stylesheets"], "the home page has no stylesheet")
        for url in assets:
            with self.subTest(url=url):
                path = url[len(self.srv.url):]
                self.assertRegex(path, r"^/-/static/[a-z]+\.[0-9A-Za-z_-]{8,}\.(css|js)$")
                r = self.srv.get(path)
                self.assertEqual(r.status, 200, r)
                ctype = r.header("Content-Type") or ""
                self.assertTrue(ctype.startswith("text/css" if path.endswith(".css") else
                                                 "text/javascript"), ctype)
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
                m = re.search(r"max-age=(\d+)", r.header("Cache-Control") or "")
                self.assertTrue(m and int(m.group(1)) >= 86400,
                                "Cache-Control %r" % r.header("Cache-Control"))

    def test_signin_needs_csrf(self):
        """POST /-/signin with a good token but no CSRF field, or a wrong
        one, signs nobody in (plain HTTP)."""
        body = "token=%s" % self.tokens["reader"]
        for extra in ("", "&csrf=0000"):
            with self.subTest(csrf=extra):
                r = self.srv.request("POST", "/-/signin", body=(body + extra).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
                self.assertFalse([c for c in r.header_all("Set-Cookie")
                                  if c.startswith("crated_session=") and "Max-Age=0" not in c],
                                 "signed in without CSRF: %r" % r)
                self.assertIn(r.status, (400, 403), r)

    # the pages -------------------------------------------------------------------

    def test_me(self):
        """/R/me in the frame of the other pages, its copy button working."""
        s = self.step("anon", "me")
        p = s["page"]
        self.assertTrue(self.link_to(p, "/"), "no link home from /local/me")
        self.assertIn("crated token create", p["body_text"])
        self.assertTrue(s["copies"], "no copy button on /local/me")
        for c in s["copies"]:
            self.assertEqual(c["clipboard"], c["expected"], "copy button %s" % c["target"])

    def test_home(self):
        s = self.step("anon", "home")
        p = s["page"]
        for path in ("/local/", "/mirror/", "/local/me", "/mirror/me"):
            self.assertTrue(self.link_to(p, path), "home lacks a link to %s: %r" % (
                path, [a["href"] for a in p["links"]]))
        for path in ("/secret/", "/other/"):
            self.assertFalse(self.link_to(p, path), "anonymous home links %s" % path)
        self.assertIn("hosted", p["body_text"].lower())
        self.assertIn(self.si.base, p["body_text"], "the mirror's upstream URL is not shown")
        # a copy button per configuration, each copying its <pre>
        self.assertTrue(s["copies"], "no button.copy on the home page")
        for c in s["copies"]:
            self.assertIsNotNone(c["expected"], "data-copy=%r names no element" % c["target"])
            self.assertEqual(c["clipboard"], c["expected"], "copy button %s" % c["target"])
        copied = "\n".join(c["clipboard"] for c in s["copies"])
        for reg in ("local", "mirror"):
            self.assertIn('index = "sparse+%s/%s/"' % (self.srv.url, reg), copied)
        self.assertNotIn("/secret/", copied)
        # what `crated cargo-config` prints for this server, line for line
        rc, out, err = harness.run_crated(["cargo-config", "--config", self.cfg, "--url",
                                           self.srv.url], env=harness.cli_env())
        self.assertEqual(rc, 0, err)
        want = {l.strip() for l in out.splitlines() if l.strip() and not l.startswith("#")}
        for line in copied.splitlines():
            if line.strip() and not line.startswith("#"):
                self.assertIn(line.strip(), want, "copied line not in crated cargo-config")

    def test_registry_hosted(self):
        p = self.page("anon", "local")
        names = self.names(p)
        self.assertEqual(len(names), 50, names)
        self.assertEqual(names[:3], ["hostile", "webbase", "webdemo"], names)
        self.assertEqual(names, sorted(names))
        demo = [c for c in p["crates"] if c["name"] == "webdemo"][0]
        self.assertEqual(demo["href"], self.srv.url + "/local/crates/webdemo")
        self.assertIn("0.3.0", demo["text"])
        self.assertIn("zebrafish", demo["text"])
        base = [c for c in p["crates"] if c["name"] == "webbase"][0]
        self.assertIn("0.2.0", base["text"])
        forms = [f for f in p["forms"] if f["role"] == "search"]
        self.assertEqual(len(forms), 1, p["forms"])
        self.assertEqual(forms[0]["method"], "get")
        self.assertIn("q", [i["name"] for i in forms[0]["inputs"]])
        self.assertTrue([a for a in p["links"] if "page=2" in a["href"]], "no link to page 2")
        p2 = self.page("anon", "local-page2")
        self.assertEqual(self.names(p2), ["zz-fill-47", "zz-fill-48", "zz-fill-49"])
        rec = self.page("anon", "local-recent")
        self.assertEqual(len(rec["crates"]), 50, self.names(rec))
        slash = self.page("anon", "local-noslash")
        self.assertEqual(slash["url"], self.srv.url + "/local/", "/local did not redirect")

    def test_search(self):
        p = self.page("anon", "search-name")
        self.assertIn("q=webdemo", p["url"])
        # name matches first; webbase's description ("the base of
        # webdemo") matches too: the search is by name and description
        self.assertEqual(self.names(p), ["webdemo", "webbase"])
        p = self.page("anon", "search-desc")
        self.assertEqual(self.names(p), ["webdemo"], "search by description")
        p = self.page("anon", "search-hostile")
        self.assertEqual(self.names(p), [])

    def test_crate_hosted(self):
        s = self.step("anon", "webdemo")
        p = s["page"]
        self.assertEqual([v["version"] for v in p["versions"]], ["0.3.0", "0.2.0"])
        new = self.row(p, "0.3.0")
        self.assertFalse(new["yanked"])
        for want in ("1.70", "MIT OR Apache-2.0", "fast", "with-base", "webbase"):
            self.assertIn(want, new["text"], "0.3.0's row lacks %r" % want)
        self.assertIn(self.srv.url + "/local/crates/webbase", new["links"],
                      "the dependency webbase is not linked")
        # every row has its version's license (not only the selected one's)
        self.assertIn("MIT OR Apache-2.0", self.row(p, "0.2.0")["text"],
                      "0.2.0's row lacks its license")
        toml = [x for x in p["pres"] if x["id"] == "cargo-toml"]
        self.assertEqual(len(toml), 1, p["pres"])
        self.assertIn("webdemo", toml[0]["text"])
        self.assertIn('"0.3.0"', toml[0]["text"])
        self.assertIn('registry = "local"', toml[0]["text"])
        copy = [c for c in s["copies"] if c["target"] == "#cargo-toml"]
        self.assertEqual(len(copy), 1, s["copies"])
        self.assertEqual(copy[0]["clipboard"], toml[0]["text"])
        self.assertIsNotNone(p["readme"], "no article.readme")
        self.assertIn("README of 0.3.0", p["readme"]["text"])
        # GitHub-flavoured: a table, a task list, strikethrough, code
        for tag in ("<table", "<del", "<code", "<input"):
            self.assertIn(tag, p["readme"]["html"], "README lacks %s" % tag)
        self.assertIn("owner", p["body_text"].lower(), "hosted crate page shows no owners")
        old = self.step("anon", "webdemo-v020")
        self.assertIn("README of 0.2.0", old["page"]["readme"]["text"])
        self.assertNotIn("README of 0.3.0", old["page"]["readme"]["text"])

    def test_yanked(self):
        p = self.page("anon", "webbase")
        self.assertTrue(self.row(p, "0.1.0")["yanked"], "0.1.0 is not class=yanked")
        self.assertFalse(self.row(p, "0.2.0")["yanked"])

    def test_hostile_crate(self):
        """The page of a crate whose description and README are hostile:
        checked clean by test_every_page_is_clean (no dialog, script,
        on*, javascript: URL, off-origin request); here the text: shown
        literally or dropped, never as markup."""
        for sid in ("hostile", "hostile-list", "search-hostile"):
            with self.subTest(step=sid):
                p = self.page("anon", sid)
                self.assertEqual([i for i in p["imgs"] if (i or "").rsplit("/", 1)[-1] == "x"],
                                 [], "the <img src=x> came through")
                self.assertFalse([c for c in p["comments"] if "comment" == c.strip()],
                                 "the README's HTML comment came through as a comment")
                self.assertFalse([a for a in p["links"] if "raw anchor" in a["text"]],
                                 "the raw <a> came through")
        p = self.page("anon", "hostile")
        self.assertIn("Plain words stay", p["readme"]["text"])
        self.assertIn("Last words stay", p["readme"]["text"])
        self.assertIn(HOSTILE_DESC, p["body_text"], "the description is not shown literally")
        row = [c for c in self.page("anon", "hostile-list")["crates"] if c["name"] == "hostile"]
        self.assertEqual(len(row), 1)
        self.assertIn(HOSTILE_DESC, row[0]["text"])

    def test_mirror(self):
        p = self.page("anon", "mirror")
        self.assertEqual(self.names(p), ["mir-one"], "mirror lists what is not cached")
        self.assertIn("1.1.0", p["crates"][0]["text"])
        # read from the cached .crate: this visit comes before mir-one's page
        self.assertIn("mirrored crate mir-one", p["crates"][0]["text"])
        self.assertIn("1 version cached", p["crates"][0]["text"])
        s = self.step("anon", "mir-one")
        p = s["page"]
        self.assertEqual(sorted(v["version"] for v in p["versions"]), ["1.0.0", "1.1.0"])
        self.assertNotEqual(self.row(p, "1.1.0")["text"].replace("1.1.0", ""),
                            self.row(p, "1.0.0")["text"].replace("1.0.0", ""),
                            "cached 1.1.0 and uncached 1.0.0 look the same")
        self.assertIsNotNone(p["readme"])
        self.assertIn("README of mirrored mir-one 1.1.0", p["readme"]["text"])
        for c in s["copies"]:
            self.assertEqual(c["clipboard"], c["expected"])

    def test_many_versions(self):
        """A crate of 500 versions: every row, the yanked ones marked, the
        newest not yanked selected; its Server-Timing (the worker's load,
        the loop's render) printed, not asserted."""
        s = self.step("anon", "many")
        p = s["page"]
        self.assertEqual(len(p["versions"]), 500)
        self.assertEqual(p["versions"][0]["version"], "0.49.9")
        self.assertEqual(sum(v["yanked"] for v in p["versions"]), len(range(0, 500, 7)))
        self.assertTrue(self.row(p, "0.0.7")["yanked"])
        # said in words, not only in a lighter grey
        self.assertIn("yanked", self.row(p, "0.0.7")["text"])
        self.assertNotIn("yanked", self.row(p, "0.49.9")["text"])
        self.assertIn("1.70", self.row(p, "0.49.9")["text"])
        self.assertIn("serde", self.row(p, "0.49.9")["text"])
        toml = [x for x in p["pres"] if x["id"] == "cargo-toml"]
        self.assertIn('"0.49.9"', toml[0]["text"])
        server = {t["name"]: t["ms"] for t in p["timing"]["server"]}
        self.assertEqual(sorted(server), ["load", "render"], p["timing"])
        sys.stdout.write("500 versions in the browser: load (worker) %.2f ms, render (loop) "
                         "%.2f ms, document wait %.2f ms, load event %d ms\n" % (
                             server["load"], server["render"], p["timing"]["ttfb_ms"],
                             p["timing"]["load_ms"]))
        for kind, sh in sorted(s["shots"].items()):
            sys.stdout.write("  %s: %s (%s)\n" % (kind, sh["file"], sh["screen"]))

    def test_ops(self):
        """/-/ops is open to all as /-/ready is: the chart and the registries
        the viewer may read; upstream details (URLs, probes) only with
        ops_access or an admin session."""
        p = self.page("anon", "ops-anon")
        self.assertGreaterEqual(p["charts"], 1, "no svg.chart")
        self.assertIn("mirror", p["body_text"])
        self.assertNotIn("secret", p["body_text"], "anonymous ops names an auth_required registry")
        self.assertNotIn(self.si.base, p["body_text"], "anonymous ops shows the upstream URL")
        home = self.page("admin", "home")
        for path in ("/local/", "/mirror/", "/secret/"):
            self.assertTrue(self.link_to(home, path), "admin's home lacks %s" % path)
        p = self.page("admin", "ops")
        self.assertIn("100", p["body_text"], "the mirror's max_cache_bytes (100 MiB) is not shown")
        self.assertIn(self.si.base, p["body_text"], "admin's ops lacks the upstream URL")
        self.assertIn("secret", p["body_text"])
        self.assertGreaterEqual(p["charts"], 1, "no svg.chart")
        self.assertIn("mirror", p["body_text"])
        # labels for people, not /-/ready's JSON keys; counts in grammar
        for key in ("upstream_http2", "upstream_latency_ms", "upstream_state",
                    "negative_entries", "last_ok_at", "[]"):
            self.assertNotIn(key, p["body_text"])
        self.assertIn("HTTP/2 to upstream", p["body_text"])
        self.assertNotRegex(p["body_text"], r"\b1 (hits|misses|requests)\b")

    def test_keyboard(self):
        """Tab reaches the links, inputs and buttons, and each focused one
        shows a focus style."""
        for sid, need in (("home", {"a", "button"}), ("local", {"a", "input"}),
                          ("webdemo", {"a", "button"}), ("mirror", {"a", "input"}),
                          ("admin/ops", {"a"}), ("ops-anon", {"a"}), ("signin-page", {"input", "button"})):
            with self.subTest(page=sid):
                sess, _, sid = sid.rpartition("/")
                tabs = self.step(sess or "anon", sid)["tabs"]
                self.assertTrue(tabs, "Tab focused nothing")
                self.assertLessEqual(need, {t["tag"] for t in tabs}, tabs)
                for t in tabs:
                    visible = ((t["outline_style"] != "none" and
                                float(re.sub("px$", "", t["outline_width"]) or 0) > 0) or
                               t["box_shadow"] not in ("none", ""))
                    self.assertTrue(t["focus_visible"] and visible, "no visible focus: %r" % t)
                    # WCAG 1.4.11: a focus indicator at 3:1 against what is behind it
                    self.assertGreaterEqual(t["ring_contrast"], 3, "faint focus ring: %r" % t)

    def test_screens(self):
        """Each screenshot written (the narrowest phones too where asked);
        no sideways scrolling on a phone; text contrast at least WCAG AA;
        the ops chart's labels at least 12 px, at 320 px wide too."""
        plan = [s for sess in plan_sessions(self.tokens) for s in sess["steps"]]
        shots = {s.get("shot"): s.get("narrow", False) for s in plan if s.get("shot")}
        for (sess, sid), s in sorted(self.steps.items()):
            for kind, sh in sorted((s.get("shots") or {}).items()):
                with self.subTest(step=sid, kind=kind):
                    self.assertTrue(os.path.getsize(sh["file"]) > 1000, sh["file"])
                    self.assertLessEqual(sh["scroll_width"], sh["client_width"],
                                         "the page scrolls sideways")
                    self.assertEqual(sh["low_contrast"], [], "text with too little contrast")
                    if sh.get("chart_label_px") is not None:
                        sys.stdout.write("chart labels %s/%s %s: %.1f px\n" % (
                            sess, sid, kind, sh["chart_label_px"]))
                        self.assertGreaterEqual(sh["chart_label_px"], 12,
                                                "the chart's labels are too small to read")
        self.assertTrue(any("narrow" in (s.get("shots") or {}) and
                            s["shots"]["narrow"].get("chart_label_px") is not None
                            for s in self.steps.values()), "no chart seen at 320 px")
        for name, narrow in shots.items():
            for kind in ("desktop", "phone") + (("narrow",) if narrow else ()):
                f = os.path.join(self.shots, "%s-%s.png" % (name, kind))
                self.assertTrue(os.path.isfile(f), "no screenshot %s" % f)

    # sign-in ---------------------------------------------------------------------

    def test_anonymous_is_asked_to_sign_in(self):
        for sid in ("secret-anon", "secret-crate-anon"):
            with self.subTest(step=sid):
                p = self.page("anon", sid, status=401)
                self.assertTrue(self.link_to(p, "/-/signin") or
                                [a for a in p["links"] if "/-/signin" in a["href"]],
                                "no sign-in link")
                self.assertNotIn("sec-alpha", self.names(p))
                self.assertNotIn("secret alpha", p["body_text"])
        p = self.page("anon", "signin-page")
        f = [f for f in p["forms"] if f["action"] == "/-/signin"]
        self.assertEqual(len(f), 1, p["forms"])
        self.assertEqual(f[0]["method"], "post")
        inputs = {i["name"]: i for i in f[0]["inputs"] if i["name"]}
        self.assertEqual(inputs.get("token", {}).get("type"), "password")
        self.assertIn("csrf", inputs)

    def test_read_token(self):
        s = self.step("reader", "signin", status=None)
        self.assertIn(s["status"], (200,), "sign-in ended at %s" % s["page"]["url"])
        cookies = [c for c in s["cookies"] if c["name"] == "crated_session"]
        self.assertEqual(len(cookies), 1, s["cookies"])
        c = cookies[0]
        self.assertTrue(c["httpOnly"])
        self.assertEqual(c["sameSite"], "Strict")
        self.assertEqual(c["path"], "/")
        self.assertFalse(c["session"], "no Max-Age/Expires")
        self.assertLessEqual(c["expires"] - time.time(), 12 * 3600 + 60, "lives over 12 h")
        self.assertNotIn("crated_session", s["cookie_visible_to_script"])
        home = self.page("reader", "home")
        self.assertTrue(self.link_to(home, "/secret/"), "signed in, home lacks secret")
        self.assertFalse(self.link_to(home, "/other/"), "a secret token sees other on home")
        p = self.page("reader", "secret")
        self.assertEqual(self.names(p), ["sec-alpha", "sec-beta"])
        p = self.page("reader", "sec-alpha")
        self.assertEqual([v["version"] for v in p["versions"]], ["1.0.0"])
        self.assertIn("sec-publisher", p["body_text"], "the owner (token label) is not shown")
        for sid in ("other", "other-crate"):
            with self.subTest(step=sid):
                p = self.page("reader", sid, status=403)
                self.assertNotIn("oth-crate", self.names(p))
                self.assertEqual(p["versions"], [])
                self.assertNotIn("other's crate", p["body_text"])
                self.assertTrue([a for a in p["links"] if "/-/signin" in a["href"]],
                                "403 without a sign-in link")
        # a GET of /-/signout changes nothing
        self.assertNotEqual(self.steps[("reader", "get-signout")].get("status"), 200)
        self.assertEqual(self.names(self.page("reader", "secret-still")), ["sec-alpha", "sec-beta"])
        self.step("reader", "signout")
        self.page("reader", "secret-after", status=401)

    def test_crate_glob(self):
        self.step("glob", "signin")
        p = self.page("glob", "secret")
        self.assertEqual(self.names(p), ["sec-alpha"])
        s = self.steps[("glob", "sec-beta")]
        self.assertIn(s.get("status"), (403, 404), s.get("status"))
        self.assertEqual(s["page"]["versions"], [])
        self.assertNotIn("secret beta", s["page"]["body_text"])
        p = self.page("glob", "search-beta")
        self.assertEqual(self.names(p), [])

    def test_without_javascript(self):
        """With script off: search, the crate page, sign-in and sign-out
        work; copy buttons, which need the script, are not shown."""
        p = self.page("nojs", "home")
        self.assertTrue(p["copy_buttons"], "no copy buttons at all")
        self.assertEqual([b for b in p["copy_buttons"] if b["shown"]], [],
                         "copy buttons shown that cannot work without script")
        self.assertEqual(self.names(self.page("nojs", "search"))[:1], ["webdemo"])
        p = self.page("nojs", "webdemo")
        self.assertEqual([v["version"] for v in p["versions"]], ["0.3.0", "0.2.0"])
        self.assertIn("README of 0.3.0", p["readme"]["text"])
        self.step("nojs", "signin")
        self.assertEqual(self.names(self.page("nojs", "secret")), ["sec-alpha", "sec-beta"])
        self.step("nojs", "signout")
        self.page("nojs", "secret-after", status=401)

    def test_bogus_token(self):
        s = self.steps[("bogus", "signin")]
        self.assertFalse(s.get("error"), s.get("error"))
        self.assertIn(s["status"], (400, 401, 403), s["status"])
        self.assertEqual([c for c in s["cookies"] if c["name"] == "crated_session"], [])
        self.page("bogus", "secret", status=401)

    def test_log_clean(self):
        self.srv.check_log_clean()
        for t in self.tokens.values():
            self.assertNotIn(t, self.srv.log_text(), "a token reached the log")


if __name__ == "__main__":
    harness.main()
