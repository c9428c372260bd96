"""Helpers of the supply-chain policy tests (issue 28): a stand-in
upstream whose index lines carry pubtimes, advisory databases written in
the OSV layout, a crated configuration with a policy, Cargo.lock edits,
`crated policy explain` / `block` / `unblock`, and an independent checker
of RustSec ranges (OSV events and the main layout's requirements) for the
real snapshot in /work/shared/data (or $CRATED_SHARED_DATA).

Everything here computes its expectations itself, without crated's code:
SemVer precedence, OSV events, cargo's requirement syntax."""

import json
import os
import re
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import standins as S  # noqa: E402

SHARED_DATA = os.environ.get("CRATED_SHARED_DATA", "/work/shared/data")
OSV_SNAPSHOT = os.path.join(SHARED_DATA, "rustsec-advisory-db-osv-2026-08-21.tar.gz")
MAIN_SNAPSHOT = os.path.join(SHARED_DATA, "rustsec-advisory-db-2026-08-21.tar.gz")

HOUR = 3600
DAY = 86400
PUBTIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def rfc3339(t):
    """A pubtime as cargo writes and parses it: YYYY-MM-DDTHH:MM:SSZ."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


# ---------------------------------------------------------------------------
# an upstream whose lines carry pubtimes


class Raw:
    """A pubtime written as this JSON value, whatever it is."""

    def __init__(self, value):
        self.value = value


def add_version(tree, name, vers, pubtime=None, crate=True, sync=True):
    """Adds name@vers to a standins.RegistryTree with a "pubtime" field:
    None (no field), a number (Unix seconds, written as cargo writes it),
    a string or a Raw (written as given: a malformed one). crate: True (a
    real .crate made here), bytes, or None (index line only). Returns
    (line, crate bytes or None)."""
    if crate is True:
        crate = harness.make_crate(name, vers)
    ck = S.sha256_hex(crate) if crate is not None else "%064x" % (hash((name, vers)) & (2**256 - 1))
    doc = {"name": name, "vers": vers, "deps": [], "cksum": ck, "features": {},
           "yanked": False, "links": None, "v": 1}
    if isinstance(pubtime, Raw):
        doc["pubtime"] = pubtime.value
    elif isinstance(pubtime, (int, float)) and not isinstance(pubtime, bool):
        doc["pubtime"] = rfc3339(pubtime)
    elif pubtime is not None:
        doc["pubtime"] = pubtime
    line = json.dumps(doc, separators=(",", ":"))
    tree.index.setdefault(harness.index_path(name), []).append(line)
    tree.cksums[(name, vers)] = ck
    if crate is not None:
        url = S.expand_dl(tree.dl, name, vers, ck)
        tree.crates[url] = crate
    if sync:
        tree._sync()
    return line, crate


def upstream_line(tree, name, vers):
    for l in tree.index[harness.index_path(name)]:
        if json.loads(l)["vers"] == vers:
            return l
    raise KeyError((name, vers))


def yanked_form(line):
    """What a hold or a deny makes of an upstream line: "yanked": true,
    every other byte unchanged."""
    assert '"yanked":false' in line
    return line.replace('"yanked":false', '"yanked":true', 1)


def served_lines(srv, reg, name, headers=None):
    """(response, {vers: raw line}) of the index file crated serves."""
    r = srv.get("/%s/%s" % (reg, harness.index_path(name)), headers=headers)
    out = {}
    if r.status == 200:
        for l in r.body.decode().split("\n"):
            if l.strip():
                out[json.loads(l)["vers"]] = l
    return r, out


def yanked(srv, reg, name):
    """{vers: yanked} as crated serves name (None on a non-200)."""
    r, lines = served_lines(srv, reg, name)
    if r.status != 200:
        return None
    return {v: json.loads(l)["yanked"] for v, l in lines.items()}


def download(srv, reg, name, vers):
    return srv.get("/%s/api/v1/crates/%s/%s/download" % (reg, name, vers))


# ---------------------------------------------------------------------------
# advisories


def osv_advisory(adv_id, package, events, categories=(), informational=None,
                 withdrawn=None, summary=None, published="2026-08-01T00:00:00Z"):
    """One advisory in the RustSec OSV export's shape."""
    doc = {
        "id": adv_id, "modified": published, "published": published,
        "aliases": [], "related": [],
        "summary": summary or "%s: test advisory" % package, "details": "",
        "severity": [],
        "affected": [{
            "package": {"ecosystem": "crates.io", "name": package,
                        "purl": "pkg:cargo/" + package},
            "ecosystem_specific": {"affects": {"arch": [], "os": [], "functions": []},
                                   "affected_functions": None},
            "database_specific": {"categories": list(categories), "cvss": None,
                                  "informational": informational},
            "ranges": [{"type": "SEMVER", "events": list(events)}],
            "versions": []}],
        "references": [], "database_specific": {"license": "CC0-1.0"}}
    if withdrawn:
        doc["withdrawn"] = withdrawn
    return doc


def write_osv_db(root, advisories, real_ids=()):
    """An advisory database directory in the OSV layout (root/crates/
    RUSTSEC-*.json): the advisories given, and the real snapshot's
    advisories named in real_ids copied as they are. Returns root."""
    os.makedirs(os.path.join(root, "crates"), exist_ok=True)
    for doc in advisories:
        with open(os.path.join(root, "crates", doc["id"] + ".json"), "w") as f:
            json.dump(doc, f, indent=2)
    if real_ids:
        with tarfile.open(OSV_SNAPSHOT) as tf:
            for m in tf.getmembers():
                base = os.path.basename(m.name)
                if base[:-len(".json")] in real_ids and m.isfile():
                    data = tf.extractfile(m).read()
                    with open(os.path.join(root, "crates", base), "wb") as f:
                        f.write(data)
    return root


def snapshot_osv():
    """{id: advisory document} of the real OSV snapshot."""
    out = {}
    with tarfile.open(OSV_SNAPSHOT) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.endswith(".json"):
                doc = json.loads(tf.extractfile(m).read())
                out[doc["id"]] = doc
    return out


def snapshot_main():
    """{id: front matter (dict)} of the real main-layout snapshot."""
    import tomllib
    out = {}
    with tarfile.open(MAIN_SNAPSHOT) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.endswith(".md") and "/RUSTSEC-" in m.name:
                text = tf.extractfile(m).read().decode()
                fm = re.match(r"```toml\n(.*?)\n```", text, re.S)
                doc = tomllib.loads(fm.group(1))
                out[doc["advisory"]["id"]] = doc
    return out


# ---------------------------------------------------------------------------
# SemVer, independently of crated


def parse_version(s):
    """(major, minor, patch, pre identifiers tuple) of a SemVer string."""
    s = s.split("+", 1)[0]
    core, _, pre = s.partition("-")
    parts = core.split(".")
    if len(parts) != 3:
        raise ValueError(s)
    return (int(parts[0]), int(parts[1]), int(parts[2]),
            tuple(pre.split(".")) if pre else ())


def _pre_key(pre):
    # no pre-release sorts after any pre-release of the same core
    if not pre:
        return (1,)
    key = []
    for ident in pre:
        key.append((0, int(ident), "") if ident.isdigit() else (1, 0, ident))
    return (0, tuple(key))


def vkey(s):
    """A sort key of SemVer precedence."""
    ma, mi, pa, pre = parse_version(s)
    return (ma, mi, pa, _pre_key(pre))


def osv_affects(doc, vers):
    """OSV's rule for SEMVER ranges: walk the events in version order;
    introduced opens, fixed closes (0.0.0-0 and "0" mean from the start)."""
    v = vkey(vers)
    for aff in doc["affected"]:
        for rng in aff["ranges"]:
            events = []
            for e in rng["events"]:
                (kind, at), = e.items()
                low = at in ("0", "0.0.0-0")
                events.append((vkey("0.0.0-0") if low else vkey(at), kind, low))
            events.sort(key=lambda x: x[0])
            hit = False
            for at, kind, low in events:
                if kind == "introduced" and (low or v >= at):
                    hit = True
                elif kind == "fixed" and v >= at:
                    hit = False
                elif kind == "last_affected" and v > at:
                    hit = False
            if hit:
                return True
    return False


def _partial(v):
    """'1', '1.2', '1.2.3[-pre]' -> (numbers given, the full key)."""
    core, _, pre = v.partition("-")
    nums = [int(x) for x in core.split(".")]
    full = nums + [0] * (3 - len(nums))
    return nums, vkey("%d.%d.%d%s" % (full[0], full[1], full[2], "-" + pre if pre else ""))


def _k(ma, mi, pa):
    return vkey("%d.%d.%d" % (ma, mi, pa))


def _comparator_matches(c, v):
    """One comparator of cargo's syntax against a release version's key v
    (partial versions as cargo reads them: `>1.2` is `>=1.3.0`, `<=1.2`
    is `<1.3.0`, `=1.2` is `>=1.2.0, <1.3.0`)."""
    m = re.match(r"^\s*(>=|<=|>|<|=|\^|~)?\s*(\S+?)\s*$", c)
    op, text = m.group(1) or "^", m.group(2)
    nums, key = _partial(text)
    n = len(nums)
    ma, mi, pa = (nums + [0, 0])[:3]
    nxt = [_k(ma + 1, 0, 0), _k(ma, mi + 1, 0), None][n - 1]  # past the partial
    if op == "=":
        return v == key if n == 3 else key <= v < nxt
    if op == ">=":
        return v >= key
    if op == ">":
        return v > key if n == 3 else v >= nxt
    if op == "<":
        return v < key
    if op == "<=":
        return v <= key if n == 3 else v < nxt
    if op == "~":
        return key <= v < (_k(ma + 1, 0, 0) if n == 1 else _k(ma, mi + 1, 0))
    if ma > 0 or n == 1:
        return key <= v < _k(ma + 1, 0, 0)
    if mi > 0 or n == 2:
        return key <= v < _k(0, mi + 1, 0)
    return key <= v < _k(0, 0, pa + 1)


def req_matches(req, vers):
    """cargo's requirement syntax for a version without pre-release (the
    pre-release rule does not arise): every comma-separated comparator."""
    assert not parse_version(vers)[3], "req_matches takes release versions only"
    vk = vkey(vers)
    return all(_comparator_matches(c, vk) for c in req.split(","))


def main_affects(doc, vers):
    """The main layout's rule: affected when no patched and no unaffected
    requirement matches."""
    v = doc.get("versions", {})
    reqs = list(v.get("patched", [])) + list(v.get("unaffected", []))
    return not any(req_matches(r, vers) for r in reqs)


def counts(informational, withdrawn):
    """Whether an advisory counts under the default settings."""
    return not informational and not withdrawn


def boundary_versions(texts, release_only=False):
    """Test versions around each version named in texts (events or
    requirement operands): the version itself, its neighbours, plus
    0.0.1 and 999.0.0."""
    out = {"0.0.1", "999.0.0"}
    for t in texts:
        for tok in re.findall(r"\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?", t):
            core, _, pre = tok.partition("-")
            ma, mi, pa = ([int(x) for x in core.split(".")] + [0, 0])[:3]
            core = "%d.%d.%d" % (ma, mi, pa)
            if pre and not release_only:
                out.add(core + "-" + pre)
            out.add(core)
            out.add("%d.%d.%d" % (ma, mi, pa + 1))
            if pa > 0:
                out.add("%d.%d.%d" % (ma, mi, pa - 1))
            elif mi > 0:
                out.add("%d.%d.99" % (ma, mi - 1))
            elif ma > 0:
                out.add("%d.99.0" % (ma - 1))
    out.discard("0.0.0-0")
    return sorted(out, key=vkey)


# ---------------------------------------------------------------------------
# crated


def toml_list(items):
    return "[%s]" % ", ".join(json.dumps(i) for i in items)


def policy_keys(min_age=None, exempt=None, deny=None, advisory_action=None, hide=None,
                advisory_db=None):
    """A registry's policy keys as TOML lines."""
    out = []
    if advisory_db is not None:
        out.append("advisory_db = %s" % json.dumps(advisory_db))
    if min_age is not None:
        out.append("min_publish_age = %s" % json.dumps(min_age))
    if exempt is not None:
        out.append("min_publish_age_exempt = %s" % toml_list(exempt))
    if deny is not None:
        out.append("deny = %s" % toml_list(deny))
    if advisory_action is not None:
        out.append("advisory_action = %s" % json.dumps(advisory_action))
    if hide is not None:
        out.append("policy_hide = %s" % ("true" if hide else "false"))
    return "".join(l + "\n" for l in out)


def mirror_registry(name, upstream, ttl=0, **policy):
    """[registries.NAME]: a mirror of upstream with index_ttl = ttl (0:
    every request revalidates, so an upstream change shows at once) and
    the policy keys."""
    return (S.mirror_toml(name, upstream, index_ttl=ttl, negative_ttl=0,
                          prefetch_dependencies=False) + policy_keys(**policy))


def global_keys(advisory_db=None):
    return "advisory_db = %s\n" % json.dumps(advisory_db) if advisory_db else ""


def write_cfg(path, data_dir, registries, advisory_db=None, listen=("127.0.0.1:0",)):
    return harness.write_config(path, data_dir, listen=listen,
                                extra=global_keys(advisory_db), registries=registries)


def crated_cmd(args, timeout=60):
    """Runs a crated command (leak reports of the short-lived process off,
    as harness.cli_env): (rc, stdout, stderr)."""
    return harness.run_crated(args, timeout=timeout, env=harness.cli_env())


def explain(cfg, name, vers, registry=None):
    args = ["policy", "explain", "--config", cfg]
    if registry:
        args += ["--registry", registry]
    return crated_cmd(args + [name, vers])


def block(cfg, spec, reason=None, registry=None):
    args = ["block", "--config", cfg]
    if registry:
        args += ["--registry", registry]
    args.append(spec)
    if reason is not None:
        args += ["--reason", reason]
    return crated_cmd(args)


def unblock(cfg, spec, registry=None):
    args = ["unblock", "--config", cfg]
    if registry:
        args += ["--registry", registry]
    return crated_cmd(args + [spec])


POLICY_LINE = r"registry \S+: policy: "


def hup_and_wait(srv, count):
    """SIGHUP, then the count-th "configuration ... reloaded" line and a
    policy line logged after it (the views are remade on the workers once
    the blocks and snapshots are read again: then the new settings apply
    to every request)."""
    import signal
    before = len(harness.wait_log(srv, POLICY_LINE, 0))
    srv.proc.send_signal(signal.SIGHUP)
    lines = harness.wait_log(srv, r"SIGHUP: configuration .* reloaded", 10, count=count)
    if len(lines) < count:
        raise AssertionError("no reload after SIGHUP; log:\n" + srv.log_tail())
    if len(harness.wait_log(srv, POLICY_LINE, 10, count=before + 1)) <= before:
        raise AssertionError("no policy line after the reload; log:\n" + srv.log_tail())


def verdicts(srv, **labels):
    """The sum of crated_policy_verdicts_total over the series with labels."""
    return harness.metrics(srv).sum("crated_policy_verdicts_total", **labels)


# ---------------------------------------------------------------------------
# cargo projects and lock files


def project(tmp, tag, deps, reg="mirror"):
    """A library project depending on deps ({name: requirement}) from
    registry reg."""
    lines = ['%s = { version = "%s", registry = "%s" }' % (n, r, reg)
             for n, r in sorted(deps.items())]
    return harness.make_project(os.path.join(tmp, "proj-" + tag), "proj-" + tag.replace("_", "-"),
                                publish=False, deps="\n".join(lines))


def locked(proj):
    """{name: version} of proj's Cargo.lock (registry packages only)."""
    return {p["name"]: p["version"] for p in harness.read_lock(os.path.join(proj, "Cargo.lock"))
            if "source" in p}


def pin(proj, name, vers, cksum):
    """Rewrites proj's Cargo.lock so that it pins name at vers (as a lock
    file written when vers was the newest would)."""
    path = os.path.join(proj, "Cargo.lock")
    with open(path) as f:
        text = f.read()
    blocks = text.split("[[package]]")
    done = 0
    for i, b in enumerate(blocks):
        if re.search(r'^name = "%s"$' % re.escape(name), b, re.M):
            b = re.sub(r'^version = ".*"$', 'version = "%s"' % vers, b, count=1, flags=re.M)
            b = re.sub(r'^checksum = ".*"$', 'checksum = "%s"' % cksum, b, count=1, flags=re.M)
            blocks[i] = b
            done += 1
    assert done == 1, "%s not once in %s" % (name, path)
    with open(path, "w") as f:
        f.write("[[package]]".join(blocks))


def mirror_cargo(tmp, srv, reg="mirror"):
    return harness.Cargo(tmp, '[registries.%s]\nindex = "sparse+%s/%s/"\n' % (reg, srv.url, reg))
