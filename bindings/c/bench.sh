#!/usr/bin/env bash
# acquire + record: through the C ABI from C (examples/bench.c, linked
# statically) vs the same loop in Rust (examples/bench.rs).
#   bash bindings/c/bench.sh [calls_per_thread] [threads] [monotonic|manual]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-20000000}" threads="${2:-1}" clock="${3:-monotonic}"
cargo build --quiet --release -p fusebox-ffi --example bench
lib="${CARGO_TARGET_DIR:-target}/release"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -Iinclude bindings/c/examples/bench.c "$lib/libfusebox.a" \
  -lpthread -ldl -lm -o "$out/bench_c"
c_line="$("$out/bench_c" "$calls" "$threads" "$clock" | tee /dev/stderr | tail -1)"
rs_line="$("$lib/examples/bench" "$calls" "$threads" "$clock" | tee /dev/stderr | tail -1)"
c_ns="$(sed -E 's/.*best ([0-9.]+) ns.*/\1/' <<<"$c_line")"
rs_ns="$(sed -E 's/.*best ([0-9.]+) ns.*/\1/' <<<"$rs_line")"
awk -v c="$c_ns" -v r="$rs_ns" 'BEGIN { printf "C ABI / Rust: %.2f / %.2f ns = %.2fx\n", c, r, c / r }'
