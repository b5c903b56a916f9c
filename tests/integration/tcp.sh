#!/usr/bin/env bash
# tcp.sh CASE - TCP submission: one document per connection, one XML reply.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || skip "socat not installed"

# submit TEXT: send TEXT over TCP to daemon d, print the reply.
submit() {
    # A client still sending when the reply comes (too large) may see a broken pipe.
    printf '%s' "$1" | socat -t 5 - "TCP:127.0.0.1:$PORT_d" 2>/dev/null || true
}

case_one_document_one_reply() {
    start_injectord d --listen 127.0.0.1:0 --tcp true
    grep -q "listening on tcp 127.0.0.1:$PORT_d" "$WORK/d.err" || fail "no TCP listener"
    r=$(submit '<Alerts><Alert><Action>Upd</Action><ProblemHost>t1</ProblemHost><Component>c</Component></Alert><Alert><Action>Del</Action><ProblemHost>none</ProblemHost><Component>c</Component></Alert></Alerts>')
    [ "$r" = '<Reply status="ok"><Result outcome="raise" version="1" host="t1" component="c"/><Result outcome="redundant_clear" host="none" component="c"/></Reply>' ] ||
        fail "batch reply: $r"
    # A document split across writes is taken whole once its end arrives.
    r=$( (printf '<Alert><Action>Upd</Action><ProblemHost>t2</ProblemHost>'; sleep 0.3
          printf '<Component>c</Component></Alert>') | socat -t 5 - "TCP:127.0.0.1:$PORT_d")
    [ "$r" = '<Reply status="ok"><Result outcome="raise" version="2" host="t2" component="c"/></Reply>' ] ||
        fail "split document: $r"
    # Cut short, then the client closes: an error reply naming the reason.
    r=$(submit '<Alert><Action>Upd')
    case "$r" in *'status="error"'*'reason="syntax"'*truncated*) ;; *) fail "truncated: $r" ;; esac
    # Too large.
    big=$(head -c 70000 /dev/zero | tr '\0' 'x')
    r=$(submit "<Alert><Msg>$big</Msg></Alert>")
    case "$r" in *'reason="too_large"'*) ;; *) fail "too large: ${r:0:200}" ;; esac
    # The same table as UDP, the documents counted apart from datagrams.
    send d --host t1 --component c --del
    wait_for 10 lines_at_least d 3 || fail "UDP Del of a TCP alert"
    api d /v1/stats | jq -e '.tcp_documents == 3 and .datagrams == 1 and .tcp_connections == 4
                             and .outcomes.raise == 2 and .outcomes.clear == 1' >/dev/null ||
        fail "counters: $(api d /v1/stats)"
    stop_injectord d
}

# A document whose only alert is refused is an error, with the reason; one with a refused
# alert beside an applied one is an error too, and still names the applied one's result.
case_refused_alert_is_an_error() {
    start_injectord d --listen 127.0.0.1:0 --tcp true
    r=$(submit '<Alert><Action>Upd</Action><ProblemHost>t1</ProblemHost><Component>c</Component><Severity>abc</Severity></Alert>')
    [ "$r" = "<Reply status=\"error\"><Error reason=\"bad_number\">line 1: alert 1: Severity 'abc' is not an integer in [-2147483648, 2147483647]</Error></Reply>" ] ||
        fail "refused only: $r"
    r=$(submit '<Alerts><Alert><Action>Upd</Action><ProblemHost>t2</ProblemHost><Component>c</Component></Alert><Alert><Action>Upd</Action><Component>c</Component></Alert></Alerts>')
    [ "$r" = '<Reply status="error"><Error reason="no_host">line 1: alert 2: ProblemHost is missing or empty</Error><Result outcome="raise" version="1" host="t2" component="c"/></Reply>' ] ||
        fail "one of two refused: $r"
    # One line each: the reply is not followed by an empty line.
    [ "$(submit '<Alert><Action>Del</Action><ProblemHost>t2</ProblemHost><Component>c</Component></Alert>' | wc -l)" = 1 ] ||
        fail "the reply is not one line"
    api d /v1/stats | jq -e '.invalid == 2 and .outcomes.raise == 1 and .outcomes.clear == 1' >/dev/null ||
        fail "counters: $(api d /v1/stats)"
    stop_injectord d
}

"case_$1"
echo "PASS: $1"
