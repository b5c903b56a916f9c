#!/usr/bin/env bash
# hostile.sh CASE - hostile traffic mixed with valid alerts: every valid alert applied,
# every bad datagram counted under its reason, memory bounded, no crash (ASan build).
source "$(dirname "$0")/lib.sh"

case_mixed_hostile_flood() {
    start_injectord d --listen 127.0.0.1:0
    local pid=$PID_d rss0 rss1
    rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
    local deep big
    deep=$(printf '<a>%.0s' $(seq 1 2000))
    big=$(head -c 20000 /dev/zero | tr '\0' 'x')
    # One round: 4 valid alerts, 8 hostile datagrams of 8 kinds.
    local kinds=(
        'junk \x00\x01 not xml at all'
        '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Alert><Msg>&b;</Msg></Alert>'
        '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Alert><Action>Upd</Action><ProblemHost>&x;</ProblemHost><Component>c</Component></Alert>'
        "$deep"
        "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component><Msg>$big</Msg></Alert>"
        '<Alert><Action>Upd</Action><ProblemHost>trunc'
        '<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component><Msg><![CDATA[\xc1\xbd]]></Msg></Alert>'
        '<Alerts><Alert><Action>Upd</Action><ProblemHost>&undeclared;</ProblemHost><Component>c</Component></Alert></Alerts>'
    )
    : >"$WORK/flood.txt"
    for r in $(seq 1 500); do
        for v in 1 2 3 4; do
            echo "<Alert><Action>Upd</Action><ProblemHost>v$r-$v</ProblemHost><Component>c</Component></Alert>"
        done
        for k in "${kinds[@]}"; do
            printf '%b\n' "$k"
        done
    done >>"$WORK/flood.txt"
    # Paced in slices, so the sanitizer build keeps up and no kernel drop blurs the counts.
    # (wc -l, not grep -c: grep counts the NUL in the junk line as a line end.)
    split -l 1200 "$WORK/flood.txt" "$WORK/part."
    local sent=0
    for f in "$WORK"/part.*; do
        "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$f"
        sent=$((sent + $(wc -l <"$f")))
        wait_counter d datagrams "$sent"
    done
    kill -0 "$pid" || fail "the daemon died"
    api d /v1/stats >"$WORK/s.json"
    jq -e '.kernel_drops == 0' "$WORK/s.json" >/dev/null || fail "kernel drops blur the counts"
    jq -e '.outcomes.raise == 2000 and .alerts == 2000' "$WORK/s.json" >/dev/null ||
        fail "valid alerts lost: $(jq -c '{alerts, outcomes}' "$WORK/s.json")"
    jq -e '.malformed == 4000 and .refused.doctype == 1000 and .refused.depth == 500
           and .refused.field_too_long == 500 and .refused.encoding == 500
           and .refused.syntax == 1500' "$WORK/s.json" >/dev/null ||
        fail "refusals by reason: $(jq -c '{malformed, refused}' "$WORK/s.json")"
    rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
    [ $((rss1 - rss0)) -lt 102400 ] || fail "RSS grew by $((rss1 - rss0)) KiB"
    stop_injectord d
}

# With signatures on: forged MACs, replays, unknown keys and unsigned datagrams mixed
# with signed alerts at speed. Every signed alert applied, every forgery counted.
case_signed_flood_with_forgeries() {
    command -v openssl >/dev/null || skip "openssl not installed"
    printf 'k1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/keys"
    printf 'k1 %s\nk9 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/forger"
    start_injectord d --listen 127.0.0.1:0 --key-file "$WORK/keys" --require-signature true
    # 1,000 good, signed; 1,000 signed with the wrong key under the right id; 1,000 under an
    # unknown id; 1,000 unsigned. (Replays are tested in auth.sh.)
    for i in $(seq 1 1000); do
        echo "<Alert><Action>Upd</Action><ProblemHost>good$i</ProblemHost><Component>c</Component></Alert>"
    done >"$WORK/good.txt"
    sed 's/good/forged/' "$WORK/good.txt" >"$WORK/forged.txt"
    sed 's/good/unsigned/' "$WORK/good.txt" >"$WORK/unsigned.txt"
    "$INJECTOR_SEND" --raw --key-file "$WORK/keys" --target "127.0.0.1:$PORT_d" <"$WORK/good.txt"
    "$INJECTOR_SEND" --raw --key-file "$WORK/forger" --target "127.0.0.1:$PORT_d" <"$WORK/forged.txt"
    "$INJECTOR_SEND" --raw --key-file "$WORK/forger" --key-id k9 --target "127.0.0.1:$PORT_d" \
        <"$WORK/forged.txt"
    "$INJECTOR_SEND" --raw --target "127.0.0.1:$PORT_d" <"$WORK/unsigned.txt"
    wait_counter d datagrams 4000
    api d /v1/stats >"$WORK/s.json"
    jq -e '.kernel_drops == 0 and .outcomes.raise == 1000 and .auth_refused.bad_mac == 1000
           and .auth_refused.unknown_key == 1000 and .auth_refused.unsigned == 1000' \
        "$WORK/s.json" >/dev/null ||
        fail "signed flood: $(jq -c '{kernel_drops, outcomes, auth_refused}' "$WORK/s.json")"
    kill -0 "$PID_d" || fail "the daemon died"
    stop_injectord d
}

"case_$1"
echo "PASS: $1"
