#!/usr/bin/env bash
# The two commands of the README:
#   ./dev.sh run    set up, build, and run crated with its defaults
#   ./dev.sh test   set up, build, and run every test: once with
#                   -Dwarning_level=3 -Dwerror=true, once under ASan+UBSan
#   ./dev.sh bench [NAME...]
#                   set up (with the benchmarks' packages too), build an
#                   optimised crated, run bench/run-all.sh [NAME...]
# Run as root on Debian 12 (or with sudo): missing packages are installed.
set -euo pipefail
CALLER_DIR=$PWD	# run's paths (--config FILE, data_dir) are the caller's
cd "$(dirname "$0")"
REPO_DIR=$PWD

PACKAGES=(meson ninja-build pkg-config gcc libevent-dev libcurl4-openssl-dev
    libssl-dev libjansson-dev zlib1g-dev libarchive-dev libnghttp2-dev
    libexpat1-dev libcmark-gfm-dev libcmark-gfm-extensions-dev
    python3 openssl
    clang libclang-rt-14-dev systemd groff-base man-db nginx-light)
# nghttp and h2load, the real HTTP/2 clients of the prior-knowledge tests.
PACKAGES+=(nghttp2-client)

# What the tests need besides: botocore (it signs one request to prove the
# S3 stand-in's SigV4 check agrees with AWS's); chromium, the browser the web
# pages' tests drive headless (tests/browser, through puppeteer-core); node
# and npm (Azurite, puppeteer-core) come from node_deps.
TEST_PACKAGES=(python3-botocore chromium)

# What bench/ needs besides: wrk, nginx's references, nghttpx, and the
# tools its scripts read figures with (nstat, perf when asked for).
BENCH_PACKAGES=(wrk nghttp2-proxy curl iproute2 linux-perf)

setup() {	# setup [EXTRA_PACKAGE...]
	local missing=()
	for p in "${PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "dev.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
}

# Azurite, Azure Blob's emulator, and puppeteer-core (it drives chromium),
# as tests/node/package-lock.json pins them, into tests/node/node_modules
# (git-ignored); again when the lock changes.
node_deps() {
	local mods=tests/node/node_modules
	# Debian's nodejs and npm, unless a node with its npm is there already
	# (NodeSource's nodejs package carries npm: Debian's npm would fight it).
	command -v npm >/dev/null || setup nodejs npm
	if [ ! -x $mods/.bin/azurite-blob ] || [ ! -d $mods/puppeteer-core ] ||
	    [ tests/node/package-lock.json -nt $mods/.package-lock.json ]; then
		echo "dev.sh: installing tests/node (azurite, puppeteer-core) with npm ci"
		npm ci --prefix tests/node --no-audit --no-fund >&2
	fi
}

# cargo comes from rustup, never from apt (Debian 12's is too old).
find_cargo() {
	local cargo
	cargo=$(command -v cargo || true)
	[ -n "$cargo" ] || cargo=/root/.cargo/bin/cargo
	[ -n "${HOME:-}" ] && [ -z "$(command -v cargo || true)" ] &&
	    [ -x "$HOME/.cargo/bin/cargo" ] && cargo="$HOME/.cargo/bin/cargo"
	if [ ! -x "$cargo" ]; then
		cat >&2 <<-MSG
		dev.sh: the integration tests need cargo >= 1.74 and none was found.
		Install it with rustup (not apt: Debian 12's cargo is too old):
		    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
		then run ./dev.sh test again.
		MSG
		exit 1
	fi
	local minor
	minor=$("$cargo" --version | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
	if [ -z "$minor" ] || [ "$minor" -lt 74 ]; then
		echo "dev.sh: $("$cargo" --version) is older than 1.74;" \
		    "run 'rustup update stable'" >&2
		exit 1
	fi
	export PATH="$(dirname "$cargo"):$PATH"
	# A test's fresh CARGO_HOME must still find rustup's toolchains.
	export RUSTUP_HOME="${RUSTUP_HOME:-${HOME:-/root}/.rustup}"
	[ -d "$RUSTUP_HOME" ] || export RUSTUP_HOME=/root/.rustup
}

# build DIR [meson options...]: quiet when it works; when a step fails its
# whole output is shown, so that a missing dependency is named.
build() {
	local dir=$1 log step
	shift
	step=(meson configure "$dir" "$@")
	[ -f "$dir/build.ninja" ] || step=(meson setup "$dir" "$@")
	log=$(mktemp)
	if "${step[@]}" > "$log" 2>&1 && ninja -C "$dir" >> "$log" 2>&1; then
		rm -f "$log"
		return 0
	fi
	cat "$log" >&2
	rm -f "$log"
	echo "dev.sh: building $dir failed (output above)" >&2
	return 1
}

# count DIR VARIANT: for a build directory's last meson test run, prints
# "passed failed skipped" on one line and the skips' names and reasons,
# joined by ", ", on the next. Every test case counts: a Python file's test
# methods (unittest's "Ran N tests" and its FAILED/OK line), a TAP unit
# test's subtests (its ok / not ok lines), anything else as one. A file
# that failed without saying which case did counts one failure more. A
# skip is not a pass: meson's SKIP results, and the test methods a Python
# file skipped (tests/integration/harness.py prints them on stdout), are
# named.
count() {
	python3 - "$1/meson-logs/testlog.json" "$2" <<-'PY'
	import json, re, sys
	PREFIX = "crated-it skipped: "
	RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
	VERDICT = re.compile(r"^(?:FAILED|OK) \(([^)]*)\)$", re.M)
	TAP = re.compile(r"^(not ok|ok)\b(.*)$", re.M)
	p = f = s = 0
	skips = []
	for line in open(sys.argv[1], "rb"):
	    try:
	        d = json.loads(line)
	        r = d.get("result")
	    except ValueError:
	        d, r = {}, "UNREADABLE"
	    name = "%s %s" % (sys.argv[2], d.get("name", "?").split(" / ")[-1])
	    out, err = d.get("stdout") or "", d.get("stderr") or ""
	    mine = [l[len(PREFIX):] for l in out.splitlines()
	            if l.startswith(PREFIX)]
	    skips += ["%s %s" % (name, m) for m in mine]
	    good = r in ("OK", "EXPECTEDFAIL")
	    if r == "SKIP":
	        s += 1
	        if not mine:
	            skips.append("%s: skipped (exit 77)" % name)
	        continue
	    ran = [int(n) for n in RAN.findall(err + out)]
	    tap = TAP.findall(out) if re.search(r"^1\.\.\d+", out, re.M) else []
	    if ran:
	        bad = skipped = 0
	        for v in VERDICT.findall(err + out):
	            for kv in v.split(","):
	                k, _, n = kv.strip().partition("=")
	                if k in ("failures", "errors", "unexpected successes"):
	                    bad += int(n)
	                elif k == "skipped":
	                    skipped += int(n)
	        total = sum(ran)
	    elif tap:
	        total = len(tap)
	        bad = sum(1 for t in tap if t[0] == "not ok")
	        skipped = sum(1 for t in tap if t[0] == "ok" and "# SKIP" in t[1])
	    else:
	        total, bad, skipped = 1, 0 if good else 1, 0
	    if not good and bad == 0:
	        bad, total = 1, total + 1
	    p += total - bad - skipped
	    f += bad
	    s += skipped
	print(p, f, s)
	print(", ".join(skips))
	PY
}

# summary PASSED FAILED SKIPPED NAMES: "N passed, N failed", and when
# something was skipped ", N skipped (name: reason, ...)".
summary() {
	if [ "$3" -gt 0 ]; then
		echo "$1 passed, $2 failed, $3 skipped ($4)"
	else
		echo "$1 passed, $2 failed"
	fi
}

cmd=${1:-}
case "$cmd" in
run)
	setup
	echo "dev.sh: building crated (release) in $REPO_DIR/build;" \
	    "the first build takes about half a minute" >&2
	build build -Dbuildtype=release
	shift
	echo "dev.sh: starting $REPO_DIR/build/crated serve $*" \
	    "(in $CALLER_DIR)" >&2
	# In the caller's directory, so that relative paths given here, and
	# the configuration's own (data_dir), mean what they said there.
	cd "$CALLER_DIR"
	exec "$REPO_DIR/build/crated" serve "$@"
	;;
bench)
	setup "${BENCH_PACKAGES[@]}"
	find_cargo
	build build -Dbuildtype=release
	shift
	CRATED_BIN=${CRATED_BIN:-$PWD/build/crated} exec bench/run-all.sh "$@"
	;;
test)
	setup "${TEST_PACKAGES[@]}"
	node_deps
	find_cargo
	passed=0 failed=0 skipped=0 skip_names=""
	for variant in plain asan; do
		dir=build-test-$variant
		if [ $variant = plain ]; then
			build $dir -Dwarning_level=3 -Dwerror=true
		else
			build $dir -Dwarning_level=3 -Db_sanitize=address,undefined \
			    -Db_lundef=false
		fi
		echo "== $variant: meson test"
		meson test -C $dir --print-errorlogs --num-processes 3 || true
		{ read -r p f s; IFS= read -r names || true; } < <(count $dir $variant)
		echo "== $variant: $(summary "$p" "$f" "$s" "$names")"
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		[ -z "$names" ] || skip_names=${skip_names:+$skip_names, }$names
	done
	echo "== fuzz: each target for ${FUZZ_SECONDS:-10} s"
	tests/fuzz/run.sh "${FUZZ_SECONDS:-10}" build-test-fuzz |
	    tee /tmp/crated-fuzz.$$ || true
	fp=0 ff=8	# no summary line: the fuzz build or run failed
	read -r fp ff < <(sed -n 's/^fuzz: \([0-9]*\) targets clean, \([0-9]*\) crashed$/\1 \2/p' \
	    /tmp/crated-fuzz.$$) || true
	rm -f /tmp/crated-fuzz.$$
	passed=$((passed + ${fp:-0}))
	failed=$((failed + ${ff:-8}))
	summary "$passed" "$failed" "$skipped" "$skip_names"
	[ "$failed" -eq 0 ]
	;;
*)
	echo "usage: ./dev.sh run [crated serve options] | ./dev.sh test |" \
	    "./dev.sh bench [benchmark...]" >&2
	exit 2
	;;
esac
