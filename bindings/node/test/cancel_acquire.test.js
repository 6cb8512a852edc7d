'use strict'
// permit.cancel(): the core's cancellation policy, through the binding;
// breaker.acquire(): a permit or the CircuitOpenError.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, CircuitOpenError } = require('fusebox')

const SLOW = { slowCallMs: 1000, slowCallRateThreshold: 0.5, minCalls: 1, consecutiveFailures: null }

test('slowIfOverdue (the default): nothing, unless given up past slowCallMs', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, ...SLOW })
  assert.equal(b.acquire().cancel(), true)
  assert.deepEqual(b.stats.window, { calls: 0, failures: 0, slow: 0 })
  const p = b.acquire()
  clock.advance(1500)
  p.cancel()
  assert.equal(b.stats.slow, 1)
  assert.equal(b.state, 'open', 'a slow-call rate of 1 over minCalls 1')
})

test('release: nothing, however long; failure: a failure', () => {
  const clock = new ManualClock()
  const r = new CircuitBreaker({ clock, ...SLOW, cancellation: 'release' })
  const p = r.acquire()
  clock.advance(5000)
  p.cancel()
  assert.deepEqual([r.stats.slow, r.stats.failures, r.stats.window.calls], [0, 0, 0])
  const f = new CircuitBreaker({ clock, consecutiveFailures: 1, cancellation: 'failure' })
  f.acquire().cancel()
  assert.equal(f.stats.failures, 1)
  assert.equal(f.state, 'open')
})

test('a cancelled probe gives its slot back', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 100, halfOpenMaxCalls: 1, successThreshold: 1 })
  b.acquire().failure()
  clock.advance(100)
  const probe = b.acquire()
  assert.equal(probe.probe, true)
  assert.equal(b.tryAcquire(), null, 'the one slot is taken')
  probe.cancel()
  b.acquire().success()
  assert.equal(b.state, 'closed')
})

test('cancel() is an outcome: once only', () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  const p = b.acquire()
  p.cancel()
  assert.equal(p.pending, false)
  assert.throws(() => p.cancel(), { code: 'ERR_FUSEBOX_PERMIT_USED' })
  assert.throws(() => p.success(), { code: 'ERR_FUSEBOX_PERMIT_USED' })
})

test('acquire() throws the CircuitOpenError tryAcquire() would stand for', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ name: 'api', clock, consecutiveFailures: 1, openTimeoutMs: 4000 })
  b.acquire().failure()
  clock.advance(1000)
  assert.throws(() => b.acquire(), (e) => e instanceof CircuitOpenError && e.retryAfterMs === 3000 && e.breaker === 'api')
  assert.deepEqual(b.lastRejection, { reason: 'open', retryAfterMs: 3000 })
  assert.equal(b.stats.rejected, 1)
})
