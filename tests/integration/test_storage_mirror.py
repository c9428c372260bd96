#!/usr/bin/env python3
"""Object storage (issue 26): mirrors sharing one cache, and `crated storage`.

MirrorL2Test: an upstream stand-in (a RegistryTree that counts requests)
and the SigV4-verifying S3 stand-in (s3_standin.py); replicas are crated
processes whose mirror "mirror" has `storage = "s3://crated/fleet"`.

* Real cargo (generate-lockfile, then fetch) through replica A, then with a
  fresh CARGO_HOME through replica B whose local cache is empty: B asks the
  upstream for none of the index files and .crate files A fetched (they
  came from the store), and cargo's lock file is the same.
* An index file older in the store than index_ttl: revalidated upstream
  with its validators (a 304), kept locally, its sidecar refreshed.
* A replica's local copy gone stale: the store's sidecar says another
  replica confirmed it (served, no upstream request), or names a newer
  file (read from the store, no upstream request).
* A .crate object replaced with other bytes in the store: B never serves
  them (it fetches the upstream's, verified, and the bad object is
  replaced); an index file replaced with garbage is not served either.
* The store stopped, hanging, refusing the key, or answering 503: a fresh replica
  still serves cargo from the upstream (and says so in its log); the store
  back, it is used again.
* `crated prefetch` of a store-backed mirror fills the store too.

MigrateTest: a hosted registry filled by real `cargo publish` (three
crates, five versions) in a data directory; `crated storage migrate
--to-store` copies it into the S3 stand-in (every object byte for byte),
a second run finds everything present, `verify` passes, `--from-store`
rebuilds an identical data directory that a crated serves to cargo;
`export` bundles the store's objects and `import` stores a bundle,
create-only. A
.crate damaged locally stops the migration before anything is copied; an
object in the store that differs from the local file is never
overwritten."""

import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import azurite  # noqa: E402
import s3_standin  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path, read_lock  # noqa: E402

BUCKET = "crated"
AKID = "AKIDMIRL2TEST"
SECRET = "mirl2/secret+key"
ENV = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
       "AWS_REGION": "us-east-1"}


def storage_toml(s3, prefix):
    return ('storage = "s3://%s/%s"\nstorage_endpoint = "%s"\n'
            'storage_region = "us-east-1"\n' % (BUCKET, prefix, s3.endpoint))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def crate_rel(name, vers):
    low = name.lower()
    return "crates/%s/%s-%s.crate" % (low, low, vers)


class MirrorL2Test(harness.TestCase):

    GRAPH = (("l2-base", "1.0.0", ()), ("l2-base", "1.1.0", ()),
             ("l2-mid", "0.3.0", (("l2-base", "^1.1"),)),
             ("l2-top", "2.0.0", (("l2-mid", "^0.3"), ("l2-base", "^1"))))

    def setUp(self):
        super().setUp()
        self.s3 = s3_standin.S3StandIn(buckets=[BUCKET], creds={AKID: SECRET})
        self.addCleanup(self.s3.stop)
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.crates = {}
        for name, vers, deps in self.GRAPH:
            self.crates[(name, vers)] = harness.make_crate(name, vers)
            self.tree.add(name, vers, self.crates[(name, vers)],
                          deps=[S.index_dep(d, req) for d, req in deps])
        self.upstream = "sparse+%s/reg/" % self.si.base

    def replica(self, name, **kw):
        return self.start_crated(
            name=name, data_dir=os.path.join(self.tmp, name), env=ENV,
            config_extra=storage_toml(self.s3, "fleet"),
            registries=S.mirror_toml("mirror", self.upstream, index_ttl=300, **kw))

    def resolve(self, crated, tag):
        """cargo generate-lockfile and fetch through crated: {name: version}."""
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n'
                              % crated.url)
        d = harness.make_project(os.path.join(self.tmp, "consumer-" + tag), "consumer",
                                 publish=False,
                                 deps='l2-top = { version = "2", registry = "mirror" }')
        cargo.run(["generate-lockfile"], d, logs=[crated])
        cargo.run(["fetch"], d, logs=[crated])
        return {p["name"]: (p["version"], p.get("checksum"))
                for p in read_lock(os.path.join(d, "Cargo.lock")) if p["name"] != "consumer"}

    def upstream_files(self, mark=None):
        """The upstream requests for index files and crates (since mark)."""
        reqs = self.si.since(mark) if mark is not None else self.si.reqs()
        return [r.path for r in reqs if r.path.startswith("/reg/") and
                not r.path.endswith("config.json") or r.path.startswith("/dl/")]

    def wait_stored(self, keys):
        ok = harness.wait_until(lambda: set(keys) <= set(self.s3.keys(BUCKET)), 15)
        self.assertTrue(ok, "not in the store: %r; it has %r" % (
            sorted(set(keys) - set(self.s3.keys(BUCKET))), self.s3.keys(BUCKET)))

    def warm(self):
        """Replica A resolves and fetches everything; the store then holds
        every index file (with its sidecar) and every .crate."""
        a = self.replica("a")
        mark = self.si.mark()
        lock = self.resolve(a, "a")
        got = self.upstream_files(mark)
        self.assertEqual(sorted(lock), ["l2-base", "l2-mid", "l2-top"], lock)
        keys = []
        for name in ("l2-base", "l2-mid", "l2-top"):
            keys += ["fleet/mirror/index/" + index_path(name), "fleet/mirror/meta/" + index_path(name)]
            keys.append("fleet/mirror/" + crate_rel(name, lock[name][0]))
        self.wait_stored(keys)
        return a, lock, got

    def test_second_replica_served_from_store(self):
        a, lock_a, fetched_by_a = self.warm()
        self.assertTrue(any(p.startswith("/dl/") for p in fetched_by_a), fetched_by_a)
        for name in ("l2-base", "l2-mid", "l2-top"):
            self.assertEqual(self.s3.get(BUCKET, "fleet/mirror/index/" + index_path(name)),
                             self.tree.index_body(name))
        b = self.replica("b")
        mark = self.si.mark()
        lock_b = self.resolve(b, "b")
        self.assertEqual(lock_b, lock_a)
        again = [p for p in self.upstream_files(mark) if p in fetched_by_a]
        self.assertEqual(again, [], "replica B asked the upstream for files A fetched: %r" % again)
        # B's local cache now has them, the upstream's bytes
        for name in ("l2-base", "l2-mid", "l2-top"):
            with open(os.path.join(b.data_dir, "mirror", "index", index_path(name)), "rb") as f:
                self.assertEqual(f.read(), self.tree.index_body(name))
            vers = lock_a[name][0]
            with open(os.path.join(b.data_dir, "mirror", crate_rel(name, vers)), "rb") as f:
                self.assertEqual(f.read(), self.crates[(name, vers)])
        m = harness.metrics(b)
        self.assertGreater(m.sum("crated_storage_mirror_total", op="index_get", outcome="hit"), 0)
        self.assertGreater(m.sum("crated_storage_mirror_total", op="crate_get", outcome="hit"), 0)
        b.check_log_clean()

    def test_stale_store_copy_revalidated(self):
        """An index file older in the store than index_ttl is revalidated
        upstream with its validators: a 304, then served and kept locally,
        and only its sidecar is rewritten in the store."""
        self.warm()
        name = "l2-mid"
        mkey = "fleet/mirror/meta/" + index_path(name)
        meta = json.loads(self.s3.get(BUCKET, mkey))
        self.assertIn("etag", meta, meta)
        meta["fetched"] -= 100000
        with self.s3.lock:
            self.s3.objects[(BUCKET, mkey)] = s3_standin.Obj(json.dumps(meta).encode(),
                                                             "application/json")
            body_obj = self.s3.objects[(BUCKET, "fleet/mirror/index/" + index_path(name))]
        b = self.replica("b")
        n0 = self.si.count(path="/reg/" + index_path(name))
        r = b.get("/mirror/" + index_path(name))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(name))
        reqs = self.si.reqs(path="/reg/" + index_path(name))[n0:]
        self.assertEqual(len(reqs), 1, reqs)
        self.assertEqual(reqs[0].header("if-none-match"), meta["etag"])
        local = os.path.join(b.data_dir, "mirror", "index", index_path(name))
        self.assertTrue(harness.wait_until(lambda: os.path.exists(local), 15),
                        "the store's copy was not kept on disk after the 304")
        with open(local, "rb") as f:
            self.assertEqual(f.read(), self.tree.index_body(name))
        ok = harness.wait_until(lambda: json.loads(self.s3.get(BUCKET, mkey))["fetched"] >
                                meta["fetched"] + 50000, 15)
        self.assertTrue(ok, "the sidecar was not refreshed in the store")
        with self.s3.lock:
            self.assertIs(self.s3.objects[(BUCKET, "fleet/mirror/index/" + index_path(name))],
                          body_obj, "the index file was rewritten after a 304")
        # served again from the local copy: no upstream request
        r = b.get("/mirror/" + index_path(name))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.si.count(path="/reg/" + index_path(name)), n0 + 1)

    def age_local_meta(self, data_dir, name):
        """Makes a stopped replica's copy of name's index file stale."""
        p = os.path.join(data_dir, "mirror", "meta", index_path(name))
        with open(p) as f:
            meta = json.load(f)
        meta["fetched"] -= 100000
        with open(p, "w") as f:
            json.dump(meta, f)
        return meta

    def test_stale_local_copy_confirmed_by_store(self):
        """A replica whose local copy went stale reads the store's sidecar
        first: confirmed there within index_ttl by another replica, it is
        served with no upstream request; a newer file there is read from
        the store, again with no upstream request."""
        self.warm()
        name, path = "l2-mid", "/reg/" + index_path("l2-mid")
        bdir = os.path.join(self.tmp, "b")
        b = self.replica("b")
        self.assertEqual(b.get("/mirror/" + index_path(name)).status, 200)
        local_meta = os.path.join(bdir, "mirror", "meta", index_path(name))
        self.assertTrue(harness.wait_until(lambda: os.path.exists(local_meta), 15))
        b.stop()
        old = self.age_local_meta(bdir, name)
        n0 = self.si.count(path=path)
        b = self.replica("b")
        r = b.get("/mirror/" + index_path(name))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(name))
        self.assertEqual(self.si.count(path=path), n0, "the stale copy was revalidated upstream")
        ok = harness.wait_until(lambda: read_json(local_meta)["fetched"] >
                                old["fetched"] + 50000, 15)
        self.assertTrue(ok, "the local metadata kept the old fetch time")
        b.stop()

        # a newer file: another replica revalidates the store's stale copy
        # upstream and stores what changed
        self.tree.add(name, "0.4.0", harness.make_crate(name, "0.4.0"))
        mkey = "fleet/mirror/meta/" + index_path(name)
        meta = json.loads(self.s3.get(BUCKET, mkey))
        meta["fetched"] -= 100000
        with self.s3.lock:
            self.s3.objects[(BUCKET, mkey)] = s3_standin.Obj(json.dumps(meta).encode(),
                                                             "application/json")
        c = self.replica("c")
        self.assertEqual(c.get("/mirror/" + index_path(name)).body, self.tree.index_body(name))
        self.assertTrue(harness.wait_until(
            lambda: self.s3.get(BUCKET, "fleet/mirror/index/" + index_path(name)) ==
            self.tree.index_body(name) and json.loads(self.s3.get(BUCKET, mkey))["fetched"] >
            meta["fetched"] + 50000, 15), "the newer file did not reach the store")
        c.stop()
        self.age_local_meta(bdir, name)
        n1 = self.si.count(path=path)
        b = self.replica("b")
        r = b.get("/mirror/" + index_path(name))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(name), "B served its old copy")
        self.assertIn(b'"0.4.0"', r.body)
        self.assertEqual(self.si.count(path=path), n1, "B asked the upstream")

    def test_tampered_objects_not_served(self):
        a, lock, _ = self.warm()
        key = "fleet/mirror/" + crate_rel("l2-mid", "0.3.0")
        good = self.crates[("l2-mid", "0.3.0")]
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0xff
        with self.s3.lock:
            self.s3.objects[(BUCKET, key)] = s3_standin.Obj(bytes(bad), "application/gzip")
        ikey = "fleet/mirror/index/" + index_path("l2-top")
        with self.s3.lock:
            self.s3.objects[(BUCKET, ikey)] = s3_standin.Obj(b"<html>not an index</html>\n",
                                                             "text/plain")
        b = self.replica("b")
        n0 = self.si.count(prefix="/dl/l2-mid/")
        r = b.get("/mirror/api/v1/crates/l2-mid/0.3.0/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, good, "replica B served the store's damaged bytes")
        self.assertEqual(self.si.count(prefix="/dl/l2-mid/"), n0 + 1,
                         "B did not go upstream for the damaged crate")
        harness.wait_log(b, r"has SHA-256 [0-9a-f]{64}, the index says")
        # the damaged object is removed and replaced by the good one
        self.assertTrue(harness.wait_until(lambda: self.s3.get(BUCKET, key) == good, 15),
                        "the store still has the damaged .crate")
        n1 = self.si.count(path="/reg/" + index_path("l2-top"))
        r = b.get("/mirror/" + index_path("l2-top"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("l2-top"))
        self.assertEqual(self.si.count(path="/reg/" + index_path("l2-top")), n1 + 1)
        harness.wait_log(b, r"the object store's copy is not an index file")

    def test_store_down(self):
        self.s3.stop()
        c = self.replica("c")
        mark = self.si.mark()
        lock = self.resolve(c, "c")
        self.assertEqual(sorted(lock), ["l2-base", "l2-mid", "l2-top"], lock)
        self.assertTrue(self.upstream_files(mark), "nothing came from the upstream?")
        harness.wait_log(c, r"object store .*; the mirror works without it")
        r = c.get("/-/ready")
        self.assertIn("storage_cache", r.text())
        # the store back: after the pause, what the replica fetches is
        # stored again (nothing of what was fetched meanwhile is lost
        # locally either)
        self.s3.restart()
        self.tree.add("l2-late", "0.1.0", harness.make_crate("l2-late", "0.1.0"))
        ok = harness.wait_until(lambda: c.get("/mirror/" + index_path("l2-late")).status == 200 and
                                "fleet/mirror/index/" + index_path("l2-late") in self.s3.keys(BUCKET),
                                30, interval=0.5)
        self.assertTrue(ok, "the replica never used the store again:\n" + c.log_tail(20))


    def test_store_refuses_or_fails(self):
        """A wrong secret (403) or a store answering 503: cargo is served
        from the upstream all the same, and the log names the store."""
        for tag, env, fail in (("wrongkey", dict(ENV, AWS_SECRET_ACCESS_KEY="NotTheSecret42"), 0),
                               ("s503", ENV, 503)):
            with self.subTest(tag):
                self.s3.fail(fail)
                c = self.start_crated(
                    name=tag, data_dir=os.path.join(self.tmp, tag), env=env,
                    config_extra=storage_toml(self.s3, "fleet"),
                    registries=S.mirror_toml("mirror", self.upstream, index_ttl=300))
                lock = self.resolve(c, tag)
                self.assertEqual(sorted(lock), ["l2-base", "l2-mid", "l2-top"], lock)
                harness.wait_log(c, r"object store .*; the mirror works without it")
                self.assertNotIn("NotTheSecret42", c.log_text(), "a secret reached the log")
                c.stop()
                self.s3.fail(0)

    def test_store_hangs(self):
        """A store that accepts requests and never answers: cargo's
        requests wait for it at most L2_INDEX_WAIT_MS (2 s) once, then the
        replica goes to the upstream and skips the store."""
        self.s3.hang(True)
        self.addCleanup(self.s3.hang, False)
        c = self.replica("h")
        lock = self.resolve(c, "h")
        self.assertEqual(sorted(lock), ["l2-base", "l2-mid", "l2-top"], lock)
        harness.wait_log(c, r"no answer within 2000 ms")
        self.s3.hang(False)

    def test_prefetch_fills_the_store(self):
        """crated prefetch (its own in-process server) of a lock file naming
        the upstream: the crates land in the local cache and in the store."""
        lock = os.path.join(self.tmp, "Cargo.lock")
        with open(lock, "w") as f:
            f.write("version = 3\n")
            for name, vers, _ in self.GRAPH:
                f.write('\n[[package]]\nname = "%s"\nversion = "%s"\nsource = "%s"\n'
                        'checksum = "%s"\n' % (name, vers, self.upstream,
                                                self.tree.cksums[(name, vers)]))
        cfg = harness.write_config(os.path.join(self.tmp, "pf.toml"), os.path.join(self.tmp, "pf"),
                                   extra=storage_toml(self.s3, "fleet"),
                                   registries=S.mirror_toml("mirror", self.upstream))
        rc, out, err = harness.run_crated(["prefetch", "--config", cfg, lock],
                                          env=dict(ENV, **harness.cli_env()), timeout=120)
        self.assertEqual(rc, 0, err + out)
        for name, vers, _ in self.GRAPH:
            self.assertEqual(self.s3.get(BUCKET, "fleet/mirror/" + crate_rel(name, vers)),
                             self.crates[(name, vers)], "%s %s not in the store" % (name, vers))


class MigrateTest(harness.TestCase):

    VERSIONS = (("mg-a", "0.1.0", ""), ("mg-a", "0.2.0", ""),
                ("mg-b", "1.0.0", 'mg-a = { version = "0.2", registry = "local" }'),
                ("mg-b", "1.1.0", 'mg-a = { version = "0.1", registry = "local" }'),
                ("mg_c", "0.1.0", ""))

    def setUp(self):
        super().setUp()
        self.s3 = s3_standin.S3StandIn(buckets=[BUCKET], creds={AKID: SECRET})
        self.addCleanup(self.s3.stop)
        self.d1 = os.path.join(self.tmp, "d1")
        crated = self.start_crated(name="pub", data_dir=self.d1)
        cargo = harness.CargoEnv(self.tmp, crated.port)
        for name, vers, deps in self.VERSIONS:
            d = harness.make_project(os.path.join(self.tmp, "src", name + vers), name, vers,
                                     deps=deps)
            cargo.run_cargo(["publish", "--no-verify", "--registry", "local"], d, server=crated)
        crated.stop()

    def config(self, data_dir, prefix, name):
        path = os.path.join(self.tmp, name + ".toml")
        return harness.write_config(path, data_dir, extra=storage_toml(self.s3, prefix))

    def storage(self, *args):
        return harness.run_crated(["storage"] + list(args), env=dict(ENV, **harness.cli_env()),
                                  timeout=120)

    def local_files(self, root):
        out = {}
        for sub in ("index", "crates", "meta"):
            base = os.path.join(root, "local", sub)
            for d, _, fs in os.walk(base):
                for f in fs:
                    p = os.path.join(d, f)
                    with open(p, "rb") as fh:
                        out[os.path.relpath(p, os.path.join(root, "local"))] = fh.read()
        return out

    def test_to_store_and_back(self):
        cfg = self.config(self.d1, "mig", "to")
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("5 crates, 3 index files", out)
        files = self.local_files(self.d1)
        self.assertEqual(len([f for f in files if f.startswith("crates/")]), 5, sorted(files))
        for rel, data in files.items():
            self.assertEqual(self.s3.get(BUCKET, "mig/local/" + rel), data, rel)
        self.assertEqual(self.s3.get(BUCKET, "mig/local/names/mg_c"), b"mg_c")
        self.assertEqual(self.s3.get(BUCKET, "mig/local/names/mg_a"), b"mg-a")
        # again: everything is there already, nothing rewritten
        with self.s3.lock:
            before = dict(self.s3.objects)
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("0 crates, 0 index files, 0 other objects", out)
        self.assertIn("%d already there" % (len(files) + 3), out)
        with self.s3.lock:
            self.assertEqual(dict(self.s3.objects), before, "an object was rewritten")
        rc, out, err = self.storage("verify", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        rc, out, err = self.storage("ls", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("3 index files, 5 crates", out)

        # back into an empty data directory: the same files
        d2 = os.path.join(self.tmp, "d2")
        cfg2 = self.config(d2, "mig", "from")
        rc, out, err = self.storage("migrate", "--from-store", "--config", cfg2)
        self.assertEqual(rc, 0, err + out)
        self.assertEqual(self.local_files(d2), files)
        # ... which a crated serves to cargo
        srv = self.start_crated(name="restored", data_dir=d2)
        cargo = harness.Cargo(self.tmp, '[registries.local]\nindex = "sparse+%s/local/"\n' % srv.url)
        d = harness.make_project(os.path.join(self.tmp, "consumer"), "consumer", publish=False,
                                 deps='mg-b = { version = "1.0", registry = "local" }\n'
                                      'mg_c = { version = "0.1", registry = "local" }')
        cargo.run(["generate-lockfile"], d, logs=[srv])
        cargo.run(["fetch"], d, logs=[srv])
        lock = {p["name"]: p["version"] for p in read_lock(os.path.join(d, "Cargo.lock"))}
        self.assertEqual(lock.get("mg-b"), "1.1.0", lock)
        self.assertEqual(lock.get("mg_c"), "0.1.0", lock)

    def test_export_import_store_backed(self):
        cfg = self.config(self.d1, "mig", "to")
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        # export reads the store's objects (not the data directory's copy:
        # moved aside, it is not needed)
        os.rename(os.path.join(self.d1, "local"), os.path.join(self.tmp, "aside"))
        bundle = os.path.join(self.tmp, "b.tar.gz")
        rc, out, err = harness.run_crated(["export", "--config", cfg, bundle],
                                          env=dict(ENV, **harness.cli_env()), timeout=120)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("5 crates, 3 index files", out)
        self.assertEqual([n for n in os.listdir(self.d1) if n.startswith(".")], [],
                         "a staging folder was left behind")
        os.rename(os.path.join(self.tmp, "aside"), os.path.join(self.d1, "local"))
        # import writes into another store's prefix, create-only
        d5 = os.path.join(self.tmp, "d5")
        cfg5 = self.config(d5, "imp", "imp")
        rc, out, err = harness.run_crated(["import", "--allow-hosted", "--config", cfg5, bundle],
                                          env=dict(ENV, **harness.cli_env()), timeout=120)
        self.assertEqual(rc, 0, err + out)
        for rel, data in self.local_files(self.d1).items():
            self.assertEqual(self.s3.get(BUCKET, "imp/local/" + rel), data, rel)
        self.assertFalse(os.path.exists(os.path.join(d5, "local", "crates")),
                         "import wrote the crates locally instead of into the store")
        rc, out, err = harness.run_crated(["import", "--allow-hosted", "--config", cfg5, bundle],
                                          env=dict(ENV, **harness.cli_env()), timeout=120)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("0 crates and 0 index files added", out)
        # a different index object is never overwritten by an import
        key = "imp/local/index/" + index_path("mg-b")
        with self.s3.lock:
            self.s3.objects[(BUCKET, key)] = s3_standin.Obj(b"other\n", "text/plain")
        rc, out, err = harness.run_crated(["import", "--allow-hosted", "--config", cfg5, bundle],
                                          env=dict(ENV, **harness.cli_env()), timeout=120)
        self.assertEqual(rc, 1, err + out)
        self.assertIn("different", err)
        self.assertEqual(self.s3.get(BUCKET, key), b"other\n")

    def test_damaged_crate_stops_before_copying(self):
        d3 = os.path.join(self.tmp, "d3")
        shutil.copytree(self.d1, d3)
        p = os.path.join(d3, "local", crate_rel("mg-b", "1.0.0"))
        with open(p, "r+b") as f:
            f.seek(40)
            b = f.read(1)
            f.seek(40)
            f.write(bytes([b[0] ^ 0x55]))
        cfg = self.config(d3, "bad", "bad")
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 1, err + out)
        self.assertIn(crate_rel("mg-b", "1.0.0"), err)
        self.assertIn("SHA-256", err)
        self.assertIn("nothing was copied", err)
        self.assertNotIn("migrate: registry", out, "a summary claimed success")
        self.assertEqual([k for k in self.s3.keys(BUCKET) if k.startswith("bad/")], [])

    def test_different_object_never_overwritten(self):
        key = "mig/local/index/" + index_path("mg-a")
        with self.s3.lock:
            self.s3.objects[(BUCKET, key)] = s3_standin.Obj(b"someone else's\n", "text/plain")
        cfg = self.config(self.d1, "mig", "to")
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 1, err + out)
        self.assertIn("different", err)
        self.assertIn("run it again to resume", err.lower())
        self.assertEqual(self.s3.get(BUCKET, key), b"someone else's\n")
        # the crates went first and are complete
        with open(os.path.join(self.d1, "local", crate_rel("mg-a", "0.2.0")), "rb") as f:
            self.assertEqual(self.s3.get(BUCKET, "mig/local/" + crate_rel("mg-a", "0.2.0")),
                             f.read())

    def test_damaged_store_object_not_pulled(self):
        cfg = self.config(self.d1, "mig", "to")
        rc, out, err = self.storage("migrate", "--to-store", "--config", cfg)
        self.assertEqual(rc, 0, err + out)
        key = "mig/local/" + crate_rel("mg-a", "0.1.0")
        with self.s3.lock:
            self.s3.objects[(BUCKET, key)] = s3_standin.Obj(b"\x1f\x8bgarbage", "application/gzip")
        rc, out, err = self.storage("verify", "--config", cfg)
        self.assertEqual(rc, 1, err + out)
        self.assertIn("damaged", err)
        d4 = os.path.join(self.tmp, "d4")
        rc, out, err = self.storage("migrate", "--from-store", "--config",
                                    self.config(d4, "mig", "d4"))
        self.assertEqual(rc, 1, err + out)
        self.assertFalse(os.path.exists(os.path.join(d4, "local", crate_rel("mg-a", "0.1.0"))))
        self.assertFalse(os.path.exists(os.path.join(d4, "local", "index", index_path("mg-a"))),
                         "an index file was written though a crate it names was refused")


@unittest.skipUnless(azurite.installed(), "Azurite is not installed in tests/node"
                     " (./dev.sh test runs npm ci there)")
class AzureTest(harness.TestCase):
    """The same on Azurite (SharedKey): a second replica served from the
    container, and a migration there and back."""

    def setUp(self):
        super().setUp()
        self.az = azurite.Azurite(self.tmp)
        self.addCleanup(self.az.stop)
        self.az.create_container("fleet")
        self.env = {"AZURE_STORAGE_KEY": azurite.KEY}
        self.extra = ('storage = "azblob://%s/fleet/pre"\nstorage_endpoint = "%s"\n'
                      % (azurite.ACCOUNT, self.az.endpoint))

    def test_replicas_and_migrate(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        crates = {}
        for name, vers, deps in MirrorL2Test.GRAPH:
            crates[(name, vers)] = harness.make_crate(name, vers)
            tree.add(name, vers, crates[(name, vers)],
                     deps=[S.index_dep(d, req) for d, req in deps])
        upstream = "sparse+%s/reg/" % si.base
        regs = S.mirror_toml("mirror", upstream, index_ttl=300) + "[registries.local]\n"
        locks = {}
        for tag in ("a", "b"):
            c = self.start_crated(name=tag, data_dir=os.path.join(self.tmp, tag), env=self.env,
                                  config_extra=self.extra, registries=regs)
            mark = si.mark()
            cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n'
                                  % c.url)
            d = harness.make_project(os.path.join(self.tmp, "consumer-" + tag), "consumer",
                                     publish=False,
                                     deps='l2-top = { version = "2", registry = "mirror" }')
            cargo.run(["generate-lockfile"], d, logs=[c])
            cargo.run(["fetch"], d, logs=[c])
            locks[tag] = sorted((p["name"], p["version"], p.get("checksum"))
                                for p in read_lock(os.path.join(d, "Cargo.lock")))
            files = [r.path for r in si.since(mark) if not r.path.endswith("config.json")]
            if tag == "a":
                want = [("pre/mirror/" + crate_rel(n, v), crates[(n, v)])
                        for n, v in (("l2-base", "1.1.0"), ("l2-mid", "0.3.0"),
                                     ("l2-top", "2.0.0"))]
                ok = harness.wait_until(lambda: all(self.az.get_blob("fleet", k) == b
                                                    for k, b in want), 15)
                self.assertTrue(ok, "the crates did not reach the container")
            else:
                self.assertEqual(files, [], "replica B went upstream: %r" % files)
            c.stop()
        self.assertEqual(locks["a"], locks["b"])
        # A hosted registry on local disk (a replica with the store would
        # publish straight into it), for the migration.
        h = self.start_crated(name="h", data_dir=os.path.join(self.tmp, "h"))
        h.publish_simple("az-hosted", "1.0.0")
        h.stop()
        cfg = harness.write_config(os.path.join(self.tmp, "m.toml"), os.path.join(self.tmp, "h"),
                                   extra=self.extra)
        env = dict(self.env, **harness.cli_env())
        rc, out, err = harness.run_crated(["storage", "migrate", "--to-store", "--config", cfg],
                                          env=env, timeout=120)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("1 crates, 1 index files", out)
        rc, out, err = harness.run_crated(["storage", "migrate", "--to-store", "--config", cfg],
                                          env=env, timeout=120)
        self.assertEqual(rc, 0, err + out)
        self.assertIn("0 crates, 0 index files", out)
        cfg2 = harness.write_config(os.path.join(self.tmp, "m2.toml"),
                                    os.path.join(self.tmp, "back"), extra=self.extra)
        rc, out, err = harness.run_crated(["storage", "migrate", "--from-store", "--config", cfg2],
                                          env=env, timeout=120)
        self.assertEqual(rc, 0, err + out)
        rel = os.path.join("local", crate_rel("az-hosted", "1.0.0"))
        with open(os.path.join(self.tmp, "h", rel), "rb") as f1, \
                open(os.path.join(self.tmp, "back", rel), "rb") as f2:
            self.assertEqual(f1.read(), f2.read())


if __name__ == "__main__":
    harness.main()
