#!/usr/bin/env python3
"""The shape of the code, checked from what the compiler and linker see.

  layers.py calls LIBCORE.a LIBPURE.a   no two files of server/ call each
                                         other, directly or round a loop;
                                         index/, cache/ and policy/ call
                                         neither the event loop, curl nor
                                         server/
  layers.py lengths DIR...               no function longer than 100 lines
  layers.py style FILE...                tmux's style(9) as far as a tool can
                                         tell: tabs indent (spaces after them
                                         after them align), no trailing blanks
  layers.py graph LIBCORE.a LIBPURE.a    prints who calls whom, file by file

"Calls" means what the linker resolves: an undefined symbol in one object
that another object defines (nm). Calls through function pointers are not
seen, which is the point: a handler hands a callback down, and the lower
file never names the upper one.
"""

import os
import re
import subprocess
import sys

MAX_LINES = 100
IMPURE = re.compile(r"^(event_|evbuffer_|bufferevent_|evconnlistener_|"
                    r"evutil_|curl_|nghttp2_)")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# meson names an object for its source's path with '/' made '_'.
SOURCES = {path.replace("/", "_"): path for path in
           (os.path.relpath(os.path.join(d, f), ROOT)
            for top in ("server", "index", "cache", "common", "policy")
            for d, _, fs in os.walk(os.path.join(ROOT, top))
            for f in fs if f.endswith(".c"))}


def objects(lib):
    """{object: (defined symbols, undefined symbols)} of a static library."""
    out = subprocess.run(["nm", "-A", lib], check=True, capture_output=True,
                         text=True).stdout
    objs = {}
    for line in out.splitlines():
        where, _, rest = line.rpartition(".o:")
        fields = rest.split()
        if not where or len(fields) < 2:
            continue
        obj = where.split(":")[-1].split("/")[-1]   # server_net_http.c
        obj = SOURCES.get(obj, obj)                 # server/net/http.c
        kind, name = fields[-2], fields[-1]
        defs, undefs = objs.setdefault(obj, (set(), set()))
        if kind == "U":
            undefs.add(name)
        elif kind in "TDBRCGSV":    # global definitions only
            defs.add(name)
    return objs


def call_graph(libs):
    objs = {}
    for lib in libs:
        objs.update(objects(lib))
    owner = {}
    for obj, (defs, _) in objs.items():
        for sym in defs:
            owner[sym] = obj
    edges = {}
    for obj, (_, undefs) in objs.items():
        for sym in undefs:
            to = owner.get(sym)
            if to and to != obj:
                edges.setdefault(obj, {}).setdefault(to, set()).add(sym)
    return objs, edges


def loops(nodes, edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def check_calls(libs):
    objs, edges = call_graph(libs)
    bad = 0
    for comp in loops(objs.keys(), edges):
        bad += 1
        print("loop: " + " <-> ".join(comp))
        for a in comp:
            for b, syms in sorted(edges.get(a, {}).items()):
                if b in comp:
                    print("  %s calls %s: %s" % (a, b, ", ".join(sorted(syms))))
    for obj, (_, undefs) in sorted(objs.items()):
        if not obj.startswith(("index/", "cache/", "policy/")):
            continue
        for sym in sorted(undefs):
            to = edges.get(obj, {})
            if IMPURE.match(sym) or any(t.startswith("server/") and
                                        sym in s for t, s in to.items()):
                bad += 1
                print("impure: %s uses %s" % (obj, sym))
    print("%d objects, %d file-to-file calls, %d problems" %
          (len(objs), sum(len(v) for v in edges.values()), bad))
    return bad


FUNC_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")


def check_lengths(paths):
    """Functions in style(9): the name at column 0, '{' and '}' at 0."""
    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        name, start = None, 0
        for i, line in enumerate(lines):
            m = FUNC_START.match(line)
            if m and not line.rstrip().endswith(";"):
                name, start = m.group(1), i
            elif line == "}" and name:
                n = i - start + 1
                if n > MAX_LINES:
                    bad += 1
                    print("%s:%d: %s is %d lines (at most %d)" %
                          (path, start + 1, name, n, MAX_LINES))
                name = None
    print("%d files, %d functions over %d lines" % (len(paths), bad, MAX_LINES))
    return bad


INDENT = re.compile(r"^\t* {0,7}(\S|$)")


def check_style(paths):
    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f.read().split("\n")):
                why = None
                if line != line.rstrip():
                    why = "trailing blanks"
                elif not INDENT.match(line):
                    why = "indent with tabs, not eight spaces"
                if why:
                    bad += 1
                    print("%s:%d: %s" % (path, i + 1, why))
    print("%d files, %d lines off the style" % (len(paths), bad))
    return bad


def main(argv):
    if len(argv) >= 2 and argv[0] == "calls":
        return 1 if check_calls(argv[1:]) else 0
    if len(argv) >= 2 and argv[0] == "graph":
        _, edges = call_graph(argv[1:])
        for a in sorted(edges):
            for b, syms in sorted(edges[a].items()):
                print("%s -> %s: %s" % (a, b, ", ".join(sorted(syms))))
        return 0
    if len(argv) >= 2 and argv[0] == "lengths":
        return 1 if check_lengths(argv[1:]) else 0
    if len(argv) >= 2 and argv[0] == "style":
        return 1 if check_style(argv[1:]) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
