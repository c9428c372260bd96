#!/usr/bin/env bash
# Issue 25, item 1, warm index hits over HTTPS: crated (listen_tls, hosted
# registries) vs nginx (one worker, `ssl`, open_file_cache, gzip_static),
# the same P-256 certificate, TLS 1.3 only on both, the same cipher suite
# (checked with openssl s_client before anything is timed), wrk -t1 over
# HTTPS with keep-alive and Accept-Encoding as cargo sends it:
#   small-gz  one ~1.5 KB file (3/l/lzw)
#   large-gz  one ~50 KB file (3/l/log)
#   10k-gz    10,000 distinct real files (the sample in r0..r3, shuffled)
# (small, large, 10k: the same without gzip, in BENCH_CASES by hand.)
# Then the cost of a new TLS connection: handshakes/s with `openssl
# s_time` (C, OpenSSL's own client; each connection a handshake and one
# HTTP/1.0 GET of the small file, the server closing after it), BENCH_HS
# clients in parallel, full handshakes (-new) and resumed ones (-reuse,
# TLS 1.3 session tickets, both servers with OpenSSL's defaults).
# Rounds alternate the servers; nginx-b, a second nginx identical to the
# first, runs in every round (the A/A control), see compare in lib.sh.
# Targets: crated >= 1.0x nginx's req/s with p99 <= 1.2x nginx's (warm
# hits); >= 1.0x nginx's handshakes/s.
# Env: CRATED_BIN, BENCH_SECONDS (per run, 6), BENCH_ROUNDS (3),
# BENCH_CONNS (50), BENCH_CASES ("small-gz large-gz 10k-gz"),
# BENCH_HS (handshake clients in parallel, 4; 0 skips the handshakes),
# BENCH_CONTROL (1; 0 leaves nginx-b out), BENCH_BASE_BIN (an older crated
# to run beside, as crated-0, on its own copy of the data: before and
# after a change in the same rounds).
source "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-6}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-50}
cases=${BENCH_CASES:-small-gz large-gz 10k-gz}
hs=${BENCH_HS:-4}
bench_header "warm index hits over HTTPS: crated vs nginx, wrk -t1 -c$conns -d${secs}s x $rounds rounds"

# The certificate: P-256, as a team would make one for an internal host.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 30 \
    -subj /CN=localhost 2> /dev/null
chmod 644 "$work/key.pem"	# nginx's workers read it as another user

unpack_sample "$work/sample"
rm -f "$work/sample/config.json"
mkdir -p "$work/data" "$work/www" "$work/sample-gz"
# nginx's .gz files (gzip_static), where gzip makes the file smaller, as
# in warm-hits.sh; crated makes its own.
(cd "$work/sample" && find . -type f -printf '%P\0' |
    xargs -0 -P "$(nproc)" -n 200 sh -c 'for f; do mkdir -p \
    "$0/$(dirname "$f")"; gzip -3 -n -c "$f" > "$0/$f.gz"
    [ "$(stat -c %s "$0/$f.gz")" -lt "$(stat -c %s "$f")" ] ||
    rm "$0/$f.gz"; done' "$work/sample-gz")
for r in r0 r1 r2 r3; do
	for d in data data-0; do
		mkdir -p "$work/$d/$r"
		cp -al "$work/sample" "$work/$d/$r/index"
	done
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

# nginx_tls NAME PORT TLSPORT: nginx_static's configuration (lib.sh) with
# a TLS listener beside the plain one (which only the warm-up uses).
nginx_tls() {
	nginx_static "$2" "$work/www" text/plain "$1"
	sed -i "s|server { listen 127.0.0.1:$2; |server { listen 127.0.0.1:$2; \
listen 127.0.0.1:$3 ssl; ssl_certificate $work/cert.pem; \
ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.3; |" \
	    "$work/$1.conf"
	grep -q "ssl_protocols" "$work/$1.conf" ||
	    { echo "nginx_tls: nginx_static's server line changed" >&2
	      exit 1; }
}

declare -A base=() tbase=()
nport=$(free_port) ntport=$(free_port)
nginx_tls nginx "$nport" "$ntport"
bg_start nginx -c "$work/nginx.conf"
npid=$bg_pid
base[nginx]=http://127.0.0.1:$nport
tbase[nginx]=https://127.0.0.1:$ntport

# tls_crated NAME BIN DATA: crated serving r0..r3 from DATA on a plain
# port (the warm-up's) and a TLS one; its pid in srv_pids[NAME].
tls_crated() {
	local p t
	p=$(free_port) t=$(free_port)
	{ printf 'listen = ["127.0.0.1:%s"]\nlisten_tls = ["127.0.0.1:%s"]\n' \
	    "$p" "$t"
	  printf 'tls_cert = "%s"\ntls_key = "%s"\n' "$work/cert.pem" \
	    "$work/key.pem"
	  printf 'data_dir = "%s"\nlog_level = "warn"\n' "$3"
	  for r in r0 r1 r2 r3; do echo "[registries.$r]"; done
	} > "$work/$1.toml"
	bg_start "$2" serve --config "$work/$1.toml" 2> "$work/$1.log"
	srv_pids[$1]=$bg_pid
	base[$1]=http://127.0.0.1:$p
	tbase[$1]=https://127.0.0.1:$t
}
tls_crated crated "$crated" "$work/data"
cpid=${srv_pids[crated]}
cmp_servers="nginx crated"
if [ -n "${BENCH_BASE_BIN:-}" ]; then
	tls_crated crated-0 "$BENCH_BASE_BIN" "$work/data-0"
	cmp_servers="nginx crated crated-0"
	echo "crated-0: $BENCH_BASE_BIN ($("$BENCH_BASE_BIN" --version 2>&1 |
	    head -1))"
fi
if [ "${BENCH_CONTROL:-1}" = 1 ]; then
	bport=$(free_port) btport=$(free_port)
	nginx_tls nginx-b "$bport" "$btport"
	bg_start nginx -c "$work/nginx-b.conf"
	ctl_pid=$bg_pid
	base[nginx-b]=http://127.0.0.1:$bport
	tbase[nginx-b]=https://127.0.0.1:$btport
	cmp_servers="$cmp_servers nginx-b"
fi
for s in $cmp_servers; do
	wait_port "${base[$s]##*:}"
	wait_port "${tbase[$s]##*:}"
done

# What each server negotiates with an OpenSSL client (wrk's library): the
# protocol and the cipher suite must be the same for all.
tls_of() {
	openssl s_client -connect "${1#https://}" -brief < /dev/null 2>&1 |
	    awk -F': ' '/^Protocol version/ {p = $2} /^Ciphersuite/ {c = $2}
	    END {print p, c}'
}
for s in $cmp_servers; do
	t=$(tls_of "${tbase[$s]}")
	echo "$s: $t"
	[ "$t" = "$(tls_of "${tbase[nginx]}")" ] ||
	    { echo "$s does not negotiate what nginx does" >&2; exit 1; }
done

# Warm: every path once over each server's TLS port (page cache, nginx's
# open_file_cache, crated's memory cache); crated's gz/ files, made in the
# background after a file's first gzip answer, asked for again until a
# round adds none (as in warm-hits.sh), over its plain port.
gz_count() { find "$1" -path '*/gz/*' -type f | wc -l; }
for s in crated crated-0; do
	[ -n "${base[$s]:-}" ] || continue
	d=$work/data$([ "$s" = crated-0 ] && echo -0 || true)
	for c in $cases; do
		[[ $c == *-gz ]] || continue
		before=-1
		for ((i = 0; i < 10; i++)); do
			"$python" "$bench_dir/client.py" getall "${base[$s]}" \
			    "$work/paths-${c%-gz}" --gzip > /dev/null
			for ((j = 0; j < 30; j++)); do
				n=$(gz_count "$d"); sleep 0.5
				[ "$(gz_count "$d")" -eq "$n" ] && break
			done
			[ "$n" -eq "$before" ] && break
			before=$n
		done
		echo "$c: $s keeps $n gz/ files"
	done
done

run() {	# server case seconds -> wrk_run's line
	WRK_PATHS=$work/paths-${2%-gz} WRK_COND=0 WRK_GZIP=$([[ $2 == *-gz ]] &&
	    echo 1 || echo 0) wrk_run "$work/wrk.out" -t1 \
	    -c"$conns" -d"$3s" -s "$bench_dir/paths.lua" "${tbase[$1]}"
}
for c in $cases; do
	for s in $cmp_servers; do run "$s" "$c" 2 > /dev/null; done
done

srv_pids[nginx]=$(with_children "$npid")
[ -n "$ctl_pid" ] && srv_pids[nginx-b]=$(with_children "$ctl_pid")
runner() { run "$1" "$c" "$secs"; }
compare_header
for c in $cases; do
	compare "$c" runner
	judge "target for $c (crated >= 1.0x req/s, p99 <= 1.2x)" \
	    "R >= 1.0 && P <= 1.2"
done

# hs_run SERVER MODE: $hs s_time clients for $secs seconds; prints
# wrk_run's line: connections/s, the mean ms per connection of one client
# in the p99 column, 0 errors, connections, the clients' CPU share (of
# one core each).
hs_run() {
	local i n=0 t
	for ((i = 0; i < hs; i++)); do
		openssl s_time -connect "${tbase[$1]#https://}" -"$2" -tls1_3 \
		    -time "$secs" -www /r0/3/l/lzw > "$work/st.$i" 2>&1 &
	done
	{ TIMEFORMAT='%U %S %R'; time wait; } 2> "$work/st.time"
	for ((i = 0; i < hs; i++)); do
		t=$(awk '/connections in .* real seconds/ {print $1; exit}' \
		    "$work/st.$i")
		[ -n "$t" ] || { cat "$work/st.$i" >&2; return 1; }
		n=$((n + t))
	done
	# s_time stops at its first connection past -time: the wall time
	# of the slowest client, not -time, is what they took.
	awk -v n="$n" -v k="$hs" -v f="$(cat "$work/st.time")" \
	    'BEGIN { split(f, t, " "); w = t[3] > 0 ? t[3] : 1
	    printf "%.1f %.3f 0 %d %.0f\n", n / w, (n ? k * w * 1000 / n : 0),
	    n, (t[1] + t[2]) * 100 / w / k }'
}
if [ "$hs" -gt 0 ]; then
	echo
	compare_header handshakes
	for mode in new reuse; do
		hsrunner() { hs_run "$1" "$mode"; }
		compare "$mode" hsrunner
		judge "target for $mode TLS connections (crated >= 1.0x nginx's per second)" \
		    "R >= 1.0"
	done
	echo "(handshakes: req/s = new TLS connections per second, each with" \
	    "one GET of the small file; p99_ms here = the mean ms per" \
	    "connection of one client; wrk_cpu = the s_time clients' CPU," \
	    "share of one core each; $hs clients)"
fi
echo "(rps_x, p99_x: medians of the per-round ratios to nginx; cpu_us:" \
    "the server's user+system CPU per request; cpu_x: to nginx's;" \
    "wrk_cpu: the share of its core wrk used, near 100% when it is the limit;" \
    "steal: the share of CPU time the hypervisor took while that server ran," \
    "per round after the /)"
echo "crated RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/$cpid/status)"
judge_summary https-hits
