#!/usr/bin/env python3
"""Mirrors sharing one cache through the object store (issue 26).

An upstream stand-in serves N crates (an index file and a .crate each);
the S3 stand-in of the tests (tests/integration/s3_standin.py, SigV4
checked) is the store. Three crated mirrors, each with an empty data
directory, fetch every index file and every .crate over 8 connections:

  A  with the store, the store empty   (a local miss asks the store, then
                                        the upstream; what comes is stored)
  B  with the store A filled           (everything from the store)
  C  without a store                   (today's mirror, for comparison)

Printed: seconds per replica, upstream requests for those files, store
requests. Target: B sends the upstream no request for what A fetched.

  flock /work/bench.lock python3 bench/mirror-l2.py [N]

CRATED_BIN names the binary (default build/crated). Everything listens on
127.0.0.1; every process started is stopped.
"""

import concurrent.futures
import os
import shutil
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("CRATED_BIN", os.path.join(HERE, "..", "build", "crated"))
import harness  # noqa: E402
import s3_standin  # noqa: E402
import standins as S  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
ENV = {"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench/secret"}


def fetch_all(crated, names):
    def one(name):
        for path in ("/mirror/" + harness.index_path(name),
                     "/mirror/api/v1/crates/%s/1.0.0/download" % name):
            with urllib.request.urlopen(crated.url + path, timeout=60) as r:
                if r.status != 200:
                    raise RuntimeError("%s: %d" % (path, r.status))
                r.read()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, names))
    return time.monotonic() - t0


def main():
    tmp = harness.make_tempdir("crated-bench-l2-")
    s3 = s3_standin.S3StandIn(buckets=["bench"], creds={ENV["AWS_ACCESS_KEY_ID"]:
                                                        ENV["AWS_SECRET_ACCESS_KEY"]})
    si, tree = S.standin_tree()
    servers = []
    try:
        names = ["l2b-%04d" % i for i in range(N)]
        for n in names:
            tree.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
        up = "sparse+%s/reg/" % si.base
        store = ('storage = "s3://bench/fleet"\nstorage_endpoint = "%s"\n' % s3.endpoint)
        rows = []
        for tag, extra in (("A (store empty)", store), ("B (store filled by A)", store),
                           ("C (no store)", "")):
            c = harness.start_crated(tmp, name=tag[0], data_dir=os.path.join(tmp, tag[0]),
                                     env=ENV, config_extra=extra,
                                     registries=S.mirror_toml("mirror", up, index_ttl=3600,
                                                              prefetch_dependencies=False))
            servers.append(c)
            m_up, m_s3 = si.mark(), len(s3.requests)
            secs = fetch_all(c, names)
            ups = [r for r in si.since(m_up) if not r.path.endswith("config.json")]
            if tag[0] == "A":
                # its writes go in the background: wait for them
                harness.wait_until(lambda: len(s3.keys("bench")) >= 3 * N, 120)
            rows.append((tag, secs, len(ups), len(s3.requests) - m_s3))
            c.stop()
        load = open("/proc/loadavg").read().split()[0]
        print("%d crates (an index file and a .crate each), 8 connections, load %s" % (N, load))
        print("%-24s %9s %18s %15s" % ("replica", "seconds", "upstream requests", "store requests"))
        for tag, secs, ups, st in rows:
            print("%-24s %9.2f %18d %15d" % (tag, secs, ups, st))
        missed = 0 if rows[1][2] == 0 else 1
        print("mirror-l2: %d target(s) not met" % missed)
    finally:
        for c in servers:
            if c.running():
                c.stop(check=False)
        si.stop()
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
