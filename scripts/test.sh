#!/usr/bin/env bash
# Runs every test suite of fusebox: each part is one script in scripts/test.d,
# run in name order. Every part runs even if an earlier one failed; the exit
# status says whether all passed. Set-up (maturin, npm packages, Debian
# packages, cargo tools) is done by the parts that need it, through
# scripts/lib/need.sh: a part installs a missing tool or fails at once
# naming it.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# State the parts share for this run (need.sh: one apt-get update a run).
NEED_RUN_DIR="$(mktemp -d -t fusebox-test.XXXXXX)" || exit 1
export NEED_RUN_DIR
trap 'rm -rf "$NEED_RUN_DIR"' EXIT
failed=()
start=$(date +%s)
for part in scripts/test.d/*.sh; do
  t0=$(date +%s)
  echo "::: ${part} :::"
  if bash "$part"; then
    echo "::: ${part}: ok ($(( $(date +%s) - t0 )) s) :::"
  else
    echo "::: ${part}: FAILED ($(( $(date +%s) - t0 )) s) :::"
    failed+=("$part")
  fi
done
echo
echo "total $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
