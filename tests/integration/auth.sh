#!/usr/bin/env bash
# auth.sh CASE - signed datagrams (HMAC-SHA256 envelope) against the real daemon.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || skip "openssl not installed"

refused() { # refused REASON: the daemon's count of signature refusals for REASON
    api d /v1/stats | jq ".auth_refused.$1"
}

case_signatures() {
    printf 'k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\nk2 %s\n' \
        "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/keys"
    start_injectord d --listen 127.0.0.1:0 --key-file "$WORK/keys" --require-signature true
    send d --key-file "$WORK/keys" --host signed --component c
    send d --key-file "$WORK/keys" --key-id k2 --host rotated --component c
    wait_for 10 lines_at_least d 2 || fail "signed alerts not applied: $(cat "$WORK/d.err")"

    send d --host unsigned --component c
    wait_for 10 test "$(refused unsigned)" = 1 || fail "unsigned datagram not refused"

    # The same signed datagram twice: the second is a replay.
    "$INJECTOR_SEND" --key-file "$WORK/keys" --print --host replayed --component c >"$WORK/dgram"
    cat "$WORK/dgram" >"/dev/udp/127.0.0.1/$PORT_d"
    cat "$WORK/dgram" >"/dev/udp/127.0.0.1/$PORT_d"
    wait_for 10 test "$(refused replay)" = 1 || fail "replay not refused"
    [ "$(lines d '.host == "replayed"')" -eq 1 ] || fail "the first copy was not applied"

    # Signed with a key the collector does not have under that id.
    printf 'k1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/wrong"
    send d --key-file "$WORK/wrong" --host forged --component c
    wait_for 10 test "$(refused bad_mac)" = 1 || fail "forged MAC not refused"

    # The shell signer from parsers/FORMAT.md, as written there (now, and an hour ago).
    sign() { # sign TIME BODY
        local key nonce mac
        key=$(awk '$1 == "k1" { print $2 }' "$WORK/keys")
        nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
        mac=$(printf 'k1 %s %s\n%s' "$1" "$nonce" "$2" |
            openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" | awk '{ print $2 }')
        printf 'INJ1 k1 %s %s %s\n%s' "$1" "$nonce" "$mac" "$2" >"$WORK/signed"
        cat "$WORK/signed" >"/dev/udp/127.0.0.1/$PORT_d"
    }
    sign "$(date +%s)" '<Alert><Action>Upd</Action><ProblemHost>shell</ProblemHost><Component>c</Component></Alert>'
    wait_for 10 lines_at_least d 1 '.host == "shell"' || fail "shell-signed alert refused"
    sign "$(($(date +%s) - 3600))" '<Alert><Action>Upd</Action><ProblemHost>old</ProblemHost><Component>c</Component></Alert>'
    wait_for 10 test "$(refused stale)" = 1 || fail "stale signature not refused"

    # A signed burst: every datagram its own nonce.
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --key-file "$WORK/keys" --count 500 --json >"$WORK/b.json" || fail "signed burst: $(cat "$WORK/b.json")"
    [ "$(lines d '.host | startswith("b0-")')" -eq 500 ] || fail "signed burst not applied"
    [ "$(api d /v1/stats | jq '[.auth_refused[]] | add')" -eq 4 ] || fail "unexpected refusals"
    stop_injectord d
}

# Signing required per allow-list block: loopback must sign, without a global requirement.
case_signed_allow_list_block() {
    printf 'k1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/keys"
    rc=0
    "$INJECTORD" --listen 127.0.0.1:0 --http off --allow '127.0.0.0/8+signed' >/dev/null \
        2>"$WORK/nokey" || rc=$?
    [ "$rc" -eq 1 ] && grep -q 'marked +signed, but no key-file' "$WORK/nokey" ||
        fail "+signed without keys: rc=$rc $(cat "$WORK/nokey")"
    start_injectord d --listen 127.0.0.1:0 --key-file "$WORK/keys" --allow '127.0.0.0/8+signed'
    send d --host plain --component c
    wait_for 10 test "$(refused unsigned)" = 1 || fail "unsigned datagram from a +signed block passed"
    send d --key-file "$WORK/keys" --host signed --component c
    wait_for 10 lines_at_least d 1 '.host == "signed"' || fail "signed datagram refused"
    [ "$(lines d '.host == "plain"')" -eq 0 ] || fail "the unsigned alert was applied"
    stop_injectord d
}

"case_$1"
echo "PASS: $1"
