#!/usr/bin/env python3
"""A toolchain mirror's mechanics that rustup does not show (issue 29),
against a small upstream written here (standins.StandIn with behaviours
that serve byte ranges, throttle, hold, cut or ignore Range), with plain
HTTP clients:

* snapshots: a channel manifest and its .sha256 come as one pair, also
  when the upstream changes between crated's two requests; within
  manifest_ttl nothing is asked; past it a revalidation that finds the
  same .sha256 does not fetch the .toml; a client gets the .toml of the
  generation whose .sha256 it was given (two client addresses, a swap
  between their requests);
* the upstream failing (503, refused): the last snapshot is served, with
  X-Crated-Stale; nothing cached: 502 naming the file; a 404 is a 404;
* Range (N-, N-M, -S, 416) and HEAD on cached files and on files still
  filling;
* one upstream download for many clients (followers read the filling
  file), and a client that reads nothing does not hold up another
  client nor the download;
* a tarball whose SHA-256 is not its manifest's: the clients that started
  get every byte, nothing is kept, the next request goes upstream again;
  without a Content-Length, a 502 naming the file;
* a download cut short is resumed with Range (a 206, or a 200 from an
  upstream that ignores Range); cut for good: the client's body ends
  short and nothing is kept;
* a tarball of a date no snapshot names: its dated manifest is fetched
  (with its .sha256) to check it;
* eviction past max_cache_bytes spares the dates a snapshot names and
  pinned files."""

import hashlib
import http.client
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402

ROOT = "https://static.rust-lang.org"
HOST = "x86_64-unknown-linux-gnu"
D1 = "2026-04-16"
D2 = "2026-05-28"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def tarball_path(date, pkg="rustc", version="1.95.0"):
    return "/dist/%s/%s-%s-%s.tar.xz" % (date, pkg, version, HOST)


def manifest(date, files, version="1.95.0"):
    """A channel manifest of date naming files {url path: bytes}."""
    out = ['manifest-version = "2"', 'date = "%s"' % date, "",
           "[pkg.rust]", 'version = "%s (mirror-test %s)"' % (version, date), "",
           "[pkg.rust.target.%s]" % HOST, "available = true",
           'url = "%s/dist/%s/rust-%s-%s.tar.gz"' % (ROOT, date, version, HOST),
           'hash = "%s"' % ("0" * 64), ""]
    for i, (path, data) in enumerate(sorted(files.items())):
        out += ["[pkg.p%d.target.%s]" % (i, HOST), "available = true",
                'url = "%s%s"' % (ROOT, path.replace(".tar.xz", ".tar.gz")),
                'hash = "%s"' % ("1" * 64),
                'xz_url = "%s%s"' % (ROOT, path), 'xz_hash = "%s"' % sha(data), ""]
    return "\n".join(out).encode()


def blob(n, seed):
    """n bytes that differ by seed."""
    h = hashlib.sha256(seed.encode()).digest()
    return (h * (n // len(h) + 1))[:n]


def b_ranged(data, rate=None, cut_after=None, ignore_range=False,
             chunked=False, gate=None):
    """data with Range support (206 / Content-Range), optionally at rate
    bytes/s, held until gate is set, cut after cut_after bytes of the
    body (the connection closed), ignoring Range, or chunked (no
    Content-Length)."""
    def f(h, req):
        if gate is not None:
            gate.wait(30)
        start, status = 0, 200
        rng = req.header("range")
        if rng and not ignore_range and rng.startswith("bytes=") and rng.endswith("-"):
            start, status = int(rng[6:-1]), 206
        body = data[start:]
        h.send_response(status)
        h.send_header("Content-Type", "application/x-xz")
        if status == 206:
            h.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        sent, step = 0, 16384
        while sent < len(body):
            piece = body[sent:sent + step]
            if cut_after is not None and sent + len(piece) > cut_after:
                piece = piece[:max(0, cut_after - sent)]
                h.wfile.write(piece)
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            if rate:
                time.sleep(len(piece) / rate)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    return f


def b_flip(si, path, then):
    """Serves path's file, then calls then() (the upstream changes right
    after crated's request)."""
    def f(h, req):
        S.serve_file(h, req)
        then()
    return f


class Upstream:
    """A dist tree in a StandIn: channels, dated manifests, tarballs."""

    def __init__(self, test):
        self.si = S.StandIn()
        test.addCleanup(self.si.stop)
        self.files = {}

    @property
    def base(self):
        return self.si.base

    def put(self, path, data):
        self.files[path] = data
        self.si.put_file(path, data)

    def channel(self, name, date, files, dated=True):
        """Publishes channel name as a manifest of date naming files
        (also put); and its dated copy."""
        for p, d in files.items():
            if p not in self.files:
                self.put(p, d)
        m = manifest(date, files)
        s = ("%s  channel-rust-%s.toml\n" % (sha(m), name)).encode()
        self.put("/dist/channel-rust-%s.toml" % name, m)
        self.put("/dist/channel-rust-%s.toml.sha256" % name, s)
        if dated:
            self.put("/dist/%s/channel-rust-stable.toml" % date, m)
            self.put("/dist/%s/channel-rust-stable.toml.sha256" % date,
                     ("%s  channel-rust-stable.toml\n" % sha(m)).encode())
        return m, s

    def count(self, path):
        return self.si.count(path)


class Client:
    """HTTP/1.1 requests to crated from a chosen loopback address."""

    def __init__(self, port, source="127.0.0.1"):
        self.port = port
        self.source = source

    def get(self, path, headers=None, method="GET"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                       source_address=(self.source, 0))
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return harness.Resp(r.status, r.reason, r.getheaders(), body)
        finally:
            c.close()


def metric(crated, name):
    return harness.metrics(crated).get(name, toolchain="rust")


class ToolchainMirrorTest(harness.TestCase):

    def crated(self, up, name="crated", **kw):
        lines = ['[toolchains.rust]', 'upstream = "%s"' % up.base]
        kw.setdefault("manifest_ttl", 600)
        for k, v in kw.items():
            lines.append("%s = %s" % (k, ("true" if v else "false") if isinstance(v, bool) else v))
        c = self.start_crated(name=name, registries="\n".join(lines) + "\n",
                              data_dir=os.path.join(self.tmp, name + "-data"))
        c.client = Client(c.port)
        return c

    def pair(self, c, channel="stable", client=None):
        cl = client or c.client
        s = cl.get("/rust/dist/channel-rust-%s.toml.sha256" % channel)
        t = cl.get("/rust/dist/channel-rust-%s.toml" % channel)
        return s, t

    def assertPair(self, s, t):
        self.assertEqual(s.status, 200, s)
        self.assertEqual(t.status, 200, t)
        self.assertEqual(s.body.split()[0].decode(), sha(t.body),
                         "a .sha256 and a .toml of two snapshots")

    # snapshots ---------------------------------------------------------------
    def test_snapshot_ttl_and_revalidation(self):
        up = Upstream(self)
        a = {tarball_path(D1): blob(1000, "a")}
        ma, sa = up.channel("stable", D1, a)
        c = self.crated(up, manifest_ttl=1)
        s, t = self.pair(c)
        self.assertPair(s, t)
        self.assertEqual((s.body, t.body), (sa, ma))
        self.assertEqual(s.header("x-crated-cache"), "miss")
        n_sha, n_toml = up.count("/dist/channel-rust-stable.toml.sha256"), \
            up.count("/dist/channel-rust-stable.toml")
        self.assertEqual((n_sha, n_toml), (1, 1))
        # within the TTL: nothing asked
        s, t = self.pair(c)
        if s.header("x-crated-cache") == "hit":
            self.assertEqual(up.count("/dist/channel-rust-stable.toml.sha256"), 1)
        # past it, unchanged upstream: the .sha256 alone
        for _ in range(3):
            harness.next_second()
        s, t = self.pair(c)
        self.assertPair(s, t)
        self.assertEqual(s.header("x-crated-cache"), "revalidated")
        self.assertEqual(up.count("/dist/channel-rust-stable.toml"), 1,
                         "a revalidation that found the same .sha256 fetched the .toml")
        # a new release: both, swapped together
        mb, sb = up.channel("stable", D2, {tarball_path(D2): blob(1000, "b")})
        for _ in range(3):
            harness.next_second()
        s, t = self.pair(c)
        self.assertPair(s, t)
        self.assertEqual((s.body, t.body), (sb, mb))
        self.assertEqual(up.count("/dist/channel-rust-stable.toml"), 2)
        self.assertTrue(os.path.exists(os.path.join(
            c.data_dir, "rust", "snapshots", "dist", "channel-rust-stable.toml")))

    def test_pair_changing_under_crated(self):
        """The upstream publishes between crated's .sha256 and .toml
        requests: crated sees the mismatch, asks both again, and the
        client gets a consistent pair (the new one)."""
        up = Upstream(self)
        up.channel("stable", D1, {tarball_path(D1): blob(1000, "a")})
        files2 = {tarball_path(D2): blob(1000, "b")}
        mb = manifest(D2, files2)
        flipped = []

        def publish():
            if not flipped:
                flipped.append(1)
                up.si.put_file("/dist/channel-rust-stable.toml", mb)
                up.si.put_file("/dist/channel-rust-stable.toml.sha256",
                               ("%s  channel-rust-stable.toml\n" % sha(mb)).encode())
        up.si.set("/dist/channel-rust-stable.toml.sha256",
                  b_flip(up.si, "/dist/channel-rust-stable.toml.sha256", publish))
        c = self.crated(up)
        s, t = self.pair(c)
        self.assertPair(s, t)
        self.assertEqual(t.body, mb)
        self.assertEqual(up.count("/dist/channel-rust-stable.toml.sha256"), 2)
        harness.wait_log(c, r"does not match its \.sha256")
        # an upstream whose pair never matches: nothing cached: 502
        up.si.set("/dist/channel-rust-beta.toml.sha256",
                  S.b_body(("%s  x\n" % ("a" * 64)).encode()))
        up.put("/dist/channel-rust-beta.toml", mb)
        r = c.client.get("/rust/dist/channel-rust-beta.toml.sha256")
        self.assertEqual(r.status, 502, r)
        self.assertIn("channel-rust-beta.toml", harness.errors_detail(self, r, (502,)))

    def test_toml_from_the_generation_of_its_sha256(self):
        """Client X got the .sha256 of snapshot A; then the upstream
        changed, the TTL passed and client Y's .sha256 swapped in B; X's
        .toml is still A's (its address remembers the generation), Y's is
        B's."""
        up = Upstream(self)
        ma, sa = up.channel("stable", D1, {tarball_path(D1): blob(1000, "a")})
        c = self.crated(up, manifest_ttl=1)
        x = Client(c.port, "127.0.0.2")
        y = Client(c.port, "127.0.0.3")
        sx = x.get("/rust/dist/channel-rust-stable.toml.sha256")
        self.assertEqual(sx.body, sa)
        mb, sb = up.channel("stable", D2, {tarball_path(D2): blob(1000, "b")})
        for _ in range(3):
            harness.next_second()
        sy = y.get("/rust/dist/channel-rust-stable.toml.sha256")
        self.assertEqual(sy.body, sb, "the refresh")
        tx = x.get("/rust/dist/channel-rust-stable.toml")
        ty = y.get("/rust/dist/channel-rust-stable.toml")
        self.assertPair(sx, tx)
        self.assertPair(sy, ty)
        self.assertEqual(tx.body, ma)
        self.assertEqual(ty.body, mb)

    def test_upstream_failing_serves_the_snapshot(self):
        up = Upstream(self)
        ma, sa = up.channel("stable", D1, {tarball_path(D1): blob(1000, "a")})
        c = self.crated(up, manifest_ttl=1)
        self.assertPair(*self.pair(c))
        for _ in range(3):
            harness.next_second()
        up.si.set("/dist/channel-rust-stable.toml.sha256", S.b_status(503, "down"))
        s, t = self.pair(c)
        self.assertEqual((s.status, s.body, t.body), (200, sa, ma))
        self.assertEqual(s.header("x-crated-cache"), "stale")
        self.assertIn("503", s.header("x-crated-stale"))
        self.assertGreaterEqual(metric(c, "crated_toolchain_stale_serves_total"), 1)
        # refused connections: the same
        up.si.stop()
        for _ in range(2):
            harness.next_second()
        s, t = self.pair(c)
        self.assertEqual((s.status, s.body, t.body), (200, sa, ma))
        # a file never cached: 502 naming it, never a hang
        r = c.client.get("/rust/dist/channel-rust-beta.toml.sha256")
        self.assertEqual(r.status, 502, r)
        self.assertIn("channel-rust-beta.toml", harness.errors_detail(self, r, (502,)))
        r = c.client.get("/rust" + tarball_path(D1))
        self.assertEqual(r.status, 502, r)
        ready = c.get("/-/ready").json()["toolchains"][0]
        self.assertEqual(ready["upstream_state"], "failing")

    def test_not_found_passes_through(self):
        up = Upstream(self)
        up.channel("stable", D1, {tarball_path(D1): blob(1000, "a")})
        c = self.crated(up)
        for path in ("/rust/dist/channel-rust-nightly.toml.sha256",
                     "/rust/dist/channel-rust-stable.sha256",
                     "/rust/dist/%s/rust-1.95.0-%s.tar.gz.sha256" % (D1, HOST),
                     "/rust" + tarball_path("2020-01-01")):
            r = c.client.get(path)
            self.assertEqual(r.status, 404, "%s: %r" % (path, r))
        # a tarball its manifest names, missing upstream
        up.channel("stable", D2, {tarball_path(D2): blob(10, "gone")})
        up.si.del_file(tarball_path(D2))
        r = c.client.get("/rust" + tarball_path(D2))
        self.assertEqual(r.status, 404, r)
        for bad in ("/rust/dist/../lock", "/rust/dist/a%20b", "/rust/rustup/x/../../y"):
            r = c.client.get(bad)
            self.assertEqual(r.status, 404, "%s: %r" % (bad, r))
        self.assertEqual(c.client.get("/nope/dist/channel-rust-stable.toml").status, 404)
        # outside dist/ and rustup/: said in a toolchain mirror's words
        r = c.client.get("/rust/whatever")
        self.assertEqual(r.status, 404, r)
        self.assertIn("a toolchain mirror serves only /rust/dist/", r.body.decode())
        self.assertNotIn("index file", r.body.decode())

    # files -------------------------------------------------------------------
    def test_range_and_head(self):
        up = Upstream(self)
        data = blob(300000, "range")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: data})
        gate = threading.Event()
        up.si.set(path, b_ranged(data, gate=gate, rate=2 << 20))
        c = self.crated(up)
        self.pair(c)
        # a Range while the file fills: a follower from an offset
        results = {}

        def get(key, headers):
            results[key] = c.client.get("/rust" + path, headers=headers)
        ts = [threading.Thread(target=get, args=("all", {})),
              threading.Thread(target=get, args=("tail", {"Range": "bytes=200000-"}))]
        ts[0].start()
        harness.wait_until(lambda: metric(c, "crated_toolchain_misses_total") >= 2, 10)
        ts[1].start()
        harness.wait_until(lambda: metric(c, "crated_toolchain_followers_total") >= 1, 10)
        gate.set()
        for t in ts:
            t.join(30)
        self.assertEqual((results["all"].status, results["all"].body), (200, data))
        r = results["tail"]
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("content-range"), "bytes 200000-299999/300000")
        self.assertEqual(r.body, data[200000:])
        self.assertEqual(up.count(path), 1)
        harness.wait_until(lambda: os.path.exists(os.path.join(c.data_dir, "rust", path[1:])), 10)
        # the cached file
        for rng, lo, hi in (("bytes=0-0", 0, 0), ("bytes=1000-1999", 1000, 1999),
                            ("bytes=299990-", 299990, 299999), ("bytes=-5", 299995, 299999),
                            ("bytes=299000-400000", 299000, 299999)):
            r = c.client.get("/rust" + path, headers={"Range": rng})
            self.assertEqual(r.status, 206, "%s: %r" % (rng, r))
            self.assertEqual(r.header("content-range"), "bytes %d-%d/300000" % (lo, hi), rng)
            self.assertEqual(r.body, data[lo:hi + 1], rng)
        r = c.client.get("/rust" + path, headers={"Range": "bytes=300000-"})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("content-range"), "bytes */300000")
        r = c.client.get("/rust" + path, headers={"Range": "bytes=5-1,9-10"})
        self.assertEqual((r.status, r.body), (200, data), "an invalid Range is ignored")
        r = c.client.get("/rust" + path, method="HEAD")
        self.assertEqual((r.status, r.header("content-length"), r.body), (200, "300000", b""))
        self.assertEqual(r.header("accept-ranges"), "bytes")
        r = c.client.get("/rust" + path, method="HEAD", headers={"Range": "bytes=10-"})
        self.assertEqual((r.status, r.header("content-length")), (206, "299990"))
        r = c.client.get("/rust/dist/channel-rust-stable.toml.sha256",
                         headers={"Range": "bytes=0-63"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(len(r.body), 64)
        self.assertEqual(up.count(path), 1, "the cache answered")

    def test_followers_share_one_download(self):
        up = Upstream(self)
        data = blob(2 << 20, "fleet")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: data})
        gate = threading.Event()
        up.si.set(path, b_ranged(data, gate=gate))
        c = self.crated(up)
        self.pair(c)
        results = []

        def get():
            results.append(c.client.get("/rust" + path))
        ts = [threading.Thread(target=get) for _ in range(6)]
        for t in ts:
            t.start()
        self.assertTrue(harness.wait_until(
            lambda: metric(c, "crated_toolchain_followers_total") >= 5, 20),
            "the followers did not join")
        gate.set()
        for t in ts:
            t.join(60)
        self.assertEqual([(r.status, r.body == data) for r in results], [(200, True)] * 6)
        self.assertEqual(up.count(path), 1, "one upstream download for six clients")
        self.assertGreaterEqual(metric(c, "crated_toolchain_upstream_bytes_total"), len(data))

    def test_a_slow_client_holds_up_nobody(self):
        """Client A reads nothing after the head (a small receive
        buffer); client B downloads the whole file, and the file is
        stored, while A is stalled; then A gets every byte."""
        up = Upstream(self)
        data = blob(16 << 20, "slow")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: data})
        gate = threading.Event()
        up.si.set(path, b_ranged(data, gate=gate))
        c = self.crated(up)
        self.pair(c)
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        a.connect(("127.0.0.1", c.port))
        a.settimeout(60)
        a.sendall(("GET /rust%s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        harness.wait_until(lambda: metric(c, "crated_toolchain_misses_total") >= 2, 10)
        gate.set()
        head = b""
        while b"\r\n\r\n" not in head:
            head += a.recv(1)
        self.assertIn(b"200 OK", head)
        r = c.client.get("/rust" + path)
        self.assertEqual((r.status, r.body == data), (200, True))
        stored = os.path.join(c.data_dir, "rust", path[1:])
        self.assertTrue(harness.wait_until(lambda: os.path.exists(stored), 30),
                        "the download waited for the stalled client")
        got = b""
        while len(got) < len(data):
            piece = a.recv(1 << 20)
            if not piece:
                break
            got += piece
        a.close()
        self.assertEqual(got, data, "the stalled client's body")
        self.assertEqual(up.count(path), 1)

    def test_http2_clients(self):
        """HTTP/2 (prior knowledge, as over TLS with ALPN): a full download
        and a throttled one of a filling file, and a Range of it; the
        stream is polled, so the throttled client neither stalls nor is
        cut."""
        import shutil
        import subprocess
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("curl not installed (Debian package: curl)")
        up = Upstream(self)
        data = blob(3 << 20, "h2")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: data})
        gate = threading.Event()
        up.si.set(path, b_ranged(data, gate=gate))
        c = self.crated(up)
        self.pair(c)
        outs = [os.path.join(self.tmp, "h2-%d" % i) for i in range(3)]
        args = [[], ["--limit-rate", "1M"], ["-H", "Range: bytes=1000000-"]]
        procs = [subprocess.Popen([curl, "-s", "--http2-prior-knowledge", "-o", o,
                                   "-w", "%{http_version} %{http_code}"] + a +
                                  ["http://127.0.0.1:%d/rust%s" % (c.port, path)],
                                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
                 for o, a in zip(outs, args)]
        for p in procs:
            harness._live_procs.append(p)
        harness.wait_until(lambda: metric(c, "crated_toolchain_followers_total") >= 2, 20)
        gate.set()
        res = [p.communicate(timeout=60)[0].decode() for p in procs]
        self.assertEqual(res, ["2 200", "2 200", "2 206"])
        for o, want in zip(outs, (data, data, data[1000000:])):
            with open(o, "rb") as f:
                self.assertEqual(f.read() == want, True, o)
        self.assertEqual(up.count(path), 1)

    def test_hash_mismatch_is_not_kept(self):
        up = Upstream(self)
        good = blob(50000, "good")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: good})
        bad = blob(50000, "bad")
        up.si.put_file(path, bad)
        c = self.crated(up)
        self.pair(c)
        r = c.client.get("/rust" + path)
        self.assertEqual((r.status, r.body == bad), (200, True),
                         "a client that started gets the upstream's bytes")
        harness.wait_log(c, r"its SHA-256 is %s, its manifest says %s" % (sha(bad), sha(good)))
        self.assertEqual(metric(c, "crated_toolchain_hash_failures_total"), 1)
        self.assertFalse(os.path.exists(os.path.join(c.data_dir, "rust", path[1:])))
        r = c.client.get("/rust" + path)
        self.assertEqual(r.status, 200)
        self.assertEqual(up.count(path), 2, "the next request goes upstream again")
        # no Content-Length: no client has started: 502 naming the file
        up.si.set(path, b_ranged(bad, chunked=True))
        r = c.client.get("/rust" + path)
        self.assertEqual(r.status, 502, r)
        detail = harness.errors_detail(self, r, (502,))
        self.assertIn(path[1:], detail)
        self.assertIn(sha(good), detail)
        # repaired upstream: kept
        up.si.set(path, None)
        up.si.put_file(path, good)
        r = c.client.get("/rust" + path)
        self.assertEqual((r.status, r.body == good), (200, True))
        harness.wait_until(lambda: os.path.exists(os.path.join(c.data_dir, "rust", path[1:])), 10)
        self.assertEqual(S.files_under(os.path.join(c.data_dir, "rust", "tmp")), [])
        for rel in S.files_under(c.data_dir):
            with open(os.path.join(c.data_dir, rel), "rb") as f:
                self.assertNotEqual(f.read(), bad, rel)

    def test_cut_downloads_resume(self):
        up = Upstream(self)
        data = blob(400000, "cut")
        path = tarball_path(D1)
        up.channel("stable", D1, {path: data})
        # cut once, then a 206 from where it stopped
        up.si.set(path, S.b_sequence(b_ranged(data, cut_after=100000), b_ranged(data)))
        c = self.crated(up)
        self.pair(c)
        r = c.client.get("/rust" + path)
        self.assertEqual((r.status, r.body == data), (200, True))
        reqs = up.si.reqs(path)
        self.assertEqual([q.header("range") for q in reqs], [None, "bytes=100000-"])
        harness.wait_until(lambda: os.path.exists(os.path.join(c.data_dir, "rust", path[1:])), 10)
        self.assertEqual(metric(c, "crated_toolchain_resumes_total"), 1)
        # an upstream that answers a resume with 200 from the start
        path2 = tarball_path(D1, "cargo")
        data2 = blob(300000, "cut2")
        up.channel("stable", D1, {path: data, path2: data2})
        up.si.set(path2, S.b_sequence(b_ranged(data2, cut_after=50000),
                                      b_ranged(data2, ignore_range=True)))
        c2 = self.crated(up, name="crated2")
        self.pair(c2)
        r = c2.client.get("/rust" + path2)
        self.assertEqual((r.status, r.body == data2), (200, True))
        self.assertEqual([q.header("range") for q in up.si.reqs(path2)], [None, "bytes=50000-"])
        harness.wait_until(lambda: os.path.exists(os.path.join(c2.data_dir, "rust", path2[1:])), 10)
        with open(os.path.join(c2.data_dir, "rust", path2[1:]), "rb") as f:
            self.assertEqual(f.read(), data2)
        # cut every time: the client's body ends short, nothing kept
        path3 = tarball_path(D1, "rust-std")
        data3 = blob(300000, "cut3")
        up.channel("stable", D1, {path: data, path2: data2, path3: data3})
        up.si.set(path3, b_ranged(data3, cut_after=1000))
        c3 = self.crated(up, name="crated3")
        self.pair(c3)
        conn = http.client.HTTPConnection("127.0.0.1", c3.port, timeout=30)
        conn.request("GET", "/rust" + path3)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        harness.wait_log(c3, r"rust-std.*not cached")
        self.assertFalse(os.path.exists(os.path.join(c3.data_dir, "rust", path3[1:])))
        self.assertEqual(S.files_under(os.path.join(c3.data_dir, "rust", "tmp")), [])

    def test_dated_manifest_checks_a_tarball(self):
        """A tarball of a date no snapshot names (rustup component add on
        an old toolchain): crated fetches that date's manifest and its
        .sha256, keeps them, and checks the tarball against it."""
        up = Upstream(self)
        old = {tarball_path(D1, "clippy"): blob(5000, "clippy")}
        up.channel("stable", D1, old)
        up.channel("stable", D2, {tarball_path(D2): blob(1000, "b")}, dated=False)
        c = self.crated(up)
        path = tarball_path(D1, "clippy")
        r = c.client.get("/rust" + path)
        self.assertEqual((r.status, r.body), (200, old[path]))
        dated = "/dist/%s/channel-rust-stable.toml" % D1
        self.assertEqual((up.count(dated + ".sha256"), up.count(dated)), (1, 1))
        d = os.path.join(c.data_dir, "rust")
        self.assertTrue(harness.wait_until(lambda: os.path.exists(os.path.join(d, path[1:])), 10))
        self.assertTrue(os.path.exists(os.path.join(d, dated[1:] + ".sha256")))
        r = c.client.get("/rust" + dated)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-crated-cache"), "hit")
        # a file no manifest names: passed through, not kept
        other = "/dist/%s/rustc-1.95.0-%s.tar.xz.sha256" % (D1, HOST)
        up.put(other, b"abc  x\n")
        r = c.client.get("/rust" + other)
        self.assertEqual((r.status, r.body), (200, b"abc  x\n"))
        self.assertEqual(r.header("x-crated-cache"), "pass")
        self.assertFalse(os.path.exists(os.path.join(d, other[1:])))

    def test_eviction_spares_named_dates_and_pins(self):
        up = Upstream(self)
        old = tarball_path("2026-01-01")
        old_data = blob(2 << 20, "old")
        up.channel("stable", "2026-01-01", {old: old_data})
        cur = tarball_path(D2)
        cur_data = blob(2 << 20, "cur")
        up.channel("stable", D2, {cur: cur_data})       # the channel moved on
        c = self.crated(up, max_cache_bytes=3 << 20)
        d = os.path.join(c.data_dir, "rust")
        r = c.client.get("/rust" + old)                # its dated manifest
        self.assertEqual(r.status, 200)
        self.assertTrue(harness.wait_until(lambda: os.path.exists(os.path.join(d, old[1:])), 10))
        self.pair(c)                                   # stable names D2
        r = c.client.get("/rust" + cur)
        self.assertEqual(r.status, 200)
        self.assertTrue(harness.wait_until(
            lambda: not os.path.exists(os.path.join(d, old[1:])), 10),
            "the old date's file was not evicted")
        self.assertTrue(os.path.exists(os.path.join(d, cur[1:])), "a named date was evicted")
        self.assertGreaterEqual(metric(c, "crated_toolchain_evictions_total"), 1)
        # pinned: kept past the limit
        r = c.client.get("/rust" + old, headers={"X-Crated-Pin": "1"})
        self.assertEqual(r.status, 200)
        self.assertTrue(harness.wait_until(lambda: os.path.exists(os.path.join(d, old[1:])), 10))
        harness.wait_log(c, r"every file is pinned or of a date a channel manifest names")
        self.assertTrue(os.path.exists(os.path.join(d, cur[1:])))
        # crated gc, with the server stopped: the same; asked to, the
        # named dates' files go too, the pinned one stays
        c.stop()
        rc, out, err = harness.run_crated(["gc", "--config", c.config_path])
        self.assertEqual(rc, 0, err)
        self.assertIn("rust: 0 toolchain files evicted", out)
        rc, out, err = harness.run_crated(["gc", "--config", c.config_path,
                                           "--evict-named-dates"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"rust: [1-9]\d* toolchain files evicted.*dates of cached"
                         r" channels included")
        self.assertFalse(os.path.exists(os.path.join(d, cur[1:])))
        self.assertTrue(os.path.exists(os.path.join(d, old[1:])), "a pinned file was evicted")
        rc, out, err = harness.run_crated(["status", "--config", c.config_path])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^rust +rustup +\d+ +1 ")

    # what it shows ------------------------------------------------------------
    def test_pages_ready_registries_and_rustup_env(self):
        up = Upstream(self)
        data = blob(3000, "shown")
        up.channel("stable", D1, {tarball_path(D1): data,
                                  tarball_path(D1, "rust-std").replace(HOST, "wasm32-unknown-unknown"):
                                  blob(100, "std")})
        c = self.crated(up)
        self.pair(c)
        self.assertEqual(c.client.get("/rust" + tarball_path(D1)).status, 200)
        std = tarball_path(D1, "rust-std").replace(HOST, "wasm32-unknown-unknown")
        self.assertEqual(c.client.get("/rust" + std).status, 200)
        harness.wait_until(lambda: harness.metrics(c).get(
            "crated_toolchain_cache_files", toolchain="rust") == 2, 10)
        home = c.get("/").text()
        self.assertIn("export RUSTUP_DIST_SERVER=%s/rust" % c.url, home)
        self.assertIn("export RUSTUP_UPDATE_ROOT=%s/rust/rustup" % c.url, home)
        self.assertRegex(home, r"<td>1\.95\.0</td><td>%s</td><td>%s</td>"
                         r"<td>wasm32-unknown-unknown</td>" % (D1, HOST))
        ops = c.get("/-/ops").text()
        self.assertIn("Toolchain mirrors", ops)
        ready = c.get("/-/ready").json()["toolchains"][0]
        self.assertEqual((ready["name"], ready["upstream_state"], ready["snapshots"],
                          ready["cache_files"]), ("rust", "ok", 1, 2))
        regs = c.get("/-/registries").json()["toolchains"]
        self.assertEqual(regs, [{"name": "rust", "rustup_dist_server": c.url + "/rust",
                                 "rustup_update_root": c.url + "/rust/rustup",
                                 "upstream": up.base, "offline": False}])
        ex = harness.metrics(c, clean=True)
        self.assertEqual(ex.get("crated_toolchain_requests_total", toolchain="rust",
                                kind="tarball"), 2)
        rc, out, err = harness.run_crated(["rustup-env", "--config", c.config_path,
                                           "--url", "http://crated.example:8080/"])
        self.assertEqual(rc, 0, err)
        self.assertIn("export RUSTUP_DIST_SERVER=http://crated.example:8080/rust\n", out)
        self.assertIn("export RUSTUP_UPDATE_ROOT=http://crated.example:8080/rust/rustup\n", out)
        rc, out, err = harness.run_crated(["check", "--config", c.config_path])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("toolchains rust: ok: %s answers for the stable channel" % up.base, out)
        up.si.del_file("/dist/channel-rust-stable.toml.sha256")
        rc, out, err = harness.run_crated(["check", "--config", c.config_path])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("toolchains rust: not a rustup distribution server", out)


if __name__ == "__main__":
    harness.main()
