'use strict'
// breaker.openFor(ms) (a server's Retry-After) and the options that go with
// it, maxOpenForMs and cancellation, on a manual clock.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, CircuitOpenError } = require('fusebox')

function retryAfterMs (b) {
  assert.equal(b.tryAcquire(), null)
  return b.lastRejection.retryAfterMs
}

test('openFor opens, is cut to maxOpenForMs, never shortened, then probes', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, maxOpenForMs: 120000, halfOpenMaxCalls: 1, successThreshold: 1 })
  assert.equal(b.openFor(90000), true)
  assert.equal(b.state, 'open')
  assert.equal(retryAfterMs(b), 90000)
  assert.equal(b.openFor(10000), false)
  assert.equal(b.openFor(3600000.5), true)
  assert.equal(retryAfterMs(b), 120000)
  assert.throws(() => b.call(() => 1), CircuitOpenError)
  clock.advance(120000)
  const p = b.tryAcquire()
  assert.equal(p.probe, true)
  p.success()
  assert.equal(b.state, 'closed')
})

test('openFor(0): a probe at the next call', () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  assert.equal(b.openFor(0), true)
  assert.equal(b.state, 'open')
  const p = b.tryAcquire()
  assert.equal(p.probe, true)
  assert.equal(b.state, 'halfOpen')
  p.release()
})

test('openFor leaves forced open and disabled alone', () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  b.forceOpen()
  assert.equal(b.openFor(5000), false)
  assert.equal(b.phase, 'forcedOpen')
  b.disable()
  assert.equal(b.openFor(5000), false)
  assert.equal(b.phase, 'disabled')
})

test('successes held back in a batch before openFor are counted', () => {
  // Closed-path successes are held back in this thread's batch; openFor
  // hands them over (as every native call that changes the breaker does).
  const b = new CircuitBreaker({ clock: new ManualClock() })
  b.tryAcquire().success()
  b.tryAcquire().success()
  assert.equal(b.openFor(1000), true)
  assert.equal(b.stats.successes, 2)
  assert.equal(b.state, 'open')
})

test('bad durations are refused by the core, naming the argument', () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  for (const bad of [-1, -0.001, NaN, Infinity, -Infinity]) {
    assert.throws(() => b.openFor(bad), (e) => {
      assert.ok(e instanceof RangeError)
      assert.equal(e.code, 'ERR_OUT_OF_RANGE')
      assert.match(e.message, /^invalid argument ms: .* \(expected a finite duration ≥ 0 ms\)$/)
      return true
    })
  }
  for (const wrong of ['5', null, undefined, 5n]) {
    assert.throws(() => b.openFor(wrong), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  }
  assert.equal(b.state, 'closed')
  assert.equal(b.stats.stateChanges, 0)
})

test('maxOpenForMs and cancellation: kept, defaulted, checked by the core', () => {
  const d = new CircuitBreaker().options
  assert.equal(d.maxOpenForMs, 300000)
  assert.equal(d.cancellation, 'slowIfOverdue')
  for (const c of ['release', 'slowIfOverdue', 'failure']) {
    assert.equal(new CircuitBreaker({ cancellation: c, maxOpenForMs: 45000 }).options.cancellation, c)
  }
  assert.equal(new CircuitBreaker({ maxOpenForMs: 45000 }).options.maxOpenForMs, 45000)
  assert.throws(() => new CircuitBreaker({ maxOpenForMs: 0 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: 'invalid option maxOpenForMs: 0 (expected a duration in (0, 1 000 000 000] ms)'
  })
  assert.throws(() => new CircuitBreaker({ cancellation: 'slow_if_overdue' }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: 'invalid option cancellation: "slow_if_overdue" (expected release, slowIfOverdue or failure)'
  })
  assert.throws(() => new CircuitBreaker({ cancellation: 1 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
})
