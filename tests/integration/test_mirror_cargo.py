#!/usr/bin/env python3
"""Real cargo through a crated mirror (pull-through mode).

(a) The upstream is a second crated process in hosted mode: a three-level
    graph (m-base <- m-mid <- m-top, m-top also with a renamed dep on
    m-base) is published into it with `cargo publish --registry up`.
(b) The upstream is an independent static registry tree (built here from
    `cargo package` output: sha256, index lines, config.json with a dl
    template using markers), served by `python3 -m http.server`.

In both: a consumer that names registry "mirror" (crated) resolves and
builds; index files and .crate files cached by crated are the upstream's
bytes; a second fresh-CARGO_HOME build within the TTL sends no index or
.crate request upstream. Also: a mirror without relay_writes is read-only
(publish, yank, owners -> 403 saying so)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path, read_lock  # noqa: E402


TOP_DEPS_TOML = '''
m-mid = { version = "0.1", registry = "%(reg)s" }
basic = { package = "m-base", version = "0.1", registry = "%(reg)s" }
'''
TOP_LIB = "pub fn top() -> u32 { m_mid::mid() + basic::base() }\n"
MID_LIB = "pub fn mid() -> u32 { m_base::base() * 10 }\n"
BASE_LIB = "pub fn base() -> u32 { 2 }\n"
CONSUMER_MAIN = 'fn main() { println!("{}", m_top::top()); }\n'


class MirrorCargoMixin:
    """Shared consumer checks; needs self.crated (the mirror), self.tmp."""

    def consumer_config(self):
        return '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % self.crated.url

    def build_consumer(self, tag, top="m-top"):
        cargo = harness.Cargo(self.tmp, self.consumer_config())
        d = harness.make_project(os.path.join(self.tmp, "consumer-" + tag), "consumer", publish=False,
                                 deps='%s = { version = "0.1", registry = "mirror" }' % top,
                                 main_rs=CONSUMER_MAIN.replace("m_top", top.replace("-", "_")))
        cargo.run(["generate-lockfile"], d, logs=[self.crated])
        pkgs = {p["name"]: p for p in read_lock(os.path.join(d, "Cargo.lock"))}
        cargo.run(["build"], d, logs=[self.crated])
        return cargo, d, pkgs

    def check_lock(self, pkgs, names, upstream_lines):
        for name in names:
            with self.subTest(pkg=name):
                self.assertIn(name, pkgs, "Cargo.lock lacks %s: %r" % (name, sorted(pkgs)))
                p = pkgs[name]
                self.assertEqual(p.get("source"), "sparse+%s/mirror/" % self.crated.url)
                line = [l for l in upstream_lines(name) if l["vers"] == p["version"]][0]
                self.assertEqual(p.get("checksum"), line["cksum"])

    def check_cache(self, name, vers, index_body, crate_bytes):
        """crated's cache holds the upstream's index bytes and .crate."""
        mdir = os.path.join(self.crated.data_dir, "mirror")
        with open(os.path.join(mdir, "index", index_path(name)), "rb") as f:
            self.assertEqual(f.read(), index_body, "cached index file of %s differs from upstream" % name)
        self.assertTrue(os.path.isfile(os.path.join(mdir, "meta", index_path(name))),
                        "no meta file for %s" % name)
        low = name.lower()
        p = os.path.join(mdir, "crates", low, "%s-%s.crate" % (low, vers))
        self.assertTrue(os.path.isfile(p), "no cached .crate at %s; have %s" % (p, S.files_under(mdir)))
        with open(p, "rb") as f:
            self.assertEqual(f.read(), crate_bytes)
        r = self.crated.get("/mirror/" + index_path(name))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, index_body, "served index differs from upstream bytes")


class HostedUpstreamTest(MirrorCargoMixin, harness.TestCase):
    """(a) crated mirroring a hosted registry of another crated."""

    def setUp(self):
        super().setUp()
        self.up = self.start_crated(name="upstream", data_dir=os.path.join(self.tmp, "updata"),
                                    registries="[registries.up]\n")
        self.up_index = "sparse+%s/up/" % self.up.url
        self.crated = self.start_crated(
            name="mirror", data_dir=os.path.join(self.tmp, "data"),
            registries=S.mirror_toml("mirror", self.up_index, index_ttl=600))
        self.pub = harness.Cargo(self.tmp, '[registries.up]\nindex = "%s"\n' % self.up_index,
                           tokens={"up": "anything"})
        self.crates = {}
        for name, deps, lib in (("m-base", "", BASE_LIB),
                                ("m-mid", 'm-base = { version = "0.1", registry = "up" }', MID_LIB),
                                ("m-top", TOP_DEPS_TOML % {"reg": "up"}, TOP_LIB)):
            d = harness.make_project(os.path.join(self.tmp, "pub", name), name, "0.1.0", deps=deps,
                                     lib_rs=lib, publish="up")
            self.pub.run(["publish", "--registry", "up"], d, logs=[self.up])
            with open(os.path.join(self.up.data_dir, "up", "crates", name, "%s-0.1.0.crate" % name),
                      "rb") as f:
                self.crates[name] = f.read()

    def up_requests(self):
        return S.access_log(self.up, "/up/")

    def test_build_through_mirror(self):
        n0 = len(self.up_requests())
        _, d, pkgs = self.build_consumer("1")
        # (read the upstream's log before this test asks the upstream itself)
        up_reqs = self.up_requests()[n0:]
        self.check_lock(pkgs, ["m-base", "m-mid", "m-top"], lambda n: self.up.index_lines(n, reg="up"))
        # the renamed dependency is in the served line as the upstream wrote it
        top = self.up.index_lines("m-top", reg="up")[0]
        self.assertIn({"basic": "m-base"}, [{x["name"]: x.get("package")} for x in top["deps"]])
        idx = [p for m, p, s in up_reqs if S.is_index_path(p, "/up/")]
        dls = [p for m, p, s in up_reqs if "/download" in p]
        for name in ("m-base", "m-mid", "m-top"):
            self.assertIn("/up/" + index_path(name), idx, "crated never fetched %s: %r" % (name, up_reqs))
            self.assertIn("/up/api/v1/crates/%s/0.1.0/download" % name, dls, up_reqs)
            r = self.up.get("/up/" + index_path(name))
            self.check_cache(name, "0.1.0", r.body, self.crates[name])
        # one fetch per index file and per crate: cargo's own
        # dash/underscore probes may add 404s for other paths, never repeats
        for p in set(idx + dls):
            self.assertEqual((idx + dls).count(p), 1, "%s fetched more than once: %r" % (p, up_reqs))

        # second fresh CARGO_HOME, fresh target dir, lock file removed:
        # within the TTL no index file and no .crate is asked upstream
        n1 = len(self.up_requests())
        _, d2, pkgs2 = self.build_consumer("2")
        self.assertEqual({k: v.get("checksum") for k, v in pkgs2.items()},
                         {k: v.get("checksum") for k, v in pkgs.items()})
        again = self.up_requests()[n1:]
        bad = [(m, p, s) for m, p, s in again if S.is_index_path(p, "/up/") or "/download" in p]
        self.assertEqual(bad, [], "second build within the TTL reached the upstream: %r" % again)
        self.crated.check_log_clean()

    def test_mirror_is_read_only(self):
        cargo = harness.Cargo(self.tmp, self.consumer_config(), tokens={"mirror": "anything"})
        d = harness.make_project(os.path.join(self.tmp, "ro"), "m-readonly", "0.1.0", publish="mirror")
        rc, out, err = cargo.run(["publish", "--registry", "mirror", "--no-verify"], d, check=False)
        self.assertNotEqual(rc, 0, "publish to a mirror succeeded:\n" + err)
        self.assertIn("403", err, err)
        self.assertIn("read-only", err, err)
        self.assertEqual(self.up.index_lines("m-readonly", reg="up"), [],
                         "the publish reached the upstream")
        for method, path, body in (
                ("PUT", "/mirror/api/v1/crates/new", harness.publish_body(
                    harness.crate_meta("m-readonly", "0.1.0"), harness.make_crate("m-readonly", "0.1.0"))),
                ("DELETE", "/mirror/api/v1/crates/m-base/0.1.0/yank", None),
                ("PUT", "/mirror/api/v1/crates/m-base/0.1.0/unyank", b""),
                ("PUT", "/mirror/api/v1/crates/m-base/owners", b'{"users":["x"]}')):
            with self.subTest(method=method, path=path):
                r = self.crated.request(method, path, body=body,
                                        headers={"Authorization": "anything"})
                self.assertEqual(r.status, 403, r)
                self.assertErrors(r, [403])
        self.assertFalse(self.up.index_lines("m-base", reg="up")[0]["yanked"])


class StaticUpstreamTest(MirrorCargoMixin, harness.TestCase):
    """(b) crated mirroring a static tree served by python3 -m http.server.
    Crate names with upper case check {prefix}; the dl template uses
    {prefix}, {crate} and {version}."""

    NAMES = ("S_Base", "s-mid", "s-top")

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "www")
        os.makedirs(self.root)
        self.hs = harness_http = S.HttpServerProc(self.root, self.tmp)
        self.addCleanup(harness_http.stop)
        self.tree = S.RegistryTree(base="/", dl="/crates/{prefix}/{crate}/{crate}-{version}.crate")
        self.tree.attach_dir(self.root, self.hs.base)
        st = "sparse+%s/" % self.hs.base
        pk = harness.Cargo(self.tmp, '[registries.st]\nindex = "%s"\n' % st)
        self.crates = {}
        specs = (
            ("S_Base", "", BASE_LIB, []),
            ("s-mid", 'S_Base = { version = "0.1", registry = "st" }',
             MID_LIB.replace("m_base", "S_Base"), [S.index_dep("S_Base", "^0.1")]),
            ("s-top", 's-mid = { version = "0.1", registry = "st" }\n'
                      'basic = { package = "S_Base", version = "0.1", registry = "st" }',
             TOP_LIB.replace("m_mid", "s_mid"),
             [S.index_dep("s-mid", "^0.1"), S.index_dep("basic", "^0.1", package="S_Base")]),
        )
        for name, deps, lib, idx_deps in specs:
            d = harness.make_project(os.path.join(self.tmp, "pkg", name), name, "0.1.0", deps=deps,
                                     lib_rs="#![allow(non_snake_case)]\n" + lib, publish="st")
            self.crates[name] = S.cargo_package(pk, d, name, "0.1.0", "st")
            self.tree.add(name, "0.1.0", self.crates[name], deps=idx_deps)
        self.assertTrue(os.path.isfile(os.path.join(self.root, "crates", "S_/Ba", "S_Base",
                                                    "S_Base-0.1.0.crate")))
        self.crated = self.start_crated(
            name="mirror", data_dir=os.path.join(self.tmp, "data"),
            registries=S.mirror_toml("mirror", "sparse+%s/" % self.hs.base, index_ttl=600))

    def lines(self, name):
        return S.parse_lines(self.tree.index_body(name))

    def test_build_through_mirror(self):
        n0 = len(self.hs.requests())
        _, d, pkgs = self.build_consumer("1", top="s-top")
        self.check_lock(pkgs, list(self.NAMES), self.lines)
        reqs = self.hs.requests()[n0:]
        self.assertTrue(reqs, "http.server logged no request")
        paths = [p for m, p, s in reqs]
        for name in self.NAMES:
            self.assertIn("/" + index_path(name), paths, reqs)
            crate_url = "/crates/%s/%s/%s-0.1.0.crate" % (harness.dir_prefix(name), name, name)
            self.assertIn(crate_url, paths, reqs)
            self.assertEqual(paths.count(crate_url), 1, reqs)
            self.check_cache(name, "0.1.0", self.tree.index_body(name), self.crates[name])
        # served line is byte-for-byte the upstream's (the renamed dep too)
        r = self.crated.get("/mirror/" + index_path("s-top"))
        self.assertEqual(r.body, self.tree.index_body("s-top"))
        self.assertIn('"package":"S_Base"', r.text())

        n1 = len(self.hs.requests())
        _, d2, pkgs2 = self.build_consumer("2", top="s-top")
        again = self.hs.requests()[n1:]
        bad = [x for x in again if S.is_index_path(x[1], "/") or x[1].startswith("/crates/")]
        self.assertEqual(bad, [], "second build within the TTL reached the upstream: %r" % again)
        self.assertEqual({k: v.get("checksum") for k, v in pkgs2.items()},
                         {k: v.get("checksum") for k, v in pkgs.items()})

    def test_own_config_json(self):
        r = self.crated.get("/mirror/config.json")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertTrue(doc["dl"].startswith(self.crated.url + "/mirror/"), doc)
        self.assertEqual(doc.get("api"), self.crated.url + "/mirror", doc)
        self.assertNotIn(str(self.hs.port), json.dumps(doc), "upstream address leaked into config.json")


if __name__ == "__main__":
    harness.main()
