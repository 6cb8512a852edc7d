'use strict'
// RetryPolicy and RetryBudget: fire() retrying through a breaker, the
// budget, rejections, retry-after, bad options. Back-offs move a
// ManualClock; nothing sleeps but one real setTimeout(0) wait.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, CircuitOpenError, RetryBudget, RetryPolicy } = require('fusebox')

function rig (policy = {}, budget = {}) {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 'dep', clock, consecutiveFailures: null })
  const b = new RetryBudget({ name: 'dep', clock, ...budget })
  const waits = []
  const sleep = async (ms) => { waits.push(ms); clock.advance(ms) }
  return { clock, breaker, budget: b, waits, policy: new RetryPolicy({ breaker, budget: b, sleep, ...policy }) }
}

test('fire retries a flaky call with the back-offs of the core', async () => {
  const r = rig({ maxAttempts: 4, baseBackoffMs: 100, jitter: false })
  let tries = 0
  const out = await r.policy.fire(async (x) => {
    if (++tries < 3) throw new Error('reset')
    return x * 2
  }, 21)
  assert.equal(out, 42)
  assert.deepEqual(r.waits, [100, 200])
  const s = r.breaker.stats
  assert.equal(s.failures, 2)
  assert.equal(s.successes, 1)
  const m = r.policy.metrics()
  assert.deepEqual([m.calls, m.attempts, m.retries, m.failedCalls], [1, 3, 2, 0])
  assert.equal(r.budget.stats().withdrawals, 2)
})

test('the last error is thrown after maxAttempts; onEnd sees the stats', async () => {
  const ended = []
  const r = rig({ maxAttempts: 3, onEnd: (s) => ended.push(s) })
  await assert.rejects(r.policy.fire(() => { throw new Error('down') }), /down/)
  assert.equal(ended.length, 1)
  assert.deepEqual([ended[0].attempt, ended[0].retries, ended[0].stop], [3, 2, 'max_attempts'])
})

test('classify stops a call, or asks for the server\'s wait (capped)', async () => {
  const r = rig({ baseBackoffMs: 1, maxBackoffMs: 1, retryAfterCapMs: 5000, classify: (e) => e.after ?? 'stop' })
  const busy = (after) => Object.assign(new Error('busy'), { after })
  let tries = 0
  assert.equal(await r.policy.fire(() => { if (++tries === 1) throw busy(2000); return 'ok' }), 'ok')
  assert.deepEqual(r.waits, [2000])
  await assert.rejects(r.policy.fire(() => { throw busy(6000) }), /busy/)
  await assert.rejects(r.policy.fire(() => { throw new Error('404') }), /404/)
  assert.deepEqual(r.waits, [2000])
  assert.equal(r.policy.metrics().attempts, 4)
})

test('the budget refuses retries and shows in Prometheus', async () => {
  const r = rig({ maxAttempts: 3 }, { ratio: 0.5, minPerSec: 0 })
  for (let i = 0; i < 4; i++) await assert.rejects(r.policy.fire(() => { throw new Error('down') }))
  const s = r.budget.stats()
  assert.deepEqual([s.deposits, s.withdrawals], [4, 2])
  assert.equal(r.policy.metrics().budgetRefusals, 4)
  assert.match(r.budget.prometheus(), /fusebox_retry_budget_withdrawals_total\{budget="dep"\} 2\n/)
})

test('a forced-open breaker is not retried', async () => {
  const r = rig()
  r.breaker.forceOpen()
  let ran = 0
  await assert.rejects(r.policy.fire(() => { ran++ }), CircuitOpenError)
  assert.equal(ran, 0)
  assert.equal(r.policy.metrics().attempts, 1)
})

test('the default sleep is a real timer', async () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 't', clock })
  const budget = new RetryBudget({ clock })
  // base 1 ms, jitter: the wait is in [0, 1] ms.
  const policy = new RetryPolicy({ breaker, budget, baseBackoffMs: 1, maxBackoffMs: 1 })
  let tries = 0
  assert.equal(await policy.fire(() => { if (++tries < 2) throw new Error('x'); return tries }), 2)
})

test('bad options are refused, naming the option', () => {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 'b', clock })
  const budget = new RetryBudget({ clock })
  const bad = (o, re) => assert.throws(() => new RetryPolicy({ breaker, budget, ...o }), re)
  bad({ maxAttempts: 0 }, (e) => e instanceof RangeError && e.option === 'maxAttempts')
  bad({ baseBackoffMs: 0 }, (e) => e instanceof RangeError && e.option === 'baseBackoffMs')
  bad({ deadlineMs: 10, minAttemptMs: 20 }, (e) => e.option === 'minAttemptMs')
  bad({ maxAttempts: '3' }, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE')
  bad({ retries: 3 }, (e) => e instanceof TypeError && /Unknown option "retries"/.test(e.message))
  assert.throws(() => new RetryPolicy({ breaker: {}, budget }), TypeError)
  assert.throws(() => new RetryBudget({ ratio: 11 }), (e) => e instanceof RangeError && e.option === 'ratio')
  assert.throws(() => new RetryBudget({ windowMs: 10 }), (e) => e.option === 'windowMs')
  assert.throws(() => new RetryBudget({ name: '' }), (e) => e.option === 'name')
})

test('a classify that returns something else is a TypeError naming what it returned', async () => {
  const r = rig({ classify: () => 'maybe' })
  await assert.rejects(r.policy.fire(() => { throw new Error('down') }), {
    name: 'TypeError',
    code: 'ERR_INVALID_RETURN_VALUE',
    message: /classify must return .* Received type string \(maybe\)/
  })
})

test('the breaker\'s fallback answers the call once the retries are spent, not each attempt', async () => {
  const clock = new ManualClock()
  const seen = []
  const fallback = (e, x) => { seen.push(e.message); return `cached ${x}` }
  const breaker = new CircuitBreaker({ name: 'dep', clock, consecutiveFailures: null, fallback })
  const budget = new RetryBudget({ name: 'dep', clock })
  const sleep = async (ms) => { clock.advance(ms) }
  const policy = new RetryPolicy({ breaker, budget, maxAttempts: 3, jitter: false, sleep })
  let tries = 0
  const out = await policy.fire(async (x) => { throw new Error(`down ${++tries} ${x}`) }, 7)
  assert.equal(out, 'cached 7')
  assert.equal(tries, 3, 'every attempt ran')
  assert.deepEqual(seen, ['down 3 7'], 'the fallback saw the last error, once')
  assert.equal(breaker.stats.failures, 3)
  assert.equal(await policy.fire(async () => 'fresh'), 'fresh')
  assert.equal(seen.length, 1)
})

test('each attempt has the breaker\'s timeoutMs', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const clock = new ManualClock()
  const breaker = new CircuitBreaker({ name: 'dep', clock, consecutiveFailures: null, timeoutMs: 50 })
  const budget = new RetryBudget({ name: 'dep', clock })
  const sleep = async (ms) => { clock.advance(ms) }
  const policy = new RetryPolicy({ breaker, budget, maxAttempts: 2, jitter: false, sleep })
  let tries = 0
  const call = policy.fire(() => ++tries === 1 ? new Promise(() => {}) : 'second')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(tries, 1, 'the first attempt hangs')
  t.mock.timers.tick(50)
  assert.equal(await call, 'second')
  assert.equal(tries, 2)
  assert.deepEqual([breaker.stats.failures, breaker.stats.successes], [1, 1], 'the timeout is a failure')
})
