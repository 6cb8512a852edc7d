#!/usr/bin/env bash
# Scale figures for fusebox, recloser and failsafe, in one table:
#   * bytes per breaker (examples/bytes_per_breaker.rs, N = 10^4);
#   * ns per call over many breakers, one thread (benches/many_breakers.rs);
#   * aggregate ns per call, one breaker, 1..64 threads
#     (benches/oversubscribed.rs).
#
#   benches/scale.sh                      # short criterion settings
#   benches/scale.sh --measurement-time 10  # any criterion arguments
#   FUSEBOX_BENCH_1M=1 benches/scale.sh   # adds 10^6 breakers (2.5 GB on 2 cores)
#
# Criterion's full report stays in target/criterion; this prints the middle
# estimate of each.
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--warm-up-time 1 --measurement-time 3)
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "== machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run --release -q -p fusebox-benches --example bytes_per_breaker
echo
echo "== criterion: many_breakers, oversubscribed (${args[*]}); a few minutes"
if ! cargo bench -q -p fusebox-benches --bench many_breakers --bench oversubscribed \
  -- "${args[@]}" >"$log" 2>&1; then
  tail -n 40 "$log"
  exit 1
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# Criterion prints the id (group/library/parameter) and then, on the same
# line or the next, "time: [low mid high]"; keep mid, in ns.
awk '
  match($0, /^[A-Za-z0-9_]+\/[A-Za-z0-9_]+\/[0-9]+/) {
    id = substr($0, 1, RLENGTH)
  }
  /time:/ && id != "" {
    s = $0; sub(/.*time:[ \t]*\[/, "", s); split(s, f, " ")
    v = f[3]; u = f[4]
    if (u == "ps") v /= 1000; else if (u == "µs" || u == "us") v *= 1000
    else if (u == "ms") v *= 1e6; else if (u == "s") v *= 1e9
    split(id, p, "/"); g = p[1]; lib = p[2]; x = p[3]
    if (!((g, x) in seenx)) { seenx[g, x] = 1; xs[g] = xs[g] " " x }
    if (!((g, lib) in seenl)) { seenl[g, lib] = 1; libs[g] = libs[g] " " lib }
    val[g, x, lib] = v
    id = ""
  }
  function table(g, head, title,    nl, nx, L, X, i, j) {
    if (!(g in xs)) return
    print title
    nl = split(libs[g], L, " "); nx = split(xs[g], X, " ")
    printf "%-10s", head
    for (i = 1; i <= nl; i++) printf " %16s", L[i]
    printf "\n"
    for (j = 1; j <= nx; j++) {
      printf "%-10s", X[j]
      for (i = 1; i <= nl; i++) {
        if ((g, X[j], L[i]) in val) printf " %16.2f", val[g, X[j], L[i]]
        else printf " %16s", "-"
      }
      printf "\n"
    }
    printf "\n"
  }
  END {
    table("many_breakers", "breakers", "ns per call, calls spread over N breakers, 1 thread")
    table("oversubscribed", "threads", "aggregate ns per call (wall / total calls), one breaker")
  }
' "$log"
