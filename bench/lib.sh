# shellcheck shell=bash
# Shared by the bench/*.sh scripts: sourced, not run. Sets up a work
# directory and a trap that stops every process the script started (their
# pids are kept in $pids; `bg_start` adds them) and removes the directory.
# Everything listens on 127.0.0.1.
set -euo pipefail
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench_dir")
crated=${CRATED_BIN:-$root/build/crated}
sample_name=shared/data/crates-io-index-2025-sample.tar.gz
sample=${CRATED_SAMPLE:-$root/../$sample_name}
# A clone or worktree elsewhere (e.g. /tmp) finds it beside the
# repository it came from, when that is a directory on this machine.
if [ -z "${CRATED_SAMPLE:-}" ] && [ ! -f "$sample" ]; then
	origin=$(git -C "$root" config remote.origin.url 2>/dev/null || true)
	common=$(git -C "$root" rev-parse --path-format=absolute \
	    --git-common-dir 2>/dev/null || true)
	for d in "$origin" "${common%/.git}"; do
		if [ -n "$d" ] && [ -f "$d/../$sample_name" ]; then
			sample=$(cd "$d/.." && pwd)/$sample_name
			break
		fi
	done
fi
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

# nginx_static PORT ROOT TYPE [NAME]: writes $work/NAME.conf (NAME: nginx),
# nginx serving the files under ROOT as the reference: one worker,
# sendfile, tcp_nopush, open_file_cache, gzip_static, no access log,
# keep-alive never cut short.
nginx_static() {
	local name=${4:-nginx}
	cat > "$work/$name.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/$name.err;
pid $work/$name.pid;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_requests 10000000;
	# As many as crated keeps by default (open_file_cache = 10000; it
	# keeps at most half of the open-file limit, 20,000 here): with a
	# file and its .gz for 10,000 paths, 20,000 would use up nginx's.
	open_file_cache max=10000 inactive=60s;
	open_file_cache_valid 60s;
	gzip_static on;		# FILE.gz, where there is one, for gzip clients
	default_type $3;
	server { listen 127.0.0.1:$1; root $2; }
}
NGX
}

# control_start ROOT TYPE: unless BENCH_CONTROL=0, starts nginx-b, a second
# nginx configured as the reference (nginx_static), adds it to
# $cmp_servers and ${base[nginx-b]} (declare base first), and sets
# $ctl_pid: the A/A control of warm-hits.sh and downloads.sh (see compare).
ctl_pid=
control_start() {
	[ "${BENCH_CONTROL:-1}" = 1 ] || return 0
	local port
	port=$(free_port)
	nginx_static "$port" "$1" "$2" nginx-b
	bg_start nginx -c "$work/nginx-b.conf"
	ctl_pid=$bg_pid
	wait_port "$port"
	base[nginx-b]=http://127.0.0.1:$port
	cmp_servers="nginx crated nginx-b"
}

# hosted_crated REGISTRY...: starts crated serving those hosted
# registries from $work/data on a free port, logging warnings to
# $work/crated.log; sets $cport and $cpid once it accepts.
# BENCH_CRATED_CONFIG: more top-level lines (a policy, for instance:
# 'deny = ["no-such-crate"]' puts every file through it).
hosted_crated() {
	local r
	cport=$(free_port)
	{ printf 'listen = ["127.0.0.1:%s"]\ndata_dir = "%s"\nlog_level = "warn"\n' \
	    "$cport" "$work/data"
	  [ -n "${BENCH_CRATED_CONFIG:-}" ] && printf '%s\n' "$BENCH_CRATED_CONFIG"
	  for r; do echo "[registries.$r]"; done; } > "$work/crated.toml"
	bg_start "$crated" serve --config "$work/crated.toml" 2> "$work/crated.log"
	cpid=$bg_pid
	wait_port "$cport"
}

# with_children PID: PID and its children (nginx's master and workers), for
# srv_pids.
with_children() { echo "$1 $(pgrep -P "$1" | paste -sd' ')"; }

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

# create_ms: milliseconds to create (and write 100 bytes to) 500 new files
# in a new directory under $work, a reading of how dear creating a file is
# on this filesystem right now. Where ext4 runs without a journal, a free
# inode is checked against the inodes deleted recently (recently_deleted)
# before it is used, so a large rm just before (another bench's work
# directory) makes each creation slower for a while: here 1,000 took 41 ms
# on a fresh boot and 180-890 ms after other benchmarks (bench/README.md).
create_ms() {
	"$python" - "$work/create-probe" <<'PY'
import os, sys, time
d = sys.argv[1]
os.mkdir(d)
t = time.perf_counter()
for i in range(500):
    fd = os.open("%s/%d" % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b"x" * 100)
    os.close(fd)
print("%.0f" % ((time.perf_counter() - t) * 1000))
for i in range(500):
    os.unlink("%s/%d" % (d, i))
os.rmdir(d)
PY
}

# to_ms VALUE: a wrk latency (850.00us, 1.20ms, 2.01s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
		else { sub(/s$/, "", v); print v * 1000 } }'
}

# wrk_run OUT ARGS...: runs wrk --latency and prints "rps p99_ms errors
# requests wrk_cpu": errors counts socket errors and non-2xx/3xx answers;
# wrk_cpu is the share of one core wrk used (user + system over wall time,
# in %): near 100 with -t1, the client is what limits req/s.
wrk_run() {
	local out=$1
	shift
	{ TIMEFORMAT='%U %S %R'; time wrk --latency "$@" > "$out" 2>&1; } \
	    2> "$out.time" || { cat "$out" >&2; return 1; }
	local rps p99 err n cpu
	rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	n=$(awk '/ requests in / {print $1}' "$out")
	err=$(awk '/Non-2xx or 3xx/ {n += $NF}
	    /Socket errors/ {gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; i++)
	    n += $i} END {print n + 0}' "$out")
	cpu=$(awk '{printf "%.0f", ($3 > 0 ? ($1 + $2) * 100 / $3 : 0)}' \
	    "$out.time")
	echo "$rps $(to_ms "$p99") $err $n $cpu"
}

# cpu_ticks PID...: user + system CPU time of those processes (all their
# threads), in clock ticks.
cpu_ticks() {
	local p t=0 f
	for p in "$@"; do
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
clk_tck=$(getconf CLK_TCK)

# cpu_stat: "steal all" from /proc/stat's cpu line, in ticks summed over
# every core: the time the hypervisor gave this VM's cores to someone else,
# and all time. Around a run, 100 * steal / all is the share of the
# machine taken away while it ran: on this workplace's VMs 0.5-2% when
# idle, 10-35% while wrk and a server load both cores (2026-12-02), and
# what it takes is not taken evenly from the two servers of a round.
cpu_stat() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i
	    print $9, t; exit }' /proc/stat
}

# compare LABEL RUNNER: runs `RUNNER SERVER` (which prints wrk_run's line)
# for each server of $cmp_servers (default "nginx crated"; the first is the
# reference), $rounds times, each round starting one further along the
# list (nginx crated, crated nginx, ...; with three: nginx crated nginx-b,
# crated nginx-b nginx, nginx-b nginx crated), and prints a row per server:
# mean req/s, mean p99, the medians of the per-round ratios to the
# reference (a round's runs are next to each other in time, so a change of
# load hits them all), errors, the server's CPU time per request (user +
# system, from /proc/PID/stat of the pids in ${srv_pids[SERVER]}:
# independent of how much CPU other work left it), wrk's mean share of its
# core (wrk_run), the share of CPU time stolen by the hypervisor during its
# runs (cpu_stat) and each round's req/s with that round's steal
# (73352/12%). Sets cmp_rps[SERVER] and cmp_p99[SERVER] (the median
# ratios) for judge.
#
# nginx-b, where a script runs it, is a second nginx identical to the
# first (the A/A control): what the same comparison makes of a server
# that is the reference's twin is what it can resolve in that run.
declare -A srv_pids=() cmp_rps=() cmp_p99=()
cmp_servers="nginx crated"
compare() {
	local label=$1 runner=$2 i j s order rps p99 err n wcpu c0 c1 l s0 t0 \
	    s1 t1 ref list=($cmp_servers)
	: "${rounds:?compare needs \$rounds}"
	declare -A sum_rps=() sum_p99=() errs=() each=() ticks=() reqs=() \
	    r_rps=() r_p99=() sum_wcpu=() stolen=() all=() rx=() px=()
	ref=${list[0]}
	for ((i = 0; i < rounds; i++)); do
		order=()
		for ((j = 0; j < ${#list[@]}; j++)); do
			order+=("${list[(i + j) % ${#list[@]}]}")
		done
		for s in "${order[@]}"; do
			c0=$(cpu_ticks ${srv_pids[$s]})
			read -r s0 t0 < <(cpu_stat)
			read -r rps p99 err n wcpu < <("$runner" "$s")
			read -r s1 t1 < <(cpu_stat)
			c1=$(cpu_ticks ${srv_pids[$s]})
			stolen[$s]=$((${stolen[$s]:-0} + s1 - s0))
			all[$s]=$((${all[$s]:-0} + t1 - t0))
			sum_rps[$s]=$(awk -v a="${sum_rps[$s]:-0}" -v b="$rps" 'BEGIN {print a + b}')
			sum_p99[$s]=$(awk -v a="${sum_p99[$s]:-0}" -v b="$p99" 'BEGIN {print a + b}')
			errs[$s]=$((${errs[$s]:-0} + err))
			sum_wcpu[$s]=$((${sum_wcpu[$s]:-0} + wcpu))
			ticks[$s]=$((${ticks[$s]:-0} + c1 - c0))
			reqs[$s]=$((${reqs[$s]:-0} + n))
			each[$s]="${each[$s]:-}${each[$s]:+ }${rps%.*}/$(awk \
			    -v a=$((s1 - s0)) -v b=$((t1 - t0)) \
			    'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')%"
			r_rps[$s]=$rps
			r_p99[$s]=$p99
		done
		for s in "${list[@]}"; do
			rx[$s]="${rx[$s]:-} $(awk -v a="${r_rps[$s]}" -v b="${r_rps[$ref]}" 'BEGIN {print a / b}')"
			px[$s]="${px[$s]:-} $(awk -v a="${r_p99[$s]}" -v b="${r_p99[$ref]}" 'BEGIN {print a / b}')"
		done
	done
	l=$(load)
	local n_cpu c_cpu
	n_cpu=$(awk -v t="${ticks[$ref]}" -v n="${reqs[$ref]}" -v h="$clk_tck" \
	    'BEGIN {print n ? t * 1e6 / h / n : 0}')
	for s in "${list[@]}"; do
		cmp_rps[$s]=$(median ${rx[$s]})
		cmp_p99[$s]=$(median ${px[$s]})
		c_cpu=$(awk -v t="${ticks[$s]}" -v n="${reqs[$s]}" -v h="$clk_tck" \
		    'BEGIN {print n ? t * 1e6 / h / n : 0}')
		printf '%-10s %-7s %9.0f %8.2f %6.2fx %6.2fx %6d %7.1f %6sx %7s %5s %5s%%  %s\n' \
		    "$label" "$s" \
		    "$(awk -v a="${sum_rps[$s]}" -v n="$rounds" 'BEGIN {print a / n}')" \
		    "$(awk -v a="${sum_p99[$s]}" -v n="$rounds" 'BEGIN {print a / n}')" \
		    "${cmp_rps[$s]}" "${cmp_p99[$s]}" \
		    "${errs[$s]}" "$c_cpu" "$(ratio "$c_cpu" "$n_cpu")" \
		    "$((sum_wcpu[$s] / rounds))%" "$l" \
		    "$(awk -v a="${stolen[$s]}" -v b="${all[$s]}" \
		    'BEGIN {printf "%.1f", b ? 100 * a / b : 0}')" "${each[$s]}"
	done
}
compare_header() {
	printf '%-10s %-7s %9s %8s %7s %7s %6s %7s %7s %7s %5s %6s  %s\n' \
	    "${1:-case}" server req/s p99_ms rps_x p99_x errors cpu_us cpu_x \
	    wrk_cpu load steal "req/s/steal per round"
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# median X...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
		print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# verdict COND [R P]: "met" or "NOT met" for an awk condition, in which R
# and P stand for the numbers given after it (0 when not).
verdict() {
	awk -v R="${2:-0}" -v P="${3:-0}" "BEGIN { exit !($1) }" &&
	    echo met || echo "NOT met"
}

# judge TEXT COND: after compare, prints "  TEXT: met" or "NOT met" for
# crated, COND an awk condition on R and P (crated's median req/s and p99
# ratios), and, where nginx-b runs, what the same condition says of it;
# counts the targets and each server's misses for judge_summary.
judged=0 crated_missed=0 control_missed=0
judge() {
	local v ctl=
	judged=$((judged + 1))
	v=$(verdict "$2" "${cmp_rps[crated]}" "${cmp_p99[crated]}")
	[ "$v" = met ] || crated_missed=$((crated_missed + 1))
	if [ -n "$ctl_pid" ]; then
		ctl=$(verdict "$2" "${cmp_rps[nginx-b]}" "${cmp_p99[nginx-b]}")
		[ "$ctl" = met ] || control_missed=$((control_missed + 1))
		ctl="; nginx-b, nginx's twin, against the same: $ctl"
	fi
	echo "  $1: $v$ctl"
}

# judge_summary NAME: the last line of a script that judged.
judge_summary() {
	if [ -n "$ctl_pid" ]; then
		echo "$1: $crated_missed target(s) not met; nginx-b, identical to" \
		    "nginx, missed $control_missed of the same $judged"
	else
		echo "$1: $crated_missed target(s) not met"
	fi
}

# unpack_sample DIR: the real crates.io index sample, unpacked in DIR.
unpack_sample() {
	[ -f "$sample" ] || { echo "no index sample at $sample (set" \
	    "CRATED_SAMPLE)" >&2; exit 2; }
	mkdir -p "$1"
	tar xzf "$sample" -C "$1"
}

bench_header() {
	echo "== $1 ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	    "load $(load), $("$crated" --version 2>&1 | head -1))"
}

# proxy_cache_start DIR UPSTREAM_PORT: nginx proxy_cache in front of
# 127.0.0.1:UPSTREAM_PORT (HTTP/1.1 keep-alive upstream, proxy_cache_lock),
# the reference of cold-resolve.sh and ci-fleet.sh. Sets $proxy_port and
# adds its pid to the caller's spids.
proxy_cache_start() {
	local d=$1
	proxy_port=$(free_port)
	mkdir -p "$d/cache"
	cat > "$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $d/nginx.err;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	proxy_cache_path $d/cache levels=1:2 keys_zone=idx:10m max_size=2g inactive=1h use_temp_path=off;
	upstream up { server 127.0.0.1:$2; keepalive 32; }
	server {
		listen 127.0.0.1:$proxy_port;
		keepalive_requests 100000;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache idx;
			proxy_cache_valid 200 10m;
			proxy_cache_valid 404 1m;
			proxy_cache_lock on;
			proxy_cache_use_stale error timeout updating;
		}
	}
}
NGX
	bg_start nginx -c "$d/nginx.conf"
	spids+=("$bg_pid")
	wait_port "$proxy_port"
}

# nghttpx_start DIR BACKEND_PORT [ARG...]: nghttpx, h2c on cleartext, in
# front of 127.0.0.1:BACKEND_PORT, with ARGs added. Sets $h2c_port and adds
# its pid to spids.
nghttpx_start() {
	local d=$1 backend=$2
	shift 2
	h2c_port=$(free_port)
	bg_start nghttpx -f"127.0.0.1,$h2c_port;no-tls" -b"127.0.0.1,$backend" \
	    --workers=1 --errorlog-file="$d/nghttpx.err" --no-via \
	    --conf=/dev/null "$@" 2> /dev/null
	spids+=("$bg_pid")
	wait_port "$h2c_port"
}

# server_ticks: the CPU clock ticks (user + system) the servers in spids
# and their children have used so far.
server_ticks() {
	local all=() p
	for p in "${spids[@]}"; do all+=("$p" $(pgrep -P "$p" || true)); done
	cpu_ticks "${all[@]}"
}
