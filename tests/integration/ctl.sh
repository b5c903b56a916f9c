#!/usr/bin/env bash
# ctl.sh CASE - injector-ctl against the real injectord on loopback: every command, its
# filters and output formats, the exit status rule (0 done, 1 failure at run time, 2 usage).
source "$(dirname "$0")/lib.sh"
: "${INJECTOR_CTL:?INJECTOR_CTL must name the injector-ctl binary}"

# ctl NAME ARGS...: injector-ctl against daemon NAME's HTTP API.
ctl() {
    local name=$1
    shift
    "$INJECTOR_CTL" --collector "http://127.0.0.1:$(eval echo "\$HTTP_$name")" "$@"
}

# keys FILE: the alerts of a -o json array or of -o lines, as "host/component" lines in
# their order.
keys() {
    jq -r 'if type == "array" then .[] else . end | "\(.host)/\(.component)"' "$1"
}

# The alerts most tests query: hosts a glob of two stars sorts out, severities 1 to 7 and
# one without a severity.
send_alerts() {
    send "$1" --host web-eu-01 --component disk --severity 3 "disk 91% full"
    send "$1" --host web-eu-02 --component disk-var --severity 2 "disk 97% full"
    send "$1" --host web-us-01 --component http --severity 1 "HTTP down"
    send "$1" --host web-us-11 --component disk --severity 7 "disk 80% full"
    send "$1" --host db1 --component replication --severity 1 "Node is Down"
    send "$1" --host db1 --component backup "no severity given"
    wait_for 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$(eval echo "\$HTTP_$1")/v1/alerts | jq .count)\" = 6 ]" ||
        fail "the collector does not hold the six alerts"
}

# Filters: globs the collector cannot do (two stars, a leading star) done here; severity
# exact and N or worse; the sender; every filter given must hold. The answer is the
# server's items (-o json: the same objects), most severe first.
case_alerts_filters() {
    start_injectord d --listen 127.0.0.1:0
    send_alerts d
    # What the collector cannot do itself: a '*' not at the end is refused there.
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_d/v1/alerts?host=web-*-01")" = 400 ] ||
        fail "the collector took a glob of two stars: the test's premise is gone"
    ctl d alerts --host 'web-*-0*' -o json >"$WORK/a.json" || fail "alerts --host exit $?"
    [ "$(keys "$WORK/a.json" | tr '\n' ' ')" = "web-us-01/http web-eu-02/disk-var web-eu-01/disk " ] ||
        fail "--host 'web-*-0*': $(keys "$WORK/a.json" | tr '\n' ' ')"
    # The items are the collector's, field for field.
    curl -s "http://127.0.0.1:$HTTP_d/v1/alerts" |
        jq -S '[.alerts[] | select(.host | test("^web-.*-0"))] | sort_by(.host)' >"$WORK/want.json"
    jq -S 'sort_by(.host)' "$WORK/a.json" >"$WORK/have.json"
    cmp -s "$WORK/want.json" "$WORK/have.json" ||
        fail "-o json is not the collector's items: $(diff "$WORK/want.json" "$WORK/have.json" | head)"
    ctl d alerts --component '*disk*' -o lines >"$WORK/b" || fail "--component exit $?"
    [ "$(keys "$WORK/b" | tr '\n' ' ')" = "web-eu-02/disk-var web-eu-01/disk web-us-11/disk " ] ||
        fail "--component '*disk*': $(keys "$WORK/b" | tr '\n' ' ')"
    ctl d alerts --host 'web-??-1?' -o lines >"$WORK/c" || fail "--host ? exit $?"
    [ "$(keys "$WORK/c")" = "web-us-11/disk" ] || fail "--host 'web-??-1?': $(keys "$WORK/c")"
    ctl d alerts --host db1 --component 'rep*' -o lines >"$WORK/d" || fail "exact host exit $?"
    [ "$(keys "$WORK/d")" = "db1/replication" ] || fail "--host db1 --component 'rep*': $(keys "$WORK/d")"
    # Severity: exact, and N or worse (1 is the most severe); none passes neither.
    ctl d alerts --severity 1 -o lines >"$WORK/e" || fail "--severity 1 exit $?"
    [ "$(keys "$WORK/e" | tr '\n' ' ')" = "db1/replication web-us-01/http " ] ||
        fail "--severity 1: $(keys "$WORK/e" | tr '\n' ' ')"
    ctl d alerts --severity '<=2' --host 'web*' -o lines >"$WORK/f" || fail "--severity '<=2' exit $?"
    [ "$(keys "$WORK/f" | tr '\n' ' ')" = "web-us-01/http web-eu-02/disk-var " ] ||
        fail "--severity '<=2' --host 'web*': $(keys "$WORK/f" | tr '\n' ' ')"
    ctl d alerts --severity '<=7' -o lines >"$WORK/g" || fail "--severity '<=7' exit $?"
    [ "$(wc -l <"$WORK/g")" -eq 5 ] && ! grep -q backup "$WORK/g" ||
        fail "--severity '<=7' kept the alert without a severity, or lost one: $(keys "$WORK/g")"
    ctl d alerts --sender '127.0.0.1:*' --component backup -o lines >"$WORK/h" || fail "--sender exit $?"
    [ "$(keys "$WORK/h")" = "db1/backup" ] || fail "--sender '127.0.0.1:*': $(keys "$WORK/h")"
    ctl d alerts --sender '10.*' -o json >"$WORK/i" || fail "--sender 10.* exit $?"
    [ "$(jq length "$WORK/i")" = 0 ] || fail "--sender '10.*' matched: $(cat "$WORK/i")"
    # No filter: all six, most severe first, the one without a severity last.
    ctl d alerts -o lines >"$WORK/all" || fail "alerts exit $?"
    [ "$(keys "$WORK/all" | tr '\n' ' ')" = "db1/replication web-us-01/http web-eu-02/disk-var web-eu-01/disk web-us-11/disk db1/backup " ] ||
        fail "order: $(keys "$WORK/all" | tr '\n' ' ')"
    stop_injectord d
}

# Age = now - first_seen: --older-than and --newer-than split the alerts at DUR; a refresh
# does not make an alert younger.
case_alerts_age() {
    start_injectord d --listen 127.0.0.1:0
    send d --host old1 --component c --severity 3 "raised first"
    old1_is_2s_old() {
        ctl d alerts --older-than 2s -o lines >"$WORK/aged" && grep -q old1 "$WORK/aged"
    }
    wait_for 10 old1_is_2s_old || fail "old1 never got 2 s old: $(ctl d alerts -o lines)"
    send d --host old1 --component c --severity 3 "raised first" # a refresh (duplicate)
    send d --host new1 --component c --severity 3 "raised later"
    ctl d alerts --older-than 2s -o lines >"$WORK/old" || fail "--older-than exit $?"
    [ "$(keys "$WORK/old")" = "old1/c" ] || fail "--older-than 2s: $(keys "$WORK/old")"
    ctl d alerts --newer-than 2000ms -o lines >"$WORK/new" || fail "--newer-than exit $?"
    [ "$(keys "$WORK/new")" = "new1/c" ] || fail "--newer-than 2000ms: $(keys "$WORK/new")"
    ctl d alerts --newer-than 1h -o lines >"$WORK/h" || fail "--newer-than 1h exit $?"
    [ "$(wc -l <"$WORK/h")" -eq 2 ] || fail "--newer-than 1h: $(keys "$WORK/h")"
    ctl d alerts --older-than 1h -o json >"$WORK/none" || fail "--older-than 1h exit $?"
    [ "$(jq length "$WORK/none")" = 0 ] || fail "--older-than 1h: $(cat "$WORK/none")"
    # The table's AGE column says it in one unit.
    ctl d alerts --host old1 >"$WORK/t" || fail "table exit $?"
    grep -Eq '^3 +old1 +c +[2-9]s +- +raised first$' "$WORK/t" || fail "AGE: $(cat "$WORK/t")"
    stop_injectord d
}

# -o table: SEV HOST COMPONENT AGE ACK MESSAGE, columns as wide as their widest cell when
# piped (nothing cut, no colour), fitted to a terminal's width with "…" on cut names, and
# coloured there by severity unless NO_COLOR is set. An empty answer is the header alone.
case_alerts_table() {
    start_injectord d --listen 127.0.0.1:0
    send d --host web-frontend-01.example.com --component disk-usage-of-var-log --severity 3 \
        "/var/log 97% full on the frontend, the log rotation stopped yesterday at midnight"
    send d --host db1 --component replication --severity 1 "Node is Down"
    send d --host app1 --component cpu --severity 7 "busy"
    wait_for 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 3 ]" ||
        fail "the collector does not hold the three alerts"
    ctl d alerts >"$WORK/t" || fail "alerts exit $?"
    [ "$(wc -l <"$WORK/t")" -eq 4 ] || fail "header and three rows expected: $(cat "$WORK/t")"
    grep -Eq '^SEV +HOST +COMPONENT +AGE +ACK +MESSAGE$' "$WORK/t" || fail "header: $(head -n1 "$WORK/t")"
    sed -n 2p "$WORK/t" | grep -Eq '^1 +db1 +replication +[0-9]+s +- +Node is Down$' ||
        fail "first row: $(sed -n 2p "$WORK/t")"
    grep -Fq '3   web-frontend-01.example.com disk-usage-of-var-log ' "$WORK/t" &&
        grep -Fq 'stopped yesterday at midnight' "$WORK/t" || fail "piped, a name or the message was cut: $(cat "$WORK/t")"
    # Every row's columns start where the header's do.
    local col
    col=$(head -n1 "$WORK/t" | awk '{ print index($0, "MESSAGE") }')
    [ "$(awk -v c="$col" 'NR > 1 && (substr($0, c - 1, 1) != " " || substr($0, c, 1) == " ")' "$WORK/t")" = "" ] ||
        fail "MESSAGE does not start at column $col in every row: $(cat "$WORK/t")"
    ! grep -q $'\033' "$WORK/t" || fail "escape codes in piped output"
    ctl d alerts --host nothing-here >"$WORK/empty" || fail "empty answer: exit $?"
    [ "$(cat "$WORK/empty")" = "SEV HOST COMPONENT AGE ACK MESSAGE" ] || fail "empty: $(cat "$WORK/empty")"

    command -v tmux >/dev/null || { stop_injectord d; skip "tmux is not installed (the piped table passed)"; }
    local sock="$WORK/tmux.sock"
    # pane NAME ENV: the table in a 60x10 terminal of its own, kept open after it.
    pane() {
        tmux -S "$sock" -f /dev/null new-session -d -x 60 -y 10 -s "$1" \
            "env $2 $INJECTOR_CTL --collector http://127.0.0.1:$HTTP_d alerts; echo exit=\$?; exec cat"
        PIDS+=("$(tmux -S "$sock" display-message -p -t "$1" '#{pane_pid}')")
        PIDS+=("$(tmux -S "$sock" display-message -p -t "$1" '#{pid}')")
    }
    shows() { tmux -S "$sock" capture-pane -p -t "$1" | grep -Eq "$2"; }
    pane c "-u NO_COLOR"
    wait_for 10 shows c '^exit=0' || fail "on a terminal: $(tmux -S "$sock" capture-pane -p -t c)"
    tmux -S "$sock" capture-pane -p -t c >"$WORK/tty"
    sed 's/…/./g' "$WORK/tty" | awk 'length($0) > 60 { exit 1 }' ||
        fail "wider than the terminal: $(cat "$WORK/tty")"
    grep -Eq '^3 +web-front[^ ]*… +disk-usa[^ ]*… +[0-9]+s +- +/var/log 97% full[^…]*…$' \
        "$WORK/tty" || fail "names and message not cut with …: $(cat "$WORK/tty")"
    tmux -S "$sock" capture-pane -p -e -t c >"$WORK/c.esc"
    grep 'db1' "$WORK/c.esc" | grep -q $'\033\\[[0-9;]*31m' || fail "severity 1 is not red"
    grep 'web-front' "$WORK/c.esc" | grep -q $'\033\\[[0-9;]*33m' || fail "severity 3 is not yellow"
    ! grep 'app1' "$WORK/c.esc" | grep -q $'\033\\[[0-9;]*3[13]m' || fail "severity 7 coloured"
    pane n "NO_COLOR=1"
    wait_for 10 shows n '^exit=0' || fail "NO_COLOR: $(tmux -S "$sock" capture-pane -p -t n)"
    tmux -S "$sock" capture-pane -p -e -t n >"$WORK/n.esc"
    ! grep -q $'\033\\[[0-9;]*3[13]m' "$WORK/n.esc" || fail "colour with NO_COLOR set"
    tmux -S "$sock" kill-server
    stop_injectord d
}

# Names and messages come over the network (XML takes C1 controls, DEL, newlines): shown,
# never obeyed. The table has '?' for a control (U+009B is CSI in one character) and a
# space for a newline, one line per alert; -o json and -o lines escape DEL and C1 as
# jansson does C0 ("\u009B"): the same document when parsed, no raw control byte. The
# ack line and the collector's messages on stderr (a 404 quotes the host) are cleaned too.
case_network_text_is_shown_not_obeyed() {
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    ctlt() { ctl d --http-token-file "$WORK/token" "$@"; }
    apit() { curl -sS -H 'Authorization: Bearer s3cret' "http://127.0.0.1:$HTTP_d$1"; }
    local csi del
    csi=$(printf '\302\233') del=$(printf '\177')
    send d --host "evil${csi}2Jhost" --component "c${del}omp" --severity 2 \
        "$(printf 'disk\302\23331m full\nsince noon')"
    wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer s3cret' http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 1 ]" ||
        fail "the collector does not hold the alert"
    # The collector escapes C1 itself (as C0 and DEL); the tool escapes what it prints
    # whoever wrote the JSON (it parses and writes it again), checked below.
    apit /v1/alerts >"$WORK/api"
    ! LC_ALL=C grep -q "$csi" "$WORK/api" && grep -qF 'evil\u009b2Jhost' "$WORK/api" ||
        fail "the collector's JSON: U+009B not escaped: $(cat -A "$WORK/api")"
    ctlt alerts >"$WORK/t" || fail "alerts exit $?"
    [ "$(wc -l <"$WORK/t")" -eq 2 ] || fail "header and one row expected: $(cat -A "$WORK/t")"
    grep -Eq '^2 +evil\?2Jhost +c\?omp +[0-9]+s +- +disk\?31m full since noon$' "$WORK/t" ||
        fail "the row: $(cat -A "$WORK/t")"
    local o
    for o in json lines; do
        ctlt alerts -o "$o" >"$WORK/$o" || fail "-o $o exit $?"
        ! LC_ALL=C grep -q "$csi\|$del" "$WORK/$o" || fail "-o $o: a raw control byte: $(cat -A "$WORK/$o")"
        grep -qF 'evil\u009B2Jhost' "$WORK/$o" && grep -qF 'c\u007Fomp' "$WORK/$o" ||
            fail "-o $o: not escaped as \\u009B, \\u007F: $(cat "$WORK/$o")"
    done
    [ "$(jq -c '.[0] | [.host, .component, .msg]' "$WORK/json")" = \
        "$(apit /v1/alerts | jq -c '.alerts[0] | [.host, .component, .msg]')" ] ||
        fail "-o json parsed is not the collector's alert: $(cat "$WORK/json")"
    ctlt ack "evil${csi}2Jhost" "c${del}omp" --author alice --comment "on it" >"$WORK/ack" ||
        fail "ack exit $?"
    grep -Eq '^ack evil\?2Jhost c\?omp: version 2$' "$WORK/ack" || fail "ack said: $(cat -A "$WORK/ack")"
    local rc=0
    ctlt ack "web${csi}2J" disk --author alice --comment "on it" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "no active alert for host 'web?2J'" "$WORK/err" &&
        ! LC_ALL=C grep -q "$csi" "$WORK/err" || fail "the 404: exit $rc, said: $(cat -A "$WORK/err")"
    stop_injectord d
}

# Names of the longest a collector holds (255 bytes), not ASCII (each byte three in the
# query, percent-encoded), and a long token (700 bytes): a request head over 2 KiB goes
# whole (it was built in a 2048-byte buffer, and failed: "request failed").
case_long_names_are_asked_whole() {
    head -c 525 /dev/urandom | base64 -w0 >"$WORK/token" # 700 bytes
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    local name
    name="$(printf '\303\251%.0s' {1..127})x" # 255 bytes: 127 times é, and x
    send d --host "$name" --component "$name" --severity 2 "long names"
    send d --host other --component "$name" --severity 2 "a short host"
    wait_for 10 sh -c "[ \"\$(curl -s -H \"Authorization: Bearer \$(cat '$WORK/token')\" http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 2 ]" ||
        fail "the collector does not hold the two alerts"
    ctl d --http-token-file "$WORK/token" alerts --host "$name" --component "$name" \
        --sender '127.0.0.1:*' -o lines >"$WORK/exact" 2>"$WORK/err" ||
        fail "exact names: exit $?, said: $(cat "$WORK/err")"
    [ "$(jq -r .msg "$WORK/exact")" = "long names" ] || fail "exact names: $(cat "$WORK/exact")"
    # Globs of 255 bytes: a literal start of 254 bytes sent as a prefix, the rest matched here.
    local glob="${name%x}*"
    ctl d --http-token-file "$WORK/token" alerts --host "$glob" --component "$glob" -o lines \
        >"$WORK/glob" 2>"$WORK/err" || fail "globs: exit $?, said: $(cat "$WORK/err")"
    [ "$(jq -r .msg "$WORK/glob")" = "long names" ] || fail "globs: $(cat "$WORK/glob")"
    stop_injectord d
}

# stats: -o table is one "name value" line per counter (nested ones joined with '.'),
# -o json the collector's document.
case_stats() {
    start_injectord d --listen 127.0.0.1:0
    send d --host h1 --component c --severity 2 "one"
    send d --host h1 --component c --severity 2 "one"
    wait_for 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$HTTP_d/v1/stats | jq .datagrams)\" = 2 ]" ||
        fail "the collector did not count two datagrams"
    ctl d stats >"$WORK/t" || fail "stats exit $?"
    grep -Eq '^datagrams +2$' "$WORK/t" || fail "no 'datagrams 2' line: $(head "$WORK/t")"
    grep -Eq '^outcomes\.raise +1$' "$WORK/t" && grep -Eq '^outcomes\.duplicate +1$' "$WORK/t" ||
        fail "nested counters: $(grep outcomes "$WORK/t")"
    grep -Eq '^listeners\.0\.address +127\.0\.0\.1:[0-9]+$' "$WORK/t" || fail "listeners: $(grep listeners "$WORK/t")"
    grep -Eq '^collector +test-d$' "$WORK/t" || fail "collector id: $(head -n1 "$WORK/t")"
    # Rounded: "uptime_seconds 1.359", never 16.876999999999999.
    grep -Eq '^uptime_seconds +[0-9]+(\.[0-9]{1,10})?$' "$WORK/t" || fail "uptime: $(grep uptime "$WORK/t")"
    # The values' column starts at one place.
    [ "$(awk '{ match($0, / +[^ ]/); print RSTART + RLENGTH }' "$WORK/t" | sort -u | wc -l)" -eq 1 ] ||
        fail "values not aligned: $(head "$WORK/t")"
    ctl d stats -o json >"$WORK/j" || fail "stats -o json exit $?"
    curl -s "http://127.0.0.1:$HTTP_d/v1/stats" >"$WORK/want"
    [ "$(jq -S 'keys' "$WORK/j")" = "$(jq -S 'keys' "$WORK/want")" ] &&
        [ "$(jq .outcomes "$WORK/j")" = "$(jq .outcomes "$WORK/want")" ] ||
        fail "-o json is not the collector's document: $(head -c 300 "$WORK/j")"
    local values
    values=$(jq '[paths(type != "object" and type != "array")] | length' "$WORK/want")
    [ "$(grep -c . "$WORK/t")" -eq "$values" ] ||
        fail "-o table has $(grep -c . "$WORK/t") lines, the document $values values"
    stop_injectord d
}

# Failures at run time exit 1 and say why: no collector there, a token file that cannot be
# read, a collector that wants a token (401) or refuses a query.
case_runtime_failures_exit_1() {
    local rc
    # want_1 WHAT MESSAGE ARGS...: injector-ctl ARGS exits 1 and says MESSAGE.
    want_1() {
        local what=$1 msg=$2
        shift 2
        rc=0
        "$INJECTOR_CTL" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
        [ "$rc" -eq 1 ] && grep -qF -- "$msg" "$WORK/err" ||
            fail "$what: exit $rc (want 1), said: $(cat "$WORK/err") (want: $msg)"
    }
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    local url="http://127.0.0.1:$HTTP_d" port=$HTTP_d
    want_1 "no token" "alerts: the collector answered 401" --collector "$url" alerts
    grep -qF -- '--http-token-file' "$WORK/err" || fail "401 does not name --http-token-file"
    echo "wrong" >"$WORK/wrong"
    want_1 "a wrong token" "stats: the collector answered 401" --collector "$url" \
        --http-token-file "$WORK/wrong" stats
    "$INJECTOR_CTL" --collector "$url" --http-token-file "$WORK/token" alerts >/dev/null ||
        fail "the right token: exit $?"
    "$INJECTOR_CTL" stats --http-token-file "$WORK/token" --collector "$url/" -o json >"$WORK/s" ||
        fail "options after the command, a URL with '/': exit $?"
    [ "$(jq -r .collector "$WORK/s")" = test-d ] || fail "stats: $(head -c 200 "$WORK/s")"
    want_1 "missing token file" "--http-token-file $WORK/nope: No such file or directory" \
        --collector "$url" --http-token-file "$WORK/nope" alerts
    : >"$WORK/empty"
    want_1 "empty token file" "--http-token-file $WORK/empty: empty" \
        --collector "$url" --http-token-file "$WORK/empty" stats
    stop_injectord d
    want_1 "unreachable" "cannot reach the collector's HTTP API at http://127.0.0.1:$port/v1/alerts" \
        --collector "http://127.0.0.1:$port" alerts
    [ ! -s "$WORK/out" ] || fail "output from a failed query: $(cat "$WORK/out")"
    want_1 "unreachable stats" "cannot reach the collector's HTTP API" \
        --collector "http://127.0.0.1:$port" stats
    want_1 "unreachable ack" "ack h c: cannot reach the collector's HTTP API" \
        --collector "http://127.0.0.1:$port" ack h c --author a --comment b
}

# ack and unack through the real daemon (with --http-token-file, as acknowledgements need):
# the outcome and version printed, the ack in the collector's state (alerts --acked, the
# table's ACK column, -o json's "ack"), its change lines, and taken back again.
case_ack_and_unack() {
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    # ctl_token ARGS...: injector-ctl with the token.
    ctl_token() { ctl d --http-token-file "$WORK/token" "$@"; }
    send d --host web12 --component disk --severity 2 "disk 97% full"
    send d --host web13 --component disk --severity 2 "disk 95% full"
    wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer s3cret' http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 2 ]" ||
        fail "the collector does not hold the two alerts"
    USER=alice ctl_token ack web12 disk --comment "disk ordered, ticket 4711" --expire 4h \
        >"$WORK/ack" || fail "ack exit $?"
    local v
    v=$(ctl_token alerts -o json | jq '.[] | select(.host == "web12") | .version')
    grep -Eq "^ack web12 disk: version $v, until [0-9T:.-]+Z\$" "$WORK/ack" ||
        fail "ack said: $(cat "$WORK/ack") (the alert's version is $v)"
    ctl_token alerts --acked -o json >"$WORK/acked" || fail "alerts --acked exit $?"
    jq -e 'length == 1 and .[0].host == "web12" and .[0].ack.author == "alice" and
           .[0].ack.comment == "disk ordered, ticket 4711" and (.[0].ack.expires | type) == "string"' \
        "$WORK/acked" >/dev/null || fail "alerts --acked -o json: $(cat "$WORK/acked")"
    ctl_token alerts --unacked -o lines >"$WORK/unacked" || fail "alerts --unacked exit $?"
    [ "$(keys "$WORK/unacked")" = "web13/disk" ] || fail "alerts --unacked: $(keys "$WORK/unacked")"
    ctl_token alerts >"$WORK/t" || fail "table exit $?"
    grep -Eq '^2 +web12 +disk +[0-9]+s +alice +disk 97% full$' "$WORK/t" &&
        grep -Eq '^2 +web13 +disk +[0-9]+s +- +disk 95% full$' "$WORK/t" ||
        fail "the ACK column: $(cat "$WORK/t")"
    # Acknowledged again: replaced (a new ack change), by the --author given over $USER.
    USER=alice ctl_token ack web12 disk --author bob --comment "mine now" -o json \
        >"$WORK/again" || fail "second ack exit $?"
    jq -e '.outcome == "ack" and .version == '"$((v + 1))"' and .alert.ack.author == "bob" and
           (.alert.ack | has("expires") | not)' "$WORK/again" >/dev/null ||
        fail "ack -o json: $(cat "$WORK/again")"
    ctl_token unack web12 disk --author carol >"$WORK/unack" || fail "unack exit $?"
    [ "$(cat "$WORK/unack")" = "unack web12 disk: version $((v + 2))" ] ||
        fail "unack said: $(cat "$WORK/unack")"
    ctl_token alerts --acked -o json >"$WORK/none" || fail "alerts --acked exit $?"
    [ "$(jq length "$WORK/none")" = 0 ] || fail "still acked after unack: $(cat "$WORK/none")"
    # The change stream carries them, as every other outcome.
    wait_for 10 lines_at_least d 1 '.outcome == "unack"' || fail "no unack change line"
    [ "$(lines d '.outcome == "ack" and .host == "web12"')" -eq 2 ] &&
        [ "$(lines d '.outcome == "unack" and .unack.author == "carol"')" -eq 1 ] ||
        fail "change lines: $(grep -E '"(un)?ack"' "$WORK/d.out")"
    # --expire reaches the collector as given: the ack ends by itself.
    ctl_token ack web13 disk --author dave --comment "for a second" --expire 1s >/dev/null ||
        fail "ack --expire 1s exit $?"
    wait_for 10 lines_at_least d 1 '.outcome == "unack" and .unack.reason == "expired"' ||
        fail "the ack with --expire 1s did not expire: $(ctl_token alerts --acked -o lines)"
    [ "$(ctl_token alerts --acked -o json | jq length)" = 0 ] || fail "acked after its expiry"
    stop_injectord d
}

# The collector's refusals are failures at run time: exit 1 with its message, nothing on
# stdout. 404 no such active alert, 409 unack of an alert not acknowledged, 400 a bad
# field, 401 no token, 403 a collector without a token file (acknowledgements need one).
case_ack_refusals_exit_1() {
    local rc
    # want_1 WHAT MESSAGE ARGS...: injector-ctl ARGS (against daemon d) exits 1, says MESSAGE.
    want_1() {
        local what=$1 msg=$2
        shift 2
        rc=0
        ctl d "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
        [ "$rc" -eq 1 ] && grep -qF -- "$msg" "$WORK/err" && [ ! -s "$WORK/out" ] ||
            fail "$what: exit $rc (want 1), said: $(cat "$WORK/err") $(cat "$WORK/out") (want: $msg)"
    }
    echo "s3cret" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    send d --host web12 --component disk --severity 2 "disk 97% full"
    wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer s3cret' http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 1 ]" ||
        fail "the collector does not hold the alert"
    local t=(--http-token-file "$WORK/token")
    want_1 "404" "ack web13 disk: the collector answered 404: no active alert for host 'web13'" \
        "${t[@]}" ack web13 disk --author a --comment b
    want_1 "409" "unack web12 disk: the collector answered 409: " "${t[@]}" unack web12 disk
    grep -qF 'not acknowledged' "$WORK/err" || fail "409 without the reason: $(cat "$WORK/err")"
    # A comment the collector would refuse (400) is a usage error here, said before asking:
    # see case_usage_errors_say_what_is_expected; ack.sh has the collector's 400s.
    want_1 "401" "ack web12 disk: the collector answered 401" ack web12 disk --author a --comment b
    grep -qF -- '--http-token-file' "$WORK/err" || fail "401 does not name --http-token-file"
    [ "$(ctl d "${t[@]}" alerts --acked -o json | jq length)" = 0 ] || fail "a refused ack took"
    stop_injectord d
    start_injectord d --listen 127.0.0.1:0
    send d --host web12 --component disk --severity 2 "disk 97% full"
    wait_for 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$HTTP_d/v1/alerts | jq .count)\" = 1 ]" ||
        fail "the collector does not hold the alert"
    want_1 "403" "ack web12 disk: the collector answered 403: acknowledgements need a token: start injectord with --http-token-file FILE" \
        ack web12 disk --author a --comment b
    want_1 "403 unack" "unack web12 disk: the collector answered 403: acknowledgements need a token" \
        unack web12 disk
    stop_injectord d
}

# Usage errors exit 2 and say what was expected, before anything is asked.
case_usage_errors_say_what_is_expected() {
    local long longc
    long=$(printf 'a%.0s' {1..256})
    longc=$(printf 'x%.0s' {1..1025})
    local want=(
        "|a command is needed: alerts, ack, unack or stats"
        "list|unknown command 'list': the commands are alerts, ack, unack and stats"
        "alerts --bogus|unknown option '--bogus'"
        "alerts --host|--host needs a value"
        "alerts stray|unexpected argument 'stray' (alerts takes options only"
        "alerts --severity high|--severity takes N or <=N (a whole number; 1 is the most severe), not 'high'"
        "alerts --severity <2|--severity takes N or <=N"
        "alerts --acked --unacked|--acked and --unacked: one or the other"
        "alerts --older-than 2d|--older-than takes a duration: seconds, or a whole number with ms, s, m or h (90, 15m, 4h), not '2d'"
        "alerts --newer-than -1s|--newer-than takes a duration"
        "alerts -o yaml|-o for alerts takes table, json or lines, not 'yaml'"
        "stats -o lines|-o for stats takes table or json, not 'lines'"
        "ack h c --comment x -o table|-o for ack takes text or json, not 'table'"
        "stats --host h|--host is not an option of stats"
        "alerts --comment x|--comment is not an option of alerts"
        "unack h c --comment x|--comment is not an option of unack"
        "ack h|ack takes HOST COMPONENT (the alert), then options"
        "unack|unack takes HOST COMPONENT"
        "ack h c d --comment x|unexpected argument 'd' (ack takes HOST COMPONENT and options"
        "ack h c --author a|ack needs --comment TEXT"
        "ack h c --author a --comment x --expire soon|--expire takes a duration"
        "--collector https://c1:8342 stats|--collector takes http://HOST[:PORT] (the collector's HTTP API), not 'https://c1:8342'"
        "--collector http:// stats|--collector takes http://HOST[:PORT]"
        # What the collector would refuse at run time is a usage error here: its cap on an
        # acknowledgement's life, its longest name (255 bytes), as a glob or a name.
        "ack h c --author a --comment x --expire 9000h|--expire takes at most 8784h (366 days), not '9000h'"
        "ack h c --author a --comment x --expire 31622401|--expire takes at most 8784h"
        "alerts --host $long|--host takes at most 255 bytes (the longest name a collector holds), not 256"
        "alerts --component $long|--component takes at most 255 bytes"
        "alerts --sender $long|--sender takes at most 255 bytes"
        "ack $long c --author a --comment x|ack: HOST takes at most 255 bytes"
        "unack h $long|unack: COMPONENT takes at most 255 bytes"
        # And what the collector refuses in an acknowledgement's author and comment.
        "ack h c --author $long --comment x|--author takes at most 255 bytes, not 256"
        "ack h c --author a --comment $longc|--comment takes at most 1024 bytes, not 1025"
        "ack h c --author $(printf 'a\033[2Jb') --comment x|--author takes no control characters"
        "unack h c --author $(printf 'a\302\233b')|--author takes no control characters"
        "ack h c --author $(printf 'a\342\200\256b') --comment x|--author takes no control characters"
        "ack h c --author a --comment $(printf 'x\a')|--comment takes no control characters (newlines and tabs are fine)"
        "ack h c --author $(printf '\377') --comment x|--author must be UTF-8"
    )
    # Nothing listens on port 9: a usage error that slipped through would exit 1.
    usage_errors_say "$INJECTOR_CTL" --collector http://127.0.0.1:9 -- "${want[@]}"
    local rc=0 opt
    # An empty filter is a usage error too, not a query the collector refuses (it was exit 1).
    for opt in --host --component --sender; do
        rc=0
        "$INJECTOR_CTL" --collector http://127.0.0.1:9 alerts "$opt" '' 2>"$WORK/err" || rc=$?
        [ "$rc" -eq 2 ] && grep -qF -- "$opt takes " "$WORK/err" && grep -qF "not ''" "$WORK/err" ||
            fail "alerts $opt '': exit $rc (want 2), said: $(cat "$WORK/err")"
    done
    # At the limits: past the arguments, to the (absent) collector.
    rc=0
    "$INJECTOR_CTL" --collector http://127.0.0.1:9 ack h "${long:1}" --author a --comment x \
        --expire 8784h 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] || fail "--expire 8784h, a 255-byte name: exit $rc (want 1), said: $(cat "$WORK/err")"
    rc=0
    env -u USER "$INJECTOR_CTL" --collector http://127.0.0.1:9 ack h c --comment x 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -qF 'ack needs --author NAME ($USER is not set)' "$WORK/err" ||
        fail "ack without --author or \$USER: exit $rc, said: $(cat "$WORK/err")"
    # $USER is the author by default: past the arguments, to the (absent) collector.
    rc=0
    USER=alice "$INJECTOR_CTL" --collector http://127.0.0.1:9 ack h c --comment x 2>"$WORK/err" || rc=$?
    [ "$rc" -eq 1 ] || fail "ack with \$USER: exit $rc (want 1: unreachable), said: $(cat "$WORK/err")"
}

# --help names every command and states the exit status rule; --version is the project's.
case_help_and_version() {
    "$INJECTOR_CTL" --help >"$WORK/help.txt" || fail "--help exit $?"
    local w
    for w in alerts ack unack stats --collector --http-token-file --host --component --severity \
        --acked --unacked --older-than --newer-than --author --comment --expire -o; do
        grep -q -- "$w" "$WORK/help.txt" || fail "--help does not name $w"
    done
    grep -q '^Exit status: 0 .*1 .*run time' "$WORK/help.txt" &&
        grep -q '2 usage' "$WORK/help.txt" || fail "--help does not state the exit codes"
    "$INJECTOR_CTL" alerts --help >"$WORK/help2.txt" || fail "alerts --help exit $?"
    cmp -s "$WORK/help.txt" "$WORK/help2.txt" || fail "alerts --help is not the help"
    version_is_the_projects injector-ctl "$INJECTOR_CTL"
}

"case_$1"
