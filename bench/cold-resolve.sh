#!/usr/bin/env bash
# Scenario 3, cold resolution: `cargo generate-lockfile` with a fresh
# CARGO_HOME of a project depending on the sample's 15 root crates (the
# project of bench/mirror-resolve.sh), against the real crates.io index
# sample served by bench/standin.py, which waits 50 ms before every answer
# and counts the requests it gets. cargo reaches the sample through
#   crated      a crated mirror of the stand-in (prefetch_dependencies on)
#   crated-nopf the same with prefetch_dependencies = false
#   crated-h1   prefetch on, http2 = false: cargo's h2c offer is declined
#               and it speaks HTTP/1.1 (only with a crated that has the
#               http2 key)
#   nginx       nginx proxy_cache in front of the stand-in (HTTP/1.1,
#               upstream keep-alive, proxy_cache_lock)
#   nghttpx     nghttpx (h2c, cleartext) in front of that nginx; cargo
#               offers Upgrade: h2c on http:// and multiplexes over it
#   crated-warm not cold: crated after one untimed resolution, so every
#               index file is cached and fresh; the timed run (a fresh
#               CARGO_HOME again) is the floor: cargo's own work and
#               serving from cache
#   nginx-warm, nghttpx-warm  the same for those
# Every run is cold: each server is started afresh with an empty cache
# and cargo with an empty CARGO_HOME. Runs rotate through the setups;
# the table shows medians. Targets: crated >= 10x faster than nginx
# proxy_cache, and faster than nghttpx+nginx.
# Env: CRATED_BIN, BENCH_RUNS (3), BENCH_DELAY (0.05 s), BENCH_CONCURRENCY
# (crated's upstream_concurrency; unset: crated's default, 64),
# BENCH_SETUPS ("crated crated-nopf crated-h1 nginx nghttpx"), BENCH_PERF
# (set: perf record crated during each of its runs; use with BENCH_KEEP=1),
# BENCH_TRIM (unset: the whole sample; N: bench/trim-index.py keeps only
# the newest N versions of each major.minor series in every file, a
# variant with smaller files, as the 2019 index the issue measured on),
# TMPDIR (where the work directory goes: /tmp; /dev/shm for no disk),
# BENCH_BASE_BIN (another crated, e.g. the build before a change: adds
# the setup "base", as "crated" with that binary, in the same rotation).
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-3}
delay=${BENCH_DELAY:-0.05}
if [ "$("$crated" --help 2>&1 | grep -c '^  http2 ')" -gt 0 ]; then
	setups=${BENCH_SETUPS:-crated crated-nopf crated-h1 nginx nghttpx crated-warm nghttpx-warm}
else	# a crated from before HTTP/2: it always speaks HTTP/1.1
	setups=${BENCH_SETUPS:-crated crated-nopf nginx nghttpx}
fi
if [ -n "${BENCH_BASE_BIN:-}" ] && [[ " $setups " != *" base "* ]]; then
	rest=
	for s in $setups; do [ "$s" = crated ] || rest="$rest $s"; done
	setups="crated base$rest"
fi
cargo=$(command -v cargo || echo /root/.cargo/bin/cargo)
export RUSTUP_HOME=${RUSTUP_HOME:-/root/.rustup}
bench_header "cold resolution: cargo generate-lockfile, upstream +${delay}s per answer, medians of $runs"
# A cold run through crated creates some 1,400 files and directories in
# its cache alone, besides CARGO_HOME's: how dear that is here now
# (bench/lib.sh create_ms) explains much of the spread between runs on a
# disk; TMPDIR=/dev/shm takes the disk out.
echo "work directory $work ($(df --output=fstype "$work" | tail -1)): 500" \
    "file creations took $(create_ms) ms"

unpack_sample "$work/up"
if [ -n "${BENCH_TRIM:-}" ]; then
	"$python" "$bench_dir/trim-index.py" --keep "$BENCH_TRIM" "$work/up" || exit 2
fi
sport=$(free_port)
bg_start "$python" "$bench_dir/standin.py" --root "$work/up" --port "$sport" \
    --delay "$delay" --log "$work/up.log"
wait_port "$sport"

mkdir -p "$work/proj/src"
cp "$(dirname "$0")/resolve-project.toml" "$work/proj/Cargo.toml"
echo "fn main() {}" > "$work/proj/src/main.rs"
roots=$(sed -n '/^\[dependencies\]/,$ s/^\([a-z_-]*\) = .*/\1/p' \
    "$work/proj/Cargo.toml" | paste -sd,)

# start SETUP RUN: starts that setup's servers afresh (empty caches);
# sets $index (cargo's index URL) and $spids (what to stop afterwards).
start() {
	local d=$work/run-$1-$2 p np
	mkdir -p "$d"
	spids=()
	case ${1%-warm} in
	crated* | base)
		p=$(free_port)
		cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$p"]
data_dir = "$d/data"
log_level = "info"
[registries.cio]
upstream = "sparse+http://127.0.0.1:$sport/"
prefetch_dependencies = $([ "$1" = crated-nopf ] && echo false || echo true)
TOML
		if [ "$1" = crated-h1 ]; then
			sed -i '/^log_level/a http2 = false' "$d/crated.toml"
		fi
		if [ -n "${BENCH_CONCURRENCY:-}" ]; then
			echo "upstream_concurrency = $BENCH_CONCURRENCY" >> \
			    "$d/crated.toml"
		fi
		bg_start "$([ "$1" = base ] && echo "$BENCH_BASE_BIN" ||
		    echo "$crated")" serve --config "$d/crated.toml" \
		    2> "$d/crated.log"
		spids+=("$bg_pid")
		wait_port "$p"
		index=sparse+http://127.0.0.1:$p/cio/
		;;
	nginx | nghttpx)
		proxy_cache_start "$d" "$sport"
		index=sparse+http://127.0.0.1:$proxy_port/
		if [ "${1%-warm}" = nghttpx ]; then
			nghttpx_start "$d" "$proxy_port" \
			    --accesslog-file="$d/nghttpx.access" \
			    --accesslog-format='$alpn $status $path'
			index=sparse+http://127.0.0.1:$h2c_port/
		fi
		;;
	esac
}


# one SETUP RUN: sets r_t (seconds), r_u (upstream requests), r_n
# (packages locked), r_cpu (the servers' CPU seconds, user + system,
# during the timed run) and r_cargo (cargo's own CPU seconds, user +
# system, in the timed run). Not in a subshell, so the trap knows every
# server.
one() {
	local d=$work/run-$1-$2 before after t0 t1 s ticks0
	start "$1" "$2"
	mkdir -p "$d/home"
	cat > "$d/home/config.toml" <<TOML
[source.crates-io]
replace-with = "bench"
[registries.bench]
index = "$index"
TOML
	if [[ $1 == *-warm ]]; then
		mkdir -p "$d/home0"
		cp "$d/home/config.toml" "$d/home0/"
		rm -f "$work/proj/Cargo.lock"
		CARGO_HOME=$d/home0 "$cargo" generate-lockfile --manifest-path \
		    "$work/proj/Cargo.toml" 2> "$d/cargo0.log" ||
		    { echo "$1: cargo failed:" >&2; cat "$d/cargo0.log" >&2
		      exit 1; }
		sleep 0.5	# the prefetch may still be fetching
	fi
	before=$(wc -l < "$work/up.log")
	rm -f "$work/proj/Cargo.lock"
	local perf_pid=
	if [ -n "${BENCH_PERF:-}" ] && [[ $1 == crated* || $1 == base ]]; then
		perf record -q -F 4000 -g -p "${spids[0]}" -o "$d/perf.data" \
		    > /dev/null 2>&1 &
		perf_pid=$!
		sleep 0.3
	fi
	ticks0=$(server_ticks)
	t0=$(date +%s.%N)
	# bash's time keyword: cargo's (and its children's) user + system
	# CPU, from wait4's rusage.
	{ TIMEFORMAT='%U %S'; time CARGO_HOME=$d/home "$cargo" \
	    generate-lockfile --manifest-path "$work/proj/Cargo.toml" \
	    2> "$d/cargo.log"; } 2> "$d/cargo.cpu" ||
	    { echo "$1: cargo failed:" >&2; cat "$d/cargo.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	r_cargo=$(awk '{printf "%.2f", $1 + $2}' "$d/cargo.cpu")
	# The prefetch may still be fetching: let it finish before counting.
	sleep 0.5
	after=$(wc -l < "$work/up.log")
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"; wait "$perf_pid" || true
		echo "  perf profile: $d/perf.data" >&2
	fi
	r_cpu=$(awk -v t="$(server_ticks)" -v t0="$ticks0" -v h="$clk_tck" \
	    'BEGIN {printf "%.2f", (t - t0) / h}')
	for s in "${spids[@]}"; do bg_stop "$s"; done
	sed -n "$((before + 1)),${after}p" "$work/up.log" > "$d/up.log"
	r_why=
	case $1 in crated | crated-h1 | base) r_why=$("$python" "$bench_dir/client.py" \
	    resolve-stats "$d/crated.log" "$d/up.log" "$work/up" "$roots" |
	    sed 's/^/    /');; esac
	r_t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	r_u=$((after - before))
	r_n=$(grep -c '^name = ' "$work/proj/Cargo.lock")
}

declare -A times=() ups=() pkgs=() cpus=() cargos=()
for ((i = 1; i <= runs; i++)); do
	for s in $setups; do
		one "$s" "$i"
		t=$r_t u=$r_u n=$r_n
		cpus[$s]="${cpus[$s]:-} $r_cpu"
		cargos[$s]="${cargos[$s]:-} $r_cargo"
		times[$s]="${times[$s]:-} $t"
		ups[$s]="${ups[$s]:-} $u"
		pkgs[$s]="${pkgs[$s]:-} $n"
		echo "  run $i $s: ${t}s, $u upstream requests, $n packages locked," \
		    "server CPU ${r_cpu}s, cargo CPU ${r_cargo}s, load $(load)"
		[ -z "$r_why" ] || echo "$r_why"
	done
done

printf '%-12s %9s %10s %10s %9s %9s %8s %8s  %s\n' setup median_s vs_nginx \
    vs_nghttpx upstream packages cpu_s cargo_s "all runs (s)"
declare -A med=()
for s in $setups; do med[$s]=$(median ${times[$s]}); done
for s in $setups; do
	printf '%-12s %9.2f %9sx %9sx %9s %9s %8s %8s  %s\n' "$s" "${med[$s]}" \
	    "$([ -n "${med[nginx]:-}" ] && ratio "${med[nginx]}" "${med[$s]}" || echo -)" \
	    "$([ -n "${med[nghttpx]:-}" ] && ratio "${med[nghttpx]}" "${med[$s]}" || echo -)" \
	    "$(median ${ups[$s]})" "$(median ${pkgs[$s]})" \
	    "$(median ${cpus[$s]})" "$(median ${cargos[$s]})" "${times[$s]# }"
done
echo "(vs_X: how many times faster than X, X's median time / this one's;" \
    "upstream: median requests the stand-in answered per run; cpu_s: median" \
    "CPU seconds the servers (crated; nginx; nghttpx and nginx) used during" \
    "the timed run; cargo_s: median CPU seconds cargo itself used)"
# What no server can go below: cargo's own CPU time in the runs where it
# waited for nothing (every file cached), and wall time then.
for s in crated-warm nghttpx-warm nginx-warm; do
	[ -n "${med[$s]:-}" ] || continue
	echo "floor ($s): cargo alone used $(median ${cargos[$s]}) s of CPU," \
	    "the run took ${med[$s]} s"
done
if [ -n "${med[nginx]:-}" ]; then
	echo "10x nginx proxy_cache means a cold run of at most" \
	    "$(awk -v n="${med[nginx]}" 'BEGIN {printf "%.2f", n / 10}') s"
fi
if [ -n "${med[nghttpx]:-}" ]; then
	h2=$(awk '$1 == "h2c" || $1 == "h2" {n++} END {print n + 0}' \
	    "$work"/run-nghttpx-1/nghttpx.access)
	echo "nghttpx run 1: $h2 of $(wc -l < "$work/run-nghttpx-1/nghttpx.access") requests over HTTP/2"
fi
fails=0
if [ -n "${med[crated]:-}" ] && [ -n "${med[nginx]:-}" ]; then
	v=$(verdict "${med[nginx]} >= 10 * ${med[crated]}")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target crated >= 10x faster than nginx proxy_cache: $v"
fi
if [ -n "${med[crated]:-}" ] && [ -n "${med[nghttpx]:-}" ]; then
	v=$(verdict "${med[nghttpx]} > ${med[crated]}")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target crated faster than nghttpx+nginx: $v"
fi
echo "500 file creations took $(create_ms) ms at the end"
echo "cold-resolve: $fails target(s) not met"
