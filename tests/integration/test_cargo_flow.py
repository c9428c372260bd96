#!/usr/bin/env python3
"""Real cargo against a real crated: publish, build metadata, mixed-case
names, renamed and optional (dep:) dependencies, a consumer build with
Cargo.lock checksums, yank / --locked / unyank, owners, search, and refused
republishing (cargo's stderr must carry crated's error text).

The steps depend on each other and run in order (test_01 ... test_10) on
one server, one CARGO_HOME and one CARGO_TARGET_DIR."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, index_path, make_crate, make_project, read_lock  # noqa: E402


ALPHA_LIB = "pub fn alpha() -> u32 { 1 }\n#[cfg(feature = \"fancy\")]\npub fn fancy() -> u32 { 2 }\n"
BETA_DEPS = '''
alpha = { version = "1", registry = "local", features = ["fancy"] }
gamma_renamed = { package = "gamma", version = "0.1", registry = "local" }
delta = { version = "0.1", registry = "local", optional = true }
'''
BETA_FEATURES = '''
default = []
extra = ["dep:delta"]
gammaplus = ["gamma_renamed/plus"]
'''
BETA_LIB = '''#![allow(non_snake_case)]
pub fn beta() -> u32 { alpha::alpha() + alpha::fancy() + gamma_renamed::gamma() }
#[cfg(feature = "extra")]
pub fn extra() -> u32 { delta::delta() }
'''


class CargoFlowTest(harness.SharedServer, harness.Steps):
    maxDiff = 6000
    failed = False

    @classmethod
    def server_ready(cls):
        cls.cargo = harness.CargoEnv(cls.tmp, cls.srv.port)
        cls.proj = os.path.join(cls.tmp, "projects")
        os.makedirs(cls.proj)
        cls.locks = {}


    # helpers
    def cargo_ok(self, args, cwd):
        return self.cargo.run_cargo(args, cwd, check=True, server=self.srv)

    def cargo_fail(self, args, cwd):
        rc, out, err = self.cargo.run_cargo(args, cwd, check=False)
        self.assertNotEqual(rc, 0, "cargo %s should have failed:\n%s" % (" ".join(args), err))
        return err

    def pdir(self, name):
        return os.path.join(self.proj, name)

    def lines(self, name):
        return self.srv.index_lines(name)

    def publish_project(self, name, version, **kw):
        d = make_project(self.pdir(name), name, version, **kw)
        self.cargo_ok(["publish", "--registry", "local"], d)
        vers = [l["vers"] for l in self.lines(name)]
        self.assertIn(version, vers, "published %s %s not in index" % (name, version))
        # the uploaded .crate is the one cargo packaged, byte for byte
        # (cargo 1.95 writes it to target/package/tmp-crate/, older ones to target/package/)
        pkgdir = os.path.join(self.cargo.target, "package")
        fname = "%s-%s.crate" % (name, version)
        packaged = [os.path.join(pkgdir, sub, fname) for sub in ("tmp-crate", "")
                    if os.path.isfile(os.path.join(pkgdir, sub, fname))]
        self.assertTrue(packaged, "cargo's packaged %s not found under %s" % (fname, pkgdir))
        with open(packaged[0], "rb") as f:
            data = f.read()
        line = [l for l in self.lines(name) if l["vers"] == version][0]
        self.assertEqual(line["cksum"], harness.sha256_hex(data))
        low = name.lower()
        on_disk = os.path.join(self.srv.data_dir, "local", "crates", low, "%s-%s.crate" % (low, version))
        with open(on_disk, "rb") as f:
            self.assertEqual(f.read(), data, "stored .crate differs from the upload")
        r = self.srv.get("/local/api/v1/crates/%s/%s/download" % (name, version))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)
        self.assertTrue(os.path.isfile(os.path.join(self.srv.data_dir, "local", "index", index_path(name))))
        return d

    def lock_pkgs(self, d):
        return {p["name"]: p for p in read_lock(os.path.join(d, "Cargo.lock"))}

    # ----------------------------------------------------------------------

    def test_01_publish_alpha(self):
        self.publish_project("alpha", "1.0.0", lib_rs=ALPHA_LIB, features="fancy = []")
        self.publish_project("alpha", "1.0.1+build.5", lib_rs=ALPHA_LIB, features="fancy = []")
        self.assertEqual([l["vers"] for l in self.lines("alpha")], ["1.0.0", "1.0.1+build.5"])
        f = os.path.join(self.srv.data_dir, "local", "crates", "alpha", "alpha-1.0.1+build.5.crate")
        self.assertTrue(os.path.isfile(f))

    def test_02_build_metadata_duplicate(self):
        # 1.0.0+build.5 equals 1.0.0 but for build metadata: refused. cargo
        # itself finds 1.0.0 in the index (its exact-version query ignores
        # build metadata) and may stop before uploading; either cargo's
        # "already exists" or crated's error text is acceptable there, and
        # the server's refusal is checked with a raw PUT.
        d = make_project(self.pdir("alpha"), "alpha", "1.0.0+build.5", lib_rs=ALPHA_LIB, features="fancy = []")
        err = self.cargo_fail(["publish", "--registry", "local", "--no-verify"], d)
        self.assertTrue("already exists" in err or "remote server responded with an error" in err, err)
        for vers in ("1.0.0+build.5", "1.0.1", "1.0.1+other"):
            with self.subTest(vers=vers):
                r = self.srv.publish(crate_meta("alpha", vers), make_crate("alpha", vers))
                self.assertTrue(400 <= r.status < 500, r)
                detail = harness.errors_detail(self, r).lower()
                # "already exists", or for a build-metadata twin a message
                # naming the existing version
                self.assertIn("already", detail)
                self.assertIn(vers.split("+")[0], detail)
        self.assertEqual([l["vers"] for l in self.lines("alpha")], ["1.0.0", "1.0.1+build.5"])

    def test_03_publish_gamma_delta_beta(self):
        self.publish_project("gamma", "0.1.0", lib_rs="pub fn gamma() -> u32 { 3 }\n", features="plus = []")
        self.publish_project("delta", "0.1.0", lib_rs="pub fn delta() -> u32 { 4 }\n")
        self.publish_project("Beta_Mixed", "0.1.0", deps=BETA_DEPS, features=BETA_FEATURES, lib_rs=BETA_LIB)
        r = self.srv.get("/local/be/ta/beta_mixed")
        self.assertEqual(r.status, 200, r)
        (line,) = [json.loads(l) for l in r.body.decode().splitlines()]
        self.assertEqual(line["name"], "Beta_Mixed")
        deps = {d["name"]: d for d in line["deps"]}
        self.assertEqual(set(deps), {"alpha", "gamma_renamed", "delta"}, line)
        self.assertEqual(deps["gamma_renamed"]["package"], "gamma")
        self.assertEqual(deps["gamma_renamed"]["req"], "^0.1")
        self.assertIsNone(deps["alpha"].get("package"))
        self.assertEqual(deps["alpha"]["features"], ["fancy"])
        self.assertIs(deps["delta"]["optional"], True)
        for d in deps.values():
            self.assertIsNone(d.get("registry"), "same-registry deps have registry null: %r" % d)
            self.assertEqual(d["kind"], "normal")
            self.assertIs(d["default_features"], True)
        feats = dict(line.get("features", {}))
        feats.update(line.get("features2", {}))
        self.assertEqual(feats.get("extra"), ["dep:delta"], line)
        self.assertEqual(feats.get("gammaplus"), ["gamma_renamed/plus"], line)
        self.assertTrue(os.path.isfile(os.path.join(self.srv.data_dir, "local", "crates", "beta_mixed",
                                                    "beta_mixed-0.1.0.crate")))

    def test_04_consumer(self):
        d = make_project(self.pdir("consumer"), "consumer", "0.1.0", publish=False,
                         deps='Beta_Mixed = { version = "0.1", registry = "local", features = ["extra"] }',
                         main_rs='fn main() { println!("{}", Beta_Mixed::beta() + Beta_Mixed::extra()); }\n')
        self.cargo_ok(["generate-lockfile"], d)
        pkgs = self.lock_pkgs(d)
        want = {"alpha": "1.0.1+build.5", "gamma": "0.1.0", "delta": "0.1.0", "Beta_Mixed": "0.1.0"}
        for name, vers in want.items():
            with self.subTest(pkg=name):
                self.assertIn(name, pkgs, "Cargo.lock lacks %s: %r" % (name, sorted(pkgs)))
                p = pkgs[name]
                self.assertEqual(p["version"], vers)
                self.assertEqual(p.get("source"), self.cargo.index_url)
                line = [l for l in self.lines(name) if l["vers"] == vers][0]
                self.assertEqual(p.get("checksum"), line["cksum"])
        self.cargo_ok(["build"], d)
        with open(os.path.join(d, "Cargo.lock")) as f:
            CargoFlowTest.locks["consumer"] = f.read()

    def test_05_yank(self):
        self.cargo_ok(["yank", "--version", "1.0.1+build.5", "alpha", "--registry", "local"], self.proj)
        y = {l["vers"]: l.get("yanked") for l in self.lines("alpha")}
        self.assertEqual(y, {"1.0.0": False, "1.0.1+build.5": True})
        # a fresh resolve avoids the yanked version
        d = make_project(self.pdir("fresh1"), "fresh1", publish=False,
                         deps='alpha = { version = "1", registry = "local" }')
        self.cargo_ok(["generate-lockfile"], d)
        self.assertEqual(self.lock_pkgs(d)["alpha"]["version"], "1.0.0")
        # and so does a fresh resolve of the consumer
        c2 = make_project(self.pdir("consumer2"), "consumer2", publish=False,
                          deps='Beta_Mixed = { version = "0.1", registry = "local", features = ["extra"] }')
        self.cargo_ok(["generate-lockfile"], c2)
        self.assertEqual(self.lock_pkgs(c2)["alpha"]["version"], "1.0.0")
        # the existing lock file still builds, downloading the yanked crate again
        c = self.pdir("consumer")
        with open(os.path.join(c, "Cargo.lock")) as f:
            self.assertEqual(f.read(), self.locks["consumer"])
        self.cargo.clear_download_cache()
        self.cargo_ok(["build", "--locked"], c)
        cached = [f for _, _, fs in os.walk(os.path.join(self.cargo.home, "registry", "cache")) for f in fs]
        self.assertIn("alpha-1.0.1+build.5.crate", cached)

    def test_06_unyank(self):
        self.cargo_ok(["yank", "--undo", "--version", "1.0.1+build.5", "alpha", "--registry", "local"],
                      self.proj)
        y = {l["vers"]: l.get("yanked") for l in self.lines("alpha")}
        self.assertEqual(y, {"1.0.0": False, "1.0.1+build.5": False})
        d = make_project(self.pdir("fresh2"), "fresh2", publish=False,
                         deps='alpha = { version = "1", registry = "local" }')
        self.cargo_ok(["generate-lockfile"], d)
        self.assertEqual(self.lock_pkgs(d)["alpha"]["version"], "1.0.1+build.5")
        # versions are unique up to build metadata, so the plain version
        # names the same release (cargo sends --version verbatim)
        self.cargo_ok(["yank", "--version", "1.0.1", "alpha", "--registry", "local"], self.proj)
        self.assertIs([l for l in self.lines("alpha") if l["vers"] == "1.0.1+build.5"][0]["yanked"], True)
        self.cargo_ok(["yank", "--undo", "--version", "1.0.1", "alpha", "--registry", "local"], self.proj)
        self.assertIs([l for l in self.lines("alpha") if l["vers"] == "1.0.1+build.5"][0]["yanked"], False)
        # fresh1's lock (1.0.0) updates to the unyanked version
        self.cargo_ok(["update"], self.pdir("fresh1"))
        self.assertEqual(self.lock_pkgs(self.pdir("fresh1"))["alpha"]["version"], "1.0.1+build.5")

    def test_07_owners(self):
        def owners():
            _, out, err = self.cargo_ok(["owner", "--list", "alpha", "--registry", "local"], self.proj)
            return [l.split()[0] for l in out.splitlines() if l.strip()]
        self.assertNotIn("someone", owners())
        self.cargo_ok(["owner", "--add", "someone", "alpha", "--registry", "local"], self.proj)
        self.assertIn("someone", owners())
        self.cargo_ok(["owner", "--remove", "someone", "alpha", "--registry", "local"], self.proj)
        self.assertNotIn("someone", owners())

    def test_08_search(self):
        _, out, _ = self.cargo_ok(["search", "alpha", "--registry", "local"], self.proj)
        self.assertRegex(out, r'(?m)^alpha = "1\.0\.1\+build\.5"\s+# test crate alpha', out)
        _, out, _ = self.cargo_ok(["search", "beta_mixed", "--registry", "local"], self.proj)
        self.assertRegex(out, r'(?m)^Beta_Mixed = "0\.1\.0"', out)

    def test_09_republish_refused(self):
        # cargo checks the index first and stops with "already exists"
        d = make_project(self.pdir("alpha"), "alpha", "1.0.0", lib_rs=ALPHA_LIB, features="fancy = []")
        err = self.cargo_fail(["publish", "--registry", "local", "--no-verify"], d)
        self.assertIn("already exists", err)
        # the server refuses the same upload by itself
        before = harness.snapshot(self.srv.data_dir)
        with open(os.path.join(self.srv.data_dir, "local", "crates", "alpha", "alpha-1.0.0.crate"), "rb") as f:
            crate = f.read()
        r = self.srv.publish(crate_meta("alpha", "1.0.0"), crate)
        self.assertTrue(400 <= r.status < 500, r)
        self.assertIn("already exists", harness.errors_detail(self, r).lower())
        self.assertEqual(harness.snapshot_diff(before, harness.snapshot(self.srv.data_dir)), [])
        # a refusal cargo cannot foresee (name differs only in case from an
        # existing crate): cargo uploads and shows crated's error text
        r = self.srv.publish(crate_meta("Alpha", "2.0.0"), make_crate("Alpha", "2.0.0"))
        self.assertTrue(400 <= r.status < 500, r)
        detail = harness.errors_detail(self, r)
        d = make_project(self.pdir("Alpha"), "Alpha", "2.0.0", lib_rs=ALPHA_LIB)
        err = self.cargo_fail(["publish", "--registry", "local", "--no-verify"], d)
        self.assertIn("the remote server responded with an error", err)
        self.assertIn(detail, err.replace("\n", " "), "crated's detail not in cargo's stderr")
        self.assertEqual(harness.snapshot_diff(before, harness.snapshot(self.srv.data_dir)), [])

    def test_11_owners_on_disk(self):
        # disk layout (cache/README.md): a hosted crate's owners live in
        # local/meta/<index path>, a JSON object {"owners": [...], ...}
        self.cargo_ok(["owner", "--add", "keeper", "alpha", "--registry", "local"], self.proj)
        p = os.path.join(self.srv.data_dir, "local", "meta", "al", "ph", "alpha")
        self.assertTrue(os.path.isfile(p), "no owner list at %s; data dir has: %s" % (
            p, sorted(k for k in harness.snapshot(self.srv.data_dir) if "alpha" in k)))
        with open(p, "rb") as f:
            self.assertIn("keeper", json.load(f)["owners"])

    def test_10_index_over_http(self):
        r = self.srv.get("/local/al/ph/alpha")
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("text/plain"), r)
        self.assertTrue(r.header("etag"), r)
        self.assertTrue(r.body.endswith(b"\n"))
        lines = r.body.decode().split("\n")[:-1]
        docs = [json.loads(l) for l in lines]
        self.assertEqual([d["vers"] for d in docs], ["1.0.0", "1.0.1+build.5"])
        for doc in docs:
            self.assertEqual(doc["name"], "alpha")
            self.assertRegex(doc["cksum"], r"^[0-9a-f]{64}$")
            self.assertEqual(doc["features"], {"fancy": []})
            self.assertEqual(doc["deps"], [])
            self.assertLessEqual(doc.get("v", 1), 2)
            if "pubtime" in doc:
                self.assertRegex(doc["pubtime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # every line is the bytes on disk
        with open(os.path.join(self.srv.data_dir, "local", "index", "al", "ph", "alpha"), "rb") as f:
            self.assertEqual(f.read(), r.body)


if __name__ == "__main__":
    harness.main()
