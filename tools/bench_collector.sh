#!/usr/bin/env bash
# The collector under load, on loopback (make bench runs this after the micro-benchmarks):
#   drain rate    collector vs. a bare recvmmsg loop draining the same full socket
#   sustained     one full-speed sender for ~10 s into the default collector: loss
#   capacity      largest zero-loss burst at SO_RCVBUF 208 KiB, 4 MiB, 32 MiB; and one
#                 1,000,000-alert burst of new alerts at the default
#   snapshot      kernel drops added by 1,000,000-alert snapshots under load
#   memory        RSS per active alert at 1,000,000 active alerts
#   reuseport     the same queue drained by one collector vs. two sharing the port
#   journal       drain rate of new alerts (every datagram a change) without and with
#                 --state-dir (the journal on disk); a 1,000,000 new-alert burst with it
# Usage: tools/bench_collector.sh BUILD_DIR   (a release build)
#        BENCH_ONLY="drain http" tools/bench_collector.sh ... runs only those sections
#        (drain sustained capacity http snapshot memory reuseport journal)
set -euo pipefail
build=$(cd "${1:?usage: bench_collector.sh BUILD_DIR}" && pwd)
N=${BENCH_DRAIN_N:-200000}
ROUNDS=${BENCH_ROUNDS:-3}
RCV=$((512 * 1024 * 1024))
WORK=$(mktemp -d /tmp/injector-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

port() { echo $((20000 + RANDOM % 30000)); }

want() {
    [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]
}

# start_collector ARGS...: a release injectord on fresh loopback ports; sets PID UP HP.
start_collector() {
    UP=$(port)
    HP=$((UP + 1))
    "$build/injectord" --listen "127.0.0.1:$UP" --http "127.0.0.1:$HP" --stats-interval 0 \
        --output /dev/null "$@" 2>"$WORK/d.err" &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 1 500); do
        grep -q ' ready: ' "$WORK/d.err" 2>/dev/null && return 0
        sleep 0.01
    done
    echo "bench: injectord did not start: $(cat "$WORK/d.err")" >&2
    exit 1
}

stop_collector() {
    kill -TERM "$PID"
    wait "$PID" || true
}

stat() {
    curl -s "http://127.0.0.1:$HP/v1/stats" | jq -r ".$1"
}

# Loss is a result here, not an error: injector-burst's exit status 1 is not fatal.
burst() {
    "$build/injector-burst" --target "127.0.0.1:$UP" --stats "http://127.0.0.1:$HP/v1/stats" \
        "$@" || true
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# datagrams_at HP: set DG to the collector's datagrams counter, with bash builtins only: a
# curl | jq pair every few ms takes a core from the collector being timed (2 cores here).
datagrams_at() {
    local body=
    DG=0
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET /v1/stats HTTP/1.0\r\nHost: b\r\n\r\n' >&3
    IFS= read -r -d '' -u 3 body || true
    exec 3<&-
    if [[ $body =~ \"datagrams\":([0-9]+) ]]; then DG=${BASH_REMATCH[1]}; fi
}

# pause: 10 ms without starting a process (a read that times out on a fifo of our own).
pause() {
    [ -p "$WORK/tick" ] || mkfifo "$WORK/tick"
    read -r -t 0.01 <>"$WORK/tick" || true
}

# Seconds for the collector to drain N queued datagrams (changes: % of new alerts).
drain_collector() {
    start_collector --rcvbuf "$RCV"
    kill -STOP "$PID"
    burst --no-stats --count "$N" --changes "$1" >/dev/null
    local t0 t1
    t0=$EPOCHREALTIME
    kill -CONT "$PID"
    local deadline=$((SECONDS + 60))
    while datagrams_at "$HP" && [ "$DG" -lt "$N" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "bench: collector never drained" >&2; exit 1; }
        pause
    done
    t1=$EPOCHREALTIME
    [ "$(stat kernel_drops)" -eq 0 ] || echo "bench: the queue overflowed; raise RCV" >&2
    stop_collector
    echo "$t1 - $t0" | bc -l
}

drain_bare() {
    local p
    p=$(port)
    "$build/bench-recvmmsg" "$p" "$RCV" "$N" >"$WORK/bare.out" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 500); do grep -q ready "$WORK/bare.out" 2>/dev/null && break; sleep 0.01; done
    "$build/injector-burst" --target "127.0.0.1:$p" --no-stats --count "$N" --changes "$1" >/dev/null
    kill -USR1 "$pid"
    wait "$pid"
    tail -n1 "$WORK/bare.out"
}

if want drain; then
    echo "== drain rate: $N queued datagrams, collector vs. bare recvmmsg loop, medians of $ROUNDS"
    printf '%-22s %14s %14s %8s\n' "stream" "bare/s" "collector/s" "ratio"
    for changes in 0 10; do
        : >"$WORK/b"
        : >"$WORK/c"
        for _ in $(seq 1 "$ROUNDS"); do
            drain_bare "$changes" >>"$WORK/b"
            drain_collector "$changes" >>"$WORK/c"
        done
        b=$(median <"$WORK/b")
        c=$(median <"$WORK/c")
        printf '%-22s %14.0f %14.0f %8.2f\n' "$([ "$changes" = 0 ] && echo all duplicates || echo "10% changes")" \
            "$(echo "$N / $b" | bc -l)" "$(echo "$N / $c" | bc -l)" "$(echo "$b / $c" | bc -l)"
    done
    echo "(ratio = collector drain rate / bare drain rate; target >= 0.50)"
    echo
fi
if want sustained; then
    echo "== sustained: one full-speed sender, 2,000,000 alerts over 10,000 hosts, default settings"
    start_collector
    burst --count 2000000 --hosts 10000 | tail -n1
    stop_collector
    echo
fi
if want capacity; then
    echo "== burst capacity: largest zero-loss burst (refreshing alerts), by receive buffer"
    for rb in 208K 4M 32M; do
        start_collector --rcvbuf "$rb"
        echo "$rb: $(burst --find-capacity --max-count 2000000 | tail -n1)"
        stop_collector
    done
    echo "one burst of 1,000,000 new alerts (all raises) at full speed, default settings:"
    start_collector
    burst --count 1000000 --fresh | tail -n1
    stop_collector
    echo
fi
if want http; then
    echo "== HTTP under load: 600,000 alerts at 200,000/s into a 100,000-alert table, with and"
    echo "   without the whole table (/v1/alerts, ~20 MB of JSON) fetched twice a second meanwhile"
    start_collector
    burst --count 100000 --rate 100000 >/dev/null
    printf '%-26s %10s %12s %10s\n' "" "sent" "kernel_drops" "fetches"
    for with in no yes; do
        fetches=0
        if [ "$with" = yes ]; then
            ( while :; do curl -s -o /dev/null "http://127.0.0.1:$HP/v1/alerts"; echo x; sleep 0.5; done ) \
                >"$WORK/fetches" &
            loop=$!
            PIDS+=("$loop")
        fi
        burst --count 600000 --rate 200000 --hosts 100000 --json >"$WORK/h.json"
        if [ "$with" = yes ]; then
            kill "$loop" 2>/dev/null || true
            wait "$loop" 2>/dev/null || true
            fetches=$(wc -l <"$WORK/fetches")
        fi
        printf '%-26s %10s %12s %10s\n' "$([ "$with" = yes ] && echo 'with /v1/alerts fetches' || echo 'without HTTP')" \
            "$(jq .sent "$WORK/h.json")" "$(jq .kernel_drops "$WORK/h.json")" "$fetches"
    done
    stop_collector
    echo
fi
if want snapshot; then
    echo "== snapshot under load: 1,000,000 active alerts, then 900,000 refreshes at 150,000/s,"
    echo "   with a snapshot (forked writer) every 2 s and without snapshots"
    printf '%-26s %10s %12s %16s\n' "" "sent" "kernel_drops" "snapshot alerts"
    for with in no yes; do
        if [ "$with" = yes ]; then
            start_collector --snapshot "$WORK/snap.json" --snapshot-interval 2
        else
            start_collector
        fi
        burst --count 1000000 --rate 150000 >/dev/null
        burst --count 900000 --hosts 1000000 --rate 150000 --json >"$WORK/s.json"
        n=-
        # the periodic snapshot written while the refreshes ran (read before exit rewrites it)
        [ "$with" = yes ] && n=$(head -n1 "$WORK/snap.json" | jq .count)
        printf '%-26s %10s %12s %16s\n' "$([ "$with" = yes ] && echo 'with snapshots' || echo 'without snapshots')" \
            "$(jq .sent "$WORK/s.json")" "$(jq .kernel_drops "$WORK/s.json")" "$n"
        stop_collector
    done
    echo
fi
if want memory; then
    echo "== memory: RSS per active alert at 1,000,000 active alerts"
    start_collector
    rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")
    # Paced, so every alert arrives (the question is memory, not speed).
    burst --count 1000000 --rate 150000 >/dev/null
    active=$(stat active_alerts)
    rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")
    echo "active alerts: $active; RSS $((rss0 / 1024)) MiB -> $((rss1 / 1024)) MiB:" \
        "$(( (rss1 - rss0) * 1024 / (active > 0 ? active : 1) )) bytes per alert (target <= 400)"
    stop_collector
    echo
fi
# Seconds for K collectors sharing one port to drain N queued datagrams, half of them sent
# from 127.0.0.1 and half from 127.0.0.2 (10% new alerts): with K=2 each address falls to
# its own process (--reuseport 2), with K=1 one process takes both.
drain_group() {
    local k=$1 up i pids=() hps=() t0 t1 total
    up=$(port)
    for i in $(seq 1 "$k"); do
        local hp=$((up + i))
        "$build/injectord" --listen "127.0.0.1:$up" --http "127.0.0.1:$hp" --stats-interval 0 \
            --output /dev/null --rcvbuf "$RCV" --collector-id "g$i" \
            $([ "$k" -gt 1 ] && echo "--reuseport $k") 2>"$WORK/g$i.err" &
        pids+=("$!")
        PIDS+=("$!")
        hps+=("$hp")
        for _ in $(seq 1 500); do grep -q ' ready: ' "$WORK/g$i.err" && break; sleep 0.01; done
    done
    kill -STOP "${pids[@]}"
    for src in 127.0.0.1 127.0.0.2; do
        "$build/injector-burst" --target "127.0.0.1:$up" --source "$src" --no-stats \
            --count $((N / 2)) --changes 10 >/dev/null
    done
    t0=$EPOCHREALTIME
    kill -CONT "${pids[@]}"
    local deadline=$((SECONDS + 60))
    while :; do
        total=0
        for hp in "${hps[@]}"; do
            datagrams_at "$hp"
            total=$((total + DG))
        done
        [ "$total" -ge $((N / 2 * 2)) ] && break
        [ "$SECONDS" -lt "$deadline" ] || { echo "bench: group never drained" >&2; exit 1; }
        pause
    done
    t1=$EPOCHREALTIME
    for hp in "${hps[@]}"; do
        [ "$(curl -s "http://127.0.0.1:$hp/v1/stats" | jq .kernel_drops)" -eq 0 ] ||
            echo "bench: a queue overflowed; raise RCV" >&2
    done
    kill -TERM "${pids[@]}"
    wait "${pids[@]}" || true
    echo "$t1 - $t0" | bc -l
}

if want reuseport; then
    echo "== reuseport: $N queued datagrams from two sender addresses, one collector vs. two"
    echo "   sharing the port (--reuseport 2), medians of $ROUNDS (2 cores here)"
    : >"$WORK/g1"
    : >"$WORK/g2"
    for _ in $(seq 1 "$ROUNDS"); do
        drain_group 1 >>"$WORK/g1"
        drain_group 2 >>"$WORK/g2"
    done
    one=$(median <"$WORK/g1")
    two=$(median <"$WORK/g2")
    printf '%-22s %14s\n' "collectors" "drained/s"
    printf '%-22s %14.0f\n' "1" "$(echo "$N / $one" | bc -l)"
    printf '%-22s %14.0f\n' "2 (--reuseport 2)" "$(echo "$N / $two" | bc -l)"
    printf 'ratio two/one: %.2f\n' "$(echo "$one / $two" | bc -l)"
    echo
fi
# journal_drain ARGS...: N queued new alerts (every one a change) drained by a collector
# started with ARGS: "seconds cpu_ms" (wall clock, and the process's user + system CPU,
# every thread: the steadier measure on a shared machine).
journal_drain() {
    start_collector --rcvbuf "$RCV" "$@"
    kill -STOP "$PID"
    burst --no-stats --count "$N" --changes 100 >/dev/null
    local t0 t1 c0 c1 tick
    tick=$(getconf CLK_TCK)
    c0=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    t0=$EPOCHREALTIME
    kill -CONT "$PID"
    local deadline=$((SECONDS + 60))
    while datagrams_at "$HP" && [ "$DG" -lt "$N" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "bench: collector never drained" >&2; exit 1; }
        pause
    done
    t1=$EPOCHREALTIME
    c1=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    stop_collector
    echo "$(echo "$t1 - $t0" | bc -l) $(( (c1 - c0) * 1000 / tick ))"
}

if want journal; then
    echo "== journal: $N queued new alerts (every datagram a change), the collector without and"
    echo "   with --state-dir (the change journal on disk, no broker), medians of $ROUNDS"
    : >"$WORK/j0"
    : >"$WORK/j1"
    for r in $(seq 1 "$ROUNDS"); do
        journal_drain >>"$WORK/j0"
        journal_drain --state-dir "$WORK/jstate-$r" >>"$WORK/j1"
        rm -rf "$WORK/jstate-$r"
    done
    w0=$(cut -d' ' -f1 <"$WORK/j0" | median)
    w1=$(cut -d' ' -f1 <"$WORK/j1" | median)
    c0=$(cut -d' ' -f2 <"$WORK/j0" | median)
    c1=$(cut -d' ' -f2 <"$WORK/j1" | median)
    printf '%-22s %14s %16s\n' "collector" "changes/s" "CPU us/change"
    printf '%-22s %14.0f %16.2f\n' "no state dir" "$(echo "$N / $w0" | bc -l)" \
        "$(echo "$c0 * 1000 / $N" | bc -l)"
    printf '%-22s %14.0f %16.2f\n' "--state-dir (journal)" "$(echo "$N / $w1" | bc -l)" \
        "$(echo "$c1 * 1000 / $N" | bc -l)"
    printf 'drain ratio with/without: %.2f; CPU per change with/without: %.2f\n' \
        "$(echo "$w0 / $w1" | bc -l)" "$(echo "$c1 / $c0" | bc -l)"
    for args in "" "--state-dir $WORK/jstate-burst"; do
        echo "one burst of 1,000,000 new alerts at full speed, ${args:-no state dir}:"
        # shellcheck disable=SC2086
        start_collector $args
        burst --count 1000000 --fresh | tail -n1
        stop_collector
        rm -rf "$WORK/jstate-burst"
    done
    echo
fi
