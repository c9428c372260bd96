"""Shared pieces of the offline CI tests (test_offline_*.py); the tests
of the offline commands' command-line handling are in test_offline_cli.py.

Helpers (imported by test_offline_cargo.py, test_offline_bundle.py,
test_offline_prefetch.py, test_offline_cli.py, test_harden_store.py):

* Upstream: a second crated serving a hosted registry `up`, into which
  crates are published with the real `cargo publish --registry up`.
* mirror_config(): a crated.toml naming a mirror of that upstream.
* prefetch(): runs `crated prefetch`, parses and prints its summary line
  and wall time.
* start_on_port(): starts crated on a given (previously used) port, with a
  bounded retry while the port is still in TIME_WAIT-ish trouble.
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402

SUMMARY_RE = re.compile(
    r"prefetch: (\d+) crates: (\d+) fetched, (\d+) already cached, (\d+) failed "
    r"\((\d+) denied by the policy\); "
    r"(\d+) packages from other sources skipped; ([\d.]+) MB in ([\d.]+) s")

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def log(msg):
    sys.stderr.write("    [offline] %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# the upstream: a hosted crated


class Upstream:
    """A crated serving hosted registry `up`; publish() runs the real
    `cargo publish --registry up` and returns the published .crate bytes."""

    def __init__(self, tc, tmp, name="upstream"):
        self.tmp = tmp
        self.crated = tc.start_crated(tmp=tmp, name=name, data_dir=os.path.join(tmp, name + "-data"),
                                      registries="[registries.up]\n")
        self.index = "sparse+%s/up/" % self.crated.url
        self.cargo = harness.Cargo(tmp, '[registries.up]\nindex = "%s"\n' % self.index,
                             tokens={"up": "anything"})
        self.published = {}
        self.frozen = None

    def publish(self, name, vers, deps="", lib_rs=None):
        d = harness.make_project(os.path.join(self.tmp, "pub", "%s-%s" % (name, vers)), name, vers,
                                 deps=deps, lib_rs=lib_rs, publish="up")
        t0 = time.monotonic()
        self.cargo.run(["publish", "--registry", "up", "--no-verify", "--allow-dirty"], d,
                       logs=[self.crated])
        path = os.path.join(self.crated.data_dir, "up", "crates", name, "%s-%s.crate" % (name, vers))
        with open(path, "rb") as f:
            data = f.read()
        self.published[(name, vers)] = data
        log("published %s %s upstream (%d bytes, %.1f s)" % (name, vers, len(data),
                                                               time.monotonic() - t0))
        return data

    def lines(self, name):
        if self.frozen is not None:
            return self.frozen[name]
        return self.crated.index_lines(name, reg="up")

    def stop(self):
        """Stops the upstream; lines() and cksum() then answer from the
        index lines read just before."""
        self.frozen = {n: self.crated.index_lines(n, reg="up") for n, _ in self.published}
        self.crated.stop()

    def cksum(self, name, vers):
        for l in self.lines(name):
            if l["vers"] == vers:
                return l["cksum"]
        raise AssertionError("upstream has no %s %s" % (name, vers))


def leaf_lib(vers):
    major, minor, patch = (int(x) for x in vers.split("."))
    return "pub fn leaf() -> u32 { %d }\n" % (100 * major + 10 * minor + patch)


MID_LIB = "pub fn mid() -> u32 { o_leaf::leaf() + 1 }\n"
TOP_LIB = "pub fn top() -> u32 { o_mid::mid() * 2 }\n"
CONSUMER_MAIN = 'fn main() { println!("top={}", o_top::top()); }\n'


def publish_graph(up, leaf_versions=("1.0.0", "1.1.0")):
    """o-leaf (each of leaf_versions), o-mid 1.0.0 -> o-leaf "1.0",
    o-top 1.0.0 -> o-mid "1"."""
    for v in leaf_versions:
        up.publish("o-leaf", v, lib_rs=leaf_lib(v))
    up.publish("o-mid", "1.0.0", deps='o-leaf = { version = "1.0", registry = "up" }', lib_rs=MID_LIB)
    up.publish("o-top", "1.0.0", deps='o-mid = { version = "1", registry = "up" }', lib_rs=TOP_LIB)


# ---------------------------------------------------------------------------
# crated configs, ports


def mirror_config(path, data_dir, upstream_index, reg="mirror", listen=("127.0.0.1:0",), **kw):
    """A crated.toml with one mirror registry `reg` of upstream_index."""
    return harness.write_config(path, data_dir, listen, "",
                                S.mirror_toml(reg, upstream_index, **kw))


def start_on_port(tc, tmp, port, timeout=15.0, **kw):
    """tc.start_crated listening on 127.0.0.1:port, retried (bounded) while
    the port is not yet free."""
    deadline = time.monotonic() + timeout
    started = []

    def free():
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start():
        if not free():
            return False
        try:
            started.append(tc.start_crated(tmp=tmp, listen=("127.0.0.1:%d" % port,), **kw))
            return True
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            return False
    if not harness.wait_until(start, timeout, 0.2):
        raise AssertionError("port %d did not become free within %.0f s" % (port, timeout))
    c = started[0]
    tc.assertEqual(c.port, port, "crated listens on %s, wanted %d" % (c.ports, port))
    return c


# ---------------------------------------------------------------------------
# crated prefetch / export / import / status


class Summary:
    def __init__(self, m):
        (self.crates, self.fetched, self.cached, self.failed, self.denied, self.skipped) = (
            int(m.group(i)) for i in range(1, 7))
        self.mb = float(m.group(7))
        self.seconds = float(m.group(8))
        self.line = m.group(0)

    def counts(self):
        return (self.crates, self.fetched, self.cached, self.failed, self.skipped)


def run_cmd(tc, args, timeout=60, cwd=None):
    """harness.run_crated plus a check for sanitizer reports."""
    rc, out, err = harness.run_crated(args, cwd=cwd, timeout=timeout)
    harness.check_sanitizer(err, "crated " + " ".join(args))
    return rc, out, err


def prefetch(tc, args, timeout=120, expect_rc=0, cwd=None):
    """Runs `crated prefetch ARGS`; returns (rc, stdout, stderr, Summary or
    None). Prints the summary and the wall time. expect_rc None: any."""
    t0 = time.monotonic()
    rc, out, err = run_cmd(tc, ["prefetch"] + list(args), cwd=cwd, timeout=timeout)
    wall = time.monotonic() - t0
    m = SUMMARY_RE.search(out)
    summ = Summary(m) if m else None
    log("crated prefetch %s -> rc %d in %.2f s wall" % (" ".join(args), rc, wall))
    for l in out.splitlines():
        log("  stdout: " + l)
    if rc != 0:
        for l in err.splitlines()[-3:]:
            log("  stderr: " + l)
    if expect_rc is not None:
        tc.assertEqual(rc, expect_rc, "crated prefetch rc %d (want %d)\nstdout:\n%s\nstderr:\n%s"
                       % (rc, expect_rc, out, err[-3000:]))
    return rc, out, err, summ


def failures(out):
    """[(name, version, registry, reason)] from prefetch's `  failed:` lines."""
    res = []
    for m in re.finditer(r"^  failed: (\S+) (\S+) \(([^)]*)\): (.*)$", out, re.M):
        res.append(m.groups())
    return res


def status_rows(text):
    """{registry: (kind, crates, index files, MB, oldest)} from `crated status`."""
    rows = {}
    lines = text.splitlines()
    for l in lines[1:]:
        parts = l.split()
        if len(parts) >= 6:
            rows[parts[0]] = (parts[1], int(parts[2]), int(parts[3]), float(parts[4]),
                              " ".join(parts[5:]))
    return rows


def cached_crates(data_dir, reg):
    """{(lname, version)} of the .crate files under data_dir/reg/crates."""
    out = set()
    root = os.path.join(data_dir, reg, "crates")
    for d, _, fs in os.walk(root):
        for f in fs:
            lname = os.path.basename(d)
            if f.startswith(lname + "-") and f.endswith(".crate"):
                out.add((lname, f[len(lname) + 1:-len(".crate")]))
    return out


def read_index_file(data_dir, reg, name):
    p = os.path.join(data_dir, reg, "index", index_path(name))
    with open(p, "rb") as f:
        return S.parse_lines(f.read())


def write_lock(path, packages, version=4):
    """Writes a Cargo.lock from [{name, version, source?, checksum?,
    dependencies?}]."""
    out = ["# This file is automatically @generated by Cargo.",
           "# It is not intended for manual editing.", "version = %d" % version, ""]
    for p in packages:
        out.append("[[package]]")
        for k in ("name", "version", "source", "checksum"):
            if p.get(k) is not None:
                out.append('%s = "%s"' % (k, p[k]))
        if p.get("dependencies"):
            out.append("dependencies = [")
            out += [' "%s",' % d for d in p["dependencies"]]
            out.append("]")
        out.append("")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path
