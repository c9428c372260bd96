#!/usr/bin/env python3
"""The deployment files in deploy/:

- crated.toml (the example configuration) starts crated as shipped
  (--data-dir in a temp dir, --listen 127.0.0.1:0), answers /-/health,
  survives SIGHUP (the unit's ExecReload) and exits 0 on SIGTERM; its
  commented Azure DevOps block starts it too once uncommented (with a
  stand-in `az` that checks the token command's arguments), so does its
  TLS block (with a fresh self-signed certificate, reloaded on SIGHUP);
  it names every key `crated --help` lists, and its "planned" block none;
- crated-container.toml (the image's configuration) starts crated;
- crated.service passes `systemd-analyze verify` (on a copy whose
  ExecStart names CRATED_BIN) and keeps its hardening directives;
- crated.8 renders without warnings and covers every command and key;
- Containerfile: two stages, a non-root USER, VOLUME, EXPOSE, a
  HEALTHCHECK that really probes a running crated, runtime packages that
  provide every shared library the binary needs;
- nginx-replicas.conf passes `nginx -t` and, in front of three crated
  replicas, hashes each request by crate name;
- crated-replica.toml: three replicas on it (the S3 stand-in as the
  bucket, its credentials file, --offline) behind nginx-replicas.conf:
  a token made with `crated token create --config` on it works through
  every replica, real `cargo publish` through nginx lands on several
  replicas, every replica (and cargo generate-lockfile through nginx)
  then sees every version, `cargo fetch` downloads through nginx, and the
  bucket holds every version's .crate with its SHA-256.

Checks that need a tool not installed (systemd-analyze, groff, man,
nginx, dpkg/apt-cache) are skipped, saying which package provides it.
Nothing here installs packages."""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import s3_standin  # noqa: E402
from harness import free_port  # noqa: E402

DEPLOY = os.path.join(harness.REPO, "deploy")
EXAMPLE = os.path.join(DEPLOY, "crated.toml")
CONTAINER_TOML = os.path.join(DEPLOY, "crated-container.toml")
UNIT = os.path.join(DEPLOY, "crated.service")
MANPAGE = os.path.join(DEPLOY, "crated.8")
CONTAINERFILE = os.path.join(DEPLOY, "Containerfile")
NGINX_CONF = os.path.join(DEPLOY, "nginx-replicas.conf")
REPLICA_TOML = os.path.join(DEPLOY, "crated-replica.toml")

AZ_BEGIN = "# --- BEGIN azure example"
AZ_END = "# --- END azure example"
TLS_BEGIN = "# --- BEGIN tls example"
TLS_END = "# --- END tls example"
PLANNED = "# Planned, not yet accepted."
AZ_ARGS = ["account", "get-access-token", "--resource",
           "499b84ac-1321-427f-aa17-267ca6975798", "--query",
           "join(' ', ['Bearer', accessToken])", "-o", "tsv"]

TOOL_TIMEOUT = 60


def which(prog):
    """Like shutil.which, also looking in the sbin directories (nginx
    lives in /usr/sbin, often not on a user's PATH)."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/sbin:/sbin:/usr/local/sbin"
    return shutil.which(prog, path=path)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text, mode=None):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


_help_cache = []


def help_keys():
    """{key: type} of every configuration key in `crated --help`."""
    if not _help_cache:
        rc, out, err = harness.run_crated(["--help"])
        if rc != 0:
            raise AssertionError("crated --help failed (rc %d): %s" % (rc, err))
        _help_cache.append(out)
    keys = {}
    for m in re.finditer(r"(?m)^  ([a-z_]+) +(strings|string|integer|bool) ", _help_cache[0]):
        keys[m.group(1)] = m.group(2)
    if len(keys) < 10:
        raise AssertionError("could not read the keys from crated --help:\n" + _help_cache[0])
    return keys


def help_commands():
    """The commands of the usage lines of `crated --help`."""
    help_keys()
    cmds = set()
    for line in _help_cache[0].split("\n\n")[0].splitlines():
        m = re.match(r"\s*(?:usage:\s*)?crated ([a-z][a-z-]*)", line)
        if m:
            cmds.add(m.group(1))
    return cmds


def uncommented(text, begin, end):
    """The example with the block between begin and end uncommented as its
    comment says: '#' removed before every line starting "#[" or "#KEY".
    Returns (whole text, the block uncommented)."""
    a = text.index(begin)
    b = text.index(end)
    block = re.sub(r"(?m)^#(?=[\[a-z])", "", text[a:b])
    return text[:a] + block + text[b:], block


def setting_keys(text):
    """Keys set or shown as settings ("key =", "#key =", "# key =")."""
    return set(re.findall(r"(?m)^#?\s*([a-z_]+)\s*=", text))


def unit_directives(text):
    """[(section, key, value)] of a systemd unit file (duplicates kept)."""
    out, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        k, sep, v = line.partition("=")
        if sep:
            out.append((section, k.strip(), v.strip()))
    return out


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] as docker's parser reads them (escape
    character '\\'): comment lines and blank lines dropped, even inside a
    continued instruction, continuation lines joined."""
    out, cur = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or stripped == "":
            continue
        if stripped.endswith("\\"):
            cur += raw.rstrip()[:-1] + " "
            continue
        line = (cur + raw).strip()
        cur = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    if cur.strip():
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(instrs):
    """Splits instructions at FROM: [[(instr, args), ...], ...]."""
    out = []
    for ins in instrs:
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def apt_packages(run_args):
    """Package names of the `apt-get install` in a RUN line."""
    m = re.search(r"apt-get install ([^&;|]*)", run_args)
    if not m:
        return []
    return [w for w in m.group(1).split() if not w.startswith("-")]


# ---------------------------------------------------------------------------
# crated.toml, crated-container.toml


class ExampleConfigTest(harness.TestCase):

    def serve(self, config_path, env=None):
        """Starts crated on the config with a temp data dir and a port-0
        listener; returns once it answers (crated logs "listening on"
        before it opens the registries and sets its signal handlers)."""
        data = os.path.join(self.tmp, "data")
        c = self.start_crated(config_path=config_path, data_dir=data, env=env,
                              args=["--data-dir", data, "--listen", "127.0.0.1:0"])
        r = c.get("/-/health")
        self.assertEqual(r.status, 200, r)
        return c

    def test_example_config_serves_as_shipped(self):
        c = self.serve(EXAMPLE)
        r = c.get("/-/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"ok\n", r)
        for reg in ("local", "crates-io"):
            r = c.get("/%s/config.json" % reg)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["dl"], "%s/%s/api/v1/crates" % (c.url, reg))
        self.assertIn("registry local (hosted)", c.log_text())
        self.assertIn("registry crates-io (mirror)", c.log_text())
        self.assertIn("mirror of https://index.crates.io/", c.log_text())
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "data", "local")),
                        "--data-dir was not used")
        self.assertEqual(c.stop(), 0)
        self.assertIn("SIGTERM", c.log_text())

    def test_example_azure_block_serves_when_uncommented(self):
        text = read(EXAMPLE)
        self.assertIn(AZ_BEGIN, text)
        self.assertIn(AZ_END, text)
        cfg = write(os.path.join(self.tmp, "azure.toml"), uncommented(text, AZ_BEGIN, AZ_END)[0])
        self.assertIn("[registries.corp]", read(cfg))
        # A stand-in az that records its arguments and prints a token.
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        argfile = os.path.join(self.tmp, "az.args")
        write(os.path.join(bindir, "az"),
              "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\necho 'Bearer stand-in'\n" % argfile,
              0o755)
        c = self.serve(cfg, env={"PATH": bindir + os.pathsep + os.environ.get("PATH", "")})
        self.assertEqual(read(argfile).splitlines(), AZ_ARGS,
                         "upstream_token_command did not run az with these arguments")
        self.assertRegex(c.log_text(), r"registry corp: mirror of https://pkgs\.dev\.azure\.com/"
                         r"\S+ \(with a credential\)")
        self.assertNotIn("stand-in", c.log_text(), "the credential was logged")
        self.assertEqual(c.get("/-/health").status, 200)
        self.assertEqual(c.stop(), 0)
        rc, out, err = harness.run_crated(["cargo-config", "--config", cfg])
        self.assertEqual(rc, 0, err)
        self.assertIn("[registries.corp-crated]", out)

    def test_example_tls_block_serves_when_uncommented(self):
        """The TLS block, uncommented, with a fresh self-signed certificate
        at its paths and its address made 127.0.0.1:0: HTTPS answers, and
        SIGHUP (the unit's ExecReload) reloads it without stopping."""
        openssl = which("openssl")
        if openssl is None:
            self.skipTest("openssl not installed (Debian package: openssl)")
        key = os.path.join(self.tmp, "key.pem")
        cert = os.path.join(self.tmp, "cert.pem")
        p = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "2", "-subj", "/CN=127.0.0.1"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TOOL_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        text, block = uncommented(read(EXAMPLE), TLS_BEGIN, TLS_END)
        settings = dict(re.findall(r'(?m)^(listen_tls|tls_cert|tls_key) = (.*)$', block))
        self.assertEqual(sorted(settings), ["listen_tls", "tls_cert", "tls_key"], block)
        text = text.replace(settings["listen_tls"], '["127.0.0.1:0"]')
        text = text.replace(settings["tls_cert"], '"%s"' % cert)
        text = text.replace(settings["tls_key"], '"%s"' % key)
        c = self.serve(write(os.path.join(self.tmp, "tls.toml"), text))
        m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(TLS\)", c.log_text())
        self.assertIsNotNone(m, c.log_tail())
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False

        def health():
            conn = http.client.HTTPSConnection("127.0.0.1", int(m.group(1)),
                                                       timeout=harness.HTTP_TIMEOUT, context=ctx)
            try:
                conn.request("GET", "/-/health")
                r = conn.getresponse()
                return r.status, r.read()
            finally:
                conn.close()

        self.assertEqual(health(), (200, b"ok\n"))
        c.proc.send_signal(signal.SIGHUP)
        reloaded = re.compile(r"SIGHUP: .*(TLS )?certificate")
        harness.wait_until(lambda: reloaded.search(c.log_text()), 10)
        self.assertRegex(c.log_text(), r"SIGHUP: .*certificate reloaded")
        self.assertTrue(c.running(), "SIGHUP stopped crated")
        self.assertEqual(health(), (200, b"ok\n"))
        self.assertEqual(c.get("/-/health").status, 200)
        self.assertEqual(c.stop(), 0)

    def test_sighup_keeps_serving(self):
        """crated.service's ExecReload sends SIGHUP: crated must stay up."""
        c = self.serve(EXAMPLE)
        c.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: "SIGHUP" in c.log_text() or not c.running(), 10)
        self.assertTrue(c.running(), "SIGHUP stopped crated: rc %s" % c.proc.returncode)
        self.assertIn("SIGHUP", c.log_text())
        self.assertEqual(c.get("/-/health").status, 200)
        self.assertEqual(c.stop(), 0)

    def test_container_config_serves(self):
        c = self.serve(CONTAINER_TOML)
        self.assertEqual(c.get("/-/health").status, 200)
        cfg = c.get("/local/config.json").json()
        self.assertTrue(cfg["dl"].startswith("http://127.0.0.1:8080/"), cfg)
        self.assertEqual(c.stop(), 0)

    def test_example_names_every_key(self):
        keys = help_keys()
        text = read(EXAMPLE)
        self.assertIn(PLANNED, text)
        documented, planned = text.split(PLANNED, 1)
        missing = sorted(set(keys) - setting_keys(documented))
        self.assertEqual(missing, [], "keys of crated --help missing from deploy/crated.toml")
        now_accepted = sorted(setting_keys(planned) & set(keys))
        self.assertEqual(now_accepted, [], "keys in the 'planned, not yet accepted' block of "
                         "deploy/crated.toml that crated --help now lists: move them up")


# ---------------------------------------------------------------------------
# crated.service


class SystemdUnitTest(harness.TestCase):

    REQUIRED = [
        ("Service", "DynamicUser", "yes"),
        ("Service", "StateDirectory", "crated"),
        ("Service", "ConfigurationDirectory", "crated"),
        ("Service", "ProtectSystem", "strict"),
        ("Service", "ProtectHome", "yes"),
        ("Service", "PrivateTmp", "yes"),
        ("Service", "PrivateDevices", "yes"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "Restart", "on-failure"),
        ("Service", "LimitNOFILE", "65536"),
        ("Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("Service", "CapabilityBoundingSet", ""),
        ("Service", "SystemCallFilter", "@system-service"),
        ("Service", "ExecStart", "/usr/local/bin/crated serve --config /etc/crated/crated.toml "
                                 "--data-dir /var/lib/crated"),
        ("Service", "ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Service", "KillSignal", "SIGTERM"),
        ("Service", "TimeoutStopSec", "30"),
        ("Install", "WantedBy", "multi-user.target"),
    ]

    def test_unit_directives(self):
        have = unit_directives(read(UNIT))
        for d in self.REQUIRED:
            self.assertIn(d, have, "deploy/crated.service lacks %s=%s in [%s]" % (d[1], d[2], d[0]))

    def local_copy(self):
        """The unit with ExecStart naming CRATED_BIN and the example
        config, and man:crated(8) findable (MANPATH)."""
        text = read(UNIT)
        text = text.replace("/usr/local/bin/crated", os.path.realpath(harness.CRATED_BIN))
        text = text.replace("/etc/crated/crated.toml", os.path.realpath(EXAMPLE))
        unit = write(os.path.join(self.tmp, "crated.service"), text)
        man8 = os.path.join(self.tmp, "man", "man8")
        os.makedirs(man8)
        shutil.copy(MANPAGE, man8)
        env = dict(os.environ, MANPATH=os.path.join(self.tmp, "man"), SYSTEMD_PAGER="",
                   SYSTEMD_COLORS="0", SYSTEMD_LOG_COLOR="0")
        return unit, env

    def test_systemd_analyze_verify(self):
        tool = which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze not installed (Debian package: systemd)")
        if which("man") is None:
            self.skipTest("man not installed (Debian package: man-db): verify checks "
                          "Documentation=man:crated(8) with it")
        unit, env = self.local_copy()
        p = subprocess.run([tool, "verify", unit], env=env, cwd=self.tmp,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT)
        out = (p.stdout + p.stderr).decode(errors="replace")
        sys.stderr.write("systemd-analyze verify: rc %d, output: %r\n" % (p.returncode, out))
        about_unit = [l for l in out.splitlines() if "crated" in l]
        self.assertEqual(about_unit, [], "systemd-analyze verify complains:\n" + out)
        self.assertEqual(p.returncode, 0, "systemd-analyze verify failed:\n" + out)

    def test_systemd_analyze_security(self):
        tool = which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze not installed (Debian package: systemd)")
        unit, env = self.local_copy()
        p = subprocess.run([tool, "security", "--offline=yes", "--no-pager", unit], env=env,
                           cwd=self.tmp, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TOOL_TIMEOUT)
        out = (p.stdout + p.stderr).decode(errors="replace")
        if p.returncode != 0 and re.search(r"unrecognized option|Unknown option", out):
            self.skipTest("systemd-analyze security --offline needs systemd >= 250")
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
        self.assertIsNotNone(m, "no exposure level in:\n" + out)
        sys.stderr.write("systemd-analyze security: exposure %s\n" % m.group(1))
        self.assertLessEqual(float(m.group(1)), 2.0,
                             "the unit's sandbox got weaker:\n" + out)


# ---------------------------------------------------------------------------
# crated.8


class ManPageTest(harness.TestCase):

    def test_groff_no_warnings(self):
        tool = which("groff")
        if tool is None:
            self.skipTest("groff not installed (Debian package: groff-base)")
        p = subprocess.run([tool, "-man", "-ww", "-z", MANPAGE], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TOOL_TIMEOUT)
        err = p.stderr.decode(errors="replace")
        self.assertEqual((p.returncode, err), (0, ""), "groff -man -ww -z deploy/crated.8")

    def test_man_no_warnings(self):
        tool = which("man")
        if tool is None:
            self.skipTest("man not installed (Debian package: man-db)")
        env = dict(os.environ, MANWIDTH="80", MAN_DISABLE_SECCOMP="1", PAGER="cat")
        p = subprocess.run([tool, "--warnings", "-l", MANPAGE], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT)
        err = p.stderr.decode(errors="replace")
        self.assertEqual((p.returncode, err), (0, ""), "man --warnings -l deploy/crated.8")
        text = p.stdout.decode(errors="replace")
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION",
                        "HTTP ENDPOINTS", "FILES", "SIGNALS", "EXIT STATUS", "EXAMPLES"):
            self.assertRegex(text, r"(?m)^%s$" % section, "no %s section" % section)

    def test_covers_every_command_and_key(self):
        text = read(MANPAGE).replace("\\-", "-")
        missing = sorted(k for k in help_keys()
                         if not re.search(r'(?m)^\.BR %s " \(' % re.escape(k), text))
        self.assertEqual(missing, [], "keys of crated --help missing from deploy/crated.8")
        synopsis = text.split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
        missing = sorted(c for c in help_commands() if not re.search(r"crated %s\b" % c, synopsis))
        self.assertEqual(missing, [], "commands of crated --help missing from the synopsis")
        for opt in ("--help", "--version"):
            self.assertIn(opt, synopsis)


# ---------------------------------------------------------------------------
# Containerfile


class ContainerfileTest(harness.TestCase):

    BUILD_PACKAGES = ["meson", "ninja-build", "pkg-config", "gcc", "libevent-dev",
                      "libcurl4-openssl-dev", "libssl-dev", "libjansson-dev", "zlib1g-dev"]

    def setUp(self):
        super().setUp()
        self.instrs = dockerfile_instructions(read(CONTAINERFILE))
        self.stages = stages(self.instrs)

    def final(self, name):
        vals = [a for i, a in self.stages[-1] if i == name]
        self.assertTrue(vals, "no %s in the runtime stage" % name)
        return vals[-1]

    def test_two_stages(self):
        froms = [a for i, a in self.instrs if i == "FROM"]
        self.assertEqual(len(froms), 2, froms)
        self.assertRegex(froms[0], r"^debian:12-slim\s+AS\s+build$")
        self.assertRegex(froms[1], r"^debian:12-slim$")
        copies = [a for i, a in self.stages[1] if i == "COPY"]
        self.assertTrue(any(a.startswith("--from=build ") for a in copies), copies)
        build_runs = " ".join(a for i, a in self.stages[0] if i == "RUN")
        for p in self.BUILD_PACKAGES:
            self.assertIn(p, apt_packages(build_runs), "build stage lacks %s" % p)
        for step in ("meson setup", "--buildtype=release", "meson install", "--destdir"):
            self.assertIn(step, build_runs)
        for i, a in self.instrs:
            if i != "COPY" or a.startswith("--from="):
                continue
            for src in a.split()[:-1]:
                self.assertTrue(os.path.exists(os.path.join(harness.REPO, src)),
                                "COPY of a missing file: %s" % src)

    def test_build_packages_cover_meson_dependencies(self):
        """Every pkg-config dependency meson.build names comes from a
        package that both dev.sh (the README's commands) and the build
        stage install: which package ships its .pc file is what dpkg
        says. (libnghttp2-dev was missing from both until 2026-12-07; a
        machine where someone had installed it by hand hid that.)"""
        for tool in ("pkg-config", "dpkg-query"):
            if which(tool) is None:
                self.skipTest("%s not installed (not a Debian system?)" % tool)
        names = sorted(set(re.findall(r"dependency\('([^']+)'\)",
                                      read(os.path.join(harness.REPO, "meson.build")))))
        names = [n for n in names if n != "threads"]
        self.assertIn("libnghttp2", names)
        m = re.search(r"^PACKAGES=\(([^)]*)\)", read(os.path.join(harness.REPO, "dev.sh")),
                      re.M)
        self.assertIsNotNone(m, "no PACKAGES=(...) in dev.sh")
        devsh = m.group(1).split()
        build = apt_packages(" ".join(a for i, a in self.stages[0] if i == "RUN"))
        for name in names:
            pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", name],
                                   stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=TOOL_TIMEOUT)
            self.assertEqual(pcdir.returncode, 0, "pkg-config does not know %s" % name)
            pc = os.path.join(pcdir.stdout.decode().strip(), name + ".pc")
            owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(pc)],
                                   stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=TOOL_TIMEOUT)
            self.assertEqual(owner.returncode, 0, "no package owns %s" % pc)
            pkg = owner.stdout.decode().split(":")[0]
            self.assertIn(pkg, devsh, "dev.sh does not install %s (for %s)" % (pkg, name))
            self.assertIn(pkg, build, "the build stage does not install %s (for %s)"
                          % (pkg, name))

    def test_runtime_stage(self):
        user = self.final("USER")
        self.assertNotRegex(user.split(":")[0], r"^(root|0)$", "runs as root")
        self.assertEqual(self.final("VOLUME"), "/var/lib/crated")
        self.assertEqual(self.final("EXPOSE"), "8080")
        self.assertEqual(json.loads(self.final("ENTRYPOINT")), ["crated", "serve"])
        self.assertEqual(json.loads(self.final("CMD")), ["--config", "/etc/crated/crated.toml"])
        hc = self.final("HEALTHCHECK")
        self.assertRegex(hc, r"\bCMD\b")
        self.assertIn("/-/health", hc)
        runtime = apt_packages(" ".join(a for i, a in self.stages[1] if i == "RUN"))
        self.assertIn("ca-certificates", runtime)
        for p in runtime:
            self.assertFalse(p.endswith("-dev"), "a -dev package in the runtime stage: %s" % p)
        ignore = read(CONTAINERFILE + ".dockerignore").split()
        for pat in (".git", "build", "build-*"):
            self.assertIn(pat, ignore)

    def healthcheck_argv(self):
        hc = self.final("HEALTHCHECK")
        m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc)
        self.assertIsNotNone(m, "HEALTHCHECK is not in exec form: " + hc)
        return json.loads(m.group(1))

    def test_healthcheck_probes_crated(self):
        argv = self.healthcheck_argv()
        if which(argv[0]) is None:
            self.skipTest("%s not installed" % argv[0])
        c = self.start_crated()
        live = [a.replace("/8080", "/%d" % c.port) for a in argv]
        p = subprocess.run(live, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, "HEALTHCHECK failed against a running crated: %r" % p)
        closed = [a.replace("/8080", "/%d" % free_port()) for a in argv]
        p = subprocess.run(closed, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, "HEALTHCHECK passed with nothing listening")

    def test_runtime_packages_cover_the_binary(self):
        """Every shared library CRATED_BIN loads comes from a package the
        runtime stage installs, or from one of their dependencies (what
        this Debian's apt says)."""
        for tool in ("ldd", "dpkg-query", "apt-cache"):
            if which(tool) is None:
                self.skipTest("%s not installed (not a Debian system?)" % tool)
        ldd = subprocess.run(["ldd", harness.CRATED_BIN], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=TOOL_TIMEOUT).stdout.decode()
        libs = sorted(set(m.group(1) for m in re.finditer(r"=> (/\S+)", ldd)))
        if any("asan" in l or "ubsan" in l for l in libs):
            self.skipTest("a sanitizer build links the sanitizer runtimes")
        runtime = apt_packages(" ".join(a for i, a in self.stages[1] if i == "RUN"))
        dep = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends",
                              "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
                              "--no-enhances"] + runtime, stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=TOOL_TIMEOUT)
        if dep.returncode != 0:
            self.skipTest("apt-cache depends failed (no package lists?): %s" % dep.stderr[-300:])
        closure = set(re.findall(r"(?m)^\s*(?:\|?(?:Pre)?Depends:\s*)?<?([a-z0-9][a-z0-9.+-]+)"
                                 r"(?::[a-z0-9]+)?>?\s*$", dep.stdout.decode()))
        closure |= set(runtime) | {"libc6", "libgcc-s1"}
        missing = []
        for lib in libs:
            real = os.path.realpath(lib)
            owner = None
            for path in (lib, real, "/usr" + real if not real.startswith("/usr/") else real):
                p = subprocess.run(["dpkg-query", "-S", path], stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=TOOL_TIMEOUT)
                if p.returncode == 0:
                    owner = p.stdout.decode().split(":")[0]
                    break
            if owner is None:
                continue    # not from a package (a local build): nothing to say
            if owner not in closure:
                missing.append("%s (%s)" % (lib, owner))
        self.assertEqual(missing, [], "libraries of crated that the runtime stage does not "
                         "install (runtime packages: %s)" % " ".join(runtime))


# ---------------------------------------------------------------------------
# nginx-replicas.conf


class NginxTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.nginx = which("nginx")
        if self.nginx is None:
            self.skipTest("nginx not installed (Debian package: nginx-light or nginx)")
        self.text = read(NGINX_CONF)
        self.addrs = sorted(set(re.findall(r"server\s+(10\.0\.0\.\d+:8080)", self.text)))

    def test_static(self):
        self.assertRegex(self.text, r"(?m)^\s*hash \$crate consistent;")
        self.assertRegex(self.text, r"(?m)^map \$uri \$crate \{")
        self.assertGreaterEqual(len(self.addrs), 2, "want several replicas")

    def wrapper(self, ports, listen_port):
        """nginx.conf around a copy of the example: servers on 127.0.0.1
        ports, logs and temp files in self.tmp. Returns its path."""
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        site = self.text
        for addr, port in zip(self.addrs, ports):
            site = site.replace(addr, "127.0.0.1:%d" % port)
        site = site.replace("/var/log/nginx/", d + "/")
        site = re.sub(r"(?m)^(\s*)listen 80;", r"\1listen 127.0.0.1:%d;" % listen_port, site)
        write(os.path.join(d, "site.conf"), site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = ("%(user)spid %(d)s/nginx.pid;\nerror_log %(d)s/error.log;\n"
                "worker_processes 1;\nevents { worker_connections 64; }\n"
                "http {\n  client_body_temp_path %(d)s/client_body;\n"
                "  proxy_temp_path %(d)s/proxy;\n  fastcgi_temp_path %(d)s/fastcgi;\n"
                "  uwsgi_temp_path %(d)s/uwsgi;\n  scgi_temp_path %(d)s/scgi;\n"
                "  access_log off;\n  include %(d)s/site.conf;\n}\n") % {"d": d, "user": user}
        return write(os.path.join(d, "nginx.conf"), main)

    def nginx_cmd(self, conf, *args):
        d = os.path.dirname(conf)
        return [self.nginx, "-p", d + "/", "-e", os.path.join(d, "error.log"),
                "-c", conf] + list(args)

    def test_nginx_t(self):
        conf = self.wrapper([9] * len(self.addrs), free_port())
        p = subprocess.run(self.nginx_cmd(conf, "-t"), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TOOL_TIMEOUT)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertEqual(p.returncode, 0, "nginx -t:\n" + out)
        self.assertIn("test is successful", out)

    def run_nginx(self, ports, port=None):
        """nginx on the example in front of 127.0.0.1:ports (stopped at
        cleanup). Returns (its port, the path of its access log)."""
        port = port or free_port()
        conf = self.wrapper(ports, port)
        log = os.path.join(os.path.dirname(conf), "crated.access.log")
        with open(os.path.join(self.tmp, "nginx.out"), "wb") as out:
            proc = subprocess.Popen(self.nginx_cmd(conf, "-g", "daemon off;"),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        harness._live_procs.append(proc)
        self.addCleanup(self.stop_nginx, proc)
        if not harness.wait_until(lambda: harness.port_answers(port) or proc.poll() is not None, 10) \
                or proc.poll() is not None:
            self.fail("nginx did not start: %s" % read(os.path.join(self.tmp, "nginx.out")))
        return port, log

    def test_hashes_by_crate(self):
        """Three crated replicas behind the example: the log's $crate is
        the crate of each path, one crate's index and downloads reach one
        replica, crates spread over replicas; paths that name no crate
        (publish, search) get a random key."""
        replicas = []
        for i in range(len(self.addrs)):
            tmp = os.path.join(self.tmp, "r%d" % i)
            os.makedirs(tmp)
            replicas.append(self.start_crated(
                tmp=tmp, registries='[registries.local]\n\n[registries.crates-io]\n'
                'upstream = "https://index.crates.io/"\noffline = true\n'))
        port, log = self.run_nginx([r.port for r in replicas])

        def get(path, method="GET", body=None, headers=None):
            return harness.http_request(port, method, path, body, headers)

        # (method, path): expected $crate (None: a random key). The
        # mirror is offline and its API calls here are writes (403), so
        # nothing reaches the internet.
        expect = {
            ("GET", "/crates-io/1/a"): "a",
            ("GET", "/crates-io/2/ab"): "ab",
            ("GET", "/crates-io/3/a/abc"): "abc",
            ("GET", "/crates-io/se/rd/serde"): "serde",
            ("GET", "/crates-io/api/v1/crates/serde/1.0.0/download"): "serde",
            ("DELETE", "/crates-io/api/v1/crates/serde/1.0.0/yank"): "serde",
            ("PUT", "/crates-io/api/v1/crates/serde/1.0.0/unyank"): "serde",
            ("GET", "/local/api/v1/crates/serde/owners"): "serde",
            ("GET", "/crates-io/config.json"): None,
            ("GET", "/local/api/v1/crates?q=serde"): None,
            ("PUT", "/local/api/v1/crates/new"): None,
            ("GET", "/-/health"): None,
        }
        for method, path in expect:
            r = get(path, method, b"" if method != "GET" else None)
            # crated's own answer (an offline mirror says 503), not nginx's
            self.assertNotIn(b"<center>nginx", r.body, "%s %s through nginx: %r" % (method, path, r))
        for path in ("/-/metrics", "/-/purge"):
            self.assertEqual(get(path).status, 404, "%s is reachable through nginx" % path)
        names = ["crate%02d" % i for i in range(24)]
        for n in names:
            get("/crates-io/" + harness.index_path(n))

        lines = self.read_log(log, len(expect) + len(names) + 2)
        seen = {}
        for l in lines:
            m = re.search(r'"(\S+) (\S+) HTTP/1\.\d" (\d+) \d+ crate=(\S+) replica=(\S+)', l)
            self.assertIsNotNone(m, "unexpected access log line: " + l)
            seen[(m.group(1), m.group(2))] = (m.group(4), m.group(5))
        for key, crate in expect.items():
            self.assertIn(key, seen, "no access log line for %s %s" % key)
            got = seen[key][0]
            if crate is None:
                self.assertRegex(got, r"^[0-9a-f]{32}$", "%s %s: want a random key" % key)
            else:
                self.assertEqual(got, crate, "%s %s: hash key" % key)
        serde = {seen[k][1] for k, c in expect.items()
                 if c == "serde" and k[1].startswith("/crates-io/")}
        self.assertEqual(len(serde), 1, "serde's requests went to several replicas: %s" % serde)
        spread = {seen[("GET", "/crates-io/" + harness.index_path(n))][1] for n in names}
        self.assertGreater(len(spread), 1, "24 crates all went to one replica")

    def replica_config(self, nginx_port, endpoint, creds_file):
        """crated-replica.toml as shipped but for what a test machine
        differs in: public_url (this nginx), the bucket's endpoint (the
        stand-in) and the credentials file's path."""
        text = read(REPLICA_TOML)
        subs = [(r'(?m)^public_url = "[^"]*"$', 'public_url = "http://127.0.0.1:%d"' % nginx_port),
                (r'(?m)^# storage_endpoint = "[^"]*"$', 'storage_endpoint = "%s"' % endpoint),
                (r'(?m)^storage_credentials_file = "[^"]*"$',
                 'storage_credentials_file = "%s"' % creds_file)]
        for pat, rep in subs:
            text, n = re.subn(pat, rep, text)
            self.assertEqual(n, 1, "crated-replica.toml: no line matching %s" % pat)
        return write(os.path.join(self.tmp, "crated-replica.toml"), text)

    def test_replicas_share_a_bucket(self):
        """Three replicas on crated-replica.toml behind the example:
        publishes through nginx land on several replicas and every
        replica, and cargo through nginx, sees every version."""
        text = read(REPLICA_TOML)
        bucket, prefix = re.search(r'(?m)^storage = "s3://([^/"]+)/([^"]+)"$', text).groups()
        region = re.search(r'(?m)^storage_region = "([^"]+)"$', text).group(1)
        self.assertRegex(text, r"(?m)^\[registries\.local\]\n(#.*\n)*auth_required = true$")
        akid, secret = "AKIDDEPLOY", "deploy/secret+key"
        s3 = s3_standin.S3StandIn(buckets=[bucket], creds={akid: secret}, region=region)
        self.addCleanup(s3.stop)
        creds = write(os.path.join(self.tmp, "storage.env"),
                      "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (akid, secret), 0o600)
        port = free_port()
        cfg = self.replica_config(port, s3.endpoint, creds)
        # No AWS_* variables: the credentials file is what the replicas use.
        no_aws = {k: None for k in os.environ if k.startswith("AWS_")}
        replicas = []
        for i in range(3):
            d = os.path.join(self.tmp, "r%d" % i)
            # --offline: the crates-io mirror never leaves the machine.
            replicas.append(self.start_crated(
                config_path=cfg, data_dir=d, tmp=self.tmp, name="r%d" % i, env=no_aws,
                args=["--data-dir", d, "--listen", "127.0.0.1:0", "--offline"]))
        self.run_nginx([r.port for r in replicas], port)
        log = os.path.join(self.tmp, "nginx", "crated.access.log")
        # A token made on any machine holding the file: it lands in the
        # bucket, and every replica accepts it without a restart.
        env = dict(harness.cli_env(), **no_aws)
        rc, out, err = harness.run_crated(
            ["token", "create", "--config", cfg, "--data-dir", os.path.join(self.tmp, "cli"),
             "--registry", "local", "--scope", "publish", "--name", "release"], env=env)
        self.assertEqual(rc, 0, err)
        token = out.strip()
        self.assertIsNotNone(s3.get(bucket, prefix + "/tokens.json"), "tokens.json not in the bucket")
        auth = {"Authorization": token}
        for r in replicas:
            self.assertEqual(r.get("/local/config.json").status, 401, "auth_required is off")
            # An unknown token makes a replica read the bucket's
            # tokens.json again, at most once a second: so from the
            # client's next try at the latest.
            resp = harness.wait_status(lambda: r.get("/local/config.json", headers=auth), 200, 5)
            self.assertEqual(resp.status, 200, "replica %d does not accept the bucket's token: %r"
                             % (r.port, resp))
        cargo = harness.Cargo(self.tmp, '[registries.local]\nindex = "sparse+http://127.0.0.1:%d'
                              '/local/"\ncredential-provider = ["cargo:token"]\n' % port,
                              tokens={"local": token})
        name = "deploy-fleet"
        published, took = [], {}
        # Publishes carry no crate in their path: nginx sends each to a
        # random replica. At least 6, until all three took one (at most 15).
        while len(published) < 15 and (len(published) < 6 or len(set(took.values())) < 3):
            vers = "0.%d.0" % (len(published) + 1)
            proj = harness.make_project(os.path.join(self.tmp, "p-" + vers), name, version=vers)
            cargo.run(["publish", "--registry", "local", "--no-verify", "--allow-dirty"],
                      proj, logs=replicas)
            published.append(vers)
            for l in read(log).splitlines():
                m = re.search(r'"PUT /local/api/v1/crates/new HTTP/1\.\d" 200 .* replica=(\S+)', l)
                if m and l not in took:
                    took[l] = m.group(1)
        self.assertEqual(len(took), len(published), "nginx's log: %s" % read(log))
        spread = sorted(set(took.values()))
        self.assertGreaterEqual(len(spread), 2, "every publish went to %s" % spread)
        # Each replica, asked directly, lists every version (within
        # storage_max_stale of the last publish).
        want = set(published)

        def listed(r):
            resp = r.get("/local/" + harness.index_path(name), headers=auth)
            if resp.status != 200:
                return set()
            return {json.loads(l)["vers"] for l in resp.body.decode().splitlines() if l.strip()}
        for r in replicas:
            self.assertEqual(harness.wait_value(lambda: listed(r), lambda v: v == want, 10), want,
                             "replica on port %d" % r.port)
        # cargo through nginx resolves every version, and downloads one.
        for vers in published:
            user = harness.make_project(os.path.join(self.tmp, "u-" + vers), "user",
                                        deps='%s = { version = "=%s", registry = "local" }'
                                        % (name, vers), publish=False)
            cargo.run(["generate-lockfile"], user, logs=replicas)
            locked = {p["name"]: p["version"] for p in harness.read_lock(
                os.path.join(user, "Cargo.lock"))}
            self.assertEqual(locked.get(name), vers)
        cargo.run(["fetch"], user, logs=replicas)
        # The bucket holds every version with its .crate.
        idx = s3.get(bucket, "%s/local/index/%s" % (prefix, harness.index_path(name)))
        lines = [json.loads(l) for l in idx.decode().splitlines() if l.strip()]
        self.assertEqual(sorted(l["vers"] for l in lines), sorted(published))
        for l in lines:
            body = s3.get(bucket, "%s/local/crates/%s/%s-%s.crate" % (prefix, name, name, l["vers"]))
            self.assertIsNotNone(body, l["vers"])
            self.assertEqual(harness.sha256_hex(body), l["cksum"], l["vers"])
        for r in replicas:
            self.assertNotIn(secret, r.log_text(), "the bucket's secret key in a log")
        print("\nbehind nginx: %d versions published by cargo, taken by %d replicas (%s), "
              "each listed by all 3 and resolved through nginx"
              % (len(published), len(spread),
                 ", ".join("%s: %d" % (a, list(took.values()).count(a)) for a in spread)))

    def read_log(self, path, n):
        return harness.wait_value(lambda: read(path).splitlines() if os.path.exists(path) else [],
                                  lambda lines: len(lines) >= n, 10)

    def stop_nginx(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


if __name__ == "__main__":
    harness.main()
