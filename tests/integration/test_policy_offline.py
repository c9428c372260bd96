#!/usr/bin/env python3
"""The supply-chain policy and offline CI (issue 28): prefetch, export,
import.

- `crated prefetch` never fetches a denied version: it names it with the
  403's reason (the advisory, the rule) and exits non-zero when a lock
  file pins one; held versions a lock file pins are fetched (in-process
  and with --server).
- `crated export` records in the bundle's manifest the verdicts it
  applied and the advisory snapshot's id; a denied .crate of a mirror is
  left out of the bundle (a hosted registry's are kept: a backup is
  whole); the first-seen times travel with the index files.
- `crated import` on an offline machine stores the index files as they
  came (unfiltered) and its own policy applies when it serves them:
  changed by SIGHUP, the verdicts change, nothing was lost."""

import json
import os
import re
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import policy_common as P  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

NOW = time.time()
MANIFEST = "crated-bundle.json"


def manifest_of(path):
    with tarfile.open(path, "r:gz") as tf:
        names = tf.getnames()
        return json.loads(tf.extractfile(MANIFEST).read()), names


def lock_text(proj_name, pkgs):
    """A Cargo.lock (version 4) of proj_name depending on pkgs [(name,
    version, source, checksum)]."""
    out = ["version = 4", ""]
    for name, vers, source, ck in pkgs:
        out += ["[[package]]", 'name = "%s"' % name, 'version = "%s"' % vers,
                'source = "%s"' % source, 'checksum = "%s"' % ck, ""]
    out += ["[[package]]", 'name = "%s"' % proj_name, 'version = "0.1.0"', "dependencies = ["]
    out += [' "%s",' % n for n, _, _, _ in sorted(pkgs)]
    out += ["]", ""]
    return "\n".join(out)


class PolicyOfflineCase(harness.TestCase):

    ADVISORIES = [
        P.osv_advisory("RUSTSEC-2099-0101", "po-evil", [{"introduced": "0.0.0-0"}],
                       categories=["malicious"]),
        P.osv_advisory("RUSTSEC-2099-0102", "po-vuln", [{"introduced": "0.0.0-0"},
                                                        {"fixed": "2.0.0"}]),
    ]

    def setUp(self):
        super().setUp()
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.upstream = "sparse+%s/reg/" % self.si.base
        old = NOW - 30 * P.DAY
        self.add("po-ok", "1.0.0", old)
        self.add("po-held", "1.0.0", old)
        self.add("po-held", "1.1.0", NOW - P.HOUR)
        self.add("po-evil", "0.1.0", old)
        self.add("po-deny", "1.0.0", old)
        self.add("po-vuln", "1.0.0", old)
        self.db = P.write_osv_db(os.path.join(self.tmp, "advisories"), self.ADVISORIES)
        self.cfg = os.path.join(self.tmp, "a.toml")
        self.data = os.path.join(self.tmp, "a-data")
        P.write_cfg(self.cfg, self.data, P.mirror_registry(
            "mirror", self.upstream, min_age="1 day", deny=["po-deny"]), advisory_db=self.db)

    def add(self, name, vers, pubtime, crate=True):
        return P.add_version(self.tree, name, vers, pubtime, crate)

    def dl_path(self, name, vers):
        return S.expand_dl(self.tree.dl, name, vers, self.tree.cksums[(name, vers)])

    def lock(self, tag, pkgs):
        """A project directory with a Cargo.lock pinning pkgs [(name,
        vers)] from the upstream's URL (as cargo writes it without
        crated)."""
        d = os.path.join(self.tmp, "lock-" + tag)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "Cargo.lock"), "w") as f:
            f.write(lock_text("proj-" + tag, [(n, v, self.upstream, self.tree.cksums[(n, v)])
                                              for n, v in pkgs]))
        return os.path.join(d, "Cargo.lock")

    def cached(self, data, name, vers, reg="mirror"):
        low = name.lower()
        return os.path.isfile(os.path.join(data, reg, "crates", low, "%s-%s.crate" % (low, vers)))

    def cmd(self, args, timeout=120):
        rc, out, err = harness.run_crated(args, timeout=timeout)
        harness.check_sanitizer(err, "crated " + " ".join(args))
        return rc, out, err


class PrefetchTest(PolicyOfflineCase):

    def check_run(self, rc, out, err, data):
        text = out + err
        self.assertEqual(rc, 1, "prefetch of denied versions exited %d:\n%s" % (rc, text))
        self.assertRegex(text, r"po-evil 0\.1\.0 .*blocked by policy: RUSTSEC-2099-0101 \(malicious\)")
        self.assertRegex(text, r"po-deny 1\.0\.0 .*blocked by policy")
        self.assertRegex(out, r"2 failed \(2 denied by the policy\)")
        self.assertRegex(out, r"2 versions pinned by the lock files are denied by the policy")
        for name, vers in (("po-ok", "1.0.0"), ("po-held", "1.1.0"), ("po-vuln", "1.0.0")):
            # (a running server may write it just after the answer)
            self.assertTrue(harness.wait_until(lambda: self.cached(data, name, vers), 10),
                            "%s %s not prefetched" % (name, vers))
            self.assertNotRegex(text, r"failed: %s %s" % (name, re.escape(vers)))
        for name, vers in (("po-evil", "0.1.0"), ("po-deny", "1.0.0")):
            self.assertFalse(self.cached(data, name, vers))
            self.assertEqual(self.si.count(self.dl_path(name, vers)), 0,
                             "the upstream was asked for denied %s %s" % (name, vers))

    def test_prefetch_in_process(self):
        lock = self.lock("all", [("po-ok", "1.0.0"), ("po-held", "1.1.0"), ("po-evil", "0.1.0"),
                                 ("po-deny", "1.0.0"), ("po-vuln", "1.0.0")])
        rc, out, err = self.cmd(["prefetch", "--config", self.cfg, lock])
        self.check_run(rc, out, err, self.data)
        # a lock file of allowed and held versions only: a green run
        ok = self.lock("ok", [("po-ok", "1.0.0"), ("po-held", "1.1.0")])
        rc, out, err = self.cmd(["prefetch", "--config", self.cfg, ok])
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"0 failed \(0 denied by the policy\)")

    def test_prefetch_through_a_running_server(self):
        srv = self.start_crated(config_path=self.cfg, data_dir=self.data)
        lock = self.lock("all", [("po-ok", "1.0.0"), ("po-held", "1.1.0"), ("po-evil", "0.1.0"),
                                 ("po-deny", "1.0.0"), ("po-vuln", "1.0.0")])
        rc, out, err = self.cmd(["prefetch", "--server", srv.url, "--registry", "mirror", lock])
        self.check_run(rc, out, err, self.data)


class BundleTest(PolicyOfflineCase):

    def test_export_records_verdicts_and_leaves_denied_out(self):
        srv = self.start_crated(config_path=self.cfg, data_dir=self.data)
        # fill the cache; then block a cached version: the export must
        # not carry it
        for name, vers in (("po-ok", "1.0.0"), ("po-held", "1.0.0"), ("po-held", "1.1.0"),
                           ("po-vuln", "1.0.0")):
            r = P.download(srv, "mirror", name, vers)
            self.assertEqual(r.status, 200, (name, vers, r))
        for name in ("po-evil", "po-deny"):
            self.assertEqual(srv.get("/mirror/" + index_path(name)).status, 200)
        rc, out, err = P.block(self.cfg, "po-ok@=1.0.0", "incident 7")
        self.assertEqual(rc, 0, err)
        self.assertTrue(harness.wait_until(
            lambda: P.download(srv, "mirror", "po-ok", "1.0.0").status == 403, 10))
        srv.stop()
        self.assertTrue(self.cached(self.data, "po-ok", "1.0.0"))

        bundle = os.path.join(self.tmp, "a.tar.gz")
        rc, out, err = self.cmd(["export", "--config", self.cfg, bundle])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("denied", out + err, "export does not say it left denied crates out")
        m, names = manifest_of(bundle)
        self.assertNotIn("mirror/crates/po-ok/po-ok-1.0.0.crate", names)
        for kept in ("po-held/po-held-1.1.0.crate", "po-vuln/po-vuln-1.0.0.crate"):
            self.assertIn("mirror/crates/" + kept, names)
        for ix in ("po-ok", "po-evil", "po-deny", "po-held"):
            self.assertIn("mirror/index/" + index_path(ix), names)
        pol = m.get("policy")
        self.assertIsInstance(pol, dict, "the manifest records no policy: %r" % sorted(m))
        adv = pol.get("advisories") or {}
        self.assertRegex(adv.get("id", ""), r"^\d{4}-\d\d-\d\d/2/[0-9a-f]{8}$", pol)
        self.assertEqual(adv.get("count"), 2)
        got = {(v["name"], v["vers"]): v for v in pol["registries"]["mirror"]["verdicts"]}
        want = {("po-ok", "1.0.0"): ("deny", "block", "incident 7"),
                ("po-evil", "0.1.0"): ("deny", "advisory", "RUSTSEC-2099-0101"),
                ("po-deny", "1.0.0"): ("deny", "deny", "po-deny"),
                ("po-held", "1.1.0"): ("hold", "age", "min_publish_age"),
                ("po-vuln", "1.0.0"): ("flag", "advisory", "RUSTSEC-2099-0102")}
        self.assertEqual(sorted(got), sorted(want), "verdicts recorded: %r" % got)
        for key, (verdict, source, text) in want.items():
            v = got[key]
            self.assertEqual((v["verdict"], v["source"]), (verdict, source), v)
            self.assertIn(text, v["rule"] + " " + v["reason"], v)
        self.assertEqual(pol["registries"]["mirror"]["left_out"], ["po-ok 1.0.0"])
        # the manifest's policy is part of what import checks: the bundle
        # imports cleanly
        other = os.path.join(self.tmp, "b-data")
        cfg_b = os.path.join(self.tmp, "b.toml")
        P.write_cfg(cfg_b, other, P.mirror_registry("mirror", self.upstream))
        rc, out, err = self.cmd(["import", "--config", cfg_b, bundle])
        self.assertEqual(rc, 0, out + err)
        self.assertIn(adv["id"], out + err, "import does not say which snapshot the exporter used")

    def test_import_applies_its_own_policy(self):
        # A: no policy at all; everything cached and exported
        cfg_a = os.path.join(self.tmp, "plain.toml")
        P.write_cfg(cfg_a, self.data, P.mirror_registry("mirror", self.upstream))
        self.add("pi-late", "1.0.0", None)
        srv = self.start_crated(config_path=cfg_a, data_dir=self.data)
        self.assertEqual(srv.get("/mirror/" + index_path("pi-late")).status, 200)
        self.add("pi-late", "1.1.0", None)       # first seen now, by A
        for name, vers in (("po-ok", "1.0.0"), ("po-held", "1.0.0"), ("po-held", "1.1.0"),
                           ("po-deny", "1.0.0"), ("pi-late", "1.0.0"), ("pi-late", "1.1.0")):
            r = P.download(srv, "mirror", name, vers)
            self.assertEqual(r.status, 200, (name, vers, r))
        srv.stop()
        bundle = os.path.join(self.tmp, "plain.tar.gz")
        rc, out, err = self.cmd(["export", "--config", cfg_a, bundle])
        self.assertEqual(rc, 0, out + err)
        m, names = manifest_of(bundle)
        self.assertIn("policy", m, "the manifest records no policy")
        self.assertEqual(m["policy"]["registries"]["mirror"]["verdicts"], [])

        # B: offline, with its own policy
        data_b = os.path.join(self.tmp, "b-data")
        cfg_b = os.path.join(self.tmp, "b.toml")

        def write_b(**policy):
            P.write_cfg(cfg_b, data_b, P.mirror_registry("mirror", self.upstream, **policy)
                        + "offline = true\n", advisory_db=self.db)
        write_b(min_age="1 day", deny=["po-deny"])
        rc, out, err = self.cmd(["import", "--config", cfg_b, bundle])
        self.assertEqual(rc, 0, out + err)
        self.si.stop()      # air-gapped from here on
        # stored as they came: the upstream's bytes
        for name in ("po-held", "po-deny", "pi-late"):
            with open(os.path.join(data_b, "mirror", "index", index_path(name)), "rb") as f:
                self.assertEqual(f.read(), self.tree.index_body(name), name)
        srvb = self.start_crated(config_path=cfg_b, data_dir=data_b, name="b")
        self.assertEqual(P.yanked(srvb, "mirror", "po-held"), {"1.0.0": False, "1.1.0": True})
        self.assertEqual(P.yanked(srvb, "mirror", "po-deny"), {"1.0.0": True})
        self.assertEqual(P.download(srvb, "mirror", "po-deny", "1.0.0").status, 403)
        self.assertEqual(P.download(srvb, "mirror", "po-held", "1.1.0").status, 200)
        # A saw pi-late 1.1.0 appear an instant ago: B holds it too
        self.assertEqual(P.yanked(srvb, "mirror", "pi-late"), {"1.0.0": False, "1.1.0": True})
        # B's policy changes: so do the verdicts, over the same files
        write_b(min_age="0")
        P.hup_and_wait(srvb, 1)
        self.assertEqual(P.yanked(srvb, "mirror", "po-held"), {"1.0.0": False, "1.1.0": False})
        self.assertEqual(P.yanked(srvb, "mirror", "po-deny"), {"1.0.0": False})
        self.assertEqual(P.download(srvb, "mirror", "po-deny", "1.0.0").status, 200)
        # back to B's policy: a cargo on B builds, locked, the held
        # version its lock file pins
        write_b(min_age="1 day", deny=["po-deny"])
        P.hup_and_wait(srvb, 2)
        self.assertEqual(P.yanked(srvb, "mirror", "po-held"), {"1.0.0": False, "1.1.0": True})
        cargo = P.mirror_cargo(self.tmp, srvb)
        proj = P.project(self.tmp, "b", {"po-held": "1"})
        with open(os.path.join(proj, "Cargo.lock"), "w") as f:
            f.write(lock_text("proj-b", [("po-held", "1.1.0", "sparse+%s/mirror/" % srvb.url,
                                          self.tree.cksums[("po-held", "1.1.0")])]))
        cargo.run(["build", "--locked"], proj, logs=[srvb])

if __name__ == "__main__":
    harness.main()
