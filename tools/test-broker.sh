#!/usr/bin/env bash
# A private RabbitMQ node for tests: own node name, ports, data and log directories.
#   test-broker.sh start DIR   start it, wait until it serves; writes DIR/env (AMQP_URL=...)
#   test-broker.sh stop DIR    stop it (by its PID file), whatever state the tests left
#   test-broker.sh ctl DIR ... run rabbitmqctl against it
# Runs the node as the invoking user (root here) with HOME=DIR, so the node and rabbitmqctl
# share one Erlang cookie and no directory needs to be reachable by the rabbitmq user.
set -euo pipefail

cmd=${1:?usage: test-broker.sh start|stop|ctl DIR}
dir=$(mkdir -p "${2:?usage: test-broker.sh start|stop|ctl DIR}" && cd "$2" && pwd)
shift 2
RMQ=/usr/lib/rabbitmq/bin

node_env() {
    # shellcheck disable=SC1091
    source "$dir/node"
    export HOME="$dir" RABBITMQ_NODENAME RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_PID_FILE="$dir/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
}

ctl() {
    "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A throwaway CA and a server certificate for localhost, for the TLS listener (amqps://).
tls_material() {
    local t="$dir/tls"
    mkdir -p "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=injector test CA" \
        -keyout "$t/ca.key" -out "$t/ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$t/san.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
        -days 2 -extfile "$t/san.ext" -out "$t/server.pem" >/dev/null 2>&1
}

start() {
    [ -x "$RMQ/rabbitmq-server" ] || { echo "test-broker: rabbitmq-server is not installed (make deps)" >&2; exit 1; }
    local port
    if [ ! -f "$dir/node" ]; then
        # Three ports (AMQP, TLS, Erlang distribution) below the kernel's ephemeral range,
        # so no outgoing connection of another test can hold one when the node binds it.
        local low
        read -r low _ </proc/sys/net/ipv4/ip_local_port_range
        [ "$low" -gt 12000 ] || low=12000
        for _ in $(seq 1 50); do
            port=$((10000 + RANDOM % (low - 10000 - 3)))
            port_free "$port" && port_free $((port + 1)) && port_free $((port + 2)) && break
        done
        cat >"$dir/node" <<EOT
RABBITMQ_NODENAME=injector-test-$port@localhost
RABBITMQ_NODE_PORT=$port
RABBITMQ_DIST_PORT=$((port + 2))
TLS_PORT=$((port + 1))
EOT
        tls_material
    fi
    # A restart (tests stop the broker on purpose) keeps the node's name, port and data.
    echo '[].' >"$dir/enabled_plugins"
    # shellcheck disable=SC1091
    source "$dir/node"
    cat >"$dir/rabbitmq.conf" <<EOT
listeners.ssl.1 = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOT
    node_env
    "$RMQ/rabbitmq-server" -detached >"$dir/start.log" 2>&1
    # await_startup fails at once until the node has registered with epmd: ping first.
    local deadline=$((SECONDS + 90))
    until ctl ping >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "test-broker: node did not answer within 90 s; log tail:" >&2
            tail -n 30 "$dir"/log/*.log "$dir/start.log" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
    if ! timeout 90 "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" await_startup >/dev/null 2>&1; then
        echo "test-broker: node did not finish starting; log tail:" >&2
        tail -n 30 "$dir"/log/*.log >&2 2>/dev/null || true
        exit 1
    fi
    {
        echo "AMQP_URL=amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/"
        echo "AMQPS_URL=amqps://guest:guest@localhost:$TLS_PORT/"
        echo "AMQPS_CA=$dir/tls/ca.pem"
    } >"$dir/env"
    echo "test-broker: $RABBITMQ_NODENAME up on 127.0.0.1:$RABBITMQ_NODE_PORT"
}

stop() {
    [ -f "$dir/node" ] || return 0
    node_env
    if [ -f "$dir/pid" ]; then
        local pid
        pid=$(cat "$dir/pid")
        # rabbitmqctl stop waits for the process; fall back to killing that PID only.
        timeout 60 "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" stop "$dir/pid" >/dev/null 2>&1 ||
            kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
    echo "test-broker: stopped"
}

case "$cmd" in
start) start ;;
stop) stop ;;
ctl) node_env; ctl "$@" ;;
*) echo "usage: test-broker.sh start|stop|ctl DIR" >&2; exit 2 ;;
esac
