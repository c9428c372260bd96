#!/usr/bin/env bash
# Cold and warm `cargo generate-lockfile` through a crated mirror of the real
# crates.io index sample in ../shared/data, served by python3 -m http.server
# (the stand-in upstream, which logs every request it answers). A project
# depending on the sample's 15 root crates is resolved with a fresh
# CARGO_HOME: first with crated's cache empty (cold), then again (warm).
# Prints wall time and the upstream requests each run made.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
crated=${CRATED_BIN:-$root/build/crated}
sample=${CRATED_SAMPLE:-$root/../shared/data/crates-io-index-2025-sample.tar.gz}
cargo=$(command -v cargo || echo /root/.cargo/bin/cargo)
export RUSTUP_HOME=${RUSTUP_HOME:-/root/.rustup}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	    wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/up" "$work/proj/src"
tar xzf "$sample" -C "$work/up"
# python3 -m http.server listens with a backlog of 5: a burst of crated's
# parallel fetches would wait out SYN retries. Same server, deeper backlog.
(cd "$work/up" && exec python3 -c '
import functools, http.server, sys
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 256
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=".")
S(("127.0.0.1", 18201), h).serve_forever()' > /dev/null 2> "$work/up.log") &
pids+=($!)
cat > "$work/crated.toml" <<TOML
listen = ["127.0.0.1:18202"]
data_dir = "$work/data"
log_level = "warn"
[registries.cio]
upstream = "sparse+http://127.0.0.1:18201/"
TOML
"$crated" serve --config "$work/crated.toml" 2> "$work/crated.log" & pids+=($!)
sleep 0.5

cp "$(dirname "$0")/resolve-project.toml" "$work/proj/Cargo.toml"
echo "fn main() {}" > "$work/proj/src/main.rs"

run() {	# label
	local home="$work/home-$1" before after t0 t1
	mkdir -p "$home"
	cat > "$home/config.toml" <<TOML
[source.crates-io]
replace-with = "cio"
[registries.cio]
index = "sparse+http://127.0.0.1:18202/cio/"
TOML
	before=$(grep -c '"GET' "$work/up.log" || true)
	rm -f "$work/proj/Cargo.lock"
	t0=$(date +%s.%N)
	CARGO_HOME=$home "$cargo" generate-lockfile --manifest-path \
	    "$work/proj/Cargo.toml" 2> "$work/cargo-$1.log" ||
	    { cat "$work/cargo-$1.log"; exit 1; }
	t1=$(date +%s.%N)
	after=$(grep -c '"GET' "$work/up.log" || true)
	printf '%-5s %6.2f s  %4d upstream requests  %d packages locked  load %s\n' \
	    "$1" "$(echo "$t1 - $t0" | awk '{print $1 - $3}')" \
	    $((after - before)) "$(grep -c '^name = ' "$work/proj/Cargo.lock")" \
	    "$(cut -d' ' -f1 /proc/loadavg)"
}
run cold
run warm
