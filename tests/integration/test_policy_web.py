#!/usr/bin/env python3
"""The supply-chain policy on the web pages (issue 28).

A mirror with min_publish_age, a deny rule, a block whose reason is
hostile HTML and an advisory database (a malicious crate, a flagged
vulnerability):

- the crate page shows each version's verdict and its reason: allow
  nothing special; flag, hold and deny a badge with the reason (escaped),
  a hold when it ends; the version selected by default is the one cargo
  would pick (not held, not denied);
- the registry page shows the policy: the minimum age and its exempt
  globs, the deny rules, the blocks with their reasons, the advisory
  snapshot (id, date, count) and what advisories do; a registry without a
  policy says so;
- in Debian's chromium (tests/browser/pages.mjs): the same, with no
  console error and no script of the block's reason run; screenshots of
  both pages at 1280x800 and 390x844 go to $CRATED_TEST_ARTEFACTS/
  policy-web/ (looked at by a person, never asserted on)."""

import html
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import policy_common as P  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402
from test_web_browser import CHROMIUM, DRIVER, artefact_dir, missing_tools  # noqa: E402

NOW = time.time()
REASON = 'incident <b>42</b>: <script>alert("blocked")</script> & co'
EVIL_SUMMARY = 'pw-evil steals <img src=x onerror=alert(1)> tokens'


def rows(text):
    """{version: (the <tr ...> tag, the row's HTML)} of a crate page."""
    out = {}
    for m in re.finditer(r'(<tr data-version="([^"]+)"[^>]*>)(.*?)</tr>', text, re.S):
        out[html.unescape(m.group(2))] = (m.group(1), m.group(3))
    return out


class PolicyWebCase(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        old = NOW - 30 * P.DAY
        for name, vers, t in (("pw-held", "1.0.0", old), ("pw-held", "1.1.0", NOW - P.HOUR),
                              ("pw-deny", "1.0.0", old), ("pw-deny", "1.1.0", old),
                              ("pw-blocked", "2.0.0", old), ("pw-blocked", "2.1.0", old),
                              ("pw-evil", "0.1.0", old), ("pw-vuln", "1.0.0", old),
                              ("pw-vuln", "1.1.0", old)):
            P.add_version(self.tree, name, vers, t)
        self.db = P.write_osv_db(os.path.join(self.tmp, "advisories"), [
            P.osv_advisory("RUSTSEC-2099-0201", "pw-evil", [{"introduced": "0.0.0-0"}],
                           categories=["malicious"], summary=EVIL_SUMMARY),
            P.osv_advisory("RUSTSEC-2099-0202", "pw-vuln", [{"introduced": "0.0.0-0"},
                                                            {"fixed": "1.1.0"}])])
        self.cfg = os.path.join(self.tmp, "crated.toml")
        P.write_cfg(self.cfg, os.path.join(self.tmp, "data"), P.mirror_registry(
            "mirror", "sparse+%s/reg/" % self.si.base, min_age="1 day",
            exempt=["corp-*", "pw-corp-?"], deny=["pw-deny@<1.1.0"], advisory_db=self.db)
            + "[registries.plain]\n")
        self.srv = self.start_crated(config_path=self.cfg, data_dir=os.path.join(self.tmp, "data"))
        rc, out, err = P.block(self.cfg, "pw-blocked@=2.1.0", REASON, registry="mirror")
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(harness.wait_until(
            lambda: (P.yanked(self.srv, "mirror", "pw-blocked") or {}).get("2.1.0") is True, 10))
        for name in ("pw-held", "pw-deny", "pw-evil", "pw-vuln"):
            self.assertEqual(self.srv.get("/mirror/" + index_path(name)).status, 200)
        # the pages read the cache's files, written once the fills are done
        on_disk = [os.path.join(self.tmp, "data", "mirror", "index", index_path(n))
                   for n in ("pw-held", "pw-deny", "pw-blocked", "pw-evil", "pw-vuln")]
        self.assertTrue(harness.wait_until(lambda: all(map(os.path.exists, on_disk)), 10))
        r = self.srv.publish(harness.crate_meta("pl-own", "1.0.0"),
                             harness.make_crate("pl-own", "1.0.0"), reg="plain")
        self.assertEqual(r.status, 200, r)


class PagesTest(PolicyWebCase):

    def page(self, path):
        r = self.srv.get(path)
        self.assertEqual(r.status, 200, r)
        return r.text()

    def test_crate_pages(self):
        text = self.page("/mirror/crates/pw-held")
        rs = rows(text)
        tag, row = rs["1.1.0"]
        self.assertIn('data-verdict="hold"', tag)
        self.assertIn("held", row)
        self.assertIn("min_publish_age", row)
        self.assertIn("held until", row)
        tag, row = rs["1.0.0"]
        self.assertNotIn("data-verdict", tag, "allow is marked")
        self.assertNotRegex(row, r"badge verdict")
        self.assertIn("selected", tag, "the default version is not the one cargo picks")
        self.assertRegex(text, r'<pre id="cargo-toml">pw-held = \{ version = "1\.0\.0"')

        text = self.page("/mirror/crates/pw-blocked")
        tag, row = rows(text)["2.1.0"]
        self.assertIn('data-verdict="deny"', tag)
        self.assertIn("denied", row)
        self.assertIn("incident &lt;b&gt;42&lt;/b&gt;: &lt;script&gt;alert(", row)
        self.assertNotIn("<script>alert", text)
        self.assertNotIn("<b>42</b>", text)
        self.assertNotIn("data-verdict", rows(text)["2.0.0"][0])
        # ?v= still shows a denied version, with its verdict among the facts
        text = self.page("/mirror/crates/pw-blocked?v=2.1.0")
        self.assertRegex(text, r'<dt>Policy</dt><dd class="policy"><span class="badge verdict verdict-deny">')
        self.assertIn("This version is denied by the registry's policy", text)
        text = self.page("/mirror/crates/pw-evil")
        self.assertIn("pw-evil steals &lt;img src=x onerror=alert(1)&gt; tokens", text)
        self.assertNotIn("<img src=x", text)
        self.assertIn("pw-vuln: test advisory", self.page("/mirror/crates/pw-vuln"))

        for name, vers, verdict, what in (("pw-deny", "1.0.0", "deny", "pw-deny@&lt;1.1.0"),
                                          ("pw-evil", "0.1.0", "deny", "RUSTSEC-2099-0201 (malicious)"),
                                          ("pw-vuln", "1.0.0", "flag", "RUSTSEC-2099-0202")):
            with self.subTest(name=name):
                text = self.page("/mirror/crates/" + name)
                tag, row = rows(text)[vers]
                self.assertIn('data-verdict="%s"' % verdict, tag)
                self.assertIn(what, row)
        self.assertNotIn("data-verdict", rows(self.page("/mirror/crates/pw-vuln"))["1.1.0"][0])
        # a hosted registry without a policy: no column, no marks
        text = self.page("/plain/crates/pl-own")
        self.assertNotIn("data-verdict", text)
        self.assertNotIn('<th scope="col">Policy</th>', text)

    def test_registry_page(self):
        text = self.page("/mirror/")
        m = re.search(r'<section class="policy"[^>]*>(.*?)</section>', text, re.S)
        self.assertTrue(m, "no policy section on the registry page")
        sec = m.group(1)
        self.assertIn("Supply-chain policy", sec)
        self.assertIn("1 day", sec)
        self.assertIn("<code>corp-*</code>", sec)
        self.assertIn("<code>pw-corp-?</code>", sec)
        self.assertIn("<code>pw-deny@&lt;1.1.0</code>", sec)
        self.assertIn("<code>pw-blocked@=2.1.0</code>", sec)
        self.assertIn("incident &lt;b&gt;42&lt;/b&gt;", sec)
        self.assertNotIn("<script>", sec)
        snap = re.search(r'<code class="snapshot">(\d{4}-\d\d-\d\d/2/[0-9a-f]{8})</code>', sec)
        self.assertTrue(snap, "no snapshot id: " + sec)
        self.assertIn("2 advisories", sec)
        self.assertIn("2026-08-01", sec)
        self.assertRegex(sec, r"other\s+vulnerabilities: flagged")
        self.assertIn('href="#policy"', text)
        text = self.page("/plain/")
        self.assertRegex(text, r'(?s)<section class="policy none"[^>]*>.*None: every version is'
                         r' served as published')


@unittest.skipIf(missing_tools(), "browser tools missing: %s" % ", ".join(missing_tools()))
class BrowserTest(PolicyWebCase):

    def test_in_chromium(self):
        shots = artefact_dir("policy-web")
        for f in os.listdir(shots):
            if f.endswith(".png"):
                os.remove(os.path.join(shots, f))
        steps = [{"op": "visit", "id": "held", "path": "/mirror/crates/pw-held", "shot": "crate-held"},
                 {"op": "visit", "id": "blocked", "path": "/mirror/crates/pw-blocked?v=2.1.0",
                  "shot": "crate-blocked"},
                 {"op": "visit", "id": "vuln", "path": "/mirror/crates/pw-vuln?v=1.0.0",
                  "shot": "crate-flagged"},
                 {"op": "visit", "id": "registry", "path": "/mirror/", "shot": "registry"}]
        plan = {"chromium": CHROMIUM, "origin": self.srv.url, "shots": shots, "timeout_ms": 60000,
                "watchdog_ms": 200000, "sessions": [{"name": "anon", "steps": steps}]}
        path = os.path.join(self.tmp, "plan.json")
        with open(path, "w") as f:
            json.dump(plan, f)
        p = subprocess.run(["node", DRIVER, path], capture_output=True, timeout=240,
                           stdin=subprocess.DEVNULL, env=harness.clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-4000:])
        result = json.loads(p.stdout.decode())
        with open(os.path.join(shots, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        sys.stdout.write("screenshots in %s: %s\n" % (shots, sorted(os.listdir(shots))))
        got = {s["id"]: s for s in result["sessions"][0]["steps"]}
        for sid, s in got.items():
            with self.subTest(step=sid):
                self.assertFalse(s.get("error"), s.get("error"))
                self.assertEqual(s.get("status"), 200)
                ev = s["events"]
                self.assertEqual(ev["console"], [])
                self.assertEqual(ev["pageerrors"], [])
                self.assertEqual(ev["dialogs"], [], "the block's reason ran as script")
                self.assertEqual(s["page"]["on_attrs"], [])
                for kind, sh in sorted((s.get("shots") or {}).items()):
                    self.assertTrue(os.path.getsize(sh["file"]) > 1000, sh["file"])
                    self.assertLessEqual(sh["scroll_width"], sh["client_width"],
                                         "%s: the page scrolls sideways" % kind)
                    self.assertEqual(sh["low_contrast"], [], "%s: too little contrast" % kind)
        held = {v["version"]: v for v in got["held"]["page"]["versions"]}
        self.assertIn("held", held["1.1.0"]["text"])
        self.assertNotIn("held", held["1.0.0"]["text"])
        blocked = got["blocked"]["page"]["body_text"]
        self.assertIn('incident <b>42</b>: <script>alert("blocked")</script> & co', blocked,
                      "the reason is not shown as text")
        reg = got["registry"]["page"]["body_text"]
        self.assertIn("Supply-chain policy", reg)
        self.assertIn("pw-deny@<1.1.0", reg)


if __name__ == "__main__":
    harness.main()
