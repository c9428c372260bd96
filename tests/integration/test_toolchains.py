#!/usr/bin/env python3
"""Toolchains through crated (issue 29): the real rustup against a
`[toolchains.rust]` mirror of a stand-in dist tree (disttree.py).

rustup is the machine's own binary (/root/.cargo/bin/rustup, or
$RUSTUP_BIN), copied into the test's directory and run with a temporary
RUSTUP_HOME and CARGO_HOME, `--no-self-update`, and
RUSTUP_DIST_SERVER=http://127.0.0.1:PORT/rust,
RUSTUP_UPDATE_ROOT=http://127.0.0.1:PORT/rust/rustup: the machine's
toolchains are never touched. The stand-in's tarballs are a few hundred
bytes (rustc's a few hundred KiB where a download must be cut or
resumed) and its rustc, cargo and clippy are shell scripts printing a
version, so `rustup run 1.95.0 rustc --version` runs one.

Checked, with the upstream's request log (disttree.DistServer, or
`python3 -m http.server`) and crated's access log side by side:
install and run; `rustup update` with nothing new costs the `.sha256`
alone on both sides; `rustup component add clippy` fetches only its
tarball; a newer release is picked up by `rustup update` and the older
dated directory stays served; with the upstream stopped a fresh
RUSTUP_HOME still installs from the cache; a tarball altered upstream
is not kept (the next request goes upstream again) and rustup reports
its checksum error; a manifest that changes between the `.sha256` and
the `.toml` request (which makes rustup fail when it talks to the
upstream itself) still reaches rustup as a consistent pair; 8 rustups at
once cost one upstream download per file; a download rustup left half
way is resumed with `Range` and answered 206; a download the upstream
cut half way still installs and the cached copy is whole; a 404 reaches
rustup as a 404 (its "nonexistent rust version" message); a 503 for the
channel manifest is answered from crated's last snapshot; and the
offline path: `crated prefetch --toolchain`, `crated export`, `crated
import` into a fresh data dir, an offline crated with no upstream
running, `rustup toolchain install` and `cargo build --locked` of a
project with a crate dependency, both from the one bundle."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import offline_common as C  # noqa: E402
import disttree as D  # noqa: E402

RUSTUP_BIN = os.environ.get("RUSTUP_BIN", "/root/.cargo/bin/rustup")
RUSTUP_TIMEOUT = 60
OLD = "2026-04-16"
NEW = "2026-05-28"
V0 = "rustc 1.95.0 (standin %s)" % OLD
V1 = "rustc 1.95.1 (standin %s)" % NEW
ARM = "aarch64-unknown-linux-gnu"


def log(msg):
    sys.stderr.write("    [toolchains] %s\n" % msg)
    sys.stderr.flush()


def toolchain_toml(name, upstream=None, **kw):
    """[toolchains.NAME]; kw become key = value lines."""
    out = ["[toolchains.%s]" % name]
    if upstream is not None:
        out.append('upstream = "%s"' % upstream)
    for k, v in kw.items():
        if isinstance(v, bool):
            out.append("%s = %s" % (k, "true" if v else "false"))
        elif isinstance(v, int):
            out.append("%s = %d" % (k, v))
        else:
            out.append('%s = "%s"' % (k, v))
    return "\n".join(out) + "\n"


class Rustup:
    """The real rustup with its own RUSTUP_HOME and CARGO_HOME under tmp,
    talking to dist (RUSTUP_DIST_SERVER)."""

    def __init__(self, binary, tmp, name, dist):
        self.binary = binary
        self.name = name
        self.home = os.path.join(tmp, name + "-rustup-home")
        self.cargo_home = os.path.join(tmp, name + "-cargo-home")
        self.dist = dist

    def env(self):
        e = {k: v for k, v in harness.clean_env().items()
             if not k.startswith(("RUSTUP_", "RUST_"))}
        e.update({"RUSTUP_HOME": self.home, "CARGO_HOME": self.cargo_home,
                  "RUSTUP_DIST_SERVER": self.dist,
                  "RUSTUP_UPDATE_ROOT": self.dist + "/rustup",
                  "RUSTUP_TERM_COLOR": "never", "RUST_BACKTRACE": "0"})
        return e

    def run(self, *args, check=True, logs=()):
        """(rc, stdout, stderr); with check a non-zero rc fails, with
        rustup's output and the tails of logs (objects with log_tail())."""
        p = subprocess.run([self.binary] + list(args), env=self.env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=RUSTUP_TIMEOUT)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        log("%s: rustup %s -> %d" % (self.name, " ".join(args), p.returncode))
        if check and p.returncode != 0:
            msg = "rustup %s failed (rc %d)\nstderr:\n%s\nstdout:\n%s" % (
                " ".join(args), p.returncode, err[-3000:], out[-1000:])
            for l in logs:
                msg += "\n--- log tail:\n" + l.log_tail(25)
            raise AssertionError(msg)
        return p.returncode, out, err

    def install_args(self, toolchain, profile):
        return ["toolchain", "install", toolchain, "--profile", profile, "--no-self-update"]

    def install(self, toolchain="1.95.0", profile="minimal", check=True, logs=()):
        return self.run(*self.install_args(toolchain, profile), check=check, logs=logs)

    def start_install(self, toolchain="1.95.0", profile="minimal"):
        """Starts an install in the background: (Popen, stdout path)."""
        outp = os.path.join(os.path.dirname(self.home), self.name + ".install.log")
        with open(outp, "wb") as f:
            p = subprocess.Popen([self.binary] + self.install_args(toolchain, profile),
                                 env=self.env(), stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT)
        harness._live_procs.append(p)
        return p, outp

    def version(self, toolchain="1.95.0", tool="rustc"):
        return self.run("run", toolchain, tool, "--version")[1].strip()


class ToolchainTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        if not os.access(RUSTUP_BIN, os.X_OK):
            self.skipTest("no rustup at %s" % RUSTUP_BIN)
        self.bin = os.path.join(self.tmp, "bin", "rustup")
        os.makedirs(os.path.dirname(self.bin))
        shutil.copy2(RUSTUP_BIN, self.bin)
        self.n = 0

    # helpers ---------------------------------------------------------------
    def make_tree(self, **kw):
        return D.DistTree(os.path.join(self.tmp, "tree"), **kw).write()

    def dist_server(self, tree, **kw):
        up = D.DistServer(tree.root, **kw)
        self.addCleanup(up.stop)
        return up

    def crated(self, upstream, name="crated", data_dir=None, registries="", **kw):
        kw.setdefault("manifest_ttl", 600)
        return self.start_crated(name=name, data_dir=data_dir,
                                 registries="[registries.local]\n" + registries
                                 + toolchain_toml("rust", upstream, **kw))

    def rustup(self, base, name=None):
        """A Rustup with fresh homes whose dist server is base + /rust."""
        self.n += 1
        return Rustup(self.bin, self.tmp, name or "r%d" % self.n, base + "/rust")

    def front(self, crated):
        fp = D.FrontProxy(crated.port)
        self.addCleanup(fp.stop)
        return fp

    @staticmethod
    def served(crated, mark=0):
        """[(path, status)] of crated's access log under /rust/, from the
        mark-th line on."""
        return [(p, s) for m, p, s in S.access_log(crated, "/rust/")[mark:]]

    @staticmethod
    def access_mark(crated):
        return len(S.access_log(crated, "/rust/"))

    def manifest_pair(self, channel="1.95.0", prefix=""):
        p = D.DistTree.manifest_path(channel)
        return [prefix + p + ".sha256", prefix + p]

    def assertOnce(self, up, paths, mark=0):
        """Each of paths was asked of the upstream exactly once since mark,
        and nothing else was."""
        got = sorted(up.paths(mark))
        self.assertEqual(got, sorted(paths), "upstream requests: %r" % up.since(mark))

    def assertNo5xx(self, crated):
        bad = [(p, s) for p, s in self.served(crated) if s >= 500]
        self.assertEqual(bad, [], "crated answered rustup 5xx")

    def wait_ttl(self, seconds=1):
        """Past a manifest_ttl of seconds (crated stamps whole seconds)."""
        for _ in range(seconds + 1):
            harness.next_second()

    # ------------------------------------------------------------------------

    def test_install_update_component_then_upstream_gone(self):
        """A plain static upstream (python3 -m http.server): install and
        run; update with nothing new is the .sha256 alone on both sides;
        component add is the one tarball; upstream stopped: a fresh home
        installs from the cache."""
        tree = self.make_tree(rustup_release="1.29.0")
        up = S.HttpServerProc(tree.root, self.tmp)
        self.addCleanup(up.stop)
        c = self.crated(up.base, manifest_ttl=1)
        # rustup's two variables as `crated rustup-env` prints them
        rc, out, err = C.run_cmd(self, ["rustup-env", "--config", c.config_path, "--url", c.url])
        self.assertEqual(rc, 0, err)
        exports = dict(re.findall(r"^export (\w+)=(\S+)$", out, re.M))
        self.assertEqual(exports, {"RUSTUP_DIST_SERVER": c.url + "/rust",
                                   "RUSTUP_UPDATE_ROOT": c.url + "/rust/rustup"}, out)
        a = self.rustup(c.url, "a")
        a.install(logs=[c])
        self.assertEqual(a.version(), V0)
        pair = self.manifest_pair()
        tarballs = tree.tarball_paths(profile="minimal")
        want = pair + tarballs
        self.assertEqual(sorted(self.served(c)), sorted(("/rust" + p, 200) for p in want))
        self.assertEqual(sorted(up.requests()), sorted(("GET", p, 200) for p in want),
                         "each file asked of the upstream once")

        # rustup update with nothing new, after the manifest_ttl passed:
        # the .sha256 through crated, and crated revalidates with it alone
        self.wait_ttl(1)
        am, um = self.access_mark(c), len(up.requests())
        rc, out, err = a.run("update", "1.95.0", "--no-self-update", logs=[c])
        self.assertIn("unchanged", out + err)
        self.assertEqual(self.served(c, am), [("/rust" + pair[0], 200)])
        self.assertEqual([p for m, p, s in up.requests()[um:]], [pair[0]],
                         "crated revalidated with more than the .sha256")

        # component add: the dated tarball of the installed manifest, no manifest
        am, um = self.access_mark(c), len(up.requests())
        a.run("component", "add", "clippy", "--toolchain", "1.95.0", logs=[c])
        clippy = tree.tarball_path("clippy-preview")
        self.assertEqual(self.served(c, am), [("/rust" + clippy, 200)])
        self.assertEqual(up.requests()[um:], [("GET", clippy, 200)])
        self.assertEqual(a.version(tool="cargo-clippy"), "clippy 1.95.0 (standin %s)" % OLD)

        # rustup's own release file passes through (mutable, byte for byte)
        r = c.get("/rust/rustup/release-stable.toml")
        self.assertEqual((r.status, r.body), (200, tree.read("/rustup/release-stable.toml")))

        # the upstream goes away: a fresh RUSTUP_HOME installs from the cache
        up.stop()
        am = self.access_mark(c)
        b = self.rustup(c.url, "b")
        b.install(logs=[c])
        b.run("component", "add", "clippy", "--toolchain", "1.95.0", logs=[c])
        self.assertEqual(b.version(), V0)
        self.assertEqual(b.version(tool="cargo-clippy"), "clippy 1.95.0 (standin %s)" % OLD)
        served = self.served(c, am)
        self.assertEqual(sorted(p for p, s in served), sorted("/rust" + p for p in want + [clippy]))
        self.assertEqual({s for p, s in served}, {200}, served)

    def test_update_to_a_new_release_keeps_old_dates(self):
        """A new date published upstream: `rustup update stable` gets it
        (one manifest pair, its tarballs), and the old dated directory is
        still served for a release that names it."""
        tree = self.make_tree()
        up = self.dist_server(tree)
        c = self.crated(up.base, manifest_ttl=1)
        a = self.rustup(c.url, "a")
        a.install("stable", logs=[c])
        self.assertEqual(a.version("stable"), V0)
        tree.publish(NEW, "1.95.1")
        self.wait_ttl(1)
        um = up.mark()
        rc, out, err = a.run("update", "stable", "--no-self-update", logs=[c])
        self.assertIn("updated", out + err)
        self.assertEqual(a.version("stable"), V1)
        self.assertOnce(up, self.manifest_pair("stable") + tree.tarball_paths(NEW, "minimal"), um)
        # 1.95.0's channel still names the old date: served, from the cache
        um = up.mark()
        b = self.rustup(c.url, "b")
        b.install("1.95.0", logs=[c])
        self.assertEqual(b.version("1.95.0"), V0)
        self.assertEqual([p for p in up.paths(um) if "/%s/" % OLD in p], [],
                         "old dated files asked of the upstream again")

    def test_altered_tarball_is_not_cached(self):
        """A tarball that does not match its manifest's hash: rustup fails
        with its checksum message and crated keeps nothing, so the next
        request goes upstream again (never bytes from a cache); once the
        upstream is repaired, installs work and the good copy is kept."""
        tree = self.make_tree()
        rz = tree.alter("rustc")
        bad = tree.read(rz)
        up = self.dist_server(tree)
        c = self.crated(up.base)
        a = self.rustup(c.url, "a")
        rc, out, err = a.install(check=False)
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("checksum failed", err)
        n = up.count(rz)
        self.assertGreaterEqual(n, 1)
        r = c.get("/rust" + rz)
        log("GET of the altered tarball through crated: %d, %d bytes" % (r.status, len(r.body)))
        self.assertEqual(up.count(rz), n + 1, "the next request did not go upstream again")
        if r.status == 200:
            self.assertEqual(r.body, bad, "a 200 that is not the upstream's bytes")
        else:
            detail = self.assertErrors(r, (502,))
            self.assertIn(rz.lstrip("/"), detail)
        bad_hash = hashlib.sha256(bad).hexdigest()
        for rel in S.files_under(c.data_dir):
            with open(os.path.join(c.data_dir, rel), "rb") as f:
                self.assertNotEqual(hashlib.sha256(f.read()).hexdigest(), bad_hash,
                                    "the altered tarball was kept as %s" % rel)
        # the other files of the install were good: kept
        um = up.mark()
        for p in tree.tarball_paths(profile="minimal"):
            if p != rz:
                self.assertEqual((c.get("/rust" + p).status), 200, p)
        self.assertEqual(up.since(um), [], "good tarballs were not kept")
        # the upstream repaired: installs, and the good copy is kept
        tree.restore("rustc")
        b = self.rustup(c.url, "b")
        b.install(logs=[c])
        self.assertEqual(b.version(), V0)
        n = up.count(rz)
        self.rustup(c.url, "c").install(logs=[c])
        self.assertEqual(up.count(rz), n, "the good tarball was not kept")

    def test_manifest_changes_between_sha256_and_toml(self):
        """The upstream switches `stable` to a new release right after it
        sent the old .sha256. Straight to the upstream, rustup fails (the
        pair it got does not match); through crated it gets one consistent
        pair, old or new."""
        tree = self.make_tree()
        tree.publish(NEW, "1.95.1", channels=False)
        up = self.dist_server(tree)
        armed = threading.Event()

        def switch(hit):
            if armed.is_set():
                armed.clear()
                tree.set_channel("stable", NEW)
        up.hook("/dist/channel-rust-stable.toml.sha256", switch, when="read")

        # the fault bites: rustup straight to the upstream
        armed.set()
        direct = Rustup(self.bin, self.tmp, "direct", up.base)
        rc, out, err = direct.install("stable", check=False)
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("is not installable", err)
        self.assertFalse(armed.is_set())

        # again through crated
        tree.set_channel("stable", OLD)
        armed.set()
        c = self.crated(up.base)
        a = self.rustup(c.url, "a")
        a.install("stable", logs=[c])
        self.assertFalse(armed.is_set(), "crated never asked for the .sha256")
        v = a.version("stable")
        self.assertIn(v, (V0, V1))
        log("installed through crated: %s; upstream: %r" % (v, up.since()))
        sha = c.get("/rust" + self.manifest_pair("stable")[0])
        toml = c.get("/rust" + self.manifest_pair("stable")[1])
        self.assertEqual((sha.status, toml.status), (200, 200))
        self.assertEqual(sha.text().split()[0], hashlib.sha256(toml.body).hexdigest(),
                         "crated serves a .sha256 and a .toml that do not match")
        self.assertNo5xx(c)

    def test_eight_clients_one_download(self):
        """8 rustups with fresh homes at once: the upstream holds its answer
        for the .sha256 and for each tarball until all 8 have asked crated
        for that file, so that their requests overlap; the upstream sends
        each file once."""
        tree = self.make_tree()
        up = self.dist_server(tree)
        c = self.crated(up.base)
        fp = self.front(c)
        pair = self.manifest_pair()
        files = pair + tree.tarball_paths(profile="minimal")
        # not the .toml: crated may fetch it with the .sha256, before any
        # client can ask for it
        for p in [pair[0]] + files[2:]:
            up.hold(p, lambda p=p: fp.count("/rust" + p) >= 8, max_s=20)
        clients = [self.rustup(fp.base, "f%d" % i) for i in range(8)]
        started = [r.start_install() for r in clients]
        for r, (p, outp) in zip(clients, started):
            try:
                rc = p.wait(timeout=RUSTUP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
                rc = None
            with open(outp, errors="replace") as f:
                self.assertEqual(rc, 0, "%s: %s\n%s" % (r.name, f.read()[-2000:], c.log_tail()))
        for r in clients:
            self.assertEqual(r.version(), V0)
        for p in files:
            self.assertEqual(fp.count("/rust" + p), 8, p)
        # the .toml may be fetched with its .sha256 before any client asks for it
        self.assertOnce(up, files)
        self.assertEqual(up.hold_timeouts, [], "the 8 requests did not all arrive together")
        self.assertNo5xx(c)

    def test_resume_with_range(self):
        """rustup stopped half way through rustc's tarball leaves a
        .partial; the next run asks crated for the rest with Range and gets
        206 with the rest of the upstream's bytes."""
        tree = self.make_tree(padding={"rustc": 512 << 10})
        rz = tree.tarball_path("rustc")
        size = os.path.getsize(tree.local(rz))
        up = self.dist_server(tree, rate=256 << 10)      # bytes/s: ~2 s for rustc
        c = self.crated(up.base)
        fp = self.front(c)
        a = self.rustup(fp.base, "a")
        partial = os.path.join(a.home, "downloads", D.sha256_file(tree.local(rz)) + ".partial")

        def partial_size():
            try:
                return os.path.getsize(partial)
            except OSError:
                return 0
        p, outp = a.start_install()
        got = harness.wait_until(lambda: partial_size() >= 64 << 10 or p.poll() is not None, 30)
        p.kill()
        p.wait(timeout=10)
        self.assertTrue(got and partial_size() >= 64 << 10,
                        "no .partial of 64 KiB (rustup exited %s)" % p.returncode)
        n = partial_size()
        self.assertLess(n, size)
        # rustup installs the components it has while others download: the
        # kill may leave some half-installed, which its next run refuses
        # ("detected conflict"). The .partial in downloads/ is what counts.
        for d in ("toolchains", "update-hashes"):
            shutil.rmtree(os.path.join(a.home, d), ignore_errors=True)
        m = fp.mark()
        a.install(logs=[c])
        self.assertEqual(a.version(), V0)
        ex = [e for e in fp.since(m) if e.path == "/rust" + rz]
        log("rustc %d bytes, .partial %d; resumed: %r; upstream: %r"
            % (size, n, ex, [h for h in up.since() if h.path == rz]))
        self.assertEqual(len(ex), 1, ex)
        self.assertEqual(ex[0].range, "bytes=%d-" % n, "what rustup sent")
        self.assertEqual(ex[0].status, 206, "what crated answered")
        self.assertEqual(ex[0].resp_headers.get("content-range"),
                         "bytes %d-%d/%d" % (n, size - 1, size))
        self.assertEqual(ex[0].body_bytes, size - n)
        self.assertTrue(ex[0].complete)
        # ranges of the cached tarball, byte for byte
        data = tree.read(rz)
        for rng, status, lo, hi in (("bytes=100-199", 206, 100, 199),
                                    ("bytes=%d-" % (size - 10), 206, size - 10, size - 1),
                                    ("bytes=-10", 206, size - 10, size - 1)):
            r = c.get("/rust" + rz, headers={"Range": rng})
            self.assertEqual(r.status, status, "%s: %r" % (rng, r))
            self.assertEqual(r.header("content-range"), "bytes %d-%d/%d" % (lo, hi, size), rng)
            self.assertEqual(r.body, data[lo:hi + 1], rng)
        r = c.get("/rust" + rz, headers={"Range": "bytes=%d-" % size})
        self.assertEqual(r.status, 416, r)

    def test_upstream_cut_mid_download(self):
        """The upstream closes rustc's tarball half way (once): the install
        through crated still succeeds, no client got a short body passed off
        as whole, and the copy crated keeps is whole."""
        tree = self.make_tree(padding={"rustc": 512 << 10})
        rz = tree.tarball_path("rustc")
        size = os.path.getsize(tree.local(rz))
        up = self.dist_server(tree)
        up.cut(rz, size // 2, times=1)
        c = self.crated(up.base)
        fp = self.front(c)
        a = self.rustup(fp.base, "a")
        a.install(logs=[c])
        self.assertEqual(a.version(), V0)
        log("upstream: %r" % [h for h in up.since() if h.path == rz])
        log("rustup <- crated: %r" % [e for e in fp.since() if e.path == "/rust" + rz])
        for e in fp.since():
            if e.path == "/rust" + rz and e.status == 200 and e.complete:
                self.assertEqual(e.body_bytes, size, e)
        self.assertTrue(any(h.cut for h in up.since() if h.path == rz), "the cut never happened")
        # the kept copy is whole: with the upstream gone, a fresh home installs
        up.stop()
        b = self.rustup(c.url, "b")
        b.install(logs=[c])
        self.assertEqual(b.version(), V0)
        r = c.get("/rust" + rz)
        self.assertEqual((r.status, r.body), (200, tree.read(rz)))

    def test_not_found_passes_through(self):
        """A toolchain the upstream does not have: rustup's own message
        (it tried its legacy names after the 404), never a 5xx."""
        tree = self.make_tree()
        up = self.dist_server(tree)
        c = self.crated(up.base)
        a = self.rustup(c.url, "a")
        rc, out, err = a.install("9.9.9", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("could not download nonexistent rust version", err)
        self.assertNotRegex(err, r"status code: 5\d\d")
        served = self.served(c)
        self.assertIn(("/rust" + self.manifest_pair("9.9.9")[0], 404), served)
        self.assertEqual({s for p, s in served}, {404}, served)
        self.assertIn(self.manifest_pair("9.9.9")[0], up.paths())

    def test_manifest_503_serves_snapshot(self):
        """With a snapshot cached and its manifest_ttl past, the upstream
        answers 503 for the channel manifest: a fresh home still installs
        (rustup gives up at once on a 5xx)."""
        tree = self.make_tree()
        up = self.dist_server(tree)
        c = self.crated(up.base, manifest_ttl=1)
        self.rustup(c.url, "a").install(logs=[c])
        for p in self.manifest_pair():
            up.fail(p, 503)
        self.wait_ttl(1)
        m = up.mark()
        b = self.rustup(c.url, "b")
        b.install(logs=[c])
        self.assertEqual(b.version(), V0)
        self.assertTrue(harness.wait_until(lambda: any(h.status == 503 for h in up.since(m)), 5),
                        "crated never revalidated (upstream: %r)" % up.since(m))
        self.assertNo5xx(c)

    def test_offline_bundle(self):
        """prefetch --toolchain (minimal, a second target, clippy) and a
        crate lock file, export, import into a fresh data dir, every
        upstream stopped: an offline crated installs the toolchain, the
        target and clippy with rustup, answers 404 for what was not
        prefetched, and serves `cargo build --locked`."""
        tree = self.make_tree(std_targets=[ARM])
        up = self.dist_server(tree)
        si, rtree, url, pk = S.standin_registry(self.tmp)
        self.addCleanup(si.stop)
        rtree.add("tinydep", "1.0.0", harness.make_crate("tinydep", "1.0.0"))
        proj = harness.make_project(os.path.join(self.tmp, "app"), "app", publish=False,
                                    deps='tinydep = { version = "1", registry = "st" }',
                                    main_rs='fn main() { println!("f={}", tinydep::f()); }\n')
        pk.run(["generate-lockfile"], proj)
        lock = os.path.join(proj, "Cargo.lock")

        a_dir = os.path.join(self.tmp, "A")
        regs = S.mirror_toml("mirror", url) + toolchain_toml("rust", up.base, manifest_ttl=600)
        a_cfg = harness.write_config(os.path.join(self.tmp, "A.toml"), a_dir, registries=regs)
        rc, out, err, summ = C.prefetch(self, ["--config", a_cfg, lock])
        self.assertEqual(summ.counts(), (1, 1, 0, 0, 0), summ.line)
        rc, out, err = C.run_cmd(self, ["prefetch", "--config", a_cfg, "--toolchain", "1.95.0",
                                        "--profile", "minimal", "--target", ARM,
                                        "--component", "clippy"], timeout=120)
        log("prefetch --toolchain: rc %d\n%s%s" % (rc, out, err[-2000:]))
        self.assertEqual(rc, 0, out + err)
        prefetched = (tree.tarball_paths(profile="minimal")
                      + [tree.tarball_path("rust-std", ARM), tree.tarball_path("clippy-preview")])
        self.assertEqual(sorted(up.paths()), sorted(self.manifest_pair() + prefetched),
                         "what prefetch asked of the upstream")
        # a toolchain the upstream does not have: the status and crated's
        # detail, not its JSON
        rc, out, err = C.run_cmd(self, ["prefetch", "--config", a_cfg, "--toolchain", "9.9.9",
                                        "--profile", "minimal"], timeout=60)
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("channel-rust-9.9.9.toml.sha256: HTTP 404: ", out + err)
        self.assertNotIn('{"errors"', out + err)

        bundle = os.path.join(self.tmp, "bundle.tar.gz")
        rc, out, err = C.run_cmd(self, ["export", "--config", a_cfg, bundle], timeout=60)
        log("export: rc %d: %s" % (rc, (out + err).strip()))
        self.assertEqual(rc, 0, out + err)
        with tarfile.open(bundle, "r:gz") as tf:
            names = tf.getnames()
        for p in prefetched:
            self.assertTrue(any(n.endswith(os.path.basename(p)) for n in names),
                            "%s not in the bundle: %r" % (p, names))
        self.assertTrue(any(n.endswith("tinydep-1.0.0.crate") for n in names), names)

        up.stop()
        si.stop()
        e_dir = os.path.join(self.tmp, "E")
        regs = (S.mirror_toml("mirror", url, offline=True)
                + toolchain_toml("rust", up.base, offline=True, manifest_ttl=600))
        e_cfg = harness.write_config(os.path.join(self.tmp, "E.toml"), e_dir, registries=regs)
        rc, out, err = C.run_cmd(self, ["import", "--config", e_cfg, bundle], timeout=60)
        log("import: rc %d: %s" % (rc, (out + err).strip()))
        self.assertEqual(rc, 0, out + err)
        off = self.start_crated(name="offline", config_path=e_cfg, data_dir=e_dir)
        r = self.rustup(off.url, "offline")
        r.install(logs=[off])
        self.assertEqual(r.version(), V0)
        r.run("target", "add", ARM, "--toolchain", "1.95.0", logs=[off])
        r.run("component", "add", "clippy", "--toolchain", "1.95.0", logs=[off])
        self.assertEqual(r.version(tool="cargo-clippy"), "clippy 1.95.0 (standin %s)" % OLD)
        # what was not prefetched: a 404 saying so, never a wait or a 5xx
        rc, out, err = r.run("component", "add", "rustfmt", "--toolchain", "1.95.0", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("status code: 404", err)
        self.assertTrue(harness.wait_log(off, r"offline miss: .*rustfmt-preview-1\.95\.0"),
                        off.log_tail())
        home = harness.Cargo(self.tmp, '[registries.st]\nindex = "%s"\n'
                             '[registries.offline-crated]\nindex = "sparse+%s/mirror/"\n'
                             '[source.st-upstream]\nregistry = "%s"\nreplace-with = "offline-crated"\n'
                             % (url, off.url, url))
        home.run(["build", "--locked"], proj, logs=[off])
        run = subprocess.run([os.path.join(home.target, "debug", "app")], capture_output=True,
                             timeout=30)
        self.assertEqual(run.stdout.decode().strip(), "f=%d" % (len("tinydep") + len("1.0.0")))
        self.assertNo5xx(off)


if __name__ == "__main__":
    harness.main()
