#!/usr/bin/env bash
# service.sh CASE - injectord as a long-running service: snapshot across restarts.
source "$(dirname "$0")/lib.sh"
: "${INJECTOR_BURST:?INJECTOR_BURST must name the injector-burst binary}"

# 100,000 active alerts survive a restart: none is announced again, duplicates stay
# duplicates, a Del after the restart clears a restored alert with the next version.
case_restart_neither_forgets_nor_reannounces() {
    start_injectord d --listen 127.0.0.1:0 --snapshot "$WORK/snap.json"
    # Ten slices of 10,000 new alerts (b1-*..b10-*), each drained before the next: the
    # sanitizer build's speed, or a busy machine, cannot turn this into a loss test.
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --count 10000 --repeat 10 --pause 0 --fresh --rate 40000 --json >"$WORK/b1.json" ||
        fail "burst lost alerts: $(cat "$WORK/b1.json")"
    [ "$(api d /v1/stats | jq .active_alerts)" -eq 100000 ] || fail "not 100000 active"
    local epoch
    epoch=$(api d /v1/alerts?host=none | jq -r .epoch)
    stop_injectord d
    grep -q 'snapshot: 100000 active alerts written' "$WORK/d.err" || fail "no final snapshot"

    # Reading 100,000 alerts back takes seconds in a sanitizer build on a loaded machine.
    READY_TIMEOUT=60 start_injectord e --listen 127.0.0.1:0 --snapshot "$WORK/snap.json"
    grep -q 'snapshot: restored 100000 active alerts .* (version 100000)' "$WORK/e.err" ||
        fail "not restored: $(grep snapshot "$WORK/e.err")"
    api e /v1/alerts | jq -e '.count == 100000 and .version == 100000' >/dev/null ||
        fail "table after restart"
    # The same version series goes on: consumers need not resync.
    [ "$(api e /v1/alerts?host=none | jq -r .epoch)" = "$epoch" ] || fail "the series changed"
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_e" --stats "http://127.0.0.1:$HTTP_e/v1/stats" \
        --count 1000 --fresh --json >/dev/null || fail "refresh burst lost alerts" # b1-n0..999
    [ "$(api e /v1/stats | jq .outcomes.duplicate)" -eq 1000 ] || fail "refreshes were not duplicates"
    send e --host b1-n7 --component c0 --del
    wait_for 10 lines_at_least e 1 || fail "no clear after restart"
    [ "$(lines e)" -eq 1 ] || fail "a restored alert was announced again: $(head -n3 "$WORK/e.out")"
    [ "$(lines e '.outcome == "clear" and .host == "b1-n7" and .version == 100001 and .epoch == "'"$epoch"'"')" -eq 1 ] ||
        fail "clear after restart: $(cat "$WORK/e.out")"
    stop_injectord e
}

# A snapshot that is not one is reported and set aside; the daemon starts and serves.
case_corrupt_snapshot_is_set_aside() {
    printf '{"injector_snapshot":1,"version":9,"count":2}\n{"version":1,"host":"a","comp' \
        >"$WORK/snap.json"
    start_injectord d --listen 127.0.0.1:0 --snapshot "$WORK/snap.json"
    grep -q 'snapshot: .*snap.json:2: not a stored alert' "$WORK/d.err" ||
        fail "corruption not reported: $(cat "$WORK/d.err")"
    ls "$WORK"/snap.json.corrupt-* >/dev/null 2>&1 || fail "corrupt snapshot not set aside"
    send d --host x --component y
    wait_for 10 lines_at_least d 1 || fail "daemon does not serve"
    [ "$(lines d '.version == 10')" -eq 1 ] || fail "numbering did not go on from the header"
    stop_injectord d
}

# Snapshots are written while it runs (by a forked child), not only at exit.
case_periodic_snapshot() {
    start_injectord d --listen 127.0.0.1:0 --snapshot "$WORK/snap.json" --snapshot-interval 1
    for i in 1 2 3; do send d --host "h$i" --component c; done
    _snap_has_3() { [ -f "$WORK/snap.json" ] && grep -q '"count":3' "$WORK/snap.json" &&
        grep -q '^{"end":3}$' "$WORK/snap.json"; }
    wait_for 10 _snap_has_3 || fail "no periodic snapshot with 3 alerts"
    kill -0 "$PID_d" || fail "daemon died"
    ls "$WORK"/snap.json.tmp.* >/dev/null 2>&1 && fail "temporary file left behind"
    stop_injectord d
}

# The unit installs and passes systemd-analyze verify; the example config checks clean.
case_install_and_unit_verify() {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
    DESTDIR="$WORK/stage" cmake --install "$BUILD_DIR" >"$WORK/install.log" 2>&1 ||
        fail "cmake --install failed: $(tail -n5 "$WORK/install.log")"
    local unit
    unit=$(find "$WORK/stage" -name injectord.service)
    [ -n "$unit" ] || fail "no unit installed"
    [ -f "$WORK/stage/etc/injector/injectord.conf" ] || fail "no config installed"
    find "$WORK/stage" -name 60-injector.conf | grep -q . || fail "no sysctl drop-in installed"
    # Verify the unit as installed, with its binary where this test put it.
    sed "s|^ExecStart=[^ ]*|ExecStart=$INJECTORD|" "$unit" >"$WORK/injectord.service"
    systemd-analyze verify "$WORK/injectord.service" 2>"$WORK/verify.txt" ||
        fail "systemd-analyze verify: $(cat "$WORK/verify.txt")"
    # The template, as an instance: its own config file and state directory.
    unit=$(find "$WORK/stage" -name 'injectord@.service')
    [ -n "$unit" ] || fail "no template unit installed"
    sed "s|^ExecStart=[^ ]*|ExecStart=$INJECTORD|" "$unit" >"$WORK/injectord@a.service"
    systemd-analyze verify "$WORK/injectord@a.service" 2>"$WORK/verify.txt" ||
        fail "systemd-analyze verify (template): $(cat "$WORK/verify.txt")"
    grep -q '^ExecStart=.* --state-dir ${STATE_DIRECTORY} -c /etc/injector/injectord-%i.conf$' "$unit" &&
        grep -q '^StateDirectory=injectord/%i$' "$unit" || fail "template instance settings"
    # Its state directory is systemd's to create (StateDirectory=): the only problem the
    # check may find on a machine without it.
    rc=0
    "$INJECTORD" --check-config -c "$WORK/stage/etc/injector/injectord.conf" >"$WORK/eff.txt" \
        2>"$WORK/check.txt" || rc=$?
    [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && ! grep -v 'in /var/lib/injector: ' "$WORK/check.txt"; } ||
        fail "the shipped config does not check: $(cat "$WORK/check.txt")"
    grep -A1 '^\[snapshot\]$' "$WORK/eff.txt" | grep -q '^path = /var/lib/injector/snapshot.json$' ||
        fail "effective config: $(cat "$WORK/eff.txt")"
    rc=0
    printf '[listen]\nrcvbuf = huge\n' >"$WORK/bad.conf"
    "$INJECTORD" --check-config -c "$WORK/bad.conf" 2>"$WORK/bad.txt" || rc=$?
    [ "$rc" -eq 1 ] && grep -q 'bad.conf:2: rcvbuf' "$WORK/bad.txt" || fail "bad config: rc=$rc"
}

# sd_notify: READY with a status, watchdog pings from the loop, STOPPING on SIGTERM.
case_sd_notify() {
    "$INJECTORD" --version | grep -q '(systemd notify)' || skip "built without libsystemd"
    command -v socat >/dev/null || skip "socat not installed"
    socat -u "UNIX-RECV:$WORK/notify.sock" "OPEN:$WORK/notify.txt,creat,append" &
    PIDS+=("$!")
    wait_for 10 test -S "$WORK/notify.sock" || fail "no notify socket"
    NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=400000 \
        start_injectord d --listen 127.0.0.1:0
    wait_for 10 grep -q 'READY=1' "$WORK/notify.txt" || fail "no READY=1"
    grep -q 'STATUS=0 active alerts' "$WORK/notify.txt" || fail "no STATUS with READY"
    wait_for 10 count_at_least 1 'WATCHDOG=1' "$WORK/notify.txt" || fail "no watchdog pings"
    stop_injectord d
    wait_for 10 grep -q 'STOPPING=1' "$WORK/notify.txt" || fail "no STOPPING=1"
}

# SIGHUP re-reads the file: live settings change, the rest is named as needing a restart,
# a bad file changes nothing, and a burst across the reload loses nothing.
case_reload() {
    printf '[limits]\ndefault_ttl = 0\n[logging]\nlevel = info\n' >"$WORK/d.conf"
    start_injectord d -c "$WORK/d.conf" --listen 127.0.0.1:0
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --count 40000 --rate 20000 --json >"$WORK/b.json" &
    local burst=$!
    printf '[limits]\ndefault_ttl = 1\n[logging]\nlevel = info\n' >"$WORK/d.conf"
    wait_counter d datagrams 5000 # the reload lands in the middle of the burst
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: 1 setting(s) applied, 0 need a restart' "$WORK/d.err" ||
        fail "reload not applied: $(grep reload "$WORK/d.err")"
    grep -q 'reload: default-ttl 0 -> 1s' "$WORK/d.err" || fail "change not logged"
    wait "$burst" || fail "datagrams lost across the reload: $(cat "$WORK/b.json")"
    jq -e '.lost == 0 and .received == 40000' "$WORK/b.json" >/dev/null || fail "burst report"
    # The new default TTL applies: a new alert without TTL expires.
    send d --host ttl --component new
    wait_for 10 lines_at_least d 1 '.outcome == "expire" and .host == "ttl"' ||
        fail "new default TTL not in force"

    printf '[listen]\nrcvbuf = 1M\n[limits]\ndefault_ttl = 1\n' >"$WORK/d.conf"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: rcvbuf changed; that takes a restart' "$WORK/d.err" ||
        fail "restart-only setting not named"
    printf '[limits]\ndefault_ttl = soon\n' >"$WORK/d.conf"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload failed, keeping the running configuration: .*d.conf:2: default-ttl' \
        "$WORK/d.err" || fail "bad file not reported"
    [ "$(api d /healthz)" = ok ] || fail "daemon hurt by a bad reload"
    stop_injectord d
}

# Every setting in the table changed at once by one SIGHUP: each is named in the log, either
# as applied or as needing a restart, none silently ignored. The list of settings is the
# daemon's own (--help), so a setting added later is covered: it only needs a changed value
# here.
case_reload_names_every_setting() {
    local opts=() opt
    mapfile -t opts < <("$INJECTORD" --help | sed -n 's/^  --\([a-z-]*\) [A-Z].*/\1/p' |
        grep -v '^config$')
    [ "${#opts[@]}" -ge 30 ] || fail "options not found in --help: ${opts[*]}"
    echo "k1 00112233445566778899aabbccddeeff" >"$WORK/keys"
    echo "s3cret" >"$WORK/token"
    echo "pw" >"$WORK/pw"
    touch "$WORK/ca.pem" "$WORK/cert.pem" "$WORK/key.pem"
    printf '[listen]\naddress = 127.0.0.1:0\n[http]\nlisten = 127.0.0.1:0\n[logging]\nstats_interval = 0\n[snapshot]\npath = %s\n[output]\ncollector_id = test-a\n' \
        "$WORK/snap.json" >"$WORK/d.conf"
    "$INJECTORD" -c "$WORK/d.conf" >"$WORK/d.out" 2>"$WORK/d.err" &
    PID_d=$!
    PIDS+=("$PID_d")
    wait_for 10 grep -q ' ready: ' "$WORK/d.err" || fail "not ready: $(cat "$WORK/d.err")"
    HTTP_d=$(sed -n 's#.*HTTP API on http://[^ ]*:\([0-9]*\)/.*#\1#p' "$WORK/d.err")
    # A value for each setting that differs from the running one (and, for those applied
    # live, one that can be applied: files that exist).
    declare -A new=(
        [listen]="[::1]:0" [tcp]=true [rcvbuf]=4M [reuseport]=2
        [allow]="127.0.0.0/8, ::1" [output]="$WORK/out2.json" [collector-id]=test-b
        [max-alerts]=1000 [max-hosts]=100 [rate-limit]=1000 [rate-burst]=2000
        [default-ttl]=3600 [shutdown-grace]=3
        [key-file]="$WORK/keys" [require-signature]=true [signature-skew]=30
        [amqp]="amqp://guest:guest@127.0.0.1:1/" [amqp-exchange]=other
        [amqp-password-file]="$WORK/pw" [amqp-ca-file]="$WORK/ca.pem"
        [amqp-cert-file]="$WORK/cert.pem" [amqp-key-file]="$WORK/key.pem"
        [amqp-confirm-window]=64 [amqp-mandatory]=true [amqp-heartbeat]=5
        [state-dir]="$WORK/state2" [outbox-size]=5000
        [http]="[::1]:0" [http-token-file]="$WORK/token" [http-token-metrics]=true
        [snapshot]="$WORK/snap2.json" [snapshot-interval]=30
        [log-level]=debug [stats-interval]=3600
    )
    # A setting added later gets a value from its --help line (its argument and default)
    # when its type allows; else this test asks for one above.
    "$INJECTORD" --help >"$WORK/help.txt"
    local arg dflt
    for opt in "${opts[@]}"; do
        [ -z "${new[$opt]:-}" ] || continue
        arg=$(sed -n "s/^  --$opt \([A-Z:]*\) .*/\1/p" "$WORK/help.txt")
        dflt=$(sed -n "s/^  --$opt .* \[\([^]]*\)\]\$/\1/p" "$WORK/help.txt")
        case "$arg" in
        BOOL) [ "$dflt" = true ] && new[$opt]=false || new[$opt]=true ;;
        N) [[ "$dflt" =~ ^[0-9]+$ ]] && new[$opt]=$((dflt + 1)) || new[$opt]=1 ;;
        BYTES | SIZE) [ "$dflt" = 5M ] && new[$opt]=6M || new[$opt]=5M ;;
        SECONDS | DURATION) [[ "$dflt" =~ ^7s?$ ]] && new[$opt]=8s || new[$opt]=7s ;;
        PATH) new[$opt]="$WORK/new-$opt" && echo s3cret >"${new[$opt]}" ;;
        DIR) new[$opt]="$WORK/new-$opt" ;;
        *) fail "no changed value for --$opt ($arg) in this test: add one" ;;
        esac
    done
    {
        echo "[changed]"
        for opt in "${opts[@]}"; do echo "$opt = ${new[$opt]}"; done
    } >"$WORK/d.conf"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: [0-9]* setting(s) applied' "$WORK/d.err" ||
        fail "no reload summary: $(grep reload "$WORK/d.err")"
    grep reload "$WORK/d.err" >"$WORK/reload.txt"
    local applied=0 restart=0
    for opt in "${opts[@]}"; do
        local a r
        a=$(grep -c "reload: $opt .* -> " "$WORK/reload.txt" || true)
        r=$(grep -c "reload: $opt changed; that takes a restart" "$WORK/reload.txt" || true)
        [ $((a + r)) -eq 1 ] || fail "--$opt: applied $a times, named for a restart $r times:
$(cat "$WORK/reload.txt")"
        applied=$((applied + a))
        restart=$((restart + r))
    done
    grep -q "reload: $applied setting(s) applied, $restart need a restart$" "$WORK/reload.txt" ||
        fail "summary does not count every setting ($applied + $restart): $(tail -n1 "$WORK/reload.txt")"
    [ $((applied + restart)) -eq "${#opts[@]}" ] || fail "not every setting accounted for"
    # What was applied is in force (the token guards the API now); what needs a restart is
    # not (the collector keeps its name).
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_d/v1/stats")" = 401 ] ||
        fail "the new token is not in force"
    curl -s -H 'Authorization: Bearer s3cret' "http://127.0.0.1:$HTTP_d/v1/alerts" |
        jq -e '.collector == "test-a"' >/dev/null || fail "a restart-only setting changed live"
    grep -q 'log-level info -> debug' "$WORK/reload.txt" || fail "log level"
    echo "$applied applied live, $restart need a restart"
    stop_injectord d
}

# --check-config finds what start-up would run into; start-up refuses a snapshot it could
# not write at exit, in one line.
case_check_config_finds_startup_problems() {
    local rc=0
    "$INJECTORD" --check-config --listen 127.0.0.1:0 --snapshot "$WORK/missing/snap.json" \
        --key-file "$WORK/keys" --output "$WORK/missing/out.json" >"$WORK/eff.txt" \
        2>"$WORK/check.txt" || rc=$?
    [ "$rc" -eq 1 ] || fail "check passed: rc=$rc"
    grep -q "snapshot $WORK/missing/snap.json: cannot create files in $WORK/missing" "$WORK/check.txt" &&
        grep -q "key-file: $WORK/keys: No such file" "$WORK/check.txt" &&
        grep -q "output $WORK/missing/out.json" "$WORK/check.txt" ||
        fail "problems not named: $(cat "$WORK/check.txt")"
    grep -q '^\[snapshot\]$' "$WORK/eff.txt" || fail "the settings are printed all the same"

    rc=0
    timeout 10 "$INJECTORD" --listen 127.0.0.1:0 --http off --snapshot "$WORK/missing/snap.json" \
        >/dev/null 2>"$WORK/start.txt" || rc=$?
    [ "$rc" -eq 1 ] && [ "$(wc -l <"$WORK/start.txt")" -eq 1 ] &&
        grep -q "snapshot $WORK/missing/snap.json: cannot create files in .*; not starting" \
            "$WORK/start.txt" || fail "start-up with an unwritable snapshot: rc=$rc $(cat "$WORK/start.txt")"

    rc=0
    "$INJECTORD" --check-config -c "$WORK" >/dev/null 2>"$WORK/dir.txt" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "$WORK: is a directory" "$WORK/dir.txt" || fail "-c DIR: rc=$rc"

    # =bind: an address another collector holds.
    start_injectord d --listen 127.0.0.1:0
    rc=0
    "$INJECTORD" --check-config=bind --listen "127.0.0.1:$PORT_d" --http 127.0.0.1:0 \
        >/dev/null 2>"$WORK/bind.txt" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "listen (udp) 127.0.0.1:$PORT_d: cannot bind: Address already in use" \
        "$WORK/bind.txt" || fail "bind check: rc=$rc $(cat "$WORK/bind.txt")"
    "$INJECTORD" --check-config=bind --listen 127.0.0.1:0 --http 127.0.0.1:0 >/dev/null ||
        fail "free addresses did not check"
    stop_injectord d
}

# The source allow-list: outside it, counted and dropped before parsing; a reload that
# adds the sender's network lets it in, the socket open all along.
case_allow_list() {
    printf '[listen]\nallow = 10.0.0.0/8, 2001:db8::/32\n' >"$WORK/d.conf"
    start_injectord d -c "$WORK/d.conf" --listen 127.0.0.1:0
    send d --host outsider --component c
    wait_for 10 grep -q 'alerts from 127.0.0.1:[0-9]* rejected: not in the allow-list' "$WORK/d.err" ||
        fail "rejection not logged"
    api d /v1/stats | jq -e '.rejected_acl == 1 and .alerts == 0 and .datagrams == 1' >/dev/null ||
        fail "not counted: $(api d /v1/stats | jq -c '{rejected_acl, alerts}')"
    [ "$(lines d)" -eq 0 ] || fail "a rejected alert was forwarded"
    printf '[listen]\nallow = 10.0.0.0/8, 127.0.0.0/8\n' >"$WORK/d.conf"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: allow 10.0.0.0/8, 2001:db8::/32 -> 10.0.0.0/8, 127.0.0.0/8' \
        "$WORK/d.err" || fail "allow-list not reloaded"
    send d --host insider --component c
    wait_for 10 lines_at_least d 1 '.host == "insider"' || fail "allowed sender refused"
    rc=0
    "$INJECTORD" --allow 10.1.2.3/8 --check-config >/dev/null 2>"$WORK/e" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "allow: '10.1.2.3/8' is not an address or CIDR block" "$WORK/e" ||
        fail "bad block not refused: rc=$rc $(cat "$WORK/e")"
    stop_injectord d
}

# The per-sender rate limit: a burst past it is refused alert by alert and counted; a
# reload that turns it off lets the next burst through whole.
case_rate_limit() {
    printf '[limits]\nrate_limit = 100\nrate_burst = 100\n' >"$WORK/d.conf"
    start_injectord d -c "$WORK/d.conf" --listen 127.0.0.1:0
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --count 1000 --json >"$WORK/b1.json" || fail "datagrams lost: $(cat "$WORK/b1.json")"
    api d /v1/stats >"$WORK/s1.json"
    jq -e '.datagrams == 1000 and .rate_limited + .alerts == 1000 and .alerts >= 100
           and .alerts <= 150' "$WORK/s1.json" >/dev/null ||
        fail "rate limit: $(jq -c '{datagrams, alerts, rate_limited}' "$WORK/s1.json")"
    grep -q 'refused: over the per-sender rate limit' "$WORK/d.err" || fail "not logged"
    printf '[limits]\nrate_limit = 0\n' >"$WORK/d.conf"
    kill -HUP "$PID_d"
    wait_for 10 grep -q 'reload: rate-limit 100 -> 0' "$WORK/d.err" || fail "not reloaded"
    limited=$(jq .rate_limited "$WORK/s1.json")
    "$INJECTOR_BURST" --target "127.0.0.1:$PORT_d" --stats "http://127.0.0.1:$HTTP_d/v1/stats" \
        --count 1000 --json >/dev/null || fail "second burst lost datagrams"
    [ "$(api d /v1/stats | jq .rate_limited)" -eq "$limited" ] || fail "still limited after reload"
    stop_injectord d
}

# A crash after a periodic snapshot: the next run numbers on past anything the crashed run
# could have issued, so no version is ever used twice.
case_crash_never_reuses_a_version() {
    start_injectord d --listen 127.0.0.1:0 --snapshot "$WORK/snap.json" --snapshot-interval 1
    send d --host a --component c
    _snap_has_1() { [ -f "$WORK/snap.json" ] && grep -q '"count":1' "$WORK/snap.json"; }
    wait_for 10 _snap_has_1 || fail "no periodic snapshot"
    send d --host b --component c # version 2: issued after the snapshot, then the crash
    wait_for 10 lines_at_least d 2 || fail "second change not out"
    kill -KILL "$PID_d"
    wait "$PID_d" 2>/dev/null || true
    start_injectord e --listen 127.0.0.1:0 --snapshot "$WORK/snap.json" --snapshot-interval 1
    grep -q 'did not stop cleanly; numbering goes on from 11000001 instead of 1' "$WORK/e.err" ||
        fail "no jump: $(grep snapshot "$WORK/e.err")"
    send e --host c --component c
    wait_for 10 lines_at_least e 1 || fail "no change after the restart"
    [ "$(jq .version "$WORK/e.out")" -eq 11000002 ] || fail "version $(jq .version "$WORK/e.out")"
    stop_injectord e
    # A clean stop writes a clean snapshot: the next start numbers on without a jump.
    start_injectord f --listen 127.0.0.1:0 --snapshot "$WORK/snap.json"
    grep -q 'did not stop cleanly' "$WORK/f.err" && fail "a clean stop was taken for a crash"
    stop_injectord f
}

"case_$1"
echo "PASS: $1"
