#!/usr/bin/env python3
"""Real feeds, the first day (issue 23 §2, §3, part of §4).

* A wrong feed URL or credential does not look healthy: `crated check`
  (one line per registry, exit 1 on any failure) and /-/ready report the
  upstream probe's outcome (ok, credential refused, not a registry,
  unreachable, TLS error) before any cargo request, naming the setting to
  fix; an Azure PAT is given bare with upstream_pat_env / _file; a bare
  PAT in upstream_token_env is recognised.
* `crated cargo-config`, written verbatim into a fresh CARGO_HOME, works
  for an auth_required registry and for a mirror standing in for
  crates.io (an internal crates.io mirror served by python3 -m http.server);
  `crated prefetch` maps crates.io packages to that mirror, exits 1 when
  registry packages were skipped, and points at --server when a running
  crated holds the data directory.
* A token made by `crated token create` works at once.
"""

import json
import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402
import azure_standin as az  # noqa: E402

CIO = "registry+https://github.com/rust-lang/crates.io-index"
# Azure's newer PATs are 84 characters: "PAT:" + 84 encodes to 120 base64
# characters, past GNU base64's 76-column wrap.
PAT84 = ("Az" * 42)[:84]


def check(config, env=None):
    """`crated check --config FILE`: (rc, output)."""
    rc, out, err = harness.run_crated(["check", "--config", config], env=env, timeout=90)
    return rc, out + err


def line_of(text, reg):
    for l in text.splitlines():
        if l.startswith(reg + ":"):
            return l
    return ""


def registry_state(crated, name):
    r = crated.get("/-/ready")
    for reg in r.json()["registries"]:
        if reg["name"] == name:
            return reg
    raise AssertionError("no registry %s in /-/ready: %s" % (name, r.text()))


def wait_probe(crated, name, timeout=30):
    """The registry's /-/ready object once its first probe has answered."""
    def probed():
        reg = registry_state(crated, name)
        return reg if reg.get("probe") not in (None, "not probed yet") else None
    reg = harness.wait_until(probed, timeout, 0.05)
    if reg is None:
        raise AssertionError("no probe outcome in /-/ready within %d s: %s\nlog:\n%s"
                             % (timeout, registry_state(crated, name), crated.log_tail()))
    return reg


class Feed(harness.TestCase):
    """The Azure DevOps feed stand-in (HTTPS, Basic PAT auth) behind a
    mirror "corp"; what `crated check` and /-/ready say."""

    def setUp(self):
        super().setUp()
        self.ca = az.make_test_ca(os.path.join(self.tmp, "ca"))
        self.feed = az.AzureFeed(self.ca, secret=PAT84)
        self.feed.start()
        self.addCleanup(self.feed.stop)
        self.feed.seed("mshv-ioctls", "0.2.1", harness.make_crate("mshv-ioctls", "0.2.1"))

    def config(self, name, upstream=None, extra="", ca=True):
        up = upstream or self.feed.index_url
        regs = S.mirror_toml("corp", up) + extra
        if ca:
            regs += 'upstream_ca_file = "%s"\n' % self.ca.ca_cert
        return harness.write_config(os.path.join(self.tmp, name + ".toml"),
                                    os.path.join(self.tmp, "data-" + name), registries=regs)

    def serve(self, name, config, env):
        c = harness.start_crated(self.tmp, name=name, config_path=config, env=env,
                                 data_dir=os.path.join(self.tmp, "data-" + name))
        self.addCleanup(c.stop)
        return c

    def test_pat_env_sends_basic_unwrapped(self):
        cfg = self.config("good", extra='upstream_pat_env = "CORP_PAT"\n')
        env = {"CORP_PAT": PAT84}
        rc, out = check(cfg, env)
        self.assertEqual(rc, 0, out)
        self.assertTrue(line_of(out, "corp").startswith("corp: ok"), out)
        c = self.serve("good", cfg, env)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "ok", reg)
        r = c.get("/corp/" + harness.index_path("mshv-ioctls"))
        self.assertEqual(r.status, 200, r)
        sent = [a for a in self.feed.auth_values() if a]
        self.assertIn(az.basic_token(PAT84), sent)
        self.assertTrue(all("\n" not in a and a.count(" ") == 1 for a in sent), sent)
        self.assertNotIn(PAT84, c.log_text())

    def test_wrong_feed_path(self):
        typo = self.feed.index_url.replace("/_packaging/%s/" % self.feed.feed,
                                           "/_packaging/%s_typo/" % self.feed.feed)
        cfg = self.config("typo", upstream=typo, extra='upstream_pat_env = "CORP_PAT"\n')
        env = {"CORP_PAT": PAT84}
        rc, out = check(cfg, env)
        self.assertEqual(rc, 1, out)
        line = line_of(out, "corp")
        self.assertIn("not a registry", line, out)
        self.assertIn("check the feed URL", line, out)
        c = self.serve("typo", cfg, env)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "not a registry", reg)
        self.assertEqual(reg["upstream_state"], "not a registry", reg)
        self.assertIn("check the feed URL", reg["probe_detail"])
        self.assertIn("upstream probe: not a registry", c.log_text())
        self.assertEqual(self.feed.count(pred=lambda r: "config.json" not in r["path"]), 0,
                         "a cargo-like request reached the feed")

    def test_bad_pat_names_the_setting(self):
        cfg = self.config("badpat", extra='upstream_pat_env = "CORP_PAT"\n')
        env = {"CORP_PAT": "x" * 84}
        rc, out = check(cfg, env)
        self.assertEqual(rc, 1, out)
        line = line_of(out, "corp")
        self.assertIn("credential refused", line, out)
        self.assertIn('upstream_pat_env = "CORP_PAT"', line, out)
        self.assertIn("TF400813", line, out)
        c = self.serve("badpat", cfg, env)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "credential refused", reg)
        self.assertEqual(reg["upstream_state"], "credential refused", reg)
        self.assertIn('upstream_pat_env = "CORP_PAT"', reg["probe_detail"])
        self.assertNotIn("x" * 84, c.log_text())

    def test_bare_pat_in_token_env(self):
        cfg = self.config("bare", extra='upstream_token_env = "CORP_PAT"\n')
        env = {"CORP_PAT": PAT84}
        rc, out = check(cfg, env)
        self.assertEqual(rc, 1, out)
        line = line_of(out, "corp")
        self.assertIn("credential refused", line, out)
        self.assertIn('upstream_token_env = "CORP_PAT"', line, out)
        self.assertIn("bare PAT", line, out)
        self.assertIn("upstream_pat_env", line, out)
        c = self.serve("bare", cfg, env)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "credential refused", reg)
        self.assertIn("bare PAT", reg["probe_detail"])

    def test_wrapped_base64_recognised(self):
        # echo Basic $(echo -n PAT:$PAT | base64): wrapped at 76, the
        # unquoted substitution leaves a space inside the value.
        b64 = az.basic_token(PAT84)[len("Basic "):]
        cfg = self.config("wrapped", extra='upstream_token_env = "CORP_TOKEN"\n')
        rc, out = check(cfg, {"CORP_TOKEN": "Basic %s %s" % (b64[:76], b64[76:])})
        self.assertEqual(rc, 1, out)
        self.assertIn("base64 -w0", line_of(out, "corp"), out)

    def test_tls_error(self):
        cfg = self.config("tls", extra='upstream_pat_env = "CORP_PAT"\n', ca=False)
        env = {"CORP_PAT": PAT84}
        rc, out = check(cfg, env)
        self.assertEqual(rc, 1, out)
        line = line_of(out, "corp")
        self.assertIn("corp: TLS error", line, out)
        self.assertIn("upstream_ca_file", line, out)
        c = self.serve("tls", cfg, env)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "TLS error", reg)

    def test_sighup_probes_again(self):
        pat = os.path.join(self.tmp, "pat")
        with open(pat, "w") as f:
            f.write("wrong-pat\n")
        cfg = self.config("hup", extra='upstream_pat_file = "%s"\n' % pat)
        c = self.serve("hup", cfg, None)
        reg = wait_probe(c, "corp")
        self.assertEqual(reg["probe"], "credential refused", reg)
        self.assertIn('upstream_pat_file = "%s"' % pat, reg["probe_detail"])
        with open(pat, "w") as f:
            f.write(PAT84 + "\n")
        c.proc.send_signal(signal.SIGHUP)
        ok = harness.wait_until(lambda: registry_state(c, "corp").get("probe") == "ok", 30, 0.05)
        self.assertTrue(ok, "%s\n%s" % (registry_state(c, "corp"), c.log_tail()))


class Unreachable(harness.TestCase):

    def test_unreachable(self):
        s = socket.socket()     # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        regs = "[registries.local]\n" + S.mirror_toml("far", "sparse+http://127.0.0.1:%d/" % port)
        cfg = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                   os.path.join(self.tmp, "data"), registries=regs)
        rc, out = check(cfg)
        self.assertEqual(rc, 1, out)
        self.assertTrue(line_of(out, "far").startswith("far: unreachable"), out)
        self.assertTrue(line_of(out, "local").startswith("local: ok"), out)
        c = self.start_crated(config_path=cfg)    # starts all the same
        reg = wait_probe(c, "far")
        self.assertEqual(reg["probe"], "unreachable", reg)
        self.assertEqual(reg["upstream_state"], "unreachable", reg)


    def test_silent_upstream_does_not_hold_sigterm(self):
        bh = S.Blackhole()
        self.addCleanup(bh.stop)
        regs = S.mirror_toml("silent", "sparse+http://127.0.0.1:%d/" % bh.port)
        c = self.start_crated(registries=regs)
        self.assertEqual(registry_state(c, "silent")["probe"], "not probed yet")
        self.assertEqual(c.stop(), 0)
        # the probe under way is dropped, not waited for
        self.assertNotIn("drain timeout", c.log_text())


def cargo_config(config, url):
    rc, out, err = harness.run_crated(["cargo-config", "--config", config, "--url", url])
    if rc != 0:
        raise AssertionError("crated cargo-config failed: %s%s" % (out, err))
    return out


class CratesIoStandIn(harness.TestCase):
    """An internal crates.io mirror (a static registry served by python3 -m
    http.server) behind crated, declared with replace_crates_io."""

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "www")
        os.makedirs(self.root)
        self.hs = S.HttpServerProc(self.root, self.tmp)
        self.addCleanup(self.hs.stop)
        self.tree = S.RegistryTree(base="/", dl="/crates/{crate}/{crate}-{version}.crate")
        self.tree.attach_dir(self.root, self.hs.base)
        for name, vers in (("cio-alpha", "1.0.0"), ("cio-beta", "0.2.3")):
            self.tree.add(name, vers, harness.make_crate(name, vers))
        regs = ("[registries.local]\n" +
                S.mirror_toml("cio", "sparse+%s/" % self.hs.base, replace_crates_io=True))
        self.cfg = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                        os.path.join(self.tmp, "data"), registries=regs)

    def project(self):
        return harness.make_project(os.path.join(self.tmp, "app"), "app", "0.1.0",
                                    deps='cio-alpha = "1"\ncio-beta = "0.2"\n', publish=False,
                                    lib_rs="pub fn g() -> u32 { cio_alpha::f() + cio_beta::f() }\n")

    def test_cargo_and_prefetch_through_standin(self):
        c = self.start_crated(config_path=self.cfg)
        text = cargo_config(self.cfg, c.url)
        self.assertIn('[source.crates-io]\nreplace-with = "cio-crated"', text)
        cargo = harness.Cargo(self.tmp, text)     # verbatim (plus [net]/[http])
        proj = self.project()
        cargo.run(["build"], proj, logs=(c,))
        pkgs = {p["name"]: p for p in harness.read_lock(os.path.join(proj, "Cargo.lock"))}
        for name in ("cio-alpha", "cio-beta"):
            self.assertEqual(pkgs[name]["source"], CIO, pkgs)
        paths = [p for m, p, s in self.hs.requests()]
        self.assertIn("/crates/cio-alpha/cio-alpha-1.0.0.crate", paths)
        # cargo reached the internal mirror through crated (it cannot reach
        # index.crates.io: there is no network)
        self.assertIn("/cio/" + harness.index_path("cio-beta"), c.log_text())
        c.stop()
        # prefetch of the lock file into a fresh data directory
        fresh = os.path.join(self.tmp, "fresh")
        rc, out, err = harness.run_crated(["prefetch", "--config", self.cfg, "--data-dir", fresh,
                                           proj], timeout=120)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("2 crates: 2 fetched", out)
        files = S.files_under(fresh)
        self.assertTrue(any(f.startswith("cio/") and f.endswith("cio-alpha-1.0.0.crate")
                            for f in files), files)

    def test_auth_required_standin(self):
        regs = S.mirror_toml("cio", "sparse+%s/" % self.hs.base, replace_crates_io=True,
                             auth_required=True)
        cfg = harness.write_config(os.path.join(self.tmp, "auth.toml"),
                                   os.path.join(self.tmp, "data-auth"), registries=regs)
        c = self.start_crated(config_path=cfg)
        rc, out, err = harness.run_crated(["token", "create", "--config", cfg, "--registry",
                                           "cio", "--scope", "read", "--name", "ci"])
        self.assertEqual(rc, 0, out + err)
        tok = [w for w in out.split() if w.startswith("crated_")][0]
        cargo = harness.Cargo(self.tmp, cargo_config(cfg, c.url), tokens={"cio-crated": tok})
        proj = self.project()
        cargo.run(["fetch"], proj, logs=(c,))
        pkgs = {p["name"]: p for p in harness.read_lock(os.path.join(proj, "Cargo.lock"))}
        self.assertEqual(pkgs["cio-alpha"]["source"], CIO, pkgs)
        self.assertNotIn(tok, c.log_text())

    def test_prefetch_skipped_is_a_failure(self):
        # The same lock file against a configuration without the stand-in.
        proj = self.project()
        with open(os.path.join(proj, "Cargo.lock"), "w") as f:
            f.write('version = 3\n\n[[package]]\nname = "app"\nversion = "0.1.0"\n'
                    'dependencies = ["cio-alpha"]\n\n[[package]]\nname = "cio-alpha"\n'
                    'version = "1.0.0"\nsource = "%s"\nchecksum = "%s"\n'
                    % (CIO, S.sha256_hex(harness.make_crate("cio-alpha", "1.0.0"))))
        regs = "[registries.local]\n" + S.mirror_toml("other", "sparse+%s/" % self.hs.base)
        cfg = harness.write_config(os.path.join(self.tmp, "other.toml"),
                                   os.path.join(self.tmp, "data-other"), registries=regs)
        rc, out, err = harness.run_crated(["prefetch", "--config", cfg, proj], timeout=120)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("--registry", out + err)
        self.assertIn("replace_crates_io", out + err)
        # --registry sends them to the mirror: then it works
        rc, out, err = harness.run_crated(["prefetch", "--config", cfg, "--registry", "other",
                                           proj], timeout=120)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 fetched", out)

    def test_prefetch_beside_running_server(self):
        regs = "[registries.local]\n" + S.mirror_toml("cio", "sparse+%s/" % self.hs.base)
        cfg = harness.write_config(os.path.join(self.tmp, "plain.toml"),
                                   os.path.join(self.tmp, "data"), registries=regs)
        c = self.start_crated(config_path=cfg)
        proj = self.project()
        with open(os.path.join(proj, "Cargo.lock"), "w") as f:
            f.write('version = 3\n\n[[package]]\nname = "cio-alpha"\nversion = "1.0.0"\n'
                    'source = "%s"\n' % CIO)
        rc, out, err = harness.run_crated(["prefetch", "--config", cfg, "--registry", "cio",
                                           proj], timeout=60)
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("prefetch --server", err)
        rc, out, err = harness.run_crated(["prefetch", "--server", c.url, "--registry", "cio",
                                           proj], timeout=60)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 fetched", out)


class AuthRequired(harness.TestCase):

    def setUp(self):
        super().setUp()
        regs = "[registries.local]\nauth_required = true\n"
        self.cfg = harness.write_config(os.path.join(self.tmp, "c.toml"),
                                        os.path.join(self.tmp, "data"), registries=regs)
        self.c = self.start_crated(config_path=self.cfg)

    def token(self, name, scope="publish"):
        rc, out, err = harness.run_crated(["token", "create", "--config", self.cfg,
                                           "--registry", "local", "--scope", scope,
                                           "--name", name])
        self.assertEqual(rc, 0, out + err)
        toks = [w for w in out.split() if w.startswith("crated_")]
        self.assertTrue(toks, out)
        return toks[0]

    def test_cargo_config_verbatim_with_token(self):
        tok = self.token("ci")
        # (on builds that read tokens.json once a second, wait for it: this
        # test is about cargo's configuration)
        harness.wait_until(lambda: self.c.get("/local/config.json",
                                        headers={"Authorization": tok}).status == 200, 5)
        meta = harness.crate_meta("authed", "1.0.0")
        crate = harness.make_crate("authed", "1.0.0")
        r = self.c.publish(meta, crate, headers={"Authorization": tok})
        self.assertEqual(r.status, 200, r)
        text = cargo_config(self.cfg, self.c.url)
        cargo = harness.Cargo(self.tmp, text, tokens={"local": tok})
        proj = harness.make_project(os.path.join(self.tmp, "use"), "use-authed", "0.1.0",
                                    deps='authed = { version = "1", registry = "local" }',
                                    publish=False)
        cargo.run(["fetch"], proj, logs=(self.c,))
        pkgs = {p["name"]: p for p in harness.read_lock(os.path.join(proj, "Cargo.lock"))}
        self.assertIn("authed", pkgs)
        self.assertIn('credential-provider = ["cargo:token"]', text)

    def test_new_token_works_at_once(self):
        for i in range(3):
            # a rejected token first: crated has just looked at tokens.json
            r = self.c.get("/local/config.json",
                           headers={"Authorization": "crated_" + "0" * 43})
            self.assertEqual(r.status, 401, r)
            tok = self.token("at-once-%d" % i, scope="read")
            r = self.c.get("/local/config.json", headers={"Authorization": tok})
            self.assertEqual(r.status, 200, "token %d refused right after creation: %s"
                             % (i, r))


if __name__ == "__main__":
    harness.main()
