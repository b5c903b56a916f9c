#!/usr/bin/env bash
# systemd.sh CASE - the .deb under a real systemd: each case boots the machine's systemd as
# PID 1 of private namespaces on a throwaway overlay of this machine (tools/systemd-box.sh),
# installs the package there with dpkg -i (its postinst, conffiles and prerm run for real),
# and checks what an administrator would, with systemctl, journalctl and the HTTP API. The
# box has a network of its own: alerts and HTTP go to it with nsenter (`box_net`).
#   deb      the fixture the cases need (ctest FIXTURES_SETUP): builds the .deb once a run
#            (tools/package.sh, in the tree the package test uses; both take the 'load' lock)
# Skipped (77) only where systemd cannot boot here (no cgroup write access, not root).
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BOX_TOOL="$SRC/tools/systemd-box.sh"
BOX="$WORK/box"
DEB="$BUILD_DIR/systemd-deb/injector.deb"
CONF=/etc/injector/injectord.conf

# The box is stopped (poweroff, then by PID) before lib.sh's cleanup removes $WORK; a failed
# case shows the box's journal first.
box_cleanup() {
    local rc=$?
    if [ -f "$BOX/pid" ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
            echo "--- the box's journal (last 80 lines):" >&2
            timeout 20 "$BOX_TOOL" run "$BOX" journalctl -n 80 --no-pager -o short-monotonic >&2 ||
                true
        fi
        "$BOX_TOOL" stop "$BOX" || true
    fi
    cleanup "$rc"
}
trap box_cleanup EXIT

in_box() { "$BOX_TOOL" run "$BOX" "$@"; }
# has PATTERN: grep stdin, reading all of it (grep -q would stop at the first match, and
# the writer's SIGPIPE fail the pipeline: pipefail is on).
has() { grep "$@" >/dev/null; }
box_net() { "$BOX_TOOL" net "$BOX" "$@"; }

# wait_box TIMEOUT CMD...: wait_for, polling less often (each poll enters the box).
wait_box() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# boot: a box, or SKIPPED where systemd cannot boot here.
boot() {
    [ -f "$DEB" ] || fail "no $DEB: the fixture integration_systemd_deb builds it"
    local rc=0
    BOX_OWNER=$$ "$BOX_TOOL" start "$BOX" 2>"$WORK/boot.err" || rc=$?
    [ "$rc" -ne 77 ] || skip "$(cat "$WORK/boot.err")"
    [ "$rc" -eq 0 ] || fail "the box did not boot: $(cat "$WORK/boot.err")"
    # man-db's trigger re-indexes every manual page (seconds): not what these cases check.
    in_box rm -f /var/lib/man-db/auto-update
}

# install_deb: dpkg -i the package (output in $WORK/dpkg.txt).
install_deb() {
    "$BOX_TOOL" put "$BOX" "$DEB" /tmp/injector.deb
    in_box dpkg -i /tmp/injector.deb >"$WORK/dpkg.txt" 2>&1 ||
        fail "dpkg -i failed: $(cat "$WORK/dpkg.txt")"
}

# journal UNIT: what the unit and systemd about it logged, messages only.
journal() { in_box journalctl -u "$1" -o cat --no-pager; }
journal_has() { journal "$1" | has -- "$2"; }

# changes UNIT [JQ-FILTER]: the unit's change lines (stdout goes to the journal).
changes() {
    journal "$1" | grep '^{' | jq -c "select(${2:-true})"
}
changes_at_least() { [ "$(changes "$1" "${3:-true}" | wc -l)" -ge "$2" ]; }

# http PORT PATH: GET from the box's loopback.
http() { box_net curl -sS --fail --max-time 10 "http://127.0.0.1:$1$2"; }
# send_to PORT ARGS...: injector-send to the box.
send_to() {
    local port=$1
    shift
    box_net "$INJECTOR_SEND" --target "127.0.0.1:$port" "$@"
}
active() { in_box systemctl is-active --quiet "$1"; }
main_pid() { in_box systemctl show -P MainPID "$1"; }
prop() { in_box systemctl show -P "$2" "$1"; }
count_is() { [ "$(http "$1" /v1/alerts | jq .count)" = "$2" ]; }
# table PORT: the collector's table as host/component/version lines, sorted.
table() { http "$1" /v1/alerts | jq -r '.alerts[] | "\(.host) \(.component) \(.version)"' | sort; }

# set_conf FILE SECTION KEY VALUE: set KEY in [SECTION] of an INI file of the box (edited
# here, copied back).
set_conf() {
    local pid
    pid=$("$BOX_TOOL" pid "$BOX")
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        $0 == s { print; print k " = " v; insec = 1; next }
        /^\[/ { insec = 0 }
        insec && $1 == k && $2 == "=" { next }
        { print }' "/proc/$pid/root$1" >"$WORK/set_conf.tmp"
    "$BOX_TOOL" put "$BOX" "$WORK/set_conf.tmp" "$1"
}

case_deb() {
    command -v dpkg-deb >/dev/null || fail "dpkg-deb is not installed (make deps)"
    local tree deb
    tree="$(cd "$BUILD_DIR/.." && pwd)/package-test"
    deb=$(JOBS=2 "$SRC/tools/package.sh" "$tree" 2>"$WORK/package.log") ||
        fail "tools/package.sh failed: $(tail -n 20 "$WORK/package.log")"
    mkdir -p "$(dirname "$DEB")"
    cp "$deb" "$DEB.tmp"
    mv -f "$DEB.tmp" "$DEB"
}

# dpkg -i: the postinst enables and starts it (where /proc/sys is read-only: the install
# goes on and says so; this machine's sysctl does not move). `systemctl start` returns only
# after READY (Type=notify): the STATUS= of the READY message is there, the restored table
# and /healthz answer at once. Alerts come out in the journal; `systemctl status` shows the
# STATUS line; the descriptor limit is the one systemd says (nothing clamped quietly).
case_start_ready_status_alerts_healthz() {
    local rmem
    rmem=$(cat /proc/sys/net/core/rmem_max)
    boot
    install_deb
    grep -q 'could not apply /usr/lib/sysctl.d/60-injector.conf' "$WORK/dpkg.txt" ||
        fail "the postinst did not say the drop-in was not applied: $(cat "$WORK/dpkg.txt")"
    [ "$(cat /proc/sys/net/core/rmem_max)" = "$rmem" ] || fail "this machine's rmem_max moved"
    in_box systemctl is-enabled --quiet injectord || fail "not enabled by the postinst"
    active injectord || fail "not started by the postinst: $(journal injectord | tail -n 5)"
    [ "$(prop injectord Type)" = notify ] || fail "Type=$(prop injectord Type)"

    send_to 8341 --host web1 --component disk --severity 2 "disk full"
    send_to 8341 --host web2 --component disk --severity 3
    send_to 8341 --host db1 --component load
    wait_box 10 changes_at_least injectord 3 '.outcome == "raise"' ||
        fail "3 raises not in the journal: $(changes injectord)"
    [ "$(changes injectord '.host == "web1" and .msg == "disk full" and .severity == 2' | wc -l)" = 1 ] ||
        fail "web1's change: $(changes injectord)"

    in_box systemctl stop injectord
    in_box systemctl start injectord
    # No waiting from here on: start returned, so READY (with its STATUS) came.
    prop injectord StatusText | has '^3 active alerts' ||
        fail "no STATUS from READY right after start: '$(prop injectord StatusText)'"
    [ "$(http 8342 /healthz)" = ok ] || fail "/healthz does not answer at once"
    count_is 8342 3 || fail "the table is not there once started: $(http 8342 /v1/alerts)"

    send_to 8341 --host web3 --component disk
    wait_box 10 count_is 8342 4 || fail "the 4th alert"
    in_box systemctl kill -s USR1 --kill-whom=main injectord # a stats line, STATUS with it
    _status_4() { in_box systemctl status --no-pager injectord | has 'Status: "4 active alerts'; }
    wait_box 10 _status_4 || fail "systemctl status: $(in_box systemctl status --no-pager injectord)"

    local pid soft
    pid=$(main_pid injectord)
    soft=$(in_box awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
    [ "$soft" = "$(prop injectord LimitNOFILESoft)" ] ||
        fail "open files: $soft, systemd says $(prop injectord LimitNOFILESoft)"
    echo "status: $(prop injectord StatusText); open files $soft"
}

# systemctl reload: a changed setting is applied (the journal names it, alerts expire after
# the new default TTL); a file that does not parse changes nothing: the unit stays active,
# same process, the journal says why, the old TTL still applies.
case_reload() {
    boot
    install_deb
    local pid
    pid=$(main_pid injectord)
    set_conf "$CONF" limits default_ttl 1
    in_box systemctl reload injectord
    wait_box 10 journal_has injectord 'reload: default-ttl 0 -> 1s' ||
        fail "the reload was not applied: $(journal injectord | tail -n 5)"
    send_to 8341 --host h1 --component c
    wait_box 10 changes_at_least injectord 1 '.outcome == "expire" and .host == "h1"' ||
        fail "no expire after the new default TTL: $(changes injectord)"

    set_conf "$CONF" limits default_ttl 0
    set_conf "$CONF" listen rcvbuf huge
    in_box systemctl reload injectord
    wait_box 10 journal_has injectord 'reload failed, keeping the running configuration' ||
        fail "a bad file was not refused: $(journal injectord | tail -n 5)"
    journal injectord | has 'injectord.conf:[0-9]*: rcvbuf' ||
        fail "the journal does not say why: $(journal injectord | tail -n 5)"
    active injectord || fail "not active after a bad reload"
    [ "$(main_pid injectord)" = "$pid" ] || fail "the reload restarted it"
    send_to 8341 --host h2 --component c
    wait_box 10 changes_at_least injectord 1 '.outcome == "expire" and .host == "h2"' ||
        fail "the bad file's default TTL took effect: $(changes injectord)"
}

# The watchdog: the main process stopped (SIGSTOP) sends no more WATCHDOG=1; systemd kills
# it (SIGABRT) and starts it again, and it comes back with its table, same versions, nothing
# announced again. (WatchdogSec=3 in a drop-in, for the test's time; the unit says 30.)
case_watchdog() {
    boot
    install_deb
    in_box mkdir -p /etc/systemd/system/injectord.service.d
    printf '[Service]\nWatchdogSec=3\n' >"$WORK/watchdog.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/watchdog.conf" /etc/systemd/system/injectord.service.d/watchdog.conf
    in_box systemctl daemon-reload
    in_box systemctl restart injectord
    local i
    for i in 1 2 3 4 5; do send_to 8341 --host "w$i" --component c --severity "$i"; done
    wait_box 10 count_is 8342 5 || fail "5 alerts not in the table"
    table 8342 >"$WORK/before.txt"
    # What survives the kill is what is on disk: the change journal where the daemon keeps
    # one (its state directory's journal/), else only the last periodic snapshot. Without a
    # journal, wait for a snapshot to hold the table (the gap issue 9's journal closes).
    if ! in_box test -d /var/lib/injector/journal; then
        echo "NOTE: no change journal in /var/lib/injector: the table survives only as of a" \
            "periodic snapshot; waiting for one (snapshot interval 1 s)"
        set_conf "$CONF" snapshot interval 1
        in_box systemctl reload injectord
        _snap_5() { in_box grep -q '"count":5' /var/lib/injector/snapshot.json; }
        wait_box 15 _snap_5 || fail "no periodic snapshot with the 5 alerts"
    fi
    local pid restarts
    pid=$(main_pid injectord)
    restarts=$(prop injectord NRestarts)
    in_box kill -STOP "$pid"
    _restarted() { active injectord && [ "$(main_pid injectord)" != "$pid" ] &&
        [ "$(main_pid injectord)" != 0 ]; }
    wait_box 30 _restarted || fail "not restarted: $(in_box systemctl status --no-pager injectord)"
    journal injectord | has 'Watchdog timeout' || fail "no watchdog timeout in the journal"
    journal injectord | has "Killing process $pid (injectord) with signal SIGABRT" ||
        fail "not killed with SIGABRT: $(journal injectord | grep -i kill)"
    [ "$(prop injectord NRestarts)" -gt "$restarts" ] || fail "NRestarts did not move"
    table 8342 >"$WORK/after.txt"
    diff -u "$WORK/before.txt" "$WORK/after.txt" >&2 || fail "the table did not come back"
    [ "$(changes injectord '.outcome == "raise"' | wc -l)" = 5 ] ||
        fail "alerts announced again after the restart: $(changes injectord)"
}

# systemctl stop drains and saves: a burst sent just before the stop is all in the snapshot;
# start restores it without announcing anything again; a Del clears with the next version.
case_stop_drains_start_restores() {
    boot
    install_deb
    burst_file 2000 >"$WORK/burst.txt"
    box_net "$INJECTOR_SEND" --raw --target 127.0.0.1:8341 <"$WORK/burst.txt"
    in_box systemctl stop injectord
    active injectord && fail "still active after stop"
    journal injectord | has 'snapshot: 2000 active alerts written to /var/lib/injector/snapshot.json' ||
        fail "the stop did not drain and save: $(journal injectord | grep -E 'snapshot|final')"
    [ "$(changes injectord '.outcome == "raise"' | wc -l)" = 2000 ] || fail "raises before the stop"

    in_box systemctl start injectord
    journal injectord | has 'snapshot: restored 2000 active alerts' ||
        fail "not restored: $(journal injectord | grep snapshot)"
    count_is 8342 2000 || fail "table after start: $(http 8342 /v1/alerts | jq .count)"
    send_to 8341 --host n7 --component node --del
    wait_box 10 changes_at_least injectord 1 '.outcome == "clear"' || fail "no clear"
    [ "$(changes injectord '.outcome == "clear" and .host == "n7" and .version == 2001' | wc -l)" = 1 ] ||
        fail "the clear: $(changes injectord '.outcome == "clear"')"
    [ "$(changes injectord | wc -l)" = 2001 ] || fail "something was announced again"
}

# instance_conf NAME PORT HTTP: /etc/injector/injectord-NAME.conf, one of a group of 2 on
# PORT, state under DIR (default /var/lib/injectord/NAME).
instance_conf() {
    local dir=${4:-/var/lib/injectord/$1}
    printf '[listen]\naddress = 0.0.0.0:%s\nreuseport = 2\n[output]\ncollector_id = %s\n[http]\nlisten = 127.0.0.1:%s\n[snapshot]\npath = %s/snapshot.json\n[state]\ndir = %s\n' \
        "$2" "$1" "$3" "$dir" "$dir" >"$WORK/injectord-$1.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/injectord-$1.conf" "/etc/injector/injectord-$1.conf"
}

# send_batch_from SRC PORT TAG N: one datagram from address SRC, N alerts TAG-1..TAG-N.
send_batch_from() {
    local i
    {
        printf '<Alerts>'
        for i in $(seq 1 "$4"); do
            printf '<Alert><Action>Upd</Action><ProblemHost>%s-%s</ProblemHost><Component>c</Component></Alert>' "$3" "$i"
        done
        printf '</Alerts>'
    } >"$WORK/batch.xml"
    box_net socat -u "FILE:$WORK/batch.xml" "UDP4-SENDTO:127.0.0.1:$2,bind=$1" || fail "socat from $1"
}

# injectord@a and injectord@b share one port (reuseport 2) beside injectord.service: all
# three run whichever starts first, each with its own state directory.
case_instances_beside_the_default() {
    boot
    install_deb
    active injectord || fail "injectord.service not active"
    instance_conf a 8351 8352
    instance_conf b 8351 8353
    in_box systemctl start injectord@a injectord@b ||
        fail "instances did not start beside injectord.service: $(journal 'injectord@*' | tail -n 8)"
    # And the other order: the default started while the instances run.
    in_box systemctl restart injectord || fail "injectord.service did not start beside instances"
    active injectord && active injectord@a && active injectord@b || fail "not all three active"
    journal injectord@b | has 'shared by a group of 2 processes' || fail "b does not share"

    local src n=0
    for src in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4; do
        n=$((n + 1))
        send_batch_from "$src" 8351 "s$n" 10
    done
    send_to 8341 --host solo --component c
    _all_40() { [ $(($(http 8352 /v1/alerts | jq .count) + $(http 8353 /v1/alerts | jq .count))) = 40 ]; }
    wait_box 10 _all_40 || fail "a + b do not hold the 40 alerts"
    local na nb
    na=$(http 8352 /v1/alerts | jq .count)
    nb=$(http 8353 /v1/alerts | jq .count)
    [ "$na" -gt 0 ] && [ "$nb" -gt 0 ] || fail "one process got everything: a=$na b=$nb"
    wait_box 10 count_is 8342 1 || fail "injectord.service did not get its alert"

    in_box systemctl stop injectord@a injectord@b injectord
    in_box test -f /var/lib/injectord/a/snapshot.json && in_box test -f /var/lib/injectord/b/snapshot.json &&
        in_box test -f /var/lib/injector/snapshot.json || fail "a snapshot is missing"
    in_box grep -q "\"count\":$na" /var/lib/injectord/a/snapshot.json || fail "a's snapshot"
    echo "a holds $na, b holds $nb of 40; injectord.service 1"
}

# State left by 0.1.0's template (/var/lib/injector/NAME, made here by real systemd with
# that unit's StateDirectory=) moves to /var/lib/injectord/NAME when the package is
# installed over it: the running instance is stopped, moved, its config's paths follow, it
# is started again with its table, and injectord.service then runs beside it.
case_instance_state_migrates() {
    boot
    install_deb
    # A host of 0.1.0 that ran instances only: injectord.service off, no state of its own.
    in_box systemctl disable --now injectord
    in_box rm -rf /var/lib/injector /var/lib/private/injector
    instance_conf a 8351 8352 /var/lib/injector/a
    in_box mkdir -p /etc/systemd/system/injectord@a.service.d
    printf '[Service]\nStateDirectory=\nStateDirectory=injector/%%i\n' >"$WORK/old.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/old.conf" /etc/systemd/system/injectord@a.service.d/old.conf
    in_box systemctl daemon-reload
    in_box systemctl start injectord@a
    local i
    for i in 1 2 3; do send_to 8351 --host "m$i" --component c; done
    wait_box 10 count_is 8352 3 || fail "3 alerts not in a's table"
    table 8352 >"$WORK/before.txt"
    in_box test -L /var/lib/injector/a && in_box test -d /var/lib/private/injector/a ||
        fail "not the old layout: $(in_box ls -la /var/lib/injector)"

    # The upgrade (same package again: its postinst runs as for an upgrade), with a running.
    in_box rm -r /etc/systemd/system/injectord@a.service.d
    install_deb
    grep -q 'moved the state of injectord@a.service' "$WORK/dpkg.txt" ||
        fail "the postinst did not say it moved: $(cat "$WORK/dpkg.txt")"
    in_box test -f /var/lib/injectord/a/snapshot.json || fail "no /var/lib/injectord/a/snapshot.json"
    in_box test -e /var/lib/injector && fail "/var/lib/injector is still there"
    in_box grep -q '^path = /var/lib/injectord/a/snapshot.json$' /etc/injector/injectord-a.conf ||
        fail "a's config: $(in_box cat /etc/injector/injectord-a.conf)"
    in_box test -f /etc/injector/injectord-a.conf.dpkg-old || fail "the old config was not kept"
    active injectord@a || fail "a was not started again: $(journal injectord@a | tail -n 5)"
    journal injectord@a | has 'snapshot: restored 3 active alerts from /var/lib/injectord/a/snapshot.json' ||
        fail "a did not restore its table: $(journal injectord@a | grep snapshot)"
    table 8352 >"$WORK/after.txt"
    diff -u "$WORK/before.txt" "$WORK/after.txt" >&2 || fail "a's table changed"
    in_box systemctl enable --now injectord || fail "injectord.service beside the moved a"
    active injectord@a || fail "a stopped"
}

# injector-consume@NAME: its own config file, a dynamic user, the view in its state
# directory, kept exact against the collector in the box through the private broker (a
# relay: the box's 127.0.0.1:5672 -> a socket in $WORK -> the broker); killed, it is
# started again (Restart=) and the view is exact again.
case_consumer_unit() {
    need_broker
    boot
    install_deb
    local port url
    port=$(sed -n 's#^amqp://[^@]*@127\.0\.0\.1:\([0-9]*\)/.*#\1#p' <<<"$INJECTOR_TEST_AMQP_URL")
    [ -n "$port" ] || fail "cannot read the broker's port from $INJECTOR_TEST_AMQP_URL"
    url=${INJECTOR_TEST_AMQP_URL/127.0.0.1:$port/127.0.0.1:5672}
    # Background processes hold none of ctest's pipes (it waits for them to close).
    socat "UNIX-LISTEN:$WORK/amqp.sock,fork" "TCP:127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
    PIDS+=("$!")
    wait_for 10 test -S "$WORK/amqp.sock" || fail "no relay socket"
    # Not through a function: $! must be the process itself (the tool execs nsenter, socat).
    "$BOX_TOOL" net "$BOX" socat TCP-LISTEN:5672,bind=127.0.0.1,reuseaddr,fork \
        "UNIX-CONNECT:$WORK/amqp.sock" </dev/null >/dev/null 2>&1 &
    PIDS+=("$!")

    set_conf "$CONF" amqp url "$url"
    set_conf "$CONF" amqp exchange "$EXCHANGE"
    in_box systemctl restart injectord
    printf 'INJECTOR_AMQP_URL=%s\nARGS=--collector http://127.0.0.1:8342 --exchange %s --view-interval 0.2\n' \
        "$url" "$EXCHANGE" >"$WORK/consume.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/consume.conf" /etc/injector/injector-consume-dash.conf
    in_box chmod 600 /etc/injector/injector-consume-dash.conf
    in_box systemctl start injector-consume@dash ||
        fail "the consumer did not start: $(journal injector-consume@dash | tail -n 5)"
    local view=/var/lib/injector-consume/dash/view.json i
    for i in 1 2 3; do send_to 8341 --host "v$i" --component c --severity "$i"; done
    _view_is() {
        in_box cat "$view" 2>/dev/null | jq -r '.alerts[] | "\(.host) \(.component) \(.version)"' |
            sort >"$WORK/view.txt" || return 1
        table 8342 >"$WORK/table.txt"
        [ "$(wc -l <"$WORK/table.txt")" = "$1" ] && cmp -s "$WORK/view.txt" "$WORK/table.txt"
    }
    wait_box 30 _view_is 3 ||
        fail "the view is not the table: $(cat "$WORK/view.txt") / $(cat "$WORK/table.txt"); $(journal injector-consume@dash | tail -n 5)"
    in_box stat -c '%U %a' "$view" | has '^injector-consume 644$' ||
        fail "the view's owner and mode: $(in_box stat -c '%U %a' "$view" 2>&1)"

    local pid
    pid=$(main_pid injector-consume@dash)
    in_box kill -KILL "$pid"
    _consumer_again() { active injector-consume@dash && [ "$(main_pid injector-consume@dash)" != "$pid" ] &&
        [ "$(main_pid injector-consume@dash)" != 0 ]; }
    wait_box 20 _consumer_again || fail "not started again after a kill"
    send_to 8341 --host v1 --component c --del
    send_to 8341 --host v4 --component c
    wait_box 30 _view_is 3 || fail "the view after the restart: $(cat "$WORK/view.txt")"
    in_box systemctl stop injector-consume@dash
    in_box test -s "$view" || fail "the view is gone after a stop"
}

# dpkg -r stops every unit and removes the programs and units, keeping the configuration
# and the state (an install after it starts injectord again with its table); dpkg -P also
# removes the conffile, the state of every unit, the links that enabled them, and leaves
# the administrator's own files.
case_remove_and_purge() {
    boot
    install_deb
    instance_conf a 8351 8352
    printf 'INJECTOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/\nARGS=--collector http://127.0.0.1:8342\n' \
        >"$WORK/consume.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/consume.conf" /etc/injector/injector-consume-x.conf
    in_box systemctl enable --now injectord@a injector-consume@x || fail "units did not start"
    send_to 8341 --host r1 --component c
    send_to 8341 --host r2 --component c
    wait_box 10 count_is 8342 2 || fail "2 alerts"

    in_box dpkg -r injector >"$WORK/remove.txt" 2>&1 || fail "dpkg -r: $(cat "$WORK/remove.txt")"
    local u
    for u in injectord injectord@a injector-consume@x; do
        active "$u" && fail "$u still active after dpkg -r"
        [ "$(prop "$u" LoadState)" = not-found ] || fail "$u: $(prop "$u" LoadState) after dpkg -r"
    done
    in_box test -e /usr/bin/injectord && fail "/usr/bin/injectord after dpkg -r"
    in_box test -e /lib/systemd/system/injectord.service && fail "the unit after dpkg -r"
    in_box test -f "$CONF" || fail "dpkg -r removed the conffile"
    in_box grep -q '"count":2' /var/lib/injector/snapshot.json || fail "dpkg -r: the state is gone"
    in_box test -d /var/lib/injectord/a && in_box test -d /var/lib/injector-consume/x ||
        fail "dpkg -r: instance or consumer state is gone"
    in_box dpkg-query -W -f '${Status}' injector | has 'deinstall ok config-files' ||
        fail "status after dpkg -r: $(in_box dpkg-query -W -f '${Status}' injector)"

    install_deb
    active injectord || fail "enabled before the remove, not started by the install after it"
    journal injectord | has 'snapshot: restored 2 active alerts' || fail "the kept state was not restored"

    in_box dpkg -P injector >"$WORK/purge.txt" 2>&1 || fail "dpkg -P: $(cat "$WORK/purge.txt")"
    active injectord && fail "injectord still active after dpkg -P"
    in_box test -e "$CONF" && fail "the conffile is still there after dpkg -P"
    for u in /var/lib/injector /var/lib/private/injector /var/lib/injectord \
        /var/lib/private/injectord /var/lib/injector-consume /var/lib/private/injector-consume; do
        in_box test -e "$u" && fail "$u is still there after dpkg -P"
    done
    in_box sh -c 'ls /etc/systemd/system/*.wants/ | grep -E "^injector"' && fail "enable links left"
    in_box test -f /etc/injector/injectord-a.conf || fail "dpkg -P removed the administrator's file"
    in_box dpkg-query -W -f '${Status}' injector 2>/dev/null | has 'ok installed\|config-files' &&
        fail "dpkg still knows the package"
    return 0
}

# systemd-analyze security: each unit at 2.0 or better (lower is safer), with every check
# above passing under the same units; the units verify.
case_security() {
    boot
    install_deb
    instance_conf a 8351 8352
    printf 'INJECTOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/\nARGS=--collector http://127.0.0.1:8342\n' \
        >"$WORK/consume.conf"
    "$BOX_TOOL" put "$BOX" "$WORK/consume.conf" /etc/injector/injector-consume-x.conf
    local u score
    for u in injectord.service injectord@a.service injector-consume@x.service; do
        in_box systemd-analyze verify "$u" >"$WORK/verify.txt" 2>&1 ||
            fail "systemd-analyze verify $u: $(cat "$WORK/verify.txt")"
        in_box systemd-analyze security --no-pager "$u" >"$WORK/security.txt" 2>&1 ||
            fail "systemd-analyze security $u: $(tail -n 3 "$WORK/security.txt")"
        score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
        [ -n "$score" ] || fail "no score for $u: $(tail -n 3 "$WORK/security.txt")"
        echo "systemd-analyze security $u: $score"
        awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
            fail "$u scores $score (want 2.0 or lower): $(grep '✗' "$WORK/security.txt")"
    done
    # The hardened units still run: the instance and the consumer start and stay up.
    in_box systemctl start injectord@a injector-consume@x || fail "a hardened unit did not start"
    send_to 8351 --host s1 --component c
    wait_box 10 count_is 8352 1 || fail "injectord@a does not take alerts"
    active injectord && active injector-consume@x || fail "a unit stopped"
    # The intake thread's nice under the filter (setpriority let through, LimitNICE=-10):
    # -10, the loop thread's 0. Where systemd cannot grant the limit (a container without
    # CAP_SYS_RESOURCE, as this machine may be) the kernel refuses the call (EACCES), and
    # the debug line says so; the filter's refusal would be EPERM.
    set_conf "$CONF" logging level debug
    in_box systemctl restart injectord
    local pid limit nices
    pid=$(main_pid injectord)
    limit=$(in_box awk '/^Max nice priority/ { print $4 }' "/proc/$pid/limits")
    nices=$(in_box sh -c 'for t in /proc/$1/task/*; do echo "$(cat $t/comm) $(cut -d" " -f19 $t/stat)"; done' \
        - "$pid" | sort -u | tr '\n' ' ')
    echo "threads (name nice): $nices; RLIMIT_NICE $limit"
    if [ "$limit" -ge 30 ]; then
        [[ " $nices" == *" intake -10 "* && " $nices" == *" injectord 0 "* ]] ||
            fail "threads and their nice values: $nices"
    else
        echo "NOTE: systemd could not set LimitNICE=-10 here (RLIMIT_NICE $limit): checking" \
            "that the kernel, not the system call filter, refused the intake's nice"
        journal injectord | has 'receive thread stays at nice 0.*(setpriority: Permission denied)' ||
            fail "the intake's setpriority: $(journal injectord | grep -i 'setpriority\|nice')"
    fi
}

"case_$1"
