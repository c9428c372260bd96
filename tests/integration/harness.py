"""Integration test harness for crated (Python 3 standard library only).

Every test_*.py next to this file imports it and is a standalone script:

    python3 tests/integration/test_http.py

Environment:
    CRATED_BIN        crated binary (default <repo>/build/crated)
    CRATED_TEST_DATA  test data directory (default <repo>/tests/data)
    CRATED_KEEP_TMP   if set to 1, temporary directories are kept (their
                      paths are printed) instead of removed

Rules kept by everything here: each test gets a fresh temp dir; each
process started is stopped (SIGTERM, then kill -9 and a failure after
10 s); every wait loop is bounded; every subprocess call has a timeout;
cargo gets its own CARGO_HOME and only ever talks to 127.0.0.1.
"""

import atexit
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CRATED_BIN = os.environ.get("CRATED_BIN", os.path.join(REPO, "build", "crated"))
TEST_DATA = os.environ.get("CRATED_TEST_DATA", os.path.join(REPO, "tests", "data"))
KEEP_TMP = os.environ.get("CRATED_KEEP_TMP") == "1"

START_TIMEOUT = 10.0     # seconds to wait for "listening on"
STOP_TIMEOUT = 10.0      # seconds to wait after SIGTERM
HTTP_TIMEOUT = 15.0      # socket timeout of every HTTP helper
CARGO_TIMEOUT = 600      # seconds per cargo invocation

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

# Safety net: processes still running at interpreter exit are killed (by
# pid, only the ones we started). Tests stop their processes themselves.
_live_procs = []


def _kill_leftovers():
    for p in _live_procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_leftovers)


# ---------------------------------------------------------------------------
# temp dirs


def make_tempdir(prefix="crated-it-"):
    return tempfile.mkdtemp(prefix=prefix)


def remove_tempdir(path):
    if KEEP_TMP:
        sys.stderr.write("kept temp dir: %s\n" % path)
        return
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# waits


def wait_until(pred, timeout, interval=0.05):
    """Polls pred() until it returns something true or timeout seconds
    have passed; returns its last value. The one poll loop of the tests:
    every wait is on a condition, bounded in time; interval is only how
    often the condition is looked at."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def next_second():
    """Waits until the wall clock is in a later whole second than when
    called: for what crated stamps in whole seconds (file times,
    Last-Modified, a bundle's --since, the crate cache's last uses), so
    that what comes next is stamped later than what came before."""
    t = int(time.time())
    wait_until(lambda: int(time.time()) > t, 2, 0.01)


def wait_value(fn, ok, timeout, interval=0.05):
    """Calls fn() until ok(its value) holds or timeout seconds have
    passed; returns the last value."""
    last = [None]

    def got():
        last[0] = fn()
        return ok(last[0])
    wait_until(got, timeout, interval)
    return last[0]


def wait_log(srv, pattern, timeout=5.0, count=1):
    """Lines of srv's log matching the regular expression pattern, once
    there are count of them (or the timeout passed)."""
    return wait_value(lambda: [l for l in srv.log_text().splitlines() if re.search(pattern, l)],
                      lambda found: len(found) >= count, timeout)


def port_answers(port, host="127.0.0.1"):
    """True if a TCP connection to host:port is accepted now."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_status(fn, want, timeout=3.0):
    """Calls fn() (-> Resp) until its status is want or timeout seconds
    have passed; returns the last Resp."""
    return wait_value(fn, lambda r: r.status == want, timeout, 0.1)


# ---------------------------------------------------------------------------
# environment


def clean_env(extra=None):
    """os.environ without proxies and without CARGO_*/CRATED_* variables,
    plus extra (a value of None removes the key)."""
    env = {}
    for k, v in os.environ.items():
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy"):
            continue
        if k.startswith("CARGO_") or k.startswith("CRATED_"):
            continue
        env[k] = v
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# ---------------------------------------------------------------------------
# HTTP


class Resp:
    """An HTTP response: status, reason, headers (list of (name, value)),
    body (bytes)."""

    def __init__(self, status, reason, headers, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        b = self.body[:300]
        return "<Resp %s %s %r headers=%r body=%r>" % (
            self.version, self.status, self.reason, self.headers, b)


def http_request(port, method, path, body=None, headers=None,
                 timeout=HTTP_TIMEOUT, host="127.0.0.1"):
    """One request on a fresh connection (http.client). No Content-Type is
    added unless given. Returns Resp."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, list(r.getheaders()), data,
                    "HTTP/%d.%d" % divmod(r.version, 10))
    finally:
        conn.close()


def build_request(method, path, headers=None, body=b"", host="127.0.0.1",
                  content_length=True):
    """Bytes of an HTTP/1.1 request. headers: list of (k, v) or dict."""
    if isinstance(path, str):
        path = path.encode("latin-1")
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: " + host.encode()]
    hs = headers.items() if isinstance(headers, dict) else (headers or [])
    have_cl = False
    for k, v in hs:
        if k.lower() == "content-length":
            have_cl = True
        lines.append(("%s: %s" % (k, v)).encode("latin-1"))
    if content_length and not have_cl and (body or method in ("PUT", "POST", "DELETE")):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


class RawConn:
    """A raw TCP connection with an HTTP/1.1 response reader, for pipelining,
    malformed requests, 100-continue and keep-alive checks."""

    def __init__(self, port, timeout=HTTP_TIMEOUT, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for response bytes")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _readline(self, deadline, limit=1 << 20):
        while b"\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("line too long in response")
            if not self._fill(deadline):
                raise ConnectionError("connection closed mid-line (have %r)" % self.buf[:200])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionError("connection closed: wanted %d body bytes, have %d"
                                      % (n, len(self.buf)))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET", timeout=None, skip_interim=True):
        """Reads one response. 1xx responses are skipped unless
        skip_interim is False (then the 1xx itself is returned)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line = self._readline(deadline)
            m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", line)
            if not m:
                raise ValueError("bad status line %r" % line)
            version = m.group(1).decode()
            status = int(m.group(2))
            reason = (m.group(3) or b"").decode("latin-1")
            headers = []
            while True:
                h = self._readline(deadline)
                if h == b"":
                    break
                k, _, v = h.partition(b":")
                headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
            resp = Resp(status, reason, headers, b"", version)
            if 100 <= status < 200:
                if skip_interim:
                    continue
                return resp
            if method == "HEAD" or status in (204, 304):
                return resp
            te = (resp.header("transfer-encoding") or "").lower()
            if "chunked" in te:
                body = b""
                while True:
                    size = int(self._readline(deadline).split(b";")[0], 16)
                    if size == 0:
                        while self._readline(deadline) != b"":
                            pass
                        break
                    body += self._readn(size, deadline)
                    self._readline(deadline)
                resp.body = body
            elif resp.header("content-length") is not None:
                resp.body = self._readn(int(resp.header("content-length")), deadline)
            else:
                while self._fill(deadline):
                    pass
                resp.body, self.buf = self.buf, b""
            return resp

    def closed_by_peer(self, wait=2.0):
        """True if the peer closes (or resets) within wait seconds and sends
        no further bytes; False if still open after wait."""
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                if not self._fill(deadline):
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False


def raw_exchange(port, data, method="GET", timeout=HTTP_TIMEOUT):
    """Sends data on a new connection, returns the first final response."""
    with RawConn(port, timeout) as c:
        c.send(data)
        return c.read_response(method)


def check_not_modified(testcase, resp, etag):
    """Asserts resp is a 304 for etag as RFC 9110 15.4.5 has it: no body,
    the ETag, Vary and Cache-Control a 200 would carry, and none of the
    representation metadata a 304 with an ETag should not repeat
    (Last-Modified, Content-Encoding, Content-Length)."""
    testcase.assertEqual(resp.status, 304, resp)
    testcase.assertEqual(resp.body, b"", resp)
    testcase.assertEqual(resp.header("etag"), etag, "304 should repeat the ETag")
    testcase.assertIn("accept-encoding", (resp.header("vary") or "").lower(), resp)
    testcase.assertTrue(resp.header("cache-control"), "304 without Cache-Control: %r" % resp)
    for h in ("last-modified", "content-encoding", "content-length"):
        testcase.assertIsNone(resp.header(h), "304 repeats %s: %r" % (h, resp))


def errors_detail(testcase, resp, statuses=None):
    """Asserts resp is an error with a cargo-format body
    {"errors":[{"detail":"..."}]} and returns the joined details."""
    if statuses is None:
        testcase.assertTrue(400 <= resp.status < 600,
                            "expected an error status, got %r" % resp)
    else:
        testcase.assertIn(resp.status, statuses, "unexpected status: %r" % resp)
    try:
        doc = resp.json()
    except Exception as e:
        testcase.fail("error body is not JSON (%s): %r" % (e, resp))
    testcase.assertIsInstance(doc, dict, "error body not an object: %r" % resp)
    errs = doc.get("errors")
    testcase.assertIsInstance(errs, list, "no errors list: %r" % resp)
    testcase.assertTrue(errs, "empty errors list: %r" % resp)
    details = []
    for e in errs:
        testcase.assertIsInstance(e, dict, "errors entry not an object: %r" % resp)
        testcase.assertIsInstance(e.get("detail"), str, "errors entry without detail: %r" % resp)
        testcase.assertTrue(e["detail"].strip(), "empty detail: %r" % resp)
        details.append(e["detail"])
    return ", ".join(details)


# ---------------------------------------------------------------------------
# crate names, .crate files, publish bodies


def dir_prefix(name):
    """The {prefix} marker of a crate name (its case kept): 1, 2, 3/a or
    ab/cd, after the name's length in bytes."""
    n = len(name.encode())
    if n == 1:
        return "1"
    if n == 2:
        return "2"
    if n == 3:
        return "3/" + name[0]
    return name[0:2] + "/" + name[2:4]


def index_path(name):
    """The index file of a crate name below a registry's root."""
    n = name.lower()
    return "%s/%s" % (dir_prefix(n), n)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def make_crate(name, vers, extra_files=None):
    """A real, deterministic .crate (gzip'd tar) with Cargo.toml and
    src/lib.rs under <name>-<vers>/."""
    top = "%s-%s" % (name, vers)
    files = {
        "Cargo.toml": ('[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n'
                       'license = "MIT"\ndescription = "test crate %s"\n' % (name, vers, name)),
        "src/lib.rs": "pub fn f() -> u32 { %d }\n" % (len(name) + len(vers)),
    }
    files.update(extra_files or {})
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for rel in sorted(files):
            data = files[rel].encode() if isinstance(files[rel], str) else files[rel]
            ti = tarfile.TarInfo("%s/%s" % (top, rel))
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    gbuf = io.BytesIO()
    with gzip.GzipFile(fileobj=gbuf, mode="wb", mtime=0) as gz:
        gz.write(tbuf.getvalue())
    return gbuf.getvalue()


def dep(name, req, **kw):
    """A NewCrateDependency as cargo sends it."""
    d = {"optional": False, "default_features": True, "name": name,
         "features": [], "version_req": req, "target": None, "kind": "normal"}
    d.update(kw)
    return d


def crate_meta(name, vers, deps=None, features=None, **kw):
    """Publish metadata (NewCrate) as cargo sends it."""
    m = {"name": name, "vers": vers, "deps": list(deps or []),
         "features": dict(features or {}), "authors": [],
         "description": "test crate %s" % name, "documentation": None,
         "homepage": None, "readme": None, "readme_file": None,
         "keywords": [], "categories": [], "license": "MIT",
         "license_file": None, "repository": None, "badges": {},
         "links": None, "rust_version": None}
    m.update(kw)
    return m


def publish_body(meta, crate):
    """u32le J, JSON, u32le C, crate. meta may be a dict or raw bytes."""
    if isinstance(meta, (bytes, bytearray)):
        j = bytes(meta)
    else:
        j = json.dumps(meta, separators=(",", ":")).encode()
    return struct.pack("<I", len(j)) + j + struct.pack("<I", len(crate)) + crate


# ---------------------------------------------------------------------------
# data dir snapshots


def snapshot(root):
    """{relative path: ("dir",) | ("file", size, sha256) | ("link", target)}."""
    snap = {}
    if not os.path.exists(root):
        return snap
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            rel = os.path.relpath(p, root)
            snap[rel] = ("link", os.readlink(p)) if os.path.islink(p) else ("dir",)
        for f in filenames:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                snap[rel] = ("link", os.readlink(p))
                continue
            try:
                with open(p, "rb") as fh:
                    data = fh.read()
            except OSError as e:
                snap[rel] = ("unreadable", str(e))
                continue
            snap[rel] = ("file", len(data), sha256_hex(data))
    return snap


def settled_snapshot(root, seconds=5.0):
    """snapshot(root) once a running server has stopped writing there: two
    snapshots 0.1 s apart are equal and nothing is under a tmp/ folder (a
    write under way). Bounded: after seconds, the last snapshot."""
    last = [snapshot(root)]

    def settled():
        cur = snapshot(root)
        writing = any(v[0] != "dir" and "tmp" in k.split(os.sep)[:-1]
                      for k, v in cur.items())
        same, last[0] = cur == last[0], cur
        return same and not writing
    wait_until(settled, seconds, 0.1)
    return last[0]


def snapshot_diff(before, after):
    out = []
    for k in sorted(set(before) | set(after)):
        a, b = before.get(k), after.get(k)
        if a == b:
            continue
        if a is None:
            out.append("added   %s %r" % (k, b))
        elif b is None:
            out.append("removed %s %r" % (k, a))
        else:
            out.append("changed %s %r -> %r" % (k, a, b))
    return out


# ---------------------------------------------------------------------------
# /-/metrics (Prometheus text exposition)


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"\s*(,|$)')


def parse_labels(text):
    """'a="1",b="2"' -> (("a", "1"), ("b", "2")); ValueError if malformed."""
    out = []
    pos = 0
    text = text or ""
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError("bad label set %r at %d" % (text, pos))
        out.append((m.group(1), m.group(2)))
        pos = m.end()
        if m.group(3) == "" and pos < len(text):
            raise ValueError("bad label set %r" % text)
    names = [k for k, _ in out]
    if len(names) != len(set(names)):
        raise ValueError("repeated label in %r" % text)
    return tuple(out)


class Exposition:
    """A parsed Prometheus text exposition: samples {(name, labels): value}
    (labels: sorted tuple of pairs), types {family: type}, problems []."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        self.problems = []
        helps = set()
        for n, line in enumerate(text.split("\n"), 1):
            if line == "":
                if n != len(text.split("\n")):
                    self.problems.append("line %d: empty line" % n)
                continue
            if line.startswith("#"):
                m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$", line)
                if not m:
                    self.problems.append("line %d: bad comment %r" % (n, line))
                    continue
                if m.group(1) == "TYPE":
                    if m.group(3) not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        self.problems.append("line %d: bad type %r" % (n, line))
                    if m.group(2) in self.types:
                        self.problems.append("line %d: second TYPE for %s" % (n, m.group(2)))
                    self.types[m.group(2)] = m.group(3)
                else:
                    if m.group(2) in helps:
                        self.problems.append("line %d: second HELP for %s" % (n, m.group(2)))
                    helps.add(m.group(2))
                continue
            m = SAMPLE_RE.match(line)
            if not m:
                self.problems.append("line %d: not `name{labels} value`: %r" % (n, line))
                continue
            name, ltext, vtext = m.groups()
            try:
                labels = tuple(sorted(parse_labels(ltext)))
            except ValueError as e:
                self.problems.append("line %d: %s" % (n, e))
                continue
            try:
                value = float(vtext)
            except ValueError:
                self.problems.append("line %d: bad value %r" % (n, line))
                continue
            fam = self.family_of(name)
            if fam not in self.types:
                self.problems.append("line %d: sample %s before/without a TYPE for %s"
                                     % (n, name, fam))
            key = (name, labels)
            if key in self.samples:
                self.problems.append("line %d: repeated series %r" % (n, key))
            self.samples[key] = value

    def family_of(self, name):
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and self.types.get(name[:-len(suf)]) == "histogram":
                return name[:-len(suf)]
        return name

    def get(self, name, **labels):
        """The value of name{labels} (exact label set); 0 when the series
        does not exist (series appear on first use)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def sum(self, name, **labels):
        """The sum of the series of name whose labels include labels."""
        want = set(labels.items())
        return sum(v for (n, l), v in self.samples.items() if n == name and want <= set(l))

    def series(self, name):
        """{labels dict as sorted tuple: value} of every series of name."""
        return {l: v for (n, l), v in self.samples.items() if n == name}

    def histogram_problems(self):
        out = []
        for fam, typ in self.types.items():
            if typ != "histogram":
                continue
            groups = {}
            for (n, labels), v in self.samples.items():
                if n != fam + "_bucket":
                    continue
                d = dict(labels)
                if "le" not in d:
                    out.append("%s bucket without le: %r" % (fam, labels))
                    continue
                le = d.pop("le")
                groups.setdefault(tuple(sorted(d.items())), []).append((le, v))
            counts = {l: v for (n, l), v in self.samples.items() if n == fam + "_count"}
            sums = {l: v for (n, l), v in self.samples.items() if n == fam + "_sum"}
            if set(groups) != set(counts) or set(groups) != set(sums):
                out.append("%s: bucket, _count and _sum series differ: %r / %r / %r"
                           % (fam, sorted(groups), sorted(counts), sorted(sums)))
            for labels, buckets in groups.items():
                les = [(math.inf if le == "+Inf" else float(le), le, v) for le, v in buckets]
                order = [le for _, le, _ in les]
                les.sort(key=lambda x: x[0])
                if not les or les[-1][1] != "+Inf":
                    out.append("%s%r: no +Inf bucket" % (fam, labels))
                    continue
                if len({x[0] for x in les}) != len(les):
                    out.append("%s%r: repeated le" % (fam, labels))
                if order != [le for _, le, _ in les]:
                    out.append("%s%r: buckets not in increasing le order: %r" % (fam, labels, order))
                vals = [v for _, _, v in les]
                if any(b < a for a, b in zip(vals, vals[1:])):
                    out.append("%s%r: buckets not cumulative: %r" % (fam, labels, vals))
                if any(v != int(v) or v < 0 for v in vals):
                    out.append("%s%r: bucket counts not whole: %r" % (fam, labels, vals))
                if labels in counts and vals[-1] != counts[labels]:
                    out.append("%s%r: +Inf bucket %r != _count %r"
                               % (fam, labels, vals[-1], counts[labels]))
                if labels in sums and sums[labels] < 0:
                    out.append("%s%r: negative _sum" % (fam, labels))
        return out


def wait_connections(srv, n, timeout=5.0):
    """Waits until srv has n client connections open besides the one that
    asks (crated_open_connections of /-/metrics): a connection the test
    opened has been accepted, or one it closed has been seen closed (and
    what crated does at a close is done). Returns whether it came to be."""
    return wait_until(lambda: metrics(srv).get("crated_open_connections") == n + 1, timeout)


def wait_upstream_in_flight(srv, n, timeout=5.0):
    """Waits until crated has n requests to upstreams in flight
    (crated_upstream_requests_in_flight); returns whether it came to be.
    With a stand-in holding n answers (or n = 0), every request crated has
    started has then reached the stand-in: a check that a request was not
    made means something."""
    return wait_until(lambda: metrics(srv).get("crated_upstream_requests_in_flight") == n, timeout)


def metrics(srv, clean=False):
    """srv's /-/metrics, parsed (an Exposition); with clean, fails on a
    malformed exposition."""
    r = srv.get("/-/metrics")
    if r.status != 200:
        raise AssertionError("GET /-/metrics: %r" % r)
    ex = Exposition(r.text())
    if clean and ex.problems:
        raise AssertionError("exposition problems:\n" + "\n".join(ex.problems[:20]))
    return ex


# ---------------------------------------------------------------------------
# crated


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def check_sanitizer(text, what):
    """Fails (AssertionError) if text holds a sanitizer's report."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            i = text.index(marker)
            raise AssertionError("sanitizer report in %s:\n%s" % (what, text[max(0, i - 200):i + 3000]))


class Crated:
    """A running `crated serve`. Attributes: port, url (http://127.0.0.1:PORT),
    index_url (sparse+.../local/), data_dir, config_path, log_path, proc."""

    def __init__(self, proc, log_path, out_path, data_dir, config_path):
        self.proc = proc
        self.log_path = log_path
        self.out_path = out_path
        self.data_dir = data_dir
        self.config_path = config_path
        self.port = None
        self.ports = []
        self.expected_exit = False

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def open_files(self):
        """The paths this crated holds open (from /proc/PID/fd)."""
        fds = "/proc/%d/fd" % self.proc.pid
        out = []
        for fd in os.listdir(fds):
            try:
                out.append(os.readlink(os.path.join(fds, fd)))
            except OSError:
                pass                # closed meanwhile
        return out

    def registry_url(self, reg="local"):
        return "%s/%s" % (self.url, reg)

    @property
    def index_url(self):
        return "sparse+%s/local/" % self.url

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def check_log_clean(self):
        """Fails if a sanitizer reported anything (builds with ASan/UBSan)."""
        check_sanitizer(self.log_text(), "crated's log")

    def wait_listening(self, timeout=START_TIMEOUT):
        ports = wait_until(lambda: LISTEN_RE.findall(self.log_text()) or self.proc.poll() is not None,
                           timeout)
        if ports is True:
            raise AssertionError("crated exited with %s before listening; log:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
        if ports:
            self.ports = [int(p) for p in ports]
            self.port = self.ports[0]
            return self.port
        raise AssertionError("crated did not log 'listening on 127.0.0.1:PORT' within %.0f s; log:\n%s"
                             % (timeout, self.log_tail()))

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit on its own; returns its exit code
        or None on timeout (the process is left running)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.expected_exit = True
        return rc

    def running(self):
        return self.proc.poll() is None

    def stop(self, check=True):
        """SIGTERM; kill -9 after 10 s. With check, fails unless the exit
        code is 0 (or the exit was already awaited with wait_exit)."""
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            if check and not self.expected_exit:
                raise AssertionError("crated had already exited (rc %s) before stop; log:\n%s"
                                     % (rc, self.log_tail()))
            return rc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            if check:
                raise AssertionError("crated did not exit within %.0f s of SIGTERM (killed); log:\n%s"
                                     % (STOP_TIMEOUT, self.log_tail()))
            return None
        self.expected_exit = True   # a second stop() just returns rc
        if check:
            self.check_log_clean()
        if check and rc != 0:
            raise AssertionError("crated exited with %s after SIGTERM (want 0); log:\n%s"
                                 % (rc, self.log_tail()))
        return rc

    # HTTP conveniences
    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        return http_request(self.port, method, path, body, headers, timeout)

    def get(self, path, headers=None, timeout=HTTP_TIMEOUT):
        return http_request(self.port, "GET", path, None, headers, timeout)

    def publish(self, meta, crate, headers=None, timeout=HTTP_TIMEOUT, reg="local"):
        h = {"Authorization": "anything", "Accept": "application/json"}
        h.update(headers or {})
        return http_request(self.port, "PUT", "/%s/api/v1/crates/new" % reg,
                            publish_body(meta, crate), h, timeout)

    def publish_simple(self, name, vers, **kw):
        crate = make_crate(name, vers)
        return self.publish(crate_meta(name, vers, **kw), crate), crate

    def index_lines(self, name, reg="local"):
        """Parsed index lines of name over HTTP ([] on 404)."""
        r = self.get("/%s/%s" % (reg, index_path(name)))
        if r.status == 404:
            return []
        if r.status != 200:
            raise AssertionError("index fetch of %s: %r" % (name, r))
        return [json.loads(l) for l in r.body.decode().split("\n") if l.strip()]

    def healthy(self):
        r = self.get("/local/config.json", timeout=5)
        return r.status == 200


def write_config(path, data_dir, listen=("127.0.0.1:0",), extra="",
                 registries="[registries.local]\n"):
    text = "listen = [%s]\n" % ", ".join('"%s"' % l for l in listen)
    text += 'data_dir = "%s"\n' % data_dir
    text += extra
    if not text.endswith("\n"):
        text += "\n"
    text += registries
    with open(path, "w") as f:
        f.write(text)
    return path


def start_crated(tmp, config_extra="", env=None, data_dir=None, name="crated",
                 registries="[registries.local]\n", listen=("127.0.0.1:0",),
                 args=None, config_path=None, wait=True):
    """Writes <tmp>/<name>.toml (unless config_path is given), starts
    `crated serve --config FILE`, waits for the port. stderr goes to
    <tmp>/<name>.N.log."""
    data_dir = data_dir or os.path.join(tmp, "data")
    if config_path is None:
        config_path = write_config(os.path.join(tmp, name + ".toml"), data_dir,
                                   listen, config_extra, registries)
    n = 0
    while os.path.exists(os.path.join(tmp, "%s.%d.log" % (name, n))):
        n += 1
    log_path = os.path.join(tmp, "%s.%d.log" % (name, n))
    out_path = os.path.join(tmp, "%s.%d.out" % (name, n))
    cmd = [CRATED_BIN, "serve", "--config", config_path] + list(args or [])
    with open(log_path, "wb") as lf, open(out_path, "wb") as of:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=of, stderr=lf,
                                cwd=tmp, env=clean_env(env))
    _live_procs.append(proc)
    c = Crated(proc, log_path, out_path, data_dir, config_path)
    if wait:
        try:
            c.wait_listening()
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            raise
    return c


TOKEN_RE = re.compile(r"crated_[A-Za-z0-9_-]{20,}")


def cli_env():
    """Environment for `crated token ...` helper calls: under ASan, leak
    reports of the short-lived command are not the tests' subject (one
    dedicated test checks them) and would change its exit code."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") + "detect_leaks=0"}


def create_token(cfg, name, scope, crates=None, registry="local", expires=None,
                 same_owner=False):
    """Runs `crated token create`; returns the token."""
    args = ["token", "create", "--config", cfg, "--registry", registry,
            "--scope", scope, "--name", name] + (["--same-owner"] if same_owner else [])
    if crates is not None:
        args += ["--crates", crates]
    if expires is not None:
        args += ["--expires", str(expires)]
    rc, out, err = run_crated(args, env=cli_env())
    if rc != 0:
        raise AssertionError("crated token create %s failed (rc %d): %s" % (name, rc, err))
    tok = out.strip()
    if not TOKEN_RE.fullmatch(tok):
        raise AssertionError("token create printed %r, not one crated_ token" % out)
    if tok in err:
        raise AssertionError("token create repeated the token on stderr")
    return tok


def free_port():
    """A port of 127.0.0.1 that was free a moment ago (the small race is
    accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU time of process pid so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid, field="VmRSS"):
    """A field of /proc/PID/status in KiB (0 when it has none)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_crated(args, cwd=None, timeout=30, env=None):
    """Runs crated with args to completion: (rc, stdout, stderr)."""
    p = subprocess.run([CRATED_BIN] + list(args), cwd=cwd, env=clean_env(env),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---------------------------------------------------------------------------
# cargo


def find_cargo():
    p = shutil.which("cargo")
    return p or "/root/.cargo/bin/cargo"


class Cargo:
    """A fresh CARGO_HOME (and target dir) under base with config.toml =
    config_text (home and target: fixed paths instead of numbered ones).
    tokens: {REGISTRY_NAME: token} as CARGO_REGISTRIES_*_TOKEN."""

    _n = 0

    def __init__(self, base, config_text, tokens=None, target=None, home=None):
        Cargo._n += 1
        self.home = home or os.path.join(base, "cargo-home-%d" % Cargo._n)
        self.target = target or os.path.join(base, "target-%d" % Cargo._n)
        os.makedirs(self.home, exist_ok=True)
        self.cargo = find_cargo()
        self.tokens = dict(tokens or {})
        self.write_config(config_text)

    def write_config(self, config_text):
        self.config_text = config_text
        with open(os.path.join(self.home, "config.toml"), "w") as f:
            f.write(config_text)
            f.write('\n[net]\ngit-fetch-with-cli = false\n[http]\ntimeout = 30\n')

    def env(self, extra=None):
        e = {"CARGO_HOME": self.home,
             "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", "/root/.rustup"),
             "CARGO_HTTP_TIMEOUT": "30",
             "CARGO_TERM_COLOR": "never",
             "CARGO_INCREMENTAL": "0",
             "CARGO_TARGET_DIR": self.target}
        for reg, tok in self.tokens.items():
            e["CARGO_REGISTRIES_%s_TOKEN" % reg.upper().replace("-", "_")] = tok
        e.update(extra or {})
        return clean_env(e)

    def run(self, args, cwd, check=True, timeout=CARGO_TIMEOUT, env=None, logs=()):
        """(rc, stdout, stderr); with check a non-zero rc fails, showing
        cargo's stderr and the tails of logs (objects with log_tail())."""
        p = subprocess.run([self.cargo] + list(args), cwd=cwd, env=self.env(env),
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            msg = "cargo %s failed (rc %d) in %s\nstderr:\n%s\nstdout:\n%s" % (
                " ".join(args), p.returncode, cwd, err[-4000:], out[-1500:])
            for l in logs:
                msg += "\n--- log tail:\n" + l.log_tail(25)
            raise AssertionError(msg)
        return p.returncode, out, err

    def clear_download_cache(self):
        """Removes downloaded .crate files and unpacked sources, so the
        next build has to download again."""
        reg = os.path.join(self.home, "registry")
        for sub in ("cache", "src"):
            shutil.rmtree(os.path.join(reg, sub), ignore_errors=True)


class CargoEnv(Cargo):
    """A Cargo with CARGO_HOME tmp/cargo-home and CARGO_TARGET_DIR
    tmp/target whose config.toml names only the local registry of the
    crated on port (a token for it in the environment)."""

    def __init__(self, tmp, port):
        self.tmp = tmp
        self.port = self.index_url = None
        super().__init__(tmp, "", tokens={"local": "anything"},
                         target=os.path.join(tmp, "target"), home=os.path.join(tmp, "cargo-home"))
        self.set_port(port)

    def set_port(self, port):
        self.port = port
        self.index_url = "sparse+http://127.0.0.1:%d/local/" % port
        self.write_config('[registries.local]\nindex = "%s"\n' % self.index_url)

    def run_cargo(self, args, cwd, check=True, timeout=CARGO_TIMEOUT, env=None, server=None):
        """(rc, stdout, stderr). With check, a non-zero rc fails with
        cargo's stderr (and the server log tail when server is given)."""
        return self.run(args, cwd, check, timeout, env, () if server is None else (server,))


def make_project(path, name, version="0.1.0", deps="", features="", lib_rs=None,
                 publish="local", main_rs=None, description=None):
    """Writes Cargo.toml and src/lib.rs (or main.rs). deps and features are
    TOML text placed under [dependencies] / [features]. publish: the
    registry name cargo may publish to, or False (publish = false)."""
    os.makedirs(os.path.join(path, "src"), exist_ok=True)
    toml = ['[package]', 'name = "%s"' % name, 'version = "%s"' % version,
            'edition = "2021"', 'license = "MIT"',
            'description = "%s"' % (description or "test crate %s" % name)]
    toml.append('publish = ["%s"]' % publish if publish else "publish = false")
    toml += ["", "[dependencies]", deps.strip(), "", "[features]", features.strip(), ""]
    with open(os.path.join(path, "Cargo.toml"), "w") as f:
        f.write("\n".join(toml))
    # remove a stale lock so edits of versions take effect
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(path, "Cargo.lock"))
    if main_rs is not None:
        with open(os.path.join(path, "src", "main.rs"), "w") as f:
            f.write(main_rs)
    else:
        with open(os.path.join(path, "src", "lib.rs"), "w") as f:
            f.write(lib_rs if lib_rs is not None else "pub fn f() -> u32 { 1 }\n")
    return path


def read_lock(path):
    """Packages of a Cargo.lock: list of dicts (name, version, source, checksum)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        import tomllib
        return tomllib.loads(data.decode()).get("package", [])
    except ImportError:
        pkgs, cur = [], None
        for line in data.decode().splitlines():
            line = line.strip()
            if line == "[[package]]":
                cur = {}
                pkgs.append(cur)
            elif line.startswith("["):
                cur = None
            elif cur is not None:
                m = re.match(r'(\w+) = "(.*)"$', line)
                if m:
                    cur[m.group(1)] = m.group(2)
        return pkgs


# ---------------------------------------------------------------------------
# unittest glue


class TestCase(unittest.TestCase):
    """Fresh temp dir per test (self.tmp); servers started with
    self.start_crated are stopped (and checked) at the end of the test."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = make_tempdir()
        self.addCleanup(remove_tempdir, self.tmp)

    def start_crated(self, **kw):
        tmp = kw.pop("tmp", self.tmp)
        c = start_crated(tmp, **kw)
        self.addCleanup(c.stop)
        return c

    def assertErrors(self, resp, statuses=None):
        return errors_detail(self, resp, statuses)

    def assertNotModified(self, resp, etag):
        check_not_modified(self, resp, etag)

    def assertUnchanged(self, before, after, what=""):
        d = snapshot_diff(before, after)
        if d:
            self.fail("data dir changed%s:\n  %s" % (" after " + what if what else "",
                                                     "\n  ".join(d[:30])))


SKIP_PREFIX = "crated-it skipped: "


def main():
    """Runs the calling file's tests. A skipped test is a line on stdout,
    SKIP_PREFIX + "Class.test: reason", which dev.sh counts and names (the
    file's exit code says only pass or fail; a skip is not a pass)."""
    if not os.path.exists(CRATED_BIN):
        sys.stderr.write("crated binary not found at %s (build it, or set CRATED_BIN)\n"
                         % CRATED_BIN)
        sys.exit(2)
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    result = prog.result
    for test, reason in result.skipped:
        name = test.id()
        if name.startswith("__main__."):
            name = name[len("__main__."):]
        reason = " ".join(str(reason).split())
        sys.stdout.write("%s%s: %s\n" % (SKIP_PREFIX, name, reason))
    sys.stdout.flush()
    if not result.wasSuccessful():
        sys.exit(1)
    # every test skipped: meson's SKIP (exit 77), not a pass
    sys.exit(77 if result.testsRun and len(result.skipped) == result.testsRun else 0)


class SharedServer:
    """Mixin for a test class whose tests share one crated: setUpClass makes
    cls.tmp and starts cls.srv (start_crated(cls.tmp, **server_options())),
    then calls server_ready(); a failure on the way stops what was started.
    tearDownClass stops the server (checked) and removes cls.tmp."""

    @classmethod
    def server_options(cls):
        """start_crated's keyword arguments (may write files into cls.tmp
        first)."""
        return {}

    @classmethod
    def server_ready(cls):
        """Runs once cls.srv listens: what the tests need from it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = make_tempdir()
        try:
            cls.srv = start_crated(cls.tmp, **cls.server_options())
        except BaseException:
            remove_tempdir(cls.tmp)
            raise
        try:
            cls.server_ready()
        except BaseException:
            cls.srv.stop(check=False)
            remove_tempdir(cls.tmp)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            remove_tempdir(cls.tmp)
            super().tearDownClass()


class Steps(unittest.TestCase):
    """A test class whose tests are steps building on each other (run in
    name order): after the first failure the remaining steps are skipped."""
    failed = False

    def setUp(self):
        if type(self).failed:
            self.skipTest("an earlier step failed")

    def run(self, result=None):
        n = len(result.failures) + len(result.errors) if result else 0
        r = super().run(result)
        if result and len(result.failures) + len(result.errors) > n:
            type(self).failed = True
        return r
