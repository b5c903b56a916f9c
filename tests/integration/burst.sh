#!/usr/bin/env bash
# burst.sh CASE - injector-burst against the real injectord on loopback.
source "$(dirname "$0")/lib.sh"
: "${INJECTOR_BURST:?INJECTOR_BURST must name the injector-burst binary}"

burst() {
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" "$@"
}

# Bursts the collector takes whole: every count agrees, exit status 0.
case_reports_no_loss() {
    start_injectord d --listen 127.0.0.1:0
    burst --count 2000 --repeat 2 --pause 50ms --seq --json >"$WORK/r.json" ||
        fail "exit status $? for a lossless burst: $(cat "$WORK/r.json")"
    [ "$(wc -l <"$WORK/r.json")" -eq 2 ] || fail "one JSON line per burst expected"
    jq -s -e 'all(.[]; .sent == 2000 and .received == 2000 and .lost == 0 and .kernel_drops == 0
                  and .seq_gaps == 0 and .send_rate > 0 and .drain_s >= 0)' "$WORK/r.json" \
        >/dev/null || fail "report: $(cat "$WORK/r.json")"
    [ "$(jq -s '[.[] | select(.lost == 0)] | length' "$WORK/r.json")" -eq 2 ] || fail "loss reported"
    # Rounded: the rate a whole number of alerts/s, the drain time to the millisecond (it
    # printed "send_rate":455426.70521680271).
    grep -Eq '"send_rate":[0-9]+,"drain_s":[0-9]+(\.[0-9]{1,3})?,' "$WORK/r.json" ||
        fail "rate or drain time not rounded: $(cat "$WORK/r.json")"
    # Second burst refreshes the same alerts: duplicates, not raises.
    [ "$(api d /v1/stats | jq .outcomes.raise)" -eq 2000 ] || fail "raises: $(api d /v1/stats)"
    burst --count 100 --mix upd=50,del=50 --json >/dev/null || fail "mixed burst"
    [ "$(api d /v1/stats | jq .outcomes.clear)" -eq 50 ] || fail "not 50 clears after a 50% Del burst"
    stop_injectord d
}

# A burst that overflows a tiny buffer: the loss is reported, and it is all kernel drops.
case_reports_loss_and_where() {
    start_injectord d --listen 127.0.0.1:0 --rcvbuf 4K
    rc=0
    burst --count 20000 --json >"$WORK/r.json" || rc=$?
    [ "$rc" -eq 1 ] || fail "exit status $rc for a lossy burst"
    jq -e '.lost > 0 and .lost == .kernel_drops and .received + .lost == .sent' "$WORK/r.json" \
        >/dev/null || fail "report: $(cat "$WORK/r.json")"
    stop_injectord d
}

# --find-capacity on a deliberately tiny buffer finds a finite, plausible size.
case_find_capacity_tiny_rcvbuf() {
    start_injectord d --listen 127.0.0.1:0 --rcvbuf 4K
    burst --find-capacity --max-count 200000 >"$WORK/cap.txt" || fail "find-capacity failed"
    grep -q '^step  1: ' "$WORK/cap.txt" || fail "steps are not printed"
    n=$(sed -n 's/^largest zero-loss burst: \([0-9]*\) alerts.*/\1/p' "$WORK/cap.txt")
    [ -n "$n" ] || fail "no answer: $(cat "$WORK/cap.txt")"
    # An 8 KiB buffer holds a handful of datagrams; the rest is how fast we read meanwhile.
    [ "$n" -lt 200000 ] || fail "implausible capacity $n for a 4K buffer"
    stop_injectord d
}

# --find-capacity --plot: an SVG chart, well-formed XML, one point per step printed, with
# the title (target and date) and the axes' labels; steps with loss marked as such.
case_plot_has_a_point_per_step() {
    command -v xmllint >/dev/null || skip "xmllint not installed (libxml2-utils; make deps)"
    start_injectord d --listen 127.0.0.1:0 --rcvbuf 4K
    burst --find-capacity --max-count 200000 --plot "$WORK/cap.svg" >"$WORK/cap.txt" ||
        fail "find-capacity --plot failed: $(cat "$WORK/cap.txt")"
    xmllint --noout "$WORK/cap.svg" 2>"$WORK/xml.err" || fail "not well-formed: $(cat "$WORK/xml.err")"
    local steps bad points lossy
    steps=$(grep -c '^step ' "$WORK/cap.txt")
    bad=$(grep -c '^step .*-> LOSS$' "$WORK/cap.txt" || true)
    [ "$steps" -ge 2 ] || fail "fewer than 2 steps: $(cat "$WORK/cap.txt")"
    xp() { xmllint --xpath "$1" "$WORK/cap.svg"; }
    points=$(xp "count(//*[local-name()='circle'])")
    lossy=$(xp "count(//*[local-name()='circle'][contains(@class, 'bad')])")
    [ "$points" -eq "$steps" ] || fail "$points points for $steps steps"
    [ "$lossy" -eq "$bad" ] || fail "$lossy points marked with loss, $bad steps had loss"
    grep -q "plot of $steps steps written to $WORK/cap.svg" "$WORK/cap.txt" ||
        fail "no word of the plot: $(cat "$WORK/cap.txt")"
    local title
    title=$(xp "string(//*[local-name()='text'][1])")
    [[ "$title" == *"127.0.0.1:$PORT_d"*"$(date -u +%F)"* ]] || fail "title: $title"
    xp "//*[local-name()='text'][.='loss (%)']" >/dev/null || fail "no y label"
    xp "//*[local-name()='text'][starts-with(., 'burst size (alerts')]" >/dev/null ||
        fail "no x label"
    stop_injectord d
}

# A chart that cannot be written fails before anything is sent (exit 1, naming the file);
# --plot without --find-capacity is a usage error (exit 2).
case_plot_file_errors() {
    start_injectord d --listen 127.0.0.1:0
    local rc=0 f
    for f in "$WORK/no-such-dir/cap.svg" "$WORK"; do
        rc=0
        burst --find-capacity --plot "$f" >"$WORK/out" 2>"$WORK/err" || rc=$?
        [ "$rc" -eq 1 ] && grep -qF -- "--plot $f: " "$WORK/err" ||
            fail "--plot $f: exit $rc (want 1), said: $(cat "$WORK/err")"
    done
    grep -q 'No such file or directory' <(burst --find-capacity --plot "$WORK/no/x.svg" 2>&1) ||
        fail "a missing directory is not said as such"
    [ "$(api d /v1/stats | jq .datagrams)" -eq 0 ] || fail "datagrams sent before the plot failed"
    [ ! -s "$WORK/out" ] || fail "a run started: $(cat "$WORK/out")"
    stop_injectord d
}

case_errors_are_clear() {
    rc=0
    "$INJECTOR_BURST" --target 127.0.0.1:9 --stats http://127.0.0.1:9/v1/stats --count 5 \
        2>"$WORK/e1" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "cannot reach the collector's HTTP API at http://127.0.0.1:9/v1/stats" \
        "$WORK/e1" || fail "unreachable API: rc=$rc $(cat "$WORK/e1")"
    # Through a file: grep -q stops reading at the match, and under pipefail the writer's
    # SIGPIPE would fail the pipeline.
    "$INJECTOR_BURST" --help >"$WORK/help.txt"
    grep -q -- '--find-capacity' "$WORK/help.txt" || fail "--help"
    rc=0
    "$INJECTOR_BURST" --source 192.0.2.1 --target 127.0.0.1:9 --no-stats --count 1 \
        2>"$WORK/e3" || rc=$?
    [ "$rc" -eq 1 ] && grep -q -- '--source 192.0.2.1: Cannot assign requested address' "$WORK/e3" ||
        fail "a source address not ours: rc=$rc $(cat "$WORK/e3")"
}

# Every usage error exits 2 and says what the option takes (--mix said only "bad value").
case_usage_errors_say_what_is_expected() {
    local want=(
        "--count -3|--count takes a whole number > 0, not '-3'"
        "--mix upd=50|--mix takes upd=P,del=Q: percentages adding up to 100"
        "--mix upd=60,del=60|--mix takes upd=P,del=Q"
        "--pause 3h|--pause takes a duration >= 0"
        "--rate fast|--rate takes alerts per second"
        "--size 70000|--size takes bytes, 1 to 65000"
        "--changes 101|--changes takes a percentage, 0 to 100"
        "--target 127.0.0.1|--target takes HOST:PORT or [v6]:PORT, not '127.0.0.1'"
        "--target 127.0.0.1:http|--target takes HOST:PORT or [v6]:PORT"
        "--stats 127.0.0.1:8342|--stats takes http://HOST:PORT/v1/stats"
        "--source somewhere|--source takes a local IPv4 or IPv6 address"
        "--find-capacity --no-stats|--find-capacity needs the collector's stats: drop --no-stats"
        "--plot x.svg|--plot draws the steps of --find-capacity: add --find-capacity"
        "--find-capacity --plot|--plot needs a value"
        "--count|--count needs a value"
        "--bogus|unknown option '--bogus'"
        "stray|unexpected argument 'stray'"
    )
    usage_errors_say "$INJECTOR_BURST" --no-stats --target 127.0.0.1:9 -- "${want[@]}"
    "$INJECTOR_BURST" --help >"$WORK/help.txt"
    grep -q '^Exit status: 0 .*1 .*run time' "$WORK/help.txt" &&
        grep -q '2 usage' "$WORK/help.txt" || fail "--help does not state the exit codes"
}

# --version: the program and the project's version, as injectord says it; exit 0.
case_version() {
    version_is_the_projects injector-burst "$INJECTOR_BURST"
}

# Without --stats, the stats come from --target's host on the API's default port 8342 (it
# asked 127.0.0.1:8342 whatever --target said). A collector on another loopback address
# with its API on 8342 there is found; where no API answers, the error names the URL it
# tried and --stats.
case_stats_follow_the_target() {
    local a
    for a in 127.0.0.{41..60}; do # 8342 may be taken on one of them (another test, a user)
        start_injectord_may_fail d --listen "$a:0" --http "$a:8342" && break
    done
    [ -n "${PORT_d:-}" ] || skip "port 8342 taken on 127.0.0.41-60"
    "$INJECTOR_BURST" --target "$a:$PORT_d" --count 300 --json >"$WORK/r.json" ||
        fail "exit $? with stats derived from --target $a: $(cat "$WORK/r.json")"
    jq -e '.sent == 300 and .received == 300 and .lost == 0' "$WORK/r.json" >/dev/null ||
        fail "report: $(cat "$WORK/r.json")"
    [ "$(curl -sS "http://$a:8342/v1/stats" | jq .datagrams)" -eq 300 ] ||
        fail "the collector at $a did not count the burst"
    stop_injectord d
    local rc=0
    "$INJECTOR_BURST" --target "$a:$PORT_d" --count 1 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "http://$a:8342/v1/stats" "$WORK/err" &&
        grep -qF -- '--stats' "$WORK/err" ||
        fail "no API at $a:8342: exit $rc, said: $(cat "$WORK/err")"
    rc=0
    "$INJECTOR_BURST" --target "$a:$PORT_d" --stats "http://$a:9/v1/stats" --count 1 \
        2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF -- "--stats: cannot reach the collector's HTTP API at http://$a:9/" \
        "$WORK/err" || fail "--stats unreachable: exit $rc, said: $(cat "$WORK/err")"
}

# start_injectord_may_fail NAME ARGS...: start_injectord, but return 1 (not fail) when the
# daemon exits at start (an address in use).
start_injectord_may_fail() {
    local name=$1
    shift
    rm -f "$WORK/$name.err"
    "$INJECTORD" --stats-interval 0 --collector-id "test-$name" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    wait_for 10 eval "grep -qs ' ready: ' '$WORK/$name.err' || ! kill -0 $pid 2>/dev/null" ||
        fail "$name neither ready nor gone: $(cat "$WORK/$name.err")"
    grep -qs ' ready: ' "$WORK/$name.err" || return 1
    printf -v "PORT_$name" '%s' \
        "$(sed -n 's/.*listening on udp .*:\([0-9]*\) (receive.*/\1/p' "$WORK/$name.err" | head -n1)"
}

"case_$1"
echo "PASS: $1"
