'use strict'
// SharedRegistry: one breaker for every process on the host. Worker
// processes are real processes (child_process.fork, and cluster workers for
// the trip), each opening the registry file by its path.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const cluster = require('node:cluster')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { once } = require('node:events')
const {
  SharedRegistry, SharedManualClock, SharedRegistryError, ConfigMismatchError,
  CircuitBreaker, CircuitOpenError, ManualClock
} = require('fusebox')

const WORKER = path.join(__dirname, 'fixtures', 'shared-worker.js')
const QUIET = { consecutiveFailures: null, failureRateThreshold: 0.9 }
const KILL = { countWindow: 100, minCalls: 100, failureRateThreshold: 0.9, consecutiveFailures: null, openTimeoutMs: 10000 }

/** A fresh folder, on tmpfs when there is one (as in production). */
function folder (t) {
  const root = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const d = fs.mkdtempSync(path.join(root, 'fusebox-node-'))
  t.after(() => fs.rmSync(d, { recursive: true, force: true }))
  return d
}

/** A forked worker and a queue of its messages. */
function spawn (args) {
  const child = fork(WORKER, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const inbox = []
  const waiting = []
  child.on('message', (m) => {
    const w = waiting.shift()
    if (w) w(m)
    else inbox.push(m)
  })
  const next = () => inbox.length > 0
    ? Promise.resolve(inbox.shift())
    : new Promise((resolve) => waiting.push(resolve))
  const exit = once(child, 'exit')
  return { child, next, exit }
}

function patternCounts (n) {
  const q = Math.floor(n / 4)
  const r = n % 4
  return [2 * q + Math.min(r, 2), q + (r >= 3 ? 1 : 0), q]
}

const KIND = ['successes', 'successes', 'failures', 'ignored']

test('processes hammering one breaker add up to exact counts', async (t) => {
  const reg = path.join(folder(t), 'reg')
  const calls = 20000
  const ws = Array.from({ length: 4 }, () => spawn({ role: 'hammer', reg, calls }))
  for (const w of ws) assert.deepEqual(await w.next(), { ready: true })
  for (const w of ws) w.child.send('go')
  for (const w of ws) assert.deepEqual(await w.next(), { done: calls })
  for (const w of ws) assert.deepEqual(await w.exit, [0, null])
  const s = new SharedRegistry(reg).getOrCreate('hammer', QUIET).stats
  const [ok, fail, ign] = patternCounts(calls)
  assert.deepEqual([s.successes, s.failures, s.ignored, s.rejected], [4 * ok, 4 * fail, 4 * ign, 0])
})

test('a failing dependency opens the breaker for all four cluster workers at once', async (t) => {
  const reg = path.join(folder(t), 'reg')
  cluster.setupPrimary({ exec: WORKER, args: [JSON.stringify({ role: 'trip', reg })], silent: false })
  const workers = Array.from({ length: 4 }, () => cluster.fork())
  // Listen for the exits now: a worker that is rejected at once exits
  // before the last result is read, and an 'exit' heard by no one would
  // leave the wait below pending for ever.
  const exits = workers.map((w) => once(w, 'exit'))
  const inboxes = workers.map((w) => {
    const q = []
    const waiting = []
    w.on('message', (m) => { const r = waiting.shift(); r ? r(m) : q.push(m) })
    return () => q.length ? Promise.resolve(q.shift()) : new Promise((resolve) => waiting.push(resolve))
  })
  for (const next of inboxes) assert.deepEqual(await next(), { ready: true })
  for (const w of workers) w.send('go')
  const results = []
  for (const next of inboxes) results.push(await next())
  await Promise.all(exits)
  // Every worker was stopped by the one open breaker...
  for (const r of results) {
    assert.equal(r.reason, 'open')
    assert.equal(r.code, 'EFUSEBOXOPEN')
  }
  // ... after 5 failures in a row (the default), plus at most one call in
  // flight in each of the 3 other workers: not 4 x 5 = 20.
  const failures = results.reduce((n, r) => n + r.failures, 0)
  assert.ok(failures >= 5 && failures <= 8, `${failures} failed calls`)
  const s = new SharedRegistry(reg).get('dependency').stats
  assert.equal(s.state, 'open')
  assert.equal(s.failures, failures)
  assert.equal(s.rejected, 4)
})

test('workers killed mid-call leave exact counts and a working breaker', async (t) => {
  const dir = folder(t)
  const reg = path.join(dir, 'reg')
  const clockPath = path.join(dir, 'clock')
  const clock = new SharedManualClock(clockPath)
  const registry = new SharedRegistry(reg, { clock })
  const b = registry.getOrCreate('kill', KILL)
  const n = 6
  const victims = 3
  const calls = 3000000
  // Victims call until killed: however long this process is kept off the
  // CPU before it kills them, none can finish (and exit 0) first.
  const ws = Array.from({ length: n }, (_, k) =>
    spawn({ role: 'kill', reg, clock: clockPath, k, calls: k < victims ? Number.MAX_SAFE_INTEGER : calls }))
  // Should the test fail before the kills, no victim outlives it.
  t.after(() => { for (const w of ws) w.child.kill('SIGKILL') })
  for (const w of ws) assert.deepEqual(await w.next(), { ready: true })
  for (const w of ws) w.child.send('go')
  // No victim dies before every worker has recorded a call (the ack
  // breakers, in the shared file, say who has started): else a victim the
  // 'go' had not reached yet would die before its first call, testing
  // nothing.
  const acks = Array.from({ length: n }, (_, k) => registry.getOrCreate(`ack-${k}`, QUIET))
  for (let turn = 0; acks.some((a) => a.stats.successes === 0); turn++) {
    assert.ok(turn < 1e7, 'workers did not start')
    await new Promise((resolve) => setImmediate(resolve))
  }
  // Each victim dies at a random moment within 30 ms, in turn.
  const t0 = Date.now()
  const at = ws.slice(0, victims).map(() => 2 + Math.random() * 28).sort((a, b) => a - b)
  for (const [i, w] of ws.slice(0, victims).entries()) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + at[i] - Date.now())))
    w.child.kill('SIGKILL')
  }
  for (const w of ws.slice(0, victims)) assert.deepEqual(await w.exit, [null, 'SIGKILL'])
  for (const w of ws.slice(victims)) {
    assert.deepEqual(await w.next(), { done: calls })
    assert.deepEqual(await w.exit, [0, null])
  }
  const acked = Array.from({ length: n }, (_, k) => registry.getOrCreate(`ack-${k}`, QUIET).stats.successes)
  assert.deepEqual(acked.slice(victims), Array(n - victims).fill(calls), "survivors' counts are exact")
  // Victims call until killed, so any count is theirs to have reached;
  // each started (checked before the kills) and was killed (above).
  assert.ok(acked.slice(0, victims).every((a) => a > 0), `victims started: ${acked}`)
  const lo = { successes: 0, failures: 0, ignored: 0 }
  for (const a of acked) {
    const [ok, fail, ign] = patternCounts(a)
    lo.successes += ok
    lo.failures += fail
    lo.ignored += ign
  }
  const hi = { ...lo }
  // Killed after recording call `a`, before acknowledging it.
  for (const a of acked.slice(0, victims)) hi[KIND[a % 4]]++
  const s = b.stats
  for (const key of ['successes', 'failures', 'ignored']) {
    assert.ok(s[key] >= lo[key] && s[key] <= hi[key], `${key}: ${s[key]} not in ${lo[key]}..${hi[key]}`)
  }
  assert.deepEqual([s.state, s.stateChanges, s.rejected], ['closed', 0, 0])

  // And it still goes through a whole cycle of transitions.
  while (b.state === 'closed') b.tryAcquire().failure()
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.reason, 'open')
  clock.advance(10000)
  const probes = [b.tryAcquire(), b.tryAcquire(), b.tryAcquire()]
  assert.ok(probes.every((p) => p !== null && p.probe))
  for (const p of probes) p.success()
  assert.equal(b.state, 'closed')
  assert.equal(b.stats.stateChanges, 3)
})

test('a probe held by a killed worker is recovered by the half-open wait limit', async (t) => {
  const dir = folder(t)
  const reg = path.join(dir, 'reg')
  const clockPath = path.join(dir, 'clock')
  const clock = new SharedManualClock(clockPath)
  const b = new SharedRegistry(reg, { clock }).getOrCreate('probe', {
    consecutiveFailures: 1, openTimeoutMs: 10000, halfOpenMaxCalls: 1, successThreshold: 1, halfOpenMaxWaitMs: 30000
  })
  b.tryAcquire().failure()
  clock.advance(10000)
  const w = spawn({ role: 'probe', reg, clock: clockPath })
  assert.deepEqual(await w.next(), { probe: true })
  w.child.kill('SIGKILL')
  await w.exit
  assert.equal(b.state, 'halfOpen')
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.reason, 'halfOpenFull')
  clock.advance(30000)
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.reason, 'open')
  assert.equal(b.lastRejection.retryAfterMs, 10000)
  clock.advance(10000)
  const p = b.tryAcquire()
  assert.ok(p !== null && p.probe)
  p.success()
  assert.equal(b.state, 'closed')
})

test('processes racing to create the file agree on one', async (t) => {
  const dir = folder(t)
  for (let round = 0; round < 2; round++) {
    const reg = path.join(dir, `reg${round}`)
    const ws = Array.from({ length: 4 }, (_, k) => spawn({ role: 'race', reg, k }))
    for (const w of ws) assert.deepEqual(await w.next(), { ready: true })
    for (const w of ws) w.child.send('go')
    const results = []
    for (const w of ws) results.push(await w.next())
    for (const w of ws) assert.deepEqual(await w.exit, [0, null])
    assert.equal(results.filter((r) => r.created).length, 1, JSON.stringify(results))
    assert.equal(new Set(results.map((r) => r.capacity)).size, 1, JSON.stringify(results))
    const r = new SharedRegistry(reg)
    assert.deepEqual(r.names(), ['race'])
    assert.equal(r.get('race').stats.successes, 4000)
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['reg0', 'reg1'])
})

test('two handles on one file share one breaker', (t) => {
  const dir = folder(t)
  const clock = new SharedManualClock(path.join(dir, 'clock'))
  const a = new SharedRegistry(path.join(dir, 'reg'), { clock })
  const b = new SharedRegistry(path.join(dir, 'reg'), { clock })
  assert.equal(a.created, true)
  assert.equal(b.created, false)
  assert.equal(a.capacity, 64)
  assert.equal(a.path, path.join(dir, 'reg'))
  const ba = a.getOrCreate('db', { consecutiveFailures: 3, openTimeoutMs: 10000 })
  const bb = b.get('db')
  assert.ok(bb instanceof CircuitBreaker)
  assert.equal(bb.options.consecutiveFailures, 3)
  assert.equal(b.get('nope'), undefined)
  assert.deepEqual(b.names(), ['db'])
  for (let i = 0; i < 3; i++) ba.tryAcquire().failure()
  // The closed-path admission reads the state word in JS: here, the file's.
  assert.equal(bb.state, 'open')
  assert.throws(() => bb.call(() => 1), CircuitOpenError)
  clock.advance(10000)
  assert.equal(bb.tryAcquire().probe, true)
})

test('another configuration for an existing breaker is refused', (t) => {
  const reg = path.join(folder(t), 'reg')
  new SharedRegistry(reg).getOrCreate('db', { minCalls: 10 })
  const other = new SharedRegistry(reg)
  assert.throws(() => other.getOrCreate('db', { minCalls: 20, openTimeoutMs: 5000 }), (e) => {
    assert.ok(e instanceof ConfigMismatchError)
    assert.ok(e instanceof SharedRegistryError)
    assert.equal(e.code, 'EFUSEBOXMISMATCH')
    assert.equal(e.breaker, 'db')
    assert.deepEqual(e.fields, ['minCalls', 'openTimeoutMs'])
    assert.match(e.message, /"db".*min_calls, open_timeout/)
    return true
  })
  assert.equal(other.getOrCreate('db', { minCalls: 10 }).name, 'db')
})

test('maxOpenForMs and cancellation are stored in the file and compared', (t) => {
  const dir = folder(t)
  const clock = new SharedManualClock(path.join(dir, 'clock'))
  const a = new SharedRegistry(path.join(dir, 'reg'), { clock }).getOrCreate('api', { maxOpenForMs: 45000, cancellation: 'failure' })
  const other = new SharedRegistry(path.join(dir, 'reg'), { clock })
  const b = other.get('api')
  assert.equal(b.options.maxOpenForMs, 45000)
  assert.equal(b.options.cancellation, 'failure')
  assert.equal(a.openFor(3600000), true)
  assert.equal(b.tryAcquire(), null)
  assert.equal(b.lastRejection.retryAfterMs, 45000)
  assert.throws(() => other.getOrCreate('api', { maxOpenForMs: 45000, cancellation: 'release' }), (e) => {
    assert.ok(e instanceof ConfigMismatchError)
    assert.deepEqual(e.fields, ['cancellation'])
    return true
  })
  assert.throws(() => other.getOrCreate('api', { minCalls: 10 }), (e) => {
    assert.deepEqual(e.fields, ['maxOpenForMs', 'cancellation'])
    return true
  })
})

test('files that are not registries are refused; a full one too', (t) => {
  const dir = folder(t)
  const junk = path.join(dir, 'junk')
  fs.writeFileSync(junk, 'not a registry at all\n'.repeat(100))
  assert.throws(() => new SharedRegistry(junk), (e) => {
    assert.ok(e instanceof SharedRegistryError)
    assert.equal(e.code, 'EFUSEBOXBADFILE')
    assert.equal(e.path, junk)
    assert.match(e.message, /not a fusebox shared registry/)
    return true
  })
  const reg = path.join(dir, 'reg')
  const r = new SharedRegistry(reg, { capacity: 2 })
  // A copy claiming another layout version (the header's second word).
  const copy = path.join(dir, 'other-version')
  fs.copyFileSync(reg, copy)
  const version = Buffer.alloc(8)
  version.writeBigUInt64LE(99n)
  const fd = fs.openSync(copy, 'r+')
  fs.writeSync(fd, version, 0, 8, 8)
  fs.closeSync(fd)
  assert.throws(() => new SharedRegistry(copy), { code: 'EFUSEBOXBADFILE', message: /another fusebox layout/ })
  r.getOrCreate('a')
  r.getOrCreate('b')
  assert.throws(() => r.getOrCreate('c'), { code: 'EFUSEBOXSHAREDFULL', message: /full/ })
  assert.equal(new SharedRegistry(reg, { capacity: 100 }).capacity, 2)
})

test('bad arguments are clear errors', (t) => {
  const dir = folder(t)
  assert.throws(() => new SharedRegistry(42), { code: 'ERR_INVALID_ARG_TYPE', message: /"path"/ })
  assert.throws(() => new SharedRegistry(''), { code: 'ERR_OUT_OF_RANGE', message: /path/ })
  assert.throws(() => new SharedRegistry(path.join(dir, 'r'), { capacity: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /capacity/ })
  assert.throws(() => new SharedRegistry(path.join(dir, 'r'), { capacity: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => new SharedRegistry(path.join(dir, 'r'), { bogus: 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => new SharedRegistry(path.join(dir, 'r'), { clock: new ManualClock() }), { code: 'ERR_INVALID_ARG_TYPE', message: /SharedManualClock/ })
  assert.throws(() => new SharedRegistry(path.join(dir, 'no', 'such', 'reg')), { code: 'ENOENT' })
  const r = new SharedRegistry(path.join(dir, 'reg'))
  assert.throws(() => r.getOrCreate(''), { code: 'ERR_OUT_OF_RANGE', message: /name/ })
  assert.throws(() => r.getOrCreate('x', { minCalls: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /minCalls/ })
  assert.throws(() => r.getOrCreate('x', { clock: new ManualClock() }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => r.getOrCreate('x', { name: 'y' }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => new SharedManualClock(path.join(dir, 'clock')).advance(-1), { code: 'ERR_OUT_OF_RANGE' })
})
