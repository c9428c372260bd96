#!/usr/bin/env python3
"""Configuration, TLS and operations hardening (issues 22 and 23 §4).

* SIGHUP that changes a key read only at start (data_dir,
  memory_cache_bytes, http2, public_url) is refused with the key named,
  no "reloaded" line, and the old value stays in use (a publish lands in
  the old data directory).
* URLs follow the listener a request came in on: with listen and
  listen_tls and no public_url, config.json fetched over TLS names
  https:// for dl and api, and the 401's login_url is https; the Host a
  request names is used only when it is a plain host[:port].
* listen = [] beside listen_tls: a TLS-only crated serves cargo over
  sparse+https.
* Certificates outside their validity period: refused at start and on
  SIGHUP (the old one is still served, checked by serial); a certificate
  near its end is warned about, and its days left are in /-/metrics.
* /-/metrics and /-/registries need an admin token (or ops_token_env's
  secret) when a registry has auth_required, unless ops_access = "open";
  /-/health and /-/ready stay open, /-/ready without upstream URLs.
* Error messages: a missing tls_cert / tls_key names the key and the file,
  a data directory that cannot be written says so, an unknown key names
  the closest one, /-/ready gives last_ok as RFC 3339 too, `crated token
  --help` shows --config.
"""

import datetime
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TOKEN_RE, cli_env, free_port  # noqa: E402
from harness import wait_log  # noqa: E402
import standins as S  # noqa: E402
import tls_common  # noqa: E402
from harness import crate_meta, make_crate, make_project, read_lock, index_path  # noqa: E402



class DatedPki(tls_common.Pki):
    """A test CA and server certificates for IP:127.0.0.1 and localhost,
    made with the openssl CLI; `openssl ca` sets any validity period."""

    def __init__(self, d):
        super().__init__(d, ca_days=3650, ca_name="crated hardening test CA")
        os.makedirs(os.path.join(d, "new"), exist_ok=True)
        open(os.path.join(d, "index.txt"), "w").close()
        self.cnf = os.path.join(d, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir/new\nserial = $dir/serial\ndefault_md = sha256\npolicy = any\n"
                    "unique_subject = no\nemail_in_dn = no\n[any]\ncommonName = supplied\n" % d)

    def leaf(self, name, serial, start=None, end=None, days=30):
        """(cert, key) signed by the CA with the given serial, valid from
        start to end (datetimes, UTC) or from now for days."""
        now = datetime.datetime.now(datetime.timezone.utc)
        start = start or now - datetime.timedelta(minutes=5)
        end = end or now + datetime.timedelta(days=days)
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        crt = os.path.join(self.d, name + ".pem")
        ext = os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
        with open(os.path.join(self.d, "serial"), "w") as f:
            f.write("%04X\n" % serial)
        self._run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", key, "-out", csr, "-subj", "/CN=crated-" + name])
        self._run(["ca", "-batch", "-config", self.cnf, "-cert", self.ca, "-keyfile", self.ca_key,
                   "-in", csr, "-out", crt, "-notext", "-extfile", ext,
                   "-startdate", start.strftime("%Y%m%d%H%M%SZ"),
                   "-enddate", end.strftime("%Y%m%d%H%M%SZ")])
        return crt, key


def https(port, cafile, path, headers=None, host="127.0.0.1", timeout=15):
    """(Resp, serial of the certificate served, as upper-case hex)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        serial = conn.sock.getpeercert()["serialNumber"].lstrip("0").upper()
        return harness.Resp(r.status, r.reason, list(r.getheaders()), body), serial
    finally:
        conn.close()


def https_raw(port, cafile, raw, timeout=15):
    """Sends raw request bytes over TLS; returns the first response."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    c = harness.RawConn.__new__(harness.RawConn)
    c.sock, c.timeout, c.buf, c.eof = t, timeout, b"", False
    try:
        c.send(raw)
        return c.read_response()
    finally:
        c.close()


class TlsCase(tls_common.TlsFiles):

    make_pki = DatedPki

    def first_leaf(self):
        return self.pki.leaf("one", 0x1001)

    def tls_config(self, listen=True, extra="", registries="[registries.local]\n", port=None):
        self.tls_port = port or free_port()
        text = ('listen = [%s]\nlisten_tls = ["127.0.0.1:%d"]\ntls_cert = "%s"\ntls_key = "%s"\n'
                % ('"127.0.0.1:0"' if listen else "", self.tls_port, self.cert, self.key))
        path = os.path.join(self.tmp, "tls.toml")
        with open(path, "w") as f:
            f.write(text + 'data_dir = "%s"\n' % os.path.join(self.tmp, "data") + extra
                    + registries)
        return path

    def start_tls(self, listen=True, extra="", registries="[registries.local]\n", before=None):
        last = None
        for _ in range(3):
            cfg = self.tls_config(listen, extra, registries)
            if before is not None:
                before(cfg)
            try:
                srv = harness.start_crated(self.tmp, config_path=cfg)
            except AssertionError as e:
                last = e
                if "cannot listen" in str(e):
                    continue        # the picked port was taken meanwhile
                raise
            self.addCleanup(srv.stop)
            self.srv, self.cfg = srv, cfg
            want = "listening on 127.0.0.1:%d (TLS)" % self.tls_port
            self.assertTrue(wait_log(srv, re.escape(want)), srv.log_tail())
            return srv
        raise last

    def start_expecting_failure(self, cfg, name):
        srv = harness.start_crated(self.tmp, config_path=cfg, wait=False, name=name)
        rc = srv.wait_exit(10)
        if rc is None:
            srv.stop(check=False)
            self.fail("crated kept running; log:\n" + srv.log_tail())
        self.assertNotEqual(rc, 0)
        self.assertNotRegex(srv.log_text(), r"listening on", "crated listened before refusing")
        return srv.log_text()


# ---------------------------------------------------------------------------
# item 11: SIGHUP and keys read only at start


class ReloadStartOnlyTest(harness.TestCase):

    def write(self, data_dir, extra=""):
        harness.write_config(self.cfg, data_dir, extra=extra)

    def test_data_dir_change_is_refused_and_the_old_dir_kept(self):
        old, new = os.path.join(self.tmp, "old"), os.path.join(self.tmp, "new")
        self.cfg = os.path.join(self.tmp, "hup.toml")
        self.write(old)
        srv = self.start_crated(config_path=self.cfg, data_dir=old)
        self.write(new)
        srv.proc.send_signal(signal.SIGHUP)
        lines = wait_log(srv, r"SIGHUP: keeping the running configuration")
        self.assertTrue(lines, "no refusal line; log:\n" + srv.log_tail())
        self.assertIn("data_dir", lines[-1])
        self.assertIn("restart crated", lines[-1])
        self.assertNotRegex(srv.log_text(), r"configuration .* reloaded")
        # the old directory is still the one written to
        r, crate = srv.publish_simple("hupdir", "1.0.0")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(os.path.exists(os.path.join(old, "local", "index", index_path("hupdir"))),
                        "the publish did not land in the old data directory")
        self.assertFalse(os.path.exists(os.path.join(new, "local")),
                         "the refused data_dir was used")
        self.assertTrue(srv.running())
        # a file with only applicable changes is still taken afterwards
        self.write(old, 'log_level = "info"\n')
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(srv, r"SIGHUP: configuration .* reloaded"), srv.log_tail())

    def test_other_start_only_keys_are_refused_by_name(self):
        data = os.path.join(self.tmp, "data")
        self.cfg = os.path.join(self.tmp, "hup.toml")
        self.write(data)
        srv = self.start_crated(config_path=self.cfg, data_dir=data)
        cases = [("memory_cache_bytes", "memory_cache_bytes = 1024\n"),
                 ("http2", "http2 = false\n"),
                 ("public_url", 'public_url = "http://crated.example"\n'),
                 ("open_file_cache", "open_file_cache = 5\n"),
                 ("max_connections_per_client", "max_connections_per_client = 3\n")]
        for n, (key, extra) in enumerate(cases, 1):
            with self.subTest(key=key):
                self.write(data, extra)
                srv.proc.send_signal(signal.SIGHUP)
                lines = wait_log(srv, r"SIGHUP: keeping the running configuration", count=n)
                self.assertEqual(len(lines), n, "no refusal for %s; log:\n%s"
                                 % (key, srv.log_tail()))
                self.assertIn(key + " changed", lines[-1])
        self.assertNotRegex(srv.log_text(), r"configuration .* reloaded")
        # public_url was not applied: config.json still names the listener
        r = srv.get("/local/config.json")
        self.assertEqual(r.json()["dl"], "http://127.0.0.1:%d/local/api/v1/crates" % srv.port)
        # the command line's --data-dir still wins over the file without a refusal
        cli = os.path.join(self.tmp, "cli")
        self.write(data)
        srv2 = self.start_crated(config_path=self.cfg, args=["--data-dir", cli], name="cli")
        self.write(os.path.join(self.tmp, "elsewhere"))
        srv2.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(srv2, r"SIGHUP: configuration .* reloaded"), srv2.log_tail())


# ---------------------------------------------------------------------------
# item 16: URLs follow the listener; TLS only


class ListenerUrlTest(TlsCase):

    def test_config_json_and_login_url_follow_the_listener(self):
        srv = self.start_tls(registries="[registries.local]\n\n[registries.closed]\n"
                                        "auth_required = true\n")
        tls = "https://127.0.0.1:%d" % self.tls_port
        r, _ = https(self.tls_port, self.pki.ca, "/local/config.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["dl"], tls + "/local/api/v1/crates")
        self.assertEqual(r.json()["api"], tls + "/local")
        p = srv.get("/local/config.json")
        self.assertEqual(p.json()["dl"], "http://127.0.0.1:%d/local/api/v1/crates" % srv.port)
        # the 401 over TLS names the https login URL, over plain the http one
        r, _ = https(self.tls_port, self.pki.ca, "/closed/config.json")
        self.assertEqual(r.status, 401, r)
        self.assertIn('login_url="%s/closed/me"' % tls, r.header("WWW-Authenticate") or "")
        self.assertIn(tls + "/closed/me", r.text())
        p = srv.get("/closed/config.json")
        self.assertEqual(p.status, 401, p)
        self.assertIn('login_url="http://127.0.0.1:%d/closed/me"' % srv.port,
                      p.header("WWW-Authenticate") or "")
        # the Host named is used when it is a plain host[:port]
        r, _ = https(self.tls_port, self.pki.ca, "/local/config.json", host="localhost")
        self.assertEqual(r.json()["api"], "https://localhost:%d/local" % self.tls_port)
        # a Host without a port gets the listener's; a port it names is kept
        # (a port mapping in front of crated)
        for host, want in (("localhost", "https://localhost:%d" % self.tls_port),
                           ("crated.example:9443", "https://crated.example:9443"),
                           ("[::1]:8", "https://[::1]:8")):
            raw = ("GET /local/config.json HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
            self.assertEqual(https_raw(self.tls_port, self.pki.ca, raw).json()["api"],
                             want + "/local")
        # a hostile Host is never echoed: the listener's address instead
        for host in ('x"},"dl":"http://evil/', "evil.example/path", "user@evil", "a b",
                     "evil:99999", "[::1", ""):
            with self.subTest(host=host):
                raw = ("GET /local/config.json HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
                r = https_raw(self.tls_port, self.pki.ca, raw)
                if r.status == 400:
                    continue            # refused by the parser: nothing echoed either
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json(), {"dl": tls + "/local/api/v1/crates",
                                            "api": tls + "/local", "auth-required": False})

    def test_tls_only_server_serves_cargo(self):
        srv = self.start_tls(listen=False)
        self.assertEqual(srv.port, self.tls_port, "a plain listener was opened")
        self.assertNotRegex(srv.log_text(), r"listening on \S+\n")
        r, _ = https(self.tls_port, self.pki.ca, "/local/config.json")
        self.assertEqual(r.json()["dl"], "https://127.0.0.1:%d/local/api/v1/crates"
                         % self.tls_port)
        cg = harness.CargoEnv(self.tmp, self.tls_port)
        index = "sparse+https://127.0.0.1:%d/local/" % self.tls_port
        with open(os.path.join(cg.home, "config.toml"), "w") as f:
            f.write('[registries.local]\nindex = "%s"\n[http]\ntimeout = 30\n' % index)
        env = {"CARGO_HTTP_CAINFO": self.pki.ca}
        proj = os.path.join(self.tmp, "projects")
        lib = make_project(os.path.join(proj, "tlsonly"), "tlsonly", "1.0.0",
                           lib_rs="pub fn f() -> u32 { 11 }\n")
        cg.run_cargo(["publish", "--registry", "local", "--no-verify"], lib, env=env, server=srv)
        app = make_project(os.path.join(proj, "tlsonlyapp"), "tlsonlyapp", "0.1.0",
                           deps='tlsonly = { version = "1", registry = "local" }\n',
                           publish=False,
                           main_rs="fn main() { println!(\"{}\", tlsonly::f()); }\n")
        cg.run_cargo(["build"], app, env=env, server=srv)
        pkgs = {p["name"]: p for p in read_lock(os.path.join(app, "Cargo.lock"))}
        self.assertEqual(pkgs["tlsonly"]["source"], index)
        out = subprocess.run([os.path.join(cg.target, "debug", "tlsonlyapp")],
                             capture_output=True, timeout=60)
        self.assertEqual(out.stdout.strip(), b"11")
        self.assertRegex(srv.log_text(), r'"GET /local/api/v1/crates/tlsonly/1\.0\.0/download" 200 ')

    def test_no_listener_at_all_is_refused(self):
        path = os.path.join(self.tmp, "none.toml")
        with open(path, "w") as f:
            f.write('listen = []\ndata_dir = "%s"\n[registries.local]\n'
                    % os.path.join(self.tmp, "d"))
        rc, out, err = harness.run_crated(["serve", "--config", path])
        self.assertNotEqual(rc, 0)
        self.assertIn("no listener", err)


# ---------------------------------------------------------------------------
# item 18: certificate validity


class CertificateValidityTest(TlsCase):

    def test_sighup_refuses_expired_and_future_certificates(self):
        srv = self.start_tls()
        self.assertEqual(https(self.tls_port, self.pki.ca, "/-/health")[1], "1001")
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        expired = self.pki.leaf("expired", 0x2002, start=now - 30 * day, end=now - day)
        future = self.pki.leaf("future", 0x3003, start=now + day, end=now + 30 * day)
        for n, (pair, word) in enumerate(((expired, "expired"), (future, "not valid yet")), 1):
            with self.subTest(cert=word):
                self.install(*pair)
                srv.proc.send_signal(signal.SIGHUP)
                lines = wait_log(srv, r"keeping the old certificate", count=n)
                self.assertEqual(len(lines), n, srv.log_tail())
                self.assertIn(word, lines[-1])
                self.assertIn(self.cert, lines[-1])
                self.assertNotIn("TLS certificate reloaded", srv.log_text())
                for _ in range(3):
                    self.assertEqual(https(self.tls_port, self.pki.ca, "/-/health")[1], "1001")
        # a good one is taken
        self.install(*self.pki.leaf("four", 0x4004))
        srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(srv, r"TLS certificate reloaded"), srv.log_tail())
        self.assertEqual(https(self.tls_port, self.pki.ca, "/-/health")[1], "4004")

    def test_start_refuses_expired_and_future_certificates(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        cases = (("expired", now - 10 * day, now - day, "expired on"),
                 ("future", now + day, now + 10 * day, "not valid yet"))
        for name, start, end, word in cases:
            with self.subTest(cert=name):
                self.install(*self.pki.leaf(name, 0x5005 + len(name), start=start, end=end))
                log = self.start_expecting_failure(self.tls_config(), name)
                self.assertIn("tls_cert %s" % self.cert, log)
                self.assertIn(word, log)

    def test_near_expiry_is_warned_and_measured(self):
        self.install(*self.pki.leaf("short", 0x6006, days=5))
        srv = self.start_tls()
        lines = wait_log(srv, r"warn.*TLS certificate in use .* expires in")
        self.assertTrue(lines, "no near-expiry warning at start; log:\n" + srv.log_tail())
        self.assertRegex(lines[0], r"expires in 4\.\d+ days|expires in 5\.0 days")
        r = srv.get("/-/metrics")
        self.assertEqual(r.status, 200, r)
        m = re.search(r"(?m)^crated_tls_certificate_days_left (\S+)$", r.text())
        self.assertIsNotNone(m, "no crated_tls_certificate_days_left in /-/metrics")
        self.assertTrue(4.9 < float(m.group(1)) <= 5.0, m.group(0))
        # a reload to a certificate still near its end warns again
        srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(len(wait_log(srv, r"TLS certificate in use .* expires in", count=2)), 2,
                         srv.log_tail())
        # a long-lived certificate: no warning
        self.install(*self.pki.leaf("long", 0x7007, days=90))
        srv.proc.send_signal(signal.SIGHUP)
        self.assertEqual(len(wait_log(srv, r"TLS certificate reloaded", count=2)), 2)
        # a later line: the access line of a request made after the reload
        # (crated warns right after the reload line, before it reads on)
        srv.get("/local/after-reload")
        wait_log(srv, r'"GET /local/after-reload"')
        self.assertEqual(len(wait_log(srv, r"expires in", timeout=0)), 2)
        m = re.search(r"(?m)^crated_tls_certificate_days_left (\S+)$", srv.get("/-/metrics").text())
        self.assertTrue(89 < float(m.group(1)) <= 90, m.group(0))


# ---------------------------------------------------------------------------
# ops endpoints on an auth_required server


class OpsAccessTest(harness.TestCase):

    UPSTREAM = "sparse+http://127.0.0.1:9/secret-feed/"

    def start(self, extra="", env=None):
        regs = ('[registries.local]\nauth_required = true\n\n' + S.mirror_toml(
            "mirror", self.UPSTREAM, auth_required=True))
        path = harness.write_config(os.path.join(self.tmp, "ops.toml"),
                                    os.path.join(self.tmp, "data"), extra=extra,
                                    registries=regs)
        tokens = {}
        for name, scope in (("root", "admin"), ("reader", "read")):
            rc, out, err = harness.run_crated(["token", "create", "--config", path,
                                               "--registry", "local", "--scope", scope,
                                               "--name", name], env=cli_env())
            self.assertEqual(rc, 0, err)
            tokens[name] = TOKEN_RE.search(out).group(0)
        return self.start_crated(config_path=path, env=env), tokens

    def test_closed_when_a_registry_requires_auth(self):
        srv, tokens = self.start(extra='ops_token_env = "CRATED_OPS_SECRET"\n',
                                 env={"CRATED_OPS_SECRET": "scrape-me-0123456789"})
        for path in ("/-/metrics", "/-/registries"):
            with self.subTest(path=path):
                r = srv.get(path)
                self.assertEqual(r.status, 401, r)
                self.assertNotIn(b"secret-feed", r.body)
                self.assertIn("admin token", self.assertErrors(r, [401]))
                r = srv.get(path, headers={"Authorization": tokens["reader"]})
                self.assertEqual(r.status, 401, r)
                r = srv.get(path, headers={"Authorization": tokens["root"]})
                self.assertEqual(r.status, 200, r)
                r = srv.get(path, headers={"Authorization": "Bearer scrape-me-0123456789"})
                self.assertEqual(r.status, 200, r)
                r = srv.get(path, headers={"Authorization": "Bearer scrape-me-012345678"})
                self.assertEqual(r.status, 401, r)
        self.assertIn(b"secret-feed", srv.get("/-/registries", headers={
            "Authorization": tokens["root"]}).body)
        # health and ready stay open; ready without the upstream URL
        self.assertEqual(srv.get("/-/health").status, 200)
        r = srv.get("/-/ready")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(b"secret-feed", r.body)
        mirror = [g for g in r.json()["registries"] if g["name"] == "mirror"][0]
        self.assertIn("upstream_state", mirror)
        r = srv.get("/-/ready", headers={"Authorization": tokens["root"]})
        self.assertIn(b"secret-feed", r.body)
        self.assertNotIn(tokens["root"], srv.log_text())
        self.assertNotIn("scrape-me", srv.log_text())

    def test_open_when_configured_so(self):
        srv, tokens = self.start(extra='ops_access = "open"\n')
        for path in ("/-/metrics", "/-/registries", "/-/ready"):
            r = srv.get(path)
            self.assertEqual(r.status, 200, (path, r))
        self.assertIn(b"secret-feed", srv.get("/-/registries").body)

    def test_token_mode_closes_a_server_without_auth(self):
        srv = self.start_crated(config_extra='ops_access = "token"\n')
        self.assertEqual(srv.get("/-/metrics").status, 401)
        self.assertEqual(srv.get("/-/health").status, 200)
        # and the default stays open without auth_required
        srv2 = self.start_crated(name="open", data_dir=os.path.join(self.tmp, "open"))
        self.assertEqual(srv2.get("/-/metrics").status, 200)
        self.assertEqual(srv2.get("/-/registries").status, 200)


# ---------------------------------------------------------------------------
# issue 23 §4: error messages


class MessagesTest(TlsCase):

    def test_missing_certificate_or_key_file_is_named(self):
        cfg = self.tls_config()
        os.rename(self.cert, self.cert + ".gone")
        log = self.start_expecting_failure(cfg, "nocert")
        self.assertRegex(log, r"tls_cert %s: No such file" % re.escape(self.cert))
        self.assertNotIn(self.key, log)
        os.rename(self.cert + ".gone", self.cert)
        os.rename(self.key, self.key + ".gone")
        log = self.start_expecting_failure(cfg, "nokey")
        self.assertRegex(log, r"tls_key %s: No such file" % re.escape(self.key))
        self.assertNotIn(self.cert, log)

    def test_unwritable_data_dir_says_so(self):
        d = os.path.join(self.tmp, "ro")
        os.makedirs(d)
        if os.geteuid() == 0:
            p = subprocess.run(["chattr", "+i", d], capture_output=True)
            if p.returncode != 0:
                self.skipTest("cannot make a directory unwritable for root: %s" % p.stderr)
            self.addCleanup(subprocess.run, ["chattr", "-i", d], capture_output=True)
        else:
            os.chmod(d, 0o555)
        path = harness.write_config(os.path.join(self.tmp, "ro.toml"), d)
        rc, out, err = harness.run_crated(["serve", "--config", path])
        self.assertNotEqual(rc, 0)
        self.assertIn("data directory %s is not writable:" % d, err)

    def test_unknown_key_suggests_the_closest(self):
        d = os.path.join(self.tmp, "d")
        cases = (('[registries.local]\nupstrem = "sparse+http://x/"\n', 'did you mean "upstream"'),
                 ('listen_tsl = ["127.0.0.1:0"]\n[registries.local]\n', 'did you mean "listen_tls"'),
                 ('index_ttl = 5\n[registries.local]\n', "[registries.NAME]"))
        for text, want in cases:
            with self.subTest(want=want):
                path = os.path.join(self.tmp, "k.toml")
                with open(path, "w") as f:
                    f.write('listen = ["127.0.0.1:0"]\ndata_dir = "%s"\n' % d + text)
                rc, out, err = harness.run_crated(["serve", "--config", path])
                self.assertNotEqual(rc, 0)
                self.assertIn(want, err)

    def test_token_help_names_config(self):
        rc, out, err = harness.run_crated(["token", "--help"])
        self.assertEqual(rc, 0, err)
        self.assertIn("--config FILE", out)
        self.assertIn("--data-dir DIR", out)
        rc, out, err = harness.run_crated(["--help"])
        line = [l for l in out.splitlines() if "crated token create" in l]
        self.assertTrue(line and "--config" in line[0], line)

    def test_ready_last_ok_is_also_rfc3339(self):
        si, tree, up, _ = S.standin_registry(self.tmp)
        self.addCleanup(si.stop)
        tree.add("readyc", "1.0.0", make_crate("readyc", "1.0.0"))
        srv = self.start_crated(registries=S.mirror_toml("mirror", up))
        self.assertEqual(srv.get("/mirror/" + index_path("readyc")).status, 200)
        st = [g for g in srv.get("/-/ready").json()["registries"] if g["name"] == "mirror"][0]
        self.assertIsInstance(st.get("last_ok"), int, st)
        self.assertRegex(st.get("last_ok_at", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", st)
        when = datetime.datetime.strptime(st["last_ok_at"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
                         st["last_ok"])


if __name__ == "__main__":
    harness.main()
