'use strict'
// Every scenario of scenarios/*.json, run through the public JS API three
// ways: with permits (tryAcquire), with call() and with fire().

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { CircuitBreaker, ManualClock, CircuitOpenError } = require('fusebox')

const DIR = process.env.FUSEBOX_SCENARIOS || path.join(__dirname, '..', '..', '..', 'scenarios')
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
// The reconfigure, snapshot and restore scenarios.
const OPS = path.join(DIR, 'ops')
const OPS_FILES = fs.readdirSync(OPS).filter((f) => f.endsWith('.json')).sort().map((f) => path.join('ops', f))
const camel = (s) => s.replace(/_(.)/g, (_, c) => c.toUpperCase())
// Node's option names of the core's config fields, where not just camelCase.
const OPTION = { open_timeout: 'openTimeoutMs', half_open_max_wait: 'halfOpenMaxWaitMs', slow_call_duration: 'slowCallMs', max_open_for: 'maxOpenForMs' }

const STATE = { closed: 'closed', open: 'open', half_open: 'halfOpen' }
const REASON = { open: 'open', half_open_full: 'halfOpenFull', forced_open: 'forcedOpen' }
const METRIC = {
  successes: (s) => s.successes,
  failures: (s) => s.failures,
  ignored: (s) => s.ignored,
  slow: (s) => s.slow,
  rejected: (s) => s.rejected,
  state_changes: (s) => s.stateChanges,
  window_calls: (s) => s.window.calls,
  window_failures: (s) => s.window.failures
}

const { options } = require('./fixtures/scenario-options.js')

const failure = () => new Error('boom')
const notFound = () => Object.assign(new Error('not found'), { status: 404 })

/** One admitted call ending in `outcome`, the way `mode` makes calls. */
async function makeCall (b, mode, outcome, durationMs) {
  if (mode === 'permits' || durationMs > 0) {
    // Only a permit can report a duration the clock did not see.
    const p = b.tryAcquire()
    assert.ok(p, `call rejected: ${JSON.stringify(b.lastRejection)}`)
    const d = durationMs ?? 0
    if (outcome === 'success') assert.equal(p.success(d), true)
    else if (outcome === 'failure') assert.equal(p.failure(d), true)
    else assert.equal(p.ignore(), true)
    return
  }
  const expected = outcome === 'failure' ? failure() : outcome === 'ignored' ? notFound() : null
  const fn = () => {
    if (expected) throw expected
    return 'value'
  }
  if (mode === 'call') {
    if (expected) assert.throws(() => b.call(fn), (e) => e === expected)
    else assert.equal(b.call(fn), 'value')
  } else {
    const afn = async () => fn()
    if (expected) await assert.rejects(b.fire(afn), (e) => e === expected)
    else assert.equal(await b.fire(afn), 'value')
  }
}

/** One attempt that must be rejected; returns the reason and retry-after. */
async function makeRejected (b, mode) {
  if (mode === 'permits') {
    assert.equal(b.tryAcquire(), null, 'admitted')
    return b.lastRejection
  }
  let ran = false
  const fn = () => { ran = true }
  let err
  if (mode === 'call') {
    try { b.call(fn) } catch (e) { err = e }
  } else {
    try { await b.fire(async () => fn()) } catch (e) { err = e }
  }
  assert.equal(ran, false, 'the function ran')
  assert.ok(err instanceof CircuitOpenError, `not a CircuitOpenError: ${err}`)
  assert.equal(err.code, 'EFUSEBOXOPEN')
  assert.deepEqual(b.lastRejection, { reason: err.reason, retryAfterMs: err.retryAfterMs })
  return { reason: err.reason, retryAfterMs: err.retryAfterMs }
}

async function run (scenario, mode) {
  let clock = new ManualClock()
  let b = new CircuitBreaker(options(scenario.config ?? {}, clock, scenario.name))
  let saved
  const held = new Map()
  for (const [i, step] of scenario.steps.entries()) {
    const at = `step ${i + 1} ${JSON.stringify(step)}`
    switch (step.op) {
      case 'advance':
        clock.advance(step.ms)
        break
      case 'call':
        for (let n = 0; n < (step.repeat ?? 1); n++) await makeCall(b, mode, step.outcome, step.duration_ms)
        break
      case 'reject':
        for (let n = 0; n < (step.repeat ?? 1); n++) {
          const r = await makeRejected(b, mode)
          if (step.reason !== undefined) assert.equal(r.reason, REASON[step.reason], at)
          if (step.retry_after_ms !== undefined) {
            assert.notEqual(r.retryAfterMs, null, at)
            assert.ok(Math.abs(r.retryAfterMs - step.retry_after_ms) <= 1, `${at}: retryAfterMs ${r.retryAfterMs}`)
          }
        }
        break
      case 'acquire': {
        const p = b.tryAcquire()
        assert.ok(p, `${at}: rejected ${JSON.stringify(b.lastRejection)}`)
        if (step.probe !== undefined) assert.equal(p.probe, step.probe, at)
        held.set(step.id, p)
        break
      }
      case 'record': {
        const p = held.get(step.id)
        assert.ok(p, `${at}: no held permit`)
        held.delete(step.id)
        if (step.outcome === 'success') assert.equal(p.success(step.duration_ms), true)
        else if (step.outcome === 'failure') assert.equal(p.failure(step.duration_ms), true)
        else assert.equal(p.ignore(), true)
        assert.equal(p.pending, false)
        break
      }
      case 'release': {
        const p = held.get(step.id)
        assert.ok(p, `${at}: no held permit`)
        held.delete(step.id)
        assert.equal(p.release(), true)
        break
      }
      case 'expect_state':
        assert.ok(step.state in STATE, `${at}: unknown state`)
        assert.equal(b.state, STATE[step.state], at)
        assert.equal(b.stats.state, STATE[step.state], at)
        break
      case 'expect_metrics': {
        const s = b.stats
        for (const [key, want] of Object.entries(step)) {
          if (key === 'op') continue
          assert.ok(key in METRIC, `${at}: unknown metric ${key}`)
          assert.equal(METRIC[key](s), want, `${at}: ${key}`)
        }
        break
      }
      case 'force_open': b.forceOpen(); break
      case 'disable': b.disable(); break
      case 'reset': b.reset(); break
      case 'open_for': {
        const opened = b.openFor(step.ms)
        if (step.opened !== undefined) assert.equal(opened, step.opened, `${at}: openFor answered ${opened}`)
        break
      }
      case 'reconfigure': {
        const changes = options(step.config, undefined, undefined)
        delete changes.name
        delete changes.clock
        if (step.error_field !== undefined) {
          const before = b.options
          assert.throws(() => b.reconfigure(changes), (e) => {
            assert.ok(e instanceof RangeError, `${at}: ${e}`)
            assert.ok(e.message.includes(camel(step.error_field)), `${at}: ${e.message}`)
            return true
          })
          assert.deepEqual(b.options, before, `${at}: refused, yet the options changed`)
        } else {
          const done = b.reconfigure(changes)
          if (step.changed !== undefined) assert.deepEqual(done.changed, step.changed.map((f) => OPTION[f] ?? camel(f)), at)
          if (step.tripped !== undefined) assert.equal(done.tripped, step.tripped, at)
        }
        break
      }
      case 'snapshot':
        saved = b.saveState()
        break
      case 'restore':
        // A restart: a new clock and breaker; held permits are gone.
        assert.ok(saved !== undefined, `${at}: no snapshot`)
        clock = new ManualClock()
        b = CircuitBreaker.restoreState(saved, { elapsedMs: step.elapsed_ms, clock })
        held.clear()
        break
      default: throw new Error(`${at}: unknown op: teach this runner`)
    }
  }
}

test('the scenario folder is found and not empty', () => {
  assert.ok(FILES.length >= 10, `${DIR} has ${FILES.length} scenarios`)
})

test('the ops scenario folder is found and not empty', () => {
  assert.ok(OPS_FILES.length >= 2, `${OPS} has ${OPS_FILES.length} scenarios`)
})

for (const file of [...FILES, ...OPS_FILES]) {
  const scenario = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'))
  for (const mode of ['permits', 'call', 'fire']) {
    test(`${file} (${mode})`, () => run(scenario, mode))
  }
}
