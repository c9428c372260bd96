#!/usr/bin/env python3
"""Crash safety of publish. For every `publish:` step of `crated crash-points`,
in two scenarios (first version of a new crate; second version of an
existing crate), crated is started with CRATED_CRASH_AT=<step>, a publish is
sent, the process must _exit(99); after a restart without the variable:

  * every index line's .crate exists with sha256 == cksum;
  * local/tmp/ is empty, and no temp-like file (".tmp*" or "*.tmp.*") is left;
  * the index is served (bytes as on disk) and earlier versions are intact;
  * a .crate the crash left without an index line is gone (swept at start)
    and its download is a 404;
  * the publish can be retried: 200 if the version is not in the index,
    4xx "already exists" if it is (then it must be complete);
  * the owners of the crate can be listed once it is visible.

Across all steps the outcomes must cover: crash before the .crate is in
place, crash with the .crate in place but no index line, crash with the
index line written (i.e. steps before/after the crate and index renames)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import crate_meta, index_path, make_crate  # noqa: E402

NAME = "crashme"


def temp_like(fname):
    return fname.startswith(".tmp") or ".tmp." in fname


class CrashTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        rc, out, err = harness.run_crated(["crash-points"], timeout=10)
        if rc != 0:
            raise AssertionError("crated crash-points failed (rc %d): %s" % (rc, err))
        cls.all_steps = [l.strip() for l in out.splitlines() if l.strip()]
        cls.steps = [s for s in cls.all_steps if s.startswith("publish:")]

    def test_step_list(self):
        self.assertTrue(self.steps, "no publish: steps in %r" % self.all_steps)
        self.assertEqual(len(self.steps), len(set(self.steps)), "duplicate step names")
        low = [s.lower() for s in self.steps]
        self.assertTrue(any("crate" in s for s in low), "no step mentions the .crate: %r" % self.steps)
        self.assertTrue(any("index" in s for s in low), "no step mentions the index: %r" % self.steps)
        for s in self.all_steps:
            self.assertNotRegex(s, r"\s", "step names are single words")

    def check_data_dir(self, data_dir):
        """Returns {(name, vers): line} for every index line; asserts the
        crate files and the absence of temporaries."""
        lines = {}
        idx = os.path.join(data_dir, "local", "index")
        for dirpath, _, files in os.walk(idx):
            for f in files:
                p = os.path.join(dirpath, f)
                rel = os.path.relpath(p, idx)
                with open(p, "rb") as fh:
                    data = fh.read()
                if temp_like(f):
                    continue  # reported below
                self.assertTrue(data == b"" or data.endswith(b"\n"),
                                "index file %s does not end with a newline (torn write?)" % rel)
                for line in data.decode().splitlines():
                    if not line.strip():
                        continue
                    doc = json.loads(line)
                    self.assertEqual(index_path(doc["name"]), rel)
                    key = (doc["name"], doc["vers"])
                    self.assertNotIn(key, lines, "version listed twice in %s" % rel)
                    lines[key] = doc
                    low = doc["name"].lower()
                    cf = os.path.join(data_dir, "local", "crates", low, "%s-%s.crate" % (low, doc["vers"]))
                    self.assertTrue(os.path.isfile(cf), "index line %s %s but no %s"
                                    % (doc["name"], doc["vers"], cf))
                    with open(cf, "rb") as fh:
                        self.assertEqual(harness.sha256_hex(fh.read()), doc["cksum"],
                                         "cksum mismatch for %s" % cf)
        tmpd = os.path.join(data_dir, "local", "tmp")
        if os.path.isdir(tmpd):
            self.assertEqual(os.listdir(tmpd), [], "local/tmp not empty after restart")
        for dirpath, dirnames, files in os.walk(data_dir):
            for f in files + dirnames:
                self.assertFalse(temp_like(f), "temp-like leftover %s"
                                 % os.path.relpath(os.path.join(dirpath, f), data_dir))
        return lines

    def run_scenario(self, step, existing):
        """Returns (reached, crate_file_present, index_visible) as observed
        after the restart (before the retry)."""
        tmp = harness.make_tempdir()
        self.addCleanup(harness.remove_tempdir, tmp)
        data_dir = os.path.join(tmp, "data")
        v_old, v_new = "1.0.0", "1.0.1"
        old_crate = make_crate(NAME, v_old)
        if existing:
            srv = harness.start_crated(tmp)
            try:
                r = srv.publish(crate_meta(NAME, v_old), old_crate)
                self.assertEqual(r.status, 200, r)
            finally:
                srv.stop()
        vers = v_new if existing else v_old
        crate = make_crate(NAME, vers)
        meta = crate_meta(NAME, vers)

        srv = harness.start_crated(tmp, env={"CRATED_CRASH_AT": step})
        try:
            outcome = None
            try:
                r = srv.publish(meta, crate, timeout=20)
                outcome = r
            except (ConnectionError, OSError, Exception) as e:  # dropped connection
                outcome = e
            if isinstance(outcome, harness.Resp):
                rc = srv.wait_exit(timeout=2)
            else:
                rc = srv.wait_exit(timeout=10)
                self.assertIsNotNone(rc, "connection dropped (%r) but crated still runs" % outcome)
            if rc is None:
                reached = False
                self.assertEqual(outcome.status, 200, "step not reached, publish failed: %r" % outcome)
                srv.stop()
            else:
                reached = True
                self.assertEqual(rc, 99, "crated exited with %s, not 99, at %s; log:\n%s"
                                 % (rc, step, srv.log_tail()))
        except BaseException:
            srv.stop(check=False)
            raise

        # the .crate as the crash left it (before the restart sweeps it)
        cf = os.path.join(data_dir, "local", "crates", NAME, "%s-%s.crate" % (NAME, vers))
        crate_present = os.path.isfile(cf)
        # restart without the variable
        srv = harness.start_crated(tmp)
        try:
            lines = self.check_data_dir(data_dir)
            visible = (NAME, vers) in lines
            if not visible:
                # a .crate with no index line is removed at start, and
                # never served
                self.assertFalse(os.path.isfile(cf), "orphan %s kept after restart (crash at %s)"
                                 % (cf, step))
                d = srv.get("/local/api/v1/crates/%s/%s/download" % (NAME, vers))
                self.assertEqual(d.status, 404, "orphan served after crash at %s: %r" % (step, d))
            if not reached:
                self.assertTrue(visible)
            # the index over HTTP is the file on disk
            ip = os.path.join(data_dir, "local", "index", index_path(NAME))
            r = srv.get("/local/" + index_path(NAME))
            if os.path.isfile(ip):
                with open(ip, "rb") as fh:
                    disk = fh.read()
                if disk.strip():
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.body, disk)
            else:
                self.assertEqual(r.status, 404, r)
            self.assertEqual(srv.get("/local/config.json").status, 200)
            if existing:
                self.assertIn((NAME, v_old), lines, "earlier version lost after crash at %s" % step)
                d = srv.get("/local/api/v1/crates/%s/%s/download" % (NAME, v_old))
                self.assertEqual(d.status, 200, d)
                self.assertEqual(d.body, old_crate)
            if visible:
                self.assertEqual(lines[(NAME, vers)]["cksum"], harness.sha256_hex(crate))
            # retry
            r = srv.publish(meta, crate)
            if visible:
                self.assertTrue(400 <= r.status < 500, "retry of a visible version: %r" % r)
                d = harness.errors_detail(self, r)
                self.assertIn("already exists", d.lower())
            else:
                self.assertEqual(r.status, 200, "retry after crash at %s: %r\nlog:\n%s"
                                 % (step, r, srv.log_tail()))
            after = self.srv_lines(srv)
            self.assertEqual([l["vers"] for l in after].count(vers), 1, after)
            d = srv.get("/local/api/v1/crates/%s/%s/download" % (NAME, vers))
            self.assertEqual(d.status, 200, d)
            self.assertEqual(d.body, crate)
            o = srv.request("GET", "/local/api/v1/crates/%s/owners" % NAME,
                            headers={"Authorization": "anything", "Accept": "application/json"})
            self.assertEqual(o.status, 200, "owners after crash at %s: %r" % (step, o))
            self.assertIsInstance(o.json().get("users"), list)
            self.check_data_dir(data_dir)
        finally:
            srv.stop()
        return reached, crate_present, visible

    def srv_lines(self, srv):
        return srv.index_lines(NAME)

    def test_crash_at_every_publish_step(self):
        self.assertTrue(self.steps, "no publish: crash points")
        results = {}
        for step in self.steps:
            for existing in (False, True):
                with self.subTest(step=step, existing_crate=existing):
                    results[(step, existing)] = self.run_scenario(step, existing)
        # every step reached in at least one scenario
        for step in self.steps:
            got = [results.get((step, e)) for e in (False, True)]
            if None in got:
                continue  # that scenario already failed
            self.assertTrue(any(g[0] for g in got), "crash point %s never reached by a publish" % step)
        reached = [(k, v) for k, v in results.items() if v[0]]
        summary = "\n".join("  %-40s existing=%-5s crate=%-5s visible=%s" % (k[0], k[1], v[1], v[2])
                            for k, v in reached)
        sys.stderr.write("crash outcomes:\n%s\n" % summary)
        self.assertTrue(any(not v[1] and not v[2] for _, v in reached),
                        "no step before the .crate is in place:\n" + summary)
        self.assertTrue(any(v[1] and not v[2] for _, v in reached),
                        "no step between .crate rename and index rename:\n" + summary)
        self.assertTrue(any(v[2] for _, v in reached),
                        "no step after the index rename:\n" + summary)

    def test_crash_at_yank_and_owner_steps(self):
        # beyond publish: a crash while yanking or changing owners leaves a
        # consistent store, and the call can be repeated
        steps = [s for s in self.all_steps if s.startswith(("yank:", "owners:"))]
        hdr = {"Authorization": "anything", "Accept": "application/json",
               "Content-Type": "application/json"}
        for step in steps:
            with self.subTest(step=step):
                tmp = harness.make_tempdir()
                self.addCleanup(harness.remove_tempdir, tmp)
                crate = make_crate(NAME, "1.0.0")
                srv = harness.start_crated(tmp)
                try:
                    self.assertEqual(srv.publish(crate_meta(NAME, "1.0.0"), crate).status, 200)
                finally:
                    srv.stop()
                if step.startswith("yank:"):
                    call = ("DELETE", "/local/api/v1/crates/%s/1.0.0/yank" % NAME, None)
                else:
                    call = ("PUT", "/local/api/v1/crates/%s/owners" % NAME,
                            json.dumps({"users": ["someone"]}).encode())
                srv = harness.start_crated(tmp, env={"CRATED_CRASH_AT": step})
                try:
                    try:
                        srv.request(call[0], call[1], call[2], hdr, timeout=20)
                    except Exception:
                        pass
                    rc = srv.wait_exit(timeout=10)
                    self.assertEqual(rc, 99, "crash point %s not reached (rc %s)" % (step, rc))
                finally:
                    srv.stop(check=False)
                srv = harness.start_crated(tmp)
                try:
                    lines = self.check_data_dir(os.path.join(tmp, "data"))
                    self.assertIn(lines[(NAME, "1.0.0")].get("yanked", False), (True, False))
                    r = srv.request(call[0], call[1], call[2], hdr)
                    self.assertEqual(r.status, 200, "repeating the call after a crash: %r" % r)
                    self.assertIs(r.json().get("ok"), True)
                    if step.startswith("yank:"):
                        self.assertIs(srv.index_lines(NAME)[0]["yanked"], True)
                    else:
                        o = srv.request("GET", "/local/api/v1/crates/%s/owners" % NAME, headers=hdr)
                        self.assertIn("someone", [u["login"] for u in o.json()["users"]])
                    d = srv.get("/local/api/v1/crates/%s/1.0.0/download" % NAME)
                    self.assertEqual(d.body, crate)
                    self.check_data_dir(os.path.join(tmp, "data"))
                finally:
                    srv.stop()


if __name__ == "__main__":
    harness.main()
