#!/usr/bin/env bash
# Scenario 4, coalescing: 500 clients ask a mirror for one index file it
# has never seen (3/s/syn) at the same moment; the stand-in upstream
# (bench/standin.py) waits 200 ms before answering. bench/client.py opens
# all 500 connections first (from 127.0.0.1 and 127.0.0.2, 250 each, under
# crated's default max_connections_per_client of 256), then sends the 500
# requests together. Each run starts crated afresh on an empty data dir.
# Setups: crated (prefetch_dependencies on, the default), crated-nopf
# (off), and for reference nginx proxy_cache with proxy_cache_lock on.
# Target: exactly 1 upstream request for the path, and all 500 answered 200.
# Env: CRATED_BIN, BENCH_RUNS (3), BENCH_CLIENTS (500), BENCH_DELAY (0.2).
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-3}
n=${BENCH_CLIENTS:-500}
delay=${BENCH_DELAY:-0.2}
path=/3/s/syn
bench_header "coalescing: $n concurrent first requests for $path, upstream +${delay}s"

unpack_sample "$work/up"
sport=$(free_port)
bg_start "$python" "$bench_dir/standin.py" --root "$work/up" --port "$sport" \
    --delay "$delay" --log "$work/up.log"
wait_port "$sport"

start() {	# SETUP RUN: sets $port, $prefix and $spid
	local d=$work/run-$1-$2
	mkdir -p "$d"
	port=$(free_port)
	case $1 in
	crated*)
		cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$port"]
data_dir = "$d/data"
log_level = "info"
[registries.cio]
upstream = "sparse+http://127.0.0.1:$sport/"
prefetch_dependencies = $([ "$1" = crated ] && echo true || echo false)
TOML
		bg_start "$crated" serve --config "$d/crated.toml" 2> "$d/crated.log"
		prefix=/cio
		;;
	nginx)
		mkdir -p "$d/cache"
		cat > "$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $d/nginx.err;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	proxy_cache_path $d/cache levels=1:2 keys_zone=idx:10m use_temp_path=off;
	upstream up { server 127.0.0.1:$sport; keepalive 32; }
	server {
		listen 127.0.0.1:$port backlog=1024;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache idx;
			proxy_cache_valid 200 10m;
			proxy_cache_lock on;
		}
	}
}
NGX
		bg_start nginx -c "$d/nginx.conf"
		prefix=
		;;
	esac
	spid=$bg_pid
	wait_port "$port"
}

# server_times LOG: from crated's access log (log_level info), the
# slowest request's time and how far apart the first and last answers were.
server_times() {
	grep ' access: ' "$1" | awk '{
		u = $8; sub(/us$/, "", u); if (u > max) max = u
		split(substr($1, 12, 12), t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
		if (min == "" || s < min) min = s; if (s > last) last = s
	} END { printf "max=%.0f spread=%.0f", max / 1000, (last - min) * 1000 }'
}

printf '%-12s %3s %-10s %7s %6s  %-28s %s\n' setup run answers up_path \
    up_all "crated's own times (ms)" "client's view (ms)"
fails=0
for ((i = 1; i <= runs; i++)); do
	for s in crated crated-nopf nginx; do
		start "$s" "$i"
		before=$(wc -l < "$work/up.log")
		out=$("$python" "$bench_dir/client.py" burst "$port" \
		    "$prefix$path" "$n" --sources 127.0.0.1,127.0.0.2) || true
		sleep 0.5	# let prefetches started by the fill reach the log
		bg_stop "$spid"
		tail -n +"$((before + 1))" "$work/up.log" > "$work/up-$s-$i"
		up_path=$(awk -v p="$path" '$2 == p' "$work/up-$s-$i" | wc -l)
		up_all=$(wc -l < "$work/up-$s-$i")
		answers=$(sed -n 's/^statuses=\([^ ]*\).*/\1/p' <<< "$out")
		server=-
		[ "$s" = nginx ] || server=$(server_times "$work/run-$s-$i/crated.log")
		printf '%-12s %3d %-10s %7d %6d  %-28s %s\n' "$s" "$i" "$answers" \
		    "$up_path" "$up_all" "$server" "$(sed \
		    's/^statuses=[^ ]* bodies=[^ ]* //; s/ms//g' <<< "$out")"
		if [ "${s%-nopf}" = crated ]; then
			v=$(verdict "$up_path == 1 && \"$answers\" == \"200:$n\"")
			[ "$v" = met ] || { fails=$((fails + 1))
			    echo "  target NOT met ($out)"; }
		fi
	done
done
echo "(up_path: upstream requests for $path; up_all: all upstream requests" \
    "in the run, prefetched dependencies included; crated's own times:" \
    "its slowest request, and first to last answer; the client's view" \
    "includes the Python client's own overhead; load $(load))"
echo "coalescing: $fails crated run(s) missed the target"
