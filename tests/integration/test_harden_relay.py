#!/usr/bin/env python3
"""The upload relay's hardening (issue 22, second review; issue 23 section 4),
against the Azure feed stand-in:

* a feed that resets the connection after it read a publish's body, or
  after it committed the publish, on a connection crated had used before
  (keep-alive, after index reads): the feed gets exactly one PUT (libcurl
  must not re-send it on a fresh connection) and the client is told the
  outcome is unknown, never "already exists" (over HTTP, and to cargo
  publish itself); a yank likewise;
* eight concurrent 40 MiB publishes to a feed that never answers: crated's
  peak RSS stays under two copies of each body plus 64 MiB, and the caps on
  relayed writes in flight answer 429 (one client) and 503 (the registry)
  with Retry-After;
* a 2xx publish answer too long to keep is still a success;
* a config.json whose api is on another origin than the index: refused
  (nothing sent there) unless relay_api_other_origin = true;
* relayed search and owner lists are counted as reads, not writes.

Each test has its own feed and crated."""

import gzip
import http.client
import io
import json
import os
import re
import sys
import tarfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import rss_kib  # noqa: E402
from harness import crate_meta, make_crate, publish_body  # noqa: E402
import azure_standin as az  # noqa: E402
from relay_common import CorpCargo, corp_registries, project  # noqa: E402
from harness import Exposition  # noqa: E402

MIB = 1 << 20


def request_from(source, port, method, path, body=None, headers=None, timeout=60):
    """One HTTP request to crated from the loopback address source."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read()
        return harness.Resp(r.status, r.reason, list(r.getheaders()), data)
    finally:
        conn.close()


def big_crate(name, size):
    """A valid .crate of about size bytes: Cargo.toml and a file of random
    bytes (incompressible), gzip level 1."""
    top = "%s-1.0.0/" % name
    files = [(top + "Cargo.toml", ('[package]\nname = "%s"\nversion = "1.0.0"\n' % name).encode()),
             (top + "src/blob.bin", os.urandom(max(size - 4096, 0)))]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path, data in files:
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def big_publish(name, size):
    """A publish body whose .crate is about size bytes (a valid archive:
    crated reads the whole .crate before it relays a publish)."""
    return publish_body(crate_meta(name, "1.0.0"), big_crate(name, size))


def sanitized(pid):
    """True when the process runs with AddressSanitizer."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


class HardenRelayTest(harness.TestCase):
    maxDiff = 6000

    def setUp(self):
        super().setUp()
        self.ca = az.make_test_ca(os.path.join(self.tmp, "ca"))
        self.feed = az.AzureFeed(self.ca, publish_delay=0.5)
        self.feed.api_on_alt = self.id().endswith("_other_origin") or \
            self.id().endswith("_other_origin_allowed")
        self.feed.start()
        self.addCleanup(self.feed.stop)
        self.feed.seed("corp-seed", "1.0.0", make_crate("corp-seed", "1.0.0"))

    def corp(self, extra=""):
        return self.start_crated(
            registries=corp_registries(self.feed, self.ca.ca_cert, extra=extra),
            env={"CORP_TOKEN": self.feed.token})

    # -- a publish reaches the feed at most once

    def reset_case(self, fault, name):
        feed = self.feed
        srv = self.corp()
        # crated now holds a kept-alive connection to the feed
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        self.assertEqual(srv.get("/corp/co/rp/corp-seed",
                                 headers={"Cache-Control": "no-cache"}).status, 200)
        feed.fault = fault
        r = srv.publish(crate_meta(name, "1.0.0"), make_crate(name, "1.0.0"), reg="corp",
                        timeout=60)
        self.assertIsNone(feed.fault, "the fault was not triggered")
        # anything re-sent would come at once; give it a moment to show
        feed.wait(lambda: feed.count("PUT", feed.api_path("/new")) > 1, 2.0)
        n_put = feed.count("PUT", feed.api_path("/new"))
        detail = self.assertErrors(r)
        print("\n    %s: the feed got %d PUT(s); crated answered %d: %s"
              % (fault, n_put, r.status, detail[:160]), file=sys.stderr)
        self.assertEqual(n_put, 1, "the publish was sent %d times (answer %d: %s)"
                         % (n_put, r.status, detail))
        self.assertNotEqual(r.status, 409, detail)
        self.assertNotRegex(detail, r"(?i)already (exists|contains)")
        self.assertRegex(detail, r"(?i)outcome is unknown", detail)
        self.assertTrue([l for l in srv.log_text().splitlines()
                         if "audit" in l and name in l and "upstream_status=0" in l],
                        srv.log_tail())
        self.assertEqual(harness.metrics(srv).get("crated_relayed_writes_total", registry="corp",
                                     op="publish", outcome="unknown"), 1)
        return srv

    def test_reset_after_body_on_reused_connection(self):
        self.reset_case("reset_after_body", "reset-body")
        self.assertEqual([p["name"] for p in self.feed.publishes], [])

    def test_reset_after_commit_on_reused_connection(self):
        self.reset_case("reset_after_commit", "reset-commit")
        self.assertEqual([p["name"] for p in self.feed.publishes], ["reset-commit"])

    def test_cargo_publish_reset_after_commit(self):
        feed = self.feed
        srv = self.corp()
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        feed.fault = "reset_after_commit"
        cargo = CorpCargo(os.path.join(self.tmp, "c"), srv.port)
        d = project(os.path.join(self.tmp, "p"), "cargo-reset", "1.0.0")
        rc, out, err = cargo.run_cargo(["publish", "--registry", "corp", "--no-verify"], d,
                                       check=False, timeout=120)
        feed.wait(lambda: feed.count("PUT", feed.api_path("/new")) > 1, 2.0)
        print("\n    cargo publish, the feed resets after the commit: rc %d:\n%s"
              % (rc, "\n".join("      " + l for l in err.strip().splitlines()[-3:])),
              file=sys.stderr)
        self.assertEqual(feed.count("PUT", feed.api_path("/new")), 1, err)
        self.assertNotEqual(rc, 0, err)
        self.assertNotRegex(err, r"(?i)already contains|409")
        self.assertRegex(err, r"(?i)outcome is unknown")

    def test_yank_reset_not_resent(self):
        feed = self.feed
        srv = self.corp()
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        feed.fault = "reset_after_commit"
        r = srv.request("DELETE", "/corp/api/v1/crates/corp-seed/1.0.0/yank",
                        headers={"Authorization": "anything"}, timeout=60)
        detail = self.assertErrors(r)
        feed.wait(lambda: feed.count("DELETE") > 1, 2.0)
        self.assertEqual(feed.count("DELETE"), 1, "the yank was sent again")
        self.assertRegex(detail, r"(?i)outcome is unknown")

    # -- memory and caps

    def hold_writes(self, srv, n, size, sources):
        """Starts n publishes of size-byte crates, the i-th from
        sources[i % len(sources)], to a feed that hangs, each once the one
        before reached the feed (bodies being received share a 64 MiB
        budget; one the relay holds counts against the relay's caps);
        waits until the feed got n PUTs. Returns (threads, results,
        got_all)."""
        feed = self.feed
        results = {}

        def one(i):
            try:
                body = big_publish("big-%d" % i, size)
                results[i] = request_from(sources[i % len(sources)], srv.port, "PUT",
                                          "/corp/api/v1/crates/new", body,
                                          {"Authorization": "anything"}, timeout=120)
            except Exception as e:   # noqa: BLE001 - reported by the caller
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for i, t in enumerate(threads):
            t.start()
            feed.wait(lambda: feed.count("PUT", feed.api_path("/new")) > i or i in results,
                      60, 0.1)
        got_all = feed.wait(lambda: feed.count("PUT", feed.api_path("/new")) >= n, 120, 0.2)
        return threads, results, got_all

    def release(self, srv, threads):
        """The feed goes away: every write ends, nothing stays in flight."""
        self.feed.stop()
        for t in threads:
            t.join(timeout=60)
        return harness.wait_value(
            lambda: harness.metrics(srv).get("crated_relayed_writes_in_flight", registry="corp"),
            lambda flying: flying == 0, 30, 0.2)

    def test_big_publishes_to_hanging_feed_memory_bounded(self):
        feed = self.feed
        feed.mode = "hang"
        feed.hang_seconds = 300.0
        srv = self.corp()
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        size = 40 * MIB
        rss0 = rss_kib(srv.proc.pid, "VmRSS")
        # two from each of four loopback addresses: within the default caps
        threads, results, got_all = self.hold_writes(
            srv, 8, size, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"])
        hwm = rss_kib(srv.proc.pid, "VmHWM")
        rss = rss_kib(srv.proc.pid, "VmRSS")
        n_put = feed.count("PUT", feed.api_path("/new"))
        bound = 2 * 8 * size // 1024 + 64 * 1024
        if sanitized(srv.proc.pid):
            # ASan keeps freed blocks in a 256 MiB quarantine and maps
            # one byte of shadow per eight
            bound += 256 * 1024 + bound // 8
        print("\n    eight 40 MiB publishes to a hanging feed: RSS %d MiB before, %d MiB with"
              " all eight at the feed, peak %d MiB (bound %d MiB); the feed got %d PUTs"
              % (rss0 // 1024, rss // 1024, hwm // 1024, bound // 1024, n_put), file=sys.stderr)
        problems = []
        if not got_all:
            problems.append("the feed got %d of the 8 PUTs; answers so far: %s"
                            % (n_put, {k: getattr(v, "status", v) for k, v in results.items()}))
        if hwm > bound:
            problems.append("crated's peak RSS %d MiB is over %d MiB (two copies of each body"
                            " + 64 MiB)" % (hwm // 1024, bound // 1024))
        flying = self.release(srv, threads)
        if flying != 0:
            problems.append("relayed writes in flight after the feed went: %r" % flying)
        self.assertFalse(problems, "\n".join(problems))

    def test_writes_in_flight_capped(self):
        feed = self.feed
        feed.mode = "hang"
        feed.hang_seconds = 300.0
        srv = self.corp(extra="relay_max_writes = 5\nrelay_max_writes_per_client = 3\n")
        self.assertEqual(srv.get("/corp/co/rp/corp-seed").status, 200)
        # three from 127.0.0.1 and two from 127.0.0.2: five in flight
        threads, results, got_all = self.hold_writes(
            srv, 5, 1 * MIB, ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2"])
        problems = []
        if not got_all:
            problems.append("the feed got %d of the 5 PUTs; answers so far: %s"
                            % (feed.count("PUT", feed.api_path("/new")),
                               {k: getattr(v, "status", v) for k, v in results.items()}))
        # a fourth from 127.0.0.1: over its client's share
        r = request_from("127.0.0.1", srv.port, "PUT", "/corp/api/v1/crates/new",
                         big_publish("big-client", 1 * MIB), {"Authorization": "anything"},
                         timeout=60)
        if r.status != 429 or not re.fullmatch(r"\d+", r.header("Retry-After") or ""):
            problems.append("a 4th write from one client: %d Retry-After=%r %s (want 429)"
                            % (r.status, r.header("Retry-After"), r.body[:200]))
        # a sixth, from a third address: over the registry's cap
        r = request_from("127.0.0.3", srv.port, "PUT", "/corp/api/v1/crates/new",
                         big_publish("big-reg", 1 * MIB), {"Authorization": "anything"},
                         timeout=60)
        if r.status != 503 or not re.fullmatch(r"\d+", r.header("Retry-After") or ""):
            problems.append("a 6th write to the registry: %d Retry-After=%r %s (want 503)"
                            % (r.status, r.header("Retry-After"), r.body[:200]))
        else:
            self.assertIn("busy", self.assertErrors(r))
        # a read is not a write: search still goes through
        r = srv.get("/corp/api/v1/crates?q=x", headers={"Authorization": "x"}, timeout=30)
        if r.status in (429, 503):
            problems.append("a search was refused by the write cap: %d" % r.status)
        if feed.count("PUT", feed.api_path("/new")) != 5:
            problems.append("refused writes reached the feed: %d PUTs"
                            % feed.count("PUT", feed.api_path("/new")))
        if harness.metrics(srv).get("crated_relayed_writes_in_flight", registry="corp") != 5:
            problems.append("crated_relayed_writes_in_flight is not 5")
        flying = self.release(srv, threads)
        if flying != 0:
            problems.append("relayed writes in flight after the feed went: %r" % flying)
        self.assertFalse(problems, "\n".join(problems))

    # -- a 2xx is a success, whatever its body

    def test_huge_2xx_answer_is_success(self):
        feed = self.feed
        feed.publish_pad = 3 * MIB
        srv = self.corp()
        r = srv.publish(crate_meta("huge-ok", "1.0.0"), make_crate("huge-ok", "1.0.0"),
                        reg="corp", timeout=60)
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn("warnings", r.json())
        self.assertEqual([p["name"] for p in feed.publishes], ["huge-ok"])
        self.assertEqual(harness.metrics(srv).get("crated_relayed_writes_total", registry="corp",
                                     op="publish", outcome="ok"), 1)

    # -- the api on another origin

    def test_api_other_origin(self):
        feed = self.feed
        srv = self.corp()
        r = srv.publish(crate_meta("elsewhere", "1.0.0"), make_crate("elsewhere", "1.0.0"),
                        reg="corp", timeout=60)
        detail = self.assertErrors(r)
        self.assertEqual(r.status, 502, detail)
        self.assertIn("another origin", detail)
        self.assertIn("relay_api_other_origin", detail)
        alt = feed.alt.server_address[1]
        self.assertEqual(feed.count(pred=lambda q: q["port"] == alt), 0,
                         "crated sent a request (and its credential) to the api's other origin")
        self.assertEqual(feed.publishes, [])

    def test_api_other_origin_allowed(self):
        feed = self.feed
        srv = self.corp(extra="relay_api_other_origin = true\n")
        r = srv.publish(crate_meta("elsewhere", "1.0.0"), make_crate("elsewhere", "1.0.0"),
                        reg="corp", timeout=60)
        self.assertEqual(r.status, 200, r.body[:400])
        alt = feed.alt.server_address[1]
        puts = feed.count("PUT", feed.api_path("/new"), pred=lambda q: q["port"] == alt
                          and q["auth"] == feed.token)
        self.assertEqual(puts, 1)

    # -- reads are not writes

    def test_search_and_owner_list_counted_as_reads(self):
        srv = self.corp()
        srv.get("/corp/api/v1/crates?q=corp&per_page=5", headers={"Authorization": "x"},
                timeout=30)
        srv.get("/corp/api/v1/crates/corp-seed/owners", headers={"Authorization": "x"},
                timeout=30)
        r = srv.get("/-/metrics")
        ex = Exposition(r.text())
        reads = {op: sum(v for lab, v in ex.series("crated_relayed_reads_total").items()
                         if dict(lab).get("op") == op) for op in ("search", "owners-list")}
        writes = [dict(lab) for lab in ex.series("crated_relayed_writes_total")]
        self.assertEqual(reads, {"search": 1, "owners-list": 1}, r.text())
        self.assertFalse([w for w in writes if w.get("op") in ("search", "owners-list")],
                         "reads counted as writes: %s" % writes)
        self.assertEqual(ex.types.get("crated_relayed_reads_total"), "counter")


if __name__ == "__main__":
    harness.main()
