#!/usr/bin/env bash
# Run the whole test suite (ctest) against the build tree given as $1, with a private
# RabbitMQ node started for it and stopped afterwards, whatever the tests did.
#   tools/test.sh BUILD_DIR [CTEST_ARGS...]   e.g. -R integration_amqp (a part of the suite)
#   INJECTOR_FUZZ_SECONDS=0 skips the fuzzer (for such a partial run; make test never does)
set -euo pipefail
build=$(cd "${1:?usage: test.sh BUILD_DIR [CTEST_ARGS...]}" && pwd)
shift
tools=$(cd "$(dirname "$0")" && pwd)
broker="$build/broker"
cluster="$build/cluster"

"$tools/test-broker.sh" stop "$broker" >/dev/null 2>&1 || true
"$tools/test-cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
rm -rf "$broker" "$cluster"
cluster_pid=
finish() {
    "$tools/test-broker.sh" stop "$broker"
    if [ -n "$cluster_pid" ]; then
        wait "$cluster_pid" || true # a start still under way ends first (bounded)
        "$tools/test-cluster.sh" stop "$cluster"
    fi
}
trap finish EXIT
# The three-node cluster (label cluster) boots in the background while the fuzzer and the
# other tests run; its tests run last and wait for DIR/env (or fail on DIR/failed).
if (cd "$build" && ctest -N -L cluster "$@" | grep 'Test *#' >/dev/null); then
    "$tools/test-cluster.sh" start "$cluster" >"$build/cluster.log" 2>&1 &
    cluster_pid=$!
    export INJECTOR_TEST_CLUSTER_DIR="$cluster" INJECTOR_TEST_CLUSTER_CTL="$tools/test-cluster.sh"
fi
"$tools/test-broker.sh" start "$broker"
# shellcheck disable=SC1091
source "$broker/env"
export INJECTOR_TEST_AMQP_URL="$AMQP_URL" INJECTOR_TEST_BROKER_DIR="$broker"
export INJECTOR_TEST_AMQPS_URL="$AMQPS_URL" INJECTOR_TEST_AMQPS_CA="$AMQPS_CA"
export INJECTOR_TEST_BROKER_CTL="$tools/test-broker.sh"

# The fuzzer first (a bounded run; any crash fails), so ctest's summary closes the output.
if [ "${INJECTOR_FUZZ_SECONDS:-60}" != 0 ]; then
    "$tools/fuzz.sh" "$build/../fuzz" "${INJECTOR_FUZZ_SECONDS:-60}"
fi

cd "$build"
# The fault cases (label "faults") last: they starve and flood a daemon on purpose.
rc=0
ctest --output-on-failure --timeout 300 -j 2 -LE faults "$@" || rc=$?
ctest --output-on-failure --timeout 300 -j 2 -L faults "$@" || rc=$?
exit "$rc"
