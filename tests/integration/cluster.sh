#!/usr/bin/env bash
# cluster.sh CASE - collectors and consumers on a real three-node RabbitMQ cluster
# (tools/test-cluster.sh, started by tools/test.sh while the other tests run), losing the
# node they use: they move to another node, and no change is lost or applied twice. A case
# that stops a node starts it again before it ends, so the next starts from a whole cluster.
source "$(dirname "$0")/lib.sh"
need_cluster

# stopped_at N: when node N last began to stop, by its own log, in seconds since the epoch.
stopped_at() {
    local log=CLUSTER_LOG$1
    date -d "$(grep -E 'SIGTERM received|RabbitMQ is asked to stop' "${!log}" | tail -n1 |
        cut -d' ' -f1,2)" +%s.%N
}

# port_of URL: the port in amqp://user:pass@host:PORT/
port_of() {
    sed 's#.*:\([0-9]*\)/$#\1#' <<<"$1"
}

# (a) A view on node 1 reading a quorum queue, a collector publishing to node 2, a stream of
# changes, and node 1 stopped in the middle: the consumer says which node it lost and why,
# moves to the next node at once, goes on from where it was (the quorum queue kept every
# change: no resync), applies every version once and in order, and ends equal to the table.
case_consumer_failover() {
    start_injectord d --listen 127.0.0.1:0 --amqp "$CLUSTER_URL2" --amqp-exchange "$EXCHANGE" \
        --state-dir "$WORK/state"
    start_consumer v --amqp "$CLUSTER_URL1" --amqp "$CLUSTER_URL2" --amqp "$CLUSTER_URL3" \
        --queue "$EXCHANGE-q" --queue-type quorum --collector "http://127.0.0.1:$HTTP_d" \
        --view "$WORK/view.json" --view-interval 0.2
    wait_for 30 grep -qs 'in step at version 0' "$WORK/v.err" || fail "consumer never synced"
    grep -q "consuming from node 1 (127.0.0.1:$(port_of "$CLUSTER_URL1"))" "$WORK/v.err" ||
        fail "the consumer does not say it uses node 1: $(cat "$WORK/v.err")"
    random_stream 6000 "${INJECTOR_TEST_SEED:-7}" >"$WORK/stream.txt"
    # How long the consumer is away: from the loss it reports to its reconnect.
    (
        wait_for 120 grep -qs 'lost the broker' "$WORK/v.err" && date +%s.%N
        wait_for 120 grep -q 'connected to the broker again' "$WORK/v.err" && date +%s.%N
    ) >"$WORK/away" &
    local watcher=$!
    send_chunks d "$WORK/stream.txt" 500 3 stop_node_soon 1
    wait_stopped
    wait "$watcher" || true
    wait_for 120 published d || fail "the broker did not confirm every change"
    wait_view "$WORK/view.json" d
    stop_consumer v
    node start 1
    # The reason is the broker's close (320 CONNECTION_FORCED) or, when the node's socket went
    # first, the socket error of the call that met it (an ack, a wait): both name the cause.
    grep -Eq "lost the broker at node 1 \(127.0.0.1:$(port_of "$CLUSTER_URL1")\): (broker closed the connection: 320 CONNECTION_FORCED|[a-z_ ]*: a socket error occurred)" \
        "$WORK/v.err" || fail "the loss is not said with its node and reason: $(cat "$WORK/v.err")"
    grep -q "trying node 2 (127.0.0.1:$(port_of "$CLUSTER_URL2")) now" "$WORK/v.err" ||
        fail "the consumer did not move to node 2 at once: $(cat "$WORK/v.err")"
    grep -q 'connected to the broker again at node [23]' "$WORK/v.err" ||
        fail "the consumer did not reconnect: $(cat "$WORK/v.err")"
    grep -q "quorum queue $EXCHANGE-q kept the changes" "$WORK/v.err" ||
        fail "the view did not go on from where it was: $(cat "$WORK/v.err")"
    # Every version once, in order, none made up by a resync, none missing.
    local n
    n=$(api d /v1/alerts | jq .version)
    [ "$n" -gt 3000 ] || fail "only $n changes: the stream tests too little"
    [ "$(jq -c 'select(.resync)' "$WORK/v.out" | wc -l)" -eq 0 ] ||
        fail "the view resynchronised: $(jq -c 'select(.resync)' "$WORK/v.out" | head -n 3)"
    jq -r .version "$WORK/v.out" >"$WORK/applied"
    seq 1 "$n" | cmp -s - "$WORK/applied" ||
        fail "the applied versions are not 1..$n once each: $(seq 1 "$n" | diff - "$WORK/applied" | head -n 5)"
    grep -q 'gaps=0 resyncs=0 ' "$WORK/v.err" || fail "gaps or resyncs: $(tail -n1 "$WORK/v.err")"
    replay "$WORK/v.out" >"$WORK/replayed.json"
    cmp -s "$WORK/replayed.json" "$WORK/want.json" ||
        fail "the change lines do not add up to the table"
    grep -E 'lost|trying|connected|consuming|kept' "$WORK/v.err"
    local away
    away=$(awk 'NR == 1 {t0 = $1} NR == 2 {printf "%.2f", $1 - t0}' "$WORK/away")
    echo "node 1 stopped mid-stream: the consumer was away ${away:-?} s, applied versions 1..$n once each; $(tail -n1 "$WORK/v.err")"
}

# new_alerts N PREFIX: N Upd for new hosts PREFIX1..PREFIXN (each one a raise).
new_alerts() {
    awk -v n="$1" -v p="$2" 'BEGIN { for (i = 1; i <= n; i++)
        printf "<Alert><Action>Upd</Action><ProblemHost>%s%d</ProblemHost><Component>c</Component><Severity>3</Severity></Alert>\n", p, i }'
}

# watch_connection NAME PORT: every 20 ms, "time up": whether the collector NAME has a
# connection to PORT (the loss is seen within 20 ms or so).
watch_connection() {
    local up
    while :; do
        up=0
        _connected "$1" "$2" && up=1
        echo "$(date +%s.%N) $up"
        sleep 0.02
    done
}

# watch_confirmed NAME: as often as the collector answers, "time confirmed": how many
# changes the broker has confirmed to it, stamped when the answer came (so a confirm is
# never seen earlier than it happened).
watch_confirmed() {
    local port c
    port=$(eval echo "\$HTTP_$1")
    while :; do
        c=$(curl -s --max-time 5 "http://127.0.0.1:$port/v1/stats" |
            grep -o '"confirmed":[0-9]*' | head -n1 | cut -d: -f2)
        [ -z "$c" ] || echo "$(date +%s.%N) $c"
        sleep 0.02
    done
}

# tick NAME: an update of one alert every 50 ms, so changes are always on their way while
# the node goes (the failover is measured on them).
tick() {
    local i=0
    while :; do
        i=$((i + 1))
        send "$1" --host tick --component c --severity 5 "tick $i" || true
        sleep 0.05
    done
}

# (b) The collector's failover (injectord --amqp URL1 --amqp URL2 --amqp URL3): it publishes
# to node 1; 20,000 new alerts, node 1 stopped during them, then 20,000 more. A consumer on
# node 3 (quorum queue) sees every version exactly once after dropping redeliveries, none
# missing; from the loss of the connection to node 1 to the first confirm on the next node
# takes under 2 s, from the node's stop (its log says when) to the first confirm after the
# loss.
case_collector_failover() {
    command -v ss >/dev/null || fail "ss (iproute2) is needed to see the collector's connection"
    consume --amqp "$CLUSTER_URL3" --queue "$EXCHANGE-q" --queue-type quorum --setup \
        2>"$WORK/setup.err" || fail "setup: $(cat "$WORK/setup.err")"
    start_injectord d --listen 127.0.0.1:0 --amqp "$CLUSTER_URL1" --amqp "$CLUSTER_URL2" \
        --amqp "$CLUSTER_URL3" --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    start_consumer c --amqp "$CLUSTER_URL3" --queue "$EXCHANGE-q" --queue-type quorum
    local p1
    p1=$(port_of "$CLUSTER_URL1")
    wait_for 20 _connected d "$p1" || fail "the collector is not connected to node 1, the first of its --amqp URLs ($(grep 'amqp: ' "$WORK/d.err" | head -n 2))"
    watch_connection d "$p1" >"$WORK/connection" &
    local w1=$!
    watch_confirmed d >"$WORK/confirmed" &
    local w2=$!
    PIDS+=("$w1" "$w2")
    new_alerts 20000 a >"$WORK/s1.txt"
    new_alerts 20000 b >"$WORK/s2.txt"
    tick d &
    local ticker=$!
    PIDS+=("$ticker")
    send_chunks d "$WORK/s1.txt" 1000 2 stop_node_soon 1
    wait_stopped
    # Measured once a confirm has come after the loss (the ticks keep changes coming).
    wait_for 60 _confirmed_after_loss ||
        fail "no confirm after the connection to node 1 went: $(tail -n 3 "$WORK/confirmed")"
    kill "$ticker" "$w1" "$w2" 2>/dev/null || true
    wait_for 120 published d || fail "the broker did not confirm every change of the first stream"
    send_chunks d "$WORK/s2.txt" 1000
    wait_for 120 published d || fail "the broker did not confirm every change of the second stream"
    local n
    n=$(api d /v1/alerts | jq .version)
    [ "$n" -ge 40000 ] || fail "version $n after 40,000 new alerts"
    wait_for 120 _distinct_at_least "$WORK/c.out" "$n" ||
        fail "the consumer has $(jq -r .version "$WORK/c.out" | sort -u | wc -l) of $n versions"
    stop_consumer c
    node start 1
    check_versions "$WORK/c.out" "$n"
    local lost confirm stop times
    read -r lost confirm < <(_failover_times)
    stop=$(stopped_at 1)
    times=$(awk -v s="$stop" -v l="$lost" -v c="$confirm" 'BEGIN {
        printf "node 1 stopping -> connection gone %.2f s -> first confirm on the next node %.2f s: %.2f s", l - s, c - l, c - s }')
    awk -v s="$stop" -v c="$confirm" 'BEGIN { exit !(c - s < 2) }' || fail "failover too slow: $times"
    grep -E 'amqp: .*(lost|connected|node)' "$WORK/d.err" | tail -n 4
    echo "$n versions, each once at the consumer on node 3 ($(($(wc -l <"$WORK/c.out") - n)) redeliveries dropped); $times"
}

# _connected NAME PORT: a connection to PORT is up. Only the collector NAME connects to that
# node's port in the case (ss -p would tell whose it is, but reads every process's files:
# 200 ms a look on a busy machine, too slow to time a failover).
_connected() {
    [ -n "$(ss -Htn state established "( dport = :$2 )")" ]
}

# _failover_times: "LOST CONFIRM": when the connection to node 1 was first seen gone (after
# it was seen up), and when a higher confirmed count than the first one read after that
# came back (an upper bound: that first count may already hold a confirm of the next node).
_failover_times() {
    local lost
    lost=$(awk '$2 == 1 { seen = 1 } seen && $2 == 0 { print $1; exit }' "$WORK/connection")
    [ -n "$lost" ] || return 0
    awk -v lost="$lost" '$1 < lost { next }
         base == "" { base = $2; next }
         $2 > base { print lost, $1; exit }' "$WORK/confirmed"
}

_confirmed_after_loss() {
    [ -n "$(_failover_times)" ]
}

_distinct_at_least() {
    [ "$(wc -l <"$1")" -ge "$2" ] &&
        [ "$(grep -o '"version":[0-9]*' "$1" | sort -u | wc -l)" -ge "$2" ]
}

"case_$1"
