#!/usr/bin/env python3
"""Mirror hardening (issue 22 items 6, 7, 13, 15, the cache limit under a
burst; issue 23 section 4), against a stand-in upstream (standins.StandIn).

* A .crate whose upstream answers 203 (a sign-in page), 200 with an HTML
  page, or 200 with something that is not gzip: cargo gets a 502 in its
  error format with the upstream's message before any byte of a body, the
  log names crate, upstream and status, nothing is cached. Crates served
  as application/octet-stream, application/x-tar, binary/octet-stream,
  application/gzip or with no Content-Type still pass.
* Disk full (the data directory on a small tmpfs mounted here, filled up):
  an uncached crate still arrives whole and verified, or a clean 5xx
  before the head; the condition is logged once per interval; once there
  is room again, crates are cached again. Skipped, with the reason, when
  the tmpfs cannot be mounted.
* 3,000 names the upstream does not have: the data directory gains no
  file per miss; the negative entries are counted at /-/metrics and
  /-/ready, remembered within negative_ttl (no second upstream request)
  and expire. Negative files older versions left in meta/ are counted by
  `crated status` and removed at start-up and by `crated gc`.
* usage.log torn mid-line, or overwritten with garbage: the rescan is
  logged, every crate on disk is counted (gauges equal the disk) and
  evicted down to the limit; a pin survives a garbage journal.
* A burst of concurrent crate downloads never has more than
  max_cache_bytes plus one crate in crates/ (sampled while it runs).
* Offline misses (index file and .crate) are logged at info with the
  hint, rate-limited.
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

SIGNIN_HTML = ('<!DOCTYPE html><html><head><title>Sign in to your account</title></head>'
               '<body><form action="/login">Sign in</form></body></html>')
LOG_EVERY = 10          # crated's interval between repeated log lines


def b_raw(status, body, ctype=None):
    """status with body and exactly this Content-Type (None: no header)."""
    def f(h, req):
        h.send_response(status)
        if ctype is not None:
            h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
    return f


def crated_files(root):
    n = 0
    for _, _, fs in os.walk(root):
        n += len(fs)
    return n


def crates_bytes(data_dir, reg="mirror"):
    """Bytes of the .crate files under crates/ (files vanishing during the
    walk are skipped)."""
    total = 0
    for d, _, fs in os.walk(os.path.join(data_dir, reg, "crates")):
        for f in fs:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def on_disk(data_dir, reg="mirror"):
    """{crate name: size} of the cached .crate files."""
    out = {}
    for d, _, fs in os.walk(os.path.join(data_dir, reg, "crates")):
        for f in fs:
            m = re.match(r"^(.*)-1\.0\.0\.crate$", f)
            if m:
                out[m.group(1)] = os.path.getsize(os.path.join(d, f))
    return out


def log_count(srv, pattern):
    return len(re.findall(pattern, srv.log_text()))


class Fixture(harness.TestCase):
    """A stand-in upstream with a registry at /reg/ (crates at
    /dl/NAME/VERS) and crated mirroring it as "mirror"."""

    def upstream(self, names, size=0):
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.crates = {}
        for n in names:
            extra = {"data.bin": os.urandom(size)} if size else None
            self.crates[n] = harness.make_crate(n, "1.0.0", extra_files=extra)
            self.tree.add(n, "1.0.0", self.crates[n])

    def mirror(self, data_dir=None, name="mirror-crated", **kw):
        opts = dict(index_ttl=600, negative_ttl=600)
        opts.update(kw)
        return self.start_crated(name=name, data_dir=data_dir,
                                 registries=S.mirror_toml("mirror", "sparse+%s/reg/" % self.si.base,
                                                          **opts))

    def download(self, srv, name, vers="1.0.0", headers=(), timeout=30):
        """GET of a .crate on a raw connection: (Resp or None, error or None);
        a body cut short is an error, not a Resp."""
        path = "/mirror/api/v1/crates/%s/%s/download" % (name, vers)
        with harness.RawConn(srv.port, timeout=timeout) as c:
            c.send(harness.build_request("GET", path, [("Connection", "close")] + list(headers)))
            try:
                return c.read_response(), None
            except (ConnectionError, socket.timeout, ValueError) as e:
                return None, e


class CrateVerdictTest(Fixture):
    """Item 6: what is not a .crate is refused before the first byte."""

    def setUp(self):
        super().setUp()
        self.upstream(["hv-a", "hv-b", "hv-c", "hv-ok"])
        self.srv = self.mirror()
        self.mdir = os.path.join(self.srv.data_dir, "mirror")

    def refused(self, name, behaviour, must_contain, status_in_log):
        self.si.set("/dl/%s/1.0.0" % name, behaviour)
        r, err = self.download(self.srv, name)
        self.assertIsNone(err, "the client got a broken answer (%s) instead of a 502; log:\n%s"
                          % (err, self.srv.log_tail(5)))
        detail = self.assertErrors(r, (502,))
        for s in must_contain:
            self.assertIn(s, detail, r)
        self.assertEqual(r.header("content-type"), "application/json", r)
        # the log names the crate, the upstream and its status
        want = r"registry mirror: crate %s 1\.0\.0 from %s: .*%s" % (
            re.escape(name), re.escape(self.si.base), status_in_log)
        self.assertRegex(self.srv.log_text(), want)
        self.assertFalse(os.path.exists(os.path.join(self.mdir, "crates", name)),
                         "something was cached for %s" % name)
        return detail

    def test_203_signin_page(self):
        self.refused("hv-a", S.b_status(203, SIGNIN_HTML, [("Content-Type", "text/html")]),
                     ["203", "Sign in to your account"], r"203")

    def test_200_html_page(self):
        self.refused("hv-b", S.b_body(SIGNIN_HTML, ctype="text/html"),
                     ["HTML page", "Sign in to your account"], r"200 with an HTML page")

    def test_200_not_gzip(self):
        detail = self.refused("hv-c", b_raw(200, b"PK\x03\x04 not a crate at all",
                                            "application/octet-stream"),
                              ["not a .crate"], r"200 with something that is not a \.crate")
        self.assertIn("application/octet-stream", detail)

    def test_crate_content_types_pass(self):
        """What feeds send for a crate is not refused."""
        body = self.crates["hv-ok"]
        for ct in ("application/octet-stream", "application/x-tar", "binary/octet-stream",
                   "application/gzip", None):
            with self.subTest(content_type=ct):
                self.si.set("/dl/hv-ok/1.0.0", b_raw(200, body, ct))
                r, err = self.download(self.srv, "hv-ok")
                self.assertIsNone(err, err)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, body)
                p = os.path.join(self.mdir, "crates", "hv-ok", "hv-ok-1.0.0.crate")
                self.assertTrue(harness.wait_until(lambda: os.path.exists(p), 5))
                os.unlink(p)      # fetched again for the next type
                self.srv.get("/-/health")


class DiskFullTest(Fixture):
    """Item 7: with the disk full, crates are passed through uncached."""

    SIZE = 200 * 1024

    def mount_tmpfs(self, path, size):
        os.makedirs(path)
        try:
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", path],
                               capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.skipTest("cannot mount a tmpfs: %s" % e)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs (root and CAP_SYS_ADMIN needed): %s"
                          % p.stderr.decode(errors="replace").strip())
        self.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True, timeout=20)

    @staticmethod
    def fill(path):
        """Writes path until the filesystem is full."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                chunk = b"\0" * size
                for _ in range(1 << 20):        # bounded: 64 GB at most
                    try:
                        if os.write(fd, chunk) < size:
                            break
                    except OSError:
                        break
        finally:
            os.close(fd)

    def test_disk_full_passes_crates_through(self):
        names = ["df-%d" % i for i in range(4)]
        self.upstream(names, size=self.SIZE)
        data = os.path.join(self.tmp, "small")
        self.mount_tmpfs(data, 4 * 1024 * 1024)
        srv = self.mirror(data_dir=data)
        for n in names:                # index files cached first
            r = srv.get("/mirror/" + index_path(n))
            self.assertEqual(r.status, 200, r)
            p = os.path.join(data, "mirror", "index", index_path(n))
            self.assertTrue(harness.wait_until(lambda: os.path.exists(p), 5), p)
        self.fill(os.path.join(data, "filler"))
        t0 = time.monotonic()
        for n in names[:3]:
            r, err = self.download(srv, n)
            if err is not None:
                self.fail("%s: the client got a broken answer (%s); log:\n%s"
                          % (n, err, srv.log_tail(8)))
            if r.status == 200:
                self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                                 hashlib.sha256(self.crates[n]).hexdigest(),
                                 "%s: not the crate's bytes (%d of %d)"
                                 % (n, len(r.body), len(self.crates[n])))
            else:               # a clean 5xx before the head is allowed
                self.assertErrors(r, (500, 502, 503, 507))
        elapsed = time.monotonic() - t0
        lines = log_count(srv, r"cannot cache crate df-\d 1\.0\.0: No space left on device")
        self.assertGreaterEqual(lines, 1, "the full disk was not logged:\n" + srv.log_tail(10))
        self.assertLessEqual(lines, 1 + int(elapsed // LOG_EVERY),
                             "logged %d times in %.1f s:\n%s" % (lines, elapsed, srv.log_tail(10)))
        self.assertEqual(on_disk(data), {}, "a crate was cached on a full disk?")
        ex = harness.metrics(srv)
        self.assertGreaterEqual(ex.get("crated_crates_uncached_total", registry="mirror"), 1)
        # without a Content-Length nothing can be passed through: a clean
        # 503 before any byte
        self.si.set("/dl/df-3/1.0.0", S.b_chunked(self.crates["df-3"], "application/gzip"))
        r, err = self.download(srv, "df-3")
        self.assertIsNone(err, err)
        detail = self.assertErrors(r, (503,))
        self.assertIn("did not send its length", detail)
        # a crate the index does not vouch for is still not delivered whole
        self.si.set("/dl/df-3/1.0.0", b_raw(200, self.crates["df-0"], "application/gzip"))
        r, err = self.download(srv, "df-3")
        self.assertTrue(err is not None or r.status != 200 or r.body != self.crates["df-0"],
                        "a crate with the wrong checksum was delivered whole")
        self.si.set("/dl/df-3/1.0.0", None)
        # room again: cached again
        os.unlink(os.path.join(data, "filler"))
        r, err = self.download(srv, "df-3")
        self.assertIsNone(err, err)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.crates["df-3"])
        self.assertTrue(harness.wait_until(lambda: "df-3" in on_disk(data), 5),
                        "not cached once the disk had room:\n" + srv.log_tail(5))
        srv.stop()


class NegativeTest(Fixture):
    """Item 13: misses cost no file; negative entries bounded, counted,
    expiring."""

    N = 3000
    TTL = 10

    def ask_all(self, srv, names, threads=4):
        def run(part):
            statuses = []
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            try:
                for n in part:
                    conn.request("GET", "/mirror/" + index_path(n))
                    r = conn.getresponse()
                    r.read()
                    statuses.append(r.status)
            finally:
                conn.close()
            return statuses
        parts = [names[i::threads] for i in range(threads)]
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            out = []
            for s in ex.map(run, parts):
                out += s
        return out

    def test_misses_leave_no_files_and_expire(self):
        self.upstream(["ng-real"])
        srv = self.mirror(negative_ttl=self.TTL)
        data = srv.data_dir
        self.assertEqual(srv.get("/mirror/" + index_path("ng-real")).status, 200)
        before = crated_files(data)
        names = ["ng-miss-%d" % i for i in range(self.N)]
        t0 = time.monotonic()
        statuses = self.ask_all(srv, names)
        self.assertEqual(statuses, [404] * self.N)
        self.assertGreaterEqual(self.si.count(prefix="/reg/"), self.N)
        # within negative_ttl: remembered (no second upstream request)
        n_up = self.si.count(self.si_path(names[0]))
        r = srv.get("/mirror/" + index_path(names[0]))
        self.assertEqual(r.status, 404, r)
        if time.monotonic() - t0 < self.TTL - 0.5:
            self.assertEqual(self.si.count(self.si_path(names[0])), n_up,
                             "a remembered 404 went upstream again")
        ex = harness.metrics(srv)
        neg = ex.get("crated_negative_entries", registry="mirror")
        ready = json.loads(srv.get("/-/ready").body)
        rneg = [r.get("negative_entries") for r in ready["registries"] if r["name"] == "mirror"]
        harness.settled_snapshot(data)      # persists in flight, if any, land
        after = crated_files(data)
        sys.stderr.write("\n%d misses: %d files in the data dir before, %d after\n"
                         % (self.N, before, after))
        self.assertLess(after - before, 100, "%d misses left %d files" % (self.N, after - before))
        if time.monotonic() - t0 < self.TTL - 0.5:
            self.assertGreater(neg, 0, "crated_negative_entries missing")
            self.assertGreater(rneg[0] or 0, 0, "/-/ready has no negative_entries: %r" % ready)
        self.assertLessEqual(neg, self.N + 1)
        # they expire
        self.assertTrue(harness.wait_until(lambda: harness.metrics(srv).get(
            "crated_negative_entries", registry="mirror") == 0, self.TTL + 20),
            "negative entries did not expire")
        n_up = self.si.count(self.si_path(names[1]))
        self.assertEqual(srv.get("/mirror/" + index_path(names[1])).status, 404)
        self.assertEqual(self.si.count(self.si_path(names[1])), n_up + 1,
                         "an expired negative entry was not asked again")
        self.assertEqual(srv.get("/mirror/" + index_path("ng-real")).status, 200)
        srv.stop()

    def si_path(self, name):
        return "/reg/" + index_path(name)

    def test_old_negative_files_counted_and_removed(self):
        """Negative files an older version left: `crated status` counts
        them, a start removes them (gc too)."""
        self.upstream(["ng-real"])
        data = os.path.join(self.tmp, "data")
        meta = os.path.join(data, "mirror", "meta")
        names = ["ng-old-%d" % i for i in range(20)]

        def plant():
            for n in names:
                p = os.path.join(meta, index_path(n))
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write('{"fetched":%d,"negative":true}' % int(time.time()))
        srv = self.mirror(data_dir=data)      # makes the store
        srv.stop()
        os.unlink(os.path.join(data, "mirror", "negatives-pruned")) \
            if os.path.exists(os.path.join(data, "mirror", "negatives-pruned")) else None
        plant()
        cfg = srv.config_path
        rc, out, err = harness.run_crated(["status", "--config", cfg], cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("mirror: 20 negative entries on disk", out)
        rc, out, err = harness.run_crated(["gc", "--config", cfg], cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"mirror: .*20 negative entries removed")
        self.assertEqual([p for p in S.files_under(meta) if "ng-old" in p], [])
        plant()
        srv = self.mirror(data_dir=data)
        self.assertTrue(harness.wait_until(lambda: not [p for p in S.files_under(meta) if "ng-old" in p],
                                     10), "old negative files kept after a restart")
        # an old negative file never hides what the upstream has
        r = srv.get("/mirror/" + index_path("ng-real"))
        self.assertEqual(r.status, 200, r)
        srv.stop()


class JournalTest(Fixture):
    """Item 15: a damaged usage.log makes crated rescan crates/."""

    SIZE = 20000
    NAMES = ["jr-%d" % i for i in range(6)]

    def setUp(self):
        super().setUp()
        self.upstream(self.NAMES, size=self.SIZE)
        self.data = os.path.join(self.tmp, "data")
        self.journal = os.path.join(self.data, "mirror", "usage.log")

    def fill_cache(self, pin=None):
        srv = self.mirror(data_dir=self.data, max_cache_bytes=0)
        for n in self.NAMES:
            h = [("X-Crated-Pin", "1")] if n == pin else []
            r, err = self.download(srv, n, headers=h)
            self.assertIsNone(err, err)
            self.assertEqual(r.status, 200, r)
            harness.next_second()        # last uses a second apart
            p = os.path.join(self.data, "mirror", "crates", n, "%s-1.0.0.crate" % n)
            self.assertTrue(harness.wait_until(lambda: os.path.exists(p), 5), p)
        srv.stop()
        return sum(on_disk(self.data).values())

    def limit_for(self, keep):
        """A limit whose 90% holds keep crates, not keep + 1."""
        one = max(len(c) for c in self.crates.values())
        return int((keep * one + 100) / 0.9) + 10

    def check_after(self, srv, limit, pinned=None):
        def observed():
            ex = harness.metrics(srv)
            return on_disk(self.data), (ex.get("crated_cache_files", registry="mirror"),
                                        ex.get("crated_cache_bytes", registry="mirror"))
        disk, got = harness.wait_value(
            observed, lambda o: sum(o[0].values()) <= limit and o[1] == (len(o[0]), sum(o[0].values())),
            10, 0.2)
        self.assertLessEqual(sum(disk.values()), limit,
                             "%r on disk against a limit of %d; log:\n%s"
                             % (disk, limit, srv.log_tail(6)))
        self.assertEqual(got, (len(disk), sum(disk.values())),
                         "gauges (files, bytes) differ from the disk")
        if pinned is not None:
            self.assertIn(pinned, disk, "the pinned crate was evicted")
        self.assertRegex(srv.log_text(), r"warn: registry mirror: .*usage\.log: \d+ lines? did not"
                         r" parse .*rescanned crates/")
        return disk

    def test_torn_journal(self):
        self.fill_cache()
        with open(self.journal, "rb") as f:
            text = f.read()
        # cut the journal in the middle of its second line: the crates
        # of the lines after it are named nowhere
        lines = text.split(b"\n")
        cut = len(lines[0]) + 1 + len(lines[1]) // 2
        with open(self.journal, "wb") as f:
            f.write(text[:cut])
        limit = self.limit_for(2)
        srv = self.mirror(data_dir=self.data, max_cache_bytes=limit)
        disk = self.check_after(srv, limit)
        self.assertEqual(len(disk), 2, disk)
        srv.stop()

    def test_garbage_journal_keeps_pin(self):
        self.fill_cache(pin=self.NAMES[0])     # the oldest, pinned
        with open(self.journal, "wb") as f:
            f.write(b"\x00\x17garbage\xff\xfe\n" * 50)
        limit = self.limit_for(2)
        srv = self.mirror(data_dir=self.data, max_cache_bytes=limit)
        disk = self.check_after(srv, limit, pinned=self.NAMES[0])
        self.assertEqual(len(disk), 2, disk)
        srv.stop()


class BurstTest(Fixture):
    """max_cache_bytes holds during a burst, not only every 5 s."""

    SIZE = 20000
    N = 24

    def test_burst_stays_under_limit(self):
        names = ["bu-%d" % i for i in range(self.N)]
        self.upstream(names, size=self.SIZE)
        one = max(len(c) for c in self.crates.values())
        limit = 4 * one + 100
        srv = self.mirror(max_cache_bytes=limit)
        for n in names:                # index files first: the burst is crates only
            self.assertEqual(srv.get("/mirror/" + index_path(n)).status, 200)
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], crates_bytes(srv.data_dir))
                time.sleep(0.002)   # a sampler: 500 looks a second (not a wait)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(6) as ex:
                results = list(ex.map(lambda n: self.download(srv, n), names))
        finally:
            # sampled until the evictions after the burst are done
            harness.wait_until(lambda: crates_bytes(srv.data_dir) <= limit, 5)
            stop.set()
            t.join(10)
        for n, (r, err) in zip(names, results):
            self.assertIsNone(err, "%s: %s" % (n, err))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, self.crates[n])
        self.assertLessEqual(peak[0], limit + one,
                             "crates/ reached %d bytes against a limit of %d (a crate: %d)"
                             % (peak[0], limit, one))
        self.assertTrue(harness.wait_until(lambda: crates_bytes(srv.data_dir) <= limit, 5))
        srv.stop()


class OfflineMissTest(Fixture):
    """Issue 23 section 4: offline misses are logged with the hint."""

    def test_offline_miss_logged(self):
        self.upstream(["om-x"])
        self.si.stop()
        srv = self.mirror(offline=True)
        t0 = time.monotonic()
        for i in range(6):
            r = srv.get("/mirror/" + index_path("om-miss-%d" % i))
            self.assertEqual(r.status, 404, r)
        lines = re.findall(r".*offline miss: .*", srv.log_text())
        self.assertTrue(lines, "no offline miss logged:\n" + srv.log_tail(10))
        self.assertIn("om-miss-0: none of its versions is cached (fill it with `crated prefetch`"
                      " or `crated import`", lines[0])
        self.assertRegex(lines[0], r" info: registry mirror: offline miss")
        # a download whose crate is not cached: a miss too, a 404
        r, err = self.download(srv, "om-x")
        self.assertIsNone(err, err)
        self.assertEqual(r.status, 404, r)
        elapsed = time.monotonic() - t0
        lines = re.findall(r".*offline miss: .*", srv.log_text())
        self.assertLessEqual(len(lines), 1 + int(elapsed // LOG_EVERY),
                             "not rate-limited: %d lines in %.1f s" % (len(lines), elapsed))
        srv.stop()


if __name__ == "__main__":
    harness.main()
