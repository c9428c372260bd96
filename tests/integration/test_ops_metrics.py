#!/usr/bin/env python3
"""Operations: GET /-/metrics, /-/health and /-/ready.

One crated with a hosted registry ("local") and two mirrors of stand-in
upstreams: "mirror" (index_ttl = 300) for hits, misses, negative hits,
dependency prefetch, a coalesced wait and a crate download, and "stale"
(index_ttl = 1) for revalidations (304 and 200), a stale serve after its
upstream is stopped, and /-/ready going from "ok" to "failing".

Every request the test makes between two scrapes is written in a ledger
(registry, route, status, body bytes), so crated_requests_total,
crated_response_bytes_total and the request-duration histogram counts are
checked exactly, together with every other counter series that moved.

Also: the exposition parses line by line (comment or `name{labels} value`),
every sample's family has a TYPE, no series repeats, and every histogram's
buckets are cumulative, ordered, and end with +Inf equal to _count."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
from harness import Exposition, index_path, make_crate  # noqa: E402

TTL_STALE = 1
AFTER_TTL = TTL_STALE + 1.2     # crated counts whole seconds

def counter_diff(before, after):
    """{(name, labels): delta} of counter and histogram-count series that
    changed (a series absent before counts from 0). New upstream
    connections are left out: how many a run needs depends on when curl
    reuses one, not on what the requests were."""
    out = {}
    for (name, labels), v in after.samples.items():
        if name == "crated_upstream_connections_total":
            continue
        fam = after.family_of(name)
        typ = after.types.get(fam)
        if typ == "counter" or (typ == "histogram" and name.endswith("_count")):
            d = v - before.samples.get((name, labels), 0.0)
            if d != 0:
                out[(name, labels)] = d
    for key in before.samples:
        if key not in after.samples and before.types.get(before.family_of(key[0])) == "counter":
            out[key] = -before.samples[key]
    return out


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


def fmt_diff(d):
    return "\n".join("  %s{%s} %+g" % (n, ",".join('%s="%s"' % kv for kv in l), v)
                     for (n, l), v in sorted(d.items()))


class MetricsTest(harness.TestCase):
    maxDiff = None

    def setUp(self):
        super().setUp()
        # upstream of "mirror"
        self.si, self.tree, self.up_url, _ = S.standin_registry(self.tmp)
        self.addCleanup(self.si.stop)
        self.crates = {}
        for name in ("mx-dep", "mx-solo", "mx-co"):
            self.crates[name] = make_crate(name, "1.0.0")
            self.tree.add(name, "1.0.0", self.crates[name])
        self.crates["mx-top"] = make_crate("mx-top", "1.0.0")
        self.tree.add("mx-top", "1.0.0", self.crates["mx-top"],
                      deps=[S.index_dep("mx-dep", "^1")])
        # upstream of "stale"
        self.si2, self.tree2, self.up2_url, _ = S.standin_registry(self.tmp, reg="st2")
        self.addCleanup(self.si2.stop)
        self.tree2.add("sx-a", "1.0.0", make_crate("sx-a", "1.0.0"))
        regs = ("[registries.local]\n\n"
                + S.mirror_toml("mirror", self.up_url, index_ttl=300, negative_ttl=300) + "\n"
                + S.mirror_toml("stale", self.up2_url, index_ttl=TTL_STALE, negative_ttl=TTL_STALE))
        self.srv = self.start_crated(registries=regs)
        # the upstreams' start-up probes (GET config.json) are over before
        # a test counts upstream requests
        harness.wait_until(lambda: all(r.get("probe") != "not probed yet" for r in
                                 self.srv.get("/-/ready").json()["registries"]), 10, 0.02)
        self.ledger = []    # (registry, route, status, body bytes)

    # -- requests that are written in the ledger

    def req(self, path, registry, route, status, headers=None):
        r = self.srv.get(path, headers=headers)
        self.assertEqual(r.status, status, "GET %s: %r" % (path, r))
        self.ledger.append((registry, route, r.status, len(r.body)))
        return r

    def scrape(self):
        r = self.srv.get("/-/metrics")
        self.assertEqual(r.status, 200, r)
        self.ledger.append(("", "metrics", 200, len(r.body)))
        ex = Exposition(r.text())
        self.assertFalse(ex.problems, "exposition problems:\n" + "\n".join(ex.problems[:20]))
        return ex

    def mark(self):
        """A base scrape; returns (exposition, ledger position of its own
        entry: a later scrape includes entries from there on)."""
        ex = self.scrape()
        return ex, len(self.ledger) - 1

    def expected_from_ledger(self, since, until):
        exp = {}
        for reg, route, status, nbytes in self.ledger[since:until]:
            k = key("crated_requests_total", registry=reg, route=route, status=str(status))
            exp[k] = exp.get(k, 0) + 1
            k = key("crated_response_bytes_total", registry=reg, route=route)
            exp[k] = exp.get(k, 0) + nbytes
            k = key("crated_request_duration_seconds_count", registry=reg, route=route)
            exp[k] = exp.get(k, 0) + 1
        return {k: v for k, v in exp.items() if v != 0}

    def settle(self, base, since, expected_extra, timeout=5.0):
        """Scrapes until the counter diff against base equals the ledger's
        expectation plus expected_extra (bounded); returns (diff, expected,
        last exposition)."""
        def observed():
            after = self.scrape()
            expected = self.expected_from_ledger(since, len(self.ledger) - 1)
            for k, v in expected_extra.items():
                expected[k] = expected.get(k, 0) + v
            expected = {k: v for k, v in expected.items() if v != 0}
            return counter_diff(base, after), expected, after
        return harness.wait_value(observed, lambda o: o[0] == o[1], timeout, 0.1)

    def assertDiff(self, diff, expected):
        if diff != expected:
            missing = {k: v for k, v in expected.items() if diff.get(k) != v}
            extra = {k: v for k, v in diff.items() if expected.get(k) != v}
            self.fail("counters did not move as expected.\nexpected (differing):\n%s\n"
                      "observed (differing):\n%s\nall observed:\n%s\ncrated log tail:\n%s"
                      % (fmt_diff(missing), fmt_diff(extra), fmt_diff(diff),
                         self.srv.log_tail(15)))

    def wait_metric(self, name, want, timeout=5.0, **labels):
        return harness.wait_value(lambda: self.scrape().get(name, **labels), lambda v: v >= want,
                                  timeout)

    def ready(self):
        r = self.srv.get("/-/ready")
        self.assertEqual(r.status, 200, r)
        self.ledger.append(("", "ready", 200, len(r.body)))
        self.assertIn("json", r.header("content-type", ""), r)
        doc = r.json()
        return doc, {reg["name"]: reg for reg in doc["registries"]}

    # -- tests

    def test_counters_move_by_the_expected_amounts(self):
        # a hosted crate, published before the window
        r, _ = self.srv.publish_simple("hx-one", "1.0.0")
        self.assertEqual(r.status, 200, r)
        base, since = self.mark()
        cache_files0 = base.get("crated_cache_files", registry="mirror")
        cache_bytes0 = base.get("crated_cache_bytes", registry="mirror")

        # hosted: an index hit and a 404
        r = self.req("/local/" + index_path("hx-one"), "local", "index", 200)
        self.assertIn(b'"vers":"1.0.0"', r.body)
        self.req("/local/" + index_path("hx-nothing"), "local", "index", 404)
        self.req("/-/health", "", "health", 200)

        # mirror: a miss that prefetches its dependency's index file
        top, dep = index_path("mx-top"), index_path("mx-dep")
        r = self.req("/mirror/" + top, "mirror", "index", 200)
        self.assertEqual(r.body, self.tree.index_body("mx-top"))
        self.assertTrue(harness.wait_until(lambda: self.si.count("/reg/" + dep) == 1, 5),
                        "the dependency's index file was not prefetched: %r" % self.si.reqs())
        self.assertEqual(self.wait_metric("crated_prefetched_index_files_total", 1,
                                          registry="mirror"), 1)
        # the prefetch has finished once its upstream answer is counted
        self.assertEqual(self.wait_metric("crated_upstream_requests_total", 2, registry="mirror",
                                          kind="index", outcome="200"), 2)
        # hits: the same file again, and the prefetched one
        r = self.req("/mirror/" + top, "mirror", "index", 200)
        self.assertEqual(r.body, self.tree.index_body("mx-top"))
        r = self.req("/mirror/" + dep, "mirror", "index", 200)
        self.assertEqual(r.body, self.tree.index_body("mx-dep"))
        self.assertEqual(self.si.count("/reg/" + top), 1)
        self.assertEqual(self.si.count("/reg/" + dep), 1)

        # an upstream 404 (a miss), then the remembered 404 (a negative hit)
        nope = index_path("mx-nope")
        self.req("/mirror/" + nope, "mirror", "index", 404)
        self.req("/mirror/" + nope, "mirror", "index", 404)
        self.assertEqual(self.si.count("/reg/" + nope), 1)

        # a crate download through the mirror, then again from the cache
        crate = self.crates["mx-solo"]
        r = self.req("/mirror/api/v1/crates/mx-solo/1.0.0/download", "mirror", "download", 200)
        self.assertEqual(r.body, crate)
        # the file is stored once the stream is done (in the background);
        # the next download is served from it without an index lookup
        self.assertEqual(self.wait_metric("crated_cache_files", cache_files0 + 1,
                                          registry="mirror"), cache_files0 + 1)
        r = self.req("/mirror/api/v1/crates/mx-solo/1.0.0/download", "mirror", "download", 200)
        self.assertEqual(r.body, crate)
        self.assertEqual(self.si.count("/dl/mx-solo/1.0.0"), 1)

        # a coalesced wait: two clients, one upstream request held open
        co = index_path("mx-co")
        gate = threading.Event()
        self.si.set("/reg/" + co, S.b_hold(gate, max_s=20))
        self.addCleanup(gate.set)
        results = {}

        def get(tag):
            try:
                results[tag] = self.srv.get("/mirror/" + co, timeout=30)
            except Exception as e:     # reported below
                results[tag] = e

        ta = threading.Thread(target=get, args=("a",), daemon=True)
        ta.start()
        self.assertTrue(harness.wait_until(lambda: self.si.count("/reg/" + co) == 1, 5),
                        "the held upstream request never arrived")
        tb = threading.Thread(target=get, args=("b",), daemon=True)
        tb.start()
        joined = self.wait_metric("crated_coalesced_waiters_total", 1, registry="mirror")
        gate.set()
        ta.join(20)
        tb.join(20)
        self.assertEqual(joined, 1, "the second request did not join the fetch under way")
        for tag in ("a", "b"):
            r = results.get(tag)
            self.assertIsInstance(r, harness.Resp, "client %s: %r" % (tag, r))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, self.tree.index_body("mx-co"))
            self.ledger.append(("mirror", "index", 200, len(r.body)))
        self.assertEqual(self.si.count("/reg/" + co), 1)

        M = dict(registry="mirror")
        extra = {
            # top, nope, solo, co (a prefetch is nobody's miss: dep is a hit)
            key("crated_cache_misses_total", **M): 4,
            key("crated_cache_hits_total", **M): 2,            # top, dep
            key("crated_negative_hits_total", **M): 1,
            key("crated_prefetched_index_files_total", **M): 1,
            key("crated_coalesced_waiters_total", **M): 1,
            key("crated_upstream_requests_total", kind="index", outcome="200", **M): 4,
            key("crated_upstream_requests_total", kind="index", outcome="404", **M): 1,
            # the download: the upstream's config.json, then the .crate
            key("crated_upstream_requests_total", kind="config", outcome="200", **M): 1,
            key("crated_upstream_requests_total", kind="crate", outcome="200", **M): 1,
            key("crated_upstream_duration_seconds_count", **M): 7,
            key("crated_crate_fetches_total", outcome="ok", **M): 1,
        }
        diff, expected, after = self.settle(base, since, extra)
        self.assertDiff(diff, expected)
        self.assertEqual(after.get("crated_cache_files", registry="mirror"), cache_files0 + 1)
        self.assertEqual(after.get("crated_cache_bytes", registry="mirror"),
                         cache_bytes0 + len(crate))
        self.assertGreaterEqual(after.get("crated_open_connections"), 1)

    def test_revalidation_stale_serve_and_ready(self):
        doc, regs = self.ready()
        self.assertEqual(doc["status"], "ready")
        self.assertIs(doc["data_dir_writable"], True)
        self.assertIsInstance(doc["connections"], int)
        self.assertGreaterEqual(doc["connections"], 1)
        self.assertEqual(sorted(regs), ["local", "mirror", "stale"])
        self.assertEqual(regs["local"]["kind"], "hosted")
        self.assertNotIn("upstream_state", regs["local"])
        for name, url in (("mirror", self.up_url), ("stale", self.up2_url)):
            self.assertEqual(regs[name]["kind"], "mirror")
            self.assertEqual(regs[name]["upstream"], url[len("sparse+"):])
            self.assertNotIn(regs[name]["upstream_state"], ("ok", "failing"), regs[name])
            self.assertNotIn("last_error", regs[name])

        base, since = self.mark()
        path = "/stale/" + index_path("sx-a")
        up_path = "/reg/" + index_path("sx-a")
        t0 = int(time.time())
        r = self.req(path, "stale", "index", 200)
        body1 = self.tree2.index_body("sx-a")
        self.assertEqual(r.body, body1)
        doc, regs = self.ready()
        st = regs["stale"]
        self.assertEqual(st["upstream_state"], "ok", st)
        self.assertIsInstance(st.get("last_ok"), int, st)
        self.assertTrue(t0 - 1 <= st["last_ok"] <= time.time() + 1, st)
        self.assertNotIn("last_error", st)

        # past the TTL: a conditional request, answered 304
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.req(path, "stale", "index", 200)
        self.assertEqual(r.body, body1)
        self.assertIsNotNone(self.si2.reqs(up_path)[-1].header("if-none-match"),
                             "the revalidation was not conditional")
        # the upstream changes: the next revalidation gets a 200
        self.tree2.add("sx-a", "1.1.0", make_crate("sx-a", "1.1.0"))
        body2 = self.tree2.index_body("sx-a")
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.req(path, "stale", "index", 200)
        self.assertEqual(r.body, body2)
        self.assertEqual(self.si2.count(up_path), 3)

        # the upstream goes away: past the TTL the cached copy is served stale
        self.si2.stop()
        time.sleep(AFTER_TTL)   # the TTL runs out: what is under test
        r = self.req(path, "stale", "index", 200)
        self.assertEqual(r.body, body2)
        self.assertTrue(r.header("x-crated-stale"), "no X-Crated-Stale header: %r" % r)

        doc, regs = self.ready()
        st = regs["stale"]
        self.assertEqual(st["upstream_state"], "failing", st)
        self.assertIsInstance(st.get("last_error"), str, st)
        self.assertTrue(st["last_error"].strip(), st)
        self.assertIsInstance(st.get("last_ok"), int, st)
        self.assertLessEqual(st["last_ok"], time.time())
        self.assertNotEqual(regs["mirror"]["upstream_state"], "failing", regs["mirror"])

        L = dict(registry="stale")
        extra = {
            key("crated_cache_misses_total", **L): 1,
            key("crated_revalidations_total", result="304", **L): 1,
            key("crated_revalidations_total", result="200", **L): 1,
            key("crated_stale_serves_total", **L): 1,
            key("crated_upstream_requests_total", kind="index", outcome="200", **L): 2,
            key("crated_upstream_requests_total", kind="index", outcome="304", **L): 1,
            key("crated_upstream_duration_seconds_count", **L): 4,
        }
        # the failed revalidation is one upstream request whose outcome is
        # neither 200, 304 nor 404: find its label, then compare the rest
        after = self.scrape()
        failed = {l: v - base.samples.get(("crated_upstream_requests_total", l), 0)
                  for l, v in after.series("crated_upstream_requests_total").items()
                  if dict(l).get("registry") == "stale"
                  and dict(l).get("outcome") not in ("200", "304", "404")}
        failed = {l: v for l, v in failed.items() if v}
        self.assertEqual(len(failed), 1, "want one failed upstream request: %r" % failed)
        (flabels, fcount), = failed.items()
        self.assertEqual(fcount, 1)
        self.assertEqual(dict(flabels).get("kind"), "index")
        extra[("crated_upstream_requests_total", flabels)] = 1
        diff, expected, after = self.settle(base, since, extra)
        self.assertDiff(diff, expected)

    def test_exposition_and_histograms(self):
        # some traffic of several kinds first
        self.req("/local/config.json", "local", "config", 200)
        self.req("/mirror/" + index_path("mx-solo"), "mirror", "index", 200)
        self.req("/mirror/api/v1/crates/mx-solo/1.0.0/download", "mirror", "download", 200)
        self.req("/nowhere/" + index_path("x"), "", "index", 404)
        ex = self.scrape()
        self.assertFalse(ex.problems, "\n".join(ex.problems))
        self.assertFalse(ex.histogram_problems(), "\n".join(ex.histogram_problems()))
        self.assertTrue(ex.text.endswith("\n"))
        # the documented families, with their types
        want = {
            "crated_requests_total": "counter", "crated_response_bytes_total": "counter",
            "crated_request_duration_seconds": "histogram",
            "crated_cache_hits_total": "counter", "crated_cache_misses_total": "counter",
            "crated_stale_serves_total": "counter", "crated_revalidations_total": "counter",
            "crated_negative_hits_total": "counter", "crated_upstream_requests_total": "counter",
            "crated_upstream_duration_seconds": "histogram",
            "crated_coalesced_waiters_total": "counter",
            "crated_prefetched_index_files_total": "counter",
            "crated_prefetch_joins_total": "counter",
            "crated_prefetch_dropped_total": "counter",
            "crated_crate_fetches_total": "counter", "crated_checksum_failures_total": "counter",
            "crated_relayed_writes_total": "counter", "crated_cache_bytes": "gauge",
            "crated_cache_files": "gauge", "crated_evictions_total": "counter",
            "crated_open_connections": "gauge",
        }
        for fam, typ in want.items():
            self.assertEqual(ex.types.get(fam), typ, "TYPE of %s" % fam)
        # histograms exist with data for the routes used
        n = ex.get("crated_request_duration_seconds_count", registry="mirror", route="download")
        self.assertEqual(n, 1)
        self.assertEqual(ex.get("crated_request_duration_seconds_bucket", registry="mirror",
                                route="download", le="+Inf"), 1)
        self.assertGreater(ex.get("crated_request_duration_seconds_sum", registry="mirror",
                                  route="download"), 0)
        self.assertGreaterEqual(ex.get("crated_upstream_duration_seconds_count",
                                       registry="mirror"), 1)
        self.assertEqual(ex.get("crated_requests_total", registry="", route="index",
                                status="404"), 1)
        # the parser itself refuses what is not exposition text
        bad = Exposition("# TYPE x counter\nx{a=\"1\" 2\ny 1\nx{a=\"1\"} one\n")
        self.assertEqual(len(bad.problems), 3, bad.problems)
        h = Exposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
                       'h_sum 1\nh_count 1\n')
        self.assertTrue(h.histogram_problems())

    def test_health(self):
        r = self.srv.get("/-/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.strip(), b"ok")
        r = self.srv.request("HEAD", "/-/health")
        self.assertEqual(r.status, 200, r)
        # health does not depend on any upstream
        self.si.stop()
        self.si2.stop()
        self.assertEqual(self.srv.get("/-/health").status, 200)
        doc, regs = self.ready()
        self.assertEqual(doc["status"], "ready")

    def test_upstream_requests_total_counts_every_upstream_request(self):
        # crated_upstream_requests_total{kind,outcome} is documented as
        # "Upstream requests, by kind and outcome": every request crated
        # sends to the upstream (index files, config.json, .crate files)
        # should be counted under some kind.
        base = self.scrape()
        m0 = self.si.mark()
        r = self.srv.get("/mirror/api/v1/crates/mx-solo/1.0.0/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.crates["mx-solo"])
        sent = [(q.method, q.path) for q in self.si.since(m0)]
        after = self.scrape()
        counted = {dict(l).get("kind"): v - base.samples.get(("crated_upstream_requests_total", l), 0)
                   for l, v in after.series("crated_upstream_requests_total").items()
                   if dict(l).get("registry") == "mirror"}
        total = sum(counted.values())
        self.assertEqual(total, len(sent),
                         "the upstream got %d requests %r, crated_upstream_requests_total counted "
                         "%d (by kind: %r)" % (len(sent), sent, total, counted))


if __name__ == "__main__":
    harness.main()
