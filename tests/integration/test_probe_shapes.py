#!/usr/bin/env python3
"""What `crated check` says of upstreams that answer config.json with
something that is not a registry's: a body past the probe's 1 MiB cap,
an HTML page, and a good registry beside them (the control). Each case is
told apart by what the fetch reports (fetch_too_large, the status, the
content), not by comparing error texts."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402


def check(config):
    rc, out, err = harness.run_crated(["check", "--config", config], timeout=60)
    return rc, out + err


def line_of(text, reg):
    return next((l for l in text.splitlines() if l.startswith(reg + ":")), "")


class ProbeShapes(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.up = S.StandIn()
        self.addCleanup(self.up.stop)
        good = json.dumps({"dl": self.up.url("/dl/{crate}/{version}")}).encode()
        self.up.behaviours["/good/config.json"] = S.b_body(good, "application/json")
        # Past the cap by one byte, and JSON-shaped, so that only the size
        # can tell it apart.
        big = b'{"dl":"' + b"x" * (1 << 20) + b'"}'
        self.up.behaviours["/big/config.json"] = S.b_body(big, "application/json")
        self.up.behaviours["/html/config.json"] = S.b_body(
            b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html")
        regs = "".join(S.mirror_toml(n, self.up.url("/%s/" % n))
                       for n in ("good", "big", "html"))
        self.cfg = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                        os.path.join(self.tmp, "data"), registries=regs)

    def test_each_shape_named(self):
        rc, out = check(self.cfg)
        self.assertEqual(rc, 1, out)
        self.assertTrue(line_of(out, "good").startswith("good: ok"), out)
        big = line_of(out, "big")
        self.assertIn("larger than 1 MiB", big, out)
        self.assertIn("not a registry", big, out)
        self.assertIn(self.up.url("/big/"), big, out)
        html = line_of(out, "html")
        self.assertIn("not a registry", html, out)
        self.assertNotIn("larger than 1 MiB", html, out)


if __name__ == "__main__":
    harness.main()
