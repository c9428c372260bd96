#!/usr/bin/env bash
# Scenario 2, .crate downloads: one 1 MiB random file placed in a hosted
# registry's store (data/local/crates/bench/bench-1.0.0.crate), fetched at
# /local/api/v1/crates/bench/1.0.0/download from crated and the same file
# (a hard link) from nginx (one worker, sendfile, open_file_cache), with
# wrk -t1 at a few connection counts. Both answers are checked byte for
# byte first. Rounds alternate the servers; the table shows means, the
# medians of the per-round ratios and each server's CPU time per request
# (see compare in lib.sh).
# Target: crated >= 0.9x nginx's req/s. nginx-b, a second nginx identical
# to the first, runs in every round too (the A/A control).
# Env: CRATED_BIN, BENCH_SECONDS (per run, 6), BENCH_ROUNDS (3),
# BENCH_CONNS ("1 8 50"), BENCH_CONTROL (1; 0 leaves nginx-b out).
source "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-6}
rounds=${BENCH_ROUNDS:-3}
conn_list=${BENCH_CONNS:-1 8 50}
bench_header ".crate downloads (1 MiB): crated vs nginx, wrk -t1 -d${secs}s x $rounds rounds"

url=/local/api/v1/crates/bench/1.0.0/download
mkdir -p "$work/data/local/crates/bench" "$work/www/${url%/download}"
head -c 1048576 /dev/urandom > "$work/data/local/crates/bench/bench-1.0.0.crate"
# and its index line: a .crate the index does not list is removed at start
mkdir -p "$work/data/local/index/be/nc"
printf '{"name":"bench","vers":"1.0.0","deps":[],"cksum":"%s","features":{},"yanked":false}\n' \
    "$(sha256sum "$work/data/local/crates/bench/bench-1.0.0.crate" | cut -d' ' -f1)" \
    > "$work/data/local/index/be/nc/bench"
ln "$work/data/local/crates/bench/bench-1.0.0.crate" "$work/www$url"

nport=$(free_port)
nginx_static "$nport" "$work/www" application/gzip
bg_start nginx -c "$work/nginx.conf"
npid=$bg_pid
hosted_crated local
wait_port "$nport"
declare -A base=([nginx]="http://127.0.0.1:$nport" [crated]="http://127.0.0.1:$cport")
control_start "$work/www" application/gzip
for s in $cmp_servers; do
	curl -sf -o "$work/got" "${base[$s]}$url"
	cmp -s "$work/got" "$work/www$url" ||
	    { echo "$s did not send the file" >&2; exit 1; }
	wrk -t1 -c4 -d1s "${base[$s]}$url" > /dev/null	# warm-up
done

srv_pids[nginx]=$(with_children "$npid")
srv_pids[crated]=$cpid
[ -n "$ctl_pid" ] && srv_pids[nginx-b]=$(with_children "$ctl_pid")
runner() { wrk_run "$work/wrk.out" -t1 -c"$c" -d"${secs}s" "${base[$1]}$url"; }
compare_header conns
for c in $conn_list; do
	compare "-c$c" runner
	judge "target for -c$c (crated >= 0.9x nginx req/s)" "R >= 0.9"
done
echo "(one request = 1 MiB, so req/s = MiB/s; rps_x, p99_x: medians of the" \
    "per-round ratios to nginx; cpu_us: the server's user+system CPU" \
    "per request; cpu_x: to nginx's; wrk_cpu: the share of its core wrk" \
    "used, near 100% when it is the limit; steal: the share of CPU time" \
    "the hypervisor took while that server ran, per round after the /)"
echo "crated RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/$cpid/status)"
judge_summary downloads
