#!/usr/bin/env python3
"""HTTP helpers for bench/*.sh (standard library only). Not part of crated.

  client.py etags BASE PATHS OUT [--gzip]
                                       HEAD every path, write "path etag"
                                       (--gzip: accepting gzip; nine in ten
                                       answers must be gzip-encoded)
  client.py check BASE ETAGS [--gzip]  GET each path with If-None-Match: its
                                       ETag; every answer must be 304
  client.py getall BASE PATHS [--conns N] [--gzip]
                                       GET every path once over N keep-alive
                                       connections; every answer must be 200
  client.py burst PORT PATH N [--sources A,B]
                                       open N connections first (source
                                       addresses round-robin), then send one
                                       GET on each at once; count the answers
  client.py startup --url URL --runs N -- CMD...
                                       start CMD N times, time exec to its
                                       "listening on" line and to the first
                                       200 for URL; stop it each time
  client.py resolve-stats CRATED_LOG UPSTREAM_LOG SAMPLE ROOTS
                                       sort the index requests in crated's
                                       access log (log_level info) by what
                                       each waited for
"""
import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def conn_for(base):
    u = urllib.parse.urlsplit(base)
    return (u.hostname, u.port or 80, u.path.rstrip("/"))


def read_paths(path):
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


GZIP = {"Accept-Encoding": "deflate, gzip"}     # what cargo sends


def cmd_etags(a):
    host, port, prefix = conn_for(a.base)
    c = http.client.HTTPConnection(host, port)
    paths = read_paths(a.paths)
    gz = 0
    with open(a.out, "w") as out:
        for p in paths:
            c.request("HEAD", prefix + p, headers=GZIP if a.gzip else {})
            r = c.getresponse()
            r.read()
            et = r.getheader("ETag")
            if r.status != 200 or not et:
                sys.exit("%s%s: HEAD answered %d, ETag %r" %
                         (a.base, p, r.status, et))
            gz += r.getheader("Content-Encoding") == "gzip"
            out.write("%s %s\n" % (p, et))
    # Files gzip does not make smaller are answered as they are.
    if a.gzip and gz < len(set(paths)) * 9 // 10:
        sys.exit("%s: only %d of %d answers gzip-encoded" %
                 (a.base, gz, len(paths)))


def cmd_check(a):
    host, port, prefix = conn_for(a.base)
    c = http.client.HTTPConnection(host, port)
    counts = {}
    with open(a.etags) as f:
        for line in f:
            p, et = line.split(" ", 1)
            h = dict(GZIP) if a.gzip else {}
            h["If-None-Match"] = et.strip()
            c.request("GET", prefix + p, headers=h)
            r = c.getresponse()
            r.read()
            counts[r.status] = counts.get(r.status, 0) + 1
    print(" ".join("%d:%d" % kv for kv in sorted(counts.items())))
    if set(counts) != {304}:
        sys.exit(1)


def cmd_getall(a):
    host, port, prefix = conn_for(a.base)
    paths = read_paths(a.paths)
    counts, nbytes, lock = {}, [0], threading.Lock()
    hdrs = {"Accept-Encoding": "gzip"} if a.gzip else {}

    def worker(part):
        c = http.client.HTTPConnection(host, port)
        mine, got = {}, 0
        for p in part:
            c.request("GET", prefix + p, headers=hdrs)
            r = c.getresponse()
            got += len(r.read())
            mine[r.status] = mine.get(r.status, 0) + 1
        with lock:
            for k, v in mine.items():
                counts[k] = counts.get(k, 0) + v
            nbytes[0] += got

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(paths[i::a.conns],))
          for i in range(a.conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    print("%s bytes=%d seconds=%.2f" % (" ".join(
        "%d:%d" % kv for kv in sorted(counts.items())), nbytes[0], dt))
    if set(counts) != {200}:
        sys.exit(1)


async def burst(a):
    sources = a.sources.split(",") if a.sources else [None]
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: bench\r\n"
           "Accept: */*\r\n\r\n" % (a.path, a.port)).encode()
    conns = []
    for i in range(a.n):
        src = sources[i % len(sources)]
        r, w = await asyncio.open_connection(
            "127.0.0.1", a.port,
            local_addr=(src, 0) if src else None)
        conns.append((r, w))
    # Every connection is open: now the N first requests go out together.
    start = asyncio.Event()

    async def one(r, w):
        await start.wait()
        w.write(req)
        await w.drain()
        t0 = time.monotonic()
        line = await r.readline()
        status = int(line.split()[1]) if line else 0
        length = 0
        while True:
            h = await r.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        body = await r.readexactly(length) if length else b""
        w.close()
        return status, len(body), time.monotonic() - t0

    tasks = [asyncio.create_task(one(r, w)) for r, w in conns]
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    start.set()
    res = await asyncio.gather(*tasks, return_exceptions=True)
    dt = time.monotonic() - t0
    counts = {}
    for x in res:
        k = "error" if isinstance(x, BaseException) else x[0]
        counts[k] = counts.get(k, 0) + 1
    sizes = {x[1] for x in res if not isinstance(x, BaseException)}
    lat = sorted(x[2] for x in res if not isinstance(x, BaseException))
    print("statuses=%s bodies=%s first=%.0fms last=%.0fms wall=%.0fms" % (
        ",".join("%s:%d" % (k, v) for k, v in sorted(counts.items(),
                                                      key=str)),
        "/".join(str(s) for s in sorted(sizes)),
        lat[0] * 1000 if lat else -1, lat[-1] * 1000 if lat else -1,
        dt * 1000))
    return counts


def cmd_burst(a):
    counts = asyncio.run(burst(a))
    if counts != {200: a.n}:
        sys.exit(1)


def get_status(host, port, path):
    try:
        c = http.client.HTTPConnection(host, port, timeout=2)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except OSError:
        return None


def cmd_startup(a):
    host, port, path = conn_for(a.url)
    path = urllib.parse.urlsplit(a.url).path
    listen, first = [], []
    for _ in range(a.runs):
        t0 = time.monotonic()
        p = subprocess.Popen(a.cmd, stderr=subprocess.PIPE)
        seen = threading.Event()
        t_listen = [None]

        def reader():
            for line in p.stderr:
                if t_listen[0] is None and b"listening on" in line:
                    t_listen[0] = time.monotonic() - t0
                    seen.set()
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            deadline = t0 + 10
            t_first = None
            while time.monotonic() < deadline:
                if get_status(host, port, path) == 200:
                    t_first = time.monotonic() - t0
                    break
                time.sleep(0.0005)
            seen.wait(2)
        finally:
            p.terminate()
            p.wait()
            th.join(2)
        if t_first is None or t_listen[0] is None:
            sys.exit("crated did not answer %s within 10 s" % a.url)
        listen.append(t_listen[0] * 1000)
        first.append(t_first * 1000)
    print("listening_ms=%.1f first_200_ms=%.1f (medians of %d; all: %s / %s)"
          % (statistics.median(listen), statistics.median(first), a.runs,
             " ".join("%.1f" % x for x in listen),
             " ".join("%.1f" % x for x in first)))


def index_path(name):
    n = name.lower()
    if len(n) <= 2:
        return "%d/%s" % (len(n), n)
    if len(n) == 3:
        return "3/%s/%s" % (n[0], n)
    return "%s/%s/%s" % (n[:2], n[2:4], n)


def semver_key(v):
    core, _, pre = v.split("+")[0].partition("-")
    nums = tuple(int(x) for x in core.split("."))
    return nums + ((1,) if not pre else (0, pre))


def cmd_resolve_stats(a):
    """Sorts the index requests cargo made through a crated mirror by what
    each one waited for, from crated's access log (request start = log
    time - duration), the stand-in's log ("time path" lines) and the index
    files themselves. Warming (server/mirror/mirror_warm.c; index/deps.h) covers
    the normal and build dependencies of the versions the dependents'
    requirements pick (for a root, the newest of its two newest ranges),
    with the optional ones their features turn on; a miss is sorted by the
    closest reason found among the files fetched before it."""
    import datetime
    first_up = {}
    with open(a.upstream) as f:
        for line in f:
            t, p = line.split()
            first_up.setdefault(p.lstrip("/"), float(t))
    roots = {index_path(n) for n in a.roots.split(",")}
    files = {}

    def entries(p):
        if p not in files:
            try:
                with open(os.path.join(a.sample, p)) as f:
                    files[p] = [json.loads(x) for x in f if x.strip()]
            except FileNotFoundError:
                files[p] = []
        return files[p]

    reqs = []
    with open(a.crated) as f:
        for line in f:
            w = line.split()
            if len(w) < 9 or w[1] != "access:" or w[3] != '"GET':
                continue
            path = w[4].rstrip('"').split("/", 2)[2]
            if path == "config.json":
                continue
            end = datetime.datetime.strptime(
                w[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            dur = int(w[7].rstrip("us")) / 1e6
            reqs.append((end - dur, dur, path))
    reasons = ["required dep (its prefetch still queued, or not foreseen)",
               "optional dep (a feature the prefetch did not foresee)",
               "dep of an older version only", "dev-dep", "unrelated"]
    groups, seen = {}, []
    for t0, dur, p in sorted(reqs):
        if dur < 0.02:
            k = "hit: already cached"
        elif first_up.get(p, 1e18) < t0 - 0.002:
            k = "wait: joined a prefetch under way"
        elif p in roots:
            k = "miss: root crate (nothing names it)"
        else:
            best = len(reasons) - 1
            for q in seen:
                vs = sorted((v for v in entries(q) if not v.get("yanked")),
                            key=lambda v: semver_key(v["vers"]),
                            reverse=True)
                for i, v in enumerate(vs):
                    for d in v.get("deps", []):
                        if index_path(d.get("package") or d["name"]) != p:
                            continue
                        if d.get("kind") == "dev":
                            r = 3
                        elif i >= 3:
                            r = 2
                        elif d.get("optional"):
                            r = 1
                        else:
                            r = 0
                        best = min(best, r)
            k = "miss: " + reasons[best]
        g = groups.setdefault(k, [0, 0.0, []])
        g[0] += 1
        g[1] += dur
        g[2].append(p.rsplit("/", 1)[-1])
        seen.append(p)
    print("%d index requests from cargo, by what each waited for"
          " (requests, time):" % len(reqs))
    for k, (n, t, names) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print("  %-50s %4d %6.2f s  %s" % (k, n, t, " ".join(names[:6]) +
                                           (" ..." if n > 6 else "")))
    # How long cargo had an index request outstanding (the union of the
    # requests' intervals): the part of its run spent waiting, whatever
    # its own CPU took in between.
    waited, until = 0.0, None
    for t0, dur, p in sorted(reqs):
        t1 = t0 + dur
        if until is None or t0 > until:
            waited += dur
            until = t1
        elif t1 > until:
            waited += t1 - until
            until = t1
    if reqs:
        span = max(t + d for t, d, _ in reqs) - min(t for t, _, _ in reqs)
        print("  cargo waited for index files %.2f s of the %.2f s from its"
              " first request to the last answer" % (waited, span))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("etags")
    p.add_argument("base")
    p.add_argument("paths")
    p.add_argument("out")
    p.add_argument("--gzip", action="store_true")
    p.set_defaults(fn=cmd_etags)
    p = sub.add_parser("check")
    p.add_argument("base")
    p.add_argument("etags")
    p.add_argument("--gzip", action="store_true")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("getall")
    p.add_argument("base")
    p.add_argument("paths")
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--gzip", action="store_true")
    p.set_defaults(fn=cmd_getall)
    p = sub.add_parser("burst")
    p.add_argument("port", type=int)
    p.add_argument("path")
    p.add_argument("n", type=int)
    p.add_argument("--sources", default="")
    p.set_defaults(fn=cmd_burst)
    p = sub.add_parser("startup")
    p.add_argument("--url", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_startup)
    p = sub.add_parser("resolve-stats")
    p.add_argument("crated")
    p.add_argument("upstream")
    p.add_argument("sample")
    p.add_argument("roots")
    p.set_defaults(fn=cmd_resolve_stats)
    a = ap.parse_args()
    if getattr(a, "cmd", None) and a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    a.fn(a)


if __name__ == "__main__":
    main()
