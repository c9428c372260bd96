#!/usr/bin/env bash
# A CI fleet: 16 cold `cargo generate-lockfile` runs started together, each
# with its own fresh CARGO_HOME, each resolving a different project, against
# the real crates.io index sample served by bench/standin.py (+50 ms per
# answer, every request logged). The projects share most of their
# dependencies: all 16 depend on serde (derive), serde_json, anyhow and
# thiserror, as most Rust projects do; project 00 names every one of the
# sample's 15 roots (the project of bench/cold-resolve.sh) and projects
# 01-15 each add 3 or 4 of the other 11 roots (each of those 11 is in 4 or
# 5 of them; table below). The fleet so needs the files project 00 needs,
# and project 00 alone is the single run it is compared with.
#   crated-1    project 00 alone through a cold crated mirror (the
#               reference: a single cold run)
#   crated      the 16 at once through a cold crated mirror
#   nginx       the 16 at once through nginx proxy_cache (HTTP/1.1 to the
#               stand-in, keep-alive, proxy_cache_lock on)
#   nghttpx     the 16 at once through nghttpx (h2c) in front of that nginx
#   crated-warm the 16 at once through crated after an untimed fleet run
#               filled it: nothing to wait for, so what 16 cargos on this
#               machine's cores take by themselves (the floor)
# Every setup starts its servers afresh with empty caches (crated-warm:
# before its untimed run). Rounds rotate through the setups; the table
# shows the slowest and the median run of each fleet, the stand-in's
# requests, the distinct files among them and how many were fetched again.
# Targets: crated's slowest fleet run <= 1.5x crated-1 (the same round's);
# no file fetched twice from the upstream through crated.
# Env: CRATED_BIN, BENCH_RUNS (rounds, 2), BENCH_FLEET (runs per fleet, 16),
# BENCH_DELAY (0.05 s), BENCH_SETUPS ("crated-1 crated nginx nghttpx
# crated-warm"), BENCH_TRIM (N: keep the newest N versions of each
# major.minor series, as bench/cold-resolve.sh), BENCH_NICE (an
# experiment: crated runs under nice -n BENCH_NICE; negative needs root),
# BENCH_BASE_BIN (another crated, e.g. an older build: adds the setups
# base-1 and base, as crated-1 and crated with it), TMPDIR.
source "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-2}
fleet=${BENCH_FLEET:-16}
delay=${BENCH_DELAY:-0.05}
setups=${BENCH_SETUPS:-crated-1 crated nginx nghttpx crated-warm}
if [ -n "${BENCH_BASE_BIN:-}" ]; then
	setups="$setups base-1 base"
fi
cargo=$(command -v cargo || echo /root/.cargo/bin/cargo)
export RUSTUP_HOME=${RUSTUP_HOME:-/root/.rustup}
bench_header "CI fleet: $fleet cold cargo generate-lockfile at once, upstream +${delay}s per answer, $runs round(s)"
echo "work directory $work ($(df --output=fstype "$work" | tail -1)): 500" \
    "file creations took $(create_ms) ms"

unpack_sample "$work/up"
if [ -n "${BENCH_TRIM:-}" ]; then
	"$python" "$bench_dir/trim-index.py" --keep "$BENCH_TRIM" "$work/up" || exit 2
fi
sport=$(free_port)
bg_start "$python" "$bench_dir/standin.py" --root "$work/up" --port "$sport" \
    --delay "$delay" --log "$work/up.log"
wait_port "$sport"

# The requirements of bench/resolve-project.toml, by root.
declare -A req=(
	[serde]='{ version = "1", features = ["derive"] }'
	[serde_json]='"1"' [rand]='"0.8"' [regex]='"1"'
	[clap]='{ version = "4", features = ["derive"] }' [anyhow]='"1"'
	[tokio]='{ version = "1", features = ["full"] }' [hyper]='"1"'
	[reqwest]='"0.12"' [tracing-subscriber]='"0.3"' [chrono]='"0.4"'
	[uuid]='"1"' [url]='"2"' [itertools]='"0.13"' [thiserror]='"1"')
common="serde serde_json anyhow thiserror"
extra=(
	"rand regex clap tokio hyper reqwest tracing-subscriber chrono uuid url itertools"
	"rand regex clap"
	"tokio hyper reqwest"
	"tracing-subscriber chrono uuid"
	"url itertools rand"
	"regex clap tokio"
	"hyper reqwest tracing-subscriber"
	"chrono uuid url"
	"itertools rand regex clap"
	"tokio hyper chrono"
	"reqwest url uuid"
	"clap tracing-subscriber itertools"
	"tokio reqwest tracing-subscriber chrono"
	"rand uuid url hyper"
	"regex itertools chrono tokio"
	"clap reqwest rand url")
for ((k = 0; k < fleet; k++)); do
	p=$work/proj-$(printf %02d "$k")
	mkdir -p "$p/src"
	echo "fn main() {}" > "$p/src/main.rs"
	{ printf '[package]\nname = "fleet-%02d"\nversion = "0.1.0"\n' "$k"
	  printf 'edition = "2021"\n[dependencies]\n'
	  for c in $common ${extra[k % ${#extra[@]}]}; do
		echo "$c = ${req[$c]}"
	  done; } > "$p/Cargo.toml"
done
echo "projects: all depend on $common; 00 also on every other root," \
    "01-$(printf %02d $((fleet - 1))) on 3-4 of them each:"
for ((k = 1; k < fleet && k < ${#extra[@]}; k++)); do
	printf '  %02d: %s\n' "$k" "${extra[k]}"
done

# start SETUP RUN: that setup's servers afresh (empty caches); sets
# $index, $spids and $mport (crated's port, for its metrics).
start() {
	local d=$work/run-$1-r$2 p np
	mkdir -p "$d"
	spids=() mport=
	case $1 in
	crated* | base*)
		p=$(free_port)
		cat > "$d/crated.toml" <<TOML
listen = ["127.0.0.1:$p"]
data_dir = "$d/data"
log_level = "info"
[registries.cio]
upstream = "sparse+http://127.0.0.1:$sport/"
TOML
		# BENCH_NICE: an experiment, how much of the fleet's cold
		# penalty is crated's share of the cores (nice execs crated:
		# the same pid).
		bg_start nice -n "${BENCH_NICE:-0}" "$([[ $1 == base* ]] &&
		    echo "$BENCH_BASE_BIN" || echo "$crated")" serve \
		    --config "$d/crated.toml" 2> "$d/crated.log"
		spids+=("$bg_pid")
		wait_port "$p"
		index=sparse+http://127.0.0.1:$p/cio/ mport=$p
		;;
	nginx | nghttpx)
		proxy_cache_start "$d" "$sport"
		index=sparse+http://127.0.0.1:$proxy_port/
		if [ "$1" = nghttpx ]; then
			nghttpx_start "$d" "$proxy_port"
			index=sparse+http://127.0.0.1:$h2c_port/
		fi
		;;
	esac
}


# fleet_go DIR N TAG: starts N cargos at once (project k with
# CARGO_HOME=DIR/TAG-k), waits for all; each writes DIR/TAG-k.res:
# "start end exit user sys" (EPOCHREALTIME, no fork between them).
fleet_go() {
	local d=$1 n=$2 tag=$3 k p h
	for ((k = 0; k < n; k++)); do
		p=$work/proj-$(printf %02d "$k") h=$d/$tag-$k
		mkdir -p "$h"
		cat > "$h/config.toml" <<TOML
[source.crates-io]
replace-with = "bench"
[registries.bench]
index = "$index"
TOML
		rm -f "$p/Cargo.lock"
	done
	for ((k = 0; k < n; k++)); do
		p=$work/proj-$(printf %02d "$k") h=$d/$tag-$k
		(
			s=$EPOCHREALTIME
			{ TIMEFORMAT='%U %S'; time CARGO_HOME=$h "$cargo" \
			    generate-lockfile --manifest-path "$p/Cargo.toml" \
			    2> "$h.log"; } 2> "$h.cpu"
			rc=$?
			echo "$s $EPOCHREALTIME $rc $(tail -1 "$h.cpu")" > "$h.res"
		) &
	done
	wait_cargos
}

# wait_cargos: waits for the fleet's subshells, not for the servers.
wait_cargos() {
	local j
	for j in $(jobs -p); do
		case " ${pids[*]} " in *" $j "*) ;; *) wait "$j" || true;; esac
	done
}

# one SETUP RUN: sets r_max, r_med (s), r_ok, r_up (upstream requests),
# r_uniq (distinct paths), r_span (first to last upstream request, s), r_cpu (servers' CPU s), r_cargo (cargo CPU s,
# all runs), r_pkgs (packages locked, project 00), r_note.
one() {
	local d=$work/run-$1-r$2 before after ticks0 n=$fleet k f s
	start "$1" "$2"
	[[ $1 == *-1 ]] && n=1
	if [ "$1" = crated-warm ]; then
		fleet_go "$d" "$n" fill
		sleep 0.5	# prefetches may still be under way
	fi
	before=$(wc -l < "$work/up.log")
	ticks0=$(server_ticks)
	read -r -a st0 < <(head -1 /proc/stat)
	fleet_go "$d" "$n" home
	read -r -a st1 < <(head -1 /proc/stat)
	# Where the cores' time went while the fleet ran: idle (+ iowait),
	# niced work (other engineers' builds and tests run at nice 19) and
	# steal, in % of all; the rest is this run's and anything else's.
	r_cores=$(awk -v a="${st0[*]}" -v b="${st1[*]}" 'BEGIN {
	    split(a, x); split(b, y); for (i = 2; i <= 9; i++) t += y[i] - x[i]
	    printf "idle %.0f%%, nice %.0f%%, steal %.0f%%",
		100 * (y[5] - x[5] + y[6] - x[6]) / t, 100 * (y[3] - x[3]) / t,
		100 * (y[9] - x[9]) / t }')
	sleep 0.5	# count prefetches still under way
	after=$(wc -l < "$work/up.log")
	r_cpu=$(awk -v t="$(server_ticks)" -v t0="$ticks0" -v h="$clk_tck" \
	    'BEGIN {printf "%.2f", (t - t0) / h}')
	r_note=
	if [ -n "$mport" ]; then
		curl -s "http://127.0.0.1:$mport/-/metrics" > "$d/metrics"
		curl -s "http://127.0.0.1:$mport/-/ready" > "$d/ready"
		r_note=$(awk -F'[ {]' '
		    /^crated_(coalesced_waiters|prefetch_joins|cache_misses|prefetch_dropped)_total\{/ {
			n = $1; sub(/^crated_/, "", n); sub(/_total$/, "", n)
			v[n] += $NF }
		    /^crated_upstream_limit\{/ { v["limit"] = $NF }
		    END { for (n in v) printf "%s=%s ", n, v[n] }' "$d/metrics")
	fi
	for s in "${spids[@]}"; do bg_stop "$s"; done
	sed -n "$((before + 1)),${after}p" "$work/up.log" > "$d/up.log"
	r_up=$((after - before))
	r_uniq=$(awk '{print $2}' "$d/up.log" | sort -u | wc -l)
	# From the first upstream request to the last: how long the fill
	# of the dependency graph took (request by request, a chain of
	# round trips), slowed or not by the cargos beside it.
	r_span=$(awk 'NR == 1 {a = $1} {b = $1} END {printf "%.2f", b - a}' \
	    "$d/up.log")
	awk '{print $2}' "$d/up.log" | sort | uniq -d > "$d/twice"
	r_ok=0
	for ((k = 0; k < n; k++)); do
		f=$d/home-$k.res
		if [ "$(cut -d' ' -f3 "$f")" != 0 ]; then
			echo "$1: cargo failed for project $k:" >&2
			cat "$d/home-$k.log" >&2
			exit 1
		fi
		r_ok=$((r_ok + 1))
	done
	r_max=$(awk '{printf "%.3f\n", $2 - $1}' "$d"/home-*.res | sort -g |
	    tail -1)
	r_med=$(median $(awk '{printf "%.3f\n", $2 - $1}' "$d"/home-*.res))
	r_cargo=$(awk '{c += $4 + $5} END {printf "%.2f", c}' "$d"/home-*.res)
	r_pkgs=$(grep -c '^name = ' "$work/proj-00/Cargo.lock")
}

declare -A maxs=() meds=() ups=() uniqs=() cpus=() cargos=() twice=() spans=()
needed=
for ((i = 1; i <= runs; i++)); do
	# Rotate the setups: a later place in a round is no disadvantage.
	set -- $setups
	list=("$@")
	order=()
	for ((j = 0; j < ${#list[@]}; j++)); do
		order+=("${list[(i - 1 + j) % ${#list[@]}]}")
	done
	for s in "${order[@]}"; do
		one "$s" "$i"
		maxs[$s]="${maxs[$s]:-} $r_max"
		spans[$s]="${spans[$s]:-} $r_span"
		meds[$s]="${meds[$s]:-} $r_med"
		ups[$s]="${ups[$s]:-} $r_up"
		uniqs[$s]="${uniqs[$s]:-} $r_uniq"
		cpus[$s]="${cpus[$s]:-} $r_cpu"
		cargos[$s]="${cargos[$s]:-} $r_cargo"
		twice[$s]="${twice[$s]:-} $((r_up - r_uniq))"
		echo "  round $i $s: $r_ok run(s), slowest ${r_max}s, median" \
		    "${r_med}s, $r_up upstream requests for $r_uniq distinct" \
		    "files over ${r_span}s, server CPU ${r_cpu}s, cargo CPU ${r_cargo}s in all," \
		    "project 00 locked $r_pkgs packages, load $(load);" \
		    "the cores meanwhile: $r_cores"
		[ -z "$r_note" ] || echo "    crated: $r_note"
		if [ -s "$work/run-$s-r$i/twice" ]; then
			echo "    fetched more than once:" \
			    "$(head -5 "$work/run-$s-r$i/twice" | paste -sd' ')"
		fi
		# What the fleet's cargos asked for: nginx forwards every
		# miss cargo makes and nothing else.
		case $s in nginx | nghttpx)
			awk '{print $2}' "$work/run-$s-r$i/up.log" >> "$work/needed";;
		esac
	done
done
[ -f "$work/needed" ] && needed=$(sort -u "$work/needed" | wc -l)

printf '%-12s %9s %9s %9s %9s %8s %7s %7s %7s  %s\n' setup slowest_s \
    median_s vs_single upstream distinct twice fill_s cpu_s \
    "slowest per round (s)"
declare -A mx=()
for s in $setups; do mx[$s]=$(median ${maxs[$s]}); done
for s in $setups; do
	printf '%-12s %9.2f %9.2f %8sx %9s %8s %7s %7s %7s  %s\n' "$s" "${mx[$s]}" \
	    "$(median ${meds[$s]})" \
	    "$([ -n "${mx[crated-1]:-}" ] && ratio "${mx[$s]}" "${mx[crated-1]}" || echo -)" \
	    "$(median ${ups[$s]})" "$(median ${uniqs[$s]})" \
	    "$(median ${twice[$s]})" "$(median ${spans[$s]})" \
	    "$(median ${cpus[$s]})" "${maxs[$s]# }"
done
echo "(medians over the rounds of: the slowest run of the fleet, the median" \
    "run; vs_single: slowest / crated-1's; upstream: the stand-in's requests;" \
    "distinct: distinct paths among them; twice: requests for a path already" \
    "asked for in that run; fill_s: first to last upstream request; cpu_s:" \
    "the servers' CPU seconds)"
if [ -n "$needed" ]; then
	echo "distinct files the $fleet resolutions need (what cargo asked" \
	    "nginx and nghttpx for, all rounds): $needed"
	sort -u "$work/needed" > "$work/needed.u"
	# What crated's prefetch fetched beyond them, and anything needed
	# it never fetched (none: every cargo would have failed).
	for ((i = 1; i <= runs; i++)); do
		f=$work/run-crated-r$i/up.log
		[ -f "$f" ] || continue
		awk '{print $2}' "$f" | sort -u > "$f.u"
		echo "crated round $i: $(comm -23 "$f.u" "$work/needed.u" |
		    wc -l) files beyond those (prefetched, never asked for:" \
		    "$(comm -23 "$f.u" "$work/needed.u" | head -4 |
		    paste -sd' ') ...), $(comm -13 "$f.u" "$work/needed.u" |
		    grep -vc config.json) needed and not fetched"
	done
fi
for s in $setups; do
	echo "cargo CPU ($s): $(median ${cargos[$s]}) s over its $([[ $s == \
	    *-1 ]] && echo 1 || echo "$fleet") run(s)"
done
# BENCH_BASE_BIN: each round's ratios, the base build over this one.
for p in "base-1 crated-1" "base crated"; do
	set -- $p
	[ -n "${maxs[$1]:-}" ] && [ -n "${maxs[$2]:-}" ] || continue
	a=(${maxs[$1]}) b=(${maxs[$2]}) rr=()
	for ((j = 0; j < ${#a[@]}; j++)); do rr+=("$(ratio "${a[j]}" "${b[j]}")"); done
	echo "$1 / $2, slowest run, per round: ${rr[*]} (median $(median "${rr[@]}"))"
done
fails=0
if [ -n "${mx[crated]:-}" ] && [ -n "${mx[crated-1]:-}" ]; then
	# Per round: a round's two runs are closest in time.
	set -- ${maxs[crated]}
	rr=()
	for s1 in ${maxs[crated-1]}; do rr+=("$(ratio "$1" "$s1")"); shift; done
	v=$(verdict "$(median "${rr[@]}") <= 1.5")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target crated's slowest fleet run <= 1.5x a single cold run" \
	    "(per round: ${rr[*]}): $v"
	if [ -n "${mx[crated-warm]:-}" ]; then
		echo "  the floor, the fleet with every file cached:" \
		    "${mx[crated-warm]} s slowest, $(ratio "${mx[crated-warm]}" \
		    "${mx[crated-1]}")x the single cold run"
	fi
fi
if [ -n "${ups[crated]:-}" ]; then
	t=$(printf '%s\n' ${twice[crated]} | sort -gr | head -1)
	v=$(verdict "$t == 0")
	[ "$v" = met ] || fails=$((fails + 1))
	echo "target no file fetched twice through crated (most in a round:" \
	    "$t): $v"
fi
echo "500 file creations took $(create_ms) ms at the end"
echo "ci-fleet: $fails target(s) not met"
