#!/usr/bin/env python3
"""Access control over plain HTTP (no cargo): which status every route
gives without a token, with an invalid one and with each scope; crate
globs; owners by label; Bearer; tokens of other registries; expiry;
tokens.json changed, damaged and removed while running; the `crated
token` command line; crate owners (also after the last one leaves);
odd path spellings; auth_required switched by SIGHUP; the peer secret of
POST /-/purge; and that no secret (crated token, upstream credential,
peer secret) reaches the log, in text, debug or JSON format."""

import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import cli_env, create_token  # noqa: E402
from harness import wait_log, wait_status  # noqa: E402
from harness import crate_meta, index_path, make_crate, publish_body  # noqa: E402

BOGUS = "crated_" + "Z" * 43
AUTH_REGS = ("[registries.local]\nauth_required = true\n\n"
             "[registries.open]\n\n"
             "[registries.other]\nauth_required = true\n")


def replace_file(path, text):
    """Atomic rewrite (as crated itself does)."""
    tmp = path + ".testtmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class AuthBase(harness.TestCase):

    def setup_server(self, tokens=(), registries=AUTH_REGS, extra="", env=None):
        """Writes the config, creates tokens (name, scope, crates, registry)
        before the start and starts crated. Sets self.srv, self.cfg,
        self.tok (name -> token)."""
        self.cfg = harness.write_config(os.path.join(self.tmp, "crated.toml"),
                                        os.path.join(self.tmp, "data"),
                                        extra=extra, registries=registries)
        self.tok = {}
        for t in tokens:
            name, scope = t[0], t[1]
            crates = t[2] if len(t) > 2 else None
            reg = t[3] if len(t) > 3 else "local"
            label = t[4] if len(t) > 4 else name
            # a second token of one owner (its label) is asked for
            self.tok[name] = create_token(self.cfg, label, scope, crates, reg,
                                          same_owner=label != name)
        self.srv = self.start_crated(config_path=self.cfg, env=env)
        return self.srv

    def req(self, method, path, token=None, body=None, raw_auth=None):
        h = {}
        if raw_auth is not None:
            h["Authorization"] = raw_auth
        elif token is not None:
            h["Authorization"] = self.tok.get(token, token)
        if body is not None:
            h["Content-Type"] = "application/json"
        return self.srv.request(method, path, body=body, headers=h)

    def publish(self, name, vers, token, reg="local"):
        crate = make_crate(name, vers)
        return self.srv.request("PUT", "/%s/api/v1/crates/new" % reg,
                                body=publish_body(crate_meta(name, vers), crate),
                                headers={"Authorization": self.tok.get(token, token)})

    def publish_ok(self, name, vers, token):
        r = self.publish(name, vers, token)
        self.assertEqual(r.status, 200, r)

    def owners(self, name):
        r = self.req("GET", "/local/api/v1/crates/%s/owners" % name, "root")
        self.assertEqual(r.status, 200, r)
        return sorted(u["login"] for u in r.json()["users"])

    def yanked(self, name):
        r = self.req("GET", "/local/" + index_path(name), "root")
        self.assertEqual(r.status, 200, r)
        return {json.loads(l)["vers"]: json.loads(l)["yanked"] for l in r.text().splitlines()}

    def routes(self, name="authed", vers="1.0.0"):
        """(label, method, path, body, is_web_api) for every route of local."""
        users = json.dumps({"users": ["someone"]}).encode()
        crate = make_crate("newcrate", "1.0.0")
        pub = publish_body(crate_meta("newcrate", "1.0.0"), crate)
        return [
            ("config", "GET", "/local/config.json", None, False),
            ("config-head", "HEAD", "/local/config.json", None, False),
            ("index", "GET", "/local/" + index_path(name), None, False),
            ("index-missing", "GET", "/local/" + index_path("nosuch"), None, False),
            ("download", "GET", "/local/api/v1/crates/%s/%s/download" % (name, vers), None, False),
            ("search", "GET", "/local/api/v1/crates?q=auth", None, True),
            ("owners-list", "GET", "/local/api/v1/crates/%s/owners" % name, None, True),
            ("publish", "PUT", "/local/api/v1/crates/new", pub, True),
            ("yank", "DELETE", "/local/api/v1/crates/%s/%s/yank" % (name, vers), None, True),
            ("unyank", "PUT", "/local/api/v1/crates/%s/%s/unyank" % (name, vers), None, True),
            ("owners-add", "PUT", "/local/api/v1/crates/%s/owners" % name, users, True),
            ("owners-remove", "DELETE", "/local/api/v1/crates/%s/owners" % name, users, True),
        ]


class AccessMatrixTest(AuthBase):

    TOKENS = (("root", "admin"), ("rita", "read"), ("carol", "publish"),
              ("carol-y", "yank", None, "local", "carol"), ("gl", "publish", "hyperlight_*"),
              ("ozzy", "admin", None, "other"), ("star", "read", None, "*"))

    def setUp(self):
        super().setUp()
        self.setup_server(self.TOKENS)
        self.publish_ok("authed", "1.0.0", "root")
        self.data_before = harness.snapshot(self.srv.data_dir)

    def test_no_token_every_route_401_with_login_hint(self):
        login = 'login_url="http://127.0.0.1:%d/local/me"' % self.srv.port
        for label, method, path, body, _api in self.routes():
            with self.subTest(route=label):
                r = self.req(method, path, body=body)
                self.assertEqual(r.status, 401, r)
                www = r.header("WWW-Authenticate") or ""
                self.assertRegex(www, r"^Cargo ", r)
                self.assertIn(login, www)
                if method != "HEAD":
                    d = self.assertErrors(r, (401,))
                    self.assertIn("/local/me", d)
        self.assertUnchanged(self.data_before, harness.snapshot(self.srv.data_dir),
                             "unauthenticated writes")
        # /me needs no token, and says how to get one
        me = self.req("GET", "/local/me")
        self.assertEqual(me.status, 200, me)
        self.assertIn("needs a token", me.text())
        self.assertIn("sparse+http://127.0.0.1:%d/local/" % self.srv.port, me.text())
        self.assertIn("CARGO_REGISTRIES_LOCAL_TOKEN", me.text())
        # a registry without auth_required serves without a token
        r = self.req("GET", "/open/config.json")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["auth-required"], False)
        r = self.req("GET", "/open/me")
        self.assertIn("does not need a token", r.text())
        r = self.req("GET", "/local/config.json", "rita")
        self.assertIs(r.json()["auth-required"], True)

    def test_invalid_token_401_on_reads_403_on_web_api(self):
        bad = {
            "bogus": BOGUS,
            "bogus-bearer": "Bearer " + BOGUS,
            "no-prefix": "some-token",
            "valid-plus-junk": self.tok["root"] + "x",
            "valid-truncated": self.tok["root"][:-1],
            "other-registry": self.tok["ozzy"],
            "basic": "Basic cm9vdDpyb290",
            "empty-bearer": "Bearer ",
        }
        for bname, value in bad.items():
            for label, method, path, body, api in self.routes():
                with self.subTest(token=bname, route=label):
                    r = self.req(method, path, body=body, raw_auth=value)
                    want = 403 if api else 401
                    self.assertEqual(r.status, want, r)
                    if method != "HEAD":
                        d = self.assertErrors(r, (want,))
                        self.assertIn("not valid for registry `local`", d)
        self.assertUnchanged(self.data_before, harness.snapshot(self.srv.data_dir),
                             "writes with invalid tokens")
        # the token of registry other works there, and "*" works everywhere
        self.assertEqual(self.req("GET", "/other/config.json", "ozzy").status, 200)
        self.assertEqual(self.req("GET", "/other/config.json", "root").status, 401)
        self.assertEqual(self.req("GET", "/other/config.json", "star").status, 200)
        self.assertEqual(self.req("GET", "/local/config.json", "star").status, 200)
        r = self.req("PUT", "/local/api/v1/crates/new", "star",
                     body=publish_body(crate_meta("starpub", "1.0.0"), make_crate("starpub", "1.0.0")))
        self.assertIn("token `star` has the read scope; this needs publish", self.assertErrors(r, (403,)))

    def test_every_401_has_a_challenge(self):
        """RFC 9110 §15.5.2: a 401 MUST carry WWW-Authenticate, also when
        a token was sent but is not valid."""
        missing = []
        for value in (BOGUS, "Bearer " + BOGUS):
            for label, method, path, body, api in self.routes():
                if api:
                    continue
                r = self.req(method, path, body=body, raw_auth=value)
                self.assertEqual(r.status, 401, r)
                if not re.match(r"Cargo ", r.header("WWW-Authenticate") or ""):
                    missing.append("%s %s (Authorization: %s...)" % (method, path, value[:13]))
        self.assertEqual(missing, [], "401 without a WWW-Authenticate challenge")

    def test_bearer_forms(self):
        for form in ("%s", "Bearer %s", "bearer %s", "BEARER %s"):
            with self.subTest(form=form):
                r = self.req("GET", "/local/config.json", raw_auth=form % self.tok["rita"])
                self.assertEqual(r.status, 200, r)
        r = self.req("GET", "/local/config.json", raw_auth="Token " + self.tok["rita"])
        self.assertEqual(r.status, 401, r)

    def test_read_scope(self):
        ok = {"config", "config-head", "index", "download", "search", "owners-list"}
        need = {"publish": "publish", "yank": "yank", "unyank": "yank",
                "owners-add": "publish", "owners-remove": "publish"}
        for label, method, path, body, api in self.routes():
            with self.subTest(route=label):
                r = self.req(method, path, "rita", body=body)
                if label in ok:
                    self.assertEqual(r.status, 200, r)
                elif label == "index-missing":
                    self.assertEqual(r.status, 404, r)
                else:
                    d = self.assertErrors(r, (403,))
                    self.assertEqual(d, "token `rita` has the read scope; this needs %s"
                                     % need[label])
        r = self.req("GET", "/local/api/v1/crates/authed/1.0.0/download", "rita")
        self.assertEqual(r.body, make_crate("authed", "1.0.0"))
        r = self.req("GET", "/local/api/v1/crates?q=auth", "rita")
        self.assertIn("authed", [c["name"] for c in r.json()["crates"]])
        self.assertUnchanged(self.data_before, harness.snapshot(self.srv.data_dir),
                             "writes with a read token")

    def test_publish_scope_and_owners_by_label(self):
        # a new crate: the publisher's label owns it
        self.publish_ok("carols", "1.0.0", "carol")
        self.assertEqual(self.owners("carols"), ["carol"])
        self.publish_ok("carols", "1.1.0", "carol")
        # publish scope does not yank, not even its own crate
        r = self.req("DELETE", "/local/api/v1/crates/carols/1.0.0/yank", "carol")
        self.assertEqual(self.assertErrors(r, (403,)),
                         "token `carol` has the publish scope; this needs yank")
        # a yank token with the same label may, being an owner by label
        r = self.req("DELETE", "/local/api/v1/crates/carols/1.0.0/yank", "carol-y")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.yanked("carols"), {"1.0.0": True, "1.1.0": False})
        r = self.req("PUT", "/local/api/v1/crates/carols/1.0.0/unyank", "carol-y")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.yanked("carols"), {"1.0.0": False, "1.1.0": False})
        # yank scope publishes nothing and changes no owners
        r = self.publish("carols", "1.2.0", "carol-y")
        self.assertEqual(self.assertErrors(r, (403,)),
                         "token `carol` has the yank scope; this needs publish")
        # carol does not own authed (root does): no publish, no owner change, no yank
        r = self.publish("authed", "1.1.0", "carol")
        self.assertIn("`carol` is not an owner of crate `authed`", self.assertErrors(r, (403,)))
        body = json.dumps({"users": ["carol"]}).encode()
        r = self.req("PUT", "/local/api/v1/crates/authed/owners", "carol", body=body)
        self.assertIn("`carol` is not an owner of crate `authed`", self.assertErrors(r, (403,)))
        r = self.req("DELETE", "/local/api/v1/crates/authed/1.0.0/yank", "carol-y")
        self.assertIn("`carol` is not an owner of crate `authed`", self.assertErrors(r, (403,)))
        self.assertEqual(self.owners("authed"), ["root"])
        self.assertEqual(self.yanked("authed"), {"1.0.0": False})
        # the owner adds carol; now she may publish; then removes her again
        r = self.req("PUT", "/local/api/v1/crates/authed/owners", "root", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("ok"), True, r)
        self.assertEqual(self.owners("authed"), ["carol", "root"])
        self.publish_ok("authed", "1.1.0", "carol")
        r = self.req("DELETE", "/local/api/v1/crates/authed/owners", "carol",
                     body=json.dumps({"users": ["root"]}).encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.owners("authed"), ["carol"])
        # admin overrides ownership
        r = self.req("PUT", "/local/api/v1/crates/authed/owners", "root",
                     body=json.dumps({"users": ["root"]}).encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.owners("authed"), ["carol", "root"])
        r = self.req("DELETE", "/local/api/v1/crates/carols/1.1.0/yank", "root")
        self.assertEqual(r.status, 200, r)
        self.publish_ok("carols", "2.0.0", "root")

    def test_crates_glob(self):
        self.publish_ok("hyperlight_a", "0.1.0", "gl")
        self.assertEqual(self.owners("hyperlight_a"), ["gl"])
        for name in ("hyperlightx", "other", "xhyperlight_a", "hyperlight-b"):
            with self.subTest(name=name):
                r = self.publish(name, "0.1.0", "gl")
                self.assertEqual(self.assertErrors(r, (403,)),
                                 "token `gl` may only change crates matching `hyperlight_*`,"
                                 " not `%s`" % name)
                self.assertEqual(self.req("GET", "/local/" + index_path(name), "root").status, 404)
        # owning a crate outside the glob does not help: writes stay refused
        r = self.req("PUT", "/local/api/v1/crates/authed/owners", "root",
                     body=json.dumps({"users": ["gl"]}).encode())
        self.assertEqual(r.status, 200, r)
        r = self.publish("authed", "9.0.0", "gl")
        self.assertIn("may only change crates matching `hyperlight_*`", self.assertErrors(r, (403,)))
        r = self.req("PUT", "/local/api/v1/crates/authed/owners", "gl",
                     body=json.dumps({"users": ["rita"]}).encode())
        self.assertIn("may only change crates matching `hyperlight_*`", self.assertErrors(r, (403,)))
        # reads are not limited by the glob
        self.assertEqual(self.req("GET", "/local/" + index_path("authed"), "gl").status, 200)
        self.assertEqual(self.owners("authed"), ["gl", "root"])


    def test_dropping_the_last_owner_does_not_open_the_crate(self):
        """Only owners (or admin tokens) change a crate. Removing the last
        owner must not turn the crate into one any publish token may take
        over: either the removal is refused or the crate stays closed."""
        self.publish_ok("carols", "1.0.0", "carol")
        r = self.req("DELETE", "/local/api/v1/crates/carols/owners", "carol",
                     body=json.dumps({"users": ["carol"]}).encode())
        self.assertIn(r.status, (200, 400, 403, 409), r)
        r = self.publish("carols", "2.0.0", "gl")       # glob aside: gl is no owner
        self.assertEqual(r.status, 403, r)
        # bob: a plain publish token that never owned carols
        self.tok["bob"] = create_token(self.cfg, "bob", "publish")
        wait_status(lambda: self.req("GET", "/local/config.json", "bob"), 200)
        r = self.publish("carols", "2.0.0", "bob")
        self.assertEqual(r.status, 403, "a non-owner published a crate whose last owner "
                         "left: %r" % r)
        r = self.req("PUT", "/local/api/v1/crates/carols/owners", "bob",
                     body=json.dumps({"users": ["bob"]}).encode())
        self.assertEqual(r.status, 403, "a non-owner made himself owner: %r" % r)
        self.assertNotIn("bob", self.owners("carols"))

    def test_path_variants_do_not_bypass_auth(self):
        """Odd spellings of protected paths never serve data without a token."""
        variants = [
            "/local/config.json?x=1", "/local//config.json", "/%6Cocal/config.json",
            "/local/%63onfig.json", "/./local/config.json", "/open/../local/config.json",
            "/local/me/../config.json", "/local/me%2F..%2Fconfig.json", "/LOCAL/config.json",
            "/local/au/th/authed?", "/local/AU/TH/authed", "/local/au/th/AUTHED",
            "/local/au/th/authed/", "/local/au/th/authed%00",
            "/local/api/v1/crates/authed/1.0.0/download?a",
            "/local/api/v1/crates/authed/1.0.0/download/",
            "/local/api/v1/crates/AUTHED/1.0.0/download",
            "/local/api/v1/crates/authed/1.0.0+x/download",
            "/local/api/v1/crates/authed/1.0.0/%64ownload",
            "/local/api/v1/crates/", "/local/api/v1/crates?q=auth",
            "/local/api/v1/crates/authed/owners?", "/local/me/x/../../config.json",
        ]
        crate = make_crate("authed", "1.0.0")
        for p in variants:
            with self.subTest(path=p):
                r = self.req("GET", p)
                self.assertIn(r.status, (400, 401, 404), r)
                self.assertNotIn(b"authed", r.body.replace(p.encode(), b""))
                self.assertNotEqual(r.body, crate)


class SighupAuthTest(AuthBase):

    def test_sighup_turns_auth_required_on_and_off(self):
        regs_off = "[registries.local]\n"
        regs_on = "[registries.local]\nauth_required = true\n"
        srv = self.setup_server((("root", "admin"), ("rita", "read")), registries=regs_off)
        self.assertEqual(self.req("GET", "/local/config.json").status, 200)
        self.assertIs(self.req("GET", "/local/config.json").json()["auth-required"], False)
        harness.write_config(self.cfg, os.path.join(self.tmp, "data"), registries=regs_on)
        srv.proc.send_signal(harness.signal.SIGHUP)
        r = wait_status(lambda: self.req("GET", "/local/config.json"), 401, timeout=5)
        self.assertEqual(r.status, 401, "auth_required not applied by SIGHUP: %r" % r)
        self.assertIn("login_url=", r.header("WWW-Authenticate") or "")
        r = self.req("GET", "/local/config.json", "rita")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["auth-required"], True)
        r = self.publish("afterhup", "1.0.0", "rita")
        self.assertIn("read scope", self.assertErrors(r, (403,)))
        # a broken file is refused and auth stays on
        with open(self.cfg, "a") as f:
            f.write("this is not toml ===\n")
        srv.proc.send_signal(harness.signal.SIGHUP)
        wait_log(srv, "keeping the running configuration")
        self.assertIn("keeping the running configuration", srv.log_text())
        self.assertEqual(self.req("GET", "/local/config.json").status, 401)
        # and off again
        harness.write_config(self.cfg, os.path.join(self.tmp, "data"), registries=regs_off)
        srv.proc.send_signal(harness.signal.SIGHUP)
        r = wait_status(lambda: self.req("GET", "/local/config.json"), 200, timeout=5)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["auth-required"], False)
        self.assertTrue(srv.running())


class PeerPurgeTest(AuthBase):

    def test_purge_needs_the_peer_secret(self):
        secret = "peer-SECRET-" + "p33r" * 8
        regs = ('[registries.mir]\nupstream = "sparse+http://127.0.0.1:9/"\n\n'
                '[registries.local]\nauth_required = true\n')
        srv = self.setup_server((("root", "admin"),), registries=regs,
                                extra='peers = ["http://127.0.0.1:9"]\n'
                                      'peer_token_env = "PEER_SECRET_FOR_TEST"\n',
                                env={"PEER_SECRET_FOR_TEST": secret})
        body = json.dumps({"registry": "mir", "crate": "serde", "version": None}).encode()
        refused = {
            "none": None,
            "wrong": "Crated-Peer wrong",
            "prefix": "Crated-Peer " + secret[:-1],
            "longer": "Crated-Peer " + secret + "x",
            "bearer": "Bearer " + secret,
            "bare": secret,
            "crated token": self.tok["root"],
            "scheme case": "crated-peer " + secret,
        }
        for what, value in refused.items():
            with self.subTest(auth=what):
                r = self.req("POST", "/-/purge", body=body, raw_auth=value)
                self.assertEqual(r.status, 403, r)
        r = self.req("POST", "/-/purge", body=body, raw_auth="Crated-Peer " + secret)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(secret, srv.log_text())
        self.assertNotIn("p33r", srv.log_text())
        # without peers configured there is no secret: every purge is refused
        srv.stop()
        harness.write_config(self.cfg, os.path.join(self.tmp, "data"), registries=regs)
        srv = self.start_crated(config_path=self.cfg, env={"PEER_SECRET_FOR_TEST": secret})
        self.srv = srv
        for value in (None, "Crated-Peer ", "Crated-Peer " + secret):
            r = self.req("POST", "/-/purge", body=body, raw_auth=value)
            self.assertEqual(r.status, 403, r)


class TokenLifecycleTest(AuthBase):

    def test_expiry_and_tokens_file_changes(self):
        self.setup_server((("root", "admin"), ("rita", "read")))
        fresh = create_token(self.cfg, "soon", "read", expires=1)
        self.tok["soon"] = fresh
        tokens_path = os.path.join(self.srv.data_dir, "tokens.json")
        r = wait_status(lambda: self.req("GET", "/local/config.json", "soon"), 200)
        self.assertEqual(r.status, 200, "token created while running not picked up: %r" % r)
        with open(tokens_path) as f:
            doc = json.load(f)
        entry = [e for e in doc["tokens"] if e["label"] == "soon"][0]
        self.assertAlmostEqual(entry["expires"] - entry["created"], 86400, delta=5)
        rc, out, err = harness.run_crated(["token", "list", "--config", self.cfg], env=cli_env())
        self.assertEqual(rc, 0, err)
        row = [l for l in out.splitlines() if " soon " in l][0]
        self.assertNotIn("never", row)
        # make it expired (the file is crated's documented store)
        entry["expires"] = int(time.time()) - 10
        replace_file(tokens_path, json.dumps(doc))
        r = wait_status(lambda: self.req("GET", "/local/config.json", "soon"), 401)
        self.assertEqual(r.status, 401, "expired token still accepted: %r" % r)
        r = self.req("GET", "/local/api/v1/crates?q=x", "soon")
        self.assertIn("expired", self.assertErrors(r, (403,)))
        self.assertEqual(self.req("GET", "/local/config.json", "rita").status, 200)

        # a damaged file: the previous tokens stay, and the log says why
        replace_file(tokens_path, "{ this is not json")
        # crated looks at the file at most once a second and says each time
        # that it keeps the previous tokens: they stay over three looks
        for look in (1, 2, 3):
            wait_log(self.srv, "keeping the previous tokens", count=look)
            self.assertEqual(self.req("GET", "/local/config.json", "rita").status, 200)
        self.assertEqual(self.req("GET", "/local/config.json", "soon").status, 401)
        self.assertIn("keeping the previous tokens", self.srv.log_text())

        # a good file again: only what it lists is valid
        doc["tokens"] = [e for e in doc["tokens"] if e["label"] == "root"]
        replace_file(tokens_path, json.dumps(doc))
        r = wait_status(lambda: self.req("GET", "/local/config.json", "rita"), 401)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.req("GET", "/local/config.json", "root").status, 200)

        # no file at all: nothing is valid (fails closed)
        os.remove(tokens_path)
        r = wait_status(lambda: self.req("GET", "/local/config.json", "root"), 401)
        self.assertEqual(r.status, 401, "tokens still valid after tokens.json was removed: %r" % r)
        self.assertTrue(self.srv.running())
        # SIGHUP also reloads at once
        self.tok["after"] = create_token(self.cfg, "after", "read")
        self.srv.proc.send_signal(harness.signal.SIGHUP)
        r = wait_status(lambda: self.req("GET", "/local/config.json", "after"), 200)
        self.assertEqual(r.status, 200, r)

    def test_revoke_by_id_and_name(self):
        self.setup_server((("root", "admin"), ("a", "read"), ("b", "read")))
        self.tok["b2"] = create_token(self.cfg, "b", "publish",    # same label twice
                                      same_owner=True)
        for n in ("a", "b", "b2"):
            self.assertEqual(wait_status(lambda: self.req("GET", "/local/config.json", n),
                                         200).status, 200)
        rc, out, err = harness.run_crated(["token", "list", "--config", self.cfg], env=cli_env())
        self.assertEqual(rc, 0, err)
        for t in self.tok.values():
            self.assertNotIn(t, out + err)
        ids = {l.split()[1]: l.split()[0] for l in out.splitlines()[1:] if l.strip()}
        self.assertRegex(ids["a"], r"^t[0-9a-f]{8}$")
        rc, out, err = harness.run_crated(["token", "revoke", "--config", self.cfg, ids["a"]],
                                          env=cli_env())
        self.assertEqual((rc, out.strip()), (0, "revoked 1 token"), err)
        rc, out, err = harness.run_crated(["token", "revoke", "--config", self.cfg, "b"], env=cli_env())
        self.assertEqual((rc, out.strip()), (0, "revoked 2 tokens"), err)
        rc, out, err = harness.run_crated(["token", "revoke", "--config", self.cfg, "nobody"], env=cli_env())
        self.assertNotEqual(rc, 0)
        self.assertIn("no token", err)
        for n in ("a", "b", "b2"):
            r = wait_status(lambda: self.req("GET", "/local/config.json", n), 401)
            self.assertEqual(r.status, 401, "%s still accepted: %r" % (n, r))
        self.assertEqual(self.req("GET", "/local/config.json", "root").status, 200)
        # the store holds hashes only, readable by the owner only
        path = os.path.join(self.srv.data_dir, "tokens.json")
        self.assertEqual(os.stat(path).st_mode & 0o077, 0, oct(os.stat(path).st_mode))
        with open(path) as f:
            text = f.read()
        for t in self.tok.values():
            self.assertNotIn(t, text)
        self.assertIn(harness.sha256_hex(self.tok["root"].encode()), text)

    def test_token_cli_refusals(self):
        cfg = harness.write_config(os.path.join(self.tmp, "crated.toml"),
                                   os.path.join(self.tmp, "data"), registries=AUTH_REGS)
        base = ["token", "create", "--config", cfg]
        cases = {
            "bad scope": ["--registry", "local", "--scope", "write", "--name", "x"],
            "no name": ["--registry", "local", "--scope", "read"],
            "no registry": ["--scope", "read", "--name", "x"],
            "unknown registry": ["--registry", "nosuch", "--scope", "read", "--name", "x"],
            "bad name": ["--registry", "local", "--scope", "read", "--name", "a b"],
            "long name": ["--registry", "local", "--scope", "read", "--name", "n" * 65],
            "negative expiry": ["--registry", "local", "--scope", "read", "--name", "x",
                                "--expires", "-1"],
        }
        for what, args in cases.items():
            with self.subTest(case=what):
                rc, out, err = harness.run_crated(base + args, env=cli_env())
                self.assertNotEqual(rc, 0, "accepted (%s): %r" % (what, out))
                self.assertNotIn("crated_", out)
                self.assertTrue(err.strip())
        rc, out, err = harness.run_crated(["token", "list", "--config", cfg], env=cli_env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len([l for l in out.splitlines() if l.strip()]), 1,
                         "refused creates left tokens behind:\n" + out)
        # "--expires soon" must not silently mean "never expires"
        rc, out, err = harness.run_crated(base + ["--registry", "local", "--scope", "read",
                                                  "--name", "x", "--expires", "soon"],
                                          env=cli_env())
        self.assertNotEqual(rc, 0, "--expires soon accepted: %r %r" % (out, err))
        # two creates give two different tokens
        a = create_token(cfg, "same", "read")
        b = create_token(cfg, "same", "read", same_owner=True)
        self.assertNotEqual(a, b)


    def test_token_commands_exit_cleanly(self):
        """create, list and revoke exit 0 with nothing but their output on
        stderr (under ASan: no sanitizer report, leaks included)."""
        cfg = harness.write_config(os.path.join(self.tmp, "crated.toml"),
                                   os.path.join(self.tmp, "data"), registries=AUTH_REGS)
        for args in (["create", "--registry", "local", "--scope", "read", "--name", "one"],
                     ["create", "--registry", "local", "--scope", "admin", "--name", "two",
                      "--crates", "a*", "--expires", "3"],
                     ["list"], ["revoke", "one"]):
            with self.subTest(args=args):
                rc, out, err = harness.run_crated(["token"] + args[:1] + ["--config", cfg]
                                                  + args[1:])
                self.assertEqual(rc, 0, err)
                self.assertNotIn("Sanitizer", err, err[:3000])


class SecretsNotLoggedTest(AuthBase):

    def exercise(self):
        for name in self.tok:
            self.req("GET", "/local/config.json", name)
            self.req("GET", "/local/api/v1/crates?q=x", name)
            self.req("GET", "/local/config.json", raw_auth="Bearer " + self.tok[name])
        for v in (BOGUS, "Bearer " + BOGUS, self.tok["root"] + "x"):
            self.req("GET", "/local/config.json", raw_auth=v)
            self.req("PUT", "/local/api/v1/crates/new", raw_auth=v, body=b"{}")
        self.publish_ok("logged", "1.0.0", "root")
        self.publish("logged2", "1.0.0", "rita")

    def check_clean(self, log, extra_secrets=()):
        secrets = list(self.tok.values()) + [BOGUS] + list(extra_secrets)
        for s in secrets:
            self.assertNotIn(s, log)
            if s.startswith("crated_"):
                self.assertNotIn(s[len("crated_"):], log)

    def test_text_log(self):
        self.setup_server((("root", "admin"), ("rita", "read")))
        self.exercise()
        log = self.srv.log_text()
        self.check_clean(log)
        self.assertIn("sent an unknown, revoked or expired token", log)
        self.assertRegex(log, r'"GET /local/config\.json" 200 .* local rita\n')

    def test_debug_log(self):
        self.setup_server((("root", "admin"), ("rita", "read")), extra='log_level = "debug"\n')
        self.exercise()
        self.check_clean(self.srv.log_text())

    def test_json_log(self):
        self.setup_server((("root", "admin"), ("rita", "read")), extra='log_format = "json"\n')
        self.exercise()
        log = self.srv.log_text()
        self.check_clean(log)
        users = set()
        for line in log.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)     # every line is one JSON object
            if "user" in doc:
                users.add(doc["user"])
        self.assertEqual(users & {"rita", "root"}, {"rita", "root"})

    def test_upstream_credential_not_logged(self):
        """A mirror's upstream credential goes to the upstream, never to the
        log, also when the upstream refuses it."""
        secret = "Bearer upstream-SECRET-" + "s3cr3t" * 6
        seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization"))
                body = b'{"errors":[{"detail":"bad credential"}]}'
                self.send_response(401 if "config" not in self.path else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        th = threading.Thread(target=up.serve_forever, daemon=True)
        th.start()
        self.addCleanup(th.join, 10)
        self.addCleanup(up.server_close)
        self.addCleanup(up.shutdown)
        regs = ('[registries.mir]\nupstream = "sparse+http://127.0.0.1:%d/"\n'
                'upstream_token_env = "UPSTREAM_CRED_FOR_TEST"\nauth_required = true\n'
                % up.server_address[1])
        self.setup_server((("root", "admin", None, "mir"),), registries=regs,
                          env={"UPSTREAM_CRED_FOR_TEST": secret})
        r = self.req("GET", "/mir/" + index_path("serde"), "root")
        self.assertGreaterEqual(r.status, 400, r)
        self.assertNotIn(secret, r.text())
        r = self.req("GET", "/mir/" + index_path("serde"))
        self.assertEqual(r.status, 401, r)
        self.assertIn(secret, seen, "the upstream never saw the credential (test is void)")
        log = self.srv.log_text()
        self.assertNotIn("SECRET", log)
        self.assertNotIn("s3cr3t", log)
        self.check_clean(log)


if __name__ == "__main__":
    harness.main()
