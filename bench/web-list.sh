#!/usr/bin/env bash
# The registry list page (GET /R/), two registries:
#  hosted  the real index sample (3,208 index files of crates.io): the
#          first view, BENCH_VIEWS more views, a view after BENCH_TOUCH
#          crates were published (through the API), a search;
#  mirror  an offline mirror of BENCH_CRATES synthetic crates (10,000),
#          three versions each, the newest one's .crate cached
#          (web-mirror-data.py): how long after start every description
#          (read from the cached .crate files) is searchable (waited for
#          at most BENCH_DESC_WAIT s), the first view, BENCH_VIEWS more, a
#          search by description, and BENCH_VIEWS views each after a
#          download (the usage journal changed: copied again).
# For each: each view's time (curl's time_total, ms), the median of the
# repeated views, and the system calls crated made per view (strace -c -f
# over BENCH_VIEWS more views; strace slows them, so they are not timed).
# No target: a measurement (issue 27).
# Env: CRATED_BIN, BENCH_VIEWS (10), BENCH_TOUCH (10), BENCH_CRATES (10000),
# BENCH_DESC_WAIT (120).
source "$(dirname "$0")/lib.sh"
views=${BENCH_VIEWS:-10}
touchn=${BENCH_TOUCH:-10}
ncrates=${BENCH_CRATES:-10000}
descwait=${BENCH_DESC_WAIT:-120}
bench_header "web-list: GET /R/ of a hosted registry (index sample) and a mirror"

view() {	# view REG [QUERY]: the view's time in ms
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
	    "http://127.0.0.1:$cport/$1/${2:-}" |
	    awk '$1 != 200 { print "status " $1 > "/dev/stderr"; exit 1 }
		{ printf "%.1f\n", $2 * 1000 }'
}

count() {	# count REG QUERY: "N crates match" of the view
	curl -s "http://127.0.0.1:$cport/$1/$2" |
	    sed -n 's/.*id="count">\([0-9]*\) crate.*/\1/p'
}

repeated() {	# repeated REG: BENCH_VIEWS views, their times and median
	local times=() i
	for ((i = 0; i < views; i++)); do times+=("$(view "$1")"); done
	echo "next $views views ms: ${times[*]}"
	echo "median ms: $(median "${times[@]}")"
}

syscalls() {	# syscalls REG: system calls per view, strace -c -f
	local i
	strace -f -c -o "$work/strace.txt" -p "$cpid" 2> "$work/strace.err" &
	local spid=$!
	for ((i = 0; i < 500; i++)); do
		grep -q attached "$work/strace.err" 2>/dev/null && break
		sleep 0.02
	done
	view "$1" > /dev/null	# settles what attaching disturbed
	: > "$work/strace.txt"
	kill -INT "$spid"; wait "$spid" || true
	strace -f -c -o "$work/strace.txt" -p "$cpid" 2> "$work/strace.err" &
	spid=$!
	for ((i = 0; i < 500; i++)); do
		grep -q attached "$work/strace.err" 2>/dev/null && break
		sleep 0.02
	done
	for ((i = 0; i < views; i++)); do view "$1" > /dev/null; done
	kill -INT "$spid"; wait "$spid" || true
	# columns: % time, seconds, usecs/call, calls, [errors], syscall
	awk -v n="$views" '$NF == "total" { printf "system calls per view: %.0f" \
	    " (%d in %d views)\n", $4 / n, $4, n }' "$work/strace.txt"
	awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print "  " $NF ": " $4 }' \
	    "$work/strace.txt" | sort -t: -k2 -nr | head -6
}

publish() {	# publish N: N new crates published to local through the API
	"$python" - "$cport" "$1" <<'PY'
import gzip, io, json, struct, sys, tarfile, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    name, vers = "bench-pub-%03d" % i, "1.0.0"
    toml = '[package]\nname = "%s"\nversion = "%s"\n' % (name, vers)
    tb = io.BytesIO()
    with tarfile.open(fileobj=tb, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        ti = tarfile.TarInfo("%s-%s/Cargo.toml" % (name, vers))
        ti.size = len(toml)
        tf.addfile(ti, io.BytesIO(toml.encode()))
    crate = gzip.compress(tb.getvalue(), mtime=0)
    meta = json.dumps({"name": name, "vers": vers, "deps": [], "features": {},
                       "authors": [], "description": "published by the bench",
                       "license": "MIT", "links": None}).encode()
    body = struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(crate)) + crate
    req = urllib.request.Request("http://127.0.0.1:%d/local/api/v1/crates/new" % port,
                                 data=body, method="PUT",
                                 headers={"Authorization": "anything"})
    urllib.request.urlopen(req).read()
PY
}

# --- hosted: the index sample ---------------------------------------------
unpack_sample "$work/data/local/index"
rm -f "$work/data/local/index/config.json"
nfiles=$(find "$work/data/local/index" -type f | wc -l)
hosted_crated local
echo "hosted: index files: $nfiles"
echo "first view ms: $(view local)"
repeated local
syscalls local
publish "$touchn"
echo "after $touchn crates published, view ms: $(view local)"
echo "  the list shows them: $(count local '?q=bench-pub') of $touchn"
echo "search ?q=serde ms: $(view local '?q=serde')"
bg_stop "$cpid"

# --- mirror: BENCH_CRATES cached crates -------------------------------------
"$python" "$bench_dir/web-mirror-data.py" "$work/data/mirror" "$ncrates" 3
cport=$(free_port)
cat > "$work/crated-m.toml" <<EOF
listen = ["127.0.0.1:$cport"]
data_dir = "$work/data"
log_level = "warn"
[registries.mirror]
upstream = "sparse+http://127.0.0.1:9/"
offline = true
EOF
t0=$(date +%s.%N)
bg_start "$crated" serve --config "$work/crated-m.toml" 2> "$work/crated-m.log"
cpid=$bg_pid
wait_port "$cport"
echo "mirror: $ncrates crates, 3 versions each, the newest cached"
n=0
while :; do
	n=$(count mirror '?q=benchdesc')
	[ "${n:-0}" -ge "$ncrates" ] && break
	awk -v t0="$t0" -v w="$descwait" 'BEGIN { "date +%s.%N" | getline t;
	    exit (t - t0 > w) ? 0 : 1 }' && break
	sleep 0.2
done
echo "descriptions searchable: ${n:-0} of $ncrates, $(awk -v t0="$t0" \
    'BEGIN { "date +%s.%N" | getline t; printf "%.1f", t - t0 }') s after start"
echo "first view ms: $(view mirror)"
repeated mirror
syscalls mirror
echo "search ?q=number%20777 ms: $(view mirror '?q=number%20777')"
# a .crate used before each view: the usage journal changed, so the view
# copies it (on the loop) and the worker sorts its uses again
times=()
for ((i = 0; i < views; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$cport/mirror/api/v1/crates/$(printf \
	    'bench-crate-%05d' "$i")/1.0.2/download"
	times+=("$(view mirror '?sort=recent')")
done
echo "views each after a download (sort=recent) ms: ${times[*]}"
echo "median ms: $(median "${times[@]}")"
echo "web-list: 0 target(s) not met"
