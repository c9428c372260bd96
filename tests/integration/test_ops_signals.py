#!/usr/bin/env python3
"""Operations: signals.

* SIGTERM with a request in flight (a mirror whose stand-in upstream takes
  2 s to answer an index file): the request still gets its 200 with the
  upstream's bytes, new connections are refused once the signal is taken,
  and crated exits 0 soon after the request is done.
* SIGTERM with a request whose upstream never answers: crated still exits
  0 within the 10 s drain bound (and not at once: it waits for it).
* SIGINT with only an idle keep-alive connection: exit 0 at once.
* SIGHUP on one open keep-alive connection (checked with crated's access
  log: every request came from the same client port): a shorter index_ttl
  takes effect (a changed upstream file shows), then a higher log_level
  (access lines stop), then a file with an unknown key is refused with an
  error line naming the key while the old settings (TTL and log level)
  stay, then a good file is taken again."""

import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_log  # noqa: E402
import standins as S  # noqa: E402
from harness import build_request, index_path, make_crate  # noqa: E402

DRAIN_BOUND = 10.0


def b_delay(seconds, then=None):
    """Answers after seconds (cut short when the stand-in is stopped)."""
    def f(h, req):
        h.server.standin.release.wait(seconds)
        (then or S.serve_file)(h, req)
    return f


def refused(port):
    """True if a new TCP connection to port is refused (or reset at once
    without an answer)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    except OSError:
        return True
    try:
        s.sendall(build_request("GET", "/-/health"))
        s.settimeout(2)
        data = s.recv(100)
        return data == b""
    except OSError:
        return True
    finally:
        s.close()


class SigtermTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si, self.tree, self.up_url, _ = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        self.tree.add("sg-slow", "1.0.0", make_crate("sg-slow", "1.0.0"))
        self.path = index_path("sg-slow")

    def start(self):
        srv = harness.start_crated(self.tmp, registries=S.mirror_toml("mirror", self.up_url))
        self.addCleanup(srv.stop, False)    # safety net only: the tests await the exit
        return srv

    def get_in_thread(self, srv, path, results, timeout=30):
        def run():
            try:
                c = harness.RawConn(srv.port, timeout=timeout)
                try:
                    c.send(build_request("GET", path))
                    r = c.read_response()
                    results["resp"] = r
                    results["t"] = time.monotonic()
                finally:
                    c.close()
            except Exception as e:      # reported by the test
                results["error"] = e
                results["t"] = time.monotonic()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_sigterm_finishes_the_request_in_flight(self):
        self.si.set("/reg/" + self.path, b_delay(2.0))
        srv = self.start()
        results = {}
        t = self.get_in_thread(srv, "/mirror/" + self.path, results)
        self.assertTrue(harness.wait_until(lambda: self.si.count("/reg/" + self.path) == 1, 5),
                        "the upstream never got the index request")
        t_sig = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertTrue(wait_log(srv, r"SIGTERM.*no longer accepting", 3),
                        "no 'no longer accepting' line; log:\n" + srv.log_tail())
        self.assertTrue(refused(srv.port), "a new connection was accepted after SIGTERM")
        self.assertTrue(srv.running(), "crated exited with a request in flight")
        t.join(15)
        self.assertNotIn("error", results, "the in-flight request failed: %r" % results)
        r = results["resp"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("sg-slow"))
        rc = srv.wait_exit(DRAIN_BOUND + 5)
        t_exit = time.monotonic()
        self.assertIsNotNone(rc, "crated did not exit within %.0f s of SIGTERM" % (DRAIN_BOUND + 5))
        self.assertEqual(rc, 0, srv.log_tail())
        self.assertLessEqual(results["t"], t_exit + 0.5)
        self.assertLess(t_exit - t_sig, DRAIN_BOUND,
                        "crated took %.1f s to exit after its last request" % (t_exit - t_sig))
        self.assertLess(t_exit - results["t"], 3.0,
                        "crated lingered %.1f s after the last request was answered"
                        % (t_exit - results["t"]))
        srv.check_log_clean()

    def test_sigterm_drain_is_bounded(self):
        self.si.set("/reg/" + self.path, S.b_hang(60))
        srv = self.start()
        results = {}
        self.get_in_thread(srv, "/mirror/" + self.path, results, timeout=40)
        self.assertTrue(harness.wait_until(lambda: self.si.count("/reg/" + self.path) == 1, 5))
        t_sig = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertTrue(wait_log(srv, r"SIGTERM.*no longer accepting", 3), srv.log_tail())
        time.sleep(1.0)     # what is under test: crated still runs, a second into its drain
        if "resp" not in results and "error" not in results:
            self.assertTrue(srv.running(), "crated did not wait for the request in flight")
        rc = srv.wait_exit(DRAIN_BOUND + 5)
        el = time.monotonic() - t_sig
        self.assertIsNotNone(rc, "crated still running %.0f s after SIGTERM" % (DRAIN_BOUND + 5))
        self.assertEqual(rc, 0, srv.log_tail())
        self.assertLessEqual(el, DRAIN_BOUND + 1.5, "exit %.1f s after SIGTERM" % el)
        print("\n    upstream hanging: exit %.1f s after SIGTERM; client got %r"
              % (el, results.get("resp") or results.get("error")), file=sys.stderr)
        srv.check_log_clean()

    def test_sigint_with_an_idle_keepalive_connection(self):
        srv = self.start()
        with harness.RawConn(srv.port) as c:
            c.send(build_request("GET", "/-/health"))
            self.assertEqual(c.read_response().status, 200)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGINT)
            rc = srv.wait_exit(DRAIN_BOUND + 5)
            el = time.monotonic() - t0
            self.assertEqual(rc, 0, srv.log_tail())
            self.assertLess(el, 3.0, "an idle keep-alive connection held the exit for %.1f s" % el)
            self.assertTrue(c.closed_by_peer(2))
        self.assertTrue(wait_log(srv, r"SIGINT", 1), srv.log_tail())
        srv.check_log_clean()


class SighupTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si, self.tree, self.up_url, _ = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        self.tree.add("sh-crate", "1.0.0", make_crate("sh-crate", "1.0.0"))
        self.data = os.path.join(self.tmp, "data")
        self.cfg = os.path.join(self.tmp, "hup.toml")

    def write(self, ttl, log_level=None, junk=""):
        extra = ('log_level = "%s"\n' % log_level if log_level else "") + junk
        harness.write_config(self.cfg, self.data, extra=extra,
                             registries=S.mirror_toml("mirror", self.up_url, index_ttl=ttl))

    def hup(self, srv):
        srv.proc.send_signal(signal.SIGHUP)

    def test_reload_keeps_the_connection_and_refuses_a_bad_file(self):
        self.write(300)
        srv = self.start_crated(config_path=self.cfg, data_dir=self.data)
        up_path = "/reg/" + index_path("sh-crate")
        path = "/mirror/" + index_path("sh-crate")
        conn = harness.RawConn(srv.port, timeout=15)
        self.addCleanup(conn.close)
        my_port = conn.sock.getsockname()[1]

        def get(p):
            conn.send(build_request("GET", p))
            return conn.read_response()

        def versions(r):
            self.assertEqual(r.status, 200, r)
            return [l["vers"] for l in S.parse_lines(r.body)]

        self.assertEqual(versions(get(path)), ["1.0.0"])
        self.tree.add("sh-crate", "1.1.0", make_crate("sh-crate", "1.1.0"))
        self.assertEqual(versions(get(path)), ["1.0.0"], "index_ttl = 300 not honoured")
        self.assertEqual(self.si.count(up_path), 1)

        # 1. a shorter TTL
        self.write(1)
        self.hup(srv)
        self.assertTrue(wait_log(srv, r"SIGHUP: configuration .* reloaded", 5),
                        "no reload line; log:\n" + srv.log_tail())
        time.sleep(2.2)     # index_ttl = 1 runs out: what is under test
        self.assertEqual(versions(get(path)), ["1.0.0", "1.1.0"],
                         "index_ttl = 1 did not take effect after SIGHUP")
        self.assertEqual(self.si.count(up_path), 2)

        # 2. log_level = "warn": access lines stop
        self.write(1, log_level="warn")
        self.hup(srv)
        # crated writes a request's access line before it sends the answer:
        # once a probe is answered, its line is in the log or never will be
        probes = [0]

        def quiet():
            probes[0] += 1
            self.assertEqual(get("/probe-%d" % probes[0]).status, 404)
            return "/probe-%d\"" % probes[0] not in srv.log_text()
        quiet_from = probes[0] if harness.wait_until(quiet, 5) else None
        i = probes[0]
        self.assertIsNotNone(quiet_from, "access lines still logged after log_level = warn + "
                             "SIGHUP; log:\n" + srv.log_tail())
        self.assertEqual(get("/probe-%d" % (i + 1)).status, 404)

        # 3. an unknown key: refused with an error line, old settings stay
        self.write(300, log_level="info", junk="bogus_key_xyz = 1\n")
        self.hup(srv)
        lines = wait_log(srv, r"SIGHUP.*keeping the running configuration", 5)
        self.assertTrue(lines, "no refusal line; log:\n" + srv.log_tail())
        self.assertIn("bogus_key_xyz", lines[-1])
        self.assertRegex(lines[-1], r"\berror\b")
        # that line came after probe i + 1 was answered: had its access
        # line been written, it would be above
        self.assertNotIn("/probe-%d\"" % (i + 1), srv.log_text())
        self.assertTrue(srv.running())
        self.assertEqual(get("/probe-x").status, 404)
        self.tree.add("sh-crate", "1.2.0", make_crate("sh-crate", "1.2.0"))
        time.sleep(2.2)     # the running index_ttl = 1 runs out: what is under test
        self.assertEqual(versions(get(path)), ["1.0.0", "1.1.0", "1.2.0"],
                         "the refused file's index_ttl = 300 was applied")

        # 4. a good file again
        self.write(300, log_level="info")
        self.hup(srv)
        self.assertTrue(wait_log(srv, r"SIGHUP: configuration .* reloaded", 5, count=2),
                        srv.log_tail())
        self.assertEqual(get("/probe-last").status, 404)
        self.assertTrue(wait_log(srv, r'"GET /probe-last"', 3), srv.log_tail())
        # a line written after /probe-x was answered: had its access line
        # been written, it would be above
        self.assertNotIn("/probe-x\"", srv.log_text(),
                         "the refused file's log_level = info was applied")

        # every request above came over the one connection
        peers = set(re.findall(r'access: 127\.0\.0\.1:(\d+) "GET (?:/mirror/|/probe)',
                               srv.log_text()))
        self.assertEqual(peers, {str(my_port)}, "requests came from more than one connection")
        self.assertFalse(conn.closed_by_peer(0.2))


if __name__ == "__main__":
    harness.main()
