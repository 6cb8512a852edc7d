'use strict'
// Events: transitions ('open', 'halfOpen', 'close', 'stateChange') come from
// the core's event thread through a thread-safe function; 'reject' is
// emitted synchronously.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { once } = require('node:events')
const { spawnSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { CircuitBreaker, ManualClock, CircuitOpenError, flushEvents } = require('fusebox')

function within (promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms) })
  ]).finally(() => clearTimeout(timer))
}

test('transitions are delivered in order, with their details', async () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ name: 'ev', clock, consecutiveFailures: 2, openTimeoutMs: 1000, halfOpenMaxCalls: 1, successThreshold: 1 })
  const seen = []
  b.on('stateChange', (e) => seen.push(e))
  const opened = once(b, 'open')
  b.tryAcquire().failure()
  b.tryAcquire().failure()
  const [open] = await within(opened, 5000, "'open'")
  assert.deepEqual(open, { name: 'ev', from: 'closed', to: 'open', state: 'open', generation: 1 })

  const halfOpened = once(b, 'halfOpen')
  const closed = once(b, 'close')
  clock.advance(1000)
  b.tryAcquire().success()
  const [half] = await within(halfOpened, 5000, "'halfOpen'")
  const [close] = await within(closed, 5000, "'close'")
  assert.equal(half.from, 'open')
  assert.equal(close.from, 'halfOpen')
  assert.equal(close.state, 'closed')
  assert.deepEqual(seen.map((e) => `${e.from}>${e.to}`), ['closed>open', 'open>halfOpen', 'halfOpen>closed'])
})

test('manual control raises events with the phase', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  const seen = []
  b.on('stateChange', (e) => seen.push(e.to))
  const opened = once(b, 'open')
  b.forceOpen()
  const [e] = await within(opened, 5000, "'open'")
  assert.equal(e.to, 'forcedOpen')
  assert.equal(e.state, 'open')
  const closed = once(b, 'close')
  b.reset()
  await within(closed, 5000, "'close'")
  assert.deepEqual(seen, ['forcedOpen', 'closed'])
})

test('\'reject\' is emitted synchronously with the CircuitOpenError', () => {
  const b = new CircuitBreaker({ name: 'rj', clock: new ManualClock() })
  const got = []
  b.on('reject', (e) => got.push(e))
  b.forceOpen()
  assert.equal(b.tryAcquire(), null)
  assert.throws(() => b.call(() => 1), CircuitOpenError)
  assert.equal(got.length, 2)
  assert.ok(got[0] instanceof CircuitOpenError)
  assert.equal(got[0].reason, 'forcedOpen')
  assert.equal(got[0].breaker, 'rj')
  b.removeAllListeners('reject')
  assert.equal(b.tryAcquire(), null)
  assert.equal(got.length, 2, 'no listener, no event')
})

test('without listeners, nothing is delivered', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), consecutiveFailures: 1 })
  let n = 0
  const count = () => { n++ }
  b.on('open', count)
  b.off('open', count)
  b.on('close', count)
  b.removeAllListeners()
  b.tryAcquire().failure()
  assert.ok(flushEvents(5000))
  await sleep(50)
  assert.equal(n, 0)
  // And listening again works (the native listener is reused).
  const closed = once(b, 'close')
  b.reset()
  await within(closed, 5000, "'close'")
})

test('listeners do not keep the process alive', () => {
  const script = `
    const { CircuitBreaker } = require('fusebox')
    const b = new CircuitBreaker({ consecutiveFailures: 1 })
    b.on('open', () => console.log('open'))
    b.on('close', () => {})
    b.tryAcquire().failure()
  `
  const r = spawnSync(process.execPath, ['-e', script], {
    timeout: 20000,
    encoding: 'utf8',
    env: process.env,
    cwd: __dirname
  })
  assert.equal(r.error, undefined, 'the child did not exit by itself')
  assert.equal(r.status, 0, r.stderr)
})

test('each worker-thread handle of a shared breaker gets its own events', async () => {
  // (Across threads: see workers.test.js; here, two handles in one thread.)
  const name = `events-shared-${process.pid}`
  const a = CircuitBreaker.shared(name, { consecutiveFailures: 1 })
  const b = CircuitBreaker.shared(name)
  const pa = once(a, 'open')
  const pb = once(b, 'open')
  a.tryAcquire().failure()
  await within(Promise.all([pa, pb]), 5000, "'open' on both handles")
  assert.equal(b.state, 'open')
})

test('a breaker nobody holds is collected even while listened to', () => {
  const script = `
    const { CircuitBreaker } = require('fusebox')
    let ref
    ;(() => {
      const b = new CircuitBreaker()
      b.on('open', () => {})
      b.on('stateChange', () => {})
      ref = new WeakRef(b)
    })()
    setTimeout(() => {
      globalThis.gc()
      setTimeout(() => {
        globalThis.gc()
        console.log(ref.deref() === undefined ? 'collected' : 'alive')
      }, 10)
    }, 10)
  `
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    timeout: 20000, encoding: 'utf8', env: process.env, cwd: __dirname
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'collected')
})
