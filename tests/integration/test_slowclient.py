#!/usr/bin/env python3
"""Slow and greedy clients (bounded; the long test takes about 45 s).

* Slow clients, all at once: a slowloris trickling a request head one
  byte a second; one that sends a partial head and then goes quiet; one
  that sends a head with Content-Length: 16384 and trickles the body;
  one that does the same with Content-Length: 1000000. Meanwhile other
  clients (on 127.0.0.1 and [::1]) are served quickly. crated's rules: a
  request head must arrive within 20 s, a body at >= 16 KiB/s after 30 s.
* max_connections_per_client = 8: 20 idle connections from 127.0.0.1
  leave the last 12 refused, while [::1] (another client address) is
  still served; closing the 8 frees 127.0.0.1 again."""

import os
import re
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

V6_RE = re.compile(r"listening on \[::1\]:(\d+)")


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class SlowClient(threading.Thread):
    """Sends head (bytes) in pieces: first `first` bytes at once, then
    one byte every `every` seconds (after the head, body bytes follow the
    same way when body_len is given), until the server answers or closes,
    or `limit` seconds pass. Records when and how the connection ended."""

    def __init__(self, port, head, first, every, limit, body_len=0, stop_after_first=False):
        super().__init__(daemon=True)
        self.port, self.head, self.first, self.every = port, head, first, every
        self.limit, self.body_len, self.stop_after_first = limit, body_len, stop_after_first
        self.t0 = None
        self.ended = None        # seconds after start when the server answered/closed
        self.how = None          # "response", "eof", "reset", or None (still open)
        self.response = b""
        self.sent = 0
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:          # reported by the test
            self.error = repr(e)

    def _end(self, how):
        self.ended = time.monotonic() - self.t0
        self.how = how

    def _poll(self, s, wait):
        """Waits up to wait seconds for the server; True when it ended."""
        r, _, _ = select.select([s], [], [], max(0.0, wait))
        if not r:
            return False
        try:
            data = s.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            self._end("reset")
            return True
        if not data:
            self._end("eof" if not self.response else "response")
            return True
        self.response += data
        # keep reading until the server closes (bounded by the caller)
        return False

    def _run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            self.t0 = time.monotonic()
            payload = self.head + b"x" * self.body_len
            s.sendall(payload[:self.first])
            self.sent = self.first
            deadline = self.t0 + self.limit
            while time.monotonic() < deadline:
                if self._poll(s, min(self.every, deadline - time.monotonic())):
                    return
                if self.stop_after_first or self.sent >= len(payload):
                    continue
                try:
                    s.sendall(payload[self.sent:self.sent + 1])
                    self.sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    self._end("reset")
                    return
            if self.response:
                self.how = "response-open"
        finally:
            s.close()

    def status(self):
        m = re.match(rb"HTTP/1\.1 (\d{3})", self.response)
        return int(m.group(1)) if m else None

    def describe(self):
        return ("ended=%s how=%s sent=%d status=%s response=%r error=%s"
                % (None if self.ended is None else round(self.ended, 1), self.how, self.sent,
                   self.status(), self.response[:200], self.error))


class SlowClientTest(harness.TestCase):

    def start(self, extra=""):
        listen = ["127.0.0.1:0"] + (["[::1]:0"] if have_ipv6() else [])
        srv = self.start_crated(listen=listen, config_extra=extra)
        self.v6 = None
        if have_ipv6():
            m = harness.wait_until(lambda: V6_RE.search(srv.log_text()), 5)
            self.assertIsNotNone(m, "no [::1] listen line:\n" + srv.log_tail())
            self.v6 = int(m.group(1))
        return srv

    def timed_get(self, host, port, path="/local/config.json"):
        t = time.monotonic()
        r = harness.http_request(port, "GET", path, timeout=10, host=host)
        return r, time.monotonic() - t

    def test_slow_clients_are_cut_off_and_others_served(self):
        srv = self.start()
        head = (b"GET /local/config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"X-Padding: " + b"a" * 200 + b"\r\n\r\n")
        put = (b"PUT /local/api/v1/crates/new HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Authorization: x\r\nContent-Length: %d\r\n\r\n")
        clients = {
            # one head byte a second, never complete within the test
            "slowloris-head": SlowClient(srv.port, head, 10, 1.0, 45),
            # part of a head, then silence
            "partial-head-silent": SlowClient(srv.port, head, 20, 1.0, 45, stop_after_first=True),
            # a small body, trickled: over "30 s + 1 s per 16 KiB" (31 s)
            "slow-body-16k": SlowClient(srv.port, put % 16384, len(put % 16384), 0.5, 45,
                                        body_len=16384),
            # a 1 MB body, trickled at ~2 bytes/s: far below 16 KiB/s after 30 s
            "slow-body-1m": SlowClient(srv.port, put % 1000000, len(put % 1000000), 0.5, 45,
                                       body_len=1000000),
        }
        for c in clients.values():
            c.start()
        # meanwhile others are served, on both addresses
        lat = []

        def served_until_ended():
            for host, port in (("127.0.0.1", srv.port), ("::1", self.v6)):
                if port is None:
                    continue
                r, dt = self.timed_get(host, port)
                self.assertEqual(r.status, 200, r)
                lat.append(dt)
            return all(c.ended is not None for c in clients.values())
        harness.wait_until(served_until_ended, 44, 0.5)     # a GET on each address every 0.5 s
        for c in clients.values():
            c.join(60)
            self.assertFalse(c.is_alive(), "a slow client thread did not end")
        self.assertGreaterEqual(len(lat), 20)
        self.assertLess(max(lat), 2.0, "a normal GET took %.2f s while slow clients were "
                        "connected" % max(lat))
        self.assertTrue(srv.running())

        for name, c in clients.items():
            self.assertIsNone(c.error, "%s: %s" % (name, c.describe()))
        with self.subTest(client="slowloris-head"):
            c = clients["slowloris-head"]
            self.assertIsNotNone(c.ended, "slowloris still connected after 45 s: " + c.describe())
            self.assertLessEqual(c.ended, 25, c.describe())
            self.assertGreaterEqual(c.ended, 15, "cut off before the 20 s head allowance: "
                                    + c.describe())
            self.assertIn(c.status(), (408, None), c.describe())
        with self.subTest(client="partial-head-silent"):
            c = clients["partial-head-silent"]
            self.assertIsNotNone(c.ended, "a partial head then silence held the connection "
                                 "for 45 s (head deadline is 20 s): " + c.describe())
            self.assertLessEqual(c.ended, 25, c.describe())
        with self.subTest(client="slow-body-16k"):
            c = clients["slow-body-16k"]
            self.assertIsNotNone(c.ended, c.describe())
            self.assertGreaterEqual(c.ended, 28, "cut off before 30 s: " + c.describe())
            self.assertLessEqual(c.ended, 36, c.describe())
            self.assertIn(c.status(), (408, None), c.describe())
        with self.subTest(client="slow-body-1m"):
            c = clients["slow-body-1m"]
            self.assertIsNotNone(c.ended, "a body arriving at ~2 bytes/s still open after 45 s "
                                 "(rule: >= 16 KiB/s after 30 s): " + c.describe())
            self.assertGreaterEqual(c.ended, 28, "cut off before 30 s: " + c.describe())
            self.assertLessEqual(c.ended, 36, c.describe())
        # nothing was published by the aborted PUTs
        self.assertEqual(srv.index_lines("x"), [])
        self.assertTrue(srv.healthy())

    def test_max_connections_per_client(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        srv = self.start(extra="max_connections_per_client = 8\n")
        conns = []
        try:
            for _ in range(20):
                conns.append(harness.RawConn(srv.port, timeout=5))
            # crated holds the first 8 (and the [::1] connection that asks)
            harness.wait_until(lambda: harness.Exposition(harness.http_request(
                self.v6, "GET", "/-/metrics", host="::1").text()).get("crated_open_connections") == 9,
                5)
            # [::1] is another client address: served while 127.0.0.1 is full
            for _ in range(5):
                r, dt = self.timed_get("::1", self.v6)
                self.assertEqual(r.status, 200, r)
                self.assertLess(dt, 2.0)
            closed = [c.closed_by_peer(wait=2.0 if i >= 8 else 0.3) for i, c in enumerate(conns)]
            self.assertEqual(closed, [False] * 8 + [True] * 12,
                             "expected the first 8 connections kept and the rest closed")
            # the 8 kept ones are real, usable connections
            conns[0].send(harness.build_request("GET", "/local/config.json"))
            self.assertEqual(conns[0].read_response().status, 200)
            # a new 127.0.0.1 connection gets no answer
            with harness.RawConn(srv.port, timeout=5) as extra:
                try:
                    extra.send(harness.build_request("GET", "/local/config.json"))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.assertTrue(extra.closed_by_peer(wait=3.0))
                self.assertEqual(extra.buf, b"")
            self.assertIn("over max_connections_per_client (8)", srv.log_text())
        finally:
            for c in conns:
                c.close()
        # with its connections closed, 127.0.0.1 is served again
        def served():
            try:
                return harness.http_request(srv.port, "GET", "/local/config.json",
                                            timeout=3).status == 200
            except (ConnectionError, OSError, harness.http.client.HTTPException):
                return False
        self.assertTrue(harness.wait_until(served, 5, 0.2), "127.0.0.1 not served again within 5 s")
        # up to the limit in parallel works
        held = [harness.RawConn(srv.port, timeout=5) for _ in range(8)]
        try:
            for c in held:
                c.send(harness.build_request("GET", "/-/health"))
            for c in held:
                self.assertEqual(c.read_response().status, 200)
        finally:
            for c in held:
                c.close()


if __name__ == "__main__":
    harness.main()
