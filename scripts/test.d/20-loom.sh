#!/usr/bin/env bash
# loom: every interleaving of the breaker's atomic protocols (trips, probes,
# stale generations, dropped permits, bucket rollover), in its own target dir
# because --cfg loom rebuilds everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_cargo

export RUSTFLAGS="--cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
# Every model is listed by name in the output (one per atomic protocol:
# docs/architecture.md#verification has the table).
cargo test -p fusebox --release --lib loom
