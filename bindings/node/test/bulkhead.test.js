'use strict'
// Bulkheads: the limit, tryAcquire(), call() and fire(), errors, adaptive
// limits on a manual clock, metrics, bad input.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const {
  Bulkhead, BulkheadPermit, BulkheadFullError, CircuitOpenError, FuseboxError, ManualClock
} = require('fusebox')

test('tryAcquire admits up to the limit, then returns null', () => {
  const b = new Bulkhead({ name: 'inventory', maxConcurrent: 2 })
  const p1 = b.tryAcquire()
  const p2 = b.tryAcquire()
  assert.ok(p1 instanceof BulkheadPermit)
  assert.equal(p2.inFlight, 2)
  assert.equal(b.inFlight, 2)
  assert.equal(b.tryAcquire(), null)
  p1.success()
  assert.equal(p1.pending, false)
  assert.throws(() => p1.failure(), { code: 'ERR_FUSEBOX_PERMIT_USED' })
  p2.release()
  assert.equal(b.inFlight, 0)
  assert.deepEqual(b.stats(), {
    name: 'inventory', limit: 2, inFlight: 0, peakInFlight: 2, rejected: 1, algorithm: null, limitUpdates: 0
  })
})

test('call() runs in a slot; a full bulkhead throws BulkheadFullError, not CircuitOpenError', () => {
  const b = new Bulkhead({ name: 'inventory', maxConcurrent: 1 })
  assert.equal(b.call((x, y) => { assert.equal(b.inFlight, 1); return x + y }, 2, 3), 5)
  assert.throws(() => b.call(() => { throw new Error('boom') }), /boom/)
  assert.equal(b.inFlight, 0, 'a throw frees the slot')
  const held = b.tryAcquire()
  let ran = false
  const err = (() => { try { b.call(() => { ran = true }) } catch (e) { return e } })()
  assert.equal(ran, false)
  assert.ok(err instanceof BulkheadFullError)
  assert.ok(err instanceof FuseboxError)
  assert.ok(!(err instanceof CircuitOpenError))
  assert.equal(err.code, 'EFUSEBOXFULL')
  assert.equal(err.name, 'BulkheadFullError')
  assert.deepEqual([err.bulkhead, err.limit, err.inFlight], ['inventory', 1, 1])
  assert.equal(err.message, 'bulkhead "inventory" is full: 1 calls in flight, limit 1')
  held.ignore()
})

test('fire() holds the slot until the promise settles', async () => {
  const b = new Bulkhead({ maxConcurrent: 1 })
  let release
  const gate = new Promise((resolve) => { release = resolve })
  const running = b.fire(async () => { await gate; return 'done' })
  assert.equal(b.inFlight, 1)
  await assert.rejects(b.fire(async () => 'never'), { code: 'EFUSEBOXFULL' })
  release()
  assert.equal(await running, 'done')
  assert.equal(b.inFlight, 0)
  await assert.rejects(b.fire(async () => { throw new Error('down') }), /down/)
  assert.equal(b.inFlight, 0)
  assert.equal(b.stats().rejected, 1)
})

test('the slow dependency holds at most its limit while another is served', async () => {
  const slow = new Bulkhead({ name: 'slow', maxConcurrent: 3 })
  const fast = new Bulkhead({ name: 'fast', maxConcurrent: 3 })
  const never = new Promise(() => {})
  const hung = []
  let refused = 0
  for (let i = 0; i < 10; i++) {
    try {
      hung.push(slow.fire(() => never))
    } catch (e) {
      refused++
    }
  }
  const results = await Promise.allSettled(hung.filter((_, i) => i >= 3))
  assert.ok(results.every((r) => r.status === 'rejected' && r.reason.code === 'EFUSEBOXFULL'))
  assert.equal(refused, 0)
  assert.equal(slow.inFlight, 3)
  assert.equal(slow.stats().peakInFlight, 3)
  for (let i = 0; i < 100; i++) assert.equal(await fast.fire(async () => i), i)
  assert.equal(fast.stats().rejected, 0)
})

test('an adaptive limit backs off on slow calls (manual clock)', () => {
  const clock = new ManualClock()
  const b = new Bulkhead({ limit: 'aimd', minLimit: 2, initialLimit: 20, maxLimit: 50, clock })
  assert.equal(b.limit, 20)
  for (let round = 0; round < 2; round++) {
    const ps = []
    for (let i = 0; i < 20; i++) ps.push(b.tryAcquire())
    clock.advance(6000) // over AIMD's 5 s timeout
    for (const p of ps) p.success()
  }
  assert.equal(b.limit, 18) // ⌊20 × 0.9⌋
  const s = b.stats()
  assert.equal(s.algorithm, 'aimd')
  assert.equal(s.limitUpdates, 1)
})

test('setLimit and the Prometheus text', () => {
  const b = new Bulkhead({ name: 'inventory', maxConcurrent: 4 })
  b.setLimit(2)
  assert.equal(b.limit, 2)
  assert.throws(() => b.setLimit(5), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', option: 'limit' })
  assert.throws(() => b.setLimit(1.5), { name: 'RangeError', option: 'limit' })
  const text = b.prometheus()
  assert.match(text, /^fusebox_bulkhead_limit\{bulkhead="inventory"\} 2$/m)
  assert.match(text, /^# TYPE fusebox_bulkhead_rejected_total counter$/m)
})

test('bad options are errors that name the option', () => {
  assert.throws(() => new Bulkhead(3), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => new Bulkhead({ maxConcurrent: '3' }), { code: 'ERR_INVALID_ARG_TYPE', message: /maxConcurrent/ })
  assert.throws(() => new Bulkhead({ maxConcurrent: 0 }), { name: 'RangeError', option: 'maxConcurrent' })
  assert.throws(() => new Bulkhead({ maxConcurrent: -1 }), { name: 'RangeError', option: 'maxConcurrent' })
  assert.throws(() => new Bulkhead({ limit: 'fast' }), { name: 'RangeError', option: 'limit' })
  assert.throws(() => new Bulkhead({ minLimit: 3 }), { name: 'RangeError', option: 'minLimit' })
  assert.throws(() => new Bulkhead({ limit: 'vegas', minLimit: 10, initialLimit: 5 }), { name: 'RangeError', option: 'initialLimit' })
  assert.throws(() => new Bulkhead({ clock: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /clock/ })
  assert.throws(() => new Bulkhead({ size: 3 }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => new Bulkhead().call(3), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a permit that is garbage-collected unreported gives its slot back', async () => {
  const v8 = require('node:v8')
  const vm = require('node:vm')
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')
  const b = new Bulkhead({ maxConcurrent: 1 })
  ;(() => { b.tryAcquire() })()
  assert.equal(b.inFlight, 1)
  for (let i = 0; i < 50 && b.inFlight !== 0; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(b.inFlight, 0)
  assert.ok(b.tryAcquire() !== null)
})
