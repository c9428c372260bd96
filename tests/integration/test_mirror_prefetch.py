#!/usr/bin/env python3
"""Dependency-aware prefetch of a mirror (server/mirror/mirror_warm.c,
mirror_index.c, mirror_admit_warm() in mirror_admit.c; the rules are index/deps.h's).

When crated fetches an index file from the upstream for a client it reads
it and fetches, in the background, the index files cargo will ask for
next. A synthetic index in a stand-in upstream makes every rule
observable by which paths the stand-in is asked for:

* test_rules_exact_paths: a root crate asked for directly (its two newest
  compatibility ranges are read, not the third; yanked and pre-release
  versions are not), requirements (the newest non-yanked version each
  allows, several requirements on one crate each pick theirs), dependency
  kinds (normal, build and target-specific yes, dev no), dependencies on
  another registry (no), optional dependencies turned on by "default",
  "dep:x", "x/f" (which also asks feature f of x), "x?/f", implicit
  features and the features a dependent's entry names (and not by a
  default the dependent turned off, through "features" and the index
  format v2 "features2"), renamed dependencies (the package's path; a
  feature names a renamed dep by its local name). Exactly these paths are requested, each once; cargo's follow-up
  requests for them are cache hits; the prefetch metrics agree.
* test_prefetch_off: prefetch_dependencies = false: only what clients
  ask for is fetched.
* test_client_request_overtakes_prefetch_queue: upstream_concurrency = 2,
  a stand-in that answers after a delay, a root with many dependencies: a
  client's request for an unrelated crate reaches the upstream before the
  prefetches still queued, and prefetches never use more than N-1 slots.
* test_prefetch_slots_are_n_minus_1: upstream_concurrency = 4: at most 3
  prefetches at once.
* test_concurrency_1_leaves_no_prefetch_slot: upstream_concurrency = 1:
  no prefetch reaches the upstream, a client's request promotes one, and
  SIGTERM with one still queued exits cleanly (under ASan: no leak).
* test_join_prefetch_in_flight: a client request for a file whose
  prefetch the stand-in holds joins it (one upstream request,
  crated_prefetch_joins_total + 1).
* test_join_prefetch_queued_is_promoted: the same for a prefetch still
  queued behind a held one: it is moved to the front queue and starts at
  once.
* test_prefetch_queue_full_drops: more wanted files than the prefetch
  queue holds: crated_prefetch_dropped_total counts the rest, a client
  request is still served at once.
* test_shutdown_with_prefetches_queued: SIGTERM while prefetches are
  queued behind a held one: crated starts no new upstream request and
  exits promptly and cleanly.
* RereadTest: a file already cached when a later dependent asks more of it
  (another requirement, a feature) is read again, and only what that adds
  is fetched; asking what it was already read with fetches nothing.
"""

import hashlib
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

BASE = "/reg/"
OTHER_REGISTRY = "sparse+http://127.0.0.1:9/other-registry/"   # never contacted


# ---------------------------------------------------------------------------
# helpers


def fake_cksum(name, vers):
    return hashlib.sha256(("%s-%s" % (name, vers)).encode()).hexdigest()


def dep(name, req="^1", **kw):
    return S.index_dep(name, req, **kw)


def up_path(name):
    return BASE + index_path(name)


class Gauge:
    """How many requests are inside a behaviour now, and the most ever."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1


def b_delayed(delay, gauges=()):
    """The file after delay seconds (ended early by the stand-in's release
    event). The gauges are left before the answer is written, so crated
    cannot start its next request while this one still counts."""
    def f(h, req):
        for g in gauges:
            g.enter()
        try:
            h.server.standin.release.wait(delay)
        finally:
            for g in gauges:
                g.leave()
        S.serve_file(h, req)
    return f


class PrefetchCase(harness.TestCase):
    """A stand-in upstream with a RegistryTree at /reg/ and helpers to
    start a mirror "mirror" of it and read what the stand-in was asked."""

    def setUp(self):
        super().setUp()
        self.si = S.StandIn()
        self.addCleanup(self.si.stop)
        self.tree = S.RegistryTree(base=BASE, dl="/dl/{crate}/{version}")
        self.tree.attach_standin(self.si)

    def add(self, name, vers, deps=(), features=None, yanked=False):
        self.tree.add(name, vers, None, deps=deps, features=features, yanked=yanked,
                      cksum=fake_cksum(name, vers))

    def add_raw(self, name, doc):
        """An index line written as given (a dict, compact JSON)."""
        self.tree.index.setdefault(index_path(name), []).append(
            json.dumps(doc, separators=(",", ":")))
        self.tree._sync()

    def start_mirror(self, **kw):
        opts = dict(index_ttl=300, negative_ttl=300)
        opts.update(kw)
        self.srv = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s%s" % (self.si.base, BASE), **opts))
        return self.srv

    def get_index(self, name, timeout=harness.HTTP_TIMEOUT):
        return self.srv.get("/mirror/" + index_path(name), timeout=timeout)

    def index_reqs(self):
        """Index-file requests the stand-in saw, in order: [Req]."""
        return [r for r in self.si.reqs() if S.is_index_path(r.path, BASE)]

    def requested_paths(self):
        return [r.path.split("?", 1)[0] for r in self.index_reqs()]

    def upstream_index_done(self):
        return harness.metrics(self.srv).sum("crated_upstream_requests_total",
                                             registry="mirror", kind="index")

    def settle(self, quiet=1.0, timeout=10.0):
        """Waits until the stand-in's request log has not changed for quiet
        seconds and crated has counted an answer for every index request
        the stand-in saw (so no digest is still to warm more). Bounded by
        timeout; returns True when settled."""
        last = [-1, time.monotonic()]      # the stand-in's request count, since when

        def settled():
            n, now = self.si.mark(), time.monotonic()
            if n != last[0]:
                last[:] = [n, now]
                return False
            return now - last[1] >= quiet and self.upstream_index_done() >= len(self.index_reqs())
        return bool(harness.wait_until(settled, timeout))

    def assertPathsOnce(self, expected_names, what=""):
        paths = self.requested_paths()
        expected = sorted(up_path(n) for n in expected_names)
        self.assertEqual(sorted(paths), expected,
                         "%supstream index requests differ.\n  unexpected: %r\n  missing: %r\n"
                         "  repeated: %r\ncrated log tail:\n%s"
                         % (what + ": " if what else "",
                            sorted(set(paths) - set(expected)),
                            sorted(set(expected) - set(paths)),
                            sorted({p for p in paths if paths.count(p) > 1}),
                            self.srv.log_tail(20)))
        # (config.json: the upstream probe's, at start)
        others = [r.path for r in self.si.reqs()
                  if not S.is_index_path(r.path, BASE) and r.path != BASE + "config.json"]
        self.assertEqual(others, [], "non-index upstream requests")


# ---------------------------------------------------------------------------
# the rules


ROOT = "pf-root"
# what a client asking for pf-root makes crated fetch, pf-root included
RULES_FETCHED = [
    ROOT,
    "pf-b",     # normal "^1" (2.1.0) and "=1.3.0" (1.9.0)
    "pf-h",     # pf-b 1.4.0, the newest non-yanked ^1
    "pf-h13",   # pf-b 1.3.0, picked by "=1.3.0"
    "pf-bo",    # pf-b 1.4.0's optional dep under its "default" (pf-root wants defaults)
    "pf-d",     # build
    "pf-e",     # optional, default = ["dep:pf-e", ...]
    "pf-j",     # default_features = false, features = ["extra"]
    "pf-k",     # pf-j's "extra" = ["dep:pf-k"]
    "pf-m",     # dep "m2" with package = "pf-m"
    "pf-mo",    # "m2/mf" in default (the local name), pf-m's "mf" = ["dep:pf-mo"]
    "pf-mm2",   # optional dep "pf-ren" with package = "pf-mm2", "dep:pf-ren" in default
    "pf-dd",    # pf-d's features2 (index format v2) "default" = ["dep:pf-dd"]
    "pf-p",     # "pf-p/pfeat" in default
    "pf-q",     # pf-p's "pfeat" = ["dep:pf-q"]
    "pf-r",     # "pf-r?/rfeat" in default (treated as "pf-r/rfeat")
    "pf-s",     # pf-r's "rfeat" = ["dep:pf-s"]
    "pf-t",     # default -> "imp" -> "pf-t" (implicit feature of an optional dep)
    "pf-z",     # target = "cfg(windows)" (all targets count)
    "pf-u",     # dep of pf-root 1.9.0 (the second newest range, 1.x)
]
RULES_NOT_FETCHED = [
    "pf-c",     # dev
    "pf-f",     # optional, nothing turns it on
    "pf-g",     # "registry" set (another registry)
    "pf-i",     # pf-b 2.0.0 (not allowed by ^1 nor =1.3.0)
    "pf-y3",    # pf-b 1.5.0, yanked
    "pf-h12",   # pf-b 1.2.0 (older than the picks in its range)
    "pf-l",     # pf-j's default (pf-root turned pf-j's defaults off)
    "pf-l2",    # pf-j's optional dep nothing turns on
    "pf-v",     # pf-root 0.5.0 (third range)
    "pf-y1",    # pf-root 2.2.0, yanked
    "pf-y2",    # pf-root 3.0.0-alpha.1 (a pre-release, stable versions exist)
    "pf-ff",    # pf-root 2.1.0's feature "unused" (nobody asks for it)
    "m2",       # the rename itself is not a crate to look up
    "pf-ren",   # nor this one
    "pf-mx",    # pf-m's optional dep nothing turns on
    "pf-dx",    # pf-d's optional dep nothing turns on
]


def build_rules_graph(case):
    add = case.add
    add(ROOT, "0.5.0", [dep("pf-v")])
    add(ROOT, "1.9.0", [dep("pf-u"), dep("pf-b", "=1.3.0")])
    add(ROOT, "2.1.0", [
        dep("pf-b", "^1"),
        dep("pf-c", kind="dev"),
        dep("pf-d", kind="build"),
        dep("pf-e", optional=True),
        dep("pf-f", optional=True),
        dep("pf-ff", optional=True),
        dep("pf-g", registry=OTHER_REGISTRY),
        dep("pf-j", default_features=False, features=["extra"]),
        dep("m2", package="pf-m"),
        dep("pf-ren", package="pf-mm2", optional=True),
        dep("pf-p", optional=True),
        dep("pf-r", optional=True),
        dep("pf-t", optional=True),
        dep("pf-z", target="cfg(windows)"),
    ], features={
        "default": ["dep:pf-e", "pf-p/pfeat", "pf-r?/rfeat", "imp", "m2/mf", "dep:pf-ren"],
        "imp": ["pf-t"],
        "unused": ["dep:pf-ff"],
    })
    add(ROOT, "2.2.0", [dep("pf-y1")], yanked=True)
    add(ROOT, "3.0.0-alpha.1", [dep("pf-y2")])

    add("pf-b", "1.2.0", [dep("pf-h12")])
    add("pf-b", "1.3.0", [dep("pf-h13")])
    add("pf-b", "1.4.0", [dep("pf-h"), dep("pf-bo", optional=True)],
        features={"default": ["dep:pf-bo"]})
    add("pf-b", "1.5.0", [dep("pf-y3")], yanked=True)
    add("pf-b", "2.0.0", [dep("pf-i")])

    add("pf-j", "1.0.0", [dep("pf-k", optional=True), dep("pf-l", optional=True),
                          dep("pf-l2", optional=True)],
        features={"default": ["dep:pf-l"], "extra": ["dep:pf-k"]})
    add("pf-p", "1.0.0", [dep("pf-q", optional=True)], features={"pfeat": ["dep:pf-q"]})
    add("pf-r", "1.0.0", [dep("pf-s", optional=True)], features={"rfeat": ["dep:pf-s"]})
    add("pf-m", "1.0.0", [dep("pf-mo", optional=True), dep("pf-mx", optional=True)],
        features={"mf": ["dep:pf-mo"]})
    # index format v2: the "dep:" feature in features2
    case.add_raw("pf-d", {"name": "pf-d", "vers": "1.0.0",
                          "deps": [dep("pf-dd", optional=True), dep("pf-dx", optional=True)],
                          "cksum": fake_cksum("pf-d", "1.0.0"), "features": {},
                          "yanked": False, "links": None, "v": 2,
                          "features2": {"default": ["dep:pf-dd"]}})
    for leaf in ("pf-c", "pf-e", "pf-f", "pf-ff", "pf-g", "pf-h", "pf-h12", "pf-h13",
                 "pf-bo", "pf-i", "pf-k", "pf-l", "pf-l2", "pf-q", "pf-s", "pf-t",
                 "pf-u", "pf-v", "pf-y1", "pf-y2", "pf-y3", "pf-z", "m2", "pf-ren", "pf-mo",
                 "pf-mx", "pf-mm2", "pf-dd", "pf-dx"):
        add(leaf, "1.0.0")


class RulesTest(PrefetchCase):

    def setUp(self):
        super().setUp()
        build_rules_graph(self)

    def test_rules_exact_paths(self):
        self.start_mirror()
        before = harness.metrics(self.srv)
        r = self.get_index(ROOT)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(ROOT))
        self.assertTrue(self.settle(), "prefetch did not settle within 10 s; requests: %r"
                        % self.requested_paths())
        self.assertPathsOnce(RULES_FETCHED)
        for n in RULES_NOT_FETCHED:     # (implied by the above; named for the report)
            self.assertNotIn(up_path(n), self.requested_paths(), n)

        mid = harness.metrics(self.srv)
        M = dict(registry="mirror")
        npre = len(RULES_FETCHED) - 1
        self.assertEqual(mid.sum("crated_prefetched_index_files_total", **M)
                         - before.sum("crated_prefetched_index_files_total", **M), npre)
        self.assertEqual(mid.sum("crated_prefetch_dropped_total", **M)
                         - before.sum("crated_prefetch_dropped_total", **M), 0)
        self.assertEqual(mid.sum("crated_prefetch_joins_total", **M)
                         - before.sum("crated_prefetch_joins_total", **M), 0)
        self.assertEqual(mid.sum("crated_upstream_requests_total", kind="index",
                                outcome="200", **M)
                         - before.sum("crated_upstream_requests_total", kind="index",
                                  outcome="200", **M), len(RULES_FETCHED))

        # cargo's follow-up requests: all served from the cache
        mark = self.si.mark()
        for n in RULES_FETCHED:
            r = self.get_index(n)
            self.assertEqual(r.status, 200, "%s: %r" % (n, r))
            self.assertEqual(r.body, self.tree.index_body(n), n)
        harness.wait_upstream_in_flight(self.srv, 0)   # a (wrong) upstream request has shown
        self.assertEqual([q.path for q in self.si.since(mark)], [],
                         "follow-up requests for prefetched files went upstream")
        after = harness.metrics(self.srv)
        self.assertEqual(after.sum("crated_cache_hits_total", **M)
                         - mid.sum("crated_cache_hits_total", **M), len(RULES_FETCHED))
        self.assertEqual(after.sum("crated_cache_misses_total", **M)
                         - mid.sum("crated_cache_misses_total", **M), 0)

    def test_prefetch_off(self):
        self.start_mirror(prefetch_dependencies=False)
        before = harness.metrics(self.srv)
        r = self.get_index(ROOT)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.settle(), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce([ROOT], "prefetch_dependencies = false")
        # a dependency asked for by the client: only it, not its deps
        r = self.get_index("pf-b")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.settle(), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce([ROOT, "pf-b"], "prefetch_dependencies = false")
        after = harness.metrics(self.srv)
        self.assertEqual(after.sum("crated_prefetched_index_files_total", registry="mirror")
                         - before.sum("crated_prefetched_index_files_total",
                                      registry="mirror"), 0)


# ---------------------------------------------------------------------------
# priority and slots


class PriorityTest(PrefetchCase):

    def wide_root(self, root, prefix, n):
        deps = ["%s%02d" % (prefix, i) for i in range(n)]
        self.add(root, "1.0.0", [dep(d) for d in deps])
        for d in deps:
            self.add(d, "1.0.0")
        return deps

    def test_client_request_overtakes_prefetch_queue(self):
        delay, n = 0.4, 14
        deps = self.wide_root("pq-root", "pq-d", n)
        self.add("pq-other", "1.0.0")
        g_all, g_pre = Gauge(), Gauge()
        self.si.default = b_delayed(delay, [g_all])
        for d in deps:
            self.si.set(up_path(d), b_delayed(delay, [g_all, g_pre]))
        self.start_mirror(upstream_concurrency=2)

        r = self.get_index("pq-root", timeout=30)
        self.assertEqual(r.status, 200, r)
        dep_paths = {up_path(d) for d in deps}
        self.assertTrue(harness.wait_until(lambda: any(p in dep_paths for p in self.requested_paths()),
                                     10, 0.01), "no prefetch reached the stand-in")
        t0 = time.monotonic()
        r = self.get_index("pq-other", timeout=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("pq-other"))
        self.assertTrue(self.settle(timeout=n * delay + 15),
                        "prefetch did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["pq-root", "pq-other"] + deps)

        paths = self.requested_paths()
        i = paths.index(up_path("pq-other"))
        before = [p for p in paths[:i] if p in dep_paths]
        after = [p for p in paths[i + 1:] if p in dep_paths]
        self.assertLessEqual(len(before), 2,
                             "the client's request waited behind prefetches: order %r" % paths)
        self.assertGreaterEqual(len(after), n - 2, paths)
        # the queue needs n * delay to drain through its one slot
        self.assertLess(elapsed, (n - 4) * delay,
                        "the client's request took %.2f s (upstream delay %.1f s)"
                        % (elapsed, delay))
        self.assertEqual(g_pre.peak, 1, "prefetches used more than N-1 = 1 slots")
        self.assertLessEqual(g_all.peak, 2, "more than upstream_concurrency requests at once")

    def test_prefetch_slots_are_n_minus_1(self):
        delay, n = 0.5, 9
        deps = self.wide_root("ps-root", "ps-d", n)
        g_pre = Gauge()
        for d in deps:
            self.si.set(up_path(d), b_delayed(delay, [g_pre]))
        self.start_mirror(upstream_concurrency=4)
        r = self.get_index("ps-root")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.settle(timeout=n * delay + 15),
                        "prefetch did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["ps-root"] + deps)
        self.assertLessEqual(g_pre.peak, 3, "prefetches used more than N-1 = 3 slots")
        self.assertGreaterEqual(g_pre.peak, 2, "prefetches did not run side by side")


    def test_concurrency_1_leaves_no_prefetch_slot(self):
        """upstream_concurrency = 1: prefetches would have N-1 = 0 slots,
        so none is made (nothing queued, nothing counted); a client's
        request for a dependency is an ordinary fetch; SIGTERM exits
        cleanly (status 0, no sanitizer report)."""
        self.add("pn-root", "1.0.0", [dep("pn-a"), dep("pn-b")])
        self.add("pn-a", "1.0.0")
        self.add("pn-b", "1.0.0")
        srv = self.start_mirror(upstream_concurrency=1)
        M = dict(registry="mirror")
        before = harness.metrics(srv)
        r = self.get_index("pn-root")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.settle(), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["pn-root"], "upstream_concurrency = 1")
        r = self.get_index("pn-a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("pn-a"))
        self.assertTrue(self.settle(), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["pn-root", "pn-a"], "upstream_concurrency = 1")
        after = harness.metrics(srv)
        for name in ("crated_prefetch_joins_total", "crated_prefetched_index_files_total",
                     "crated_prefetch_dropped_total"):
            self.assertEqual(after.sum(name, **M) - before.sum(name, **M), 0, name)
        rc = srv.stop(check=False)
        srv.check_log_clean()
        self.assertEqual(rc, 0, srv.log_tail())


# ---------------------------------------------------------------------------
# joins


class JoinTest(PrefetchCase):

    def get_in_thread(self, name, results):
        def run():
            try:
                results[name] = self.get_index(name, timeout=40)
            except Exception as e:      # noqa: BLE001 - reported by the test
                results[name] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_join_prefetch_in_flight(self):
        self.add("pj-root", "1.0.0", [dep("pj-a"), dep("pj-b")])
        self.add("pj-a", "1.0.0")
        self.add("pj-b", "1.0.0")
        gate = threading.Event()
        self.addCleanup(gate.set)
        self.si.set(up_path("pj-a"), S.b_hold(gate, max_s=30))
        self.start_mirror()
        M = dict(registry="mirror")
        before = harness.metrics(self.srv)

        r = self.get_index("pj-root")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(harness.wait_until(lambda: self.si.count(up_path("pj-a")) == 1, 10),
                        "the prefetch of pj-a never reached the stand-in")
        results = {}
        t = self.get_in_thread("pj-a", results)
        joined = harness.wait_until(
            lambda: harness.metrics(self.srv).sum("crated_prefetch_joins_total", **M)
            - before.sum("crated_prefetch_joins_total", **M) >= 1, 10)
        held = self.si.count(up_path("pj-a"))
        gate.set()
        t.join(30)
        self.assertFalse(t.is_alive(), "the client got no answer")
        self.assertTrue(joined, "crated_prefetch_joins_total did not move")
        self.assertEqual(held, 1, "a second upstream request while the prefetch was held")
        r = results["pj-a"]
        self.assertIsInstance(r, harness.Resp, r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("pj-a"))
        self.assertTrue(self.settle(), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["pj-root", "pj-a", "pj-b"])
        after = harness.metrics(self.srv)
        self.assertEqual(after.sum("crated_prefetch_joins_total", **M)
                         - before.sum("crated_prefetch_joins_total", **M), 1)
        self.assertEqual(after.sum("crated_coalesced_waiters_total", **M)
                         - before.sum("crated_coalesced_waiters_total", **M), 0)
        self.assertEqual(after.sum("crated_prefetched_index_files_total", **M)
                         - before.sum("crated_prefetched_index_files_total", **M), 2)

    def test_join_prefetch_queued_is_promoted(self):
        n = 6
        deps = ["pk-d%d" % i for i in range(n)]
        self.add("pk-root", "1.0.0", [dep(d) for d in deps])
        gate = threading.Event()
        self.addCleanup(gate.set)
        for d in deps:
            self.add(d, "1.0.0")
            self.si.set(up_path(d), S.b_hold(gate, max_s=30))
        self.start_mirror(upstream_concurrency=2)
        M = dict(registry="mirror")
        before = harness.metrics(self.srv)

        r = self.get_index("pk-root")
        self.assertEqual(r.status, 200, r)
        dep_paths = {up_path(d) for d in deps}
        self.assertTrue(harness.wait_until(lambda: any(p in dep_paths for p in self.requested_paths()),
                                     10), "no prefetch reached the stand-in")
        # one held at the stand-in: a second (wrongly in the last slot) would
        # be in flight too
        harness.wait_upstream_in_flight(self.srv, 1)
        started = [p for p in self.requested_paths() if p in dep_paths]
        self.assertEqual(len(started), 1, "prefetches started with N = 2: %r" % started)
        target = next(d for d in deps if up_path(d) not in started)
        results = {}
        t = self.get_in_thread(target, results)
        # promoted: it starts now, though the prefetch slot is held
        promoted = harness.wait_until(lambda: self.si.count(up_path(target)) >= 1, 10)
        joined = harness.wait_until(
            lambda: harness.metrics(self.srv).sum("crated_prefetch_joins_total", **M)
            - before.sum("crated_prefetch_joins_total", **M) >= 1, 5)
        gate.set()
        t.join(30)
        self.assertFalse(t.is_alive(), "the client got no answer")
        self.assertTrue(promoted, "the queued prefetch the client asked for did not start "
                        "while the prefetch slot was held: %r" % self.requested_paths())
        self.assertTrue(joined, "crated_prefetch_joins_total did not move")
        r = results[target]
        self.assertIsInstance(r, harness.Resp, r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(target))
        self.assertTrue(self.settle(timeout=20), "did not settle: %r" % self.requested_paths())
        self.assertPathsOnce(["pk-root"] + deps)
        after = harness.metrics(self.srv)
        self.assertEqual(after.sum("crated_prefetch_joins_total", **M)
                         - before.sum("crated_prefetch_joins_total", **M), 1)
        self.assertEqual(after.sum("crated_prefetched_index_files_total", **M)
                         - before.sum("crated_prefetched_index_files_total", **M), n)


# ---------------------------------------------------------------------------
# a full queue, and shutdown with prefetches queued


PREFETCH_QUEUE = 4096       # WARM_QUEUE, server/mirror/mirror_admit.c


class QueueTest(PrefetchCase):

    def big_root(self, root, n):
        """root 1.0.0 with n dependencies (not added to the tree: the
        stand-in's gate answers for them)."""
        deps = ["pz-%04d" % i for i in range(n)]
        self.add(root, "1.0.0", [dep(d) for d in deps])
        return deps

    def test_prefetch_queue_full_drops(self):
        n = PREFETCH_QUEUE + 10
        deps = self.big_root("pz-root", n)
        self.add("pz-other", "1.0.0")
        gate = threading.Event()
        self.si.set("/reg/pz/-*", S.b_hold(gate, then=S.b_status(404), max_s=60))
        self.si.set(up_path("pz-root"), S.serve_file)
        self.si.set(up_path("pz-other"), S.serve_file)
        dep_paths = {up_path(d) for d in deps}
        self.start_mirror(upstream_concurrency=2)
        self.addCleanup(gate.set)   # (before the stop, should the test fail)
        M = dict(registry="mirror")
        before = harness.metrics(self.srv)
        r = self.get_index("pz-root", timeout=30)
        self.assertEqual(r.status, 200, r)
        ok = harness.wait_until(lambda: harness.metrics(self.srv).sum("crated_prefetch_dropped_total", **M)
                                - before.sum("crated_prefetch_dropped_total", **M) > 0, 10)
        self.assertTrue(harness.wait_until(lambda: any(p in dep_paths for p in self.requested_paths()),
                                     10), "no prefetch reached the stand-in")
        # every dep counted, queued or dropped; the one started is held
        harness.wait_until(lambda: sum(harness.metrics(self.srv).sum(c, **M) - before.sum(c, **M)
                                       for c in ("crated_prefetched_index_files_total",
                                                 "crated_prefetch_dropped_total")) >= n, 10)
        harness.wait_upstream_in_flight(self.srv, 1)
        mid = harness.metrics(self.srv)
        self.assertTrue(ok, "nothing counted as dropped")
        # one prefetch runs (held), PREFETCH_QUEUE wait, the rest are dropped
        self.assertEqual(mid.sum("crated_prefetched_index_files_total", **M)
                         - before.sum("crated_prefetched_index_files_total", **M),
                         PREFETCH_QUEUE + 1)
        self.assertEqual(mid.sum("crated_prefetch_dropped_total", **M)
                         - before.sum("crated_prefetch_dropped_total", **M),
                         n - PREFETCH_QUEUE - 1)
        started = [p for p in self.requested_paths() if p in dep_paths]
        self.assertEqual(len(started), 1, started[:10])
        # a client's request does not wait behind the full queue
        t0 = time.monotonic()
        r = self.get_index("pz-other", timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(self.si.count(up_path("pz-other")), 1)
        # the queue drains once the held one is answered: every queued
        # prefetch reaches the stand-in once, the dropped ones never
        gate.set()
        self.assertTrue(self.settle(quiet=1.5, timeout=180),
                        "the prefetch queue did not drain in 180 s (%d requests)"
                        % len(self.requested_paths()))
        paths = [p for p in self.requested_paths() if p in dep_paths]
        self.assertEqual(len(paths), PREFETCH_QUEUE + 1)
        self.assertEqual(len(set(paths)), len(paths), "a prefetch was requested twice")

    def test_shutdown_with_prefetches_queued(self):
        """SIGTERM while prefetches wait behind a held one (upstream
        answers take 0.5 s each): nobody waits for them, so crated starts
        no new upstream request after the signal and exits promptly (the
        held one is answered once crated has taken the signal in), with
        status 0 and no sanitizer report."""
        n, delay = 40, 0.5
        deps = self.big_root("pz-root", n)
        gate = threading.Event()
        self.addCleanup(gate.set)
        first = up_path(deps[0])
        self.si.set("/reg/pz/-*", b_delayed(delay))
        self.si.set(first, S.b_hold(gate, then=S.b_status(404), max_s=60))
        self.si.set(up_path("pz-root"), S.serve_file)
        srv = harness.start_crated(self.tmp, registries=S.mirror_toml(
            "mirror", "sparse+%s%s" % (self.si.base, BASE), index_ttl=300,
            upstream_concurrency=2))
        self.srv = srv
        self.addCleanup(srv.stop, False)        # safety net (no check)
        r = self.get_index("pz-root")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(harness.wait_until(lambda: self.si.count(first) >= 1, 10),
                        "the first prefetch never reached the stand-in: %r"
                        % self.requested_paths()[:5])
        harness.wait_upstream_in_flight(srv, 1)    # the held one; no other started
        self.assertEqual(len(self.requested_paths()), 2, self.requested_paths())
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        harness.wait_log(srv, r"SIGTERM.*no longer accepting")
        gate.set()
        rc = srv.wait_exit(timeout=20)
        took = time.monotonic() - t0
        late = [q.path for q in self.si.reqs() if q.t > t0]
        self.assertIsNotNone(rc, "crated still running 20 s after SIGTERM; log:\n%s"
                             % srv.log_tail())
        srv.check_log_clean()
        self.assertEqual(rc, 0, srv.log_tail())
        self.assertEqual(late, [],
                         "after SIGTERM crated started %d upstream requests for queued "
                         "prefetches (exit %.1f s after the signal); log tail:\n%s"
                         % (len(late), took, srv.log_tail(6)))
        self.assertLess(took, 5.0, "exit took %.1f s after SIGTERM" % took)


# ---------------------------------------------------------------------------
# a cached file read again


class RereadTest(PrefetchCase):
    """rr-a 1.0.0 needs rr-b, 2.0.0 needs rr-c and has feature "x" turning
    on rr-d. Roots, asked for one at a time, each once the previous one's
    prefetch has settled (so rr-a is cached and fresh when they arrive):
    rr-one wants rr-a ^1, rr-two ^2, rr-three ^2 with "x", rr-four ^1
    again. Before, a cached file was never read again: rr-c and rr-d were
    left for cargo to ask for."""

    STEPS = [
        ("rr-one", ["rr-one", "rr-a", "rr-b"]),
        ("rr-two", ["rr-two", "rr-c"]),
        ("rr-three", ["rr-three", "rr-d"]),
        ("rr-four", ["rr-four"]),
    ]

    def test_later_dependent_asks_more(self):
        self.add("rr-a", "1.0.0", [dep("rr-b")])
        self.add("rr-a", "2.0.0", [dep("rr-c"), dep("rr-d", optional=True)],
                 features={"x": ["dep:rr-d"]})
        self.add("rr-one", "1.0.0", [dep("rr-a", "^1")])
        self.add("rr-two", "1.0.0", [dep("rr-a", "^2")])
        self.add("rr-three", "1.0.0", [dep("rr-a", "^2", features=["x"])])
        self.add("rr-four", "1.0.0", [dep("rr-a", "^1")])
        for leaf in ("rr-b", "rr-c", "rr-d"):
            self.add(leaf, "1.0.0")
        self.start_mirror()
        fetched = []
        for root, adds in self.STEPS:
            r = self.get_index(root)
            self.assertEqual(r.status, 200, "%s: %r" % (root, r))
            self.assertTrue(self.settle(), "%s: prefetch did not settle: %r"
                            % (root, self.requested_paths()))
            fetched += adds
            self.assertPathsOnce(fetched, "after " + root)


if __name__ == "__main__":
    harness.main()
