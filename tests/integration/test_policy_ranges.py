#!/usr/bin/env python3
"""The advisory range logic against the real RustSec snapshots (issue 28).

Both snapshots of ../shared/data (the OSV export and the main layout, as
they stood on 2026-08-21) are loaded by tests/tools/policy_driver, which
answers "NAME VERSION" with the ids of the advisories affecting it. This
file computes the same answers on its own, from the unpacked files:

* OSV: the schema's evaluation (explicit versions; each range's events
  sorted by SemVer precedence with "0" first, introduced / fixed /
  last_affected walked in order, limits), with its own SemVer parser;
* main layout: rustsec's Versions::is_vulnerable, each patched or
  unaffected requirement turned into an interval as rustsec's
  UnaffectedRange does (a bare or caret version up to the next breaking
  version's -0, tilde up to the next minor's -0, "> 1" as (1.0.0, ...)),
  a version affected when it lies in none of them.

Every advisory is asked about a few versions each: every version its
ranges or requirements name, one below and one above each, pre-releases
of each, 0.0.0 and a large one. The driver must agree on all of them, for
both layouts, and the two layouts must agree with each other wherever they
describe the same advisory; what the data itself disagrees on is listed in
KNOWN with the reason, and the test fails if that list is wrong either way.
"""

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import json
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DRIVER = os.environ.get("CRATED_POLICY_DRIVER",
                        os.path.join(harness.REPO, "build", "tests", "policy_driver"))
OSV_TAR = "rustsec-advisory-db-osv-2026-08-21.tar.gz"
MD_TAR = "rustsec-advisory-db-2026-08-21.tar.gz"

# Where the two layouts of the same snapshot date say different things.
# id: why. The test fails if one of these agrees after all, or if any other
# advisory disagrees.
KNOWN = {}
# In the OSV export only: a stale copy of RUSTSEC-2025-0065 (same crate,
# same text) that the main branch does not have.
OSV_ONLY = {"RUSTSEC-2025-0000"}


def shared_data():
    """../shared/data beside the repository (or its main worktree), or
    $CRATED_SHARED_DATA."""
    env = os.environ.get("CRATED_SHARED_DATA")
    if env:
        return env
    cands = [os.path.join(harness.REPO, "..", "shared", "data")]
    try:
        common = subprocess.run(["git", "-C", harness.REPO, "rev-parse",
                                 "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
        if common:
            cands.append(os.path.join(os.path.dirname(common), "..", "shared", "data"))
    except OSError:
        pass
    for c in cands:
        if os.path.isfile(os.path.join(c, OSV_TAR)):
            return os.path.abspath(c)
    return cands[0]


# ---------------------------------------------------------------------------
# SemVer 2.0.0, on its own (not the C code's)

VER_RE = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
                    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
                    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


def parse(s):
    m = VER_RE.fullmatch(s)
    if not m:
        raise ValueError("not SemVer: %r" % s)
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)


def key(v):
    """Sort key of precedence (semver.org §11); build metadata ignored."""
    ma, mi, pa, pre = v
    if not pre:
        return (ma, mi, pa, 1, ())
    ids = tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pre)
    return (ma, mi, pa, 0, ids)


def text(v):
    ma, mi, pa, pre = v
    return "%d.%d.%d%s" % (ma, mi, pa, "-" + ".".join(pre) if pre else "")


# ---------------------------------------------------------------------------
# OSV evaluation (the schema's pseudocode)

def osv_affects(affected, v):
    k = key(v)
    for s in affected.get("versions") or []:
        if key(parse(s)) == k:
            return True
    for r in affected.get("ranges") or []:
        if r["type"] not in ("SEMVER", "ECOSYSTEM"):
            continue

        def evkey(e):
            (t, s), = e.items()
            if t == "introduced" and s == "0":
                return (0,)
            if t == "limit" and s == "*":
                return (2,)
            return (1, key(parse(s)))
        events = sorted(r["events"], key=evkey)     # stable
        limits = [e["limit"] for e in events if "limit" in e]
        if limits and not any(s == "*" or k < key(parse(s)) for s in limits):
            continue
        vuln = False
        for e in events:
            (t, s), = e.items()
            if t == "introduced" and (s == "0" or k >= key(parse(s))):
                vuln = True
            elif t == "fixed" and k >= key(parse(s)):
                vuln = False
            elif t == "last_affected" and k > key(parse(s)):
                vuln = False
        if vuln:
            return True
    return False


# ---------------------------------------------------------------------------
# rustsec's reading of [versions] patched / unaffected

CMP_RE = re.compile(r"\s*(>=|<=|>|<|=|\^|~)?\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?"
                    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*")


def interval(req):
    """(lo, lo_inclusive, hi, hi_inclusive) of keys, None for unbounded."""
    if req.strip() == "*":
        return (None, False, None, False)
    comps = req.split(",")
    assert len(comps) <= 2, req
    lo = hi = None
    lo_inc = hi_inc = False
    for c in comps:
        m = CMP_RE.fullmatch(c)
        assert m, "requirement %r" % req
        op = m.group(1) or "^"
        ma = int(m.group(2))
        mi = int(m.group(3)) if m.group(3) is not None else None
        pa = int(m.group(4)) if m.group(4) is not None else None
        pre = tuple(m.group(5).split(".")) if m.group(5) else ()
        v = key((ma, mi or 0, pa or 0, pre))
        if op in (">", ">="):
            assert lo is None, req
            lo, lo_inc = v, op == ">="
        elif op in ("<", "<="):
            assert hi is None, req
            hi, hi_inc = v, op == "<="
        else:
            assert len(comps) == 1, req
            lo, lo_inc = v, True
            if op == "=":
                hi, hi_inc = v, True
                continue
            if op == "~":
                end = (ma + 1, 0, 0) if mi is None else (ma, mi + 1, 0)
            elif ma > 0 or mi is None:
                end = (ma + 1, 0, 0)
            elif pa is not None and mi == 0:
                end = (0, 0, pa + 1)
            else:
                end = (0, mi + 1, 0)
            hi, hi_inc = key(end + (("0",),)), False
    return (lo, lo_inc, hi, hi_inc)


def md_affects(versions, v):
    k = key(v)
    reqs = (versions.get("patched") or []) + (versions.get("unaffected") or [])
    for r in reqs:
        lo, lo_inc, hi, hi_inc = interval(r)
        above = lo is None or k > lo or (lo_inc and k == lo)
        below = hi is None or k < hi or (hi_inc and k == hi)
        if above and below:
            return False
    return True


def req_versions(req):
    out = []
    for c in req.split(","):
        m = CMP_RE.fullmatch(c)
        if m:
            pre = tuple(m.group(5).split(".")) if m.group(5) else ()
            out.append((int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0), pre))
    return out


# ---------------------------------------------------------------------------
# reading the snapshots

def canon(name):
    return name.lower().replace("-", "_")


def read_osv(root):
    advs = []
    d = os.path.join(root, "crates")
    for f in sorted(os.listdir(d)):
        if not (f.startswith("RUSTSEC-") and f.endswith(".json")):
            continue
        with open(os.path.join(d, f), encoding="utf-8") as fp:
            j = json.load(fp)
        for a in j["affected"]:
            if a["package"]["ecosystem"] != "crates.io":
                continue
            ds = a.get("database_specific") or {}
            cats = ds.get("categories") or []
            advs.append({
                "id": j["id"], "package": a["package"]["name"], "affected": a,
                "malicious": "malicious" in cats,
                "informational": ds.get("informational") is not None,
                "withdrawn": j.get("withdrawn") is not None,
            })
    return advs


def read_md(root):
    advs = []
    d = os.path.join(root, "crates")
    for pkg in sorted(os.listdir(d)):
        for f in sorted(os.listdir(os.path.join(d, pkg))):
            if not (f.startswith("RUSTSEC-") and f.endswith(".md")):
                continue
            with open(os.path.join(d, pkg, f), encoding="utf-8") as fp:
                t = fp.read()
            m = re.match(r"```toml\n(.*?\n)```", t, re.S)
            fm = tomllib.loads(m.group(1))
            a = fm["advisory"]
            advs.append({
                "id": a["id"], "package": a["package"], "versions": fm["versions"],
                "malicious": "malicious" in a.get("categories", []),
                "informational": "informational" in a,
                "withdrawn": "withdrawn" in a,
            })
    return advs


def probes(vs):
    """The versions to ask about around each version named: itself, one
    below, one above, pre-releases of each."""
    out = set()
    for v in vs:
        ma, mi, pa, pre = v
        base = [(ma, mi, pa, pre), (ma, mi, pa, ()), (ma, mi, pa + 1, ())]
        if pa > 0:
            base.append((ma, mi, pa - 1, ()))
        elif mi > 0:
            base.append((ma, mi - 1, 99, ()))
        elif ma > 0:
            base.append((ma - 1, 99, 99, ()))
        for b in base:
            out.add(b)
            if not b[3]:
                for p in (("0",), ("alpha",), ("rc", "1")):
                    out.add(b[:3] + (p,))
        if pre:
            out.add((ma, mi, pa, pre + ("0",)))
    out.update({(0, 0, 0, ()), (0, 0, 0, ("0",)), (0, 0, 1, ()), (999, 0, 0, ())})
    return out


def osv_named(a):
    vs = [parse(s) for s in a["affected"].get("versions") or []]
    for r in a["affected"].get("ranges") or []:
        for e in r["events"]:
            (t, s), = e.items()
            if s not in ("0", "*"):
                vs.append(parse(s))
    return vs


def md_named(a):
    vs = []
    for k in ("patched", "unaffected"):
        for r in a["versions"].get(k) or []:
            vs.extend(req_versions(r))
    return vs


def run_driver(snapshot, queries):
    """{(name, version): [ids]} from the driver, and its stderr line."""
    inp = "".join("%s %s\n" % q for q in queries)
    p = subprocess.run([DRIVER, snapshot], input=inp, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("policy_driver %s: %s" % (snapshot, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        f = line.split()
        out[(f[0], f[1])] = f[2:]
    return out, p.stderr.strip()


def driver_list(snapshot):
    p = subprocess.run([DRIVER, snapshot, "--list"], capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("policy_driver %s --list: %s" % (snapshot, p.stderr))
    return p.stdout.splitlines(), p.stderr.strip()


class PolicyRanges(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        data = shared_data()
        cls.osv_tar = os.path.join(data, OSV_TAR)
        cls.md_tar = os.path.join(data, MD_TAR)
        for t in (cls.osv_tar, cls.md_tar):
            if not os.path.isfile(t):
                raise AssertionError("%s is missing (set CRATED_SHARED_DATA to "
                                     "the directory of the snapshots)" % t)
        cls.tmp = harness.make_tempdir("crated-policy-")
        for name, t in (("osv", cls.osv_tar), ("md", cls.md_tar)):
            with tarfile.open(t) as tf:
                tf.extractall(os.path.join(cls.tmp, name), filter="data")
        cls.osv = read_osv(os.path.join(cls.tmp, "osv"))
        cls.md = read_md(os.path.join(cls.tmp, "md"))
        # every crate's probes, from both layouts
        named = {}
        for a in cls.osv:
            named.setdefault(a["package"], []).extend(osv_named(a))
        for a in cls.md:
            named.setdefault(a["package"], []).extend(md_named(a))
        cls.queries = sorted((pkg, text(v)) for pkg, vs in named.items()
                             for v in probes(vs))

    @classmethod
    def tearDownClass(cls):
        harness.remove_tempdir(cls.tmp)

    def expected(self, advs, affects):
        by = {}
        for a in advs:
            by.setdefault(canon(a["package"]), []).append(a)
        exp = {}
        for name, vers in self.queries:
            v = parse(vers)
            exp[(name, vers)] = sorted(a["id"] for a in by.get(canon(name), [])
                                       if affects(a, v))
        return exp

    def check_layout(self, tar, advs, affects):
        got, loaded = run_driver(tar, self.queries)
        sys.stderr.write("%s: %s\n" % (os.path.basename(tar), loaded))
        m = re.match(r"loaded (\d+) advisories", loaded)
        self.assertTrue(m, loaded)
        self.assertEqual(int(m.group(1)), len(advs), "every advisory loaded")
        exp = self.expected(advs, affects)
        self.assertEqual(len(got), len(self.queries))
        wrong = [(q, got.get(q), exp[q]) for q in self.queries if got.get(q) != exp[q]]
        self.assertEqual(wrong[:20], [], "%d of %d answers differ" %
                         (len(wrong), len(self.queries)))
        affected = sum(1 for q in self.queries if exp[q])
        sys.stderr.write("%s: %d probes of %d crates agree (%d affected)\n" %
                         (os.path.basename(tar), len(self.queries),
                          len({q[0] for q in self.queries}), affected))
        # not a test that cannot fail: both answers occur
        self.assertGreater(affected, len(self.queries) // 10)
        self.assertLess(affected, len(self.queries) - len(self.queries) // 10)
        return exp

    def test_osv_layout(self):
        self.check_layout(self.osv_tar, self.osv,
                          lambda a, v: osv_affects(a["affected"], v))

    def test_main_layout(self):
        self.check_layout(self.md_tar, self.md,
                          lambda a, v: md_affects(a["versions"], v))

    def test_fields(self):
        """Ids, crates and the malicious / informational / withdrawn flags
        as the driver read them, against this file's reading."""
        for tar, advs in ((self.osv_tar, self.osv), (self.md_tar, self.md)):
            lines, _ = driver_list(tar)
            got = sorted(tuple(l.split()[:2]) + tuple(l.split()[3:6]) for l in lines)
            exp = sorted((a["id"], a["package"], "m" if a["malicious"] else "-",
                          "i" if a["informational"] else "-",
                          "w" if a["withdrawn"] else "-") for a in advs)
            self.assertEqual(got, exp, tar)
        self.assertEqual(sum(a["malicious"] for a in self.md), 73)
        self.assertEqual(len(self.md), 1205)
        self.assertEqual(len(self.osv), 1206)

    def test_layouts_agree(self):
        """The OSV export is made from the main layout: where both have an
        advisory, they must affect the same versions (KNOWN lists where the
        data itself differs)."""
        osv = {a["id"]: a for a in self.osv}
        md = {a["id"]: a for a in self.md}
        self.assertEqual(set(osv) - set(md), OSV_ONLY)
        self.assertEqual(set(md) - set(osv), set())
        differ = {}
        for name, vers in self.queries:
            v = parse(vers)
            for i, a in md.items():
                if canon(a["package"]) != canon(name):
                    continue
                if canon(osv[i]["package"]) != canon(a["package"]):
                    differ.setdefault(i, []).append("package")
                    continue
                if osv_affects(osv[i]["affected"], v) != md_affects(a["versions"], v):
                    differ.setdefault(i, []).append(vers)
                for f in ("malicious", "informational", "withdrawn"):
                    if osv[i][f] != a[f]:
                        differ.setdefault(i, []).append(f)
        for i, what in sorted(differ.items()):
            sys.stderr.write("layouts differ on %s (%s): %s\n" %
                             (i, md[i]["package"], ", ".join(sorted(set(what))[:8])))
        self.assertEqual(sorted(differ), sorted(KNOWN))

    def test_directory_and_tarball(self):
        """An unpacked snapshot loads as its tarball does: same id."""
        for name, tar in (("osv", self.osv_tar), ("md", self.md_tar)):
            _, a = run_driver(tar, [])
            _, b = run_driver(os.path.join(self.tmp, name), [])
            self.assertEqual(a.split(": ")[-1], b.split(": ")[-1])


if __name__ == "__main__":
    unittest.main()
