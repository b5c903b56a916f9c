#!/usr/bin/env bash
# send.sh CASE - injector-send as a script uses it: bad values refused before sending (exit 2),
# --tcp says whether the collector accepted (exit 0) or not (exit 1), stdin, --version.
source "$(dirname "$0")/lib.sh"

# expect_rc WANT CMD...: run CMD, its stderr kept in $WORK/stderr; fail unless it exits WANT.
expect_rc() {
    local want=$1 rc=0
    shift
    "$@" 2>"$WORK/stderr" >"$WORK/stdout" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want; stderr: $(cat "$WORK/stderr")"
}

# stderr_says TEXT: the last command's stderr holds TEXT.
stderr_says() {
    grep -qF -- "$1" "$WORK/stderr" || fail "stderr lacks '$1': $(cat "$WORK/stderr")"
}

case_bad_values_exit_2_and_send_nothing() {
    start_injectord d --listen 127.0.0.1:0
    # Each: the option, its bad value, what the message must name.
    while IFS='|' read -r opt value says; do
        expect_rc 2 send d --host h --component c "$opt" "$value"
        stderr_says "$says"
    done <<'EOF'
--severity|abc|--severity 'abc' is not an integer from -2147483648 to 2147483647
--severity|critical|--severity 'critical' is not an integer
--severity|2147483648|--severity '2147483648' is not an integer
--severity|1.5|--severity '1.5' is not an integer
--count|-1|--count '-1' is not an integer from 0 to 2147483647
--seq|9007199254740993|--seq '9007199254740993' is not an integer from 0 to 9007199254740992
--start-time|yesterday|--start-time 'yesterday' is not an integer
--increment|maybe|--increment 'maybe' is not true or false
--autoclear|2|--autoclear '2' is not true or false
--ttl|1x|--ttl '1x' is not a duration
--ttl|-5|--ttl '-5' is not a duration
--ttl|1500ms|--ttl '1500ms' is not a whole number of seconds
--ttl|400000000|--ttl '400000000' is not a whole number of seconds
--extra|bad name=1|'bad name' is not an XML element name
--extra|1st=x|'1st' is not an XML element name
--extra|a:b=x|'a:b' is not an XML element name
--host| |--host is empty
--timeout|soon|--timeout 'soon' is not a duration
--action|Raise|--action 'Raise' is not Upd, Del, Updonly or Post
--target|127.0.0.1|--target 127.0.0.1: want HOST:PORT
EOF
    # What only the collector's own parser sees: a character XML cannot carry.
    expect_rc 2 send d --host h --component c "$(printf 'a\001b')"
    stderr_says "the collector would refuse this alert: syntax"
    expect_rc 2 send d --host h --component c --bogus
    stderr_says "unknown option '--bogus'"
    # None of them was sent: the one good alert after them is the first datagram.
    send d --host h --component c --severity ' 7 ' --ttl 1h --extra 'ok_name=1'
    wait_for 10 lines_at_least d 1 || fail "the good alert did not arrive"
    api d /v1/stats | jq -e '.datagrams == 1 and .malformed == 0 and .invalid == 0' >/dev/null ||
        fail "bad values reached the collector: $(api d /v1/stats)"
    # Sent as the collector reads them: the trimmed number, the duration in seconds.
    [ "$(lines d '.severity == 7 and .ttl == 3600 and .extra.ok_name == "1"')" = 1 ] ||
        fail "good alert: $(cat "$WORK/d.out")"
    stop_injectord d
}

case_tcp_exit_status_is_the_collectors_answer() {
    start_injectord d --listen 127.0.0.1:0 --tcp true --max-alerts 1
    expect_rc 0 send d --tcp --host t1 --component c --severity 3 "accepted"
    [ "$(lines d '.host == "t1" and .outcome == "raise"')" = 1 ] || fail "t1 not raised"
    # Past the active-alert cap: refused by the collector, its reason on stderr.
    expect_rc 1 send d --tcp --host t2 --component c "over the cap"
    stderr_says "refused by the collector: refused_full"
    # A batch over TCP (--raw --tcp): the refused document makes the exit 1, and says which.
    printf '%s\n' '<Alert><Action>Del</Action><ProblemHost>t1</ProblemHost><Component>c</Component></Alert>' \
        '<Alert><Action>Upd</Action><Component>c</Component></Alert>' >"$WORK/docs"
    expect_rc 1 send d --tcp --raw <"$WORK/docs"
    stderr_says "document 2: refused by the collector: no_host: line 1: alert 1: ProblemHost is missing or empty"
    [ "$(lines d '.host == "t1" and .outcome == "clear"')" = 1 ] || fail "document 1 not applied"
    stop_injectord d
    # Nothing listens on TCP (the daemon takes UDP only): 1, with the reason.
    start_injectord u --listen 127.0.0.1:0
    expect_rc 1 send u --tcp --host t1 --component c
    stderr_says "connecting: Connection refused"
    # A listener that never answers: 1 once --timeout has passed.
    if command -v python3 >/dev/null; then
        python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$WORK/mute.port" &
        PIDS+=("$!")
        wait_for 10 test -s "$WORK/mute.port" || fail "no mute listener"
        expect_rc 1 "$INJECTOR_SEND" --target "127.0.0.1:$(cat "$WORK/mute.port")" --tcp \
            --timeout 300ms --host t1 --component c
        stderr_says "reading the reply: no answer within 300 ms"
    fi
    stop_injectord u
}

case_message_from_stdin() {
    start_injectord d --listen 127.0.0.1:0
    printf 'disk 95%% full\non /var\n' | send d --host s1 --component disk --msg -
    echo "from a pipe" | send d --host s2 --component disk -
    wait_for 10 lines_at_least d 2 || fail "stdin alerts did not arrive"
    [ "$(lines d '.host == "s1" and .msg == "disk 95% full\non /var"')" = 1 ] ||
        fail "multi-line stdin: $(cat "$WORK/d.out")"
    [ "$(lines d '.host == "s2" and .msg == "from a pipe"')" = 1 ] ||
        fail "'-' as the message: $(cat "$WORK/d.out")"
    # Longer than a text field may be: refused, nothing sent.
    head -c 9000 /dev/zero | tr '\0' x >"$WORK/long"
    expect_rc 2 send d --host s3 --component disk --msg - <"$WORK/long"
    stderr_says "--msg -: standard input is longer than 8192 bytes"
    # Exactly the limit, a newline, and more: the newline must not hide the rest.
    { head -c 8192 /dev/zero | tr '\0' x; printf '\nmore\n'; } >"$WORK/long"
    expect_rc 2 send d --host s3 --component disk --msg - <"$WORK/long"
    stderr_says "--msg -: standard input is longer than 8192 bytes"
    expect_rc 2 send d --host s3 --component disk --msg - --longmsg - </dev/null
    stderr_says "one field at most can be read from stdin"
    api d /v1/stats | jq -e '.datagrams == 2' >/dev/null || fail "counters: $(api d /v1/stats)"
    stop_injectord d
}

case_version_and_exit_status_rule() {
    expect_rc 0 "$INJECTOR_SEND" --version
    version_is_the_projects injector-send "$INJECTOR_SEND"
    expect_rc 0 "$INJECTOR_SEND" --help
    tr '\n' ' ' <"$WORK/stdout" | grep -q 'Exit status: 0 sent.*1 failure at run time.*2 usage error' ||
        fail "--help states no exit status rule: $(cat "$WORK/stdout")"
    grep -q -- "--msg -" "$WORK/stdout" || fail "--help does not say the message may come from stdin"
    expect_rc 2 "$INJECTOR_SEND" --host h
    stderr_says "--host and --component are required"
    # The daemon states the same rule (collector_udp startup_errors checks it keeps it).
    expect_rc 0 "$INJECTORD" --help
    tr '\n' ' ' <"$WORK/stdout" | grep -q 'Exit status: 0 stopped cleanly.*1 failure at run time.*2 usage error' ||
        fail "injectord --help states no exit status rule"
    expect_rc 2 "$INJECTORD" extra-arg
}

"case_$1"
echo "PASS: $1"
