#!/usr/bin/env bash
# A mirror must never be slower than going straight to a small upstream.
# The upstream is `python3 -m http.server` itself (HTTP/1.0, a thread per
# connection, a listen backlog of 5, as the one the issue measured),
# serving the real crates.io index sample with a small .crate for every
# package the project resolves to (their index cksums rewritten to match).
# Each run is `cargo generate-lockfile && cargo fetch` with a fresh
# CARGO_HOME:
#   direct      cargo straight to the python server
#   crated      through a cold crated mirror of it (empty cache)
#   h2-direct   cargo straight to nghttpx (h2c) in front of nginx serving
#               the same tree
#   h2-crated   through a cold crated mirror of that nghttpx: crated
#               should find h2c and use one connection or two
# Runs rotate through the setups; the table shows medians and the
# upstream connections crated opened (crated_upstream_connections_total)
# and, for one crated run, the limit's trajectory from its debug log.
# Targets: crated <= 1.2x direct; h2-crated over <= 2 upstream connections.
# Env: CRATED_BIN, BENCH_RUNS (3), BENCH_SETUPS ("direct crated h2-direct
# h2-crated"), BENCH_BASE_BIN (another crated, e.g. an older build, run
# as the setup "base" against the python server).
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-3}
setups=${BENCH_SETUPS:-direct crated h2-direct h2-crated}
[ -n "${BENCH_BASE_BIN:-}" ] && setups="$setups base"
cargo=$(command -v cargo || echo /root/.cargo/bin/cargo)
export RUSTUP_HOME=${RUSTUP_HOME:-/root/.rustup}
bench_header "small upstream: cargo generate-lockfile && cargo fetch, medians of $runs"

unpack_sample "$work/up"
pport=$(free_port)
echo "{\"dl\": \"http://127.0.0.1:$pport/crates/{crate}/{crate}-{version}.crate\"}" \
    > "$work/up/config.json"
mkdir -p "$work/proj/src"
cp "$bench_dir/resolve-project.toml" "$work/proj/Cargo.toml"
echo "fn main() {}" > "$work/proj/src/main.rs"
(cd "$work/up" && exec "$python" -m http.server --bind 127.0.0.1 "$pport") \
    > /dev/null 2> "$work/python.log" &
pids+=($!)
wait_port "$pport"

# The crates: resolve once, then give every locked package a .crate and
# its index line the matching cksum.
home=$work/home-seed
mkdir -p "$home"
printf '[source.crates-io]\nreplace-with = "up"\n[registries.up]\nindex = "sparse+http://127.0.0.1:%s/"\n' \
    "$pport" > "$home/config.toml"
CARGO_HOME=$home "$cargo" generate-lockfile -q --manifest-path \
    "$work/proj/Cargo.toml" || exit 2
"$python" - "$work/proj/Cargo.lock" "$work/up" <<'PY' || exit 2
import hashlib, io, json, os, sys, tarfile, tomllib
lock, up = sys.argv[1], sys.argv[2]
def index_path(n):
    n = n.lower()
    return {1: "1/" + n, 2: "2/" + n, 3: "3/%s/%s" % (n[0], n)}.get(
        len(n), "%s/%s/%s" % (n[:2], n[2:4], n))
made = 0
for p in tomllib.load(open(lock, "rb")).get("package", []):
    if "source" not in p:
        continue
    n, v = p["name"], p["version"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, body in (("Cargo.toml", '[package]\nname = "%s"\nversion = "%s"\n' % (n, v)),
                           ("src/lib.rs", "// %s %s\n" % (n, v) + "x" * 4096)):
            b = body.encode()
            ti = tarfile.TarInfo("%s-%s/%s" % (n, v, name))
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))
    data = buf.getvalue()
    os.makedirs(os.path.join(up, "crates", n), exist_ok=True)
    open(os.path.join(up, "crates", n, "%s-%s.crate" % (n, v)), "wb").write(data)
    f = os.path.join(up, index_path(n))
    out = []
    for line in open(f, encoding="utf-8"):
        e = json.loads(line)
        if e["vers"] == v:
            e["cksum"] = hashlib.sha256(data).hexdigest()
            line = json.dumps(e, separators=(",", ":")) + "\n"
        out.append(line)
    open(f, "w", encoding="utf-8").writelines(out)
    made += 1
print("%d crates made for the locked packages" % made)
PY
npkgs=$(grep -c '^source = "registry' "$work/proj/Cargo.lock")

# The same tree for the h2c setups, with downloads from there too.
cp -al "$work/up" "$work/up-h2"
rm "$work/up-h2/config.json"

# nginx serving the same tree, nghttpx (h2c) in front.
nport=$(free_port)
nginx_static "$nport" "$work/up-h2" application/octet-stream
bg_start nginx -c "$work/nginx.conf"
wait_port "$nport"
hport=$(free_port)
echo "{\"dl\": \"http://127.0.0.1:$hport/crates/{crate}/{crate}-{version}.crate\"}" \
    > "$work/up-h2/config.json"
bg_start nghttpx -f"127.0.0.1,$hport;no-tls" -b"127.0.0.1,$nport" \
    --workers=1 --errorlog-file="$work/nghttpx.err" --no-via \
    --conf=/dev/null
wait_port "$hport"

# start SETUP RUN: sets $index and $spids (what to stop afterwards).
start() {
	local d=$work/run-$1-$2 p bin=$crated up=$pport
	mkdir -p "$d"
	spids=()
	case $1 in
	direct) index=sparse+http://127.0.0.1:$pport/; return ;;
	h2-direct) index=sparse+http://127.0.0.1:$hport/; return ;;
	h2-crated) up=$hport ;;
	base) bin=$BENCH_BASE_BIN ;;
	esac
	p=$(free_port)
	cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$p"]
data_dir = "$d/data"
log_level = "debug"
[registries.up]
upstream = "sparse+http://127.0.0.1:$up/"
TOML
	bg_start "$bin" serve --config "$d/crated.toml" 2> "$d/crated.log"
	spids+=("$bg_pid")
	wait_port "$p"
	index=sparse+http://127.0.0.1:$p/up/
	cport=$p
}

declare -A times conns med
for ((run = 1; run <= runs; run++)); do
	for s in $setups; do
		start "$s" "$run"
		home=$work/home-$s-$run
		mkdir -p "$home"
		printf '[source.crates-io]\nreplace-with = "x"\n[registries.x]\nindex = "%s"\n' \
		    "$index" > "$home/config.toml"
		rm -f "$work/proj/Cargo.lock"
		t0=$(date +%s.%N)
		if ! CARGO_HOME=$home timeout 300 "$cargo" generate-lockfile -q \
		    --manifest-path "$work/proj/Cargo.toml" 2> "$work/cargo.err" ||
		    ! CARGO_HOME=$home timeout 300 "$cargo" fetch -q \
		    --manifest-path "$work/proj/Cargo.toml" 2>> "$work/cargo.err"; then
			echo "$s run $run: cargo failed:"; tail -5 "$work/cargo.err"
		fi
		t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
		times[$s]="${times[$s]:-} $t"
		if [ ${#spids[@]} -gt 0 ]; then
			c=$(curl -s "http://127.0.0.1:$cport/-/metrics" |
			    sed -n 's/^crated_upstream_connections_total{registry="up"} //p')
			conns[$s]="${conns[$s]:-} ${c:-?}"
			if [ "$run" = 1 ] && [ "$s" != base ]; then
				echo "limit trajectory ($s, run 1, each change):"
				awk '/upstream limit/ { for (i = 1; i <= NF; i++)
				    if ($i == "->") { v = $(i + 1); break }
				    printf " %s", v } END { print "" }' \
				    "$work/run-$s-$run/crated.log"
			fi
			for p in "${spids[@]}"; do bg_stop "$p"; done
		fi
	done
done

echo "$npkgs packages; seconds per run (median) and upstream connections crated opened:"
for s in $setups; do
	# shellcheck disable=SC2086
	m=$(median ${times[$s]})
	printf '  %-10s %6.2f s   runs:%s%s\n' "$s" "$m" "${times[$s]}" \
	    "${conns[$s]:+   connections:${conns[$s]}}"
	med[$s]=$m
done
r=
if [ -n "${med[crated]:-}" ] && [ -n "${med[direct]:-}" ]; then
	r=$(ratio "${med[crated]}" "${med[direct]}")
	echo "  crated / direct: ${r}x (target <= 1.2x): $(verdict "R <= 1.2" "$r")"
fi
if [[ " $setups " == *" h2-crated "* ]]; then
	maxc=$(printf '%s\n' ${conns[h2-crated]} | sort -g | tail -1)
	r2=$(ratio "${med[h2-crated]}" "${med[h2-direct]}")
	echo "  h2-crated / h2-direct: ${r2}x; upstream connections per cold run:" \
	    "at most $maxc (target <= 2): $(verdict "R <= 2" "$maxc")"
fi
[ -n "${BENCH_BASE_BIN:-}" ] && echo "  base / direct: $(ratio "${med[base]}" "${med[direct]}")x"
fails=0
[ -z "$r" ] || [ "$(verdict "R <= 1.2" "$r")" = met ] || fails=$((fails + 1))
[ -z "${maxc:-}" ] || [ "$(verdict "R <= 2" "$maxc")" = met ] || fails=$((fails + 1))
echo "small-upstream: $fails target(s) not met"
