'use strict'
// permit.cancel(): a call given up on counts as the `cancellation` option
// says (the core's cancel_raw), on a manual clock.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock } = require('fusebox')

for (const [cancellation, ranMs, slow, failures] of [
  ['slowIfOverdue', 1000, 0, 0],
  ['slowIfOverdue', 3000, 1, 0],
  ['release', 3000, 0, 0],
  ['failure', 1000, 0, 1]
]) {
  test(`cancel with ${cancellation} after ${ranMs} ms`, () => {
    const clock = new ManualClock()
    const b = new CircuitBreaker({ clock, slowCallMs: 2000, cancellation })
    const p = b.tryAcquire()
    clock.advance(ranMs)
    assert.equal(p.cancel(), true)
    assert.equal(p.pending, false)
    const s = b.stats
    // (A slow cancelled call is a slow success in the totals.)
    assert.deepEqual([s.slow, s.failures, s.successes], [slow, failures, slow])
    assert.throws(() => p.cancel(), { code: 'ERR_FUSEBOX_PERMIT_USED' })
  })
}

test('a cancelled probe gives its slot back', () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), halfOpenMaxCalls: 1, successThreshold: 1 })
  b.openFor(0)
  const p = b.tryAcquire()
  assert.equal(p.probe, true)
  assert.equal(b.tryAcquire(), null)
  p.cancel()
  const q = b.tryAcquire()
  assert.equal(q.probe, true)
  q.success()
  assert.equal(b.state, 'closed')
})
