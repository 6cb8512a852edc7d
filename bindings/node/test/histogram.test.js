'use strict'
// LatencyHistogram: fed by a breaker's calls (through its fastest paths
// too: a closed breaker's call(), fire() and permits), read as quantiles,
// and the delay of a HedgePolicy made with `histogram`: the fallback
// (delayMs) while it is empty, the P95 after. Time moves only on a
// ManualClock; the hedge's delays are an injected sleep released by hand.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, RetryBudget, HedgePolicy, LatencyHistogram, KeyedBreakers } = require('fusebox')

const settle = () => new Promise((resolve) => setImmediate(resolve))
const near = (got, want) => Math.abs(got / want - 1) < 0.02

test('an empty histogram has no quantile; the window is 10 s', () => {
  const clock = new ManualClock()
  const h = new LatencyHistogram({ clock })
  assert.equal(h.count, 0)
  assert.equal(h.quantile(0.95), null)
  assert.equal(h.record(20), h)
  assert.equal(h.count, 1)
  assert.ok(near(h.quantile(0.95), 20), String(h.quantile(0.95)))
  clock.advance(11_000)
  assert.equal(h.count, 0)
})

test('a breaker records every call into its histogram, fast paths included', async () => {
  const clock = new ManualClock()
  const h = new LatencyHistogram({ clock })
  const breaker = new CircuitBreaker({ name: 'search', clock, latencyHistogram: h })
  // call(): the synchronous fast path of a closed breaker.
  for (let ms = 1; ms <= 40; ms++) breaker.call(() => clock.advance(ms))
  // fire(): async.
  for (let ms = 41; ms <= 70; ms++) await breaker.fire(async () => { clock.advance(ms) })
  // Permits.
  for (let ms = 71; ms <= 100; ms++) {
    const p = ms % 2 ? breaker.acquire() : breaker.tryAcquire()
    clock.advance(ms)
    assert.equal(p.success(), true)
  }
  assert.equal(h.count, 100)
  assert.ok(near(h.quantile(0.95), 95), String(h.quantile(0.95)))
  assert.ok(near(h.quantile(0.5), 50), String(h.quantile(0.5)))
  assert.equal(breaker.stats.successes, 100)
  // The histogram stays attached through a reconfiguration.
  assert.deepEqual(breaker.reconfigure({ minCalls: 20 }).changed, ['minCalls'])
  breaker.call(() => clock.advance(1))
  assert.equal(h.count, 101)
})

test('a hedge waits the fallback while the histogram is empty, the P95 after', async () => {
  const clock = new ManualClock()
  const h = new LatencyHistogram({ clock })
  const breaker = new CircuitBreaker({ name: 'search', clock })
  const budget = new RetryBudget({ name: 'search', clock })
  const waits = []
  const sleep = (ms) => new Promise((resolve) => waits.push({ ms, resolve }))
  const policy = new HedgePolicy({ name: 'search', breaker, budget, histogram: h, quantile: 0.95, delayMs: 30, sleep })

  // One hedged call: attempt 1 hangs, the hedge answers; the delay waited.
  async function oneCall () {
    let n = 0
    const call = policy.fire(() => ++n === 1 ? new Promise(() => {}) : 'second')
    await settle()
    const w = waits.shift()
    clock.advance(w.ms)
    w.resolve()
    assert.equal(await call, 'second')
    return w.ms
  }

  assert.equal(await oneCall(), 30)
  for (let ms = 1; ms <= 100; ms++) h.record(ms)
  const waited = await oneCall()
  assert.ok(near(waited, 95), String(waited))
  assert.equal(policy.metrics().hedges, 2)
})

test('the default quantile is the P95, the default fallback 50 ms', async () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ clock })
  const budget = new RetryBudget({ clock })
  const empty = new LatencyHistogram({ clock })
  const waits = []
  const sleep = (ms) => new Promise(() => waits.push(ms))
  const policy = new HedgePolicy({ breaker, budget, histogram: empty, sleep })
  policy.fire(() => new Promise(() => {}))
  await settle()
  assert.deepEqual(waits, [50])
  const h = new LatencyHistogram({ clock })
  for (let ms = 1; ms <= 100; ms++) h.record(ms)
  new HedgePolicy({ breaker, budget, histogram: h, sleep }).fire(() => new Promise(() => {}))
  await settle()
  assert.equal(waits[1], h.quantile(0.95))
})

test('bad arguments', () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ clock })
  const budget = new RetryBudget({ clock })
  const histogram = new LatencyHistogram({ clock })
  for (const quantile of [0, 1.5, NaN, -1]) {
    assert.throws(() => new HedgePolicy({ breaker, budget, histogram, quantile }), (e) =>
      e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE' && e.option === 'quantile' && /quantile/.test(e.message))
  }
  assert.throws(() => new HedgePolicy({ breaker, budget, histogram, delayMs: 0 }), (e) =>
    e instanceof RangeError && e.option === 'delayMs' && /delayMs/.test(e.message))
  assert.throws(() => new HedgePolicy({ breaker, budget, quantile: 0.9 }), (e) =>
    e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE' && /"histogram"/.test(e.message))
  assert.throws(() => new HedgePolicy({ breaker, budget, histogram: {} }), /"histogram" option must be an instance of LatencyHistogram/)
  assert.throws(() => new HedgePolicy({ breaker, budget, histogram, quantile: '0.9' }), TypeError)
  assert.throws(() => new CircuitBreaker({ latencyHistogram: 3 }), /"latencyHistogram" option must be an instance of LatencyHistogram/)
  assert.throws(() => CircuitBreaker.shared('h', { latencyHistogram: histogram }), /"latencyHistogram" option must be absent/)
  assert.throws(() => new KeyedBreakers({ capacity: 4, latencyHistogram: histogram }), /"latencyHistogram" option must be absent/)
  assert.throws(() => new LatencyHistogram({ clock: 1 }), /"clock" option must be an instance of ManualClock/)
  assert.throws(() => new LatencyHistogram({ clok: clock }), /Unknown option "clok"/)
  assert.throws(() => histogram.record('1'), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE')
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(() => histogram.record(bad), (e) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE')
  }
  assert.throws(() => histogram.quantile(null), TypeError)
  assert.equal(histogram.count, 0)
})
