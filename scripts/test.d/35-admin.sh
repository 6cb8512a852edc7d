#!/usr/bin/env bash
# Admin endpoint (bindings/admin): the dashboard page in a real headless
# browser (Debian's chromium, installed when missing): it loads, draws a row
# per breaker from /breakers, and after the test opens a breaker shows it
# open; a page kept open (no polling) turns the row open from /events alone
# (read through the DevTools protocol; prints how long that took). The
# example starts, prints its URL, serves /metrics, and (run for 1 s) exits
# on its own. (Its HTTP tests run in 10-rust.sh with the rest of the
# workspace.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_cargo
need chromium apt chromium
need curl apt curl
need mktemp apt coreutils

chromium --version 2>/dev/null | sed -n 1p
FUSEBOX_CHROMIUM="$(command -v chromium)" cargo test -q -p fusebox-admin --test browser -- --nocapture

# The example, on any free port: it prints its URL and serves /metrics.
# It serves for as long as asked (here 600 s, far more than the check
# needs, however loaded the machine) and is stopped once checked.
out="$(mktemp)"
pid=
trap 'rm -f "$out"; [ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT
cargo build -q -p fusebox-admin --example serve
target/debug/examples/serve 600 127.0.0.1:0 >"$out" &
pid=$!
for _ in $(seq 600); do grep -q '^fusebox admin at ' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^fusebox admin at //p' "$out")"
test -n "$url" || { echo "35-admin: the example printed no URL" >&2; exit 1; }
curl -fsS "${url}metrics" | grep -F 'fusebox_state{breaker="inventory:reserve",state="open"} 1'
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
# And left alone it ends by itself once its time is up.
timeout 120 target/debug/examples/serve 1 127.0.0.1:0 >/dev/null
echo "35-admin: the example served $url, and a 1 s run exited on its own"
