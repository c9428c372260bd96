#!/usr/bin/env python3
"""Helpers of bench/storage.sh (hosted registries on an object store):

  storage.py publish PORT NAME N
      N sequential publishes of NAME 0.0.1 .. 0.0.N to the hosted registry
      "local" of the crated on PORT, real HTTP on a fresh connection each,
      with .crate files built as tests/integration/test_storage_hosted.py
      builds them (harness.make_crate). Prints one latency in ms per line.
  storage.py stale PORT_A PORT_B NAME N
      N rounds: a random pause of 0-1 s, a publish on A, then B's index
      file polled every 10 ms until it lists the version. Prints one
      time per line, in s, from A's 200 to B's first answer showing it.
  storage.py stats UNIT FILE...
      min, median, p90, p95, max and n of the numbers in the files.
"""

import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

HEADERS = {"Authorization": "bench", "Accept": "application/json"}


def publish(port, name, vers):
    crate = harness.make_crate(name, vers)
    body = harness.publish_body(harness.crate_meta(name, vers), crate)
    t0 = time.monotonic()
    r = harness.http_request(port, "PUT", "/local/api/v1/crates/new", body, HEADERS, 30)
    t1 = time.monotonic()
    if r.status != 200:
        raise SystemExit("publish %s %s on port %d: %r" % (name, vers, port, r))
    return t0, t1


def versions(port, name):
    r = harness.http_request(port, "GET", "/local/" + harness.index_path(name), timeout=10)
    if r.status != 200:
        return ()
    return r.body.decode()


def cmd_publish(port, name, n):
    for i in range(1, n + 1):
        t0, t1 = publish(port, name, "0.0.%d" % i)
        print("%.3f" % ((t1 - t0) * 1000))


def cmd_stale(pa, pb, name, n):
    publish(pa, name, "0.0.0")
    for i in range(1, n + 1):
        time.sleep(random.uniform(0, 1.0))
        vers = "0.%d.0" % i
        needle = '"vers":"%s"' % vers
        _, acked = publish(pa, name, vers)
        deadline = acked + 10
        while needle not in versions(pb, name):
            if time.monotonic() > deadline:
                raise SystemExit("%s %s not visible on B within 10 s" % (name, vers))
            time.sleep(0.01)
        print("%.3f" % (time.monotonic() - acked))


def pct(v, p):
    """Nearest-rank percentile of sorted v."""
    return v[max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def cmd_stats(unit, files):
    v = sorted(float(x) for f in files for x in open(f).read().split())
    print("min %.3f median %.3f p90 %.3f p95 %.3f max %.3f %s (n=%d)"
          % (v[0], statistics.median(v), pct(v, 90), pct(v, 95), v[-1], unit, len(v)))


def main():
    a = sys.argv[1:]
    if a[:1] == ["publish"] and len(a) == 4:
        cmd_publish(int(a[1]), a[2], int(a[3]))
    elif a[:1] == ["stale"] and len(a) == 5:
        cmd_stale(int(a[1]), int(a[2]), a[3], int(a[4]))
    elif a[:1] == ["stats"] and len(a) >= 3:
        cmd_stats(a[1], a[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
