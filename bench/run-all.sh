#!/usr/bin/env bash
# Runs the five scenario benchmarks one after another (each under about
# five minutes with the defaults), printing each one's output as it comes
# and, at the end, each one's verdict line. Arguments name a subset:
#   bench/run-all.sh warm-hits scale
# Env: CRATED_BIN (an optimised build, see bench/README.md), each script's
# own knobs (BENCH_SECONDS, BENCH_ROUNDS, BENCH_RUNS, ...), and
# BENCH_LOG=FILE to keep a copy of everything in FILE.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
all=(warm-hits downloads cold-resolve small-upstream coalescing scale)
all+=(fresh-file)
all+=(https-hits)
all+=(h2-hits)
all+=(ci-fleet)
# Run by name only (over two minutes each):
# storage (hosted registries on an object store: ./dev.sh bench storage),
# rustup-fleet (16 rustup installs of 150 MiB: ./dev.sh bench rustup-fleet).
[ $# -gt 0 ] && all=("$@")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
verdicts=()
for b in "${all[@]}"; do
	[ -x "$here/$b.sh" ] || { echo "no benchmark $b" >&2; exit 2; }
	start=$SECONDS
	"$here/$b.sh" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	[ -n "${BENCH_LOG:-}" ] && cat "$out" >> "$BENCH_LOG"
	verdicts+=("$(printf '%-13s %4ds  exit %d  %s' "$b" $((SECONDS - start)) \
	    "$rc" "$(grep -E '^[a-z0-9-]+: .*(not met|missed)' "$out" | tail -1)")")
	echo
done
summary=$(echo "== summary (load now $(cut -d' ' -f1-3 /proc/loadavg))"
    printf '%s\n' "${verdicts[@]}")
echo "$summary"
[ -n "${BENCH_LOG:-}" ] && echo "$summary" >> "$BENCH_LOG"
exit 0
