#!/usr/bin/env bash
# ack.sh CASE - acknowledgements end to end: POST /v1/ack and /v1/unack on the real daemon
# (refusals, answers, the change lines), the ack in /v1/alerts and its filter, an ack's
# expiry, a restart (clean and kill -9) with --state-dir, and a consumer's view over the
# real private RabbitMQ.
source "$(dirname "$0")/lib.sh"

TOKEN=s3cret-ack

# post NAME PATH BODY [CURL ARGS...]: POST BODY to daemon NAME with the token; the body of
# the answer goes to $WORK/answer, the status code is printed.
post() {
    local port
    port=$(eval echo "\$HTTP_$1")
    curl -sS --max-time 10 -o "$WORK/answer" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary "$3" "${@:4}" "http://127.0.0.1:$port$2"
}

# expect CODE NAME PATH BODY [CURL ARGS...]: post answers CODE; with an error, its message
# names what it is about (the rest of the words are checked by the caller).
expect() {
    local want=$1 got
    shift
    got=$(post "$@")
    [ "$got" = "$want" ] || fail "POST $2 $3: $got (want $want): $(cat "$WORK/answer")"
    if [ "$want" != 200 ]; then
        jq -e '.error | type == "string"' "$WORK/answer" >/dev/null ||
            fail "POST $2 $3: $want without an error message: $(cat "$WORK/answer")"
    fi
}

said() {
    grep -qF -- "$1" "$WORK/answer" || fail "the answer does not say '$1': $(cat "$WORK/answer")"
}

# has_line FILE FILTER: a JSON line of FILE matches the jq FILTER.
has_line() {
    [ "$(jq -c "select($2)" "$1" | wc -l)" -ge 1 ]
}

# authed NAME PATH: GET with the token.
authed() {
    local port
    port=$(eval echo "\$HTTP_$1")
    curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port$2"
}

# ack_of NAME HOST COMPONENT: the alert's "ack" in /v1/alerts (null when none).
ack_of() {
    authed "$1" "/v1/alerts?host=$2&component=$3" | jq -c '.alerts[0].ack'
}

start_acking() {
    echo "$TOKEN" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token" "$@"
}

# (a) The API's answers, each refusal with its code and a message naming the field, and
# what the sinks see: ack and unack lines in the same version series, the ack on the lines
# of an acknowledged alert, gone on a worse update and on a clear.
case_http_answers() {
    # Without a token configured, nobody may acknowledge.
    start_injectord n --listen 127.0.0.1:0
    local code
    code=$(curl -sS -o "$WORK/answer" -w '%{http_code}' -X POST -d '{}' \
        "http://127.0.0.1:$HTTP_n/v1/ack")
    [ "$code" = 403 ] || fail "no token configured: $code (want 403)"
    said "start injectord with --http-token-file FILE"
    stop_injectord n

    start_acking
    send d --host web12 --component disk --severity 3 "disk full"
    send d --host web13 --component disk --severity 5 "disk filling"
    wait_for 10 lines_at_least d 2 || fail "the raises did not come out"
    local url="http://127.0.0.1:$HTTP_d/v1/ack" body
    body='{"host":"web12","component":"disk","author":"alice","comment":"disk ordered"}'
    code=$(curl -sS -o "$WORK/answer" -w '%{http_code}' -X POST -d "$body" "$url")
    [ "$code" = 401 ] || fail "no token: $code (want 401)"
    code=$(curl -sS -o "$WORK/answer" -w '%{http_code}' -X POST -H 'Authorization: Bearer nope' \
        -d "$body" "$url")
    [ "$code" = 401 ] || fail "a wrong token: $code (want 401)"
    [ "$(lines d)" -eq 2 ] || fail "a refused POST made a change"

    expect 200 d /v1/ack "$body"
    jq -e '.outcome == "ack" and .version == 3 and .alert.host == "web12" and
        .alert.ack.author == "alice" and .alert.ack.comment == "disk ordered" and
        (.alert.ack.at | test("^20[0-9-]+T[0-9:.]+Z$")) and (.alert.ack | has("expires") | not)' \
        "$WORK/answer" >/dev/null || fail "the 200 answer: $(cat "$WORK/answer")"
    wait_for 10 lines_at_least d 1 '.outcome == "ack"' || fail "no ack line"
    has_line "$WORK/d.out" '.outcome == "ack" and .version == 3 and .host == "web12" and
        .severity == 3 and .ack.author == "alice" and .ack.comment == "disk ordered"' ||
        fail "the ack line: $(grep '"ack"' "$WORK/d.out")"

    expect 404 d /v1/ack '{"host":"web12","component":"cpu","author":"a","comment":"c"}'
    said "no active alert for host 'web12', component 'cpu'"
    # Named whole, as sent: not cut at 40 bytes, UTF-8 kept (255 bytes each at most).
    local long_host long_comp
    long_host="wéb-$(head -c 200 /dev/zero | tr '\0' x)-é"
    long_comp=$(head -c 255 /dev/zero | tr '\0' c)
    expect 404 d /v1/ack "{\"host\":\"$long_host\",\"component\":\"$long_comp\",\"author\":\"a\",\"comment\":\"c\"}"
    [ "$(jq -r .error "$WORK/answer")" = "no active alert for host '$long_host', component '$long_comp'" ] ||
        fail "the 404 does not name the alert whole: $(cat "$WORK/answer")"
    expect 409 d /v1/unack '{"host":"web13","component":"disk"}'
    said "the alert for host 'web13', component 'disk' is not acknowledged"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","author":"alice"}'
    said "'comment'"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","comment":"c"}'
    said "'author'"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","author":"","comment":"c"}'
    said "'author'"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","author":"a","comment":"c","expires":"4h"}'
    said "unknown field 'expires': /v1/ack takes host, component, author, comment, expire"
    expect 400 d /v1/unack '{"host":"web12","component":"disk","comment":"c"}'
    said "unknown field 'comment': /v1/unack takes host, component, author"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","author":"a","comment":"c","expire":"4 hours"}'
    said "'expire'"
    expect 400 d /v1/ack '{"host":"web12","component":"disk","author":"a","comment":"c","expire":-5}'
    said "'expire'"
    expect 400 d /v1/ack '{"host":"web12","component":"disk",'
    said "not a JSON object"
    expect 400 d /v1/ack '["web12","disk"]'
    expect 400 d /v1/ack "{\"host\":\"web12\",\"component\":\"disk\",\"author\":\"a\",\"comment\":\"$(head -c 1025 /dev/zero | tr '\0' c)\"}"
    said "'comment'"
    local big
    big="{\"host\":\"web12\",\"component\":\"disk\",\"author\":\"a\",\"comment\":\"$(head -c 9000 /dev/zero | tr '\0' c)\"}"
    expect 413 d /v1/ack "$big"
    said "8 KiB"
    # Control characters in who and why: they would reach terminals raw (and a line per
    # change). Refused in the author: C0, DEL, C1 (U+009B is a CSI), bidi overrides and line
    # separators (U+202E shows the rest of a row reversed); in the comment the same but
    # newline and tab (a multi-line comment is accepted below).
    local bad
    for bad in '\u001b[2J\u001b[31mmallory' 'al\nice' 'al\tice' 'al\u007fice' 'al\u009b2Jice' \
        'al\u202eice' 'al\u2028ice'; do
        expect 400 d /v1/ack "{\"host\":\"web12\",\"component\":\"disk\",\"author\":\"$bad\",\"comment\":\"c\"}"
        said "bad value for 'author': control characters are refused"
    done
    for bad in 'one\rtwo' 'bell\u0007' '\u001b]0;title\u0007' 'csi\u009b2J' 'del\u007f' \
        'isolate\u2066'; do
        expect 400 d /v1/ack "{\"host\":\"web12\",\"component\":\"disk\",\"author\":\"a\",\"comment\":\"$bad\"}"
        said "bad value for 'comment': control characters are refused (newline and tab are allowed)"
    done
    expect 400 d /v1/unack '{"host":"web12","component":"disk","author":"\u001b[2Jbob"}'
    said "'author'"
    # Without a length announced (chunked): read up to the cap and refused all the same.
    expect 413 d /v1/ack "$big" -H 'Transfer-Encoding: chunked'
    # Other methods: 405 with what is allowed there.
    curl -sS -D "$WORK/headers" -o /dev/null -H "Authorization: Bearer $TOKEN" "$url"
    grep -q '^HTTP/1.1 405' "$WORK/headers" && grep -qi '^Allow: POST' "$WORK/headers" ||
        fail "GET /v1/ack: $(cat "$WORK/headers")"
    curl -sS -D "$WORK/headers" -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -d '{}' \
        "http://127.0.0.1:$HTTP_d/v1/alerts"
    grep -q '^HTTP/1.1 405' "$WORK/headers" && grep -qi '^Allow: GET, HEAD' "$WORK/headers" ||
        fail "POST /v1/alerts: $(cat "$WORK/headers")"
    [ "$(lines d)" -eq 3 ] || fail "a refused POST made a change: $(cat "$WORK/d.out")"

    # The ack in /v1/alerts, and the acked filter.
    [ "$(ack_of d web12 disk | jq -r .author)" = alice ] || fail "no ack in /v1/alerts"
    [ "$(ack_of d web13 disk)" = null ] || fail "web13 shows an ack"
    [ "$(authed d '/v1/alerts?acked=true' | jq -c '[.alerts[].host]')" = '["web12"]' ] ||
        fail "acked=true: $(authed d '/v1/alerts?acked=true')"
    [ "$(authed d '/v1/alerts?acked=false' | jq -c '[.alerts[].host]')" = '["web13"]' ] ||
        fail "acked=false: $(authed d '/v1/alerts?acked=false')"
    authed d '/v1/alerts?acked=perhaps' | jq -e '.error | test("acked")' >/dev/null ||
        fail "acked=perhaps is not refused naming it"

    # Re-acknowledged: replaced, a new change; an update that is not worse keeps it.
    # (A comment of several lines, with tabs, is fine: a person writes lines.)
    expect 200 d /v1/ack '{"host":"web12","component":"disk","author":"bob","comment":"vendor called\n\tETA Monday","expire":"4h"}'
    jq -e '.version == 4 and .alert.ack.author == "bob" and (.alert.ack.expires | type == "string")
        and .alert.ack.comment == "vendor called\n\tETA Monday"' \
        "$WORK/answer" >/dev/null || fail "re-ack: $(cat "$WORK/answer")"
    send d --host web12 --component disk --severity 4 "disk full, cleaning"
    wait_for 10 lines_at_least d 1 '.outcome == "update" and .version == 5' || fail "no update"
    lines_at_least d 1 '.version == 5 and .ack.author == "bob"' ||
        fail "the update that is not worse lost the ack: $(tail -n1 "$WORK/d.out")"
    # Worse than when acknowledged (2 < 3): the update line has no ack, and it is gone.
    send d --host web12 --component disk --severity 2 "disk full, writes failing"
    wait_for 10 lines_at_least d 1 '.outcome == "update" and .version == 6' || fail "no update"
    lines_at_least d 1 '.version == 6 and (has("ack") | not)' ||
        fail "the worse update still carries the ack: $(tail -n1 "$WORK/d.out")"
    [ "$(ack_of d web12 disk)" = null ] || fail "the ack outlived a worse update"
    expect 409 d /v1/unack '{"host":"web12","component":"disk","author":"bob"}'

    # Acknowledge, take back: an unack line without the ack, with who and why.
    expect 200 d /v1/ack '{"host":"web13","component":"disk","author":"carol","comment":"known"}'
    expect 200 d /v1/unack '{"host":"web13","component":"disk","author":"dave"}'
    jq -e '.outcome == "unack" and .version == 8 and (.alert | has("ack") | not)' \
        "$WORK/answer" >/dev/null || fail "unack answer: $(cat "$WORK/answer")"
    wait_for 10 lines_at_least d 1 '.outcome == "unack"' || fail "no unack line"
    lines_at_least d 1 '.outcome == "unack" and .version == 8 and (has("ack") | not) and
        .unack.author == "dave" and .unack.reason == "taken back"' ||
        fail "the unack line: $(grep unack "$WORK/d.out")"
    # A clear takes the ack with it, with no line of its own.
    expect 200 d /v1/ack '{"host":"web13","component":"disk","author":"carol","comment":"again"}'
    send d --action Del --host web13 --component disk
    wait_for 10 lines_at_least d 1 '.outcome == "clear" and .version == 10' || fail "no clear"
    [ "$(lines d)" -eq 10 ] || fail "more lines than changes: $(cat "$WORK/d.out")"
    send d --host web13 --component disk --severity 5 "disk filling"
    wait_for 10 lines_at_least d 1 '.outcome == "raise" and .version == 11' || fail "no raise"
    lines_at_least d 1 '.version == 11 and (has("ack") | not)' || fail "a raise carries an ack"
    # Counted per outcome, like the others.
    wait_counter d ack 4
    [ "$(counter d unack)" -eq 1 ] || fail "unack=$(counter d unack)"
    authed d /v1/stats | jq -e '.outcomes.ack == 4 and .outcomes.unack == 1' >/dev/null ||
        fail "/v1/stats: $(authed d /v1/stats | jq -c .outcomes)"
    check_versions "$WORK/d.out" 11
    grep -q "http .*: ack web12/disk by alice (version 3)" "$WORK/d.err" ||
        fail "the ack is not in the log"
    stop_injectord d
}

# (a2) A POST body trickled (by a token holder: nobody else gets to send one) is held to the
# request deadline like headers: the connection is closed by 10 s after it opened, counted
# in http_dropped, and the API answers meanwhile.
case_slow_body_is_dropped() {
    start_acking
    exec {slow}<>"/dev/tcp/127.0.0.1/$HTTP_d"
    printf 'POST /v1/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n' "$TOKEN" >&"$slow"
    printf 'Content-Length: 200\r\n\r\n{"host":' >&"$slow"
    local t0=$SECONDS
    [ "$(authed d /healthz)" = ok ] || fail "the API does not answer while a body trickles"
    wait_for 20 _stats_at_least d http_dropped 1 || fail "the trickling POST was not dropped"
    [ $((SECONDS - t0)) -le 12 ] || fail "dropped only after $((SECONDS - t0)) s"
    # Its socket is closed: reading it ends (EOF), no answer was sent.
    local rest
    rest=$(timeout 5 cat <&"$slow") || fail "the connection is still open"
    [ -z "$rest" ] || fail "an answer to half a body: $rest"
    exec {slow}<&-
}

# (b) An ack with an expiry lapses by itself: an unack line, reason "expired", no author;
# the alert stays. One without an expiry stays.
case_expiry() {
    start_acking
    send d --host web12 --component disk --severity 3 "disk full"
    send d --host web13 --component disk --severity 3 "disk full"
    wait_for 10 lines_at_least d 2 || fail "the raises did not come out"
    expect 200 d /v1/ack '{"host":"web12","component":"disk","author":"alice","comment":"c","expire":1}'
    expect 200 d /v1/ack '{"host":"web13","component":"disk","author":"alice","comment":"c","expire":"0"}'
    jq -e '.alert.ack | has("expires") | not' "$WORK/answer" >/dev/null ||
        fail "expire 0 is not 'none': $(cat "$WORK/answer")"
    wait_for 10 lines_at_least d 1 '.outcome == "unack"' || fail "the ack never lapsed"
    lines_at_least d 1 '.outcome == "unack" and .host == "web12" and .version == 5 and
        .unack.reason == "expired" and (.unack | has("author") | not) and (has("ack") | not)' ||
        fail "the expiry's line: $(grep unack "$WORK/d.out")"
    [ "$(ack_of d web12 disk)" = null ] || fail "the lapsed ack is still shown"
    [ "$(authed d /v1/alerts | jq .count)" -eq 2 ] || fail "the alert went with its ack"
    [ "$(ack_of d web13 disk | jq -r .author)" = alice ] || fail "the ack without expiry went"
    [ "$(lines d '.outcome == "unack"')" -eq 1 ] || fail "more than one unack"
}

# (c) Acks are state: a clean restart (snapshot) and a kill -9 (snapshot + journal) with
# --state-dir keep them, the version series goes on, and a worse update after the restart
# still drops one (the severity it was made at is kept).
case_restart_keeps_acks() {
    start_acking --state-dir "$WORK/state"
    local http=$HTTP_d
    send d --host web12 --component disk --severity 3 "disk full"
    send d --host web13 --component disk --severity 4 "disk full"
    wait_for 10 lines_at_least d 2 || fail "the raises did not come out"
    expect 200 d /v1/ack '{"host":"web12","component":"disk","author":"alice","comment":"ordered","expire":"4h"}'
    local before
    before=$(ack_of d web12 disk)
    stop_injectord d
    start_acking --state-dir "$WORK/state" --http "127.0.0.1:$http"
    [ "$(ack_of d web12 disk)" = "$before" ] ||
        fail "after a clean restart: $(ack_of d web12 disk), was $before"
    # Changes after the snapshot, then kill -9: the journal has them.
    expect 200 d /v1/ack '{"host":"web13","component":"disk","author":"bob","comment":"known"}'
    expect 200 d /v1/ack '{"host":"web12","component":"disk","author":"carol","comment":"mine now"}'
    before=$(ack_of d web12 disk)
    local version
    version=$(authed d /v1/alerts | jq .version)
    kill -KILL "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    start_acking --state-dir "$WORK/state" --http "127.0.0.1:$http"
    [ "$(authed d /v1/alerts | jq .version)" -eq "$version" ] || fail "the version went back"
    [ "$(ack_of d web12 disk)" = "$before" ] ||
        fail "after kill -9: $(ack_of d web12 disk), was $before"
    [ "$(ack_of d web13 disk | jq -r .author)" = bob ] || fail "web13's ack is lost"
    # Made at 4: 5 is better (kept), 3 is worse (dropped).
    send d --host web13 --component disk --severity 5 "disk full"
    send d --host web12 --component disk --severity 2 "disk full"
    wait_for 10 lines_at_least d 2 '.outcome == "update"' || fail "no updates"
    [ "$(ack_of d web13 disk | jq -r .author)" = bob ] || fail "a better update dropped the ack"
    [ "$(ack_of d web12 disk)" = null ] || fail "a worse update after the restart kept the ack"
    lines_at_least d 1 ".outcome == \"update\" and .version == $((version + 2)) and (has(\"ack\") | not)" ||
        fail "the worse update's line: $(tail -n2 "$WORK/d.out")"
    stop_injectord d
}

# (d) A consumer's view over RabbitMQ: the ack reaches it (routing key ack.<severity>.
# <host>), the view and its table carry it, an unack takes it away, and a consumer that
# starts later has it from the snapshot.
case_consumer_view() {
    need_broker
    echo "$TOKEN" >"$WORK/token"
    consume --queue "$EXCHANGE-acks" --bind 'ack.#' --bind 'unack.#' --setup 2>/dev/null
    start_acking --amqp "$INJECTOR_TEST_AMQP_URL" --amqp-exchange "$EXCHANGE"
    start_consumer v --collector "http://127.0.0.1:$HTTP_d" --http-token-file "$WORK/token" \
        --view "$WORK/view.json" --view-interval 0.2
    wait_for 20 grep -q 'in step at version' "$WORK/v.err" || fail "consumer never synced"
    send d --host web12 --component disk --severity 3 "disk full"
    wait_for 20 sh -c "jq -e '.count == 1' '$WORK/view.json' >/dev/null 2>&1" ||
        fail "the raise did not reach the view"
    expect 200 d /v1/ack '{"host":"web12","component":"disk","author":"alice","comment":"ordered"}'
    wait_for 20 sh -c "jq -e '.alerts[0].ack.author == \"alice\"' '$WORK/view.json' >/dev/null" ||
        fail "the view has no ack: $(cat "$WORK/view.json")"
    jq -e '.alerts[0].ack.comment == "ordered" and .alerts[0].version == 2' "$WORK/view.json" \
        >/dev/null || fail "the view's ack: $(cat "$WORK/view.json")"
    # A second consumer, started now, has it from the snapshot.
    start_consumer w --collector "http://127.0.0.1:$HTTP_d" --http-token-file "$WORK/token" \
        --view "$WORK/w.json" --view-interval 0.2 --format none
    wait_for 20 sh -c "jq -e '.alerts[0].ack.author == \"alice\"' '$WORK/w.json' >/dev/null 2>&1" ||
        fail "a later consumer's view has no ack"
    expect 200 d /v1/unack '{"host":"web12","component":"disk","author":"bob"}'
    wait_for 20 sh -c "jq -e '.alerts[0].version == 3 and (.alerts[0] | has(\"ack\") | not) and
        (.alerts[0] | has(\"unack\") | not)' '$WORK/view.json' >/dev/null" ||
        fail "the unack did not reach the view: $(cat "$WORK/view.json")"
    # Routed as ack.<severity>.<host>: a queue bound to ack.# and unack.# has exactly those;
    # --format text says who and why.
    consume --queue "$EXCHANGE-acks" --count 2 --timeout 20 --format text >"$WORK/acks.out" \
        2>"$WORK/acks.err" || fail "the ack queue: $(cat "$WORK/acks.err")"
    grep -q '^ack .* web12/disk  disk full  \[acked by alice: ordered\]$' "$WORK/acks.out" &&
        grep -q '^unack .* web12/disk  disk full  \[unacked by bob: taken back\]$' "$WORK/acks.out" &&
        [ "$(wc -l <"$WORK/acks.out")" -eq 2 ] || fail "the ack queue holds: $(cat "$WORK/acks.out")"
    stop_consumer v
    stop_consumer w
    # The lines the consumer printed: the ack and the unack, as the collector wrote them.
    has_line "$WORK/v.out" '.outcome == "ack" and .version == 2 and .ack.author == "alice"' ||
        fail "the consumer printed no ack line: $(cat "$WORK/v.out")"
    has_line "$WORK/v.out" '.outcome == "unack" and .version == 3 and .unack.author == "bob"' ||
        fail "the consumer printed no unack line: $(cat "$WORK/v.out")"
    # Folded as updates (lib.sh's replay), the lines give the table: the alert, at version 3.
    replay "$WORK/v.out" | jq -e 'length == 1 and .[0].host == "web12" and .[0].version == 3' \
        >/dev/null || fail "the lines do not add up to the table: $(replay "$WORK/v.out")"
    grep -q 'gaps=0 ' "$WORK/v.err" || fail "a gap: $(tail -n1 "$WORK/v.err")"
}

"case_$1"
