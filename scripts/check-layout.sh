#!/bin/sh
# check-layout.sh — the shape the sources keep (docs/design.md):
#   - no include cycle among the daemon's modules (a module is daemon/M.c
#     with daemon/M.h; M depends on N when either file includes N.h);
#   - no source file over MAX_FILE lines;
#   - no function over MAX_FUNC lines (a definition starts at a column-0
#     line ending in ")" and runs from its column-0 "{" to its "}"; tables
#     are initialisers, not functions, and are not counted).
# Prints each breach and exits 1 if there was one.
MAX_FILE=${MAX_FILE:-1200}
MAX_FUNC=${MAX_FUNC:-120}
cd "$(dirname "$0")/.." || exit 2
status=0

srcs=$(find daemon client lib jobctl tests bench include \
	-name '*.[ch]' 2>/dev/null | sort)

# Files.
for f in $srcs; do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$MAX_FILE" ]; then
		echo "$f: $n lines (more than $MAX_FILE)"
		status=1
	fi
done

# Functions.
out=$(for f in $srcs; do
	awk -v F="$f" -v MAX="$MAX_FUNC" '
		/^[A-Za-z_].*\)[ \t]*$/ { name = $0; cand = NR; next }
		/^\{/ { if (cand == NR - 1 || cand) { start = NR; fn = name } }
		/^\}/ { if (start) { n = NR - start + 1
				if (n > MAX) printf "%s: %s: %d lines\n", F, fn, n
				start = 0; cand = 0 } }
		/^[^ \t{}#\/]/ && !/\)[ \t]*$/ { cand = 0 }
	' "$f"
done)
if [ -n "$out" ]; then
	echo "$out" | sed "s/\$/ (more than $MAX_FUNC)/"
	status=1
fi

# Include cycles among daemon modules: edges M -> N, then a depth-first
# search that reports the first back edge it meets.  A header with no .c
# of its own (a module's private header, such as cmd.h) is no module: what
# it includes counts as included by the files that include it.
includes() {
	sed -n 's/^#include "\([a-z_0-9]*\)\.h".*/\1/p' "$1" |
	while read -r n; do
		[ -f "daemon/$n.h" ] || continue
		if [ -f "daemon/$n.c" ]; then
			echo "$n"
		else
			includes "daemon/$n.h"
		fi
	done
}
edges=$(for f in daemon/*.c daemon/*.h; do
	m=$(basename "$f"); m=${m%.*}
	[ -f "daemon/$m.c" ] || continue
	includes "$f" | while read -r n; do
		[ "$n" != "$m" ] && echo "$m $n"
	done
done | sort -u)
cycle=$(echo "$edges" | awk '
	{ adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
	function dfs(u,   i, k, v, list) {
		color[u] = 1; stack[++sp] = u
		k = split(adj[u], list, " ")
		for (i = 1; i <= k; i++) {
			v = list[i]
			if (color[v] == 1) {
				path = v
				for (j = sp; j >= 1 && stack[j] != v; j--)
					path = stack[j] " -> " path
				print v " -> " path; return 1
			}
			if (!color[v] && dfs(v)) return 1
		}
		color[u] = 2; sp--
		return 0
	}
	END { for (u in nodes) if (!color[u] && dfs(u)) exit }')
if [ -n "$cycle" ]; then
	echo "include cycle: $cycle"
	status=1
fi
exit $status
