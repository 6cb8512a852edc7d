'use strict'
// The error a rejection hands out: built without a stack (it is the cost of
// a rejection), yet the same fields, `instanceof` and text as an Error.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { CircuitBreaker, ManualClock, CircuitOpenError, FuseboxError } = require('fusebox')

function openBreaker (options = {}) {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ name: 'pay', clock, consecutiveFailures: 1, openTimeoutMs: 2000, ...options })
  b.tryAcquire().failure()
  clock.advance(250)
  return b
}

test('fire() rejects with a CircuitOpenError that reads like one', async () => {
  const b = openBreaker()
  const e = await b.fire(async () => 1).then(() => assert.fail('admitted'), (x) => x)
  assert.ok(e instanceof CircuitOpenError)
  assert.ok(e instanceof FuseboxError)
  assert.ok(e instanceof Error)
  assert.equal(e.constructor, CircuitOpenError)
  assert.equal(e.name, 'CircuitOpenError')
  assert.deepEqual({ ...e }, { code: 'EFUSEBOXOPEN', breaker: 'pay', reason: 'open', retryAfterMs: 1750 })
  assert.equal(e.message, 'circuit breaker "pay" is open; retry after 1750 ms')
  assert.equal(String(e), `CircuitOpenError: ${e.message}`)
  assert.equal(e.stack, `CircuitOpenError: ${e.message}`)
  // As a stackless Error shows: in brackets.
  assert.match(util.inspect(e), /^\[CircuitOpenError: circuit breaker "pay" is open; retry after 1750 ms\]/)
  assert.match(util.inspect(e), /code: 'EFUSEBOXOPEN'/)
  await assert.rejects(b.fire(async () => 1), CircuitOpenError)
  await assert.rejects(b.fire(async () => 1), /"pay" is open/)
  await assert.rejects(b.fire(async () => 1), { code: 'EFUSEBOXOPEN', reason: 'open', retryAfterMs: 1750 })
})

test('call(), tryAcquire()\'s reject event and forced open give the same error', () => {
  const b = openBreaker()
  const seen = []
  b.on('reject', (e) => seen.push(e))
  assert.equal(b.tryAcquire(), null)
  assert.throws(() => b.call(() => 1), (e) => e instanceof CircuitOpenError && e.retryAfterMs === 1750)
  b.forceOpen()
  assert.throws(() => b.call(() => 1), { reason: 'forcedOpen', retryAfterMs: null, message: 'circuit breaker "pay" is forced open' })
  assert.equal(seen.length, 3)
  assert.ok(seen.every((e) => e instanceof CircuitOpenError))
  assert.equal(seen[2].reason, 'forcedOpen')
})

test('each rejection gets an error of its own', async () => {
  const b = openBreaker()
  const one = await b.fire(async () => 1).catch((e) => e)
  const two = await b.fire(async () => 1).catch((e) => e)
  assert.notEqual(one, two)
  one.note = 'mine'
  assert.equal(two.note, undefined)
})

test('with a fallback, a rejection throws nothing: the fallback answers with the error as its cause', async () => {
  const causes = []
  const b = openBreaker({ fallback: (cause, x) => { causes.push(cause); return `cached ${x}` } })
  let ran = false
  assert.equal(await b.fire(async () => { ran = true }, 'a'), 'cached a')
  assert.equal(ran, false)
  assert.ok(causes[0] instanceof CircuitOpenError)
  assert.equal(causes[0].retryAfterMs, 1750)
})

test('new CircuitOpenError() is still a real Error with a stack', () => {
  const e = new CircuitOpenError('db', 'halfOpenFull', null)
  assert.ok(util.types.isNativeError(e))
  assert.equal(e.message, 'circuit breaker "db" is half-open and every probe slot is taken')
  assert.match(e.stack, /^CircuitOpenError: circuit breaker "db"[^\n]*\n\s+at /)
  assert.equal(e.code, 'EFUSEBOXOPEN')
})
