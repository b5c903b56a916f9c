#!/usr/bin/env bash
# make bench: every benchmark, each a ratio against a baseline measured in the same run.
# Usage: tools/bench.sh BUILD_DIR (a release build; make bench passes build/release)
set -euo pipefail
build=${1:?usage: bench.sh BUILD_DIR}

echo "== parse + state update vs. bare libxml2 SAX2 (tools/bench_parse.c)"
"$build/bench-parse"

echo
echo "== the change journal alone, on disk, no broker (tools/bench_publish.c --journal-only)"
"$build/bench-publish" --journal-only 200000

echo
echo "== AMQP sink (reading the journal) vs. bare librabbitmq publisher, private broker"
echo "   (tools/bench_publish.c)"
tools=$(cd "$(dirname "$0")" && pwd)
broker="$(cd "$build" && pwd)/bench-broker"
rm -rf "$broker"
trap '"$tools/test-broker.sh" stop "$broker" >/dev/null' EXIT
"$tools/test-broker.sh" start "$broker" >/dev/null
# shellcheck disable=SC1091
source "$broker/env"
"$build/bench-publish" "$AMQP_URL" 200000 256

echo
"$tools/bench_collector.sh" "$build"
