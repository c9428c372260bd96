#!/usr/bin/env python3
"""Offline CI with real cargo: resolve online through a mirror, prefetch the
lock file into a separate empty data dir, stop the upstream, serve that dir
with `crated serve --offline`, and build with --locked from a fresh
CARGO_HOME. Then: a version published upstream but never prefetched
(o-leaf 1.2.0) is invisible offline, also to a CARGO_HOME that cached the
unfiltered index from the online mirror at the same URL (no 304 on its
stale validators).

Graph (published into a second crated's hosted registry `up`):
    o-top 1.0.0 -> o-mid "1";  o-mid 1.0.0 -> o-leaf "1.0";
    o-leaf 1.0.0, 1.1.0 (and later 1.2.0)."""

import gzip
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import offline_common as C  # noqa: E402
from harness import index_path, read_lock  # noqa: E402


def lock_pkgs(proj):
    return {p["name"]: p for p in read_lock(os.path.join(proj, "Cargo.lock"))}


class OfflineCargoTest(harness.TestCase):

    def cargo_for(self, port):
        return harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+http://127.0.0.1:%d/mirror/"\n' % port)

    def timed(self, cargo, args, cwd, logs=(), what=""):
        t0 = time.monotonic()
        res = cargo.run(args, cwd, logs=logs)
        C.log("cargo %s (%s): %.1f s" % (" ".join(args), what or os.path.basename(cwd),
                                         time.monotonic() - t0))
        return res

    def test_prefetch_then_offline_build(self):
        tmp = self.tmp
        # --- upstream with the graph
        up = C.Upstream(self, tmp)
        C.publish_graph(up)

        # --- online mirror (index_ttl 0: it revalidates, so it sees 1.2.0 later)
        online = self.start_crated(name="online", data_dir=os.path.join(tmp, "online-data"),
                                   registries=S.mirror_toml("mirror", up.index, index_ttl=0))
        mport = online.port
        src = "sparse+http://127.0.0.1:%d/mirror/" % mport
        h1 = self.cargo_for(mport)
        c1 = harness.make_project(os.path.join(tmp, "consumer"), "consumer", publish=False,
                                  deps='o-top = { version = "1", registry = "mirror" }',
                                  main_rs=C.CONSUMER_MAIN)
        self.timed(h1, ["generate-lockfile"], c1, [online], "online")
        self.timed(h1, ["build"], c1, [online], "online")
        pkgs = lock_pkgs(c1)
        want = {"o-top": "1.0.0", "o-mid": "1.0.0", "o-leaf": "1.1.0"}
        for name, vers in want.items():
            self.assertIn(name, pkgs, pkgs)
            self.assertEqual(pkgs[name]["version"], vers, pkgs[name])
            self.assertEqual(pkgs[name]["source"], src, pkgs[name])
            self.assertEqual(pkgs[name]["checksum"], up.cksum(name, vers), pkgs[name])

        # --- a version published after the lock was made, before the prefetch:
        # the prefetched index file names it, its .crate is never fetched
        up.publish("o-leaf", "1.2.0", lib_rs=C.leaf_lib("1.2.0"))

        # --- prefetch into a separate, empty data dir (in-process crated)
        off_data = os.path.join(tmp, "offline-data")
        os.makedirs(off_data)
        off_cfg = C.mirror_config(os.path.join(tmp, "offline.toml"), off_data, up.index)
        rc, out, err, summ = C.prefetch(self, ["--config", off_cfg, "--registry", "mirror",
                                               os.path.join(c1, "Cargo.lock")])
        self.assertIsNotNone(summ, "no summary line on stdout:\n" + out)
        self.assertEqual(summ.counts(), (3, 3, 0, 0, 0), summ.line)
        for name, vers in want.items():   # (sizes: the .crate files as published)
            self.assertRegex(err, r"(?m)^fetched %s %s \(%d bytes\)$"
                             % (name, vers, len(up.published[(name, vers)])), err)
        self.assertEqual(C.cached_crates(off_data, "mirror"), set(want.items()))
        for name, vers in want.items():
            with open(os.path.join(off_data, "mirror", "crates", name, "%s-%s.crate" % (name, vers)),
                      "rb") as f:
                self.assertEqual(f.read(), up.published[(name, vers)], "%s %s bytes" % (name, vers))
        self.assertEqual([l["vers"] for l in C.read_index_file(off_data, "mirror", "o-leaf")],
                         ["1.0.0", "1.1.0", "1.2.0"],
                         "the prefetched (unfiltered) index file should name every upstream version")
        self.assertTrue(os.path.isfile(os.path.join(off_data, "mirror", "upstream-config.json")))

        # a second prefetch of the same lock: everything already cached
        rc, out, err, summ2 = C.prefetch(self, ["--config", off_cfg, "--registry", "mirror", c1])
        self.assertEqual(summ2.counts(), (3, 0, 3, 0, 0), summ2.line)

        # --- a CARGO_HOME that sees the UNFILTERED index (with 1.2.0) online
        h2 = self.cargo_for(mport)
        p2 = harness.make_project(os.path.join(tmp, "wants-leaf-1"), "wants-leaf", publish=False,
                                  deps='o-leaf = { version = "1", registry = "mirror" }',
                                  main_rs='fn main() { println!("leaf={}", o_leaf::leaf()); }\n')
        self.timed(h2, ["generate-lockfile"], p2, [online], "online, stale home")
        self.assertEqual(lock_pkgs(p2)["o-leaf"]["version"], "1.2.0",
                         "online, o-leaf \"1\" should pick the newest version")
        full = online.get("/mirror/" + index_path("o-leaf"))
        self.assertEqual(full.status, 200, full)
        self.assertEqual([l["vers"] for l in S.parse_lines(full.body)], ["1.0.0", "1.1.0", "1.2.0"])
        full_etag, full_lm = full.header("ETag"), full.header("Last-Modified")
        self.assertTrue(full_etag and full_lm, full)
        fullz = online.get("/mirror/" + index_path("o-leaf"), headers={"Accept-Encoding": "gzip"})
        self.assertEqual(fullz.status, 200, fullz)
        full_etags = [full_etag, fullz.header("ETag")]   # (the gzip variant has its own)
        # cargo keeps the index file with its validator under registry/index/*/.cache
        cached = []
        for d, _, fs in os.walk(os.path.join(h2.home, "registry", "index")):
            if os.path.basename(d) == "le" and "o-leaf" in fs:
                with open(os.path.join(d, "o-leaf"), "rb") as f:
                    cached.append(f.read())
        self.assertEqual(len(cached), 1, "cargo's cached copy of o-leaf's index not found in %s" % h2.home)
        self.assertTrue(any(b"etag: " + e.encode() in cached[0] for e in full_etags),
                        "cargo cached none of the online ETags %r: %r" % (full_etags, cached[0][:80]))
        self.assertIn(b'"vers":"1.2.0"', cached[0])

        # --- the upstream goes away, and so does the online mirror
        online.stop()
        up.stop()
        with self.assertRaises(OSError):
            harness.http_request(up.crated.port, "GET", "/up/config.json", timeout=3)
        before = harness.snapshot(off_data)

        # --- crated --offline over the prefetched dir, on the online mirror's port
        # (same URL: the lock file's sources and h2's cache stay valid)
        harness.next_second()   # a fresh Last-Modified second for the filtered views
        off = C.start_on_port(self, tmp, mport, name="offline", data_dir=off_data,
                              registries=S.mirror_toml("mirror", up.index), args=["--offline"])
        regs = off.get("/-/registries").json()["registries"]
        self.assertEqual([(r["name"], r["offline"]) for r in regs], [("mirror", True)], regs)

        # fresh CARGO_HOME, fresh target, the online lock file: build --locked
        c1b = os.path.join(tmp, "consumer-offline")
        shutil.copytree(c1, c1b, ignore=shutil.ignore_patterns("target"))
        h3 = self.cargo_for(mport)
        self.timed(h3, ["build", "--locked"], c1b, [off], "offline, fresh home")
        exe = os.path.join(h3.target, "debug", "consumer")
        run = subprocess.run([exe], capture_output=True, timeout=30)
        self.assertEqual(run.stdout.decode().strip(), "top=222", run)   # (110 + 1) * 2
        self.assertEqual(lock_pkgs(c1b), pkgs, "--locked build changed the lock file")

        # --- raw HTTP: filtered index, own validators, 404s
        r = off.get("/mirror/" + index_path("o-leaf"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([l["vers"] for l in S.parse_lines(r.body)], ["1.1.0"], r.body)
        for line in S.parse_lines(r.body):
            self.assertEqual(line["cksum"], up.cksum("o-leaf", line["vers"]))
        self.assertNotIn(r.header("ETag"), full_etags, "filtered view kept an unfiltered ETag")
        self.assertNotEqual(r.header("Last-Modified"), full_lm)
        for hdrs in ({"If-None-Match": full_etags[0]}, {"If-Modified-Since": full_lm},
                     {"If-None-Match": full_etags[1], "Accept-Encoding": "gzip"},
                     {"If-None-Match": ", ".join(full_etags), "If-Modified-Since": full_lm}):
            with self.subTest(validators=hdrs):
                r2 = off.get("/mirror/" + index_path("o-leaf"), headers=hdrs)
                if r2.header("Content-Encoding") == "gzip":
                    r2.body = gzip.decompress(r2.body)
                self.assertEqual(r2.status, 200, "stale unfiltered validator got %r" % r2)
                self.assertEqual([l["vers"] for l in S.parse_lines(r2.body)], ["1.1.0"])
        r3 = off.get("/mirror/" + index_path("o-leaf"), headers={"If-None-Match": r.header("ETag")})
        self.assertEqual(r3.status, 304, "the view's own ETag should revalidate: %r" % r3)
        r4 = off.get("/mirror/" + index_path("o-leaf"), headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r4.status, 200, r4)
        if (r4.header("Content-Encoding") or "") == "gzip":
            self.assertEqual(gzip.decompress(r4.body), r.body)
            self.assertNotEqual(r4.header("ETag"), r.header("ETag"))
            self.assertNotIn(r4.header("ETag"), full_etags)
        # a crate of which nothing is cached
        r5 = off.get("/mirror/" + index_path("o-never"))
        detail = self.assertErrors(r5, [404])
        self.assertIn("offline mirror", detail)
        self.assertRegex(detail, r"not (found|cached|in)", detail)
        # downloads: cached version yes, others no
        dl = "/mirror/api/v1/crates/o-leaf/%s/download"
        r6 = off.get(dl % "1.1.0")
        self.assertEqual(r6.status, 200, r6)
        self.assertEqual(r6.body, up.published[("o-leaf", "1.1.0")])
        for v in ("1.2.0", "1.0.0"):
            with self.subTest(download=v):
                r7 = off.get(dl % v)
                detail = self.assertErrors(r7, [404])
                self.assertIn("offline", detail)

        # --- a fresh CARGO_HOME asking o-leaf "1" gets the cached 1.1.0
        h4 = self.cargo_for(mport)
        p3 = harness.make_project(os.path.join(tmp, "wants-leaf-2"), "wants-leaf", publish=False,
                                  deps='o-leaf = { version = "1", registry = "mirror" }',
                                  main_rs='fn main() { println!("leaf={}", o_leaf::leaf()); }\n')
        self.timed(h4, ["generate-lockfile"], p3, [off], "offline, fresh home")
        self.assertEqual(lock_pkgs(p3)["o-leaf"]["version"], "1.1.0")

        # --- the stale CARGO_HOME (cached unfiltered index with 1.2.0, and a
        # lock pinning 1.2.0): cargo update moves to 1.1.0; no 304 was served
        n0 = len(S.access_log(off))
        _, out, err = self.timed(h2, ["update"], p2, [off], "offline, stale home")
        self.assertEqual(lock_pkgs(p2)["o-leaf"]["version"], "1.1.0",
                         "cargo update with a stale CARGO_HOME kept 1.2.0:\n" + err)
        reqs = [x for x in S.access_log(off)[n0:] if x[1] == "/mirror/" + index_path("o-leaf")]
        self.assertTrue(reqs, "cargo did not ask for o-leaf's index: %r" % S.access_log(off)[n0:])
        self.assertNotIn(304, [s for _, _, s in reqs], reqs)
        n1 = len(S.access_log(off))
        self.timed(h2, ["generate-lockfile"], p2, [off], "offline, stale home")
        self.assertEqual(lock_pkgs(p2)["o-leaf"]["version"], "1.1.0")
        # now that cargo holds the view's validators, a 304 is fine
        self.timed(h2, ["build"], p2, [off], "offline, stale home")
        run = subprocess.run([os.path.join(h2.target, "debug", "wants-leaf")], capture_output=True,
                             timeout=30)
        self.assertEqual(run.stdout.decode().strip(), "leaf=110", run)
        C.log("offline o-leaf requests: %r" % [x for x in S.access_log(off)[n1:]
                                               if "o-leaf" in x[1]])

        # --- `offline = true` in the config file does the same as --offline
        off.stop()
        off2 = C.start_on_port(self, tmp, mport, name="offline-cfg", data_dir=off_data,
                               registries=S.mirror_toml("mirror", up.index, offline=True))
        r8 = off2.get("/mirror/" + index_path("o-leaf"))
        self.assertEqual(r8.status, 200, r8)
        self.assertEqual([l["vers"] for l in S.parse_lines(r8.body)], ["1.1.0"])
        self.assertEqual(off2.get(dl % "1.2.0").status, 404)
        off2.stop()

        # --- the offline data dir never gained 1.2.0 (nor anything else)
        self.assertEqual(C.cached_crates(off_data, "mirror"), set(want.items()))
        after = harness.snapshot(off_data)
        # (tmp/ and the cache accounting journal usage.log may change: serving
        # records use; so may web/, what the pages keep of the crates, their
        # descriptions read from the cached .crate files; index files,
        # metadata and crates may not)
        diff = [d for d in harness.snapshot_diff(before, after)
                if "tmp" not in d.split()[1].split("/") and not d.split()[1].endswith("/usage.log")
                and d.split()[1].split("/")[1:2] != ["web"]]
        self.assertEqual(diff, [], "serving offline changed the data dir")


if __name__ == "__main__":
    harness.main()
