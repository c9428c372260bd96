"""A stand-in for an Azure DevOps Artifacts Cargo feed (Python 3 stdlib only),
for crated's upload relay tests.

    ca = make_test_ca(dir)            # CA + server cert for 127.0.0.1 (openssl CLI)
    feed = AzureFeed(ca)              # not started yet
    feed.start()
    ... feed.index_url, feed.token (the Authorization value), feed.secret ...
    feed.stop()

What it does, like the real feed as far as docs/azure-devops-feed.md knows:
* HTTPS on 127.0.0.1 (port 0) with a certificate from the test CA;
* every request needs `Authorization: Basic base64("PAT:<secret>")`, else 401
  with Azure's JSON (TF400813);
* the sparse index under /ORG/_packaging/FEED/Cargo/index/, with a
  config.json whose `dl` and `api` use GUID path segments and a lower-case
  `cargo`;
* downloads answer 302 to a second server on another port playing blob
  storage, which refuses (400, and counts a violation) any request that
  carries an Authorization header;
* PUT {api}/api/v1/crates/new parses cargo's body, stores the crate and
  appends the index line only after `publish_delay` seconds (background
  timer); success answers are NOT cargo's shape ({"id":..,"status":..});
  a version already there gives 409 with Azure's PackageExistsException;
* DELETE .../{name}/{vers}/yank and PUT .../unyank flip `yanked` and answer
  with an EMPTY body (200 and 204);
* it records every request (method, path, Authorization, status, time),
  counts them, and can be put in modes: "ok", "garbage" (200 with an HTML
  sign-in page for everything), "error500" (500 for API writes), "hang"
  (API writes wait `hang_seconds` before being handled).
* one-shot faults for the next API write (`fault`): "reset_after_body"
  (the body is read, then the connection is reset with no answer) and
  "reset_after_commit" (the write is done, then the connection is reset
  instead of answered); `publish_pad` bytes of padding make the publish's
  success answer that much longer; `api_on_alt` (before start) puts the
  `api` of config.json on a second port serving the same feed (another
  origin). Each recorded request has the "port" it came in on.

Every wait is bounded; the servers run in daemon threads and stop() closes
the listening sockets and every open connection (so "stopped" really means
connection refused, not a kept-alive connection that still answers).
"""

import base64
import gzip
import hashlib
import hmac
import io
import json
import os
import socket
import ssl
import struct
import subprocess
import tarfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import index_path, wait_until  # noqa: E402  (one copy, in harness.py)


# ---------------------------------------------------------------------------
# test CA


class TestCA:
    def __init__(self, directory, ca_cert, ca_key, cert, key):
        self.directory = directory
        self.ca_cert = ca_cert      # give this to crated as upstream_ca_file
        self.ca_key = ca_key
        self.cert = cert            # server certificate for 127.0.0.1
        self.key = key


def _openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args),
                                                      p.stderr.decode(errors="replace")))


def make_test_ca(directory):
    """A throw-away CA and a server certificate for IP 127.0.0.1 (EC P-256,
    valid two days), made with the openssl CLI in directory."""
    os.makedirs(directory, exist_ok=True)
    d = directory
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
              "-subj", "/CN=crated relay test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", "server.key", "-out", "server.csr",
              "-subj", "/CN=127.0.0.1"], d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1\n")
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"),
              "-out", "server.pem", "-days", "2", "-extfile", "server.ext"], d)
    return TestCA(d, os.path.join(d, "ca.pem"), os.path.join(d, "ca.key"),
                  os.path.join(d, "server.pem"), os.path.join(d, "server.key"))


# ---------------------------------------------------------------------------
# helpers


def basic_token(secret, user="PAT"):
    """The Authorization value Azure wants for a PAT."""
    return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()


def strip_build(vers):
    return vers.split("+", 1)[0]


def index_line_from_meta(meta, cksum, pubtime=None):
    """The index line for publish metadata, per cargo-registry-protocol.md
    section 9 (save_new_crate)."""
    deps = []
    for d in meta.get("deps") or []:
        renamed = d.get("explicit_name_in_toml")
        deps.append({
            "name": renamed or d["name"],
            "req": d["version_req"],
            "features": list(d.get("features") or []),
            "optional": bool(d.get("optional", False)),
            "default_features": bool(d.get("default_features", True)),
            "target": d.get("target"),
            "kind": d.get("kind") or "normal",
            "registry": d.get("registry"),
            "package": d["name"] if renamed else None,
        })
    line = {
        "name": meta["name"],
        "vers": meta["vers"],
        "deps": deps,
        "cksum": cksum,
        "features": dict(meta.get("features") or {}),
        "yanked": False,
        "links": meta.get("links"),
        "v": 1,
    }
    if meta.get("rust_version"):
        line["rust_version"] = meta["rust_version"]
    line["pubtime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pubtime or time.time()))
    return line


def parse_publish_body(body):
    """(meta dict, crate bytes) or raises ValueError with a message."""
    if len(body) < 4:
        raise ValueError("body too short")
    (jl,) = struct.unpack("<I", body[:4])
    if 4 + jl + 4 > len(body):
        raise ValueError("metadata length %d runs past the body" % jl)
    meta = json.loads(body[4:4 + jl].decode("utf-8"))
    (cl,) = struct.unpack("<I", body[4 + jl:8 + jl])
    if 8 + jl + cl != len(body):
        raise ValueError("crate length %d does not match the body (%d bytes)" % (cl, len(body)))
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) \
            or not isinstance(meta.get("vers"), str):
        raise ValueError("metadata has no name/vers")
    return meta, body[8 + jl:]


def crate_top_files(crate):
    """Names inside a .crate (gzip'd tar); raises on a broken archive."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(crate)), mode="r:") as tf:
        return tf.getnames()


def azure_error(message, type_key, type_name=None):
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": type_name or ("Microsoft.VisualStudio.Services.Packaging.%s, "
                                  "Microsoft.VisualStudio.Services.Packaging.Shared" % type_key),
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    }


UNAUTHORIZED = {
    "$id": "1",
    "innerException": None,
    "message": "TF400813: The user 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' is not authorized "
               "to access this resource.",
    "typeName": "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, "
                "Microsoft.TeamFoundation.Framework.Server",
    "typeKey": "UnauthorizedRequestException",
    "errorCode": 0,
    "eventId": 3000,
}

SIGNIN_HTML = (b"<!DOCTYPE html><html><head><title>Sign in to your account</title></head>"
               b"<body><form action=\"https://login.microsoftonline.com/\">Sign in</form>"
               b"</body></html>\n")


# ---------------------------------------------------------------------------
# servers


class _Reset(OSError):
    """Raised by a handler to drop its connection with a TCP reset."""


def _reset(h):
    """Resets h's connection (SO_LINGER 0, then the server closes it) and
    ends the request with no answer."""
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    h.close_connection = True
    raise _Reset("connection reset by the stand-in")


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that does TLS in the connection's own thread
    (a stuck handshake never blocks accept) and can cut every connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, owner, ssl_ctx=None):
        self.owner = owner
        self.ssl_ctx = ssl_ctx
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        sock = request
        try:
            if self.ssl_ctx is not None:
                request.settimeout(10)
                sock = self.ssl_ctx.wrap_socket(request, server_side=True)
            sock.settimeout(60)
            with self.conns_lock:
                self.conns.add(sock)
            self.RequestHandlerClass(sock, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.conns_lock:
                self.conns.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass   # a client going away is not the test's business

    def cut_all(self):
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    # plumbing
    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _send(self, status, body=b"", ctype="application/json; charset=utf-8", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
        self._status = status

    def _dispatch(self):
        self._status = None
        body = self._body() if self.command in ("PUT", "POST", "DELETE", "PATCH") else b""
        try:
            self.server.owner._handle(self, body)
        finally:
            self.server.owner._record_status(self)

    do_GET = do_PUT = do_DELETE = do_POST = do_HEAD = do_PATCH = _dispatch


class AzureFeed:
    """The fake feed. See the module doc string."""

    def __init__(self, ca, org="contoso", feed="hyperlight_redist", secret=None,
                 publish_delay=3.0, blob_tls=True):
        self.ca = ca
        self.org = org
        self.feed = feed
        self.project_guid = str(uuid.uuid4())
        self.feed_guid = str(uuid.uuid4())
        self.secrets = [secret or ("pat-" + os.urandom(12).hex() + "-SeCrEt")]
        self.publish_delay = publish_delay
        self.publish_status = 200
        self.blob_tls = blob_tls
        self.mode = "ok"
        self.hang_seconds = 40.0
        self.fault = None       # one-shot: "reset_after_body", "reset_after_commit"
        self.publish_pad = 0    # bytes of padding in a publish's success answer
        self.api_on_alt = False
        self.alt = None
        self.lock = threading.Lock()
        self.index = {}         # lower name -> [line dict]
        self.crates = {}        # (lower name, vers) -> bytes
        self.pending = set()    # (lower name, stripped vers) published, not yet in index
        self.requests = []      # dicts: t, method, path, auth, status
        self.blob_requests = []
        self.violations = []
        self.publishes = []     # dicts: t, name, vers, auth, body, crate
        self.visible_at = {}    # (lower name, vers) -> time the line was appended
        self.first_served = {}  # (lower name, vers) -> first index 200 carrying it
        self.timers = []
        self.sig_key = os.urandom(16)
        self.main = None
        self.blob = None
        self.threads = []

    # -- properties
    @property
    def secret(self):
        return self.secrets[0]

    @property
    def token(self):
        return basic_token(self.secrets[0])

    @property
    def port(self):
        return self.main.server_address[1]

    @property
    def blob_port(self):
        return self.blob.server_address[1]

    @property
    def base(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def index_prefix(self):
        return "/%s/_packaging/%s/Cargo/index/" % (self.org, self.feed)

    @property
    def index_url(self):
        return "sparse+" + self.base + self.index_prefix

    @property
    def api_prefix(self):
        return "/%s/%s/_packaging/%s/cargo" % (self.org, self.project_guid, self.feed_guid)

    @property
    def api(self):
        if self.api_on_alt:
            return "https://127.0.0.1:%d%s" % (self.alt.server_address[1], self.api_prefix)
        return self.base + self.api_prefix

    @property
    def dl(self):
        return self.api + "/api/v1/crates/{crate}/{version}/download"

    # -- life cycle
    def _ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.ca.cert, self.ca.key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def start(self):
        self.main = _Server(("127.0.0.1", 0), _Handler, self, self._ctx())
        self.blob = _Server(("127.0.0.1", 0), _BlobHandler, self,
                            self._ctx() if self.blob_tls else None)
        if self.api_on_alt:
            self.alt = _Server(("127.0.0.1", 0), _Handler, self, self._ctx())
        for s in (self.main, self.blob, self.alt):
            if s is None:
                continue
            t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        """Closes both listening sockets and every open connection; pending
        index appends are cancelled. Idempotent."""
        for t in self.timers:
            t.cancel()
        for s in (self.main, self.blob, self.alt):
            if s is None:
                continue
            try:
                s.shutdown()
            except Exception:
                pass
            s.server_close()
            s.cut_all()
        for t in self.threads:
            t.join(timeout=5)
        self.threads = []

    # -- state for tests
    def set_secrets(self, *secrets):
        with self.lock:
            self.secrets = list(secrets)

    def seed(self, name, vers, crate, deps=None, features=None):
        """Puts a crate in the feed directly (visible at once)."""
        meta = {"name": name, "vers": vers, "deps": deps or [], "features": features or {}}
        line = index_line_from_meta(meta, hashlib.sha256(crate).hexdigest())
        with self.lock:
            self.crates[(name.lower(), vers)] = crate
            self.index.setdefault(name.lower(), []).append(line)
        return line

    def lines(self, name):
        with self.lock:
            return [dict(l) for l in self.index.get(name.lower(), [])]

    def crate(self, name, vers):
        with self.lock:
            return self.crates.get((name.lower(), vers))

    def count(self, method=None, path=None, pred=None):
        with self.lock:
            reqs = list(self.requests)
        return sum(1 for r in reqs if (method is None or r["method"] == method)
                   and (path is None or r["path"] == path)
                   and (pred is None or pred(r)))

    def total(self):
        with self.lock:
            return len(self.requests) + len(self.blob_requests)

    def auth_values(self):
        with self.lock:
            return sorted({r["auth"] for r in self.requests if r["auth"] is not None})

    def index_file_path(self, name):
        return self.index_prefix + index_path(name)

    def api_path(self, rest):
        return self.api_prefix + "/api/v1/crates" + rest

    def wait(self, pred, timeout, step=0.05):
        return wait_until(pred, timeout, step)

    # -- request handling (runs in server threads)
    def _record_status(self, h):
        with self.lock:
            if getattr(h, "_rec", None) is not None:
                h._rec["status"] = h._status

    def _handle(self, h, body):
        raw_path = h.path
        path = raw_path.split("?", 1)[0]
        auth = h.headers.get("Authorization")
        rec = {"t": time.monotonic(), "method": h.command, "path": path, "auth": auth,
               "status": None, "len": len(body), "port": h.server.server_address[1]}
        h._rec = rec
        is_write = h.command in ("PUT", "DELETE") and path.startswith(self.api_prefix + "/")
        with self.lock:
            self.requests.append(rec)
            secrets = list(self.secrets)
            mode = self.mode
            fault = self.fault if is_write else None
            if fault is not None:
                self.fault = None
        if auth is None or auth not in [basic_token(s) for s in secrets]:
            h._send(401, UNAUTHORIZED, headers=[
                ("WWW-Authenticate", 'Bearer authorization_uri=https://login.windows.net/'
                 '00000000-0000-0000-0000-000000000000, Basic realm="https://pkgsprodeus21.'
                 'pkgs.visualstudio.com/", TFS-Federated'),
                ("X-TFS-ProcessId", str(uuid.uuid4())),
                ("x-cache", "CONFIG_NOCACHE")])
            return
        if mode == "garbage":
            h._send(200, SIGNIN_HTML, ctype="text/html; charset=utf-8")
            return
        if fault == "reset_after_body":
            _reset(h)
        if fault == "reset_after_commit":
            # do the write, but never answer it
            h._send = lambda status, *a, **kw: setattr(h, "_status", status)
        if is_write and mode == "hang":
            time.sleep(self.hang_seconds)   # the behaviour under test: a slow feed
        if is_write and mode == "error500":
            h._send(500, azure_error("VS800000: An internal error occurred (test stand-in).",
                                     "InternalServerErrorException"))
            return
        if path.startswith(self.index_prefix):
            self._index(h, path[len(self.index_prefix):])
        elif path.startswith(self.api_prefix + "/api/v1/crates"):
            self._api(h, path[len(self.api_prefix + "/api/v1/crates"):], body, auth)
        else:
            h._send(404, azure_error("The resource cannot be found.", "ResourceNotFoundException"))
        if fault == "reset_after_commit":
            _reset(h)

    def _index(self, h, rel):
        if h.command not in ("GET", "HEAD"):
            h._send(405, azure_error("Method not allowed.", "MethodNotAllowedException"))
            return
        if rel == "config.json":
            h._send(200, {"dl": self.dl, "api": self.api, "auth-required": True})
            return
        name = rel.rsplit("/", 1)[-1]
        with self.lock:
            lines = self.index.get(name) if index_path(name) == rel else None
            text = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines) \
                if lines else None
            if lines:
                now = time.monotonic()
                for l in lines:
                    self.first_served.setdefault((name, l["vers"]), now)
        if text is None:
            h._send(404, azure_error("The package '%s' could not be found in feed '%s'."
                                     % (name, self.feed), "PackageNotFoundException"))
            return
        data = text.encode()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:32]
        if h.headers.get("If-None-Match") == etag:
            h._send(304, b"", headers=[("ETag", etag)])
            return
        h._send(200, data, ctype="text/plain; charset=utf-8", headers=[("ETag", etag)])

    def _api(self, h, rest, body, auth):
        parts = [urllib.parse.unquote(p) for p in rest.split("/")[1:]] if rest else []
        if h.command == "PUT" and parts == ["new"]:
            self._publish(h, body, auth)
        elif h.command == "GET" and len(parts) == 3 and parts[2] == "download":
            self._download(h, parts[0], parts[1])
        elif len(parts) == 3 and parts[2] in ("yank", "unyank") and \
                h.command == ("DELETE" if parts[2] == "yank" else "PUT"):
            self._yank(h, parts[0], parts[1], parts[2] == "yank")
        else:
            h._send(404, azure_error("The requested API is not supported by this feed.",
                                     "ApiResourceNotFoundException"))

    def _publish(self, h, body, auth):
        try:
            meta, crate = parse_publish_body(body)
            names = crate_top_files(crate)
        except Exception as e:
            h._send(400, azure_error("The package could not be read: %s" % e,
                                     "InvalidPackageException"))
            return
        name, vers = meta["name"], meta["vers"]
        if "%s-%s/Cargo.toml" % (name, vers) not in names:
            h._send(400, azure_error("The package file does not contain %s-%s/Cargo.toml."
                                     % (name, vers), "InvalidPackageException"))
            return
        key = (name.lower(), strip_build(vers))
        with self.lock:
            exists = key in self.pending or any(
                strip_build(l["vers"]) == key[1] for l in self.index.get(name.lower(), []))
            if not exists:
                self.pending.add(key)
                self.crates[(name.lower(), vers)] = crate
                self.publishes.append({"t": time.monotonic(), "name": name, "vers": vers,
                                       "auth": auth, "body": body, "crate": crate,
                                       "meta": meta})
        if exists:
            h._send(409, azure_error(
                "The feed '%s' already contains file '%s-%s.crate' in package '%s %s'."
                % (self.feed, name, vers, name, vers), "PackageExistsException",
                "Microsoft.VisualStudio.Services.Packaging.Shared.WebApi.Exceptions."
                "PackageExistsException, Microsoft.VisualStudio.Services.Packaging.Shared.WebApi"))
            return
        line = index_line_from_meta(meta, hashlib.sha256(crate).hexdigest())

        def append():
            with self.lock:
                self.index.setdefault(name.lower(), []).append(line)
                self.pending.discard(key)
                self.visible_at[(name.lower(), vers)] = time.monotonic()

        t = threading.Timer(self.publish_delay, append)
        t.daemon = True
        self.timers.append(t)
        t.start()
        answer = {"id": str(uuid.uuid4()), "status": "accepted",
                  "package": {"name": name, "version": vers}}
        if self.publish_pad:
            answer["padding"] = "x" * self.publish_pad
        h._send(self.publish_status, answer)

    def _find_line(self, name, vers):
        for l in self.index.get(name.lower(), []):
            if l["vers"] == vers:
                return l
        return None

    def _yank(self, h, name, vers, yank):
        with self.lock:
            line = self._find_line(name, vers)
            if line is not None:
                line["yanked"] = yank
        if line is None:
            h._send(404, azure_error("The package '%s' version '%s' could not be found in feed "
                                     "'%s'." % (name, vers, self.feed),
                                     "PackageVersionNotFoundException"))
            return
        if yank:
            h._send(200, b"", ctype="application/json")
        else:
            h._send(204)

    def _sig(self, sha):
        return hmac.new(self.sig_key, sha.encode(), hashlib.sha256).hexdigest()[:24]

    def _download(self, h, name, vers):
        with self.lock:
            crate = self.crates.get((name.lower(), vers))
            line = self._find_line(name, vers)
        if crate is None or line is None:
            h._send(404, azure_error("The package '%s' version '%s' could not be found."
                                     % (name, vers), "PackageVersionNotFoundException"))
            return
        sha = hashlib.sha256(crate).hexdigest()
        loc = "%s://127.0.0.1:%d/feedblobs/%s?sv=2023-01-03&sr=b&sp=r&se=%s&sig=%s" % (
            "https" if self.blob_tls else "http", self.blob_port, sha,
            time.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ", time.gmtime(time.time() + 600)),
            self._sig(sha))
        h._send(302, b"", headers=[("Location", loc)])

    def _blob(self, h):
        path, _, query = h.path.partition("?")
        auth = h.headers.get("Authorization")
        rec = {"t": time.monotonic(), "method": h.command, "path": path, "auth": auth,
               "status": None}
        h._rec = rec
        with self.lock:
            self.blob_requests.append(rec)
        if auth is not None:
            with self.lock:
                self.violations.append("Authorization sent to blob storage: %s %s" % (
                    h.command, path))
            h._send(400, b'<?xml version="1.0" encoding="utf-8"?><Error><Code>'
                    b'InvalidAuthenticationInfo</Code><Message>Authentication information is '
                    b'not given in the correct format.</Message></Error>', ctype="application/xml")
            return
        sha = path.rsplit("/", 1)[-1]
        q = urllib.parse.parse_qs(query)
        with self.lock:
            crate = None
            for data in self.crates.values():
                if hashlib.sha256(data).hexdigest() == sha:
                    crate = data
        if crate is None or q.get("sig") != [self._sig(sha)]:
            h._send(403, b'<?xml version="1.0" encoding="utf-8"?><Error><Code>'
                    b'AuthenticationFailed</Code></Error>', ctype="application/xml")
            return
        h._send(200, crate, ctype="application/octet-stream")


class _BlobHandler(_Handler):
    server_version = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"

    def _dispatch(self):
        self._status = None
        if self.command in ("PUT", "POST", "DELETE"):
            self._body()
        try:
            self.server.owner._blob(self)
        finally:
            self.server.owner._record_status(self)

    do_GET = do_PUT = do_DELETE = do_POST = do_HEAD = _dispatch
