#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 600; CI uses 15),
# seeded with ../shared/data's real index files and tests/data, after
# replaying tests/fuzz/regressions/<target>/ (inputs that once crashed).
# Prints, per target, executions per second, corpus size and the length of
# the clean run; exits 1 if any target crashed (the input is kept in
# BUILD/crashes/). Needs clang and libclang-rt-14-dev.
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
# FUZZ_TARGETS="fuzz_advisory fuzz_policy_filter" runs (and builds) only
# those.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-600}
build=${2:-$root/build-fuzz}
sample=${CRATED_SAMPLE:-$root/../shared/data/crates-io-index-2025-sample.tar.gz}
data=$(dirname "$sample")
targets=(fuzz_http fuzz_indexline fuzz_publish fuzz_toml fuzz_lockfile
    fuzz_bundle)
targets+=(fuzz_h2)
targets+=(fuzz_objlist)
targets+=(fuzz_advisory fuzz_policy_filter)
targets+=(fuzz_distmanifest)
if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -ra targets <<<"$FUZZ_TARGETS"
fi

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=true \
	    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if [ -n "${FUZZ_TARGETS:-}" ]; then
	ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >/dev/null
else
	ninja -C "$build" >/dev/null
fi

seed() {	# target dir
	local t=$1 d=$2
	mkdir -p "$d"
	case $t in
	fuzz_http) cp "$root"/tests/fuzz/seeds/http/* "$d/" ;;
	fuzz_h2) cp "$root"/tests/fuzz/seeds/h2/* "$d/" ;;
	fuzz_objlist) cp "$root"/tests/fuzz/seeds/objlist/* "$d/" ;;
	fuzz_indexline)
		find "$root/tests/data/index" -type f -exec cp {} "$d/" \;
		if [ -f "$sample" ]; then
			mkdir -p "$build/sample"
			tar xzf "$sample" -C "$build/sample" \
			    ./3/l/lzw ./3/l/log ./se/rd/serde-value \
			    ./ur/l/url ./ra/nd/rand_core 2>/dev/null || true
			find "$build/sample" -type f -exec cp {} "$d/" \;
		fi ;;
	fuzz_publish) cp "$root"/tests/data/publish/*.body \
		    "$root"/tests/fuzz/seeds/publish/*.body "$d/" ;;
	fuzz_toml) cp "$root"/tests/data/lockfiles/* "$d/"
		[ -f "$root/deploy/crated.toml" ] &&
		    cp "$root/deploy/crated.toml" "$d/" || true ;;
	fuzz_lockfile) cp "$root"/tests/data/lockfiles/* "$d/" ;;
	fuzz_advisory)	# "PATH\nBYTES" of every advisory of both snapshots
		for t in "$data"/rustsec-advisory-db-*.tar.gz; do
			[ -f "$t" ] || continue
			python3 - "$t" "$d" <<-'PY'
			import hashlib, os, sys, tarfile
			with tarfile.open(sys.argv[1]) as t:
			    for m in t.getmembers():
			        if m.isfile() and "/RUSTSEC-" in m.name:
			            b = m.name.encode() + b"\n" + t.extractfile(m).read()
			            n = hashlib.sha1(b).hexdigest()
			            open(os.path.join(sys.argv[2], n), "wb").write(b)
			PY
		done ;;
	fuzz_policy_filter)
		cp "$root"/tests/data/policy/index/* "$d/"
		find "$root/tests/data/index" -type f -exec cp {} "$d/" \;
		if [ -f "$sample" ]; then
			mkdir -p "$build/sample"
			tar xzf "$sample" -C "$build/sample" \
			    ./3/l/lzw ./3/l/log ./se/rd/serde-value \
			    ./ur/l/url ./ra/nd/rand_core 2>/dev/null || true
			find "$build/sample" -type f -exec cp {} "$d/" \;
		fi
		printf '%s\n' '{"name":"fuzz","vers":"0.9.0","deps":[],"yanked":false}' \
		    '{"name":"fuzz","vers":"1.0.0","pubtime":"2026-12-07T10:00:00Z"}' \
		    '{"name":"fuzz","vers":"1.10.0","yanked":true}' \
		    '{"name":"fuzz","vers":"2.0.0","pubtime":"2026-01-01T00:00:00Z","yanked":false}' \
		    >"$d/pubtimes" ;;
	fuzz_distmanifest) cp "$root"/tests/data/dist/* "$d/" ;;
	fuzz_bundle) python3 - "$d/seed.tar.gz" <<-'PY'
		import hashlib, io, json, sys, tarfile, time
		line = b'{"name":"a","vers":"1.0.0","deps":[],"cksum":"%s"}\n'
		crate = b"\x1f\x8b" + b"\0" * 20
		files = {"r/index/1/a": line % hashlib.sha256(crate).hexdigest().encode(),
		         "r/crates/a/a-1.0.0.crate": crate}
		man = {"format": 1, "created": 1, "since": 0, "files": [
		    {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
		     "mtime": 1} for p, b in files.items()]}
		files["crated-bundle.json"] = json.dumps(man).encode()
		with tarfile.open(sys.argv[1], "w:gz") as t:
		    for p, b in files.items():
		        i = tarfile.TarInfo(p); i.size = len(b); t.addfile(i, io.BytesIO(b))
		PY
		;;
	esac
}

failed=0
mkdir -p "$build/crashes"
printf '%-16s %12s %10s %8s %s\n' target runs exec/s corpus clean
for t in "${targets[@]}"; do
	corpus=$build/corpus/$t
	[ -d "$corpus" ] || seed "$t" "$corpus"
	bin=$build/tests/fuzz/$t
	reg=$root/tests/fuzz/regressions/$t
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		if ! "$bin" "$reg"/* >"$build/$t.regress.log" 2>&1; then
			echo "$t: a regression input crashes again" \
			    "(see $build/$t.regress.log)"
			failed=$((failed + 1))
			continue
		fi
	fi
	start=$(date +%s)
	if "$bin" "$corpus" -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="$build/crashes/$t-" -timeout=10 \
	    -rss_limit_mb=2048 >"$build/$t.log" 2>&1; then
		clean="$(( $(date +%s) - start )) s"
	else
		clean="CRASH after $(( $(date +%s) - start )) s"
		failed=$((failed + 1))
	fi
	runs=$(awk '/stat::number_of_executed_units/ {print $2}' \
	    "$build/$t.log" | tr -d ' ')
	rate=$(awk '/stat::average_exec_per_sec/ {print $2}' \
	    "$build/$t.log" | tr -d ' ')
	printf '%-16s %12s %10s %8s %s\n' "$t" "${runs:-?}" "${rate:-?}" \
	    "$(ls "$corpus" | wc -l)" "$clean"
done
echo "fuzz: $(( ${#targets[@]} - failed )) targets clean, $failed crashed"
if [ $failed -gt 0 ]; then
	echo "fuzz: $failed target(s) crashed; inputs in $build/crashes/" \
	    "(add each to tests/fuzz/regressions/<target>/)"
	exit 1
fi
