# lib.sh - helpers for integration tests: start the real injectord on an ephemeral loopback
# port, wait for conditions (never fixed sleeps), read its counters, clean up by PID.
# Sourced by the test scripts; expects INJECTORD and INJECTOR_SEND in the environment.

set -euo pipefail

: "${INJECTORD:?INJECTORD must name the injectord binary}"
: "${INJECTOR_SEND:?INJECTOR_SEND must name the injector-send binary}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/injector-test.XXXXXX")
PIDS=()

# cleanup [RC]: kill what the test started, show the daemons' stderr if it failed (RC, or
# the exit status the trap was entered with), remove the work directory. Traps of their own
# call it with their RC: under set -e a trap that ran `(exit RC)` first would end there.
cleanup() {
    local rc=${1:-$?}
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        echo "--- test failed (rc=$rc); daemon stderr:" >&2
        tail -n 40 "$WORK"/*.err >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIPPED: $*"
    exit 77
}

# usage_errors_say CMD... -- 'ARGS|MESSAGE'...: CMD followed by each ARGS (split on blanks)
# exits 2, a usage error, and says MESSAGE on stderr.
usage_errors_say() {
    local cmd=() w args msg rc
    while [ "$1" != -- ]; do
        cmd+=("$1")
        shift
    done
    shift
    for w in "$@"; do
        args=${w%%|*} msg=${w#*|}
        rc=0
        # shellcheck disable=SC2086 # the arguments are words
        "${cmd[@]}" $args 2>"$WORK/err" >/dev/null || rc=$?
        [ "$rc" -eq 2 ] && grep -qF -- "$msg" "$WORK/err" ||
            fail "$args: exit $rc (want 2), said: $(cat "$WORK/err") (want: $msg)"
    done
}

# version_is_the_projects NAME BINARY: BINARY --version says "NAME VERSION", the version
# injectord --version says.
version_is_the_projects() {
    local v
    v=$("$INJECTORD" --version | awk '{print $2}')
    [ -n "$v" ] || fail "injectord --version said nothing"
    [ "$("$2" --version)" = "$1 $v" ] || fail "$1 --version: $("$2" --version), injectord says $v"
}

# wait_for TIMEOUT_S CMD...: poll CMD until it succeeds; fail after TIMEOUT_S.
wait_for() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}

# start_injectord NAME ARGS...: start a daemon with stdout to $WORK/NAME.out and stderr to
# $WORK/NAME.err; sets PID_<NAME>, PORT_<NAME> (first listener's port) and HTTP_<NAME> (the
# HTTP API's port, ephemeral unless ARGS say otherwise) once it is ready (READY_TIMEOUT
# seconds at most, 10 unless set).
start_injectord() {
    local name=$1
    shift
    # A name used again: the last run's log goes first, or its ' ready: ' line could pass
    # for this run's before the new process has truncated it (a signal sent then kills it).
    rm -f "$WORK/$name.err"
    "$INJECTORD" --stats-interval 0 --collector-id "test-$name" --http 127.0.0.1:0 "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    wait_for "${READY_TIMEOUT:-10}" grep -qs ' ready: ' "$WORK/$name.err" ||
        fail "$name did not become ready: $(cat "$WORK/$name.err")"
    local port
    port=$(sed -n 's/.*listening on udp .*:\([0-9]*\) (receive.*/\1/p' "$WORK/$name.err" | head -n1)
    printf -v "PORT_$name" '%s' "$port"
    port=$(sed -n 's#.*HTTP API on http://[^ ]*:\([0-9]*\)/.*#\1#p' "$WORK/$name.err" | head -n1)
    printf -v "HTTP_$name" '%s' "$port"
}

# api NAME PATH: GET the daemon's HTTP API; prints the body.
api() {
    local port
    port=$(eval echo "\$HTTP_$1")
    curl -sS --max-time 10 "http://127.0.0.1:$port$2"
}

# counter NAME KEY: the value of KEY in the daemon's latest stats line (after SIGUSR1).
counter() {
    local name=$1 key=$2
    grep 'stats' "$WORK/$name.err" | tail -n1 | tr ' ' '\n' | sed -n "s/^$key=//p"
}

_stats_at_least() {
    local name=$1 key=$2 want=$3 pid
    pid=$(eval echo "\$PID_$name")
    kill -USR1 "$pid"
    local v
    v=$(counter "$name" "$key")
    [ -n "$v" ] && [ "$v" -ge "$want" ]
}

# wait_counter NAME KEY N: wait until the daemon has counted at least N for KEY.
wait_counter() {
    wait_for 20 _stats_at_least "$@" ||
        fail "$1: $2 stayed at $(counter "$1" "$2"), expected $3"
}

# send NAME ARGS...: injector-send to daemon NAME.
send() {
    local name=$1
    shift
    local port
    port=$(eval echo "\$PORT_$name")
    "$INJECTOR_SEND" --target "127.0.0.1:$port" "$@"
}

# lines NAME [JQ-FILTER]: count output lines (changes), optionally matching a jq filter.
lines() {
    local name=$1 filter=${2:-true}
    jq -c "select($filter)" "$WORK/$name.out" | wc -l
}

# lines_at_least NAME N [JQ-FILTER]: at least N output lines (matching); for wait_for, which
# needs a command it can run again, not a value computed once.
lines_at_least() {
    [ "$(lines "$1" "${3:-true}")" -ge "$2" ]
}

# stop_injectord NAME: SIGTERM and wait; fails unless it exits 0.
stop_injectord() {
    local name=$1 pid
    pid=$(eval echo "\$PID_$name")
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name exited $rc after SIGTERM"
}

# burst_file N: N Upd alerts for distinct hosts n1..nN, one datagram per line, Seq 1..N
# (for injector-send --raw).
burst_file() {
    local i
    for i in $(seq 1 "$1"); do
        echo "<Alert><Action>Upd</Action><ProblemHost>n$i</ProblemHost><Component>node</Component><Seq>$i</Seq></Alert>"
    done
}

# ---- RabbitMQ (tools/test.sh starts a private broker and exports these) ----

need_broker() {
    [ -n "${INJECTOR_TEST_AMQP_URL:-}" ] || skip "no test broker (run through make test)"
    : "${INJECTOR_CONSUME:?INJECTOR_CONSUME must name the injector-consume binary}"
    EXCHANGE="test-$(basename "$WORK")"
}

# broker stop|start: stop or restart the test broker (same node, port and data).
broker() {
    "$INJECTOR_TEST_BROKER_CTL" "$1" "$INJECTOR_TEST_BROKER_DIR" >/dev/null
}

# consume ARGS...: injector-consume on this test's exchange, and the test broker unless
# ARGS name nodes (--amqp).
consume() {
    # shellcheck disable=SC2046 # two words: --amqp URL (no spaces in a test URL)
    "$INJECTOR_CONSUME" $(_default_amqp "$@") --exchange "$EXCHANGE" "$@"
}

_default_amqp() {
    local arg
    for arg in "$@"; do [ "$arg" != --amqp ] || return 0; done
    echo "--amqp $INJECTOR_TEST_AMQP_URL"
}

# check_versions FILE N: FILE (JSON lines) holds versions 1..N, none missing, in order of
# first appearance; a change published again after a reconnect (at-least-once) may repeat,
# but only as the very same message.
check_versions() {
    local file=$1 n=$2
    jq -r '.version' "$file" | awk '!seen[$1]++' >"$WORK/versions"
    sort -n -c "$WORK/versions" 2>/dev/null || fail "versions out of order in $file"
    local distinct
    distinct=$(wc -l <"$WORK/versions")
    [ "$distinct" -eq "$n" ] || fail "$distinct distinct versions, expected $n"
    [ "$(head -n1 "$WORK/versions")" -eq 1 ] && [ "$(tail -n1 "$WORK/versions")" -eq "$n" ] ||
        fail "versions do not run 1..$n"
    [ "$(sort -u "$file" | wc -l)" -eq "$n" ] ||
        fail "a repeated version came with a different message"
}

# count_at_least N PATTERN FILE: FILE has at least N lines matching PATTERN (for wait_for).
count_at_least() {
    [ "$(grep -c -- "$2" "$3" || true)" -ge "$1" ]
}

# random_stream N SEED: N random datagrams over 300 hosts x 4 components: Upd 55%, Del 30%,
# Updonly 15%, severity 1-5 and one of three messages, so raises, updates, clears,
# duplicates, redundant clears and updonly misses all happen.
random_stream() {
    awk -v n="$1" -v seed="$2" -v prefix="${3:-h}" 'BEGIN {
        srand(seed)
        for (i = 1; i <= n; i++) {
            r = rand(); a = r < 0.55 ? "Upd" : (r < 0.85 ? "Del" : "Updonly")
            printf "<Alert><Action>%s</Action><ProblemHost>%s%d</ProblemHost><Component>c%d</Component>", a, prefix, int(rand() * 300), int(rand() * 4)
            printf "<Severity>%d</Severity><Msg>m%d</Msg></Alert>\n", 1 + int(rand() * 5), int(rand() * 3)
        }
    }'
}

# send_chunks NAME FILE CHUNK [HOOK_AT HOOK...]: send FILE in chunks of CHUNK lines, each
# processed before the next (no kernel drops in a sanitizer build); after chunk HOOK_AT run
# HOOK (so something can start in the middle of the stream).
send_chunks() {
    local name=$1 file=$2 chunk=$3 hook_at=${4:-0}
    shift $(($# < 4 ? $# : 4))
    local total sent=0 k=0 port base
    total=$(wc -l <"$file")
    port=$(eval echo "\$PORT_$name")
    kill -USR1 "$(eval echo "\$PID_$name")"
    wait_for 10 grep -q 'stats' "$WORK/$name.err"
    base=$(counter "$name" datagrams)
    while [ "$sent" -lt "$total" ]; do
        sed -n "$((sent + 1)),$((sent + chunk))p" "$file" >"$WORK/chunk"
        "$INJECTOR_SEND" --raw --target "127.0.0.1:$port" <"$WORK/chunk"
        sent=$((sent + $(wc -l <"$WORK/chunk")))
        k=$((k + 1))
        wait_counter "$name" datagrams $((base + sent))
        if [ "$k" -eq "$hook_at" ]; then "$@"; fi
    done
    [ "$(counter "$name" kernel_drops)" -eq 0 ] || fail "$name dropped datagrams"
}

# ---- injector-consume views (view.sh, scaleout.sh) ----

# published NAME: every change the collector numbered is confirmed by the broker.
published() {
    local v
    v=$(api "$1" /v1/alerts | jq .version)
    _stats_at_least "$1" confirmed "$v"
}

# table_of NAME...: the collectors' tables, in the view's form, sorted.
table_of() {
    local name
    for name in "$@"; do
        api "$name" /v1/alerts | jq -c '.collector as $c | .alerts[] |
            {collector: $c, host, component, version, severity, msg}'
    done | jq -s -S 'sort_by(.collector, .host, .component)'
}

view_of() {
    jq -S '[.alerts[] | {collector, host, component, version, severity, msg}] |
        sort_by(.collector, .host, .component)' "$1"
}

# view_matches FILE NAME...: FILE holds exactly the active alerts of collectors NAME...
view_matches() {
    local file=$1
    shift
    [ -s "$file" ] || return 1
    table_of "$@" >"$WORK/want.json"
    view_of "$file" >"$WORK/have.json" 2>/dev/null || return 1
    cmp -s "$WORK/want.json" "$WORK/have.json"
}

# replay FILE: fold a consumer's change lines (those a resync made up included) into the
# table they describe, in the view's form: a reader of the lines is exact too.
replay() {
    jq -s -S 'reduce .[] as $c ({};
            ($c.collector + "\u0000" + $c.host + "\u0000" + $c.component) as $k |
            if $c.outcome == "raise" or $c.outcome == "update" or $c.outcome == "ack" or
                $c.outcome == "unack"
            then .[$k] = ($c | {collector, host, component, version, severity, msg})
            else del(.[$k]) end) | [.[]] | sort_by(.collector, .host, .component)' "$1"
}

# wait_view FILE NAME...: the view comes to equal the tables (it lags by its interval).
wait_view() {
    wait_for 60 view_matches "$@" || {
        diff "$WORK/want.json" "$WORK/have.json" | head -n 20 >&2
        fail "the view in $1 does not equal the tables of $* ($(jq length "$WORK/want.json") alerts wanted, $(jq length "$WORK/have.json") in the view)"
    }
}

# start_consumer NAME ARGS...: injector-consume in the background (the process itself, not
# a subshell, so signals reach it); PID_<NAME>, output in $WORK/NAME.out and .err.
start_consumer() {
    local name=$1
    shift
    # shellcheck disable=SC2046 # two words: --amqp URL (no spaces in a test URL)
    "$INJECTOR_CONSUME" $(_default_amqp "$@") --exchange "$EXCHANGE" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=("$!")
    printf -v "PID_$name" '%s' "$!"
}

stop_consumer() {
    local pid
    pid=$(eval echo "\$PID_$1")
    kill -TERM "$pid"
    wait "$pid" || fail "consumer $1 exited $? after SIGTERM"
}

# ---- the three-node cluster (tools/test-cluster.sh; tools/test.sh starts it for the tests
# labelled cluster, in the background) ----

# need_cluster: wait until the cluster is up (it boots while other tests run), then
# CLUSTER_URL1..3 name its nodes. A cluster that could not start fails the test.
need_cluster() {
    [ -n "${INJECTOR_TEST_CLUSTER_DIR:-}" ] || skip "no test cluster (run through make test)"
    : "${INJECTOR_CONSUME:?INJECTOR_CONSUME must name the injector-consume binary}"
    local d=$INJECTOR_TEST_CLUSTER_DIR t0=$SECONDS
    wait_for 240 test -e "$d/env" -o -e "$d/failed" ||
        fail "the test cluster did not come up within 240 s"
    [ "$SECONDS" -eq "$t0" ] || echo "waited $((SECONDS - t0)) s for the test cluster"
    [ ! -e "$d/failed" ] || fail "the test cluster did not start: $(cat "$d/failed")"
    # A case killed on its timeout had no chance to start its node again.
    "$INJECTOR_TEST_CLUSTER_CTL" heal "$d" || fail "the test cluster cannot be made whole"
    # shellcheck disable=SC1091
    source "$d/env"
    EXCHANGE="test-$(basename "$WORK")"
    STOPPED_NODES=()
    trap 'rc=$?; restart_nodes; cleanup "$rc"' EXIT
}

# node stop|start N: stop node N of the cluster as an operator would, or start it again
# (it rejoins); a node a test stopped is started again when the test ends, whatever happens.
node() {
    "$INJECTOR_TEST_CLUSTER_CTL" "$1-node" "$INJECTOR_TEST_CLUSTER_DIR" "$2" >/dev/null ||
        fail "cluster node $2: $1 failed"
    local n kept=()
    for n in "${STOPPED_NODES[@]}"; do [ "$n" = "$2" ] || kept+=("$n"); done
    STOPPED_NODES=("${kept[@]}")
    if [ "$1" = stop ]; then STOPPED_NODES+=("$2"); fi
}

# stop_node_soon N: stop node N in the background (a stream goes on meanwhile);
# wait_stopped waits for it.
stop_node_soon() {
    STOPPED_NODES+=("$1")
    "$INJECTOR_TEST_CLUSTER_CTL" stop-node "$INJECTOR_TEST_CLUSTER_DIR" "$1" &
    STOP_PID=$!
}

wait_stopped() {
    wait "$STOP_PID" || fail "the node did not stop"
}

restart_nodes() {
    local n
    [ -z "${STOP_PID:-}" ] || wait "$STOP_PID" 2>/dev/null || true
    for n in "${STOPPED_NODES[@]}"; do
        "$INJECTOR_TEST_CLUSTER_CTL" start-node "$INJECTOR_TEST_CLUSTER_DIR" "$n" >/dev/null ||
            echo "cluster node $n did not start again" >&2
    done
}
