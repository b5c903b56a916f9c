#!/usr/bin/env bash
# scaleout.sh CASE - several injectord on one host: two processes share one UDP port
# (--reuseport 2), each with its own collector id, HTTP port and state directory, both publishing into
# one RabbitMQ exchange; one consumer keeps the merged view.
source "$(dirname "$0")/lib.sh"
need_broker
command -v socat >/dev/null || skip "socat is not installed (make deps installs it)"

# send_from SRC PORT FILE: each line of FILE as one datagram from address SRC, each from a
# new socket (a new source port), like a monitoring script that runs injector-send.
send_from() {
    local src=$1 port=$2 line
    while IFS= read -r line; do
        printf '%s' "$line" >"$WORK/dgram"
        socat -u "FILE:$WORK/dgram" "UDP4-SENDTO:127.0.0.1:$port,bind=$src" ||
            fail "socat from $src"
    done <"$3"
}

# alerts_for SRC: 40 Upd for hosts of this source, then Del of every other one.
alerts_for() {
    local tag=${1//./-} i
    for i in $(seq 1 40); do
        echo "<Alert><Action>Upd</Action><ProblemHost>$tag-h$i</ProblemHost><Component>c</Component><Severity>$((i % 5 + 1))</Severity></Alert>"
    done
    for i in $(seq 2 2 40); do
        echo "<Alert><Action>Del</Action><ProblemHost>$tag-h$i</ProblemHost><Component>c</Component></Alert>"
    done
}

case_reuseport_two_processes_one_view() {
    start_injectord a --listen 127.0.0.1:0 --reuseport 2 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state-a" --default-ttl 3600
    start_injectord b --listen "127.0.0.1:$PORT_a" --reuseport 2 --amqp \
        "$INJECTOR_TEST_AMQP_URL" --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state-b" \
        --default-ttl 3600
    [ "$PORT_b" = "$PORT_a" ] || fail "b listens on $PORT_b, not on a's port $PORT_a"
    grep -q 'shared by a group of 2 processes' "$WORK/b.err" || fail "b does not say it shares"
    start_consumer v --collector "http://127.0.0.1:$HTTP_a" --collector "http://127.0.0.1:$HTTP_b" \
        --view "$WORK/view.json" --view-interval 0.2
    wait_for 20 count_at_least 2 'in step at version' "$WORK/v.err" || fail "consumer not in step"

    local src
    for src in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4; do
        alerts_for "$src" >"$WORK/$src.txt"
        send_from "$src" "$PORT_a" "$WORK/$src.txt"
    done
    wait_for 20 _all_arrived 240 || fail "datagrams: a=$(counter a datagrams) b=$(counter b datagrams)"
    [ "$(counter a kernel_drops)" -eq 0 ] && [ "$(counter b kernel_drops)" -eq 0 ] ||
        fail "kernel drops"

    # Each source address reached one process only, whatever its source ports: its Dels met
    # its Upds, so each table holds 20 alerts per source it serves and no redundant clears.
    api a /v1/alerts | jq -r '.alerts[].host' | sed 's/-h[0-9]*$//' | sort -u >"$WORK/a.src"
    api b /v1/alerts | jq -r '.alerts[].host' | sed 's/-h[0-9]*$//' | sort -u >"$WORK/b.src"
    [ -s "$WORK/a.src" ] && [ -s "$WORK/b.src" ] ||
        fail "one process got everything: a=[$(tr '\n' ' ' <"$WORK/a.src")] b=[$(tr '\n' ' ' <"$WORK/b.src")]"
    [ -z "$(comm -12 "$WORK/a.src" "$WORK/b.src")" ] ||
        fail "a source was split between the processes: $(comm -12 "$WORK/a.src" "$WORK/b.src")"
    local na nb
    na=$(api a /v1/alerts | jq .count)
    nb=$(api b /v1/alerts | jq .count)
    [ "$na" -eq $((20 * $(wc -l <"$WORK/a.src"))) ] && [ "$nb" -eq $((20 * $(wc -l <"$WORK/b.src"))) ] ||
        fail "a holds $na, b holds $nb"
    [ "$(api a /v1/stats | jq .outcomes.redundant_clear)" -eq 0 ] &&
        [ "$(api b /v1/stats | jq .outcomes.redundant_clear)" -eq 0 ] ||
        fail "a Del reached a process that never saw its Upd"

    # One consumer, one view: both tables, keyed by collector.
    wait_view "$WORK/view.json" a b
    stop_consumer v
    echo "a serves $(tr '\n' ' ' <"$WORK/a.src")($na alerts), b serves $(tr '\n' ' ' <"$WORK/b.src")($nb alerts); view $(jq .count "$WORK/view.json")"
}

# IPv6: the steering program reads the last 32 bits of the source address. Loopback has
# only ::1, so this runs in a network namespace of its own with ::2..::4 added to its lo.
case_reuseport_ipv6_steering() {
    command -v unshare >/dev/null && command -v ip >/dev/null || skip "no unshare/ip here"
    unshare --net true 2>/dev/null || skip "cannot make a network namespace here (not root?)"
    unshare --net bash "$0" _ipv6_in_namespace || fail "in the namespace (see above)"
}

case__ipv6_in_namespace() {
    ip link set lo up
    ip -6 addr show dev lo | grep -q '::1/128' || skip "no IPv6 in a network namespace here"
    local src
    for src in ::2 ::3 ::4; do ip -6 addr add "$src/128" dev lo nodad; done
    start_injectord a --listen '[::1]:0' --reuseport 2
    start_injectord b --listen "[::1]:$PORT_a" --reuseport 2
    for src in ::1 ::2 ::3 ::4; do
        local i
        for i in $(seq 1 10); do
            printf '<Alert><Action>Upd</Action><ProblemHost>s%s-h%d</ProblemHost><Component>c</Component></Alert>' \
                "${src//:/}" "$i" >"$WORK/dgram"
            socat -u "FILE:$WORK/dgram" "UDP6-SENDTO:[::1]:$PORT_a,bind=[$src]" || fail "socat from $src"
        done
    done
    wait_for 20 _all_arrived 40 || fail "datagrams: a=$(counter a datagrams) b=$(counter b datagrams)"
    jq -r .host "$WORK/a.out" | sed 's/-h[0-9]*$//' | sort -u >"$WORK/a.src"
    jq -r .host "$WORK/b.out" | sed 's/-h[0-9]*$//' | sort -u >"$WORK/b.src"
    [ "$(wc -l <"$WORK/a.src")" -eq 2 ] && [ "$(wc -l <"$WORK/b.src")" -eq 2 ] &&
        [ -z "$(comm -12 "$WORK/a.src" "$WORK/b.src")" ] ||
        fail "IPv6 sources not split by address: a=[$(tr '\n' ' ' <"$WORK/a.src")] b=[$(tr '\n' ' ' <"$WORK/b.src")]"
    echo "IPv6: a serves $(tr '\n' ' ' <"$WORK/a.src")and b serves $(tr '\n' ' ' <"$WORK/b.src")"
}

_all_arrived() {
    kill -USR1 "$PID_a" "$PID_b"
    local a b
    a=$(counter a datagrams)
    b=$(counter b datagrams)
    [ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) -ge "$1" ]
}

"case_$1"
