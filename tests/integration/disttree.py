#!/usr/bin/env python3
"""A stand-in of static.rust-lang.org's dist tree, and a fault server for it
(Python 3 standard library only).

What rustup 1.29.0 was seen to ask for and check is written down in
../shared/docs/rustup-dist.md; this tree is built to that:

* Tarballs in rust-installer format 3, as `.tar.xz` (and `.tar.gz` unless
  gz=False): one top directory holding `rust-installer-version` (3),
  `components` and `COMPONENT/manifest.in` with the payload beside it.
  `bin/rustc` and `bin/cargo` (and clippy's and rustfmt's binaries) are
  shell scripts printing a version line, so `rustup run V rustc --version`
  runs something. Packages per host: rustc, cargo, rust-std,
  clippy-preview, rustfmt-preview; std_targets add rust-std only.
  padding={"rustc": N} puts N random (incompressible) bytes into a
  package, so that a tarball can weigh 100 MB for the benchmark; a large
  xz is written as LZMA2 stored chunks (xz_stored), since liblzma
  compresses random bytes at ~3 MB/s.
* The v2 manifest as rustup accepts it: `[pkg.X]` with `version` and
  `[pkg.X.target.T]` (`available`, `url`, `hash`, `xz_url`, `xz_hash`),
  `[pkg.rust]` with its components and extensions, `[profiles]`
  (minimal, default, complete) and `[renames]` (clippy, rustfmt). URLs
  are under the official dist root, which rustup rewrites to
  $RUSTUP_DIST_SERVER/dist.
* Channel manifests and their `.sha256` for `stable`, VERSION and
  MAJOR.MINOR, at the top of dist/ and in the dated directory
  dist/DATE/, and optionally rustup/release-stable.toml.

DistTree(root, ...).write() builds it on disk; publish(date, version)
adds a newer release (the old dated directory stays, as upstream);
alter(pkg) rewrites a tarball after its manifest was written (a valid
tarball with other bytes).

DistServer(root) serves the tree (GET, Range, 404) on 127.0.0.1 and logs
every request (path, Range, status, bytes sent); faults per path: an
answer status (503) for the next N requests, a cut after N bytes (the
connection closes mid-body; later requests, with or without Range, are
served properly), a hold until a condition, a hook run after an answer
(e.g. publish a new manifest once its .sha256 went out), a byte rate.

FrontProxy(port) relays clients to a server (crated) on port and logs
what they sent (path, Range) and what came back (status, Content-Range).

As a script (for bench/):
    disttree.py make ROOT [--version V] [--date D] [--pad PKG=BYTES]... [--no-gz]
prints one line per tarball with its size."""

import argparse
import hashlib
import http.server
import io
import lzma
import os
import random
import re
import socket
import socketserver
import struct
import tarfile
import threading
import time
import zlib

OFFICIAL = "https://static.rust-lang.org"
HOST = "x86_64-unknown-linux-gnu"
FIXED_MTIME = 1700000000
HOST_PKGS = ("rustc", "cargo", "rust-std", "clippy-preview", "rustfmt-preview")
# as upstream's, which name packages a host does not have (rust-mingw:
# Windows only; rust-docs, rust-src: not in this stand-in); rustup skips them
PROFILES = {
    "minimal": ["rustc", "cargo", "rust-std", "rust-mingw"],
    "default": ["rustc", "cargo", "rust-std", "rust-mingw", "rust-docs", "rustfmt-preview",
                "clippy-preview"],
    "complete": ["rustc", "cargo", "rust-std", "rust-mingw", "rust-docs", "rustfmt-preview",
                 "clippy-preview", "rust-src"],
}
# the binaries each package installs (shell scripts printing a version)
BINARIES = {
    "rustc": ["rustc", "rustdoc"],
    "cargo": ["cargo"],
    "clippy-preview": ["cargo-clippy", "clippy-driver"],
    "rustfmt-preview": ["rustfmt", "cargo-fmt"],
}
# xz_stored above this many bytes of tar, liblzma below
STORED_ABOVE = 4 << 20


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# xz with stored LZMA2 chunks


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def xz_stored(data):
    """An .xz stream (CRC32 check) holding data in uncompressed LZMA2
    chunks: a valid xz file (liblzma reads it) written at memory speed."""
    crc = lambda b: struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF)  # noqa: E731
    flags = b"\x00\x01"                                # check: CRC32
    out = [b"\xfd7zXZ\x00", flags, crc(flags)]
    # block header: size, flags (1 filter, no sizes), LZMA2 (0x21) with a
    # one-byte property (dictionary 4 KiB: stored chunks need none)
    hdr = b"\x02\x00\x21\x01\x00"
    hdr += b"\x00" * (-(len(hdr) + 4) % 4)
    hdr = bytes([(len(hdr) + 4) // 4 - 1]) + hdr[1:]
    hdr += crc(hdr)
    out.append(hdr)
    body = bytearray()
    mv = memoryview(data)
    first = True
    for i in range(0, len(data), 65536):
        chunk = mv[i:i + 65536]
        body += bytes([1 if first else 2]) + struct.pack(">H", len(chunk) - 1)
        body += chunk
        first = False
    body += b"\x00"
    out.append(bytes(body))
    out.append(b"\x00" * (-len(body) % 4))
    out.append(crc(data))
    unpadded = len(hdr) + len(body) + 4
    index = b"\x00" + _varint(1) + _varint(unpadded) + _varint(len(data))
    index += b"\x00" * (-len(index) % 4)
    index += crc(index)
    out.append(index)
    back = struct.pack("<I", len(index) // 4 - 1) + flags
    out.append(crc(back) + back + b"YZ")
    return b"".join(out)


def xz(data):
    if len(data) > STORED_ABOVE:
        return xz_stored(data)
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6)


# ---------------------------------------------------------------------------
# rust-installer tarballs


def installer_tar(top, component, files):
    """A rust-installer format 3 tar: top/ with rust-installer-version,
    components, component/manifest.in and files ({relative path: (bytes,
    mode)}) under top/component/."""
    entries = {
        "rust-installer-version": (b"3\n", 0o644),
        "components": (component.encode() + b"\n", 0o644),
        component + "/manifest.in": ("".join("file:%s\n" % p for p in sorted(files))
                                     .encode(), 0o644),
    }
    for p, v in files.items():
        entries[component + "/" + p] = v
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        dirs = set()
        for name in sorted(entries):
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo("%s/%s" % (top, d))
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = FIXED_MTIME
                    tf.addfile(ti)
            data, mode = entries[name]
            ti = tarfile.TarInfo("%s/%s" % (top, name))
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = FIXED_MTIME
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def script(name, line):
    return ("#!/bin/sh\n# stand-in %s\necho '%s'\n" % (name, line)).encode()


class DistTree:
    """A dist tree under root (root/dist/..., root/rustup/...).

    version, date: the release; hosts: triples with every package;
    std_targets: triples with rust-std only; padding: {package: bytes of
    random padding} (the same for every target); gz: also write .tar.gz
    (the manifest names them as `url`; rustup prefers `xz_url`);
    rustup_release: a version for rustup/release-stable.toml (None: no
    file); seed: of the padding's random bytes."""

    def __init__(self, root, version="1.95.0", date="2026-04-16", hosts=(HOST,),
                 std_targets=(), padding=None, gz=True, rustup_release=None, seed=1):
        self.root = root
        self.version = version
        self.date = date
        self.hosts = list(hosts)
        self.std_targets = list(std_targets)
        self.padding = dict(padding or {})
        self.gz = gz
        self.rustup_release = rustup_release
        self.seed = seed
        self.salt = {}          # (date, pkg, target) -> salt of alter()
        self.releases = []      # [(date, version)] in publication order
        self.manifests = {}     # date -> manifest text

    # names ------------------------------------------------------------
    @property
    def targets(self):
        return self.hosts + [t for t in self.std_targets if t not in self.hosts]

    def channels(self, version=None):
        """The channel names a release is published under."""
        v = version or self.version
        return ["stable", v, ".".join(v.split(".")[:2])]

    @staticmethod
    def manifest_path(channel, date=None):
        """URL path of a channel manifest (append .sha256 for its hash)."""
        if date:
            return "/dist/%s/channel-rust-%s.toml" % (date, channel)
        return "/dist/channel-rust-%s.toml" % channel

    def tarball_path(self, pkg, target=HOST, date=None, version=None, ext="tar.xz"):
        """URL path of a package's tarball."""
        return "/dist/%s/%s-%s-%s.%s" % (date or self.date, pkg, version or self.version,
                                         target, ext)

    def local(self, url_path):
        """The file on disk of a URL path."""
        return os.path.join(self.root, url_path.lstrip("/"))

    def read(self, url_path):
        with open(self.local(url_path), "rb") as f:
            return f.read()

    def packages(self, target):
        return list(HOST_PKGS) if target in self.hosts else ["rust-std"]

    def tarball_paths(self, date=None, profile=None, target=HOST, xz_only=True):
        """URL paths of a release's tarballs: every one, or those a
        profile installs on target."""
        out = []
        for t in self.targets:
            for p in self.packages(t):
                if profile is not None and (t != target or p not in PROFILES[profile]):
                    continue
                out.append(self.tarball_path(p, t, date, self._version_of(date)))
                if self.gz and not xz_only:
                    out.append(self.tarball_path(p, t, date, self._version_of(date), "tar.gz"))
        return out

    def _version_of(self, date):
        for d, v in self.releases:
            if d == (date or self.date):
                return v
        return self.version

    # building -----------------------------------------------------------
    def _payload(self, pkg, target, version, date):
        line = "%s %s (standin %s)" % (pkg.replace("-preview", ""), version, date)
        salt = self.salt.get((date, pkg, target))
        if salt:
            line += " altered %d" % salt
        files = {}
        if pkg == "rust-std":
            files["lib/rustlib/%s/lib/libstd-standin.rlib" % target] = (line.encode() + b"\n",
                                                                        0o644)
        else:
            for b in BINARIES[pkg]:
                files["bin/" + b] = (script(b, line), 0o755)
        pad = self.padding.get(pkg, 0)
        if pad:
            rnd = random.Random("%s/%s/%s/%d" % (pkg, target, date, self.seed))
            files["lib/standin-padding-%s.bin" % pkg] = (rnd.randbytes(pad), 0o644)
        return files

    def _write_file(self, url_path, data):
        full = self.local(url_path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = full + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, full)

    def _build_tarball(self, pkg, target, version, date):
        """Writes the package's tarballs (xz, gz) and their .sha256;
        returns {"xz": (path, hash), "gz": (path, hash)}."""
        comp = "rust-std-" + target if pkg == "rust-std" else pkg
        top = "%s-%s-%s" % (pkg, version, target)
        tar = installer_tar(top, comp, self._payload(pkg, target, version, date))
        out = {}
        kinds = [("xz", "tar.xz", xz)]
        if self.gz:
            kinds.append(("gz", "tar.gz", lambda d: _gzip(d)))
        for kind, ext, pack in kinds:
            data = pack(tar)
            path = self.tarball_path(pkg, target, date, version, ext)
            self._write_file(path, data)
            h = sha256_hex(data)
            self._write_file(path + ".sha256", ("%s  %s\n" % (h, os.path.basename(path))).encode())
            out[kind] = (path, h)
        return out

    def _rust_tarball(self, target, version, date):
        """The combined `rust` installer (a stand-in: the binaries without
        padding), named in [pkg.rust] as upstream does."""
        top = "rust-%s-%s" % (version, target)
        files = {"bin/rustc": (script("rustc", "rustc %s (standin %s)" % (version, date)), 0o755)}
        tar = installer_tar(top, "rustc", files)
        path = "/dist/%s/rust-%s-%s.tar.xz" % (date, version, target)
        data = xz(tar)
        self._write_file(path, data)
        return path, sha256_hex(data)

    def _manifest(self, version, date, built, rust_bins):
        lines = ['manifest-version = "2"', 'date = "%s"' % date, ""]
        vstr = "%s (standin %s)" % (version, date)
        for pkg in HOST_PKGS:
            lines += ["[pkg.%s]" % pkg, 'version = "%s"' % vstr, ""]
            for t in self.targets:
                lines.append('[pkg.%s.target.%s]' % (pkg, t))
                if (pkg, t) not in built:
                    lines += ["available = false", ""]
                    continue
                lines.append("available = true")
                b = built[(pkg, t)]
                if "gz" in b:
                    lines += ['url = "%s%s"' % (OFFICIAL, b["gz"][0]), 'hash = "%s"' % b["gz"][1]]
                lines += ['xz_url = "%s%s"' % (OFFICIAL, b["xz"][0]),
                          'xz_hash = "%s"' % b["xz"][1], "components = []", "extensions = []", ""]
        lines += ["[pkg.rust]", 'version = "%s"' % vstr, ""]
        for h in self.hosts:
            path, hh = rust_bins[h]
            lines += ["[pkg.rust.target.%s]" % h, "available = true",
                      'url = "%s%s"' % (OFFICIAL, path), 'hash = "%s"' % hh,
                      'xz_url = "%s%s"' % (OFFICIAL, path), 'xz_hash = "%s"' % hh, ""]
            for pkg in HOST_PKGS:
                lines += ["[[pkg.rust.target.%s.components]]" % h, 'pkg = "%s"' % pkg,
                          'target = "%s"' % h, ""]
            for t in self.targets:
                if t != h:
                    lines += ["[[pkg.rust.target.%s.extensions]]" % h, 'pkg = "rust-std"',
                              'target = "%s"' % t, ""]
        lines.append("[profiles]")
        for name, pkgs in PROFILES.items():
            lines.append("%s = [%s]" % (name, ", ".join('"%s"' % p for p in pkgs)))
        lines += ["", "[renames.clippy]", 'to = "clippy-preview"', "",
                  "[renames.rustfmt]", 'to = "rustfmt-preview"', ""]
        return "\n".join(lines)

    def _write_manifest(self, url_path, text):
        data = text.encode()
        self._write_file(url_path, data)
        self._write_file(url_path + ".sha256", ("%s  %s\n" % (
            sha256_hex(data), os.path.basename(url_path))).encode())

    def write_release(self, version, date, channels=True):
        """Builds a dated directory with its tarballs and dated channel
        manifests; with channels, points the top-level channels at it."""
        built = {}
        for t in self.targets:
            for pkg in self.packages(t):
                built[(pkg, t)] = self._build_tarball(pkg, t, version, date)
        rust_bins = {h: self._rust_tarball(h, version, date) for h in self.hosts}
        text = self._manifest(version, date, built, rust_bins)
        self.manifests[date] = text
        for ch in self.channels(version):
            self._write_manifest(self.manifest_path(ch, date), text)
            if channels:
                self._write_manifest(self.manifest_path(ch), text)
        if (date, version) not in self.releases:
            self.releases.append((date, version))
        return text

    def write(self):
        """Writes the whole tree (the first release); returns self."""
        self.write_release(self.version, self.date)
        if self.rustup_release:
            self._write_file("/rustup/release-stable.toml",
                             ("schema-version = '1'\nversion = '%s'\n" % self.rustup_release).encode())
        return self

    def publish(self, date, version=None, channels=True):
        """Publishes a newer release: a new dated directory, and (with
        channels) the channels stable, its version and its MAJOR.MINOR
        pointing at it; without, set_channel() switches them later. The
        older dated directories stay. Returns the manifest text."""
        self.date = date
        if version:
            self.version = version
        return self.write_release(self.version, date, channels)

    def set_channel(self, channel, date):
        """Points a top-level channel at a dated directory's manifest
        (its text and .sha256 copied from there)."""
        self._write_manifest(self.manifest_path(channel), self.manifests[date])

    def alter(self, pkg, target=HOST, date=None):
        """Rewrites a tarball (xz and gz) after its manifest was written:
        a valid tarball whose hash no manifest names. Returns its path."""
        date = date or self.date
        key = (date, pkg, target)
        self.salt[key] = self.salt.get(key, 0) + 1
        self._build_tarball(pkg, target, self._version_of(date), date)
        return self.tarball_path(pkg, target, date, self._version_of(date))

    def restore(self, pkg, target=HOST, date=None):
        """Undoes alter(): the tarball its manifest names again."""
        date = date or self.date
        self.salt.pop((date, pkg, target), None)
        self._build_tarball(pkg, target, self._version_of(date), date)

    def sizes(self, date=None):
        """{URL path: size} of a release's .tar.xz files."""
        return {p: os.path.getsize(self.local(p)) for p in self.tarball_paths(date)}


def _gzip(data):
    import gzip
    return gzip.compress(data, compresslevel=1 if len(data) > STORED_ABOVE else 6, mtime=0)


# ---------------------------------------------------------------------------
# the fault server


class Hit:
    """One request as DistServer saw it."""

    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers              # lowercase names
        self.range = headers.get("range")
        self.status = None
        self.sent = 0                       # body bytes written
        self.cut = False
        self.t0 = time.monotonic()
        self.t1 = None

    def __repr__(self):
        return "<Hit %s %s range=%s -> %s, %d bytes%s>" % (
            self.method, self.path, self.range, self.status, self.sent,
            " (cut)" if self.cut else "")


RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _DistHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dist-standin/1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.ds.lock:
            self.server.ds.conns.add(self.connection)

    def finish(self):
        with self.server.ds.lock:
            self.server.ds.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self):
        ds = self.server.ds
        path = self.path.split("?", 1)[0]
        hit = Hit(self.command, path, {k.lower(): v for k, v in self.headers.items()})
        ds._record(hit)
        try:
            ds._answer(self, hit)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        finally:
            hit.t1 = time.monotonic()
        ds._after(hit)

    do_HEAD = do_GET

    def head(self, status, headers, length):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()


class DistServer:
    """Serves a directory (a DistTree's root) on 127.0.0.1 with faults; see
    the module's text. hits: every request (Hit), in arrival order."""

    def __init__(self, root, port=0, rate=None):
        self.root = root
        self.rate = rate                    # bytes/s of every body, or None
        self.lock = threading.Lock()
        self.hits = []
        self.conns = set()
        self.faults = {}                    # path -> [fault dict]
        self.hooks = {}                     # (when, path) -> [callable(hit)]
        self.hold_timeouts = []             # paths whose hold ran out
        self.release = threading.Event()
        self.running = False
        self.port = port
        self._start(port)

    def _start(self, port):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _DistHandler)
        srv.daemon_threads = True
        srv.block_on_close = False
        srv.ds = self
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.running = True

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        """Closes the listener and cuts open connections (a client then
        gets refused connections)."""
        if not self.running:
            return
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=10)
        self.running = False

    def restart(self, timeout=10.0):
        """Listens again on the same port (bounded retry while it is not
        free)."""
        if self.running:
            return
        self.release = threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start(self.port)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # faults -------------------------------------------------------------
    def _add_fault(self, path, f):
        with self.lock:
            self.faults.setdefault(path, []).append(f)

    def fail(self, path, status=503, times=None, body=b"service unavailable\n"):
        """The next `times` requests of path (None: all, until clear())
        get status with body."""
        self._add_fault(path, {"kind": "status", "status": status, "left": times, "body": body})

    def cut(self, path, after, times=1):
        """The next `times` requests of path send the full headers, then
        `after` bytes of the body, then the connection is closed."""
        self._add_fault(path, {"kind": "cut", "after": after, "left": times})

    def hold(self, path, until, max_s=30.0, times=None):
        """Requests of path wait until until() is true (polled, at most
        max_s seconds: then the path is added to hold_timeouts) before
        they are answered."""
        self._add_fault(path, {"kind": "hold", "until": until, "max_s": max_s, "left": times})

    def hook(self, path, fn, when="after"):
        """fn(hit) runs for each request of path: when "after", once the
        answer was sent (the client may already have its next request
        under way on another connection); when "read", once the file was
        read and before any byte of the answer is sent (so a change made
        by fn is seen by every later request)."""
        with self.lock:
            self.hooks.setdefault((when, path), []).append(fn)

    def clear(self):
        with self.lock:
            self.faults.clear()
            self.hooks.clear()

    def _take(self, path, kind):
        """The first live fault of kind for path (its count used up)."""
        with self.lock:
            fs = self.faults.get(path, [])
            for f in fs:
                if f["kind"] != kind:
                    continue
                if f["left"] is not None:
                    if f["left"] <= 0:
                        continue
                    f["left"] -= 1
                return f
        return None

    # log ------------------------------------------------------------------
    def _record(self, hit):
        with self.lock:
            self.hits.append(hit)

    def _run_hooks(self, when, hit):
        with self.lock:
            fns = list(self.hooks.get((when, hit.path), []))
        for fn in fns:
            fn(hit)

    def _after(self, hit):
        self._run_hooks("after", hit)

    def mark(self):
        with self.lock:
            return len(self.hits)

    def since(self, mark=0):
        with self.lock:
            return list(self.hits[mark:])

    def paths(self, mark=0):
        return [h.path for h in self.since(mark)]

    def count(self, path, mark=0):
        return sum(1 for h in self.since(mark) if h.path == path)

    def bytes_sent(self, mark=0):
        return sum(h.sent for h in self.since(mark))

    def done(self, mark=0):
        """True when every request since mark has been answered."""
        return all(h.t1 is not None for h in self.since(mark))

    # answering ----------------------------------------------------------
    def _answer(self, h, hit):
        hold = self._take(hit.path, "hold")
        if hold is not None:
            deadline = time.monotonic() + hold["max_s"]
            while not hold["until"]():
                if time.monotonic() >= deadline:
                    with self.lock:
                        self.hold_timeouts.append(hit.path)
                    break
                if self.release.wait(0.02):
                    break
        st = self._take(hit.path, "status")
        if st is not None:
            hit.status = st["status"]
            h.head(st["status"], [("Content-Type", "text/plain")], len(st["body"]))
            if h.command != "HEAD":
                h.wfile.write(st["body"])
                hit.sent = len(st["body"])
            return
        full = os.path.realpath(os.path.join(self.root, hit.path.lstrip("/")))
        if not full.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(full):
            body = b"404 not found\n"
            hit.status = 404
            h.head(404, [("Content-Type", "text/plain")], len(body))
            if h.command != "HEAD":
                h.wfile.write(body)
                hit.sent = len(body)
            return
        with open(full, "rb") as f:
            data = f.read()
        self._run_hooks("read", hit)
        size = len(data)
        start, end, status = 0, size - 1, 200
        hdrs = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                ("ETag", '"%s"' % sha256_hex(data)[:16])]
        if hit.range:
            m = RANGE_RE.match(hit.range.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                status = None
            elif m.group(1) == "":
                start, end = max(0, size - int(m.group(2))), size - 1
                status = 206
            else:
                start = int(m.group(1))
                end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
                status = 206 if start < size and start <= end else None
            if status is None:
                hit.status = 416
                h.head(416, [("Content-Range", "bytes */%d" % size)], 0)
                return
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        hit.status = status
        body = data[start:end + 1]
        h.head(status, hdrs, len(body))
        if h.command == "HEAD":
            return
        cut = self._take(hit.path, "cut")
        limit = len(body) if cut is None else min(len(body), cut["after"])
        self._send(h, hit, body[:limit])
        if cut is not None:
            hit.cut = True
            h.close_connection = True
            try:
                h.wfile.flush()
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _send(self, h, hit, body):
        step = 65536
        t0 = time.monotonic()
        for i in range(0, len(body), step):
            if self.rate:
                due = t0 + i / self.rate
                while time.monotonic() < due:
                    if self.release.wait(min(0.05, due - time.monotonic())):
                        return
            h.wfile.write(body[i:i + step])
            hit.sent += len(body[i:i + step])
        h.wfile.flush()


# ---------------------------------------------------------------------------
# a logging relay in front of crated


class Exchange:
    """One request a client sent through FrontProxy and what came back."""

    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers              # lowercase names
        self.range = headers.get("range")
        self.status = None
        self.resp_headers = {}
        self.body_bytes = 0                 # relayed to the client
        self.complete = False

    def __repr__(self):
        return "<Exchange %s %s range=%s -> %s %s, %d bytes%s>" % (
            self.method, self.path, self.range, self.status,
            self.resp_headers.get("content-range", ""), self.body_bytes,
            "" if self.complete else " (incomplete)")


def _read_head(sock, buf, limit=65536):
    """(head bytes, rest) once buf + what sock sends holds a blank line;
    (None, buf) when the peer closed first."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > limit:
            raise ValueError("header too long")
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _headers(lines):
    out = {}
    for l in lines:
        k, _, v = l.partition(":")
        out[k.strip().lower()] = v.strip()
    return out


class _RelayHandler(socketserver.BaseRequestHandler):
    def handle(self):
        fp = self.server.fp
        cli = self.request
        cli.settimeout(60)
        try:
            back = socket.create_connection(("127.0.0.1", fp.target), timeout=60)
        except OSError:
            return
        try:
            self._relay(fp, cli, back)
        except (OSError, ValueError):
            pass
        finally:
            back.close()

    def _relay(self, fp, cli, back):
        cbuf, bbuf = b"", b""
        while True:
            head, cbuf = _read_head(cli, cbuf)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + ["", ""])[:2]
            ex = Exchange(method, target.split("?", 1)[0], _headers(lines[1:]))
            fp._record(ex)
            n = int(ex.headers.get("content-length") or 0)
            while len(cbuf) < n:
                chunk = cli.recv(65536)
                if not chunk:
                    return
                cbuf += chunk
            back.sendall(head + b"\r\n\r\n" + cbuf[:n])
            cbuf = cbuf[n:]
            rhead, bbuf = _read_head(back, bbuf)
            if rhead is None:
                return
            rlines = rhead.decode("latin-1").split("\r\n")
            ex.status = int(rlines[0].split(" ")[1])
            ex.resp_headers = _headers(rlines[1:])
            cli.sendall(rhead + b"\r\n\r\n")
            if method == "HEAD" or ex.status in (204, 304) or 100 <= ex.status < 200:
                ex.complete = True
                continue
            if "content-length" in ex.resp_headers:
                left = int(ex.resp_headers["content-length"])
            elif "chunked" in ex.resp_headers.get("transfer-encoding", "").lower():
                raise ValueError("chunked answers are not relayed")
            else:
                left = None                 # until the backend closes
            while left is None or left > 0:
                if not bbuf:
                    bbuf = back.recv(65536)
                    if not bbuf:
                        break
                take = len(bbuf) if left is None else min(left, len(bbuf))
                cli.sendall(bbuf[:take])
                ex.body_bytes += take
                bbuf = bbuf[take:]
                if left is not None:
                    left -= take
            ex.complete = left == 0
            if not ex.complete or ex.resp_headers.get("connection", "").lower() == "close":
                return


class FrontProxy:
    """A relay on 127.0.0.1 in front of a server on 127.0.0.1:target that
    logs each request (method, path, Range) when it arrives and the
    answer's status and headers: what rustup sent and what crated
    answered. One backend connection per client connection; answers
    with a Content-Length or ended by a close."""

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.exchanges = []
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RelayHandler)
        srv.daemon_threads = True
        srv.block_on_close = False
        srv.fp = self
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def _record(self, ex):
        with self.lock:
            self.exchanges.append(ex)

    def since(self, mark=0):
        with self.lock:
            return list(self.exchanges[mark:])

    def mark(self):
        with self.lock:
            return len(self.exchanges)

    def count(self, path, mark=0):
        return sum(1 for e in self.since(mark) if e.path == path)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(timeout=10)


# ---------------------------------------------------------------------------
# command line (bench/)


def _size(text):
    m = re.match(r"^(\d+)([kKmMgG]?)$", text)
    if not m:
        raise argparse.ArgumentTypeError("not a size: %r" % text)
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write a dist tree")
    mk.add_argument("root")
    mk.add_argument("--version", default="1.95.0")
    mk.add_argument("--date", default="2026-04-16")
    mk.add_argument("--pad", action="append", default=[], metavar="PKG=SIZE",
                    help="random padding of a package (e.g. rustc=100M)")
    mk.add_argument("--no-gz", action="store_true", help="write only .tar.xz")
    mk.add_argument("--rustup-release", default=None)
    a = ap.parse_args()
    pad = {}
    for p in a.pad:
        k, _, v = p.partition("=")
        pad[k] = _size(v)
    t = DistTree(a.root, a.version, a.date, padding=pad, gz=not a.no_gz,
                 rustup_release=a.rustup_release).write()
    for p, n in sorted(t.sizes().items()):
        print("%s %d" % (p, n))


if __name__ == "__main__":
    main()
