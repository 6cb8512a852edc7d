'use strict'
// The API's shape: defaults, permits, manual control, errors, slow calls.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const {
  CircuitBreaker, ManualClock, CircuitOpenError, FuseboxError, CallTimeoutError, registry,
  defaultClassify, STATES
} = require('fusebox')

test('defaults are the documented ones', () => {
  const b = new CircuitBreaker()
  assert.deepEqual({ ...b.options }, {
    name: 'breaker',
    failureRateThreshold: 0.5,
    consecutiveFailures: 5,
    minCalls: 10,
    windowMs: 10000,
    windowBuckets: 10,
    openTimeoutMs: 30000,
    backoff: null,
    jitter: 0,
    halfOpenMaxCalls: 3,
    successThreshold: 3,
    halfOpenMaxWaitMs: 60000,
    slowCallMs: null,
    slowCallRateThreshold: 1,
    maxOpenForMs: 300000,
    cancellation: 'slowIfOverdue',
    timeoutMs: null
  })
  assert.equal(b.state, 'closed')
  assert.equal(b.phase, 'closed')
  assert.deepEqual(STATES, ['closed', 'open', 'halfOpen'])
})

test('options are passed to the core', () => {
  const b = new CircuitBreaker({
    name: 'n',
    consecutiveFailures: null,
    countWindow: 50,
    openTimeoutMs: 1500,
    backoff: { multiplier: 2, maxMs: 6000 },
    slowCallMs: 250,
    timeoutMs: 99
  })
  const o = b.options
  assert.equal(o.name, 'n')
  assert.equal(b.name, 'n')
  assert.equal(o.consecutiveFailures, null)
  assert.equal(o.countWindow, 50)
  assert.equal(o.windowMs, undefined)
  assert.equal(o.openTimeoutMs, 1500)
  assert.deepEqual({ ...o.backoff }, { multiplier: 2, maxMs: 6000 })
  assert.equal(o.slowCallMs, 250)
  assert.equal(o.timeoutMs, 99)
})

test('a permit reports once; later reports throw and count nothing', () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  const p = b.tryAcquire()
  assert.equal(p.probe, false)
  assert.equal(p.pending, true)
  assert.equal(p.failure(), true)
  assert.equal(p.pending, false)
  const used = { code: 'ERR_FUSEBOX_PERMIT_USED', message: /already been given an outcome/ }
  assert.throws(() => p.success(), used)
  assert.throws(() => p.failure(), used)
  assert.throws(() => p.ignore(), used)
  assert.throws(() => p.release(), used)
  assert.throws(() => p.success(5), used)
  const s = b.stats
  assert.equal(s.failures, 1)
  assert.equal(s.successes, 0)
  assert.equal(s.calls, 1)
})

test('call() returns the value, passes arguments, counts throws as failures', () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), consecutiveFailures: null })
  assert.equal(b.call((a, c) => a * c, 6, 7), 42)
  const boom = new Error('boom')
  assert.throws(() => b.call(() => { throw boom }), (e) => e === boom)
  const notFound = Object.assign(new Error('404'), { statusCode: 404 })
  assert.throws(() => b.call(() => { throw notFound }), (e) => e === notFound)
  const s = b.stats
  assert.deepEqual([s.successes, s.failures, s.ignored], [1, 1, 1])
})

test('classify decides what a thrown error counts as', () => {
  const b = new CircuitBreaker({
    clock: new ManualClock(),
    classify: (e) => (e.message === 'fine' ? 'success' : e.message === 'meh' ? 'ignored' : 'failure')
  })
  for (const m of ['fine', 'meh', 'bad']) assert.throws(() => b.call(() => { throw new Error(m) }))
  // A classifier that throws, or answers nonsense, counts a failure.
  const c = new CircuitBreaker({ clock: new ManualClock(), classify: () => { throw new Error('oops') } })
  assert.throws(() => c.call(() => { throw new Error('x') }), /x/)
  const d = new CircuitBreaker({ clock: new ManualClock(), classify: () => 'whatever' })
  assert.throws(() => d.call(() => { throw new Error('y') }), /y/)
  assert.deepEqual([b.stats.successes, b.stats.ignored, b.stats.failures], [1, 1, 1])
  assert.equal(c.stats.failures, 1)
  assert.equal(d.stats.failures, 1)
  assert.equal(defaultClassify({ status: 503 }), 'failure')
  assert.equal(defaultClassify({ status: 429 }), 'ignored')
  assert.equal(defaultClassify(null), 'failure')
})

test('rejections: CircuitOpenError with code, reason and retryAfterMs; tryAcquire returns null', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ name: 'svc', clock, consecutiveFailures: 1, openTimeoutMs: 2000 })
  assert.equal(b.lastRejection, null)
  assert.throws(() => b.call(() => { throw new Error('down') }))
  assert.equal(b.state, 'open')
  clock.advance(500)
  assert.equal(b.tryAcquire(), null)
  assert.deepEqual(b.lastRejection, { reason: 'open', retryAfterMs: 1500 })
  let ran = false
  const err = (() => { try { b.call(() => { ran = true }) } catch (e) { return e } })()
  assert.equal(ran, false)
  assert.ok(err instanceof CircuitOpenError)
  assert.ok(err instanceof FuseboxError)
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'CircuitOpenError')
  assert.equal(err.code, 'EFUSEBOXOPEN')
  assert.equal(err.reason, 'open')
  assert.equal(err.retryAfterMs, 1500)
  assert.equal(err.breaker, 'svc')
  assert.match(err.message, /"svc" is open; retry after 1500 ms/)
  assert.equal(b.stats.rejected, 2)
})

test('forceOpen, disable, reset and the phase', () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), consecutiveFailures: 2 })
  b.forceOpen()
  assert.equal(b.state, 'open')
  assert.equal(b.phase, 'forcedOpen')
  assert.equal(b.tryAcquire(), null)
  assert.deepEqual(b.lastRejection, { reason: 'forcedOpen', retryAfterMs: null })
  b.reset()
  assert.equal(b.phase, 'closed')
  b.disable()
  assert.equal(b.state, 'closed')
  assert.equal(b.phase, 'disabled')
  for (let i = 0; i < 10; i++) b.tryAcquire().failure()
  assert.equal(b.state, 'closed')
  assert.equal(b.stats.failures, 10)
  b.reset()
  b.tryAcquire().failure()
  b.tryAcquire().failure()
  assert.equal(b.state, 'open')
  assert.equal(b.stats.stateChanges, 5)
})

test('half-open: probes are flagged, slots are limited, released slots come back', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 100, halfOpenMaxCalls: 2, successThreshold: 2 })
  b.tryAcquire().failure()
  clock.advance(100)
  const p1 = b.tryAcquire()
  const p2 = b.tryAcquire()
  assert.equal(b.state, 'halfOpen')
  assert.equal(p1.probe, true)
  assert.equal(p2.probe, true)
  assert.equal(b.tryAcquire(), null)
  assert.deepEqual(b.lastRejection, { reason: 'halfOpenFull', retryAfterMs: null })
  p2.release()
  const p3 = b.tryAcquire()
  assert.equal(p3.probe, true)
  p1.success()
  p3.success()
  assert.equal(b.state, 'closed')
})

test('slow calls: the duration is measured on the breaker\'s clock', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, slowCallMs: 100, slowCallRateThreshold: 1, minCalls: 2, consecutiveFailures: null })
  const p = b.tryAcquire()
  clock.advance(150)
  p.success()
  assert.equal(b.stats.slow, 1)
  const q = b.tryAcquire()
  clock.advance(50)
  q.success()
  assert.equal(b.stats.slow, 1)
  // call(): the clock moves during the call.
  b.call(() => clock.advance(101))
  assert.equal(b.stats.slow, 2)
  // An explicit duration wins over the clock.
  b.tryAcquire().success(5)
  b.tryAcquire().success(500)
  assert.equal(b.stats.slow, 3)
  assert.equal(b.state, 'closed')
})

test('the generation is read right across the 32-bit halves of the state word', () => {
  // Hundreds of transitions move the generation's bits into the high half
  // of the word the JS fast path reads; permits must still count.
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 1, halfOpenMaxCalls: 1, successThreshold: 1 })
  for (let i = 0; i < 700; i++) {
    b.tryAcquire().failure() // closed → open
    clock.advance(1)
    b.tryAcquire().success() // open → half-open → closed
  }
  const s = b.stats
  assert.equal(s.generation, 2100)
  assert.equal(s.failures, 700)
  assert.equal(s.successes, 700)
  const p = b.tryAcquire()
  p.success()
  assert.equal(b.stats.successes, 701)
  assert.equal(b.stats.window.calls, 1, 'the last success counted in the current generation')
})

test('the shared registry: one breaker per name', () => {
  const name = `api-test-${process.pid}`
  const a = CircuitBreaker.shared(name, { minCalls: 3 })
  const b = registry.get(name, { minCalls: 99 })
  assert.ok(a.isSameBreaker(b))
  assert.equal(b.options.minCalls, 3, 'an existing breaker keeps its options')
  assert.ok(registry.names().includes(name))
  assert.ok(registry.find(name).isSameBreaker(a))
  a.tryAcquire().success()
  assert.equal(b.stats.successes, 1)
  assert.equal(registry.remove(name), true)
  assert.equal(registry.find(name), undefined)
  assert.equal(registry.remove(name), false)
  a.tryAcquire().success()
  assert.equal(a.stats.successes, 2, 'a removed breaker keeps working for its holders')
  assert.ok(!a.isSameBreaker(new CircuitBreaker()))
})

test('CallTimeoutError is a FuseboxError with a code', () => {
  const e = new CallTimeoutError('x', 5)
  assert.ok(e instanceof FuseboxError)
  assert.equal(e.code, 'EFUSEBOXTIMEOUT')
  assert.equal(e.name, 'CallTimeoutError')
})

test('index.d.ts declares what index.js exports, and the class members', () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const dts = fs.readFileSync(path.join(path.dirname(require.resolve('fusebox/package.json')), 'index.d.ts'), 'utf8')
  const declared = [...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort()
  const lib = require('fusebox')
  assert.deepEqual(declared, Object.keys(lib).sort())
  // Members of CircuitBreaker and Permit declared in the types exist at runtime.
  for (const [cls, Ctor] of [['CircuitBreaker', lib.CircuitBreaker], ['Permit', lib.Permit], ['ManualClock', lib.ManualClock]]) {
    const body = dts.slice(dts.indexOf(`export declare class ${cls} `))
    const block = body.slice(0, body.indexOf('\n}\n'))
    const members = [...block.matchAll(/^ {2}(?:static |readonly )?(\w+)\s*[(<:]/gm)].map((m) => m[1])
      .filter((m) => m !== 'constructor')
    assert.ok(members.length >= 2, `${cls}: ${members}`)
    for (const m of members) {
      const has = block.includes(`static ${m}`) ? m in Ctor : m in Ctor.prototype
      assert.ok(has, `${cls}.${m} is declared but missing`)
    }
  }
})

test('a probe permit that is collected unreported gives its slot back', () => {
  const { spawnSync } = require('node:child_process')
  const script = `
    const { CircuitBreaker, ManualClock } = require('fusebox')
    const clock = new ManualClock()
    const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 10, halfOpenMaxCalls: 1, successThreshold: 1 })
    b.tryAcquire().failure()
    clock.advance(10)
    ;(() => { if (!b.tryAcquire().probe) throw new Error('not a probe') })() // forgotten
    const before = b.tryAcquire() === null ? b.lastRejection.reason : 'admitted'
    globalThis.gc()
    setTimeout(() => {
      globalThis.gc()
      setTimeout(() => {
        const p = b.tryAcquire()
        console.log(before, p === null ? 'still full' : p.probe ? 'probe' : 'not a probe')
      }, 10)
    }, 10)
  `
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    timeout: 20000, encoding: 'utf8', env: process.env, cwd: __dirname
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'halfOpenFull probe')
})

test('rejections through the fast path (Open, ForcedOpen) carry the core\'s retry-after to the nanosecond and are counted', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 2000, halfOpenMaxCalls: 1, successThreshold: 1 })
  b.tryAcquire().failure()
  assert.equal(b.state, 'open')
  let rejected = 0
  for (let i = 0; i < 1000; i++) {
    assert.equal(b.tryAcquire(), null)
    rejected++
  }
  assert.deepEqual(b.lastRejection, { reason: 'open', retryAfterMs: 2000 })
  clock.advance(123.456789) // ns precision
  assert.equal(b.tryAcquire(), null)
  rejected++
  assert.equal(b.lastRejection.retryAfterMs, 1876.543211)
  clock.advance(1876.543210) // 1 ns before the deadline
  assert.equal(b.tryAcquire(), null)
  rejected++
  assert.deepEqual(b.lastRejection, { reason: 'open', retryAfterMs: 0.000001 })
  clock.advance(0.000001) // at the deadline: the core moves to half-open
  const probe = b.tryAcquire()
  assert.ok(probe !== null && probe.probe)
  assert.equal(b.state, 'halfOpen')
  probe.failure() // re-opens: a new generation, a new deadline
  assert.equal(b.state, 'open')
  clock.advance(500)
  assert.equal(b.tryAcquire(), null)
  rejected++
  assert.deepEqual(b.lastRejection, { reason: 'open', retryAfterMs: 1500 })
  b.forceOpen()
  for (let i = 0; i < 10; i++) {
    assert.equal(b.tryAcquire(), null)
    rejected++
  }
  assert.deepEqual(b.lastRejection, { reason: 'forcedOpen', retryAfterMs: null })
  assert.equal(b.stats.rejected, rejected)
  b.reset()
  assert.ok(b.tryAcquire() !== null)

  // On the system clock: its recent time, refreshed every millisecond by a
  // thread, which a busy machine can starve for a while (the deadline is set
  // on the precise time, so the retry-after may exceed the open timeout by
  // that lag, in the core as here).
  const s = new CircuitBreaker({ consecutiveFailures: 1, openTimeoutMs: 60_000 })
  s.tryAcquire().failure()
  for (let i = 0; i < 100; i++) assert.equal(s.tryAcquire(), null)
  const r = s.lastRejection
  assert.equal(r.reason, 'open')
  assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 120_000, `retryAfterMs ${r.retryAfterMs}`)
  assert.equal(s.stats.rejected, 100)
})
