#!/usr/bin/env python3
"""The upstream reached only through a forward proxy.

* upstream_proxy = "http://127.0.0.1:PPORT": index file, config.json and
  .crate go through the proxy (absolute-URI GETs), which counts them.
* the http_proxy environment variable given to crated (no upstream_proxy,
  no no_proxy): curl's own proxy handling. curl honours http_proxy for
  127.0.0.1 when no_proxy does not name it.
* an https upstream (self-signed certificate trusted via
  upstream_ca_file) through the proxy: a CONNECT tunnel.
* a proxy that is down: 502 with an errors body, never a 404, nothing
  cached."""

import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402


# harness.clean_env() puts NO_PROXY=127.0.0.1,localhost into crated's
# environment; these tests remove it unless they test it
NO_PROXY_ENV = {"NO_PROXY": None, "no_proxy": None}


class ProxyTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.proxy = S.ForwardProxy()
        self.addCleanup(self.proxy.stop)

    def upstream(self, ssl_context=None):
        si = S.StandIn(ssl_context=ssl_context)
        self.addCleanup(si.stop)
        tree = S.RegistryTree(base="/reg/", dl="/dl/{crate}/{version}")
        tree.attach_standin(si)
        self.crate = harness.make_crate("px-one", "1.0.0")
        tree.add("px-one", "1.0.0", self.crate)
        return si, tree

    def fetch_all(self, crated, si, tree):
        r = crated.get("/mirror/" + index_path("px-one"))
        self.assertEqual(r.status, 200, "%r\n%s" % (r, crated.log_tail()))
        self.assertEqual(r.body, tree.index_body("px-one"))
        r = crated.get("/mirror/api/v1/crates/px-one/1.0.0/download")
        self.assertEqual(r.status, 200, "%r\n%s" % (r, crated.log_tail()))
        self.assertEqual(r.body, self.crate)
        self.assertEqual(S.health(crated), 200)

    def assert_proxied(self, si, scheme="http"):
        seen = self.proxy.reqs()
        if scheme == "http":
            targets = [t for m, t, h in seen if m == "GET"]
            for p in ("/reg/" + index_path("px-one"), "/reg/config.json", "/dl/px-one/1.0.0"):
                self.assertIn(si.url(p), targets, "proxy did not see %s: %r" % (p, seen))
        else:
            self.assertIn(("CONNECT", "127.0.0.1:%d" % si.port),
                          [(m, t) for m, t, h in seen], seen)
        self.assertTrue(si.count() >= 3, si.reqs())

    def test_upstream_proxy_setting(self):
        si, tree = self.upstream()
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % si.base, upstream_proxy=self.proxy.url),
            env=NO_PROXY_ENV)
        self.fetch_all(crated, si, tree)
        self.assert_proxied(si)
        # every upstream request went through the proxy
        self.assertEqual(len([1 for m, t, h in self.proxy.reqs() if m == "GET"]), si.count(),
                         (self.proxy.reqs(), si.reqs()))

    def test_upstream_proxy_setting_beats_no_proxy_env(self):
        # an explicit upstream_proxy is for this upstream: the process's
        # no_proxy (which names 127.0.0.1 here) must not silently bypass it
        si, tree = self.upstream()
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % si.base, upstream_proxy=self.proxy.url))
        self.fetch_all(crated, si, tree)
        self.assert_proxied(si)

    def test_http_proxy_environment(self):
        si, tree = self.upstream()
        crated = self.start_crated(
            registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si.base),
            env={"http_proxy": self.proxy.url, "NO_PROXY": None, "no_proxy": None})
        self.fetch_all(crated, si, tree)
        self.assert_proxied(si)

    def test_no_proxy_environment_bypasses(self):
        si, tree = self.upstream()
        crated = self.start_crated(
            registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si.base),
            env={"http_proxy": self.proxy.url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
        self.fetch_all(crated, si, tree)
        self.assertEqual(self.proxy.reqs(), [], "no_proxy=127.0.0.1 was not honoured")

    def https_upstream(self):
        """self.upstream over TLS with a self-signed certificate: (standin,
        tree, certificate path); skips without the openssl command."""
        made = S.make_cert(self.tmp)
        if made is None:
            self.skipTest("openssl command not available")
        cert, key = made
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        si, tree = self.upstream(ssl_context=ctx)
        return si, tree, cert

    def test_https_upstream_through_connect(self):
        si, tree, cert = self.https_upstream()
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % si.base, upstream_proxy=self.proxy.url,
            upstream_ca_file=cert), env=NO_PROXY_ENV)
        self.fetch_all(crated, si, tree)
        self.assert_proxied(si, scheme="https")

    def test_https_upstream_untrusted(self):
        si, tree, _ = self.https_upstream()
        crated = self.start_crated(registries=S.mirror_toml("mirror", "sparse+%s/reg/" % si.base))
        r = crated.get("/mirror/" + index_path("px-one"))
        self.assertEqual(r.status, 502, r)
        self.assertErrors(r, [502])
        self.assertEqual(S.files_under(os.path.join(crated.data_dir, "mirror", "index")), [])

    def test_proxy_down(self):
        si, tree = self.upstream()
        dead = S.ForwardProxy()
        dead_url = dead.url
        dead.stop()
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/reg/" % si.base, upstream_proxy=dead_url), env=NO_PROXY_ENV)
        r = crated.get("/mirror/" + index_path("px-one"))
        self.assertIn(r.status, (502, 503), r)
        self.assertErrors(r, [502, 503])
        self.assertEqual(si.count(), 0)
        self.assertEqual(S.files_under(os.path.join(crated.data_dir, "mirror", "index")), [])
        self.assertEqual(S.health(crated), 200)


if __name__ == "__main__":
    harness.main()
