'use strict'
// codes.js is generated from the core (core/tests/generated_codes.rs fails
// when it is stale); here, the addon as built agrees with it.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fusebox = require('fusebox')
const CODES = require('fusebox/codes.js')
const native = require('fusebox/native.js')

test('the phase bits decode to the generated phases', () => {
  const L = native.wordLayout()
  assert.equal(L.phases.length, L.phaseMask + 1)
  for (const code of L.phases) assert.ok(code >= 0 && code < CODES.PHASES.length)
  // Each phase's own bits are its code.
  for (let code = 0; code < CODES.PHASES.length; code++) assert.equal(L.phases[code], code)
  assert.equal(L.freeMask & ~L.phaseMask, 0)
  assert.equal(fusebox.STATES, CODES.STATES)
})

test('states, phases and reasons are the generated names', () => {
  const b = new fusebox.CircuitBreaker({ name: 'codes', consecutiveFailures: 1 })
  assert.ok(CODES.STATES.includes(b.state))
  b.tryAcquire().failure()
  assert.equal(b.state, CODES.STATES[1])
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.reason, CODES.REJECT_REASONS[0])
  b.forceOpen()
  assert.equal(b.phase, CODES.PHASES[3])
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.reason, CODES.REJECT_REASONS[2])
  b.disable()
  assert.equal(b.phase, CODES.PHASES[4])
  assert.equal(b.state, CODES.STATE_OF_PHASE[4])
})

test('every core config field is named by an option the breaker reports', () => {
  const opts = new fusebox.CircuitBreaker({ name: 'codes', backoff: { multiplier: 2, maxMs: 60000 } }).options
  for (const name of Object.values(CODES.CONFIG_FIELDS)) {
    const [top, inner] = name.split('.')
    if (top === 'countWindow') continue // a time window has none
    assert.ok(top in opts, name)
    if (inner !== undefined) assert.ok(inner in opts[top], name)
  }
  const c = new fusebox.CircuitBreaker({ name: 'codes', countWindow: 10 }).options
  assert.ok('countWindow' in c)
})
