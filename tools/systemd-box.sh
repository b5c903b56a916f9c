#!/usr/bin/env bash
# systemd-box.sh - a real systemd (the machine's own /lib/systemd/systemd) as PID 1 of
# private namespaces, on a throwaway overlay of this machine's root: for testing units and
# packages as a user's host would run them, without touching this machine's services,
# sysctls, devices or /etc. Needs root and write access to the cgroup hierarchies.
#
#   systemd-box.sh start DIR       boot a box whose state lives in DIR (created, kept empty
#                                  of anything but the box's bookkeeping); returns once
#                                  systemd has finished booting. Exit 77: cannot boot here
#                                  (not root, no cgroup write access), reason on stderr.
#   systemd-box.sh run DIR CMD...  run CMD inside (all its namespaces, its root)
#   systemd-box.sh net DIR CMD...  run CMD in its network namespace only (this machine's
#                                  files: a build tree's binaries, a socket to relay through)
#   systemd-box.sh put DIR SRC DEST  copy a file of this machine into the box
#   systemd-box.sh pid DIR         the box's PID 1 as this machine sees it
#   systemd-box.sh stop DIR        systemctl poweroff, then whatever is left is killed by
#                                  PID; the box's cgroups removed. Safe to repeat.
#
# How (issue 15): cgroups of its own in both hierarchies of this machine's hybrid layout;
# `unshare --pid --fork --mount --net --uts --ipc --cgroup` into a PID 1 that mounts a tmpfs
# and an overlay (lowerdir=/, upper on the tmpfs: every write the box makes is gone with
# it), proc with /proc/sys (and sysrq-trigger, irq, bus) read-only (no unit changes this
# machine's sysctls), sysfs read-only, a /dev of its own (a few device nodes bound in:
# nothing in the box creates or changes a node of this machine's /dev), a tmpfs /run and
# /tmp, brings lo up, pivot_root's into the overlay and
# execs systemd with a target of its own (injector-box.target: sysinit and sockets). The
# machine's generators and every unit sysinit.target and sockets.target would start but
# journald's are masked inside: nothing loads a kernel module, sets the clock, or mounts
# anything of the machine's. A watcher ends the box when the process that started it
# (BOX_OWNER, default: the caller) exits, so a killed test leaves nothing behind.
set -euo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
cmd=${1:?usage: systemd-box.sh start|run|net|put|pid|stop DIR ...}
dir=${2:?usage: systemd-box.sh $cmd DIR ...}
shift 2
CG=/sys/fs/cgroup
HIERARCHIES=(unified systemd)

cannot() {
    echo "systemd-box: cannot boot systemd here: $*" >&2
    exit 77
}

box_pid() {
    local pid
    pid=$(cat "$dir/pid" 2>/dev/null) || { echo "systemd-box: no box in $dir" >&2; return 1; }
    echo "$pid"
}

# ---- inside: PID 1 of the new namespaces, before systemd ----
init() {
    local name=$1 t="$dir/fs"
    mount -t tmpfs -o mode=0755 injector-box "$t"
    mkdir -p "$t/upper" "$t/work" "$t/root"
    mount -t overlay injector-box -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
    local r="$t/root"
    mount -t proc proc "$r/proc"
    local p
    for p in sys sysrq-trigger irq bus; do
        [ -e "$r/proc/$p" ] || continue
        mount --bind "$r/proc/$p" "$r/proc/$p"
        mount -o remount,bind,ro "$r/proc/$p"
    done
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
    mount -t tmpfs -o mode=0755,nosuid,size=64m injector-box "$r/dev"
    for p in null zero full random urandom tty; do
        touch "$r/dev/$p"
        mount --bind "/dev/$p" "$r/dev/$p"
    done
    mkdir -p "$r/dev/pts" "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
    ln -s pts/ptmx "$r/dev/ptmx"
    mount -t tmpfs -o mode=1777,nosuid,nodev injector-box "$r/dev/shm"
    ln -s /proc/self/fd "$r/dev/fd"
    ln -s /proc/self/fd/0 "$r/dev/stdin"
    ln -s /proc/self/fd/1 "$r/dev/stdout"
    ln -s /proc/self/fd/2 "$r/dev/stderr"
    # systemd's console is a file of the box's directory, not this machine's console.
    touch "$r/dev/console"
    mount --bind "$dir/console.log" "$r/dev/console"
    mount -t tmpfs -o mode=0755,nosuid,nodev injector-box "$r/run"
    mount -t tmpfs -o mode=1777,nosuid,nodev injector-box "$r/tmp"
    ip link set lo up

    # Its own target, and nothing of the machine's that it need not run.
    local etc="$r/etc/systemd/system" u
    mkdir -p "$etc" "$r/etc/systemd/system-generators"
    cat >"$etc/injector-box.target" <<'EOF'
[Unit]
Description=injector test box (sysinit and sockets only)
Requires=sysinit.target sockets.target
After=sysinit.target sockets.target
AllowIsolate=yes
EOF
    for u in "$r"/usr/lib/systemd/system-generators/* "$r"/lib/systemd/system-generators/*; do
        [ -e "$u" ] && ln -sf /dev/null "$r/etc/systemd/system-generators/$(basename "$u")"
    done
    for u in "$r"/usr/lib/systemd/system/{sysinit,sockets}.target.wants/* \
        "$r"/etc/systemd/system/{sysinit,sockets}.target.wants/*; do
        [ -e "$u" ] || [ -L "$u" ] || continue
        case $(basename "$u") in
        systemd-journald.service | systemd-journald.socket | systemd-journald-dev-log.socket) ;;
        *) ln -sf /dev/null "$etc/$(basename "$u")" ;;
        esac
    done
    # Timers and paths of the machine's packages have no business here either.
    for u in systemd-timesyncd.service systemd-modules-load.service systemd-sysctl.service \
        systemd-binfmt.service systemd-udevd.service systemd-udev-trigger.service \
        systemd-tmpfiles-setup-dev.service systemd-remount-fs.service \
        systemd-journald-audit.socket modprobe@.service timers.target paths.target; do
        ln -sf /dev/null "$etc/$u"
    done

    cd "$r"
    mkdir -p .box-oldroot
    pivot_root . .box-oldroot
    cd /
    umount -l /.box-oldroot
    rmdir /.box-oldroot
    exec env -i container=injector-box /lib/systemd/systemd --system \
        systemd.unit=injector-box.target systemd.unified_cgroup_hierarchy=1 \
        systemd.show_status=0 </dev/null >/dev/console 2>&1
}

# ---- outside ----
start() {
    [ "$(id -u)" = 0 ] || cannot "not root"
    [ -x /lib/systemd/systemd ] || cannot "no /lib/systemd/systemd"
    command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v ip >/dev/null ||
        cannot "needs unshare, nsenter (util-linux) and ip (iproute2)"
    mkdir -p "$dir/fs"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/pid" ] || { echo "systemd-box: $dir already has a box" >&2; exit 1; }
    local name h
    name="injector-box-$(printf %s "$dir" | md5sum | cut -c1-12)"
    echo "$name" >"$dir/name"
    for h in "${HIERARCHIES[@]}"; do
        [ -d "$CG/$h" ] || cannot "no cgroup hierarchy $CG/$h (this script knows the hybrid layout)"
        [ ! -e "$CG/$h/$name" ] || { echo "systemd-box: $CG/$h/$name exists" >&2; exit 1; }
        mkdir "$CG/$h/$name" 2>"$dir/cgroup.err" || {
            stop_box
            cannot "no cgroup write access: $(cat "$dir/cgroup.err")"
        }
    done
    : >"$dir/console.log"
    # The subshell moves itself into the box's cgroups, then becomes unshare; unshare's
    # child is the box's PID 1. Nothing of the caller's stdio stays open in the box.
    (
        for h in "${HIERARCHIES[@]}"; do echo "$BASHPID" >"$CG/$h/$name/cgroup.procs"; done
        exec unshare --pid --fork --mount --net --uts --ipc --cgroup --propagation private \
            bash "$self" _init "$dir" "$name"
    ) </dev/null >>"$dir/console.log" 2>&1 &
    local outer=$!
    echo "$outer" >"$dir/unshare.pid"
    local pid="" deadline=$((SECONDS + 30))
    until [ -n "$pid" ]; do
        pid=$(awk '{ print $1 }' "/proc/$outer/task/$outer/children" 2>/dev/null) || true
        kill -0 "$outer" 2>/dev/null || break
        [ "$SECONDS" -lt "$deadline" ] || break
        [ -n "$pid" ] || sleep 0.02
    done
    [ -n "$pid" ] || { stop_box; fail_boot "unshare did not start a PID 1"; }
    echo "$pid" >"$dir/pid"
    # The watcher: when the owner goes, so does the box (by this DIR's PIDs).
    local owner=${BOX_OWNER:-$PPID}
    setsid bash -c 'tail --pid="$1" -f /dev/null & echo $! >"$3/watcher.pid"; wait $!
        exec bash "$2" stop "$3"' _ "$owner" "$self" "$dir" </dev/null >/dev/null 2>&1 &
    # Booted: systemd answers and has finished starting its target.
    until [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ] ||
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /lib/systemd/systemd ]; do
        kill -0 "$pid" 2>/dev/null || fail_boot "the box's PID 1 exited before systemd ran"
        [ "$SECONDS" -lt "$deadline" ] || fail_boot "systemd did not start in 30 s"
        sleep 0.02
    done
    local state=""
    until state=$(nsenter -t "$pid" -a systemctl is-system-running --wait 2>/dev/null) ||
        [ "$state" = degraded ]; do
        kill -0 "$pid" 2>/dev/null || fail_boot "systemd exited while booting"
        [ "$SECONDS" -lt "$deadline" ] || fail_boot "systemd did not finish booting in 30 s ($state)"
        sleep 0.05
    done
}

fail_boot() {
    echo "systemd-box: $*; console:" >&2
    tail -n 30 "$dir/console.log" >&2 2>/dev/null || true
    stop_box
    exit 1
}

# Ends the box: poweroff, then KILL by PID what is left (PID 1 of the namespace takes every
# process in it along), then the cgroups. Each step tolerates the state a failure left.
stop_box() {
    local pid outer name h
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    outer=$(cat "$dir/unshare.pid" 2>/dev/null || true)
    name=$(cat "$dir/name" 2>/dev/null || true)
    # A PID is ours while it is in the box's cgroup (not one the kernel gave out again).
    [ -n "$name" ] && [ -n "$pid" ] && grep -qs "/$name\(/\|\$\)" "/proc/$pid/cgroup" || pid=""
    [ -n "$name" ] && [ -n "$outer" ] && grep -qs "/$name\(/\|\$\)" "/proc/$outer/cgroup" || outer=""
    if [ -n "$pid" ]; then
        timeout 10 nsenter -t "$pid" -a systemctl poweroff >/dev/null 2>&1 || true
        local deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    if [ -n "$outer" ]; then
        local deadline=$((SECONDS + 10))
        while kill -0 "$outer" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        kill -KILL "$outer" 2>/dev/null || true
    fi
    if [ -n "$name" ]; then
        for h in "${HIERARCHIES[@]}"; do
            [ -d "$CG/$h/$name" ] || continue
            # Processes nothing in the namespace owned (none expected): killed by PID.
            find "$CG/$h/$name" -name cgroup.procs -exec cat {} + 2>/dev/null |
                while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
            local deadline=$((SECONDS + 10))
            until find "$CG/$h/$name" -depth -type d -exec rmdir {} + 2>/dev/null &&
                [ ! -d "$CG/$h/$name" ]; do
                [ "$SECONDS" -lt "$deadline" ] || {
                    echo "systemd-box: could not remove $CG/$h/$name" >&2
                    break
                }
                sleep 0.05
            done
        done
    fi
    # The watcher's tail (gone already when the watcher is what stops the box).
    local watcher
    watcher=$(cat "$dir/watcher.pid" 2>/dev/null || true)
    rm -f "$dir/pid" "$dir/unshare.pid" "$dir/watcher.pid" "$dir/name"
    if [ -n "$watcher" ] && [ "$(cat "/proc/$watcher/comm" 2>/dev/null)" = tail ]; then
        kill -TERM "$watcher" 2>/dev/null || true
    fi
}

case $cmd in
_init) init "$@" ;;
start) start ;;
stop) stop_box ;;
pid) box_pid ;;
run)
    pid=$(box_pid)
    exec nsenter -t "$pid" -a "$@"
    ;;
net)
    pid=$(box_pid)
    exec nsenter -t "$pid" -n "$@"
    ;;
put)
    pid=$(box_pid)
    src=${1:?usage: put DIR SRC DEST}
    dest=${2:?usage: put DIR SRC DEST}
    mkdir -p "$(dirname "/proc/$pid/root$dest")"
    cp "$src" "/proc/$pid/root$dest"
    ;;
*)
    echo "usage: systemd-box.sh start|run|net|put|pid|stop DIR ..." >&2
    exit 2
    ;;
esac
