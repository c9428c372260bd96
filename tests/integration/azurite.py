"""Azurite (Azure Blob Storage's emulator, npm azurite@3.37.0 installed
into tests/node/ by ./dev.sh test) for the storage tests, and the Azure
signing the tests need themselves (SharedKey for creating a container, an
account SAS), written from Azure's documentation independently of
crated's C.

Azurite(): starts azurite-blob on a free 127.0.0.1 port, in memory, waits
for its port (never a sleep), .stop() ends it. Its well-known development
account and key are ACCOUNT and KEY.
"""

import base64
import email.utils
import hashlib
import hmac
import http.client
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ACCOUNT = "devstoreaccount1"
KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr"
       "/KBHBeksoGMGw==")
VERSION = "2021-12-02"
BIN = os.path.join(harness.REPO, "tests", "node", "node_modules", ".bin", "azurite-blob")


def installed():
    return os.access(BIN, os.X_OK)


def string_to_sign(verb, headers, resource, query):
    """Azure's SharedKey string to sign. headers: {name: value} (any case);
    resource: "/ACCOUNT/PATH" (the path as sent); query: {name: value}."""
    h = {k.lower(): v for k, v in headers.items()}
    length = h.get("content-length", "")
    if length == "0":
        length = ""
    fields = [verb, h.get("content-encoding", ""), h.get("content-language", ""), length,
              h.get("content-md5", ""), h.get("content-type", ""), h.get("date", ""),
              h.get("if-modified-since", ""), h.get("if-match", ""),
              h.get("if-none-match", ""), h.get("if-unmodified-since", ""),
              h.get("range", "")]
    ms = "".join("%s:%s\n" % (k, h[k]) for k in sorted(h) if k.startswith("x-ms-"))
    canon = resource + "".join("\n%s:%s" % (k.lower(), query[k])
                               for k in sorted(query, key=str.lower))
    return "\n".join(fields) + "\n" + ms + canon


def shared_key(key_b64, sts):
    mac = hmac.new(base64.b64decode(key_b64), sts.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def account_sas(account=ACCOUNT, key=KEY, permissions="rwdlac",
                expiry="2099-01-01T00:00:00Z"):
    """An account SAS for the blob service (version 2019-12-12's string to
    sign: no encryption-scope line)."""
    sv, ss, srt, spr = "2019-12-12", "b", "sco", "https,http"
    sts = "\n".join([account, permissions, ss, srt, "", expiry, "", spr, sv, ""])
    sig = shared_key(key, sts)
    return urllib.parse.urlencode({"sv": sv, "ss": ss, "srt": srt, "sp": permissions,
                                   "se": expiry, "spr": spr, "sig": sig})


class Azurite:
    def __init__(self, tmp):
        if not installed():
            raise RuntimeError("Azurite is not installed (%s): run ./dev.sh test,"
                               " which runs npm ci in tests/node" % BIN)
        self.port = harness.free_port()
        # A directory of its own (not --inMemoryPersistence: blobs stay
        # across stop() and a new Azurite(tmp) on it, a store that was
        # down and came back).
        self.dir = os.path.join(tmp, "azurite")
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(tmp, "azurite.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--loose", "--skipApiVersionCheck", "--disableTelemetry",
             "--location", self.dir],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=tmp)
        ok = harness.wait_until(lambda: self.proc.poll() is not None or
                                harness.port_answers(self.port), 60)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("Azurite did not listen on %d (see %s)" %
                               (self.port, self.log.name))

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, query=None, body=b"", headers=None):
        """A SharedKey-signed request; path is /CONTAINER[/BLOB]."""
        query = dict(query or {})
        h = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": VERSION,
             "Content-Length": str(len(body))}
        h.update(headers or {})
        full = "/%s%s" % (ACCOUNT, path)
        sts = string_to_sign(method, h, "/%s%s" % (ACCOUNT, full), query)
        h["Authorization"] = "SharedKey %s:%s" % (ACCOUNT, shared_key(KEY, sts))
        url = full + ("?" + urllib.parse.urlencode(query) if query else "")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            c.request(method, url, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            c.close()

    def create_container(self, name):
        status, body, _ = self.request("PUT", "/" + name, {"restype": "container"})
        if status not in (201, 409):
            raise RuntimeError("create container %s: %d %r" % (name, status, body))

    def get_blob(self, container, blob):
        status, body, _ = self.request("GET", "/%s/%s" % (container, blob))
        return body if status == 200 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
