#!/usr/bin/env bash
# Run the whole test suite (ctest) against the build tree given as $1.
# Later: starts the private RabbitMQ broker the integration tests use.
set -euo pipefail
build=${1:?usage: test.sh BUILD_DIR}
cd "$build"
exec ctest --output-on-failure --timeout 300 -j 2
