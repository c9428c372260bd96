# Shared by the bench/*.sh scripts: sourced, not run. Sets up a work
# directory and a trap that stops every process the script started (their
# pids are kept in $pids; `bg_start` adds them) and removes the directory.
# Everything listens on 127.0.0.1.
set -euo pipefail
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench_dir")
crated=${CRATED_BIN:-$root/build/crated}
sample=${CRATED_SAMPLE:-$root/../shared/data/crates-io-index-2025-sample.tar.gz}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
[ -x "$crated" ] || { echo "no crated at $crated (set CRATED_BIN)" >&2
		       exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/crated-bench.XXXXXX")
chmod 755 "$work"	# nginx workers run as another user
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg_start CMD...: runs CMD in the background, remembers its pid in $bg_pid.
bg_start() {
	"$@" &
	bg_pid=$!
	pids+=("$bg_pid")
}

# bg_stop PID: stops one process started by bg_start and waits for it.
bg_stop() {
	local p=$1 keep=() q
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	pids=("${keep[@]+"${keep[@]}"}")
}

# free_port: prints a TCP port nobody listens on right now.
free_port() {
	"$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: waits until something accepts on PORT.
wait_port() {
	local i
	for ((i = 0; i < ${2:-10} * 50; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# crated_port LOG [SECONDS]: the port crated printed in "listening on".
crated_port() {
	local i p
	for ((i = 0; i < ${2:-10} * 50; i++)); do
		p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$1" 2>/dev/null | head -1)
		if [ -n "$p" ] && wait_port "$p" 1; then
			echo "$p"
			return 0
		fi
		sleep 0.02
	done
	echo "crated did not start; its log:" >&2
	cat "$1" >&2
	return 1
}

# load: the 1-minute load average now.
load() { cut -d' ' -f1 /proc/loadavg; }

# to_ms VALUE: a wrk latency (850.00us, 1.20ms, 2.01s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
		else { sub(/s$/, "", v); print v * 1000 } }'
}

# wrk_run OUT ARGS...: runs wrk --latency and prints "rps p99_ms errors":
# errors counts socket errors and non-2xx/3xx answers.
wrk_run() {
	local out=$1
	shift
	wrk --latency "$@" > "$out" 2>&1 || { cat "$out" >&2; return 1; }
	local rps p99 err
	rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	err=$(awk '/Non-2xx or 3xx/ {n += $NF}
	    /Socket errors/ {gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; i++)
	    n += $i} END {print n + 0}' "$out")
	echo "$rps $(to_ms "$p99") $err"
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# median X...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
		print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# verdict COND: "met" or "NOT met" for an awk condition.
verdict() { awk "BEGIN { exit !($1) }" && echo met || echo "NOT met"; }

# unpack_sample DIR: the real crates.io index sample, unpacked in DIR.
unpack_sample() {
	mkdir -p "$1"
	tar xzf "$sample" -C "$1"
}

bench_header() {
	echo "== $1 ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	    "load $(load), $("$crated" --version 2>&1 | head -1))"
}
