#!/usr/bin/env python3
"""The catalogue of a store-backed hosted registry (issue 26): each replica
lists R/index/ and R/meta/ at start and every storage_catalogue_interval
seconds (1 here), so what walks its local files (`cargo search`, the
descriptions, the crate-name collision list) knows crates published on
other replicas, and forgets crates removed from the store. The store is
the SigV4-verifying S3 stand-in (s3_standin.py).

* Three replicas: real `cargo publish` of one crate through A and another
  through B; within the period plus a margin (waited on, bounded) real
  `cargo search` through C finds both, with their descriptions; C
  refuses a name that differs only in - and _ from A's crate, naming it
  (its own collision list: no name reservation is tried); C's owners list
  of A's crate is A's (the meta file). A crate whose objects are deleted
  from the store leaves C's search and C's disk. /-/ready and /-/metrics
  show the catalogue.
* 2,500 index objects put straight into the store, listed 100 to a page
  (the stand-in's max_page): a fresh replica syncs them all (each GET
  once), search counts 2,500; a second round GETs nothing.
* The store answering 503: C logs it once, keeps its files and serves them and
  its search; back, the catalogue completes again and a crate published
  meanwhile (put into the store) appears.
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import s3_standin  # noqa: E402
from harness import index_path, sha256_hex  # noqa: E402

AKID = "AKIDCATALOGUE"
SECRET = "catalogue/secret+Key0123456789"
BUCKET = "crated-cat"
PREFIX = "fleet"
INTERVAL = 1
# The period, plus a margin for a round's GETs on a loaded machine (and
# ASan): waited on as a condition, never slept.
WAIT = INTERVAL + 20


def line_of(name, vers, crate):
    return json.dumps({"name": name, "vers": vers, "deps": [], "cksum": sha256_hex(crate),
                       "features": {}, "yanked": False, "v": 2}, separators=(",", ":"))


class CatalogueCase(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.s3 = s3_standin.S3StandIn(buckets=[BUCKET], creds={AKID: SECRET})
        self.addCleanup(self.s3.stop)

    def key(self, rel):
        return "%s/local/%s" % (PREFIX, rel)

    def put(self, rel, body):
        with self.s3.lock:
            self.s3.objects[(BUCKET, self.key(rel))] = s3_standin.Obj(
                body, "application/octet-stream")

    def delete_crate(self, name):
        """Every object of name: as an operator removing a crate."""
        canon = name.lower().replace("-", "_")
        rels = ["index/" + index_path(name), "meta/" + index_path(name),
                "names/" + canon]
        with self.s3.lock:
            for k in list(self.s3.objects):
                if k[0] != BUCKET:
                    continue
                rel = k[1][len(self.key("")):]
                if rel in rels or rel.startswith("crates/%s/" % name.lower()):
                    del self.s3.objects[k]

    def replica(self, name, interval=INTERVAL):
        cfg = ('storage = "s3://%s/%s"\nstorage_endpoint = "%s"\n'
               'storage_region = "us-east-1"\nstorage_catalogue_interval = %d\n'
               % (BUCKET, PREFIX, self.s3.endpoint, interval))
        return self.start_crated(name=name, data_dir=os.path.join(self.tmp, "data-" + name),
                                 config_extra=cfg, env={"AWS_ACCESS_KEY_ID": AKID,
                                                        "AWS_SECRET_ACCESS_KEY": SECRET})

    def cargo(self, srv):
        return harness.Cargo(self.tmp, '[registries.local]\nindex = "%s"\n' % srv.index_url,
                             tokens={"local": "anything"})

    def search(self, srv, q, per_page=100):
        r = srv.get("/local/api/v1/crates?q=%s&per_page=%d" % (q, per_page))
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def found(self, srv, q):
        return {c["name"]: c.get("description") for c in self.search(srv, q)["crates"]}

    def catalogue(self, srv):
        r = srv.get("/-/ready")
        for reg in r.json()["registries"]:
            if reg["name"] == "local":
                return reg.get("catalogue", {})
        return {}

    def rounds_after(self, srv, t):
        """A round that started after t completed (last_complete > t)."""
        return harness.wait_until(lambda: self.catalogue(srv).get("last_complete", 0) > t,
                                  WAIT)


class TestCatalogue(CatalogueCase):

    def test_search_names_and_removal_across_replicas(self):
        a, b, c = self.replica("a"), self.replica("b"), self.replica("c")
        pa = harness.make_project(os.path.join(self.tmp, "pa"), "cat-alpha",
                                  description="alpha published on A")
        pb = harness.make_project(os.path.join(self.tmp, "pb"), "cat_beta",
                                  description="beta published on B")
        args = ["publish", "--registry", "local", "--no-verify", "--allow-dirty"]
        self.cargo(a).run(args, pa, logs=(a,))
        self.cargo(b).run(args, pb, logs=(b,))
        want = {"cat-alpha": "alpha published on A", "cat_beta": "beta published on B"}
        # C was never asked for either: its catalogue brings them.
        t0 = time.monotonic()
        ok = harness.wait_until(lambda: self.found(c, "cat") == want, WAIT)
        self.assertTrue(ok, "C's search: %r\n%s" % (self.found(c, "cat"), c.log_tail(20)))
        print("\nC's search shows crates published on A and B after %.2f s"
              " (storage_catalogue_interval = %d s)" % (time.monotonic() - t0, INTERVAL))
        cc = self.cargo(c)
        _, out, _ = cc.run(["search", "cat", "--registry", "local"], self.tmp, logs=(c,))
        self.assertRegex(out, r'(?m)^cat-alpha = "0\.1\.0"\s+# alpha published on A', out)
        self.assertRegex(out, r'(?m)^cat_beta = "0\.1\.0"\s+# beta published on B', out)
        # The meta file is A's: the owners C lists are A's.
        r = c.get("/local/api/v1/crates/cat-alpha/owners")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), a.get("/local/api/v1/crates/cat-alpha/owners").json())
        meta = os.path.join(c.data_dir, "local", "meta", index_path("cat-alpha"))
        self.assertTrue(os.path.exists(meta), meta)
        # A look-alike of A's crate, published on C: refused by C's own
        # list (which names the crate): no reservation is tried.
        gets = len(self.s3.requests)
        r = c.publish(harness.crate_meta("cat_alpha", "1.0.0"),
                      harness.make_crate("cat_alpha", "1.0.0"))
        self.assertEqual(r.status, 409, r.body)
        self.assertIn("cat-alpha", r.body.decode())
        self.assertIn("too similar", r.body.decode())
        self.assertNotIn(("PUT", "names/cat_alpha"), [
            (m, p.split("/local/")[-1].split("?")[0]) for m, p, _ in self.s3.requests[gets:]])
        # cargo sees the same refusal.
        pl = harness.make_project(os.path.join(self.tmp, "pl"), "cat_alpha")
        rc, _, err = cc.run(args, pl, check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("cat-alpha", err)
        # Removed from the store: gone from C's search and disk.
        local = os.path.join(c.data_dir, "local", "index", index_path("cat_beta"))
        self.assertTrue(os.path.exists(local), local)
        self.delete_crate("cat_beta")
        ok = harness.wait_until(lambda: "cat_beta" not in self.found(c, "cat"), WAIT)
        self.assertTrue(ok, "C still shows cat_beta: %s" % c.log_tail(20))
        self.assertEqual(self.found(c, "cat"), {"cat-alpha": "alpha published on A"})
        self.assertFalse(os.path.exists(local), "C's copy of a removed crate")
        self.assertEqual(c.get("/local/" + index_path("cat_beta")).status, 404)
        # /-/ready and /-/metrics.
        cat = self.catalogue(c)
        self.assertEqual(cat["state"], "ok", cat)
        self.assertRegex(cat["last_complete_at"], r"^\d{4}-\d\d-\d\dT")
        self.assertGreaterEqual(cat["removed"], 1, cat)
        m = harness.metrics(c)
        self.assertGreater(m.sum("crated_catalogue_listed_total"), 0)
        self.assertGreaterEqual(m.sum("crated_catalogue_fetches_total", outcome="gone"), 1)
        self.assertGreater(m.sum("crated_catalogue_last_complete_seconds"), 0)
        for s in (a, b, c):
            self.assertNotIn(SECRET, s.log_text())

    def test_many_objects_paged(self):
        n = 2500
        self.s3.max_page = 100
        for i in range(n):
            name = "bulk-%04d" % i
            crate = ("crate of %s" % name).encode()
            self.put("index/" + index_path(name), (line_of(name, "1.0.0", crate) + "\n").encode())
        t0 = time.monotonic()
        c = self.replica("c")
        ok = harness.wait_until(lambda: self.catalogue(c).get("objects") == n and
                                self.catalogue(c).get("state") == "ok", WAIT + 60)
        took = time.monotonic() - t0
        self.assertTrue(ok, "%r\n%s" % (self.catalogue(c), c.log_tail(20)))
        lists = sum(1 for m, p, _ in self.s3.requests if m == "GET" and "list-type=2" in p)
        print("\n%d index objects, 100 to a page: in sync after %.2f s (%d listings so far)"
              % (n, took, lists))
        self.assertGreaterEqual(lists, n // 100)
        self.assertEqual(self.search(c, "bulk")["meta"]["total"], n)
        files = sum(len(fs) for _, _, fs in os.walk(os.path.join(c.data_dir, "local", "index")))
        self.assertEqual(files, n)
        # Each was fetched once; a later round fetches nothing (ETags).
        gets = [p for m, p, _ in self.s3.requests if m == "GET" and "/index/" in p and
                "list-type" not in p]
        self.assertEqual(len(gets), n)
        t = self.catalogue(c)["last_complete"]
        self.assertTrue(self.rounds_after(c, t))
        gets2 = [p for m, p, _ in self.s3.requests if m == "GET" and "/index/" in p and
                 "list-type" not in p]
        self.assertEqual(len(gets2), n, "a round without changes fetched again")

    def test_store_down_keeps_state(self):
        a, c = self.replica("a"), self.replica("c")
        for name in ("down-one", "down-two"):
            crate = harness.make_crate(name, "0.1.0")
            r = a.publish(harness.crate_meta(name, "0.1.0", description="d " + name), crate)
            self.assertEqual(r.status, 200, r.body)
        ok = harness.wait_until(lambda: set(self.found(c, "down")) == {"down-one", "down-two"},
                                WAIT)
        self.assertTrue(ok, c.log_tail(20))
        self.s3.fail(503)
        # Rounds fail: logged once, the state kept and served.
        ok = harness.wait_until(lambda: self.catalogue(c).get("state") == "failing", WAIT)
        self.assertTrue(ok, self.catalogue(c))
        fails = self.catalogue(c)
        t = fails["last_complete"]     # a round under way may have ended
        # More rounds fail meanwhile, without more log lines.
        f0 = harness.metrics(c).sum("crated_storage_failures_total")
        self.assertTrue(harness.wait_until(
            lambda: harness.metrics(c).sum("crated_storage_failures_total") >= f0 + 2, WAIT))
        self.assertEqual(self.found(c, "down"), {"down-one": "d down-one",
                                                 "down-two": "d down-two"})
        self.assertEqual(c.get("/local/" + index_path("down-one")).status, 200)
        self.assertEqual(self.catalogue(c)["last_complete"], t)
        self.assertEqual(self.catalogue(c)["objects"], fails["objects"])
        self.assertEqual(len(re.findall(r"catalogue of .* could not be read", c.log_text())),
                         1, c.log_tail(20))
        # Back: a crate put meanwhile appears, the state is ok again.
        self.s3.fail(0)
        crate = harness.make_crate("down-three", "0.1.0")
        self.put("index/" + index_path("down-three"),
                 (line_of("down-three", "0.1.0", crate) + "\n").encode())
        ok = harness.wait_until(lambda: "down-three" in self.found(c, "down"), WAIT)
        self.assertTrue(ok, c.log_tail(20))
        self.assertTrue(harness.wait_until(lambda: self.catalogue(c).get("state") == "ok",
                                           WAIT))


if __name__ == "__main__":
    unittest.main()
