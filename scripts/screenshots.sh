#!/usr/bin/env bash
# Regenerates the screenshots the README shows (not run by CI; commit the
# PNGs it writes):
#   docs/admin-dashboard.png  the admin dashboard with the demo's breakers
#                             (bindings/admin/examples/cascade.rs), after
#                             25 s of live traffic: the inventory primary
#                             open, its sparkline drawn
#   docs/demo-cascade.png     the charts of the demo's page
#                             (cargo run --release -p fusebox-demo)
# Both taken in headless Chromium (Debian's `chromium`), driven through the
# DevTools protocol by scripts/lib/screenshot.mjs (Node's WebSocket).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/need.sh
need_cargo
need chromium apt chromium
need node apt nodejs
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
shot() { node --experimental-websocket --no-warnings scripts/lib/screenshot.mjs "$@"; }

# The demo's page.
demo_out="$(cargo run -q --release -p fusebox-demo)"
page="$(sed -n 's/^Charts of parts 2 and 3: //p' <<<"$demo_out")"
test -f "$page" || { echo "screenshots: the demo wrote no page (got: '$page')" >&2; exit 1; }
shot "file://$(realpath "$page")" docs/demo-cascade.png 500 1180 900 'section:not(#retries)'

# The dashboard: the cascade example on any free port, for 60 s at most.
cargo build -q -p fusebox-admin --example cascade
out="$(mktemp)"
target/debug/examples/cascade 60 127.0.0.1:0 >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^fusebox admin at ' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^fusebox admin at //p' "$out")"
test -n "$url" || { echo "screenshots: the example printed no URL" >&2; exit 1; }
shot "$url" docs/admin-dashboard.png 25000 1160 290

ls -l docs/demo-cascade.png docs/admin-dashboard.png
