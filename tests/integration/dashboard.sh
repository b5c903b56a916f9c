#!/usr/bin/env bash
# dashboard.sh CASE - the dashboard page at / : served with its safety headers (curl), and
# used in headless chromium as a person on call would, on a phone and at a desk
# (tests/browser/dashboard.test.js; screenshots kept in BUILD_DIR/dashboard-screenshots/).
source "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)

# The alerts the browser looks at: severities 1, 2, 2, 3, 5 and 10 (the filter "sev1" must not
# show the 10); one host name and one component are markup; web2's details hold a link.
send_alerts() {
    send d --host web1 --component disk --severity 2 "disk 95% full"
    send d --host web1 --component cpu --severity 5 "load 12"
    send d --host web3 --component memory --severity 2 "swapping"
    send d --host web2 --component disk --severity 1 --contact ops@example.edu \
        --autoclear true --extra Rack=b7 --longmsg "line one
runbook: https://wiki.example.edu/disk?x=1&y=2. line two" "node down"
    send d --host '<script>alert(1)</script>' --component '<img src=x onerror=alert(2)>' \
        --severity 3 '<b>bold</b> & "quoted"'
    send d --host db1 --component backup --severity 10 "backup late"
    wait_for 10 _count_is 6 || fail "the collector does not hold the 6 alerts"
}

_count_is() {
    [ "$(curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_d/v1/alerts" |
        jq .count)" -eq "$1" ]
}

# Served from the binary, with headers that keep anything from running or loading but the
# page's own files; open without the token (the page has no data), the data is not.
case_page_is_served() {
    echo "s3cret-token" >"$WORK/token"
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token"
    local u="http://127.0.0.1:$HTTP_d"
    curl -sS -D "$WORK/h.txt" -o "$WORK/index.html" "$u/" || fail "GET /"
    grep -q '^HTTP/1.1 200' "$WORK/h.txt" || fail "/ without a token: $(head -n1 "$WORK/h.txt")"
    grep -qi '^Content-Type: text/html; charset=utf-8' "$WORK/h.txt" || fail "type of /"
    grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$WORK/h.txt" ||
        fail "no Content-Security-Policy on /"
    grep -qi '^X-Content-Type-Options: nosniff' "$WORK/h.txt" || fail "no nosniff"
    cmp -s "$WORK/index.html" "$SRC/collector/dashboard/index.html" ||
        fail "/ is not collector/dashboard/index.html"
    local f
    for f in dashboard.js dashboard.css favicon.svg; do
        curl -sSf -o "$WORK/$f" "$u/$f" || fail "GET /$f"
        cmp -s "$WORK/$f" "$SRC/collector/dashboard/$f" || fail "/$f differs from the source"
    done
    ! grep -Eq '(src|href)="(https?:)?//' "$WORK/index.html" || fail "the page names another host"
    ! grep -q 'innerHTML\|outerHTML\|insertAdjacentHTML\|document.write' "$WORK/dashboard.js" ||
        fail "the script builds HTML from strings"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$u/v1/alerts")" = 401 ] ||
        fail "the data must still want the token"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret-token' \
        "$u/v1/alerts")" = 200 ] || fail "the token does not open the data"
    stop_injectord d
}

case_in_headless_chromium() {
    local chromium=/usr/bin/chromium browser_dir="$BUILD_DIR/browser"
    [ -x "$chromium" ] || skip "no $chromium: Debian's chromium package is not installed (make test tries: tools/deps.sh --browser)"
    command -v node >/dev/null && command -v npm >/dev/null ||
        skip "no node/npm to run playwright-core with"
    mkdir -p "$browser_dir"
    if ! cmp -s "$SRC/tests/browser/package-lock.json" "$browser_dir/package-lock.json" ||
        [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
        cp "$SRC/tests/browser/package.json" "$SRC/tests/browser/package-lock.json" "$browser_dir/"
        (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
            skip "npm ci of playwright-core failed (no npm registry?): $(tail -n 3 "$WORK/npm.log")"
    fi
    # d: with a token, as acknowledgements need; n: without one, whose refusal the page shows.
    TOKEN=s3cret-token
    echo "$TOKEN" >"$WORK/token"
    # A 1 s history step: the burst is in a point of /v1/history within a second, not ten.
    start_injectord d --listen 127.0.0.1:0 --http-token-file "$WORK/token" --history-step 1
    start_injectord n --listen 127.0.0.1:0
    send n --host lonely --component disk --severity 4 "an alert to try to acknowledge"
    send_alerts
    local shots="$BUILD_DIR/dashboard-screenshots"
    rm -rf "$shots"
    mkdir -p "$shots"
    BROWSER_DIR="$browser_dir" CHROMIUM="$chromium" DASHBOARD_URL="http://127.0.0.1:$HTTP_d/" \
        TOKEN="$TOKEN" NOTOKEN_URL="http://127.0.0.1:$HTTP_n/" TARGET="127.0.0.1:$PORT_d" \
        SHOTS="$shots" PROFILE_DIR="$WORK/profile" timeout 180 \
        node "$SRC/tests/browser/dashboard.test.js" ||
        fail "the dashboard test failed (screenshots: $shots)"
    local f
    for f in phone-light phone-dark desktop phone-detail phone-detail-open phone-ack-form; do
        [ -s "$shots/$f.png" ] || fail "no screenshot $f.png"
    done
    stop_injectord d
    stop_injectord n
}

"case_$1"
