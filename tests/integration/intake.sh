#!/usr/bin/env bash
# intake.sh CASE - the intake queue on the real injectord: bursts at full speed from
# injector-burst, order through the queue, the queue-memory cap, memory after a burst, and
# SIGTERM (and a second signal) with a backlog in the queue. A backlog is made, not hoped
# for: the daemon is stopped (SIGSTOP) while a burst fills its socket buffer.
source "$(dirname "$0")/lib.sh"
: "${INJECTOR_BURST:?INJECTOR_BURST must name the injector-burst binary}"

burst() {
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --timeout 120 "$@" 2>/dev/null
}

stat_of() {
    api d /v1/stats | jq -r ".$1"
}

kib() {
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$PID_d/status"
}

# 50 keys, each sent Upd then Del 1,000 times over from one socket at full speed (blocks of
# 100: Upd of keys 0-49, then Del of the same keys), numbered with Seq. A Del overtaking its
# Upd would leave the key active and count a redundant clear; any datagram overtaking
# another counts as seq_reordered.
case_upd_then_del_order_kept_at_full_speed() {
    start_injectord d --listen 127.0.0.1:0 --output /dev/null
    burst --count 100000 --hosts 50 --mix upd=50,del=50 --seq --json >"$WORK/r.json" ||
        fail "loss: $(cat "$WORK/r.json")"
    jq -e '.lost == 0 and .received == 100000 and .seq_gaps == 0' "$WORK/r.json" >/dev/null ||
        fail "report: $(cat "$WORK/r.json")"
    api d /v1/stats >"$WORK/s.json"
    jq -e '.outcomes.raise == 50000 and .outcomes.clear == 50000 and .outcomes.redundant_clear == 0
           and .outcomes.duplicate == 0 and .active_alerts == 0 and .seq_reordered == 0' \
        "$WORK/s.json" >/dev/null ||
        fail "out of order: $(jq -c '{outcomes, active_alerts, seq_reordered}' "$WORK/s.json")"
    [ "$(api d /v1/alerts | jq .count)" -eq 0 ] || fail "keys left active"
    stop_injectord d
}

# A burst far bigger than a tiny queue and socket buffer: the loss is exactly what the
# counters say (kernel drops, every datagram received or dropped), the queue stayed under
# its cap, and the collector goes on working.
case_tiny_queue_memory_loses_only_what_is_counted() {
    start_injectord d --listen 127.0.0.1:0 --output /dev/null --queue-memory 64K --rcvbuf 64K
    rc=0
    burst --count 200000 --json >"$WORK/r.json" || rc=$?
    [ "$rc" -eq 1 ] || fail "exit status $rc for a burst past a 64K queue: $(cat "$WORK/r.json")"
    jq -e '.lost > 0 and .lost == .kernel_drops and .received + .lost == .sent and .settled' \
        "$WORK/r.json" >/dev/null || fail "report: $(cat "$WORK/r.json")"
    api d /v1/stats >"$WORK/s.json"
    # the cap, plus one chunk (16K at this cap) and the last batch the thread held
    jq -e '.intake_memory_bytes <= 81920 and .intake_queued_peak_bytes <= 98304
           and .intake_queued == 0 and .intake_full_seconds > 0 and .intake_waiting == 0' \
        "$WORK/s.json" >/dev/null ||
        fail "queue: $(jq -c 'with_entries(select(.key | startswith("intake")))' "$WORK/s.json")"
    # still working: an alert after the storm is applied
    send d --host after --component c "after the storm"
    wait_for 10 eval '[ "$(api d "/v1/alerts?host=after" | jq .count)" -eq 1 ]' ||
        fail "the alert sent after the burst was not applied"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_d/healthz")" = 200 ] ||
        fail "/healthz"
    stop_injectord d
}

# Memory goes back after a burst: a backlog forms in the queue (the daemon stopped while
# 100,000 500-byte repeats of 1,000 alerts wait in a socket buffer big enough for them; once
# it goes on, the intake takes them off the socket far faster than the parser, which the
# fast path does not help here, processes them), and once it is drained the chunks are
# unmapped and RSS is back near where it started. The table stays small.
case_memory_returns_after_a_burst() {
    # ASan's quarantine would keep the parser's freed blocks resident: not ours to measure.
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
        start_injectord d --listen 127.0.0.1:0 --output /dev/null --rcvbuf 96M --fast-path false
    [ "$(api d /v1/stats | jq '.listeners[0].rcvbuf_clamped')" = false ] ||
        skip "the kernel will not grant a 96 MiB receive buffer (no CAP_NET_ADMIN, net.core.rmem_max)"
    rest=$(kib VmRSS)
    kill -STOP "$PID_d"
    burst --count 100000 --hosts 1000 --size 500 --no-stats >/dev/null
    kill -CONT "$PID_d"
    _drained() {
        local s
        s=$(api d /v1/stats) || return 1
        [ "$(jq '.datagrams + .kernel_drops' <<<"$s")" -ge 100000 ] &&
            [ "$(jq .intake_queued <<<"$s")" -eq 0 ]
    }
    wait_for 60 _drained || fail "not drained: $(api d /v1/stats)"
    [ "$(stat_of kernel_drops)" -eq 0 ] || fail "the socket buffer overflowed: $(stat_of kernel_drops)"
    peak_q=$(stat_of intake_queued_peak_bytes)
    [ "$peak_q" -ge $((40 << 20)) ] || fail "queue peak $peak_q bytes: no backlog formed"
    peak=$(kib VmHWM)
    [ "$peak" -ge $((rest + (32 << 10))) ] || fail "RSS peak ${peak} KiB, at rest ${rest} KiB"
    _rss_back() {
        [ "$(kib VmRSS)" -le $((rest + (16 << 10))) ]
    }
    wait_for 10 _rss_back || fail "RSS $(kib VmRSS) KiB 10 s after the burst (rest ${rest} KiB, peak ${peak} KiB)"
    # the intake's own chunk and the reserve of two
    [ "$(stat_of intake_memory_bytes)" -le $((3 << 20)) ] ||
        fail "queue memory still held: $(stat_of intake_memory_bytes)"
    stop_injectord d
}

# SIGTERM with a backlog in the queue and time enough: every datagram is processed before
# the exit.
case_sigterm_processes_the_queue() {
    start_injectord d --listen 127.0.0.1:0 --shutdown-grace 300
    burst --count 100000 --fresh --no-stats >/dev/null
    kill -TERM "$PID_d"
    rc=0
    wait "$PID_d" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    line=$(grep 'stats (final):' "$WORK/d.err") || fail "no final stats line"
    [[ $line == *" datagrams=100000 "* && $line == *" kernel_drops=0 "* &&
        $line == *" intake_queued=0 "* ]] || fail "not all processed: $line"
    [ "$(lines d '.outcome == "raise"')" -eq 100000 ] || fail "changes missing: $(lines d)"
}

# final_count KEY: KEY's value in the final stats line (0 when the line leaves it out).
final_count() {
    local v
    v=$(grep 'stats (final):' "$WORK/d.err" | tr ' ' '\n' | sed -n "s/^$1=//p")
    echo "${v:-0}"
}

# Every datagram sent is in the final stats line: processed (datagrams), taken in and not
# processed (intake_queued), left in the socket and dropped (shutdown_unread), or dropped
# by the kernel; and something was lost, and the warning says how much.
all_counted() {
    local sent=$1 got left unread drops
    grep -q 'stats (final):' "$WORK/d.err" || fail "no final stats line"
    got=$(final_count datagrams)
    left=$(final_count intake_queued)
    unread=$(final_count shutdown_unread)
    drops=$(final_count kernel_drops)
    [ $((got + left + unread + drops)) -eq "$sent" ] ||
        fail "datagrams=$got + intake_queued=$left + shutdown_unread=$unread + kernel_drops=$drops != $sent"
    [ $((left + unread)) -gt 0 ] || fail "nothing was left to lose: the test did not test it"
    grep -q "with $left datagrams taken in but not processed (intake_queued) and $unread still in the sockets" \
        "$WORK/d.err" || fail "no warning with the counts: $(grep -i 'lost' "$WORK/d.err")"
}

# SIGTERM after the grace: what the intake took in but the parser had not reached, and what
# was still in the socket, is counted (final stats line, and a warning with the numbers),
# and everything else was processed. The backlog: 60,000 datagrams wait in the socket of
# the stopped daemon when the SIGTERM comes; with no grace, it gives up on them at once.
case_sigterm_after_the_grace_counts_the_queue() {
    start_injectord d --listen 127.0.0.1:0 --output /dev/null --shutdown-grace 0
    kill -STOP "$PID_d"
    burst --count 60000 --fresh --no-stats >/dev/null
    kill -TERM "$PID_d"
    kill -CONT "$PID_d"
    rc=0
    wait "$PID_d" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    all_counted 60000
    grep -q "shutdown grace of 0 s over with " "$WORK/d.err" || fail "the grace is not named"
}

# A second signal stops at once, a backlog or not: the final stats line and the warning
# count what was left, as at the end of the grace. (It stopped with neither.)
case_second_signal_counts_what_is_left() {
    start_injectord d --listen 127.0.0.1:0 --output /dev/null --shutdown-grace 300
    kill -STOP "$PID_d"
    burst --count 60000 --fresh --no-stats >/dev/null
    kill -INT "$PID_d" # both wait for the CONT: the first starts the drain, the second
    kill -TERM "$PID_d" # comes in the same loop turn
    kill -CONT "$PID_d"
    rc=0
    wait "$PID_d" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    grep -q 'second .*: stopping now' "$WORK/d.err" || fail "no second signal seen"
    all_counted 60000
}

# noports: the kernel's count of UDP datagrams that found no socket to take them.
noports() {
    awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "NoPorts") c = i; h = 1 }
                        else print $c }' /proc/net/snmp
}

# A sender that goes on through a SIGTERM: every datagram it sent was processed, is counted
# as left over (intake_queued, shutdown_unread, kernel_drops), or was turned away by the
# kernel as from a closed port (UDP NoPorts). Before, what the intake took in after the
# final stats line, and what was in the socket when it closed, was lost without a count.
# In a network namespace of its own, so that NoPorts counts this test's datagrams only; the
# sender is bash writing to /dev/udp (a connected socket: a write refused by the ICMP for an
# earlier datagram sent nothing and is not counted). Two senders: one as fast as bash goes,
# past the 1 s grace (the stop gives up on a backlog; this failed 2 runs of 3 before, by 70
# datagrams), one paced (~2,000/s: the sockets are empty now and then, and the stop comes at
# such a moment).
case_stop_while_a_sender_goes_on() {
    in_own_netns stop_while_a_sender_goes_on
    stop_while_sending 200000 0 --shutdown-grace 1
}

case_stop_while_a_paced_sender_goes_on() {
    in_own_netns stop_while_a_paced_sender_goes_on
    stop_while_sending 12000 10 --shutdown-grace 30
}

# in_own_netns CASE: run CASE again in a network namespace of its own (loopback up), and
# exit with its status; in that namespace, return.
in_own_netns() {
    [ -z "${INJECTOR_TEST_NETNS:-}" ] || return 0
    unshare --net true 2>/dev/null || skip "cannot create a network namespace here"
    local rc=0
    INJECTOR_TEST_NETNS=1 unshare --net bash -c 'ip link set lo up && exec bash "$0" "$1"' \
        "$0" "$1" || rc=$?
    exit "$rc"
}

# stop_while_sending COUNT PAUSE_EVERY DAEMON_ARGS...: the sender writes COUNT datagrams,
# pausing 5 ms after every PAUSE_EVERY of them (0: never); SIGTERM once 5,000 arrived.
stop_while_sending() {
    local count=$1 every=$2
    shift 2
    start_injectord d --listen 127.0.0.1:0 --output /dev/null "$@"
    local before
    before=$(noports)
    mkfifo "$WORK/tick"
    (
        n=0
        exec 3>"/dev/udp/127.0.0.1/$PORT_d" 4<>"$WORK/tick"
        for ((i = 0; i < count; i++)); do
            printf '<Alert><Action>Upd</Action><ProblemHost>h%d</ProblemHost><Component>c</Component><Severity>3</Severity></Alert>' \
                "$i" >&3 2>/dev/null && n=$((n + 1))
            if [ "$every" -gt 0 ] && [ $((i % every)) -eq 0 ]; then
                read -r -t 0.005 -u 4 || true
            fi
        done
        echo "$n" >"$WORK/sent"
    ) &
    local sender=$!
    wait_counter d datagrams 5000
    kill -TERM "$PID_d"
    local rc=0
    wait "$PID_d" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    wait "$sender"
    local sent got left unread drops away
    sent=$(cat "$WORK/sent")
    away=$(($(noports) - before))
    got=$(final_count datagrams)
    left=$(final_count intake_queued)
    unread=$(final_count shutdown_unread)
    drops=$(final_count kernel_drops)
    echo "sent=$sent datagrams=$got intake_queued=$left shutdown_unread=$unread kernel_drops=$drops turned_away=$away"
    [ "$away" -gt 0 ] || fail "the sender did not go on past the stop: the test did not test it"
    [ $((got + left + unread + drops + away)) -eq "$sent" ] ||
        fail "datagrams=$got + intake_queued=$left + shutdown_unread=$unread + kernel_drops=$drops + turned away=$away != sent=$sent"
}

"case_$1"
echo "PASS: $1"
