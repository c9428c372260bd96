#!/usr/bin/env python3
"""TLS listeners: a TLS listener beside a plain one, certificates made
with the openssl CLI (a test CA, server certificates with SAN
IP:127.0.0.1); real cargo over sparse+https with CARGO_HTTP_CAINFO
(publish and build, with and without auth_required); TLS 1.0/1.1 and
non-AEAD ciphers refused; certificate reload on SIGHUP (a bad new
certificate is refused and the old one stays); certificate chains;
plain HTTP on the TLS port and TLS on the plain port; start-up with a
bad certificate."""

import hashlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TOKEN_RE, cli_env, free_port  # noqa: E402
from harness import crate_meta, make_crate, make_project, read_lock  # noqa: E402
from tls_common import (  # noqa: E402
    TlsBase, client_ctx, client_hello, https_get, subject_cn, tls_connect)

class TlsListenerTest(TlsBase):

    def test_https_beside_plain(self):
        srv = self.start_tls()
        # both listeners answer; config.json names the public https URL
        r, cert, ver, cipher = https_get(self.tls_port, self.pki.ca, "/local/config.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["dl"], "https://127.0.0.1:%d/local/api/v1/crates" % self.tls_port)
        self.assertIn(ver, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(subject_cn(cert), "crated-one")
        p = srv.get("/local/config.json")
        self.assertEqual(p.status, 200, p)
        self.assertEqual(p.json(), r.json())
        # keep-alive over TLS: several requests on one connection
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=15,
                                           context=client_ctx(self.pki.ca))
        try:
            for _ in range(5):
                conn.request("GET", "/-/health")
                rr = conn.getresponse()
                self.assertEqual((rr.status, rr.read()), (200, b"ok\n"))
        finally:
            conn.close()
        # a large download through TLS arrives whole (no sendfile under TLS)
        big = os.urandom(3 << 20)
        crate = make_crate("bigtls", "1.0.0", extra_files={"data.bin": big})
        pr = srv.publish(crate_meta("bigtls", "1.0.0"), crate, timeout=60)
        self.assertEqual(pr.status, 200, pr)
        for _ in range(2):     # the second comes from the hot cache, if any
            r, _, _, _ = https_get(self.tls_port, self.pki.ca,
                                   "/local/api/v1/crates/bigtls/1.0.0/download", timeout=60)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(crate).hexdigest())
        self.assertEqual(srv.get("/local/api/v1/crates/bigtls/1.0.0/download", timeout=60).body, crate)

    def test_old_protocols_and_weak_ciphers_refused(self):
        self.start_tls()
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=v.name):
                # the client is allowed every version up to v, so the
                # refusal must come from crated (an alert), not from us
                ctx = client_ctx(self.pki.ca, ssl.TLSVersion.TLSv1, v, "DEFAULT:@SECLEVEL=0")
                with self.assertRaises(ssl.SSLError) as cm:
                    tls_connect(self.tls_port, ctx).close()
                self.assertEqual(cm.exception.reason, "TLSV1_ALERT_PROTOCOL_VERSION",
                                 cm.exception)
        # the same client settings with TLS 1.2 allowed do connect
        ctx = client_ctx(self.pki.ca, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2,
                         "DEFAULT:@SECLEVEL=0")
        with tls_connect(self.tls_port, ctx) as t:
            self.assertEqual(t.version(), "TLSv1.2")
            self.assertRegex(t.cipher()[0], r"GCM|CHACHA20", "non-AEAD suite negotiated")
        ctx = client_ctx(self.pki.ca, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)
        with tls_connect(self.tls_port, ctx) as t:
            self.assertEqual(t.version(), "TLSv1.3")
        # raw ClientHellos for TLS 1.0 and 1.1: crated answers with a
        # protocol_version alert (or closes), never a ServerHello
        for ver in (0x0301, 0x0302):
            with self.subTest(raw=hex(ver)):
                with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
                    s.sendall(client_hello(ver))
                    got = b""
                    deadline = time.monotonic() + 5
                    try:
                        while len(got) < 7 and time.monotonic() < deadline:
                            chunk = s.recv(100)
                            if not chunk:
                                break
                            got += chunk
                    except (ConnectionResetError, socket.timeout):
                        pass
                self.assertFalse(got[:1] == b"\x16", "crated answered a TLS %x hello with a "
                                 "handshake record: %r" % (ver, got[:16]))
                if got:
                    self.assertEqual(got[0], 0x15, got[:16])          # alert record
                    self.assertEqual(got[5:7], b"\x02\x46", got[:16])  # fatal, protocol_version
        # TLS 1.2 with only CBC (non-AEAD) suites: refused
        ctx = client_ctx(self.pki.ca, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                         "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256")
        with self.assertRaises(ssl.SSLError):
            tls_connect(self.tls_port, ctx).close()
        # and the server is fine afterwards
        self.assertEqual(self.serial_cn(), ("1001", "crated-one"))

    def test_wrong_protocol_on_each_port(self):
        srv = self.start_tls()
        # plain HTTP on the TLS port: no HTTP answer, the connection ends
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
            s.sendall(b"GET /local/config.json HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            deadline = time.monotonic() + 5
            closed = False
            try:
                while time.monotonic() < deadline:
                    chunk = s.recv(4096)
                    if not chunk:
                        closed = True
                        break
                    got += chunk
            except ConnectionResetError:
                closed = True
            except socket.timeout:
                pass
        self.assertTrue(closed, "plain HTTP on the TLS port: connection still open after 5 s")
        self.assertFalse(got.startswith(b"HTTP/"), got[:100])
        # TLS on the plain port: the handshake fails, crated says why in plain text
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                client_ctx(self.pki.ca).wrap_socket(s, server_hostname="127.0.0.1")
        self.assertRegex(srv.log_text(), r'"- -" 400 ')
        # both ports still serve
        self.assertEqual(srv.get("/local/config.json").status, 200)
        self.assertEqual(self.serial_cn(), ("1001", "crated-one"))

    def test_certificate_chain(self):
        icrt, ikey = self.pki.leaf("inter", 0x5005, "crated test intermediate", is_ca=True)
        lcrt, lkey = self.pki.leaf("chained", 0x6006, "crated-chained", ca=icrt, ca_key=ikey)
        with open(lcrt) as a, open(icrt) as b, open(self.cert, "w") as f:
            f.write(a.read() + b.read())
        shutil.copy(lkey, self.key)
        self.start_tls()
        # the client trusts only the root: the intermediate must be sent
        self.assertEqual(self.serial_cn(), ("6006", "crated-chained"))

    def test_sighup_reloads_certificate(self):
        srv = self.start_tls()
        self.assertEqual(self.serial_cn(), ("1001", "crated-one"))
        old = http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=15,
                                          context=client_ctx(self.pki.ca))
        self.addCleanup(old.close)
        old.request("GET", "/-/health")
        self.assertEqual(old.getresponse().read(), b"ok\n")

        # a new certificate and key: new connections get it
        crt2, key2 = self.pki.leaf("two", 0x2002, "crated-two")
        shutil.copy(key2, self.key)
        shutil.copy(crt2, self.cert)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log_count("TLS certificate reloaded", 1)
        self.assertEqual(self.serial_cn(), ("2002", "crated-two"))
        # the connection made before the reload keeps working
        old.request("GET", "/-/health")
        self.assertEqual(old.getresponse().read(), b"ok\n")
        self.assertEqual(old.sock.getpeercert()["serialNumber"].lstrip("0"), "1001")

        # a broken certificate file: refused, the old certificate stays
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log_count("keeping the old certificate", 1)
        self.assertTrue(srv.running())
        for _ in range(3):
            self.assertEqual(self.serial_cn(), ("2002", "crated-two"))
        # a certificate whose key does not match: refused as well
        crt3, key3 = self.pki.leaf("three", 0x3003, "crated-three")
        shutil.copy(crt3, self.cert)            # key.pem is still key two
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log_count("keeping the old certificate", 2)
        self.assertEqual(self.serial_cn(), ("2002", "crated-two"))
        # a missing key file: refused
        os.remove(self.key)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log_count("keeping the old certificate", 3)
        self.assertEqual(self.serial_cn(), ("2002", "crated-two"))
        # a good pair again: taken
        shutil.copy(key3, self.key)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log_count("TLS certificate reloaded", 2)
        self.assertEqual(self.serial_cn(), ("3003", "crated-three"))
        old.request("GET", "/-/health")
        self.assertEqual(old.getresponse().read(), b"ok\n")
        self.assertEqual(srv.get("/-/health").status, 200)
        # the key never reaches the log
        with open(key3) as f:
            body = "".join(l for l in f.read().splitlines() if "-----" not in l)
        self.assertNotIn(body[:40], srv.log_text())

    def test_bad_certificate_at_start(self):
        with open(self.cert, "w") as f:
            f.write("garbage\n")
        port = free_port()
        cfg = harness.write_config(
            os.path.join(self.tmp, "bad.toml"), os.path.join(self.tmp, "data"),
            extra='listen_tls = ["127.0.0.1:%d"]\ntls_cert = "%s"\ntls_key = "%s"\n'
                  % (port, self.cert, self.key))
        srv = harness.start_crated(self.tmp, config_path=cfg, wait=False, name="bad")
        rc = srv.wait_exit(10)
        if rc is None:
            srv.stop(check=False)
            self.fail("crated kept running with a broken certificate")
        self.assertNotEqual(rc, 0)
        self.assertIn(self.cert, srv.log_text())
        # listen_tls without a certificate is a configuration error
        cfg = harness.write_config(
            os.path.join(self.tmp, "nocert.toml"), os.path.join(self.tmp, "data"),
            extra='listen_tls = ["127.0.0.1:%d"]\n' % port)
        srv = harness.start_crated(self.tmp, config_path=cfg, wait=False, name="nocert")
        rc = srv.wait_exit(10)
        if rc is None:
            srv.stop(check=False)
            self.fail("crated kept running with listen_tls but no tls_cert")
        self.assertNotEqual(rc, 0)
        self.assertRegex(srv.log_text(), r"tls_cert|certificate")


class TlsCargoTest(TlsBase):

    def cargo_env(self, auth):
        cg = harness.CargoEnv(self.tmp, self.srv.port)
        self.index = "sparse+https://127.0.0.1:%d/local/" % self.tls_port
        with open(os.path.join(cg.home, "config.toml"), "w") as f:
            f.write('[registries.local]\nindex = "%s"\n%s\n[net]\ngit-fetch-with-cli = false\n\n'
                    '[http]\ntimeout = 30\n'
                    % (self.index, 'credential-provider = ["cargo:token"]\n' if auth else ""))
        return cg

    def cargo(self, cg, args, cwd, token="anything", ca=True, check=True):
        env = {"CARGO_REGISTRIES_LOCAL_TOKEN": token,
               "CARGO_HTTP_CAINFO": self.pki.ca if ca else None}
        return cg.run_cargo(args, cwd, check=check, env=env, server=self.srv)

    def publish_and_build(self, cg, pub_token, read_token):
        proj = os.path.join(self.tmp, "projects")
        lib = make_project(os.path.join(proj, "tlslib"), "tlslib", "1.0.0",
                           lib_rs="pub fn f() -> u32 { 7 }\n")
        self.cargo(cg, ["publish", "--registry", "local"], lib, token=pub_token)
        app = make_project(os.path.join(proj, "tlsapp"), "tlsapp", "0.1.0",
                           deps='tlslib = { version = "1", registry = "local" }\n',
                           publish=False, main_rs="fn main() { println!(\"{}\", tlslib::f()); }\n")
        self.cargo(cg, ["build"], app, token=read_token)
        pkgs = {p["name"]: p for p in read_lock(os.path.join(app, "Cargo.lock"))}
        self.assertEqual(pkgs["tlslib"]["version"], "1.0.0")
        self.assertEqual(pkgs["tlslib"]["source"],
                         "sparse+https://127.0.0.1:%d/local/" % self.tls_port)
        out = subprocess.run([os.path.join(cg.target, "debug", "tlsapp")], capture_output=True,
                             timeout=60)
        self.assertEqual(out.stdout.strip(), b"7")
        self.assertRegex(self.srv.log_text(), r'"GET /local/api/v1/crates/tlslib/1\.0\.0/download" 200 ')
        return proj, app

    def test_cargo_over_https(self):
        self.start_tls()
        cg = self.cargo_env(auth=False)
        proj, app = self.publish_and_build(cg, "anything", "anything")
        # without the test CA cargo refuses the certificate
        cg.clear_download_cache()
        shutil.rmtree(os.path.join(cg.home, "registry", "index"), ignore_errors=True)
        os.remove(os.path.join(app, "Cargo.lock"))
        rc, out, err = self.cargo(cg, ["generate-lockfile"], app, ca=False, check=False)
        self.assertNotEqual(rc, 0, "cargo trusted crated's test certificate without the CA")
        self.assertRegex(err.lower(), r"certificate|ssl|tls")

    def test_cargo_over_https_with_auth(self):
        cfg_tokens = {}

        def make_tokens():
            for name, scope in (("pub", "publish"), ("reader", "read")):
                rc, out, err = harness.run_crated(["token", "create", "--config", self.cfg,
                                                   "--registry", "local", "--scope", scope,
                                                   "--name", name], env=cli_env())
                self.assertEqual(rc, 0, err)
                cfg_tokens[name] = out.strip()
                self.assertRegex(cfg_tokens[name], TOKEN_RE)

        self.start_tls(registries="[registries.local]\nauth_required = true\n",
                       config_path=make_tokens)
        # no token over https: 401 naming the https login URL
        r, _, _, _ = https_get(self.tls_port, self.pki.ca, "/local/config.json")
        self.assertEqual(r.status, 401, r)
        self.assertIn('login_url="https://127.0.0.1:%d/local/me"' % self.tls_port,
                      r.header("WWW-Authenticate") or "")
        cg = self.cargo_env(auth=True)
        self.publish_and_build(cg, cfg_tokens["pub"], cfg_tokens["reader"])
        # the read token may not publish, over https too
        lib = make_project(os.path.join(self.tmp, "projects", "tlsother"), "tlsother", "1.0.0")
        rc, out, err = self.cargo(cg, ["publish", "--registry", "local", "--no-verify"], lib,
                                  token=cfg_tokens["reader"], check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("token `reader` has the read scope; this needs publish", err)
        # no token: refused
        app = os.path.join(self.tmp, "projects", "tlsapp")
        shutil.rmtree(os.path.join(cg.home, "registry", "index"), ignore_errors=True)
        os.remove(os.path.join(app, "Cargo.lock"))
        rc, out, err = self.cargo(cg, ["generate-lockfile"], app, token=None, check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("no token found for `local`", err)
        log = self.srv.log_text()
        for t in cfg_tokens.values():
            self.assertNotIn(t, log)


if __name__ == "__main__":
    harness.main()
