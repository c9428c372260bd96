#!/usr/bin/env bash
# Scenario 5, scale: a mirror whose data dir already holds 100,000 cached
# index files (data/m/index/<path> with data/m/meta/<path> =
# {"fetched":<now>,"negative":false}), under synthetic valid crate names
# (aax000000 .. : 676 two-letter prefixes) with real content: the sample's
# 3,208 files, hard-linked round-robin (content is served byte for byte,
# whatever name it carries). The upstream is a closed port and index_ttl a
# day, so every answer comes from the cache.
# Measures
#   start-up  exec to the "listening on" log line, and exec to the first
#             200 for a cached index file (median of BENCH_STARTS runs)
#   RSS       VmRSS / VmHWM from /proc/PID/status after start-up and after
#             serving all 100,000 files once (4 keep-alive connections,
#             bench/client.py getall; plain, as wrk would ask; with
#             BENCH_GZIP=1 a second pass asks for gzip as cargo does)
# Targets: RSS <= 32 MiB, start-up <= 100 ms.
# Env: CRATED_BIN, BENCH_FILES (100000), BENCH_STARTS (5), BENCH_GZIP (0).
source "$(dirname "$0")/lib.sh"
nfiles=${BENCH_FILES:-100000}
starts=${BENCH_STARTS:-5}
bench_header "scale: $nfiles cached index files in a mirror"

unpack_sample "$work/sample"
rm -f "$work/sample/config.json"
t0=$(date +%s.%N)
"$python" - "$work/sample" "$work/data/m" "$nfiles" "$work/paths" <<'PY'
import os, sys, time
src, dst, n, listing = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(src) for f in fs)
now = int(time.time())
meta_src = os.path.join(dst, "meta-src")
os.makedirs(meta_src)
letters = "abcdefghijklmnopqrstuvwxyz"
made = set()
with open(listing, "w") as out:
    for i in range(n):
        name = "%s%sx%06d" % (letters[i // 26 % 26], letters[i % 26], i)
        path = "%s/%s/%s" % (name[:2], name[2:4], name)
        k = i % len(files)
        m = os.path.join(meta_src, str(k))	# one meta inode per source:
        if k not in made:			# ext4 allows 65,000 links
            with open(m, "w") as f:
                f.write('{"fetched":%d,"negative":false}' % now)
            made.add(k)
        for kind, target in (("index", files[k]), ("meta", m)):
            d = os.path.join(dst, kind, name[:2], name[2:4])
            os.makedirs(d, exist_ok=True)
            os.link(target, os.path.join(d, name))
        out.write("/m/%s\n" % path)
PY
gen=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
bytes=$(cd "$work/sample" && find . -type f -printf '%s\n' |
    awk -v n="$nfiles" '{s[NR] = $1} END {for (i = 0; i < n; i++)
    t += s[(i % NR) + 1]; printf "%.0f", t / 1e6}')
echo "generated $nfiles index + meta files in ${gen}s ($bytes MB of index content)"

port=$(free_port)
dead=$(free_port)
cat > "$work/crated.toml" <<TOML
listen = ["127.0.0.1:$port"]
data_dir = "$work/data"
log_level = "info"
[registries.m]
upstream = "sparse+http://127.0.0.1:$dead/"
index_ttl = 86400
TOML
probe=$(sed -n "$((nfiles / 2))p" "$work/paths")
st=$("$python" "$bench_dir/client.py" startup --runs "$starts" \
    --url "http://127.0.0.1:$port$probe" -- "$crated" serve --config \
    "$work/crated.toml")
echo "start-up: $st"

sed -i 's/^log_level = "info"/log_level = "warn"/' "$work/crated.toml"
bg_start "$crated" serve --config "$work/crated.toml" 2> "$work/crated.log"
cpid=$bg_pid
wait_port "$port"
mem() { awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile|^Pss:/ {
    printf "%s %.1f  ", substr($1, 1, length($1) - 1), $2 / 1024}' \
    "/proc/$cpid/status" "/proc/$cpid/smaps_rollup"; }
hot() { curl -s "http://127.0.0.1:$port/-/metrics" |
    awk '/^crated_hot_cache_bytes/ {printf "hot cache %.1f MiB", $2 / 1048576}'; }
echo "(MiB; RssFile: mapped shared libraries, shared with other processes;"
echo " Pss: RSS with shared pages divided among their users)"
echo "after start-up:        $(mem)$(hot)"
out=$("$python" "$bench_dir/client.py" getall "http://127.0.0.1:$port" \
    "$work/paths" --conns 4)
echo "served all once:       $(mem)$(hot)  [$out, load $(load)]"
rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$cpid/status")
if [ "${BENCH_GZIP:-0}" = 1 ]; then
	out=$("$python" "$bench_dir/client.py" getall --gzip \
	    "http://127.0.0.1:$port" "$work/paths" --conns 4)
	echo "served all with gzip:  $(mem)$(hot)  [$out, load $(load)]"
fi
first=$(sed -n 's/.*first_200_ms=\([0-9.]*\).*/\1/p' <<< "$st")
listen=$(sed -n 's/.*listening_ms=\([0-9.]*\).*/\1/p' <<< "$st")
fails=0
v=$(verdict "$rss <= 32"); [ "$v" = met ] || fails=$((fails + 1))
echo "target RSS <= 32 MiB after serving all once: $v (${rss} MiB)"
v=$(verdict "$first <= 100 && $listen <= 100"); [ "$v" = met ] || fails=$((fails + 1))
echo "target start-up <= 100 ms: $v (listening ${listen} ms, first 200 ${first} ms)"
echo "scale: $fails target(s) not met"
