#!/usr/bin/env bash
# Hosted registries on an object store (issue 26), against the same
# registry on local disk. The store is the tests' SigV4-verifying S3
# stand-in (tests/integration/s3_standin.py, a Python program on
# loopback: what a store adds here is its round trips and its own CPU on
# the same two cores, not a cloud's latency).
#   publish  BENCH_PUBLISHES (50) sequential real HTTP publishes of
#            generated .crate files (bench/storage.py publish), per round,
#            to crated on local disk and to crated with storage, rounds
#            alternating which goes first: latency median and p95 of each
#   warm     wrk -t1 -c50 on one real index file of the crates.io sample
#            (3/l/log, ~50 KB), plain and gzip as cargo asks: nginx
#            (gzip_static) as the reference, crated without a store,
#            crated with one (the file read from the store on the first
#            request, then revalidated every storage_max_stale = 1 s),
#            rounds rotating the three (compare in lib.sh)
#   stale    a publish acknowledged by replica A, then replica B polled
#            every 10 ms until it lists the version, 20 times after a
#            random 0-1 s pause (bench/storage.py stale); the bound is
#            storage_max_stale = 1 s plus one GET
# Targets: warm hits with a store >= 0.9x those without (the same
# serving path; one conditional GET a second per file besides), and
# staleness max <= 1.2 s.
# Env: CRATED_BIN, BENCH_SECONDS (per wrk run, 5), BENCH_ROUNDS (3),
# BENCH_PUBLISHES (50), BENCH_STALE_N (20). About 2.5 minutes; not in
# run-all.sh's default list: `./dev.sh bench storage`.
source "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
npub=${BENCH_PUBLISHES:-50}
nstale=${BENCH_STALE_N:-20}
bench_header "hosted registries with and without an object store (S3 stand-in)"
akid=AKIDBENCH secret=bench/secret+key bucket=bench
export AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret
file=3/l/log

# The sample's file, for nginx (with its .gz), for crated on disk, and in
# the stand-in's directory for crated with a store (key bench-fleet/local/
# index/3/l/log, as a publish leaves it; the stand-in keeps every object
# in that directory too, written without fsync).
unpack_sample "$work/sample"
mkdir -p "$work/www/local/$(dirname $file)" \
    "$work/disk/local/index/$(dirname $file)" "$work/s3/$bucket"
cp "$work/sample/$file" "$work/www/local/$file"
gzip -3 -n -c "$work/sample/$file" > "$work/www/local/$file.gz"
cp "$work/sample/$file" "$work/disk/local/index/$file"
obj=$work/s3/$bucket/bench-fleet%2Flocal%2Findex%2F${file//\//%2F}
cp "$work/sample/$file" "$obj"
"$python" -c 'import hashlib, json, sys, time
json.dump({"ctype": "application/octet-stream", "mtime": time.time(),
    "etag": "\"%s\"" % hashlib.md5(open(sys.argv[1], "rb").read()).hexdigest()},
    open(sys.argv[1] + ".meta", "w"))' "$obj"

sport=$(free_port)
bg_start "$python" "$root/tests/integration/s3_standin.py" --port "$sport" \
    --bucket "$bucket" --creds "$akid:$secret" --dir "$work/s3" > /dev/null
s3pid=$bg_pid
wait_port "$sport"

# crated_on NAME DATA STORE(0/1): starts crated serving a hosted "local"
# from DATA; sets $cport and $cpid.
crated_on() {
	cport=$(free_port)
	{ printf 'listen = ["127.0.0.1:%s"]\ndata_dir = "%s"\nlog_level = "warn"\n' \
	    "$cport" "$2"
	  [ "$3" = 1 ] && printf 'storage = "s3://%s/bench-fleet"\nstorage_endpoint = "http://127.0.0.1:%s"\nstorage_region = "us-east-1"\nstorage_max_stale = 1\n' \
	    "$bucket" "$sport"
	  echo "[registries.local]"; } > "$work/$1.toml"
	bg_start "$crated" serve --config "$work/$1.toml" 2> "$work/$1.log"
	cpid=$bg_pid
	wait_port "$cport"
}
crated_on disk "$work/disk" 0; dport=$cport dpid=$cpid
crated_on store "$work/store" 1; sport_c=$cport spid=$cpid
crated_on replica-b "$work/b" 1; bport=$cport
nport=$(free_port)
nginx_static "$nport" "$work/www" text/plain
bg_start nginx -c "$work/nginx.conf"
npid=$bg_pid
wait_port "$nport"

echo "-- publish latency: $npub sequential publishes x $rounds rounds each" \
    "(HTTP, one connection each, ~1 KB .crate files)"
for ((i = 0; i < rounds; i++)); do
	order="disk store"
	((i % 2)) && order="store disk"
	for s in $order; do
		p=$dport
		[ $s = store ] && p=$sport_c
		"$python" "$bench_dir/storage.py" publish "$p" "pub-$s-$i" "$npub" \
		    > "$work/pub-$s-$i"
	done
done
for s in disk store; do
	printf '  %-26s %s\n' "$([ $s = disk ] && echo "local disk (fsync)" ||
	    echo "S3 stand-in (loopback)"):" \
	    "$("$python" "$bench_dir/storage.py" stats ms "$work"/pub-$s-*)"
done

echo "-- warm hits on $file ($(stat -c %s "$work/sample/$file") B), wrk -t1 -c50" \
    "-d${secs}s x $rounds rounds, rotating"
declare -A base=([nginx]="http://127.0.0.1:$nport" [crated]="http://127.0.0.1:$dport"
    [crated-s]="http://127.0.0.1:$sport_c")
cmp_servers="nginx crated crated-s"
srv_pids[nginx]=$(with_children "$npid")
srv_pids[crated]=$dpid
srv_pids[crated-s]=$spid
gz=0
run() {	# server seconds -> wrk_run's line
	local h=()
	[ "$gz" = 1 ] && h=(-H "Accept-Encoding: gzip")
	wrk_run "$work/wrk.out" -t1 -c50 -d"$2s" "${h[@]}" "${base[$1]}/local/$file"
}
# Warm-up: crated-s reads the file from the store; both crateds make
# their gz/ form after a first gzip answer.
for gz in 0 1; do
	for s in $cmp_servers; do run "$s" 2 > /dev/null; done
done
runner() { run "$1" "$secs"; }
compare_header
missed=0
for gz in 0 1; do
	label=$([ $gz = 1 ] && echo gzip || echo plain)
	compare "$label" runner
	r=$(ratio "${cmp_rps[crated-s]}" "${cmp_rps[crated]}")
	v=$(verdict "R >= 0.9" "$r")
	[ "$v" = met ] || missed=$((missed + 1))
	echo "  $label: with a store / without: ${r}x req/s [target >= 0.9x: $v]"
done
echo "  (crated: local disk; crated-s: with the store; rps_x, p99_x: to nginx)"

echo "-- staleness: publish acknowledged on A -> listed by B" \
    "(storage_max_stale = 1 s, B polled every 10 ms), n=$nstale"
"$python" "$bench_dir/storage.py" stale "$sport_c" "$bport" stale-bench "$nstale" \
    > "$work/stale"
st=$("$python" "$bench_dir/storage.py" stats s "$work/stale")
mx=$(sort -g "$work/stale" | tail -1)
v=$(verdict "R <= 1.2" "$mx")
[ "$v" = met ] || missed=$((missed + 1))
echo "  $st [target max <= 1.2 s: $v]"
echo "  (load now $(load); the stand-in used $(awk -v t="$(cpu_ticks "$s3pid")" \
    -v h="$clk_tck" 'BEGIN {printf "%.1f", t / h}') s of CPU in all)"
echo "storage: $missed target(s) not met"
