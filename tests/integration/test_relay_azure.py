#!/usr/bin/env python3
"""crated's upload relay in front of an Azure DevOps Cargo feed stand-in
(azure_standin.py: HTTPS with a test CA, PAT auth, GUID dl/api, 302 to a
blob port, 3 s index propagation delay, empty yank bodies, Azure errors).

Real cargo with a fresh CARGO_HOME talks only to crated
(`[registries.corp] index = "sparse+http://127.0.0.1:CRATED/corp/"`); crated
relays writes to the feed with its own credential.

Steps (run in order on one feed and one crated "A"; later steps skip when a
step they need failed):
  01 cargo publish of a mixed-case crate at 0.1.2-20240416+build.5, through
     the feed's 3 s delay, no "timed out waiting"; publish->visible latency
  02 a crate depending on it (=0.1.2-20240416, registry corp) publishes too
  03 cargo yank / yank --undo, visible through crated's index
  04 a consumer builds the second crate through a fresh crated "D" (the
     downloads go crated -> feed 302 -> blob port, no Authorization there)
  05 duplicate publish (raw PUT) -> 4xx with the feed's "already contains"
  06 bad credential (crated "B" with a wrong CORP_TOKEN): reads 502 with
     TF400813, writes an error with TF400813
  06b a credential revoked under crated A: the relayed PUT's 401 becomes an
     error with TF400813, and not a 401 (crated's credential, not cargo's)
  07 garbage publish bodies -> 400, the feed sees no request at all
  08 relay_writes = false (crated "C") -> read-only errors, nothing relayed
  09 feed down -> a publish through crated fails clearly within 30 s
  10 the secret (and its base64 forms) never appears in any crated log;
     one audit line per relayed write
"""

import base64
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, make_crate, publish_body, sha256_hex  # noqa: E402
import azure_standin as az  # noqa: E402
from relay_common import CorpCargo, corp_registries, project  # noqa: E402

BIND = "Mshv_Bindings"
BIND_V = "0.1.2-20240416+build.5"
IOCTLS = "mshv-ioctls"
IOCTLS_V = "0.3.0"
SEED = "corp-seed"
SEED_V = "1.0.0"
DELAY = 3.0
TIMEOUT_RE = re.compile(r"time(d)?[ -]?out waiting", re.I)


def packaged_crate(target, name, vers):
    fname = "%s-%s.crate" % (name, vers)
    for sub in ("tmp-crate", ""):
        p = os.path.join(target, "package", sub, fname)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                return f.read()
    return None


class RelayAzureTest(unittest.TestCase):
    maxDiff = 6000
    done = set()

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.make_tempdir("crated-relay-")
        cls.ca = az.make_test_ca(os.path.join(cls.tmp, "ca"))
        cls.feed = az.AzureFeed(cls.ca, org="AzureContainerUpstream", feed="hyperlight_redist",
                                publish_delay=DELAY).start()
        cls.seed_crate = make_crate(SEED, SEED_V)
        cls.feed.seed(SEED, SEED_V, cls.seed_crate)
        cls.logs = []
        cls.servers = []
        cls.srv = cls.start_server("crated-a", extra='log_level = "debug"\n')
        cls.cargo = CorpCargo(os.path.join(cls.tmp, "a"), cls.srv.port)
        cls.proj = os.path.join(cls.tmp, "projects")
        os.makedirs(cls.proj)

    @classmethod
    def start_server(cls, name, token=None, relay_writes=True, extra=""):
        d = os.path.join(cls.tmp, name)
        os.makedirs(d, exist_ok=True)
        srv = harness.start_crated(
            d, name=name, config_extra=extra,
            registries=corp_registries(cls.feed, cls.ca.ca_cert, relay_writes),
            env={"CORP_TOKEN": token if token is not None else cls.feed.token})
        cls.servers.append(srv)
        cls.logs.append(srv.log_path)
        cls.logs.append(srv.out_path)
        return srv

    @classmethod
    def tearDownClass(cls):
        # crated A must exit 0 on SIGTERM with a clean (sanitizer) log
        errors = []
        try:
            for s in cls.servers:
                if s.running():
                    try:
                        s.stop()
                    except AssertionError as e:
                        errors.append(e)
        finally:
            cls.feed.stop()
            harness.remove_tempdir(cls.tmp)
        if errors:
            raise errors[0]

    def needs(self, *steps):
        for s in steps:
            if s not in RelayAzureTest.done:
                self.skipTest("needs step %s, which failed" % s)

    def passed(self, step):
        RelayAzureTest.done.add(step)

    def cargo_ok(self, args, cwd, env=None, cargo=None, srv=None):
        return (cargo or self.cargo).run_cargo(args, cwd, check=True, env=env,
                                               server=srv or self.srv)

    def index_via(self, srv, name):
        r = srv.get("/corp/%s" % harness.index_path(name))
        self.assertEqual(r.status, 200, "index of %s through crated: %r\nlog:\n%s"
                         % (name, r, srv.log_tail()))
        return [json.loads(l) for l in r.body.decode().split("\n") if l.strip()]

    def stop_server(self, srv):
        srv.stop()

    def feed_idle(self):
        """Waits until crated has nothing in flight to the feed (reads and
        relayed writes): the feed's request log is then complete."""
        def idle():
            ex = harness.metrics(self.srv)
            return (ex.get("crated_upstream_requests_in_flight") == 0
                    and ex.get("crated_relayed_writes_in_flight", registry="corp") == 0)
        harness.wait_until(idle, 5)

    # ----------------------------------------------------------------------

    def test_01_publish_mixed_case_prerelease(self):
        feed = self.feed
        feed.publish_status = 202   # a 2xx that cargo itself would refuse
        d = project(os.path.join(self.proj, BIND), BIND, BIND_V,
                    lib_rs="#![allow(non_snake_case)]\npub fn bindings() -> u32 { 41 }\n")
        ipath = feed.index_file_path(BIND)
        t0 = time.monotonic()
        rc, out, err = self.cargo_ok(["publish", "--registry", "corp"], d)
        took = time.monotonic() - t0
        feed.publish_status = 200
        self.assertFalse(TIMEOUT_RE.search(err), "cargo timed out waiting:\n" + err)
        self.assertRegex(err, r"Published %s v%s at registry `corp`" % (BIND, re.escape(BIND_V)),
                         "cargo did not confirm the publish:\n" + err)
        # exactly one upload reached the feed, with crated's credential
        pubs = [p for p in feed.publishes if p["name"] == BIND]
        self.assertEqual(len(pubs), 1, "uploads at the feed: %r" % [(p["name"], p["vers"]) for p in feed.publishes])
        self.assertEqual(pubs[0]["vers"], BIND_V)
        self.assertEqual(pubs[0]["auth"], feed.token,
                         "the relayed PUT must carry crated's credential, not the client's")
        # the .crate cargo packaged reached the feed byte for byte
        packaged = packaged_crate(self.cargo.target, BIND, BIND_V)
        self.assertIsNotNone(packaged, "cargo's packaged .crate not found")
        self.assertEqual(pubs[0]["crate"], packaged, "the .crate was changed on the way")
        # crated serves the new line, exact name and cksum
        lines = self.index_via(self.srv, BIND)
        self.assertEqual([(l["name"], l["vers"]) for l in lines], [(BIND, BIND_V)])
        self.assertEqual(lines[0]["cksum"], sha256_hex(packaged))
        # latency: upload at the feed -> first index answer carrying the version
        key = (BIND.lower(), BIND_V)
        t_put = pubs[0]["t"]
        t_vis = feed.visible_at.get(key)
        t_served = feed.first_served.get(key)
        self.assertIsNotNone(t_vis, "the feed never appended the line")
        self.assertIsNotNone(t_served, "the feed never served the new line")
        lat = t_served - t_put
        polls = feed.count("GET", ipath, lambda r: t_put <= r["t"] <= t_served)
        print("\n    publish->visible latency through crated: %.2f s (stand-in delay %.1f s, "
              "line appended after %.2f s; %d upstream index fetches while waiting; "
              "cargo publish took %.1f s)" % (lat, DELAY, t_vis - t_put, polls, took),
              file=sys.stderr)
        self.assertGreaterEqual(lat, DELAY - 0.05)
        self.assertLess(lat, DELAY + 5.0, "crated kept serving the old index after the publish")
        self.assertGreaterEqual(polls, 2, "cargo's polls were not sent straight upstream "
                                "(crated served them from cache)")
        # crated kept the uploaded .crate: served without asking the feed
        n_dl = feed.count("GET", feed.api_path("/%s/%s/download" % (BIND, BIND_V)))
        r = self.srv.get("/corp/api/v1/crates/%s/%s/download" % (BIND, BIND_V))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, packaged)
        self.assertEqual(feed.count("GET", feed.api_path("/%s/%s/download" % (BIND, BIND_V))), n_dl,
                         "crated fetched the crate it had just uploaded from the feed")
        self.passed(1)

    def test_02_publish_dependent(self):
        self.needs(1)
        feed = self.feed
        d = project(os.path.join(self.proj, IOCTLS), IOCTLS, IOCTLS_V,
                    deps='%s = { path = "../%s", version = "=0.1.2-20240416", registry = "corp" }'
                    % (BIND, BIND),
                    lib_rs="pub fn ioctl() -> u32 { Mshv_Bindings::bindings() + 1 }\n")
        rc, out, err = self.cargo_ok(["publish", "--registry", "corp"], d)
        self.assertFalse(TIMEOUT_RE.search(err), "cargo timed out waiting:\n" + err)
        self.assertIn("Published %s v%s" % (IOCTLS, IOCTLS_V), err)
        # the verify build compiled against the registry copy of the dependency
        self.assertRegex(err, r"Compiling %s v%s" % (BIND, re.escape(BIND_V)), err)
        pubs = [p for p in feed.publishes if p["name"] == IOCTLS]
        self.assertEqual(len(pubs), 1)
        deps = pubs[0]["meta"]["deps"]
        self.assertEqual([(x["name"], x["version_req"]) for x in deps], [(BIND, "=0.1.2-20240416")])
        self.assertIsNone(deps[0].get("registry"), "same-registry dep must carry no registry URL: %r" % deps)
        lines = self.index_via(self.srv, IOCTLS)
        self.assertEqual([(l["name"], l["vers"]) for l in lines], [(IOCTLS, IOCTLS_V)])
        self.assertEqual(lines[0]["deps"][0]["name"], BIND)
        # the verify build got the dependency from crated's kept copy
        self.assertEqual(feed.count("GET", feed.api_path("/%s/%s/download" % (BIND, BIND_V))), 0)
        self.assertEqual(feed.violations, [])
        self.passed(2)

    def test_03_yank_unyank(self):
        self.needs(1)
        feed = self.feed
        d = os.path.join(self.proj, BIND)
        ypath = feed.api_path("/%s/%s/yank" % (BIND, BIND_V))
        upath = feed.api_path("/%s/%s/unyank" % (BIND, BIND_V))
        rc, out, err = self.cargo_ok(["yank", "--version", BIND_V, "--registry", "corp", BIND], d)
        feed.wait(lambda: feed.count("DELETE", ypath, lambda r: r["status"] == 200) >= 1, 5)
        self.assertEqual(feed.count("DELETE", ypath, lambda r: r["status"] == 200), 1, err)
        self.assertTrue(feed.lines(BIND)[0]["yanked"])
        lines = self.index_via(self.srv, BIND)
        self.assertIs(lines[0].get("yanked"), True, "yank not visible through crated: %r" % lines)
        rc, out, err = self.cargo_ok(["yank", "--undo", "--version", BIND_V, "--registry", "corp",
                                      BIND], d)
        feed.wait(lambda: feed.count("PUT", upath, lambda r: r["status"] == 204) >= 1, 5)
        self.assertEqual(feed.count("PUT", upath, lambda r: r["status"] == 204), 1, err)
        self.assertFalse(feed.lines(BIND)[0]["yanked"])
        lines = self.index_via(self.srv, BIND)
        self.assertIs(lines[0].get("yanked"), False, "unyank not visible through crated: %r" % lines)
        # the raw answers are cargo's shape
        r = self.srv.request("DELETE", "/corp/api/v1/crates/%s/%s/yank" % (BIND, BIND_V),
                             headers={"Authorization": "anything"})
        self.assertEqual((r.status, r.json() if r.body else None), (200, {"ok": True}), r)
        r = self.srv.request("PUT", "/corp/api/v1/crates/%s/%s/unyank" % (BIND, BIND_V), body=b"",
                             headers={"Authorization": "anything"})
        self.assertEqual((r.status, r.json() if r.body else None), (200, {"ok": True}), r)
        self.assertFalse(feed.lines(BIND)[0]["yanked"])
        self.passed(3)

    def test_04_consumer_build_fresh_mirror(self):
        self.needs(2)
        feed = self.feed
        srv = self.start_server("crated-d")
        try:
            cargo = CorpCargo(os.path.join(self.tmp, "d"), srv.port)
            d = project(os.path.join(self.proj, "consumer"), "consumer", "0.1.0",
                        deps='%s = { version = "0.3", registry = "corp" }' % IOCTLS,
                        lib_rs="pub fn c() -> u32 { mshv_ioctls::ioctl() }\n", publish=False)
            self.cargo_ok(["build"], d, cargo=cargo, srv=srv)
            lock = {p["name"]: p for p in harness.read_lock(os.path.join(d, "Cargo.lock"))}
            src = "sparse+http://127.0.0.1:%d/corp/" % srv.port
            for name, vers in ((BIND, BIND_V), (IOCTLS, IOCTLS_V)):
                self.assertIn(name, lock)
                self.assertEqual(lock[name]["version"], vers)
                self.assertEqual(lock[name]["source"], src)
                self.assertEqual(lock[name]["checksum"], sha256_hex(feed.crate(name, vers)))
                self.assertGreaterEqual(
                    feed.count("GET", feed.api_path("/%s/%s/download" % (name, vers)),
                               lambda r: r["status"] == 302), 1,
                    "crated D did not download %s through the feed" % name)
            blob_ok = [r for r in feed.blob_requests if r["status"] == 200]
            self.assertGreaterEqual(len(blob_ok), 2, feed.blob_requests)
            self.assertEqual(feed.violations, [], "Authorization leaked to blob storage")
            self.assertTrue(all(r["auth"] is None for r in feed.blob_requests))
        finally:
            self.stop_server(srv)
        self.passed(4)

    def test_05_duplicate_publish(self):
        feed = self.feed
        before = feed.lines(SEED)
        n_put = feed.count("PUT", feed.api_path("/new"))
        r = self.srv.publish(crate_meta(SEED, SEED_V), make_crate(SEED, SEED_V), reg="corp",
                             timeout=30)
        detail = harness.errors_detail(self, r)
        self.assertTrue(400 <= r.status < 500, "duplicate must be a 4xx: %r" % r)
        self.assertIn("already contains", detail)
        self.assertIn("409", detail, "the upstream status should be named: %r" % detail)
        # The stand-in records a status after sending it: give its thread
        # a moment (bounded) before counting.
        feed.wait(lambda: feed.count("PUT", feed.api_path("/new"),
                                     lambda r: r["status"] == 409) >= 1, 5)
        self.assertEqual(feed.count("PUT", feed.api_path("/new"), lambda r: r["status"] == 409),
                         1)
        self.assertEqual(feed.count("PUT", feed.api_path("/new")), n_put + 1, "retried?")
        self.assertEqual(feed.lines(SEED), before)
        # cargo's own view of it: "already exists" before uploading (it checks the index)
        if 1 in RelayAzureTest.done:
            rc, out, err = self.cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"],
                                                os.path.join(self.proj, BIND), check=False)
            self.assertNotEqual(rc, 0)
            self.assertIn("already exists", err)

    def test_06_bad_credential(self):
        feed = self.feed
        wrong = az.basic_token("not-the-secret")
        srv = self.start_server("crated-b", token=wrong)
        try:
            # reads: 502 with the feed's message
            r = srv.get("/corp/%s" % harness.index_path(SEED), timeout=30)
            detail = harness.errors_detail(self, r, (502,))
            self.assertIn("TF400813", detail)
            self.assertIn(wrong, feed.auth_values())
            # writes: an error with the feed's message
            r = srv.publish(crate_meta("brand-new", "1.0.0"), make_crate("brand-new", "1.0.0"),
                            reg="corp", timeout=30)
            detail = harness.errors_detail(self, r)
            self.assertIn("TF400813", detail)
            r = srv.request("DELETE", "/corp/api/v1/crates/%s/%s/yank" % (SEED, SEED_V),
                            headers={"Authorization": "anything"}, timeout=30)
            detail = harness.errors_detail(self, r)
            self.assertIn("TF400813", detail)
            self.assertFalse(feed.lines(SEED)[0]["yanked"])
            # cargo shows it too
            cargo = CorpCargo(os.path.join(self.tmp, "b"), srv.port)
            d = project(os.path.join(self.proj, "brand-new"), "brand-new", "1.0.0")
            t0 = time.monotonic()
            rc, out, err = cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d,
                                           check=False, env={"CARGO_NET_RETRY": "0"}, timeout=120)
            self.assertNotEqual(rc, 0, err)
            self.assertIn("TF400813", err)
            self.assertLess(time.monotonic() - t0, 60)
        finally:
            self.stop_server(srv)
        self.assertEqual([p for p in feed.publishes if p["name"] == "brand-new"], [])

    def test_06b_credential_revoked_while_running(self):
        # crated A already knows the feed's api, so the relayed PUT itself
        # gets the feed's 401
        feed = self.feed
        n = feed.count("PUT", feed.api_path("/new"))
        feed.set_secrets("rotated-" + feed.secret)
        try:
            r = self.srv.publish(crate_meta("revoked", "1.0.0"), make_crate("revoked", "1.0.0"),
                                 reg="corp", timeout=30)
        finally:
            feed.set_secrets(feed.secret[len("rotated-"):])
        detail = harness.errors_detail(self, r)
        self.assertIn("TF400813", detail)
        self.assertEqual(feed.count("PUT", feed.api_path("/new")), n + 1)
        # relay.c: "A refused server credential is crated's problem, not the
        # client's: 502, as for reads" (relay_auth = server)
        self.assertEqual(r.status, 502, "crated's own credential was refused, which is not the "
                         "client's fault: want 502 as for reads, got %r" % r)

    def test_07_garbage_body(self):
        feed = self.feed
        good_meta = json.dumps(crate_meta("garb", "1.0.0")).encode()
        crate = make_crate("garb", "1.0.0")
        p = lambda n: n.to_bytes(4, "little")  # noqa: E731
        bodies = {
            "empty": b"",
            "short": b"\x05\x00",
            "json length past end": p(1000) + b"{}",
            "json invalid": p(3) + b"{{{" + p(0),
            "json not an object": p(5) + b"[1,2]" + p(len(crate)) + crate,
            "crate length too big": p(len(good_meta)) + good_meta + p(len(crate) + 10) + crate,
            "trailing bytes": p(len(good_meta)) + good_meta + p(len(crate)) + crate + b"xx",
            "no name": publish_body({"vers": "1.0.0", "deps": []}, crate),
            "bad name": publish_body(crate_meta("bad name!", "1.0.0"), crate),
            "bad version": publish_body(crate_meta("garb", "1.0"), crate),
        }
        self.feed_idle()
        n = feed.total()
        for what, body in bodies.items():
            with self.subTest(body=what):
                r = self.srv.request("PUT", "/corp/api/v1/crates/new", body=body,
                                     headers={"Authorization": "anything"})
                harness.errors_detail(self, r, (400,))
        self.feed_idle()
        self.assertEqual(feed.total(), n, "the feed saw requests for garbage bodies")

    def test_08_read_only(self):
        feed = self.feed
        srv = self.start_server("crated-c", relay_writes=None)   # the default: false
        try:
            before = feed.count("PUT") + feed.count("DELETE")
            self.assertEqual(len(self.index_via(srv, SEED)), 1)  # reads work
            r = srv.publish(crate_meta("ro-crate", "1.0.0"), make_crate("ro-crate", "1.0.0"),
                            reg="corp")
            detail = harness.errors_detail(self, r)
            self.assertTrue(400 <= r.status < 500, r)
            self.assertRegex(detail, r"(?i)read[- ]only")
            r = srv.request("DELETE", "/corp/api/v1/crates/%s/%s/yank" % (SEED, SEED_V),
                            headers={"Authorization": "anything"})
            self.assertRegex(harness.errors_detail(self, r), r"(?i)read[- ]only")
            cargo = CorpCargo(os.path.join(self.tmp, "c"), srv.port)
            d = project(os.path.join(self.proj, "ro-crate"), "ro-crate", "1.0.0")
            rc, out, err = cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d,
                                           check=False)
            self.assertNotEqual(rc, 0, err)
            self.assertRegex(err, r"(?i)read[- ]only")
            rc, out, err = cargo.run_cargo(["yank", "--version", SEED_V, "--registry", "corp",
                                            SEED], d, check=False)
            self.assertNotEqual(rc, 0, err)
            self.assertRegex(err, r"(?i)read[- ]only")
            self.assertEqual(feed.count("PUT") + feed.count("DELETE"), before)
            self.assertFalse(feed.lines(SEED)[0]["yanked"])
        finally:
            self.stop_server(srv)

    def test_09_upstream_down(self):
        feed = self.feed
        d = project(os.path.join(self.proj, "down-crate"), BIND, "0.1.3",
                    lib_rs="#![allow(non_snake_case)]\npub fn bindings() -> u32 { 42 }\n")
        # crated A has the crate's index and the feed's api; now the feed goes away
        self.assertEqual(len(self.index_via(self.srv, BIND)), 1)
        feed.stop()
        t0 = time.monotonic()
        r = self.srv.publish(crate_meta(BIND, "0.1.4"), make_crate(BIND, "0.1.4"), reg="corp",
                             timeout=40)
        el = time.monotonic() - t0
        detail = harness.errors_detail(self, r)
        self.assertTrue(500 <= r.status < 600, r)
        self.assertLess(el, 30.0)
        print("\n    raw publish with the feed down: %d in %.2f s: %s" % (r.status, el, detail),
              file=sys.stderr)
        t0 = time.monotonic()
        rc, out, err = self.cargo.run_cargo(["publish", "--registry", "corp"], d, check=False,
                                            timeout=120)
        el = time.monotonic() - t0
        self.assertNotEqual(rc, 0, err)
        self.assertLess(el, 30.0, "cargo publish with the feed down took %.1f s:\n%s" % (el, err))
        self.assertRegex(err, r"(?i)upstream|unreachable|feed", err)
        print("    cargo publish with the feed down failed after %.1f s:\n%s"
              % (el, "\n".join("      " + l for l in err.strip().splitlines()[-6:])),
              file=sys.stderr)

    def test_10_logs(self):
        secret = self.feed.secrets[0]
        forms = {
            "secret": secret,
            "base64(PAT:secret)": base64.b64encode(("PAT:" + secret).encode()).decode(),
            "base64(secret)": base64.b64encode(secret.encode()).decode(),
            "base64(:secret)": base64.b64encode((":" + secret).encode()).decode(),
            "wrong credential of crated B": base64.b64encode(b"PAT:not-the-secret").decode(),
        }
        self.assertGreater(len(self.logs), 2)
        self.srv.check_log_clean()
        for path in self.logs:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            for what, s in forms.items():
                self.assertNotIn(s, text, "%s appears in %s" % (what, path))
        # one audit line per relayed write, with registry, crate, version,
        # client address, upstream status and duration
        text = self.srv.log_text()
        audit = [l for l in text.splitlines() if "audit" in l.lower()]
        expect = []
        if 1 in RelayAzureTest.done:
            expect.append((BIND, BIND_V, "202"))
        if 2 in RelayAzureTest.done:
            expect.append((IOCTLS, IOCTLS_V, "200"))
        if 3 in RelayAzureTest.done:
            expect += [(BIND, BIND_V, "200"), (BIND, BIND_V, "204")]
        expect.append((SEED, SEED_V, "409"))
        for name, vers, status in expect:
            hits = [l for l in audit if name in l and vers in l and "corp" in l
                    and "127.0.0.1" in l and re.search(r"status\D{0,3}%s\b" % status, l)
                    and re.search(r"(?i)(duration|took|elapsed|ms)\D{0,5}\d", l)]
            self.assertTrue(hits, "no audit line for %s %s (upstream %s) in:\n%s"
                            % (name, vers, status, "\n".join(audit)))
        # the garbage bodies were refused before relaying: no "ok" audit for them
        self.assertFalse([l for l in audit if "garb" in l and re.search(r"status\D{0,3}20\d", l)])


if __name__ == "__main__":
    harness.main()
