#!/usr/bin/env bash
# Scenario 1, warm index hits: crated (hosted registries) vs nginx (one
# worker, sendfile, open_file_cache) serving the same real index files from
# the crates.io sample, with wrk -t1 -c50:
#   small  one ~1.5 KB file (3/l/lzw)
#   large  one ~50 KB file (3/l/log)
#   10k    10,000 distinct paths: the sample's 3,208 files hard-linked into
#          four registries r0..r3 (12,832 paths), 10,000 of them in a fixed
#          shuffled order, cycled by bench/paths.lua
#   large-gz, 10k-gz  the same files asked for as cargo asks, accepting
#          gzip: nginx answers from .gz files made beside them beforehand
#          (gzip_static, gzip -3); crated from its memory cache or from
#          the gz/ files it keeps itself (cache/gzfile.h)
# each as a plain GET (200) and as a conditional GET with the server's own
# ETag for that file (304; each server's ETags are fetched first, and every
# one is checked to give 304 before the run).
# Rounds alternate the servers (nginx, crated, crated, nginx, ...); the
# table shows means over rounds, the medians of the per-round ratios, and
# each server's CPU time per request (see compare in lib.sh). Target:
# crated >= 1.0x nginx's req/s with p99 <= 1.2x nginx's.
# nginx-b, a second nginx identical to the first, runs in every round too
# (the A/A control): each case also says whether it would meet crated's
# target against nginx, which shows what this run could resolve.
# Env: CRATED_BIN, BENCH_SECONDS (per run, 6), BENCH_ROUNDS (3),
# BENCH_CONNS (50), BENCH_CASES ("small large 10k large-gz 10k-gz"),
# BENCH_CONTROL (1; 0 leaves nginx-b out).
source "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-6}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-50}
cases=${BENCH_CASES:-small large 10k large-gz 10k-gz}
bench_header "warm index hits: crated vs nginx, wrk -t1 -c$conns -d${secs}s x $rounds rounds"

unpack_sample "$work/sample"
rm -f "$work/sample/config.json"
mkdir -p "$work/data" "$work/www"
# nginx's .gz files, made once and linked into each of its trees (not
# into crated's, which makes its own).
mkdir -p "$work/sample-gz"
# As crated does, only where gzip makes the file smaller.
(cd "$work/sample" && find . -type f -printf '%P\0' |
    xargs -0 -P "$(nproc)" -n 200 sh -c 'for f; do mkdir -p \
    "$0/$(dirname "$f")"; gzip -3 -n -c "$f" > "$0/$f.gz"
    [ "$(stat -c %s "$0/$f.gz")" -lt "$(stat -c %s "$f")" ] ||
    rm "$0/$f.gz"; done' "$work/sample-gz")
for r in r0 r1 r2 r3; do
	mkdir -p "$work/data/$r"
	cp -al "$work/sample" "$work/data/$r/index"
	cp -al "$work/sample" "$work/www/$r"
	cp -al "$work/sample-gz/." "$work/www/$r/"
done
(cd "$work/sample" && find . -type f | sed 's|^\.||' | sort) > "$work/all"
"$python" - "$work/all" "$work/paths-10k" <<'PY'
import random, sys
files = open(sys.argv[1]).read().split()
paths = ["/r%d%s" % (r, f) for r in range(4) for f in files]
random.Random(1).shuffle(paths)
open(sys.argv[2], "w").write("\n".join(paths[:10000]) + "\n")
PY
echo /r0/3/l/lzw > "$work/paths-small"
echo /r0/3/l/log > "$work/paths-large"

nport=$(free_port)
nginx_static "$nport" "$work/www" text/plain
bg_start nginx -c "$work/nginx.conf"
npid=$bg_pid
hosted_crated r0 r1 r2 r3
wait_port "$nport"
declare -A base=([nginx]="http://127.0.0.1:$nport" [crated]="http://127.0.0.1:$cport")
control_start "$work/www" text/plain

# Each server's ETag for every path, and a check that each gives 304.
gz_flag() { [[ $1 == *-gz ]] && echo --gzip || true; }
for s in $cmp_servers; do
	for c in $cases; do
		"$python" "$bench_dir/client.py" etags "${base[$s]}" \
		    "$work/paths-${c%-gz}" "$work/etags-$c-$s" $(gz_flag "$c")
		"$python" "$bench_dir/client.py" check "${base[$s]}" \
		    "$work/etags-$c-$s" $(gz_flag "$c") > "$work/check" ||
		    { echo "$s $c: not every conditional GET gave 304:" \
		    "$(cat "$work/check")" >&2; exit 1; }
	done
done

# Warm means crated has made its gz/ files. It makes one in the background
# after a file's first gzip answer, with at most 1,024 writes waiting
# (past that, at a later answer): ask for every file again until a round
# adds none (at most 10 rounds, each waiting until the writes settle).
gz_count() { find "$work/data" -path '*/gz/*' -type f | wc -l; }
for c in $cases; do
	[[ $c == *-gz ]] || continue
	before=-1
	for ((i = 0; i < 10; i++)); do
		"$python" "$bench_dir/client.py" getall "${base[crated]}" \
		    "$work/paths-${c%-gz}" --gzip > /dev/null
		for ((j = 0; j < 30; j++)); do
			n=$(gz_count); sleep 0.5
			[ "$(gz_count)" -eq "$n" ] && break
		done
		[ "$n" -eq "$before" ] && break
		before=$n
	done
	echo "$c: crated keeps $n gz/ files"
done

run() {	# server case cond(0/1) seconds -> wrk_run's line
	WRK_PATHS=$work/$([ "$3" = 1 ] && echo "etags-$2-$1" ||
	    echo "paths-${2%-gz}") WRK_COND=$3 WRK_GZIP=$([[ $2 == *-gz ]] &&
	    echo 1 || echo 0) wrk_run "$work/wrk.out" -t1 \
	    -c"$conns" -d"$4s" -s "$bench_dir/paths.lua" "${base[$1]}"
}

# Warm-up: page cache, nginx's open_file_cache, crated's memory cache.
for c in $cases; do
	for s in $cmp_servers; do run "$s" "$c" 0 2 > /dev/null; done
done

srv_pids[nginx]=$(with_children "$npid")
srv_pids[crated]=$cpid
[ -n "$ctl_pid" ] && srv_pids[nginx-b]=$(with_children "$ctl_pid")
runner() { run "$1" "$c" "$cond" "$secs"; }
compare_header
for c in $cases; do
	for cond in 0 1; do
		label=$c-$([ "$cond" = 1 ] && echo 304 || echo 200)
		compare "$label" runner
		judge "target for $label (crated >= 1.0x req/s, p99 <= 1.2x)" \
		    "R >= 1.0 && P <= 1.2"
	done
done
echo "(rps_x, p99_x: medians of the per-round ratios to nginx; cpu_us:" \
    "the server's user+system CPU per request; cpu_x: to nginx's;" \
    "wrk_cpu: the share of its core wrk used, near 100% when it is the limit;" \
    "steal: the share of CPU time the hypervisor took while that server ran," \
    "per round after the /)"
echo "sizes: small $(stat -c %s "$work/sample/3/l/lzw") B," \
    "large $(stat -c %s "$work/sample/3/l/log") B, 10k set" \
    "$(cd "$work/www" && xargs -a "$work/paths-10k" -I{} echo .{} |
    xargs stat -c %s | awk '{s += $1} END {printf "%.0f MB", s / 1e6}')" \
    "($(sort -u "$work/paths-10k" | wc -l) distinct paths);" \
    "crated RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/$cpid/status)"
judge_summary warm-hits
