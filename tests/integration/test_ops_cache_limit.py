#!/usr/bin/env python3
"""Operations: max_cache_bytes, eviction and `crated gc`.

An upstream crated (hosted registry "up") holds nine crates of about 20 KB
each (random, incompressible content): cl-pin and cl-c0 .. cl-c7. A mirror
crated has max_cache_bytes set so that, after an eviction pass (down to
90% of the limit), the pinned crate plus three others fit but five crates
do not.

* cl-pin is downloaded first with `X-Crated-Pin: 1`, then cl-c0 .. cl-c7
  one second apart (crated keeps last-use times in whole seconds), then
  cl-c1 again. Within ~12 s the background pass leaves exactly cl-pin,
  cl-c6, cl-c7 and cl-c1 on disk, at most the limit; every index file
  stays; crated_cache_bytes / crated_cache_files equal what is on disk and
  crated_evictions_total equals the crates fetched minus the crates kept.
* An evicted crate is fetched again on demand (the upstream is asked
  again, the bytes are right), after which the next pass evicts the then
  least recently used one, still not the pinned crate.
* With the server stopped and a smaller limit in the config, `crated gc`
  evicts down to it (the pinned crate and the most recent one stay).
* After a restart (without a limit, so no start-up pass tidies anything)
  the gauges equal the files on disk (they come from the journal,
  usage.log); restarted with the limit, nothing is evicted at start-up,
  and the pin survived: the next eviction again spares it.

Everything from `crated gc` on is collected and reported together.""" 

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import crate_meta, index_path, make_crate  # noqa: E402

CRATE_DATA = 20000
PASS_WAIT = 12.0
NAMES = ["cl-c%d" % i for i in range(8)]
PIN = "cl-pin"


def limit_for(keep_total):
    """The smallest max_cache_bytes whose 90% (crated: max / 10 * 9)
    holds keep_total, plus a little."""
    return (keep_total + 8) // 9 * 10 + 10


def gauges(ex):
    """(files, bytes) of the mirror's crate cache, as its gauges say."""
    return (ex.get("crated_cache_files", registry="mirror"),
            ex.get("crated_cache_bytes", registry="mirror"))


class CacheLimitTest(harness.TestCase):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.up = self.start_crated(name="upstream", data_dir=os.path.join(self.tmp, "updata"),
                                    registries="[registries.up]\n")
        self.up_index = "sparse+%s/up/" % self.up.url
        self.crates = {}
        for name in [PIN] + NAMES:
            crate = make_crate(name, "1.0.0", extra_files={"data.bin": os.urandom(CRATE_DATA)})
            r = self.up.publish(crate_meta(name, "1.0.0"), crate, reg="up")
            self.assertEqual(r.status, 200, r)
            self.crates[name] = crate
        self.size = {n: len(c) for n, c in self.crates.items()}
        self.data = os.path.join(self.tmp, "data")
        self.cfg = os.path.join(self.tmp, "mirror.toml")

    # helpers

    def write_config(self, limit):
        harness.write_config(self.cfg, self.data, registries=S.mirror_toml(
            "mirror", self.up_index, index_ttl=600, max_cache_bytes=limit))

    def start_mirror(self):
        srv = harness.start_crated(self.tmp, config_path=self.cfg, data_dir=self.data,
                                   name="mirror")
        self.addCleanup(srv.stop)
        return srv

    def download(self, srv, name, pin=False):
        h = {"X-Crated-Pin": "1"} if pin else None
        r = srv.get("/mirror/api/v1/crates/%s/1.0.0/download" % name, headers=h, timeout=30)
        self.assertEqual(r.status, 200, "download of %s: %r" % (name, r))
        self.assertEqual(r.body, self.crates[name], "wrong bytes for %s" % name)

    def crate_file(self, name):
        return os.path.join(self.data, "mirror", "crates", name,
                            "%s-1.0.0.crate" % name)

    def wait_file(self, path, secs=5.0):
        harness.wait_until(lambda: os.path.exists(path), secs, 0.01)
        self.assertTrue(os.path.exists(path), path)

    def on_disk(self):
        """{crate name: size} of the .crate files under data/mirror/crates."""
        root = os.path.join(self.data, "mirror", "crates")
        out = {}
        for d, _, fs in os.walk(root):
            for f in fs:
                m = re.match(r"^(.*)-1\.0\.0\.crate$", f)
                self.assertIsNotNone(m, "unexpected file in the crate cache: %s" % os.path.join(d, f))
                out[m.group(1)] = os.path.getsize(os.path.join(d, f))
        return out

    def wait_disk(self, want, timeout=PASS_WAIT):
        return harness.wait_value(self.on_disk, lambda have: set(have) == set(want), timeout, 0.2)

    def upstream_downloads(self, name):
        return len([a for a in S.access_log(self.up)
                    if a[0] == "GET" and a[1] == "/up/api/v1/crates/%s/1.0.0/download" % name])

    def check_gauges(self, srv):
        disk = self.on_disk()
        ex = harness.wait_value(lambda: harness.metrics(srv, clean=True),
                                lambda ex: gauges(ex) == (len(disk), sum(disk.values())), 3, 0.1)
        got = gauges(ex)
        self.assertEqual(got, (len(disk), sum(disk.values())),
                         "gauges (files, bytes) differ from the disk: %r" % sorted(disk))
        return ex

    @staticmethod
    def deleted_open_files(srv, secs=5.0):
        """Files crated holds open that were removed from disk, once there
        are none or secs have passed (the eviction closes them on the loop
        just after its worker unlinked them)."""
        return harness.wait_value(lambda: [p for p in srv.open_files() if p.endswith(" (deleted)")],
                                  lambda gone: not gone, secs)

    def evictions_match(self, srv, kept):
        """crated_evictions_total == fetches - crates kept, once the
        counters have caught up with the disk (a bounded wait: files are
        removed on a worker thread and counted back on the loop)."""
        def counts():
            ex = self.check_gauges(srv)
            return (ex, ex.get("crated_crate_fetches_total", registry="mirror", outcome="ok"),
                    ex.get("crated_evictions_total", registry="mirror"))
        return harness.wait_value(counts, lambda c: c[2] == c[1] - kept, 5, 0.1)

    # the test

    def test_eviction_pin_gc_and_journal(self):
        unpinned = sorted(self.size[n] for n in NAMES)
        keep4 = self.size[PIN] + sum(unpinned[-3:])        # pin + 3 largest others
        limit = limit_for(keep4)
        # precondition of the sizes chosen (a test bug if not): five do not fit
        self.assertGreater(self.size[PIN] + sum(unpinned[:4]), limit)
        self.write_config(limit)
        srv = self.start_mirror()

        self.download(srv, PIN, pin=True)
        for name in NAMES:
            harness.next_second()
            self.download(srv, name)
            # again once the fill is on disk (within the same second, so
            # the order of last use stays): served from disk, kept open
            self.wait_file(self.crate_file(name))
            self.download(srv, name)
        harness.next_second()
        self.download(srv, "cl-c1")             # touched: recently used again
        t_touch = time.monotonic()

        want = {PIN, "cl-c6", "cl-c7", "cl-c1"}
        have = self.wait_disk(want)
        self.assertEqual(set(have), want,
                         "after the eviction pass (%.1f s after the last download) the cache holds "
                         "%r (limit %d bytes, %d on disk); log:\n%s"
                         % (time.monotonic() - t_touch, sorted(have), limit,
                            sum(have.values()), srv.log_tail(12)))
        self.assertLessEqual(sum(have.values()), limit)
        # evicted crates were kept open (open_file_cache): their files
        # must be closed, or their disk space is never freed
        self.assertEqual(self.deleted_open_files(srv), [])
        for name in [PIN] + NAMES:
            self.assertTrue(os.path.isfile(os.path.join(self.data, "mirror", "index",
                                                        index_path(name))),
                            "index file of %s was removed" % name)
            r = srv.get("/mirror/" + index_path(name))
            self.assertEqual(r.status, 200, r)
        self.assertTrue(os.path.isfile(os.path.join(self.data, "mirror", "usage.log")))
        self.assertRegex(srv.log_text(), r"registry mirror: evicted \d+ crates")

        ex, fetched, evicted = self.evictions_match(srv, len(have))
        self.assertGreaterEqual(fetched, 9)
        self.assertEqual(evicted, fetched - len(have),
                         "crated_evictions_total %g, but %g crates fetched and %d kept"
                         % (evicted, fetched, len(have)))

        # an evicted crate comes back on demand; the next pass evicts the
        # least recently used (cl-c6), never the pinned crate
        n0 = self.upstream_downloads("cl-c0")
        harness.next_second()
        self.download(srv, "cl-c0")
        self.assertEqual(self.upstream_downloads("cl-c0"), n0 + 1,
                         "the evicted crate was not fetched from the upstream again")
        want = {PIN, "cl-c7", "cl-c1", "cl-c0"}
        have = self.wait_disk(want)
        self.assertEqual(set(have), want, "log:\n" + srv.log_tail(8))
        self.assertLessEqual(sum(have.values()), limit)
        ex, fetched, evicted = self.evictions_match(srv, len(have))
        self.assertEqual(evicted, fetched - len(have),
                         "crated_evictions_total %g, but %g crates fetched and %d kept"
                         % (evicted, fetched, len(have)))
        srv.stop()

        # crated gc, offline, with a smaller limit: the pin and the most
        # recently used crate (cl-c0) stay. From here on every problem is
        # collected and reported together.
        problems = []
        limit2 = limit_for(self.size[PIN] + max(unpinned))
        self.assertGreater(self.size[PIN] + 2 * unpinned[0], limit2)
        self.write_config(limit2)
        before = self.on_disk()
        rc, out, err = harness.run_crated(["gc", "--config", self.cfg], cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        have = self.on_disk()
        self.assertEqual(set(have), {PIN, "cl-c0"},
                         "crated gc kept %r of %r (limit %d)" % (sorted(have), sorted(before), limit2))
        self.assertLessEqual(sum(have.values()), limit2)
        for name in [PIN] + NAMES:
            self.assertTrue(os.path.isfile(os.path.join(self.data, "mirror", "index",
                                                        index_path(name))))
        m = re.search(r"mirror: (\d+) crates evicted", out)
        if not m or int(m.group(1)) != len(before) - len(have):
            problems.append("crated gc removed %d files (%s) but reported: %r; its journal "
                            "still listed crates evicted earlier"
                            % (len(before) - len(have), sorted(set(before) - set(have)),
                               out.strip()))

        # restart without a limit (so no start-up eviction pass can tidy
        # anything): the gauges come from the journal and must match the disk
        self.write_config(0)
        srv = self.start_mirror()
        disk = self.on_disk()
        ex = harness.metrics(srv, clean=True)
        got = (ex.get("crated_cache_files", registry="mirror"),
               ex.get("crated_cache_bytes", registry="mirror"))
        if got != (len(disk), sum(disk.values())):
            problems.append("after a restart crated_cache_files / crated_cache_bytes are %r, the "
                            "disk holds %d files / %d bytes (%s)"
                            % (got, len(disk), sum(disk.values()), sorted(disk)))
        srv.stop()
        # and with the limit: nothing to evict at start-up (what is on disk
        # is under it)
        self.write_config(limit2)
        disk = self.on_disk()
        srv = self.start_mirror()
        # the start-up scan has counted what is on disk (a pass after it
        # would evict)
        harness.wait_until(lambda: gauges(harness.metrics(srv)) == (len(disk), sum(disk.values())), 3)
        ex = harness.metrics(srv, clean=True)
        if ex.get("crated_evictions_total", registry="mirror") != 0:
            problems.append("a restart with %d bytes on disk (limit %d) evicted %g crates at "
                            "start-up: %s" % (sum(self.on_disk().values()), limit2,
                                              ex.get("crated_evictions_total", registry="mirror"),
                                              re.findall(r"evicted .*", srv.log_text())))
        # the pin survived: one more crate pushes past the limit and the
        # pass evicts cl-c0, not the pinned (older) crate
        harness.next_second()
        self.download(srv, "cl-c5")
        have = self.wait_disk({PIN, "cl-c5"})
        if set(have) != {PIN, "cl-c5"}:
            problems.append("after the restart and one more download the cache holds %r, want "
                            "%r (limit %d)" % (sorted(have), sorted({PIN, "cl-c5"}), limit2))
        if sum(have.values()) > limit2:
            problems.append("after the restart %d bytes on disk > limit %d"
                            % (sum(have.values()), limit2))
        with open(os.path.join(self.data, "mirror", "usage.log"), "rb") as f:
            journal = f.read()
        bad = [l for l in journal.split(b"\n") if l.startswith(b"d ")
               and not re.match(rb"^d crates/[a-z0-9_-]+/[a-z0-9_.+-]+\.crate$", l)]
        if bad:
            problems.append("usage.log has %d deletion lines that name no crate file, e.g. %r"
                            % (len(bad), bad[:3]))
        self.assertFalse(problems, "\n".join(problems))
        self.check_gauges(srv)

if __name__ == "__main__":
    harness.main()
