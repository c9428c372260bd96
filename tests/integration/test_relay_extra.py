#!/usr/bin/env python3
"""More of crated's upload relay against the Azure feed stand-in: a feed
that does not answer a publish within 25 s (cargo must get "outcome not
known" before its own 30 s give-up, and nothing is retried), a 500 that is
not retried, relay_auth = "client", a 203 sign-in page answering a write,
dependency registry URLs naming crated, and API calls the feed lacks.

Each test has its own feed and crated. Runtime is dominated by the slow-feed
test (about 40 s)."""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, dep, make_crate  # noqa: E402
import azure_standin as az  # noqa: E402
from relay_common import CorpCargo, corp_registries, project  # noqa: E402


class RelayExtraTest(harness.TestCase):
    maxDiff = 6000

    def setUp(self):
        super().setUp()
        self.ca = az.make_test_ca(os.path.join(self.tmp, "ca"))
        self.feed = az.AzureFeed(self.ca, publish_delay=1.0).start()
        self.addCleanup(self.feed.stop)
        self.feed.seed("corp-seed", "1.0.0", make_crate("corp-seed", "1.0.0"))

    def corp(self, extra="", token=None, **kw):
        return self.start_crated(
            registries=corp_registries(self.feed, self.ca.ca_cert, extra=extra),
            env={"CORP_TOKEN": token or self.feed.token}, **kw)

    def audit(self, srv, *words):
        return [l for l in srv.log_text().splitlines()
                if "audit" in l.lower() and all(w in l for w in words)]

    def test_slow_feed_publish_outcome_unknown(self):
        feed = self.feed
        srv = self.corp()
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)   # api known
        feed.mode = "hang"
        feed.hang_seconds = 32.0
        cargo = CorpCargo(os.path.join(self.tmp, "c"), srv.port)
        d = project(os.path.join(self.tmp, "slow"), "slow-crate", "1.0.0")
        t0 = time.monotonic()
        rc, out, err = cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d,
                                       check=False, timeout=120)
        el = time.monotonic() - t0
        feed.mode = "ok"
        print("\n    cargo publish with a feed that takes 32 s: rc %d after %.1f s:\n%s"
              % (rc, el, "\n".join("      " + l for l in err.strip().splitlines()[-4:])),
              file=sys.stderr)
        self.assertNotEqual(rc, 0, err)
        self.assertLess(el, 30.0, "crated did not answer before cargo's 30 s give-up")
        self.assertNotRegex(err, r"(?i)timeout was reached|operation timed out",
                            "cargo gave up by itself instead of getting crated's answer")
        self.assertRegex(err, r"(?i)not (yet )?known|unknown", err)
        # the feed finishes the publish later: one PUT, never a second one,
        # and crated (which told cargo "crated is still waiting ... its log
        # has the final answer") records the feed's real answer and shows
        # the version. Soft checks: every problem is reported.
        self.assertTrue(feed.wait(lambda: any(p["name"] == "slow-crate" for p in feed.publishes),
                                  20), "the feed never got the publish")
        problems = []
        # crated is done with the publish once it logged the feed's answer:
        # a retry (a second PUT) would have come before that line
        harness.wait_until(lambda: self.audit(srv, "slow-crate", "200"), 15, 0.2)
        n_put = feed.count("PUT", feed.api_path("/new"))
        if n_put != 1:
            problems.append("the feed got %d PUTs (a publish must never be retried)" % n_put)
        if not self.audit(srv, "slow-crate", "200"):
            problems.append("no audit line with the feed's late answer (200); crated logged:\n  "
                            + "\n  ".join(self.audit(srv, "slow-crate")))
        vers = harness.wait_value(lambda: [l["vers"] for l in srv.index_lines("slow-crate", reg="corp")],
                                  lambda vers: "1.0.0" in vers, 10, 0.3)
        if "1.0.0" not in vers:
            problems.append("slow-crate 1.0.0 is in the feed (since %.1f s) but crated's index "
                            "still does not show it" % (time.monotonic() - feed.visible_at.get(
                                ("slow-crate", "1.0.0"), time.monotonic())))
        self.assertFalse(problems, "\n".join(problems))

    def test_error_500_not_retried(self):
        feed = self.feed
        srv = self.corp()
        feed.mode = "error500"
        r = srv.publish(crate_meta("err-crate", "1.0.0"), make_crate("err-crate", "1.0.0"),
                        reg="corp", timeout=30)
        # crated is done with the publish once it logged the feed's answer:
        # a retry (a second PUT, failing too) would have come before
        harness.wait_until(lambda: self.audit(srv, "err-crate", "500"), 10)
        feed.mode = "ok"
        detail = self.assertErrors(r)
        self.assertTrue(500 <= r.status < 600, r)
        self.assertIn("VS800000", detail)
        self.assertIn("500", detail)
        self.assertEqual(feed.count("PUT", feed.api_path("/new")), 1, "the publish was retried")
        self.assertTrue(self.audit(srv, "err-crate", "500"), srv.log_tail())

    def test_relay_auth_client(self):
        feed = self.feed
        client_secret = "client-" + os.urandom(8).hex()
        feed.set_secrets(feed.secret, client_secret)
        client_token = az.basic_token(client_secret)
        srv = self.corp(extra='relay_auth = "client"\n')
        cargo = CorpCargo(os.path.join(self.tmp, "c"), srv.port)
        d = project(os.path.join(self.tmp, "cl"), "client-crate", "1.0.0")
        cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d, server=srv,
                        env={"CARGO_REGISTRIES_CORP_TOKEN": client_token})
        pubs = [p for p in feed.publishes if p["name"] == "client-crate"]
        self.assertEqual(len(pubs), 1)
        self.assertEqual(pubs[0]["auth"], client_token,
                         "relay_auth = client must forward the client's Authorization")
        # reads still use crated's own credential
        reads = [r for r in feed.requests if r["method"] == "GET"]
        self.assertTrue(reads)
        self.assertTrue(all(r["auth"] == feed.token for r in reads))
        # a client credential the feed refuses: the client's problem, with the feed's text
        d = project(os.path.join(self.tmp, "cl"), "client-crate", "1.0.1")
        rc, out, err = cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d,
                                       check=False,
                                       env={"CARGO_REGISTRIES_CORP_TOKEN": az.basic_token("nope")})
        self.assertNotEqual(rc, 0, err)
        self.assertIn("TF400813", err)
        r = srv.request("DELETE", "/corp/api/v1/crates/corp-seed/1.0.0/yank",
                        headers={"Authorization": az.basic_token("nope")}, timeout=30)
        detail = self.assertErrors(r)
        self.assertIn(r.status, (401, 403), r)
        self.assertIn("TF400813", detail)
        # neither credential is logged
        text = srv.log_text()
        for s in (client_secret, client_token.split()[1], feed.secret, feed.token.split()[1]):
            self.assertNotIn(s, text)

    def test_sign_in_page_203_on_write(self):
        # docs/azure-devops-feed.md 3.3: Azure may answer a bad credential
        # with 203 + an HTML sign-in page. That is no successful yank.
        feed = self.feed
        srv = self.corp()
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        orig = feed._handle

        def signin(h, body):
            if h.command in ("PUT", "DELETE"):
                with feed.lock:
                    feed.requests.append({"t": time.monotonic(), "method": h.command,
                                          "path": h.path, "auth": None, "status": 203})
                h._send(203, az.SIGNIN_HTML, ctype="text/html; charset=utf-8")
                return
            orig(h, body)

        feed._handle = signin
        try:
            r = srv.request("DELETE", "/corp/api/v1/crates/corp-seed/1.0.0/yank",
                            headers={"Authorization": "anything"}, timeout=30)
            r2 = srv.publish(crate_meta("signin-crate", "1.0.0"),
                             make_crate("signin-crate", "1.0.0"), reg="corp", timeout=30)
        finally:
            feed._handle = orig
        self.assertEqual(feed.count("DELETE"), 1)
        self.assertNotEqual(r.status, 200, "a 203 sign-in page was reported as a successful "
                            "yank: %r" % r)
        self.assertNotEqual(r2.status, 200, "a 203 sign-in page was reported as a successful "
                            "publish: %r" % r2)

    def test_dependency_registry_naming_crated(self):
        feed = self.feed
        srv = self.corp()
        mine = "sparse+http://127.0.0.1:%d/corp/" % srv.port
        meta = crate_meta("uses-seed", "1.0.0",
                          deps=[dep("corp-seed", "^1", registry=mine)])
        r = srv.publish(meta, make_crate("uses-seed", "1.0.0"), reg="corp", timeout=30)
        self.assertEqual(r.status, 200, r)
        pubs = [p for p in feed.publishes if p["name"] == "uses-seed"]
        self.assertEqual(len(pubs), 1)
        reg = pubs[0]["meta"]["deps"][0].get("registry")
        self.assertNotIn("127.0.0.1:%d" % srv.port, json.dumps(pubs[0]["meta"]),
                         "crated's own address reached the feed")
        self.assertIn(reg, (None, feed.index_url), pubs[0]["meta"]["deps"])
        # a dependency naming something that looks like crated but is not
        # one of its registries is refused before relaying
        n = feed.total()
        meta = crate_meta("uses-ghost", "1.0.0",
                          deps=[dep("corp-seed", "^1",
                                    registry="sparse+http://127.0.0.1:%d/ghost/" % srv.port)])
        r = srv.publish(meta, make_crate("uses-ghost", "1.0.0"), reg="corp", timeout=30)
        self.assertErrors(r, (400,))
        self.assertEqual(feed.total(), n)

    def test_dependency_registry_naming_crated_by_its_host(self):
        """cargo names crated as it reached it (a Host, a TLS listener,
        a name in DNS): that URL is crated's too, and never reaches the
        feed."""
        feed = self.feed
        srv = self.corp()
        mine = "sparse+http://crated.example:%d/corp/" % srv.port
        meta = crate_meta("uses-seed-by-host", "1.0.0",
                          deps=[dep("corp-seed", "^1", registry=mine)])
        r = srv.publish(meta, make_crate("uses-seed-by-host", "1.0.0"), reg="corp",
                        headers={"Host": "crated.example:%d" % srv.port}, timeout=30)
        self.assertEqual(r.status, 200, r)
        pubs = [p for p in feed.publishes if p["name"] == "uses-seed-by-host"]
        self.assertEqual(len(pubs), 1)
        self.assertNotIn("crated.example", json.dumps(pubs[0]["meta"]))
        self.assertIn(pubs[0]["meta"]["deps"][0].get("registry"), (None, feed.index_url))

    def test_api_calls_the_feed_lacks(self):
        # owners/search are not part of Azure's cargo API: cargo must get an
        # error in its format that carries the feed's answer, never a crash
        srv = self.corp()
        for method, path in (("GET", "/corp/api/v1/crates/corp-seed/owners"),
                             ("GET", "/corp/api/v1/crates?q=seed&per_page=10")):
            with self.subTest(path=path):
                r = srv.request(method, path, headers={"Authorization": "anything"}, timeout=30)
                detail = self.assertErrors(r)
                self.assertRegex(detail, r"404|not supported", r)
        r = srv.request("PUT", "/corp/api/v1/crates/corp-seed/owners",
                        body=json.dumps({"users": ["someone"]}).encode(),
                        headers={"Authorization": "anything", "Content-Type": "application/json"},
                        timeout=30)
        self.assertErrors(r)


if __name__ == "__main__":
    harness.main()
