#!/usr/bin/env python3
"""The offline commands' command-line handling, checked without an
upstream: usage and argument errors of prefetch / export / import /
status."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import offline_common as C  # noqa: E402


class OfflineCliTest(harness.TestCase):
    """Usage and argument errors of prefetch / export / import / status."""

    def test_help_lists_offline_commands(self):
        rc, out, err = C.run_cmd(self, ["--help"])
        self.assertEqual(rc, 0, err)
        text = out + err
        for cmd in ("crated prefetch", "crated export", "crated import", "crated status", "--offline"):
            self.assertIn(cmd, text)
        self.assertRegex(text, r"offline\s+bool")

    def test_prefetch_usage_and_missing_lock(self):
        rc, out, err = C.run_cmd(self, ["prefetch"], cwd=self.tmp)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("usage: crated prefetch", err)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(os.path.join(empty, "target"))
        os.makedirs(os.path.join(empty, ".hidden"))
        # Cargo.lock files under target/ and hidden folders are not scanned
        for sub in ("target", ".hidden"):
            C.write_lock(os.path.join(empty, sub, "Cargo.lock"),
                       [{"name": "x", "version": "1.0.0", "source": C.CRATES_IO, "checksum": "0" * 64}])
        rc, out, err = C.run_cmd(self, ["prefetch", "--data-dir", os.path.join(self.tmp, "d"), empty],
                               cwd=self.tmp)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("no Cargo.lock found", err)

    def test_prefetch_bad_lock_file(self):
        bad = os.path.join(self.tmp, "Cargo.lock")
        with open(bad, "w") as f:
            f.write("version = 3\n[[package]]\nname = \n")
        rc, out, err = C.run_cmd(self, ["prefetch", "--data-dir", os.path.join(self.tmp, "d"), bad],
                               cwd=self.tmp)
        self.assertEqual(rc, 1, out + err)
        self.assertIn(bad, err)

    def test_export_bad_since(self):
        d = os.path.join(self.tmp, "d")
        os.makedirs(os.path.join(d, "mirror", "index"))
        out_file = os.path.join(self.tmp, "b.tar.gz")
        rc, out, err = C.run_cmd(self, ["export", "--data-dir", d, "--since", "yesterday-ish", out_file])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("--since", err)
        self.assertFalse(os.path.exists(out_file))

    def test_import_not_a_bundle(self):
        d = os.path.join(self.tmp, "d")
        junk = os.path.join(self.tmp, "junk.tar.gz")
        with open(junk, "wb") as f:
            f.write(b"this is not a gzip tar\n" * 10)
        rc, out, err = C.run_cmd(self, ["import", "--data-dir", d, junk])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("refused, nothing changed", err)
        self.assertEqual([p for p in os.listdir(d) if p != "lock"], [], "import of junk left files")

    def test_status_empty(self):
        cfg = C.mirror_config(os.path.join(self.tmp, "c.toml"), os.path.join(self.tmp, "d"),
                            "sparse+http://127.0.0.1:9/up/")
        rc, out, err = C.run_cmd(self, ["status", "--config", cfg])
        self.assertEqual(rc, 0, out + err)
        rows = C.status_rows(out)
        self.assertIn("mirror", rows, out)
        self.assertEqual(rows["mirror"][:3], ("mirror", 0, 0), out)


if __name__ == "__main__":
    harness.main()
