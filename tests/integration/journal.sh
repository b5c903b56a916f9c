#!/usr/bin/env bash
# journal.sh CASE - nothing accepted is lost: injectord with a state directory under kill -9
# (the broker up, and down), a full disk, a cut or corrupt journal, a watchdog abort.
source "$(dirname "$0")/lib.sh"
: "${INJECTOR_BURST:?INJECTOR_BURST must name the injector-burst binary}"

# table_from FILE: the table the change lines in FILE add up to (each version once, in
# version order), in the form of table_of.
table_from() {
    jq -s -S 'unique_by(.version) | sort_by(.version) | reduce .[] as $c ({};
            ($c.collector + "\u0000" + $c.host + "\u0000" + $c.component) as $k |
            if $c.outcome == "raise" or $c.outcome == "update"
            then .[$k] = ($c | {collector, host, component, version, severity, msg})
            else del(.[$k]) end) | [.[]] | sort_by(.collector, .host, .component)' "$1"
}

# caught_up NAME: everything the journal holds is confirmed by the broker.
caught_up() {
    kill -USR1 "$(eval echo "\$PID_$1")"
    local lag
    lag=$(counter "$1" lag_changes)
    [ -n "$lag" ] && [ "$lag" -eq 0 ]
}

# stream NAME: a stream of raises, clears and refreshes at 10,000/s in the background (3,999
# hosts: a host's Upd/Del share of 70/30 moves from pass to pass); BURST is its pid.
stream() {
    local port
    port=$(eval echo "\$PORT_$1")
    "$INJECTOR_BURST" --target "127.0.0.1:$port" --no-stats --count 40000 --rate 10000 \
        --hosts 3999 --components 2 --mix upd=70,del=30 >/dev/null 2>&1 &
    BURST=$!
    PIDS+=("$BURST")
}

# crash NAME: kill -9 at a random moment of the stream (after 2,000 to 14,000 datagrams),
# having asked /v1/alerts for the version first (a version that was shown); sets SEEN.
crash() {
    local name=$1 at=$((2000 + RANDOM % 12000)) pid
    pid=$(eval echo "\$PID_$name")
    wait_counter "$name" datagrams "$at"
    SEEN=$(api "$name" /v1/alerts?host=none | jq .version)
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    kill "$BURST" 2>/dev/null || true
    wait "$BURST" 2>/dev/null || true
}

# rounds UP|DOWN: five runs on one state directory, each killed (-9) in a stream; after
# each restart the table is the journal's (replayed), every version shown is still there,
# the series goes on; with the broker up, what the consumer got adds up to the table.
rounds() {
    local mode=$1 epoch="" losses=()
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    [ "$mode" = down ] && broker stop
    : >"$WORK/got.json"
    for round in 1 2 3 4 5 6; do
        # The same collector (id, state directory) each time, as systemd would restart it.
        start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
            --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state" --snapshot-interval 1 \
            --amqp-heartbeat 2
        local e v
        e=$(api d /v1/alerts?host=none | jq -r .epoch)
        v=$(api d /v1/alerts?host=none | jq .version)
        if [ "$round" -gt 1 ]; then
            [ "$e" = "$epoch" ] || fail "round $round: a new series $e (was $epoch)"
            [ "$v" -ge "$SEEN" ] || fail "round $round: version $v, but $SEEN was shown"
            grep -q 'versions: the same series' "$WORK/d.err" || fail "no same-series line"
            local lost=0
            lost=$(sed -n 's/.*: \([0-9]*\) changes (never shown nor published) died with it.*/\1/p' \
                "$WORK/d.err")
            losses+=("${lost:-0}")
            if [ "$mode" = up ]; then
                wait_for 60 caught_up d || fail "round $round: the broker never caught up"
                consume --queue "$EXCHANGE-q" --timeout 2 >>"$WORK/got.json"
                table_from "$WORK/got.json" >"$WORK/have.json"
                table_of d >"$WORK/want.json"
                cmp -s "$WORK/want.json" "$WORK/have.json" || {
                    diff "$WORK/want.json" "$WORK/have.json" | head -n 10 >&2
                    fail "round $round: the consumer's changes do not add up to the table"
                }
            fi
        else
            epoch=$e
        fi
        [ "$round" -eq 6 ] && break
        stream d
        crash d
        # Kept for a look after a failure; gone, so the next start waits for its own
        # ' ready: ' line, not this run's.
        mv "$WORK/d.err" "$WORK/r$round.err"
    done
    if [ "$mode" = down ]; then
        broker start
        wait_for 120 caught_up d || fail "the broker never caught up after it came back"
        consume --queue "$EXCHANGE-q" --timeout 2 >>"$WORK/got.json"
        table_from "$WORK/got.json" >"$WORK/have.json"
        table_of d >"$WORK/want.json"
        cmp -s "$WORK/want.json" "$WORK/have.json" ||
            fail "the consumer's changes do not add up to the table"
    fi
    # Every version from 1 to the last, one series, repeats only as the same message.
    local last
    last=$(api d /v1/alerts?host=none | jq .version)
    check_versions "$WORK/got.json" "$last"
    [ "$(jq -r .epoch "$WORK/got.json" | sort -u | wc -l)" -eq 1 ] || fail "more than one series"
    local total dups
    total=$(wc -l <"$WORK/got.json")
    dups=$((total - last))
    stop_injectord d
    echo "broker $mode: 5 kill -9 in a stream; $last versions, all delivered ($dups redelivered);" \
        "changes lost per crash (numbered, never written nor shown): ${losses[*]}"
}

case_kill9_broker_up() {
    need_broker
    rounds up
}

case_kill9_broker_down() {
    need_broker
    rounds down
}

# umount_full: the test's small file system goes (also when the test fails).
umount_full() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    mountpoint -q "$WORK/full" 2>/dev/null && umount -l "$WORK/full"
    cleanup "$rc"
}

# The disk under the journal fills up (a 1 MiB tmpfs): the changes stay in memory, are
# published all the same (not durable, counted), no descriptor leaks, the log stays
# short; when room comes back they are written, and the consumer has every version.
case_disk_full() {
    need_broker
    mkdir -p "$WORK/full"
    mount -t tmpfs -o size=1m tmpfs "$WORK/full" 2>"$WORK/mount.err" ||
        skip "cannot mount a tmpfs here: $(cat "$WORK/mount.err")"
    trap umount_full EXIT
    consume --queue "$EXCHANGE-q" --setup 2>/dev/null
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/full/state" --snapshot-interval 1
    local fds0
    fds0=$(ls "/proc/$PID_d/fd" | wc -l)
    burst_file 20000 >"$WORK/all.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/all.txt"
    wait_counter d datagrams 20000
    wait_for 30 _stats_at_least d journal_write_errors 1 || fail "the full disk went unnoticed"
    wait_for 60 _stats_at_least d confirmed 20000 ||
        fail "not published while the disk is full: confirmed=$(counter d confirmed)"
    [ "$(counter d journal_lost)" -eq 0 ] || fail "journal_lost=$(counter d journal_lost)"
    [ "$(counter d not_durable)" -gt 0 ] || fail "not_durable not counted"
    [ "$(counter d journal_unwritten)" -gt 0 ] || fail "journal_unwritten=0 on a full disk"
    [ "$(api d /healthz)" = ok ] || fail "the daemon does not answer"
    # A few seconds of retries: one segment, no descriptor leak, a short log.
    wait_for 30 _stats_at_least d journal_write_errors 10 || fail "no retries"
    local fds1 lines
    fds1=$(ls "/proc/$PID_d/fd" | wc -l)
    [ "$fds1" -le $((fds0 + 4)) ] || fail "descriptors: $fds0 at start, $fds1 now"
    [ "$(ls "$WORK/full/state/journal" | grep -c '\.jnl$')" -eq 1 ] ||
        fail "segments: $(ls "$WORK/full/state/journal")"
    lines=$(grep -c 'journal: writing to .* failed: No space left on device' "$WORK/d.err")
    [ "$lines" -eq 1 ] || fail "$lines lines for one full disk"
    # Room again: what memory held is written. (The log says "writing again" only once no
    # write has failed for 30 s, a disk that comes and goes being one trouble: test_journal
    # checks that line.)
    mount -o remount,size=64m "$WORK/full"
    wait_for 30 _unwritten_zero || fail "never wrote again: journal_unwritten=$(counter d journal_unwritten)"
    consume --queue "$EXCHANGE-q" --timeout 2 >"$WORK/got.json"
    check_versions "$WORK/got.json" 20000
    echo "full disk: $(counter d journal_write_errors) failed writes, $(counter d not_durable)" \
        "changes published before they were on disk, 0 lost; descriptors $fds0 -> $fds1"
    stop_injectord d
    # And the journal on disk is whole: a restart has the table.
    start_injectord e --listen 127.0.0.1:0 --state-dir "$WORK/full/state"
    [ "$(api e /v1/alerts | jq .count)" -eq 20000 ] || fail "restart after the full disk"
    stop_injectord e
}

_unwritten_zero() {
    kill -USR1 "$PID_d"
    [ "$(counter d journal_unwritten)" -eq 0 ]
}

# The last segment cut mid-record (a crash mid-write): the whole records come back, the
# cut is said and counted, the collector serves.
case_truncated_last_segment() {
    start_injectord d --listen 127.0.0.1:0 --state-dir "$WORK/state"
    burst_file 100 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d journal_synced 100
    local epoch
    epoch=$(api d /v1/alerts?host=none | jq -r .epoch)
    kill -KILL "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    truncate -s -7 "$WORK"/state/journal/seg-*.jnl
    start_injectord e --listen 127.0.0.1:0 --state-dir "$WORK/state"
    grep -q 'journal: seg-0*1.jnl ended in a partial record (a crash mid-write): cut [0-9]* bytes, kept 99 changes' \
        "$WORK/e.err" || fail "the cut was not reported: $(grep journal "$WORK/e.err")"
    api e /v1/alerts | jq -e '.count == 99 and .version == 99' >/dev/null ||
        fail "table: $(api e /v1/alerts?host=none)"
    [ "$(api e /v1/alerts?host=none | jq -r .epoch)" = "$epoch" ] || fail "the series changed"
    [ "$(api e /v1/stats | jq .sink.journal_torn)" -eq 1 ] || fail "journal_torn not counted"
    send e --host after --component cut
    wait_for 10 lines_at_least e 1 || fail "does not serve"
    [ "$(jq .version "$WORK/e.out")" -eq 100 ] || fail "numbering: $(cat "$WORK/e.out")"
    stop_injectord e
}

# A corrupt record in the middle of a segment (one of several): the good part before it
# and the later segments are kept, the rest is set aside (file, log line, counter), a new
# series starts (consumers resynchronise: they may hold what the table lost), and the
# collector serves.
case_corrupt_middle_segment() {
    start_injectord d --listen 127.0.0.1:0 --state-dir "$WORK/state" --journal-segment 64K
    burst_file 6000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d journal_synced 6000
    local epoch
    epoch=$(api d /v1/alerts?host=none | jq -r .epoch)
    kill -KILL "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    local segs seg size
    segs=$(ls "$WORK"/state/journal/seg-*.jnl | wc -l)
    [ "$segs" -ge 3 ] || fail "only $segs segments"
    seg=$(ls "$WORK"/state/journal/seg-*.jnl | sed -n 2p)
    size=$(stat -c %s "$seg")
    printf 'XXXX' | dd of="$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
    start_injectord e --listen 127.0.0.1:0 --state-dir "$WORK/state"
    grep -q "journal: $(basename "$seg"): .* at byte [0-9]*; kept the [0-9]* changes before it .* set aside the rest" \
        "$WORK/e.err" || fail "not reported: $(grep journal "$WORK/e.err")"
    ls "$seg".corrupt-* >/dev/null || fail "nothing set aside"
    grep -q 'versions: the journal had damaged records (set aside).*a new series starts' \
        "$WORK/e.err" || fail "no new series"
    [ "$(api e /v1/alerts?host=none | jq -r .epoch)" != "$epoch" ] || fail "the same series"
    local n
    n=$(api e /v1/alerts | jq .count)
    # A segment holds whole writes (a loop iteration's changes, 1,024 at most from the intake
    # queue): the damage costs the rest of one segment, not more.
    [ "$n" -lt 6000 ] && [ "$n" -gt 4500 ] || fail "$n alerts kept"
    api e /v1/alerts?host=n6000 | jq -e '.count == 1' >/dev/null || fail "later segments lost"
    [ "$(api e /v1/stats | jq .sink.journal_corrupt)" -eq 1 ] || fail "journal_corrupt"
    send e --host after --component corrupt
    wait_for 10 lines_at_least e 1 || fail "does not serve"
    [ "$(jq .version "$WORK/e.out")" -eq 6001 ] || fail "numbering: $(cat "$WORK/e.out")"
    echo "corrupt record: $n of 6000 alerts kept, the rest set aside as $(basename "$seg".corrupt-*)"
    stop_injectord e
}

# What systemd's watchdog does to a wedged collector (SIGABRT), before its first periodic
# snapshot: the restart has the whole table, in the same series, numbering on.
case_watchdog_abort_keeps_the_table() {
    start_injectord d --listen 127.0.0.1:0 --state-dir "$WORK/state"
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --count 5000 --fresh --rate 20000 --json >"$WORK/b.json" || fail "burst lost alerts"
    api d /v1/alerts >"$WORK/before.json"
    [ "$(jq .count "$WORK/before.json")" -eq 5000 ] || fail "not 5000 active"
    [ ! -e "$WORK/state/snapshot.json" ] || fail "a snapshot already: the test means before it"
    kill -ABRT "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    start_injectord e --listen 127.0.0.1:0 --state-dir "$WORK/state"
    api e /v1/alerts >"$WORK/after.json"
    jq -S '.alerts | sort_by(.host)' "$WORK/before.json" >"$WORK/b"
    jq -S '.alerts | sort_by(.host)' "$WORK/after.json" >"$WORK/a"
    cmp -s "$WORK/b" "$WORK/a" || fail "the table after the abort differs"
    jq -e --slurpfile b "$WORK/before.json" '.version == $b[0].version and .epoch == $b[0].epoch' \
        "$WORK/after.json" >/dev/null || fail "not the same series and version"
    send e --host b1-n0 --component c0 --del
    wait_for 10 lines_at_least e 1 || fail "no clear after the restart"
    [ "$(lines e '.outcome == "clear" and .version == 5001')" -eq 1 ] ||
        fail "the clear of a restored alert: $(cat "$WORK/e.out")"
    stop_injectord e
}

"case_$1"
echo "PASS: $1"
