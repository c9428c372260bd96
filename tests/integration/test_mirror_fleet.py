#!/usr/bin/env python3
"""A CI fleet through a cold mirror (bench/ci-fleet.sh in small).

Six real `cargo generate-lockfile` runs start together, each with its own
fresh CARGO_HOME and its own project. The projects share their
dependencies (every one needs fc-core and its chain; fc-core's derive
feature, which turns on an optional dependency, only some of them), and
each adds two of six app crates with chains of their own. The stand-in
upstream waits 0.2 s before every index answer, so the cargos' requests
for shared files arrive while those files' fills, and the prefetches
their dependencies start, are under way.

Checked: every cargo resolves, each lockfile names exactly the packages
its project needs, from the mirror, with the upstream's checksums; no
index file is asked of the upstream twice (concurrent requests join the
fill under way, and a dependency a fill warms is fetched once whether a
cargo or another fill's warming asks for it first); every file crated
then serves, plain and gzip, is the upstream's bytes."""

import gzip
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path, read_lock  # noqa: E402

DELAY = 0.2
CKSUM = "0" * 64        # generate-lockfile downloads nothing


def b_delay(seconds):
    """The file, after a pause: an upstream a round trip away."""
    def f(h, req):
        time.sleep(seconds)
        S.serve_file(h, req)
    return f


def build_graph(tree):
    """The shared chain, fc-core's optional derive, six apps with chains of
    their own; returns {crate: [its normal dependencies' names]}."""
    graph = {}

    def add(name, deps=(), optional=(), features=None):
        d = [S.index_dep(n, "^1") for n in deps]
        d += [S.index_dep(n, "^1", optional=True) for n in optional]
        tree.add(name, "1.0.0", None, deps=d, features=features, cksum=CKSUM)
        graph[name] = list(deps)

    add("fc-base")
    add("fc-util", ["fc-base"])
    add("fc-log", ["fc-util"])
    add("fc-derive-impl", ["fc-util"])
    add("fc-derive", ["fc-derive-impl"])
    add("fc-core", ["fc-util", "fc-log"], optional=["fc-derive"],
        features={"derive": ["dep:fc-derive"]})
    for i in range(6):
        add("fc-app%d-leaf" % i, ["fc-base"])
        add("fc-app%d-mid" % i, ["fc-app%d-leaf" % i, "fc-log"])
        add("fc-app%d" % i, ["fc-app%d-mid" % i, "fc-core"])
    return graph


def closure(graph, roots):
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += graph[n]
    return seen


class FleetTest(harness.TestCase):

    def test_fleet_fetches_each_file_once(self):
        si, tree = S.standin_tree()
        self.addCleanup(si.stop)
        graph = build_graph(tree)
        si.set(tree.base + "*", b_delay(DELAY))
        si.set(tree.base + "config.json", None)
        srv = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s%s" % (si.base, tree.base), index_ttl=600))
        mark = si.mark()

        projects = []
        for k in range(6):
            apps = ["fc-app%d" % (k % 6), "fc-app%d" % ((k + 2) % 6)]
            derive = k % 2 == 0
            deps = ['fc-core = { version = "1", registry = "mirror"%s }'
                    % (', features = ["derive"]' if derive else "")]
            deps += ['%s = { version = "1", registry = "mirror" }' % a for a in apps]
            d = harness.make_project(os.path.join(self.tmp, "proj-%d" % k), "fleet-%d" % k,
                                     publish=False, deps="\n".join(deps),
                                     main_rs="fn main() {}\n")
            want = closure(graph, ["fc-core"] + apps)
            if derive:
                want |= closure(graph, ["fc-derive"])
            cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n'
                                  % srv.url)
            projects.append((d, want, cargo))

        results = [None] * len(projects)
        go = threading.Barrier(len(projects))

        def run(i):
            d, _, cargo = projects[i]
            go.wait()
            results[i] = cargo.run(["generate-lockfile"], d, check=False)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(projects))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

        for i, (d, want, _) in enumerate(projects):
            with self.subTest(project=i):
                rc, _, err = results[i]
                self.assertEqual(rc, 0, "cargo failed: %s\ncrated log:\n%s"
                                 % (err, srv.log_tail(30)))
                pkgs = {p["name"]: p for p in read_lock(os.path.join(d, "Cargo.lock"))}
                self.assertEqual(set(pkgs) - {"fleet-%d" % i}, want)
                for name in want:
                    self.assertEqual(pkgs[name].get("source"), "sparse+%s/mirror/" % srv.url)
                    self.assertEqual(pkgs[name].get("checksum"), CKSUM)

        # Prefetches may still be under way: let them finish.
        harness.wait_upstream_in_flight(srv, 0, timeout=10)
        paths = [r.path.split("?", 1)[0] for r in si.since(mark)
                 if not r.path.endswith("/config.json")]
        twice = sorted({p for p in paths if paths.count(p) > 1})
        self.assertEqual(twice, [], "index files fetched more than once:\n%s"
                         % srv.log_tail(40))
        needed = set().union(*(w for _, w, _ in projects))
        self.assertLessEqual({tree.base + index_path(n) for n in needed}, set(paths))

        for name in sorted(needed):
            with self.subTest(served=name):
                body = tree.index_body(name)
                r = srv.get("/mirror/" + index_path(name))
                self.assertEqual((r.status, r.body), (200, body))
                r = srv.get("/mirror/" + index_path(name),
                            headers={"Accept-Encoding": "gzip"})
                self.assertEqual(r.status, 200, r)
                got = r.body
                if r.header("content-encoding") == "gzip":
                    got = gzip.decompress(got)
                self.assertEqual(got, body)


if __name__ == "__main__":
    harness.main()
