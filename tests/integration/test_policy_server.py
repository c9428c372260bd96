#!/usr/bin/env python3
"""The supply-chain policy, server side (issue 28), over plain HTTP.

A stand-in upstream serves index lines whose `pubtime`s are computed
relative to now (some days old, one minutes old, one a few seconds old),
lines without pubtime, and .crate files; crated mirrors it with a policy.
Checked:

* no policy: index files are served byte for byte as before (the same
  bytes and ETag as the upstream's file, for a mirror and a hosted
  registry), no `policy` in /-/ready, no policy metrics family;
* a held line says "yanked": true with every other byte unchanged, its
  .crate stays downloadable; the ETag is the served bytes' own; a 304 is
  given for the current ETag and never for one whose verdict changed
  (If-None-Match; If-Modified-Since is never honoured under a policy);
  Cache-Control stays max-age=0; a hold a few seconds long ends by
  itself (the cached filtered file lives until next_change, not longer);
* `crated block` / `crated unblock` reach a running server (403 with the
  reason, index line yanked, audit line in the log), survive a restart,
  and a bad name or requirement changes nothing and exits non-zero;
* `crated policy explain` with the server running and stopped;
* advisories: a malicious advisory denies (403, never fetched upstream),
  a SIGHUP reloads a changed snapshot, a bad one is logged and the old
  one kept, `crated advisories import` installs one a running server
  picks up;
* first-seen times: a version without pubtime that appears after the
  first fill is held from when crated saw it, durably (after a restart);
* misconfiguration stops the start with the key and the value named;
* crated_policy_verdicts_total and /-/ready's policy member.
"""

import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

DAY = 86400


def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def line(name, vers, cksum, pubtime=None, yanked=False):
    d = {"name": name, "vers": vers, "deps": [], "cksum": cksum,
         "features": {}, "yanked": yanked, "links": None, "v": 1}
    if pubtime is not None:
        d["pubtime"] = stamp(pubtime)
    return json.dumps(d, separators=(",", ":"))


def etag_of(body):
    return '"%s"' % S.sha256_hex(body)[:32]


def osv(adv_id, crate, categories=(), fixed=None, withdrawn=None, summary=None):
    events = [{"introduced": "0.0.0-0"}]
    if fixed:
        events.append({"fixed": fixed})
    doc = {"id": adv_id, "modified": "2026-08-01T00:00:00Z",
           "published": "2026-08-01T00:00:00Z",
           "summary": summary or "%s is bad" % crate,
           "affected": [{"package": {"ecosystem": "crates.io", "name": crate},
                         "database_specific": {"categories": list(categories),
                                               "informational": None},
                         "ranges": [{"type": "SEMVER", "events": events}]}]}
    if withdrawn:
        doc["withdrawn"] = withdrawn
    return json.dumps(doc)


def write_osv(root, advisories):
    os.makedirs(os.path.join(root, "crates"), exist_ok=True)
    for adv_id, text in advisories.items():
        tmp = os.path.join(root, "crates", adv_id + ".json.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(root, "crates", adv_id + ".json"))


class Upstream:
    """A stand-in registry at /reg/ whose lines carry what the test says."""

    def __init__(self):
        self.si = S.StandIn()
        self.lines = {}
        self.crates = {}
        self.si.put_file("/reg/config.json", json.dumps(
            {"dl": self.si.base + "/dl/{crate}/{version}"}), "application/json")

    def add(self, name, vers, pubtime=None, yanked=False):
        crate = harness.make_crate(name, vers)
        self.crates[(name, vers)] = crate
        self.lines.setdefault(name, []).append(
            line(name, vers, S.sha256_hex(crate), pubtime, yanked))
        self.si.put_file("/dl/%s/%s" % (name, vers), crate, "application/octet-stream")
        self.si.put_file("/reg/" + index_path(name), self.body(name))

    def body(self, name):
        return ("\n".join(self.lines[name]) + "\n").encode()

    def downloads(self, name, vers):
        return self.si.count("/dl/%s/%s" % (name, vers))


def served_lines(resp):
    return [json.loads(l) for l in resp.body.decode().split("\n") if l.strip()]


def yanked_of(resp):
    return {d["vers"]: d["yanked"] for d in served_lines(resp)}


class PolicyCase(harness.TestCase):
    POLICY = ""             # lines of the mirror's section
    TOP = ""                # top-level lines

    def setUp(self):
        super().setUp()
        self.up = Upstream()
        self.addCleanup(self.up.si.stop)
        self.now = int(time.time())
        self.fill_upstream()
        self.cfg_path = None
        self.crated = self.start()

    def fill_upstream(self):
        up, now = self.up, self.now
        up.add("old-crate", "1.0.0", now - 30 * DAY)
        up.add("old-crate", "1.1.0", now - 10 * DAY)
        up.add("old-crate", "1.2.0", now - 600)     # 10 minutes old
        up.add("evil-crate", "0.1.0", now - 40 * DAY)
        up.add("vuln-crate", "1.0.0", now - 40 * DAY)
        up.add("vuln-crate", "1.2.0", now - 30 * DAY)

    def registries(self):
        return ("[registries.m]\nupstream = \"sparse+%s/reg/\"\nindex_ttl = 1\n%s\n"
                "[registries.local]\n" % (self.up.si.base, self.POLICY))

    def start(self, **kw):
        c = self.start_crated(registries=self.registries(), config_extra=self.TOP, **kw)
        self.cfg_path = c.config_path
        return c

    def restart(self):
        self.crated.stop()
        self.crated = self.start()

    def index(self, name, headers=None, reg="m"):
        return self.crated.get("/%s/%s" % (reg, index_path(name)), headers=headers)

    def download(self, name, vers, reg="m"):
        return self.crated.get("/%s/api/v1/crates/%s/%s/download" % (reg, name, vers))

    def cli(self, *args):
        return harness.run_crated(list(args) + ["--config", self.cfg_path],
                                  env=harness.cli_env())

    def wait_index(self, name, pred, what, timeout=10):
        last = [None]

        def ok():
            last[0] = self.index(name)
            return last[0].status == 200 and pred(last[0])
        if not harness.wait_until(ok, timeout):
            self.fail("%s: last answer %r\n%s" % (what, last[0], self.crated.log_tail()))
        return last[0]


class TestNoPolicy(PolicyCase):
    """A registry without a policy serves what it did before."""

    def test_byte_identical(self):
        for name in ("old-crate", "evil-crate"):
            r = self.index(name)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, self.up.body(name))
            self.assertEqual(r.header("ETag"), etag_of(r.body))
            self.assertEqual(r.header("Cache-Control"), "public, max-age=0, must-revalidate")
            # both validators work as before: a date too
            lm = r.header("Last-Modified")
            r2 = self.index(name, {"If-Modified-Since": lm})
            self.assertEqual(r2.status, 304, r2)
        r = self.download("old-crate", "1.2.0")
        self.assertEqual(r.status, 200, r)
        ready = self.crated.get("/-/ready").json()
        for reg in ready["registries"]:
            self.assertNotIn("policy", reg)
        harness.metrics(self.crated, clean=True)
        self.assertNotIn("crated_policy_verdicts_total", self.crated.get("/-/metrics").text())

    def test_hosted_byte_identical(self):
        self.crated.publish_simple("hosted-one", "1.0.0")
        r = self.index("hosted-one", reg="local")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("ETag"), etag_of(r.body))
        self.assertNotIn(b'"yanked":true', r.body)


class TestAgeHold(PolicyCase):
    POLICY = 'min_publish_age = "1 hour"\n'

    def test_held_line_and_validators(self):
        r = self.index("old-crate")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(yanked_of(r), {"1.0.0": False, "1.1.0": False, "1.2.0": True})
        # every other byte as the upstream wrote it
        want = self.up.body("old-crate").replace(
            b'"vers":"1.2.0","deps":[],"cksum":"%s","features":{},"yanked":false'
            % S.sha256_hex(self.up.crates[("old-crate", "1.2.0")]).encode(),
            b'"vers":"1.2.0","deps":[],"cksum":"%s","features":{},"yanked":true'
            % S.sha256_hex(self.up.crates[("old-crate", "1.2.0")]).encode())
        self.assertEqual(r.body, want)
        self.assertEqual(r.header("ETag"), etag_of(r.body))
        self.assertNotEqual(r.header("ETag"), etag_of(self.up.body("old-crate")))
        self.assertEqual(r.header("Cache-Control"), "public, max-age=0, must-revalidate")
        # the current ETag: 304; the upstream's (unfiltered) ETag: 200
        self.assertNotModified(self.index("old-crate", {"If-None-Match": r.header("ETag")}),
                               r.header("ETag"))
        r2 = self.index("old-crate", {"If-None-Match": etag_of(self.up.body("old-crate"))})
        self.assertEqual(r2.status, 200, r2)
        # a date never gets a 304 under a policy
        r3 = self.index("old-crate", {"If-Modified-Since": r.header("Last-Modified")})
        self.assertEqual(r3.status, 200, r3)
        # gzip: its own ETag, the same lines
        g = self.index("old-crate", {"Accept-Encoding": "gzip"})
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.header("Content-Encoding"), "gzip")
        import gzip
        self.assertEqual(gzip.decompress(g.body), r.body)
        self.assertNotModified(self.index("old-crate", {"Accept-Encoding": "gzip",
                                                         "If-None-Match": g.header("ETag")}),
                               g.header("ETag"))
        # a held .crate stays downloadable
        d = self.download("old-crate", "1.2.0")
        self.assertEqual(d.status, 200, d)
        self.assertEqual(d.body, self.up.crates[("old-crate", "1.2.0")])
        # counted and logged
        ex = harness.metrics(self.crated, clean=True)
        self.assertGreaterEqual(ex.get("crated_policy_verdicts_total", registry="m",
                                       verdict="hold", source="age"), 1)
        harness.wait_log(self.crated, r"registry m: policy: served the index file of"
                         r" old-crate 1\.2\.0 hold")
        ready = self.crated.get("/-/ready").json()
        pol = [g for g in ready["registries"] if g["name"] == "m"][0]["policy"]
        self.assertIn("held", pol["summary"])
        self.assertIsNone(pol["advisories"])
        self.assertNotIn("policy", [g for g in ready["registries"] if g["name"] == "local"][0])


class TestHoldEnds(PolicyCase):
    """A hold of a few seconds: the filtered file is cached until the hold
    ends, then made again; the old ETag no longer gets a 304."""
    POLICY = 'min_publish_age = "4 seconds"\n'

    def fill_upstream(self):
        self.up.add("fresh", "1.0.0", self.now - DAY)
        self.up.add("fresh", "2.0.0", self.now)

    def test_hold_expires(self):
        r = self.index("fresh")
        self.assertEqual(r.status, 200, r)
        if not yanked_of(r)["2.0.0"]:
            self.skipTest("the machine took over 4 s to answer the first request")
        held_etag = r.header("ETag")
        r = self.wait_index("fresh", lambda x: not yanked_of(x)["2.0.0"],
                            "the hold of fresh 2.0.0 did not end")
        self.assertEqual(r.body, self.up.body("fresh"))
        self.assertEqual(r.header("ETag"), etag_of(r.body))
        self.assertNotEqual(r.header("ETag"), held_etag)
        r2 = self.index("fresh", {"If-None-Match": held_etag})
        self.assertEqual(r2.status, 200, r2)
        self.assertFalse(yanked_of(r2)["2.0.0"])


class TestBlocks(PolicyCase):

    def test_block_unblock_live_and_restart(self):
        r = self.index("old-crate")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.up.body("old-crate"))   # no policy yet
        etag0 = r.header("ETag")
        blocks = os.path.join(self.crated.data_dir, "policy", "blocks.json")
        # bad input changes nothing
        for bad in ("old-crate@<<1", "Old Crate", "0day@1", "old-crate@"):
            rc, out, err = self.cli("block", bad, "--reason", "bad input")
            self.assertNotEqual(rc, 0, (bad, out, err))
            self.assertIn("nothing changed", err)
            self.assertFalse(os.path.exists(blocks), bad)
        rc, out, err = self.cli("block", "old-crate@<1.1", "--reason", "")
        self.assertNotEqual(rc, 0)
        self.assertIn("reason", err)
        rc, out, err = self.cli("block", "old-crate@<1.1", "--reason", "compromised build",
                                "--registry", "nope")
        self.assertEqual(rc, 2, err)
        self.assertIn("no registry", err)
        # a block reaches the running server
        rc, out, err = self.cli("block", "old-crate@<1.1", "--reason", "compromised build")
        self.assertEqual(rc, 0, err)
        self.assertIn("the running crated applies it now", out)
        self.wait_index("old-crate", lambda x: yanked_of(x)["1.0.0"], "block not applied")
        d = self.download("old-crate", "1.0.0")
        self.assertEqual(d.status, 403, d)
        detail = self.assertErrors(d, (403,))
        self.assertIn("blocked by policy", detail)
        self.assertIn("compromised build", detail)
        self.assertEqual(self.up.downloads("old-crate", "1.0.0"), 0)
        r = self.index("old-crate", {"If-None-Match": etag0})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(yanked_of(r), {"1.0.0": True, "1.1.0": False, "1.2.0": False})
        harness.wait_log(self.crated, r"audit: policy op=block rule=old-crate@<1\.1 registry=\*")
        harness.wait_log(self.crated, r"refused the download of old-crate 1\.0\.0")
        ex = harness.metrics(self.crated, clean=True)
        self.assertEqual(ex.get("crated_policy_verdicts_total", registry="m", verdict="deny",
                                source="block"), 1 + 2)   # the download, two index answers
        # kept across a restart
        self.restart()
        self.assertEqual(self.download("old-crate", "1.0.0").status, 403)
        self.assertEqual(self.download("old-crate", "1.1.0").status, 200)
        # unblock, live
        rc, out, err = self.cli("unblock", "old-crate@ < 1.1")
        self.assertEqual(rc, 0, err)
        self.wait_index("old-crate", lambda x: not yanked_of(x)["1.0.0"], "unblock not applied")
        self.assertEqual(self.download("old-crate", "1.0.0").status, 200)
        harness.wait_log(self.crated, r"audit: policy op=unblock rule=old-crate@<1\.1")
        rc, out, err = self.cli("unblock", "old-crate@<1.1")
        self.assertEqual(rc, 1)
        self.assertIn("no block", err)
        # no policy left: the file as the upstream has it, same ETag
        r = self.index("old-crate")
        self.assertEqual(r.body, self.up.body("old-crate"))
        self.assertEqual(r.header("ETag"), etag0)

    def test_block_while_stopped_is_audited_at_start(self):
        self.crated.stop()
        rc, out, err = self.cli("block", "evil-crate", "--reason", "typosquat",
                                "--registry", "m")
        self.assertEqual(rc, 0, err)
        self.assertIn("applies at its start", out)
        self.crated = self.start()
        harness.wait_log(self.crated, r"audit: policy op=block rule=evil-crate registry=m")
        self.assertEqual(self.download("evil-crate", "0.1.0").status, 403)
        # logged once: another restart does not repeat it
        self.restart()
        self.assertNotIn("op=block", self.crated.log_text())


class TestExplain(PolicyCase):
    POLICY = 'min_publish_age = "1 hour"\ndeny = ["vuln-crate@<1.1"]\n'

    def test_explain_running_and_stopped(self):
        self.assertEqual(self.index("old-crate").status, 200)
        self.assertTrue(harness.wait_until(lambda: os.path.exists(os.path.join(
            self.crated.data_dir, "m", "index", index_path("old-crate"))), 5))
        for running in (True, False):
            if not running:
                self.crated.stop()
            rc, out, err = self.cli("policy", "explain", "old-crate", "1.2.0", "--registry", "m")
            self.assertEqual(rc, 0, err)
            self.assertIn("verdict:    hold", out)
            self.assertIn("source:     age", out)
            self.assertIn("the index line's pubtime", out)
            self.assertIn(stamp(self.now - 600), out)
            self.assertIn("hold ends:  %s" % stamp(self.now - 600 + 3600), out)
            rc, out, err = self.cli("policy", "explain", "vuln-crate", "1.0.0", "--registry", "m")
            self.assertEqual(rc, 0, err)
            self.assertIn("verdict:    deny", out)
            self.assertIn("vuln-crate@<1.1", out)
            rc, out, err = self.cli("policy", "explain", "old-crate", "1.0.0")
            self.assertEqual(rc, 0, err)
            self.assertIn("registry:   m (mirror)", out)
            self.assertIn("registry:   local (hosted)", out)
            self.assertIn("verdict:    allow", out)
        rc, out, err = self.cli("policy", "explain", "old-crate", "not-a-version")
        self.assertEqual(rc, 2)


class TestAdvisories(PolicyCase):
    def setUp(self):
        harness.TestCase.setUp(self)
        self.db = os.path.join(self.tmp, "advisory-db")
        write_osv(self.db, {
            "RUSTSEC-2025-0147": osv("RUSTSEC-2025-0147", "evil-crate", ["malicious"],
                                     summary="evil-crate steals credentials"),
            "RUSTSEC-2025-0200": osv("RUSTSEC-2025-0200", "vuln-crate", ["memory-corruption"],
                                     fixed="1.1.0"),
        })
        self.POLICY = 'advisory_db = "%s"\n' % self.db
        self.up = Upstream()
        self.addCleanup(self.up.si.stop)
        self.now = int(time.time())
        self.fill_upstream()
        self.crated = self.start()

    def ready_policy(self):
        ready = self.crated.get("/-/ready").json()
        return [g for g in ready["registries"] if g["name"] == "m"][0].get("policy")

    def test_malicious_denied_flag_served(self):
        r = self.index("evil-crate")
        self.assertEqual(yanked_of(r), {"0.1.0": True})
        d = self.download("evil-crate", "0.1.0")
        self.assertEqual(d.status, 403, d)
        detail = self.assertErrors(d, (403,))
        self.assertIn("blocked by policy: RUSTSEC-2025-0147 (malicious)", detail)
        self.assertEqual(self.up.downloads("evil-crate", "0.1.0"), 0)
        # flag: served as it is, counted
        r = self.index("vuln-crate")
        self.assertEqual(r.body, self.up.body("vuln-crate"))
        self.assertEqual(r.header("ETag"), etag_of(r.body))
        self.assertNotModified(self.index("vuln-crate", {"If-None-Match": r.header("ETag")}),
                               r.header("ETag"))
        self.assertEqual(self.download("vuln-crate", "1.0.0").status, 200)
        ex = harness.metrics(self.crated, clean=True)
        self.assertEqual(ex.get("crated_policy_verdicts_total", registry="m",
                                verdict="flag", source="advisory"), 2)
        self.assertEqual(ex.get("crated_policy_verdicts_total", registry="m",
                                verdict="deny", source="advisory"), 2)
        pol = self.ready_policy()
        self.assertEqual(pol["advisories"]["count"], 2)
        self.assertRegex(pol["advisories"]["id"], r"^2026-08-01/2/[0-9a-f]{8}$")
        self.assertEqual(pol["advisories"]["date"], "2026-08-01")
        rc, out, err = self.cli("policy", "explain", "evil-crate", "0.1.0", "--registry", "m")
        self.assertEqual(rc, 0, err)
        self.assertIn("RUSTSEC-2025-0147", out)
        self.assertIn("evil-crate steals credentials", out)
        self.assertIn("malicious", out)

    def test_sighup_reload_and_bad_snapshot(self):
        self.assertEqual(self.download("old-crate", "1.0.0").status, 200)
        write_osv(self.db, {"RUSTSEC-2026-0001": osv("RUSTSEC-2026-0001", "old-crate",
                                                     ["malicious"])})
        self.crated.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.ready_policy()["advisories"]["count"] == 3, 10)
        self.assertEqual(self.ready_policy()["advisories"]["count"], 3)
        self.assertEqual(self.download("old-crate", "1.0.0").status, 403)
        # a snapshot that no longer loads: logged, the old one kept
        with open(os.path.join(self.db, "crates", "RUSTSEC-2026-0002.json"), "w") as f:
            f.write("{ not json")
        self.crated.proc.send_signal(signal.SIGHUP)
        harness.wait_log(self.crated, r"registry m: advisory snapshot .*RUSTSEC-2026-0002.*keeping")
        pol = self.ready_policy()
        self.assertEqual(pol["advisories"]["count"], 3)
        self.assertIn("RUSTSEC-2026-0002", pol["advisories_error"])
        self.assertEqual(self.download("old-crate", "1.0.0").status, 403)
        # and a start with it fails, naming the key
        self.crated.stop()
        rc, out, err = harness.run_crated(["serve", "--config", self.cfg_path], timeout=30,
                                          env=harness.cli_env())
        self.assertNotEqual(rc, 0)
        self.assertIn("registries.m.advisory_db", err)
        self.assertIn("RUSTSEC-2026-0002", err)

    def test_import_reaches_running_server(self):
        other = os.path.join(self.tmp, "newer-db")
        write_osv(other, {"RUSTSEC-2026-0100": osv("RUSTSEC-2026-0100", "old-crate",
                                                   ["malicious"])})
        rc, out, err = self.cli("advisories", "import", other)
        self.assertEqual(rc, 0, err)
        self.assertIn("read by: m", out)
        self.assertTrue(os.path.exists(os.path.join(self.crated.data_dir, "policy",
                                                    "advisories.tar.gz")))
        harness.wait_until(lambda: self.ready_policy()["advisories"]["count"] == 1, 10)
        self.assertEqual(self.ready_policy()["advisories"]["count"], 1)
        self.assertEqual(self.download("old-crate", "1.1.0").status, 403)
        self.assertEqual(self.download("evil-crate", "0.1.0").status, 200)  # not in it
        # a bad file is refused, nothing changes
        bad = os.path.join(self.tmp, "bad.tar.gz")
        with open(bad, "wb") as f:
            f.write(b"not a tarball")
        inst = os.path.join(self.crated.data_dir, "policy", "advisories.tar.gz")
        with open(inst, "rb") as f:
            before = f.read()
        rc, out, err = self.cli("advisories", "import", bad)
        self.assertEqual(rc, 1)
        self.assertIn("nothing installed", err)
        with open(inst, "rb") as f:
            self.assertEqual(f.read(), before)
        # a tarball of the real snapshot, when the shared data is here
        real = os.path.join(os.environ.get("CRATED_SHARED_DATA", "/work/shared/data"),
                            "rustsec-advisory-db-osv-2026-08-21.tar.gz")
        if not os.path.exists(real):
            return
        rc, out, err = self.cli("advisories", "import", real)
        self.assertEqual(rc, 0, err)
        m = re.search(r": (2026-08-21/(\d+)/[0-9a-f]{8}), \d+ advisories", out)
        self.assertIsNotNone(m, out)
        n = int(m.group(2))
        self.assertGreaterEqual(n, 1205)
        harness.wait_until(lambda: self.ready_policy()["advisories"]["count"] == n, 20)
        self.assertEqual(self.ready_policy()["advisories"]["id"], m.group(1))
        self.assertEqual(self.download("evil-crate", "0.1.0").status, 200)
        # tree-sitter-pkl is one of the snapshot's malicious crates
        rc, out, err = self.cli("policy", "explain", "tree-sitter-pkl", "1.0.0",
                                "--registry", "m")
        self.assertIn("verdict:    deny", out)
        self.assertIn("RUSTSEC-2025-0156", out)


class TestFirstSeen(PolicyCase):
    POLICY = 'min_publish_age = "1 hour"\n'

    def fill_upstream(self):
        self.up.add("nopub", "1.0.0")          # no pubtime: old at the first fill

    def test_first_seen_holds_new_versions(self):
        r = self.index("nopub")
        self.assertEqual(yanked_of(r), {"1.0.0": False})
        seen = os.path.join(self.crated.data_dir, "m", "seen", index_path("nopub"))
        self.assertFalse(os.path.exists(seen))
        self.up.add("nopub", "1.1.0")
        r = self.wait_index("nopub", lambda x: "1.1.0" in yanked_of(x),
                            "the new version never showed")
        self.assertEqual(yanked_of(r), {"1.0.0": False, "1.1.0": True})
        with open(seen) as f:
            rec = json.load(f)
        self.assertEqual(list(rec["versions"]), ["1.1.0"])
        self.assertLessEqual(abs(rec["versions"]["1.1.0"] - time.time()), 60)
        self.assertEqual(self.download("nopub", "1.1.0").status, 200)
        rc, out, err = self.cli("policy", "explain", "nopub", "1.1.0", "--registry", "m")
        self.assertIn("when crated first saw it", out)
        self.restart()
        self.assertEqual(yanked_of(self.index("nopub")), {"1.0.0": False, "1.1.0": True})


class TestHostedFromDisk(harness.TestCase):
    """A hosted registry with a policy and a memory cache too small for its
    file: once the policy is known to leave the file as it is, it is
    served from disk as without a policy (kept open, sendfile), and still
    never with a 304 for a date; a block changes what is served."""

    def test_same_file_from_disk(self):
        c = self.start_crated(config_extra='memory_cache_bytes = 4096\n'
                              'deny = ["zzz-other"]\n')
        for i in range(8):
            r, _ = c.publish_simple("disk-one", "1.0.%d" % i)
            self.assertEqual(r.status, 200, r)
        path = "/local/" + index_path("disk-one")
        disk = os.path.join(c.data_dir, "local", "index", index_path("disk-one"))
        with open(disk, "rb") as f:
            body = f.read()
        self.assertGreater(len(body), 1500)
        for gz in (False, True):
            hdrs = {"Accept-Encoding": "gzip"} if gz else {}
            first = c.get(path, hdrs)
            self.assertEqual(first.status, 200, first)
            second = c.get(path, hdrs)
            self.assertEqual(second.status, 200, second)
            self.assertEqual(second.body, first.body)
            self.assertEqual(second.header("ETag"), first.header("ETag"))
            if not gz:
                self.assertEqual(second.body, body)
                self.assertEqual(second.header("ETag"), etag_of(body))
            self.assertNotModified(c.get(path, dict(hdrs, **{"If-None-Match":
                                                              second.header("ETag")})),
                                   second.header("ETag"))
            r = c.get(path, dict(hdrs, **{"If-Modified-Since": second.header("Last-Modified")}))
            self.assertEqual(r.status, 200, r)
        self.assertIn(disk, c.open_files())         # answered from the file
        rc, out, err = harness.run_crated(["block", "disk-one@=1.0.3", "--reason", "bad",
                                           "--config", c.config_path], env=harness.cli_env())
        self.assertEqual(rc, 0, err)
        last = [None]

        def blocked():
            last[0] = c.get(path, {"If-None-Match": etag_of(body)})
            return last[0].status == 200 and b'"vers":"1.0.3"' in last[0].body and \
                yanked_of(last[0])["1.0.3"]
        self.assertTrue(harness.wait_until(blocked, 10), last[0])
        self.assertEqual(sum(yanked_of(last[0]).values()), 1)
        self.assertEqual(last[0].header("ETag"), etag_of(last[0].body))
        rc, out, err = harness.run_crated(["unblock", "disk-one", "--config", c.config_path],
                                          env=harness.cli_env())
        self.assertNotEqual(rc, 0)      # that rule was not blocked
        rc, out, err = harness.run_crated(["unblock", "disk-one@=1.0.3", "--config",
                                           c.config_path], env=harness.cli_env())
        self.assertEqual(rc, 0, err)

        def back():
            last[0] = c.get(path)
            return last[0].status == 200 and last[0].body == body
        self.assertTrue(harness.wait_until(back, 10), last[0])
        self.assertEqual(last[0].header("ETag"), etag_of(body))


class TestBadConfig(harness.TestCase):
    def serve(self, section, top=""):
        path = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                    os.path.join(self.tmp, "data"), extra=top,
                                    registries=section)
        return harness.run_crated(["serve", "--config", path], cwd=self.tmp, timeout=30,
                                  env=harness.cli_env())

    def test_refused_at_start(self):
        cases = [
            ('[registries.local]\nmin_publish_age = "7 dayz"\n', "", "min_publish_age", "7 dayz"),
            ('[registries.local]\nmin_publish_age = "-1 day"\n', "", "min_publish_age", "-1 day"),
            ('[registries.local]\ndeny = ["foo@<<1"]\n', "", "deny", "foo@<<1"),
            ('[registries.local]\ndeny = ["-foo"]\n', "", "deny", "-foo"),
            ('[registries.local]\nadvisory_action = "block"\n', "", "advisory_action", "flag"),
            ('[registries.local]\nmin_publish_age_exempt = ["a/b"]\n', "",
             "min_publish_age_exempt", "a/b"),
            ('[registries.local]\n', 'advisory_db = "%s/none"\n' % self.tmp,
             "registries.local.advisory_db", "none"),
            ('[registries.local]\n', 'min_publish_age = "3 fortnights"\n',
             "min_publish_age", "3 fortnights"),
        ]
        for section, top, key, value in cases:
            rc, out, err = self.serve(section, top)
            self.assertNotEqual(rc, 0, (section, top, err))
            self.assertIn(key, err, (section, top))
            self.assertIn(value, err, (section, top))

    def test_check_reports_policy(self):
        db = os.path.join(self.tmp, "db")
        write_osv(db, {"RUSTSEC-2025-0147": osv("RUSTSEC-2025-0147", "evil-crate",
                                                ["malicious"])})
        path = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                    os.path.join(self.tmp, "data"),
                                    extra='min_publish_age = "7 days"\nadvisory_db = "%s"\n' % db,
                                    registries='[registries.local]\n[registries.two]\n'
                                               'min_publish_age = "0"\n')
        rc, out, err = harness.run_crated(["check", "--config", path], env=harness.cli_env())
        self.assertEqual(rc, 0, out + err)
        self.assertIn("local: policy: Versions published less than 7 days ago are held"
                      " (served yanked; this registry's own publishes are not)", out)
        self.assertIn("local: advisories: %s: 2026-08-01/1/" % db, out)
        self.assertIn("two: policy: RustSec advisories", out)
        self.assertNotIn("two: policy: Versions", out)


if __name__ == "__main__":
    harness.main()
