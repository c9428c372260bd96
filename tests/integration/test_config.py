#!/usr/bin/env python3
"""Command line and configuration file of crated: --help, --version,
FILE:LINE errors for unknown keys and bad values, serving with no config
file at all, --listen/--data-dir overrides, several listen addresses,
SIGTERM."""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LISTEN_RE  # noqa: E402


class ConfigTest(harness.TestCase):

    def test_help(self):
        rc, out, err = harness.run_crated(["--help"], cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        text = out + err
        for key in ("listen", "data_dir", "max_body_bytes", "registries", "serve", "--config"):
            self.assertIn(key, text, "--help does not mention %r" % key)

    def test_version(self):
        rc, out, err = harness.run_crated(["--version"], cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"\b\d+\.\d+\.\d+\b", "no version number in %r" % out)

    def test_crash_points_command(self):
        rc, out, err = harness.run_crated(["crash-points"], cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertTrue(any(l.startswith("publish:") for l in out.splitlines()), out)

    def bad_config(self, text, line, must_name=None):
        """Writes text to crated.toml, runs serve, asserts a quick non-zero
        exit with 'FILE:LINE:' and (optionally) the key named."""
        path = os.path.join(self.tmp, "crated.toml")
        with open(path, "w") as f:
            f.write(text)
        try:
            rc, out, err = harness.run_crated(["serve", "--config", path], cwd=self.tmp, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("crated kept running with a bad config:\n" + text)
        self.assertNotEqual(rc, 0, "crated accepted:\n%s" % text)
        self.assertNotRegex(err, LISTEN_RE, "crated listened with a bad config")
        # FILE as given on the command line (or its base name), then :LINE:
        pat = r"(%s|crated\.toml):%d:" % (re.escape(path), line)
        self.assertRegex(err + out, pat, "want FILE:%d: in the message" % line)
        if must_name:
            self.assertIn(must_name, err + out)
        return err

    def test_unknown_top_level_key(self):
        self.bad_config('listen = ["127.0.0.1:0"]\ndata_dir = "%s"\nfrobnicate = 1\n'
                        '[registries.local]\n' % os.path.join(self.tmp, "d"), 3, "frobnicate")

    def test_unknown_registry_key(self):
        self.bad_config('listen = ["127.0.0.1:0"]\ndata_dir = "%s"\n\n[registries.local]\n'
                        'upstrem = "http://x/"\n' % os.path.join(self.tmp, "d"), 5, "upstrem")

    def test_bad_values(self):
        d = os.path.join(self.tmp, "d")
        cases = [
            ('listen = 5\ndata_dir = "%s"\n[registries.local]\n' % d, 1),
            ('listen = ["127.0.0.1:0"]\ndata_dir = "%s"\nmax_body_bytes = "x"\n[registries.local]\n' % d, 3),
            ('listen = ["127.0.0.1:0"]\ndata_dir = "%s"\n[registries.local]\nindex_ttl = "x"\n' % d, 4),
            ('listen = ["not an address"]\ndata_dir = "%s"\n[registries.local]\n' % d, 1),
            ('listen = ["127.0.0.1:0"]\ndata_dir = 7\n[registries.local]\n', 2),
        ]
        for text, line in cases:
            with self.subTest(config=text.splitlines()[line - 1]):
                self.bad_config(text, line)

    def test_toml_syntax_error(self):
        self.bad_config('listen = ["127.0.0.1:0"]\n\ndata_dir = "unterminated\n[registries.local]\n', 3)

    def test_missing_config_file(self):
        path = os.path.join(self.tmp, "nope.toml")
        rc, out, err = harness.run_crated(["serve", "--config", path], cwd=self.tmp, timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertIn("nope.toml", err)

    def test_no_config_file(self):
        # `crated serve` without --config: one hosted registry "local",
        # data in ./crated-data of the working directory
        cwd = os.path.join(self.tmp, "empty")
        os.makedirs(cwd)
        log = os.path.join(self.tmp, "noconf.log")
        with open(log, "wb") as lf:
            proc = subprocess.Popen([harness.CRATED_BIN, "serve", "--listen", "127.0.0.1:0"],
                                    cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=lf, env=harness.clean_env())
        harness._live_procs.append(proc)
        c = harness.Crated(proc, log, None, os.path.join(cwd, "crated-data"), None)
        self.addCleanup(c.stop)
        c.wait_listening()
        r = c.get("/local/config.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["dl"], "http://127.0.0.1:%d/local/api/v1/crates" % c.port)
        r, crate = c.publish_simple("noconf", "0.1.0")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(os.path.isdir(os.path.join(cwd, "crated-data")), os.listdir(cwd))
        self.assertTrue(os.path.isfile(os.path.join(cwd, "crated-data", "local", "crates",
                                                    "noconf", "noconf-0.1.0.crate")))
        self.assertTrue(os.path.isfile(os.path.join(cwd, "crated-data", "local", "index",
                                                    "no", "co", "noconf")))

    def test_overrides(self):
        # --listen and --data-dir override the file
        cfg_data = os.path.join(self.tmp, "from-config")
        cli_data = os.path.join(self.tmp, "from-cli")
        path = harness.write_config(os.path.join(self.tmp, "c.toml"), cfg_data,
                                    listen=("127.0.0.1:1",))
        c = self.start_crated(config_path=path, data_dir=cli_data,
                              args=["--listen", "127.0.0.1:0", "--data-dir", cli_data])
        self.assertNotEqual(c.port, 1)
        r, _ = c.publish_simple("ovr", "0.1.0")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(os.path.isfile(os.path.join(cli_data, "local", "index", "3", "o", "ovr")))
        self.assertFalse(os.path.exists(os.path.join(cfg_data, "local", "index", "3", "o", "ovr")))

    def test_two_listen_addresses(self):
        c = self.start_crated(listen=("127.0.0.1:0", "127.0.0.1:0"))
        harness.wait_until(lambda: len(LISTEN_RE.findall(c.log_text())) >= 2, 5)
        ports = [int(p) for p in LISTEN_RE.findall(c.log_text())]
        self.assertEqual(len(ports), 2, c.log_text())
        self.assertNotEqual(ports[0], ports[1])
        for p in ports:
            r = harness.http_request(p, "GET", "/local/config.json")
            self.assertEqual(r.status, 200)

    def test_sigterm_exits_zero(self):
        c = self.start_crated()
        self.assertTrue(c.healthy())
        # a keep-alive connection left open must not hold up the exit
        conn = harness.RawConn(c.port)
        conn.send(harness.build_request("GET", "/local/config.json"))
        conn.read_response()
        t0 = time.monotonic()
        rc = c.stop()
        conn.close()
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 10)

    def test_sigint_exits_zero(self):
        c = self.start_crated()
        c.proc.send_signal(signal.SIGINT)
        rc = c.wait_exit(10)
        self.assertEqual(rc, 0, c.log_tail())

    def test_tmp_cleared_at_startup(self):
        data = os.path.join(self.tmp, "data")
        os.makedirs(os.path.join(data, "local", "tmp"))
        junk = os.path.join(data, "local", "tmp", "leftover-from-a-crash")
        with open(junk, "w") as f:
            f.write("x")
        c = self.start_crated()
        self.assertTrue(c.healthy())
        self.assertFalse(os.path.exists(junk), "local/tmp not cleared at start-up")


if __name__ == "__main__":
    harness.main()
