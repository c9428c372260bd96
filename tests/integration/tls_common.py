"""TLS pieces shared by test_tls.py and test_harden_conn.py: a test CA
and server certificates made with the openssl CLI (Pki), client contexts
and connections, and TlsBase, a test case with a TLS listener."""

import http.client
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import free_port  # noqa: E402


OPENSSL = shutil.which("openssl")


class Pki:
    """A test CA and server certificates, made with the openssl CLI."""

    def __init__(self, d, ca_days=3, ca_name="crated test CA"):
        self.d = d
        os.makedirs(d, exist_ok=True)
        self.ca_key = os.path.join(d, "ca.key")
        self.ca = os.path.join(d, "ca.pem")
        self._run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                   "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", str(ca_days),
                   "-subj", "/CN=" + ca_name,
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def _run(self, args):
        p = subprocess.run([OPENSSL] + args, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode()))
        return p.stdout.decode()

    def leaf(self, name, serial, cn, san="IP:127.0.0.1", ca=None, ca_key=None, is_ca=False):
        """(cert path, key path) of a certificate signed by the CA (or by
        ca/ca_key)."""
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        crt = os.path.join(self.d, name + ".pem")
        ext = os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            if is_ca:
                f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
            else:
                f.write("basicConstraints=CA:FALSE\nsubjectAltName=%s\n"
                        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n" % san)
        self._run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", key, "-out", csr, "-subj", "/CN=" + cn])
        self._run(["x509", "-req", "-in", csr, "-CA", ca or self.ca, "-CAkey", ca_key or self.ca_key,
                   "-set_serial", str(serial), "-days", "2", "-out", crt, "-extfile", ext])
        return crt, key


def client_ctx(cafile, minv=None, maxv=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minv is not None:
            ctx.minimum_version = minv
        if maxv is not None:
            ctx.maximum_version = maxv
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_connect(port, ctx, timeout=10):
    """A verified TLS socket to 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(s, server_hostname="127.0.0.1")
    except BaseException:
        s.close()
        raise


def https_get(port, cafile, path, headers=None, timeout=15):
    """(Resp, peer certificate dict, TLS version, cipher)."""
    ctx = client_ctx(cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        cert = conn.sock.getpeercert()
        ver, cipher = conn.sock.version(), conn.sock.cipher()
        return harness.Resp(r.status, r.reason, list(r.getheaders()), body), cert, ver, cipher
    finally:
        conn.close()


def subject_cn(cert):
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def client_hello(version, ciphers=(0xC02B, 0xC02F, 0xC009, 0xC013, 0x002F, 0x0035)):
    """Bytes of a minimal ClientHello offering only the given (legacy)
    version: record version 3.1, no supported_versions extension."""
    body = struct.pack(">H", version) + os.urandom(32) + b"\x00"
    body += struct.pack(">H", 2 * len(ciphers)) + b"".join(struct.pack(">H", c) for c in ciphers)
    body += b"\x01\x00"
    exts = b""
    exts += struct.pack(">HHH", 0x000a, 4, 2) + struct.pack(">H", 0x0017)     # secp256r1
    exts += struct.pack(">HHB", 0x000b, 2, 1) + b"\x00"                       # uncompressed
    body += struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


class TlsFiles(harness.TestCase):
    """A test case with a test CA (self.pki, made by make_pki) and the
    first server certificate installed at self.cert / self.key (made by
    first_leaf); skipped without the openssl CLI."""

    make_pki = Pki

    def first_leaf(self):
        return self.pki.leaf("one", 0x1001, "crated-one")

    def setUp(self):
        super().setUp()
        if not OPENSSL:
            self.skipTest("no openssl CLI")
        self.pki = type(self).make_pki(os.path.join(self.tmp, "pki"))
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.install(*self.first_leaf())

    def install(self, crt, key):
        shutil.copy(key, self.key)
        shutil.copy(crt, self.cert)


class TlsBase(TlsFiles):

    def start_tls(self, registries="[registries.local]\n", extra="", public=True,
                  config_path=None):
        """crated with listen 127.0.0.1:0 and listen_tls on a picked port;
        public_url is https://127.0.0.1:TLSPORT unless public is False.
        Sets self.srv, self.tls_port, self.cfg."""
        last = None
        for attempt in range(3):
            self.tls_port = free_port()
            text = 'listen_tls = ["127.0.0.1:%d"]\ntls_cert = "%s"\ntls_key = "%s"\n' % (
                self.tls_port, self.cert, self.key)
            if public:
                text += 'public_url = "https://127.0.0.1:%d"\n' % self.tls_port
            self.cfg = harness.write_config(os.path.join(self.tmp, "crated.toml"),
                                            os.path.join(self.tmp, "data"),
                                            extra=text + extra, registries=registries)
            if config_path is not None:
                config_path()
            try:
                srv = harness.start_crated(self.tmp, config_path=self.cfg)
            except AssertionError as e:
                last = e
                if "cannot listen" in str(e) or "in use" in str(e):
                    continue        # the picked port was taken meanwhile
                raise
            self.addCleanup(srv.stop)
            self.srv = srv
            want = "listening on 127.0.0.1:%d (TLS)" % self.tls_port
            harness.wait_until(lambda: want in srv.log_text(), 5)
            self.assertIn(want, srv.log_text())
            return srv
        raise last

    def serial_cn(self):
        r, cert, _, _ = https_get(self.tls_port, self.pki.ca, "/local/config.json")
        self.assertEqual(r.status, 200, r)
        return cert["serialNumber"].lstrip("0").upper(), subject_cn(cert)

    def wait_log_count(self, text, n, timeout=5.0):
        harness.wait_until(lambda: self.srv.log_text().count(text) >= n, timeout)
        self.assertGreaterEqual(self.srv.log_text().count(text), n,
                                "log never said %r (%d times); tail:\n%s"
                                % (text, n, self.srv.log_tail()))
