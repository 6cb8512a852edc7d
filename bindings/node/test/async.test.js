'use strict'
// fire(): promises, rejections counted, timeouts.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const { CircuitBreaker, ManualClock, CircuitOpenError, CallTimeoutError } = require('fusebox')

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

test('fire() resolves with the value and passes the arguments', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  assert.equal(await b.fire(async (a, c) => a + c, 2, 3), 5)
  assert.equal(await b.fire((x) => x * 2, 4), 8, 'a sync function works too')
  assert.equal(await b.fire(() => ({ then: (r) => r('thenable') })), 'thenable')
  assert.equal(b.stats.successes, 3)
})

test('async rejections are counted as failures and passed on unchanged', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), consecutiveFailures: null })
  const errors = []
  for (let i = 0; i < 7; i++) {
    const e = new Error(`e${i}`)
    errors.push(e)
    await assert.rejects(b.fire(async () => { await sleep(1); throw e }), (got) => got === e)
  }
  // A synchronous throw inside fire() is a rejection too, not a throw.
  const sync = new Error('sync')
  const p = b.fire(() => { throw sync })
  assert.ok(p instanceof Promise)
  await assert.rejects(p, (got) => got === sync)
  await assert.rejects(b.fire(async () => { throw Object.assign(new Error('404'), { status: 404 }) }))
  const s = b.stats
  assert.equal(s.failures, 8)
  assert.equal(s.ignored, 1)
  assert.equal(s.successes, 0)
})

test('concurrent fire() calls are each counted once', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), consecutiveFailures: null, failureRateThreshold: 1 })
  const runs = []
  for (let i = 0; i < 200; i++) {
    runs.push(b.fire(async () => {
      await sleep(i % 5)
      if (i % 4 === 0) throw new Error('x')
      return i
    }).catch(() => -1))
  }
  const got = await Promise.all(runs)
  assert.equal(got.filter((v) => v === -1).length, 50)
  const s = b.stats
  assert.equal(s.successes, 150)
  assert.equal(s.failures, 50)
})

test('the call that trips opens the breaker; the next fire() is rejected without running', async () => {
  const b = new CircuitBreaker({ name: 'a', clock: new ManualClock(), consecutiveFailures: 3 })
  for (let i = 0; i < 3; i++) await b.fire(async () => { throw new Error('down') }).catch(() => {})
  assert.equal(b.state, 'open')
  let ran = false
  const err = await b.fire(async () => { ran = true }).catch((e) => e)
  assert.equal(ran, false)
  assert.ok(err instanceof CircuitOpenError)
  assert.equal(err.code, 'EFUSEBOXOPEN')
  assert.equal(err.retryAfterMs, 30000)
})

test('no timer is set when there is no timeout', async () => {
  const b = new CircuitBreaker()
  const before = timers()
  let release
  const p = b.fire(() => new Promise((resolve) => { release = resolve }))
  assert.equal(timers(), before)
  release(1)
  assert.equal(await p, 1)
})

test('a per-call timeout rejects with CallTimeoutError and counts a failure', async () => {
  const b = new CircuitBreaker({ consecutiveFailures: null })
  const before = timers()
  let late
  const p = b.fireWithTimeout(20, () => new Promise((resolve) => { late = resolve }))
  assert.equal(timers(), before + 1)
  const err = await p.catch((e) => e)
  assert.ok(err instanceof CallTimeoutError)
  assert.equal(err.code, 'EFUSEBOXTIMEOUT')
  assert.equal(err.timeoutMs, 20)
  late('too late') // settles after the timeout: not counted again
  await sleep(5)
  assert.equal(b.stats.failures, 1)
  assert.equal(b.stats.successes, 0)
  // In time: the value, one success, the timer cleared.
  assert.equal(await b.fireWithTimeout(1000, async () => 'quick'), 'quick')
  assert.equal(timers(), before)
  assert.equal(b.stats.successes, 1)
})

test('a breaker-wide timeoutMs applies to every fire()', async () => {
  const b = new CircuitBreaker({ timeoutMs: 15, consecutiveFailures: null })
  await assert.rejects(b.fire(() => sleep(200)), CallTimeoutError)
  assert.equal(await b.fire(async () => 3), 3)
  const boom = new Error('boom')
  await assert.rejects(b.fire(async () => { throw boom }), (e) => e === boom)
  assert.deepEqual([b.stats.failures, b.stats.successes], [2, 1])
})

test('wrap() makes a function that goes through the breaker', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  async function getUser (id) { return { id } }
  const get = b.wrap(getUser)
  assert.equal(get.name, 'getUser')
  assert.deepEqual(await get(7), { id: 7 })
  assert.equal(b.stats.successes, 1)
})
