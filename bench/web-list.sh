#!/usr/bin/env bash
# The registry list page (GET /R/) of a hosted registry holding the real
# index sample (3,208 index files of crates.io): the first view, then
# BENCH_VIEWS more views, then a view after BENCH_TOUCH index files were
# rewritten. Prints each view's time (curl's time_total, ms) and the
# median of the repeated views. No target: a measurement (issue 27).
# Env: CRATED_BIN, BENCH_VIEWS (10), BENCH_TOUCH (10).
source "$(dirname "$0")/lib.sh"
views=${BENCH_VIEWS:-10}
touchn=${BENCH_TOUCH:-10}
bench_header "web-list: GET /local/ of a registry of the index sample"

unpack_sample "$work/data/local/index"
rm -f "$work/data/local/index/config.json"
nfiles=$(find "$work/data/local/index" -type f | wc -l)
hosted_crated local
view() {
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
	    "http://127.0.0.1:$cport/local/${1:-}" |
	    awk '$1 != 200 { print "status " $1 > "/dev/stderr"; exit 1 }
		{ printf "%.1f\n", $2 * 1000 }'
}
echo "index files: $nfiles"
echo "first view ms: $(view)"
times=()
for ((i = 0; i < views; i++)); do times+=("$(view)"); done
echo "next $views views ms: ${times[*]}"
echo "median ms: $(median "${times[@]}")"
find "$work/data/local/index" -type f -name '[a-z]*' | sort > "$work/files"
while read -r f; do cp "$f" "$f.t" && mv "$f.t" "$f"; done \
    < <(sed -n "1,${touchn}p" "$work/files")
echo "after $touchn files changed, view ms: $(view)"
echo "search ?q=serde ms: $(view '?q=serde')"
echo "web-list: 0 target(s) not met"
