#!/usr/bin/env bash
# The tail of warm 304s, looked at closely: one index file of the sample
# (3/l/log, 50 KB, by default) served by crated (a hosted registry) and by
# nginx (as in warm-hits.sh), wrk -t1 -c50 sending If-None-Match, rounds
# alternating the servers. Per run: req/s, wrk's latency distribution
# (mean, standard deviation, p50, p90, p99, p99.9, max: bench/paths.lua),
# the server's CPU time per request and voluntary context switches, and
# how evenly it served its connections: the requests each connection got
# in the middle 2 s of the run (data segments sent, from `ss -ti`), as a
# coefficient of variation. Then the medians of the per-round ratios to
# nginx. No target: warm-hits.sh judges; this says what a p99 is made of.
# BENCH_CONTROL=1 puts nginx-b, nginx's twin, in crated's place (A/A).
# Env: CRATED_BIN, BENCH_FILE (3/l/log), BENCH_ROUNDS (8), BENCH_SECONDS
# (4), BENCH_CONNS (50), BENCH_CONTROL (0).
source "$(dirname "$0")/lib.sh"
file=${BENCH_FILE:-3/l/log}
rounds=${BENCH_ROUNDS:-8}
secs=${BENCH_SECONDS:-4}
conns=${BENCH_CONNS:-50}
(( secs >= 4 )) || { echo "BENCH_SECONDS must be 4 or more" >&2; exit 2; }
bench_header "the tail of 304s for /r0/$file: wrk -t1 -c$conns -d${secs}s x $rounds rounds"

unpack_sample "$work/sample"
[ -f "$work/sample/$file" ] || { echo "no $file in the sample" >&2; exit 2; }
mkdir -p "$work/data/r0/index/$(dirname "$file")" "$work/www/r0/$(dirname "$file")"
ln "$work/sample/$file" "$work/data/r0/index/$file"
ln "$work/sample/$file" "$work/www/r0/$file"

nport=$(free_port)
nginx_static "$nport" "$work/www" text/plain
bg_start nginx -c "$work/nginx.conf"
npid=$bg_pid
declare -A base=([nginx]="http://127.0.0.1:$nport")
if [ "${BENCH_CONTROL:-0}" = 1 ]; then
	other=nginx-b
	control_start "$work/www" text/plain
	opid=$ctl_pid
else
	other=crated
	hosted_crated r0
	opid=$cpid
	base[crated]="http://127.0.0.1:$cport"
fi
wait_port "$nport"

echo "/r0/$file" > "$work/path"
for s in nginx "$other"; do
	"$python" "$bench_dir/client.py" etags "${base[$s]}" "$work/path" \
	    "$work/etags-$s"
	"$python" "$bench_dir/client.py" check "${base[$s]}" "$work/etags-$s" \
	    > "$work/check" || { echo "$s: no 304: $(cat "$work/check")" >&2
				 exit 1; }
	WRK_PATHS=$work/etags-$s WRK_COND=1 wrk -t1 -c"$conns" -d1s \
	    -s "$bench_dir/paths.lua" "${base[$s]}" > /dev/null	# warm-up
done
# The process that serves: nginx's worker, crated itself.
declare -A spid=([nginx]=$(pgrep -P "$npid" | head -1))
if [ "$other" = nginx-b ]; then
	spid[nginx-b]=$(pgrep -P "$opid" | head -1)
else
	spid[crated]=$opid
fi

# segs PORT: "peer data_segs_out" for each connection to PORT.
segs() {
	ss -tinH state established "( sport = :$1 )" | awk '
	    $1 ~ /^[0-9]+$/ { peer = $4 }	# Recv-Q Send-Q local peer
	    { for (i = 1; i <= NF; i++) if ($i ~ /^data_segs_out:/) {
		split($i, a, ":"); print peer, a[2] } }'
}

# one SERVER: a run, printing "name rps mean sd p50 p90 p99 p999 max
# cpu_us vcs cv".
one() {
	local s=$1 port t0 t1 v0 v1 w
	port=${base[$s]##*:}
	t0=$(cpu_ticks "${spid[$s]}")
	v0=$(awk '/^voluntary_ctxt/ {print $2}' "/proc/${spid[$s]}/status")
	WRK_PATHS=$work/etags-$s WRK_COND=1 wrk -t1 -c"$conns" -d"${secs}s" \
	    -s "$bench_dir/paths.lua" "${base[$s]}" > "$work/wrk.out" 2>&1 &
	w=$!
	sleep $((secs / 2 - 1))
	segs "$port" > "$work/segs1"
	sleep 2
	segs "$port" > "$work/segs2"
	wait "$w"
	t1=$(cpu_ticks "${spid[$s]}")
	v1=$(awk '/^voluntary_ctxt/ {print $2}' "/proc/${spid[$s]}/status")
	"$python" - "$work/segs1" "$work/segs2" "$work/wrk.out" "$s" \
	    $((t1 - t0)) $((v1 - v0)) "$clk_tck" "$secs" <<-'PY'
	import re, statistics, sys
	a = dict(l.split() for l in open(sys.argv[1]))
	b = dict(l.split() for l in open(sys.argv[2]))
	d = [int(b[k]) - int(a[k]) for k in b if k in a]
	cv = statistics.pstdev(d) / statistics.mean(d) if d and statistics.mean(d) else 0
	m = re.search(r"^TAIL (.*)$", open(sys.argv[3]).read(), re.M)
	if not m:
	    sys.exit("wrk printed no TAIL line: " + open(sys.argv[3]).read())
	f = dict(kv.split("=") for kv in m.group(1).split())
	ticks, vcs, hz, secs = (int(x) for x in sys.argv[5:9])
	n = float(f["requests"])
	cpu = ticks * 1e6 / hz / n if n else 0
	print(sys.argv[4], f["rps"], f["mean"], f["sd"], f["p50"], f["p90"], f["p99"],
	      f["p999"], f["max"], "%.2f" % cpu, vcs, "%.3f" % cv, f["errors"])
	PY
}

printf '%-5s %-7s %8s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n' round \
    server req/s mean sd p50 p90 p99 p99.9 max cpu_us vcs conn_cv errors
: > "$work/rows"
for ((i = 1; i <= rounds; i++)); do
	order="nginx $other"
	((i % 2)) || order="$other nginx"
	for s in $order; do
		read -r name rps mean sd p50 p90 p99 p999 max cpu vcs cv err < <(one "$s")
		printf '%-5s %-7s %8s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n' \
		    "$i" "$name" "$rps" "$mean" "$sd" "$p50" "$p90" "$p99" "$p999" \
		    "$max" "$cpu" "$vcs" "$cv" "$err"
		echo "$i $name $rps $mean $sd $p50 $p90 $p99 $p999 $max $cpu $vcs $cv" \
		    >> "$work/rows"
	done
done
echo "(latencies in us, from wrk; cpu_us: the server's CPU time per request;" \
    "vcs: its voluntary context switches in the run; conn_cv: how unevenly it" \
    "served its connections, the coefficient of variation of the requests" \
    "each got in 2 s)"
"$python" - "$work/rows" "$other" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    v = line.split()
    rows.setdefault(v[0], {})[v[1]] = [float(x) for x in v[2:]]
names = "req/s mean sd p50 p90 p99 p99.9 max cpu_us vcs conn_cv".split()
out = []
for i, n in enumerate(names):
    r = [x[sys.argv[2]][i] / x["nginx"][i] for x in rows.values()
         if len(x) == 2 and x["nginx"][i]]
    out.append("%s %.2fx (%.2f-%.2f)" % (n, statistics.median(r), min(r), max(r)))
print("%s / nginx, medians of the per-round ratios (range):" % sys.argv[2])
print("  " + "; ".join(out))
PY
