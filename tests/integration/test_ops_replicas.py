#!/usr/bin/env python3
"""Operations: two crated replicas behind nginx (deploy/nginx-replicas.conf).

An upstream crated serves a hosted registry "up". Two replicas A and B
each serve a mirror of it, "mirror" (relay_writes = true, index_ttl = 300),
with the same public_url (nginx's), each other in `peers` and the same
secret in PEER_SECRET. nginx, with the `map $uri $crate` block taken from
deploy/nginx-replicas.conf and `hash $crate consistent` over A and B, is
what cargo talks to.

* Real `cargo publish` through nginx of rp-crate 0.1.0 and then, after
  BOTH replicas have cached its index file (a second read of each is
  answered without the upstream), of 0.2.0: cargo finishes without
  "timeout waiting", and right after, the index read directly from A, from
  B and through nginx shows 0.2.0. Exactly one replica relayed the
  publish (crated_relayed_writes_total); the other logged the peer's purge
  and went to the upstream for its next read: its 300 s copy was dropped.
* /-/purge with a wrong, missing or differently-schemed secret is refused
  with 403 and drops nothing; with the secret it is accepted.

Skipped when nginx is not installed (Debian/Ubuntu package: nginx)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import free_port  # noqa: E402
import standins as S  # noqa: E402
from harness import index_path  # noqa: E402
from harness import Exposition  # noqa: E402

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
DEPLOY_CONF = os.path.join(harness.REPO, "deploy", "nginx-replicas.conf")
CRATE = "rp-crate"


def map_block():
    """The `map $uri $crate { ... }` block of the deploy example."""
    with open(DEPLOY_CONF) as f:
        text = f.read()
    m = re.search(r"^map \$uri \$crate \{.*?^\}", text, re.S | re.M)
    if not m:
        raise AssertionError("no `map $uri $crate` block in %s" % DEPLOY_CONF)
    return m.group(0)


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log info;
events { worker_connections 256; }
http {
    client_body_temp_path %(tmp)s/nginx-tmp/body;
    proxy_temp_path %(tmp)s/nginx-tmp/proxy;
    fastcgi_temp_path %(tmp)s/nginx-tmp/fastcgi;
    uwsgi_temp_path %(tmp)s/nginx-tmp/uwsgi;
    scgi_temp_path %(tmp)s/nginx-tmp/scgi;

%(map)s

    upstream crated {
        hash $crate consistent;
        server 127.0.0.1:%(pa)d max_fails=3 fail_timeout=10s;
        server 127.0.0.1:%(pb)d max_fails=3 fail_timeout=10s;
        keepalive 8;
    }

    log_format crated '$remote_addr "$request" $status $body_bytes_sent '
                      'crate=$crate replica=$upstream_addr';

    server {
        listen 127.0.0.1:%(pn)d;
        access_log %(tmp)s/nginx-access.log crated;
        client_max_body_size 50m;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 5s;
        proxy_read_timeout 60s;
        proxy_send_timeout 60s;
        proxy_buffering off;
        proxy_request_buffering on;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries 2;

        location = /-/metrics { return 404; }
        location = /-/purge { return 404; }
        location / {
            proxy_pass http://crated;
        }
    }
}
"""


class Nginx:
    def __init__(self, tmp, pa, pb, pn):
        self.tmp = tmp
        self.port = pn
        os.makedirs(os.path.join(tmp, "nginx-tmp"), exist_ok=True)
        self.conf = os.path.join(tmp, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF % {"tmp": tmp, "map": map_block(), "pa": pa, "pb": pb, "pn": pn})
        self.err = os.path.join(tmp, "nginx-error.log")
        self.access = os.path.join(tmp, "nginx-access.log")
        p = subprocess.run([NGINX, "-t", "-p", tmp, "-e", self.err, "-c", self.conf],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError("nginx -t refused the configuration:\n%s"
                                 % p.stderr.decode(errors="replace"))
        with open(os.path.join(tmp, "nginx.stderr"), "wb") as ef:
            self.proc = subprocess.Popen([NGINX, "-p", tmp, "-e", self.err, "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=ef)
        harness._live_procs.append(self.proc)
        if not harness.wait_until(lambda: harness.port_answers(pn) or self.proc.poll() is not None,
                                  10) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("nginx did not start listening on %d:\n%s"
                                 % (pn, self.log_tail()))

    def log_tail(self, n=20):
        out = []
        for p in (self.err, os.path.join(self.tmp, "nginx.stderr")):
            try:
                with open(p, errors="replace") as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    def access_lines(self):
        try:
            with open(self.access, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def get(self, path, headers=None):
        return harness.http_request(self.port, "GET", path, headers=headers)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@unittest.skipIf(NGINX is None, "nginx is not installed (Debian/Ubuntu package: nginx)")
class ReplicasTest(harness.TestCase):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.secret = "peer-" + os.urandom(12).hex()
        self.up = self.start_crated(name="upstream", data_dir=os.path.join(self.tmp, "updata"),
                                    registries="[registries.up]\n")
        up_index = "sparse+%s/up/" % self.up.url
        pa, pb, pn = free_port(), free_port(), free_port()
        while len({pa, pb, pn}) < 3:
            pb, pn = free_port(), free_port()
        self.public = "http://127.0.0.1:%d" % pn
        self.reps = {}
        for tag, mine, other in (("A", pa, pb), ("B", pb, pa)):
            extra = ('public_url = "%s"\nmax_connections_per_client = 0\n'
                     'peers = ["http://127.0.0.1:%d"]\npeer_token_env = "PEER_SECRET"\n'
                     % (self.public, other))
            self.reps[tag] = self.start_crated(
                name="replica" + tag, data_dir=os.path.join(self.tmp, "data" + tag),
                listen=("127.0.0.1:%d" % mine,), config_extra=extra,
                env={"PEER_SECRET": self.secret},
                registries=S.mirror_toml("mirror", up_index, relay_writes=True, index_ttl=300))
            self.assertEqual(self.reps[tag].port, mine)
        self.nginx = Nginx(self.tmp, pa, pb, pn)
        self.addCleanup(self.nginx.stop)
        self.ipath = "/mirror/" + index_path(CRATE)
        self.up_ipath = "/up/" + index_path(CRATE)

    # helpers

    def versions(self, get, what):
        r = get(self.ipath)
        self.assertEqual(r.status, 200, "%s: %r" % (what, r))
        return [l["vers"] for l in S.parse_lines(r.body)]

    def upstream_index_reads(self):
        return len([a for a in S.access_log(self.up) if a[0] == "GET" and a[1] == self.up_ipath])

    def upstream_index_requests(self, srv):
        r = srv.get("/-/metrics")
        self.assertEqual(r.status, 200, r)
        ex = Exposition(r.text())
        return sum(v for l, v in ex.series("crated_upstream_requests_total").items()
                   if dict(l).get("registry") == "mirror" and dict(l).get("kind") == "index")

    def relayed(self, srv):
        r = srv.get("/-/metrics")
        self.assertEqual(r.status, 200, r)
        return Exposition(r.text()).get("crated_relayed_writes_total", registry="mirror",
                                        op="publish", outcome="ok")

    def publish(self, cargo, vers):
        d = harness.make_project(os.path.join(self.tmp, "proj-" + vers), CRATE, vers,
                                 publish="mirror", lib_rs="pub fn v() -> &'static str { \"%s\" }\n" % vers)
        t0 = time.monotonic()
        rc, out, err = cargo.run(["publish", "--registry", "mirror", "--no-verify", "--allow-dirty"],
                                 d, check=False, timeout=180)
        el = time.monotonic() - t0
        msg = ("cargo publish %s: rc %d after %.1f s\nstderr:\n%s\nreplica A:\n%s\nreplica B:\n%s\n"
               "nginx:\n%s" % (vers, rc, el, err[-3000:], self.reps["A"].log_tail(15),
                               self.reps["B"].log_tail(15), "\n".join(self.nginx.access_lines()[-15:])))
        self.assertEqual(rc, 0, msg)
        self.assertNotRegex(err, r"(?i)timeout waiting|timed out", msg)
        self.assertRegex(err, r"Published %s v%s" % (CRATE, re.escape(vers)), msg)
        return el, err

    def purge(self, srv, auth, body=None):
        h = {"Content-Type": "application/json"}
        if auth is not None:
            h["Authorization"] = auth
        body = body or json.dumps({"registry": "mirror", "crate": CRATE, "version": None}).encode()
        return srv.request("POST", "/-/purge", body=body, headers=h)

    # the test

    def test_publish_through_nginx_is_seen_by_every_replica(self):
        A, B = self.reps["A"], self.reps["B"]
        cargo = harness.Cargo(self.tmp, '[registries.mirror]\nindex = "sparse+%s/mirror/"\n' % self.public,
                        tokens={"mirror": "anything"})
        self.publish(cargo, "0.1.0")

        # both replicas hold the index file of rp-crate (0.1.0), for 300 s
        for tag in ("A", "B"):
            self.assertEqual(self.versions(self.reps[tag].get, "replica " + tag), ["0.1.0"])
        n = self.upstream_index_reads()
        for tag in ("A", "B"):
            self.assertEqual(self.versions(self.reps[tag].get, "replica " + tag), ["0.1.0"])
        self.assertEqual(self.upstream_index_reads(), n,
                         "a replica did not answer from its cache (index_ttl = 300)")
        relayed0 = {t: self.relayed(s) for t, s in self.reps.items()}
        upreq0 = {t: self.upstream_index_requests(s) for t, s in self.reps.items()}
        purges0 = {t: s.log_text().count("purged %s on a peer's word" % CRATE)
                   for t, s in self.reps.items()}

        el, err = self.publish(cargo, "0.2.0")
        seen = {
            "replica A": self.versions(A.get, "replica A"),
            "replica B": self.versions(B.get, "replica B"),
            "nginx": self.versions(self.nginx.get, "nginx"),
        }
        for what, vers in seen.items():
            self.assertEqual(vers, ["0.1.0", "0.2.0"],
                             "right after cargo publish (%.1f s), %s shows %r\nA:\n%s\nB:\n%s"
                             % (el, what, vers, A.log_tail(10), B.log_tail(10)))

        delta = {t: self.relayed(s) - relayed0[t] for t, s in self.reps.items()}
        self.assertEqual(sorted(delta.values()), [0, 1],
                         "want exactly one replica to relay the publish: %r" % delta)
        relay = [t for t, d in delta.items() if d == 1][0]
        other = "B" if relay == "A" else "A"
        # the other replica took the purge and dropped its 300 s copy
        purges = self.reps[other].log_text().count("purged %s on a peer's word" % CRATE)
        self.assertEqual(purges, purges0[other] + 1,
                         "replica %s (which did not relay) logged no purge:\n%s"
                         % (other, self.reps[other].log_tail(15)))
        self.assertEqual(self.reps[relay].log_text().count("purged %s on a peer's word" % CRATE),
                         purges0[relay])
        self.assertGreaterEqual(self.upstream_index_requests(self.reps[other]) - upreq0[other], 1,
                                "replica %s served 0.2.0 without asking the upstream?" % other)
        # nginx sent every request for the crate's index file to one replica
        hashed = sorted({re.search(r"replica=(\S+)", l).group(1)
                         for l in self.nginx.access_lines()
                         if '"GET %s ' % self.ipath in l and "replica=" in l})
        self.assertEqual(len(hashed), 1, "index requests of %s spread over %r" % (CRATE, hashed))
        print("\n    0.2.0 relayed by replica %s; cargo publish took %.2f s; nginx sends %s's "
              "index to %s (A is %d, B is %d)" % (relay, el, CRATE, hashed[0], A.port, B.port),
              file=sys.stderr)

    def test_purge_needs_the_peer_secret(self):
        A = self.reps["A"]
        # rp-crate in the upstream, cached by A
        crate = harness.make_crate(CRATE, "0.1.0")
        r = self.up.publish(harness.crate_meta(CRATE, "0.1.0"), crate, reg="up")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.versions(A.get, "replica A"), ["0.1.0"])
        crate2 = harness.make_crate(CRATE, "0.2.0")
        r = self.up.publish(harness.crate_meta(CRATE, "0.2.0"), crate2, reg="up")
        self.assertEqual(r.status, 200, r)
        n = self.upstream_index_reads()
        body = json.dumps({"registry": "mirror", "crate": CRATE, "version": "0.2.0"}).encode()
        for what, auth in (("wrong", "Crated-Peer wrong-" + self.secret),
                           ("missing", None),
                           ("truncated", "Crated-Peer " + self.secret[:-1]),
                           ("bearer", "Bearer " + self.secret),
                           ("bare", self.secret)):
            with self.subTest(auth=what):
                r = self.purge(A, auth, body)
                self.assertEqual(r.status, 403, r)
        # nothing was dropped: A still answers from its copy
        self.assertEqual(self.versions(A.get, "replica A"), ["0.1.0"])
        self.assertEqual(self.upstream_index_reads(), n)
        self.assertNotIn(self.secret, A.log_text())
        # through nginx, /-/purge is not reachable at all
        r = harness.http_request(self.nginx.port, "POST", "/-/purge", body=body,
                                 headers={"Authorization": "Crated-Peer " + self.secret})
        self.assertEqual(r.status, 404, r)
        # with the secret: accepted, and A asks the upstream again
        r = self.purge(A, "Crated-Peer " + self.secret, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.versions(A.get, "replica A"), ["0.1.0", "0.2.0"])
        self.assertEqual(self.upstream_index_reads(), n + 1)


if __name__ == "__main__":
    harness.main()
