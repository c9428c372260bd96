#!/usr/bin/env python3
"""`crated prefetch`: checksum disagreement between Cargo.lock and the
upstream, --server mode filling a running crated's cache (then "already
cached"), sources that are skipped rather than failed (git, path, an
unmapped registry), directory scanning, and the refusal while a server
holds the data dir's lock.

The lock files come from real cargo resolving against the upstream (a
second crated's hosted registry `up`), so their sources name the upstream
URL and prefetch maps them to the mirror of that URL by itself."""

import os
import pty
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import offline_common as C  # noqa: E402
from harness import index_path, read_lock  # noqa: E402

WANT = {"o-top": "1.0.0", "o-mid": "1.0.0", "o-leaf": "1.1.0"}


class PrefetchTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.up = C.Upstream(self, self.tmp)
        C.publish_graph(self.up)
        # a consumer resolved by cargo directly against the upstream
        self.cargo = harness.Cargo(self.tmp, '[registries.up]\nindex = "%s"\n' % self.up.index)
        self.proj = harness.make_project(os.path.join(self.tmp, "projects", "consumer"), "consumer",
                                         publish=False, deps='o-top = { version = "1", registry = "up" }',
                                         main_rs=C.CONSUMER_MAIN)
        self.cargo.run(["generate-lockfile"], self.proj, logs=[self.up.crated])
        self.lock = os.path.join(self.proj, "Cargo.lock")
        self.pkgs = {p["name"]: p for p in read_lock(self.lock)}
        for name, vers in WANT.items():
            self.assertEqual(self.pkgs[name]["version"], vers)
            self.assertEqual(self.pkgs[name]["source"], self.up.index)
        self.data = os.path.join(self.tmp, "pf-data")
        self.cfg = C.mirror_config(os.path.join(self.tmp, "pf.toml"), self.data, self.up.index)

    def assert_cached(self, data_dir, want=WANT):
        self.assertEqual(C.cached_crates(data_dir, "mirror"), set(want.items()))
        for name, vers in want.items():
            with open(os.path.join(data_dir, "mirror", "crates", name, "%s-%s.crate" % (name, vers)),
                      "rb") as f:
                self.assertEqual(f.read(), self.up.published[(name, vers)])

    # ------------------------------------------------------------------

    def test_lock_checksum_disagrees_with_upstream(self):
        with open(self.lock) as f:
            text = f.read()
        good = self.pkgs["o-mid"]["checksum"]
        bad = ("0" if good[0] != "0" else "1") + good[1:]
        self.assertEqual(text.count(good), 1)
        with open(self.lock, "w") as f:
            f.write(text.replace(good, bad))
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, self.lock], expect_rc=1)
        self.assertEqual(summ.counts(), (3, 2, 0, 1, 0), summ.line)
        fails = C.failures(out)
        self.assertEqual(len(fails), 1, out)
        name, vers, reg, why = fails[0]
        self.assertEqual((name, vers, reg), ("o-mid", "1.0.0", "mirror"), out)
        self.assertIn(bad, why)
        self.assertIn(good, why)
        self.assertIn("checksum", why)
        self.assertIn("failed: o-mid 1.0.0", err)
        # the two good crates are cached; o-mid's .crate never was
        self.assert_cached(self.data, {"o-top": "1.0.0", "o-leaf": "1.1.0"})
        # o-mid's index file was cached (it was read to compare): offline,
        # with no version of it cached, it is a 404 naming the offline mirror
        self.assertTrue(os.path.isfile(os.path.join(self.data, "mirror", "index", index_path("o-mid"))))
        self.up.stop()
        off = self.start_crated(name="offline", data_dir=self.data,
                                registries=S.mirror_toml("mirror", self.up.index), args=["--offline"])
        r = off.get("/mirror/" + index_path("o-mid"))
        detail = self.assertErrors(r, [404])
        self.assertIn("offline mirror", detail)
        self.assertEqual(off.get("/mirror/api/v1/crates/o-mid/1.0.0/download").status, 404)
        r = off.get("/mirror/" + index_path("o-top"))
        self.assertEqual(r.status, 200, r)

    def test_version_missing_upstream(self):
        """A lock file naming a version the upstream does not have: that
        package fails with the reason, the others are fetched (--jobs 1)."""
        pk = [dict(self.pkgs[n]) for n in ("o-leaf", "o-mid")]
        pk.append({"name": "o-leaf", "version": "9.9.9", "source": self.up.index,
                   "checksum": "ab" * 32})
        lock = C.write_lock(os.path.join(self.tmp, "v", "Cargo.lock"), pk)
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, "--jobs", "1", lock], expect_rc=1)
        self.assertEqual(summ.counts(), (3, 2, 0, 1, 0), summ.line)
        self.assertEqual([f[:3] for f in C.failures(out)], [("o-leaf", "9.9.9", "mirror")], out)
        self.assertIn("no version 9.9.9", C.failures(out)[0][3])

    def test_server_mode_fills_running_crated(self):
        srv_data = os.path.join(self.tmp, "srv-data")
        srv = self.start_crated(name="srv", data_dir=srv_data,
                                registries=S.mirror_toml("mirror", self.up.index))
        # a second project whose lock names crated itself, a third under
        # target/ (not scanned) with a version nothing else wants
        other = os.path.join(self.tmp, "projects", "other")
        os.makedirs(other)
        own = "sparse+%s/mirror/" % srv.url
        C.write_lock(os.path.join(other, "Cargo.lock"), [
            {"name": "other", "version": "0.1.0", "dependencies": ["o-mid"]},
            {"name": "o-mid", "version": "1.0.0", "source": own,
             "checksum": self.pkgs["o-mid"]["checksum"], "dependencies": ["o-leaf"]},
            {"name": "o-leaf", "version": "1.1.0", "source": own,
             "checksum": self.pkgs["o-leaf"]["checksum"]}])
        hidden = os.path.join(self.tmp, "projects", "consumer", "target", "x")
        os.makedirs(hidden)
        C.write_lock(os.path.join(hidden, "Cargo.lock"), [
            {"name": "o-leaf", "version": "1.0.0", "source": self.up.index,
             "checksum": self.up.cksum("o-leaf", "1.0.0")}])
        before = S.files_under(srv_data)
        rc, out, err, summ = C.prefetch(self, ["--server", srv.url, os.path.join(self.tmp, "projects")])
        self.assertIn("from 2 lock files", err)
        self.assertEqual(summ.counts(), (3, 3, 0, 0, 0), summ.line)
        for name, vers in WANT.items():
            self.assertRegex(err, r"(?m)^fetched %s %s \(%d bytes\)$"
                             % (name, vers, len(self.up.published[(name, vers)])))
        # the running server's cache holds them (written in the background:
        # bounded wait)
        ok = harness.wait_until(lambda: C.cached_crates(srv_data, "mirror") == set(WANT.items()), 10)
        self.assertTrue(ok, "server cache: %r (before: %r)" % (S.files_under(srv_data), before))
        self.assert_cached(srv_data)
        self.assertNotIn(("o-leaf", "1.0.0"), C.cached_crates(srv_data, "mirror"))
        dls = [p for m, p, s in S.access_log(srv) if "/download" in p]
        self.assertEqual(sorted(dls), sorted("/mirror/api/v1/crates/%s/%s/download" % kv
                                             for kv in WANT.items()), dls)

        # again: everything already cached, nothing asked upstream
        n_up = len(S.access_log(self.up.crated, "/up/"))
        rc, out, err, summ = C.prefetch(self, ["--server", srv.url + "/", self.lock,
                                               os.path.join(other, "Cargo.lock")])
        self.assertEqual(summ.counts(), (3, 0, 3, 0, 0), summ.line)
        for name, vers in WANT.items():
            self.assertRegex(err, r"(?m)^cached +%s %s " % (name, vers))
        up_dl = [x for x in S.access_log(self.up.crated, "/up/")[n_up:] if "/download" in x[1]]
        self.assertEqual(up_dl, [], "a cached crate was fetched upstream again")

        # --server pointing at something that is not crated
        rc, out, err, _ = C.prefetch(self, ["--server", "http://127.0.0.1:9", self.lock], expect_rc=1)
        self.assertIn("does not answer like crated", err)

    def test_crate_bytes_disagree_with_index(self):
        """An upstream whose .crate does not hash to its own index cksum
        (the lock file agrees with the index): prefetch fails naming the
        crate and keeps nothing of it."""
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        good = harness.make_crate("t-good", "1.0.0")
        bad = harness.make_crate("t-bad", "1.0.0")
        tree.add("t-good", "1.0.0", good)
        tree.add("t-bad", "1.0.0", bad, cksum=harness.sha256_hex(bad + b"x"))
        url = "sparse+%s/reg/" % si.base
        cfg = C.mirror_config(os.path.join(self.tmp, "st.toml"), os.path.join(self.tmp, "st-data"), url)
        lock = C.write_lock(os.path.join(self.tmp, "st", "Cargo.lock"), [
            {"name": n, "version": "1.0.0", "source": url, "checksum": tree.cksums[(n, "1.0.0")]}
            for n in ("t-good", "t-bad")])
        rc, out, err, summ = C.prefetch(self, ["--config", cfg, lock], expect_rc=1)
        self.assertEqual(summ.counts(), (2, 1, 0, 1, 0), summ.line)
        self.assertEqual([f[:3] for f in C.failures(out)], [("t-bad", "1.0.0", "mirror")], out)
        self.assertEqual(C.cached_crates(os.path.join(self.tmp, "st-data"), "mirror"),
                         {("t-good", "1.0.0")})
        self.assertEqual(S.files_under(os.path.join(self.tmp, "st-data", "mirror", "tmp")), [])

    def test_other_sources_skipped_not_failed(self):
        ck = self.pkgs
        pk = [
            {"name": "ws-app", "version": "0.1.0",
             "dependencies": ["o-leaf", "gitdep", "pathdep", "serde", "corp-thing"]},
            {"name": "pathdep", "version": "0.2.0"},                       # path: no source
            {"name": "gitdep", "version": "0.3.0",
             "source": "git+https://example.invalid/gitdep.git?rev=abc#" + "a" * 40},
            {"name": "serde", "version": "1.0.200", "source": C.CRATES_IO,  # no crates.io mirror here
             "checksum": "cd" * 32},
            {"name": "corp-thing", "version": "2.0.0",
             "source": "sparse+https://corp.invalid/index/", "checksum": "ef" * 32},
            {"name": "o-leaf", "version": "1.1.0", "source": self.up.index,
             "checksum": ck["o-leaf"]["checksum"]},
        ]
        lock = C.write_lock(os.path.join(self.tmp, "mixed", "Cargo.lock"), pk, version=3)
        # skipped registry packages make the exit status 1 (an empty cache
        # is not a green job)
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, lock], expect_rc=1)
        self.assertEqual(C.failures(out), [], out)
        self.assertEqual((summ.crates, summ.fetched, summ.cached, summ.failed), (1, 1, 0, 0), summ.line)
        # the two registry packages crated does not serve are counted as
        # skipped; git and path packages are not registry packages at all
        self.assertGreaterEqual(summ.skipped, 2, summ.line)
        self.assertLessEqual(summ.skipped, 3, summ.line)
        C.log("skipped count with 1 git, 1 path, 2 unmapped-registry packages: %d" % summ.skipped)
        self.assertEqual(C.cached_crates(self.data, "mirror"), {("o-leaf", "1.1.0")})
        for n in ("gitdep", "pathdep", "serde", "corp-thing"):
            self.assertNotIn(n, err.replace("crated prefetch", ""), err)

    def test_crates_io_source_maps_to_index_crates_io_mirror(self):
        """`registry+https://github.com/rust-lang/crates.io-index` belongs to
        a mirror of https://index.crates.io/ (kept offline here: no network;
        the package is then attempted and fails, not skipped)."""
        cfg = harness.write_config(os.path.join(self.tmp, "cio.toml"), os.path.join(self.tmp, "cio"),
                                   ("127.0.0.1:0",), "",
                                   S.mirror_toml("cio", "sparse+https://index.crates.io/", offline=True))
        lock = C.write_lock(os.path.join(self.tmp, "cio-lock", "Cargo.lock"), [
            {"name": "serde", "version": "1.0.200", "source": C.CRATES_IO, "checksum": "cd" * 32}])
        rc, out, err, summ = C.prefetch(self, ["--config", cfg, lock], expect_rc=1)
        self.assertEqual(summ.counts(), (1, 0, 0, 1, 0), summ.line)
        f = C.failures(out)
        self.assertEqual([x[:3] for x in f], [("serde", "1.0.200", "cio")], out)
        self.assertIn("offline", f[0][3])

    def test_registry_option_forces_mapping(self):
        """A lock file from another URL (here a made-up one) is mapped with
        --registry; without it, it is skipped."""
        pk = [dict(self.pkgs[n], source="sparse+https://moved.invalid/up/") for n in WANT]
        lock = C.write_lock(os.path.join(self.tmp, "moved", "Cargo.lock"), pk)
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, lock], expect_rc=1)
        self.assertEqual(summ.counts(), (0, 0, 0, 0, 3), summ.line)
        self.assertEqual(C.cached_crates(self.data, "mirror"), set())
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, "--registry", "mirror", lock])
        self.assertEqual(summ.counts(), (3, 3, 0, 0, 0), summ.line)
        self.assert_cached(self.data)

    def test_progress_bar_on_a_tty(self):
        """stderr on a terminal: a progress bar instead of a line per crate;
        the summary still goes to stdout."""
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([harness.CRATED_BIN, "prefetch", "--config", self.cfg, self.lock],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                 env=harness.clean_env(), cwd=self.tmp)
            os.close(slave)
            slave = None
            chunks, deadline = [], time.monotonic() + 60
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    try:
                        data = os.read(master, 65536)
                    except OSError:      # EIO: the other side is closed
                        break
                    if not data:
                        break
                    chunks.append(data)
                elif p.poll() is not None:
                    break
            out = p.communicate(timeout=30)[0].decode()
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        tty = b"".join(chunks).decode(errors="replace")
        C.log("prefetch on a tty, stderr: %r" % tty[-300:])
        self.assertEqual(p.returncode, 0, out + tty)
        self.assertRegex(out, C.SUMMARY_RE.pattern)
        self.assertRegex(tty, r"\r\[#{30}\] 3/3 crates")
        self.assertNotRegex(tty, r"(?m)^fetched o-")

    def test_refuses_while_server_holds_data_dir(self):
        srv = self.start_crated(name="holder", data_dir=self.data,
                                registries=S.mirror_toml("mirror", self.up.index))
        # The server's start-up housekeeping (its usage journal goes
        # through tmp/, the old negative answers are pruned on a worker)
        # may still be writing: compare with what it settles on.
        self.assertTrue(harness.wait_until(lambda: os.path.exists(
            os.path.join(self.data, "mirror", "negatives-pruned")), 20),
            "the start-up prune did not end")
        before = harness.settled_snapshot(self.data)
        for args in (["--config", self.cfg, self.lock],
                     ["--config", self.cfg, "--data-dir", self.data, self.lock]):
            with self.subTest(args=args):
                rc, out, err, summ = C.prefetch(self, args, expect_rc=None)
                self.assertNotEqual(rc, 0, out + err)
                self.assertRegex(err, r"another crated|lock", err)
                self.assertIn(os.path.join(self.data, "lock"), err)
                self.assertUnchanged(before, harness.snapshot(self.data), "refused prefetch")
                self.assertIsNone(summ, "a refused prefetch printed a summary:\n" + out)
        self.assertTrue(srv.running())
        self.assertEqual(srv.get("/mirror/config.json").status, 200)
        # once the server is gone the same command works
        srv.stop()
        rc, out, err, summ = C.prefetch(self, ["--config", self.cfg, self.lock])
        self.assertEqual(summ.counts(), (3, 3, 0, 0, 0), summ.line)
        self.assert_cached(self.data)


if __name__ == "__main__":
    harness.main()
