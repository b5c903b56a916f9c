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

case_errors_are_clear() {
    rc=0
    "$INJECTOR_BURST" --target 127.0.0.1:9 --stats http://127.0.0.1:9/v1/stats --count 5 \
        2>"$WORK/e1" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "cannot reach the collector's HTTP API at http://127.0.0.1:9/v1/stats" \
        "$WORK/e1" || fail "unreachable API: rc=$rc $(cat "$WORK/e1")"
    rc=0
    "$INJECTOR_BURST" --count -3 2>"$WORK/e2" || rc=$?
    [ "$rc" -eq 2 ] && grep -q 'bad value for --count' "$WORK/e2" || fail "usage: rc=$rc $(cat "$WORK/e2")"
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

"case_$1"
echo "PASS: $1"
