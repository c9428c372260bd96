#!/usr/bin/env python3
"""Hardening of the store's write paths and the data commands (issue 22,
issue 23 §4).

  * a publish that does not get its index line (a crash between the two
    renames, a full disk on the index write) leaves no .crate: it is never
    downloadable, removed on the failed publish, swept at start; while a
    publish is between its renames, its version is a 404;
  * `crated import` checks every index line (JSON, the name of its path,
    the cksum), refuses files for a hosted registry unless --allow-hosted
    (then each line's .crate must be there and match), refuses bytes after
    the gzip stream and a plain tar named .tar.gz, and a bundle of a mirror
    of another upstream (unless --allow-other-upstream); a refused import
    leaves the data dir byte for byte as it was;
  * `crated token create` refuses a label already in use;
  * search with an undecodable q= is a 400;
  * `crated prefetch`: invalid crate names are named and fail the run; a
    FIFO named Cargo.lock is skipped; SIGTERM ends a run; with --server, a
    .crate that does not match its cksum is reported as a checksum
    mismatch."""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import offline_common as C  # noqa: E402
from harness import crate_meta, index_path, make_crate, sha256_hex  # noqa: E402

MANIFEST = "crated-bundle.json"
REFUSED = "refused, nothing changed"
UPSTREAM = "sparse+http://127.0.0.1:9/up/"


def crate_file(data_dir, reg, name, vers):
    return os.path.join(data_dir, reg, "crates", name, "%s-%s.crate" % (name, vers))


# ---------------------------------------------------------------------------
# publish: no .crate without its index line


class PublishOrphanTest(harness.TestCase):

    def test_crash_between_renames_crate_swept_and_not_served(self):
        data = os.path.join(self.tmp, "data")
        crate = make_crate("orph", "1.0.0")
        srv = harness.start_crated(self.tmp, env={"CRATED_CRASH_AT": "publish:after-crate-rename"})
        try:
            try:
                srv.publish(crate_meta("orph", "1.0.0"), crate, timeout=20)
            except Exception:
                pass
            self.assertEqual(srv.wait_exit(timeout=15), 99, srv.log_tail())
        finally:
            srv.stop(check=False)
        cf = crate_file(data, "local", "orph", "1.0.0")
        self.assertTrue(os.path.isfile(cf), "the crash point did not leave the .crate")
        srv = self.start_crated()
        d = srv.get("/local/api/v1/crates/orph/1.0.0/download")
        self.assertEqual(d.status, 404, "a .crate with no index line is served: %r" % d)
        self.assertFalse(os.path.exists(cf), "the orphan .crate is still on disk after a restart")
        self.assertIn("orph", srv.log_text())
        # the publish can be retried and is then complete
        self.assertEqual(srv.publish(crate_meta("orph", "1.0.0"), crate).status, 200)
        self.assertEqual(srv.get("/local/api/v1/crates/orph/1.0.0/download").body, crate)

    def test_download_while_publish_between_renames_is_404(self):
        data = os.path.join(self.tmp, "data")
        crate = make_crate("inflight", "1.0.0")
        srv = self.start_crated(env={"CRATED_PAUSE_AT": "publish:after-crate-rename=8000"})
        res = {}
        t = threading.Thread(target=lambda: res.update(r=srv.publish(
            crate_meta("inflight", "1.0.0"), crate, timeout=60)))
        t.start()
        try:
            cf = crate_file(data, "local", "inflight", "1.0.0")
            self.assertTrue(harness.wait_until(lambda: os.path.isfile(cf), 30), "no .crate written")
            d = srv.get("/local/api/v1/crates/inflight/1.0.0/download")
            self.assertEqual(d.status, 404, "a version without its index line is served: %r" % d)
        finally:
            t.join(90)
        self.assertEqual(res["r"].status, 200, res["r"])
        d = srv.get("/local/api/v1/crates/inflight/1.0.0/download")
        self.assertEqual((d.status, d.body), (200, crate))
        srv.stop()
        # once the index line is on disk the version is served, though the
        # publish has not finished (no 404 for what cargo can already see)
        crate2 = make_crate("inflight", "1.0.1")
        srv = self.start_crated(env={"CRATED_PAUSE_AT": "publish:after-index-rename=8000"})
        t = threading.Thread(target=lambda: res.update(r=srv.publish(
            crate_meta("inflight", "1.0.1"), crate2, timeout=60)))
        t.start()
        try:
            ip = os.path.join(data, "local", "index", index_path("inflight"))

            def listed():
                with open(ip, "rb") as f:
                    return b'"1.0.1"' in f.read()
            self.assertTrue(harness.wait_until(listed, 30), "no index line written")
            d = srv.get("/local/api/v1/crates/inflight/1.0.1/download")
            self.assertEqual((d.status, d.body), (200, crate2))
        finally:
            t.join(90)
        self.assertEqual(res["r"].status, 200, res["r"])

    def test_index_write_enospc_removes_crate(self):
        mnt = os.path.join(self.tmp, "small")
        os.mkdir(mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=200", "tmpfs", mnt],
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            self.skipTest("mount -t tmpfs is not permitted here: %s" % p.stderr.decode().strip())
        self.addCleanup(lambda: subprocess.run(["umount", "-l", mnt], capture_output=True,
                                               timeout=30))
        data = os.path.join(mnt, "data")
        srv = self.start_crated(data_dir=data)
        self.assertEqual(srv.publish(crate_meta("full", "1.0.0"), make_crate("full", "1.0.0")).status,
                         200)
        # take every inode but one: the .crate of 1.0.1 gets it, its index
        # line does not
        fill = os.path.join(mnt, "fill")
        os.mkdir(fill)
        n = 0
        try:
            for n in range(100000):
                open(os.path.join(fill, str(n)), "w").close()
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC, e)
        self.assertGreater(n, 0)
        os.unlink(os.path.join(fill, "0"))
        crate = make_crate("full", "1.0.1")
        r = srv.publish(crate_meta("full", "1.0.1"), crate)
        shutil.rmtree(fill)
        self.assertEqual(r.status, 507, r)
        self.assertIn("index", self.assertErrors(r).lower())
        cf = crate_file(data, "local", "full", "1.0.1")
        self.assertFalse(os.path.exists(cf), "the .crate of a publish that failed is kept")
        d = srv.get("/local/api/v1/crates/full/1.0.1/download")
        self.assertEqual(d.status, 404, d)
        self.assertEqual([l["vers"] for l in srv.index_lines("full")], ["1.0.0"])
        # with room again the retry succeeds
        r = srv.publish(crate_meta("full", "1.0.1"), crate)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(srv.get("/local/api/v1/crates/full/1.0.1/download").body, crate)
        srv.stop()


# ---------------------------------------------------------------------------
# import


def bundle(path, files, registries=None, gz=True):
    """A bundle of files {path: bytes} with a consistent manifest."""
    manifest = {"format": 1, "created": int(time.time()), "since": 0,
                "files": [{"path": p, "size": len(d), "sha256": sha256_hex(d),
                           "mtime": int(time.time())} for p, d in files.items()]}
    if registries is not None:
        manifest["registries"] = registries
    mdata = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for p, d in list(files.items()) + [(MANIFEST, mdata)]:
            ti = tarfile.TarInfo(p)
            ti.size = len(d)
            ti.mode = 0o644
            ti.mtime = int(time.time())
            tf.addfile(ti, io.BytesIO(d))
    return path


def version_files(reg, name, vers, line=None, with_crate=True):
    crate = make_crate(name, vers)
    if line is None:
        line = S.index_line(name, vers, sha256_hex(crate))
    out = {"%s/index/%s" % (reg, index_path(name)): (line + "\n").encode()}
    if with_crate:
        out["%s/crates/%s/%s-%s.crate" % (reg, name, name, vers)] = crate
    return out


class ImportTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.data = os.path.join(self.tmp, "data")
        self.cfg = harness.write_config(os.path.join(self.tmp, "c.toml"), self.data,
                                        registries="[registries.local]\n" +
                                        S.mirror_toml("mirror", UPSTREAM))
        # a data dir with something in it (and its lock file)
        rc, out, err = self.import_(bundle(os.path.join(self.tmp, "first.tar.gz"),
                                           version_files("mirror", "first", "1.0.0"),
                                           {"mirror": {"upstream": UPSTREAM}}))
        self.assertEqual(rc, 0, err)
        self.before = harness.snapshot(self.data)

    def import_(self, path, *flags):
        return C.run_cmd(self, ["import", "--config", self.cfg] + list(flags) + [path])

    def refused(self, path, why, *flags):
        rc, out, err = self.import_(path, *flags)
        self.assertNotEqual(rc, 0, "imported: %s\n%s%s" % (why, out, err))
        self.assertIn(REFUSED, err)
        self.assertUnchanged(self.before, harness.snapshot(self.data), why)
        return err

    def test_crate_differing_from_the_data_dirs_line_refused(self):
        """A version the data directory indexes already keeps its line (a
        version is immutable): a bundle's other .crate for it, with its own
        line, is refused, not stored under the kept line's cksum."""
        other = make_crate("first", "1.0.0", extra_files={"evil.rs": b"x"})
        line = S.index_line("first", "1.0.0", sha256_hex(other))
        b = bundle(os.path.join(self.tmp, "other.tar.gz"),
                   {"mirror/index/%s" % index_path("first"): (line + "\n").encode(),
                    "mirror/crates/first/first-1.0.0.crate": other},
                   {"mirror": {"upstream": UPSTREAM}})
        err = self.refused(b, "another .crate for a version the data directory has")
        self.assertIn("immutable", err)

    def test_hosted_registry_refused_without_flag(self):
        # the attack: a line for a crate with no .crate, in the hosted
        # registry, at another crate's path
        evil = S.index_line("serde", "9.9.9", "0" * 64)
        b = bundle(os.path.join(self.tmp, "evil.tar.gz"),
                   {"local/index/3/e/evt": (evil + "\n").encode()})
        self.refused(b, "an index line for a hosted registry")
        err = self.refused(b, "a line whose name is not its path's", "--allow-hosted")
        self.assertIn("serde", err)
        # a genuine version of the hosted registry: refused without the flag
        ok = bundle(os.path.join(self.tmp, "hosted.tar.gz"), version_files("local", "evt", "1.0.0"),
                    {"local": {"hosted": True}})
        err = self.refused(ok, "a hosted registry's files without --allow-hosted")
        self.assertIn("--allow-hosted", err)
        # ... and with it, but no .crate
        nocrate = bundle(os.path.join(self.tmp, "nocrate.tar.gz"),
                         version_files("local", "evt", "1.0.0", with_crate=False))
        err = self.refused(nocrate, "a hosted index line without its .crate", "--allow-hosted")
        self.assertIn("evt", err)
        # ... with it, and a .crate that does not match the line
        files = version_files("local", "evt", "1.0.0")
        files["local/crates/evt/evt-1.0.0.crate"] = make_crate("evt", "1.0.0", {"x.rs": b"other"})
        bad = bundle(os.path.join(self.tmp, "bad.tar.gz"), files)
        self.refused(bad, "a hosted line whose .crate does not match", "--allow-hosted")
        # with the flag and a matching .crate: imported and served
        rc, out, err = self.import_(ok, "--allow-hosted")
        self.assertEqual(rc, 0, err)
        srv = self.start_crated(data_dir=self.data, config_path=self.cfg)
        self.assertEqual([l["vers"] for l in srv.index_lines("evt")], ["1.0.0"])
        self.assertEqual(srv.get("/local/api/v1/crates/evt/1.0.0/download").status, 200)

    def test_name_not_matching_path_refused(self):
        line = S.index_line("serde", "1.0.0", "a" * 64)
        b = bundle(os.path.join(self.tmp, "b.tar.gz"),
                   {"mirror/index/3/e/evt": (line + "\n").encode()},
                   {"mirror": {"upstream": UPSTREAM}})
        err = self.refused(b, "a line naming serde at evt's path")
        self.assertIn("mirror/index/3/e/evt", err)

    def test_malformed_cksum_refused(self):
        for ck in ("XYZ", "A" * 64, "a" * 63):
            with self.subTest(cksum=ck):
                line = S.index_line("evt", "1.0.0", ck)
                b = bundle(os.path.join(self.tmp, "b.tar.gz"),
                           {"mirror/index/3/e/evt": (line + "\n").encode()},
                           {"mirror": {"upstream": UPSTREAM}})
                self.refused(b, "cksum %r" % ck)
        b = bundle(os.path.join(self.tmp, "j.tar.gz"), {"mirror/index/3/e/evt": b"{not json\n"},
                   {"mirror": {"upstream": UPSTREAM}})
        self.refused(b, "a line that is not JSON")

    def test_trailing_bytes_after_gzip_refused(self):
        b = bundle(os.path.join(self.tmp, "t.tar.gz"), version_files("mirror", "evt", "1.0.0"),
                   {"mirror": {"upstream": UPSTREAM}})
        with open(b, "ab") as f:
            f.write(b"trailing bytes, not covered by any check")
        err = self.refused(b, "bytes after the gzip stream")
        self.assertIn("after the end of its gzip stream", err)

    def test_plain_tar_named_tar_gz_refused(self):
        b = bundle(os.path.join(self.tmp, "plain.tar.gz"), version_files("mirror", "evt", "1.0.0"),
                   {"mirror": {"upstream": UPSTREAM}}, gz=False)
        err = self.refused(b, "a plain tar named .tar.gz")
        self.assertIn("not gzip", err)

    def test_other_upstream_refused_or_warned(self):
        files = version_files("mirror", "evt", "1.0.0")
        other = bundle(os.path.join(self.tmp, "other.tar.gz"), files,
                       {"mirror": {"upstream": "sparse+https://elsewhere.example/index/"}})
        err = self.refused(other, "a bundle of a mirror of another upstream")
        self.assertIn("elsewhere.example", err)
        self.assertIn("127.0.0.1:9", err)
        rc, out, err = self.import_(other, "--allow-other-upstream")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"warning: .*elsewhere\.example")
        self.assertTrue(os.path.isfile(crate_file(self.data, "mirror", "evt", "1.0.0")))

    def test_older_bundle_without_upstream_warns(self):
        old = bundle(os.path.join(self.tmp, "old.tar.gz"), version_files("mirror", "evt", "1.0.0"))
        rc, out, err = self.import_(old)
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"warning: .*does not record which upstream")

    def test_export_records_upstream(self):
        out = os.path.join(self.tmp, "out.tar.gz")
        rc, o, err = C.run_cmd(self, ["export", "--config", self.cfg, out])
        self.assertEqual(rc, 0, err)
        with tarfile.open(out, "r:gz") as tf:
            m = json.load(tf.extractfile(MANIFEST))
        self.assertEqual(m.get("registries", {}).get("mirror"), {"upstream": UPSTREAM}, m)
        # and it imports back here without a word
        rc, o, err = self.import_(out)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("warning", err)


# ---------------------------------------------------------------------------
# tokens, search


class TokenSearchTest(harness.TestCase):

    def test_duplicate_token_label_refused(self):
        data = os.path.join(self.tmp, "data")
        cfg = harness.write_config(os.path.join(self.tmp, "c.toml"), data)
        args = ["token", "create", "--config", cfg, "--registry", "local", "--scope", "publish",
                "--name", "alice"]
        rc, out, err = C.run_cmd(self, args)
        self.assertEqual(rc, 0, err)
        before = harness.snapshot(data)
        rc, out, err = C.run_cmd(self, args[:-3] + ["read", "--name", "alice"])
        self.assertNotEqual(rc, 0, "a second token labelled alice was created:\n" + err)
        self.assertIn("alice", err)
        self.assertEqual(out.strip(), "", "a token was printed")
        self.assertUnchanged(before, harness.snapshot(data), "a refused token create")
        rc, out, err = C.run_cmd(self, ["token", "list", "--config", cfg])
        self.assertEqual(out.count("alice"), 1, out)
        # a second token of the same owner, when asked for
        rc, out, err = C.run_cmd(self, args[:-3] + ["read", "--name", "alice", "--same-owner"])
        self.assertEqual(rc, 0, err)
        rc, out, err = C.run_cmd(self, ["token", "list", "--config", cfg])
        self.assertEqual(out.count("alice"), 2, out)

    def test_search_undecodable_query_is_400(self):
        srv = self.start_crated()
        for name in ("alpha", "beta"):
            self.assertEqual(srv.publish_simple(name, "1.0.0")[0].status, 200)
        for q in ("%%%", "%zz", "abc%", "%00"):
            with self.subTest(q=q):
                r = srv.get("/local/api/v1/crates?q=%s&per_page=10" % q)
                self.assertEqual(r.status, 400, r)
                self.assertIn("q=", self.assertErrors(r, (400,)))
        r = srv.get("/local/api/v1/crates?q=alp&per_page=10")
        self.assertEqual([c["name"] for c in r.json()["crates"]], ["alpha"])


# ---------------------------------------------------------------------------
# prefetch


class PrefetchTest(harness.TestCase):

    def mirror_cfg(self, upstream=UPSTREAM):
        return C.mirror_config(os.path.join(self.tmp, "pf.toml"), os.path.join(self.tmp, "pf-data"),
                               upstream)

    def test_invalid_names_named_and_fail(self):
        lock = C.write_lock(os.path.join(self.tmp, "p", "Cargo.lock"), [
            {"name": "app", "version": "0.1.0"},
            {"name": "bad.name", "version": "1.0.0", "source": UPSTREAM, "checksum": "a" * 64},
            {"name": "-dash", "version": "1.0.0", "source": UPSTREAM, "checksum": "b" * 64},
        ])
        rc, out, err, _ = C.prefetch(self, ["--config", self.mirror_cfg(), lock], timeout=60,
                                     expect_rc=None)
        self.assertNotEqual(rc, 0, "prefetch dropped invalid names and succeeded:\n" + out + err)
        self.assertIn("bad.name", err)
        self.assertIn("-dash", err)
        self.assertIn("2 packages with invalid crate names", out)

    def run_prefetch(self, args, timeout):
        p = subprocess.Popen([harness.CRATED_BIN, "prefetch"] + args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=harness.clean_env(None), cwd=self.tmp)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait(10)))
        return p

    def finish(self, p, timeout):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
            self.fail("prefetch did not end within %d s:\n%s" % (timeout, err.decode()[-2000:]))
        harness.check_sanitizer(err.decode(errors="replace"), "crated prefetch")
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def test_fifo_lock_file_skipped(self):
        d = os.path.join(self.tmp, "proj")
        os.makedirs(d)
        fifo = os.path.join(d, "Cargo.lock")
        os.mkfifo(fifo)
        p = self.run_prefetch(["--config", self.mirror_cfg(), d], 30)
        rc, out, err = self.finish(p, 30)
        self.assertIn("not a regular file", err)
        self.assertIn(fifo, err)
        self.assertNotEqual(rc, 0, "no lock file was read, yet prefetch succeeded")

    def test_sigterm_ends_a_run(self):
        si = S.StandIn()
        self.addCleanup(si.stop)
        self.addCleanup(si.release.set)
        si.set("/up/*", S.b_hang(60))
        url = "sparse+%s/up/" % si.base
        lock = C.write_lock(os.path.join(self.tmp, "p", "Cargo.lock"), [
            {"name": "slow", "version": "1.0.0", "source": url, "checksum": "a" * 64}])
        p = self.run_prefetch(["--config", self.mirror_cfg(url), lock], 60)
        self.assertTrue(harness.wait_until(lambda: si.requests, 30), "prefetch never asked the upstream")
        p.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(p, 30)
        self.assertIn("stopped by SIGTERM", err)
        self.assertNotEqual(rc, 0)

    def test_server_checksum_mismatch_named(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        bad = make_crate("t-bad", "1.0.0")
        tree.add("t-bad", "1.0.0", bad, cksum=sha256_hex(bad + b"x"))
        url = "sparse+%s/reg/" % si.base
        srv = self.start_crated(registries=S.mirror_toml("mirror", url))
        lock = C.write_lock(os.path.join(self.tmp, "st", "Cargo.lock"), [
            {"name": "t-bad", "version": "1.0.0", "source": url,
             "checksum": tree.cksums[("t-bad", "1.0.0")]}])
        rc, out, err, summ = C.prefetch(self, ["--server", srv.url, lock], expect_rc=1, timeout=60)
        f = C.failures(out)
        self.assertEqual([x[:2] for x in f], [("t-bad", "1.0.0")], out)
        self.assertIn("checksum mismatch", f[0][3])
        self.assertIn(tree.cksums[("t-bad", "1.0.0")], f[0][3])
        self.assertNotIn("bytes remaining", f[0][3])


if __name__ == "__main__":
    harness.main()
