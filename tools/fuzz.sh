#!/usr/bin/env bash
# Build the libFuzzer target with clang (its own build tree) and run it for SECONDS on the
# seed corpus; any crash or sanitizer report fails. Usage: tools/fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
command -v clang >/dev/null || { echo "fuzz: clang is not installed (make deps)" >&2; exit 1; }
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
    -DINJECTOR_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz-alert-xml -j "$(nproc)" >/dev/null
# Work on a copy: what the fuzzer finds stays in the build tree, the seeds stay as they are.
mkdir -p "$build/corpus"
cp -n "$src"/tests/fuzz/corpus/* "$build/corpus/" 2>/dev/null || true
echo "fuzz: parser + state table + JSON encoder for ${seconds} s"
cd "$build"
if ! ./fuzz-alert-xml -max_total_time="$seconds" -max_len=65507 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 corpus >fuzz.log 2>&1; then
    tail -n 40 fuzz.log >&2
    echo "fuzz: FAILED; the input is in $build (crash-*, leak-*, timeout-*)" >&2
    exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' fuzz.log | sed 's/^/fuzz: /'
