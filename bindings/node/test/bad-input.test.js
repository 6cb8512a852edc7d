'use strict'
// Bad input: a TypeError or RangeError naming the option or argument,
// never a crash, never a half-made breaker.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, registry } = require('fusebox')

function throwsNaming (fn, Kind, name, code) {
  assert.throws(fn, (e) => {
    assert.equal(e.constructor, Kind, `${e.constructor.name}: ${e.message}`)
    assert.ok(e.message.includes(name), `"${e.message}" does not name ${name}`)
    if (code) assert.equal(e.code, code)
    return true
  })
}

test('wrong option types are TypeErrors naming the option', () => {
  for (const key of ['failureRateThreshold', 'minCalls', 'windowMs', 'windowBuckets', 'countWindow',
    'openTimeoutMs', 'jitter', 'halfOpenMaxCalls', 'successThreshold', 'halfOpenMaxWaitMs', 'slowCallMs',
    'slowCallRateThreshold', 'consecutiveFailures', 'timeoutMs']) {
    for (const bad of ['10', true, {}, 10n]) {
      throwsNaming(() => new CircuitBreaker({ [key]: bad }), TypeError, key, 'ERR_INVALID_ARG_TYPE')
    }
  }
  throwsNaming(() => new CircuitBreaker({ name: 5 }), TypeError, 'name')
  throwsNaming(() => new CircuitBreaker({ clock: {} }), TypeError, 'clock')
  throwsNaming(() => new CircuitBreaker({ clock: Date }), TypeError, 'clock')
  throwsNaming(() => new CircuitBreaker({ classify: 'failure' }), TypeError, 'classify')
  throwsNaming(() => new CircuitBreaker({ backoff: 2 }), TypeError, 'backoff')
  throwsNaming(() => new CircuitBreaker({ backoff: { multiplier: 2 } }), TypeError, 'backoff.maxMs')
  throwsNaming(() => new CircuitBreaker({ backoff: { maxMs: 2 } }), TypeError, 'backoff.multiplier')
  throwsNaming(() => new CircuitBreaker('fast'), TypeError, 'options')
  throwsNaming(() => new CircuitBreaker({ failureThreshold: 0.5 }), TypeError, 'failureThreshold')
})

test('out-of-range options are RangeErrors naming the option and the value', () => {
  const cases = [
    [{ failureRateThreshold: 0 }, 'failureRateThreshold'],
    [{ failureRateThreshold: 1.5 }, 'failureRateThreshold'],
    [{ failureRateThreshold: NaN }, 'failureRateThreshold'],
    [{ consecutiveFailures: 0 }, 'consecutiveFailures'],
    [{ consecutiveFailures: 2.5 }, 'consecutiveFailures'],
    [{ consecutiveFailures: -1 }, 'consecutiveFailures'],
    [{ minCalls: 0 }, 'minCalls'],
    [{ minCalls: 1e10 }, 'minCalls'],
    [{ minCalls: Infinity }, 'minCalls'],
    [{ windowMs: 0 }, 'windowMs'],
    [{ windowMs: -5 }, 'windowMs'],
    [{ windowBuckets: 0 }, 'windowBuckets'],
    [{ windowBuckets: 5000 }, 'windowBuckets'],
    [{ windowMs: 5, windowBuckets: 10 }, 'windowBuckets'],
    [{ countWindow: 0 }, 'countWindow'],
    [{ countWindow: 200000 }, 'countWindow'],
    [{ countWindow: 10, windowMs: 1000 }, 'countWindow'],
    [{ openTimeoutMs: 0 }, 'openTimeoutMs'],
    [{ openTimeoutMs: NaN }, 'openTimeoutMs'],
    [{ openTimeoutMs: Infinity }, 'openTimeoutMs'],
    [{ openTimeoutMs: 2e12 }, 'openTimeoutMs'],
    [{ backoff: { multiplier: 0.5, maxMs: 60000 } }, 'backoff.multiplier'],
    [{ backoff: { multiplier: 2, maxMs: 10 } }, 'backoff.maxMs'],
    [{ jitter: -0.1 }, 'jitter'],
    [{ jitter: 2 }, 'jitter'],
    [{ halfOpenMaxCalls: 0 }, 'halfOpenMaxCalls'],
    [{ successThreshold: 0 }, 'successThreshold'],
    [{ successThreshold: 5 }, 'successThreshold'],
    [{ halfOpenMaxWaitMs: -1 }, 'halfOpenMaxWaitMs'],
    [{ slowCallMs: 0 }, 'slowCallMs'],
    [{ slowCallRateThreshold: 0 }, 'slowCallRateThreshold'],
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ timeoutMs: -1 }, 'timeoutMs']
  ]
  for (const [options, name] of cases) {
    throwsNaming(() => new CircuitBreaker(options), RangeError, name, 'ERR_OUT_OF_RANGE')
  }
  assert.throws(() => new CircuitBreaker({ failureRateThreshold: 1.5 }), /failureRateThreshold: 1\.5/)
})

test('shared breakers: bad names and options', () => {
  throwsNaming(() => CircuitBreaker.shared(''), RangeError, 'name')
  throwsNaming(() => CircuitBreaker.shared('x'.repeat(300)), RangeError, 'name')
  throwsNaming(() => CircuitBreaker.shared(42), TypeError, 'name')
  throwsNaming(() => CircuitBreaker.shared('bad-opts', { minCalls: -1 }), RangeError, 'minCalls')
  throwsNaming(() => CircuitBreaker.shared('bad-clock', { clock: new ManualClock() }), TypeError, 'clock')
  throwsNaming(() => CircuitBreaker.shared('a', { name: 'b' }), RangeError, 'name')
  assert.equal(registry.find('bad-opts'), undefined, 'no half-made breaker')
  throwsNaming(() => registry.find(1), TypeError, 'name')
  throwsNaming(() => registry.remove(null), TypeError, 'name')
})

test('bad arguments to calls and permits', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  throwsNaming(() => b.call('not a function'), TypeError, 'fn')
  throwsNaming(() => b.call(), TypeError, 'fn')
  await assert.rejects(b.fire(null), (e) => e instanceof TypeError && e.message.includes('fn'))
  await assert.rejects(b.fireWithTimeout('1', async () => 1), (e) => e instanceof TypeError && e.message.includes('timeoutMs'))
  await assert.rejects(b.fireWithTimeout(-1, async () => 1), (e) => e instanceof RangeError && e.message.includes('timeoutMs'))
  throwsNaming(() => b.wrap(3), TypeError, 'fn')
  const p = b.tryAcquire()
  throwsNaming(() => p.success('fast'), TypeError, 'durationMs')
  throwsNaming(() => p.failure(-3), RangeError, 'durationMs')
  throwsNaming(() => p.success(NaN), RangeError, 'durationMs')
  assert.equal(p.pending, true, 'a refused report leaves the permit pending')
  assert.equal(p.success(1), true)
  assert.equal(b.stats.calls, 1, 'nothing was counted for the bad calls')
})

test('bad clock moves', () => {
  const c = new ManualClock()
  const t0 = c.now()
  throwsNaming(() => c.advance('5'), TypeError, 'ms')
  throwsNaming(() => c.advance(-1), RangeError, 'ms')
  throwsNaming(() => c.advance(NaN), RangeError, 'ms')
  throwsNaming(() => c.advance(Infinity), RangeError, 'ms')
  assert.equal(c.now(), t0)
  c.advance(2.5)
  assert.equal(c.now(), t0 + 2.5)
})

test('the native layer refuses what it was not made for, without crashing', () => {
  // The hot natives take no arguments and read a mailbox: a forged token
  // or wrapper id there is ignored (or, for a wrong generation, dropped as
  // stale by the core). Reach them the way a careless user might.
  const native = require('fusebox/native.js')
  const n = native.createBreaker({}, undefined)
  const hot = native.hotThread()
  const { id } = n.hot()
  const box = new Float64Array(hot.mailbox)
  for (const bad of [-1, -0.5, NaN, Infinity, -Infinity, 1e300, 2 ** 60]) {
    for (const [t, who] of [[bad, id], [0, bad], [0, id + 1000]]) {
      box[0] = t
      box[3] = 0
      box[7] = who
      hot.success(1, 2, 3)
      hot.failure()
      hot.record()
      hot.acquire()
    }
  }
  assert.equal(n.stats().calls, 0)
  assert.ok(native.createBreaker({ minCalls: 0 }).option === 'minCalls')
})
