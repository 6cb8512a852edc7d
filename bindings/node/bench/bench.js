'use strict'
// fusebox vs opossum 10 vs cockatiel 4, in one process, one run.
//
//   cd bindings/node && npm run build     # or npm install the package
//   cd bench && npm install && node bench.js [--quick] [--markdown]
//
// Every figure is CPU ns per operation, the best of many short rounds
// (robust to a busy machine); each benchmark gets its own copy of the loop so that
// its call sites stay monomorphic, as in real code. The rounds of all the
// benchmarks of a group are interleaved, so that a busy spell hits them all.

// Each loop is compiled on its own (new Function) so that its call sites stay
// monomorphic: one shared loop would measure a megamorphic call instead.
// Each source is made unique (a comment with a serial number): V8 caches
// `new Function` by its source, feedback included, so loops of the same
// text would share their call sites after all.
/* eslint-disable no-new-func */

const fusebox = require('..')
const Opossum = require('opossum')

const QUICK = process.argv.includes('--quick')
const MARKDOWN = process.argv.includes('--markdown')
const ROUNDS = QUICK ? 15 : 60

// Time is the process's CPU time (user + system), not the wall clock: on a
// busy machine a round is often preempted, which the wall clock counts and
// the CPU clock does not. (It also counts the process's helper threads, e.g.
// parallel scavenges: a slight overestimate, the same for every library.)
const cpuNs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}
let serial = 0
const syncLoop = () => new Function('fn', 'n', 'now', `// loop ${serial++}
  const t0 = now()
  for (let i = 0; i < n; i++) fn()
  return (now() - t0) / n`)
const asyncLoop = () => new Function('fn', 'n', 'now', `// loop ${serial++}
  return (async () => {
    const t0 = now()
    for (let i = 0; i < n; i++) await fn()
    return (now() - t0) / n
  })()`)
const rejectLoop = () => new Function('fn', 'n', 'now', `// loop ${serial++}
  return (async () => {
    const t0 = now()
    for (let i = 0; i < n; i++) { try { await fn() } catch {} }
    return (now() - t0) / n
  })()`)

/** Run the benchmarks of a group, interleaved; best ns/op of each. */
async function group (title, benches) {
  const hr = cpuNs
  const loops = benches.map((b) => ({ ...b, loop: b.kind === 'sync' ? syncLoop() : b.kind === 'reject' ? rejectLoop() : asyncLoop(), best: Infinity }))
  for (const b of loops) await b.loop(b.fn, b.n, hr) // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of loops) b.best = Math.min(b.best, await b.loop(b.fn, b.n, hr))
  }
  return { title, rows: loops.map((b) => ({ name: b.name, ns: b.best, base: b.base })) }
}

async function main () {
  const { circuitBreaker, handleAll, ConsecutiveBreaker, CircuitState } = await import('cockatiel')
  const f = async () => 1
  const syncF = () => 1
  const boom = async () => { throw new Error('down') }
  const ready = new Error('ready')
  const floor = async () => { throw ready }

  // Breakers that stay closed.
  const fb = new fusebox.CircuitBreaker({ name: 'bench' })
  const ck = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })
  const op = new Opossum(f, { resetTimeout: 30_000 }) // default 10 s timeout: a timer per call
  const opNoTimer = new Opossum(f, { timeout: false, resetTimeout: 30_000 })

  // Breakers that are open.
  // Open for an hour: the benchmark must not outlive the open period.
  const fbOpen = new fusebox.CircuitBreaker({ name: 'bench-open', consecutiveFailures: 1, openTimeoutMs: 3_600_000 })
  await fbOpen.fire(boom).catch(() => {})
  const fbOpenFallback = new fusebox.CircuitBreaker({ name: 'bench-open-fallback', consecutiveFailures: 1, openTimeoutMs: 3_600_000, fallback: () => 0 })
  await fbOpenFallback.fire(boom)
  const fbForced = new fusebox.CircuitBreaker({ name: 'bench-forced' })
  fbForced.forceOpen()
  const ckOpen = circuitBreaker(handleAll, { halfOpenAfter: 3_600_000, breaker: new ConsecutiveBreaker(1) })
  await ckOpen.execute(boom).catch(() => {})
  const opOpen = new Opossum(boom, { timeout: false, resetTimeout: 3_600_000, volumeThreshold: 0, errorThresholdPercentage: 1 })
  await opOpen.fire().catch(() => {})
  if (fbOpen.state !== 'open' || fbOpenFallback.state !== 'open' || !opOpen.opened || ckOpen.state !== CircuitState.Open) {
    throw new Error('a breaker meant to be open is not')
  }

  const N = QUICK ? 20_000 : 50_000
  const groups = []
  groups.push(await group('async call, breaker closed (ns per `await`ed call)', [
    { name: 'baseline: await f()', kind: 'async', n: N, fn: () => f() },
    { name: 'fusebox: await breaker.fire(f)', kind: 'async', n: N, fn: () => fb.fire(f), base: 0 },
    { name: 'cockatiel: await policy.execute(f)', kind: 'async', n: N, fn: () => ck.execute(f), base: 0 },
    { name: 'opossum: await breaker.fire() (default 10 s timeout)', kind: 'async', n: N / 5, fn: () => op.fire(), base: 0 },
    { name: 'opossum: await breaker.fire() (timeout: false)', kind: 'async', n: N / 5, fn: () => opNoTimer.fire(), base: 0 }
  ]))
  const M = QUICK ? 100_000 : 200_000
  let sink = 0
  groups.push(await group('sync fast path, breaker closed (ns per call)', [
    { name: 'baseline: f()', kind: 'sync', n: M, fn: () => { sink += syncF() } },
    { name: 'fusebox: tryAcquire() + permit.success()', kind: 'sync', n: M, fn: () => { fb.tryAcquire().success() } },
    { name: 'fusebox: breaker.call(f)', kind: 'sync', n: M, fn: () => { sink += fb.call(syncF) }, base: 0 },
    { name: 'fusebox: breaker.state', kind: 'sync', n: M, fn: () => { if (fb.state === 'closed') sink++ } }
  ]))
  groups.push(await group('rejection, breaker open (ns per rejected call)', [
    // The floor of a rejection thrown and caught across an `await`: an
    // async function throwing an error made beforehand (no Error to build).
    { name: 'floor: await an async fn throwing a ready error', kind: 'reject', n: N / 10, fn: floor },
    { name: 'fusebox: tryAcquire() → null (open)', kind: 'sync', n: M, fn: () => { if (fbOpen.tryAcquire() === null) sink++ } },
    { name: 'fusebox: tryAcquire() → null (forced open)', kind: 'sync', n: M, fn: () => { if (fbForced.tryAcquire() === null) sink++ } },
    { name: 'fusebox: await breaker.fire(f) → CircuitOpenError', kind: 'reject', n: N / 10, fn: () => fbOpen.fire(f), base: 0 },
    { name: 'fusebox: await breaker.fire(f) → fallback (nothing thrown)', kind: 'async', n: N / 10, fn: () => fbOpenFallback.fire(f), base: 0 },
    { name: 'cockatiel: await policy.execute(f) → BrokenCircuitError', kind: 'reject', n: N / 10, fn: () => ckOpen.execute(f), base: 0 },
    { name: 'opossum: await breaker.fire() → OpenCircuitError', kind: 'reject', n: N / 10, fn: () => opOpen.fire(), base: 0 }
  ]))
  if (sink < 0) console.log(sink)
  if (fbOpen.state !== 'open' || fbOpenFallback.state !== 'open' || !opOpen.opened || ckOpen.state !== CircuitState.Open) {
    throw new Error('a breaker meant to be open closed during the run')
  }
  op.shutdown()
  opNoTimer.shutdown()
  opOpen.shutdown()

  const fmt = (ns) => (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1))
  const os = require('node:os')
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  console.log(`node ${process.version}, ${os.cpus().length} × ${cpu}; CPU ns per operation, best of ${ROUNDS} rounds; load average ${os.loadavg()[0].toFixed(1)}`)
  for (const g of groups) {
    const baseline = g.rows[0].ns
    console.log()
    if (MARKDOWN) {
      console.log(`**${g.title}**\n\n| | ns | over baseline (× baseline) |\n|---|---:|---:|`)
    } else {
      console.log(g.title)
    }
    for (const r of g.rows) {
      const d = r.ns - baseline
      const over = r.base === undefined ? '' : `${d < 0 ? '-' : '+'}${fmt(Math.abs(d))} (${(r.ns / baseline).toFixed(2)}×)`
      if (MARKDOWN) console.log(`| ${r.name} | ${fmt(r.ns)} | ${over} |`)
      else console.log(`  ${r.name.padEnd(58)} ${fmt(r.ns).padStart(7)} ns  ${over}`)
    }
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
