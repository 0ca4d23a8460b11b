#!/bin/sh
# Checks `make install` and `make uninstall` into a temporary DESTDIR with
# the default directories: every file lands where the defaults put it, with
# its mode, the units get the real path of jobd, the sysusers.d and tmpfiles.d
# snippets make the group jobd and the directories with the modes jobd
# needs (applied inside the temporary root, when systemd's tools are
# installed), nothing is applied to the live system, and uninstall leaves no
# file and none of jobd's own directories behind.  Then that an install
# without DESTDIR, as root, runs systemd-sysusers and systemd-tmpfiles on
# the installed snippets (with stand-ins for both, so nothing is changed).
#
# Run from `make check` after the build (install needs build/jobd and
# build/jobctl up to date); MAKE names the make to run.
#
# Exit status: 0 when everything holds, 1 otherwise.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
make=${MAKE:-make}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobd-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
root="$tmp/root"
fail=0

bad() {
	echo "FAIL: $*"
	fail=1
}

# has PATH MODE: PATH (under the DESTDIR) is a file with that octal mode.
has() {
	if [ ! -f "$root$1" ]; then
		bad "not installed: $1"
	elif [ "$(stat -c %a "$root$1")" != "$2" ]; then
		bad "$1: mode $(stat -c %a "$root$1"), not $2"
	fi
}

if ! (cd "$here" && $make --no-print-directory install DESTDIR="$root" \
	PREFIX=/usr/local SYSCONFDIR=/etc) \
	>"$tmp/install.log" 2>&1; then
	bad "make install"
	sed 's/^/  /' "$tmp/install.log"
	exit 1
fi

p=/usr/local
has $p/sbin/jobd 755
has $p/bin/jobctl 755
has $p/lib/libjobd.a 644
has $p/include/jobd/client.h 644
has $p/share/man/man8/jobd.8 644
has $p/lib/systemd/system/jobd.service 644
has $p/lib/systemd/system/jobd.socket 644
has $p/lib/systemd/user/jobd.service 644
has $p/lib/systemd/user/jobd.socket 644
has $p/lib/sysusers.d/jobd.conf 644
has $p/lib/tmpfiles.d/jobd.conf 644
has $p/share/doc/jobd/jobd-strict.conf 644
has /etc/jobd/jobd.conf.example 644
has $p/share/bash-completion/completions/jobctl 644

for u in system user; do
	f="$root$p/lib/systemd/$u/jobd.service"
	[ -f "$f" ] || continue
	grep -q '@SBINDIR@' "$f" && bad "$u jobd.service: @SBINDIR@ left"
	grep -q "^ExecStart=$p/sbin/jobd\$" "$f" ||
		bad "$u jobd.service: ExecStart= is not $p/sbin/jobd"
done

# With DESTDIR set, install must not touch the live system's users.
grep -q 'systemd-sysusers\|systemd-tmpfiles' "$tmp/install.log" &&
	bad "make install with DESTDIR ran systemd-sysusers or systemd-tmpfiles"

# The snippets, applied to the temporary root.
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$root/etc"
	: >"$root/etc/passwd"
	: >"$root/etc/group"
	if systemd-sysusers --root="$root" \
		"$root$p/lib/sysusers.d/jobd.conf" >"$tmp/sysusers.log" 2>&1; then
		grep -q '^jobd:x:[0-9]*:$' "$root/etc/group" ||
			bad "sysusers.d/jobd.conf made no group jobd"
	else
		bad "systemd-sysusers"
		sed 's/^/  /' "$tmp/sysusers.log"
	fi
	rm -f "$root/etc/passwd" "$root/etc/group" "$root/etc/gshadow" \
		"$root/etc/shadow" "$root/etc/passwd-" "$root/etc/group-" \
		"$root/etc/gshadow-" "$root/etc/shadow-" "$root/etc/.pwd.lock"
else
	echo "systemd-sysusers not available: sysusers.d/jobd.conf not applied"
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	if systemd-tmpfiles --root="$root" --create \
		"$root$p/lib/tmpfiles.d/jobd.conf" >"$tmp/tmpfiles.log" 2>&1; then
		for d in /var/lib/jobd:700 /run/jobd:755; do
			dir=${d%:*}
			mode=${d#*:}
			if [ ! -d "$root$dir" ]; then
				bad "tmpfiles.d/jobd.conf made no $dir"
			elif [ "$(stat -c %a "$root$dir")" != "$mode" ]; then
				bad "$dir: mode $(stat -c %a "$root$dir"), not $mode"
			fi
		done
	else
		bad "systemd-tmpfiles"
		sed 's/^/  /' "$tmp/tmpfiles.log"
	fi
	rm -rf "${root:?}/var" "${root:?}/run"
else
	echo "systemd-tmpfiles not available: tmpfiles.d/jobd.conf not applied"
fi

if ! (cd "$here" && $make --no-print-directory uninstall DESTDIR="$root" \
	PREFIX=/usr/local SYSCONFDIR=/etc) \
	>"$tmp/uninstall.log" 2>&1; then
	bad "make uninstall"
	sed 's/^/  /' "$tmp/uninstall.log"
fi
left=$(cd "$root" && find . ! -type d | sed 's|^\.||')
[ -z "$left" ] || bad "left after uninstall: $(echo "$left" | tr "\n" " ")"
for d in $p/include/jobd /etc/jobd $p/share/doc/jobd; do
	[ -d "$root$d" ] && bad "left after uninstall: directory $d"
done

# Without DESTDIR and as root, install applies both snippets at once.  Run
# with stand-ins for id (saying root) and for systemd's tools, which only
# record how they were called, into a PREFIX under the temporary dir.
live="$tmp/live"
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho 0\n' >"$tmp/bin/id"
for t in systemd-sysusers systemd-tmpfiles; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$t" "$tmp/ran" \
		>"$tmp/bin/$t"
done
chmod 0755 "$tmp/bin/"*
: >"$tmp/ran"
if ! (cd "$here" && PATH="$tmp/bin:$PATH" $make --no-print-directory \
	install DESTDIR= PREFIX="$live" SYSCONFDIR="$live/etc") \
	>"$tmp/live.log" 2>&1; then
	bad "make install without DESTDIR"
	sed 's/^/  /' "$tmp/live.log"
fi
printf 'systemd-sysusers %s\nsystemd-tmpfiles --create %s\n' \
	"$live/lib/sysusers.d/jobd.conf" "$live/lib/tmpfiles.d/jobd.conf" \
	>"$tmp/want"
cmp -s "$tmp/want" "$tmp/ran" ||
	bad "make install without DESTDIR, as root, ran: $(cat "$tmp/ran")"
(cd "$here" && $make --no-print-directory uninstall DESTDIR= \
	PREFIX="$live" SYSCONFDIR="$live/etc") >/dev/null 2>&1 ||
	bad "make uninstall without DESTDIR"

[ $fail -eq 0 ] && echo "ok: make install and uninstall"
exit $fail
