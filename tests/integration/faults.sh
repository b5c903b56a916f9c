#!/usr/bin/env bash
# faults.sh CASE - the faults of issue 11 against the real injectord, each as it was found,
# each asserting that the collector comes back: the part answers again within seconds, the
# descriptors return, the CPU idles, the log stays bounded, and every datagram and change
# is counted as delivered or lost. Run after the other integration tests (ctest label
# "faults"); each case stays under about a minute.
source "$(dirname "$0")/lib.sh"

# fds NAME: the daemon's open descriptors now.
fds() {
    local pid
    pid=$(eval echo "\$PID_$1")
    find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# cpu_ticks NAME: user + system CPU time of the daemon so far, in clock ticks.
cpu_ticks() {
    local pid
    pid=$(eval echo "\$PID_$1")
    awk '{print $14 + $15}' "/proc/$pid/stat"
}

# spins NAME: the daemon used more than a quarter of a core over 3 idle seconds (the sleep
# is the measurement itself, not a wait for a condition). An idle daemon uses ~0.
spins() {
    local t0 t1 hz
    hz=$(getconf CLK_TCK)
    t0=$(cpu_ticks "$1")
    sleep 3
    t1=$(cpu_ticks "$1")
    [ $((t1 - t0)) -gt $((3 * hz / 4)) ]
}

_fds_at_most() { [ "$(fds "$1")" -le "$2" ]; }

# recovered NAME FDS_BEFORE: descriptors back near where they started, no spin, and the
# log (stderr) small.
recovered() {
    local name=$1 before=$2
    wait_for 10 _fds_at_most "$name" $((before + 2)) ||
        fail "$name holds $(fds "$name") descriptors, $before before the fault"
    ! spins "$name" || fail "$name spins: CPU busy while idle"
    local size
    size=$(stat -c %s "$WORK/$name.err")
    [ "$size" -lt 65536 ] || fail "$name wrote $size bytes of log: $(sort "$WORK/$name.err" |
        cut -c 26- | uniq -c | sort -rn | head -n 5)"
}

# stats_of NAME: the daemon's /v1/stats.
stats_of() {
    api "$1" /v1/stats
}

# healthz NAME: /healthz answers "ok" within 5 s.
healthz() {
    local port
    port=$(eval echo "\$HTTP_$1")
    [ "$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz")" = ok ]
}

# submit NAME TEXT: one document over TCP, the reply printed.
submit() {
    local port
    port=$(eval echo "\$PORT_$1")
    printf '%s' "$2" | socat -t 5 - "TCP:127.0.0.1:$port" 2>/dev/null || true
}

DOC='<Alert><Action>Upd</Action><ProblemHost>t1</ProblemHost><Component>c</Component></Alert>'

tcp_answers() {
    case "$(submit d "$DOC")" in *'status="ok"'*) return 0 ;; *) return 1 ;; esac
}

# storm PORT ROUNDS N: ROUNDS rounds of N parallel connections, closed by the client.
storm() {
    local port=$1 rounds=$2 n=$3 r i fd
    for r in $(seq 1 "$rounds"); do
        local open=()
        for i in $(seq 1 "$n"); do
            exec {fd}<>"/dev/tcp/127.0.0.1/$port" && open+=("$fd")
        done
        for fd in "${open[@]}"; do exec {fd}>&-; done
    done
}

# 11 rounds of 70 parallel connections closed by the client (64 is the limit): the busy
# path used to keep every refused connection open for good, until every document was
# answered "busy" with nobody connected and the descriptors ran out.
case_connection_storm() {
    command -v socat >/dev/null || skip "socat not installed"
    start_injectord d --listen 127.0.0.1:0 --tcp true
    local before
    before=$(fds d)
    storm "$PORT_d" 11 70
    wait_for 10 tcp_answers || fail "TCP does not answer after the storm: $(submit d "$DOC")"
    recovered d "$before"
    stats_of d >"$WORK/stats.json"
    # Every connection counted: taken, or refused at the limit (and the one document).
    jq -e '.tcp_connections + .tcp_refused == 771 and .tcp_documents == 1' "$WORK/stats.json" \
        >/dev/null || fail "connections not all counted: $(jq -c '{tcp_connections,
            tcp_refused, tcp_documents}' "$WORK/stats.json")"
    stop_injectord d
}

# slowloris PORT N SECONDS: N connections, each sending one more byte of a request line a
# second, for SECONDS; a connection the server closed does not end the attack.
slowloris() {
    local port=$1 n=$2 secs=$3 i s fd
    local req="GET /v1/alerts?host=$(printf 'a%.0s' $(seq 1 100)) HTTP/1.1"
    local open=()
    trap '' PIPE
    for i in $(seq 1 "$n"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port" && open+=("$fd")
    done
    for s in $(seq 0 $((secs - 1))); do
        for fd in "${open[@]}"; do printf '%s' "${req:$s:1}" >&"$fd" 2>/dev/null || true; done
        sleep 1
    done
    for fd in "${open[@]}"; do exec {fd}>&-; done
}

# 70 connections sending a byte of a request line a second (64 is the limit): /healthz
# stayed dead after the attackers left, new connections un-accepted at 0% CPU. Now a new
# client gets a slot during the attack, the trickling connections are closed at the
# request deadline (10 s), and after the attack everything answers at once.
case_slowloris() {
    start_injectord d --listen 127.0.0.1:0
    local before
    before=$(fds d)
    slowloris "$HTTP_d" 70 14 &
    local attack=$!
    _attack_holds() { [ "$(fds d)" -ge $((before + 60)) ]; }
    wait_for 10 _attack_holds || fail "the attack never held its connections ($(fds d))"
    healthz d || fail "/healthz does not answer during the attack"
    # The deadline: the connections still trickling are closed while the attack goes on.
    wait_for 15 _fds_at_most d $((before + 4)) ||
        fail "trickling connections still held ($(fds d) descriptors)"
    wait "$attack"
    healthz d || fail "/healthz does not answer after the attack"
    recovered d "$before"
    stats_of d >"$WORK/stats.json"
    jq -e '.http_dropped >= 64 and .http_connections >= 70' "$WORK/stats.json" >/dev/null ||
        fail "counters: $(jq -c '{http_connections, http_refused, http_dropped}' "$WORK/stats.json")"
    grep -q 'libmicrohttpd: ' "$WORK/d.err" || fail "libmicrohttpd's messages not in our log"
    stop_injectord d
}

# injectord > fifo, and the reader stops (SIGSTOP): the loop blocked in the pipe write,
# UDP, HTTP and signals with it. Now it goes on; the changes that do not fit the buffer
# are lost and counted one by one, and when the reader comes back the rest arrives.
case_stalled_reader() {
    mkfifo "$WORK/fifo"
    cat "$WORK/fifo" >"$WORK/got.json" &
    local reader=$!
    PIDS+=("$reader")
    printf '#!/bin/sh\nexec "%s" "$@" >"%s"\n' "$INJECTORD" "$WORK/fifo" >"$WORK/to-fifo.sh"
    chmod +x "$WORK/to-fifo.sh"
    INJECTORD="$WORK/to-fifo.sh" start_injectord d --listen 127.0.0.1:0
    local before sent=100000
    before=$(fds d)
    kill -STOP "$reader"
    # At a rate the sanitizer build keeps up with, so loss is the sink's, not the socket's.
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --count "$sent" --rate 20000 --fresh \
        --no-stats >/dev/null
    healthz d || fail "/healthz does not answer while the reader is stopped"
    _all_datagrams() {
        kill -USR1 "$PID_d"
        local got drops
        got=$(counter d datagrams)
        drops=$(counter d kernel_drops)
        [ -n "$got" ] && [ $((got + drops)) -eq "$sent" ]
    }
    wait_for 20 _all_datagrams ||
        fail "datagrams=$(counter d datagrams) + kernel_drops=$(counter d kernel_drops) != $sent"
    [ "$(counter d output_lost)" -gt 0 ] || fail "a stopped reader took $sent changes"
    # Every change written (or waiting) or lost, and the counters say which.
    local version forwarded lost
    version=$(counter d version)
    forwarded=$(counter d forwarded)
    lost=$(counter d output_lost)
    [ $((forwarded + lost)) -eq "$version" ] ||
        fail "forwarded=$forwarded + output_lost=$lost != $version changes"
    [ "$(counter d sink_errors)" -eq "$lost" ] || fail "sink_errors does not count changes"
    # The reader comes back: what waited arrives with nothing else waking the daemon.
    kill -CONT "$reader"
    _got_all() { [ "$(wc -l <"$WORK/got.json")" -eq "$forwarded" ]; }
    wait_for 3 _got_all || fail "$(wc -l <"$WORK/got.json") lines arrived, $forwarded written"
    local n
    n=$(grep -c 'stats: ' "$WORK/d.err")
    kill -USR1 "$PID_d"
    wait_for 10 count_at_least $((n + 1)) 'stats: ' "$WORK/d.err" || fail "no stats line"
    [ "$(counter d output_buffered)" = 0 ] || fail "output still waits: $(counter d output_buffered)"
    jq -e . "$WORK/got.json" >/dev/null || fail "a line arrived cut"
    [ "$(grep -c 'output stdout: ' "$WORK/d.err")" -le 3 ] || fail "the stall said too often"
    recovered d "$before"
    stop_injectord d
}

# ulimit -n 64, and 70 clients holding TCP connections: libmicrohttpd busy-looped on
# accept's EMFILE (100% CPU, hundreds of MB of log a second), snapshots failed with the
# reason nowhere. Now waiting HTTP clients are closed at once and counted, UDP goes on,
# the snapshot failure is said with its reason, rate-limited, and all comes back.
case_descriptor_limit() {
    command -v socat >/dev/null || skip "socat not installed"
    printf '#!/bin/sh\nulimit -n 64\nexec "%s" "$@"\n' "$INJECTORD" >"$WORK/limited.sh"
    chmod +x "$WORK/limited.sh"
    INJECTORD="$WORK/limited.sh" start_injectord d --listen 127.0.0.1:0 --tcp true \
        --snapshot "$WORK/snap.json" --snapshot-interval 1
    local before
    before=$(fds d)
    # Hold 70 connections: the descriptors run out.
    (
        open=()
        for i in $(seq 1 70); do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT_d" && open+=("$fd"); done
        sleep 8
    ) 2>/dev/null &
    local holder=$!
    _full() { [ "$(fds d)" -ge 62 ]; }
    wait_for 10 _full || fail "the descriptors did not run out ($(fds d))"
    # An HTTP client is refused at once, not left hanging; the loop does not spin.
    local t0=$SECONDS
    ! healthz d || fail "/healthz answered without a descriptor to answer on"
    [ $((SECONDS - t0)) -le 2 ] || fail "an HTTP client waited $((SECONDS - t0)) s to be refused"
    ! spins d || fail "the daemon spins out of descriptors"
    # UDP goes on: every datagram counted.
    burst_file 1000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    wait_counter d raise 1000
    wait "$holder"
    wait_for 10 healthz d || fail "/healthz does not answer after the descriptors came back"
    wait_for 10 tcp_answers || fail "TCP does not answer after the descriptors came back"
    recovered d "$before"
    stats_of d >"$WORK/stats.json"
    jq -e '.http_refused >= 1 and .datagrams + .kernel_drops == 1000' "$WORK/stats.json" \
        >/dev/null || fail "counters: $(jq -c '{http_refused, datagrams, kernel_drops}' \
        "$WORK/stats.json")"
    # The snapshot failed while the descriptors were out: said with its reason, not often.
    grep -q 'snapshot: writing .* failed: Too many open files' "$WORK/d.err" ||
        fail "no snapshot failure with its reason: $(grep snapshot "$WORK/d.err" | head -n 3)"
    [ "$(grep -c 'snapshot: writing' "$WORK/d.err")" -le 6 ] || fail "snapshot lines not limited"
    stop_injectord d
}

"case_$1"
echo "PASS: $1"
