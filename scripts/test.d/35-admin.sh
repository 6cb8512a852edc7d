#!/usr/bin/env bash
# Admin endpoint (bindings/admin): the dashboard page in a real headless
# browser (Debian's chromium, installed when missing): it loads, draws a row
# per breaker from /breakers, and after the test opens a breaker shows it
# open; a page kept open (no polling) turns the row open from /events alone
# (read through the DevTools protocol; prints how long that took). The example starts, prints its URL, serves /metrics and exits on its
# own. (Its HTTP tests run in 10-rust.sh with the rest of the workspace.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_cargo
need chromium apt chromium
need curl apt curl
need mktemp apt coreutils

chromium --version 2>/dev/null | sed -n 1p
FUSEBOX_CHROMIUM="$(command -v chromium)" cargo test -q -p fusebox-admin --test browser -- --nocapture

# The example: any free port, exits after 5 s by itself.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cargo build -q -p fusebox-admin --example serve
target/debug/examples/serve 5 127.0.0.1:0 >"$out" &
pid=$!
for _ in $(seq 100); do grep -q '^fusebox admin at ' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^fusebox admin at //p' "$out")"
test -n "$url" || { echo "35-admin: the example printed no URL" >&2; kill "$pid"; exit 1; }
curl -fsS "${url}metrics" | grep -F 'fusebox_state{breaker="inventory:reserve",state="open"} 1'
wait "$pid"
echo "35-admin: the example served $url and exited"
