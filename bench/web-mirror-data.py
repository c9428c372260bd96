#!/usr/bin/env python3
"""A mirror's data directory for bench/web-list.sh: N crates (default
10,000), each with an index file of VERSIONS lines and the newest
version's .crate cached (a real gzip'd tar whose Cargo.toml has a
description with the word "benchdesc"), laid out as crated keeps them
(index/<path>, crates/<lower>/<lower>-<vers>.crate). No usage journal:
crated counts the cached crates at start (cache/usage.h).

    web-mirror-data.py STORE_DIR [N] [VERSIONS]
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def index_path(name):
    n = name.lower()
    if len(n) == 1:
        return "1/" + n
    if len(n) == 2:
        return "2/" + n
    if len(n) == 3:
        return "3/%s/%s" % (n[0], n)
    return "%s/%s/%s" % (n[0:2], n[2:4], n)


def crate(name, vers, i):
    top = "%s-%s" % (name, vers)
    files = {
        "Cargo.toml": ('[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n'
                       'license = "MIT"\ndescription = "benchdesc number %d of the'
                       ' mirror bench"\n' % (name, vers, i)),
        "src/lib.rs": "pub fn f() -> u32 { %d }\n" % i,
    }
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for rel in sorted(files):
            data = files[rel].encode()
            ti = tarfile.TarInfo("%s/%s" % (top, rel))
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    gbuf = io.BytesIO()
    with gzip.GzipFile(fileobj=gbuf, mode="wb", mtime=0) as gz:
        gz.write(tbuf.getvalue())
    return gbuf.getvalue()


def main():
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    nvers = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    for i in range(n):
        name = "bench-crate-%05d" % i
        lines = []
        body = None
        for v in range(nvers):
            vers = "1.0.%d" % v
            body = crate(name, vers, i)
            lines.append(json.dumps({
                "name": name, "vers": vers, "deps": [],
                "cksum": hashlib.sha256(body).hexdigest(), "features": {},
                "yanked": False, "links": None, "v": 1}, separators=(",", ":")))
        p = os.path.join(root, "index", index_path(name))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n")
        d = os.path.join(root, "crates", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%s-%s.crate" % (name, vers)), "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
