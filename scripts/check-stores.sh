#!/bin/sh
# Runs the integration suites against both stores at once: with jobd on
# SQLite in the foreground, and with every jobd on a private PostgreSQL
# server (JOBD_TEST_STORE=postgres) beside it, its output kept until the
# first run ends.  The suites spend most of their time waiting on jobd and
# its jobs, so the two runs share the machine well.  Exits non-zero when
# either failed.  Usage: scripts/check-stores.sh BUILD_DIR [sqlite]
# ("sqlite": the SQLite run alone, as under the sanitizers).
set -u
b=$1
export JOBD_BIN="$b/jobd" JOBCTL_BIN="$b/jobctl"
if [ "${2:-}" = sqlite ]; then
	exec "$b/check_integration"
fi
log=$(mktemp "${TMPDIR:-/tmp}/jobd-check-pg.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
JOBD_TEST_STORE=postgres "$b/check_integration" >"$log" 2>&1 &
pg=$!
"$b/check_integration"
lite=$?
wait "$pg"
pgrc=$?
echo "---- the integration suites with jobd on PostgreSQL ----"
cat "$log"
[ "$lite" -eq 0 ] && [ "$pgrc" -eq 0 ]
