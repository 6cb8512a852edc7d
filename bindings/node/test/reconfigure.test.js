'use strict'
// Live reconfiguration and snapshot/restore through the JS API
// (docs/semantics.md#live-reconfiguration, #snapshot-and-restore).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { CircuitBreaker, ManualClock, FuseboxError, registry } = require('fusebox')

test('reconfigure keeps the window and judges it at once', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, countWindow: 20, minCalls: 10, consecutiveFailures: null })
  for (let i = 0; i < 4; i++) b.tryAcquire().failure()
  assert.equal(b.state, 'closed')
  const done = b.reconfigure({ minCalls: 4, openTimeoutMs: 5000 })
  assert.deepEqual(done, { changed: ['minCalls', 'openTimeoutMs'], tripped: true })
  assert.equal(b.state, 'open')
  assert.equal(b.options.openTimeoutMs, 5000)
  assert.equal(b.options.countWindow, 20, 'the rest kept')
  assert.equal(b.stats.failures, 4)
})

test('reconfigure refuses another window and bad values, changing nothing', () => {
  const b = new CircuitBreaker({ clock: new ManualClock(), countWindow: 20 })
  const before = b.options
  assert.throws(() => b.reconfigure({ windowMs: 10000 }), (e) => e instanceof RangeError &&
    e.message.includes("time 10000 in 10 buckets (expected the breaker's own window"))
  assert.throws(() => b.reconfigure({ countWindow: 30 }), /count 30/)
  assert.throws(() => b.reconfigure({ minCalls: 0 }), /invalid option minCalls: 0/)
  assert.throws(() => b.reconfigure({ slowCallMs: 100 }), /slowCallMs/)
  assert.throws(() => b.reconfigure({ minCall: 3 }), /Unknown option "minCall"/)
  assert.throws(() => b.reconfigure(null), TypeError)
  assert.deepEqual(b.options, before)
})

test('a breaker restored from saveState stays open for the rest of its period', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ name: 'db', clock, consecutiveFailures: 1, openTimeoutMs: 60000 })
  b.tryAcquire().failure()
  clock.advance(15000)
  const text = b.saveState()
  assert.equal(JSON.parse(text).format, 'fusebox.snapshot')
  const clock2 = new ManualClock()
  const r = CircuitBreaker.restoreState(text, { elapsedMs: 5000, clock: clock2 })
  assert.equal(r.name, 'db')
  assert.equal(r.state, 'open')
  assert.equal(r.tryAcquire(), null)
  assert.equal(r.lastRejection.retryAfterMs, 40000)
  clock2.advance(40000)
  const p = r.tryAcquire()
  assert.ok(p && p.probe)
  p.release()
  assert.throws(() => CircuitBreaker.restoreState(text.slice(0, 40)), (e) =>
    e instanceof FuseboxError && e.code === 'ERR_FUSEBOX_SNAPSHOT' &&
    e.message.startsWith('snapshot is damaged or truncated: EOF while parsing'))
  assert.throws(() => CircuitBreaker.restoreState('{"format":"x","version":1}'),
    /snapshot is not a fusebox snapshot: format "x" \(expected "fusebox.snapshot"\)/)
})

test('the registry writes its breakers to a file and restores them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusebox-node-'))
  const file = path.join(dir, 'state.json')
  const name = `ops-test-${process.pid}`
  const b = registry.get(name, { consecutiveFailures: 1, openTimeoutMs: 600000 })
  b.tryAcquire().failure()
  assert.equal(registry.reconfigure(name, { consecutiveFailures: 1, openTimeoutMs: 600000, minCalls: 20 }), false)
  assert.equal(b.options.minCalls, 20)
  registry.writeState(file)
  b.reset()
  assert.ok(registry.restoreState(file, { elapsedMs: 1000 }).includes(name))
  assert.equal(b.state, 'open', 'restored open: 599 s left')
  assert.ok(registry.restoreState(file).includes(name))
  fs.writeFileSync(file, '{"format":"fusebox.snapshot","version":2,"written_at_unix_ms":0,"breakers":[]}')
  assert.throws(() => registry.restoreState(file), (e) => e.code === 'ERR_FUSEBOX_SNAPSHOT' &&
    e.message === 'snapshot version 2 is newer than this fusebox reads (up to 1)')
  assert.throws(() => registry.restoreState(path.join(dir, 'missing.json')), (e) => e.code === 'ERR_FUSEBOX_SNAPSHOT_IO')
  registry.remove(name)
  fs.rmSync(dir, { recursive: true })
})
