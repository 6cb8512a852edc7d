'use strict'
// Successes are handed to the core in batches (src/hot.rs): a success of the
// open batch's permit token is only counted in JS, and the core records the
// batch before anything else this thread asks of a breaker or a clock, when
// it holds `batchMax` (64) successes, at the end of the current run of
// microtasks, and when the thread ends. These tests check each of those,
// and that the core sees this thread's outcomes in the order they happened.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { once } = require('node:events')
const { Worker } = require('node:worker_threads')
const { CircuitBreaker, ManualClock } = require('fusebox')

const BATCH_MAX = 64

test('a success held back counts before a failure that follows it', () => {
  // Rate tripping only: 2 successes and 2 failures in the window is a rate
  // of 0.5, under 0.6; the failures alone would be 1.0.
  const b = new CircuitBreaker({
    clock: new ManualClock(), consecutiveFailures: null, failureRateThreshold: 0.6, minCalls: 4
  })
  b.tryAcquire().success() // recorded, opens the batch
  b.tryAcquire().success() // held back
  b.tryAcquire().failure() // the batch first, then this failure
  b.tryAcquire().failure()
  assert.equal(b.state, 'closed')
  assert.equal(b.stats.window.calls, 4)
  assert.equal(b.stats.window.failures, 2)
})

test('moving the clock records the batch first: held-back successes leave the window on time', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({
    clock, consecutiveFailures: null, failureRateThreshold: 0.5, minCalls: 4, windowMs: 1000, windowBuckets: 10
  })
  for (let i = 0; i < 10; i++) b.tryAcquire().success()
  // Reported before time moved: they are a window old after this.
  clock.advance(2000)
  for (let i = 0; i < 4; i++) b.tryAcquire().failure()
  assert.equal(b.state, 'open', 'the failures are alone in the window')
  assert.equal(b.stats.successes, 10)
})

test('stats, forceOpen and reset see every success of this thread', async () => {
  const b = new CircuitBreaker({ clock: new ManualClock() })
  let n = 0
  for (let i = 0; i < 1000; i++) {
    b.tryAcquire().success()
    n++
    if (i % 7 === 0) {
      assert.equal(await b.fire(async () => i), i)
      n++
    }
    if (i % 97 === 0) assert.equal(b.stats.successes, n)
  }
  assert.equal(b.stats.successes, n)
  b.call(() => 1)
  b.forceOpen()
  assert.equal(b.stats.successes, n + 1)
  assert.equal(b.stats.window.calls, 0, 'forcing open starts a new generation')
})

test('a batch is recorded when this run of microtasks ends', async () => {
  const b = CircuitBreaker.shared(`batch-tick-${process.pid}`, {})
  for (let i = 0; i < 10; i++) b.tryAcquire().success()
  // The batch is in this thread's hands until the run of microtasks ends;
  // after it, another thread must see every success without our help.
  await new Promise((resolve) => setImmediate(resolve))
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const { registry } = require('fusebox')
    parentPort.postMessage(registry.find(workerData).stats.successes)
  `, { eval: true, workerData: b.name })
  const [seen] = await once(w, 'message')
  assert.equal(seen, 10)
})

test('no more than batchMax successes are ever held back', async () => {
  const name = `batch-max-${process.pid}`
  const b = CircuitBreaker.shared(name, {})
  const flag = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(`
    const { parentPort, workerData: { name, flag } } = require('node:worker_threads')
    const { registry } = require('fusebox')
    const b = registry.find(name)
    const seen = []
    // Each time the main thread stops (flag[1] = 1, flag[0] = successes so
    // far), look, and let it go on.
    for (let k = 1; k <= 5; k++) {
      Atomics.wait(flag, 1, 0)
      seen.push([Atomics.load(flag, 0), b.stats.successes])
      Atomics.store(flag, 1, 0)
      Atomics.notify(flag, 1)
    }
    parentPort.postMessage(seen)
  `, { eval: true, workerData: { name, flag } })
  await once(w, 'online')
  let n = 0
  for (const k of [1, 2, 65, 66, 500]) {
    // All in one run of microtasks: no end-of-run flush comes between.
    while (n < k) { b.tryAcquire().success(); n++ }
    Atomics.store(flag, 0, n)
    Atomics.store(flag, 1, 1)
    Atomics.notify(flag, 1)
    Atomics.wait(flag, 1, 1) // until the worker has looked
  }
  const [seen] = await once(w, 'message')
  for (const [k, successes] of seen) {
    assert.ok(successes <= k, `${successes} recorded of ${k}`)
    assert.ok(successes >= k - BATCH_MAX, `${successes} recorded of ${k}: more than ${BATCH_MAX} held back`)
  }
  // The first success opens the batch (recorded); the 66th finds it full.
  assert.deepEqual(seen.slice(0, 4), [[1, 1], [2, 1], [65, 1], [66, 66]])
  assert.equal(b.stats.successes, 500)
})

test('successes held back by a thread that ends are recorded', async () => {
  const name = `batch-exit-${process.pid}`
  const b = CircuitBreaker.shared(name, {})
  const runs = []
  for (let i = 0; i < 4; i++) {
    const w = new Worker(`
      const { workerData: name } = require('node:worker_threads')
      const { CircuitBreaker } = require('fusebox')
      const b = CircuitBreaker.shared(name)
      for (let i = 0; i < 1001; i++) b.tryAcquire().success()
      b.fire(async () => 1)
      // The thread ends with a batch open and successes held back.
    `, { eval: true, workerData: name })
    runs.push(once(w, 'exit'))
  }
  for (const [code] of await Promise.all(runs)) assert.equal(code, 0)
  assert.equal(b.stats.successes, 4 * 1002)
})

test('successes of another token are not held back in the batch', () => {
  const clock = new ManualClock()
  const b = new CircuitBreaker({ clock, consecutiveFailures: 1, openTimeoutMs: 1000, successThreshold: 2 })
  const old = b.tryAcquire()
  b.tryAcquire().success() // opens a batch for the Closed generation
  b.tryAcquire().failure() // opens the breaker
  clock.advance(1000)
  const p1 = b.tryAcquire()
  const p2 = b.tryAcquire()
  assert.equal(p1.probe, true)
  assert.equal(old.success(), true) // stale: dropped by the core
  p1.success()
  assert.equal(b.state, 'halfOpen')
  p2.success()
  assert.equal(b.state, 'closed', 'probe successes are recorded at once')
})
