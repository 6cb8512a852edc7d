'use strict'
// KeyedBreakers: a bounded set of breakers by key. Time moves only by a
// ManualClock (no test sleeps).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const {
  KeyedBreakers, KeyedFullError, FuseboxError, CircuitBreaker, CircuitOpenError, ManualClock
} = require('fusebox')

/** A set on a manual clock; breakers trip after 2 failures in a row. */
function keyed (capacity, more = {}) {
  const clock = new ManualClock()
  const set = new KeyedBreakers({ name: 'hosts', capacity, clock, consecutiveFailures: 2, ...more })
  return { clock, set }
}

test('one breaker per key, named after it, a CircuitBreaker with the set options', () => {
  const { set } = keyed(4, { minCalls: 20, timeoutMs: 500 })
  assert.equal(set.name, 'hosts')
  assert.equal(set.capacity, 4)
  assert.equal(set.size, 0)
  assert.equal(set.get('a.example'), undefined)
  const a = set.getOrCreate('a.example')
  assert.ok(a instanceof CircuitBreaker)
  assert.equal(a.name, 'a.example')
  assert.equal(a.options.minCalls, 20)
  assert.equal(a.options.consecutiveFailures, 2)
  assert.equal(a.options.timeoutMs, 500)
  assert.ok(a.isSameBreaker(set.getOrCreate('a.example')))
  assert.ok(a.isSameBreaker(set.get('a.example')))
  assert.equal(set.size, 1)
  // The fast path works on a keyed breaker: a Closed call, then a trip seen
  // by every handle.
  assert.equal(a.call((x) => x + 1, 1), 2)
  const other = set.get('a.example')
  for (let i = 0; i < 2; i++) assert.throws(() => a.call(() => { throw new Error('down') }), /down/)
  assert.equal(other.state, 'open')
  assert.throws(() => other.call(() => 1), CircuitOpenError)
})

test('capacity is respected and a full set of busy breakers refuses new keys', () => {
  const { clock, set } = keyed(2)
  const a = set.getOrCreate('a')
  const b = set.getOrCreate('b')
  a.forceOpen() // never evicted
  b.tryAcquire().failure() // a failure run: holds history
  clock.advance(60_000)
  assert.throws(() => set.getOrCreate('c'), (e) => {
    assert.ok(e instanceof KeyedFullError)
    assert.ok(e instanceof FuseboxError)
    assert.equal(e.name, 'KeyedFullError')
    assert.equal(e.code, 'EFUSEBOXKEYEDFULL')
    assert.equal(e.message, 'keyed breakers full: all 2 hold history (open, failing or recently used)')
    assert.equal(e.capacity, 2)
    assert.equal(e.keyed, 'hosts')
    assert.equal(e.key, 'c')
    return true
  })
  assert.equal(set.size, 2)
  assert.equal(set.get('c'), undefined)
  // Existing keys are still served when full.
  assert.ok(a.isSameBreaker(set.getOrCreate('a')))
  assert.deepEqual(set.stats(), {
    name: 'hosts', size: 2, capacity: 2, created: 2, evictions: 0, refusals: 1, removed: 0
  })
})

test('a breaker used within minIdleMs is not evicted; an idle one is, and keeps working for its holder', () => {
  const { clock, set } = keyed(2, { minIdleMs: 5000 })
  const a = set.getOrCreate('a')
  a.forceOpen()
  const b = set.getOrCreate('b') // holds nothing, but just used
  clock.advance(4999)
  assert.throws(() => set.getOrCreate('c'), KeyedFullError)
  clock.advance(1)
  const c = set.getOrCreate('c') // b goes: idle for minIdleMs, holds nothing
  assert.equal(c.name, 'c')
  assert.equal(set.get('b'), undefined)
  assert.ok(set.get('a') !== undefined)
  assert.equal(set.size, 2)
  // The evicted breaker still works for whoever holds it...
  const p = b.tryAcquire()
  assert.ok(p !== null)
  p.failure()
  assert.equal(b.stats.failures, 1)
  // ...but is no longer the set's: the key's next lookup makes a fresh one
  // (evicting c, idle and empty by then).
  clock.advance(5000)
  const b2 = set.getOrCreate('b')
  assert.ok(!b2.isSameBreaker(b))
  assert.equal(b2.stats.failures, 0)
  const s = set.stats()
  assert.equal(s.created, 4)
  assert.equal(s.evictions, 2)
  assert.equal(s.refusals, 1)
  assert.equal(s.size, 2)
})

test('the default minIdleMs is 10 s', () => {
  const { clock, set } = keyed(1)
  set.getOrCreate('a')
  clock.advance(9999)
  assert.throws(() => set.getOrCreate('b'), KeyedFullError)
  clock.advance(1)
  set.getOrCreate('b')
  assert.equal(set.get('a'), undefined)
})

test('a breaker with calls in its window is kept until they leave it', () => {
  const { clock, set } = keyed(1, { minIdleMs: 0, windowMs: 1000 })
  const a = set.getOrCreate('a')
  a.call(() => 1) // a success: in the window for its span
  assert.throws(() => set.getOrCreate('b'), KeyedFullError)
  clock.advance(1100)
  set.getOrCreate('b')
  assert.equal(set.get('a'), undefined)
})

test('remove takes a breaker out whatever its state', () => {
  const { set } = keyed(1)
  const a = set.getOrCreate('a')
  a.forceOpen()
  assert.equal(set.remove('a'), true)
  assert.equal(set.remove('a'), false)
  assert.equal(set.size, 0)
  assert.equal(a.phase, 'forcedOpen') // the handle keeps its breaker
  const b = set.getOrCreate('b') // room again
  assert.equal(b.state, 'closed')
  assert.equal(set.stats().removed, 1)
})

test('prometheus text has the breakers and the set counters', () => {
  const { set } = keyed(3, { minIdleMs: 0 })
  set.getOrCreate('a.example').tryAcquire().failure()
  const text = set.prometheus()
  assert.match(text, /fusebox_state\{breaker="a\.example",state="closed"\} 1\n/)
  assert.match(text, /fusebox_keyed_breakers\{keyed="hosts"\} 1\n/)
  assert.match(text, /fusebox_keyed_capacity\{keyed="hosts"\} 3\n/)
  assert.match(text, /fusebox_keyed_evictions_total\{keyed="hosts"\} 0\n/)
  assert.match(text, /fusebox_keyed_refusals_total\{keyed="hosts"\} 0\n/)
})

test('successes held back are counted before an eviction is judged', () => {
  // A success batched by the fast path must reach the core's window, so the
  // breaker holds history and is kept.
  const { set } = keyed(1, { minIdleMs: 0 })
  const a = set.getOrCreate('a')
  a.tryAcquire().success()
  assert.throws(() => set.getOrCreate('b'), KeyedFullError)
})

test('bad names, capacities and options: the errors of CircuitBreaker', () => {
  const clock = new ManualClock()
  const range = (fn, option, message) => assert.throws(fn, (e) => {
    assert.ok(e instanceof RangeError, String(e))
    assert.equal(e.code, 'ERR_OUT_OF_RANGE')
    assert.equal(e.option, option)
    if (message !== undefined) assert.equal(e.message, message)
    return true
  })
  const type = (fn, re) => assert.throws(fn, (e) => {
    assert.ok(e instanceof TypeError, String(e))
    assert.equal(e.code, 'ERR_INVALID_ARG_TYPE')
    assert.match(e.message, re)
    return true
  })
  // The same messages as a CircuitBreaker's.
  const nameError = (() => { try { return new CircuitBreaker({ name: '' }) } catch (e) { return e } })()
  range(() => new KeyedBreakers({ name: '', capacity: 1 }), 'name', nameError.message)
  range(() => new KeyedBreakers({ name: 'x'.repeat(257), capacity: 1 }), 'name')
  range(() => new KeyedBreakers({ capacity: 0 }), 'capacity', 'invalid option capacity: 0 (expected 1..=10 000 000)')
  range(() => new KeyedBreakers({ capacity: 10_000_001 }), 'capacity', 'invalid option capacity: 10000001 (expected 1..=10 000 000)')
  range(() => new KeyedBreakers({ capacity: 1e20 }), 'capacity', 'invalid option capacity: 100000000000000000000 (expected 1..=10 000 000)')
  range(() => new KeyedBreakers({ capacity: 1.5 }), 'capacity', 'invalid option capacity: 1.5 (expected an integer)')
  range(() => new KeyedBreakers({ capacity: -1 }), 'capacity')
  range(() => new KeyedBreakers({ capacity: NaN }), 'capacity')
  range(() => new KeyedBreakers({ capacity: 1, minIdleMs: -1 }), 'minIdleMs')
  const minCallsError = (() => { try { return new CircuitBreaker({ minCalls: 0 }) } catch (e) { return e } })()
  range(() => new KeyedBreakers({ capacity: 1, minCalls: 0 }), 'minCalls', minCallsError.message)
  range(() => new KeyedBreakers({ capacity: 1, timeoutMs: -1 }), 'timeoutMs')
  type(() => new KeyedBreakers(), /"options" argument/)
  type(() => new KeyedBreakers({ name: 1, capacity: 1 }), /"name" option/)
  type(() => new KeyedBreakers({ capacity: '8' }), /"capacity" option/)
  type(() => new KeyedBreakers({}), /"capacity" option must be of type number. Received type undefined/)
  type(() => new KeyedBreakers({ capacity: 1, minIdleMs: '1' }), /"minIdleMs" option/)
  type(() => new KeyedBreakers({ capacity: 1, minCalls: '1' }), /"minCalls" option/)
  type(() => new KeyedBreakers({ capacity: 1, clock: {} }), /"clock" option/)
  assert.throws(() => new KeyedBreakers({ capacity: 1, capcity: 2 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })

  const set = new KeyedBreakers({ name: 'k', capacity: 1, clock })
  range(() => set.getOrCreate(''), 'key', nameError.message)
  type(() => set.getOrCreate(1), /"key" argument/)
  type(() => set.get(null), /"key" argument/)
  type(() => set.remove(undefined), /"key" argument/)
  // A bad key takes nothing.
  assert.deepEqual(set.stats(), { name: 'k', size: 0, capacity: 1, created: 0, evictions: 0, refusals: 0, removed: 0 })
})

test('one handle per key while the set holds its breaker; a new one after eviction or removal', () => {
  const { clock, set } = keyed(1, { minIdleMs: 1000 })
  const a = set.getOrCreate('a')
  assert.equal(set.getOrCreate('a'), a)
  assert.equal(set.get('a'), a)
  set.remove('a')
  assert.equal(set.get('a'), undefined)
  const a2 = set.getOrCreate('a')
  assert.notEqual(a2, a)
  assert.ok(!a2.isSameBreaker(a))
  clock.advance(1000)
  const b = set.getOrCreate('b') // evicts a2 (Closed, empty, idle)
  assert.equal(set.get('a'), undefined)
  assert.equal(set.getOrCreate('b'), b)
  clock.advance(1000)
  const a3 = set.getOrCreate('a') // evicts b
  assert.ok(!a3.isSameBreaker(a2), 'a new breaker, not the evicted one')
  assert.equal(set.size, 1)
})
