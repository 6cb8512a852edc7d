#!/usr/bin/env bash
# acquire + record: through the C ABI from C (examples/bench.c, linked
# statically) vs the same loop in Rust on the engine (examples/bench.rs).
# The two programs run alternately REPS times (default 3); each prints the
# best of 15 rounds, and the best of those is compared.
#   bash bindings/c/bench.sh [calls_per_thread] [threads] [monotonic|manual]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-2000000}" threads="${2:-1}" clock="${3:-monotonic}" reps="${REPS:-3}"
cargo build --quiet --release -p fusebox-ffi --lib --example bench
lib="${CARGO_TARGET_DIR:-target}/release"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -Iinclude bindings/c/examples/bench.c "$lib/libfusebox.a" \
  -lpthread -ldl -lm -o "$out/bench_c"
best() { sed -nE 's/.*best ([0-9.]+) ns.*/\1/p' | tail -1; }
c_all=() rs_all=()
for _ in $(seq "$reps"); do
  c_all+=("$("$out/bench_c" "$calls" "$threads" "$clock" | tee -a "$out/log" | best)")
  rs_all+=("$("$lib/examples/bench" "$calls" "$threads" "$clock" | tee -a "$out/log" | best)")
done
grep -E "best" "$out/log"
printf '%s\n' "${c_all[@]}" | sort -g | head -1 >"$out/c"
printf '%s\n' "${rs_all[@]}" | sort -g | head -1 >"$out/rs"
awk -v c="$(cat "$out/c")" -v r="$(cat "$out/rs")" -v t="$threads" -v k="$clock" \
  'BEGIN { printf "acquire+record, %s thread(s), %s clock: C via ABI %.2f ns, Rust %.2f ns: %.2fx\n", t, k, c, r, c / r }'
