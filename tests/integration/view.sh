#!/usr/bin/env bash
# view.sh CASE - injector-consume's exact view (--collector, --view) against real collectors
# publishing into the real private RabbitMQ: the view file must equal the collectors'
# tables (GET /v1/alerts), whenever the consumer starts and whatever the stream loses.
source "$(dirname "$0")/lib.sh"
need_broker

# rabbitmqctl_ ARGS...: rabbitmqctl against the test broker.
rabbitmqctl_() {
    "$INJECTOR_TEST_BROKER_CTL" ctl "$INJECTOR_TEST_BROKER_DIR" "$@"
}

# (a) A randomised stream of 20,000 alerts; the consumer starts after the first half, while
# the rest is still coming. Its view file and its change lines both end equal to the table.
case_consumer_started_mid_stream() {
    local seed=${INJECTOR_TEST_SEED:-$RANDOM}
    echo "random stream seed $seed (INJECTOR_TEST_SEED=$seed repeats it)"
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    random_stream 20000 "$seed" >"$WORK/stream.txt"
    send_chunks d "$WORK/stream.txt" 1000 10 start_consumer v \
        --collector "http://127.0.0.1:$HTTP_d" --view "$WORK/view.json" --view-interval 0.2
    wait_for 60 published d || fail "the broker did not confirm every change"
    wait_view "$WORK/view.json" d
    stop_consumer v
    view_matches "$WORK/view.json" d || fail "the last view written at exit differs"
    replay "$WORK/v.out" >"$WORK/replayed.json"
    cmp -s "$WORK/replayed.json" "$WORK/want.json" ||
        fail "the change lines do not add up to the table"
    grep -q "collector 'test-d' in step at version" "$WORK/v.err" || fail "no sync reported"
    grep -q 'gaps=0 ' "$WORK/v.err" || fail "a gap in a lossless stream: $(tail -n1 "$WORK/v.err")"
    local n s
    n=$(jq .count "$WORK/view.json")
    s=$(api d /v1/alerts | jq .version)
    [ "$n" -gt 100 ] || fail "only $n active alerts: the stream tests too little"
    echo "$n active alerts after 20,000 datagrams, version $s; $(tail -n1 "$WORK/v.err")"
}

# (b) Changes lost on the way (the queue purged under a stopped consumer): the consumer
# sees the gap, says so, resynchronises from the snapshot and is exact again; SIGUSR1
# forces a resync too.
case_forced_resync() {
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    start_consumer v --queue "$EXCHANGE-q" --prefetch 10 \
        --collector "http://127.0.0.1:$HTTP_d" --view "$WORK/view.json" --view-interval 0.2
    wait_for 20 grep -q 'in step at version' "$WORK/v.err" || fail "consumer never synced"
    random_stream 6000 1 >"$WORK/stream.txt"
    sed -n '1,2000p' "$WORK/stream.txt" >"$WORK/a.txt"
    sed -n '2001,4000p' "$WORK/stream.txt" >"$WORK/b.txt"
    sed -n '4001,6000p' "$WORK/stream.txt" >"$WORK/c.txt"
    send_chunks d "$WORK/a.txt" 1000
    wait_for 60 published d || fail "not confirmed"
    wait_view "$WORK/view.json" d
    kill -STOP "$PID_v"
    send_chunks d "$WORK/b.txt" 1000
    wait_for 60 published d || fail "not confirmed"
    local ready
    ready=$(rabbitmqctl_ list_queues -q name messages_ready | awk -v q="$EXCHANGE-q" '$1 == q {print $2}')
    [ "${ready:-0}" -gt 100 ] || fail "only ${ready:-0} changes wait in the queue to be purged"
    rabbitmqctl_ purge_queue "$EXCHANGE-q" >/dev/null
    send_chunks d "$WORK/c.txt" 1000
    wait_for 60 published d || fail "not confirmed"
    kill -CONT "$PID_v"
    wait_view "$WORK/view.json" d
    grep -q 'changes missing): resynchronising from http://' "$WORK/v.err" ||
        fail "the gap was not reported"
    kill -USR1 "$PID_v"
    wait_for 20 grep -q 'resynchronising every collector: asked (SIGUSR1)' "$WORK/v.err" ||
        fail "SIGUSR1 did not resync"
    send d --host after --component resync --severity 2 "after the resync"
    wait_view "$WORK/view.json" d
    stop_consumer v
    grep -Eq 'gaps=[1-9][0-9]* resyncs=([2-9]|[1-9][0-9]+) ' "$WORK/v.err" ||
        fail "gaps/resyncs not counted: $(tail -n1 "$WORK/v.err")"
    echo "purged $ready changes from under the consumer; $(tail -n1 "$WORK/v.err")"
}

# (c) The collector restarts without a state directory (numbering starts over, a new series), then
# under a new collector id: the consumer notices both and follows.
case_collector_restarts() {
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE"
    local http=$HTTP_d
    start_consumer v --collector "http://127.0.0.1:$http" --view "$WORK/view.json" \
        --view-interval 0.2
    wait_for 20 grep -q 'in step at version' "$WORK/v.err" || fail "consumer never synced"
    random_stream 1000 2 >"$WORK/s1.txt"
    send_chunks d "$WORK/s1.txt" 500
    wait_for 60 published d || fail "not confirmed"
    wait_view "$WORK/view.json" d
    stop_injectord d
    # Same id, same port, no snapshot: versions run from 1 again.
    start_injectord d --listen 127.0.0.1:0 --http "127.0.0.1:$http" --amqp \
        "$INJECTOR_TEST_AMQP_URL" --amqp-exchange "$EXCHANGE"
    random_stream 300 3 x >"$WORK/s2.txt"
    send_chunks d "$WORK/s2.txt" 300
    wait_for 60 published d || fail "not confirmed"
    wait_view "$WORK/view.json" d
    grep -q "collector 'test-d' numbers in a new series" "$WORK/v.err" ||
        fail "the restart was not noticed"
    [ "$(jq '[.alerts[] | select(.host | startswith("h"))] | length' "$WORK/view.json")" -eq 0 ] ||
        fail "alerts of the first run stayed in the view"
    stop_injectord d
    # A new collector id at the same address: the old id's alerts leave the view.
    "$INJECTORD" --stats-interval 0 --collector-id test-e --listen 127.0.0.1:0 \
        --http "127.0.0.1:$http" --amqp "$INJECTOR_TEST_AMQP_URL" --amqp-exchange "$EXCHANGE" \
        >"$WORK/e.out" 2>"$WORK/e.err" &
    PID_e=$!
    PIDS+=("$PID_e")
    HTTP_e=$http
    wait_for 10 grep -q ' ready: ' "$WORK/e.err" || fail "e did not start"
    PORT_e=$(sed -n 's/.*listening on udp .*:\([0-9]*\) (receive.*/\1/p' "$WORK/e.err")
    send e --host newid --component c1 --severity 1 "from the new id"
    wait_view "$WORK/view.json" e
    grep -q "is now collector 'test-e' (was 'test-d')" "$WORK/v.err" ||
        fail "the new id was not reported"
    stop_consumer v
}

# (d) Two collectors (own ids, ports, state directories) publishing into one exchange, with the same
# host/component keys: one view, keyed by (collector, host, component), read from a quorum
# queue (as on a RabbitMQ cluster); --format table.
case_two_collectors() {
    start_injectord a --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state-a"
    start_injectord b --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state-b"
    random_stream 3000 4 >"$WORK/sa.txt"
    random_stream 3000 5 >"$WORK/sb.txt"
    send_chunks a "$WORK/sa.txt" 1000
    start_consumer v --collector "http://127.0.0.1:$HTTP_a" --collector "http://127.0.0.1:$HTTP_b" \
        --view "$WORK/view.json" --view-interval 0.2 --queue "$EXCHANGE-q" --queue-type quorum
    send_chunks b "$WORK/sb.txt" 1000
    send a --host shared --component disk --severity 1 "a says"
    send b --host shared --component disk --severity 4 "b says"
    wait_for 60 published a || fail "a: not confirmed"
    wait_for 60 published b || fail "b: not confirmed"
    wait_view "$WORK/view.json" a b
    [ "$(jq '[.alerts[] | select(.host == "shared")] | length' "$WORK/view.json")" -eq 2 ] ||
        fail "one key from two collectors must be two alerts in the view"
    jq -e '[.collectors[] | select(.synced)] | length == 2' "$WORK/view.json" >/dev/null ||
        fail "both collectors should be in step"
    stop_consumer v
    rabbitmqctl_ list_queues -q name type >"$WORK/queues.txt"
    grep -q "^$EXCHANGE-q[[:space:]]*quorum" "$WORK/queues.txt" ||
        fail "the consumer's queue is not a quorum queue"
    # The same view as a terminal table (not a terminal here: printed once, then on change).
    consume --collector "http://127.0.0.1:$HTTP_a" --collector "http://127.0.0.1:$HTTP_b" \
        --format table --timeout 1 >"$WORK/table.txt" 2>"$WORK/table.err" ||
        fail "table: $(cat "$WORK/table.err")"
    head -n 4 "$WORK/table.txt"
    local n
    n=$(jq .count "$WORK/view.json")
    local na nb
    na=$(jq '[.alerts[] | select(.collector == "test-a")] | length' "$WORK/view.json")
    nb=$(jq '[.alerts[] | select(.collector == "test-b")] | length' "$WORK/view.json")
    grep -Eq "^$n alerts; collector test-a: $na, version [0-9]+; collector test-b: $nb, version [0-9]+ at [0-9:]+\$" \
        "$WORK/table.txt" || fail "table header wrong: $(head -n1 "$WORK/table.txt")"
    [ "$(sed -n '3,$p' "$WORK/table.txt" | grep -c .)" -eq "$n" ] || fail "table rows != $n"
    sed -n '3,$p' "$WORK/table.txt" | grep . | awk '{print $1}' | sort -n -c ||
        fail "table not sorted by severity"
    # severity, age (raised seconds ago), host, component, collector, message
    grep -Eq '^1 +[0-9]+[smhd] +shared +disk +test-a +a says' "$WORK/table.txt" ||
        fail "row for a missing"
    # Not a terminal: no colour, no cursor movement, nothing marked new in the first table.
    ! grep -q $'\033' "$WORK/table.txt" || fail "escape codes in a table written to a file"
    ! grep -q '^[0-9-]*\*' "$WORK/table.txt" || fail "a row marked new in the first table"
}

# (e) The broker restarts under a running view: the consumer reconnects, resynchronises,
# and the view is exact again (the collector kept the changes in its journal meanwhile).
case_broker_restart() {
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state" --amqp-heartbeat 2
    start_consumer v --collector "http://127.0.0.1:$HTTP_d" --view "$WORK/view.json" \
        --view-interval 0.2 --format none
    wait_for 20 grep -q 'in step at version' "$WORK/v.err" || fail "consumer never synced"
    random_stream 3000 6 >"$WORK/s.txt"
    sed -n '1,1500p' "$WORK/s.txt" >"$WORK/s1.txt"
    sed -n '1501,3000p' "$WORK/s.txt" >"$WORK/s2.txt"
    send_chunks d "$WORK/s1.txt" 500
    wait_for 60 published d || fail "not confirmed"
    wait_view "$WORK/view.json" d
    broker stop
    send_chunks d "$WORK/s2.txt" 500
    wait_for 20 grep -q 'lost the broker' "$WORK/v.err" || fail "the consumer did not notice"
    broker start
    wait_for 120 published d || fail "not confirmed after the broker came back"
    wait_for 60 grep -q 'connected to the broker again' "$WORK/v.err" ||
        fail "the consumer did not reconnect"
    wait_view "$WORK/view.json" d
    grep -q 'resynchronising every collector: after a reconnect' "$WORK/v.err" ||
        fail "no resync after the reconnect"
    stop_consumer v
    [ ! -s "$WORK/v.out" ] || fail "--format none printed: $(head -n2 "$WORK/v.out")"
}

# (f) Mistakes get clear words, not a hang or a crash.
case_usage_errors() {
    local rc=0
    consume --view "$WORK/v.json" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q 'need --collector' "$WORK/err" || fail "--view alone: rc=$rc"
    rc=0
    consume --collector http://127.0.0.1:1 --bind 'raise.#' 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q 'use one or the other' "$WORK/err" || fail "--bind: rc=$rc"
    rc=0
    consume --collector ftp://x 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q 'takes http://HOST:PORT' "$WORK/err" || fail "bad URL: rc=$rc"
    rc=0
    consume --collector http://127.0.0.1:1 --format none 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q 'give --view FILE' "$WORK/err" || fail "--format none: rc=$rc"
    # An empty token or password file is said to be empty (it said "No data available").
    : >"$WORK/empty"
    rc=0
    consume --collector http://127.0.0.1:1 --http-token-file "$WORK/empty" 2>"$WORK/err" || rc=$?
    # A file that cannot be read is a failure at run time (1), not a usage error (it was 2).
    [ "$rc" -eq 1 ] && grep -q "$WORK/empty: empty\$" "$WORK/err" ||
        fail "empty token file: rc=$rc $(cat "$WORK/err")"
    rc=0
    consume --password-file "$WORK/empty" --timeout 1 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "$WORK/empty: empty\$" "$WORK/err" ||
        fail "empty password file: rc=$rc $(cat "$WORK/err")"
    # A collector that is not there: said, retried, and the consumer still runs.
    consume --collector http://127.0.0.1:1 --view "$WORK/v.json" --timeout 3 \
        2>"$WORK/err" || fail "an unreachable collector made the consumer fail"
    grep -q 'cannot reach the collector.s HTTP API at http://127.0.0.1:1/v1/alerts' \
        "$WORK/err" || fail "unreachable collector not reported: $(cat "$WORK/err")"
    jq -e '.collectors[0].synced == false and .count == 0' "$WORK/v.json" >/dev/null ||
        fail "the view should say the collector is not in step"
    # A view waits for a broker that is not there (yet), saying so, and stops cleanly.
    "$INJECTOR_CONSUME" --amqp amqp://guest:guest@127.0.0.1:1/ --collector http://127.0.0.1:1 \
        --view "$WORK/v2.json" --format none 2>"$WORK/err" &
    local pid=$!
    PIDS+=("$pid")
    wait_for 20 count_at_least 2 'retrying in' "$WORK/err" || fail "no retries: $(cat "$WORK/err")"
    grep -q 'cannot connect to 127.0.0.1:1' "$WORK/err" || fail "the reason is not said"
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "a waiting view stopped with $rc"
    # An IPv6 address in the URL is understood (and here not reachable either).
    consume --collector 'http://[::1]:1/' --view "$WORK/v6.json" --format none --timeout 1 \
        2>"$WORK/err" || fail "IPv6 collector URL: $(cat "$WORK/err")"
    grep -q 'cannot reach the collector.s HTTP API at http://\[::1\]:1/v1/alerts' "$WORK/err" ||
        fail "IPv6 URL: $(cat "$WORK/err")"
}

# (g) Every usage error exits 2 and says what was expected; --help states the rule.
case_usage_errors_say_what_is_expected() {
    local want=(
        "--amqp http://x|--amqp: broker URL 1 is not amqp[s]://user[:password]@host[:port][/vhost]"
        "--format xml|--format takes json, text, table or none, not 'xml'"
        "--count 0|--count takes a whole number > 0, not '0'"
        "--timeout soon|--timeout takes seconds > 0, not 'soon'"
        "--prefetch 0|--prefetch takes 1 to 65535, not '0'"
        "--view-interval 0|--view-interval takes seconds, 0.01 to 3600, not '0'"
        "--queue-type mirrored|--queue-type takes classic or quorum, not 'mirrored'"
        "--collector http://|--collector takes http://HOST:PORT"
        "--queue-type quorum|--queue-type needs --queue NAME"
        "--setup|--setup needs --queue NAME"
        "--bogus|unknown option '--bogus'"
        "stray|unexpected argument 'stray'"
        "--count|--count needs a value"
    )
    usage_errors_say consume -- "${want[@]}"
    local rc=0
    env -u INJECTOR_AMQP_URL "$INJECTOR_CONSUME" --format json 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -qF -- '--amqp amqp[s]://user[:password]@host[:port][/vhost] is required' \
        "$WORK/err" || fail "no --amqp: exit $rc, said: $(cat "$WORK/err")"
    "$INJECTOR_CONSUME" --help >"$WORK/help.txt"
    grep -q '^Exit status: 0 done; 1 a failure at run time' "$WORK/help.txt" &&
        grep -q '2 usage error' "$WORK/help.txt" || fail "--help does not state the exit codes"
}

# (h) --version: the program and the project's version, as injectord says it; exit 0.
case_version() {
    version_is_the_projects injector-consume "$INJECTOR_CONSUME"
}

# (i) Run-time outcomes: --timeout with fewer changes than --count is a failure (1; it was
# 3, outside the rule), and says so; --timeout alone is a normal end (0).
case_timeout_before_count_exits_1() {
    local rc=0
    consume --count 5 --timeout 1 >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -q '0 of 5 changes, none for 1.0 s' "$WORK/err" ||
        fail "--count 5 --timeout 1 without changes: exit $rc, said: $(cat "$WORK/err")"
    rc=0
    consume --timeout 1 >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 0 ] || fail "--timeout alone: exit $rc, said: $(cat "$WORK/err")"
}

# (j) --format table on a terminal (tmux): the header in words carries the messages (stderr
# is that terminal: nothing scrolls it, and no "injector-consume:" line is printed on it),
# severity 1 is red, a row that appears is marked '*' (bold) until the next change; with
# NO_COLOR set, no colour.
case_table_on_a_terminal() {
    command -v tmux >/dev/null || skip "tmux is not installed"
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state"
    send d --host db1 --component replication --severity 1 "Node is Down"
    send d --host web1 --component disk --severity 7 "almost full"
    wait_for 20 sh -c "[ \"\$(curl -s http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 2 ]" ||
        fail "the collector does not hold the two alerts"
    local sock="$WORK/tmux.sock"
    local cmd="$INJECTOR_CONSUME --amqp $INJECTOR_TEST_AMQP_URL --exchange $EXCHANGE"
    cmd+=" --collector http://127.0.0.1:$HTTP_d --format table --view-interval 0.2"
    # pane NAME ENV: run the table in a 200x20 terminal of its own; pids to PIDS for cleanup.
    pane() {
        tmux -S "$sock" -f /dev/null new-session -d -x 200 -y 20 -s "$1" "env $2 $cmd"
        PIDS+=("$(tmux -S "$sock" display-message -p -t "$1" '#{pane_pid}')")
        PIDS+=("$(tmux -S "$sock" display-message -p -t "$1" '#{pid}')")
    }
    shows() { tmux -S "$sock" capture-pane -p -t "$1" | grep -Eq "$2"; }
    pane c "-u NO_COLOR"
    wait_for 20 shows c "^collector test-d, 2 alerts, version [0-9]+ at [0-9:]+ \| [0-9:]+ .*in step" ||
        fail "header: $(tmux -S "$sock" capture-pane -p -t c | head -n 3)"
    shows c '^1 +[0-9]+s +db1 +replication +Node is Down' || fail "no row for db1 with its age"
    ! shows c 'injector-consume:' || fail "a stderr line on the table's terminal"
    ! shows c '^[0-9]+\*' || fail "a row marked new in the first table"
    tmux -S "$sock" capture-pane -p -e -t c >"$WORK/c.esc"
    grep 'db1' "$WORK/c.esc" | grep -q $'\033\\[[0-9;]*31m' || fail "severity 1 is not red"
    ! grep 'web1' "$WORK/c.esc" | grep -q $'\033\\[[0-9;]*3[13]m' || fail "severity 7 coloured"
    send d --host app1 --component cpu --severity 3 "busy"
    wait_for 20 shows c '^3\* +[0-9]+s +app1 +cpu +busy' || fail "the new row is not marked"
    send d --host web1 --component disk --severity 7 "full now"
    wait_for 20 shows c 'full now' || fail "the update is not shown"
    ! shows c '^[0-9]+\*' || fail "the mark outlived the next change"
    pane n "NO_COLOR=1"
    wait_for 20 shows n '^3 +[0-9]+s +app1' || fail "NO_COLOR: no table"
    tmux -S "$sock" capture-pane -p -e -t n >"$WORK/n.esc"
    ! grep -q $'\033\\[[0-9;]*3[13]m' "$WORK/n.esc" || fail "colour with NO_COLOR set"
    tmux -S "$sock" kill-server
}

# (k) --format text is one line per change whatever the strings hold: an acknowledgement's
# comment typed in lines (a newline and a tab, as the page's textarea sends them) is shown
# with spaces, the change's line stays whole.
case_text_lines_stay_one_line() {
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --amqp "$INJECTOR_TEST_AMQP_URL" \
        --amqp-exchange "$EXCHANGE" --state-dir "$WORK/state" --http-token-file "$WORK/token"
    consume --queue "$EXCHANGE-text" --setup 2>/dev/null || fail "--setup: exit $?"
    send d --host web12 --component disk --severity 3 "disk full"
    # post PATH JSON: POST to the collector with the token; the status must be 200.
    post() {
        local code
        code=$(curl -sS -o "$WORK/answer" -w '%{http_code}' -H 'Authorization: Bearer s3cret' \
            -X POST --data-binary "$2" "http://127.0.0.1:$HTTP_d$1")
        [ "$code" = 200 ] || fail "POST $1: $code $(cat "$WORK/answer")"
    }
    wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer s3cret' http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 1 ]" ||
        fail "the collector does not hold the alert"
    post /v1/ack '{"host":"web12","component":"disk","author":"alice","comment":"ordered\nticket 4711\tby phone\n"}'
    post /v1/unack '{"host":"web12","component":"disk","author":"bob"}'
    consume --queue "$EXCHANGE-text" --count 3 --timeout 20 --format text >"$WORK/text.out" \
        2>"$WORK/text.err" || fail "--format text: exit $?, said: $(cat "$WORK/text.err")"
    [ "$(wc -l <"$WORK/text.out")" -eq 3 ] ||
        fail "three changes, not three lines: $(cat -A "$WORK/text.out")"
    sed -n 2p "$WORK/text.out" |
        grep -q '^ack .* web12/disk  disk full  \[acked by alice: ordered ticket 4711 by phone \]$' ||
        fail "the ack's line: $(cat -A "$WORK/text.out")"
    sed -n 3p "$WORK/text.out" | grep -q '^unack .* web12/disk  disk full  \[unacked by bob: taken back\]$' ||
        fail "the unack's line: $(cat -A "$WORK/text.out")"
}

"case_$1"
