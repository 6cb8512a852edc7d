'use strict'
// worker_threads share one breaker by name (the process-wide registry of the
// Rust core): counts from every thread add up exactly, and a state change
// made in one thread is seen by all, and raises events in every thread
// that listens.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { once } = require('node:events')
const { Worker } = require('node:worker_threads')
const { CircuitBreaker } = require('fusebox')

const WORKERS = 4
const CALLS = 20000

test('worker threads share one breaker with exact counts', async () => {
  const name = `workers-${process.pid}-${Date.now()}`
  // Failure-rate tripping off in practice (1 in 4 calls fails), no run of
  // failures: the breaker stays closed and every call is admitted.
  const main = CircuitBreaker.shared(name, { consecutiveFailures: null, failureRateThreshold: 1 })
  const workers = []
  const exits = []
  for (let id = 0; id < WORKERS; id++) {
    const w = new Worker(path.join(__dirname, 'fixtures', 'worker.js'), { workerData: { name, calls: CALLS, id } })
    exits.push(once(w, 'exit'))
    workers.push(w)
  }
  const first = await Promise.all(workers.map((w) => once(w, 'message').then(([m]) => m)))
  for (const m of first) {
    assert.equal(m.found, true, 'the worker finds the name in the registry')
    assert.equal(m.ok + m.failed, CALLS)
  }
  const ok = first.reduce((n, m) => n + m.ok, 0)
  const failed = first.reduce((n, m) => n + m.failed, 0)
  const s = main.stats
  assert.equal(s.successes, ok)
  assert.equal(s.failures, failed)
  assert.equal(s.calls, WORKERS * CALLS)
  assert.equal(s.rejected, 0)
  assert.equal(main.state, 'closed')

  // One thread forces it open; every thread sees it at once.
  main.forceOpen()
  const second = workers.map((w) => once(w, 'message').then(([m]) => m))
  for (const w of workers) w.postMessage('look')
  for (const m of await Promise.all(second)) {
    assert.deepEqual(m, {
      state: 'open',
      phase: 'forcedOpen',
      admitted: false,
      why: { reason: 'forcedOpen', retryAfterMs: null },
      event: { from: 'closed', to: 'forcedOpen', name }
    })
  }
  assert.equal(main.stats.rejected, WORKERS)
  for (const [code] of await Promise.all(exits)) assert.equal(code, 0)
})

test('the addon loads in a worker that exits and in one that comes after', async () => {
  for (let i = 0; i < 3; i++) {
    const w = new Worker(`
      const { CircuitBreaker } = require('fusebox')
      const b = new CircuitBreaker({ consecutiveFailures: 1 })
      b.on('open', () => {})
      b.tryAcquire().failure()
      require('node:worker_threads').parentPort.postMessage(b.state)
    `, { eval: true })
    const exit = once(w, 'exit')
    const [state] = await once(w, 'message')
    assert.equal(state, 'open')
    const [code] = await exit
    assert.equal(code, 0)
  }
})
