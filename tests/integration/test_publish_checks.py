#!/usr/bin/env python3
"""Publish checks from issue 22: every value cargo would later refuse to read
(which would burn the version for good) is refused with 400, a cargo-format
error naming the field, and nothing written: dependency version_req, target,
registry and features; links; rust_version; feature names and values;
reserved crate names; and the .crate itself, read whole before anything is
stored (top directory NAME-VERSION/, no "..", absolute paths or links,
Cargo.toml present, a complete gzip stream, an unpacked-size cap). The same
checks hold on an upload relay: nothing bad reaches the feed.

One hosted server for most of the file; the relay test starts its own with
the Azure feed stand-in."""

import gzip
import io
import json
import os
import random
import sys
import tarfile
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, dep, make_crate, publish_body  # noqa: E402

UNPACK_CAP = 512 << 20      # CRATE_UNPACK_MAX in index/crate_archive.h


def tar_gz(entries, level=6):
    """A .crate from (TarInfo fields, data) pairs: entries is a list of
    dicts with name, and optionally type, linkname, data."""
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            data = e.get("data", b"")
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.linkname = e.get("linkname", "")
            ti.mtime = 1700000000
            ti.mode = 0o644
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if ti.size else None)
    gbuf = io.BytesIO()
    with gzip.GzipFile(fileobj=gbuf, mode="wb", mtime=0, compresslevel=level) as gz:
        gz.write(tbuf.getvalue())
    return gbuf.getvalue()


def toml(name, vers):
    return ('[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n'
            % (name, vers)).encode()


def bomb(name, vers, size):
    """A .crate whose NAME-VERSION/Cargo.toml is followed by a file of size
    zero bytes: small compressed, size bytes unpacked."""
    top = "%s-%s" % (name, vers)
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.GNU_FORMAT) as tf:
        data = toml(name, vers)
        ti = tarfile.TarInfo(top + "/Cargo.toml")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    # the tar without its end blocks, then a big member by hand
    raw = head.getvalue()
    raw = raw[:raw.rfind(data) + 512]
    ti = tarfile.TarInfo(top + "/zeros.bin")
    ti.size = size
    hdr = ti.tobuf(format=tarfile.GNU_FORMAT)
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [z.compress(raw + hdr)]
    chunk = bytes(1 << 20)
    left = size + (-size % 512) + 1024     # data, padding, end blocks
    while left > 0:
        n = min(left, len(chunk))
        out.append(z.compress(chunk[:n]))
        left -= n
    out.append(z.flush())
    return b"".join(out)


class PublishChecksTest(harness.SharedServer, unittest.TestCase):
    maxDiff = 4000

    def refused(self, meta, crate, *words):
        """Publishes; asserts 400, a cargo-format error containing every word
        (the field's name), and the data dir unchanged. Returns the detail."""
        before = harness.snapshot(self.srv.data_dir)
        lines = self.srv.index_lines(meta["name"])
        r = self.srv.publish(meta, crate, timeout=60)
        detail = harness.errors_detail(self, r, (400,))
        for w in words:
            self.assertIn(w, detail, "the error does not name %r: %r" % (w, detail))
        self.assertEqual(self.srv.index_lines(meta["name"]), lines, "the index changed")
        after = harness.settled_snapshot(self.srv.data_dir, 2.0)
        diff = harness.snapshot_diff(before, after)
        self.assertFalse(diff, "data dir changed:\n  " + "\n  ".join(diff[:20]))
        return detail

    def accepted(self, meta, crate):
        r = self.srv.publish(meta, crate, timeout=60)
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.srv.log_tail()))
        lines = self.srv.index_lines(meta["name"])
        self.assertIn(meta["vers"], [l["vers"] for l in lines])
        return lines

    # --- item 3: dependency and package fields ---------------------------

    def test_dependency_version_req(self):
        for req in ("\n\"x", ">=1.0 <2", "1.0.0.0", "^01.2", "~>1", "=*", "1.*.3",
                    "1.0,", "* , 1", ">= 1.0\t", "1.0.0-", "1.0.0+", "latest"):
            with self.subTest(req=req):
                meta = crate_meta("reqbad", "1.0.0", deps=[dep("serde", req)])
                self.refused(meta, make_crate("reqbad", "1.0.0"), "version_req", "serde")

    def test_rust_version(self):
        for rv in ("\"}", "1.70.0-beta", "^1.70", "1.70.0.1", "", "01.70", "1.", "v1.70"):
            with self.subTest(rust_version=rv):
                meta = crate_meta("rvbad", "1.0.0", rust_version=rv)
                self.refused(meta, make_crate("rvbad", "1.0.0"), "rust_version")

    def test_dependency_registry(self):
        for reg in ("https://example.com/\n\"x\"", "not a url", "example.com/index",
                    "https:///no-host", "sparse+https://", "https://a b/"):
            with self.subTest(registry=reg):
                meta = crate_meta("regbad", "1.0.0", deps=[dep("other", "^1", registry=reg)])
                self.refused(meta, make_crate("regbad", "1.0.0"), "registry", "other")

    def test_links(self):
        for links in ("\n", "a b", "", "z\"}", "lib/z"):
            with self.subTest(links=links):
                meta = crate_meta("linksbad", "1.0.0", links=links)
                self.refused(meta, make_crate("linksbad", "1.0.0"), "links")

    def test_dependency_target(self):
        for target in ("cfg(unix", "cfg(target_os = \"linux\" extra)", "x86_64 linux",
                       "not(any(cfg(windows)))", "cfg()", "cfg(all(unix,,))",
                       "cfg(target_os = linux)", "", "cfg(a = \"unterminated)"):
            with self.subTest(target=target):
                meta = crate_meta("targetbad", "1.0.0", deps=[dep("libc", "^0.2", target=target)])
                self.refused(meta, make_crate("targetbad", "1.0.0"), "target", "libc")

    def test_dependency_features_and_kind(self):
        for feats in (["a\nb"], ["dep:"], ["x/y/z"], [""], ["\u202eevil"]):
            with self.subTest(features=feats):
                meta = crate_meta("depfeat", "1.0.0", deps=[dep("serde", "^1", features=feats)])
                self.refused(meta, make_crate("depfeat", "1.0.0"), "features", "serde")
        meta = crate_meta("depfeat", "1.0.0",
                          deps=[dep("tempfile", "^3", kind="dev", optional=True)],
                          features={"t": ["dep:tempfile"]})
        self.refused(meta, make_crate("depfeat", "1.0.0"), "optional", "tempfile")

    # --- item 17: features ------------------------------------------------

    def test_feature_names(self):
        for name in ("dep:x", "a\nb", "a\u202eb", "", "a/b", "-a", "caf\u00e9 x"):
            with self.subTest(name=name):
                meta = crate_meta("featname", "1.0.0", features={name: []})
                self.refused(meta, make_crate("featname", "1.0.0"), "features")

    def test_feature_values(self):
        deps = [dep("req", "^1"), dep("opt", "^1", optional=True),
                dep("real", "^1", optional=True, explicit_name_in_toml="ren")]
        for vals in (["nothere"], ["dep:"], ["dep:nodep"], ["dep:req"], ["nodep/f"],
                     ["req?/f"], ["x/y/z"], ["dep:opt/f"], ["real/f"], ["a\nb"],
                     ["req"], ["dep:opt", "opt"]):
            with self.subTest(values=vals):
                meta = crate_meta("featval", "1.0.0", deps=deps,
                                  features={"f": vals, "ren": ["dep:real"]})
                self.refused(meta, make_crate("featval", "1.0.0"), "features", "`f`")
        # an optional dependency no feature enables (its implicit feature
        # is shadowed by a feature of the same name)
        meta = crate_meta("featval", "1.0.0", deps=[dep("opt", "^1", optional=True)],
                          features={"opt": []})
        self.refused(meta, make_crate("featval", "1.0.0"), "features", "opt")

    def test_valid_fields_accepted(self):
        deps = [dep("a", ">=1.0, <2"), dep("b", "1.*"), dep("c", "=1.2.3-alpha.1+b"),
                dep("d", "*"), dep("e", " ^0.1 , <0.1.5 "), dep("f", "~1.2.x"),
                dep("opt", "^1", optional=True),
                dep("imp", "^1", optional=True),
                dep("real", "^1", optional=True, explicit_name_in_toml="ren",
                    features=["std", "x/y", "dep:z"]),
                dep("libc", "^0.2", target="cfg(all(unix, not(target_os = \"macos\")))"),
                dep("winapi", "^0.3", target="x86_64-pc-windows-msvc"),
                dep("g", "^1", registry="https://github.com/rust-lang/crates.io-index"),
                dep("h", "^1", registry="sparse+https://example.com/index/"),
                dep("tempfile", "^3", kind="dev"), dep("cc", "^1", kind="build")]
        features = {"default": ["std"], "std": [], "o": ["dep:opt", "opt?/x", "ren/feat"],
                    "i": ["imp", "imp/y"], "r": ["dep:ren"], "v1.2+x": [], "_u": [],
                    "9": []}
        meta = crate_meta("goodfields", "1.0.0", deps=deps, features=features,
                          links="git2", rust_version="1.70")
        lines = self.accepted(meta, make_crate("goodfields", "1.0.0"))
        self.assertEqual(lines[-1]["links"], "git2")
        self.assertEqual(lines[-1]["rust_version"], "1.70")
        meta = crate_meta("goodfields", "1.0.1", rust_version="1")
        self.accepted(meta, make_crate("goodfields", "1.0.1"))

    # --- item 4: reserved names -------------------------------------------

    def test_reserved_names(self):
        for name in ("nul", "con", "aux", "prn", "com1", "lpt9", "COM0", "Nul", "std", "rust",
                     "core", "alloc", "proc-macro", "test", "rustc"):
            with self.subTest(name=name):
                detail = self.refused(crate_meta(name, "1.0.0"), make_crate(name, "1.0.0"),
                                      "name", name, "reserved")
                self.assertRegex(detail, "Windows|Rust's own")
        # look-alikes are fine
        for name in ("com10", "console", "stdx"):
            self.accepted(crate_meta(name, "1.0.0"), make_crate(name, "1.0.0"))

    # --- item 5: the .crate against its metadata --------------------------

    def crate_refused(self, crate, *words, name="bar", vers="1.0.1"):
        return self.refused(crate_meta(name, vers), crate, ".crate", *words)

    def test_archive_shapes(self):
        top = "bar-1.0.1/"
        good = {"name": top + "Cargo.toml", "data": toml("bar", "1.0.1")}
        cases = {
            "wrong top dir": ([{"name": "other-9.9.9/Cargo.toml", "data": toml("other", "9.9.9")}],
                              "other-9.9.9/Cargo.toml"),
            "top dir differs in case": ([{"name": "Bar-1.0.1/Cargo.toml", "data": b""}],
                                        "Bar-1.0.1"),
            "dotdot": ([good, {"name": top + "../evil.rs", "data": b"x"}], ".."),
            "absolute": ([good, {"name": "/etc/evil", "data": b"x"}], "/etc/evil"),
            "symlink out": ([good, {"name": top + "link", "type": tarfile.SYMTYPE,
                                    "linkname": "/etc/passwd"}], "symbolic link"),
            "symlink in": ([good, {"name": top + "link", "type": tarfile.SYMTYPE,
                                   "linkname": "Cargo.toml"}], "symbolic link"),
            "hard link": ([good, {"name": top + "hl", "type": tarfile.LNKTYPE,
                                  "linkname": "../../x"}], "hard link"),
            "fifo": ([good, {"name": top + "fifo", "type": tarfile.FIFOTYPE}], "fifo"),
            "no Cargo.toml": ([{"name": top + "src/lib.rs", "data": b"fn f() {}"}],
                              "Cargo.toml"),
            "Cargo.toml a directory": ([{"name": top + "Cargo.toml", "type": tarfile.DIRTYPE}],
                                       "Cargo.toml"),
            "prefix without slash": ([good, {"name": "bar-1.0.10/x", "data": b""}],
                                     "bar-1.0.10/x"),
        }
        for what, (entries, word) in cases.items():
            with self.subTest(what):
                self.crate_refused(tar_gz(entries), word)
        # build metadata: the tarball's directory carries it, as cargo
        # package writes it; a tarball without it does not match
        self.refused(crate_meta("bar", "1.0.1+b"), make_crate("bar", "1.0.1"), ".crate",
                     "bar-1.0.1+b/")
        self.accepted(crate_meta("bar", "1.0.2+b.7"), make_crate("bar", "1.0.2+b.7"))
        self.accepted(crate_meta("bar", "1.0.3"), tar_gz([
            {"name": "bar-1.0.3", "type": tarfile.DIRTYPE},
            {"name": "bar-1.0.3/src", "type": tarfile.DIRTYPE},
            {"name": "bar-1.0.3/Cargo.toml", "data": toml("bar", "1.0.3")}]))

    def test_archive_streams(self):
        good = make_crate("bar", "1.0.1")
        rnd = random.Random(22)
        cases = {
            "truncated gzip": (good[:-12], "truncated"),
            "truncated in the tar": (good[:len(good) // 2], "truncated"),
            "random bytes after gzip magic": (b"\x1f\x8b" + bytes(rnd.randrange(256)
                                                            for _ in range(300)), "gzip"),
            "gzip of no tar": (gzip.compress(b"hello, not a tar" * 40, mtime=0), "tar"),
            "bytes after the gzip stream": (good + b"junk", "follow the end of the gzip stream"),
            "two gzip members": (good + good, "follow the end of the gzip stream"),
            "empty tar": (gzip.compress(bytes(1024), mtime=0), "Cargo.toml"),
        }
        for what, (crate, word) in cases.items():
            with self.subTest(what):
                self.crate_refused(crate, word)
        self.accepted(crate_meta("bar", "1.0.1"), good)

    def test_unpacked_size_cap(self):
        crate = bomb("bomb", "1.0.0", UNPACK_CAP + (1 << 20))
        self.assertLess(len(crate), 4 << 20)
        # the loop keeps answering while a worker inflates the bomb
        answers = []

        def probe():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not done.is_set():
                t = time.monotonic()
                r = self.srv.get("/local/config.json", timeout=10)
                answers.append((r.status, time.monotonic() - t))
                time.sleep(0.05)    # a sampler: 20 probes a second (not a wait)
        done = threading.Event()
        th = threading.Thread(target=probe)
        t0 = time.monotonic()
        th.start()
        try:
            detail = self.refused(crate_meta("bomb", "1.0.0"), crate, ".crate",
                                  "unpacks to more than")
        finally:
            done.set()
            th.join(40)
        el = time.monotonic() - t0
        self.assertTrue(answers and all(s == 200 for s, _ in answers), answers)
        print("\n    %d-byte bomb (%d MiB unpacked) refused in %.2f s: %s; config.json during"
              " it: %d answers, slowest %.3f s" % (len(crate), (UNPACK_CAP >> 20) + 1, el,
                                                  detail[:60], len(answers),
                                                  max(a for _, a in answers)), file=sys.stderr)
        # just under the cap is fine
        ok = bomb("bomb", "1.0.1", 64 << 20)
        self.accepted(crate_meta("bomb", "1.0.1"), ok)


class RelayChecksTest(harness.TestCase):
    """An upload relay applies the same checks: nothing bad reaches the feed."""

    def test_relay_refuses_before_forwarding(self):
        import azure_standin as az
        from relay_common import corp_registries
        ca = az.make_test_ca(os.path.join(self.tmp, "ca"))
        feed = az.AzureFeed(ca).start()
        self.addCleanup(feed.stop)
        feed.seed("corp-seed", "1.0.0", make_crate("corp-seed", "1.0.0"))
        srv = self.start_crated(registries=corp_registries(feed, ca.ca_cert),
                                env={"CORP_TOKEN": feed.token})
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        bad = [
            (crate_meta("relayed", "1.0.0", deps=[dep("x", "\n\"x")]),
             make_crate("relayed", "1.0.0"), "version_req"),
            (crate_meta("relayed", "1.0.0", rust_version="\"}"),
             make_crate("relayed", "1.0.0"), "rust_version"),
            (crate_meta("relayed", "1.0.0", features={"dep:x": []}),
             make_crate("relayed", "1.0.0"), "features"),
            (crate_meta("nul", "1.0.0"), make_crate("nul", "1.0.0"), "reserved"),
            (crate_meta("relayed", "1.0.0"), make_crate("other", "9.9.9"), ".crate"),
            (crate_meta("relayed", "1.0.0"), b"\x1f\x8b" + bytes(range(200)), ".crate"),
        ]
        for meta, crate, word in bad:
            with self.subTest(word=word):
                r = srv.publish(meta, crate, reg="corp", timeout=30)
                detail = self.assertErrors(r, (400,))
                self.assertIn(word, detail)
        self.assertEqual(feed.count("PUT", feed.api_path("/new")), 0,
                         "a refused publish reached the feed")
        r = srv.publish(crate_meta("relayed", "1.0.0"), make_crate("relayed", "1.0.0"),
                        reg="corp", timeout=30)
        self.assertEqual(r.status, 200, "%r\n%s" % (r, srv.log_tail()))
        self.assertTrue(feed.wait(lambda: any(p["name"] == "relayed" for p in feed.publishes),
                                  20), "the good publish never reached the feed")


if __name__ == "__main__":
    harness.main()
