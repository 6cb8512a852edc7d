'use strict'
// Every retry scenario of scenarios/retry/*.json, run through RetryPolicy's
// fire(): the waits move a ManualClock (nothing sleeps).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { CircuitBreaker, ManualClock, CircuitOpenError, RetryBudget, RetryPolicy } = require('fusebox')
const { options } = require('./fixtures/scenario-options.js')

const DIR = path.join(process.env.FUSEBOX_SCENARIOS || path.join(__dirname, '..', '..', '..', 'scenarios'), 'retry')
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()

const STATE = { closed: 'closed', open: 'open', half_open: 'halfOpen' }
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
const camel = (k) => k.replace(/_(.)/g, (_, c) => c.toUpperCase())

class Failed extends Error {
  constructor (retryAfterMs) {
    super('failed')
    this.retryAfterMs = retryAfterMs
  }
}
class Fatal extends Error {}

function classify (err) {
  if (err instanceof Fatal) return 'stop'
  if (err instanceof Failed && err.retryAfterMs != null) return err.retryAfterMs
  return 'retry'
}

function rig (s) {
  const clock = new ManualClock()
  const breaker = new CircuitBreaker(options(s.config ?? {}, clock, s.name))
  const b = s.budget ?? {}
  const budget = new RetryBudget({ name: s.name, ratio: b.ratio, minPerSec: b.min_per_sec, windowMs: b.window_ms, buckets: b.buckets, clock })
  const r = s.retry ?? {}
  const o = { breaker, budget, seed: r.seed ?? 1, classify }
  for (const [k, v] of Object.entries(r)) if (k !== 'seed') o[camel(k)] = v
  const waits = []
  const ended = []
  o.sleep = async (ms) => { waits.push(ms); clock.advance(ms) }
  o.onEnd = (stats) => ended.push(stats)
  return { clock, breaker, budget, policy: new RetryPolicy(o), waits, ended }
}

async function call (r, attempts, attemptMs) {
  let ran = 0
  const rejectedBefore = r.breaker.stats.rejected
  const body = async () => {
    ran++
    r.clock.advance(attemptMs)
    // The attempt's number counts rejected attempts too.
    const n = ran + r.breaker.stats.rejected - rejectedBefore
    const spec = attempts[Math.min(n, attempts.length) - 1]
    const outcome = typeof spec === 'string' ? spec : spec.outcome
    if (outcome === 'success') return 'ok'
    if (outcome === 'fatal') throw new Fatal()
    throw new Failed(typeof spec === 'string' ? null : spec.retry_after_ms)
  }
  try {
    await r.policy.fire(body)
    return 'success'
  } catch (err) {
    if (err instanceof CircuitOpenError) return 'rejected'
    if (err instanceof Failed || err instanceof Fatal) return 'failed'
    throw err
  }
}

const check = (what, want, got) => { if (want !== undefined) assert.deepEqual(got, want, what) }

test('the retry scenarios are found', () => assert.ok(FILES.length >= 5, DIR))

for (const file of FILES) {
  test(file, async () => {
    const s = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'))
    const r = rig(s)
    for (const [i, step] of s.steps.entries()) {
      const where = `${s.name} step ${i + 1}`
      switch (step.op) {
        case 'advance': r.clock.advance(step.ms); break
        case 'retry_call': {
          const e = step.expect ?? {}
          for (let n = 0; n < (step.repeat ?? 1); n++) {
            r.waits.length = 0
            r.ended.length = 0
            const result = await call(r, step.attempts, step.attempt_ms ?? 0)
            assert.equal(r.ended.length, 1, where)
            const st = r.ended[0]
            check(`${where} result`, e.result, result)
            check(`${where} attempts`, e.attempts, st.attempt)
            check(`${where} retries`, e.retries, st.retries)
            check(`${where} rejections`, e.rejections, st.rejections)
            check(`${where} stop`, e.stop, st.stop)
            if (e.waits_ms !== undefined) {
              assert.equal(r.waits.length, e.waits_ms.length, `${where} waits ${r.waits}`)
              r.waits.forEach((w, j) => assert.ok(Math.abs(w - e.waits_ms[j]) <= 1e-3, `${where} waits ${r.waits} != ${e.waits_ms}`))
            }
          }
          break
        }
        case 'expect_budget': {
          const got = r.budget.stats()
          for (const [k, v] of Object.entries(step)) if (k !== 'op') check(`${where} ${k}`, v, got[camel(k)])
          break
        }
        case 'expect_retry_metrics': {
          const got = r.policy.metrics()
          for (const [k, v] of Object.entries(step)) if (k !== 'op') check(`${where} ${k}`, v, got[camel(k)])
          break
        }
        case 'expect_state': check(`${where} state`, STATE[step.state], r.breaker.state); break
        case 'expect_metrics': {
          const got = r.breaker.stats
          for (const [k, v] of Object.entries(step)) if (k !== 'op') check(`${where} ${k}`, v, METRIC[k](got))
          break
        }
        default: throw new Error(`unknown op ${step.op}: teach this runner`)
      }
    }
  })
}
