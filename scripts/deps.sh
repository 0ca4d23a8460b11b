#!/bin/sh
# Installs what jobd's make targets need from Debian/Ubuntu packages when
# pkg-config (or the compiler, for libev, which ships no .pc file, or the
# PATH, for tools) cannot find it.  Does nothing when all are present.
# Uses sudo when not root.
#
# usage: scripts/deps.sh [--quiet] [GROUP...]
#   build   compiler, pkg-config and the libraries (libpq among them); the
#           sqlite3 shell and time zones the tests use
#   pg      the PostgreSQL server (initdb, pg_ctl), which the tests start
#           in a temporary directory (make check), and iproute2 (ip), with
#           which the cluster tests make network namespaces
#   fuzz    clang and its libFuzzer runtime (make fuzz, make check)
#   format  clang-format (make format, make format-check)
# With no GROUP, all of them (make deps).
set -e
quiet=0
if [ "${1:-}" = "--quiet" ]; then
	quiet=1
	shift
fi
[ $# -gt 0 ] || set -- build pg fuzz format

missing=""

build() {
	command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
	for pair in jansson:libjansson-dev sqlite3:libsqlite3-dev check:check \
	            inih:libinih-dev libpq:libpq-dev; do
		mod=${pair%%:*}
		pkg=${pair#*:}
		if ! pkg-config --exists "$mod" 2>/dev/null; then
			missing="$missing $pkg"
		fi
	done
	if ! printf '#include <ev.h>\nint main(void){return ev_version_major() < 4;}\n' |
		${CC:-cc} -x c - -o /dev/null -lev >/dev/null 2>&1; then
		missing="$missing libev-dev"
	fi
	command -v ${CC:-cc} >/dev/null 2>&1 || missing="$missing build-essential"
	# The integration tests inspect databases with the sqlite3 shell.
	command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
	# The cron tests need real time zones (DST cases).
	[ -e /usr/share/zoneinfo/America/New_York ] || missing="$missing tzdata"
}

pg() {
	# Debian's server package puts its programs under a directory per
	# major version, not on the PATH.
	found=0
	for f in /usr/lib/postgresql/*/bin/initdb; do
		[ -x "$f" ] && found=1
	done
	[ "$found" = 1 ] || missing="$missing postgresql"
	# The cluster tests put each node in a network namespace (ip) and
	# cut its link to make a partition.
	command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
}

fuzz() {
	# The fuzz targets are built with clang and its libFuzzer runtime (a
	# recommendation of clang, so named here).
	if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n)\n{return 0;}\n' |
		${FUZZ_CC:-clang} -fsanitize=fuzzer,address,undefined -x c - \
			-o /dev/null >/dev/null 2>&1; then
		missing="$missing clang libclang-rt-dev"
	fi
}

format() {
	command -v ${CLANG_FORMAT:-clang-format} >/dev/null 2>&1 ||
		missing="$missing clang-format"
}

for group in "$@"; do
	case $group in
	build | pg | fuzz | format) $group ;;
	*)
		echo "deps: unknown group $group (build, pg, fuzz, format)" >&2
		exit 2
		;;
	esac
done

[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
else
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
[ "$quiet" = 1 ] || echo "deps: done" >&2
