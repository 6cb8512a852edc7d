#!/usr/bin/env bash
# The admin endpoint under load: does serving /metrics slow the breakers'
# hot path? The admin example `load` (bindings/admin/examples/load.rs)
# calls BREAKERS breakers in a loop from THREADS threads while serving
# them; each run measures the threads for SECS seconds idle, then for SECS
# seconds while wrk hammers /metrics on loopback (CONNS connections, one
# wrk thread), then idle again. Prints a row per run and the range over
# RUNS runs: the endpoint's requests/s and the hot path's ns per call
# (the threads' own CPU time per call, and wall time × threads per call).
# Not part of CI: figures depend on the machine (and, on a shared one,
# on its neighbours).
#
#   benches/admin_load.sh                 # 3 runs, 100 breakers, 1 thread, 5 s
#   RUNS=5 BREAKERS=10 THREADS=2 CONNS=8 SECS=10 benches/admin_load.sh
#   SMOKE=1 benches/admin_load.sh         # 1 run of 1 s: it works, no figures
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/need.sh
need_cargo
need wrk apt wrk

RUNS=${RUNS:-3} BREAKERS=${BREAKERS:-100} THREADS=${THREADS:-1} CONNS=${CONNS:-4} SECS=${SECS:-5}
if [ -n "${SMOKE:-}" ]; then RUNS=1 SECS=1; fi

cargo build -q --release -p fusebox-admin --example load
dir="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

echo "== $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $BREAKERS breakers, $THREADS calling thread(s); wrk -t1 -c$CONNS on /metrics; $SECS s a phase"
printf '%-4s %12s %10s %22s %22s %22s\n' run "metrics/s" "KB/answer" \
  "idle: cpu/wall ns" "wrk: cpu/wall ns" "idle again: cpu/wall ns"
for run in $(seq "$RUNS"); do
  mkfifo "$dir/in"
  target/release/examples/load "$BREAKERS" "$THREADS" <"$dir/in" >"$dir/out" &
  pid=$!
  exec 3>"$dir/in"
  for _ in $(seq 100); do grep -q '^fusebox admin at ' "$dir/out" && break; sleep 0.1; done
  url="$(sed -n 's/^fusebox admin at //p' "$dir/out")"
  test -n "$url" || { echo "admin_load: the example printed no URL" >&2; exit 1; }
  kb="$(curl -fsS "${url}metrics" | wc -c | awk '{printf "%.1f", $1 / 1024}')"

  # measure: send the command, wait for its line.
  measure() {
    local before
    before=$(grep -c '^calls_per_s' "$dir/out" || true)
    echo "measure $1" >&3
    while [ "$(grep -c '^calls_per_s' "$dir/out" || true)" -le "$before" ]; do sleep 0.05; done
    tail -n 1 "$dir/out" | sed -E 's/.*cpu_ns_per_call=([0-9.]+) wall_ns_per_call=([0-9.]+).*/\1 \/ \2/'
  }
  sleep 0.5 # the calling threads get going
  idle="$(measure "$SECS")"
  # wrk runs a second longer than the measurement, which starts inside it.
  wrk -t1 -c"$CONNS" -d"$((SECS + 1))s" "${url}metrics" >"$dir/wrk" &
  wrk_pid=$!
  sleep 0.5
  loaded="$(measure "$SECS")"
  wait "$wrk_pid"
  after="$(measure "$SECS")"
  rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$dir/wrk")"
  grep -q 'Non-2xx' "$dir/wrk" && { echo "admin_load: wrk got errors:" >&2; cat "$dir/wrk" >&2; exit 1; }
  echo quit >&3
  exec 3>&-
  wait "$pid"
  pid=""
  rm -f "$dir/in" "$dir/out"
  printf '%-4s %12s %10s %22s %22s %22s\n' "$run" "$rps" "$kb" "$idle" "$loaded" "$after" | tee -a "$dir/rows"
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The range of each column over the runs.
awk '
  { rps[NR] = $2; ic[NR] = $4; iw[NR] = $6; lc[NR] = $7; lw[NR] = $9; ac[NR] = $10; aw[NR] = $12 }
  function range(a,   i, lo, hi) {
    lo = hi = a[1]
    for (i = 2; i <= NR; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    return lo == hi ? lo : lo "-" hi
  }
  END {
    printf "range: /metrics %s req/s; ns per call (cpu / wall): idle %s / %s, under wrk %s / %s, idle again %s / %s\n",
      range(rps), range(ic), range(iw), range(lc), range(lw), range(ac), range(aw)
  }' "$dir/rows"
