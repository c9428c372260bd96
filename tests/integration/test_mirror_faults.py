#!/usr/bin/env python3
"""Upstream faults against a crated mirror (index_ttl = negative_ttl = 1).

For each fault a controllable stand-in misbehaves for two index files:
"warm" (cached by crated before the fault, then stale) and "cold" (never
fetched). Expected:

* transient faults (connection refused, hanging, trickling, truncated body,
  500, 503, 429 + Retry-After, 200 with garbage): warm -> 200 with the
  cached bytes and X-Crated-Stale; cold -> 502 (503 for 429/503, with
  Retry-After <= 10) and a cargo-format errors body; never a 404.
* configuration faults (401 with an Azure body, 403, 203 with a sign-in
  page, 302 to an HTML sign-in page, 200 with an HTML page): 502 with the
  upstream's message for warm and cold alike: never stale, never a 404.

In every case: crated keeps running (/-/health 200), the cached index file
is unchanged and nothing is cached for cold, and once the stand-in answers
well again the next request after the TTL heals the entry (new bytes, no
stale marker).

Downloads: a .crate whose SHA-256 differs from the index cksum (the client
transfer is cut short, cargo fails, nothing cached, heals), a truncated
.crate, an upstream 500 for a .crate, a version not in the index (404 and
no upstream request), a download redirected to another port that must not
receive the upstream credential, and an upstream config.json without dl.
Also: negative caching of upstream 404s; Retry-After capped at 10 s; a
304 to an unconditional request; a credential never sent to a dl host
other than the upstream's, nor to a redirect target; token file and
command re-read after a 401; upstream config.json missing, not JSON or
failing; every dl marker; gzip, chunked and close-delimited upstream
bodies; a 4 MB index file; upstream_concurrency; one hanging upstream
request not blocking fetches of other files; an unreachable upstream
(connects hang) answered within the connect timeout; malformed paths
never forwarded; a mirror with a credential refusing to start on a
non-loopback listener; bad upstream URLs refused at start-up.

The hanging and trickling upstream cases run concurrently and are bounded
(crated gives up after ~25 s; asserted within 35 s)."""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

TTL = 1
AFTER_TTL = TTL + 1.5
SLOW_BOUND = 35.0       # seconds a hanging upstream may hold an answer

AZURE_401 = ('{"$id":"1","innerException":null,"message":"TF400813: The user \'x\' is not '
             'authorized to access this resource.","typeName":"Microsoft.TeamFoundation.'
             'Framework.Server.UnauthorizedRequestException","typeKey":"UnauthorizedRequest'
             'Exception","errorCode":0,"eventId":3000}')
SIGNIN_HTML = ('<!DOCTYPE html><html><head><title>Sign in to your account</title></head>'
               '<body><form action="/login">Sign in</form></body></html>')
TOKEN = "Bearer sekrit-upstream-token"


def sha(b):
    return S.sha256_hex(b)


class MirrorFixture(harness.TestCase):
    """A stand-in upstream with a registry tree at /reg/ and a crated
    mirroring it (registry "mirror")."""

    CRATES = ("f-warm", "f-cold")
    MIRROR_KW = {}
    CRATED_ENV = None

    def setUp(self):
        super().setUp()
        self.si, self.tree = S.standin_tree()
        self.addCleanup(self.si.stop)
        self.crates = {}
        for name in self.CRATES:
            self.crates[(name, "1.0.0")] = harness.make_crate(name, "1.0.0")
            self.tree.add(name, "1.0.0", self.crates[(name, "1.0.0")])
        kw = dict(index_ttl=TTL, negative_ttl=TTL)
        kw.update(self.MIRROR_KW)
        self.crated = self.start_crated(
            registries=S.mirror_toml("mirror", "sparse+%s/reg/" % self.si.base, **kw),
            env=self.CRATED_ENV)
        self.mdir = os.path.join(self.crated.data_dir, "mirror")

    # helpers
    def up_path(self, name):
        return "/reg/" + index_path(name)

    def get_index(self, name, timeout=harness.HTTP_TIMEOUT):
        return self.crated.get("/mirror/" + index_path(name), timeout=timeout)

    def cached_index(self, name):
        p = os.path.join(self.mdir, "index", index_path(name))
        if not os.path.exists(p):
            return None
        with open(p, "rb") as f:
            return f.read()

    def warm(self, name):
        r = self.get_index(name)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body(name))
        self.assertTrue(harness.wait_until(lambda: self.cached_index(name) == r.body, 5),
                        "index file of %s not cached" % name)
        return r.body

    def add_version(self, name, vers):
        crate = harness.make_crate(name, vers)
        self.crates[(name, vers)] = crate
        self.tree.add(name, vers, crate)

    def assert_alive(self):
        self.assertTrue(self.crated.running(), "crated died:\n" + self.crated.log_tail())
        self.assertEqual(S.health(self.crated), 200, self.crated.log_tail())

    def assert_stale(self, r, old_body):
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.crated.log_tail(8)))
        self.assertTrue(r.header("x-crated-stale"), "stale copy without X-Crated-Stale: %r" % r)
        self.assertEqual(r.body, old_body)

    def assert_upstream_error(self, r, statuses=(502,), must_contain=()):
        self.assertNotEqual(r.status, 404, "an upstream fault became a 404: %r" % r)
        self.assertIsNone(r.header("x-crated-stale"), r)
        detail = self.assertErrors(r, statuses)
        for s in must_contain:
            self.assertIn(s, detail, r)
        if r.status in (503, 429) or r.header("retry-after") is not None:
            ra = r.header("retry-after")
            if r.status == 503:
                self.assertIsNotNone(ra, "503 without Retry-After: %r" % r)
            if ra is not None:
                self.assertRegex(ra, r"^\d+$", r)
                self.assertLessEqual(int(ra), 10, r)
        return detail

    def assert_healed(self, name):
        r = self.get_index(name)
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.crated.log_tail(8)))
        self.assertIsNone(r.header("x-crated-stale"), r)
        self.assertEqual(r.body, self.tree.index_body(name))
        self.assertTrue(harness.wait_until(lambda: self.cached_index(name) == r.body, 5),
                        "healed index file of %s not written" % name)

    def assert_no_crate_cached(self, name):
        d = os.path.join(self.mdir, "crates", name)
        self.assertEqual(S.files_under(d) if os.path.isdir(d) else [], [],
                         "something was cached for %s" % name)

    def assert_tmp_clean(self):
        t = os.path.join(self.mdir, "tmp")
        harness.wait_until(lambda: not os.path.isdir(t) or not S.files_under(t), 5)
        self.assertEqual(S.files_under(t) if os.path.isdir(t) else [], [],
                         "temporary files left behind")

    def download(self, name, vers, timeout=20):
        """GET of a .crate on a raw connection: (Resp or None, error or None)."""
        path = "/mirror/api/v1/crates/%s/%s/download" % (name, vers)
        with harness.RawConn(self.crated.port, timeout=timeout) as c:
            c.send(harness.build_request("GET", path, [("Connection", "close")]))
            try:
                return c.read_response(), None
            except (ConnectionError, socket.timeout, ValueError) as e:
                return None, e


class IndexFaultTest(MirrorFixture):

    def index_fault(self, behaviour, kind, statuses=(502,), must_contain=(), wait=0.0):
        """kind: "stale" (transient) or "error" (configuration fault)."""
        old = self.warm("f-warm")
        self.add_version("f-warm", "1.0.1")     # what the heal must bring
        for name in ("f-warm", "f-cold"):
            self.si.set(self.up_path(name), behaviour)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        n_before = self.si.count(self.up_path("f-warm"))
        r = self.get_index("f-warm")
        self.assertGreater(self.si.count(self.up_path("f-warm")), n_before,
                           "crated did not ask the upstream after the TTL")
        if kind == "stale":
            self.assert_stale(r, old)
        else:
            self.assert_upstream_error(r, statuses, must_contain)
        r = self.get_index("f-cold")
        detail = self.assert_upstream_error(r, statuses, must_contain)
        # nothing bad cached
        self.assertEqual(self.cached_index("f-warm"), old, "the cached copy was changed")
        self.assertIsNone(self.cached_index("f-cold"), "a fault was cached for f-cold")
        self.assert_tmp_clean()
        self.assert_alive()
        # heal
        self.si.set(self.up_path("f-warm"), None)
        self.si.set(self.up_path("f-cold"), None)
        time.sleep(AFTER_TTL + wait)    # the TTL and the Retry-After run out: under test
        self.assert_healed("f-warm")
        self.assert_healed("f-cold")
        self.assert_alive()
        return detail

    def test_connection_refused(self):
        old = self.warm("f-warm")
        self.add_version("f-warm", "1.0.1")
        self.si.stop()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        self.assert_stale(self.get_index("f-warm"), old)
        self.assert_upstream_error(self.get_index("f-cold"), (502,))
        self.assertEqual(self.cached_index("f-warm"), old)
        self.assertIsNone(self.cached_index("f-cold"))
        self.assert_alive()
        self.si.restart()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        self.assert_healed("f-warm")
        self.assert_healed("f-cold")

    def test_http_500(self):
        self.index_fault(S.b_status(500, "internal error"), "stale", must_contain=("500",))

    def test_http_503(self):
        self.index_fault(S.b_status(503, "maintenance", [("Retry-After", "2")]), "stale",
                         statuses=(503,), wait=2)

    def test_http_429_retry_after(self):
        detail = self.index_fault(S.b_status(429, "slow down", [("Retry-After", "3")]), "stale",
                                  statuses=(503,), wait=3)
        # the first answer names the 429; requests inside the back-off
        # window are refused without asking the upstream: either wording
        self.assertRegex(detail, r"429|back off|backing off|Retry-After", detail)

    def test_retry_after_capped(self):
        # an upstream asking for 2 minutes (or an HTTP date far ahead):
        # clients are told at most 10 s, as cargo caps it there anyway
        for i, ra in enumerate(("120", "Wed, 21 Oct 2099 07:28:00 GMT")):
            # a crated of its own each: the first back-off would hide the second
            c = self.crated if i == 0 else self.start_crated(
                name="ra%d" % i, data_dir=os.path.join(self.tmp, "data-ra%d" % i),
                registries=S.mirror_toml("mirror", "sparse+%s/reg/" % self.si.base))
            name = "f-ra%d" % i
            self.si.set(self.up_path(name), S.b_status(429, "slow down", [("Retry-After", ra)]))
            for _ in range(2):      # the answer, then one inside the back-off
                r = c.get("/mirror/" + index_path(name))
                self.assert_upstream_error(r, (503,))
                self.assertIsNotNone(r.header("retry-after"), r)
            self.assertEqual(self.si.count(self.up_path(name)), 1)
            self.assertEqual(S.health(c), 200)

    def test_truncated_body(self):
        body = self.tree.index_body("f-warm")
        self.index_fault(S.b_truncate(body), "stale")

    def test_garbage_200(self):
        self.index_fault(S.b_body("garbage {not an index line\n\x01\x02\n"), "stale")

    def test_garbage_200_after_good_line(self):
        # a good first line followed by junk is still not an index file
        good = self.tree.index_body("f-warm")
        self.index_fault(S.b_body(good + b"}{ truncated json\n"), "stale")

    def test_401_azure(self):
        self.index_fault(S.b_status(401, AZURE_401, [("Content-Type", "application/json; charset=utf-8"),
                                                     ("WWW-Authenticate", "Bearer")]),
                         "error", must_contain=("TF400813",))

    def test_401_azure_through_cargo(self):
        # what a user sees: cargo's error carries the upstream's message
        self.si.set(self.up_path("f-cold"), S.b_status(401, AZURE_401, [
            ("Content-Type", "application/json; charset=utf-8")]))
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % self.crated.url)
        d = harness.make_project(os.path.join(self.tmp, "c"), "consumer", publish=False,
                                 deps='f-cold = { version = "1", registry = "mirror" }')
        rc, out, err = cargo.run(["generate-lockfile"], d, check=False, env={"CARGO_NET_RETRY": "0"})
        self.assertNotEqual(rc, 0, err)
        self.assertIn("TF400813", err, err)
        self.assertNotIn("no matching package", err, "the 401 looked like a missing crate:\n" + err)

    def test_403(self):
        self.index_fault(S.b_status(403, '{"errors":[{"detail":"forbidden by policy X"}]}',
                                    [("Content-Type", "application/json")]),
                         "error", must_contain=("forbidden by policy X",))

    def test_203_signin_page(self):
        self.index_fault(S.b_status(203, SIGNIN_HTML, [("Content-Type", "text/html")]), "error")

    def test_302_to_signin_page(self):
        self.si.set("/_signin", S.b_body(SIGNIN_HTML, ctype="text/html"))
        self.index_fault(S.b_redirect(self.si.url("/_signin?ReturnUrl=x")), "error")

    def test_redirect_not_followed(self):
        # a 302 without a Location: nothing to follow
        self.index_fault(S.b_status(302, "moved"), "error", must_contain=("302",))

    def test_304_to_unconditional_request(self):
        # a broken upstream (or cache in between) answering 304 although
        # crated has nothing cached: an error, nothing cached, heals
        self.si.set(self.up_path("f-cold"), S.b_status(304))
        self.assert_upstream_error(self.get_index("f-cold"), (502,))
        self.assertIsNone(self.cached_index("f-cold"))
        self.assert_alive()
        self.si.set(self.up_path("f-cold"), None)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        self.assert_healed("f-cold")

    def test_200_html_page(self):
        self.index_fault(S.b_body(SIGNIN_HTML, ctype="text/html"), "error")

    def test_hanging_and_trickling(self):
        # and a second mirror whose upstream stops accepting connections
        # (connect hangs: crated's connect timeout is 10 s)
        si2, tree2 = S.standin_tree()
        self.addCleanup(si2.stop)
        for n in ("f-bh-w", "f-bh-c"):
            tree2.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
        c2 = self.start_crated(name="blackholed", data_dir=os.path.join(self.tmp, "data2"),
                               registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si2.base,
                                                        index_ttl=TTL, negative_ttl=TTL))
        bh_old = c2.get("/mirror/" + index_path("f-bh-w"))
        self.assertEqual(bh_old.status, 200, bh_old)
        si2.stop()
        bh = S.Blackhole(si2.port)
        self.addCleanup(bh.stop)
        self.assertTrue(bh.connect_hangs(), "could not make connects to port %d hang" % bh.port)

        names = ("f-hang-w", "f-hang-c", "f-trk-w", "f-trk-c")
        for n in names:
            self.crates[(n, "1.0.0")] = harness.make_crate(n, "1.0.0")
            self.tree.add(n, "1.0.0", self.crates[(n, "1.0.0")])
        old = {n: self.warm(n) for n in ("f-hang-w", "f-trk-w")}
        for n in ("f-hang-w", "f-trk-w"):
            self.add_version(n, "1.0.1")
        for n in ("f-hang-w", "f-hang-c"):
            self.si.set(self.up_path(n), S.b_hang(max_s=60))
        for n in ("f-trk-w", "f-trk-c"):
            # a valid index body, 2 bytes a second: never completes in time
            self.si.set(self.up_path(n), S.b_trickle(self.tree.index_body(n) * 4, interval=0.5))
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        results = {}

        def get(n):
            t0 = time.monotonic()
            try:
                results[n] = (self.get_index(n, timeout=SLOW_BOUND + 10), time.monotonic() - t0)
            except Exception as e:   # noqa: BLE001
                results[n] = (e, time.monotonic() - t0)
        def get_bh(n):
            t0 = time.monotonic()
            try:
                results[n] = (c2.get("/mirror/" + index_path(n), timeout=SLOW_BOUND + 10),
                              time.monotonic() - t0)
            except Exception as e:   # noqa: BLE001
                results[n] = (e, time.monotonic() - t0)
        threads = [threading.Thread(target=get, args=(n,), daemon=True) for n in names]
        threads += [threading.Thread(target=get_bh, args=(n,), daemon=True)
                    for n in ("f-bh-w", "f-bh-c")]
        mark = self.si.mark()
        for t in threads:
            t.start()
        # meanwhile crated serves others at once: once it has asked the
        # upstream for each of them (and hangs on the answers)
        wanted = {self.up_path(n) for n in names}
        harness.wait_until(lambda: wanted <= {q.path.split("?")[0] for q in self.si.since(mark)}, 10)
        t0 = time.monotonic()
        self.assertEqual(S.health(self.crated), 200)
        r = self.get_index("f-cold")
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t0, 3.0, "crated stalled while the upstream hangs")
        for t in threads:
            t.join(timeout=SLOW_BOUND + 15)
        for n in names:
            with self.subTest(case=n):
                r, took = results[n]
                self.assertIsInstance(r, harness.Resp, "no answer for %s: %r" % (n, r))
                self.assertLess(took, SLOW_BOUND, "%s answered after %.1f s" % (n, took))
                if n.endswith("-w"):
                    self.assert_stale(r, old[n])
                else:
                    self.assert_upstream_error(r, (502, 503, 504))
                    self.assertIsNone(self.cached_index(n))
        for n, bound in (("f-bh-w", 15.0), ("f-bh-c", 15.0)):
            with self.subTest(case=n):
                r, took = results[n]
                self.assertIsInstance(r, harness.Resp, "no answer for %s: %r" % (n, r))
                self.assertLess(took, bound, "%s answered after %.1f s (connect timeout 10 s)"
                                % (n, took))
                if n.endswith("-w"):
                    self.assertEqual(r.status, 200, r)
                    self.assertTrue(r.header("x-crated-stale"), r)
                    self.assertEqual(r.body, bh_old.body)
                else:
                    self.assert_upstream_error(r, (502, 503, 504))
        self.assertEqual(S.health(c2), 200)
        for n in ("f-hang-w", "f-trk-w"):
            self.assertEqual(self.cached_index(n), old[n])
        self.assert_alive()
        self.si.release.set()       # end the hanging handlers
        self.si.clear_behaviours()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        for n in names:
            with self.subTest(heal=n):
                self.assert_healed(n)
        self.assert_tmp_clean()

    def test_negative_cache_then_heal(self):
        p = self.up_path("f-later")
        r = self.get_index("f-later")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.si.count(p), 1)
        r = self.get_index("f-later")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.si.count(p), 1, "404 not remembered within negative_ttl")
        self.assertIsNone(self.cached_index("f-later"))
        self.crates[("f-later", "1.0.0")] = harness.make_crate("f-later", "1.0.0")
        self.tree.add("f-later", "1.0.0", self.crates[("f-later", "1.0.0")])
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        self.assert_healed("f-later")

    def test_negative_entry_survives_upstream_outage_as_404(self):
        # a remembered 404 stays a 404 (not a 502) when the upstream then fails
        self.assertEqual(self.get_index("f-absent").status, 404)
        self.si.set(self.up_path("f-absent"), S.b_status(500, "boom"))
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.get_index("f-absent")
        self.assertIn(r.status, (404, 502), r)
        self.assert_alive()


class UpstreamBehaviourTest(MirrorFixture):

    def test_gzip_encoded_upstream(self):
        self.si.set("/reg/*", S.b_gzip_file())
        r = self.get_index("f-warm")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("f-warm"))
        self.assertTrue(harness.wait_until(lambda: self.cached_index("f-warm") == r.body, 5),
                        "cached file is not the decoded index: %r" % self.cached_index("f-warm"))
        req = self.si.reqs(self.up_path("f-warm"))[0]
        self.assertIn("gzip", req.header("accept-encoding") or "", req.headers)

    def test_upstream_concurrency_cap(self):
        # upstream_concurrency = 2 (below): 6 different index files at once
        names = ["f-cc%d" % i for i in range(6)]
        for n in names:
            self.crates[(n, "1.0.0")] = harness.make_crate(n, "1.0.0")
            self.tree.add(n, "1.0.0", self.crates[(n, "1.0.0")])
        gate = threading.Event()
        self.addCleanup(gate.set)
        cc = S.Concurrency(S.b_hold(gate, max_s=20))
        for n in names:
            self.si.set(self.up_path(n), cc)
        results = {}

        def get(n):
            try:
                results[n] = self.get_index(n, timeout=30)
            except Exception as e:   # noqa: BLE001
                results[n] = e
        threads = [threading.Thread(target=get, args=(n,), daemon=True) for n in names]
        misses0 = harness.metrics(self.crated).sum("crated_cache_misses_total")
        for t in threads:
            t.start()
        harness.wait_until(lambda: cc.now >= 2, 10)
        # crated has taken in all six (each counted a miss and started its
        # fill) and the stand-in sees every request crated has in flight: a
        # third one let through would be in cc.now by then
        harness.wait_until(lambda: harness.metrics(self.crated).sum("crated_cache_misses_total")
                           >= misses0 + len(names), 10)
        harness.wait_upstream_in_flight(self.crated, cc.now)
        self.assertEqual(cc.now, 2, "requests in flight upstream with upstream_concurrency = 2")
        gate.set()
        for t in threads:
            t.join(timeout=30)
        for n in names:
            self.assertIsInstance(results.get(n), harness.Resp, results.get(n))
            self.assertEqual(results[n].status, 200, results[n])
            self.assertEqual(results[n].body, self.tree.index_body(n))
        self.assertEqual(cc.peak, 2)

    def test_chunked_and_close_delimited_upstream(self):
        for name, b in (("f-warm", S.b_chunked()), ("f-cold", S.b_close_delimited())):
            with self.subTest(name=name):
                self.si.set(self.up_path(name), b)
                self.si.set("/dl/%s/1.0.0" % name, b)
                r = self.get_index(name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, self.tree.index_body(name))
                resp, err = self.download(name, "1.0.0")
                self.assertIsNone(err, err)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.body, self.crates[(name, "1.0.0")])

    def test_large_index_file(self):
        # ~4 MB, 12000 versions: byte for byte
        name = "f-huge"
        crate = harness.make_crate(name, "0.0.1")
        for i in range(12000):
            self.tree.index.setdefault(index_path(name), []).append(S.index_line(
                name, "0.%d.%d" % (i // 100, i % 100), S.sha256_hex(crate),
                deps=[S.index_dep("serde", "^1", registry="https://github.com/rust-lang/crates.io-index",
                                  features=["derive", "std"])],
                features={"default": ["std"], "std": [], "x%d" % i: []}))
        self.tree._sync()
        want = self.tree.index_body(name)
        self.assertGreater(len(want), 3 << 20)
        r = self.get_index(name)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(S.sha256_hex(r.body), S.sha256_hex(want))
        r = self.crated.get("/mirror/" + index_path(name), headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        if r.header("content-encoding") == "gzip":
            import gzip
            self.assertEqual(gzip.decompress(r.body), want)
        else:
            self.assertEqual(r.body, want)

    def test_malformed_paths_never_reach_upstream(self):
        # crated is no open proxy: only well-formed index paths go upstream.
        # The probe's config.json at start is not one of them: wait for it
        # (under load it came after the mark and failed this test).
        self.assertTrue(harness.wait_until(
            lambda: self.si.count("/reg/config.json") >= 1, 10))
        mark = self.si.mark()
        for p in ("/mirror/zz/zz/f-warm", "/mirror/F-/WA/F-WARM", "/mirror/f-/wa/../../config.json",
                  "/mirror/..%2f..%2fetc/passwd", "/mirror/3/f/f-warm", "/mirror/f-/wa/f-warm/",
                  "/mirror/api/v1/crates/f-warm/1.0.0/../../../../x",
                  "/mirror/api/v1/crates/f-warm/..%2f..%2f/download"):
            with self.subTest(path=p):
                r = harness.raw_exchange(self.crated.port, harness.build_request("GET", p))
                self.assertEqual(r.status, 404, r)
        self.assertEqual(self.si.since(mark), [])
        self.assert_alive()

    def test_slow_request_does_not_block_others(self):
        # one upstream request hangs; a fetch of another file proceeds
        self.si.set(self.up_path("f-warm"), S.b_hang(max_s=40))
        t = threading.Thread(target=lambda: self.get_index("f-warm", timeout=40), daemon=True)
        t.start()
        self.assertTrue(harness.wait_until(lambda: self.si.count(self.up_path("f-warm")) == 1, 10))
        t0 = time.monotonic()
        r = self.get_index("f-cold", timeout=40)
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertLess(took, 5.0, "a fetch of another index file waited %.1f s behind a hanging "
                        "upstream request" % took)
        self.si.release.set()
        t.join(timeout=40)

    MIRROR_KW = {"upstream_concurrency": 2}


class DownloadFaultTest(MirrorFixture):

    CRATES = ("f-ok", "f-bad", "f-trunc", "f-err")

    def setUp(self):
        super().setUp()
        # 3 MiB that gzip cannot shrink
        self.crates[("f-big", "1.0.0")] = harness.make_crate(
            "f-big", "1.0.0", extra_files={"data.bin": os.urandom(3 << 20)})
        self.tree.add("f-big", "1.0.0", self.crates[("f-big", "1.0.0")])

    def dl_path(self, name, vers="1.0.0"):
        return "/dl/%s/%s" % (name, vers)

    def assert_download_failed(self, name, vers="1.0.0"):
        resp, err = self.download(name, vers)
        good = self.crates[(name, vers)]
        if resp is not None:
            self.assertFalse(resp.status == 200 and resp.body == good,
                             "client got a complete, correct body?!")
            self.assertNotEqual(resp.status, 200,
                                "a bad .crate was delivered as a complete 200: %r" % resp)
        self.assertTrue(harness.wait_until(lambda: not os.path.isdir(os.path.join(self.mdir, "crates", name))
                                     or not S.files_under(os.path.join(self.mdir, "crates", name)), 3))
        self.assert_no_crate_cached(name)
        self.assert_tmp_clean()
        self.assert_alive()
        return resp, err

    def assert_download_ok(self, name, vers="1.0.0"):
        resp, err = self.download(name, vers)
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, self.crates[(name, vers)])
        low = name.lower()
        p = os.path.join(self.mdir, "crates", low, "%s-%s.crate" % (low, vers))
        self.assertTrue(harness.wait_until(lambda: os.path.isfile(p), 5), "not cached at %s" % p)
        with open(p, "rb") as f:
            self.assertEqual(f.read(), self.crates[(name, vers)])

    def test_good_download(self):
        self.assert_download_ok("f-ok")
        n = self.si.count(self.dl_path("f-ok"))
        self.assert_download_ok("f-ok")
        self.assertEqual(self.si.count(self.dl_path("f-ok")), n, "cached .crate fetched again")

    def test_checksum_mismatch(self):
        good = self.crates[("f-bad", "1.0.0")]
        evil = good[:-1] + bytes([good[-1] ^ 0xFF])     # same length, other bytes
        self.si.set(self.dl_path("f-bad"), S.b_body(evil, ctype="application/octet-stream"))
        resp, err = self.assert_download_failed("f-bad")
        if resp is not None:
            self.assertErrors(resp)
        # a large one: crated has streamed most of it before it can know
        big = self.crates[("f-big", "1.0.0")]
        evil_big = big[:-1] + bytes([big[-1] ^ 0xFF])
        self.si.set(self.dl_path("f-big"), S.b_body(evil_big, ctype="application/octet-stream"))
        resp, err = self.assert_download_failed("f-big")
        self.assertIsNone(resp, "a complete response for a bad large .crate: %r" % resp)
        self.si.set(self.dl_path("f-big"), None)
        self.assert_download_ok("f-big")
        # a longer, different body as well
        self.si.set(self.dl_path("f-bad"), S.b_body(good + b"tail", ctype="application/octet-stream"))
        self.assert_download_failed("f-bad")
        # cargo refuses it too (no retries, to stay quick)
        self.si.set(self.dl_path("f-bad"), S.b_body(evil, ctype="application/octet-stream"))
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % self.crated.url)
        d = harness.make_project(os.path.join(self.tmp, "c"), "consumer", publish=False,
                                 deps='f-bad = { version = "1", registry = "mirror" }')
        rc, out, err = cargo.run(["fetch"], d, check=False, env={"CARGO_NET_RETRY": "0"})
        self.assertNotEqual(rc, 0, "cargo accepted a bad .crate:\n" + err)
        cached = S.files_under(os.path.join(cargo.home, "registry", "cache")) \
            if os.path.isdir(os.path.join(cargo.home, "registry", "cache")) else []
        self.assertFalse([f for f in cached if "f-bad" in f], cached)
        self.assert_no_crate_cached("f-bad")
        # heal
        self.si.set(self.dl_path("f-bad"), None)
        self.assert_download_ok("f-bad")
        cargo.run(["fetch"], d, logs=[self.crated])

    def test_client_disconnects_mid_download(self):
        # the first client (the one crated streams to) goes away early; a
        # second one waiting for the same .crate still gets all of it, and
        # it is cached
        big = self.crates[("f-big", "1.0.0")]
        self.si.set(self.dl_path("f-big"), S.b_slow_body(big, chunk=128 << 10, interval=0.1))
        self.assertEqual(self.get_index("f-big").status, 200)
        path = "/mirror/api/v1/crates/f-big/1.0.0/download"
        first = harness.RawConn(self.crated.port, timeout=20)
        first.send(harness.build_request("GET", path))
        first.sock.settimeout(10)
        got = first.sock.recv(4096)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        results = {}

        def second():
            try:
                results["r"] = self.download("f-big", "1.0.0", timeout=40)
            except Exception as e:   # noqa: BLE001
                results["r"] = (None, e)
        t = threading.Thread(target=second, daemon=True)
        t.start()
        harness.wait_connections(self.crated, 2)   # the second is in before the first goes
        first.close()
        t.join(timeout=45)
        resp, err = results.get("r", (None, "no answer"))
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(sha(resp.body), sha(big), "second client got other bytes")
        self.assertEqual(self.si.count(self.dl_path("f-big")), 1, self.si.reqs(self.dl_path("f-big")))
        self.si.set(self.dl_path("f-big"), None)
        self.assert_download_ok("f-big")
        self.assertEqual(self.si.count(self.dl_path("f-big")), 1, "cached .crate fetched again")
        self.assert_alive()

    def test_truncated_crate(self):
        self.si.set(self.dl_path("f-trunc"),
                    S.b_truncate(self.crates[("f-trunc", "1.0.0")], ctype="application/octet-stream"))
        self.assert_download_failed("f-trunc")
        self.si.set(self.dl_path("f-trunc"), None)
        self.assert_download_ok("f-trunc")

    def test_crate_upstream_500(self):
        self.si.set(self.dl_path("f-err"), S.b_status(500, "crate store down"))
        resp, err = self.assert_download_failed("f-err")
        self.assertIsNotNone(resp, err)
        self.assertIn(resp.status, (502, 503), resp)
        self.assertErrors(resp, [502, 503])
        self.si.set(self.dl_path("f-err"), None)
        self.assert_download_ok("f-err")

    def test_crate_upstream_404(self):
        # the index names it, the store does not have it
        self.si.set(self.dl_path("f-err"), S.b_status(404, "no such blob"))
        resp, err = self.assert_download_failed("f-err")
        self.assertIsNotNone(resp, err)
        self.assertIn(resp.status, (404, 502), resp)
        self.si.set(self.dl_path("f-err"), None)
        self.assert_download_ok("f-err")

    def test_version_not_in_index(self):
        resp, err = self.download("f-ok", "9.9.9")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 404, resp)
        resp, err = self.download("f-nonexistent", "1.0.0")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 404, resp)
        self.assertEqual(self.si.count(prefix="/dl/"), 0, self.si.reqs(prefix="/dl/"))
        self.assert_no_crate_cached("f-ok")
        self.assert_alive()


class CredentialRedirectTest(MirrorFixture):
    """The upstream wants TOKEN on every request; its .crate URLs redirect
    to another port (a blob store) that fails any request carrying an
    Authorization header."""

    CRATES = ("f-auth",)
    MIRROR_KW = {"upstream_token_env": "CRATED_TEST_UPSTREAM_TOKEN"}
    CRATED_ENV = {"CRATED_TEST_UPSTREAM_TOKEN": TOKEN}

    def setUp(self):
        # clean_env() strips CRATED_* from the environment, then adds env
        super().setUp()
        self.blob = S.StandIn()
        self.addCleanup(self.blob.stop)
        crate = self.crates[("f-auth", "1.0.0")]
        self.blob.put_file("/blob/f-auth-1.0.0.crate", crate, "application/octet-stream")
        self.blob.set("/blob/*", S.b_require_no_auth())
        self.si.default = S.b_require_auth(TOKEN)
        self.si.set("/dl/f-auth/1.0.0", S.b_require_auth(
            TOKEN, then=S.b_redirect(self.blob.url("/blob/f-auth-1.0.0.crate"), ctype="text/plain")))

    def test_token_sent_upstream_not_to_redirect_target(self):
        r = self.get_index("f-auth")
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.crated.log_tail(8)))
        resp, err = self.download("f-auth", "1.0.0")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, "%r\nblob saw %r" % (resp, self.blob.reqs()))
        self.assertEqual(resp.body, self.crates[("f-auth", "1.0.0")])
        for req in self.si.reqs():
            self.assertEqual(req.header("authorization"), TOKEN, req)
        self.assertIn("/dl/f-auth/1.0.0", [q.path for q in self.si.reqs()])
        blob = self.blob.reqs()
        self.assertEqual(len(blob), 1, blob)
        self.assertIsNone(blob[0].header("authorization"), "credential leaked: %r" % blob[0])
        # crated does not hand its upstream credential to clients
        cfg = self.crated.get("/mirror/config.json")
        self.assertNotIn("sekrit", cfg.text())
        self.assertNotIn("sekrit", self.crated.log_text(), "token in crated's log")

    def test_index_redirect_to_other_port_without_token(self):
        self.blob.put_file("/blob/idx", self.tree.index_body("f-auth"))
        self.si.set(self.up_path("f-auth"), S.b_require_auth(
            TOKEN, then=S.b_redirect(self.blob.url("/blob/idx"), ctype="text/plain")))
        r = self.get_index("f-auth")
        self.assertEqual(r.status, 200, "%r\nblob saw %r" % (r, self.blob.reqs()))
        self.assertEqual(r.body, self.tree.index_body("f-auth"))
        blob = self.blob.reqs()
        self.assertEqual(len(blob), 1, blob)
        self.assertIsNone(blob[0].header("authorization"), "credential leaked: %r" % blob[0])

    def test_dl_template_on_another_host_gets_no_token(self):
        # config.json's dl names another host:port outright (as crates.io's
        # static.crates.io does): the upstream credential is not sent there
        self.si.put_file("/reg/config.json",
                         json.dumps({"dl": self.blob.url("/blob/{crate}-{version}.crate")}),
                         "application/json")
        resp, err = self.download("f-auth", "1.0.0")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, "%r\nblob saw %r" % (resp, self.blob.reqs()))
        self.assertEqual(resp.body, self.crates[("f-auth", "1.0.0")])
        blob = self.blob.reqs()
        self.assertEqual(len(blob), 1, blob)
        self.assertIsNone(blob[0].header("authorization"), "credential leaked: %r" % blob[0])

    def test_wrong_token_is_an_error_not_a_404(self):
        self.si.default = S.b_require_auth("Bearer something-else")
        r = self.get_index("f-auth")
        self.assert_upstream_error(r, (502,))
        self.assertIsNone(self.cached_index("f-auth"))
        self.assert_alive()


class TokenFileTest(MirrorFixture):
    """upstream_token_file: sent verbatim; after a 401 the file is read
    again, so a rotated token is picked up without a restart."""

    CRATES = ("f-auth",)

    def setUp(self):
        self.tokfile = os.path.join(harness.make_tempdir(), "token")
        self.addCleanup(harness.remove_tempdir, os.path.dirname(self.tokfile))
        with open(self.tokfile, "w") as f:
            f.write(TOKEN + "\n")
        self.MIRROR_KW = {"upstream_token_file": self.tokfile}
        super().setUp()
        self.si.default = S.b_require_auth(TOKEN)

    def rotate_and_recover(self):
        r = self.get_index("f-auth")
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.crated.log_tail(8)))
        self.assertEqual({q.header("authorization") for q in self.si.reqs()}, {TOKEN})
        # the upstream now wants a new token; the old one gets 401s
        new = TOKEN + "-rotated"
        self.si.default = S.b_require_auth(new)
        self.crates[("f-auth2", "1.0.0")] = harness.make_crate("f-auth2", "1.0.0")
        self.tree.add("f-auth2", "1.0.0", self.crates[("f-auth2", "1.0.0")])
        r = self.get_index("f-auth2")
        self.assert_upstream_error(r, (502,))
        with open(self.tokfile, "w") as f:
            f.write(new + "\n")
        ok = harness.wait_until(lambda: self.get_index("f-auth2").status == 200, 10, interval=0.5)
        self.assertTrue(ok, "rotated token not picked up after a 401:\n" + self.crated.log_tail(10))
        self.assertEqual(self.si.reqs()[-1].header("authorization"), new)
        self.assertNotIn("sekrit", self.crated.log_text(), "token in crated's log")

    def test_token_file_rotation(self):
        self.rotate_and_recover()


class TokenCommandTest(TokenFileTest):
    """upstream_token_command: its output is the token; re-run after a 401."""

    def setUp(self):
        self.tokfile = os.path.join(harness.make_tempdir(), "token")
        self.addCleanup(harness.remove_tempdir, os.path.dirname(self.tokfile))
        with open(self.tokfile, "w") as f:
            f.write(TOKEN + "\n")
        self.MIRROR_KW = {"upstream_token_command": "cat %s" % self.tokfile}
        MirrorFixture.setUp(self)
        self.si.default = S.b_require_auth(TOKEN)

    def test_token_file_rotation(self):
        self.rotate_and_recover()


class NoDlTest(MirrorFixture):
    """The upstream's config.json has no dl."""

    CRATES = ("f-nodl",)

    def setUp(self):
        super().setUp()
        self.tree.dl_saved = self.tree.dl
        self.si.put_file("/reg/config.json", json.dumps({"api": self.si.base}), "application/json")

    def test_index_works_download_fails_clearly(self):
        r = self.get_index("f-nodl")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("f-nodl"))
        resp, err = self.download("f-nodl", "1.0.0")
        self.assertIsNone(err, err)
        detail = self.assert_upstream_error(resp, (502,))
        self.assertIn("dl", detail)
        self.assert_no_crate_cached("f-nodl")
        self.assert_alive()
        # heal: config.json gets its dl back; after the TTL downloads work
        self.si.put_file("/reg/config.json", self.tree.config_json(self.si.base), "application/json")
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        resp, err = self.download("f-nodl", "1.0.0")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, "%r\n%s" % (resp, self.crated.log_tail(8)))
        self.assertEqual(resp.body, self.crates[("f-nodl", "1.0.0")])


class BadUpstreamConfigTest(MirrorFixture):
    """The upstream's config.json is missing (404) or not JSON."""

    CRATES = ("f-cfg",)

    def check(self, behaviour):
        self.si.set("/reg/config.json", behaviour)
        r = self.get_index("f-cfg")
        self.assertEqual(r.status, 200, r)
        resp, err = self.download("f-cfg", "1.0.0")
        self.assertIsNone(err, err)
        detail = self.assert_upstream_error(resp, (502, 503))
        self.assertIn("config.json", detail)
        self.assert_no_crate_cached("f-cfg")
        self.assert_alive()
        r = self.crated.get("/mirror/config.json")
        self.assertEqual(r.status, 200, "crated's own config.json depends on the upstream's: %r" % r)
        self.si.set("/reg/config.json", None)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        resp, err = self.download("f-cfg", "1.0.0")
        self.assertIsNone(err, err)
        self.assertEqual(resp.status, 200, resp)

    def test_config_404(self):
        self.check(S.b_status(404, "no config here"))

    def test_config_not_json(self):
        self.check(S.b_body("{ this is not json", ctype="application/json"))

    def test_config_500(self):
        self.check(S.b_status(500, "config store down"))


class DlTemplateTest(harness.TestCase):
    """Every dl marker and the no-marker default, on a mixed-case name."""

    TEMPLATES = (
        "/t1/{crate}/{version}/download",
        "/t2/{prefix}/{crate}-{version}.crate",
        "/t3/{lowerprefix}/{crate}-{version}.crate",
        "/t4/{sha256-checksum}",
        "/t5/api/v1/crates",                       # no marker: + /{crate}/{version}/download
        "/t6/{lowerprefix}/{prefix}/{crate}/{version}/{sha256-checksum}.crate",
    )

    def test_markers(self):
        si = S.StandIn()
        self.addCleanup(si.stop)
        regs = ""
        trees = []
        for i, tpl in enumerate(self.TEMPLATES):
            t = S.RegistryTree(base="/r%d/" % i, dl=tpl)
            t.attach_standin(si)
            trees.append(t)
            # the upstream URL with and without "sparse+"
            regs += S.mirror_toml("m%d" % i, "%s%s/r%d/" % ("sparse+" if i % 2 == 0 else "", si.base, i),
                                  index_ttl=60)
        crated = self.start_crated(registries=regs)
        for name in ("Mixed_Case", "abc", "x"):
            crate = harness.make_crate(name, "1.0.0+build.7")
            for i, t in enumerate(trees):
                t.add(name, "1.0.0+build.7", crate)
            for i, t in enumerate(trees):
                with self.subTest(template=t.dl, name=name):
                    want = S.expand_dl(t.dl, name, "1.0.0+build.7", S.sha256_hex(crate))
                    r = crated.get("/m%d/api/v1/crates/%s/1.0.0+build.7/download" % (i, name))
                    self.assertEqual(r.status, 200, "%r\nupstream saw %r" % (r, si.reqs()[-3:]))
                    self.assertEqual(r.body, crate)
                    self.assertIn(want, [q.path for q in si.reqs()])
                    low = name.lower()
                    p = os.path.join(crated.data_dir, "m%d" % i, "crates", low,
                                     "%s-1.0.0+build.7.crate" % low)
                    self.assertTrue(harness.wait_until(lambda: os.path.isfile(p), 5),
                                    "not cached at %s" % p)


class ListenerPolicyTest(harness.TestCase):

    def test_credential_on_public_listener_refused(self):
        path = os.path.join(self.tmp, "c.toml")
        harness.write_config(path, os.path.join(self.tmp, "data"), listen=("0.0.0.0:0",),
                             extra='public_url = "http://crated.invalid"\n',
                             registries=S.mirror_toml("mirror", "sparse+http://127.0.0.1:9/reg/",
                                                      upstream_token_env="CRATED_TEST_TOK"))
        try:
            rc, out, err = harness.run_crated(["serve", "--config", path], cwd=self.tmp, timeout=10,
                                              env={"CRATED_TEST_TOK": "x"})
        except Exception as e:   # noqa: BLE001 - subprocess.run killed it
            self.fail("crated kept running with a credential on 0.0.0.0: %s" % e)
        self.assertNotEqual(rc, 0)
        self.assertIn("mirror", err + out)
        self.assertRegex(err + out, r"auth_required|allow_anonymous")
        # on loopback the same mirror starts without either flag
        harness.write_config(path, os.path.join(self.tmp, "data"), listen=("127.0.0.1:0",),
                             registries=S.mirror_toml("mirror", "sparse+http://127.0.0.1:9/reg/",
                                                      upstream_token_env="CRATED_TEST_TOK"))
        c = self.start_crated(config_path=path, env={"CRATED_TEST_TOK": "x"})
        self.assertEqual(S.health(c), 200)

    def test_bad_upstream_urls_refused(self):
        for url in ("sparse+http://127.0.0.1:9/reg", "ftp://127.0.0.1/reg/", "not a url",
                    "sparse+http://127.0.0.1:9/reg/?x=1"):
            with self.subTest(url=url):
                path = os.path.join(self.tmp, "bad.toml")
                harness.write_config(path, os.path.join(self.tmp, "data"),
                                     registries=S.mirror_toml("mirror", url))
                try:
                    rc, out, err = harness.run_crated(["serve", "--config", path], cwd=self.tmp,
                                                      timeout=10)
                except Exception as e:   # noqa: BLE001
                    self.fail("crated kept running with upstream = %r: %s" % (url, e))
                self.assertNotEqual(rc, 0, "accepted upstream = %r" % url)
                self.assertRegex(err + out, r"bad\.toml:\d+:", err)


if __name__ == "__main__":
    harness.main()
