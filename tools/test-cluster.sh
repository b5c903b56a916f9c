#!/usr/bin/env bash
# A private three-node RabbitMQ cluster for tests: own node names, ports, data and log
# directories, one Erlang cookie; nodes 2 and 3 join node 1 (join_cluster).
#   test-cluster.sh start DIR          start the three nodes, cluster them, wait until every
#                                      node serves; writes DIR/env (CLUSTER_URL1..3, and
#                                      CLUSTER_NODE1..3, CLUSTER_LOG1..3: names, log files).
#                                      On failure: DIR/failed (the reason), exit 1
#   test-cluster.sh stop DIR           stop the nodes it started (by their PID files), whatever
#                                      state the tests left
#   test-cluster.sh stop-node DIR N    stop node N (1-3) cleanly (SIGTERM), wait until it is gone
#   test-cluster.sh start-node DIR N   start node N again (same name, port, data: it rejoins)
#                                      and wait until it serves
#   test-cluster.sh heal DIR           start again any node that is not running (a test
#                                      killed before it could)
#   test-cluster.sh ctl DIR N ...      rabbitmqctl against node N
# The nodes run as the invoking user with HOME=DIR, so they and rabbitmqctl share the one
# cookie in DIR/.erlang.cookie and no directory needs to be reachable by the rabbitmq user.
# About 30 s and 400 MiB (three Erlang VMs) on two cores.
set -euo pipefail

usage="usage: test-cluster.sh start|stop|heal DIR | stop-node|start-node DIR N | ctl DIR N ARGS..."
cmd=${1:?$usage}
dir=$(mkdir -p "${2:?$usage}" && cd "$2" && pwd)
shift 2
RMQ=/usr/lib/rabbitmq/bin
NODES=(1 2 3)

# node_env N: the environment of node N (its own name, ports, directories; the shared HOME).
node_env() {
    local n=$1
    # shellcheck disable=SC1091
    source "$dir/ports"
    local d="$dir/n$n"
    export HOME="$dir" RABBITMQ_NODENAME="injector-cluster-$BASE-$n@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$((BASE + n - 1))
    export RABBITMQ_DIST_PORT=$((BASE + 3 + n - 1))
    export RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
    export RABBITMQ_PID_FILE="$d/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    export RABBITMQ_CONFIG_FILE="$d/rabbitmq" ERL_CRASH_DUMP="$d/erl_crash.dump"
}

ctl() {
    "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# launch N: start node N detached (returns at once).
launch() {
    local n=$1
    mkdir -p "$dir/n$n"
    echo '[].' >"$dir/n$n/enabled_plugins"
    : >"$dir/n$n/rabbitmq.conf"
    (
        node_env "$n"
        cd "$dir/n$n" # what a VM leaves in its working directory (MnesiaCore.*) stays here
        "$RMQ/rabbitmq-server" -detached >"$dir/n$n/start.log" 2>&1
    )
}

# await N: wait until node N has started (and, once clustered, rejoined). Returns 0, 2 when
# its VM is gone (it died at start: a port taken meanwhile), or fails with its log.
await() {
    local n=$1
    (
        node_env "$n"
        # await_startup fails at once until the node has registered with epmd: ping first.
        local deadline=$((SECONDS + 120)) gone=0
        until ctl ping >/dev/null 2>&1; do
            [ "$SECONDS" -lt "$deadline" ] || die "node $n did not answer within 120 s"
            if [ -n "$(vm_of "$RABBITMQ_NODENAME")" ]; then gone=0; else gone=$((gone + 1)); fi
            [ "$gone" -lt 3 ] || exit 2 # three looks (a ping takes a second or more)
            sleep 0.2
        done
        timeout 120 "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" await_startup >/dev/null 2>&1 ||
            die "node $n did not finish starting"
    )
}

# vm_of NAME: the PID of node NAME's Erlang VM, if it runs (the name is in its environment,
# not on its command line).
vm_of() {
    local p
    for p in $(pgrep -x beam.smp); do
        if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$1"; then
            echo "$p"
            return
        fi
    done
}

# pick_ports: a base port with BASE..BASE+5 free (AMQP of nodes 1-3, then their Erlang
# distribution ports), below the kernel's ephemeral range, so no outgoing connection of
# another test can hold one by the time the node binds it.
pick_ports() {
    local low high base p ok
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    high=$((low < 12000 ? 12000 : low))
    for _ in $(seq 1 50); do
        base=$((10000 + RANDOM % (high - 10000 - 6)))
        ok=1
        for p in $(seq "$base" $((base + 5))); do
            port_free "$p" || { ok=0; break; }
        done
        [ "$ok" = 0 ] || break
    done
    echo "BASE=$base" >"$dir/ports"
}

die() {
    {
        echo "test-cluster: $*; log tails:"
        tail -n 15 "$dir"/n*/log/*.log "$dir"/n*/start.log 2>/dev/null || true
    } | tee "$dir/failed" >&2
    exit 1
}

start() {
    [ -x "$RMQ/rabbitmq-server" ] ||
        die "rabbitmq-server is not installed (make deps)"
    rm -f "$dir/env" "$dir/failed"
    # A start that fails says why and leaves no node running.
    trap 'rc=$?; if [ "$rc" -ne 0 ]; then [ -e "$dir/failed" ] || die "start failed (exit $rc)"
        stop; fi' EXIT
    # One cookie for the three nodes and rabbitmqctl (HOME=DIR for all of them).
    head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/.erlang.cookie"
    chmod 400 "$dir/.erlang.cookie"
    local t0=$SECONDS n attempt rc
    # The three boot at once (the slow part), then 2 and 3 join 1, one at a time. A node
    # that died at start (a port taken between the check and its bind) means new ports.
    for attempt in 1 2 3; do
        pick_ports
        for n in "${NODES[@]}"; do launch "$n"; done
        rc=0
        for n in "${NODES[@]}"; do
            await "$n" || { rc=$?; break; }
        done
        [ "$rc" = 2 ] || break
        echo "test-cluster: node $n died at start (attempt $attempt); again on other ports" >&2
        for n in "${NODES[@]}"; do stop_node "$n"; done
        rm -rf "$dir"/n?
    done
    [ "$rc" = 0 ] || die "node $n did not start (3 attempts)"
    # shellcheck disable=SC1091
    source "$dir/ports"
    local base=$BASE first
    first=$(node_env 1 && echo "$RABBITMQ_NODENAME")
    for n in 2 3; do
        (
            node_env "$n"
            ctl stop_app && ctl join_cluster "$first" && ctl start_app
        ) >"$dir/n$n/join.log" 2>&1 || die "node $n could not join $first: $(tail -n 5 "$dir/n$n/join.log")"
    done
    local running
    running=$(node_env 1 && ctl cluster_status --formatter json 2>/dev/null |
        jq '.running_nodes | length') || running=0
    [ "$running" = 3 ] || die "the cluster has $running running nodes, not 3"
    {
        for n in "${NODES[@]}"; do
            echo "CLUSTER_URL$n=amqp://guest:guest@127.0.0.1:$((base + n - 1))/"
            echo "CLUSTER_NODE$n=injector-cluster-$base-$n@localhost"
            echo "CLUSTER_LOG$n=$dir/n$n/log/injector-cluster-$base-$n@localhost.log"
        done
    } >"$dir/env.tmp"
    mv "$dir/env.tmp" "$dir/env"
    echo "test-cluster: 3 nodes up on 127.0.0.1:$base-$((base + 2)) in $((SECONDS - t0)) s"
}

# stop_node N: stop node N by its PID file: SIGTERM, which an Erlang VM takes as a clean
# shutdown (clients get 320 CONNECTION_FORCED at once; rabbitmqctl stop would first take
# seconds to boot a VM of its own on a busy machine); that PID alone is killed if it is
# still there after 60 s.
stop_node() {
    local n=$1 pid
    [ -f "$dir/n$n/pid" ] || return 0
    pid=$(cat "$dir/n$n/pid")
    # Only that node's VM, never a process that took the PID of one that died meanwhile.
    if [ "$(node_env "$n" && vm_of "$RABBITMQ_NODENAME")" = "$pid" ] &&
        kill -TERM "$pid" 2>/dev/null; then
        local deadline=$((SECONDS + 60))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/n$n/pid"
}

stop() {
    [ -f "$dir/ports" ] || return 0
    local n
    for n in "${NODES[@]}"; do stop_node "$n" & done
    wait
    echo "test-cluster: stopped"
}

node_arg() {
    case "${1:-}" in
    1 | 2 | 3) ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
}

case "$cmd" in
start) start ;;
stop) stop ;;
stop-node) node_arg "${1:-}"; stop_node "$1" ;;
start-node)
    node_arg "${1:-}"
    launch "$1"
    await "$1"
    ;;
heal)
    for n in "${NODES[@]}"; do
        if [ -z "$(node_env "$n" && vm_of "$RABBITMQ_NODENAME")" ]; then
            echo "test-cluster: node $n was down; starting it again" >&2
            rm -f "$dir/n$n/pid"
            launch "$n"
            await "$n"
        fi
    done
    ;;
ctl) node_arg "${1:-}"; n=$1; shift; node_env "$n"; ctl "$@" ;;
*) echo "$usage" >&2; exit 2 ;;
esac
