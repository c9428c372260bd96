#!/usr/bin/env python3
"""Replicas of one hosted registry on one object store (issue 26): each
crated reads through its own disk, revalidating index files against the
store at most storage_max_stale (1 s here) apart.

The store is the SigV4-verifying S3 stand-in (s3_standin.py) and, for one
case, Azurite. Most versions are put into the store the way a publish
leaves them (key layout of COMMON26: PREFIX/local/index/...,
PREFIX/local/crates/NAME/NAME-VERS.crate), so that a store's content can
be shaped (a tampered .crate, a removed index file); one test publishes
with real `cargo publish` through replica A.

* A version put into the store becomes visible through B and C (index
  files already on their disks, and ones they never had) and real `cargo
  generate-lockfile` and `cargo fetch` with a fresh CARGO_HOME resolve and
  download it through B; the time from the put to B's first answer that
  shows it is printed (measured, not asserted). The .crate B fetched is
  kept on its disk, byte for byte, and served again without the store.
* `cargo publish` through A: A shows it at once, B within the bound,
  cargo through B resolves and fetches it (times printed).
* Concurrent requests for one stale index file share one GET; 40 .crate
  files asked for at once (16 fetched at a time) all arrive.
* A .crate in the store that is not the one its index line names: 502
  naming the crate and the store, logged, counted, nothing kept; once the
  right bytes are there it is served.
* The store stopped, then answering 503, then hanging: B serves the index
  files and .crate files it has (stale, logged once, counted in
  crated_stale_serves_total; a hanging store after 3 s), answers 503 with
  a clear message for a file it never had; when the store returns, a new
  version is visible again.
* An index file removed from the store: 404 on B, and B's copy is gone.
* Tokens: with auth_required, `crated token create --config A` puts the
  token in the store (hashes only); B accepts it without a restart, and
  after `crated token revoke` both refuse it (the times are printed). Six
  token creates at once all land (lost races redone); a wrong key fails
  clearly.
* No credential of the store ever appears in a log or in cargo's output.
"""

import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import s3_standin  # noqa: E402
from harness import index_path, sha256_hex  # noqa: E402

AKID = "AKIDREPLICATEST"
SECRET = "replica/secret+Key0123456789"
BUCKET = "crated-bucket"
PREFIX = "fleet"
CRATE = "rp-shared"


def _tracking_handle(self):
    """The stand-in's handler, its connection remembered, so that a test
    can cut the connections a stop() leaves open (a server that went away
    takes its keep-alive connections with it)."""
    si = self.server.standin
    with si.lock:
        si.__dict__.setdefault("conns", set()).add(self.connection)
    try:
        _plain_handle(self)
    finally:
        with si.lock:
            si.conns.discard(self.connection)


_plain_handle = s3_standin._Handler.handle
s3_standin._Handler.handle = _tracking_handle


def line_of(name, vers, crate):
    return json.dumps({"name": name, "vers": vers, "deps": [], "cksum": sha256_hex(crate),
                       "features": {}, "yanked": False, "v": 2}, separators=(",", ":"))


class S3Fleet:
    """The stand-in and what the replicas' configuration says about it."""

    def __init__(self):
        self.s3 = s3_standin.S3StandIn(buckets=[BUCKET], creds={AKID: SECRET})

    def config(self, extra="", max_stale=1):
        return ('storage = "s3://%s/%s"\nstorage_endpoint = "%s"\n'
                'storage_region = "us-east-1"\nstorage_max_stale = %d\n%s'
                % (BUCKET, PREFIX, self.s3.endpoint, max_stale, extra))

    def env(self):
        return {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}

    def key(self, rel):
        return "%s/local/%s" % (PREFIX, rel)

    def put(self, rel, body):
        with self.s3.lock:
            self.s3.objects[(BUCKET, self.key(rel))] = s3_standin.Obj(
                body, "application/octet-stream")

    def get(self, rel):
        return self.s3.get(BUCKET, self.key(rel))

    def delete(self, rel):
        with self.s3.lock:
            self.s3.objects.pop((BUCKET, self.key(rel)), None)

    def publish(self, name, vers, crate=None, stored=None):
        """As a publish leaves the store: the .crate (stored: other bytes
        than the indexed ones, a tampered object), then its index line."""
        crate = crate or harness.make_crate(name, vers)
        self.put("crates/%s/%s-%s.crate" % (name, name, vers),
                 stored if stored is not None else crate)
        rel = "index/" + index_path(name)
        old = self.get(rel) or b""
        self.put(rel, old + line_of(name, vers, crate).encode() + b"\n")
        return crate

    def gets_of(self, rel):
        path = "/%s/%s" % (BUCKET, self.key(rel))
        with self.s3.lock:
            return sum(1 for m, p, _ in self.s3.requests if m == "GET" and
                       p.split("?")[0] == path)

    def stop(self):
        self.s3.stop()

    def cut(self):
        """Stops the stand-in and closes its open connections: as a store
        that went away (connections refused until restart())."""
        self.s3.stop()
        with self.s3.lock:
            conns = list(getattr(self.s3, "conns", ()))
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def versions(srv, name):
    r = srv.get("/local/" + index_path(name))
    if r.status != 200:
        return r.status, []
    return 200, [json.loads(l)["vers"] for l in r.body.decode().splitlines() if l.strip()]


def versions_timeout(srv, name, timeout):
    r = srv.request("GET", "/local/" + index_path(name), timeout=timeout)
    if r.status != 200:
        return r.status, []
    return 200, [json.loads(l)["vers"] for l in r.body.decode().splitlines() if l.strip()]


def wait_version(srv, name, vers, timeout=20.0):
    """Seconds until srv's index file of name shows vers (polled every
    20 ms); fails after timeout."""
    t0 = time.monotonic()
    ok = harness.wait_until(lambda: vers in versions(srv, name)[1], timeout, interval=0.02)
    if not ok:
        raise AssertionError("%s %s not visible on port %d within %.0f s: %r"
                             % (name, vers, srv.port, timeout, versions(srv, name)))
    return time.monotonic() - t0


class ReplicaTests(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.store = S3Fleet()
        self.addCleanup(self.store.stop)

    def replica(self, name, extra="", registries="[registries.local]\n", max_stale=1):
        """max_stale 0: every read asks the store (no waiting for the
        bound in a test). The catalogue's first round (at start, over the
        store as it is then) is over when this returns, and the next one
        is an hour away: a file a test publishes afterwards reaches the
        replica only when a request asks for it (test_storage_catalogue.py
        tests the rounds)."""
        if "storage_catalogue_interval" not in extra:
            extra += "storage_catalogue_interval = 3600\n"
        srv = self.start_crated(name=name, data_dir=os.path.join(self.tmp, name),
                                config_extra=self.store.config(extra, max_stale),
                                registries=registries, env=self.store.env())
        harness.wait_log(srv, "registry local: catalogue of .* in sync", timeout=20)
        return srv

    def assertNoSecret(self, *servers):
        for s in servers:
            self.assertNotIn(SECRET, s.log_text(), "the store's secret key in a log")

    def test_publish_visible_on_every_replica(self):
        a, b, c = self.replica("a"), self.replica("b"), self.replica("c")
        self.assertEqual(versions(b, CRATE)[0], 404)
        self.store.publish(CRATE, "0.1.0")
        # B asked a moment ago (404): visible within the bound.
        t1 = wait_version(b, CRATE, "0.1.0")
        # C never asked: its first request asks the store.
        self.assertEqual(versions(c, CRATE), (200, ["0.1.0"]))
        # B now has a copy on disk; a new version must replace it.
        crate2 = self.store.publish(CRATE, "0.2.0")
        t2 = wait_version(b, CRATE, "0.2.0")
        print("\nvisibility on B (storage_max_stale = 1 s, polled every 20 ms):"
              " new index file %.3f s, cached index file %.3f s" % (t1, t2))
        self.assertEqual(versions(a, CRATE), (200, ["0.1.0", "0.2.0"]))
        with open(os.path.join(b.data_dir, "local", "index", index_path(CRATE)), "rb") as f:
            self.assertEqual(f.read(), self.store.get("index/" + index_path(CRATE)))
        # Real cargo through B, a fresh CARGO_HOME: resolves and downloads.
        home = os.path.join(self.tmp, "cargo-b")
        os.makedirs(home)
        cargo = harness.CargoEnv(home, b.port)
        proj = harness.make_project(os.path.join(self.tmp, "app"), "rp-app",
                                    deps='%s = { version = "0.2", registry = "local" }' % CRATE,
                                    publish=False)
        cargo.run_cargo(["generate-lockfile"], proj, server=b)
        lock = {p["name"]: p for p in harness.read_lock(os.path.join(proj, "Cargo.lock"))}
        self.assertEqual(lock[CRATE]["version"], "0.2.0")
        self.assertEqual(lock[CRATE]["checksum"], sha256_hex(crate2))
        cargo.run_cargo(["fetch"], proj, server=b)
        kept = os.path.join(b.data_dir, "local", "crates", CRATE, "%s-0.2.0.crate" % CRATE)
        with open(kept, "rb") as f:
            self.assertEqual(f.read(), crate2, "B keeps the .crate it fetched")
        gets = self.store.gets_of("crates/%s/%s-0.2.0.crate" % (CRATE, CRATE))
        r = b.get("/local/api/v1/crates/%s/0.2.0/download" % CRATE)
        self.assertEqual((r.status, r.body), (200, crate2))
        self.assertEqual(self.store.gets_of("crates/%s/%s-0.2.0.crate" % (CRATE, CRATE)),
                         gets, "a kept .crate is served without the store")
        m = harness.metrics(b)
        self.assertGreaterEqual(m.sum("crated_revalidations_total", registry="local",
                                      source="storage"), 1)
        self.assertNoSecret(a, b, c)

    def test_cargo_publish_on_a_visible_on_b(self):
        """The whole path: real `cargo publish` through A (the writing
        side puts the objects into the store), B with its copy of the
        index file cached sees the new version within the bound, real
        cargo with a fresh CARGO_HOME resolves and downloads it through B.
        A itself shows its own publish at once (read-your-writes), even
        while B and A keep reading."""
        a, b = self.replica("a"), self.replica("b")
        name = "rp-published"
        results = []
        for vers in ("0.1.0", "0.2.0"):
            proj = harness.make_project(os.path.join(self.tmp, "src-" + vers), name,
                                        version=vers)
            cargo = harness.CargoEnv(os.path.join(self.tmp, "pub-" + vers), a.port)
            self.assertEqual(versions(b, name)[0], 200 if vers != "0.1.0" else 404)
            cargo.run_cargo(["publish", "--registry", "local", "--no-verify",
                             "--allow-dirty"], proj, server=a)
            t0 = time.monotonic()
            self.assertIn(vers, versions(a, name)[1], "A does not show its own publish")
            wait_version(b, name, vers)
            results.append(time.monotonic() - t0)
        print("\ncargo publish on A acknowledged -> visible on B: first version %.3f s,"
              " second (B's copy cached) %.3f s (storage_max_stale = 1 s)" % tuple(results))
        home = os.path.join(self.tmp, "cargo-fresh")
        os.makedirs(home)
        cargo = harness.CargoEnv(home, b.port)
        app = harness.make_project(os.path.join(self.tmp, "app2"), "rp-app2",
                                   deps='%s = { version = "0.2", registry = "local" }' % name,
                                   publish=False)
        cargo.run_cargo(["generate-lockfile"], app, server=b)
        lock = {p["name"]: p for p in harness.read_lock(os.path.join(app, "Cargo.lock"))}
        self.assertEqual(lock[name]["version"], "0.2.0")
        cargo.run_cargo(["fetch"], app, server=b)
        stored = self.store.get("crates/%s/%s-0.2.0.crate" % (name, name))
        self.assertEqual(lock[name]["checksum"], sha256_hex(stored))
        with open(os.path.join(b.data_dir, "local", "crates", name,
                               "%s-0.2.0.crate" % name), "rb") as f:
            self.assertEqual(f.read(), stored)
        self.assertNoSecret(a, b)

    def test_concurrent_requests_share_one_get(self):
        b = self.replica("b", max_stale=0)
        self.store.publish(CRATE, "0.1.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]))
        rel = "index/" + index_path(CRATE)
        self.store.publish(CRATE, "0.2.0")
        before = self.store.gets_of(rel)
        self.store.s3.hang(True)
        out = []

        def fetch():
            out.append(versions(b, CRATE))

        def joined():
            m = harness.metrics(b)
            return m.sum("crated_coalesced_waiters_total", registry="local",
                         source="storage") >= 11
        threads = [threading.Thread(target=fetch) for _ in range(12)]
        for t in threads:
            t.start()
        # Every request has arrived: one GET held, eleven waiting on it.
        ok = harness.wait_until(joined, 10)
        self.store.s3.hang(False)
        for t in threads:
            t.join(30)
        self.assertTrue(ok, "the requests did not join one GET")
        self.assertEqual(out, [(200, ["0.1.0", "0.2.0"])] * 12)
        # hang() drops the request it held (no answer, the connection
        # closed): the client's one retry of a read is the second GET.
        self.assertLessEqual(self.store.gets_of(rel) - before, 2,
                             "12 requests for one stale file: one GET (and its retry)")

    def test_many_crates_at_once(self):
        """40 .crate files B never had, asked for at once: at most 16 are
        fetched from the store at a time, the others wait their turn;
        every one arrives, byte for byte."""
        b = self.replica("b")
        crates = {}
        for i in range(40):
            crates["1.0.%d" % i] = self.store.publish(CRATE, "1.0.%d" % i)
        out = {}

        def fetch(vers):
            r = b.get("/local/api/v1/crates/%s/%s/download" % (CRATE, vers))
            out[vers] = (r.status, r.body)
        threads = [threading.Thread(target=fetch, args=(v,)) for v in crates]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(out, {v: (200, c) for v, c in crates.items()})

    def test_download_of_a_version_newer_than_the_copy(self):
        """A version published on another replica a moment ago is
        downloadable at once, though B's copy of the index file is within
        storage_max_stale (cargo that resolved through A downloads through
        B); a version the store does not have either is a 404, and asking
        for it again and again does not make every request a GET."""
        b = self.replica("b", max_stale=60)
        self.store.publish(CRATE, "0.1.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]))
        crate = self.store.publish(CRATE, "0.2.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]), "within max_stale: the copy")
        r = b.get("/local/api/v1/crates/%s/0.2.0/download" % CRATE)
        self.assertEqual((r.status, r.body), (200, crate))
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0", "0.2.0"]))
        rel = "index/" + index_path(CRATE)
        before = self.store.gets_of(rel)
        t0 = time.monotonic()
        for _ in range(30):
            r = b.get("/local/api/v1/crates/%s/9.9.9/download" % CRATE)
            self.assertEqual(r.status, 404, r)
            self.assertIn("9.9.9", harness.errors_detail(self, r))
        asked = self.store.gets_of(rel) - before
        elapsed = time.monotonic() - t0
        self.assertLessEqual(asked, 1 + elapsed / 0.2,
                             "%d GETs of the index file for 30 downloads in %.2f s" % (asked, elapsed))

    def test_tampered_crate_is_never_served_nor_kept(self):
        b = self.replica("b")
        good = harness.make_crate(CRATE, "1.0.0")
        bad = harness.make_crate(CRATE, "1.0.0", {"src/evil.rs": "// not what was published\n"})
        self.store.publish(CRATE, "1.0.0", crate=good, stored=bad)
        path = "/local/api/v1/crates/%s/1.0.0/download" % CRATE
        r = b.get(path)
        self.assertEqual(r.status, 502, r)
        detail = harness.errors_detail(self, r)
        self.assertIn(CRATE, detail)
        self.assertIn("s3://%s/%s" % (BUCKET, PREFIX), detail)
        kept = os.path.join(b.data_dir, "local", "crates", CRATE, "%s-1.0.0.crate" % CRATE)
        self.assertFalse(os.path.exists(kept), "a tampered .crate was kept")
        harness.wait_log(b, "does not match the checksum")
        m = harness.metrics(b)
        self.assertGreaterEqual(m.sum("crated_checksum_failures_total", registry="local"), 1)
        # The right bytes: served and kept.
        self.store.put("crates/%s/%s-1.0.0.crate" % (CRATE, CRATE), good)
        r = b.get(path)
        self.assertEqual((r.status, r.body), (200, good))
        with open(kept, "rb") as f:
            self.assertEqual(f.read(), good)

    def test_store_down_serves_what_it_has(self):
        b = self.replica("b", max_stale=0)
        crate = self.store.publish(CRATE, "0.1.0")
        self.store.publish("rp-never", "0.1.0")
        self.store.publish("rp-other", "0.1.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]))
        self.assertEqual(versions(b, "rp-other"), (200, ["0.1.0"]))
        dl = "/local/api/v1/crates/%s/0.1.0/download" % CRATE
        self.assertEqual(b.get(dl).status, 200)
        for fault in ("stopped", "503"):
            if fault == "stopped":
                self.store.cut()
            else:
                self.store.s3.restart()
                self.store.s3.fail(503)
            self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]), fault)
            r = b.get(dl)
            self.assertEqual((r.status, r.body), (200, crate), fault)
            r = b.get("/local/" + index_path("rp-never"))
            self.assertEqual(r.status, 503, (fault, r))
            detail = harness.errors_detail(self, r)
            self.assertIn("cannot be reached", detail)
            self.assertIn("s3://%s/%s" % (BUCKET, PREFIX), detail)
            r = b.get("/local/api/v1/crates/rp-never/0.1.0/download")
            self.assertIn(r.status, (404, 503), (fault, r))
        # A store that hangs: the copy after 3 s, not after the client's
        # (or the store client's 20 s) timeout.
        self.store.s3.fail(0)
        self.store.s3.hang(True)
        try:
            got = versions_timeout(b, "rp-other", 12)
        finally:
            self.store.s3.hang(False)
        self.assertEqual(got, (200, ["0.1.0"]))
        self.store.s3.fail(503)
        harness.wait_log(b, "serving the local copy \\(stale\\)")
        m = harness.metrics(b)
        self.assertGreaterEqual(m.sum("crated_stale_serves_total", registry="local",
                                      source="storage"), 2)
        # Logged once a minute per file, not per request.
        stale_lines = [l for l in b.log_text().splitlines()
                       if "serving the local copy (stale)" in l and index_path(CRATE) in l]
        self.assertEqual(len(stale_lines), 1, stale_lines)
        # The store is back: a new version shows.
        self.store.s3.fail(0)
        self.store.publish(CRATE, "0.2.0")
        wait_version(b, CRATE, "0.2.0")
        self.assertEqual(versions(b, "rp-never"), (200, ["0.1.0"]))
        self.assertNoSecret(b)

    def test_garbage_index_object_is_not_used(self):
        """An index object cargo could not read (not JSON lines, or lines of
        another crate) never replaces B's copy: the copy is served, the
        error logged; a file B never had is a 503."""
        b = self.replica("b", max_stale=0)
        self.store.publish(CRATE, "0.1.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]))
        rel = "index/" + index_path(CRATE)
        good = self.store.get(rel)
        for bad in (b"<html>not an index</html>\n",
                    line_of("rp-other", "9.9.9", b"x").encode() + b"\n"):
            self.store.put(rel, good + bad)
            r = b.get("/local/" + index_path(CRATE))
            self.assertEqual((r.status, r.body), (200, good))
        harness.wait_log(b, "is not an index file")
        self.store.put("index/" + index_path("rp-junk"), b"junk\n")
        r = b.get("/local/" + index_path("rp-junk"))
        self.assertEqual(r.status, 503, r)
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "local", "index",
                                                     index_path("rp-junk"))))
        # Fixed in the store: used again (after the second B waits
        # following a store fault before asking again).
        self.store.put(rel, good + line_of(CRATE, "0.2.0", b"y").encode() + b"\n")
        wait_version(b, CRATE, "0.2.0")

    def test_index_file_removed_from_the_store(self):
        b = self.replica("b")
        self.store.publish(CRATE, "0.1.0")
        self.assertEqual(versions(b, CRATE), (200, ["0.1.0"]))
        copy = os.path.join(b.data_dir, "local", "index", index_path(CRATE))
        self.assertTrue(os.path.exists(copy))
        self.store.delete("index/" + index_path(CRATE))
        self.assertTrue(harness.wait_until(lambda: versions(b, CRATE)[0] == 404, 10))
        self.assertFalse(os.path.exists(copy), "the copy of a file the store lost stays")

    def test_token_revoked_elsewhere_is_refused(self):
        regs = "[registries.local]\nauth_required = true\n"
        a, b = self.replica("a", registries=regs), self.replica("b", registries=regs)
        self.assertIsNone(self.store.s3.get(BUCKET, PREFIX + "/tokens.json"))
        env = dict(harness.cli_env(), **self.store.env())
        rc, out, err = harness.run_crated(
            ["token", "create", "--config", a.config_path, "--registry", "local",
             "--scope", "read", "--name", "reader"], env=env)
        self.assertEqual(rc, 0, err)
        tok = out.strip()
        self.assertTrue(self.store.s3.get(BUCKET, PREFIX + "/tokens.json"))
        self.assertNotIn(tok.encode(), self.store.s3.get(BUCKET, PREFIX + "/tokens.json"),
                         "the store keeps hashes only")
        self.store.publish(CRATE, "0.1.0")
        path = "/local/" + index_path(CRATE)
        auth = {"Authorization": tok}
        # B learns of it without a restart (an unknown token makes it ask).
        for srv in (a, b):
            self.assertTrue(harness.wait_until(
                lambda: srv.get(path, headers=auth).status == 200, 10), srv.log_tail())
        rc, out, err = harness.run_crated(["token", "list", "--config", b.config_path],
                                          env=env)
        self.assertEqual(rc, 0, err)
        self.assertIn("reader", out)
        rc, out, err = harness.run_crated(["token", "revoke", "--config", a.config_path,
                                           "reader"], env=env)
        self.assertEqual(rc, 0, err)
        t0 = time.monotonic()
        took = []
        for srv in (b, a):
            self.assertTrue(harness.wait_until(
                lambda: srv.get(path, headers=auth).status in (401, 403), 10,
                interval=0.02), srv.log_tail())
            took.append(time.monotonic() - t0)
        print("\nrevocation refused by B after %.3f s, by A after %.3f s"
              " (storage_max_stale = 1 s)" % tuple(took))
        self.assertNoSecret(a, b)
        for s in (a, b):
            self.assertNotIn(tok, s.log_text())

    def test_token_commands_race_and_wrong_key(self):
        """Six `crated token create` at once: each read-modify-write of the
        store's tokens.json that loses (412) reads again and redoes its
        edit, so all six land. With a wrong secret key: a clear failure,
        no token printed, the key in no output."""
        path = os.path.join(self.tmp, "cli.toml")
        harness.write_config(path, os.path.join(self.tmp, "cli-data"),
                             extra=self.store.config())
        env = dict(harness.cli_env(), **self.store.env())
        out = {}

        def create(i):
            out[i] = harness.run_crated(
                ["token", "create", "--config", path, "--registry", "local",
                 "--scope", "publish", "--name", "racer%d" % i], env=env)
        threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for i in range(6):
            self.assertEqual(out[i][0], 0, out[i][2])
        with self.store.s3.lock:
            puts = sum(1 for m, p, _ in self.store.s3.requests
                       if m == "PUT" and p.endswith("/tokens.json"))
        print("\n6 concurrent token creates: %d PUTs of tokens.json (%d lost races redone)"
              % (puts, puts - 6))
        labels = sorted(t["label"] for t in json.loads(
            self.store.s3.get(BUCKET, PREFIX + "/tokens.json"))["tokens"])
        self.assertEqual(labels, ["racer%d" % i for i in range(6)])
        rc, listed, err = harness.run_crated(["token", "list", "--config", path], env=env)
        self.assertEqual(rc, 0, err)
        for i in range(6):
            self.assertIn("racer%d" % i, listed)
        bad = dict(env, AWS_SECRET_ACCESS_KEY="not-the-key")
        rc, o, err = harness.run_crated(
            ["token", "create", "--config", path, "--registry", "local",
             "--scope", "read", "--name", "denied"], env=bad)
        self.assertEqual(rc, 1, err)
        self.assertIn("s3://%s/%s" % (BUCKET, PREFIX), err)
        self.assertNotIn("crated_", o)
        self.assertNotIn("not-the-key", o + err)
        rc, o, err = harness.run_crated(["token", "revoke", "--config", path, "racer3"],
                                        env=env)
        self.assertEqual((rc, o.strip()), (0, "revoked 1 token"), err)
        labels = sorted(t["label"] for t in json.loads(
            self.store.s3.get(BUCKET, PREFIX + "/tokens.json"))["tokens"])
        self.assertNotIn("racer3", labels)
        self.assertEqual(len(labels), 5)


class AzuriteReplicaTests(harness.TestCase):
    """The same reading path on Azure Blob (Azurite): a version put into the
    container through Azurite's API is visible on a replica, its .crate
    served and checked."""

    def setUp(self):
        super().setUp()
        import azurite
        if not azurite.installed():
            self.skipTest("Azurite is not installed: ./dev.sh test installs it")
        self.az = azurite.Azurite(self.tmp)
        self.addCleanup(self.az.stop)
        self.az.create_container("crated")

    def put(self, rel, body):
        status, text, _ = self.az.request("PUT", "/crated/fleet/local/" + rel, body=body,
                                          headers={"x-ms-blob-type": "BlockBlob",
                                                   "Content-Type": "application/octet-stream"})
        self.assertEqual(status, 201, text)

    def test_visible_through_azure(self):
        import azurite
        cfg = ('storage = "azblob://%s/crated/fleet"\nstorage_endpoint = "%s"\n'
               'storage_max_stale = 1\n' % (azurite.ACCOUNT, self.az.endpoint))
        env = {"AZURE_STORAGE_ACCOUNT": azurite.ACCOUNT, "AZURE_STORAGE_KEY": azurite.KEY}
        b = self.start_crated(name="b", data_dir=os.path.join(self.tmp, "b"),
                              config_extra=cfg, env=env)
        self.assertEqual(versions(b, CRATE)[0], 404)
        crate = harness.make_crate(CRATE, "0.1.0")
        self.put("crates/%s/%s-0.1.0.crate" % (CRATE, CRATE), crate)
        self.put("index/" + index_path(CRATE), line_of(CRATE, "0.1.0", crate).encode() + b"\n")
        t = wait_version(b, CRATE, "0.1.0")
        print("\nvisible on B through Azurite after %.3f s" % t)
        r = b.get("/local/api/v1/crates/%s/0.1.0/download" % CRATE)
        self.assertEqual((r.status, r.body), (200, crate))
        crate2 = harness.make_crate(CRATE, "0.2.0")
        self.put("crates/%s/%s-0.2.0.crate" % (CRATE, CRATE), crate)   # not crate2
        self.put("index/" + index_path(CRATE), (line_of(CRATE, "0.1.0", crate) + "\n" +
                                                line_of(CRATE, "0.2.0", crate2) + "\n").encode())
        wait_version(b, CRATE, "0.2.0")
        r = b.get("/local/api/v1/crates/%s/0.2.0/download" % CRATE)
        self.assertEqual(r.status, 502, r)
        self.assertNotIn(azurite.KEY, b.log_text())


if __name__ == "__main__":
    harness.main()
