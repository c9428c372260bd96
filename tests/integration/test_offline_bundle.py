#!/usr/bin/env python3
"""`crated export` / `crated import` bundles and `crated status`.

A mirror's data dir is filled with `crated prefetch` from a lock file that
real cargo resolved against the upstream (a second crated's hosted
registry `up`). Then: export -> import into an empty data dir -> the
upstream is stopped -> cargo builds --locked through `crated serve
--offline` over the imported dir (cargo's source replacement sends the
upstream URL of the lock file to crated, as `crated cargo-config` does).
Incremental bundles (--since a bundle, Unix seconds, a date) and merging.
Damaged or hostile bundles (a flipped byte, a truncated file, `..`,
absolute paths, symlinks, hard links, devices, a crate matching no index
line, files missing from the manifest) are refused whole and leave the data
dir as it was; so is an import while a server holds the data dir."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import offline_common as C  # noqa: E402
from harness import index_path, sha256_hex  # noqa: E402

WANT = {"o-top": "1.0.0", "o-mid": "1.0.0", "o-leaf": "1.1.0"}
MANIFEST = "crated-bundle.json"
REFUSED = "refused, nothing changed"


# ---------------------------------------------------------------------------
# bundle files


def read_bundle(path):
    """([(TarInfo, bytes or None)] in archive order, manifest dict)."""
    members, manifest = [], None
    with tarfile.open(path, "r:gz") as tf:
        for ti in tf.getmembers():
            data = tf.extractfile(ti).read() if ti.isfile() else None
            if ti.name == MANIFEST:
                manifest = json.loads(data)
            members.append((ti, data))
    return members, manifest


def write_bundle(path, members, manifest=None, fix_manifest=True, extra_manifest=()):
    """Writes a gzip tar of members ([(TarInfo, bytes or None)]) with the
    manifest last. fix_manifest: the manifest's files list is rebuilt from
    the regular members (so it is consistent with them); extra_manifest:
    more entries for it."""
    body = [(ti, d) for ti, d in members if ti.name != MANIFEST]
    if manifest is None:
        manifest = [d for ti, d in members if ti.name == MANIFEST]
        manifest = json.loads(manifest[0]) if manifest else {"format": 1, "created": int(time.time())}
    manifest = dict(manifest)
    if fix_manifest:
        manifest["files"] = [{"path": ti.name, "size": len(d), "sha256": sha256_hex(d),
                              "mtime": int(ti.mtime)} for ti, d in body if ti.isfile()]
        manifest["files"] += list(extra_manifest)
    mdata = json.dumps(manifest, indent=1).encode()
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for ti, d in body:
            tf.addfile(ti, io.BytesIO(d) if d is not None else None)
        mi = tarfile.TarInfo(MANIFEST)
        mi.size = len(mdata)
        mi.mtime = int(time.time())
        tf.addfile(mi, io.BytesIO(mdata))
    return path


def file_info(name, data, mtime=None):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = int(mtime or time.time())
    return ti, data


def store_files(data_dir, reg="mirror", parts=("index", "crates", "meta", "upstream-config.json")):
    """{path relative to data_dir: bytes} of what a bundle carries."""
    out = {}
    root = os.path.join(data_dir, reg)
    for part in parts:
        for d, _, fs in os.walk(os.path.join(root, part)):
            for f in fs:
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, data_dir)] = fh.read()
    p = os.path.join(root, "upstream-config.json")
    if "upstream-config.json" in parts and os.path.exists(p):
        with open(p, "rb") as fh:
            out[os.path.relpath(p, data_dir)] = fh.read()
    return out


class BundleTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.up = C.Upstream(self, self.tmp)
        C.publish_graph(self.up)
        self.cargo = harness.Cargo(self.tmp, '[registries.up]\nindex = "%s"\n' % self.up.index)
        self.proj = harness.make_project(os.path.join(self.tmp, "consumer"), "consumer", publish=False,
                                         deps='o-top = { version = "1", registry = "up" }',
                                         main_rs=C.CONSUMER_MAIN)
        self.cargo.run(["generate-lockfile"], self.proj, logs=[self.up.crated])
        self.lock = os.path.join(self.proj, "Cargo.lock")
        # the source data dir A, filled by prefetch (index_ttl 0: a later
        # prefetch revalidates index files)
        self.a = os.path.join(self.tmp, "A")
        self.a_cfg = C.mirror_config(os.path.join(self.tmp, "A.toml"), self.a, self.up.index,
                                     index_ttl=0)
        rc, out, err, summ = C.prefetch(self, ["--config", self.a_cfg, self.lock])
        self.assertEqual(summ.counts(), (3, 3, 0, 0, 0), summ.line)

    # helpers

    def cfg_for(self, data_dir, name, offline=True):
        kw = {"offline": True} if offline else {}
        return C.mirror_config(os.path.join(self.tmp, name + ".toml"), data_dir, self.up.index, **kw)

    def export(self, data_dir, out_name, *extra, expect_rc=0):
        path = os.path.join(self.tmp, out_name)
        t0 = time.monotonic()
        rc, out, err = C.run_cmd(self, ["export", "--data-dir", data_dir] + list(extra) + [path])
        C.log("crated export %s -> rc %d, %.2f s: %s" % (" ".join(extra), rc, time.monotonic() - t0,
                                                         (out + err).strip()))
        self.assertEqual(rc, expect_rc, out + err)
        return path, out, err

    def import_(self, data_dir, bundle, expect_ok=True, cfg=None):
        args = ["import"] + (["--config", cfg] if cfg else ["--data-dir", data_dir]) + [bundle]
        rc, out, err = C.run_cmd(self, args)
        C.log("crated import %s -> rc %d: %s" % (os.path.basename(bundle), rc, (out + err).strip()))
        if expect_ok:
            self.assertEqual(rc, 0, out + err)
        return rc, out, err

    def status(self, cfg, *extra):
        rc, out, err = C.run_cmd(self, ["status", "--config", cfg] + list(extra))
        self.assertEqual(rc, 0, out + err)
        C.log("crated status:\n" + out.rstrip())
        return C.status_rows(out)

    # ------------------------------------------------------------------

    def test_export_import_offline_build(self):
        b1, out, _ = self.export(self.a, "full.tar.gz")
        self.assertRegex(out, r"export: .*full\.tar\.gz: \d+ files \(3 crates, 3 index files\)")
        self.assertFalse(os.path.exists(b1 + ".tmp"))
        members, manifest = read_bundle(b1)
        a_files = store_files(self.a)
        # the manifest describes exactly the archive's files, which are A's
        self.assertEqual(manifest["format"], 1)
        self.assertLessEqual(abs(manifest["created"] - time.time()), 120)
        names = [ti.name for ti, d in members if ti.name != MANIFEST]
        self.assertEqual(sorted(names), sorted(a_files), "bundle files differ from the data dir's")
        self.assertEqual(len(names), len(set(names)))
        by_path = {f["path"]: f for f in manifest["files"]}
        self.assertEqual(sorted(by_path), sorted(names))
        for ti, d in members:
            if ti.name == MANIFEST:
                continue
            self.assertTrue(ti.isfile(), ti.name)
            self.assertEqual(d, a_files[ti.name], ti.name)
            f = by_path[ti.name]
            self.assertEqual((f["size"], f["sha256"]), (len(d), sha256_hex(d)), ti.name)
            self.assertEqual(f["mtime"], int(os.stat(os.path.join(self.a, ti.name)).st_mtime), ti.name)
        for name, vers in WANT.items():
            self.assertIn("mirror/crates/%s/%s-%s.crate" % (name, name, vers), names)
            self.assertIn("mirror/index/" + index_path(name), names)
            self.assertIn("mirror/meta/" + index_path(name), names)
        self.assertIn("mirror/upstream-config.json", names)
        # --registry with a name that is not there
        self.export(self.a, "none.tar.gz", "--registry", "nope", expect_rc=1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "none.tar.gz")))

        # import into an empty data dir; the upstream goes away
        self.up.stop()
        e = os.path.join(self.tmp, "E")
        e_cfg = self.cfg_for(e, "E")
        rc, out, err = self.import_(e, b1, cfg=e_cfg)
        self.assertRegex(out, r"import: .*: 3 crates and 3 index files added or merged, 0 already present")
        self.assertEqual(store_files(e), a_files, "imported files differ from the exported ones")
        self.assertEqual([p for p in os.listdir(e) if p.startswith(".import")], [])
        rows = self.status(e_cfg)
        self.assertEqual(rows["mirror"][:3], ("offline", 3, 3), rows)
        self.assertRegex(rows["mirror"][4], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")
        self.assertEqual(self.status(e_cfg, "--registry", "mirror")["mirror"][1], 3)
        self.assertEqual(self.status(self.a_cfg)["mirror"][:3], ("mirror", 3, 3))
        # a second import of the same bundle changes nothing
        before = harness.snapshot(e)
        rc, out, err = self.import_(e, b1, cfg=e_cfg)
        self.assertRegex(out, r"0 crates and \d+ index files added or merged, %d already present" % len(names))
        self.assertUnchanged(before, harness.snapshot(e), "re-import of the same bundle")

        # offline build through crated over the imported dir
        off = self.start_crated(name="offline", data_dir=e, registries=S.mirror_toml("mirror", self.up.index),
                                args=["--offline"])
        home = harness.Cargo(self.tmp, '[registries.up]\nindex = "%s"\n'
                                 '[registries.offline-crated]\nindex = "sparse+%s/mirror/"\n'
                                 '[source.up-upstream]\nregistry = "%s"\nreplace-with = "offline-crated"\n'
                       % (self.up.index, off.url, self.up.index))
        proj = os.path.join(self.tmp, "consumer-offline")
        shutil.copytree(self.proj, proj)
        t0 = time.monotonic()
        home.run(["build", "--locked"], proj, logs=[off])
        C.log("offline cargo build --locked from the imported bundle: %.1f s" % (time.monotonic() - t0))
        run = subprocess.run([os.path.join(home.target, "debug", "consumer")], capture_output=True,
                             timeout=30)
        self.assertEqual(run.stdout.decode().strip(), "top=222", run)
        with open(self.lock) as f1, open(os.path.join(proj, "Cargo.lock")) as f2:
            self.assertEqual(f1.read(), f2.read())
        dls = sorted(p for m, p, s in S.access_log(off) if "/download" in p and s == 200)
        self.assertEqual(dls, sorted("/mirror/api/v1/crates/%s/%s/download" % kv for kv in WANT.items()))
        # import refuses while this server holds the data dir
        before = harness.snapshot(e)
        rc, out, err = self.import_(e, b1, expect_ok=False, cfg=e_cfg)
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("another crated", err)
        self.assertUnchanged(before, harness.snapshot(e), "import while a server runs")
        self.assertEqual(off.get("/mirror/" + index_path("o-top")).status, 200)

    def test_reimport_reports_nothing_added(self):
        """Importing the same bundle twice: the second summary says nothing
        was added (and its counts add up to the bundle's files)."""
        b1, _, _ = self.export(self.a, "b1.tar.gz")
        n = len([ti for ti, d in read_bundle(b1)[0] if ti.name != MANIFEST])
        e = os.path.join(self.tmp, "E")
        rc, out, err = self.import_(e, b1)
        self.assertIn("3 crates and 3 index files added or merged, 0 already present", out)
        before = harness.snapshot(e)
        rc, out, err = self.import_(e, b1)
        self.assertUnchanged(before, harness.snapshot(e), "re-import of the same bundle")
        self.assertIn("0 crates and 0 index files added or merged, %d already present" % n, out)

    def test_incremental_since(self):
        harness.next_second()    # A's files are older than the first bundle's second
        b1, out, _ = self.export(self.a, "b1.tar.gz")
        created = read_bundle(b1)[1]["created"]
        harness.next_second()
        # new: o-leaf 1.2.0 (its index file and meta are rewritten too)
        self.up.publish("o-leaf", "1.2.0", lib_rs=C.leaf_lib("1.2.0"))
        lock2 = C.write_lock(os.path.join(self.tmp, "l2", "Cargo.lock"), [
            {"name": "o-leaf", "version": "1.2.0", "source": self.up.index,
             "checksum": self.up.cksum("o-leaf", "1.2.0")}])
        rc, out, err, summ = C.prefetch(self, ["--config", self.a_cfg, lock2])
        self.assertEqual(summ.counts(), (1, 1, 0, 0, 0), summ.line)
        newer = sorted(p for p in store_files(self.a)
                       if os.stat(os.path.join(self.a, p)).st_mtime >= created)
        self.assertIn("mirror/crates/o-leaf/o-leaf-1.2.0.crate", newer)
        self.assertIn("mirror/index/" + index_path("o-leaf"), newer)
        self.assertNotIn("mirror/crates/o-top/o-top-1.0.0.crate", newer)

        b2, out, _ = self.export(self.a, "b2.tar.gz", "--since", b1)
        self.assertIn("(incremental)", out)
        self.assertRegex(out, r"\(1 crates, \d index files\)")
        m2, man2 = read_bundle(b2)
        names2 = sorted(ti.name for ti, d in m2 if ti.name != MANIFEST)
        self.assertEqual(names2, newer, "an incremental bundle holds the files modified since")
        self.assertEqual(man2.get("since"), created)
        # the same with Unix seconds and with a UTC date-time
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        for i, since in enumerate((str(created), stamp)):
            with self.subTest(since=since):
                bx, out, _ = self.export(self.a, "bx%d.tar.gz" % i, "--since", since)
                self.assertEqual(sorted(ti.name for ti, d in read_bundle(bx)[0] if ti.name != MANIFEST),
                                 newer)
        # a date after everything: an empty (but valid) bundle
        bz, out, _ = self.export(self.a, "bz.tar.gz", "--since", "2099-01-01")
        mz, manz = read_bundle(bz)
        self.assertEqual([ti.name for ti, d in mz], [MANIFEST])
        self.assertEqual(manz["files"], [])

        # full then incremental into an empty dir: what A has
        e = os.path.join(self.tmp, "E")
        self.import_(e, b1)
        self.assertEqual(C.cached_crates(e, "mirror"), set(WANT.items()))
        self.import_(e, b2)
        self.assertEqual(store_files(e, parts=("index", "crates")), store_files(self.a, parts=("index", "crates")))
        self.assertEqual(sorted(store_files(e, parts=("meta",))), sorted(store_files(self.a, parts=("meta",))))
        self.assertEqual([l["vers"] for l in C.read_index_file(e, "mirror", "o-leaf")],
                         ["1.0.0", "1.1.0", "1.2.0"])
        # the older full bundle again: it never removes versions
        rc, out, err = self.import_(e, b1)
        self.assertEqual([l["vers"] for l in C.read_index_file(e, "mirror", "o-leaf")],
                         ["1.0.0", "1.1.0", "1.2.0"])
        self.assertEqual(len(C.cached_crates(e, "mirror")), 4)
        # the incremental bundle alone is self-contained (its crate has its
        # index file)
        f = os.path.join(self.tmp, "F")
        self.import_(f, b2)
        self.assertEqual(C.cached_crates(f, "mirror"), {("o-leaf", "1.2.0")})
        self.up.stop()
        off = self.start_crated(name="offline", data_dir=e,
                                registries=S.mirror_toml("mirror", self.up.index, offline=True))
        r = off.get("/mirror/" + index_path("o-leaf"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([l["vers"] for l in S.parse_lines(r.body)], ["1.1.0", "1.2.0"])
        off.stop()

    def test_incremental_after_negative_entry(self):
        """A crate the mirror once knew as absent upstream (a negative
        entry as older versions stored it: meta with "negative": true, no
        index file) is published and
        fetched later. Full bundle (with the negative meta), then the
        incremental one (index file, meta, .crate): after importing both in
        order, the offline mirror serves the crate."""
        cfg = C.mirror_config(os.path.join(self.tmp, "A-neg.toml"), self.a, self.up.index,
                              index_ttl=0, negative_ttl=0)
        srv = self.start_crated(name="A-online", config_path=cfg, data_dir=self.a)
        r = srv.get("/mirror/" + index_path("o-late"))
        self.assertEqual(r.status, 404, r)
        srv.stop()
        meta_p = os.path.join(self.a, "mirror", "meta", index_path("o-late"))
        # negative entries are kept in memory now: planted as older
        # versions wrote them, which bundles made then carry
        self.assertFalse(os.path.exists(meta_p), "a negative entry was written to disk")
        os.makedirs(os.path.dirname(meta_p), exist_ok=True)
        with open(meta_p, "w") as fh:
            json.dump({"fetched": int(time.time()), "negative": True}, fh,
                      separators=(",", ":"))
        harness.next_second()
        b1, _, _ = self.export(self.a, "b1.tar.gz")
        self.assertIn("mirror/meta/" + index_path("o-late"), [ti.name for ti, d in read_bundle(b1)[0]])
        harness.next_second()
        self.up.publish("o-late", "1.0.0")
        lock = C.write_lock(os.path.join(self.tmp, "late", "Cargo.lock"), [
            {"name": "o-late", "version": "1.0.0", "source": self.up.index,
             "checksum": self.up.cksum("o-late", "1.0.0")}])
        rc, out, err, summ = C.prefetch(self, ["--config", cfg, lock])
        self.assertEqual(summ.counts(), (1, 1, 0, 0, 0), summ.line)
        with open(meta_p) as fh:
            self.assertFalse(json.load(fh).get("negative"), "A still has the negative entry")
        b2, _, _ = self.export(self.a, "b2.tar.gz", "--since", b1)
        names2 = [ti.name for ti, d in read_bundle(b2)[0]]
        for p in ("mirror/meta/" + index_path("o-late"), "mirror/index/" + index_path("o-late"),
                  "mirror/crates/o-late/o-late-1.0.0.crate"):
            self.assertIn(p, names2)

        e = os.path.join(self.tmp, "E")
        self.import_(e, b1)
        self.import_(e, b2)
        self.assertIn(("o-late", "1.0.0"), C.cached_crates(e, "mirror"))
        self.up.stop()
        off = self.start_crated(name="offline", data_dir=e,
                                registries=S.mirror_toml("mirror", self.up.index), args=["--offline"])
        r = off.get("/mirror/" + index_path("o-late"))
        with open(os.path.join(e, "mirror", "meta", index_path("o-late"))) as fh:
            e_meta = fh.read()
        self.assertEqual(r.status, 200, "o-late (index file and .crate imported) is not served "
                         "offline: %r; E's meta for it: %s" % (r, e_meta))
        self.assertEqual(off.get("/mirror/api/v1/crates/o-late/1.0.0/download").status, 200)

    def test_merge_keeps_local_versions_and_newer_lines(self):
        """A bundle's index file is merged: versions only the data dir has
        stay, versions only the bundle has are added."""
        b1, _, _ = self.export(self.a, "b1.tar.gz")
        # a bundle whose o-leaf index file has only 1.1.0 (1.0.0 dropped),
        # and a data dir whose copy lacks 1.1.0 but has 1.0.0
        members, manifest = read_bundle(b1)
        p = "mirror/index/" + index_path("o-leaf")
        lines = S.parse_lines(dict((ti.name, d) for ti, d in members)[p])
        only11 = ("\n".join(json.dumps(l, separators=(",", ":")) for l in lines if l["vers"] == "1.1.0")
                  + "\n").encode()
        edited = []
        for ti, d in members:
            if ti.name == p:
                ti.size = len(only11)
                d = only11
            edited.append((ti, d))
        b3 = write_bundle(os.path.join(self.tmp, "b3.tar.gz"), edited)
        e = os.path.join(self.tmp, "E")
        os.makedirs(os.path.join(e, "mirror", "index", os.path.dirname(index_path("o-leaf"))))
        with open(os.path.join(e, "mirror", "index", index_path("o-leaf")), "w") as fh:
            fh.write("\n".join(json.dumps(l, separators=(",", ":")) for l in lines if l["vers"] == "1.0.0")
                     + "\n")
        self.import_(e, b3)
        self.assertEqual([l["vers"] for l in C.read_index_file(e, "mirror", "o-leaf")], ["1.0.0", "1.1.0"])
        self.assertEqual(C.cached_crates(e, "mirror"), set(WANT.items()))

        # a line both have (1.1.0) but different (yanked in the bundle): the
        # bundle's wins only when the bundle's file is newer than the local one
        local = os.path.join(e, "mirror", "index", index_path("o-leaf"))
        now = int(time.time())
        os.utime(local, (now, now))
        yanked = ("\n".join(json.dumps(dict(l, yanked=True), separators=(",", ":"))
                            for l in lines if l["vers"] == "1.1.0") + "\n").encode()

        def bundle_with(name, mtime):
            out = []
            for ti, d in members:
                if ti.name == p:
                    ti = tarfile.TarInfo(p)
                    ti.size, ti.mtime, d = len(yanked), mtime, yanked
                out.append((ti, d))
            return write_bundle(os.path.join(self.tmp, name), out)

        self.import_(e, bundle_with("older.tar.gz", now - 100000))
        got = {l["vers"]: l["yanked"] for l in C.read_index_file(e, "mirror", "o-leaf")}
        self.assertEqual(got, {"1.0.0": False, "1.1.0": False}, "an older bundle's line replaced a newer one")
        self.import_(e, bundle_with("newer.tar.gz", now + 100000))
        got = {l["vers"]: l["yanked"] for l in C.read_index_file(e, "mirror", "o-leaf")}
        self.assertEqual(got, {"1.0.0": False, "1.1.0": True}, "a newer bundle's line did not win")

    def test_bad_bundles_refused_whole(self):
        good, _, _ = self.export(self.a, "good.tar.gz")
        members, manifest = read_bundle(good)
        with open(good, "rb") as fh:
            raw = fh.read()
        crate_p = "mirror/crates/o-leaf/o-leaf-1.1.0.crate"
        tag = "ESCAPE-%d" % os.getpid()
        outside = [os.path.join(self.tmp, tag), os.path.join("/tmp", tag), "/" + tag]

        def flipped_gzip(path, at):
            b = bytearray(raw)
            b[at] ^= 0x01
            return open_write(path, bytes(b))

        def open_write(path, data):
            with open(path, "wb") as fh:
                fh.write(data)
            return path

        def with_member(path, ti, data, extra=()):
            # the hostile entry last but one (the manifest lists it)
            write_bundle(path, members + [(ti, data)], manifest, extra_manifest=extra)
            with tarfile.open(path, "r:gz") as tf:     # written as meant
                self.assertIn(ti.name, tf.getnames())
            return path

        def edit_member(path, name, fn, fix):
            out = []
            for ti, d in members:
                if ti.name == name:
                    d = fn(d)
                    ti = tarfile.TarInfo(ti.name)
                    ti.size, ti.mtime = len(d), int(time.time())
                out.append((ti, d))
            if fix:
                return write_bundle(path, out, manifest)
            return write_bundle(path, out, manifest, fix_manifest=False)

        def flip(d):
            b = bytearray(d)
            b[len(b) // 3] ^= 0x20
            return bytes(b)

        def link(name, target, kind=tarfile.SYMTYPE):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, target
            return ti

        def device(name):
            ti = tarfile.TarInfo(name)
            ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            return ti

        evil = b"evil\n"
        cases = [
            ("flipped byte in the middle of the gzip stream", lambda p: flipped_gzip(p, len(raw) // 2), ()),
            ("flipped byte near the start of the gzip stream", lambda p: flipped_gzip(p, 40), ()),
            ("flipped byte in the gzip trailer (CRC)", lambda p: flipped_gzip(p, len(raw) - 6), ()),
            ("truncated to half", lambda p: open_write(p, raw[:len(raw) // 2]), ()),
            ("truncated by 100 bytes", lambda p: open_write(p, raw[:-100]), ()),
            ("flipped byte in a crate (manifest kept)",
             lambda p: edit_member(p, crate_p, flip, fix=False), ("SHA-256",)),
            ("flipped byte in a crate (manifest rewritten to match)",
             lambda p: edit_member(p, crate_p, flip, fix=True), ("o-leaf", "cksum")),
            ("flipped byte in an index file (manifest kept)",
             lambda p: edit_member(p, "mirror/index/" + index_path("o-leaf"), flip, fix=False),
             ("SHA-256",)),
            ("../ entry", lambda p: with_member(p, *file_info("../" + tag, evil)), ("..",)),
            ("../ inside a store path",
             lambda p: with_member(p, *file_info("mirror/index/../../../" + tag, evil)), ()),
            ("absolute path entry", lambda p: with_member(p, *file_info("/tmp/" + tag, evil)), ()),
            ("symlink entry",
             lambda p: with_member(p, link("mirror/index/o-/le/o-link", "/etc/passwd"), None), ("link",)),
            ("symlink to a crate path",
             lambda p: with_member(p, link("mirror/crates/o-x/o-x-1.0.0.crate", "../../../../" + tag),
                                   None), ("link",)),
            ("hard link entry",
             lambda p: with_member(p, link("mirror/index/o-/li/o-link", crate_p, tarfile.LNKTYPE), None),
             ()),
            ("character device entry", lambda p: with_member(p, device("mirror/index/o-/de/o-dev"), None), ()),
            ("file not in the manifest",
             lambda p: write_bundle(p, members + [file_info("mirror/index/o-/ex/o-extra", b"{}\n")],
                                    manifest, fix_manifest=False), ("manifest",)),
            ("manifest lists a file the bundle lacks",
             lambda p: write_bundle(p, [(ti, d) for ti, d in members if ti.name != crate_p], manifest,
                                    fix_manifest=False), ("manifest",)),
            ("not a store path", lambda p: with_member(p, *file_info("mirror/secrets.txt", evil)), ()),
        ]
        # a data dir that already holds something (a previous import), and
        # an empty one
        e = os.path.join(self.tmp, "E")
        self.import_(e, good)
        empty = os.path.join(self.tmp, "EMPTY")
        for i, (what, make, words) in enumerate(cases):
            with self.subTest(case=what):
                bad = make(os.path.join(self.tmp, "bad%d.tar.gz" % i))
                before = harness.snapshot(e)
                rc, out, err = self.import_(e, bad, expect_ok=False)
                self.assertNotEqual(rc, 0, "%s: accepted:\n%s%s" % (what, out, err))
                self.assertIn(REFUSED, err, what)
                for w in words:
                    self.assertIn(w, err, what)
                self.assertUnchanged(before, harness.snapshot(e), "refused import (%s)" % what)
                rc, out, err = self.import_(empty, bad, expect_ok=False)
                self.assertNotEqual(rc, 0, "%s: accepted into an empty dir:\n%s%s" % (what, out, err))
                self.assertEqual(sorted(os.listdir(empty)), ["lock"],
                                 "%s: left files in an empty data dir" % what)
                for p in outside:
                    self.assertFalse(os.path.lexists(p), "%s: wrote %s" % (what, p))
        # the good bundle still imports into the untouched empty dir
        self.import_(empty, good)
        self.assertEqual(store_files(empty), store_files(self.a))


if __name__ == "__main__":
    harness.main()
