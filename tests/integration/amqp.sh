#!/usr/bin/env bash
# amqp.sh CASE - injectord publishing to the real (private) RabbitMQ broker, read back with
# injector-consume. One ctest entry per CASE.
source "$(dirname "$0")/lib.sh"
need_broker

# (a) 10,000 changes arrive, in version order, each exactly once.
case_ordered_delivery() {
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    burst_file 10000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d confirmed 10000
    consume --queue "$EXCHANGE-q" --count 10000 --timeout 30 >"$WORK/got.json" ||
        fail "consumer got $(wc -l <"$WORK/got.json") of 10000"
    [ "$(wc -l <"$WORK/got.json")" -eq 10000 ] || fail "not exactly 10000 messages"
    check_versions "$WORK/got.json" 10000
    [ "$(jq -r .version "$WORK/got.json" | sort -u | wc -l)" -eq 10000 ] || fail "duplicates"
    jq -s -e 'any(.[]; .outcome == "raise" and .collector == "test-d")' "$WORK/got.json" >/dev/null ||
        fail "message body is not the change JSON"
    stop_injectord d
    grep -q 'none left over' "$WORK/d.err" || fail "shutdown left changes behind"
}

# A broker that takes the connection and then refuses every change (here a queue at its
# length limit with overflow=reject-publish; on a cluster, a quorum queue without its
# majority): the publisher backs off instead of reconnecting in a tight loop, its log stays
# a few lines, and once the broker takes changes again every one is delivered.
case_broker_refuses_every_change() {
    local q="$EXCHANGE-q"
    "$INJECTOR_TEST_BROKER_CTL" ctl "$INJECTOR_TEST_BROKER_DIR" set_policy --apply-to queues \
        "full-$EXCHANGE" "^$q\$" '{"max-length":1,"overflow":"reject-publish"}' >/dev/null
    consume --queue "$q" --setup 2>/dev/null
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    burst_file 100 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d nacked 1
    # Ten seconds of refusals (a tight loop made about 200 connections a second): a stretch
    # of time is what is measured here, not a condition to wait for.
    local r0 r1 lines0 lines1
    fresh_stats d
    r0=$(counter d reconnects)
    lines0=$(grep -c 'amqp: ' "$WORK/d.err")
    sleep 10
    fresh_stats d
    r1=$(counter d reconnects)
    lines1=$(grep -c 'amqp: ' "$WORK/d.err")
    [ $((r1 - r0)) -le 15 ] || fail "$((r1 - r0)) reconnects in 10 s: a tight loop"
    [ $((lines1 - lines0)) -le 12 ] || fail "$((lines1 - lines0)) amqp log lines in 10 s"
    "$INJECTOR_TEST_BROKER_CTL" ctl "$INJECTOR_TEST_BROKER_DIR" clear_policy "full-$EXCHANGE" \
        >/dev/null
    wait_for 60 _stats_at_least d confirmed 100 ||
        fail "confirmed=$(counter d confirmed) once the broker took changes again"
    consume --queue "$q" --timeout 5 >"$WORK/got.json"
    jq -r .version "$WORK/got.json" | sort -nu | awk 'BEGIN{n=0} {n++} END{print n}' \
        >"$WORK/n"
    [ "$(cat "$WORK/n")" -eq 100 ] || fail "$(cat "$WORK/n") of 100 versions delivered"
    echo "refused: $((r1 - r0)) reconnects and $((lines1 - lines0)) log lines in 10 s"
    stop_injectord d
}

# fresh_stats NAME: ask for a stats line and wait until it is there.
fresh_stats() {
    local n
    n=$(grep -c 'stats' "$WORK/$1.err" || true)
    kill -USR1 "$(eval echo "\$PID_$1")"
    _more_stats() { [ "$(grep -c 'stats' "$WORK/$1.err")" -gt "$2" ]; }
    wait_for 5 _more_stats "$1" "$n" || fail "$1: no stats line"
}

# (b) The broker stops in the middle of a 50,000-alert stream and comes back: no UDP loss,
# every change delivered (duplicates only with their own version). Meanwhile the changes
# wait in the journal (memory holds only 2,000 of them: the rest is read back from the
# files), and once confirmed and in a snapshot its segments go.
case_broker_outage() {
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state" --outbox-size 2000 \
        --amqp-heartbeat 2 --snapshot-interval 1
    burst_file 50000 >"$WORK/all.txt"
    sed -n '1,20000p' "$WORK/all.txt" >"$WORK/p1.txt"
    sed -n '20001,40000p' "$WORK/all.txt" >"$WORK/p2.txt"
    sed -n '40001,50000p' "$WORK/all.txt" >"$WORK/p3.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/p1.txt"
    broker stop
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/p2.txt"
    wait_counter d datagrams 40000
    grep -q 'amqp: connection to .* lost' "$WORK/d.err" || fail "the outage was not logged"
    [ "$(counter d lag_changes)" -ge 20000 ] || fail "lag_changes=$(counter d lag_changes)"
    [ "$(counter d journal_cached)" -le 8000 ] || fail "memory holds $(counter d journal_cached)"
    broker start
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/p3.txt"
    wait_counter d datagrams 50000
    wait_for 120 _stats_at_least d confirmed 50000 ||
        fail "confirmed=$(counter d confirmed) after the broker came back"
    [ "$(counter d kernel_drops)" -eq 0 ] || fail "UDP loss during the outage"
    [ "$(counter d journal_lost)" -eq 0 ] || fail "journal_lost=$(counter d journal_lost)"
    wait_for 20 _journal_compacted || fail "journal not compacted: $(ls "$WORK/state/journal")"
    consume --queue "$EXCHANGE-q" --timeout 5 >"$WORK/got.json"
    check_versions "$WORK/got.json" 50000
    stop_injectord d
    echo "delivered $(wc -l <"$WORK/got.json") messages for 50000 changes;" \
        "$(grep 'stats (final)' "$WORK/d.err" | grep -o 'journal_changes=.*')"
}

_journal_compacted() {
    kill -USR1 "$PID_d"
    [ "$(counter d journal_segments)" -le 1 ] && [ "$(counter d lag_changes)" -eq 0 ]
}

# (c) SIGTERM while the broker is unreachable: the changes stay in the journal; a restart
# with the broker reachable publishes them first, and numbering goes on after them.
case_kept_on_shutdown_published_on_start() {
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    local dead="amqp://guest:guest@127.0.0.1:1/"
    start_injectord d --listen 127.0.0.1:0 --amqp "$dead" --amqp-exchange "$EXCHANGE" \
        --state-dir "$WORK/state"
    burst_file 2000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d datagrams 2000
    stop_injectord d
    grep -q '0 changes confirmed, 2000 unconfirmed stay in the journal' "$WORK/d.err" ||
        fail "shutdown: $(grep amqp "$WORK/d.err" | tail -n3)"
    ls "$WORK"/state/journal/seg-*.jnl >/dev/null || fail "no journal segment on disk"

    start_injectord e --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    grep -q 'journal: .* holds 2000 changes in 1 segment(s), versions 1-2000; the last run stopped cleanly; the broker had confirmed up to 0' "$WORK/e.err" ||
        fail "no journal line: $(grep journal "$WORK/e.err")"
    send e --host after --component restart
    wait_counter e confirmed 2001
    consume --queue "$EXCHANGE-q" --count 2001 --timeout 30 >"$WORK/got.json" ||
        fail "got $(wc -l <"$WORK/got.json") of 2001"
    check_versions "$WORK/got.json" 2001
    [ "$(jq -r 'select(.host == "after") | .version' "$WORK/got.json")" -eq 2001 ] ||
        fail "the new change was not numbered after the journaled ones"
    stop_injectord e
}

# (d) A crash (kill -9) while the broker is unreachable, and the journal's last record cut
# as a crash mid-write leaves it: recovered up to the last whole record, the table too.
case_journal_tail_recovered() {
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    start_injectord d --listen 127.0.0.1:0 --amqp "amqp://guest:guest@127.0.0.1:1/" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    burst_file 100 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d journal_synced 100
    kill -KILL "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    seg=$(ls "$WORK"/state/journal/seg-*.jnl)
    truncate -s -7 "$seg" # the last record loses its end, as in a crash mid-write
    start_injectord e --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    grep -q 'journal: seg-0*1.jnl ended in a partial record (a crash mid-write): cut [0-9]* bytes, kept 99 changes' "$WORK/e.err" ||
        fail "the cut was not reported: $(grep journal "$WORK/e.err")"
    [ "$(api e /v1/alerts | jq .count)" -eq 99 ] || fail "the table is not the 99 whole changes"
    wait_counter e confirmed 99
    consume --queue "$EXCHANGE-q" --count 99 --timeout 30 >"$WORK/got.json"
    check_versions "$WORK/got.json" 99
    kill -USR1 "$PID_e"
    wait_for 10 grep -q 'journal_torn=1' "$WORK/e.err" || fail "journal_torn not counted"
    stop_injectord e
}

# (e) Wrong credentials and an unreachable broker: clear errors, retries, UDP still served.
case_bad_broker_settings_are_errors_not_crashes() {
    local port
    port=$(sed -n 's#.*127.0.0.1:\([0-9]*\)/.*#\1#p' <<<"$INJECTOR_TEST_AMQP_URL")
    start_injectord d --listen 127.0.0.1:0 --amqp "amqp://guest:wrong@127.0.0.1:$port/" \
        --amqp-exchange "$EXCHANGE"
    wait_for 20 count_at_least 2 'cannot connect.*ACCESS_REFUSED.*retrying in' "$WORK/d.err" ||
        fail "no clear, repeated refusal: $(grep amqp "$WORK/d.err" | tail -n2)"
    grep -q 'wrong' "$WORK/d.err" && fail "the password appears in the log"
    send d --host still --component serving
    wait_counter d raise 1
    stop_injectord d

    start_injectord u --listen 127.0.0.1:0 --amqp "amqp://guest:guest@127.0.0.1:1/" \
        --amqp-exchange "$EXCHANGE"
    wait_for 20 grep -q 'cannot connect to amqp://guest@127.0.0.1:1/: TCP connect' "$WORK/u.err" ||
        fail "unreachable broker not reported"
    stop_injectord u

    rc=0
    "$INJECTOR_CONSUME" --amqp "amqp://guest:wrong@127.0.0.1:$port/" --timeout 1 2>"$WORK/c1" || rc=$?
    [ "$rc" -eq 1 ] && grep -q 'ACCESS_REFUSED' "$WORK/c1" || fail "consumer, bad password: rc=$rc $(cat "$WORK/c1")"
    rc=0
    "$INJECTOR_CONSUME" --amqp "amqp://guest:guest@127.0.0.1:1/" --timeout 1 2>"$WORK/c2" || rc=$?
    [ "$rc" -eq 1 ] && grep -q 'cannot connect to 127.0.0.1:1' "$WORK/c2" || fail "consumer, no broker: rc=$rc $(cat "$WORK/c2")"
}

# SIGHUP with a new exchange in the file: the sink reconnects there, keeps its journal; the
# changes before the reload are in the old exchange's queue, the ones after in the new.
case_reload_moves_the_target() {
    local e1="$EXCHANGE-one" e2="$EXCHANGE-two"
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$e1" --queue "$e1-q" --setup 2>/dev/null
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$e2" --queue "$e2-q" --setup 2>/dev/null
    conf() { printf '[amqp]\nurl = %s\nexchange = %s\n[state]\ndir = %s\n' \
        "$INJECTOR_TEST_AMQP_URL" "$1" "$WORK/state" >"$WORK/d.conf"; }
    conf "$e1"
    start_injectord d -c "$WORK/d.conf" --listen 127.0.0.1:0
    burst_file 100 >"$WORK/a.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/a.txt"
    wait_counter d confirmed 100
    conf "$e2"
    kill -HUP "$PID_d"
    wait_for 10 grep -q "reload: amqp-exchange $e1 -> $e2" "$WORK/d.err" ||
        fail "target not moved: $(grep reload "$WORK/d.err")"
    sed 's/<ProblemHost>n/<ProblemHost>m/' "$WORK/a.txt" >"$WORK/b.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/b.txt"
    wait_counter d confirmed 200
    grep -q "amqp: switching from .* to .*, exchange $e2" "$WORK/d.err" || fail "no switch logged"
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$e1" --queue "$e1-q" \
        --count 100 --timeout 10 >"$WORK/one.json" || fail "old exchange: $(wc -l <"$WORK/one.json")"
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQP_URL" --exchange "$e2" --queue "$e2-q" \
        --count 100 --timeout 10 >"$WORK/two.json" || fail "new exchange: $(wc -l <"$WORK/two.json")"
    check_versions "$WORK/one.json" 100
    [ "$(jq -r .version "$WORK/two.json" | sort -n | uniq | head -n1)" -eq 101 ] &&
        [ "$(jq -r .version "$WORK/two.json" | sort -n | uniq | tail -n1)" -eq 200 ] &&
        [ "$(jq -r .version "$WORK/two.json" | sort -n -u | wc -l)" -eq 100 ] ||
        fail "the new exchange does not hold versions 101..200"
    stop_injectord d
}

# Several URLs, the nodes of one cluster: node A (here a TCP relay to the broker) goes away
# in the middle of a stream; injectord moves to node B at once (under 2 s), publishes the
# unconfirmed changes again there, and says which node it uses and how often it moved.
case_failover_to_the_next_node() {
    command -v socat >/dev/null || skip "socat not installed"
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    local bport aport
    bport=$(sed -n 's#.*127.0.0.1:\([0-9]*\)/.*#\1#p' <<<"$INJECTOR_TEST_AMQP_URL")
    aport=$((20000 + RANDOM % 20000))
    # One connection, no fork: killing the relay cuts injectord's connection to "node A".
    socat "TCP-LISTEN:$aport,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$bport" &
    local relay=$!
    PIDS+=("$relay")
    _listening() { ss -ltn | grep -q "127.0.0.1:$aport "; }
    wait_for 10 _listening || fail "the relay does not listen"
    start_injectord d --listen 127.0.0.1:0 --amqp "amqp://guest:guest@127.0.0.1:$aport/" \
        --amqp "$INJECTOR_TEST_AMQP_URL" --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    wait_for 20 grep -q "amqp: connected to amqp://guest@127.0.0.1:$aport/ (node 1 of 2)" \
        "$WORK/d.err" || fail "not on node A: $(grep amqp "$WORK/d.err")"
    burst_file 20000 >"$WORK/all.txt"
    sed -n '1,10000p' "$WORK/all.txt" >"$WORK/p1.txt"
    sed -n '10001,20000p' "$WORK/all.txt" >"$WORK/p2.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/p1.txt"
    kill "$relay"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/p2.txt"
    wait_for 20 grep -q "amqp: connected to amqp://guest@127.0.0.1:$bport/ (node 2 of 2)" \
        "$WORK/d.err" || fail "no failover: $(grep amqp "$WORK/d.err" | tail -n3)"
    wait_for 60 _stats_at_least d confirmed 20000 || fail "confirmed=$(counter d confirmed)"
    [ "$(counter d failovers)" -eq 1 ] || fail "failovers=$(counter d failovers)"
    [ "$(counter d amqp_node)" = "127.0.0.1:$bport" ] || fail "amqp_node=$(counter d amqp_node)"
    # How long from the lost connection to the next node's.
    local lost up
    lost=$(grep -m1 'amqp: connection to .* lost' "$WORK/d.err" | cut -c1-23)
    up=$(grep "node 2 of 2" "$WORK/d.err" | head -n1 | cut -c1-23)
    local ms=$(( $(date -d "${up/T/ }" +%s%3N) - $(date -d "${lost/T/ }" +%s%3N) ))
    [ "$ms" -lt 2000 ] || fail "failover took $ms ms"
    consume --queue "$EXCHANGE-q" --timeout 5 >"$WORK/got.json"
    check_versions "$WORK/got.json" 20000
    echo "failover in $ms ms; $(wc -l <"$WORK/got.json") messages for 20000 changes"
    stop_injectord d
}

# amqps://: the broker's certificate is checked against the CA given; a client that does
# not trust it refuses to connect, with the reason.
case_tls() {
    [ -n "${INJECTOR_TEST_AMQPS_URL:-}" ] || skip "the test broker has no TLS listener"
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQPS_URL" --ca-file "$INJECTOR_TEST_AMQPS_CA" \
        --exchange "$EXCHANGE" --queue "$EXCHANGE-q" --setup 2>/dev/null ||
        fail "consumer cannot connect over TLS"
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQPS_URL" \
        --amqp-ca-file "$INJECTOR_TEST_AMQPS_CA" --amqp-exchange "$EXCHANGE"
    wait_for 20 grep -q 'amqp: connected to amqps://guest@localhost' "$WORK/d.err" ||
        fail "no TLS connection: $(grep amqp "$WORK/d.err" | tail -n2)"
    send d --host tls --component c
    wait_counter d confirmed 1
    "$INJECTOR_CONSUME" --amqp "$INJECTOR_TEST_AMQPS_URL" --ca-file "$INJECTOR_TEST_AMQPS_CA" \
        --exchange "$EXCHANGE" --queue "$EXCHANGE-q" --count 1 --timeout 10 >"$WORK/got.json" ||
        fail "nothing consumed over TLS"
    jq -e '.host == "tls"' "$WORK/got.json" >/dev/null || fail "wrong message"
    stop_injectord d
    grep -q 'none left over' "$WORK/d.err" || fail "shutdown line"
    # A CA that did not sign the broker's certificate: refused, and said so.
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other" \
        -keyout "$WORK/other.key" -out "$WORK/other.pem" >/dev/null 2>&1
    start_injectord e --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQPS_URL" \
        --amqp-ca-file "$WORK/other.pem" --amqp-exchange "$EXCHANGE"
    wait_for 20 grep -q 'cannot connect to amqps://.*retrying' "$WORK/e.err" ||
        fail "untrusted broker not refused: $(grep amqp "$WORK/e.err" | tail -n2)"
    stop_injectord e
}

"case_$1"
echo "PASS: $1"
