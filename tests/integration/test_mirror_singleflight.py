#!/usr/bin/env python3
"""Concurrent requests for one path share one upstream request.

The stand-in holds the first upstream request for the path until all N
clients have sent their GET to crated (plus ~1 s), then answers. The
stand-in must have seen exactly one request for the path, and every
client the same answer: for an index file (200, identical bodies), for an
upstream 404 (all 404), for an upstream error (all 502/503, and a later
request once the upstream is good again heals), and for a .crate
download (all 200 with the upstream's bytes).

WriteUnderWayTest: a fill is served from memory while its write to disk is
still under way, even with a memory cache that keeps nothing, so a second
request meanwhile does not go upstream again (it did: the file was in
neither place)."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

N = 20


class SingleFlightTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.crates = {}
        for name in ("sf-one", "sf-dl"):
            self.crates[name] = harness.make_crate(name, "1.0.0")
            self.tree.add(name, "1.0.0", self.crates[name])
        self.crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % self.si.base, index_ttl=60, negative_ttl=60))

    def storm(self, path, upstream_path, n=N, behaviour_after=None):
        """n clients GET path while the stand-in holds upstream_path; returns
        [Resp or exception]."""
        gate = threading.Event()
        self.addCleanup(gate.set)
        self.si.set(upstream_path, S.b_hold(gate, then=behaviour_after, max_s=20))
        sent = threading.Semaphore(0)
        results = [None] * n

        def client(i):
            try:
                with harness.RawConn(self.crated.port, timeout=40) as c:
                    c.send(harness.build_request("GET", path))
                    sent.release()
                    results[i] = c.read_response()
            except Exception as e:      # noqa: BLE001 - reported below
                results[i] = e
                sent.release()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        n0 = self.si.count(upstream_path)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        for _ in range(n):
            self.assertTrue(sent.acquire(timeout=max(0.1, deadline - time.monotonic())),
                            "clients could not send their requests")
        # the first upstream request must be in (held); crated has then
        # read the other requests (sent before it answers a later one on
        # a connection of its own) and would have started more fetches:
        # what it has in flight has reached the stand-in
        self.assertTrue(harness.wait_until(lambda: self.si.count(upstream_path) >= 1, 10),
                        "crated never asked the upstream for %s" % upstream_path)
        harness.wait_until(lambda: self.si.count(upstream_path) > n0, 10)
        harness.wait_connections(self.crated, n)
        harness.wait_upstream_in_flight(self.crated, self.si.count(upstream_path) - n0)
        held = self.si.count(upstream_path)
        gate.set()
        for t in threads:
            t.join(timeout=45)
        self.assertFalse(any(t.is_alive() for t in threads), "a client got no answer in 45 s")
        self.si.set(upstream_path, None)
        return results, held

    def test_index_file(self):
        path = "/reg/" + index_path("sf-one")
        results, held = self.storm("/mirror/" + index_path("sf-one"), path)
        self.assertEqual(held, 1, "upstream saw %d requests while held" % held)
        self.assertEqual(self.si.count(path), 1, self.si.reqs(path))
        for r in results:
            self.assertIsInstance(r, harness.Resp, r)
            self.assertEqual(r.status, 200, r)
        self.assertEqual({r.body for r in results}, {self.tree.index_body("sf-one")})
        self.assertEqual(S.health(self.crated), 200)

    def test_not_found(self):
        path = "/reg/" + index_path("sf-absent")
        results, held = self.storm("/mirror/" + index_path("sf-absent"), path)
        self.assertEqual(self.si.count(path), 1, self.si.reqs(path))
        for r in results:
            self.assertIsInstance(r, harness.Resp, r)
            self.assertEqual(r.status, 404, r)

    def test_upstream_error_then_heal(self):
        path = "/reg/" + index_path("sf-one")
        results, held = self.storm("/mirror/" + index_path("sf-one"), path,
                                   behaviour_after=S.b_status(500, "boom"))
        self.assertEqual(self.si.count(path), 1, self.si.reqs(path))
        for r in results:
            self.assertIsInstance(r, harness.Resp, r)
            self.assertIn(r.status, (502, 503), r)
            self.assertErrors(r, [502, 503])
        self.assertFalse(os.path.exists(os.path.join(self.crated.data_dir, "mirror", "index",
                                                     index_path("sf-one"))))
        # nothing was cached, so the next request asks again and succeeds
        r = self.crated.get("/mirror/" + index_path("sf-one"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("sf-one"))

    def test_crate_download(self):
        # index first (not held), then a storm on the .crate
        r = self.crated.get("/mirror/" + index_path("sf-dl"))
        self.assertEqual(r.status, 200, r)
        results, held = self.storm("/mirror/api/v1/crates/sf-dl/1.0.0/download", "/dl/sf-dl/1.0.0",
                                   n=10)
        self.assertEqual(self.si.count("/dl/sf-dl/1.0.0"), 1, self.si.reqs("/dl/sf-dl/1.0.0"))
        for r in results:
            self.assertIsInstance(r, harness.Resp, r)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, self.crates["sf-dl"])
        p = os.path.join(self.crated.data_dir, "mirror", "crates", "sf-dl", "sf-dl-1.0.0.crate")
        self.assertTrue(harness.wait_until(lambda: os.path.isfile(p), 5))


class SingleFlightRevalidateTest(SingleFlightTest):
    """The same for an expired entry (index_ttl = 1): one conditional
    request upstream, every client the cached bytes."""

    def setUp(self):
        harness.TestCase.setUp(self)
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.crates = {"sf-one": harness.make_crate("sf-one", "1.0.0")}
        self.tree.add("sf-one", "1.0.0", self.crates["sf-one"])
        self.crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % self.si.base, index_ttl=1, negative_ttl=1))

    def test_index_file(self):
        path = "/reg/" + index_path("sf-one")
        r = self.crated.get("/mirror/" + index_path("sf-one"))
        self.assertEqual(r.status, 200, r)
        time.sleep(2.5)     # index_ttl = 1 runs out: the storm is a revalidation
        mark = self.si.mark()
        results, held = self.storm("/mirror/" + index_path("sf-one"), path)
        reqs = [q for q in self.si.since(mark) if q.path == path]
        self.assertEqual(len(reqs), 1, reqs)
        self.assertTrue(reqs[0].header("if-none-match"), reqs[0].headers)
        for r in results:
            self.assertIsInstance(r, harness.Resp, r)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, self.tree.index_body("sf-one"))

    test_not_found = test_upstream_error_then_heal = test_crate_download = None


class WriteUnderWayTest(harness.TestCase):
    """memory_cache_bytes = 0 (nothing is kept in memory) and the write of a
    fetched index file held at mirror-index:after-tmp for PAUSE_MS by
    CRATED_PAUSE_AT (a slow disk): a second GET while the file is on
    neither disk nor in the memory cache is answered from the fill, with no
    second upstream request; once the write is done the file is on disk."""

    PAUSE_MS = 5000

    def test_second_request_while_writing(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        tree.add("wu-one", "1.0.0", harness.make_crate("wu-one", "1.0.0"))
        crated = self.start_crated(
            config_extra="memory_cache_bytes = 0\n",
            env={"CRATED_PAUSE_AT": "mirror-index:after-tmp=%d" % self.PAUSE_MS},
            registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si.base,
                                     index_ttl=300, negative_ttl=300,
                                     prefetch_dependencies=False))
        path = "/mirror/" + index_path("wu-one")
        up = "/reg/" + index_path("wu-one")
        on_disk = os.path.join(crated.data_dir, "mirror", "index", index_path("wu-one"))
        body = tree.index_body("wu-one")
        for i in (1, 2):
            r = crated.get(path)
            self.assertEqual(r.status, 200, "GET %d: %r" % (i, r))
            self.assertEqual(r.body, body, "GET %d" % i)
        self.assertFalse(os.path.exists(on_disk),
                         "the write was not held (CRATED_PAUSE_AT ignored?)")
        self.assertEqual(si.count(up), 1, "a second upstream request while the "
                         "fill was being written: %r" % si.reqs(up))
        self.assertTrue(harness.wait_until(lambda: os.path.exists(on_disk),
                                     self.PAUSE_MS / 1000 + 10),
                        "the held write never finished")
        with open(on_disk, "rb") as f:
            self.assertEqual(f.read(), body)
        r = crated.get(path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)
        self.assertEqual(si.count(up), 1, si.reqs(up))


if __name__ == "__main__":
    harness.main()
