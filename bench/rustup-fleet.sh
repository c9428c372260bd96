#!/usr/bin/env bash
# A rustup fleet (issue 29): 16 cold `rustup toolchain install 1.95.0
# --profile minimal --no-self-update` started together, each with its own
# fresh RUSTUP_HOME and CARGO_HOME, of a stand-in toolchain with large
# tarballs (tests/integration/disttree.py: rust-installer tarballs padded
# with random bytes, so incompressible; by default rustc 100 MiB, rust-std
# 30 MiB, cargo 20 MiB, each a .tar.xz of that size plus a few hundred
# bytes), the real rustup binary (/root/.cargo/bin/rustup, copied). The
# upstream is nginx serving the tree with `limit_rate` (default 50m: 50
# MiB/s per connection, as nginx counts it) and an access log of every
# request with the bytes it sent. Setups:
#   crated   a cold crated with [toolchains.rust] upstream = that nginx;
#            RUSTUP_DIST_SERVER=http://127.0.0.1:PORT/rust
#   nginx    nginx proxy_cache in front of the upstream (lib.sh's
#            proxy_cache_start: HTTP/1.1 keep-alive to the upstream,
#            proxy_cache_lock on with nginx's default 5 s lock timeout,
#            proxy_cache_valid 200 10m), cache emptied before each run
#   crated-warm  the same crated after an untimed fleet filled it: every
#            file cached, nothing waits for the upstream. Not a floor: the
#            16 then get their bytes at once and write and unpack them all
#            at the same moment, which on 2 cores was slower than the cold
#            runs of crated in 3 rounds of 4 (2026-12-08)
#   direct   (only when named in BENCH_SETUPS) the 16 straight to the
#            upstream: what no cache costs it
# Both caches start empty in every run; rounds alternate the order of the
# setups. The table shows, per setup, the medians over the rounds of the
# slowest and the median install (wall time of each rustup process), the
# slowest against nginx's (per round), the bytes and requests the upstream
# served (its access log), and the servers' CPU time; crated's largest
# resident set (VmHWM) follows. One copy of what the fleet needs is the
# manifest pair plus the three tarballs.
# Targets: the upstream serves crated each file once (bytes <= 1.0x one
# copy); crated's slowest install <= nginx's (median of the per-round
# ratios <= 1.0).
# Env: CRATED_BIN, BENCH_RUNS (rounds, 4), BENCH_FLEET (16), BENCH_RATE
# (nginx limit_rate, 50m), BENCH_PAD ("rustc=100M rust-std=30M
# cargo=20M": random bytes per package), BENCH_SETUPS ("crated nginx
# crated-warm"; add direct), RUSTUP_BIN (/root/.cargo/bin/rustup), TMPDIR.
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-4}
fleet=${BENCH_FLEET:-16}
rate=${BENCH_RATE:-50m}
pads=${BENCH_PAD:-rustc=100M rust-std=30M cargo=20M}
setups=${BENCH_SETUPS:-crated nginx crated-warm}
rustup_src=${RUSTUP_BIN:-/root/.cargo/bin/rustup}
[ -x "$rustup_src" ] || { echo "no rustup at $rustup_src (set RUSTUP_BIN)" >&2
			  exit 2; }
bench_header "rustup fleet: $fleet cold rustup toolchain install at once, upstream limit_rate $rate, $runs round(s)"
echo "work directory $work ($(df --output=fstype "$work" | tail -1))," \
    "$(df -h --output=avail "$work" | tail -1 | tr -d ' ') free;" \
    "rustup: $("$rustup_src" --version 2> /dev/null | head -1)"

padargs=()
for p in $pads; do padargs+=(--pad "$p"); done
"$python" "$root/tests/integration/disttree.py" make "$work/up" --no-gz \
    "${padargs[@]}" > "$work/sizes" || exit 2
chmod -R a+rX "$work/up"
mkdir -p "$work/bin"
cp "$rustup_src" "$work/bin/rustup"
# One copy of what a minimal install asks for: the manifest pair and the
# three tarballs.
one_copy=0
for f in dist/channel-rust-1.95.0.toml.sha256 dist/channel-rust-1.95.0.toml \
    dist/2026-04-16/{rustc,cargo,rust-std}-1.95.0-x86_64-unknown-linux-gnu.tar.xz; do
	n=$(stat -c %s "$work/up/$f")
	one_copy=$((one_copy + n))
	printf '  %-62s %11d bytes\n' "/$f" "$n"
done
echo "one copy of what the fleet needs: $one_copy bytes" \
    "($(awk -v b="$one_copy" 'BEGIN {printf "%.1f", b / 1048576}') MiB)"

uport=$(free_port)
cat > "$work/up.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/up.err;
pid $work/up.pid;
events { worker_connections 4096; }
http {
	log_format sent '\$msec \$request_uri \$status \$body_bytes_sent';
	access_log $work/up.log sent;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	server { listen 127.0.0.1:$uport; root $work/up; limit_rate $rate; }
}
NGX
bg_start nginx -c "$work/up.conf"
wait_port "$uport"
touch "$work/up.log"

# start SETUP RUN: that setup's server afresh (empty cache); sets $dist,
# $spids and $cpid (crated's pid, or empty).
start() {
	local d=$work/run-$1-r$2 p
	mkdir -p "$d"
	spids=() cpid=
	case $1 in
	crated | crated-warm)
		p=$(free_port)
		cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$p"]
data_dir = "$d/data"
log_level = "warn"
[toolchains.rust]
upstream = "http://127.0.0.1:$uport"
TOML
		bg_start "$crated" serve --config "$d/crated.toml" 2> "$d/crated.log"
		spids+=("$bg_pid")
		cpid=$bg_pid
		wait_port "$p" || { cat "$d/crated.log" >&2; exit 1; }
		dist=http://127.0.0.1:$p/rust
		;;
	nginx)
		proxy_cache_start "$d" "$uport"
		dist=http://127.0.0.1:$proxy_port
		;;
	direct)
		dist=http://127.0.0.1:$uport
		;;
	esac
}

# fleet_go DIR: starts the fleet at once (homes DIR/h-K), waits for it;
# each writes DIR/h-K.res: "start end exit".
fleet_go() {
	local d=$1 k h
	mkdir -p "$d"
	for ((k = 0; k < fleet; k++)); do
		h=$d/h-$k
		mkdir -p "$h"
		(
			s=$EPOCHREALTIME
			env -i PATH="$PATH" HOME="$h" RUSTUP_HOME="$h/rustup" \
			    CARGO_HOME="$h/cargo" RUSTUP_DIST_SERVER="$dist" \
			    RUSTUP_UPDATE_ROOT="$dist/rustup" \
			    RUSTUP_TERM_COLOR=never NO_PROXY=127.0.0.1 \
			    "$work/bin/rustup" toolchain install 1.95.0 \
			    --profile minimal --no-self-update > "$h.log" 2>&1
			rc=$?
			echo "$s $EPOCHREALTIME $rc" > "$h.res"
		) &
	done
	local j
	for j in $(jobs -p); do
		case " ${pids[*]} " in *" $j "*) ;; *) wait "$j" || true;; esac
	done
}

# one SETUP RUN: sets r_max, r_med (s), r_bytes, r_reqs (upstream), r_cpu
# (the server's CPU s), r_hwm (crated's VmHWM, KiB, or -).
one() {
	local d=$work/run-$1-r$2 before after ticks0 k v s
	start "$1" "$2"
	if [ "$1" = crated-warm ]; then
		# an untimed fleet fills the cache first
		fleet_go "$d/fill"
		rm -rf "$d/fill"
		sync
	fi
	before=$(wc -l < "$work/up.log")
	ticks0=$(server_ticks)
	fleet_go "$d"
	after=$(wc -l < "$work/up.log")
	r_cpu=$(awk -v t="$(server_ticks)" -v t0="$ticks0" -v h="$clk_tck" \
	    'BEGIN {printf "%.2f", (t - t0) / h}')
	r_hwm=-
	[ -z "$cpid" ] || r_hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$cpid/status")
	for ((k = 0; k < fleet; k++)); do
		if [ "$(cut -d' ' -f3 "$d/h-$k.res")" != 0 ]; then
			echo "$1: rustup failed for client $k:" >&2
			tail -20 "$d/h-$k.log" >&2
			[ -z "$cpid" ] || tail -20 "$d/crated.log" >&2
			exit 1
		fi
	done
	v=$(env -i PATH="$PATH" RUSTUP_HOME="$d/h-0/rustup" CARGO_HOME="$d/h-0/cargo" \
	    "$work/bin/rustup" run 1.95.0 rustc --version 2>&1)
	[ "$v" = "rustc 1.95.0 (standin 2026-04-16)" ] ||
	    { echo "$1: the installed rustc says: $v" >&2; exit 1; }
	for s in "${spids[@]}"; do bg_stop "$s"; done
	sed -n "$((before + 1)),${after}p" "$work/up.log" > "$d/up.log"
	r_reqs=$((after - before))
	r_bytes=$(awk '{b += $4} END {print b + 0}' "$d/up.log")
	r_max=$(awk '{printf "%.3f\n", $2 - $1}' "$d"/h-*.res | sort -g | tail -1)
	r_med=$(median $(awk '{printf "%.3f\n", $2 - $1}' "$d"/h-*.res))
	rm -rf "$d"/h-*/ "$d/data" "$d/cache"	# GBs: keep the logs only
	sync	# so that the next run does not inherit this one's writeback
}

# Before any timed run: the tree's 150 MiB just written are flushed to
# disk (sync), and one untimed install straight from the upstream reads
# them and the rustup binary into the page cache. Without both, the first
# timed run of the script (crated's: it goes first in round 1) took
# 1.6-2.5x crated's later runs, and the upstream itself sent rustc's 100
# MiB in 4.6 s instead of 2.6-3.1 s (2026-12-07, two runs).
sync
dist=http://127.0.0.1:$uport fleet_n=$fleet fleet=1
fleet_go "$work/warmup"
fleet=$fleet_n
[ "$(cut -d' ' -f3 "$work/warmup/h-0.res")" = 0 ] ||
    { echo "the warm-up install failed:" >&2; tail -20 "$work/warmup/h-0.log" >&2; exit 1; }
echo "warm-up: one install straight from the upstream took" \
    "$(awk '{printf "%.2f", $2 - $1}' "$work/warmup/h-0.res") s (untimed)"
rm -rf "$work/warmup"
touch "$work/up.log"

declare -A maxs=() meds=() bytes=() reqs=() cpus=() hwms=()
for ((i = 1; i <= runs; i++)); do
	set -- $setups
	list=("$@")
	order=()
	for ((j = 0; j < ${#list[@]}; j++)); do
		order+=("${list[(i - 1 + j) % ${#list[@]}]}")
	done
	for s in "${order[@]}"; do
		one "$s" "$i"
		maxs[$s]="${maxs[$s]:-} $r_max"
		meds[$s]="${meds[$s]:-} $r_med"
		bytes[$s]="${bytes[$s]:-} $r_bytes"
		reqs[$s]="${reqs[$s]:-} $r_reqs"
		cpus[$s]="${cpus[$s]:-} $r_cpu"
		hwms[$s]="${hwms[$s]:-} $r_hwm"
		echo "  round $i $s: slowest ${r_max}s, median ${r_med}s," \
		    "upstream $r_reqs requests, $r_bytes bytes" \
		    "($(ratio "$r_bytes" "$one_copy")x one copy), server CPU" \
		    "${r_cpu}s, load $(load)"
		awk '{print "    upstream: " $2 " " $3 " " $4}' \
		    "$work/run-$s-r$i/up.log" | sort | uniq -c | sort -rn | head -8
	done
done

printf '%-11s %9s %9s %9s %10s %9s %8s %7s  %s\n' setup slowest_s median_s \
    vs_nginx up_MiB up_copies up_reqs cpu_s "slowest per round (s)"
declare -A mx=()
for s in $setups; do mx[$s]=$(median ${maxs[$s]}); done
for s in $setups; do
	rr=-
	if [ -n "${maxs[nginx]:-}" ]; then
		a=(${maxs[$s]}) b=(${maxs[nginx]}) q=()
		for ((j = 0; j < ${#a[@]}; j++)); do q+=("$(ratio "${a[j]}" "${b[j]}")"); done
		rr=$(printf '%.2fx' "$(median "${q[@]}")")
	fi
	mb=$(median ${bytes[$s]})
	printf '%-11s %9.2f %9.2f %9s %10.1f %9s %8s %7s  %s\n' "$s" "${mx[$s]}" \
	    "$(median ${meds[$s]})" "$rr" \
	    "$(awk -v b="$mb" 'BEGIN {print b / 1048576}')" \
	    "$(ratio "$mb" "$one_copy")" "$(median ${reqs[$s]})" \
	    "$(median ${cpus[$s]})" "${maxs[$s]# }"
done
echo "(medians over the rounds; vs_nginx: the median of the per-round" \
    "ratios of the slowest install to nginx's; up_MiB, up_copies, up_reqs:" \
    "what the upstream served in a run, in MiB, in copies of what the" \
    "fleet needs, in requests; cpu_s: the server's CPU seconds)"
[ -z "${hwms[crated]:-}" ] || echo "crated's largest resident set per round" \
    "(VmHWM, KiB):${hwms[crated]}"
if [ -n "${mx[crated-warm]:-}" ]; then
	for s in crated nginx; do
		[ -n "${maxs[$s]:-}" ] || continue
		a=(${maxs[$s]}) b=(${maxs[crated-warm]}) q=()
		for ((j = 0; j < ${#a[@]}; j++)); do
			q+=("$(awk -v x="${a[j]}" -v y="${b[j]}" 'BEGIN {printf "%+.2f", x - y}')")
		done
		echo "$s's slowest install minus crated-warm's, per round:" \
		    "${q[*]} s (median $(median "${q[@]}"))"
	done
fi
fails=0
if [ -n "${bytes[crated]:-}" ]; then
	t=$(printf '%s\n' ${bytes[crated]} | sort -g | tail -1)
	v=$(verdict "R <= P" "$t" "$one_copy")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target the upstream serves crated each file once (most in a" \
	    "round: $t bytes, one copy $one_copy): $v"
fi
if [ -n "${maxs[crated]:-}" ] && [ -n "${maxs[nginx]:-}" ]; then
	a=(${maxs[crated]}) b=(${maxs[nginx]}) q=()
	for ((j = 0; j < ${#a[@]}; j++)); do q+=("$(ratio "${a[j]}" "${b[j]}")"); done
	v=$(verdict "R <= 1.0" "$(median "${q[@]}")")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target crated's slowest install <= nginx proxy_cache's (per" \
	    "round: ${q[*]}): $v"
fi
echo "rustup-fleet: $fails target(s) not met"
