#!/usr/bin/env bash
# collector_udp.sh CASE - the real injectord on loopback, fed by injector-send and by bash's
# /dev/udp, its JSON output checked line by line. One ctest entry per CASE.
source "$(dirname "$0")/lib.sh"

# A raise prints one JSON line with the fields sent; a repeat is a duplicate (no line);
# a change is an update; a Del clears. Versions run 1, 2, 3.
case_send_and_print() {
    start_injectord d --listen 127.0.0.1:0
    send d --host web12 --component disk --severity 6 "disk 95% full"
    wait_for 10 lines_at_least d 1 || fail "no JSON line for the raise"
    jq -s -e 'any(.[]; .outcome == "raise" and .host == "web12" and .component == "disk"
                  and .severity == 6 and .msg == "disk 95% full" and .version == 1
                  and .collector == "test-d" and (.sender | startswith("127.0.0.1:"))
                  and (.received | test("^[0-9T:.-]+Z$")))' "$WORK/d.out" >/dev/null ||
        fail "raise line is wrong: $(cat "$WORK/d.out")"

    send d --host web12 --component disk --severity 6 "disk 95% full"
    wait_counter d duplicate 1
    [ "$(lines d)" -eq 1 ] || fail "a duplicate was forwarded"

    send d --host web12 --component disk --severity 7 "disk 99% full"
    send d --host web12 --component disk --del
    wait_for 10 lines_at_least d 3 || fail "update and clear missing"
    [ "$(lines d '.outcome == "update" and .version == 2 and .severity == 7')" -eq 1 ] ||
        fail "update line wrong"
    [ "$(lines d '.outcome == "clear" and .version == 3 and .host == "web12"')" -eq 1 ] ||
        fail "clear line wrong"
    stop_injectord d
    grep -q 'stats (final): datagrams=4 ' "$WORK/d.err" || fail "final stats line missing"
}

# A monitor in plain bash: echo the XML to /dev/udp (with echo's trailing newline).
case_bash_dev_udp() {
    start_injectord d --listen 127.0.0.1:0
    xml='<Alert><Action>Upd</Action><ProblemHost>n0418</ProblemHost><Component>node</Component><Severity>3</Severity><Msg>Node n0418 is Down</Msg></Alert>'
    echo "$xml" >"/dev/udp/127.0.0.1/$PORT_d"
    wait_for 10 lines_at_least d 1 || fail "no change for the bash datagram"
    [ "$(lines d '.outcome == "raise" and .host == "n0418" and .msg == "Node n0418 is Down"')" -eq 1 ] ||
        fail "wrong change: $(cat "$WORK/d.out")"
    echo '<Alert><Action>Del</Action><ProblemHost>n0418</ProblemHost><Component>node</Component></Alert>' \
        >"/dev/udp/127.0.0.1/$PORT_d"
    wait_for 10 lines_at_least d 1 '.outcome == "clear"' || fail "no clear"
    stop_injectord d
}

# The story this project exists for: a monitor restarts and fires 500 Del and a few Upd
# in one burst. Exactly the few raises come out; every Del is counted as redundant.
case_startup_storm() {
    start_injectord d --listen 127.0.0.1:0
    {
        for i in $(seq 1 500); do
            echo "<Alert><Action>Del</Action><ProblemHost>n$i</ProblemHost><Component>node</Component></Alert>"
            if [ $((i % 125)) -eq 0 ]; then
                echo "<Alert><Action>Upd</Action><ProblemHost>down$i</ProblemHost><Component>node</Component><Severity>2</Severity><Msg>Node down$i is Down</Msg></Alert>"
            fi
        done
    } >"$WORK/storm.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/storm.txt"
    wait_counter d datagrams 504
    [ "$(counter d redundant_clear)" -eq 500 ] || fail "redundant_clear=$(counter d redundant_clear)"
    [ "$(counter d kernel_drops)" -eq 0 ] || fail "kernel dropped datagrams"
    [ "$(lines d)" -eq 4 ] || fail "expected 4 changes, got $(lines d)"
    [ "$(lines d '.outcome == "raise" and (.host | startswith("down"))')" -eq 4 ] ||
        fail "the raises are not the Upd alerts: $(cat "$WORK/d.out")"
    stop_injectord d
}

# Bad datagrams of every kind between good ones: every good alert is applied, every bad
# one counted, and the log says so without flooding (rate limit).
case_bad_datagrams_cost_no_good_alert() {
    start_injectord d --listen 127.0.0.1:0
    bad=(
        'junk that is not xml'
        '<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>'
        '<!DOCTYPE a [<!ENTITY b "c">]><Alert><Action>Upd</Action><ProblemHost>&b;</ProblemHost><Component>c</Component></Alert>'
        '<Alert><Action>Upd</Action><Component>nohost</Component></Alert>'
        '<Alert><Action>Boom</Action><ProblemHost>h</ProblemHost><Component>c</Component></Alert>'
        '<Event><Id>1</Id></Event>'
    )
    : >"$WORK/mixed.txt"
    for i in $(seq 1 60); do
        echo "<Alert><Action>Upd</Action><ProblemHost>good$i</ProblemHost><Component>c</Component></Alert>" >>"$WORK/mixed.txt"
        echo "${bad[$((i % ${#bad[@]}))]}" >>"$WORK/mixed.txt"
    done
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/mixed.txt"
    wait_counter d datagrams 120
    [ "$(lines d '.outcome == "raise"')" -eq 60 ] || fail "good alerts lost: $(lines d) changes"
    [ "$(counter d malformed)" -eq 40 ] || fail "malformed=$(counter d malformed), expected 40"
    [ "$(counter d invalid)" -eq 20 ] || fail "invalid=$(counter d invalid), expected 20"
    # six kinds of bad datagram, ten of each (i % 6): each counted under its reason
    for reason in syntax doctype no_alert no_host bad_action; do
        want=10
        [ "$reason" = syntax ] && want=20 # junk and the truncated datagram
        [ "$(counter d "refused_$reason")" -eq "$want" ] ||
            fail "refused_$reason=$(counter d "refused_$reason"), expected $want"
    done
    # two rate-limited kinds (malformed datagrams, invalid alerts), at most 5 lines each
    refused=$(grep -v ' stats' "$WORK/d.err" | grep -c 'refused' || true)
    [ "$refused" -le 10 ] || fail "$refused refusal lines: the log is not rate-limited"
    grep -q 'datagram from 127.0.0.1:[0-9]* refused: doctype' "$WORK/d.err" ||
        grep -q 'refused: syntax' "$WORK/d.err" || fail "refusals are not logged with the sender"
    kill -0 "$PID_d" || fail "daemon died"
    stop_injectord d
}

# Several listeners, IPv4 and IPv6, one table.
case_ipv4_and_ipv6_listeners() {
    ip -6 addr show dev lo 2>/dev/null | grep -q '::1' || skip "no IPv6 on loopback here"
    start_injectord d --listen 127.0.0.1:0 --listen '[::1]:0'
    port6=$(sed -n 's/.*listening on udp \[::1\]:\([0-9]*\) .*/\1/p' "$WORK/d.err")
    [ -n "$port6" ] || fail "no IPv6 listener line"
    send d --host v4 --component c
    "$INJECTOR_SEND" --target "[::1]:$port6" --host v6 --component c
    wait_for 10 lines_at_least d 2 || fail "expected 2 raises"
    [ "$(lines d '.host == "v6" and (.sender | startswith("[::1]:"))')" -eq 1 ] ||
        fail "IPv6 sender not recorded: $(cat "$WORK/d.out")"
    stop_injectord d
}

# SIGTERM while datagrams wait in the socket: they are read and applied before exit.
case_sigterm_drains_the_socket() {
    start_injectord d --listen 127.0.0.1:0
    kill -STOP "$PID_d"
    burst_file 2000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    kill -TERM "$PID_d"
    kill -CONT "$PID_d"
    rc=0
    wait "$PID_d" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
    grep -q 'stats (final): datagrams=2000 ' "$WORK/d.err" ||
        fail "not all queued datagrams were read: $(grep 'final' "$WORK/d.err")"
    [ "$(lines d '.outcome == "raise"')" -eq 2000 ] || fail "changes missing: $(lines d)"
}

# Loss is never silent: overflow a tiny receive buffer on purpose (daemon stopped while a
# burst arrives); every datagram sent is either received or counted as a kernel drop.
case_kernel_drops_are_counted() {
    start_injectord d --listen 127.0.0.1:0 --rcvbuf 4K
    kill -STOP "$PID_d"
    burst_file 3000 >"$WORK/burst.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/burst.txt"
    kill -CONT "$PID_d"
    _all_accounted() {
        kill -USR1 "$PID_d"
        local got drops
        got=$(counter d datagrams)
        drops=$(counter d kernel_drops)
        [ -n "$got" ] && [ $((got + drops)) -eq 3000 ]
    }
    wait_for 20 _all_accounted ||
        fail "datagrams=$(counter d datagrams) + kernel_drops=$(counter d kernel_drops) != 3000"
    [ "$(counter d kernel_drops)" -gt 0 ] || fail "a 4K buffer took 3000 datagrams: no overflow"
    [ "$(lines d)" -eq "$(counter d datagrams)" ] || fail "received datagrams without a change"
    stop_injectord d
}

# Expiry on the real daemon, seconds-scale: an alert with TTL 1 and one under the default
# TTL expire; one refreshed in time does not.
case_ttl_expiry() {
    start_injectord d --listen 127.0.0.1:0 --default-ttl 2
    send d --host short --component c --ttl 1 "goes away"
    send d --host default --component c "goes away later"
    send d --host kept --component c --ttl 600 "stays"
    wait_for 10 lines_at_least d 2 '.outcome == "expire"' || fail "no expiry: $(cat "$WORK/d.out")"
    jq -s -e 'any(.[]; .outcome == "expire" and .host == "short" and .msg == "goes away" and .version == 4)' \
        "$WORK/d.out" >/dev/null || fail "expire change wrong: $(cat "$WORK/d.out")"
    [ "$(lines d '.outcome == "expire" and .host == "default"')" -eq 1 ] || fail "default TTL"
    [ "$(api d /v1/alerts | jq -r '[.alerts[].host] | join(",")')" = kept ] || fail "table after expiry"
    [ "$(api d /v1/stats | jq .outcomes.expire)" -eq 2 ] || fail "expire counter"
    stop_injectord d
}

# Output to a file; SIGHUP reopens it after logrotate moved it away.
case_output_file_reopen_on_sighup() {
    start_injectord d --listen 127.0.0.1:0 --output "$WORK/changes.json"
    send d --host a --component c
    wait_for 10 test -s "$WORK/changes.json" || fail "nothing written to the output file"
    mv "$WORK/changes.json" "$WORK/changes.json.1"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'output reopened' "$WORK/d.err" || fail "no reopen"
    send d --host b --component c
    wait_for 10 test -s "$WORK/changes.json" || fail "new file not written after SIGHUP"
    jq -e '.host == "b"' "$WORK/changes.json" >/dev/null || fail "wrong line in new file"
    jq -e '.host == "a"' "$WORK/changes.json.1" >/dev/null || fail "old file lost its line"
    stop_injectord d
}

# Start-up errors are clear messages and non-zero exits, never crashes.
case_startup_errors() {
    rc=0
    "$INJECTORD" --rcvbuf lots >/dev/null 2>"$WORK/e1" || rc=$?
    [ "$rc" -eq 2 ] && grep -q "rcvbuf: 'lots'" "$WORK/e1" || fail "bad option: rc=$rc $(cat "$WORK/e1")"

    start_injectord d --listen 127.0.0.1:0
    rc=0
    timeout 10 "$INJECTORD" --listen "127.0.0.1:$PORT_d" >/dev/null 2>"$WORK/e2" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "cannot listen on udp 127.0.0.1:$PORT_d: address already in use" "$WORK/e2" ||
        fail "port in use: rc=$rc $(cat "$WORK/e2")"

    rc=0
    timeout 10 "$INJECTORD" --listen 127.0.0.1:0 --output /nonexistent/dir/x.json >/dev/null 2>"$WORK/e3" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "cannot open output /nonexistent/dir/x.json" "$WORK/e3" ||
        fail "bad output: rc=$rc $(cat "$WORK/e3")"

    # Through a file: grep -q stops reading at the match, and under pipefail the writer's
    # SIGPIPE would fail the pipeline.
    "$INJECTORD" --help >"$WORK/help.txt"
    grep -q -- '--rcvbuf BYTES' "$WORK/help.txt" || fail "--help lacks options"
    rc=0
    "$INJECTOR_SEND" --component c >/dev/null 2>"$WORK/e4" || rc=$?
    [ "$rc" -eq 2 ] && grep -q -- '--host and --component are required' "$WORK/e4" ||
        fail "injector-send usage: rc=$rc"
    stop_injectord d
}

"case_$1"
echo "PASS: $1"
