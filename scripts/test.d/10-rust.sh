#!/usr/bin/env bash
# Rust: formatting, lints, and every test of the workspace. Needs cargo with
# rustfmt and clippy (rustup components, added when missing) and a C linker.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_rust_lints

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Every optional feature too (the core's `tracing`, off in the workspace build).
cargo clippy --workspace --all-targets --all-features -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# The doctests (a compiled example on every public entry point), counted.
doc=$(awk '/Doc-tests fusebox$/{d=1} d && /^test result:/{print $4; exit}' "$log")
echo "10-rust: ${doc:-0} doctests of fusebox passed"
# With `tracing`: its events and spans (tests/tracing_events.rs), and the
# core's own tests with the feature's code compiled in.
cargo test -p fusebox --features tracing --lib --test tracing_events
# rustdoc: a broken or private intra-doc link (rustdoc::broken_intra_doc_links), or any other rustdoc
# warning, fails the run. (One crate at a time: fusebox and fusebox-ffi
# both make a library called `fusebox`, whose docs would collide.)
for crate in fusebox fusebox-ffi fusebox-admin fusebox-otel; do
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p "$crate"
done
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p fusebox-tower --features reqwest
