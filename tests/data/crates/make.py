#!/usr/bin/env python3
"""Writes the .crate fixtures of tests/unit/test_crate_archive.c (here) and
the fuzz_publish seeds (tests/fuzz/seeds/publish/*.body): small, made with
tarfile and gzip (deterministic). real-cargo-package.crate beside them is
what `cargo package` (1.95) wrote for seed-crate 0.3.1+build.2.
    python3 tests/data/crates/make.py"""

import gzip
import io
import json
import os
import random
import struct
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "..", "fuzz", "seeds", "publish")


def tgz(entries, gz=True, fmt=tarfile.GNU_FORMAT):
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=fmt) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e[0])
            data = e[1] if len(e) > 1 else b""
            ti.type = e[2] if len(e) > 2 else tarfile.REGTYPE
            ti.linkname = e[3] if len(e) > 3 else ""
            ti.mtime = 1700000000
            ti.mode = 0o644
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if ti.size else None)
    raw = tbuf.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


def toml(name, vers):
    return ('[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n'
            % (name, vers)).encode()


def crate(name, vers, extra=()):
    top = "%s-%s/" % (name, vers)
    return tgz([(top + "Cargo.toml", toml(name, vers)),
                (top + "src/lib.rs", b"pub fn f() {}\n")] + list(extra))


T = "bar-1.0.1/"
good = crate("bar", "1.0.1")
FIXTURES = {
    "good.crate": good,
    "dirs.crate": tgz([("bar-1.0.1", b"", tarfile.DIRTYPE),
                       (T + "src", b"", tarfile.DIRTYPE),
                       (T + "Cargo.toml", toml("bar", "1.0.1"))]),
    "wrong-top.crate": crate("other", "9.9.9"),
    "dotdot.crate": crate("bar", "1.0.1", [(T + "../evil", b"x")]),
    "dot.crate": crate("bar", "1.0.1", [(T + "./x", b"x")]),
    "absolute.crate": crate("bar", "1.0.1", [("/etc/evil", b"x")]),
    "symlink.crate": crate("bar", "1.0.1", [(T + "l", b"", tarfile.SYMTYPE, "/etc/passwd")]),
    "hardlink.crate": crate("bar", "1.0.1", [(T + "h", b"", tarfile.LNKTYPE, T + "Cargo.toml")]),
    "fifo.crate": crate("bar", "1.0.1", [(T + "p", b"", tarfile.FIFOTYPE)]),
    "no-manifest.crate": tgz([(T + "src/lib.rs", b"")]),
    "manifest-dir.crate": tgz([(T + "Cargo.toml", b"", tarfile.DIRTYPE)]),
    "truncated.crate": good[:-12],
    "random.crate": b"\x1f\x8b" + bytes(random.Random(22).randrange(256) for _ in range(300)),
    "trailing.crate": good + b"junk",
    "not-tar.crate": gzip.compress(b"hello, not a tar\n" * 40, mtime=0),
    "zlib-not-gzip.crate": __import__("zlib").compress(tgz([(T + "Cargo.toml", b"")], gz=False)),
    # a path over tar's 100 bytes: a GNU long name, as cargo's tar writes it
    "longpath.crate": crate("bar", "1.0.1", [(T + "src/" + "d" * 120 + "/m.rs", b"")]),
    "pax.crate": tgz([(T + "Cargo.toml", toml("bar", "1.0.1")),
                      (T + "src/" + "\u00e9" * 80 + ".rs", b"")], fmt=tarfile.PAX_FORMAT),
    "longpath-out.crate": crate("bar", "1.0.1", [("x" * 150 + "/bar-1.0.1/m.rs", b"")]),
    # 2 MiB of zeros: over a 1 MiB cap, under the real one
    "bomb-2m.crate": crate("bar", "1.0.1", [(T + "zeros", bytes(2 << 20))]),
    # the manifest after 2 MiB of zeros (what a page reads of a .crate
    # stops at a bound), with a description on several lines
    "manifest-late.crate": tgz([(T + "zeros", bytes(2 << 20)),
                                (T + "Cargo.toml", toml("bar", "1.0.1") +
                                 b'description = """\nlate\nmanifest"""\n')]),
}


def body(meta, c):
    j = json.dumps(meta, separators=(",", ":")).encode()
    return struct.pack("<I", len(j)) + j + struct.pack("<I", len(c)) + c


def meta(name, vers, **kw):
    m = {"name": name, "vers": vers, "deps": [], "features": {}, "links": None,
         "rust_version": None}
    m.update(kw)
    return m


def main():
    for f, data in FIXTURES.items():
        with open(os.path.join(HERE, f), "wb") as fh:
            fh.write(data)
    with open(os.path.join(HERE, "real-cargo-package.crate"), "rb") as fh:
        real = fh.read()
    seeds = {
        "real.body": body(meta("seed-crate", "0.3.1+build.2",
                               features={"default": ["std"], "std": []}), real),
        "good.body": body(meta("bar", "1.0.1", deps=[
            {"name": "serde", "version_req": ">=1.0, <2", "features": ["derive"],
             "optional": True, "default_features": True, "target": "cfg(unix)",
             "kind": "normal", "registry": None, "explicit_name_in_toml": None}],
            features={"s": ["dep:serde", "serde?/std"]}, rust_version="1.70",
            links="z"), good),
        "wrong-top.body": body(meta("bar", "1.0.1"), FIXTURES["wrong-top.crate"]),
        "symlink.body": body(meta("bar", "1.0.1"), FIXTURES["symlink.crate"]),
        "truncated.body": body(meta("bar", "1.0.1"), FIXTURES["truncated.crate"]),
        "dirs.body": body(meta("bar", "1.0.1"), FIXTURES["dirs.crate"]),
    }
    os.makedirs(SEEDS, exist_ok=True)
    for f, data in seeds.items():
        with open(os.path.join(SEEDS, f), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
