#!/usr/bin/env python3
"""The portable client layout: projects name the upstream registries, cargo
reaches them only through crated, Cargo.lock keeps the upstream URLs.

Two stand-in upstream registries A and B; pb-top in B depends on pa-leaf
in A (its index line has "registry": "<A's index URL>"). crated mirrors
both (registries a and b). The consumer's cargo config:

    [registries.a]          index = "<A>"              (what Cargo.toml names)
    [registries.a-crated]   index = "sparse+<crated>/a/"
    [source.a-upstream]     registry = "<A>", replace-with = "a-crated"
    (the same for b)

The stand-ins log every request's User-Agent: only crated's may appear.
Cargo.lock must hold the upstream URLs and no crated address. A second
fresh CARGO_HOME builds with both upstreams stopped (crated's cache, within
the TTL). The same is checked with the config that
`crated cargo-config --config FILE --url URL` prints, and with the layout
of design.md ([source.X-via-crated] registry = crated's URL)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import read_lock  # noqa: E402

MAIN = 'fn main() { println!("{}", pb_top::b()); }\n'


def brief_layout(name, upstream, crated_url):
    return ('[registries.%(n)s]\nindex = "%(u)s"\n'
            '[registries.%(n)s-crated]\nindex = "sparse+%(c)s/%(n)s/"\n'
            '[source.%(n)s-upstream]\nregistry = "%(u)s"\nreplace-with = "%(n)s-crated"\n'
            % {"n": name, "u": upstream, "c": crated_url})


def design_layout(name, upstream, crated_url):
    return ('[registries.%(n)s]\nindex = "%(u)s"\n'
            '[source.%(n)s-upstream]\nregistry = "%(u)s"\nreplace-with = "%(n)s-via-crated"\n'
            '[source.%(n)s-via-crated]\nregistry = "sparse+%(c)s/%(n)s/"\n'
            % {"n": name, "u": upstream, "c": crated_url})


class PortableTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.sa = S.StandIn()
        self.addCleanup(self.sa.stop)
        self.sb = S.StandIn()
        self.addCleanup(self.sb.stop)
        self.ta = S.RegistryTree(base="/a/", dl="/dl/a/{crate}/{version}")
        self.tb = S.RegistryTree(base="/b/", dl="/dl/b/{lowerprefix}/{crate}-{version}.crate")
        self.ta.attach_standin(self.sa)
        self.tb.attach_standin(self.sb)
        self.A = "sparse+%s/a/" % self.sa.base
        self.B = "sparse+%s/b/" % self.sb.base
        pk = harness.Cargo(self.tmp, '[registries.a]\nindex = "%s"\n[registries.b]\nindex = "%s"\n'
                     % (self.A, self.B))
        w = os.path.join(self.tmp, "pkg")
        self.leaf = S.package_into(pk, self.ta, w, "pa-leaf", "0.1.0", "a",
                                   lib_rs="pub fn a() -> u32 { 7 }\n")
        self.top = S.package_into(
            pk, self.tb, w, "pb-top", "0.1.0", "b",
            deps_toml='pa-leaf = { version = "0.1", registry = "a" }',
            index_deps=[S.index_dep("pa-leaf", "^0.1", registry=self.A)],
            lib_rs="pub fn b() -> u32 { pa_leaf::a() + 1 }\n")
        self.mark_a, self.mark_b = self.sa.mark(), self.sb.mark()
        self.crated = self.start_crated(registries=S.mirror_toml("a", self.A, index_ttl=600)
                                        + S.mirror_toml("b", self.B, index_ttl=600))

    def build(self, config, tag):
        cargo = harness.Cargo(self.tmp, config)
        d = harness.make_project(os.path.join(self.tmp, "consumer-" + tag), "consumer", publish=False,
                                 deps='pb-top = { version = "0.1", registry = "b" }', main_rs=MAIN)
        cargo.run(["build"], d, logs=[self.crated])
        rc, out, err = cargo.run(["run", "-q"], d, logs=[self.crated])
        self.assertEqual(out.strip(), "8")
        with open(os.path.join(d, "Cargo.lock")) as f:
            text = f.read()
        return {p["name"]: p for p in read_lock(os.path.join(d, "Cargo.lock"))}, text

    def check(self, pkgs, lock_text):
        self.assertEqual(pkgs["pa-leaf"].get("source"), self.A, lock_text)
        self.assertEqual(pkgs["pb-top"].get("source"), self.B, lock_text)
        self.assertEqual(pkgs["pa-leaf"].get("checksum"), S.sha256_hex(self.leaf))
        self.assertEqual(pkgs["pb-top"].get("checksum"), S.sha256_hex(self.top))
        self.assertNotIn("127.0.0.1:%d" % self.crated.port, lock_text,
                         "crated's address leaked into Cargo.lock")
        for si, mark in ((self.sa, self.mark_a), (self.sb, self.mark_b)):
            reqs = si.since(mark)
            direct = [r for r in reqs if not (r.header("user-agent") or "").startswith("crated/")]
            self.assertEqual(direct, [], "cargo contacted an upstream directly: %r" % direct)

    def stop_upstreams_and_rebuild(self, config, tag):
        self.sa.stop()
        self.sb.stop()
        pkgs, text = self.build(config, tag)
        self.check(pkgs, text)

    def layout(self, fn):
        return fn("a", self.A, self.crated.url) + fn("b", self.B, self.crated.url)

    def test_brief_layout(self):
        cfg = self.layout(brief_layout)
        pkgs, text = self.build(cfg, "1")
        self.check(pkgs, text)
        # crated did fetch from both upstreams
        self.assertTrue(self.sa.since(self.mark_a) and self.sb.since(self.mark_b))
        self.stop_upstreams_and_rebuild(cfg, "2")

    def test_design_layout(self):
        cfg = self.layout(design_layout)
        pkgs, text = self.build(cfg, "1")
        self.check(pkgs, text)
        self.stop_upstreams_and_rebuild(cfg, "2")

    def test_cargo_config_command(self):
        rc, out, err = harness.run_crated(["cargo-config", "--config", self.crated.config_path,
                                           "--url", self.crated.url], cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        try:
            import tomllib
        except ImportError:
            tomllib = None
        if tomllib is not None:
            doc = tomllib.loads(out)
            for n, up in (("a", self.A), ("b", self.B)):
                self.assertEqual(doc["registries"][n]["index"], up, out)
                src = [s for s in doc.get("source", {}).values() if s.get("registry") == up]
                self.assertTrue(src and src[0].get("replace-with"), out)
        pkgs, text = self.build(out, "1")
        self.check(pkgs, text)
        self.stop_upstreams_and_rebuild(out, "2")


if __name__ == "__main__":
    harness.main()
