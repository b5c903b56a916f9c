#!/usr/bin/env bash
# The collector under load, on loopback (make bench runs this after the micro-benchmarks):
#   intake        how fast the intake empties a full socket while the loop thread parses,
#                 vs. a bare recvmmsg loop draining the same full socket
#   drain rate    collector (parsed and applied) vs. a bare recvmmsg loop, same method
#   burst         1,000,000-alert bursts at full speed into the default collector (new
#                 alerts, repeats, 50/50 Upd/Del): loss, queue high-water mark, RSS at
#                 the peak and 10 s later; the same new-alert burst into rsyslog's imudp
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
#        (intake drain burst sustained capacity http snapshot memory reuseport journal)
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

# start_collector ARGS...: a release injectord on fresh loopback ports; sets PID UP HP. A
# port someone else took meanwhile (the machine is shared) is retried with other ports.
start_collector() {
    local try
    for try in 1 2 3 4 5; do
        UP=$(port)
        HP=$((UP + 1))
        # a fresh file: the last collector's "ready" line must not pass for this one's
        rm -f "$WORK/d.err"
        "$build/injectord" --listen "127.0.0.1:$UP" --http "127.0.0.1:$HP" --stats-interval 0 \
            --output /dev/null "$@" 2>"$WORK/d.err" &
        PID=$!
        PIDS+=("$PID")
        for _ in $(seq 1 500); do
            grep -q ' ready: ' "$WORK/d.err" 2>/dev/null && return 0
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.01
        done
        wait "$PID" 2>/dev/null || true
        grep -q 'already in use' "$WORK/d.err" || break
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

# median_cols FILE: the median of each column of FILE's lines ('-' stays '-').
median_cols() {
    awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; n = NF } END {
        for (i = 1; i <= n; i++) {
            for (r = 1; r <= NR; r++) a[r] = v[i, r]
            if (a[1] == "-") { printf "-%s", (i < n ? " " : "\n"); continue }
            for (r = 1; r <= NR; r++) for (q = r + 1; q <= NR; q++)
                if (a[q] + 0 < a[r] + 0) { t = a[r]; a[r] = a[q]; a[q] = t }
            printf "%s%s", a[int((NR + 1) / 2)], (i < n ? " " : "\n")
        } }' "$1"
}

# datagrams_at HP: set DG to the collector's datagrams counter (parsed and applied) and IN
# to what its intake took from the sockets (DG plus what waits in the queue), with bash
# builtins only: a curl | jq pair every few ms takes a core from the collector being timed
# (2 cores here).
datagrams_at() {
    local body=
    DG=0
    IN=0
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET /v1/stats HTTP/1.0\r\nHost: b\r\n\r\n' >&3
    IFS= read -r -d '' -u 3 body || true
    exec 3<&-
    if [[ $body =~ \"datagrams\":([0-9]+) ]]; then DG=${BASH_REMATCH[1]}; fi
    IN=$DG
    if [[ $body =~ \"intake_queued\":([0-9]+) ]]; then IN=$((DG + BASH_REMATCH[1])); fi
}

# kib PID FIELD: a /proc/PID/status size (VmRSS, VmHWM) in KiB.
kib() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# pause: 10 ms without starting a process (a read that times out on a fifo of our own).
pause() {
    [ -p "$WORK/tick" ] || mkfifo "$WORK/tick"
    read -r -t 0.01 <>"$WORK/tick" || true
}

# drain_collector CHANGES [intake]: seconds for the collector to process N queued datagrams
# (CHANGES: % of new alerts); with intake, until its intake has taken them off the socket
# (the loop thread parses meanwhile: the two share the machine's cores, as in a real
# burst), and on a second line the CPU seconds the intake thread used (schedstat, ns).
drain_collector() {
    local upto=DG what="collector"
    [ "${2:-}" != intake ] || upto=IN what="the intake"
    start_collector --rcvbuf "$RCV"
    kill -STOP "$PID"
    burst --no-stats --count "$N" --changes "$1" >/dev/null
    local t0 t1 task cpu0
    task=$(grep -l '^intake$' /proc/"$PID"/task/*/comm | head -n1)
    task=${task%/comm}
    cpu0=$(cut -d' ' -f1 "$task/schedstat")
    t0=$EPOCHREALTIME
    kill -CONT "$PID"
    local deadline=$((SECONDS + 60))
    while datagrams_at "$HP" && [ "${!upto}" -lt "$N" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "bench: $what never drained" >&2; exit 1; }
        pause
    done
    t1=$EPOCHREALTIME
    local cpu1
    cpu1=$(cut -d' ' -f1 "$task/schedstat")
    [ "$(stat kernel_drops)" -eq 0 ] || echo "bench: the queue overflowed; raise RCV" >&2
    stop_collector
    echo "$t1 - $t0" | bc -l
    [ "$upto" = DG ] || echo "($cpu1 - $cpu0) / 1000000000" | bc -l
}

# A bare recvmmsg loop draining N queued datagrams: seconds, and on a second line the CPU
# seconds it used.
drain_bare() {
    local p pid try
    for try in 1 2 3 4 5; do # another port if someone else holds this one
        p=$(port)
        "$build/bench-recvmmsg" "$p" "$RCV" "$N" >"$WORK/bare.out" 2>"$WORK/bare.err" &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 1 500); do
            grep -q ready "$WORK/bare.out" 2>/dev/null && break 2
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.01
        done
        wait "$pid" 2>/dev/null || true
    done
    "$build/injector-burst" --target "127.0.0.1:$p" --no-stats --count "$N" --changes "$1" >/dev/null
    kill -USR1 "$pid"
    wait "$pid"
    sed -n 2,3p "$WORK/bare.out"
}

if want intake; then
    echo "== intake: $N queued datagrams (10% changes) taken off a full socket while the loop"
    echo "   thread parses, vs. a bare recvmmsg loop draining the same socket, medians of $ROUNDS"
    : >"$WORK/b"
    : >"$WORK/i"
    for _ in $(seq 1 "$ROUNDS"); do
        # through files: a collector started in a pipeline would hold the pipe open
        drain_bare 10 >"$WORK/x"
        paste -sd' ' "$WORK/x" >>"$WORK/b"
        drain_collector 10 intake >"$WORK/x"
        paste -sd' ' "$WORK/x" >>"$WORK/i"
    done
    read -r b bc < <(median_cols "$WORK/b")
    read -r i ic < <(median_cols "$WORK/i")
    printf '%-22s %14s %14s %8s\n' "" "bare" "intake" "ratio"
    printf '%-22s %14.0f %14.0f %8.2f\n' "datagrams/s" "$(echo "$N / $b" | bc -l)" \
        "$(echo "$N / $i" | bc -l)" "$(echo "$b / $i" | bc -l)"
    printf '%-22s %14.3f %14.3f %8.2f\n' "CPU us per datagram" "$(echo "$bc * 1000000 / $N" | bc -l)" \
        "$(echo "$ic * 1000000 / $N" | bc -l)" "$(echo "$bc / $ic" | bc -l)"
    echo "(ratio = intake rate / bare drain rate; target >= 0.80. The CPU ratio is the same"
    echo " comparison with what else runs on the machine taken out: bare CPU / intake CPU)"
    echo
fi
if want drain; then
    echo "== drain rate: $N queued datagrams, collector vs. bare recvmmsg loop, medians of $ROUNDS"
    printf '%-22s %14s %14s %8s\n' "stream" "bare/s" "collector/s" "ratio"
    for changes in 0 10; do
        : >"$WORK/b"
        : >"$WORK/c"
        for _ in $(seq 1 "$ROUNDS"); do
            drain_bare "$changes" >"$WORK/x"
            sed -n 1p "$WORK/x" >>"$WORK/b"
            drain_collector "$changes" >>"$WORK/c"
        done
        b=$(median <"$WORK/b")
        c=$(median <"$WORK/c")
        printf '%-22s %14.0f %14.0f %8.2f\n' "$([ "$changes" = 0 ] && echo all duplicates || echo "10% changes")" \
            "$(echo "$N / $b" | bc -l)" "$(echo "$N / $c" | bc -l)" "$(echo "$b / $c" | bc -l)"
    done
    echo "(ratio = collector drain rate / bare drain rate; target >= 0.70)"
    echo
fi
# burst_1m ARGS...: one 1,000,000-alert burst at full speed into a default collector; prints
# "lost kernel_drops send_rate queue_peak queue_peak_kib rss_rest_kib rss_peak_kib rss_10s_kib".
burst_1m() {
    start_collector
    local rest peak later hwm hwmb
    rest=$(kib "$PID" VmRSS)
    burst --count 1000000 --timeout 120 --json "$@" >"$WORK/m.json" 2>/dev/null
    hwm=$(stat intake_queued_peak)
    hwmb=$(stat intake_queued_peak_bytes)
    [ "$hwm" != null ] || hwm=-
    if [ "$hwmb" != null ]; then hwmb=$((hwmb / 1024)); else hwmb=-; fi
    peak=$(kib "$PID" VmHWM)
    sleep 10
    later=$(kib "$PID" VmRSS)
    stop_collector
    echo "$(jq -r '"\(.lost) \(.kernel_drops) \(.send_rate | floor)"' "$WORK/m.json") $hwm $hwmb $rest $peak $later"
}

# rsyslog_root: Debian's rsyslog, unpacked into the build tree (nothing on the machine is
# replaced); prints its root, or fails when the package cannot be had.
rsyslog_root() {
    local root=$build/rsyslog-root
    if [ ! -x "$root/usr/sbin/rsyslogd" ]; then
        mkdir -p "$build/rsyslog-debs"
        (cd "$build/rsyslog-debs" &&
            apt-get download rsyslog libestr0 libfastjson4 liblognorm5 >/dev/null 2>&1) ||
            return 1
        for deb in "$build"/rsyslog-debs/*.deb; do dpkg -x "$deb" "$root"; done
    fi
    echo "$root"
}

# burst_rsyslog ROOT: the same new-alert burst into rsyslog's imudp -> omfile (the raw
# message, one per line), rcvbuf as ours; prints the same columns (queue peak: -).
burst_rsyslog() {
    local root=$1 lib p pid rest peak later lines=0 prev=-1 still=0 hex drops
    lib=$root/usr/lib/x86_64-linux-gnu
    p=$(port)
    hex=$(printf '%04X' "$p")
    mkdir -p "$WORK/rs"
    rm -f "$WORK/rs/out.log" "$WORK/rs/err"
    {
        echo "global(workDirectory=\"$WORK/rs\")"
        echo 'module(load="imudp")'
        echo "input(type=\"imudp\" address=\"127.0.0.1\" port=\"$p\" rcvbufSize=\"32m\")"
        echo 'template(name="raw" type="string" string="%rawmsg%\n")'
        echo "action(type=\"omfile\" file=\"$WORK/rs/out.log\" template=\"raw\")"
    } >"$WORK/rs/rsyslog.conf"
    LD_LIBRARY_PATH=$lib "$root/usr/sbin/rsyslogd" -n -f "$WORK/rs/rsyslog.conf" \
        -i "$WORK/rs/pid" -M "$lib/rsyslog" 2>"$WORK/rs/err" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 500); do
        grep -q ":$hex 00000000:0000 07" /proc/net/udp && break
        sleep 0.01
    done
    rest=$(kib "$pid" VmRSS)
    "$build/injector-burst" --target "127.0.0.1:$p" --no-stats --count 1000000 --fresh \
        --json >"$WORK/rs.json" 2>/dev/null || true
    # Drained when the file holds every datagram, or stops growing for a second.
    for _ in $(seq 1 600); do
        lines=$(wc -l <"$WORK/rs/out.log" 2>/dev/null || echo 0)
        [ "$lines" -ge 1000000 ] && break
        if [ "$lines" -eq "$prev" ]; then
            still=$((still + 1))
            [ "$still" -ge 10 ] && break
        else
            still=0
        fi
        prev=$lines
        sleep 0.1
    done
    # /proc/net/udp: local address is field 2, drops the last field
    drops=$(awk -v h=":$hex" '$2 ~ h"$" { print $NF }' /proc/net/udp | head -n1)
    peak=$(kib "$pid" VmHWM)
    sleep 10
    later=$(kib "$pid" VmRSS)
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$((1000000 - lines)) ${drops:--} $(jq -r '.send_rate | floor' "$WORK/rs.json") - - $rest $peak $later"
}

mib() {
    if [ "$1" = - ]; then echo -; else echo $(($1 / 1024)); fi
}

if want burst; then
    echo "== bursts: 1,000,000 alerts at full speed from one sender into the default settings"
    echo "   (rcvbuf 32M, the default queue memory), medians of $ROUNDS; RSS in MiB"
    printf '%-32s %7s %12s %8s %10s %9s %8s %8s %8s\n' "burst" "lost" "kernel_drops" "send/s" \
        "queue_peak" "queue_MiB" "rss_rest" "rss_peak" "rss_10s"
    rs=$(rsyslog_root) || rs=
    for kind in new repeats updel rsyslog; do
        : >"$WORK/k"
        for _ in $(seq 1 "$ROUNDS"); do
            case $kind in
            new) burst_1m --fresh ;;
            repeats) burst_1m --hosts 1000 ;;
            # 1,050 keys: each key's alerts alternate Upd, Del (every alert is a change)
            updel) burst_1m --hosts 1050 --mix upd=50,del=50 ;;
            rsyslog) if [ -n "$rs" ]; then burst_rsyslog "$rs"; fi ;;
            esac >>"$WORK/k"
        done
        if [ ! -s "$WORK/k" ]; then
            echo "rsyslog imudp: not measured (apt-get download rsyslog failed)"
            continue
        fi
        read -r lost drops rate hwm hwmb rest peak later < <(median_cols "$WORK/k")
        case $kind in
        new) label="injectord, new alerts" ;;
        repeats) label="injectord, repeats (1,000 keys)" ;;
        updel) label="injectord, 50/50 Upd/Del" ;;
        rsyslog) label="rsyslog imudp, new alerts" ;;
        esac
        printf '%-32s %7s %12s %8s %10s %9s %8s %8s %8s\n' "$label" "$lost" "$drops" "$rate" "$hwm" \
            "$(mib "$hwmb")" "$(mib "$rest")" "$(mib "$peak")" "$(mib "$later")"
    done
    echo "(target: lost 0 for all three of ours; rsyslog's kernel drops from /proc/net/udp)"
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
        rm -f "$WORK/g$i.err"
        "$build/injectord" --listen "127.0.0.1:$up" --http "127.0.0.1:$hp" --stats-interval 0 \
            --output /dev/null --rcvbuf "$RCV" --collector-id "g$i" \
            $([ "$k" -gt 1 ] && echo "--reuseport $k") 2>"$WORK/g$i.err" &
        pids+=("$!")
        PIDS+=("$!")
        hps+=("$hp")
        for _ in $(seq 1 500); do grep -q ' ready: ' "$WORK/g$i.err" 2>/dev/null && break; sleep 0.01; done
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
