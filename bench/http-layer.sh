#!/usr/bin/env bash
# Warm index hits: crated vs nginx (one worker, sendfile, open_file_cache)
# vs a bare libevent evhttp server, on the same real index files from
# ../shared/data: 3/l/log (~50 KB) and 3/l/lzw (~1.5 KB). wrk -t1 -c50.
# Prints requests/s, p99 latency and the ratio to nginx, measured in this run.
# Needs: nginx-light, wrk (apt-get install nginx-light wrk); a built crated
# (meson setup build && ninja -C build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
crated=${CRATED_BIN:-$root/build/crated}
sample=${CRATED_SAMPLE:-$root/../shared/data/crates-io-index-2025-sample.tar.gz}
secs=${BENCH_SECONDS:-10}
work=$(mktemp -d)
chmod 755 "$work"	# nginx's workers (user nobody) must read www/
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	    wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/data/local/index" "$work/www/local"
tar xzf "$sample" -C "$work/data/local/index" ./3/l/log ./3/l/lzw
cp -r "$work/data/local/index/3" "$work/www/local/"
cc -O2 -o "$work/evhttp" "$here/evhttp_baseline.c" \
    $(pkg-config --cflags --libs libevent)

cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx.err;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_requests 10000000;
	open_file_cache max=20000 inactive=60s;
	default_type text/plain;
	server { listen 127.0.0.1:18101; root $work/www; }
}
NGX
nginx -c "$work/nginx.conf" & pids+=($!)
"$crated" serve --listen 127.0.0.1:18102 --data-dir "$work/data" \
    --log-level warn & pids+=($!)
sleep 0.5
for u in http://127.0.0.1:18101/local/3/l/lzw http://127.0.0.1:18102/local/3/l/lzw; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$u")" = 200 ] ||
	    { echo "$u does not answer 200" >&2; exit 1; }
done

run() {	# name url -> "rps p99 errors"
	wrk -t1 -c50 -d"${secs}s" --latency "$2" > "$work/out" 2>&1
	local rps p99 err
	rps=$(awk '/Requests\/sec/ {print $2}' "$work/out")
	p99=$(awk '$1 == "99%" {print $2}' "$work/out")
	err=$(awk '/Non-2xx or 3xx/ {n += $NF} END {print n + 0}' "$work/out")
	echo "$rps $p99 $err"
}

echo "($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) before the run)"
printf '%-8s %-8s %12s %10s %8s %7s\n' file server req/s p99 ratio non-2xx
for f in 3/l/log 3/l/lzw; do
	"$work/evhttp" 18103 "$work/www/local/$f" & evpid=$!
	sleep 0.3
	read -r n_rps n_p99 n_err < <(run nginx "http://127.0.0.1:18101/local/$f")
	read -r c_rps c_p99 c_err < <(run crated "http://127.0.0.1:18102/local/$f")
	read -r e_rps e_p99 e_err < <(run evhttp "http://127.0.0.1:18103/local/$f")
	kill $evpid; wait $evpid 2>/dev/null || true
	size=$(stat -c %s "$work/www/local/$f")
	for row in "nginx $n_rps $n_p99 $n_err" "crated $c_rps $c_p99 $c_err" \
	    "evhttp $e_rps $e_p99 $e_err"; do
		set -- $row
		printf '%-8s %-8s %12s %10s %7.2fx %7s\n' "$f" "$1" "$2" "$3" \
		    "$(awk -v a="$2" -v b="$n_rps" 'BEGIN {print a / b}')" "$4"
	done
	echo "($f: $size bytes; load $(cut -d' ' -f1 /proc/loadavg))"
done
