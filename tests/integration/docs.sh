#!/usr/bin/env bash
# docs.sh CASE - the README says what the programs do.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# The README's Options block is injectord --help, word for word (it was copied by hand and
# could drift).
case_readme_options_match_help() {
    "$INJECTORD" --help >"$WORK/help.txt"
    awk '/^## Options$/ { on = 1; next } on && /^```$/ { if (inside) exit; inside = 1; next }
         inside { print }' "$SRC/README.md" >"$WORK/readme.txt"
    [ -s "$WORK/readme.txt" ] || fail "no Options block in README.md"
    diff -u "$WORK/readme.txt" "$WORK/help.txt" >"$WORK/diff.txt" ||
        fail "README.md's Options block differs from injectord --help (paste the help in):
$(head -n 20 "$WORK/diff.txt")"
}

"case_$1"
