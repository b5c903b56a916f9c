#!/usr/bin/env bash
# history.sh CASE - GET /v1/history of the real injectord: the document's shape, and what
# the collector counted showing up as rates in its points (--history-step 1, so a test
# waits seconds, not tens of them).
source "$(dirname "$0")/lib.sh"

# points NAME JQ-CONDITION: /v1/history of daemon NAME meets the condition (for wait_for).
points() {
    api "$1" /v1/history >"$WORK/history.json" && jq -e "$2" "$WORK/history.json" >/dev/null
}

# sum NAME SERIES: the sum of a series' points (a rate per second at a 1 s step: about the
# count over the points' time).
sum() {
    api "$1" /v1/history | jq "[.series.$2[]] | add // 0"
}

# between V LOW HIGH: LOW <= V <= HIGH (V may have decimals).
between() {
    awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}

case_document_shape() {
    usage_errors_say "$INJECTORD" -- \
        '--history-step 0|not a duration from 1s to 60s' '--history-step 61|from 1s to 60s'

    # The default step: 10 s, and no point before the first step is over.
    start_injectord ten --listen 127.0.0.1:0
    api ten /v1/history >"$WORK/ten.json"
    jq -e '.step_seconds == 10 and .points == 0 and .t == [] and .series.datagrams == []' \
        "$WORK/ten.json" >/dev/null || fail "a fresh collector's history: $(cat "$WORK/ten.json")"
    stop_injectord ten

    start_injectord d --listen 127.0.0.1:0 --history-step 1
    wait_for 10 points d '.points >= 3' || fail "no 3 points in 10 s: $(cat "$WORK/history.json")"
    # Contract B (SPEC16): its keys in this order, every series as long as t, t about a
    # step apart (to the nearest second), oldest first, the last one just now; all 0 idle.
    jq -e '.points as $n
        | (keys_unsorted == ["step_seconds", "points", "t", "series"]) and .step_seconds == 1
        and (.t | length) == .points
        and ([range(1; .points) as $i | .t[$i] - .t[$i - 1]] | all(. >= 0 and . <= 3))
        and (.t[-1] | . <= now + 1 and . >= now - 5)
        and (.series | keys_unsorted) == ["datagrams", "changes", "duplicates", "kernel_drops",
                                          "refused", "lost", "lag_changes", "lag_seconds"]
        and (.series.changes | keys_unsorted[:4]) == ["raise", "update", "clear", "expire"]
        and ([.series[] | arrays, (objects | .[])] | all(length == $n))
        and ([.series[] | arrays, (objects | .[]) | .[]] | all(. == 0))' \
        "$WORK/history.json" >/dev/null || fail "history document: $(cat "$WORK/history.json")"

    local url="http://127.0.0.1:$HTTP_d"
    curl -s "$url/nope" | jq -e '.error | contains("/v1/history")' >/dev/null ||
        fail "the 404 does not list /v1/history"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/history")" = 405 ] ||
        fail "POST /v1/history is not a 405"
    stop_injectord d
}

# A burst of 1000 new alerts, then 200 datagrams refused: each shows up as rates in the
# points, adding up (rate x 1 s step) to what was sent; nothing else moves.
case_burst_shows_as_rates() {
    start_injectord d --listen 127.0.0.1:0 --history-step 1
    wait_for 10 points d '.points >= 1' || fail "no point in 10 s"
    burst_file 1000 >"$WORK/burst"
    send d --raw <"$WORK/burst"
    wait_counter d raise 1000
    for i in $(seq 1 200); do echo "junk $i"; done | send d --raw
    wait_counter d malformed 200
    # Every step that held the burst is over once a point ends a second after now (t is
    # the step's end to the nearest second).
    local after
    after=$(date +%s)
    wait_for 10 points d ".t[-1] > $after + 1" || fail "no point after the burst"
    jq -e '[.series.datagrams[] | select(. > 0)] | length >= 1' "$WORK/history.json" >/dev/null ||
        fail "the burst is in no point: $(jq -c .series "$WORK/history.json")"
    local d r dup ref lost kd
    d=$(sum d datagrams) r=$(sum d changes.raise) dup=$(sum d duplicates)
    ref=$(sum d refused) lost=$(sum d lost) kd=$(sum d kernel_drops)
    # A step is 1 s of loop time or a little more (a timer runs late, never early): the
    # rates add up to the count or a little less.
    between "$d" 960 1210 || fail "datagrams add up to $d, sent 1200"
    between "$r" 800 1010 || fail "raises add up to $r, sent 1000"
    between "$ref" 160 202 || fail "refused adds up to $ref, sent 200 junk datagrams"
    [ "$dup" = 0 ] && [ "$lost" = 0 ] && [ "$kd" = 0 ] ||
        fail "duplicates $dup, lost $lost, kernel drops $kd: expected 0"
    # The same burst again: all duplicates.
    send d --raw <"$WORK/burst"
    wait_counter d duplicate 1000
    after=$(date +%s)
    wait_for 10 points d ".t[-1] > $after + 1" || fail "no point after the second burst"
    dup=$(sum d duplicates)
    between "$dup" 800 1010 || fail "duplicates add up to $dup, sent 1000 repeats"
    stop_injectord d
}

# The same bearer token as /v1/alerts.
case_bearer_token() {
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    local url="http://127.0.0.1:$HTTP_d/v1/history"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 401 ] || fail "no token: not 401"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cre' "$url")" = 401 ] ||
        fail "a wrong token: not 401"
    curl -s -H 'Authorization: Bearer s3cret' "$url" | jq -e '.step_seconds == 10' >/dev/null ||
        fail "the token does not open /v1/history"
    stop_injectord d
}

"case_$1"
