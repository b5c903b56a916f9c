#!/usr/bin/env bash
# Build the .deb into BUILD_DIR (a release tree of its own, prefix /usr): used by
# `make package` (build/package) and by the package test (its own tree, the same steps).
#   package.sh BUILD_DIR     prints the path of the .deb it built
set -euo pipefail
build=${1:?usage: package.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >&2
cmake --build "$build" -j "$jobs" >&2
# A version bump would leave the old .deb next to the new one: keep exactly one.
rm -f "$build"/injector_*.deb
(cd "$build" && cpack) >&2
ls "$build"/injector_*.deb
