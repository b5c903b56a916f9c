#!/usr/bin/env bash
# The C sources laid out as .clang-format says (clang-format 14, Debian 12's: tools/deps.sh).
#   tools/format.sh          format them in place
#   tools/format.sh --check  change nothing; fail, naming the places, when one is off
#                            (a ctest entry: make test runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format.sh: clang-format is not installed (make deps)" >&2; exit 1; }
mapfile -t files < <(find collector parsers sink tools tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)
if [ "${1:-}" = "--check" ]; then
    clang-format --dry-run -Werror "${files[@]}" ||
        { echo "format.sh: run tools/format.sh (clang-format -i) on the files above" >&2; exit 1; }
else
    clang-format -i "${files[@]}"
fi
