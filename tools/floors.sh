#!/bin/sh
# floors.sh - the include rule of the source tree: a folder includes only folders below it.
#
# The floors, bottom to top (README.md, "Layout", draws them).  A source file belongs to the
# floor whose folder holds it; every quoted #include names a path from the repository root and
# must lie on the file's own floor or one below.  Prints one line per floor (files, includes
# down and across) and exits 0; on an include that points upward, or a path that is not from
# the root, prints FILE:LINE and the problem, one line each, and exits 1.
# Usage: tools/floors.sh [ROOT]   (default: the repository this script is in)
FLOORS="harness/base harness/formats methods harness/model datasets harness/eval harness/quantize harness/run reports harness/cli"
root=${1:-$(dirname "$0")/..}
cd "$root" || { echo "floors: $root: cannot enter"; exit 1; }
files=$(find harness methods datasets reports -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "floors: $root: no sources under harness/ methods/ datasets/ reports/"; exit 1; }
# shellcheck disable=SC2086
awk -v floors="$FLOORS" '
function floor_of(path,   i, best, bl) {
    best = 0; bl = 0
    for (i = 1; i <= nf; i++)
        if (index(path, fl[i] "/") == 1 && length(fl[i]) > bl) { best = i; bl = length(fl[i]) }
    return best
}
BEGIN { nf = split(floors, fl, " ") }
FNR == 1 {
    me = floor_of(FILENAME); nfiles[me]++
    if (!me) { printf "%s: not on any floor (%s)\n", FILENAME, floors; bad++ }
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
    inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
    if (inc ~ /\.inc$/) next     # generated into build/ (the schema)
    if ((getline junk < inc) < 0) {
        printf "%s:%d: includes \"%s\", which is not a path from the repository root\n", FILENAME, FNR, inc; bad++; next
    }
    close(inc)
    to = floor_of(inc)
    if (!to) { printf "%s:%d: includes %s, which is on no floor\n", FILENAME, FNR, inc; bad++; next }
    if (to > me) { printf "%s:%d: includes %s: %s is above %s\n", FILENAME, FNR, inc, fl[to], fl[me]; bad++; next }
    if (to == me) across[me]++; else down[me]++
}
END {
    if (bad) { printf "floors: %d include(s) break the rule (a folder includes only folders below it)\n", bad; exit 1 }
    printf "%-18s %6s %14s %15s\n", "floor (bottom up)", "files", "includes down", "includes across"
    for (i = 1; i <= nf; i++) { printf "%-18s %6d %14d %15d\n", fl[i], nfiles[i], down[i], across[i]; t += down[i] + across[i] }
    printf "floors: %d includes, none upward\n", t
}' $files
