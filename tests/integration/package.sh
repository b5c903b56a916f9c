#!/usr/bin/env bash
# package.sh CASE - `make package` builds a .deb that holds what the README says: built the
# way make package builds it (tools/package.sh, a release tree of its own next to the test
# build), then inspected. Never installed on this machine (systemd.sh installs it under a
# real systemd, in a box); its postinst runs only in a private mount namespace with /proc/sys
# read-only and /var/lib a tmpfs, so the host's sysctls and state cannot change.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# contains FILE PATTERN WHAT: fail with WHAT unless a line of FILE matches PATTERN (ERE).
contains() {
    grep -Eq -- "$2" "$1" || fail "$3"
}

case_contents() {
    command -v dpkg-deb >/dev/null || skip "dpkg-deb not installed"
    command -v help2man >/dev/null || fail "help2man not installed (make deps installs it)"
    local tree deb
    tree="$(cd "$BUILD_DIR/.." && pwd)/package-test"
    deb=$(JOBS=2 "$SRC/tools/package.sh" "$tree" 2>"$WORK/package.log") ||
        fail "tools/package.sh failed: $(tail -n 20 "$WORK/package.log")"
    [ -f "$deb" ] || fail "no .deb: '$deb'"
    case "$deb" in */injector_*.deb) ;; *) fail "package file name: $deb" ;; esac

    # What is in it: the programs (executable, root's), both units, the sysctl drop-in, the
    # configuration and its commented original, the documentation, a man page each.
    dpkg-deb -c "$deb" >"$WORK/contents.txt"
    local p
    for p in injectord injector-send injector-burst injector-consume injector-ctl; do
        contains "$WORK/contents.txt" "^-rwxr-xr-x root/root .* \./usr/bin/$p\$" "no /usr/bin/$p"
        contains "$WORK/contents.txt" " \./usr/share/man/man1/$p\.1\.gz\$" "no man page for $p"
    done
    for p in lib/systemd/system/injectord.service lib/systemd/system/injectord@.service \
        lib/systemd/system/injector-consume@.service share/doc/injector/injector-consume.conf.example \
        lib/sysctl.d/60-injector.conf share/doc/injector/injectord.conf.example \
        share/doc/injector/README.md share/doc/injector/FORMAT.md; do
        contains "$WORK/contents.txt" "^-rw-r--r-- root/root .* \./usr/$p\$" "no /usr/$p"
    done
    contains "$WORK/contents.txt" "^-rw-r--r-- root/root .* \./etc/injector/injectord\.conf\$" \
        "no /etc/injector/injectord.conf"

    # The control fields: name, dependencies found by dpkg-shlibdeps, the conffile.
    dpkg-deb -I "$deb" >"$WORK/info.txt"
    contains "$WORK/info.txt" '^ Package: injector$' "Package field"
    contains "$WORK/info.txt" '^ Architecture: [a-z0-9]+$' "Architecture field"
    local lib
    for lib in libc6 libuv1 libxml2 librabbitmq libjansson libmicrohttpd libinih libssl; do
        contains "$WORK/info.txt" "^ Depends: (.*, )?${lib}[a-z0-9.]*( |,|$)" "no dependency on $lib"
    done
    contains "$WORK/info.txt" ' conffiles *$' "no conffiles"
    dpkg-deb -I "$deb" conffiles >"$WORK/conffiles.txt"
    [ "$(cat "$WORK/conffiles.txt")" = /etc/injector/injectord.conf ] ||
        fail "conffiles: $(cat "$WORK/conffiles.txt")"
    dpkg-deb -e "$deb" "$WORK/control"
    [ -x "$WORK/control/postinst" ] && [ -x "$WORK/control/prerm" ] && [ -x "$WORK/control/postrm" ] ||
        fail "postinst, prerm or postrm missing or not executable"

    # Unpacked: the units start a binary that is in the package; every program in it has
    # a man page naming each option its --help names (generated, so it cannot drift).
    dpkg-deb -x "$deb" "$WORK/root"
    local exec
    for p in injectord.service injectord@.service injector-consume@.service; do
        exec=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$WORK/root/usr/lib/systemd/system/$p")
        [ -x "$WORK/root$exec" ] || fail "$p starts $exec, which the package does not hold"
    done
    for p in "$WORK"/root/usr/bin/*; do
        local name page
        name=$(basename "$p")
        page="$WORK/root/usr/share/man/man1/$name.1.gz"
        [ -f "$page" ] || fail "no man page for $name"
        zcat "$page" >"$WORK/$name.1"
        contains "$WORK/$name.1" "^\.TH \"?${name^^}\"? \"?1\"?" "$name.1 is not a man page"
        "$p" --help | grep -Eo -- '--[a-z][a-z0-9-]+' | sort -u >"$WORK/$name.opts"
        sed 's/\\-/-/g' "$WORK/$name.1" | grep -Eo -- '--[a-z][a-z0-9-]+' | sort -u \
            >"$WORK/$name.manopts"
        [ -s "$WORK/$name.opts" ] || fail "$name --help names no option"
        comm -23 "$WORK/$name.opts" "$WORK/$name.manopts" >"$WORK/$name.missing"
        [ ! -s "$WORK/$name.missing" ] ||
            fail "$name.1 lacks options of --help: $(tr '\n' ' ' <"$WORK/$name.missing")"
    done
    contains "$WORK/injectord.1" '^\.SH FILES' "injectord.1 has no FILES section"
    grep -q 'net.core.rmem_max' "$WORK/root/usr/lib/sysctl.d/60-injector.conf" ||
        fail "the sysctl drop-in does not raise net.core.rmem_max"

    check_maintainer_scripts
}

# The postinst applies the sysctl drop-in: where /proc/sys is read-only (a container) that
# must not fail the install. Run it as dpkg would, in a mount namespace of its own where
# /proc/sys is read-only, /run has no systemd (so nothing is started) and the drop-in is
# the package's; the host's value must not move.
check_maintainer_scripts() {
    if ! unshare --mount --propagation private true 2>/dev/null; then
        echo "NOTE: no mount namespace here (unshare): the postinst was not run" >&2
        return 0
    fi
    [ -d /usr/lib/sysctl.d ] || fail "no /usr/lib/sysctl.d to shadow"
    local before after
    before=$(cat /proc/sys/net/core/rmem_max)
    cp "$WORK/root/usr/lib/sysctl.d/60-injector.conf" "$WORK/dropin.conf"
    cat >"$WORK/ns.sh" <<'EOF'
set -e
mount -o bind,ro /proc/sys /proc/sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /usr/lib/sysctl.d
# The postinst moves instance state it finds in /var/lib: none of this machine's.
mount -t tmpfs tmpfs /var/lib
cp "$1" /usr/lib/sysctl.d/60-injector.conf
# Read-only for certain before anything runs (the mount options of the last /proc/sys).
awk '$2 == "/proc/sys" { o = $4 } END { exit o ~ /^ro/ ? 0 : 99 }' /proc/self/mounts
sh "$2" configure ""
echo "-- upgrade"
sh "$2" configure 0.0.1
echo "-- remove"
sh "$3" remove
EOF
    unshare --mount --propagation private sh "$WORK/ns.sh" "$WORK/dropin.conf" \
        "$WORK/control/postinst" "$WORK/control/prerm" >"$WORK/scripts.txt" 2>&1 ||
        fail "maintainer scripts failed: $(cat "$WORK/scripts.txt")"
    after=$(cat /proc/sys/net/core/rmem_max)
    [ "$before" = "$after" ] || fail "net.core.rmem_max changed on the host: $before -> $after"
    [ "$(grep -c 'could not apply /usr/lib/sysctl.d/60-injector.conf' "$WORK/scripts.txt")" = 2 ] ||
        fail "the postinst did not say the drop-in was not applied: $(cat "$WORK/scripts.txt")"
}

"case_$1"
