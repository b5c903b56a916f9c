#!/usr/bin/env bash
# Install the Debian packages injector builds and tests with, only those missing.
# Used by `make deps` (and so by `make run` and `make test`).
#   deps.sh            what the build and the tests need
#   deps.sh --browser  what the dashboard's browser test needs (chromium; node and npm when
#                      there is no node yet); `make test` goes on without them, and that one
#                      test then says SKIPPED and why
set -euo pipefail

if [ "${1:-}" = "--browser" ]; then
    packages=(chromium)
    command -v node >/dev/null || packages+=(nodejs)
    command -v npm >/dev/null || packages+=(npm)
else
    packages=(
        build-essential cmake pkg-config
        libuv1-dev libxml2-dev librabbitmq-dev libcmocka-dev libjansson-dev
        uthash-dev libinih-dev libmicrohttpd-dev libsystemd-dev
        libssl-dev rabbitmq-server curl jq bc socat dpkg-dev help2man clang tmux
        systemd iproute2
        libclang-rt-14-dev clang-format libxml2-utils
    )
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: installing packages needs root; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list can name versions that are gone.
apt-get update -qq
# rabbitmq-server's postinst would start a system broker where an init system runs;
# tests start their own private node, so keep the package from starting one.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
