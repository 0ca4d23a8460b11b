#!/bin/sh
# Checks jobd's systemd units with `systemd-analyze verify`, the way
# `make install` would install them: @SBINDIR@ is replaced by a temp dir
# holding an executable stub named jobd.  The system units are verified as
# system units, also with the example drop-in jobd-strict.conf; the user
# units with --user when the tool can run a user manager here (it needs
# $XDG_RUNTIME_DIR), otherwise as system units.
#
# Strict: any diagnostic (an unknown key, a value that does not parse, a
# missing executable) fails, not only the errors verify itself counts.
# When docs/jobd.8 and docs/jobd.conf.5 exist, the man: links in
# Documentation= are checked against them; otherwise --man=no.
#
# Exit status: 0 when every unit is clean, or when systemd-analyze is not
# installed (the message says so); 1 otherwise.
set -u

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not available"
	exit 0
fi

here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/systemd"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobd-units.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/sbin" "$tmp/system" "$tmp/user" "$tmp/man/man5" \
	"$tmp/man/man8" "$tmp/xdg"
chmod 0700 "$tmp/xdg"
printf '#!/bin/sh\nexit 0\n' >"$tmp/sbin/jobd"
chmod 0755 "$tmp/sbin/jobd"

sub() {
	sed "s|@SBINDIR@|$tmp/sbin|g" "$1" >"$2"
}
sub "$src/jobd.service.in" "$tmp/system/jobd.service"
cp "$src/jobd.socket" "$tmp/system/jobd.socket"
sub "$src/jobd-user.service.in" "$tmp/user/jobd.service"
user_units="$tmp/user/jobd.service"
if [ -f "$src/jobd-user.socket" ]; then
	cp "$src/jobd-user.socket" "$tmp/user/jobd.socket"
	user_units="$user_units $tmp/user/jobd.socket"
fi

man="--man=no"
if command -v man >/dev/null 2>&1 && [ -f "$here/docs/jobd.8" ] &&
	[ -f "$here/docs/jobd.conf.5" ]; then
	cp "$here/docs/jobd.8" "$tmp/man/man8/"
	cp "$here/docs/jobd.conf.5" "$tmp/man/man5/"
	MANPATH="$tmp/man"
	export MANPATH
	man="--man=yes"
fi

fail=0

# verify LABEL ARGS...: runs systemd-analyze verify and fails on a non-zero
# status or on any output at all.
verify() {
	label=$1
	shift
	out=$(cd "$tmp" && systemd-analyze "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: $label (status $rc)"
		printf '%s\n' "$out" | sed "s|$tmp/||g; s|^|  |"
		fail=1
	else
		echo "ok: $label"
	fi
}

verify "system units" verify $man "$tmp/system/jobd.service" \
	"$tmp/system/jobd.socket"

# The system unit again with the example drop-in in place.
if [ -f "$src/jobd-strict.conf" ]; then
	mkdir -p "$tmp/strict/jobd.service.d"
	cp "$tmp/system/jobd.service" "$tmp/system/jobd.socket" "$tmp/strict/"
	cp "$src/jobd-strict.conf" "$tmp/strict/jobd.service.d/"
	verify "system units with jobd-strict.conf" verify $man \
		"$tmp/strict/jobd.service" "$tmp/strict/jobd.socket"
fi

# Probe whether a user manager can be simulated here, with a unit that
# cannot fail on its own.
printf '[Service]\nExecStart=%s\n' "$tmp/sbin/jobd" >"$tmp/probe.service"
if (cd "$tmp" && XDG_RUNTIME_DIR="$tmp/xdg" systemd-analyze --user verify \
	--man=no "$tmp/probe.service") >/dev/null 2>&1; then
	XDG_RUNTIME_DIR="$tmp/xdg"
	export XDG_RUNTIME_DIR
	# shellcheck disable=SC2086
	verify "user units (--user)" --user verify $man $user_units
else
	# shellcheck disable=SC2086
	verify "user units (as system units: --user unavailable)" verify \
		$man $user_units
fi

exit $fail
