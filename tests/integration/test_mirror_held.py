#!/usr/bin/env python3
"""A mirror's fills reach the disk after the fills under way (issue 25).

crated holds the writes of fetched index files while other fills are
under way (server/mirror/mirror_index.c, persist_queue), so that a cold
resolution's ~700 file and directory creations come after cargo's work
instead of beside it. Whatever the timing, that must not change what a
client or the disk sees:

- a file whose write is held is served from memory, with no second
  upstream request, even with a memory cache that keeps nothing;
- once no fill is under way, the held files are on disk;
- a file fetched just before a clean stop (SIGTERM) is on disk after it,
  and a new crated serves it with the upstream gone;
- a file fetched again while its first write is still held is on disk
  in its newer form (the two writes of one path never race).

No assertion depends on how long anything takes: the disk is polled."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402


class HeldWriteTest(harness.TestCase):

    def start(self, si, data_dir=None, ttl=300):
        return self.start_crated(
            config_extra="memory_cache_bytes = 0\n", data_dir=data_dir,
            registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si.base,
                                     index_ttl=ttl, negative_ttl=ttl,
                                     prefetch_dependencies=False))

    def on_disk(self, crated, name):
        root = os.path.join(crated.data_dir, "mirror")
        return all(os.path.exists(os.path.join(root, d, index_path(name)))
                   for d in ("index", "meta"))

    def test_held_then_written(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        for name in ("hw-a", "hw-b", "hw-c"):
            tree.add(name, "1.0.0", harness.make_crate(name, "1.0.0"))
        crated = self.start(si)
        gate = threading.Event()
        self.addCleanup(gate.set)
        si.set("/reg/" + index_path("hw-b"), S.b_hold(gate, max_s=30))
        held = {}

        def get_b():
            held["b"] = crated.get("/mirror/" + index_path("hw-b"), timeout=40)
        t = threading.Thread(target=get_b)
        t.start()
        self.assertTrue(harness.wait_until(
            lambda: si.count("/reg/" + index_path("hw-b")) == 1, 10),
            "hw-b never reached the stand-in")
        # hw-b's fill is under way: hw-a's write may be held.
        up_a = "/reg/" + index_path("hw-a")
        for i in (1, 2):
            r = crated.get("/mirror/" + index_path("hw-a"))
            self.assertEqual(r.status, 200, "GET %d: %r" % (i, r))
            self.assertEqual(r.body, tree.index_body("hw-a"), "GET %d" % i)
        self.assertEqual(si.count(up_a), 1, "a second upstream request while "
                         "the fill was held: %r" % si.reqs(up_a))
        gate.set()
        t.join(40)
        self.assertEqual(held["b"].status, 200, held["b"])
        self.assertEqual(held["b"].body, tree.index_body("hw-b"))
        # No fill under way: both reach the disk.
        self.assertTrue(harness.wait_until(
            lambda: self.on_disk(crated, "hw-a") and
            self.on_disk(crated, "hw-b"), 20),
            "held writes never reached the disk")
        with open(os.path.join(crated.data_dir, "mirror", "index",
                               index_path("hw-a")), "rb") as f:
            self.assertEqual(f.read(), tree.index_body("hw-a"))
        # A fill right before a clean stop is on disk after it.
        r = crated.get("/mirror/" + index_path("hw-c"))
        self.assertEqual(r.status, 200, r)
        data_dir = crated.data_dir
        crated.stop()
        self.assertTrue(self.on_disk(crated, "hw-c"),
                        "a fill before SIGTERM was not written")
        si.stop()
        again = self.start(si, data_dir=data_dir)
        for name in ("hw-a", "hw-b", "hw-c"):
            r = again.get("/mirror/" + index_path(name))
            self.assertEqual(r.status, 200, "%s after a restart: %r" % (name, r))
            self.assertEqual(r.body, tree.index_body(name), name)

    def test_refetched_while_held(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        for name in ("hr-a", "hr-b"):
            tree.add(name, "1.0.0", harness.make_crate(name, "1.0.0"))
        crated = self.start(si, ttl=1)
        gate = threading.Event()
        self.addCleanup(gate.set)
        si.set("/reg/" + index_path("hr-b"), S.b_hold(gate, max_s=30))
        held = {}

        def get_b():
            held["b"] = crated.get("/mirror/" + index_path("hr-b"), timeout=40)
        t = threading.Thread(target=get_b)
        t.start()
        self.assertTrue(harness.wait_until(
            lambda: si.count("/reg/" + index_path("hr-b")) == 1, 10),
            "hr-b never reached the stand-in")
        r = crated.get("/mirror/" + index_path("hr-a"))
        self.assertEqual(r.status, 200, r)
        old = tree.index_body("hr-a")
        self.assertEqual(r.body, old)
        tree.add("hr-a", "1.1.0", harness.make_crate("hr-a", "1.1.0"))
        new = tree.index_body("hr-a")
        up_a = "/reg/" + index_path("hr-a")
        # index_ttl = 1: ask until crated revalidates and gets the new file
        self.assertTrue(harness.wait_until(
            lambda: crated.get("/mirror/" + index_path("hr-a")).body == new,
            20), "hr-a was never fetched again: %r" % si.reqs(up_a))
        gate.set()
        t.join(40)
        self.assertEqual(held["b"].status, 200, held["b"])
        data_dir = crated.data_dir
        crated.stop()
        with open(os.path.join(data_dir, "mirror", "index",
                               index_path("hr-a")), "rb") as f:
            self.assertEqual(f.read(), new, "the older fill's write landed last")


if __name__ == "__main__":
    harness.main()
