"""Stand-in upstreams and helpers for the mirror tests (Python 3 stdlib only).

Everything listens on 127.0.0.1 only; every wait is bounded; every thread
is a daemon and every server/subprocess started here has a stop().

* StandIn: a controllable HTTP/1.1 upstream (ThreadingHTTPServer) that
  serves an in-memory file tree (with ETag / Last-Modified validators and
  304s), records every request (method, path, headers), and lets a test
  replace the answer for any path with a fault behaviour (hang, trickle,
  truncate, status, redirect, garbage, hold until released ...).
* RegistryTree: builds a registry's files (config.json, index lines in
  the exact protocol format, .crate files) into a StandIn and/or a
  directory on disk.
* HttpServerProc: `python3 -m http.server` as a subprocess, with its
  stderr request log parsed.
* ForwardProxy: a small forward proxy (absolute-URI requests and CONNECT)
  that counts what it relays.
* cargo_package / package_into: .crate files made by `cargo package`
* helpers for a crated config with a mirror registry, crated's access log,
  and `cargo package`.
"""

import email.utils
import hashlib
import http.client
import http.server
import json
import os
import re
import select
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FIXED_MTIME = 1700000000


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# index lines


def index_dep(name, req, package=None, registry=None, kind="normal",
              optional=False, default_features=True, features=(), target=None):
    """One dependency object of an index line (all fields written)."""
    return {"name": name, "req": req, "features": list(features),
            "optional": optional, "default_features": default_features,
            "target": target, "kind": kind, "registry": registry,
            "package": package}


def index_line(name, vers, cksum, deps=(), features=None, yanked=False,
               links=None):
    """One index line, compact JSON in the protocol's field order, no
    trailing newline."""
    doc = {"name": name, "vers": vers, "deps": list(deps), "cksum": cksum,
           "features": dict(features or {}), "yanked": yanked,
           "links": links, "v": 1}
    return json.dumps(doc, separators=(",", ":"))


def parse_lines(body):
    if isinstance(body, bytes):
        body = body.decode()
    return [json.loads(l) for l in body.split("\n") if l.strip()]


def expand_dl(template, name, vers, cksum):
    """cargo's crate_url()."""
    markers = ("{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}")
    if not any(m in template for m in markers):
        return "%s/%s/%s/download" % (template, name, vers)
    return (template.replace("{crate}", name).replace("{version}", vers)
            .replace("{prefix}", harness.dir_prefix(name))
            .replace("{lowerprefix}", harness.dir_prefix(name).lower())
            .replace("{sha256-checksum}", cksum))


# ---------------------------------------------------------------------------
# a controllable upstream


class Req:
    def __init__(self, method, path, headers, t):
        self.method = method
        self.path = path
        self.headers = headers      # dict, lowercase names
        self.t = t

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return "<Req %s %s ua=%r auth=%r>" % (self.method, self.path,
                                              self.headers.get("user-agent"),
                                              self.headers.get("authorization"))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"

    def log_message(self, fmt, *args):   # quiet
        pass

    def setup(self):
        super().setup()
        si = self.server.standin
        with si.lock:
            si.conns.add(self.connection)

    def finish(self):
        si = self.server.standin
        with si.lock:
            si.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self):
        si = self.server.standin
        path = self.path
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        body = b""
        n = int(hdrs.get("content-length") or 0)
        if n:
            body = self.rfile.read(n)
        self.req_body = body
        req = Req(self.command, path, hdrs, time.monotonic())
        si._record(req)
        behaviour = si._behaviour_for(path)
        try:
            if behaviour is not None:
                behaviour(self, req)
            else:
                serve_file(self, req)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = _dispatch

    # helpers for behaviours
    def send_full(self, status, body=b"", headers=(), reason=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status, reason)
        have_ct = False
        for k, v in headers:
            if k.lower() == "content-type":
                have_ct = True
            self.send_header(k, v)
        if not have_ct and status != 304:
            self.send_header("Content-Type", "text/plain")
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()


def serve_file(h, req):
    """Default behaviour: the StandIn's file for the path (query ignored),
    with ETag and Last-Modified, 304 on a matching validator, else 404."""
    si = h.server.standin
    path = req.path.split("?", 1)[0]
    with si.lock:
        f = si.files.get(path)
    if f is None:
        h.send_full(404, '{"errors":[{"detail":"not found"}]}',
                    [("Content-Type", "application/json")])
        return
    data, ctype, mtime = f
    etag = '"%s"' % sha256_hex(data)[:20]
    lm = email.utils.formatdate(mtime, usegmt=True)
    hdrs = [("Content-Type", ctype), ("Last-Modified", lm)]
    if si.send_etag:
        hdrs.append(("ETag", etag))
    inm = req.header("if-none-match")
    ims = req.header("if-modified-since")
    if si.send_etag and inm is not None and inm == etag:
        h.send_full(304, b"", [("ETag", etag)])
        return
    if inm is None and ims is not None:
        t = email.utils.parsedate_to_datetime(ims).timestamp() if ims else None
        if t is not None and int(t) >= int(mtime):
            h.send_full(304, b"", [("Last-Modified", lm)])
            return
    h.send_full(200, data, hdrs)


class StandIn:
    """A controllable upstream on 127.0.0.1. files: {url path: (bytes,
    content type, mtime)}; behaviours: {url path: callable(handler, req)}
    overriding the file (a path ending in '*' matches as a prefix)."""

    def __init__(self, port=0, ssl_context=None):
        self.lock = threading.Lock()
        self.files = {}
        self.behaviours = {}
        self.default = None
        self.requests = []
        self.conns = set()          # open client connections
        self.send_etag = True
        self.release = threading.Event()     # ends hanging behaviours
        self._ssl = ssl_context
        self._start(port)

    def _start(self, port):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        srv.daemon_threads = True
        srv.block_on_close = False
        srv.standin = self
        if self._ssl is not None:
            srv.socket = self._ssl.wrap_socket(srv.socket, server_side=True)
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.running = True

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self._ssl else "http", self.port)

    def url(self, path):
        return self.base + path

    def stop(self):
        """Closes the listening socket (connections are then refused).
        Hanging behaviours are released."""
        if not self.running:
            return
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()
        # kept-alive connections would go on being served: cut them
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=10)
        self.running = False

    def restart(self):
        """Listens again on the same port."""
        if self.running:
            return
        self.release = threading.Event()

        def started():
            try:
                self._start(self.port)
                return True
            except OSError:
                return False        # the port is not free yet
        if not harness.wait_until(started, 10, 0.1):
            self._start(self.port)  # raises the OSError

    # content
    def put_file(self, path, data, ctype="text/plain", mtime=None):
        if isinstance(data, str):
            data = data.encode()
        with self.lock:
            old = self.files.get(path)
            if mtime is None:
                # a changed file gets a later Last-Modified
                mtime = FIXED_MTIME if old is None else max(old[2] + 1, int(time.time()))
            self.files[path] = (data, ctype, mtime)

    def del_file(self, path):
        with self.lock:
            self.files.pop(path, None)

    def set(self, path, behaviour):
        """Replaces the answer for path (None: back to the file)."""
        with self.lock:
            if behaviour is None:
                self.behaviours.pop(path, None)
            else:
                self.behaviours[path] = behaviour

    def clear_behaviours(self):
        with self.lock:
            self.behaviours.clear()

    def _behaviour_for(self, path):
        p = path.split("?", 1)[0]
        with self.lock:
            if p in self.behaviours:
                return self.behaviours[p]
            for k, b in self.behaviours.items():
                if k.endswith("*") and p.startswith(k[:-1]):
                    return b
            return self.default

    # request log
    def _record(self, req):
        with self.lock:
            self.requests.append(req)

    def reqs(self, path=None, prefix=None):
        with self.lock:
            rs = list(self.requests)
        if path is not None:
            rs = [r for r in rs if r.path.split("?", 1)[0] == path]
        if prefix is not None:
            rs = [r for r in rs if r.path.startswith(prefix)]
        return rs

    def count(self, path=None, prefix=None):
        return len(self.reqs(path, prefix))

    def mark(self):
        with self.lock:
            return len(self.requests)

    def since(self, mark):
        with self.lock:
            return list(self.requests[mark:])


# behaviours -----------------------------------------------------------------


def b_status(status, body=b"", headers=(), reason=None):
    def f(h, req):
        h.send_full(status, body, headers, reason)
    return f


def b_body(body, ctype="text/plain", headers=()):
    """200 with this body (and no validators)."""
    def f(h, req):
        h.send_full(200, body, [("Content-Type", ctype)] + list(headers))
    return f


def b_redirect(location, status=302, body=b"", ctype="text/html"):
    def f(h, req):
        h.send_full(status, body, [("Location", location), ("Content-Type", ctype)])
    return f


def b_hang(max_s=60):
    """Accepts the request and never answers (until the StandIn's release
    event, or max_s); then closes the connection without a response."""
    def f(h, req):
        h.server.standin.release.wait(max_s)
        h.close_connection = True
    return f


def b_trickle(body, interval=1.0, max_s=60):
    """200 with Content-Length, then one byte every interval seconds."""
    def f(h, req):
        si = h.server.standin
        if isinstance(body, str):
            data = body.encode()
        else:
            data = body
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.flush()
        t0 = time.monotonic()
        for i in range(len(data)):
            if si.release.wait(interval) or time.monotonic() - t0 > max_s:
                break
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
        h.close_connection = True
    return f


def b_truncate(body, claim_extra=1000, ctype="text/plain", headers=()):
    """Content-Length larger than what is sent; sends half of body (at
    least one byte), then closes."""
    def f(h, req):
        data = body.encode() if isinstance(body, str) else body
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data) + claim_extra))
        h.end_headers()
        h.wfile.write(data[:max(1, len(data) // 2)])
        h.wfile.flush()
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return f


def b_hold(gate, then=None, max_s=20):
    """Waits for gate (a threading.Event; bounded by max_s), then answers
    with then (default: the file)."""
    def f(h, req):
        gate.wait(max_s)
        (then or serve_file)(h, req)
    return f


def b_require_no_auth(then=None):
    """Fails (400) any request carrying an Authorization header."""
    def f(h, req):
        if req.header("authorization") is not None:
            h.send_full(400, "Authorization header leaked to another host: %s"
                        % req.header("authorization"))
            return
        (then or serve_file)(h, req)
    return f


def b_require_auth(value, then=None):
    def f(h, req):
        if req.header("authorization") != value:
            h.send_full(401, '{"errors":[{"detail":"wrong or missing token"}]}',
                        [("Content-Type", "application/json")])
            return
        (then or serve_file)(h, req)
    return f


def b_sequence(*behaviours):
    """The n-th request gets behaviours[n] (the last one repeats)."""
    state = {"n": 0}
    lock = threading.Lock()

    def f(h, req):
        with lock:
            i = min(state["n"], len(behaviours) - 1)
            state["n"] += 1
        behaviours[i](h, req)
    return f


# ---------------------------------------------------------------------------
# registry trees


class RegistryTree:
    """A registry's files: config.json, index files (lines appended per
    version, exact protocol format), .crate files at the dl template's
    locations. base: the URL path prefix on the server ("/reg/"); the
    index URL is <server>/<base>. dl: a template with markers, relative to
    the server root if it starts with '/'."""

    def __init__(self, base="/", dl="/crates/{crate}/{crate}-{version}.crate",
                 api=None, extra_config=None):
        assert base.startswith("/") and base.endswith("/")
        self.base = base
        self.dl = dl
        self.api = api
        self.extra_config = dict(extra_config or {})
        self.index = {}       # index path -> [line str]
        self.crates = {}      # url path -> bytes
        self.cksums = {}      # (name, vers) -> cksum
        self.server_base = None
        self.targets = []     # StandIns / directories kept in sync

    def config_json(self, server_base):
        dl = self.dl
        if dl is not None and dl.startswith("/"):
            dl = server_base + dl
        doc = {}
        if dl is not None:
            doc["dl"] = dl
        if self.api is not None:
            doc["api"] = self.api
        doc.update(self.extra_config)
        return json.dumps(doc)

    def add(self, name, vers, crate, deps=(), features=None, yanked=False, cksum=None):
        """Adds a version; returns its index line."""
        ck = cksum or sha256_hex(crate)
        line = index_line(name, vers, ck, deps, features, yanked)
        self.index.setdefault(harness.index_path(name), []).append(line)
        self.cksums[(name, vers)] = ck
        if self.dl is not None and crate is not None:
            url = expand_dl(self.dl, name, vers, ck)
            path = urllib.parse.urlsplit(url).path if "://" in url else url
            self.crates[path] = crate
        self._sync()
        return line

    def set_yanked(self, name, vers, yanked=True):
        p = harness.index_path(name)
        out = []
        for l in self.index[p]:
            d = json.loads(l)
            if d["vers"] == vers:
                d["yanked"] = yanked
                l = json.dumps(d, separators=(",", ":"))
            out.append(l)
        self.index[p] = out
        self._sync()

    def index_body(self, name):
        return ("\n".join(self.index[harness.index_path(name)]) + "\n").encode()

    def attach_standin(self, si):
        self.targets.append(("standin", si))
        self._sync()

    def attach_dir(self, root, server_base):
        self.targets.append(("dir", (root, server_base)))
        self._sync()

    def _sync(self):
        for kind, t in self.targets:
            if kind == "standin":
                si = t
                si.put_file(self.base + "config.json", self.config_json(si.base),
                            "application/json")
                for p, lines in self.index.items():
                    body = ("\n".join(lines) + "\n").encode()
                    old = si.files.get(self.base + p)
                    if old is None or old[0] != body:
                        si.put_file(self.base + p, body)
                for p, data in self.crates.items():
                    if p not in si.files:
                        si.put_file(p, data, "application/octet-stream")
            else:
                root, server_base = t
                files = {self.base + "config.json": self.config_json(server_base).encode()}
                for p, lines in self.index.items():
                    files[self.base + p] = ("\n".join(lines) + "\n").encode()
                files.update(self.crates)
                for p, data in files.items():
                    full = os.path.join(root, p.lstrip("/"))
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    try:
                        with open(full, "rb") as f:
                            if f.read() == data:
                                continue
                    except OSError:
                        pass
                    tmp = full + ".tmp"
                    with open(tmp, "wb") as f:
                        f.write(data)
                    os.replace(tmp, full)


# ---------------------------------------------------------------------------
# python3 -m http.server


class HttpServerProc:
    """`python3 -m http.server` serving root on 127.0.0.1 (a free port).
    requests() parses its stderr log: [(method, path, status)]."""

    LOG_RE = re.compile(r'"(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')

    def __init__(self, root, logdir):
        self.root = root
        self.log_path = os.path.join(logdir, "http.server.%d.log" % id(self))
        self.out_path = self.log_path + ".out"
        # bind a free port ourselves, then hand it over (http.server has no
        # way to report port 0 other than its banner; use the banner too)
        with open(self.log_path, "wb") as lf, open(self.out_path, "wb") as of:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                 "--directory", root],
                stdin=subprocess.DEVNULL, stdout=of, stderr=lf, env=harness.clean_env())
        harness._live_procs.append(self.proc)
        self.port = None

        def banner():
            with open(self.out_path) as f:
                return re.search(r"port (\d+)", f.read()) or self.proc.poll() is not None
        m = harness.wait_until(banner, 10)
        if m and m is not True:
            self.port = int(m.group(1))
        if self.port is None:
            self.stop()
            raise AssertionError("http.server did not start")

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self):
        with open(self.log_path, errors="replace") as f:
            return [(m.group(1), m.group(2), int(m.group(3)))
                    for m in self.LOG_RE.finditer(f.read())]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# a forward proxy


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        px = self.server.proxy
        sock = self.request
        sock.settimeout(60)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                if len(buf) > 1 << 20:
                    return
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
            headers = []
            for l in lines[1:]:
                k, _, v = l.partition(":")
                headers.append((k.strip(), v.strip()))
            px._record(method, target, headers)
            if method == "CONNECT":
                self._connect(sock, target, buf)
                return
            u = urllib.parse.urlsplit(target)
            if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            n = 0
            for k, v in headers:
                if k.lower() == "content-length":
                    n = int(v)
            while len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            body, buf = buf[:n], buf[n:]
            try:
                conn = http.client.HTTPConnection("127.0.0.1", u.port or 80, timeout=60)
                path = u.path + ("?" + u.query if u.query else "")
                fwd = {}
                for k, v in headers:
                    if k.lower() in ("proxy-connection", "proxy-authorization", "connection",
                                     "keep-alive"):
                        continue
                    fwd[k] = v
                conn.request(method, path or "/", body=body or None, headers=fwd)
                r = conn.getresponse()
                data = r.read()
                out = ["HTTP/1.1 %d %s" % (r.status, r.reason)]
                for k, v in r.getheaders():
                    if k.lower() in ("transfer-encoding", "connection", "content-length",
                                     "keep-alive"):
                        continue
                    out.append("%s: %s" % (k, v))
                if r.status not in (204, 304) and method != "HEAD":
                    out.append("Content-Length: %d" % len(data))
                out.append("Via: 1.1 test-proxy")
                sock.sendall("\r\n".join(out).encode("latin-1") + b"\r\n\r\n" +
                             (data if method != "HEAD" else b""))
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                msg = ("proxy: upstream failed: %s" % e).encode()
                try:
                    sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n" % len(msg) + msg)
                except OSError:
                    return

    def _connect(self, sock, target, rest):
        host, _, port = target.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            up = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        except OSError:
            sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            up.sendall(rest)
        socks = [sock, up]
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select(socks, [], [], 1.0)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is sock else sock).sendall(data)
        except OSError:
            pass
        finally:
            up.close()


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 that forwards only to loopback.
    requests: [(method, target, headers)]."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ProxyHandler)
        srv.daemon_threads = True
        srv.block_on_close = False
        srv.proxy = self
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _record(self, method, target, headers):
        with self.lock:
            self.requests.append((method, target, headers))

    def reqs(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(timeout=10)


# ---------------------------------------------------------------------------
# cargo packaging (harness.Cargo is a CARGO_HOME with a given config)


def cargo_package(cargo, proj, name, vers, registry=None):
    """Runs `cargo package --no-verify` in proj; returns the .crate bytes."""
    args = ["package", "--no-verify", "--allow-dirty"]
    if registry:
        args += ["--registry", registry]
    cargo.run(args, proj)
    fname = "%s-%s.crate" % (name, vers)
    for sub in ("", "tmp-crate"):
        p = os.path.join(cargo.target, "package", sub, fname)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                return f.read()
    raise AssertionError("cargo package did not write %s under %s" % (fname, cargo.target))


# ---------------------------------------------------------------------------
# crated helpers


def mirror_toml(name, upstream, **kw):
    """[registries.NAME] of a mirror; kw become key = value lines (str
    values quoted, bools lowercase)."""
    out = ["[registries.%s]" % name, 'upstream = "%s"' % upstream]
    for k, v in kw.items():
        if isinstance(v, bool):
            out.append("%s = %s" % (k, "true" if v else "false"))
        elif isinstance(v, int):
            out.append("%s = %d" % (k, v))
        else:
            out.append('%s = "%s"' % (k, v))
    return "\n".join(out) + "\n"


ACCESS_RE = re.compile(r'access: (\S+) "(\S+) (\S+)" (\d+)')


def access_log(crated, prefix=None):
    """[(method, path, status)] from crated's access log lines."""
    out = []
    for m in ACCESS_RE.finditer(crated.log_text()):
        method, path, status = m.group(2), m.group(3), int(m.group(4))
        if prefix is None or path.startswith(prefix):
            out.append((method, path, status))
    return out


def is_index_path(path, base):
    """True if path (under base, e.g. /up/) names an index file (not
    config.json nor an API/download path)."""
    if not path.startswith(base):
        return False
    rest = path[len(base):].split("?", 1)[0]
    return (rest != "config.json" and not rest.startswith("api/")
            and re.match(r"^(1/[^/]+|2/[^/]+|3/[^/]/[^/]+|[^/]{2}/[^/]{2}/[^/]+)$", rest) is not None)


def health(crated, timeout=5):
    """Status of GET /-/health (0 if the request itself failed)."""
    try:
        return crated.get("/-/health", timeout=timeout).status
    except OSError:
        return 0


def files_under(root):
    """Relative paths of the regular files below root."""
    out = []
    for d, _, fs in os.walk(root):
        for f in fs:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def make_cert(tmp):
    """A self-signed CA-less certificate for 127.0.0.1 made with the
    openssl command (None if it is not installed): (cert path, key path)."""
    if shutil.which("openssl") is None:
        return None
    cert = os.path.join(tmp, "cert.pem")
    key = os.path.join(tmp, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-addext", "basicConstraints=critical,CA:TRUE"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        return None
    return cert, key


def package_into(pk, tree, workdir, name, vers, reg, deps_toml="", index_deps=(),
                 lib_rs=None, add=True):
    """Writes a project, packages it with cargo (pk: a Cargo whose config
    names the registry reg), adds it to tree (unless add is False);
    returns the .crate bytes."""
    d = harness.make_project(os.path.join(workdir, "%s-%s" % (name, vers)), name, vers,
                             deps=deps_toml, lib_rs=lib_rs, publish=reg)
    crate = cargo_package(pk, d, name, vers, reg)
    if add:
        tree.add(name, vers, crate, deps=index_deps)
    return crate


def standin_tree(base="/reg/", dl="/dl/{crate}/{version}", port=0):
    """A StandIn serving a RegistryTree at base: (standin, tree)."""
    si = StandIn(port=port)
    tree = RegistryTree(base=base, dl=dl)
    tree.attach_standin(si)
    return si, tree


def standin_registry(tmp, base="/reg/", dl="/dl/{crate}/{version}", reg="st", port=0):
    """A StandIn serving a RegistryTree at base; returns (standin, tree,
    index URL, packaging Cargo)."""
    si, tree = standin_tree(base, dl, port)
    url = "sparse+%s%s" % (si.base, base)
    pk = harness.Cargo(tmp, '[registries.%s]\nindex = "%s"\n' % (reg, url))
    return si, tree, url, pk


def b_gzip_file():
    """The file, gzip-encoded when the request accepts gzip."""
    import gzip as _gzip

    def f(h, req):
        si = h.server.standin
        path = req.path.split("?", 1)[0]
        with si.lock:
            entry = si.files.get(path)
        if entry is None:
            h.send_full(404, "not found")
            return
        data = entry[0]
        if "gzip" in (req.header("accept-encoding") or ""):
            h.send_full(200, _gzip.compress(data, mtime=0),
                        [("Content-Type", entry[1]), ("Content-Encoding", "gzip")])
        else:
            h.send_full(200, data, [("Content-Type", entry[1])])
    return f


class Concurrency:
    """Wraps a behaviour and records the most requests inside it at once."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, h, req):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self.inner(h, req)
        finally:
            with self.lock:
                self.now -= 1


class Blackhole:
    """A loopback port where TCP connects hang (a listening socket with a
    full backlog: further SYNs are dropped), like an unreachable host."""

    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        def bound():
            try:
                self.sock.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False        # the port is not free yet
        if not harness.wait_until(bound, 10, 0.1):
            self.sock.bind(("127.0.0.1", port))     # raises the OSError
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(2):      # fill the accept queue
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except (BlockingIOError, OSError):
                pass
            self.fillers.append(c)
        # the queue is full once a filler's handshake completed (writable)
        harness.wait_until(lambda: select.select([], self.fillers, [], 0)[1], 2)

    def connect_hangs(self, wait=1.0):
        c = socket.socket()
        c.settimeout(wait)
        try:
            c.connect(("127.0.0.1", self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            c.close()

    def stop(self):
        for c in self.fillers:
            c.close()
        self.sock.close()


def b_slow_body(body, chunk=65536, interval=0.1, ctype="application/octet-stream"):
    """200 with Content-Length, body sent in chunks with pauses."""
    def f(h, req):
        si = h.server.standin
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(0, len(body), chunk):
            h.wfile.write(body[i:i + chunk])
            h.wfile.flush()
            if si.release.wait(interval):
                break
    return f


def b_chunked(body=None, ctype="text/plain", chunk=1000):
    """200 with Transfer-Encoding: chunked (body: bytes, or None for the
    file at the path)."""
    def f(h, req):
        data = body
        if data is None:
            with h.server.standin.lock:
                entry = h.server.standin.files.get(req.path.split("?", 1)[0])
            if entry is None:
                h.send_full(404, "not found")
                return
            data = entry[0]
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            h.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    return f


def b_close_delimited(body=None, ctype="text/plain"):
    """An HTTP/1.0-style answer: no Content-Length, the body ends when the
    connection closes."""
    def f(h, req):
        data = body
        if data is None:
            with h.server.standin.lock:
                entry = h.server.standin.files.get(req.path.split("?", 1)[0])
            data = entry[0] if entry else b""
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True
    return f
