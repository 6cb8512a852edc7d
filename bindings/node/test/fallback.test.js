'use strict'
// Fallbacks (graceful degradation) and the core's limit on them.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { CircuitBreaker, ManualClock, CircuitOpenError, registry } = require('fusebox')

test('call(): the fallback answers rejections and failures, with the cause and the arguments', () => {
  const causes = []
  const b = new CircuitBreaker({
    clock: new ManualClock(),
    consecutiveFailures: 1,
    fallback: (cause, sku) => {
      causes.push(cause)
      return `cached ${sku}`
    }
  })
  assert.equal(b.call((sku) => `fresh ${sku}`, 'a'), 'fresh a')
  assert.equal(b.call((sku) => { throw new Error(`down ${sku}`) }, 'b'), 'cached b')
  assert.equal(b.state, 'open')
  let ran = false
  assert.equal(b.call(() => { ran = true }, 'c'), 'cached c')
  assert.equal(ran, false)
  assert.equal(causes[0].message, 'down b')
  assert.ok(causes[1] instanceof CircuitOpenError)
  assert.equal(b.stats.failures, 1, 'the failure is still counted')
  assert.equal(b.stats.rejected, 1)
})

test('fire(): async fallbacks, for rejections, failures and timeouts', async () => {
  const b = new CircuitBreaker({
    consecutiveFailures: 2,
    fallback: async (cause, id) => ({ id, from: cause.code ?? cause.message })
  })
  assert.deepEqual(await b.fire(async (id) => ({ id, from: 'origin' }), 1), { id: 1, from: 'origin' })
  assert.deepEqual(await b.fire(async () => { throw new Error('boom') }, 2), { id: 2, from: 'boom' })
  assert.deepEqual(await b.fireWithTimeout(5, () => new Promise(() => {}), 3), { id: 3, from: 'EFUSEBOXTIMEOUT' })
  assert.equal(b.state, 'open')
  assert.deepEqual(await b.fire(async (id) => id, 4), { id: 4, from: 'EFUSEBOXOPEN' })
  assert.deepEqual(await b.fire(() => { throw new Error('sync') }, 5), { id: 5, from: 'EFUSEBOXOPEN' })
})

test('a fallback that throws passes its own error on', async () => {
  const oops = new Error('fallback failed too')
  const b = new CircuitBreaker({ fallback: () => { throw oops } })
  assert.throws(() => b.call(() => { throw new Error('x') }), (e) => e === oops)
  await assert.rejects(b.fire(async () => { throw new Error('y') }), (e) => e === oops)
})

test('fallbackLimit: the core\'s rate limiter lets a burst through, then the cause is rethrown', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({
    clock,
    fallback: () => 'cached',
    fallbackLimit: { perSecond: 10, burst: 3 }
  })
  b.forceOpen()
  const got = []
  for (let i = 0; i < 5; i++) {
    try { got.push(b.call(() => 'fresh')) } catch (e) { got.push(e.code) }
  }
  assert.deepEqual(got, ['cached', 'cached', 'cached', 'EFUSEBOXOPEN', 'EFUSEBOXOPEN'])
  assert.deepEqual(b.fallbackStats, { served: 3, limited: 2 })
  clock.advance(100) // one more token at 10 per second
  assert.equal(b.call(() => 'fresh'), 'cached')
  assert.throws(() => b.call(() => 'fresh'), CircuitOpenError)
  assert.deepEqual(b.fallbackStats, { served: 4, limited: 3 })
  assert.equal(new CircuitBreaker({ fallback: () => 1 }).fallbackStats, null)
})

test('bad fallback options', () => {
  assert.throws(() => new CircuitBreaker({ fallback: 'cached' }), (e) => e instanceof TypeError && /fallback/.test(e.message))
  assert.throws(() => new CircuitBreaker({ fallbackLimit: { perSecond: 1, burst: 1 } }), (e) => e instanceof TypeError && /fallback/.test(e.message))
  assert.throws(() => new CircuitBreaker({ fallback: () => 1, fallbackLimit: { perSecond: '1', burst: 1 } }), (e) => e instanceof TypeError && /fallbackLimit.perSecond/.test(e.message))
  assert.throws(() => new CircuitBreaker({ fallback: () => 1, fallbackLimit: { perSecond: 0, burst: 1 } }), (e) => e instanceof RangeError && /fallbackLimit.perSecond/.test(e.message))
  assert.throws(() => new CircuitBreaker({ fallback: () => 1, fallbackLimit: { perSecond: 5, burst: 0 } }), (e) => e instanceof RangeError && /fallbackLimit.burst/.test(e.message))
  assert.throws(() => new CircuitBreaker({ fallback: () => 1, fallbackLimit: { perSecond: 5, burst: 1.5 } }), (e) => e instanceof RangeError && /fallbackLimit.burst/.test(e.message))
})

test('the registry\'s Prometheus text names every shared breaker', () => {
  const name = `prom-${process.pid}`
  const b = CircuitBreaker.shared(name)
  b.tryAcquire().failure()
  const text = registry.prometheus()
  assert.match(text, new RegExp(`fusebox_calls_total\\{breaker="${name}",outcome="failure"\\} 1`))
  assert.match(registry.prometheusContentType, /^text\/plain; version=0\.0\.4/)
  registry.remove(name)
})
