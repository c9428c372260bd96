#!/usr/bin/env python3
"""The object-store client (issue 26) against real servers: `crated check`
probing the SigV4-verifying S3 stand-in and Azurite (good credentials,
wrong key, session token, SAS, store down, 5xx, a store that ignores
conditional writes, a missing bucket or container); crated refusing to
start on a malformed storage URL or missing credentials; /-/ready and
/-/metrics reporting the store; no credential ever in crated's output.
And once: the stand-in's signature check agrees with botocore's signer.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azurite  # noqa: E402
import harness  # noqa: E402
from s3_standin import S3StandIn  # noqa: E402

KEY_ID = "AKIDCRATEDTEST"
SECRET = "s3cr3t/Key+with=signs0123456789abcdef"
TOKEN = "FQoGZXIvYXdzEXAMPLEsessionTOKENvalue=="
# The test process's own cloud settings must not reach crated.
NO_CLOUD = {k: None for k in (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN")}
S3_ENV = dict(NO_CLOUD, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
SYSTEM_PYTHON = "/usr/bin/python3"     # Debian's, where python3-botocore is
DRIVER = os.environ.get("CRATED_OBJSTORE_DRIVER",
                        os.path.join(harness.REPO, "build", "tests", "objstore_driver"))


def env_with(**kw):
    e = dict(NO_CLOUD)
    e.update(kw)
    return e


class Base(harness.TestCase):
    def config(self, storage, endpoint=None, extra="", registries=None):
        text = 'storage = "%s"\n' % storage
        if endpoint:
            text += 'storage_endpoint = "%s"\n' % endpoint
        text += extra
        path = os.path.join(self.tmp, "crated.toml")
        harness.write_config(path, os.path.join(self.tmp, "data"), extra=text,
                             registries=registries or "[registries.local]\n")
        return path

    def check(self, cfg, env):
        # Leaks are checked here too (ASan builds): crated check ran
        # every request path of the client.
        rc, out, err = harness.run_crated(["check", "--config", cfg],
                                          env=env, timeout=60)
        harness.check_sanitizer(err, "crated check's stderr")
        return rc, out, err

    def line_of(self, cfg, text):
        """The number of the last line of cfg that is text."""
        with open(cfg) as f:
            lines = f.read().splitlines()
        return len(lines) - lines[::-1].index(text)

    def wait_log(self, srv, pattern, timeout=10):
        found = harness.wait_log(srv, pattern, timeout)
        self.assertTrue(found, "no log line /%s/; log:\n%s" % (pattern, srv.log_tail()))

    def storage_line(self, out):
        lines = [l for l in out.splitlines() if l.startswith("storage ")]
        self.assertEqual(len(lines), 1, out)
        return lines[0]

    def assertNoSecret(self, text, *secrets):
        for s in secrets:
            self.assertNotIn(s, text)


def drive(url, endpoint, env, *ops):
    """Runs tests/tools/objstore_driver: ops are lists of words; one
    parsed answer per op."""
    args = [DRIVER, url, endpoint]
    for i, op in enumerate(ops):
        args += (["--"] if i else []) + list(op)
    p = subprocess.run(args, env=harness.clean_env(env), capture_output=True, text=True,
                       timeout=120)
    harness.check_sanitizer(p.stderr, "objstore_driver's stderr")
    if p.returncode != 0:
        raise AssertionError("objstore_driver failed (%d): %s %s" % (p.returncode,
                                                                     p.stdout, p.stderr))
    out = [json.loads(l) for l in p.stdout.splitlines()]
    if len(out) != len(ops):
        raise AssertionError("objstore_driver: %d answers to %d operations" %
                             (len(out), len(ops)))
    return out


class Operations:
    """The client's requests against a real store (mixed into a class
    that sets url, endpoint and env, and says delete_missing: what a
    DELETE of a missing key gives on that cloud)."""

    def one(self, *op):
        return drive(self.url, self.endpoint, self.env, op)[0]

    def status(self, *op):
        r = self.one(*op)
        return r["results"][0]["status"] if r["results"] else r["status"]

    def test_reads_writes_and_conditions(self):
        key = "R/crates/a+b/x y~%d.crate" % os.getpid()
        r = drive(self.url, self.endpoint, self.env,
                  ["put", key, "v1", "create"], ["put", key, "v1 again", "create"],
                  ["get", key])
        created, again, got = [x["results"][0] for x in r]
        self.assertEqual(created["status"], "OK", created)
        self.assertRegex(created["etag"], r'^"[^"]+"$')
        self.assertEqual(again["status"], "CONFLICT", again)
        self.assertEqual((got["status"], got["body"], got["etag"]),
                         ("OK", "v1", created["etag"]))
        e1 = created["etag"]
        self.assertEqual(self.status("get", key, e1), "NOT_MODIFIED")
        upd = self.one("put", key, "v2", "match", e1)["results"][0]
        self.assertEqual(upd["status"], "OK", upd)
        self.assertNotEqual(upd["etag"], e1)
        self.assertEqual(self.status("put", key, "v3", "match", e1), "CONFLICT",
                         "a stale If-Match is refused")
        self.assertEqual(self.one("get", key, e1)["results"][0].get("body"), "v2",
                         "a changed object is sent again")
        listing = self.one("list", key)
        self.assertEqual(listing["keys"], [{"key": key, "etag": upd["etag"], "size": 2}])
        self.assertEqual(self.status("del", key, e1), "CONFLICT")
        self.assertEqual(self.status("del", key, upd["etag"]), "OK")
        self.assertEqual(self.status("get", key), "NOT_FOUND")
        self.assertEqual(self.status("del", key), self.delete_missing)
        self.assertEqual(self.status("put", key, "v4", "match", e1),
                         "NOT_FOUND" if self.delete_missing == "OK" else "CONFLICT",
                         "If-Match on a missing object")

    def test_empty_object(self):
        key = "R/names/empty%d" % os.getpid()
        put = self.one("put", key, "", "create")["results"][0]
        self.assertEqual(put["status"], "OK", put)
        got = self.one("get", key)["results"][0]
        self.assertEqual((got["status"], got.get("body")), ("OK", None))
        self.assertEqual(self.one("list", key)["keys"][0]["size"], 0)

    def test_keys_refused(self):
        for key in ("R/../x", "R/./x", "..", "/R/x", "R//x", ""):
            r = self.one("put", key, "v")["results"][0]
            self.assertEqual(r["status"], "ERROR", key)
            self.assertIn("a key has", r["error"])
        self.assertEqual(self.one("get", "R/..x")["results"][0]["status"], "NOT_FOUND",
                         "dots inside a segment are a name")

    def test_concurrent_conditional_writers(self):
        """20 replicas' writes at once: exactly one wins, each time."""
        key = "R/index/3/r/race%d" % os.getpid()
        first = self.one("put", key, "start", "create")["results"][0]
        r = drive(self.url, self.endpoint, self.env,
                  ["race", "20", key, "x", first["etag"]],
                  ["racecreate", "20", key + "-new"], ["get", key])
        for answers in (r[0]["results"], r[1]["results"]):
            statuses = sorted(a["status"] for a in answers)
            self.assertEqual(statuses, ["CONFLICT"] * 19 + ["OK"], answers)
        winner = [a for a in r[0]["results"] if a["status"] == "OK"][0]
        self.assertEqual(r[2]["results"][0]["etag"], winner["etag"])
        self.assertRegex(r[2]["results"][0]["body"], r"^writer \d+\n$")

    def test_listing_in_key_order(self):
        base = "R/list%d/" % os.getpid()
        keys = [base + k for k in ("a", "b c", "b+c", "index/1/x", "z~")]
        drive(self.url, self.endpoint, self.env, *[["put", k, k] for k in keys])
        got = self.one("listall", base)
        self.assertEqual(got["status"], "OK", got)
        self.assertEqual([e["key"] for e in got["keys"]], sorted(keys))
        self.assertEqual(self.one("listall", base + "index/")["keys"][0]["key"],
                         base + "index/1/x")
        self.assertEqual(self.one("listall", base + "none")["keys"], [])


class S3Operations(Operations, harness.TestCase):
    delete_missing = "OK"      # S3 answers 204 either way

    def setUp(self):
        super().setUp()
        self.s3 = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET})
        self.addCleanup(self.s3.stop)
        self.url, self.endpoint, self.env = "s3://crates/ops", self.s3.endpoint, S3_ENV

    def tearDown(self):
        self.assertEqual(self.s3.mismatches, [], "signatures the stand-in refused")

    def test_standin_keeps_a_directory(self):
        d = os.path.join(self.tmp, "s3dir")
        a = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET}, directory=d)
        put = drive("s3://crates", a.endpoint, S3_ENV, ["put", "R/a b", "kept"],
                    ["put", "R/gone", "x"], ["del", "R/gone"])[0]["results"][0]
        a.stop()
        b = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET}, directory=d)
        self.addCleanup(b.stop)
        got = drive("s3://crates", b.endpoint, S3_ENV, ["get", "R/a b"])[0]["results"][0]
        self.assertEqual((got["body"], got["etag"]), ("kept", put["etag"]))
        self.assertEqual(b.keys(), ["R/a b"])

    def test_listing_pages(self):
        self.s3.max_page = 2
        keys = ["R/p/%d" % i for i in range(7)]
        drive(self.url, self.endpoint, self.env, *[["put", k, "x"] for k in keys])
        page = self.one("list", "R/p/")
        self.assertEqual([e["key"] for e in page["keys"]], keys[:2])
        self.assertIsNotNone(page["next"])
        nxt = self.one("list", "R/p/", page["next"])
        self.assertEqual([e["key"] for e in nxt["keys"]], keys[2:4])
        every = self.one("listall", "R/p/")
        self.assertEqual(([e["key"] for e in every["keys"]], every["pages"], every["next"]),
                         (keys, 4, None))


class S3Check(Base):
    def setUp(self):
        super().setUp()
        self.s3 = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET})
        self.addCleanup(self.s3.stop)

    def test_good_credentials(self):
        cfg = self.config("s3://crates/team/a", self.s3.endpoint,
                          registries="[registries.local]\n[registries.other]\n")
        rc, out, err = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 0, out + err)
        line = self.storage_line(out)
        self.assertRegex(line, r"^storage s3://crates/team/a: ok: credentials accepted;"
                         r" create-only and If-Match writes honoured \([0-9.]+ ms a"
                         r" request; registries local, other\)$")
        self.assertEqual(self.s3.mismatches, [])
        methods = [(m, p.split("?")[0]) for m, p, _ in self.s3.requests]
        self.assertEqual([m for m, _ in methods], ["PUT", "PUT", "GET", "GET", "PUT", "DELETE"])
        self.assertTrue(all(p.startswith("/crates/team/a/crated-probe/") or
                            p == "/crates/" for _, p in methods), methods)
        self.assertEqual(self.s3.keys(), [], "the probe object is deleted")
        self.assertNoSecret(out + err, SECRET)

    def test_registry_storage_of_its_own(self):
        cfg = self.config("s3://crates/top", self.s3.endpoint, registries=(
            "[registries.local]\n[registries.own]\nstorage = \"s3://crates/own\"\n"))
        rc, out, err = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 0, out + err)
        lines = sorted(l for l in out.splitlines() if l.startswith("storage "))
        self.assertEqual(len(lines), 2, out)
        self.assertIn("storage s3://crates/own: ok:", lines[0])
        self.assertIn("registries own)", lines[0])
        self.assertIn("storage s3://crates/top: ok:", lines[1])
        self.assertIn("registries local)", lines[1])

    def test_wrong_secret(self):
        cfg = self.config("s3://crates", self.s3.endpoint)
        bad = "wrong" + SECRET
        rc, out, err = self.check(cfg, dict(S3_ENV, AWS_SECRET_ACCESS_KEY=bad))
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://crates: denied:", line)
        self.assertIn("HTTP 403 (SignatureDoesNotMatch", line)
        self.assertIn("check the credentials", line)
        self.assertNoSecret(out + err, bad, SECRET)

    def test_unknown_key_id(self):
        cfg = self.config("s3://crates", self.s3.endpoint)
        rc, out, _ = self.check(cfg, dict(S3_ENV, AWS_ACCESS_KEY_ID="AKIDNOBODY"))
        self.assertEqual(rc, 1, out)
        self.assertIn("denied:", out)
        self.assertIn("InvalidAccessKeyId", out)

    def test_session_token(self):
        self.s3.session_token = TOKEN
        cfg = self.config("s3://crates", self.s3.endpoint)
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        self.assertIn("InvalidToken", out)
        rc, out, err = self.check(cfg, dict(S3_ENV, AWS_SESSION_TOKEN=TOKEN))
        self.assertEqual(rc, 0, out + err)
        self.assertNoSecret(out + err, TOKEN, SECRET)
        self.assertTrue(all(h.get("x-amz-security-token") == TOKEN
                            for _, _, h in self.s3.requests[-6:]))

    def test_region_from_the_configuration(self):
        self.s3.region = "eu-west-3"
        cfg = self.config("s3://crates", self.s3.endpoint)
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, "signed for us-east-1: refused\n" + out)
        cfg = self.config("s3://crates", self.s3.endpoint, 'storage_region = "eu-west-3"\n')
        rc, out, err = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.check(self.config("s3://crates", self.s3.endpoint),
                                  dict(S3_ENV, AWS_REGION="eu-west-3"))
        self.assertEqual(rc, 0, out + err)

    def test_credentials_file(self):
        creds = os.path.join(self.tmp, "s3.env")
        with open(creds, "w") as f:
            f.write("# for crated\nAWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=\"%s\"\n"
                    % (KEY_ID, SECRET))
        cfg = self.config("s3://crates", self.s3.endpoint,
                          'storage_credentials_file = "%s"\n' % creds)
        rc, out, err = self.check(cfg, NO_CLOUD)
        self.assertEqual(rc, 0, out + err)
        self.assertNoSecret(out + err, SECRET)

    def test_store_down(self):
        cfg = self.config("s3://crates", self.s3.endpoint)
        self.s3.stop()
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://crates: unreachable:", line)
        self.assertIn("PUT crated-probe/", line)

    def test_store_hangs(self):
        """A store that takes requests and never answers: given up after
        the client's stall limit (10 s without a byte), not waited on."""
        cfg = self.config("s3://crates", self.s3.endpoint)
        self.s3.hang()
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://crates: unreachable:", line)
        self.assertIn("Operation too slow", line)
        self.assertEqual([m for m, _, _ in self.s3.requests], ["PUT"],
                         "a write is sent once, never again")

    def test_store_answers_5xx(self):
        cfg = self.config("s3://crates", self.s3.endpoint)
        self.s3.fail(503)
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://crates: failing:", line)
        self.assertIn("HTTP 503 (SlowDown", line)

    def test_store_ignores_conditions(self):
        cfg = self.config("s3://crates", self.s3.endpoint)
        self.s3.ignore_conditions = True
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://crates: unusable:", line)
        self.assertIn("If-None-Match", line)

    def test_missing_bucket(self):
        cfg = self.config("s3://nobucket", self.s3.endpoint)
        rc, out, _ = self.check(cfg, S3_ENV)
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage s3://nobucket: missing:", line)
        self.assertIn("NoSuchBucket", line)


BOTO_SIGN = r"""
import json, sys
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.loads(sys.stdin.read())
req = AWSRequest(method=a["method"], url=a["url"], data=a["body"].encode(),
                 headers=a["headers"])
S3SigV4Auth(Credentials(a["key"], a["secret"], a.get("token")), "s3",
            a["region"]).add_auth(req)
print(json.dumps(dict(req.headers.items())))
"""


class BotocoreAgrees(Base):
    """The stand-in's SigV4 check is the tests' judge of crated's S3
    requests: it must accept what AWS's own signer (botocore) signs and
    refuse what was changed after signing."""

    def setUp(self):
        super().setUp()
        ok = subprocess.run([SYSTEM_PYTHON, "-c", "import botocore"],
                            capture_output=True).returncode == 0
        if not ok:
            self.skipTest("python3-botocore is not installed (./dev.sh test installs it)")
        self.s3 = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET},
                            session_token=TOKEN)
        self.addCleanup(self.s3.stop)

    def sign(self, method, path, body=b"", headers=None):
        a = {"method": method, "url": self.s3.endpoint + path, "body": body.decode(),
             "headers": headers or {}, "key": KEY_ID, "secret": SECRET, "token": TOKEN,
             "region": "us-east-1"}
        p = subprocess.run([SYSTEM_PYTHON, "-c", BOTO_SIGN], input=json.dumps(a),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def send(self, method, path, headers, body=b""):
        c = http.client.HTTPConnection("127.0.0.1", self.s3.port, timeout=15)
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            c.putheader("Host", "127.0.0.1:%d" % self.s3.port)
            for k, v in headers.items():
                c.putheader(k, v)
            c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_botocore_signed_requests_pass_and_tampered_ones_fail(self):
        body = b'{"name":"serde","vers":"1.0.0"}\n'
        h = self.sign("PUT", "/crates/R/index/se/rd/serde", body,
                      {"Content-Type": "text/plain", "If-None-Match": "*"})
        self.assertEqual(self.send("PUT", "/crates/R/index/se/rd/serde", h, body)[0], 200)
        self.assertEqual(self.s3.get("crates", "R/index/se/rd/serde"), body)
        # a query with characters curl 7.88 would not sort or encode
        q = "?list-type=2&prefix=R%2Findex%2F&max-keys=5"
        h = self.sign("GET", "/crates/" + q)
        status, xml = self.send("GET", "/crates/" + q, h)
        self.assertEqual(status, 200, xml)
        self.assertIn(b"<Key>R/index/se/rd/serde</Key>", xml)
        h = self.sign("HEAD", "/crates/R/index/se/rd/serde")
        self.assertEqual(self.send("HEAD", "/crates/R/index/se/rd/serde", h), (200, b""))
        h = self.sign("GET", "/crates/R/index/se/rd/serde", headers={"If-Match": '"stale"'})
        self.assertEqual(self.send("GET", "/crates/R/index/se/rd/serde", h)[0], 412)
        h = self.sign("GET", "/crates/R/crates/a%2Bb/x%20y.crate")
        self.assertEqual(self.send("GET", "/crates/R/crates/a%2Bb/x%20y.crate", h)[0], 404,
                         "signed over an encoded key: verified, then not found")
        # tampered: another key, another header value, another body
        h = self.sign("GET", "/crates/R/index/se/rd/serde")
        status, xml = self.send("GET", "/crates/R/index/se/rd/serdf", h)
        self.assertEqual(status, 403)
        self.assertIn(b"SignatureDoesNotMatch", xml)
        h = self.sign("PUT", "/crates/R/x", b"a", {"Content-Type": "text/plain"})
        h["Content-Type"] = "application/json"
        self.assertEqual(self.send("PUT", "/crates/R/x", h, b"a")[0], 403)
        h = self.sign("PUT", "/crates/R/x", b"a", {"Content-Type": "text/plain"})
        self.assertEqual(self.send("PUT", "/crates/R/x", h, b"b")[0], 400,
                         "a body that is not the one signed")
        h = self.sign("GET", "/crates/R/index/se/rd/serde")
        del h["X-Amz-Security-Token"]
        self.assertEqual(self.send("GET", "/crates/R/index/se/rd/serde", h)[0], 403)
        self.assertEqual(self.s3.keys(), ["R/index/se/rd/serde"])


NO_AZURITE = "Azurite is not installed in tests/node (./dev.sh test runs npm ci there)"


@unittest.skipUnless(azurite.installed(), NO_AZURITE)
class AzureOperations(Operations, harness.TestCase):
    delete_missing = "NOT_FOUND"

    @classmethod
    def setUpClass(cls):
        cls.az_tmp = harness.make_tempdir()
        cls.az = azurite.Azurite(cls.az_tmp)
        cls.az.create_container("ops")

    @classmethod
    def tearDownClass(cls):
        cls.az.stop()
        harness.remove_tempdir(cls.az_tmp)

    def setUp(self):
        super().setUp()
        self.url, self.endpoint = "azblob://devstoreaccount1/ops/pre", self.az.endpoint
        self.env = env_with(AZURE_STORAGE_KEY=azurite.KEY)

    def test_sas_operations(self):
        self.env = env_with(AZURE_STORAGE_SAS_TOKEN=azurite.account_sas())
        self.test_reads_writes_and_conditions()


@unittest.skipUnless(azurite.installed(), NO_AZURITE)
class AzureCheck(Base):
    @classmethod
    def setUpClass(cls):
        cls.az_tmp = harness.make_tempdir()
        cls.az = azurite.Azurite(cls.az_tmp)
        cls.az.create_container("crates")

    @classmethod
    def tearDownClass(cls):
        cls.az.stop()
        harness.remove_tempdir(cls.az_tmp)

    def test_shared_key(self):
        cfg = self.config("azblob://devstoreaccount1/crates/team", self.az.endpoint)
        rc, out, err = self.check(cfg, env_with(AZURE_STORAGE_KEY=azurite.KEY))
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(self.storage_line(out), r"^storage azblob://devstoreaccount1/crates/"
                         r"team: ok: credentials accepted; create-only and If-Match writes"
                         r" honoured \([0-9.]+ ms a request; registries local\)$")
        self.assertNoSecret(out + err, azurite.KEY)
        status, xml, _ = self.az.request("GET", "/crates", {"restype": "container",
                                                            "comp": "list"})
        self.assertEqual(status, 200)
        self.assertNotIn(b"crated-probe", xml, "the probe object is deleted")

    def test_wrong_key(self):
        cfg = self.config("azblob://devstoreaccount1/crates", self.az.endpoint)
        wrong = "d3Jvbmcga2V5IGZvciB0aGUgZGV2IGFjY291bnQgLSBjcmF0ZWQgdGVzdA=="
        rc, out, err = self.check(cfg, env_with(AZURE_STORAGE_KEY=wrong))
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("denied:", line)
        self.assertIn("HTTP 403 (AuthorizationFailure", line)
        self.assertNoSecret(out + err, wrong)

    def test_key_not_base64(self):
        cfg = self.config("azblob://devstoreaccount1/crates", self.az.endpoint)
        rc, out, _ = self.check(cfg, env_with(AZURE_STORAGE_KEY="not base64!"))
        self.assertEqual(rc, 1, out)
        self.assertIn("not usable:", out)
        self.assertIn("AZURE_STORAGE_KEY in the environment is not base64", out)
        self.assertNotIn("not base64!", out)

    def test_sas_token(self):
        sas = azurite.account_sas()
        cfg = self.config("azblob://devstoreaccount1/crates/sas", self.az.endpoint)
        rc, out, err = self.check(cfg, env_with(AZURE_STORAGE_SAS_TOKEN="?" + sas))
        self.assertEqual(rc, 0, out + err)
        sig = re.search(r"sig=([^&]+)", sas).group(1)
        self.assertNoSecret(out + err, sas, sig)

    def test_sas_never_logged(self):
        sas = azurite.account_sas()
        sig = re.search(r"sig=([^&]+)", sas).group(1)
        secrets = (sas, sig, urllib.parse.unquote(sig))
        down = "http://127.0.0.1:%d" % harness.free_port()
        env = env_with(AZURE_STORAGE_SAS_TOKEN=sas)
        # a read is retried once, with a log line naming its URL
        p = subprocess.run([DRIVER, "azblob://devstoreaccount1/crates", down, "get", "R/x"],
                           env=harness.clean_env(env), capture_output=True, text=True,
                           timeout=60)
        self.assertIn("upstream GET %s/devstoreaccount1/crates/R/x: connection refused"
                      % down, p.stderr)
        self.assertEqual(json.loads(p.stdout)["results"][0]["status"], "UNAVAILABLE")
        self.assertNoSecret(p.stdout + p.stderr, *secrets)
        cfg = self.config("azblob://devstoreaccount1/crates", down,
                          'log_level = "debug"\n')
        srv = self.start_crated(config_path=cfg, env=env)
        self.wait_log(srv, r"storage azblob://devstoreaccount1/crates: unavailable")
        self.assertNoSecret(srv.log_text(), *secrets)
        rc, out, err = self.check(cfg, env)
        self.assertEqual(rc, 1)
        self.assertNoSecret(out + err, *secrets)

    def test_sas_without_write_permission(self):
        sas = azurite.account_sas(permissions="rl")
        cfg = self.config("azblob://devstoreaccount1/crates", self.az.endpoint)
        rc, out, _ = self.check(cfg, env_with(AZURE_STORAGE_SAS_TOKEN=sas))
        self.assertEqual(rc, 1, out)
        self.assertIn("denied:", out)

    def test_missing_container(self):
        cfg = self.config("azblob://devstoreaccount1/nocontainer", self.az.endpoint)
        rc, out, _ = self.check(cfg, env_with(AZURE_STORAGE_KEY=azurite.KEY))
        self.assertEqual(rc, 1, out)
        line = self.storage_line(out)
        self.assertIn("storage azblob://devstoreaccount1/nocontainer: missing:", line)
        self.assertIn("ContainerNotFound", line)

    def test_store_down(self):
        cfg = self.config("azblob://devstoreaccount1/crates",
                          "http://127.0.0.1:%d" % harness.free_port())
        rc, out, _ = self.check(cfg, env_with(AZURE_STORAGE_KEY=azurite.KEY))
        self.assertEqual(rc, 1, out)
        self.assertIn("unreachable:", self.storage_line(out))

    def test_serve_reports_the_store(self):
        cfg = self.config("azblob://devstoreaccount1/crates", self.az.endpoint)
        srv = self.start_crated(config_path=cfg, env=env_with(AZURE_STORAGE_KEY=azurite.KEY))
        ready = harness.wait_value(lambda: json.loads(srv.get("/-/ready").body),
                                   lambda j: j["storage"][0]["state"] != "unknown", 10)
        st = ready["storage"][0]
        self.assertEqual(st["name"], "azblob://devstoreaccount1/crates")
        self.assertEqual(st["state"], "ok", st)
        self.assertGreater(st["latency_ms"], 0)
        self.assertEqual(ready["registries"][0]["storage"],
                         "azblob://devstoreaccount1/crates")
        harness.metrics(srv, clean=True)
        text = srv.get("/-/metrics").text()
        self.assertIn('crated_storage_up{store="azblob://devstoreaccount1/crates"} 1', text)
        self.assertRegex(text, r'crated_storage_latency_seconds\{store="azblob://'
                         r'devstoreaccount1/crates"\} [0-9.e-]+\n')
        self.assertNotIn(azurite.KEY, srv.log_text())


class Startup(Base):
    def config(self, storage, endpoint=None, extra="", registries=None):
        # Loopback only: never AWS's or Azure's own hosts, even where
        # the test expects no request.
        return super().config(storage, endpoint or "http://127.0.0.1:%d" %
                              harness.free_port(), extra, registries)

    def serve_fails(self, cfg, env):
        srv = harness.start_crated(self.tmp, config_path=cfg, env=env, wait=False)
        rc = srv.wait_exit(30)
        if rc is None:
            srv.stop(check=False)
            self.fail("crated started; log:\n" + srv.log_tail())
        self.assertNotEqual(rc, 0)
        return srv.log_text()

    def test_malformed_urls(self):
        for url, why in (("s3://ab", 'bucket "ab": use 3 to 63'),
                         ("s3:/bucket", "must be s3://BUCKET[/PREFIX] or azblob://"),
                         ("gs://bucket", "must be s3://BUCKET[/PREFIX] or azblob://"),
                         ("s3://bucket/a//b", 'prefix "a//b"'),
                         ("s3://bucket/../x", 'prefix "../x"'),
                         ("azblob://devstoreaccount1", 'container ""'),
                         ("azblob://Dev/crates", 'storage account "Dev"')):
            cfg = self.config(url)
            n = self.line_of(cfg, 'storage = "%s"' % url)
            log = self.serve_fails(cfg, S3_ENV)
            self.assertIn("%s:%d: storage: %s" % (cfg, n, why), log)
            rc, out, _ = self.check(cfg, S3_ENV)
            self.assertEqual(rc, 1)
            self.assertIn("%s:%d: storage: %s" % (cfg, n, why), out)

    def test_missing_credentials(self):
        cfg = self.config("s3://crates")
        n = self.line_of(cfg, 'storage = "s3://crates"')
        log = self.serve_fails(cfg, dict(NO_CLOUD, AWS_ACCESS_KEY_ID=KEY_ID))
        self.assertIn("%s:%d: storage: s3://crates: no S3 credentials: set"
                      " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                      % (cfg, n), log)
        self.assertNotIn(KEY_ID, log)
        cfg = self.config("azblob://devstoreaccount1/crates")
        log = self.serve_fails(cfg, NO_CLOUD)
        self.assertIn("%s:%d: storage: azblob://devstoreaccount1/crates: no Azure"
                      " credentials: set AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN"
                      % (cfg, n), log)

    def test_registry_storage_line(self):
        cfg = self.config("s3://crates", registries=(
            '[registries.local]\n\n[registries.own]\nstorage = "azblob://acct/own"\n'))
        line = self.line_of(cfg, 'storage = "azblob://acct/own"')
        log = self.serve_fails(cfg, S3_ENV)
        self.assertIn("%s:%d: storage: azblob://acct/own: no Azure credentials" % (cfg, line),
                      log)

    def test_overlapping_stores(self):
        top_level = "the top-level storage"
        for top, own, other in (("s3://crates/a", "s3://crates/a", top_level),
                                ("s3://crates", "s3://crates/own", top_level),
                                ("s3://crates/a/b", "s3://crates/a", top_level),
                                ("azblob://acct/ct1", "azblob://acct/ct1/x", top_level),
                                ("s3://other", "s3://crates/x", "registries.two.storage")):
            cfg = self.config(top, registries=(
                '[registries.local]\n[registries.one]\nstorage = "%s"\n'
                '[registries.two]\nstorage = "s3://crates/x/y"\n' % own))
            n = self.line_of(cfg, 'storage = "%s"' % own)
            log = self.serve_fails(cfg, S3_ENV)
            self.assertIn("%s:%d: registries.one.storage: %s overlaps %s: their keys"
                          " would mix" % (cfg, n, own, other), log)
        for top, own in (("s3://crates/a", "s3://crates/ab"), ("s3://crates/a", "s3://other/a"),
                         ("azblob://acct/ct1", "azblob://acct/ct2"),
                         ("azblob://crates/ct1", "s3://crates/ct1")):
            cfg = self.config(top, registries='[registries.local]\n[registries.one]\n'
                              'storage = "%s"\n' % own)
            rc, out, _ = self.check(cfg, env_with(AZURE_STORAGE_KEY=azurite.KEY,
                                                  AWS_ACCESS_KEY_ID=KEY_ID,
                                                  AWS_SECRET_ACCESS_KEY=SECRET))
            self.assertNotIn("overlaps", out, (top, own))

    def test_missing_credentials_file(self):
        missing = os.path.join(self.tmp, "nope.env")
        cfg = self.config("s3://crates", extra='storage_credentials_file = "%s"\n' % missing)
        log = self.serve_fails(cfg, S3_ENV)
        self.assertIn("storage: storage_credentials_file %s: No such file" % missing, log)

    def test_settings_without_storage(self):
        path = os.path.join(self.tmp, "crated.toml")
        harness.write_config(path, os.path.join(self.tmp, "data"),
                             extra='storage_endpoint = "http://127.0.0.1:1"\n')
        log = self.serve_fails(path, NO_CLOUD)
        self.assertIn("storage_endpoint, storage_region and storage_credentials_file need"
                      " a storage URL", log)

    def test_storage_change_needs_a_restart(self):
        s3 = S3StandIn(buckets=["crates", "other"], creds={KEY_ID: SECRET})
        self.addCleanup(s3.stop)
        cfg = self.config("s3://crates", s3.endpoint, 'log_level = "debug"\n')
        srv = self.start_crated(config_path=cfg, env=S3_ENV)
        self.wait_log(srv, r"registry local: object store s3://crates, keys under \"local/\"")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("s3://crates", "s3://other"))
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log(srv, r"SIGHUP: keeping the running configuration: storage changed")
        with open(cfg, "w") as f:
            f.write(text)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_log(srv, r"SIGHUP: configuration .* reloaded")
        ready = harness.wait_value(lambda: json.loads(srv.get("/-/ready").body),
                                   lambda j: j["storage"][0]["state"] != "unknown", 10)
        self.assertEqual(ready["storage"][0]["state"], "ok", ready)
        self.assertEqual(s3.mismatches, [])
        log = srv.log_text()
        self.assertNoSecret(log, SECRET)

    def test_ready_names_the_store_to_ops_readers_only(self):
        s3 = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET})
        self.addCleanup(s3.stop)
        cfg = self.config("s3://crates/secret-prefix", s3.endpoint,
                          'ops_access = "token"\nops_token_env = "OPS"\n')
        srv = self.start_crated(config_path=cfg, env=dict(S3_ENV, OPS="opsecret"))
        ready = harness.wait_value(lambda: json.loads(srv.get("/-/ready").body),
                                   lambda j: j["storage"][0]["state"] != "unknown", 10)
        self.assertEqual(ready["storage"][0]["state"], "ok", ready)
        self.assertNotIn("secret-prefix", json.dumps(ready))
        full = json.loads(srv.get("/-/ready", {"Authorization": "Bearer opsecret"}).body)
        self.assertEqual(full["storage"][0]["name"], "s3://crates/secret-prefix")
        self.assertEqual(full["registries"][0]["storage"], "s3://crates/secret-prefix")

    def test_store_down_reported(self):
        s3 = S3StandIn(buckets=["crates"], creds={KEY_ID: SECRET})
        self.addCleanup(s3.stop)
        cfg = self.config("s3://crates", s3.endpoint)
        s3.stop()
        srv = self.start_crated(config_path=cfg, env=S3_ENV)
        ready = harness.wait_value(lambda: json.loads(srv.get("/-/ready").body),
                                   lambda j: j["storage"][0]["state"] != "unknown", 20)
        self.assertEqual(ready["storage"][0]["state"], "unavailable", ready)
        self.assertEqual(srv.get("/-/ready").status, 200,
                         "reads are still served from local copies")
        self.wait_log(srv, r"storage s3://crates: unavailable: ")
        self.assertNoSecret(srv.log_text(), SECRET)


if __name__ == "__main__":
    harness.main()
