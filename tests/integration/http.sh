#!/usr/bin/env bash
# http.sh CASE - the HTTP API of the real injectord: status codes, JSON shapes, Prometheus
# text, and the per-sender Seq accounting it reports.
source "$(dirname "$0")/lib.sh"

case_endpoints() {
    start_injectord d --listen 127.0.0.1:0
    send d --host web12 --component disk --severity 6 "disk <95%> & \"full\""
    send d --host web13 --component cpu --severity 2
    send d --host web13 --component mem --severity 3
    wait_counter d raise 3

    local port=$HTTP_d url="http://127.0.0.1:$HTTP_d"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "/healthz"
    [ "$(curl -s "$url/healthz")" = ok ] || fail "/healthz body"

    api d /v1/alerts >"$WORK/all.json"
    jq -e '.version == 3 and .count == 3 and (.alerts | length) == 3 and .collector == "test-d"' \
        "$WORK/all.json" >/dev/null || fail "/v1/alerts: $(cat "$WORK/all.json")"
    jq -e '.alerts[] | select(.host == "web12") | .msg == "disk <95%> & \"full\"" and .severity == 6
           and .version == 1 and (.first_seen | endswith("Z"))' "$WORK/all.json" >/dev/null ||
        fail "alert fields wrong"
    api d '/v1/alerts?host=web13' | jq -e '.count == 2 and ([.alerts[].host] | unique) == ["web13"]' \
        >/dev/null || fail "?host= filter"
    api d '/v1/alerts?host=nosuch' | jq -e '.count == 0 and .alerts == []' >/dev/null ||
        fail "?host= with no alerts"
    [ "$(curl -s -o /dev/null -w '%{content_type}' "$url/v1/alerts")" = application/json ] ||
        fail "content type"

    api d /v1/stats >"$WORK/stats.json"
    jq -e '.datagrams == 3 and .alerts == 3 and .outcomes.raise == 3 and .active_alerts == 3
           and .hosts == 2 and .kernel_drops == 0 and .refused.syntax == 0
           and (.listeners[0].rcvbuf > 0) and .uptime_seconds >= 0' "$WORK/stats.json" >/dev/null ||
        fail "/v1/stats: $(cat "$WORK/stats.json")"

    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")" = 404 ] || fail "404"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/alerts")" = 405 ] || fail "405"
    curl -s -D - -o /dev/null -X DELETE "$url/v1/stats" | grep -qi '^Allow: GET, HEAD' ||
        fail "405 without Allow"
    # Garbage on the HTTP port does not hurt the daemon.
    printf 'NOT HTTP\r\n\r\n' >"/dev/tcp/127.0.0.1/$port" || true
    [ "$(curl -s "$url/healthz")" = ok ] || fail "daemon hurt by a malformed request"
    stop_injectord d
}

# Prometheus text exposition: every sample line well-formed, every family with HELP and TYPE.
case_metrics_parse() {
    start_injectord d --listen 127.0.0.1:0
    send d --host a --component b
    echo 'junk' >"/dev/udp/127.0.0.1/$PORT_d"
    wait_counter d datagrams 2
    api d /metrics >"$WORK/metrics.txt"
    [ "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$HTTP_d/metrics")" = \
        'text/plain; version=0.0.4; charset=utf-8' ] || fail "metrics content type"
    awk '
        /^# HELP / { help[$3] = 1; next }
        /^# TYPE / { if ($4 != "counter" && $4 != "gauge") { print "bad type: " $0; bad = 1 }
                     type[$3] = $4; next }
        /^#/ { next }
        {
            if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [-+0-9.eE]+$/) {
                print "bad sample: " $0; bad = 1; next
            }
            name = $1; sub(/\{.*/, "", name)
            if (!(name in help) || !(name in type)) { print "no HELP/TYPE: " name; bad = 1 }
            if (type[name] == "counter" && name !~ /_total$/) { print "counter without _total: " name; bad = 1 }
        }
        END { exit bad }' "$WORK/metrics.txt" || fail "metrics do not parse"
    grep -q '^injector_datagrams_total 2$' "$WORK/metrics.txt" || fail "datagrams metric"
    grep -q '^injector_refused_total{reason="syntax"} 1$' "$WORK/metrics.txt" || fail "refused metric"
    grep -q '^injector_outcomes_total{outcome="raise"} 1$' "$WORK/metrics.txt" || fail "outcome metric"
    stop_injectord d
}

# Seq 1 2 5 5 4 from one socket: 3 and 4 skipped (2 gaps), 5 again (a duplicate), then 4
# late (a reorder, which fills one gap): gaps 1, reordered 1, duplicates 1.
case_seq_gap_accounting() {
    start_injectord d --listen 127.0.0.1:0
    for s in 1 2 5 5 4; do
        echo "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component><Seq>$s</Seq></Alert>"
    done >"$WORK/seq.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/seq.txt"
    wait_counter d datagrams 5
    api d /v1/sources >"$WORK/sources.json"
    jq -e '.sources | length == 1' "$WORK/sources.json" >/dev/null || fail "one sender expected"
    jq -e '.sources[0] | .datagrams == 5 and .alerts == 5 and .seq_gaps == 1 and .reordered == 1
           and .duplicates == 1 and .last_seq == 5 and (.sender | startswith("127.0.0.1:"))' \
        "$WORK/sources.json" >/dev/null || fail "per-sender counts: $(cat "$WORK/sources.json")"
    api d /v1/stats | jq -e '.seq_gaps == 1 and .seq_reordered == 1 and .seq_duplicates == 1' \
        >/dev/null || fail "totals in /v1/stats"
    stop_injectord d
}

# A 100,000-alert /v1/alerts answer is complete and valid JSON.
case_large_alert_table() {
    start_injectord d --listen 127.0.0.1:0
    awk 'BEGIN { for (i = 1; i <= 100000; i++)
        printf "<Alert><Action>Upd</Action><ProblemHost>n%06d</ProblemHost><Component>node</Component><Severity>3</Severity></Alert>\n", i }' \
        >"$WORK/big.txt"
    # Paced in slices, so a slow (sanitizer) build keeps up without kernel drops.
    split -l 10000 "$WORK/big.txt" "$WORK/slice."
    n=0
    for f in "$WORK"/slice.*; do
        "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$f"
        n=$((n + 10000))
        wait_counter d datagrams "$n"
    done
    [ "$(counter d kernel_drops)" -eq 0 ] || fail "kernel drops while filling"
    api d /v1/alerts >"$WORK/all.json"
    jq -e '.count == 100000 and (.alerts | length) == 100000 and .version == 100000' \
        "$WORK/all.json" >/dev/null || fail "large answer incomplete"
    stop_injectord d
}

# A bearer token guards the API (not /healthz, not /metrics unless asked); a reload reads
# the token file again, so rotating the token takes no restart.
case_bearer_token() {
    echo "s3cret-one" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    local url="http://127.0.0.1:$HTTP_d"
    code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
    [ "$(code "$url/v1/stats")" = 401 ] || fail "no token: not 401"
    curl -s -D - -o /dev/null "$url/v1/alerts" | grep -qi '^WWW-Authenticate: Bearer' ||
        fail "401 without WWW-Authenticate"
    [ "$(code -H 'Authorization: Bearer s3cret-on' "$url/v1/stats")" = 401 ] || fail "prefix accepted"
    [ "$(code -H 'Authorization: Bearer s3cret-one' "$url/v1/stats")" = 200 ] || fail "right token refused"
    [ "$(code "$url/healthz")" = 200 ] || fail "/healthz needs no token"
    [ "$(code "$url/metrics")" = 200 ] || fail "/metrics needs no token by default"
    grep -q 's3cret' "$WORK/d.err" && fail "the token appears in the log"
    echo "s3cret-two" >"$WORK/token"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: ' "$WORK/d.err" || fail "no reload"
    [ "$(code -H 'Authorization: Bearer s3cret-one' "$url/v1/stats")" = 401 ] || fail "old token kept"
    [ "$(code -H 'Authorization: Bearer s3cret-two' "$url/v1/stats")" = 200 ] || fail "new token refused"
    stop_injectord d
}

# An HTTP/1.0 client that half-closes once its request is out ("printf 'GET ...' | nc -N")
# always gets its answer. A request and its FIN that came while the loop was busy (here a
# backlog of datagrams) waited unread when the once-a-second look ran, which took the FIN
# for "the client has gone" and shut the connection unanswered. 8 clients, each connected
# before it sends (socat half-closes at the end of its input), over three backlogs.
case_request_then_half_close_is_answered() {
    command -v socat >/dev/null || skip "socat not installed"
    start_injectord d --listen 127.0.0.1:0 --output /dev/null
    _client() {
        local out
        while [ ! -e "$WORK/done" ]; do
            out=$( { read -r -t 0.02 <>"$WORK/tick" || true
                     printf 'GET /healthz HTTP/1.0\r\n\r\n'; } |
                socat -t 10 - "TCP:127.0.0.1:$HTTP_d") || true
            echo "$out" | head -n1 | tr -d '\r' >>"$WORK/answers.$1"
        done
    }
    mkfifo "$WORK/tick" # a 20 ms pause before the request, without a process for it
    local pids=() i round
    for i in 1 2 3 4 5 6 7 8; do
        _client "$i" &
        pids+=("$!")
    done
    for round in 1 2 3; do
        # A backlog that fits the socket buffer (no loss), read over a second or two.
        kill -STOP "$PID_d"
        "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --count 60000 --fresh --no-stats \
            >/dev/null
        kill -CONT "$PID_d"
        wait_counter d datagrams $((round * 60000))
    done
    touch "$WORK/done"
    wait "${pids[@]}"
    cat "$WORK"/answers.* >"$WORK/answers"
    local total good
    total=$(wc -l <"$WORK/answers")
    good=$(grep -c '^HTTP/1.[01] 200 OK$' "$WORK/answers" || true)
    [ "$total" -ge 50 ] || fail "only $total requests made"
    [ "$good" -eq "$total" ] ||
        fail "$((total - good)) of $total requests went unanswered: $(grep -v '200 OK' "$WORK/answers" | sort | uniq -c)"
    [ "$(api d /v1/stats | jq .http_dropped)" -eq 0 ] || fail "connections dropped"
    stop_injectord d
}

# /v1/alerts filters: host, component (exact or a prefix), severity, max_severity (N or worse),
# sender (as items show it), acked; several combine with AND; an unknown parameter or a bad value
# is a 400 that names it.
case_alert_filters() {
    start_injectord d --listen 127.0.0.1:0
    send d --host web12 --component disk --severity 6
    send d --host web13 --component cpu --severity 2
    send d --host web13 --component mem --severity 3
    send d --host db1 --component disk --severity 1
    send d --host db1 --component nosev
    wait_counter d raise 5

    # names QUERY: the alerts' "host/component", sorted, one line.
    names() { api d "/v1/alerts$1" | jq -r '[.alerts[] | "\(.host)/\(.component)"] | sort | join(" ")'; }
    expect() { local got; got=$(names "$1"); [ "$got" = "$2" ] || fail "$1: got '$got', want '$2'"; }
    expect '' 'db1/disk db1/nosev web12/disk web13/cpu web13/mem'
    expect '?host=web13' 'web13/cpu web13/mem'
    expect '?host=web*' 'web12/disk web13/cpu web13/mem'
    expect '?host=web12*' 'web12/disk'
    expect '?component=disk' 'db1/disk web12/disk'
    expect '?component=m*' 'web13/mem'
    expect '?component=dis' ''
    expect '?severity=3' 'web13/mem'
    expect '?severity=4' ''
    expect '?max_severity=2' 'db1/disk web13/cpu'
    expect '?max_severity=6' 'db1/disk web12/disk web13/cpu web13/mem'
    expect '?max_severity=0' ''
    # Combined: AND.
    expect '?component=disk&max_severity=3' 'db1/disk'
    expect '?host=web*&severity=2' 'web13/cpu'
    expect '?host=db1&component=disk&severity=1' 'db1/disk'
    expect '?host=db1&severity=6' ''
    api d '/v1/alerts?host=web*&max_severity=3' | jq -e '.count == 2 and .collector == "test-d"' \
        >/dev/null || fail "count of a filtered answer"

    # Items carry the sender as the change lines do; the sender filter finds exactly its alert.
    local sender
    sender=$(api d '/v1/alerts?host=web12' | jq -r '.alerts[0].sender')
    [[ $sender == 127.0.0.1:* ]] || fail "no sender in items: '$sender'"
    [ "$(jq -r 'select(.host == "web12") | .sender' "$WORK/d.out")" = "$sender" ] ||
        fail "item's sender differs from the change line's"
    api d /v1/alerts | jq -e '[.alerts[].sender | test("^127\\.0\\.0\\.1:[0-9]+$")] | all' \
        >/dev/null || fail "an item without a sender"
    expect "?sender=$sender" 'web12/disk'
    expect '?sender=127.0.0.1:*&host=db1' 'db1/disk db1/nosev'
    expect '?sender=10.0.0.1:1' ''

    # Refusals: 400, JSON, naming the parameter.
    refused() {
        local code body
        code=$(curl -s -o "$WORK/err.json" -w '%{http_code}' "http://127.0.0.1:$HTTP_d/v1/alerts$1")
        body=$(cat "$WORK/err.json")
        [ "$code" = 400 ] || fail "$1: $code, not 400: $body"
        jq -e --arg w "$2" '.error | contains($w)' "$WORK/err.json" >/dev/null ||
            fail "$1: error does not name '$2': $body"
    }
    refused '?foo=1' "'foo'"
    refused '?host=web12&colour=red' "'colour'"
    refused '?severity=abc' "'severity'"
    refused '?severity=abc' "'abc'"
    refused '?max_severity=2x' "'max_severity'"
    refused '?host=*a*a*a*a*a*a*a*b' "a '*' may only end it"
    refused '?severity=' "'severity'"
    refused '?severity=1&severity=2' "'severity'"
    refused '?acked=maybe' "'acked'"
    refused '?acked=true&acked=false' "'acked'"
    # Nothing is acknowledged here (ack.sh acknowledges): acked=false is everything.
    expect '?acked=false' 'db1/disk db1/nosev web12/disk web13/cpu web13/mem'
    expect '?acked=true' ''
    [ "$(curl -s "http://127.0.0.1:$HTTP_d/healthz")" = ok ] || fail "daemon hurt"
    stop_injectord d
}

# /metrics counts active alerts by severity: only the severities present.
case_metrics_by_severity() {
    start_injectord d --listen 127.0.0.1:0
    send d --host a --component x --severity 1
    send d --host a --component y --severity 3
    send d --host b --component y --severity 3
    send d --host b --component z --severity 5
    send d --host c --component z
    wait_counter d raise 5
    send d --host b --component z --del
    wait_counter d clear 1

    api d /metrics >"$WORK/metrics.txt"
    grep '^injector_active_alerts_by_severity' "$WORK/metrics.txt" | sort >"$WORK/sev.txt"
    printf '%s\n' 'injector_active_alerts_by_severity{severity="1"} 1' \
        'injector_active_alerts_by_severity{severity="3"} 2' \
        'injector_active_alerts_by_severity{severity="none"} 1' | sort >"$WORK/want.txt"
    diff "$WORK/want.txt" "$WORK/sev.txt" >&2 || fail "metrics by severity"
    grep -q '^# TYPE injector_active_alerts_by_severity gauge$' "$WORK/metrics.txt" ||
        fail "no TYPE line"

    # Many distinct severities (past the small sorted array: counted by sorting instead).
    awk 'BEGIN { for (i = 1; i <= 300; i++)
        printf "<Alert><Action>Upd</Action><ProblemHost>m</ProblemHost><Component>c%d</Component><Severity>%d</Severity></Alert>\n", i, 1000 - i }' \
        >"$WORK/many.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/many.txt"
    wait_counter d raise 305
    api d /metrics >"$WORK/metrics.txt"
    [ "$(grep -c '^injector_active_alerts_by_severity{' "$WORK/metrics.txt")" -eq 303 ] ||
        fail "not 303 severities: $(grep -c '^injector_active_alerts_by_severity{' "$WORK/metrics.txt")"
    grep -q '^injector_active_alerts_by_severity{severity="3"} 2$' "$WORK/metrics.txt" ||
        fail "severity 3 miscounted past 256 distinct"
    grep -q '^injector_active_alerts_by_severity{severity="700"} 1$' "$WORK/metrics.txt" ||
        fail "severity 700 missing"
    [ "$(awk '/^injector_active_alerts_by_severity\{/ { n += $2 } END { print n }' "$WORK/metrics.txt")" \
        -eq "$(api d /v1/stats | jq .active_alerts)" ] || fail "by severity does not add up to active_alerts"
    stop_injectord d
}

# An item's sender survives a restart: from the snapshot a clean stop writes, and from the
# journal after a kill -9 (no snapshot of the last changes).
case_sender_survives_restart() {
    start_injectord d --listen 127.0.0.1:0 --state-dir "$WORK/state"
    send d --host a --component x --severity 2
    send d --host b --component y --severity 4
    wait_counter d raise 2
    api d /v1/alerts | jq -S '[.alerts[] | {host, sender}] | sort_by(.host)' >"$WORK/before.json"
    jq -e 'length == 2 and all(.sender | test("^127\\.0\\.0\\.1:[0-9]+$"))' "$WORK/before.json" \
        >/dev/null || fail "senders: $(cat "$WORK/before.json")"
    stop_injectord d
    [ -s "$WORK/state/snapshot.json" ] || fail "no snapshot at a clean stop"
    start_injectord e --listen 127.0.0.1:0 --state-dir "$WORK/state"
    api e /v1/alerts | jq -S '[.alerts[] | {host, sender}] | sort_by(.host)' >"$WORK/after.json"
    diff "$WORK/before.json" "$WORK/after.json" >&2 || fail "senders lost over the snapshot"
    # An update from another socket after the restart, then kill -9: the journal has it.
    send e --host a --component x --severity 1
    wait_counter e update 1
    local new
    new=$(api e '/v1/alerts?host=a' | jq -r '.alerts[0].sender')
    [ "$new" != "$(jq -r '.[0].sender' "$WORK/before.json")" ] || fail "update kept the old sender"
    kill -KILL "$PID_e"
    wait "$PID_e" 2>/dev/null || true
    start_injectord f --listen 127.0.0.1:0 --state-dir "$WORK/state"
    [ "$(api f '/v1/alerts?host=a' | jq -r '.alerts[0].sender')" = "$new" ] ||
        fail "sender of the journaled update lost after kill -9"
    [ "$(api f "/v1/alerts?sender=$new" | jq -r '[.alerts[].host] | join(" ")')" = a ] ||
        fail "sender filter after the restart"
    stop_injectord f
}

"case_$1"
echo "PASS: $1"
