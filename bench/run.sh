#!/usr/bin/env bash
# jobd benchmarks.  Every figure is measured beside its baseline in the
# same run and printed as
#     N. figure: value (baseline value, ratio)
# then a summary table with the targets.  See bench/README.md.
#
# usage: bench/run.sh BUILD_DIR [--smoke|--quick|--full]
#   --quick  (default) about 90 s on 2 CPUs;
#   --full   the full sizes, 3 passes, a 100-kill torture and a ten-minute
#            soak: about 20 min;
#   --smoke  tiny sizes, under half a minute, no timing claims (for make
#            check); it still fails when the crash or soak audit does.
# Environment:
#   BENCH_MODE=smoke|quick|full  the mode, when no flag is given
#   BENCH_REPEAT=N               passes (default 3 full, 1 otherwise);
#                                the table shows median [min-max]
#   BENCH_TMPDIR=DIR             where databases live (default BUILD_DIR/
#                                bench): put it on the disk to measure
#   BENCH_STRICT=1               exit 1 when a target is missed
set -euo pipefail

usage() {
	echo "usage: bench/run.sh BUILD_DIR [--smoke|--quick|--full]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
B=$1
MODE=${BENCH_MODE:-quick}
case ${2:-} in
--smoke) MODE=smoke ;;
--quick) MODE=quick ;;
--full) MODE=full ;;
"") ;;
*) usage ;;
esac
[ $# -le 2 ] || usage
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBD=$B/jobd
JOBCTL=$B/jobctl
BB=$B/bench
for f in "$JOBD" "$JOBCTL" "$BB/chaos" "$BB/looplag"; do
	[ -x "$f" ] || { echo "bench: $f missing: run make bench first" >&2; exit 1; }
done

# Sizes: smoke | quick | full.  Rates are capped by SUB_SECS so a slow
# build still finishes in time; the rate is over what was answered.
case $MODE in
smoke)
	RAW_SECS=0.1 SUB_SECS=0.3 SINGLE_N=200 PIPE_N=1000 BATCH_N=5000
	JOBCTL_N=1000 CLIENTS=16 CLIENT_N=20 E2E_N=50 BIG_N=4000
	SMALL_N=100 LAT_N=20 INFLATE_MB=4 REPEAT=1
	KILLS=3 SOAK_SECS=4 SOAK_EVERY=1.5 LAG_N=2000 LAG_L=1000
	CL_N=100 PGRAW_N=500 ;;
quick)
	RAW_SECS=1 SUB_SECS=1 SINGLE_N=20000 PIPE_N=100000 BATCH_N=200000
	JOBCTL_N=20000 CLIENTS=16 CLIENT_N=500 E2E_N=3000 BIG_N=100000
	SMALL_N=1000 LAT_N=300 INFLATE_MB=128 REPEAT=1
	KILLS=10 SOAK_SECS=30 SOAK_EVERY=8 LAG_N=20000 LAG_L=10000
	CL_N=3000 PGRAW_N=10000 ;;
full)
	RAW_SECS=2 SUB_SECS=3 SINGLE_N=100000 PIPE_N=500000 BATCH_N=1000000
	JOBCTL_N=200000 CLIENTS=16 CLIENT_N=5000 E2E_N=20000 BIG_N=1000000
	SMALL_N=1000 LAT_N=1000 INFLATE_MB=192 REPEAT=3
	KILLS=100 SOAK_SECS=600 SOAK_EVERY=30 LAG_N=100000 LAG_L=10000
	CL_N=20000 PGRAW_N=50000 ;;
esac
REPEAT=${BENCH_REPEAT:-$REPEAT}
P=8			# queue concurrency of the end-to-end figures
STUCK=4			# stuck watchers that inflate jobd's heap

# ---- build ------------------------------------------------------------

CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wformat=2
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
	-Wcast-qual -Wundef -Wvla -Wimplicit-fallthrough"
mkdir -p "$BB"
CC=${CC:-cc}
build() { # OUT SRC [MORE SOURCES AND LIBS...]
	local out=$1 src=$2 stale=
	shift 2
	[ -x "$BB/$out" ] || stale=1
	for f in "$src" "$@"; do
		if [ -f "$f" ] && [ "$f" -nt "$BB/$out" ]; then
			stale=1
		fi
	done
	if [ -n "$stale" ]; then
		# shellcheck disable=SC2086
		$CC $CFLAGS -Iinclude -o "$BB/$out" "$src" "$@"
	fi
}
# shellcheck disable=SC2046 # pkg-config's words are meant to split
build sqlite_raw bench/sqlite_raw.c $(pkg-config --cflags --libs sqlite3)
build spawn_raw bench/spawn_raw.c
# shellcheck disable=SC2046
build pg_raw bench/pg_raw.c $(pkg-config --cflags --libs libpq)
# load shares bench/common.[ch] with chaos and looplag.
if [ bench/common.h -nt "$BB/load" ]; then rm -f "$BB/load"; fi
# shellcheck disable=SC2046
build load bench/load.c bench/common.c -pthread \
	$(pkg-config --cflags --libs jansson)
# A static stamp reads the clock with less between exec and the read.
build stamp bench/stamp.c -static 2>/dev/null || build stamp bench/stamp.c
LOAD=$BB/load
STAMP=$(cd "$BB" && pwd)/stamp

# ---- scratch space and cleanup -----------------------------------------

TMPBASE=${BENCH_TMPDIR:-$BB}
mkdir -p "$TMPBASE"
WORK=$(mktemp -d "$TMPBASE/run.XXXXXX")
SOCKDIR=$(mktemp -d /tmp/jobd-bench.XXXXXX)	# sun_path is short
RES=$WORK/results
: >"$RES"
JPID=""
STUCK_PID=""
PGDIR=""		# figures 5c and 14's PostgreSQL server, while it runs
NODE_PIDS=()		# figure 14's jobd nodes, while they run
cleanup() {
	set +e
	nodes_stop
	if [ -n "$STUCK_PID" ]; then
		kill "$STUCK_PID" 2>/dev/null
		wait "$STUCK_PID" 2>/dev/null
	fi
	if [ -n "$JPID" ]; then
		kill -TERM "$JPID" 2>/dev/null
		wait "$JPID" 2>/dev/null
	fi
	pg_stop
	rm -rf "$WORK" "$SOCKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "bench: $*" >&2
	if [ -n "${DIR:-}" ] && [ -f "$DIR/jobd.log" ]; then
		echo "bench: last lines of jobd's log:" >&2
		tail -n 20 "$DIR/jobd.log" >&2
	fi
	exit 1
}

now() { date +%s.%N; }
# Arithmetic in awk: calc 'EXPR' with a, b, c... bound to the next args.
calc() {
	local e=$1
	shift
	awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { print ($e) }"
}
# key=value output of a tool -> the value of key.
val() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

# ---- jobd ---------------------------------------------------------------

# start_jobd NAME SYNC [DAEMON_KEYS]: a fresh daemon in $WORK/NAME (kept
# when it exists, so a restart finds its database); sets DIR, SOCK, JPID.
start_jobd() {
	DIR=$WORK/$1
	SOCK=$SOCKDIR/$1.sock
	mkdir -p "$DIR"
	printf '[daemon]\nsynchronous = %s\n%b[queue default]\nconcurrency = %d\n' \
		"$2" "${3:-}" "$P" >"$DIR/jobd.conf"
	local t0
	t0=$(now)
	"$JOBD" -c "$DIR/jobd.conf" -s "$SOCK" -d "$DIR/state" \
		2>>"$DIR/jobd.log" &
	JPID=$!
	for _ in $(seq 1 600); do
		if [ -S "$SOCK" ] && jctl ping >/dev/null 2>&1; then
			STARTUP=$(calc 'b - a' "$t0" "$(now)")
			return 0
		fi
		kill -0 "$JPID" 2>/dev/null || fail "jobd did not start"
		sleep 0.05
	done
	fail "jobd did not answer ping"
}

jctl() { "$JOBCTL" -s "$SOCK" "$@"; }

stop_jobd() {
	kill -TERM "$JPID"
	local st=0
	wait "$JPID" || st=$?
	JPID=""
	[ "$st" = 0 ] || fail "jobd exited with status $st"
}

paused_queue() { # NAME
	jctl queue add "$1" >/dev/null || fail "queue add $1"
	jctl queue pause "$1" >/dev/null || fail "queue pause $1"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$JPID/status"; }
mb() { calc 'a / 1024' "$1"; }

run_load() { # MODE ARGS... -> key=value output; fails the run on error
	local out
	out=$("$LOAD" "$1" "$SOCK" "${@:2}") || fail "load $* failed"
	printf '%s\n' "$out"
}

# Puts n small jobs into a paused queue, in submits of up to 10,000 with
# two in flight.
fill() { # QUEUE N
	[ "$2" -gt 0 ] || return 0
	run_load batch -q "$1" -n "$2" -b 10000 -d 2 >/dev/null
}

# ---- reporting ----------------------------------------------------------

# fig NUM KEY LABEL VALUE UNIT BASELABEL BASEVALUE BASEUNIT [RATIO]
# Prints the figure and records it for the summary.  The ratio is
# value/baseline unless given.
fig() {
	local num=$1 key=$2 label=$3 v=$4 u=$5 bl=$6 bv=$7 bu=$8 r=${9:-}
	[ -n "$r" ] || r=$(calc 'b > 0 ? a / b : 0' "$v" "$bv")
	printf '%3s. %s: %s %s (%s %s %s, %.2fx)\n' "$num" "$label" \
		"$(fmt "$v")" "$u" "$bl" "$(fmt "$bv")" "$bu" "$r"
	printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$num" "$key" "$label" "$v" \
		"$u" "$bl" "$bv" "$bu" "$r" >>"$RES"
}
note() { printf '     note: %s\n' "$*"; }
# Numbers for people: rates as integers, small values with decimals.
fmt() { calc 'a >= 1000 ? sprintf("%.0f", a) : a >= 10 ? sprintf("%.1f", a) : sprintf("%.3f", a)' "$1"; }

# ---- one pass -------------------------------------------------------------

# Figure 5b: what a cgroup per attempt costs end to end.  Two daemons in
# turn, process groups only and a cgroup per attempt (cgroup_root under
# the cgroup2 mount), so both meet the same machine.  Needs root and a
# cgroup2 mount; skipped otherwise.
e2e_cgroup() {
	local mnt root out without
	mnt=$(awk '/ - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
	if [ "$(id -u)" != 0 ] || [ -z "$mnt" ]; then
		echo "-- 5b. a cgroup per attempt: skipped (needs root and cgroup2)"
		return 0
	fi
	root=$mnt/jobd-bench-$$
	mkdir -p "$root" || fail "cannot make $root"
	echo "-- 5b. end to end, $E2E_N no-op jobs, without and with a cgroup each"
	start_jobd nocgroup full 'cgroups = off\n'
	out=$(run_load e2e -q default -n "$E2E_N")
	without=$(val rate "$out")
	stop_jobd
	start_jobd cgroup full "cgroups = required\ncgroup_root = $root\n"
	out=$(run_load e2e -q default -n "$E2E_N")
	fig 5 e2e_cgroup "end-to-end, a cgroup per attempt" \
		"$(val rate "$out")" jobs/s "without" "$without" jobs/s
	stop_jobd
	rmdir "$root/jobs" "$root" 2>/dev/null || true
	rm -rf "${WORK:?}/nocgroup" "${WORK:?}/cgroup"
}

# Figure 5c: one node on PostgreSQL end to end, beside SQLite, the same
# workload on the same machine, every commit durable in both (SQLite's
# synchronous = full; the server's defaults).  A private server in a
# temporary directory, reached by its Unix socket: Debian's postgresql,
# the newest under /usr/lib/postgresql; as root it runs as the user
# postgres.  Skipped without one.
pg_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1; }
pg_as() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid postgres --regid postgres --init-groups -- "$@"
	else
		"$@"
	fi
}
pg_stop() {
	[ -n "$PGDIR" ] || return 0
	pg_as "$(pg_bin)/pg_ctl" -D "$PGDIR/data" -m immediate -w stop \
		>/dev/null 2>&1
	rm -rf "$PGDIR"
	PGDIR=""
}
# pg_start: a private server in a temporary directory (PGDIR), reached by
# its Unix socket; false when there is no PostgreSQL here.
pg_start() {
	local bin
	bin=$(pg_bin)
	if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] ||
		{ [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; }; then
		return 1
	fi
	PGDIR=$(mktemp -d /tmp/jobd-bench-pg.XXXXXX)
	if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; fi
	pg_as "$bin/initdb" -A trust -U jobd -D "$PGDIR/data" >/dev/null ||
		fail "initdb failed"
	pg_as "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -t 60 \
		-o "-c listen_addresses='' -k $PGDIR" start >/dev/null ||
		fail "pg_ctl start failed: $(tail -n 5 "$PGDIR/log")"
}
e2e_postgres() {
	local out sqlite
	if ! pg_start; then
		echo "-- 5c. one node on PostgreSQL: skipped (no PostgreSQL server)"
		return 0
	fi
	echo "-- 5c. end to end, $E2E_N no-op jobs, one node on SQLite, then on PostgreSQL"
	start_jobd e2e-sqlite full
	out=$(run_load e2e -q default -n "$E2E_N")
	sqlite=$(val rate "$out")
	stop_jobd
	start_jobd e2e-pg full \
		"store = postgres\ndatabase = host=$PGDIR dbname=postgres user=jobd\n"
	out=$(run_load e2e -q default -n "$E2E_N")
	fig 5 e2e_postgres "end-to-end, one node on PostgreSQL" \
		"$(val rate "$out")" jobs/s "SQLite" "$sqlite" jobs/s
	stop_jobd
	pg_stop
	rm -rf "${WORK:?}/e2e-sqlite" "${WORK:?}/e2e-pg"
}

# Figure 14: claim+ack throughput of /bin/true jobs through 1, 2 and 3
# nodes on one database, beside the bare claim loop (pg_raw) and the
# bare spawn loop (spawn_raw) of the same run.  The jobs wait in a queue
# paused cluster-wide; the clock runs from the resume (on every node) to
# the last success, seen in the database.  Extra nodes on one machine
# add no CPU: the target is that they cost nothing.
node_sock() { echo "$SOCKDIR/cl-$1.sock"; }
# node_start DB I: node nI on database DB; false (its log tail in
# NODE_WHY) when it exits at start.
node_start() {
	local dir=$WORK/cl-$1-n$2 sock pid
	sock=$(node_sock "$2")
	mkdir -p "$dir"
	printf '[daemon]\nstore = postgres\ndatabase = host=%s dbname=%s user=jobd\nnode_name = n%d\n[queue cb]\nconcurrency = %d\n' \
		"$PGDIR" "$1" "$2" "$P" >"$dir/jobd.conf"
	"$JOBD" -c "$dir/jobd.conf" -s "$sock" -d "$dir/state" \
		2>>"$dir/jobd.log" &
	pid=$!
	NODE_PIDS+=("$pid")
	for _ in $(seq 1 600); do
		if [ -S "$sock" ] && "$JOBCTL" -s "$sock" ping >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			NODE_WHY=$(tail -n 1 "$dir/jobd.log")
			return 1
		fi
		sleep 0.05
	done
	fail "node n$2 did not answer ping"
}
nodes_stop() {
	local pid
	for pid in "${NODE_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${NODE_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	NODE_PIDS=()
}
# cluster_run N: the rate of CL_N jobs through N nodes, or "" (with
# NODE_WHY) when a node refused to start.
cluster_run() {
	local n=$1 db=cl$1 i t0 t1 out
	pg_as "$(pg_bin)/createdb" -h "$PGDIR" -U jobd -O jobd "$db" ||
		fail "createdb $db failed"
	CL_RATE=""
	node_start "$db" 1 || return 0
	SOCK=$(node_sock 1)
	jctl queue pause cb >/dev/null || fail "queue pause cb"
	fill cb "$CL_N"
	for i in $(seq 2 "$n"); do
		node_start "$db" "$i" || { nodes_stop; return 0; }
	done
	t0=$(now)
	for i in $(seq 1 "$n"); do
		"$JOBCTL" -s "$(node_sock "$i")" queue resume cb >/dev/null ||
			fail "queue resume cb on n$i"
	done
	out=$("$BB/pg_raw" wait "host=$PGDIR dbname=$db user=jobd" "$CL_N" 120) ||
		fail "cluster of $n: the jobs did not all succeed"
	t1=$(now)
	CL_RATE=$(calc 'a / (c - b)' "$CL_N" "$t0" "$t1")
	nodes_stop
}
cluster_pg() {
	local out raw spawn base one r n
	if ! pg_start; then
		echo "-- 14. cluster: skipped (no PostgreSQL server)"
		return 0
	fi
	echo "-- 14. claim+ack of $CL_N /bin/true jobs through 1, 2, 3 nodes" \
		"on one database (concurrency $P each)"
	out=$("$BB/pg_raw" rate "host=$PGDIR dbname=postgres user=jobd" \
		"$PGRAW_N" "$P") || fail "pg_raw failed"
	raw=$(val rate "$out")
	out=$("$BB/spawn_raw" rate "$CL_N" "$P" /bin/true) ||
		fail "spawn_raw failed"
	spawn=$(val rate "$out")
	base=$(calc 'a < b ? a : b' "$raw" "$spawn")
	note "bare claim+ack loop (pg_raw, batches of $P): $(fmt "$raw") jobs/s;" \
		"raw spawn: $(fmt "$spawn") spawns/s"
	cluster_run 1
	[ -n "$CL_RATE" ] || fail "one node on PostgreSQL did not start: $NODE_WHY"
	one=$CL_RATE
	fig 14 cluster_1 "claim+ack, 1 node" "$one" jobs/s \
		"min(pg_raw, spawn_raw)" "$base" jobs/s
	for n in 2 3; do
		cluster_run "$n"
		if [ -z "$CL_RATE" ]; then
			note "$n nodes: skipped, a node refused to start: $NODE_WHY"
			continue
		fi
		fig 14 "cluster_$n" "claim+ack, $n nodes" "$CL_RATE" jobs/s \
			"1 node" "$one" jobs/s
		note "$n nodes: $(calc 'a / b' "$CL_RATE" "$raw" | xargs printf '%.2f')x pg_raw"
	done
	r=$(calc 'a / b' "$one" "$raw")
	note "1 node: $(printf '%.2f' "$r")x pg_raw"
	pg_stop
	rm -rf "${WORK:?}"/cl-*
}

one_pass() {
	local out rss_small rss_half rss_big e2e_small

	echo "-- 1. raw SQLite on $(df -P "$WORK" | awk 'NR == 2 { print $1 }')" \
		"(WAL, job-like row, ${RAW_SECS}s each)"
	out=$("$BB/sqlite_raw" "$WORK" "$RAW_SECS") || fail "sqlite_raw failed"
	RAW_SF=$(val single_full "$out")
	RAW_SN=$(val single_normal "$out")
	RAW_BF=$(val batch_full "$out")
	RAW_BN=$(val batch_normal "$out")
	RAW_BPR=$(val bytes_per_row "$out")
	printf '     1-row txn: full %s/s, normal %s/s; 1000-row txn: full %s rows/s, normal %s rows/s; %s B/row\n' \
		"$(fmt "$RAW_SF")" "$(fmt "$RAW_SN")" "$(fmt "$RAW_BF")" \
		"$(fmt "$RAW_BN")" "$(fmt "$RAW_BPR")"

	local level
	for level in full normal; do
		local rsf=$RAW_SF rbf=$RAW_BF
		[ $level = normal ] && rsf=$RAW_SN rbf=$RAW_BN
		echo "-- 2. durable submit, synchronous=$level, paused queue"
		sync
		start_jobd "submit-$level" $level
		paused_queue bench
		out=$(run_load single -n "$SINGLE_N" -t "$SUB_SECS")
		fig 2 "single_$level" "single submits ($level)" \
			"$(val rate "$out")" /s "1-row txn" "$rsf" /s
		out=$(run_load pipelined -n "$PIPE_N" -t "$SUB_SECS")
		fig 2 "pipelined_$level" "pipelined submits ($level)" \
			"$(val rate "$out")" /s "1000-row txn" "$rbf" rows/s
		out=$(run_load batch -n "$BATCH_N" -b 1000 -t "$SUB_SECS")
		fig 2 "batch_$level" "batches of 1000 ($level)" \
			"$(val rate "$out")" jobs/s "1000-row txn" "$rbf" \
			rows/s
		if [ $level = full ]; then
			echo "-- 3. jobctl submit --batch of $JOBCTL_N jobs, one shared env"
			local f=$WORK/batch.jsonl t0 t1
			awk -v n="$JOBCTL_N" 'BEGIN { for (i = 0; i < n; i++)
				print "{\"argv\":[\"/bin/true\"],\"queue\":\"bench\"}" }' >"$f"
			t0=$(now)
			env -i PATH="$PATH" HOME="${HOME:-/}" USER="${USER:-bench}" \
				LANG=C.UTF-8 "$JOBCTL" -s "$SOCK" submit --batch "$f" \
				>/dev/null 2>"$WORK/jobctl.err" ||
				fail "jobctl submit --batch: $(cat "$WORK/jobctl.err")"
			t1=$(now)
			fig 3 jobctl "jobctl submit --batch" \
				"$(calc 'a / (c - b)' "$JOBCTL_N" "$t0" "$t1")" jobs/s \
				"1000-row txn" "$RAW_BF" rows/s
			echo "-- 4. $CLIENTS clients x $CLIENT_N single submits"
			out=$(run_load clients -c "$CLIENTS" -n "$CLIENT_N" \
				-t "$SUB_SECS")
			fig 4 clients "$CLIENTS clients, in all" "$(val rate "$out")" \
				/s "1000-row txn" "$RAW_BF" rows/s
		fi
		stop_jobd
	done

	e2e_cgroup
	e2e_postgres
	cluster_pg
	echo "-- 5. end to end, $E2E_N no-op jobs, concurrency $P, synchronous=full"
	start_jobd small full
	paused_queue bl
	fill bl "$SMALL_N"
	rss_small=$(rss_kb)
	# The baselines run next to the figures they are compared with, so
	# a noisy neighbour on the machine hits both alike.
	sync
	out=$("$BB/spawn_raw" rate "$E2E_N" "$P" /bin/true) ||
		fail "spawn_raw failed"
	RAW_SPAWN=$(val rate "$out")
	note "raw spawn-and-reap of /bin/true, $P in flight:" \
		"$(fmt "$RAW_SPAWN") spawns/s"
	out=$(run_load e2e -q default -n "$E2E_N")
	e2e_small=$(val rate "$out")
	fig 5 e2e "end-to-end no-op jobs" "$e2e_small" jobs/s \
		"raw spawn" "$RAW_SPAWN" /s
	note "batch of $E2E_N acknowledged in $(val ack_secs "$out") s"

	echo "-- 9. dispatch latency, idle daemon, $LAT_N samples"
	out=$("$BB/spawn_raw" latency "$LAT_N" "$STAMP") ||
		fail "spawn_raw latency failed"
	RAW_LAT50=$(val p50_ms "$out")
	RAW_LAT99=$(val p99_ms "$out")
	out=$(run_load latency -q default -n "$LAT_N" -p "$STAMP")
	fig 9 lat_p50 "dispatch latency p50" "$(val p50_ms "$out")" ms \
		"raw spawn" "$RAW_LAT50" ms
	fig 9 lat_p99 "dispatch latency p99" "$(val p99_ms "$out")" ms \
		"raw spawn" "$RAW_LAT99" ms
	note "submit acknowledged after p50 $(val ack_p50_ms "$out") ms," \
		"p99 $(val ack_p99_ms "$out") ms; slowest start" \
		"$(val max_ms "$out") ms"

	echo "-- 10. spawn under memory: $STUCK stuck watchers hold ~$INFLATE_MB MB of events"
	paused_queue infl
	local ready
	"$LOAD" stuck "$SOCK" -c "$STUCK" -q infl >"$WORK/stuck.out" &
	STUCK_PID=$!
	for _ in $(seq 1 100); do
		ready=$(cat "$WORK/stuck.out")
		[ "$ready" = ready ] && break
		sleep 0.05
	done
	[ "$ready" = ready ] || fail "stuck watchers did not start"
	local rss0 target
	rss0=$(rss_kb)
	target=$((rss0 + INFLATE_MB * 1024))
	for _ in $(seq 1 200); do
		[ "$(rss_kb)" -ge "$target" ] && break
		fill infl 2000
	done
	local rss_infl
	rss_infl=$(rss_kb)
	out=$(run_load e2e -q default -n "$E2E_N")
	grep -q 'does not read' "$DIR/jobd.log" &&
		fail "jobd dropped the stuck watchers: inflation lost"
	fig 10 spawn_mem "end-to-end, RSS $(fmt "$(mb "$rss_infl")") MB" \
		"$(val rate "$out")" jobs/s \
		"at $(fmt "$(mb "$rss0")") MB" "$e2e_small" jobs/s
	kill "$STUCK_PID"
	wait "$STUCK_PID" 2>/dev/null || true
	STUCK_PID=""
	stop_jobd

	echo "-- 6/7/8. backlog of $BIG_N jobs in a paused queue (vs $SMALL_N)"
	sync
	start_jobd big full
	paused_queue bl
	local t0
	t0=$(now)
	fill bl $((BIG_N / 2))
	rss_half=$(rss_kb)
	fill bl $((BIG_N - BIG_N / 2))
	note "filled at $(fmt "$(calc 'a / (c - b)' "$BIG_N" "$t0" "$(now)")") jobs/s" \
		"(submits of 10000, 2 in flight)"
	rss_big=$(rss_kb)
	fig 7 mem "RSS, $BIG_N queued" "$(mb "$rss_big")" MB \
		"$SMALL_N queued" "$(mb "$rss_small")" MB
	fig 7 mem_tail "RSS growth, last $((BIG_N / 2)) queued" \
		"$(mb $((rss_big - rss_half)))" MB \
		"all" "$(mb $((rss_big - rss_small)))" MB
	stop_jobd
	local db wal=0
	db=$(stat -c %s "$DIR/state/jobd.db")
	[ -f "$DIR/state/jobd.db-wal" ] && wal=$(stat -c %s "$DIR/state/jobd.db-wal")
	fig 8 disk "database per queued job" \
		"$(calc '(a + b) / c' "$db" "$wal" "$BIG_N")" B \
		"raw row" "$RAW_BPR" B
	sync
	start_jobd big full
	note "restart with $BIG_N queued: ready in $(fmt "$STARTUP") s," \
		"RSS $(fmt "$(mb "$(rss_kb)")") MB"
	out=$(run_load e2e -q default -n "$E2E_N")
	fig 6 backlog "end-to-end, $BIG_N queued" "$(val rate "$out")" \
		jobs/s "$SMALL_N queued" "$e2e_small" jobs/s
	stop_jobd
}

# ---- crashes, restarts and loop lag (once, after the passes) ---------------

AUDIT_FAILED=0
# chaos MODE ARGS...: runs the crash torture or the soak, prints its
# report, records its figures.  A failed audit is remembered: the run
# exits 1 at the end, in every mode.
chaos() {
	local mode=$1 out st=0 num=11
	shift
	[ "$mode" = soak ] && num=12
	out=$("$BB/chaos" "$mode" "$JOBD" "$WORK/$mode" \
		--socket "$SOCKDIR/$mode.sock" "$@") || st=$?
	grep -v '=' <<<"$out" | sed 's/^/     /'
	if [ "$st" != 0 ] || [ "$(val audit "$out")" != ok ]; then
		echo "bench: the $mode audit failed (status $st)" >&2
		AUDIT_FAILED=1
		[ -n "$(val acked "$out")" ] || return 0
	fi
	fig $num "${mode}_lost" "$mode: acknowledged jobs lost" \
		"$(val lost "$out")" jobs "acknowledged" "$(val acked "$out")" \
		jobs
	fig $num "${mode}_double" "$mode: jobs run twice" \
		"$(val double "$out")" jobs "acknowledged" "$(val acked "$out")" \
		jobs
	fig $num "${mode}_rss" "$mode: jobd RSS max" \
		"$(mb "$(val rss_max_kb "$out")")" MB "at start" \
		"$(mb "$(val rss0_kb "$out")")" MB
	fig $num "${mode}_fds" "$mode: jobd open fds max" \
		"$(val fd_max "$out")" fds "at start" "$(val fd0 "$out")" fds
	if [ "$mode" = soak ]; then
		fig $num soak_rss_end "soak: jobd RSS at the end" \
			"$(mb "$(val rss_end_kb "$out")")" MB "at start" \
			"$(mb "$(val rss0_kb "$out")")" MB
	fi
}

extras() {
	local out st=0 what
	echo "-- 11. crash torture: $KILLS kill -9s under mixed load, then an audit"
	chaos torture --kills "$KILLS"
	echo "-- 12. soak: ${SOAK_SECS} s of mixed load, SIGTERM and restart every" \
		"${SOAK_EVERY}-$(calc 'a * 2' "$SOAK_EVERY") s, then an audit"
	chaos soak --seconds "$SOAK_SECS" --restart-every "$SOAK_EVERY"

	echo "-- 13. loop lag: worst ping of another client during each big" \
		"request ($LAG_N jobs)"
	start_jobd lag full
	out=$("$BB/looplag" "$SOCK" "$JOBCTL" -n "$LAG_N" -l "$LAG_L") || st=$?
	[ "$st" = 0 ] || fail "looplag failed (status $st)"
	grep -v '=' <<<"$out" | sed 's/^/     /'
	for what in submit submit_cap list wait cancel prune list_all; do
		fig 13 "lag_$what" "ping during $what" \
			"$(val "${what}_ms" "$out")" ms "idle" \
			"$(val "${what}_base_ms" "$out")" ms
	done
	fig 13 lag_list_all_rss "RSS after list --all" \
		"$(mb "$(val list_all_rss1_kb "$out")")" MB "before" \
		"$(mb "$(val list_all_rss0_kb "$out")")" MB
	stop_jobd
	rm -rf "${WORK:?}"/torture "${WORK:?}"/soak "${WORK:?}"/lag
}

# ---- summary ----------------------------------------------------------------

# Targets: KEY|FIELD|OP|LIMIT|TEXT|WHEN where FIELD is v (value) or r
# (ratio); every row of a key must hold for PASS.  WHEN "full" judges a
# key only in --full: below some 300,000 queued jobs SQLite's page cache
# (8 MB in jobd) is still filling, so RSS still climbs by design.
TARGETS='e2e|r|>=|0.85|>= 0.85x raw spawn|all
e2e_cgroup|r|>=|0.7|>= 0.7x without cgroups|all
e2e_postgres|r|>=|0.5|>= 0.5x SQLite|all
cluster_1|r|>=|0.8|>= 0.8x min(pg_raw, spawn_raw)|all
cluster_2|r|>=|0.9|>= 0.9x one node|all
cluster_3|r|>=|0.9|>= 0.9x one node|all
batch_full|v|>=|200000|>= 200000/s|all
batch_full|r|>=|0.3|and >= 0.3x raw|all
jobctl|v|>=|200000|>= 200000/s|all
jobctl|r|>=|0.3|and >= 0.3x raw|all
pipelined_full|v|>=|50000|>= 50000/s|all
clients|v|>=|50000|>= 50000/s|all
backlog|r|>=|0.9|>= 0.9x|all
mem|v|<=|32|<= 32 MB|all
mem_tail|v|<=|2|<= 2 MB: flat (judged in --full)|full
disk|v|<=|300|<= 300 B|all
lat_p50|v|<=|0.5|<= 0.5 ms|all
lat_p99|v|<=|2|<= 2 ms|all
spawn_mem|r|>=|0.9|>= 0.9x|all
torture_lost|v|<=|0|0 (audit)|all
torture_double|v|<=|0|0 (audit)|all
soak_lost|v|<=|0|0 (audit)|all
soak_double|v|<=|0|0 (audit)|all
lag_submit|v|<|50|< 50 ms|all
lag_submit_cap|v|<|50|< 50 ms|all
lag_list|v|<|50|< 50 ms|all
lag_wait|v|<|50|< 50 ms|all
lag_cancel|v|<|50|< 50 ms|all
lag_prune|v|<|50|< 50 ms|all
lag_list_all|v|<|50|< 50 ms|all'

summary() {
	echo
	echo "== summary ($MODE, $REPEAT pass(es); median [min-max] over passes)"
	awk -F'|' -v mode="$MODE" -v targets="$TARGETS" -v strict="${BENCH_STRICT:-0}" '
	function med(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		lo = a[1]; hi = a[n]
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(x) {
		x += 0
		return x >= 1000 ? sprintf("%.0f", x) : x >= 10 ? \
			sprintf("%.1f", x) : sprintf("%.3f", x)
	}
	BEGIN {
		nt = split(targets, tl, "\n")
		for (i = 1; i <= nt; i++) {
			split(tl[i], t, "|")
			tk[i] = t[1]; tf[i] = t[2]; top[i] = t[3]
			tlim[i] = t[4]; ttext[i] = t[5]; twhen[i] = t[6]
		}
		printf "%-3s %-31s %-30s %-29s %-6s %-5s %s\n", "#", "figure", \
			"value", "baseline", "ratio", "", "target"
	}
	{
		if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
		num[$2] = $1; label[$2] = $3; unit[$2] = $5
		blabel[$2] = $6; bunit[$2] = $8
		vs[$2] = vs[$2] " " $4; bs[$2] = bs[$2] " " $7
		rs[$2] = rs[$2] " " $9
	}
	END {
		# By figure number, keeping the order of appearance within one.
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && num[order[j - 1]] + 0 > \
			    num[order[j]] + 0; j--) {
				o = order[j]; order[j] = order[j - 1]; order[j - 1] = o
			}
		miss = 0
		for (k = 1; k <= n; k++) {
			key = order[k]
			v = med(vs[key]); vlo = lo; vhi = hi
			b = med(bs[key]); r = med(rs[key])
			value = f(v) " " unit[key]
			if (vlo != vhi)
				value = value " [" f(vlo) "-" f(vhi) "]"
			tgt = ""; ok = 1; has = 0
			for (i = 1; i <= nt; i++) {
				if (tk[i] != key)
					continue
				tgt = tgt (tgt == "" ? "" : " ") ttext[i]
				if (twhen[i] == "full" && mode != "full")
					continue
				has = 1
				x = tf[i] == "v" ? v : r
				if (top[i] == ">=" && !(x >= tlim[i] + 0)) ok = 0
				if (top[i] == "<=" && !(x <= tlim[i] + 0)) ok = 0
				if (top[i] == "<" && !(x < tlim[i] + 0)) ok = 0
			}
			verdict = tgt == "" ? "" : "-"
			if (has && mode != "smoke") {
				verdict = ok ? "PASS" : "MISS"
				if (!ok) miss++
			}
			printf "%-3s %-31s %-30s %-29s %-6s %-5s %s\n", num[key], \
				label[key], value, \
				blabel[key] " " f(b) " " bunit[key], \
				sprintf("%.2fx", r), verdict, tgt
		}
		if (mode == "smoke")
			print "smoke run: sizes too small for timing claims; every benchmark ran"
		else
			printf "%d target(s) missed\n", miss
		exit(strict && miss > 0 ? 1 : 0)
	}' "$RES"
}

echo "jobd benchmarks: $MODE, $REPEAT pass(es), $(nproc) CPUs, state in $WORK"
for pass in $(seq 1 "$REPEAT"); do
	[ "$REPEAT" -gt 1 ] && echo "== pass $pass of $REPEAT"
	one_pass
	rm -rf "${WORK:?}"/submit-* "${WORK:?}"/small "${WORK:?}"/big
done
[ "$REPEAT" -gt 1 ] && echo "== once"
extras
summary
if [ "$AUDIT_FAILED" = 1 ]; then
	echo "bench: an audit failed: a job was lost, run twice or left" \
		"unexplained (see above)" >&2
	exit 1
fi
