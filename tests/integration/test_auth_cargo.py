#!/usr/bin/env python3
"""Access control with real cargo: a hosted registry with auth_required =
true and crated tokens (read, publish, publish limited to a crate glob,
yank, admin).

Checked, in order, on one server, one CARGO_HOME and one target dir:
no token, a wrong token, publishing with a publish token, building with a
read token, publishing with the read token (cargo shows crated's 403),
the crate glob, crate owners (a second publisher needs `cargo owner
--add`), the yank scope, revocation without a restart, a token created
while running, `cargo login` (its prompt names crated's login URL) and
that no token ever reaches crated's log.

The steps depend on each other: after the first failure the rest are
skipped."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import cli_env, create_token  # noqa: E402
from harness import make_project, read_lock  # noqa: E402

# a syntactically fine token that crated never issued
BOGUS = "crated_" + "Q" * 43

APP_DEPS = 'authlib = { version = "1", registry = "local" }\n'
APP_MAIN = "fn main() { println!(\"{}\", authlib::f()); }\n"


class AuthCargoTest(harness.SharedServer, harness.Steps):
    maxDiff = 6000
    failed = False

    @classmethod
    def server_options(cls):
        cls.cfg = harness.write_config(
            os.path.join(cls.tmp, "crated.toml"), os.path.join(cls.tmp, "data"),
            registries="[registries.local]\nauth_required = true\n")
        # tokens made before the start; one made while running is step 11
        cls.tokens = {}
        for name, scope, crates in (("admin", "admin", None), ("alice", "publish", None),
                                    ("bob", "publish", None), ("reader", "read", None),
                                    ("hl", "publish", "hyperlight_*"),
                                    ("yanker", "yank", None)):
            cls.tokens[name] = create_token(cls.cfg, name, scope, crates)
        return {"config_path": cls.cfg}

    @classmethod
    def server_ready(cls):
        cls.cargo = harness.CargoEnv(cls.tmp, cls.srv.port)
        # an authenticated index needs an explicit credential provider
        with open(os.path.join(cls.cargo.home, "config.toml"), "w") as f:
            f.write('[registries.local]\nindex = "%s"\ncredential-provider = ["cargo:token"]\n\n'
                    '[net]\ngit-fetch-with-cli = false\n\n[http]\ntimeout = 30\n'
                    % cls.cargo.index_url)
        cls.proj = os.path.join(cls.tmp, "projects")
        os.makedirs(cls.proj)


    # helpers ---------------------------------------------------------------

    def tok_env(self, token):
        """cargo's environment with token (None: no token at all)."""
        return {"CARGO_REGISTRIES_LOCAL_TOKEN": token}

    def cargo_ok(self, args, cwd, token):
        return self.cargo.run_cargo(args, cwd, check=True, env=self.tok_env(token),
                                    server=self.srv)

    def cargo_fail(self, args, cwd, token):
        rc, out, err = self.cargo.run_cargo(args, cwd, check=False, env=self.tok_env(token))
        self.assertNotEqual(rc, 0, "cargo %s should have failed:\nstderr:\n%s\nlog:\n%s"
                            % (" ".join(args), err, self.srv.log_tail()))
        return err

    def pdir(self, name):
        return os.path.join(self.proj, name)

    def auth_get(self, path, token):
        h = {"Authorization": token} if token is not None else {}
        return self.srv.get(path, headers=h)

    def versions(self, name):
        r = self.auth_get("/local/%s" % harness.index_path(name), self.tokens["admin"])
        if r.status == 404:
            return []
        self.assertEqual(r.status, 200, r)
        return [json.loads(l)["vers"] for l in r.text().splitlines() if l.strip()]

    def owners(self, name):
        r = self.auth_get("/local/api/v1/crates/%s/owners" % name, self.tokens["reader"])
        self.assertEqual(r.status, 200, r)
        return sorted(u["login"] for u in r.json()["users"])

    def publish(self, name, version, token, ok=True, lib_rs=None):
        d = make_project(self.pdir(name), name, version, lib_rs=lib_rs)
        args = ["publish", "--registry", "local", "--no-verify"]
        if ok:
            self.cargo_ok(args, d, token)
            self.assertIn(version, self.versions(name))
            return None
        err = self.cargo_fail(args, d, token)
        self.assertNotIn(version, self.versions(name), "refused publish still landed")
        return err

    def new_app(self, name):
        d = make_project(self.pdir(name), name, "0.1.0", deps=APP_DEPS, publish=False,
                         main_rs=APP_MAIN)
        return d

    # steps -----------------------------------------------------------------

    def test_01_http_basics(self):
        """The 401 carries cargo's login hint; config.json says auth-required."""
        r = self.srv.get("/local/config.json")
        self.assertEqual(r.status, 401, r)
        want = 'login_url="http://127.0.0.1:%d/local/me"' % self.srv.port
        www = r.header("WWW-Authenticate") or ""
        self.assertTrue(www.startswith("Cargo "), r)
        self.assertIn(want, www, r)
        r = self.auth_get("/local/config.json", self.tokens["reader"])
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("auth-required"), True, r)
        me = self.srv.get("/local/me")
        self.assertEqual(me.status, 200, me)
        self.assertIn("text/html", me.header("Content-Type", ""))
        self.assertIn("crated token create", me.text())

    def test_02_no_token_refused(self):
        """cargo (1.95) words a missing token for an alternative registry
        as "no token found ... please run `cargo login --registry local`"
        without the login URL; the URL from crated's WWW-Authenticate is
        what `cargo login` prompts with (checked in step 11)."""
        app = self.new_app("app_nothing")
        err = self.cargo_fail(["generate-lockfile"], app, None)
        self.assertIn("no token found for `local`", err)
        self.assertIn("cargo login --registry local", err)
        self.assertFalse(os.path.exists(os.path.join(app, "Cargo.lock")))
        # the unauthenticated config.json fetch was answered 401
        self.assertRegex(self.srv.log_text(), r'"GET /local/config\.json" 401 ')

    def test_03_wrong_token_refused(self):
        app = self.new_app("app_wrong")
        for bad in (BOGUS, "Bearer " + BOGUS, "not-a-crated-token"):
            with self.subTest(token=bad):
                err = self.cargo_fail(["generate-lockfile"], app, bad)
                self.assertIn("token rejected for `local`", err)
                # crated's reason reaches the user
                self.assertIn("not valid for registry `local`", err)
                self.assertIn("/local/me", err)
        # a publish with a wrong token is refused too, and lands nothing
        err = self.publish("wrongpub", "1.0.0", BOGUS, ok=False)
        self.assertTrue("not valid for registry `local`" in err or "token rejected" in err, err)

    def test_04_publish_token_publishes(self):
        self.publish("authlib", "1.0.0", self.tokens["alice"],
                     lib_rs="pub fn f() -> u32 { 100 }\n")
        self.assertEqual(self.owners("authlib"), ["alice"], "first publisher must own the crate")
        # the access log names the token's label, never the token
        self.assertRegex(self.srv.log_text(),
                         r'"PUT /local/api/v1/crates/new" 200 .*\balice\b')

    def test_05_read_token_builds(self):
        app = self.new_app("app_reader")
        self.cargo_ok(["build"], app, self.tokens["reader"])
        pkgs = {p["name"]: p for p in read_lock(os.path.join(app, "Cargo.lock"))}
        self.assertEqual(pkgs["authlib"]["version"], "1.0.0")
        self.assertTrue(pkgs["authlib"].get("checksum"), pkgs["authlib"])
        # the download went through with the token
        self.assertRegex(self.srv.log_text(),
                         r'"GET /local/api/v1/crates/authlib/1\.0\.0/download" 200 .*\breader\b')
        out = subprocess.run([os.path.join(self.cargo.target, "debug", "app_reader")],
                             capture_output=True, timeout=60)
        self.assertEqual(out.stdout.strip(), b"100")

    def test_06_read_token_cannot_publish(self):
        err = self.publish("readerpub", "1.0.0", self.tokens["reader"], ok=False)
        self.assertIn("403", err)
        self.assertIn("token `reader` has the read scope; this needs publish", err)
        # nor yank, nor add owners
        err = self.cargo_fail(["yank", "--version", "1.0.0", "authlib", "--registry", "local"],
                              self.proj, self.tokens["reader"])
        self.assertIn("token `reader` has the read scope; this needs yank", err)
        err = self.cargo_fail(["owner", "--add", "reader", "authlib", "--registry", "local"],
                              self.proj, self.tokens["reader"])
        self.assertIn("token `reader` has the read scope; this needs publish", err)
        self.assertEqual(self.owners("authlib"), ["alice"])

    def test_07_crate_glob(self):
        self.publish("hyperlight_x", "0.1.0", self.tokens["hl"])
        self.assertEqual(self.owners("hyperlight_x"), ["hl"])
        err = self.publish("other", "0.1.0", self.tokens["hl"], ok=False)
        self.assertIn("403", err)
        self.assertIn("token `hl` may only change crates matching `hyperlight_*`, not `other`", err)
        # owner changes are writes too: outside the glob refused
        err = self.cargo_fail(["owner", "--add", "hl", "authlib", "--registry", "local"],
                              self.proj, self.tokens["hl"])
        self.assertIn("may only change crates matching `hyperlight_*`", err)
        self.assertEqual(self.owners("authlib"), ["alice"])

    def test_08_owners(self):
        # bob holds a publish token but does not own authlib
        err = self.publish("authlib", "1.0.1", self.tokens["bob"], ok=False,
                           lib_rs="pub fn f() -> u32 { 101 }\n")
        self.assertIn("403", err)
        self.assertIn("`bob` is not an owner of crate `authlib`", err)
        self.assertIn("cargo owner --add bob", err)
        # nor may bob make himself an owner
        err = self.cargo_fail(["owner", "--add", "bob", "authlib", "--registry", "local"],
                              self.proj, self.tokens["bob"])
        self.assertIn("`bob` is not an owner of crate `authlib`", err)
        self.assertEqual(self.owners("authlib"), ["alice"])
        # the owner adds him
        self.cargo_ok(["owner", "--add", "bob", "authlib", "--registry", "local"],
                      self.proj, self.tokens["alice"])
        self.assertEqual(self.owners("authlib"), ["alice", "bob"])
        _, out, err = self.cargo_ok(["owner", "--list", "authlib", "--registry", "local"],
                                    self.proj, self.tokens["reader"])
        self.assertIn("alice", out + err)
        self.assertIn("bob", out + err)
        self.publish("authlib", "1.0.1", self.tokens["bob"], lib_rs="pub fn f() -> u32 { 101 }\n")
        self.assertEqual(self.versions("authlib"), ["1.0.0", "1.0.1"])
        # bob, now an owner, cannot touch hyperlight_x (owned by hl)
        err = self.publish("hyperlight_x", "0.2.0", self.tokens["bob"], ok=False)
        self.assertIn("`bob` is not an owner of crate `hyperlight_x`", err)

    def test_09_yank_scope_and_admin(self):
        args = ["yank", "--version", "1.0.1", "authlib", "--registry", "local"]
        # alice owns authlib but her token has the publish scope
        err = self.cargo_fail(args, self.proj, self.tokens["alice"])
        self.assertIn("token `alice` has the publish scope; this needs yank", err)
        # yanker has the scope but does not own the crate
        err = self.cargo_fail(args, self.proj, self.tokens["yanker"])
        self.assertIn("`yanker` is not an owner of crate `authlib`", err)
        # and may not publish
        err = self.publish("yankerpub", "1.0.0", self.tokens["yanker"], ok=False)
        self.assertIn("token `yanker` has the yank scope; this needs publish", err)
        r = self.auth_get("/local/%s" % harness.index_path("authlib"), self.tokens["admin"])
        self.assertNotIn('"yanked":true', r.text())
        # admin may do everything, owner or not
        self.cargo_ok(args, self.proj, self.tokens["admin"])
        r = self.auth_get("/local/%s" % harness.index_path("authlib"), self.tokens["admin"])
        yanked = {json.loads(l)["vers"]: json.loads(l)["yanked"] for l in r.text().splitlines()}
        self.assertEqual(yanked, {"1.0.0": False, "1.0.1": True})
        self.cargo_ok(["yank", "--undo"] + args[1:], self.proj, self.tokens["admin"])
        r = self.auth_get("/local/%s" % harness.index_path("authlib"), self.tokens["admin"])
        yanked = {json.loads(l)["vers"]: json.loads(l)["yanked"] for l in r.text().splitlines()}
        self.assertEqual(yanked, {"1.0.0": False, "1.0.1": False})
        # admin publishes a crate outside any glob and owns it
        self.publish("adminpub", "1.0.0", self.tokens["admin"])
        self.assertEqual(self.owners("adminpub"), ["admin"])

    def test_10_revoke_without_restart(self):
        app = self.pdir("app_reader")
        pid = self.srv.proc.pid
        rc, out, err = harness.run_crated(["token", "revoke", "--config", self.cfg, "reader"],
                                          env=cli_env())
        self.assertEqual(rc, 0, err)
        self.assertIn("revoked 1 token", out + err)
        r = harness.wait_status(lambda: self.auth_get("/local/config.json", self.tokens["reader"]),
                                401, 3.0)
        self.assertEqual(r.status, 401, "revoked token still accepted after 3 s: %r" % r)
        self.assertEqual(self.srv.proc.pid, pid)
        self.assertTrue(self.srv.running())
        # other tokens keep working
        self.assertEqual(self.auth_get("/local/config.json", self.tokens["alice"]).status, 200)
        # cargo with the revoked token: a fresh resolve is refused
        harness.shutil.rmtree(os.path.join(self.cargo.home, "registry", "index"),
                              ignore_errors=True)
        err = self.cargo_fail(["update"], app, self.tokens["reader"])
        self.assertIn("token rejected for `local`", err)
        err = self.publish("revokedpub", "1.0.0", self.tokens["reader"], ok=False)
        self.assertIn("not valid for registry `local`", err)

    def test_11_new_token_and_cargo_login(self):
        """A token created while crated runs is accepted without a restart;
        `cargo login` reads it from stdin (a terminal here, so that cargo
        prompts, naming crated's login URL) and later builds use it."""
        tok = create_token(self.cfg, "reader2", "read")
        self.tokens["reader2"] = tok
        r = harness.wait_status(lambda: self.auth_get("/local/config.json", tok), 200, 3.0)
        self.assertEqual(r.status, 200, "new token not accepted within 3 s: %r" % r)

        creds = os.path.join(self.cargo.home, "credentials.toml")
        self.assertFalse(os.path.exists(creds))
        master, slave = os.openpty()
        try:
            p = subprocess.Popen([self.cargo.cargo, "login", "--registry", "local"],
                                 cwd=self.proj, env=self.cargo.env(self.tok_env(None)),
                                 stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.close(slave)
            slave = None
            os.write(master, tok.encode() + b"\n")
            try:
                out, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate(timeout=10)
                self.fail("cargo login did not finish within 120 s")
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "cargo login failed:\n%s\n%s" % (out, err))
        self.assertIn("please paste the token found on http://127.0.0.1:%d/local/me"
                      % self.srv.port, out + err)
        self.assertNotIn(tok, out + err)
        with open(creds) as f:
            self.assertIn(tok, f.read())
        # a new consumer builds with the stored token only, both versions
        app = self.new_app("app_login")
        self.cargo_ok(["build"], app, None)
        pkgs = {q["name"]: q for q in read_lock(os.path.join(app, "Cargo.lock"))}
        self.assertEqual(pkgs["authlib"]["version"], "1.0.1")
        self.assertRegex(self.srv.log_text(),
                         r'"GET /local/api/v1/crates/authlib/1\.0\.1/download" 200 .*\breader2\b')
        # the stored token only reads
        err = self.publish("loginpub", "1.0.0", None, ok=False)
        self.assertIn("token `reader2` has the read scope; this needs publish", err)

    def test_12_no_secret_anywhere(self):
        log = self.srv.log_text()
        self.assertGreater(len(log), 1000, "suspiciously short log")
        with open(os.path.join(self.srv.data_dir, "tokens.json")) as f:
            stored = f.read()
        self.assertIn("reader2", stored)
        for name, tok in sorted(self.tokens.items()):
            with self.subTest(token=name):
                self.assertNotIn(tok, log, "token %s appears in crated's log" % name)
                # its random part alone neither
                self.assertNotIn(tok[len("crated_"):], log)
                self.assertNotIn(tok, stored, "token %s stored in clear" % name)
                if name != "reader":
                    self.assertIn(harness.sha256_hex(tok.encode()), stored)
        self.assertNotIn(BOGUS, log)
        self.assertNotIn(harness.sha256_hex(self.tokens["reader"].encode()), stored,
                         "the revoked token is still in tokens.json")
        labels = sorted(e["label"] for e in json.loads(stored)["tokens"])
        self.assertEqual(labels, sorted(set(self.tokens) - {"reader"}))

if __name__ == "__main__":
    harness.main()
