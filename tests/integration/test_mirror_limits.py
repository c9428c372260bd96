#!/usr/bin/env python3
"""A mirror in front of a small or failing upstream (server/upstream/limiter.c and
the retries of server/upstream/upstream.c).

- Real cargo resolves and fetches 31 packages through crated from a
  python http.server with a listen backlog of 1 and no keep-alive: the
  kind of upstream that 64 simultaneous connects used to overwhelm.
- An upstream GET whose connection is reset, or that finds the listen
  queue full (its SYN dropped), is retried on a new connection and the
  log says why; cargo gets the file, not a 502.
- 429s without Retry-After shrink the limit; /-/ready and /-/metrics show
  it; answers at the usual latency grow it back.
- An upstream that takes h2c (another crated) is used over one
  connection for many concurrent fills.
- An answer slower than 3 s is logged with its phases.
No timing decides pass or fail: only what happened (counts, statuses, log
lines)."""

import functools
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402


def b_reset(h, req):
    """Closes the connection with a RST before answering."""
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def b_delay(seconds, then=S.serve_file):
    def f(h, req):
        time.sleep(seconds)     # a stand-in slow on purpose: under test
        then(h, req)
    return f


def ready_of(crated, reg):
    r = crated.get("/-/ready")
    for e in r.json()["registries"]:
        if e["name"] == reg:
            return e
    raise AssertionError("no %s in /-/ready: %s" % (reg, r.text()))


class TinyBacklogServer:
    """http.server's SimpleHTTPRequestHandler (HTTP/1.0: a connection per
    request) on a socket listening with a backlog of 1, in a thread."""

    def __init__(self, root):
        class Srv(http.server.ThreadingHTTPServer):
            request_queue_size = 1
            daemon_threads = True

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                with lock:
                    self.server.paths.append(self.path)

        lock = threading.Lock()
        self.srv = Srv(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
        self.srv.paths = []
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        self.t.start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class SmallUpstreamTest(harness.TestCase):

    def test_cargo_through_tiny_backlog(self):
        root = os.path.join(self.tmp, "up")
        srv = TinyBacklogServer(root)
        self.addCleanup(srv.stop)
        tree = S.RegistryTree()
        leaves = ["lim-leaf-%02d" % i for i in range(30)]
        for n in leaves:
            tree.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
            tree.add(n, "1.1.0", harness.make_crate(n, "1.1.0"))
        tree.add("lim-top", "1.0.0", harness.make_crate("lim-top", "1.0.0"),
                 deps=[S.index_dep(n, "^1") for n in leaves])
        tree.attach_dir(root, srv.base)
        crated = self.start_crated(registries=S.mirror_toml("mirror", "sparse+%s/" % srv.base),
                                   config_extra='log_level = "debug"\n')
        # http.server answers HTTP/1.0 and closes: no wider start
        self.assertTrue(harness.wait_until(lambda: "probe: ok" in crated.log_text(), 10))
        before = ready_of(crated, "mirror")
        self.assertEqual(before["upstream_limit"], 4, before)
        self.assertEqual(before["upstream_ceiling"], 64, before)
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % crated.url)
        d = harness.make_project(os.path.join(self.tmp, "consumer"), "consumer", publish=False,
                                 deps='lim-top = { version = "1", registry = "mirror" }')
        cargo.run(["generate-lockfile"], d, logs=[crated])
        cargo.run(["fetch"], d, logs=[crated])
        lock = {p["name"]: p for p in harness.read_lock(os.path.join(d, "Cargo.lock"))}
        for n in leaves:
            self.assertEqual(lock[n]["version"], "1.1.0")
        statuses = [s for (_, p, s) in S.access_log(crated, "/mirror/")]
        self.assertNotIn(502, statuses)
        self.assertNotIn(504, statuses)
        after = ready_of(crated, "mirror")
        self.assertGreaterEqual(after["upstream_limit"], 1)
        self.assertLessEqual(after["upstream_limit"], 64)
        self.assertFalse(after["upstream_http2"], after)
        self.assertEqual(harness.metrics(crated).get("crated_upstream_limit", registry="mirror"),
                         after["upstream_limit"])
        # every index file and crate once: nothing fetched twice
        self.assertEqual(len([p for p in srv.srv.paths if p.endswith(".crate")]), 31)
        conns = harness.metrics(crated).get("crated_upstream_connections_total", registry="mirror")
        self.assertGreaterEqual(conns, 31 + 31)


class RetryTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.si = S.StandIn()
        self.addCleanup(self.si.stop)
        self.tree = S.RegistryTree()
        for n in ("lim-a", "lim-b", "lim-c"):
            self.tree.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
        self.tree.attach_standin(self.si)

    def mirror(self, **kw):
        return self.start_crated(registries=S.mirror_toml("mirror", "sparse+%s/" % self.si.base,
                                                          **kw))

    def test_reset_is_retried_on_a_new_connection(self):
        self.si.set("/" + index_path("lim-a"), S.b_sequence(b_reset, S.serve_file))
        self.si.set("/" + index_path("lim-b"), b_reset)
        crated = self.mirror()
        r = crated.get("/mirror/" + index_path("lim-a"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.index_body("lim-a"))
        self.assertEqual(self.si.count("/" + index_path("lim-a")), 2)
        self.assertIn("%s: connection lost" % self.si.url("/" + index_path("lim-a")),
                      crated.log_text())
        self.assertIn("retry 1 of 2", crated.log_text())
        # always reset: three attempts, then the error reaches the client
        # (libcurl itself sends a request once more when a connection it
        # reused turns out dead: at most one more)
        r = crated.get("/mirror/" + index_path("lim-b"))
        self.assertIn(r.status, (502, 503), r)
        self.assertIn(self.si.count("/" + index_path("lim-b")), (3, 4))
        self.assertIn("retry 2 of 2", crated.log_text())

    def test_crate_reset_before_the_body_is_retried(self):
        crate_path = "/crates/lim-c/lim-c-1.0.0.crate"
        self.si.set(crate_path, S.b_sequence(b_reset, S.serve_file))
        crated = self.mirror()
        r = crated.get("/mirror/api/v1/crates/lim-c/1.0.0/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.tree.crates[crate_path])
        self.assertEqual(self.si.count(crate_path), 2)

    def test_no_retry_for_a_404(self):
        crated = self.mirror()
        r = crated.get("/mirror/" + index_path("lim-nope"))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.si.count("/" + index_path("lim-nope")), 1)
        self.assertNotIn("retry", crated.log_text())

    def test_syn_dropped_connect_timeout_retried(self):
        """A listener whose accept queue is full drops crated's SYN: the
        first attempt gives up after its connect timeout (750 ms before
        any connect was seen) and a new connection gets through once the
        queue drains."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        self.addCleanup(ls.close)
        port = ls.getsockname()[1]
        fillers = []
        for _ in range(4):   # fill the accept queue; later SYNs are dropped
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(c)
        self.addCleanup(lambda: [c.close() for c in fillers])
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+http://127.0.0.1:%d/" % port))
        body = self.tree.index_body("lim-a")
        done = threading.Event()

        def serve():
            # once the first attempt has timed out, drain the queue and
            # answer every connection that asks for the index file
            harness_deadline = time.monotonic() + 30
            harness.wait_until(lambda: "connect timeout" in crated.log_text(), 20)
            for c in fillers:   # their queued connections read as closed
                c.close()
            ls.settimeout(0.2)
            while not done.is_set() and time.monotonic() < harness_deadline:
                try:
                    conn, _ = ls.accept()
                except socket.timeout:
                    continue
                conn.settimeout(5)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(b"GET "):
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                                     % len(body) + body)
                except OSError:
                    pass
                finally:
                    conn.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(done.set)
        r = crated.get("/mirror/" + index_path("lim-a"), timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)
        log = crated.log_text()
        self.assertIn("connect timeout", log)
        self.assertIn("on a new connection", log)


class LimitTest(harness.TestCase):

    def test_429s_shrink_the_limit_and_answers_grow_it(self):
        si = S.StandIn()
        self.addCleanup(si.stop)
        tree = S.RegistryTree()
        names = ["lim-%02d" % i for i in range(40)]
        for n in names:
            tree.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
        tree.attach_standin(si)
        crated = self.start_crated(registries=S.mirror_toml("mirror", "sparse+%s/" % si.base,
                                                            index_ttl=0, negative_ttl=0,
                                                            upstream_concurrency=8),
                                   config_extra='log_level = "debug"\n')
        self.assertEqual(crated.get("/mirror/" + index_path(names[0])).status, 200)
        # the stand-in keeps connections alive: the limit starts at the
        # ceiling; 429s one at a time, each a later round: 8 -> 4 -> 2 -> 1
        self.assertTrue(harness.wait_until(
            lambda: ready_of(crated, "mirror")["upstream_limit"] == 8, 5))
        for n in names[1:5]:
            si.set("/" + index_path(n), S.b_status(429, "slow down"))
            r = crated.get("/mirror/" + index_path(n))
            self.assertIn(r.status, (502, 503, 429), r)
        self.assertEqual(ready_of(crated, "mirror")["upstream_limit"], 1)
        self.assertIn("upstream limit 8 -> 4 (drop", crated.log_text())
        # fine answers, with the limit full, grow it again
        results = []

        def get(n):
            results.append(crated.get("/mirror/" + index_path(n)).status)
        for _ in range(3):
            threads = [threading.Thread(target=get, args=(n,)) for n in names[10:40]]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        self.assertEqual(results, [200] * 90)
        self.assertGreater(ready_of(crated, "mirror")["upstream_limit"], 1)

    def test_h2c_upstream_one_connection(self):
        """crated in front of crated: the first answer shows the upstream
        took Upgrade: h2c, and 30 concurrent fills share its connection."""
        si = S.StandIn()
        self.addCleanup(si.stop)
        tree = S.RegistryTree()
        names = ["lim-h-%02d" % i for i in range(30)]
        for n in names:
            tree.add(n, "1.0.0", harness.make_crate(n, "1.0.0"))
        tree.attach_standin(si)
        up = self.start_crated(name="up", data_dir=os.path.join(self.tmp, "updata"),
                               registries=S.mirror_toml("mirror", "sparse+%s/" % si.base))
        crated = self.start_crated(registries=S.mirror_toml(
            "mirror", "sparse+%s/mirror/" % up.url))
        self.assertEqual(crated.get("/mirror/config.json").status, 200)
        results = []

        def get(n):
            results.append(crated.get("/mirror/" + index_path(n)).status)
        threads = [threading.Thread(target=get, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * len(names))
        state = ready_of(crated, "mirror")
        self.assertTrue(state["upstream_http2"], state)
        self.assertLessEqual(harness.metrics(crated).get("crated_upstream_connections_total", registry="mirror"),
                             2)

    def test_slow_answer_logged_with_phases(self):
        si = S.StandIn()
        self.addCleanup(si.stop)
        tree = S.RegistryTree()
        tree.add("lim-slow", "1.0.0", harness.make_crate("lim-slow", "1.0.0"))
        tree.attach_standin(si)
        si.set("/" + index_path("lim-slow"), b_delay(3.2))
        crated = self.start_crated(registries=S.mirror_toml("mirror", "sparse+%s/" % si.base))
        r = crated.get("/mirror/" + index_path("lim-slow"))
        self.assertEqual(r.status, 200, r)
        line = [l for l in crated.log_text().splitlines() if "lim-slow took" in l]
        self.assertEqual(len(line), 1, crated.log_tail(10))
        self.assertIn("warn", line[0])
        self.assertIn("first byte 3.", line[0])
        self.assertIn("connect", line[0])


if __name__ == "__main__":
    harness.main()
