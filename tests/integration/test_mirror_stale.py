#!/usr/bin/env python3
"""Mirror TTL, stale serving and revalidation (index_ttl = 3).

* Build once through crated; stop the upstream; after the TTL a fresh
  CARGO_HOME still builds and a raw GET of an index file carries
  X-Crated-Stale with the cached bytes; a path never fetched gives a
  502/503 with a cargo-format errors body.
* Upstream back: a newly published version shows through crated after the
  TTL, and so does a yank (yanked:true in the served line); cargo resolves
  accordingly.
* Revalidation uses the upstream's validators (If-None-Match with its
  ETag, or If-Modified-Since with its Last-Modified when it sends no
  ETag), a 304 keeps the cached bytes, and within the TTL there is no
  upstream request at all."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path, read_lock  # noqa: E402

TTL = 3        # long enough that a loaded CI machine serves the checks
               # "within the TTL" inside it (1 s was seen to be too short)
AFTER_TTL = TTL + 1.5      # crated counts whole seconds


class StaleTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si, self.tree, self.up_url, pk = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        w = os.path.join(self.tmp, "pkg")
        S.package_into(pk, self.tree, w, "st-base", "0.1.0", "st",
                       lib_rs="pub fn base() -> u32 { 1 }\n")
        S.package_into(pk, self.tree, w, "st-top", "0.1.0", "st",
                       deps_toml='st-base = { version = "0.1", registry = "st" }',
                       index_deps=[S.index_dep("st-base", "^0.1")],
                       lib_rs="pub fn top() -> u32 { st_base::base() + 1 }\n")
        # packaged now, published upstream later
        self.base_011 = S.package_into(pk, self.tree, w, "st-base", "0.1.1", "st",
                                       lib_rs="pub fn base() -> u32 { 11 }\n", add=False)
        self.crated = self.start_crated(
            registries=S.mirror_toml("mirror", self.up_url, index_ttl=TTL, negative_ttl=TTL))

    def cargo(self):
        return harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % self.crated.url)

    def consumer(self, tag, dep="st-top"):
        return harness.make_project(os.path.join(self.tmp, "c-" + tag), "consumer", publish=False,
                                    deps='%s = { version = "0.1", registry = "mirror" }' % dep)

    def lock(self, d):
        return {p["name"]: p for p in read_lock(os.path.join(d, "Cargo.lock"))}

    def get_index(self, name):
        return self.crated.get("/mirror/" + index_path(name))

    def test_stale_when_upstream_down_then_new_version_and_yank(self):
        d = self.consumer("1")
        self.cargo().run(["build"], d, logs=[self.crated])
        self.assertEqual(self.lock(d)["st-base"]["version"], "0.1.0")
        fresh = self.get_index("st-base")
        self.assertEqual(fresh.status, 200, fresh)
        self.assertIsNone(fresh.header("x-crated-stale"), fresh)

        # upstream gone; after the TTL crated serves what it has, marked stale
        self.si.stop()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        d2 = self.consumer("2")
        self.cargo().run(["build"], d2, logs=[self.crated])
        self.assertEqual(self.lock(d2)["st-base"]["version"], "0.1.0")
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        for name in ("st-base", "st-top"):
            with self.subTest(name=name):
                r = self.get_index(name)
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.header("x-crated-stale"), "no X-Crated-Stale on a stale copy: %r" % r)
                self.assertEqual(r.body, self.tree.index_body(name))
        # never fetched and no upstream: an error naming the problem, not 404
        r = self.crated.get("/mirror/" + index_path("st-never"))
        self.assertIn(r.status, (502, 503), r)
        self.assertErrors(r, [502, 503])
        self.assertFalse(os.path.exists(os.path.join(self.crated.data_dir, "mirror", "index",
                                                     index_path("st-never"))))
        self.assertEqual(S.health(self.crated), 200)

        # upstream back with a new version: visible after the TTL
        self.si.restart()
        self.tree.add("st-base", "0.1.1", self.base_011)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.get_index("st-base")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("x-crated-stale"), r)
        self.assertEqual(r.body, self.tree.index_body("st-base"))
        self.assertEqual([l["vers"] for l in S.parse_lines(r.body)], ["0.1.0", "0.1.1"])
        d3 = self.consumer("3", dep="st-base")
        self.cargo().run(["build"], d3, logs=[self.crated])
        self.assertEqual(self.lock(d3)["st-base"]["version"], "0.1.1")
        self.assertEqual(self.lock(d3)["st-base"]["checksum"], S.sha256_hex(self.base_011))

        # a yank upstream shows after the TTL
        self.tree.set_yanked("st-base", "0.1.1")
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.get_index("st-base")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("st-base"))
        y = {l["vers"]: l["yanked"] for l in S.parse_lines(r.body)}
        self.assertEqual(y, {"0.1.0": False, "0.1.1": True})
        d4 = self.consumer("4", dep="st-base")
        self.cargo().run(["generate-lockfile"], d4, logs=[self.crated])
        self.assertEqual(self.lock(d4)["st-base"]["version"], "0.1.0")
        # the yanked version is still downloadable (lock files name it)
        r = self.crated.get("/mirror/api/v1/crates/st-base/0.1.1/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.base_011)

    def test_cache_survives_restart(self):
        d = self.consumer("1")
        self.cargo().run(["build"], d, logs=[self.crated])
        self.crated.stop()
        self.si.stop()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        # same data dir, upstream down: the disk cache is all there is
        c2 = self.start_crated(name="again", data_dir=self.crated.data_dir,
                               registries=S.mirror_toml("mirror", self.up_url, index_ttl=TTL,
                                                        negative_ttl=TTL))
        r = c2.get("/mirror/" + index_path("st-base"))
        self.assert_stale_copy(r, "st-base")
        self.crated = c2
        d2 = self.consumer("2")
        self.cargo().run(["build"], d2, logs=[c2])
        r = c2.get("/mirror/api/v1/crates/st-top/0.1.0/download")
        self.assertEqual(r.status, 200, r)

    def cached_files(self, name):
        """crated's index file and metadata for name, in its data dir."""
        d = os.path.join(self.crated.data_dir, "mirror")
        return (os.path.join(d, "index", index_path(name)),
                os.path.join(d, "meta", index_path(name)))

    def wait_written(self, name, body):
        """Until crated's index file for name holds body, beside metadata
        that has a fetch time."""
        on_disk, meta = self.cached_files(name)

        def check():
            try:
                with open(on_disk, "rb") as f, open(meta) as m:
                    return f.read() == body and json.load(m).get("fetched")
            except (OSError, ValueError):
                return False
        self.assertTrue(harness.wait_until(check, 5), "fill of %s not on disk" % name)

    def start_again(self, negative_ttl=TTL):
        """Starts a stopped crated again on the same data dir (which the
        test changed meanwhile: a crash's outcome, made by hand)."""
        self.crated = self.start_crated(
            name="again", data_dir=self.crated.data_dir,
            registries=S.mirror_toml("mirror", self.up_url, index_ttl=TTL,
                                     negative_ttl=negative_ttl))

    def assert_refetched_unconditionally(self, name, mark):
        path = "/reg/" + index_path(name)
        reqs = [q for q in self.si.since(mark) if q.path == path]
        self.assertEqual(len(reqs), 1, reqs)
        self.assertIsNone(reqs[0].header("if-none-match"), reqs[0].headers)

    def test_metadata_of_another_file_is_not_trusted(self):
        """A mirror writes index/, gz/ and meta/ without syncing their
        renames, so a crash can leave new metadata beside an older index
        file. Made here by hand: st-base fetched once (A), then again after
        0.1.1 was published upstream (B, with B's metadata), then A put
        back under B's metadata. Within the TTL crated must not serve A as
        fresh: it fetches the file again, without B's validators. (That a
        .gz made from another file is never served is test_gzip_disk's.)"""
        on_disk, meta = self.cached_files("st-base")
        a = self.tree.index_body("st-base")
        first = self.get_index("st-base")
        self.assertEqual(first.body, a)
        self.wait_written("st-base", a)
        # the metadata names the file it describes (so a consistent pair
        # is trusted after a restart, and only that)
        with open(meta) as m:
            self.assertEqual(json.load(m).get("plain_etag"), first.header("etag"))
        self.tree.add("st-base", "0.1.1", self.base_011)
        b = self.tree.index_body("st-base")
        self.assertNotEqual(a, b)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        self.assertEqual(self.get_index("st-base").body, b)
        self.wait_written("st-base", b)
        self.crated.stop()
        with open(on_disk, "wb") as f:     # the older file is back
            f.write(a)
        mark = self.si.mark()
        self.start_again()
        r = self.get_index("st-base")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b, "served the older file as fresh under the newer metadata")
        self.assert_refetched_unconditionally("st-base", mark)

    def test_negative_metadata_beside_an_index_file(self):
        """A path that was a 404, then filled: a crash can keep the old
        negative metadata beside the new index file. crated must not answer
        404 for a file it has (within negative_ttl, or ever when offline)."""
        a = self.tree.index_body("st-base")
        self.assertEqual(self.get_index("st-base").body, a)
        self.wait_written("st-base", a)
        self.crated.stop()
        with open(self.cached_files("st-base")[1], "w") as m:
            json.dump({"fetched": int(time.time()), "negative": True}, m)
        mark = self.si.mark()
        self.start_again(negative_ttl=60)
        r = self.get_index("st-base")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, a)
        # the file is taken as never fetched: asked for again, unconditionally
        self.assert_refetched_unconditionally("st-base", mark)

    def assert_stale_copy(self, r, name):
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("x-crated-stale"), "no X-Crated-Stale: %r" % r)
        self.assertEqual(r.body, self.tree.index_body(name))

    def revalidate(self, etag):
        self.si.send_etag = etag
        path = "/reg/" + index_path("st-base")
        mark = self.si.mark()

        def reqs():     # crated's requests for path (not the packaging cargo's)
            return [r for r in self.si.since(mark) if r.path == path]
        first = self.get_index("st-base")
        self.assertEqual(first.status, 200, first)
        self.assertEqual(len(reqs()), 1)
        # within the TTL: no upstream request
        for _ in range(3):
            self.assertEqual(self.get_index("st-base").body, first.body)
        self.assertEqual(len(reqs()), 1, "upstream asked again within the TTL")
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.get_index("st-base")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, first.body)
        self.assertIsNone(r.header("x-crated-stale"), r)
        # the 304 made the copy fresh again: no upstream request within the TTL
        self.assertEqual(self.get_index("st-base").body, first.body)
        reqs = reqs()
        self.assertEqual(len(reqs), 2, reqs)
        return reqs[1], self.si.files[path]

    def test_revalidate_with_etag(self):
        req, (data, _, _) = self.revalidate(True)
        etag = '"%s"' % S.sha256_hex(data)[:20]
        self.assertEqual(req.header("if-none-match"), etag, req.headers)
        self.assertEqual(req.header("cargo-protocol"), "version=1", req.headers)
        # a changed file replaces the copy
        self.tree.add("st-base", "0.1.1", self.base_011)
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.get_index("st-base")
        self.assertEqual(r.body, self.tree.index_body("st-base"))
        # (the file is written off the event loop: allow it a moment)
        p = os.path.join(self.crated.data_dir, "mirror", "index", index_path("st-base"))

        def on_disk():
            with open(p, "rb") as f:
                return f.read() == self.tree.index_body("st-base")
        self.assertTrue(harness.wait_until(on_disk, 5), "cached index file not replaced by the new one")

    def test_revalidate_with_last_modified(self):
        req, (data, _, mtime) = self.revalidate(False)
        self.assertIsNone(req.header("if-none-match"), req.headers)
        ims = req.header("if-modified-since")
        self.assertTrue(ims, "no If-Modified-Since: %r" % req.headers)
        import email.utils
        self.assertEqual(int(email.utils.parsedate_to_datetime(ims).timestamp()), int(mtime))

    def test_client_conditional_request(self):
        r = self.get_index("st-base")
        etag = r.header("etag")
        lm = r.header("last-modified")
        self.assertTrue(etag or lm, "crated sends no validator: %r" % r)
        h = {"If-None-Match": etag} if etag else {"If-Modified-Since": lm}
        r2 = self.crated.get("/mirror/" + index_path("st-base"), headers=h)
        self.assertEqual(r2.status, 304, r2)
        if etag:
            self.assertNotModified(r2, etag)


if __name__ == "__main__":
    harness.main()
