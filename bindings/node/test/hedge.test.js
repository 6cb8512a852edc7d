'use strict'
// HedgePolicy: fire() hedging through a breaker, the winner's answer, the
// losers aborted and their permits cancelled, the budget, rejections, bad
// options; the Prometheus text of hedge and retry policies. The delays are
// an injected sleep the test releases by hand (moving a ManualClock); the
// test steps with setImmediate turns, never with time.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, CircuitOpenError, CallTimeoutError, RetryBudget, RetryPolicy, HedgePolicy } = require('fusebox')
const prom = require('fusebox/prom')

// Let every promise reaction that is ready run (no time passes).
const settle = () => new Promise((resolve) => setImmediate(resolve))

// An injectable sleep: each wait is held until fire() moves the clock by
// it and ends it; an aborted wait (the call ended) is noted.
function timer (clock) {
  const waits = []
  return {
    waits,
    sleep (ms, signal) {
      return new Promise((resolve, reject) => {
        const w = { ms, resolve, aborted: false }
        signal.addEventListener('abort', () => { w.aborted = true; reject(signal.reason) })
        waits.push(w)
      })
    },
    async fire () {
      await settle()
      const w = waits.shift()
      clock.advance(w.ms)
      w.resolve()
      await settle()
      return w.ms
    }
  }
}

// The dependency: attempt n (from 1) waits for release(n, value) (an Error
// rejects); an aborted one is noted.
function dependency () {
  const gates = new Map()
  const d = {
    started: [],
    aborted: [],
    gate (n) {
      if (!gates.has(n)) {
        let resolve, reject
        const promise = new Promise((res, rej) => { resolve = res; reject = rej })
        gates.set(n, { promise, resolve, reject })
      }
      return gates.get(n)
    },
    release (n, v) {
      if (v instanceof Error) d.gate(n).reject(v)
      else d.gate(n).resolve(v)
    },
    fn (signal, key) {
      const n = d.started.length + 1
      d.started.push(n)
      signal.addEventListener('abort', () => d.aborted.push(n))
      return d.gate(n).promise.then((v) => [v, key])
    }
  }
  return d
}

function rig (options = {}, budgetOptions = {}, breakerOptions = {}) {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 'search', clock, ...breakerOptions })
  const budget = new RetryBudget({ name: 'search', clock, ...budgetOptions })
  const t = timer(clock)
  const policy = new HedgePolicy({ name: 'search', breaker, budget, sleep: t.sleep, ...options })
  return { clock, breaker, budget, timer: t, policy, dep: dependency() }
}

// The text parsed back: sample name with its labels -> value.
function samples (text) {
  const out = new Map()
  for (const f of prom.parse(text).values()) {
    for (const v of f.values) {
      const labels = Object.entries(v.labels).map(([k, x]) => `${k}="${x}"`).join(',')
      out.set(`${v.metricName}{${labels}}`, v.value)
    }
  }
  return out
}

test('the hedge wins; the loser is aborted and its permit cancelled', async () => {
  const r = rig({ delayMs: 20, maxHedges: 2 })
  const call = r.policy.fire((signal, key) => r.dep.fn(signal, key), 'k')
  assert.equal(await r.timer.fire(), 20)
  assert.deepEqual(r.dep.started, [1, 2])
  r.dep.release(2, 'second')
  assert.deepEqual(await call, ['second', 'k'])
  assert.deepEqual(r.dep.aborted, [1])
  assert.ok(r.timer.waits[0].aborted, 'the next delay is given up')
  const s = r.breaker.stats
  assert.deepEqual([s.successes, s.failures], [1, 0], 'the loser is neither')
  const m = r.policy.metrics()
  assert.deepEqual([m.calls, m.attempts, m.hedges, m.retries, m.failedCalls], [1, 2, 1, 0, 0])
  assert.equal(r.budget.stats().withdrawals, 1)
  // The loser's late answer changes nothing.
  r.dep.release(1, 'late')
  await settle()
  assert.equal(r.breaker.stats.successes, 1)
  const got = samples(r.policy.prometheus())
  assert.equal(got.get('fusebox_retry_hedges_total{retry="search"}'), 1)
  assert.equal(got.get('fusebox_retry_attempts_total{retry="search"}'), 2)
  assert.equal(got.get('fusebox_retry_calls_total{retry="search"}'), 1)
})

test('a quick answer starts no hedge', async () => {
  const r = rig()
  const call = r.policy.fire((signal) => r.dep.fn(signal, 'k'))
  r.dep.release(1, 'first')
  assert.deepEqual(await call, ['first', 'k'])
  assert.equal(r.timer.waits.length, 1)
  assert.ok(r.timer.waits[0].aborted)
  assert.deepEqual(r.dep.aborted, [])
  assert.equal(r.policy.metrics().hedges, 0)
  assert.equal(r.budget.stats().withdrawals, 0)
})

test('every attempt failing rejects with the last error', async () => {
  const r = rig({ delayMs: 50 })
  const call = r.policy.fire((signal) => r.dep.fn(signal, 'k'))
  let outcome = null
  call.then(() => { outcome = 'resolved' }, () => { outcome = 'rejected' })
  await r.timer.fire()
  r.dep.release(2, new Error('second'))
  await settle()
  assert.equal(r.breaker.stats.failures, 1)
  assert.equal(outcome, null, 'attempt 1 still runs')
  r.dep.release(1, new Error('first'))
  await assert.rejects(call, /first/)
  assert.equal(r.policy.metrics().failedCalls, 1)
  assert.equal(r.breaker.stats.failures, 2)
})

test('a failure classified as ignored is not a failure for the breaker', async () => {
  const notFound = Object.assign(new Error('404'), { status: 404 })
  const r = rig({}, {}, { classify: (e) => (e.status === 404 ? 'ignored' : 'failure') })
  const call = r.policy.fire((signal) => r.dep.fn(signal, 'k'))
  r.dep.release(1, notFound)
  await assert.rejects(call, /404/)
  const s = r.breaker.stats
  assert.deepEqual([s.failures, s.ignored], [0, 1])
})

test('a rejected attempt ends the call when nothing else runs', async () => {
  const r = rig({ maxHedges: 3 })
  r.breaker.forceOpen()
  await assert.rejects(r.policy.fire((signal) => r.dep.fn(signal, 'k')), (e) => {
    assert.ok(e instanceof CircuitOpenError)
    assert.equal(e.reason, 'forcedOpen')
    return true
  })
  assert.deepEqual(r.dep.started, [])
  assert.equal(r.timer.waits.length, 0)
  assert.equal(r.budget.stats().withdrawals, 0)
  assert.equal(r.policy.metrics().failedCalls, 1)
})

test('the budget refuses the hedge: no more delays', async () => {
  const r = rig({ maxHedges: 3 }, { ratio: 0, minPerSec: 0 })
  const call = r.policy.fire((signal) => r.dep.fn(signal, 'k'))
  await r.timer.fire()
  assert.equal(r.timer.waits.length, 0)
  r.dep.release(1, 'only')
  assert.deepEqual(await call, ['only', 'k'])
  assert.deepEqual(r.dep.started, [1])
  const m = r.policy.metrics()
  assert.deepEqual([m.budgetRefusals, m.hedges, m.attempts], [1, 0, 1])
})

test('a throwing fn is a failed attempt', async () => {
  const r = rig()
  await assert.rejects(r.policy.fire(() => { throw new TypeError('bad') }), TypeError)
  assert.equal(r.breaker.stats.failures, 1)
  await assert.rejects(r.policy.fire('nope'), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('the default sleep: an answer before the delay clears it', async () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ clock })
  const budget = new RetryBudget({ clock })
  const policy = new HedgePolicy({ breaker, budget, delayMs: 60_000 })
  assert.equal(await policy.fire(async (signal, x) => x + 1, 1), 2)
  assert.equal(policy.metrics().name, 'hedge')
})

test('a sleep that fails ends the call with its error; the attempt is cancelled', async () => {
  const r = rig({ sleep: () => { throw new Error('no timers') } })
  await assert.rejects(r.policy.fire((signal) => r.dep.fn(signal, 'k')), /no timers/)
  assert.deepEqual(r.dep.aborted, [1])
  const s = r.breaker.stats
  assert.deepEqual([s.successes, s.failures], [0, 0])
})

test('bad options are refused', () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ clock })
  const budget = new RetryBudget({ clock })
  const make = (o) => () => new HedgePolicy({ breaker, budget, ...o })
  assert.throws(make({ maxHedges: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /maxHedges/ })
  assert.throws(make({ maxHedges: 11 }), { name: 'RangeError', message: /maxHedges/ })
  assert.throws(make({ delayMs: 0 }), { name: 'RangeError', message: /delayMs/ })
  assert.throws(make({ delayMs: -5 }), { name: 'RangeError', message: /delayMs/ })
  assert.throws(make({ delayMs: '5' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(make({ delay: 5 }), { name: 'TypeError', message: /Unknown option "delay"/ })
  assert.throws(make({ name: '' }), { name: 'RangeError', message: /name/ })
  assert.throws(() => new HedgePolicy({ budget }), { name: 'TypeError', message: /breaker/ })
  assert.throws(() => new HedgePolicy({ breaker }), { name: 'TypeError', message: /budget/ })
})

test('a retry policy has the Prometheus text too', async () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 'db', clock, consecutiveFailures: null })
  const budget = new RetryBudget({ name: 'db', clock })
  const policy = new RetryPolicy({ breaker, budget, maxAttempts: 2, sleep: async (ms) => clock.advance(ms) })
  await assert.rejects(policy.fire(() => { throw new Error('down') }), /down/)
  const got = samples(policy.prometheus())
  assert.equal(got.get('fusebox_retry_calls_total{retry="db"}'), 1)
  assert.equal(got.get('fusebox_retry_attempts_total{retry="db"}'), 2)
  assert.equal(got.get('fusebox_retry_retries_total{retry="db"}'), 1)
  assert.equal(got.get('fusebox_retry_failed_calls_total{retry="db"}'), 1)
})

test('an attempt past the breaker\'s timeoutMs fails, aborted; the fallback answers the call', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const fallback = (e, key) => ['fallback', e instanceof CallTimeoutError, key]
  const r = rig({ delayMs: 20, maxHedges: 1 }, {}, { timeoutMs: 100, fallback })
  const call = r.policy.fire((signal, key) => r.dep.fn(signal, key), 'k')
  assert.equal(await r.timer.fire(), 20)
  assert.deepEqual(r.dep.started, [1, 2])
  t.mock.timers.tick(100) // both attempts' timeouts
  assert.deepEqual(await call, ['fallback', true, 'k'])
  assert.deepEqual(r.dep.aborted.sort(), [1, 2])
  assert.equal(r.breaker.stats.failures, 2, 'each timeout is a failure')
  assert.equal(r.policy.metrics().failedCalls, 1)
  // A late answer changes nothing.
  r.dep.release(1, 'late')
  await settle()
  assert.equal(r.breaker.stats.successes, 0)
})

test('an answer in time clears the attempt\'s timer', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const r = rig({}, {}, { timeoutMs: 100 })
  const call = r.policy.fire((signal) => r.dep.fn(signal, 'k'))
  r.dep.release(1, 'first')
  assert.deepEqual(await call, ['first', 'k'])
  t.mock.timers.tick(100)
  await settle()
  assert.deepEqual([r.breaker.stats.successes, r.breaker.stats.failures], [1, 0])
})
