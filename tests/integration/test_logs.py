"""Logs: access lines to stderr, to a file (reopened on SIGHUP) or off;
text and JSON formats; error lines stay on stderr."""
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


RELOADED = r"SIGHUP: configuration .* reloaded"


class LogsTest(harness.TestCase):
    def wait_for(self, pred, what, seconds=5):
        if not harness.wait_until(pred, seconds):
            self.fail("timed out waiting for " + what)

    def test_access_log_file_and_rotation(self):
        path = os.path.join(self.tmp, "access.log")
        srv = harness.start_crated(self.tmp, config_extra='access_log = "%s"\n' % path)
        try:
            self.assertEqual(srv.get("/local/config.json").status, 200)
            self.wait_for(lambda: os.path.exists(path) and
                          "/local/config.json" in open(path).read(), "the access line")
            self.assertNotIn("/local/config.json", srv.log_text(),
                             "access line also went to stderr")
            # logrotate: move the file away, SIGHUP, the next line lands in a new file
            os.rename(path, path + ".1")
            srv.proc.send_signal(signal.SIGHUP)
            # the access log is reopened before the reload is logged
            harness.wait_log(srv, RELOADED)
            self.assertEqual(srv.get("/local/1/a").status, 404)
            self.wait_for(lambda: os.path.exists(path) and
                          "/local/1/a" in open(path).read(), "a line in the reopened file")
            self.assertNotIn("/local/1/a", open(path + ".1").read())
            # error lines stay on stderr
            self.assertIn("listening on", srv.log_text())
        finally:
            srv.stop()

    def test_access_log_off_and_json(self):
        srv = harness.start_crated(self.tmp,
                                   config_extra='access_log = "off"\nlog_format = "json"\n')
        try:
            self.assertEqual(srv.get("/local/config.json").status, 200)
            # a later line: the reload's, logged after crated answered the
            # GET; were there an access line for it, it would be above
            srv.proc.send_signal(signal.SIGHUP)
            harness.wait_log(srv, RELOADED)
            text = srv.log_text()
            self.assertNotIn("/local/config.json", text)
            lines = [l for l in text.splitlines() if l.strip()]
            self.assertTrue(lines)
            for l in lines:
                if l.startswith("{"):
                    doc = json.loads(l)
                    self.assertIn("level", doc)
                    self.assertIn("msg", doc)
            self.assertTrue(any(json.loads(l).get("msg", "").startswith("listening on")
                                for l in lines if l.startswith("{")))
        finally:
            srv.stop()

    def test_bad_access_log_path_refused(self):
        cfg = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                   os.path.join(self.tmp, "data"), ("127.0.0.1:0",),
                                   'access_log = "/nonexistent/dir/a.log"\n',
                                   "[registries.local]\n")
        rc, out, err = harness.run_crated(["serve", "--config", cfg], timeout=20)
        self.assertNotEqual(rc, 0)
        self.assertIn("access_log", err)


if __name__ == "__main__":
    harness.main()
