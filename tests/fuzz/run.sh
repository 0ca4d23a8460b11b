#!/bin/sh
# Runs libFuzzer targets one after the other, each for a set time.
#   tests/fuzz/run.sh [--fresh] BUILD_DIR SECONDS TARGET...
# Target T is BUILD_DIR/fuzz_T.  It starts from the seeds of
# tests/fuzz/corpus/T, which it only reads: the inputs it finds go to
# BUILD_DIR/corpus/T, kept for the next run, or with --fresh (make check)
# to BUILD_DIR/check-corpus/T, emptied first so that every run starts from
# the seeds alone and takes the same time.  A crash, leak, timeout or
# broken invariant is saved under BUILD_DIR/artifacts/T/ and fails the run;
# the last lines of the target's log (BUILD_DIR/T.log) are shown.  Extra
# libFuzzer flags can be given in FUZZ_FLAGS.
set -u
fresh=0
if [ "${1:-}" = "--fresh" ]; then
	fresh=1
	shift
fi
if [ $# -lt 3 ]; then
	echo "usage: $0 [--fresh] BUILD_DIR SECONDS TARGET..." >&2
	exit 2
fi
build=$1
secs=$2
shift 2
here=$(dirname "$0")
failed=""
for t in "$@"; do
	work=$build/corpus/$t
	if [ $fresh = 1 ]; then
		work=$build/check-corpus/$t
		rm -rf "$work"
	fi
	art=$build/artifacts/$t
	log=$build/$t.log
	mkdir -p "$work" "$art"
	set -- -max_total_time="$secs" -timeout=20 -print_final_stats=1 \
		-artifact_prefix="$art/"
	[ -f "$here/$t.dict" ] && set -- "$@" -dict="$here/$t.dict"
	# shellcheck disable=SC2086
	if "$build/fuzz_$t" "$@" ${FUZZ_FLAGS:-} "$work" "$here/corpus/$t" \
		>"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
			"$log")
		cov=$(sed -n 's/^#.*DONE *cov: \([0-9]*\).*/\1/p' "$log")
		echo "fuzz $t: ${runs:-?} runs in ${secs}s," \
			"coverage ${cov:-?}, no finding"
	else
		echo "fuzz $t: FAILED; log $log, reproducer in $art/:" >&2
		ls "$art" >&2
		grep -v '^INFO:' "$log" | tail -n 40 >&2
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
