# lib.sh - helpers for integration tests: start the real injectord on an ephemeral loopback
# port, wait for conditions (never fixed sleeps), read its counters, clean up by PID.
# Sourced by the test scripts; expects INJECTORD and INJECTOR_SEND in the environment.

set -euo pipefail

: "${INJECTORD:?INJECTORD must name the injectord binary}"
: "${INJECTOR_SEND:?INJECTOR_SEND must name the injector-send binary}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/injector-test.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
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
# HTTP API's port, ephemeral unless ARGS say otherwise) once it is ready.
start_injectord() {
    local name=$1
    shift
    "$INJECTORD" --stats-interval 0 --collector-id "test-$name" --http 127.0.0.1:0 "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    wait_for 10 grep -q ' ready: ' "$WORK/$name.err" ||
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

# consume ARGS...: injector-consume on this test's exchange.
consume() {
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$EXCHANGE" "$@"
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
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$EXCHANGE" "$@" \
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
