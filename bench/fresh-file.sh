#!/usr/bin/env bash
# The first seconds on a freshly cached large file (issue 25, item 5). A
# 368 KB index file, 60 versions of winapi 0.3.9's real line (6.1 KB each,
# its 399 features), is filled through a crated mirror of bench/standin.py
# serving the sample (the winapi file replaced by it), and at once wrk
# -t1 -c50 asks for it BENCH_RUNS times in a row, BENCH_SECONDS each; then
# a freshly started nginx (bench/lib.sh nginx_static, the same file and
# its .gz, made with gzip -3 -n as warm-hits.sh makes them) the same way.
# Rounds alternate which goes first. Per run: req/s and wrk's p50. Per
# server: the first run against the median of the later ones (first_x),
# and the median of the per-round ratios of crated's runs to nginx's.
# Target: crated's first run within 10% of its later ones (first_x >=
# 0.90); nginx's own first_x is the control (what the machine does to a
# server with nothing to warm up).
# Cases: gz (Accept-Encoding: deflate, gzip, as cargo asks) and plain.
# Env: CRATED_BIN, BENCH_RUNS (4), BENCH_SECONDS (3), BENCH_ROUNDS (2),
# BENCH_CONNS (50), BENCH_CASES ("gz plain"), BENCH_PERF (set: perf record
# crated during its first run, kept with BENCH_KEEP=1).
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-4}
secs=${BENCH_SECONDS:-3}
rounds=${BENCH_ROUNDS:-2}
conns=${BENCH_CONNS:-50}
cases=${BENCH_CASES:-gz plain}
path=wi/na/winapi
bench_header "a freshly filled 368 KB index file: $runs wrk runs of ${secs}s in a row, wrk -t1 -c$conns, $rounds rounds"

unpack_sample "$work/up"
"$python" - "$work/up/$path" <<'PY'
import json, sys
p = sys.argv[1]
line = open(p).read().split("\n")[-2]	# winapi 0.3.9
d = json.loads(line)
with open(p, "w") as f:
    for i in range(60):
        d["vers"] = "0.3.%d" % (100 + i)
        f.write(json.dumps(d, separators=(",", ":")) + "\n")
PY
echo "file: /$path, $(wc -c < "$work/up/$path") bytes plain," \
    "$(gzip -3 -n < "$work/up/$path" | wc -c) gzip -3"
sport=$(free_port)
bg_start "$python" "$bench_dir/standin.py" --root "$work/up" --port "$sport" \
    --delay 0 --log "$work/up.log"
wait_port "$sport"
mkdir -p "$work/www/$(dirname "$path")"
cp "$work/up/$path" "$work/www/$path"
gzip -3 -n < "$work/www/$path" > "$work/www/$path.gz"
nport=$(free_port)
nginx_static "$nport" "$work/www" text/plain

# start_crated ROUND: a crated mirror of the stand-in with an empty cache;
# sets $cport and $spid.
start_crated() {
	local d=$work/crated-$1
	mkdir -p "$d"
	cport=$(free_port)
	cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$cport"]
data_dir = "$d/data"
log_level = "warn"
[registries.m]
upstream = "sparse+http://127.0.0.1:$sport/"
TOML
	bg_start "$crated" serve --config "$d/crated.toml" 2> "$d/crated.log"
	spid=$bg_pid
	wait_port "$cport"
}

# series SERVER CASE ROUND: starts SERVER afresh (crated: fills the file
# with one request, as cargo would ask), runs wrk $runs times in a row;
# appends "rps p50_ms" per run to $work/SERVER-CASE.runs, one line per
# round.
series() {
	local s=$1 c=$2 i url hdr=() line=() out perf_pid=
	[ "$c" = gz ] && hdr=(-H 'Accept-Encoding: deflate, gzip')
	if [ "$s" = crated ]; then
		start_crated "$3"
		url=http://127.0.0.1:$cport/m/$path
		curl -sf "${hdr[@]}" -o /dev/null "$url" ||
		    { echo "the fill failed" >&2; exit 1; }
	else
		bg_start nginx -c "$work/nginx.conf"
		spid=$bg_pid
		wait_port "$nport"
		url=http://127.0.0.1:$nport/$path
	fi
	for ((i = 1; i <= runs; i++)); do
		out=$work/$s-$c-$3-$i.wrk
		if [ "$i" = 1 ] && [ "$s" = crated ] &&
		    [ -n "${BENCH_PERF:-}" ]; then
			perf record -q -F 2000 -g -p "$spid" \
			    -o "$work/perf-$c-$3.data" > /dev/null 2>&1 &
			perf_pid=$!
		fi
		wrk_run "$out" -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" \
		    "$url" > "$out.line"
		if [ -n "$perf_pid" ]; then
			kill -INT "$perf_pid"; wait "$perf_pid" || true
			perf_pid=
			echo "  perf profile: $work/perf-$c-$3.data" >&2
		fi
		line+=("$(awk '{printf "%.0f", $1}' "$out.line")/$(to_ms \
		    "$(awk '$1 == "50%" {print $2}' "$out")")")
		read -r _ _ err _ < "$out.line"
		[ "$err" = 0 ] || echo "  $s $c round $3 run $i: $err errors" >&2
	done
	bg_stop "$spid"
	echo "${line[*]}" >> "$work/$s-$c.runs"
	printf '  round %d %-6s %-5s %s  (req/s / p50 ms per run, load %s)\n' \
	    "$3" "$s" "$c" "${line[*]}" "$(load)"
}

# first_x FILE: per round, run 1's req/s over the median of the later
# runs'; prints the median over rounds and every round's value.
first_x() {
	local each=() l r first rest
	while read -r l; do
		first=${l%% *}
		rest=$(echo "$l" | cut -d' ' -f2- | tr ' ' '\n' | cut -d/ -f1)
		each+=("$(ratio "${first%%/*}" "$(median $rest)")")
	done < "$1"
	echo "$(median "${each[@]}") ${each[*]}"
}

fails=0
for c in $cases; do
	for ((r = 1; r <= rounds; r++)); do
		if ((r % 2)); then order="crated nginx"; else order="nginx crated"; fi
		for s in $order; do series "$s" "$c" "$r"; done
	done
	printf '%-5s %-7s %8s %10s %9s %9s  %s\n' case server first_x \
	    "run1_rps" later_rps run1_p50 "first_x per round"
	for s in crated nginx; do
		read -r fx each < <(first_x "$work/$s-$c.runs")
		r1=$(cut -d' ' -f1 "$work/$s-$c.runs" | cut -d/ -f1)
		later=$(cut -d' ' -f2- "$work/$s-$c.runs" | tr ' ' '\n' | cut -d/ -f1)
		p1=$(cut -d' ' -f1 "$work/$s-$c.runs" | cut -d/ -f2)
		printf '%-5s %-7s %7.2fx %10.0f %9.0f %9s  %s\n' "$c" "$s" "$fx" \
		    "$(median $r1)" "$(median $later)" "$(median $p1)" "$each"
		eval "fx_$s=$fx"
	done
	# crated against nginx, run by run (run i of a round against run i).
	paste -d' ' "$work/crated-$c.runs" "$work/nginx-$c.runs" | awk -v n="$runs" '
	    { for (i = 1; i <= n; i++) { split($i, a, "/"); split($(i + n), b, "/")
	      x[i] = x[i] " " sprintf("%.2f", a[1] / b[1]) } }
	    END { printf "      crated/nginx req/s by run (per round):"
	      for (i = 1; i <= n; i++) printf "  run %d:%s", i, x[i]; print "" }'
	v=$(verdict "$fx_crated >= 0.90")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "  $c: crated's first run within 10% of its later ones: $v" \
	    "(nginx, the control: $(verdict "$fx_nginx >= 0.90"))"
done
echo "fresh-file: $fails target(s) not met"
