#!/usr/bin/env bash
# Fuzzing (fuzz/, cargo-fuzz + libFuzzer on the nightly toolchain): every
# target runs for FUZZ_SECONDS (default 40) from its committed seed corpus,
# copied to a temporary directory so the tree stays clean. The targets are
# built with AddressSanitizer (LeakSanitizer included), debug assertions and
# overflow checks (cargo-fuzz's defaults). A crash, a panic, a sanitizer
# report, a leak or an input that runs over 10 s fails the run; libFuzzer
# leaves the input in fuzz/artifacts/<target>/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh

secs="${FUZZ_SECONDS:-40}"
targets=(differential c_abi scenario_parse shm_file)

need_cargo
need --check 'rustfmt --version' rustfmt component rustfmt
# -Zsanitizer (and so cargo-fuzz) needs a nightly compiler.
need --check 'cargo +nightly --version' 'the nightly toolchain' toolchain nightly
need cargo-fuzz cargo cargo-fuzz 0.13.2
# libfuzzer-sys compiles libFuzzer (C++).
need c++ apt g++
need mktemp apt coreutils
if [ "${FUZZ_VALGRIND:-0}" = 1 ]; then need valgrind apt valgrind; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd fuzz
echo "== rustfmt --check"
rustfmt --check --edition 2021 fuzz_targets/*.rs fuzz_targets/*/*.rs
echo "== build (nightly $(cargo +nightly --version | cut -d' ' -f2-), $(cargo fuzz --version))"
cargo +nightly fuzz build

summary=()
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs} s"
  mkdir -p "$tmp/$t"
  cp corpus/"$t"/* "$tmp/$t"/
  seeds=$(ls "$tmp/$t" | wc -l)
  extra=()
  if [ -f "dict/$t.dict" ]; then extra+=("-dict=$PWD/dict/$t.dict"); fi
  if ! cargo +nightly fuzz run "$t" "$tmp/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 "${extra[@]}" >"$tmp/$t.log" 2>&1; then
    grep -A8 -E "panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)" "$tmp/$t.log" | head -n 60 >&2 || true
    tail -n 60 "$tmp/$t.log" >&2
    echo "70-fuzz: $t failed; reproduce with: cd fuzz && cargo +nightly fuzz run $t <artifact above>" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log")
  corpus=$(ls "$tmp/$t" | wc -l)
  line="$t: ${runs} runs, ${rate} exec/s, corpus ${seeds} -> ${corpus} inputs"
  echo "$line"
  summary+=("$line")
done
if [ "${FUZZ_VALGRIND:-0}" = 1 ]; then
  # Optional (a second build): replay every corpus under valgrind memcheck
  # with neither sanitizer nor comparison tracing (libFuzzer's comparison
  # hooks index tables with values valgrind cannot prove defined).
  vdir="${CARGO_TARGET_DIR:-$PWD/target}/valgrind"
  cargo +nightly fuzz build -s none --no-trace-compares --target-dir "$vdir"
  for t in "${targets[@]}"; do
    echo "== valgrind: replay corpus/$t"
    valgrind --error-exitcode=1 --leak-check=full \
      --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible \
      --suppressions=valgrind.supp --suppressions=../bindings/c/tests/valgrind.supp \
      "$vdir/x86_64-unknown-linux-gnu/release/$t" -runs=0 -detect_leaks=0 "corpus/$t" \
      >"$tmp/$t.vg" 2>&1 || { tail -n 60 "$tmp/$t.vg" >&2; exit 1; }
    grep "ERROR SUMMARY" "$tmp/$t.vg"
  done
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "fuzz: all targets ran without a crash"
