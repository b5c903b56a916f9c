#!/usr/bin/env bash
# make bench: every benchmark, each a ratio against a baseline measured in the same run.
# Usage: tools/bench.sh BUILD_DIR (a release build; make bench passes build/release)
set -euo pipefail
build=${1:?usage: bench.sh BUILD_DIR}

echo "== parse + state update vs. bare libxml2 SAX2 (tools/bench_parse.c)"
"$build/bench-parse"
