#!/usr/bin/env python3
"""The supply-chain policy with real cargo (issue 28).

A crated mirror of a stand-in upstream whose index lines carry pubtimes
(some versions days old, one an hour old, one in the future, some without
a pubtime or with a malformed one), with `min_publish_age`, deny rules,
run-time blocks and advisory databases (written here in the OSV layout,
and the real RustSec snapshots of 2026-08-21):

- hold: the hour-old version is skipped by `cargo generate-lockfile` (the
  older one is chosen), a Cargo.lock pinning it still builds with
  `--locked`, and once min_publish_age is shortened (SIGHUP) cargo, with
  the same CARGO_HOME, is offered it again: the filtered file's ETag
  changed, so cargo's revalidation got the new bytes;
- deny (a rule, `crated block`, a malicious advisory): the line is yanked
  and the download answers 403 with a reason cargo prints
  (`blocked by policy: RUSTSEC-...`); the upstream is never asked for it;
- flag (a vulnerability that is not malicious): resolves and downloads as
  usual, and is reported (`crated policy explain`, /-/metrics);
- a hosted registry's own publishes are not held by age;
- odd input: malformed pubtimes, one in the future, versions without a
  pubtime that appear after the first mirroring (held from first seen),
  names with '-'/'_' and case in deny rules;
- every real advisory marks, in the served index, the versions its ranges
  say and no others, computed here independently for both layouts.

Nothing sleeps for a policy to take effect: ages are set through the
pubtimes and min_publish_age, and every wait is on a condition."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import policy_common as P  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

NOW = time.time()


class MirrorPolicyCase(harness.TestCase):
    """A stand-in upstream (self.si, self.tree) and helpers to start a
    mirror "mirror" of it with policy keys."""

    def setUp(self):
        super().setUp()
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.upstream = "sparse+%s/reg/" % self.si.base
        self.cfg = os.path.join(self.tmp, "crated.toml")
        self.data = os.path.join(self.tmp, "data")

    def write(self, advisory_db=None, listen=("127.0.0.1:0",), extra_regs="", **policy):
        P.write_cfg(self.cfg, self.data,
                    P.mirror_registry("mirror", self.upstream, **policy) + extra_regs,
                    advisory_db=advisory_db, listen=listen)

    def start(self, **kw):
        return self.start_crated(config_path=self.cfg, data_dir=self.data, **kw)

    def add(self, name, vers, pubtime=None, crate=True):
        return P.add_version(self.tree, name, vers, pubtime, crate)

    def dl_path(self, name, vers):
        return S.expand_dl(self.tree.dl, name, vers, self.tree.cksums[(name, vers)])

    def assertServedAsUpstream(self, srv, name, want_yanked):
        """Every upstream line is served (none dropped); the versions in
        want_yanked with "yanked": true and every other byte unchanged,
        the others byte for byte."""
        r, lines = P.served_lines(srv, "mirror", name)
        self.assertEqual(r.status, 200, r)
        ups = self.tree.index[index_path(name)]
        self.assertEqual(len(lines), len(ups), "lines dropped or added: %r" % r.body)
        for up in ups:
            vers = json.loads(up)["vers"]
            want = P.yanked_form(up) if vers in want_yanked else up
            self.assertEqual(lines.get(vers), want, "%s %s as served" % (name, vers))
        return r

    def cargo_fails_with(self, cargo, proj, args, *needles):
        rc, out, err = cargo.run(args, proj, check=False)
        self.assertNotEqual(rc, 0, "cargo %s succeeded:\n%s" % (" ".join(args), err))
        for n in needles:
            self.assertIn(n, err, "cargo's stderr lacks %r" % n)
        return err


class AgeTest(MirrorPolicyCase):
    """min_publish_age = "1 day" on a mirror."""

    def setUp(self):
        super().setUp()
        self.add("pa-age", "1.0.0", NOW - 10 * P.DAY)
        self.add("pa-age", "1.1.0", NOW - 3 * P.DAY)
        _, self.crate_120 = self.add("pa-age", "1.2.0", NOW - P.HOUR)
        self.add("pa-future", "1.0.0", NOW - 10 * P.DAY)
        self.add("pa-future", "1.1.0", NOW + 2 * P.DAY)
        self.add("pa-corp-lib", "1.0.0", NOW - 10 * P.DAY)
        self.add("pa-corp-lib", "1.1.0", NOW - P.HOUR)
        # a hold that ends in 5 minutes
        self.add("pa-soon", "1.0.0", NOW - 10 * P.DAY)
        self.add("pa-soon", "1.1.0", NOW - P.DAY + 300)

    def test_hold_skip_lock_offer(self):
        self.write(min_age="1 day", exempt=["pa-corp-*"])
        srv = self.start()
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "age", {"pa-age": "1", "pa-future": "1", "pa-corp-lib": "1"})

        # 1. held versions are skipped; the exempt one is not held
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pa-age": "1.1.0", "pa-future": "1.0.0",
                                          "pa-corp-lib": "1.1.0"})
        r1 = self.assertServedAsUpstream(srv, "pa-age", {"1.2.0"})
        self.assertServedAsUpstream(srv, "pa-future", {"1.1.0"})
        self.assertServedAsUpstream(srv, "pa-corp-lib", set())
        etag1 = r1.header("ETag")
        self.assertTrue(etag1, r1)
        self.assertNotModified(srv.get("/mirror/" + index_path("pa-age"),
                                       headers={"If-None-Match": etag1}), etag1)
        # a held .crate stays downloadable
        r = P.download(srv, "mirror", "pa-age", "1.2.0")
        self.assertEqual((r.status, r.body), (200, self.crate_120))

        # 2. explain: the verdict, its source and the time it used
        rc, out, err = P.explain(self.cfg, "pa-age", "1.2.0", registry="mirror")
        self.assertEqual(rc, 0, err)
        self.assertIn("hold", out)
        self.assertIn("min_publish_age", out)
        self.assertIn(P.rfc3339(NOW - P.HOUR), out, "explain does not show the pubtime")
        rc, out, err = P.explain(self.cfg, "pa-age", "1.1.0", registry="mirror")
        self.assertEqual(rc, 0, err)
        self.assertIn("allow", out)
        rc, out, err = P.explain(self.cfg, "pa-future", "1.1.0", registry="mirror")
        self.assertEqual(rc, 0, err)
        self.assertIn("hold", out)
        self.assertGreaterEqual(P.verdicts(srv, registry="mirror", verdict="hold", source="age"), 1)

        # 3. a Cargo.lock that pins the held version still builds, locked,
        # from a CARGO_HOME that never saw it
        pinned = P.project(self.tmp, "pinned", {"pa-age": "1", "pa-future": "1",
                                                "pa-corp-lib": "1"})
        with open(os.path.join(proj, "Cargo.lock")) as f:
            lock = f.read().replace('name = "proj-age"', 'name = "proj-pinned"')
        with open(os.path.join(pinned, "Cargo.lock"), "w") as f:
            f.write(lock)
        P.pin(pinned, "pa-age", "1.2.0", self.tree.cksums[("pa-age", "1.2.0")])
        cargo2 = P.mirror_cargo(self.tmp, srv)
        cargo2.run(["build", "--locked"], pinned, logs=[srv])
        self.assertEqual(P.locked(pinned)["pa-age"], "1.2.0")

        # 4. once the age is shorter than the version's, it is offered
        # again to the same CARGO_HOME: its cached copy is revalidated and
        # the ETag has changed
        self.write(min_age="30 minutes", exempt=["pa-corp-*"])
        P.hup_and_wait(srv, 1)
        r2 = self.assertServedAsUpstream(srv, "pa-age", set())
        self.assertNotEqual(r2.header("ETag"), etag1, "the verdict changed, the ETag did not")
        r = srv.get("/mirror/" + index_path("pa-age"), headers={"If-None-Match": etag1})
        self.assertEqual(r.status, 200, "the old ETag still answers 304 after the verdict changed")
        os.remove(os.path.join(proj, "Cargo.lock"))
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pa-age": "1.2.0", "pa-future": "1.0.0",
                                          "pa-corp-lib": "1.1.0"},
                         "a pubtime in the future must still hold")

    def test_cache_lifetime_ends_with_the_hold(self):
        """A held file's max-age never runs past the hold's end; the same
        bytes keep their ETag (304)."""
        self.write(min_age="1 day")
        srv = self.start()
        r = self.assertServedAsUpstream(srv, "pa-soon", {"1.1.0"})
        cc = r.header("Cache-Control") or ""
        for part in cc.split(","):
            part = part.strip()
            if part.startswith("max-age="):
                self.assertLessEqual(int(part[len("max-age="):]), 300,
                                     "max-age %s outlives the hold (ends in <= 300 s)" % cc)
        etag = r.header("ETag")
        self.assertNotModified(srv.get("/mirror/" + index_path("pa-soon"),
                                       headers={"If-None-Match": etag}), etag)

    def test_odd_pubtimes(self):
        """Malformed pubtimes never poison a file nor slip past the gate;
        versions without a pubtime that appear after the first mirroring
        are held from when crated first saw them."""
        bad = ["2026-13-01T00:00:00Z", "yesterday", P.Raw(1700000000), "2025-01-01T00:00:00+00:00",
               "2025-01-01T00:00:00.5Z", "2025-02-30T00:00:00Z", "", None]
        self.add("pa-bad", "1.0.0", NOW - 10 * P.DAY)
        self.add("pa-bad", "1.1.0", "not-a-time")
        self.add("pa-bad", "1.2.0", NOW - 5 * P.DAY)
        self.add("pa-late", "1.0.0", None)
        self.write(min_age="1 day")
        srv = self.start()
        # a malformed pubtime in the first copy: the file is served whole,
        # the good lines as they are; cargo (which skips such a line)
        # resolves the newest good one
        r, lines = P.served_lines(srv, "mirror", "pa-bad")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(lines), ["1.0.0", "1.1.0", "1.2.0"])
        for v in ("1.0.0", "1.2.0"):
            self.assertEqual(lines[v], P.upstream_line(self.tree, "pa-bad", v))
        self.assertIn('"pubtime":"not-a-time"', lines["1.1.0"], "crated rewrote the upstream's pubtime")
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "odd", {"pa-bad": "1", "pa-late": "1"})
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pa-bad": "1.2.0", "pa-late": "1.0.0"})

        # versions appearing later: without a pubtime, or with a malformed
        # one (a cargo older than pubtime would use such a line: it must
        # not bypass the gate), are held from first seen
        self.assertServedAsUpstream(srv, "pa-late", set())
        self.add("pa-late", "1.1.0", None)
        late = []
        for i, p in enumerate(bad):
            vers = "1.2.%d" % i
            self.add("pa-late", vers, p)
            late.append(vers)
        self.assertServedAsUpstream(srv, "pa-late", {"1.1.0", *late})
        rc, out, err = P.explain(self.cfg, "pa-late", "1.1.0", registry="mirror")
        self.assertEqual(rc, 0, err)
        self.assertIn("hold", out)
        self.assertIn("first seen", out.lower(), "explain does not say the time is the first sighting")
        # ... also across a restart (the first-seen times are kept)
        srv.stop()
        srv = self.start()
        self.assertServedAsUpstream(srv, "pa-late", {"1.1.0", *late})
        os.remove(os.path.join(proj, "Cargo.lock"))
        cargo = P.mirror_cargo(self.tmp, srv)
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pa-bad": "1.2.0", "pa-late": "1.0.0"})
        # every pubtime crated serves is the upstream's own bytes: crated
        # never writes one
        _, lines = P.served_lines(srv, "mirror", "pa-late")
        for v, l in lines.items():
            up = P.upstream_line(self.tree, "pa-late", v)
            self.assertEqual(json.loads(l).get("pubtime", "<none>"),
                             json.loads(up).get("pubtime", "<none>"))

    def test_bad_settings_refused_at_start(self):
        """Misconfiguration is reported at start, naming the key (and good
        settings are accepted)."""
        self.write(min_age="7 days", exempt=["pa-corp-*", "x?y"], deny=["pa-age@<1.2.4", "pa-soon"],
                   advisory_action="hold")
        rc, out, err = P.crated_cmd(["check", "--config", self.cfg])
        self.assertEqual(rc, 0, "crated check refused good settings: " + out + err)
        for key, value in (("min_age", "7 dayz"), ("min_age", "-1 day"), ("min_age", "1.5 days"),
                           ("deny", ["pa-age@<<1"]), ("deny", ["not a name"]),
                           ("advisory_action", "allow")):
            with self.subTest(key=key, value=value):
                self.write(**{key: value})
                rc, out, err = P.crated_cmd(["check", "--config", self.cfg])
                self.assertNotEqual(rc, 0, "crated check accepted %s = %r" % (key, value))
                srv = harness.start_crated(self.tmp, config_path=self.cfg, data_dir=self.data,
                                           wait=False, name="bad")
                rc = srv.wait_exit(15)
                if rc is None:
                    srv.stop(check=False)
                self.assertNotEqual(rc, 0, "crated started with %s = %r" % (key, value))
                self.assertRegex(srv.log_text(), r"crated\.toml:\d+:",
                                 "the refusal does not name FILE:LINE")


class RulesTest(MirrorPolicyCase):
    """deny rules, malicious and other advisories (a database written here
    in the OSV layout, with two advisories copied from the real one)."""

    ADVISORIES = [
        P.osv_advisory("RUSTSEC-2099-0001", "pm-evil", [{"introduced": "0.0.0-0"}],
                       categories=["malicious"], summary="pm-evil <b>steals</b> tokens"),
        P.osv_advisory("RUSTSEC-2099-0002", "pm-vuln",
                       [{"introduced": "0.0.0-0"}, {"fixed": "1.1.0"}],
                       categories=["memory-corruption"]),
        P.osv_advisory("RUSTSEC-2099-0003", "pm-vuln",
                       [{"introduced": "0.0.0-0"}], informational="unmaintained"),
        P.osv_advisory("RUSTSEC-2099-0004", "pm-withdrawn", [{"introduced": "0.0.0-0"}],
                       categories=["malicious"], withdrawn="2026-08-02T00:00:00Z"),
    ]

    def setUp(self):
        super().setUp()
        old = NOW - 30 * P.DAY
        for name, versions in (("pd-deny", ("1.2.3", "1.2.4-rc.1", "1.2.4")),
                               ("pd-mixed_case", ("1.0.0", "1.1.0")),
                               ("pm-evil", ("0.1.0", "0.2.0")),
                               ("pm-vuln", ("1.0.0", "1.1.0")),
                               ("pm-withdrawn", ("1.0.0",)),
                               ("evm-units", ("0.1.0",)),
                               ("base64", ("0.5.1", "0.5.2"))):
            for v in versions:
                self.add(name, v, old)
        self.db = P.write_osv_db(os.path.join(self.tmp, "advisories"), self.ADVISORIES,
                                 real_ids=("RUSTSEC-2025-0147", "RUSTSEC-2017-0004"))
        self.write(advisory_db=self.db, min_age="1 day",
                   deny=["pd-deny@<1.2.4", "PD_Mixed-Case@>=1.1.0"])
        self.srv = self.start()

    def test_deny_rule_gives_cargo_403(self):
        srv = self.srv
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "deny", {"pd-deny": "1.2", "pd-mixed_case": "1"})
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pd-deny": "1.2.4", "pd-mixed_case": "1.0.0"})
        # (a requirement covers pre-releases: <1.2.4 denies 1.2.4-rc.1)
        self.assertServedAsUpstream(srv, "pd-deny", {"1.2.3", "1.2.4-rc.1"})
        self.assertServedAsUpstream(srv, "pd-mixed_case", {"1.1.0"})
        mark = self.si.mark()
        # a lock file pinning a denied version: the download is refused,
        # with the reason, and the upstream is never asked for it
        P.pin(proj, "pd-deny", "1.2.3", self.tree.cksums[("pd-deny", "1.2.3")])
        err = self.cargo_fails_with(cargo, proj, ["fetch", "--locked"], "403", "blocked by policy",
                                    "pd-deny@<1.2.4")
        self.assertNotIn("Caused by:\n  failed to select", err)
        P.pin(proj, "pd-deny", "1.2.4", self.tree.cksums[("pd-deny", "1.2.4")])
        P.pin(proj, "pd-mixed_case", "1.1.0", self.tree.cksums[("pd-mixed_case", "1.1.0")])
        self.cargo_fails_with(cargo, proj, ["fetch", "--locked"], "403", "blocked by policy",
                              "PD_Mixed-Case@>=1.1.0")
        r = P.download(srv, "mirror", "pd-mixed_case", "1.1.0")
        self.assertEqual(r.status, 403, r)
        self.assertIn("blocked by policy", self.assertErrors(r, (403,)))
        # the name as cargo may spell it in a download URL: the same crate
        r = P.download(srv, "mirror", "pd-mixed-case", "1.1.0")
        self.assertIn(r.status, (403, 404), r)
        ups = [q.path for q in self.si.since(mark)]
        for denied in (self.dl_path("pd-deny", "1.2.3"), self.dl_path("pd-mixed_case", "1.1.0")):
            self.assertNotIn(denied, ups, "the upstream was asked for a denied .crate")
        self.assertEqual(P.download(srv, "mirror", "pd-deny", "1.2.4").status, 200)
        self.assertGreaterEqual(P.verdicts(srv, registry="mirror", verdict="deny", source="deny"), 1)
        self.assertTrue(harness.wait_log(srv, r"pd-deny.*1\.2\.3|1\.2\.3.*pd-deny", 5),
                        "the 403 is not in the log:\n" + srv.log_tail())

    def test_malicious_advisory_gives_cargo_403(self):
        srv = self.srv
        cargo = P.mirror_cargo(self.tmp, srv)
        self.assertServedAsUpstream(srv, "pm-evil", {"0.1.0", "0.2.0"})
        self.assertServedAsUpstream(srv, "evm-units", {"0.1.0"})
        # a withdrawn advisory is ignored
        self.assertServedAsUpstream(srv, "pm-withdrawn", set())
        # nothing to resolve to: cargo says the versions are yanked
        proj = P.project(self.tmp, "evil", {"pm-evil": "0.2"})
        self.cargo_fails_with(cargo, proj, ["generate-lockfile"], "pm-evil")
        # a lock file written before the advisory: 403 with the advisory
        for name, vers, adv in (("pm-evil", "0.2.0", "RUSTSEC-2099-0001"),
                                ("evm-units", "0.1.0", "RUSTSEC-2025-0147")):
            with self.subTest(name=name):
                p = P.project(self.tmp, "lock-" + name, {name: vers})
                ck = self.tree.cksums[(name, vers)]
                with open(os.path.join(p, "Cargo.lock"), "w") as f:
                    f.write('version = 4\n\n[[package]]\nname = "%s"\nversion = "%s"\n'
                            'source = "sparse+%s/mirror/"\nchecksum = "%s"\n\n'
                            '[[package]]\nname = "proj-lock-%s"\nversion = "0.1.0"\n'
                            'dependencies = [\n "%s",\n]\n'
                            % (name, vers, srv.url, ck, name, name))
                self.cargo_fails_with(P.mirror_cargo(self.tmp, srv), p, ["fetch", "--locked"],
                                      "403", "blocked by policy: %s (malicious)" % adv)
                rc, out, err = P.explain(self.cfg, name, vers, registry="mirror")
                self.assertEqual(rc, 0, err)
                self.assertIn("deny", out)
                self.assertIn(adv, out)
        self.assertGreaterEqual(P.verdicts(srv, registry="mirror", verdict="deny", source="advisory"), 1)

    def test_flagged_version_resolves_and_is_reported(self):
        srv = self.srv
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "flag", {"base64": "=0.5.1", "pm-vuln": "=1.0.0"})
        cargo.run(["fetch"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"base64": "0.5.1", "pm-vuln": "1.0.0"})
        self.assertServedAsUpstream(srv, "base64", set())
        self.assertServedAsUpstream(srv, "pm-vuln", set())
        for name, vers, adv in (("base64", "0.5.1", "RUSTSEC-2017-0004"),
                                ("pm-vuln", "1.0.0", "RUSTSEC-2099-0002")):
            rc, out, err = P.explain(self.cfg, name, vers, registry="mirror")
            self.assertEqual(rc, 0, err)
            self.assertIn("flag", out)
            self.assertIn(adv, out)
        # the fixed versions are allowed; the informational advisory does
        # not count by default
        for name, vers in (("base64", "0.5.2"), ("pm-vuln", "1.1.0")):
            rc, out, err = P.explain(self.cfg, name, vers, registry="mirror")
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"verdict:\s+allow")
        self.assertGreaterEqual(P.verdicts(srv, registry="mirror", verdict="flag", source="advisory"), 1)

    def test_advisory_action_and_hide(self):
        """advisory_action = "deny" denies vulnerable versions too; hide
        drops denied lines for those who ask for it."""
        self.srv.stop()
        self.write(advisory_db=self.db, deny=["pd-deny@<1.2.4"], advisory_action="deny", hide=True)
        srv = self.start()
        r, lines = P.served_lines(srv, "mirror", "pm-vuln")
        self.assertEqual(sorted(lines), ["1.1.0"], "hide: the denied line is still served")
        self.assertEqual(lines["1.1.0"], P.upstream_line(self.tree, "pm-vuln", "1.1.0"))
        r, lines = P.served_lines(srv, "mirror", "pd-deny")
        self.assertEqual(sorted(lines), ["1.2.4"], "hide: denied lines still served")
        r = P.download(srv, "mirror", "pm-vuln", "1.0.0")
        self.assertEqual(r.status, 403, r)
        self.assertIn("RUSTSEC-2099-0002", self.assertErrors(r, (403,)))
        self.srv = srv


class AdvisoriesImportTest(MirrorPolicyCase):
    """`crated advisories import` installs a snapshot that a running
    crated uses at once, instead of advisory_db; kept across restarts."""

    def test_import_reaches_running_server(self):
        old = NOW - 30 * P.DAY
        self.add("pm-mine", "1.0.0", old)
        self.add("evm-units", "0.1.0", old)
        db = P.write_osv_db(os.path.join(self.tmp, "mine"), [P.osv_advisory(
            "RUSTSEC-2099-0301", "pm-mine", [{"introduced": "0.0.0-0"}], categories=["malicious"])])
        self.write(advisory_db=db)
        srv = self.start()
        self.assertServedAsUpstream(srv, "pm-mine", {"1.0.0"})
        self.assertServedAsUpstream(srv, "evm-units", set())
        rc, out, err = P.crated_cmd(["advisories", "import", "--config", self.cfg, P.OSV_SNAPSHOT],
                                    timeout=120)
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(harness.wait_until(
            lambda: (P.yanked(srv, "mirror", "evm-units") or {}).get("0.1.0") is True, 20),
            "the imported snapshot did not reach the running server")
        self.assertServedAsUpstream(srv, "pm-mine", set())
        self.assertRegex(srv.get("/-/ready").text(), r"\b1206\b")
        srv.stop()
        srv = self.start()
        self.assertServedAsUpstream(srv, "evm-units", {"0.1.0"})


class BlockTest(MirrorPolicyCase):
    """`crated block` and `unblock` reach a running server, survive a
    restart, and cargo with one CARGO_HOME sees each change."""

    def test_block_unblock_live(self):
        old = NOW - 30 * P.DAY
        self.add("pb-live", "1.0.0", old)
        self.add("pb-live", "1.1.0", old)
        self.add("pb-other", "1.0.0", old)
        port = harness.free_port()
        self.write(listen=("127.0.0.1:%d" % port,))
        srv = self.start()
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "live", {"pb-live": "1", "pb-other": "1"})
        cargo.run(["fetch"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pb-live": "1.1.0", "pb-other": "1.0.0"})
        with open(os.path.join(proj, "Cargo.lock")) as f:
            lock_110 = f.read()
        etag1 = self.assertServedAsUpstream(srv, "pb-live", set()).header("ETag")

        reason = 'incident 42: <script>alert("x")</script> & more'
        rc, out, err = P.block(self.cfg, "pb-live@=1.1.0", reason)
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(harness.wait_until(
            lambda: (P.yanked(srv, "mirror", "pb-live") or {}).get("1.1.0") is True, 10),
            "the block did not reach the running server")
        r2 = self.assertServedAsUpstream(srv, "pb-live", {"1.1.0"})
        self.assertNotEqual(r2.header("ETag"), etag1)
        self.assertEqual(srv.get("/mirror/" + index_path("pb-live"),
                                 headers={"If-None-Match": etag1}).status, 200)
        self.assertTrue(harness.wait_log(srv, r"pb-live", 5) or "pb-live" in out + err)
        # the same CARGO_HOME resolves again: its cached copy is
        # revalidated and it sees the yank
        os.remove(os.path.join(proj, "Cargo.lock"))
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj)["pb-live"], "1.0.0")
        # a lock file pinning it: 403 with the block's reason, for a
        # CARGO_HOME that does not hold the .crate yet
        with open(os.path.join(proj, "Cargo.lock"), "w") as f:
            f.write(lock_110)
        fresh = P.mirror_cargo(self.tmp, srv)
        self.cargo_fails_with(fresh, proj, ["fetch", "--locked"], "403", "blocked by policy",
                              "incident 42")
        # (the CARGO_HOME that downloaded it before the block still has it:
        # out of the server's reach, as the README says)
        cargo.run(["fetch", "--locked"], proj, logs=[srv])
        rc, out, err = P.explain(self.cfg, "pb-live", "1.1.0", registry="mirror")
        self.assertEqual(rc, 0, err)
        self.assertIn("deny", out)
        self.assertIn("block", out)
        self.assertIn("incident 42", out)
        self.assertGreaterEqual(P.verdicts(srv, registry="mirror", verdict="deny", source="block"), 1)

        # kept across a restart
        srv.stop()
        srv = self.start()
        self.assertServedAsUpstream(srv, "pb-live", {"1.1.0"})
        self.assertEqual(P.download(srv, "mirror", "pb-live", "1.1.0").status, 403)

        # unblock: live again
        rc, out, err = P.unblock(self.cfg, "pb-live@=1.1.0")
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(harness.wait_until(
            lambda: (P.yanked(srv, "mirror", "pb-live") or {}).get("1.1.0") is False, 10),
            "the unblock did not reach the running server")
        self.assertServedAsUpstream(srv, "pb-live", set())
        fresh.run(["fetch", "--locked"], proj, logs=[srv])
        os.remove(os.path.join(proj, "Cargo.lock"))
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj)["pb-live"], "1.1.0")

    def test_block_refuses_bad_input(self):
        self.add("pb-x", "1.0.0", NOW - 30 * P.DAY)
        self.write()
        srv = self.start()
        for spec in ("pb-x@>>1", "not a name", "pb-x@", ""):
            with self.subTest(spec=spec):
                rc, out, err = P.block(self.cfg, spec, "why")
                self.assertNotEqual(rc, 0, "block %r accepted: %s" % (spec, out))
                self.assertTrue(err.strip(), "no message for a refused block")
        self.assertServedAsUpstream(srv, "pb-x", set())
        # names compare as crates.io compares them
        rc, out, err = P.block(self.cfg, "PB_X", "case and dash")
        self.assertEqual(rc, 0, err)
        self.assertTrue(harness.wait_until(
            lambda: (P.yanked(srv, "mirror", "pb-x") or {}).get("1.0.0") is True, 10))


class InstallTest(MirrorPolicyCase):
    """`cargo install` resolves against what crated serves: a held version
    is not installed (the older one is), and asking for it by version is
    refused by cargo as yanked. (What the README says of cargo install.)"""

    def test_install_skips_held(self):
        main = {"src/main.rs": 'fn main() { println!("pi-tool {}", env!("CARGO_PKG_VERSION")); }\n'}
        self.add("pi-tool", "1.0.0", NOW - 30 * P.DAY, harness.make_crate("pi-tool", "1.0.0", main))
        self.add("pi-tool", "1.1.0", NOW - P.HOUR, harness.make_crate("pi-tool", "1.1.0", main))
        self.write(min_age="1 day")
        srv = self.start()
        cargo = P.mirror_cargo(self.tmp, srv)
        root = os.path.join(self.tmp, "root")
        _, out, err = cargo.run(["install", "pi-tool", "--registry", "mirror", "--root", root],
                                self.tmp, logs=[srv])
        self.assertIn("Installed package `pi-tool v1.0.0", err)
        self.cargo_fails_with(cargo, self.tmp, ["install", "pi-tool@=1.1.0", "--registry", "mirror",
                                                "--root", root], "yanked")


    def test_precise_selects_held_not_denied(self):
        """A hold is what cargo's yank is: a deliberate `cargo update
        --precise` still selects the version (cargo warns); a denied one
        is then refused at its download (what the README's limits say)."""
        self.add("pq-age", "1.0.0", NOW - 30 * P.DAY)
        self.add("pq-age", "1.1.0", NOW - P.HOUR)
        self.add("pq-age", "1.2.0", NOW - 30 * P.DAY)
        self.write(min_age="1 day", deny=["pq-age@=1.2.0"])
        srv = self.start()
        cargo = P.mirror_cargo(self.tmp, srv)
        proj = P.project(self.tmp, "precise", {"pq-age": "1"})
        cargo.run(["generate-lockfile"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pq-age": "1.0.0"})
        _, _, err = cargo.run(["update", "-p", "pq-age", "--precise", "1.1.0"], proj, logs=[srv])
        self.assertIn("yanked", err)
        cargo.run(["build"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pq-age": "1.1.0"})
        cargo.run(["update", "-p", "pq-age", "--precise", "1.2.0"], proj, logs=[srv])
        self.cargo_fails_with(cargo, proj, ["build"], "403", "blocked by policy")


class HostedTest(harness.TestCase):
    """A hosted registry's own publishes are never held by age; a rule
    that names them still applies."""

    def test_own_publishes_not_held(self):
        srv = self.start_crated(registries="[registries.local]\n" + P.policy_keys(
            min_age="7 days", deny=["pl-banned"]))
        r, _ = srv.publish_simple("pl-own", "1.0.0")
        self.assertEqual(r.status, 200, r)
        r, _ = srv.publish_simple("pl-own", "1.1.0")
        self.assertEqual(r.status, 200, r)
        for l in srv.index_lines("pl-own"):
            self.assertFalse(l["yanked"], l)
            if "pubtime" in l:
                self.assertRegex(l["pubtime"], P.PUBTIME_RE)
        cargo = harness.Cargo(self.tmp, '[registries.local]\nindex = "%s"\n' % srv.index_url)
        proj = P.project(self.tmp, "hosted", {"pl-own": "1"}, reg="local")
        cargo.run(["fetch"], proj, logs=[srv])
        self.assertEqual(P.locked(proj), {"pl-own": "1.1.0"})
        # a denied name: refused at publish, or served yanked with a 403
        r, _ = srv.publish_simple("pl-banned", "1.0.0")
        if r.status == 200:
            self.assertTrue(all(l["yanked"] for l in srv.index_lines("pl-banned")))
            self.assertEqual(P.download(srv, "local", "pl-banned", "1.0.0").status, 403)
        else:
            self.assertIn("polic", self.assertErrors(r))


class RealSnapshotTest(MirrorPolicyCase):
    """The RustSec snapshots of 2026-08-21 as they are: /-/ready reports
    them, a real malicious crate gets cargo's 403, and every advisory
    marks the versions its ranges say and no others (advisory_action =
    "deny", so each affected version is yanked in the served file; the
    expectation is computed here from the snapshot itself)."""

    def served_matches(self, srv, expected):
        """Every crate's served file (asked 16 at a time: crated fills
        them from the upstream side by side) against expected."""
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            served = dict(zip(sorted(expected), ex.map(
                lambda n: P.yanked(srv, "mirror", n), sorted(expected))))
        wrong = []
        for name, want in sorted(expected.items()):
            got = served[name]
            if got is None:
                wrong.append("%s: not served" % name)
                continue
            for vers, affected in want.items():
                if got.get(vers) != affected:
                    wrong.append("%s %s: served yanked=%s, affected=%s"
                                 % (name, vers, got.get(vers), affected))
        self.assertEqual(wrong[:30], [], "%d versions judged wrongly" % len(wrong))

    def build(self, per_crate):
        """Index lines for every crate of per_crate {name: versions}."""
        for name, versions in per_crate.items():
            for v in versions:
                P.add_version(self.tree, name, v, NOW - 400 * P.DAY, crate=None, sync=False)
        self.tree._sync()

    def test_osv_snapshot(self):
        docs = P.snapshot_osv()
        per_crate, expected = {}, {}
        for doc in docs.values():
            for aff in doc["affected"]:
                name = aff["package"]["name"]
                texts = [v for r in aff["ranges"] for e in r["events"] for v in e.values()]
                per_crate.setdefault(name, set()).update(P.boundary_versions(texts))
        for name, versions in per_crate.items():
            mine = [d for d in docs.values() if d["affected"][0]["package"]["name"] == name
                    and P.counts(d["affected"][0]["database_specific"].get("informational"),
                                 d.get("withdrawn"))]
            expected[name] = {v: any(P.osv_affects(d, v) for d in mine) for v in versions}
        self.build(per_crate)
        self.write(advisory_db=P.OSV_SNAPSHOT, advisory_action="deny")
        srv = self.start()
        self.check_ready(srv, len(docs))
        self.served_matches(srv, expected)
        self.cargo_403(srv, "evm-units", "0.0.1", "RUSTSEC-2025-0147")

    def test_main_snapshot(self):
        docs = P.snapshot_main()
        per_crate, expected = {}, {}
        for doc in docs.values():
            name = doc["advisory"]["package"]
            v = doc.get("versions", {})
            texts = list(v.get("patched", [])) + list(v.get("unaffected", []))
            per_crate.setdefault(name, set()).update(P.boundary_versions(texts, release_only=True))
        for name, versions in per_crate.items():
            mine = [d for d in docs.values() if d["advisory"]["package"] == name
                    and P.counts(d["advisory"].get("informational"), d["advisory"].get("withdrawn"))]
            expected[name] = {v: any(P.main_affects(d, v) for d in mine) for v in versions}
        self.build(per_crate)
        self.write(advisory_db=P.MAIN_SNAPSHOT, advisory_action="deny")
        srv = self.start()
        self.check_ready(srv, len(docs))
        self.served_matches(srv, expected)
        self.cargo_403(srv, "evm-units", "0.0.1", "RUSTSEC-2025-0147")

    def check_ready(self, srv, count):
        r = srv.get("/-/ready")
        self.assertEqual(r.status, 200, r)
        text = r.text()
        self.assertRegex(text, r"2026-08-2[01]", "/-/ready lacks the snapshot's date: " + text[:2000])
        self.assertRegex(text, r"\b%d\b" % count, "/-/ready lacks the snapshot's count")

    def cargo_403(self, srv, name, vers, adv):
        """A real malicious crate (all versions) with a .crate served by
        the stand-in: cargo, locked, gets 403 naming the advisory."""
        crate = harness.make_crate(name, vers)
        ck = S.sha256_hex(crate)
        self.tree.crates[S.expand_dl(self.tree.dl, name, vers, ck)] = crate
        self.tree._sync()
        p = P.project(self.tmp, "real", {name: "=" + vers})
        with open(os.path.join(p, "Cargo.lock"), "w") as f:
            f.write('version = 4\n\n[[package]]\nname = "%s"\nversion = "%s"\n'
                    'source = "sparse+%s/mirror/"\nchecksum = "%s"\n\n'
                    '[[package]]\nname = "proj-real"\nversion = "0.1.0"\n'
                    'dependencies = [\n "%s",\n]\n' % (name, vers, srv.url, ck, name))
        # the served line's cksum is the one add_version made: use the .crate's
        self.tree.index[index_path(name)] = [
            l for l in self.tree.index[index_path(name)] if json.loads(l)["vers"] != vers]
        P.add_version(self.tree, name, vers, NOW - 400 * P.DAY, crate=crate)
        self.cargo_fails_with(P.mirror_cargo(self.tmp, srv), p, ["fetch", "--locked"],
                              "403", "blocked by policy: %s (malicious)" % adv)


if __name__ == "__main__":
    harness.main()
