#!/usr/bin/env python3
"""The gzip form of index files kept on disk (gz/<index path>, see
cache/gzfile.h). cargo always accepts gzip, so once an index file has left
the memory cache (memory_cache_bytes = 0 here: never in it) its answers
come from the kept .gz:

* hosted: the first gzip request compresses the file and keeps gz/PATH
  (made from the file's ETag, named in the gzip header); later ones are
  served from it, held open, byte for byte the same with the same ETag,
  304 on that ETag; a publish makes the next answer carry the new line
  and the .gz is made again;
* a .gz that does not match its file (an older one put back, or garbage)
  is never served: the answer is made from the file and the .gz replaced;
* mirror: a fill keeps gz/PATH beside the index file; after a restart the
  gzip answer is the same bytes and ETag, without asking the upstream; a
  file that has none gets one at its first gzip answer."""

import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path, make_crate  # noqa: E402

GZ = {"Accept-Encoding": "deflate, gzip"}       # what cargo sends
WAIT = 10       # seconds, at most, for a background write


def gz_made_from(path, etag):
    """True when the file at path is a .gz crated made from bytes with
    that ETag (the gzip header's comment names it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head[:4] == b"\x1f\x8b\x08\x10" and \
        head[10:].startswith(b"crated " + etag.encode() + b"\0")


class GzipHostedTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_crated(config_extra="memory_cache_bytes = 0\n")

    def publish(self, name, versions):
        for v in versions:
            r, _ = self.srv.publish_simple(name, v)
            self.assertEqual(r.status, 200, r)

    def gz_path(self, name):
        return os.path.join(self.srv.data_dir, "local", "gz", index_path(name))

    def test_served_from_the_kept_gzip(self):
        name = "gzdisk"
        self.publish(name, ["0.%d.0" % i for i in range(1, 13)])
        p = "/local/" + index_path(name)
        plain = self.srv.get(p)
        self.assertEqual(plain.status, 200, plain)
        self.assertEqual(len(plain.body.splitlines()), 12)

        first = self.srv.get(p, GZ)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.header("content-encoding"), "gzip", first)
        self.assertEqual(gzip.decompress(first.body), plain.body)
        self.assertNotEqual(first.header("etag"), plain.header("etag"))
        gzp = self.gz_path(name)
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain.header("etag")), WAIT),
                        "no gz/%s made from the index file" % index_path(name))
        with open(gzp, "rb") as f:
            self.assertEqual(gzip.decompress(f.read()), plain.body)

        second = self.srv.get(p, GZ)
        self.assertEqual(second.status, 200, second)
        self.assertEqual(second.body, first.body, "not the same bytes from disk")
        self.assertEqual(second.header("etag"), first.header("etag"))
        self.assertEqual(second.header("last-modified"), plain.header("last-modified"))
        self.assertIn(os.path.realpath(gzp), self.srv.open_files(),
                      "the .gz is not what answered (not held open)")
        nm = self.srv.get(p, dict(GZ, **{"If-None-Match": second.header("etag")}))
        self.assertNotModified(nm, second.header("etag"))
        head = self.srv.request("HEAD", p, headers=GZ)
        self.assertEqual(head.status, 200, head)
        self.assertEqual(head.header("content-length"), str(len(first.body)), head)

        self.publish(name, ["0.13.0"])
        after = self.srv.get(p, dict(GZ, **{"If-None-Match": second.header("etag")}))
        self.assertEqual(after.status, 200, after)
        lines = gzip.decompress(after.body).splitlines()
        self.assertEqual(len(lines), 13, "the new version is missing")
        self.assertIn(b'"0.13.0"', lines[-1])
        new_plain = self.srv.get(p)
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, new_plain.header("etag")),
                                     WAIT), "the .gz was not made again")
        self.assertNotIn(os.path.realpath(gzp) + " (deleted)", self.srv.open_files(),
                         "the replaced .gz is still held open")
        self.assertEqual(gzip.decompress(self.srv.get(p, GZ).body), new_plain.body)

    def test_stale_or_foreign_gzip_never_served(self):
        name = "gzstale"
        self.publish(name, ["0.%d.0" % i for i in range(1, 9)])
        p = "/local/" + index_path(name)
        gzp = self.gz_path(name)
        old_plain = self.srv.get(p)
        self.srv.get(p, GZ)
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, old_plain.header("etag")),
                                     WAIT))
        with open(gzp, "rb") as f:
            old_gz = f.read()
        self.publish(name, ["0.9.0"])
        plain = self.srv.get(p)
        self.assertEqual(len(plain.body.splitlines()), 9)
        self.srv.get(p, GZ)
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain.header("etag")), WAIT))
        self.srv.stop()

        for bad in (old_gz, b"\x1f\x8b not gzip at all", b""):
            with open(gzp, "wb") as f:      # behind crated's back
                f.write(bad)
            srv = self.start_crated(config_extra="memory_cache_bytes = 0\n")
            for _ in range(2):
                r = srv.get(p, GZ)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(gzip.decompress(r.body), plain.body,
                                 "served a .gz that does not match the index file")
            self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain.header("etag")),
                                         WAIT), "the bad .gz was not replaced")
            srv.stop()


def read_bytes(pid):
    """What the process has read so far (rchar: files and sockets)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/%d/io" % pid)


class GzipLargeFileTest(harness.TestCase):
    """A file too large for the memory cache (over a quarter of it) whose
    .gz is small: answered from the kept .gz every time, never read whole
    (the memory cache's admission must weigh the plain bytes it would
    hold, not the .gz's)."""

    def test_large_file_not_read_per_request(self):
        data = os.path.join(self.tmp, "data")
        rel = os.path.join(data, "local", "index", index_path("big"))
        os.makedirs(os.path.dirname(rel))
        lines = [('{"name":"big","vers":"0.0.%d","deps":[],"cksum":"%064x",'
                  '"features":{},"yanked":false}' % (i, i)) for i in range(1500)]
        body = ("\n".join(lines) + "\n").encode()
        with open(rel, "wb") as f:
            f.write(body)
        self.assertGreater(len(body), 200000)
        srv = self.start_crated(config_extra="memory_cache_bytes = 524288\n")
        p = "/local/" + index_path("big")
        first = srv.get(p, GZ)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(gzip.decompress(first.body), body)
        gzp = os.path.join(data, "local", "gz", index_path("big"))
        plain_etag = srv.get(p).header("etag")
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain_etag), WAIT))
        for _ in range(3):
            srv.get(p, GZ)
        before = read_bytes(srv.proc.pid)
        n = 20
        for _ in range(n):
            r = srv.get(p, GZ)
            self.assertEqual(r.body, first.body)
        read = read_bytes(srv.proc.pid) - before
        self.assertLess(read, n * len(body) // 4,
                        "%d bytes read for %d answers of a %d-byte file (.gz %d)"
                        % (read, n, len(body), len(first.body)))


class GzipMirrorTest(harness.TestCase):

    def test_fill_keeps_gzip(self):
        si, tree, up_url, _ = S.standin_registry(self.tmp)
        self.addCleanup(si.stop)
        name = "gz-mirrored"
        for i in range(1, 13):
            tree.add(name, "0.%d.0" % i, make_crate(name, "0.%d.0" % i))
        regs = S.mirror_toml("mirror", up_url, index_ttl=3600)
        extra = "memory_cache_bytes = 0\n"
        c = self.start_crated(registries=regs, config_extra=extra)
        p = "/mirror/" + index_path(name)
        first = c.get(p, GZ)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.header("content-encoding"), "gzip", first)
        self.assertEqual(gzip.decompress(first.body), tree.index_body(name))
        plain = c.get(p)
        self.assertEqual(plain.body, tree.index_body(name))
        gzp = os.path.join(c.data_dir, "mirror", "gz", index_path(name))
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain.header("etag")), WAIT),
                        "the fill kept no gz/%s" % index_path(name))
        c.stop()

        # (config.json: the upstream probe's, at every start)
        def index_asks():
            return len([r for r in si.requests if not r.path.endswith("/config.json")])
        asked = index_asks()
        c = self.start_crated(registries=regs, config_extra=extra)
        again = c.get(p, GZ)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("etag"), first.header("etag"))
        self.assertEqual(index_asks(), asked, "asked the upstream within the TTL")
        c.stop()

        # A file with none (an import, an older data directory): made at
        # the first gzip answer, and kept.
        os.unlink(gzp)
        c = self.start_crated(registries=regs, config_extra=extra)
        made = c.get(p, GZ)
        self.assertEqual(made.status, 200, made)
        self.assertEqual(made.body, first.body)
        self.assertEqual(made.header("etag"), first.header("etag"))
        self.assertTrue(harness.wait_until(lambda: gz_made_from(gzp, plain.header("etag")), WAIT),
                        "no gz/%s made at the first gzip answer" % index_path(name))


if __name__ == "__main__":
    harness.main()
