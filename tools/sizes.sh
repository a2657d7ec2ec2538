#!/bin/sh
# sizes.sh - the largest source files and functions (lines), for the house's upkeep: a function
# is counted from its signature at column 0 to the brace that closes it at column 0.
# Usage: tools/sizes.sh [N]   (default 10 of each)
n=${1:-10}
cd "$(dirname "$0")/.." || exit 1
echo "largest files (lines):"
find harness methods datasets reports -name '*.[ch]' | xargs wc -l | grep -v ' total$' | sort -rn | head -n "$n"
echo "largest functions (lines):"
find harness methods datasets reports -name '*.c' | sort | xargs awk '
FNR == 1 { name = "" }
/^[a-zA-Z].*\(/ && !/;[ \t]*$/ && !/^(typedef|struct|enum|union|#)/ { if (name == "") { sig = $0; sub(/\(.*/, "", sig); n = split(sig, w, /[ *]+/); name = w[n]; start = FNR } }
/^\{/ && name != "" { open = 1 }
/^\}/ && name != "" { if (open) printf "%6d  %s:%d %s\n", FNR - start + 1, FILENAME, start, name; name = ""; open = 0 }
/;[ \t]*$/ && name != "" && !open { name = "" }' | sort -rn | head -n "$n"
