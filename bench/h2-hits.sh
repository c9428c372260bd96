#!/usr/bin/env bash
# Issue 25, item 2: warm index hits over HTTP/2, many streams per
# connection (h2load -c10 -m32), as cargo asks (accept-encoding: deflate,
# gzip), for a ~1.5 KB (3/l/lzw) and a ~50 KB (3/l/log) real index file:
#   tls-*  over TLS 1.3 with ALPN h2: crated's listen_tls against nginx
#          (listen ... ssl http2), the same P-256 certificate and one
#          cipher (h2load --tls13-ciphers=TLS_AES_128_GCM_SHA256);
#          nginx-b, a second identical nginx, is the A/A control;
#   h2c-*  cleartext, HTTP/2 with prior knowledge (h2load's default for
#          http://): crated against nginx (listen ... http2, which in
#          nginx 1.22 is prior knowledge only) and nghttpx (h2c, one
#          worker) in front of a plain nginx.
# nginx: one worker, open_file_cache, gzip_static (.gz made beforehand
# with gzip -3 where smaller, as in warm-hits.sh), no access log,
# keepalive_requests high. Rounds rotate the servers; a server's ratio is
# the median over rounds of its req/s over the best reference's in the
# same round (tls: nginx; h2c: the better of nginx and nghttpx).
# Target: crated >= 1.0x the better reference in every case.
# Env: CRATED_BIN, BENCH_SECONDS (per run, 5), BENCH_ROUNDS (3),
# BENCH_CLIENTS (10), BENCH_STREAMS (32), BENCH_CASES ("tls-small
# tls-large h2c-small h2c-large"), BENCH_CONTROL (1; 0 leaves nginx-b out).
source "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
clients=${BENCH_CLIENTS:-10}
streams=${BENCH_STREAMS:-32}
cases=${BENCH_CASES:-tls-small tls-large h2c-small h2c-large}
command -v h2load > /dev/null || { echo "h2-hits: no h2load (Debian:" \
    "nghttp2-client; ./dev.sh bench installs it)" >&2; exit 2; }
bench_header "HTTP/2 warm hits: h2load -c$clients -m$streams -D$secs x $rounds rounds, gzip as cargo asks"

# The two files, for crated (a hosted registry's index) and nginx (www/,
# with .gz beside them).
mkdir -p "$work/data/r0/index" "$work/www/r0"
tar xzf "$sample" -C "$work/data/r0/index" ./3/l/lzw ./3/l/log
cp -a "$work/data/r0/index/." "$work/www/r0/"
for f in 3/l/lzw 3/l/log; do
	gzip -3 -n -c "$work/www/r0/$f" > "$work/www/r0/$f.gz"
	[ "$(stat -c %s "$work/www/r0/$f.gz")" -lt \
	    "$(stat -c %s "$work/www/r0/$f")" ] || rm "$work/www/r0/$f.gz"
done
declare -A path=([small]=/r0/3/l/lzw [large]=/r0/3/l/log)

# One certificate for both TLS servers: P-256, as deployed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2> /dev/null
chmod 644 "$work/key.pem"	# nginx's workers run as another user

# h2_nginx NAME PORT LISTEN_FLAGS: nginx serving www/ with HTTP/2 on PORT.
h2_nginx() {
	cat > "$work/$1.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/$1.err;
pid $work/$1.pid;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_requests 10000000;
	open_file_cache max=10000 inactive=60s;
	open_file_cache_valid 60s;
	gzip_static on;
	default_type text/plain;
	ssl_certificate $work/cert.pem;
	ssl_certificate_key $work/key.pem;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_session_cache shared:SSL:1m;
	server { listen 127.0.0.1:$2 $3; root $work/www; }
}
NGX
	bg_start nginx -c "$work/$1.conf"
	wait_port "$2"
}

declare -A url=() pid=()
p=$(free_port); h2_nginx nginx-tls "$p" "ssl http2"
url[nginx-tls]=https://127.0.0.1:$p; pid[nginx-tls]=$(with_children "$bg_pid")
tls_servers="nginx-tls crated-tls"
if [ "${BENCH_CONTROL:-1}" = 1 ]; then
	p=$(free_port); h2_nginx nginx-b "$p" "ssl http2"
	url[nginx-b]=https://127.0.0.1:$p; pid[nginx-b]=$(with_children "$bg_pid")
	tls_servers="nginx-tls crated-tls nginx-b"
fi
p=$(free_port); h2_nginx nginx-h2c "$p" http2
url[nginx-h2c]=http://127.0.0.1:$p; pid[nginx-h2c]=$(with_children "$bg_pid")
# nghttpx's backend: a plain HTTP/1.1 nginx.
np=$(free_port); h2_nginx nginx-h1 "$np" ""
p=$(free_port)
bg_start nghttpx -f"127.0.0.1,$p;no-tls" -b"127.0.0.1,$np" --workers=1 \
    --errorlog-file="$work/nghttpx.err" --no-via --conf=/dev/null 2> /dev/null
wait_port "$p"
url[nghttpx]=http://127.0.0.1:$p
# nghttpx forks its worker: the master, the worker and the backend nginx.
pid[nghttpx]="$(with_children "$bg_pid") $(with_children "$(cat "$work/nginx-h1.pid")")"
h2c_servers="nginx-h2c nghttpx crated-h2c"

cport=$(free_port); tport=$(free_port)
cat > "$work/crated.toml" <<TOML
listen = ["127.0.0.1:$cport"]
listen_tls = ["127.0.0.1:$tport"]
tls_cert = "$work/cert.pem"
tls_key = "$work/key.pem"
data_dir = "$work/data"
log_level = "warn"
[registries.r0]
TOML
bg_start "$crated" serve --config "$work/crated.toml" 2> "$work/crated.log"
wait_port "$cport"; wait_port "$tport"
url[crated-tls]=https://127.0.0.1:$tport; url[crated-h2c]=http://127.0.0.1:$cport
pid[crated-tls]=$bg_pid; pid[crated-h2c]=$bg_pid

# h2 SERVER FILE SECONDS OUT: one h2load run; prints "req/s requests
# non-2xx h2load_cpu%" (h2load's user + system over wall time).
h2() {
	local out=$4
	{ TIMEFORMAT='%U %S %R'; time h2load -c"$clients" -m"$streams" \
	    -D"$3" --warm-up-time=1 -H 'accept-encoding: deflate, gzip' \
	    --tls13-ciphers=TLS_AES_128_GCM_SHA256 \
	    "${url[$1]}${path[$2]}" > "$out" 2>&1; } 2> "$out.time" ||
	    { cat "$out" >&2; return 1; }
	# "finished in 5.00s, 1234.5 req/s, ..."; "requests: N total, N
	# started, N done, N succeeded, N failed, N errored, N timeout";
	# "status codes: N 2xx, N 3xx, N 4xx, N 5xx". With -D, a few requests
	# that straddle the warm-up's end are done without a status counted,
	# so errors are the failures and the non-2xx answers, not done - 2xx.
	awk '/^finished in/ {gsub(/,/, ""); rps = $4}
	    /^requests:/ {n = $6; bad += $10 + $12 + $14}
	    /^status codes:/ {bad += $5 + $7 + $9}
	    END {printf "%s %d %d", rps, n, bad}' "$out"
	awk '{printf " %.0f\n", ($3 > 0 ? ($1 + $2) * 100 / $3 : 0)}' \
	    "$out.time"
}

# Warm-up and checks: each server answers 200 with gzip (where nginx has a
# .gz) for both files, over the protocol and cipher meant.
for c in $cases; do
	for s in $([[ $c == tls-* ]] && echo "$tls_servers" || echo "$h2c_servers"); do
		read -r rps n bad cpu < <(h2 "$s" "${c#*-}" 2 "$work/warm.out")
		proto=$(awk -F': ' '/^Application protocol/ {print $2}' "$work/warm.out")
		ciph=$(awk -F': ' '/^Cipher/ {print $2}' "$work/warm.out")
		if [ "$bad" != 0 ] || [ "$n" = 0 ]; then
			echo "h2-hits: $s $c: $n done, $bad not 2xx:" >&2
			cat "$work/warm.out" >&2
			exit 1
		fi
		printf '  warm-up %-10s %-10s %s %s\n' "$c" "$s" "$proto" "${ciph:-}"
	done
done
enc=$(curl -s -o /dev/null -w '%{size_download}' --http2-prior-knowledge \
    -H 'accept-encoding: deflate, gzip' "${url[crated-h2c]}${path[large]}")
echo "  large file: $(stat -c %s "$work/www/r0/3/l/log") B, crated's gzip" \
    "answer $enc B, nginx's .gz $(stat -c %s "$work/www/r0/3/l/log.gz" \
    2> /dev/null || echo -) B"

printf '%-10s %-10s %9s %7s %7s %6s %7s %7s %6s %5s %6s  %s\n' case server \
    req/s rps_x ref_x errors cpu_us cpu_x h2load load steal \
    "req/s per round"
missed=0 judged=0 ctl_missed=0
for c in $cases; do
	if [[ $c == tls-* ]]; then list=($tls_servers); refs="nginx-tls"
	else list=($h2c_servers); refs="nginx-h2c nghttpx"; fi
	declare -A r_rps=() sum=() each=() ticks=() reqs=() errs=() wcpu=() \
	    stolen=() all=() bx=() rx=()
	for ((i = 0; i < rounds; i++)); do
		for ((j = 0; j < ${#list[@]}; j++)); do
			s=${list[(i + j) % ${#list[@]}]}
			c0=$(cpu_ticks ${pid[$s]}); read -r s0 t0 < <(cpu_stat)
			read -r rps n bad cpu < <(h2 "$s" "${c#*-}" "$secs" "$work/run.out")
			read -r s1 t1 < <(cpu_stat); c1=$(cpu_ticks ${pid[$s]})
			r_rps[$s]=$rps
			sum[$s]=$(awk -v a="${sum[$s]:-0}" -v b="$rps" 'BEGIN {print a + b}')
			ticks[$s]=$((${ticks[$s]:-0} + c1 - c0))
			reqs[$s]=$((${reqs[$s]:-0} + n))
			errs[$s]=$((${errs[$s]:-0} + bad))
			wcpu[$s]=$((${wcpu[$s]:-0} + cpu))
			stolen[$s]=$((${stolen[$s]:-0} + s1 - s0))
			all[$s]=$((${all[$s]:-0} + t1 - t0))
			each[$s]="${each[$s]:-}${each[$s]:+ }${rps%.*}"
		done
		best=0 bref=
		for s in $refs; do
			if awk -v a="${r_rps[$s]}" -v b="$best" 'BEGIN {exit !(a > b)}'; then
				best=${r_rps[$s]}; bref=$s
			fi
		done
		for s in "${list[@]}"; do
			bx[$s]="${bx[$s]:-} $(awk -v a="${r_rps[$s]}" -v b="$best" 'BEGIN {print a / b}')"
			rx[$s]="${rx[$s]:-} $(awk -v a="${r_rps[$s]}" -v b="${r_rps[${list[0]}]}" 'BEGIN {print a / b}')"
		done
	done
	ref_cpu=$(awk -v t="${ticks[${list[0]}]}" -v n="${reqs[${list[0]}]}" \
	    -v h="$clk_tck" 'BEGIN {print n ? t * 1e6 / h / n : 0}')
	for s in "${list[@]}"; do
		cu=$(awk -v t="${ticks[$s]}" -v n="${reqs[$s]}" -v h="$clk_tck" \
		    'BEGIN {print n ? t * 1e6 / h / n : 0}')
		printf '%-10s %-10s %9.0f %6.2fx %6.2fx %6d %7.1f %6sx %6s %5s %5s%%  %s\n' \
		    "$c" "$s" "$(awk -v a="${sum[$s]}" -v n="$rounds" 'BEGIN {print a / n}')" \
		    "$(median ${bx[$s]})" "$(median ${rx[$s]})" "${errs[$s]}" \
		    "$cu" "$(ratio "$cu" "$ref_cpu")" "$((wcpu[$s] / rounds))%" \
		    "$(load)" "$(awk -v a="${stolen[$s]}" -v b="${all[$s]}" \
		    'BEGIN {printf "%.1f", b ? 100 * a / b : 0}')" "${each[$s]}"
	done
	crated=crated-${c%%-*}
	judged=$((judged + 1))
	v=$(verdict "R >= 1.0 && P == 0" "$(median ${bx[$crated]})" \
	    "${errs[$crated]}")
	[ "$v" = met ] || missed=$((missed + 1))
	ctl=
	if [[ $c == tls-* ]] && [ -n "${pid[nginx-b]:-}" ]; then
		cv=$(verdict "R >= 1.0" "$(median ${bx[nginx-b]})")
		[ "$cv" = met ] || ctl_missed=$((ctl_missed + 1))
		ctl="; nginx-b, nginx's twin, against the same: $cv"
	fi
	echo "  target for $c (crated >= 1.0x the better of $refs): $v$ctl"
	unset r_rps sum each ticks reqs errs wcpu stolen all bx rx
done
echo "(rps_x: median over rounds of req/s over the best reference's in the" \
    "same round; ref_x: over the first server's (nginx); errors: requests" \
    "not answered 2xx; cpu_us: the server's user+system CPU per request" \
    "(nghttpx: with its nginx); h2load: the share of its core h2load used," \
    "near 100% when it is the limit; steal: the hypervisor's share)"
if [ "${BENCH_CONTROL:-1}" = 1 ]; then
	echo "h2-hits: $missed target(s) not met; nginx-b, identical to nginx," \
	    "missed $ctl_missed of the same $((judged - $(echo "$cases" |
	    tr ' ' '\n' | grep -c '^h2c-' || true)))"
else
	echo "h2-hits: $missed target(s) not met"
fi
