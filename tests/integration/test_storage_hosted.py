#!/usr/bin/env python3
"""Hosted registries' writes through the object store (issue 26): replicas
with their own data directories sharing one store: the S3 stand-in
(s3_standin.py: SigV4 checked, If-None-Match: * and If-Match honoured),
and Azurite for the races and the 30-version fleet (TestAzurite).

* Publish, yank, unyank, owners through the store: the .crate, index, meta,
  name reservation and audit objects; a spelling that differs only in '-'
  and '_' from a crate first published on another replica is refused (the
  reservation); the replica that wrote serves the version at once.
* Three replicas, 30 real `cargo publish` of one crate spread over them at
  once: all 30 in the store's index object, each with its .crate (right
  SHA-256); `cargo generate-lockfile` through each replica resolves it.
* The same version published to two replicas at once, several names
  (identical bytes for some, different for others): exactly one 200, the
  other cargo's "already exists".
* kill -9 of a replica in the middle of a stream of publishes: every
  acknowledged version is in the store's index, every index line's .crate
  is there with its SHA-256; restarted, it publishes again.
* With tokens: owners are the store's meta object, tokens the store's
  tokens.json: a non-owner is refused on the other replica, an owner added
  there can publish here.
* Azurite with a wrong account key: 500 naming the credentials.
* The index PUT's answer lost (the connection closed without a status),
  the write stored or not: crated reads the index again and answers 200
  either way, with the version listed once.
* The store stopped: publish answers 503 naming the store and "nothing was
  published"; the local copies are still served; it works once the store
  is back. Wrong credentials: 500 naming the credentials.
* Hostile: a 500 to the .crate PUT: 503, nothing stored. The store answers
  500 to the index PUT after the .crate PUT
  succeeded: 503, the version is not listed and its .crate is not served;
  a restart with CRATED_TEST_ORPHAN_AGE=0 (the tests' setting for the
  sweep's 15 minutes) sweeps it, and only it.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import index_path, make_crate, crate_meta  # noqa: E402
import azurite  # noqa: E402
import s3_standin  # noqa: E402

BUCKET = "crated-test"
PREFIX = "fleet"
AKID, SECRET = "AKIDHOSTW", "hostw/secret+key"


class FaultHandler(s3_standin._Handler):
    """The stand-in with one more fault: a PUT whose key fault(key) picks
    is answered 500 (the body is not stored); and its connections
    recorded, so that stop_store() closes the kept-alive ones too (the
    stand-in's stop() closes only the port)."""

    def setup(self):
        super().setup()
        with self.server.standin.lock:
            conns = self.server.standin.__dict__.setdefault("conns", [])
            conns.append(self.connection)

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass                # crated killed or stopped mid-request

    def _put(self, bucket, key, body):
        si = self.server.standin
        f = getattr(si, "put_fault", None)
        if f is not None and f(key):
            raise s3_standin.S3Error(500, "InternalError", "injected by the test")
        drop = getattr(si, "put_drop", None)
        mode = drop(key) if drop is not None else None
        if mode is None:
            return super()._put(bucket, key, body)
        # The answer is lost: the write stored ("stored") or not ("lost"),
        # then the connection closed without a status line.
        if mode == "stored":
            with si.lock:
                self._cond(si.objects.get((bucket, key)), True)
                si.objects[(bucket, key)] = s3_standin.Obj(
                    body, self.headers.get("Content-Type", "binary/octet-stream"))
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


s3_standin._Handler = FaultHandler


def store_key(rel):
    return "%s/local/%s" % (PREFIX, rel)


def index_key(name):
    return store_key("index/" + index_path(name))


def crate_key(name, vers):
    n = name.lower()
    return store_key("crates/%s/%s-%s.crate" % (n, n, vers))


class StoreCase(harness.TestCase):
    backend = "s3"

    def setUp(self):
        super().setUp()
        self.s3 = s3_standin.S3StandIn(buckets=[BUCKET], creds={AKID: SECRET})
        self.addCleanup(self.s3.stop)
        self.s3.put_fault = None
        self.s3.put_drop = None

    def stop_store(self):
        self.s3.stop()
        with self.s3.lock:
            conns, self.s3.conns = getattr(self.s3, "conns", []), []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def config(self):
        return ('storage = "s3://%s/%s"\nstorage_endpoint = "%s"\n'
                'storage_region = "us-east-1"\n' % (BUCKET, PREFIX, self.s3.endpoint))

    def creds(self, secret=SECRET):
        return {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": secret}

    def replica(self, name, env=None, secret=SECRET, registries="[registries.local]\n"):
        e = self.creds(secret)
        e.update(env or {})
        return self.start_crated(name=name, data_dir=os.path.join(self.tmp, "data-" + name),
                                 config_extra=self.config(), env=e, registries=registries)

    def get_obj(self, key):
        return self.s3.get(BUCKET, key)

    def index_lines(self, name):
        body = self.get_obj(index_key(name))
        if body is None:
            return []
        return [json.loads(l) for l in body.decode().split("\n") if l.strip()]

    def check_store_consistent(self, name):
        """Every index line's .crate is stored, with the line's SHA-256."""
        lines = self.index_lines(name)
        for l in lines:
            body = self.get_obj(crate_key(name, l["vers"]))
            self.assertIsNotNone(body, "%s %s listed, its .crate missing" % (name, l["vers"]))
            self.assertEqual(hashlib.sha256(body).hexdigest(), l["cksum"], l["vers"])
        return lines

    def publish(self, srv, name, vers, extra=None):
        crate = make_crate(name, vers, extra)
        return srv.publish(crate_meta(name, vers), crate), crate


class RaceTests:
    def test_same_version_two_replicas(self):
        a = self.replica("a")
        b = self.replica("b")
        outcomes = []
        for i in range(6):
            name = "hw-race-%d" % i
            # Even: the same bytes (a retry's case); odd: different bytes.
            ca = make_crate(name, "1.0.0")
            cb = make_crate(name, "1.0.0", None if i % 2 == 0 else {"src/b.rs": "// b\n"})
            go = threading.Barrier(2)

            def send(srv, crate):
                go.wait(timeout=10)
                return srv.publish(crate_meta(name, "1.0.0"), crate)

            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                fa = ex.submit(send, a, ca)
                fb = ex.submit(send, b, cb)
                ra, rb = fa.result(), fb.result()
            statuses = sorted([ra.status, rb.status])
            outcomes.append(statuses)
            self.assertEqual(statuses, [200, 409], (name, ra.body, rb.body))
            loser = ra if ra.status == 409 else rb
            self.assertIn("already exists", self.assertErrors(loser, [409]), name)
            winner = cb if loser is ra else ca
            lines = self.check_store_consistent(name)
            self.assertEqual([l["vers"] for l in lines], ["1.0.0"])
            self.assertEqual(self.get_obj(crate_key(name, "1.0.0")), winner)
        print("%s: same version on two replicas at once: %d names, outcomes %s"
              % (self.backend, len(outcomes), outcomes))



class TestWrites(StoreCase, RaceTests):
    def test_publish_yank_owners(self):
        a = self.replica("a")
        b = self.replica("b")
        r, crate = self.publish(a, "hw-basic", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.s3.get(BUCKET, crate_key("hw-basic", "1.0.0")), crate)
        self.assertEqual([l["vers"] for l in self.index_lines("hw-basic")], ["1.0.0"])
        self.assertEqual(self.s3.get(BUCKET, store_key("names/hw_basic")), b"hw-basic")
        meta = json.loads(self.s3.get(BUCKET, store_key("meta/" + index_path("hw-basic"))))
        self.assertEqual(meta["description"], "test crate hw-basic")
        # The replica that wrote serves it at once, from its copy.
        d = a.get("/local/api/v1/crates/hw-basic/1.0.0/download")
        self.assertEqual((d.status, d.body), (200, crate))
        # The next version through another replica appends to the object.
        r, _ = self.publish(b, "hw-basic", "1.1.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([l["vers"] for l in self.index_lines("hw-basic")], ["1.0.0", "1.1.0"])
        self.assertEqual([l["vers"] for l in b.index_lines("hw-basic")], ["1.0.0", "1.1.0"])
        # The version A published, again through B: the store knows it.
        r, _ = self.publish(b, "hw-basic", "1.0.0")
        self.assertIn("already exists", self.assertErrors(r, [409]))
        # Another spelling of the canonical name, on the other replica.
        r, _ = self.publish(b, "hw_basic", "2.0.0")
        self.assertIn("too similar to the existing crate `hw-basic`",
                      self.assertErrors(r, [409]))
        self.assertIsNone(self.s3.get(BUCKET, crate_key("hw_basic", "2.0.0")))
        # Yank on B, unyank on A: read-modify-write of the same object.
        r = b.request("DELETE", "/local/api/v1/crates/hw-basic/1.0.0/yank",
                      headers={"Authorization": "x"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([l["yanked"] for l in self.index_lines("hw-basic")], [True, False])
        r = a.request("PUT", "/local/api/v1/crates/hw-basic/1.0.0/unyank",
                      headers={"Authorization": "x"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([l["yanked"] for l in self.index_lines("hw-basic")], [False, False])
        r = a.request("PUT", "/local/api/v1/crates/hw-basic/owners",
                      body=b'{"users":["alice"]}', headers={"Authorization": "x"})
        self.assertEqual(r.status, 200, r.body)
        meta = json.loads(self.s3.get(BUCKET, store_key("meta/" + index_path("hw-basic"))))
        self.assertEqual(meta["owners"], ["alice"])
        r = b.get("/local/api/v1/crates/hw-basic/owners")
        self.assertEqual(r.status, 200, r.body)
        # One audit object per write that changed something.
        audits = [json.loads(self.s3.get(BUCKET, k)) for k in self.s3.keys(BUCKET)
                  if k.startswith(store_key("audit/"))]
        self.assertEqual(sorted(x["op"] for x in audits),
                         ["owners", "publish", "publish", "unyank", "yank"])
        self.assertTrue(all(x["crate"] == "hw-basic" for x in audits), audits)

    def test_store_stopped_and_denied(self):
        a = self.replica("a")
        r, crate = self.publish(a, "hw-down", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        self.stop_store()
        r, _ = self.publish(a, "hw-down", "1.1.0")
        detail = self.assertErrors(r, [503])
        self.assertIn("s3://%s/%s" % (BUCKET, PREFIX), detail)
        self.assertIn("nothing was published", detail)
        # Reads are served from the local copies meanwhile.
        d = a.get("/local/api/v1/crates/hw-down/1.0.0/download")
        self.assertEqual((d.status, d.body), (200, crate))
        self.assertEqual([l["vers"] for l in a.index_lines("hw-down")], ["1.0.0"])
        self.s3.restart()
        r, _ = self.publish(a, "hw-down", "1.1.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([l["vers"] for l in self.check_store_consistent("hw-down")],
                         ["1.0.0", "1.1.0"])
        # Credentials the store refuses: 500, nothing published.
        bad = self.replica("bad", secret="not-the-secret")
        r, _ = self.publish(bad, "hw-down", "1.2.0")
        detail = self.assertErrors(r, [500])
        self.assertIn("credentials", detail)
        self.assertIn("nothing was published", detail)
        self.assertEqual(len(self.index_lines("hw-down")), 2)

    def test_index_put_500_then_sweep(self):
        a = self.replica("a")
        r, _ = self.publish(a, "hw-orphan", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        # A 500 to the .crate PUT: nothing published, nothing left.
        ckey = crate_key("hw-orphan", "1.0.1")
        self.s3.put_fault = lambda key: key == ckey
        r, _ = self.publish(a, "hw-orphan", "1.0.1")
        self.assertIn("nothing was published", self.assertErrors(r, [503]))
        self.assertIsNone(self.s3.get(BUCKET, ckey))
        ikey = index_key("hw-orphan")
        self.s3.put_fault = lambda key: key == ikey
        r, crate = self.publish(a, "hw-orphan", "1.1.0")
        detail = self.assertErrors(r, [503])
        self.assertIn("nothing was published", detail)
        self.s3.put_fault = None
        # The .crate landed, its line did not: never served.
        self.assertEqual(self.s3.get(BUCKET, crate_key("hw-orphan", "1.1.0")), crate)
        self.assertEqual([l["vers"] for l in self.index_lines("hw-orphan")], ["1.0.0"])
        d = a.get("/local/api/v1/crates/hw-orphan/1.1.0/download")
        self.assertEqual(d.status, 404)
        b = self.replica("b")       # reads through the store: not listed
        d = b.get("/local/api/v1/crates/hw-orphan/1.1.0/download")
        self.assertEqual(d.status, 404)
        # The sweep at the next start (age 0: a test setting) removes it,
        # and keeps the listed one.
        a.stop()
        a = self.replica("a", env={"CRATED_TEST_ORPHAN_AGE": "0"})
        harness.wait_log(a, r"orphan sweep: \d+ \.crate objects checked, 1 removed", 10)
        self.assertIsNone(self.s3.get(BUCKET, crate_key("hw-orphan", "1.1.0")))
        self.check_store_consistent("hw-orphan")
        self.assertEqual(len(self.index_lines("hw-orphan")), 1)
        # A retry of the failed publish now works.
        r, _ = self.publish(a, "hw-orphan", "1.1.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(self.check_store_consistent("hw-orphan")), 2)

    def test_owners_across_replicas(self):
        """Tokens (the store's tokens.json) and owners (the meta object)
        are the same on every replica."""
        auth = "[registries.local]\nauth_required = true\n"
        cfg = harness.write_config(os.path.join(self.tmp, "tok.toml"),
                                   os.path.join(self.tmp, "data-tok"), extra=self.config(),
                                   registries=auth)
        env = harness.cli_env()
        env.update(self.creds())
        tok = {}
        for key, who, scope, more in (("alice", "alice", "publish", []),
                                      ("bob", "bob", "publish", []),
                                      ("alice-yank", "alice", "yank", ["--same-owner"])):
            rc, out, err = harness.run_crated(["token", "create", "--config", cfg, "--registry",
                                               "local", "--scope", scope, "--name", who] + more,
                                              env=env)
            self.assertEqual(rc, 0, err)
            tok[key] = out.strip()
        a = self.replica("a", registries=auth)
        b = self.replica("b", registries=auth)

        def pub(srv, who, vers):
            crate = make_crate("hw-own", vers)
            return srv.publish(crate_meta("hw-own", vers), crate,
                               headers={"Authorization": tok[who]})

        r = pub(a, "alice", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        r = pub(b, "bob", "1.1.0")
        self.assertIn("`bob` is not an owner of crate `hw-own` (owners: `alice`)",
                      self.assertErrors(r, [403]))
        r = b.request("PUT", "/local/api/v1/crates/hw-own/owners", body=b'{"users":["bob"]}',
                      headers={"Authorization": tok["bob"]})
        self.assertErrors(r, [403])
        r = b.request("PUT", "/local/api/v1/crates/hw-own/owners", body=b'{"users":["bob"]}',
                      headers={"Authorization": tok["alice"]})
        self.assertEqual(r.status, 200, r.body)
        r = pub(a, "bob", "1.1.0")
        self.assertEqual(r.status, 200, r.body)
        r = b.request("DELETE", "/local/api/v1/crates/hw-own/1.0.0/yank",
                      headers={"Authorization": tok["alice-yank"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([(l["vers"], l["yanked"]) for l in self.check_store_consistent("hw-own")],
                         [("1.0.0", True), ("1.1.0", False)])
        meta = json.loads(self.get_obj(store_key("meta/" + index_path("hw-own"))))
        self.assertEqual(meta["owners"], ["alice", "bob"])

    def test_lost_answers(self):
        """The index PUT's answer never comes: crated reads the index again
        and decides from it, never from a guess."""
        a = self.replica("a")
        ikey = index_key("hw-lost")
        r, _ = self.publish(a, "hw-lost", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        once = []

        def drop(mode):
            def f(key):
                if key == ikey and not once:
                    once.append(key)
                    return mode
                return None
            return f

        # Stored, answer lost: the re-read finds this publish's line.
        self.s3.put_drop = drop("stored")
        r, _ = self.publish(a, "hw-lost", "1.1.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(once, [ikey])
        # Not stored, answer lost: the re-read shows it missing; written again.
        once.clear()
        self.s3.put_drop = drop("lost")
        r, _ = self.publish(a, "hw-lost", "1.2.0")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(once, [ikey])
        self.s3.put_drop = None
        self.assertEqual([l["vers"] for l in self.check_store_consistent("hw-lost")],
                         ["1.0.0", "1.1.0", "1.2.0"])
        self.assertEqual([l["vers"] for l in a.index_lines("hw-lost")],
                         ["1.0.0", "1.1.0", "1.2.0"])

    def test_kill9_mid_publishes(self):
        a = self.replica("a")
        b = self.replica("b")
        acked, lock, stop = [], threading.Lock(), threading.Event()
        kill_at = 12

        # Three crates (writes to one crate are serialised on a replica):
        # three publishes under way in the store when the kill comes.
        def stream(t):
            for i in range(40):
                if stop.is_set():
                    return
                vers = "1.%d.0" % i
                try:
                    r, _ = self.publish(a, "hw-kill-%d" % t, vers)
                except OSError:
                    return
                if r.status == 200:
                    with lock:
                        acked.append(("hw-kill-%d" % t, vers))
                        if len(acked) >= kill_at and not stop.is_set():
                            stop.set()
                            a.proc.send_signal(signal.SIGKILL)

        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            list(ex.map(stream, range(3)))
        a.proc.wait(timeout=10)
        a.expected_exit = True
        names = ["hw-kill-%d" % t for t in range(3)]
        listed = {(n, l["vers"]) for n in names for l in self.check_store_consistent(n)}
        missing = sorted(set(acked) - listed)
        self.assertEqual(missing, [], "acknowledged but not in the store")
        # The other replica goes on; the killed one restarts and publishes.
        r, _ = self.publish(b, "hw-kill-0", "9.0.0")
        self.assertEqual(r.status, 200, r.body)
        a2 = self.replica("a")
        for n in names:
            r, _ = self.publish(a2, n, "9.1.0")
            self.assertEqual(r.status, 200, r.body)
        final = sum(len(self.check_store_consistent(n)) for n in names)
        print("kill -9 mid-stream: %d acknowledged, %d listed after the kill, %d in the"
              " store at the end, all .crate present with their SHA-256"
              % (len(acked), len(listed), final))


class CargoFleetTests:
    def test_thirty_versions_three_replicas(self):
        reps = [self.replica(n) for n in ("a", "b", "c")]
        name, n = "hw-thirty", 30
        cargos = []
        for i, srv in enumerate(reps):
            cargos.append(harness.Cargo(self.tmp, '[registries.local]\nindex = "%s"\n'
                                        % srv.index_url, tokens={"local": "anything"}))
        projects = []
        for k in range(n):
            p = harness.make_project(os.path.join(self.tmp, "p%d" % k), name,
                                     version="0.%d.0" % (k + 1))
            projects.append(p)

        def publish(k):
            c, srv = cargos[k % 3], reps[k % 3]
            c.run(["publish", "--registry", "local", "--no-verify", "--allow-dirty"],
                  projects[k], logs=(srv,))
            return k

        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            done = list(ex.map(publish, range(n)))
        self.assertEqual(len(done), n)
        lines = self.check_store_consistent(name)
        self.assertEqual(sorted(l["vers"] for l in lines),
                         sorted("0.%d.0" % (k + 1) for k in range(n)))
        # Every replica serves all 30 (revalidated against the store at
        # most storage_max_stale = 1 s apart), and cargo resolves and
        # downloads through each one a version another replica published.
        want_all = {"0.%d.0" % (k + 1) for k in range(n)}
        for i, srv in enumerate(reps):
            harness.wait_until(lambda: {l["vers"] for l in srv.index_lines(name)} == want_all,
                               10)
            self.assertEqual({l["vers"] for l in srv.index_lines(name)}, want_all, srv.port)
            other = "0.%d.0" % (n - 2 + (i + 1) % 3)    # published by (i + 1) % 3
            user = harness.make_project(os.path.join(self.tmp, "user%d" % i), "user%d" % i,
                                        deps='%s = { version = "=%s", registry = "local" }'
                                        % (name, other),
                                        publish=False)
            cargos[i].run(["generate-lockfile"], user, logs=(srv,))
            locked = {p["name"]: p["version"] for p in harness.read_lock(
                os.path.join(user, "Cargo.lock"))}
            self.assertEqual(locked.get(name), other)
            cargos[i].run(["fetch"], user, logs=(srv,))
        conflicts = sum(harness.metrics(srv).sum("crated_storage_conflicts_total")
                        for srv in reps)
        print("%s: three replicas: %d versions published by cargo at once, %d in the"
              " store's index, every .crate with its SHA-256; %d lost races redone"
              % (self.backend, n, len(lines), conflicts))


class TestThreeReplicasCargo(StoreCase, CargoFleetTests):
    pass


class AzureCase(StoreCase):
    """The same replicas on Azurite (Azure Blob's emulator: SharedKey
    checked, conditional writes honoured)."""
    backend = "azurite"
    CONTAINER = "crated-test"

    def setUp(self):
        harness.TestCase.setUp(self)
        self.az = azurite.Azurite(self.tmp)
        self.addCleanup(self.az.stop)
        self.az.create_container(self.CONTAINER)

    def config(self):
        return ('storage = "azblob://%s/%s/%s"\nstorage_endpoint = "%s"\n'
                % (azurite.ACCOUNT, self.CONTAINER, PREFIX, self.az.endpoint))

    def replica(self, name, env=None, secret=None, registries="[registries.local]\n"):
        e = {"AZURE_STORAGE_ACCOUNT": azurite.ACCOUNT,
             "AZURE_STORAGE_KEY": secret or azurite.KEY}
        e.update(env or {})
        return self.start_crated(name=name, data_dir=os.path.join(self.tmp, "data-" + name),
                                 config_extra=self.config(), env=e, registries=registries)

    def get_obj(self, key):
        return self.az.get_blob(self.CONTAINER, key)


class TestAzurite(AzureCase, RaceTests, CargoFleetTests):
    def test_wrong_key(self):
        good = self.replica("good")
        r, _ = self.publish(good, "hw-key", "1.0.0")
        self.assertEqual(r.status, 200, r.body)
        bad = self.replica("bad", secret=base64.b64encode(b"not the account key").decode())
        r, _ = self.publish(bad, "hw-key", "1.1.0")
        detail = self.assertErrors(r, [500])
        self.assertIn("refused crated's credentials", detail)
        self.assertIn("nothing was published", detail)
        self.assertEqual([l["vers"] for l in self.check_store_consistent("hw-key")], ["1.0.0"])


if __name__ == "__main__":
    unittest.main()
