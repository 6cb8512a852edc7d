'use strict'
// The shared table of bad inputs (scenarios/bad_input/cases.json), run
// through the public JS API: each kind is an error class and code, the
// message names the option (Node's spelling), and a duration out of range
// is quoted in ms, as the *Ms options take it.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { CircuitBreaker, ManualClock, RetryBudget, RetryPolicy, HedgePolicy, LatencyHistogram } = require('fusebox')

const DIR = process.env.FUSEBOX_SCENARIOS || path.join(__dirname, '..', '..', '..', 'scenarios')
const TABLE = JSON.parse(fs.readFileSync(path.join(DIR, 'bad_input', 'cases.json'), 'utf8'))
const CASES = TABLE.cases.filter((c) => !(c.not_in && 'node' in c.not_in))

// The table's kinds as Node errors.
const ERROR = {
  invalid_config: { Kind: RangeError, code: 'ERR_OUT_OF_RANGE' },
  invalid_name: { Kind: RangeError, code: 'ERR_OUT_OF_RANGE' },
  outcome_already_recorded: { Kind: Error, code: 'ERR_FUSEBOX_PERMIT_USED' },
  invalid_argument: { Kind: RangeError, code: 'ERR_OUT_OF_RANGE' }
}

// The table's (core) field names as Node spells them.
const OPTION = {
  name: 'name',
  permit: 'permit',
  failure_rate_threshold: 'failureRateThreshold',
  consecutive_failures: 'consecutiveFailures',
  min_calls: 'minCalls',
  window: 'windowMs',
  'window.buckets': 'windowBuckets',
  'window.size': 'countWindow',
  open_timeout: 'openTimeoutMs',
  'backoff.multiplier': 'backoff.multiplier',
  'backoff.max': 'backoff.maxMs',
  jitter: 'jitter',
  half_open_max_calls: 'halfOpenMaxCalls',
  success_threshold: 'successThreshold',
  half_open_max_wait: 'halfOpenMaxWaitMs',
  slow_call_duration: 'slowCallMs',
  slow_call_rate_threshold: 'slowCallRateThreshold',
  max_open_for: 'maxOpenForMs',
  cancellation: 'cancellation',
  duration: 'argument ms',
  max_attempts: 'maxAttempts',
  base_backoff: 'baseBackoffMs',
  max_backoff: 'maxBackoffMs',
  deadline: 'deadlineMs',
  min_attempt: 'minAttemptMs',
  ratio: 'ratio',
  min_per_sec: 'minPerSec',
  buckets: 'buckets',
  max_hedges: 'maxHedges',
  delay: 'delayMs',
  quantile: 'quantile'
}

/** Retry policy, budget or hedge keys (as in scenarios/retry, ms) → options. */
const retryOptions = (spec) => Object.fromEntries(Object.entries(spec).map(([k, v]) => [k.replace(/_(.)/g, (_, c) => c.toUpperCase()), num(v)]))

const SPECIAL = { NaN, Infinity, '-Infinity': -Infinity }
const num = (v) => typeof v === 'string' ? SPECIAL[v] : v
const name = (v) => typeof v === 'string' ? v : v.repeat.repeat(v.times)

/** Scenario config (snake_case, ms, neutral numbers) → options. */
function options (config) {
  const o = {}
  for (const [key, v] of Object.entries(config)) {
    switch (key) {
      case 'window':
        if (v.type === 'time') {
          o.windowMs = num(v.duration_ms)
          o.windowBuckets = v.buckets
        } else {
          o.countWindow = v.size
        }
        break
      case 'backoff': o.backoff = { multiplier: num(v.multiplier), maxMs: num(v.max_ms) }; break
      case 'open_timeout_ms': o.openTimeoutMs = num(v); break
      case 'half_open_max_wait_ms': o.halfOpenMaxWaitMs = num(v); break
      case 'slow_call_duration_ms': o.slowCallMs = num(v); break
      case 'max_open_for_ms': o.maxOpenForMs = num(v); break
      case 'cancellation': o.cancellation = v; break
      default:
        if (!(key in OPTION)) throw new Error(`unknown config key ${key}: teach this runner`)
        o[OPTION[key]] = num(v)
    }
  }
  return o
}

function check (fn, c) {
  const { Kind, code } = ERROR[c.kind]
  const option = OPTION[c.field]
  assert.ok(option, `no Node spelling for ${c.field}`)
  let message
  assert.throws(fn, (e) => {
    assert.equal(e.constructor, Kind, `${e.constructor.name}: ${e.message}`)
    assert.equal(e.code, code, e.message)
    message = e.message
    return true
  })
  assert.ok(message.includes(option), `"${message}" does not name ${option}`)
  if (c.duration) assert.ok(message.endsWith('] ms)'), `"${message}" is not in ms`)
  return message
}

test('the table is found', () => {
  assert.ok(CASES.length >= 40)
  assert.deepEqual([...TABLE.kinds].sort(), Object.keys(ERROR).sort())
})

for (const c of CASES) {
  test(`bad input: ${c.what}`, () => {
    if (c.name !== undefined) {
      const n = name(c.name)
      const a = check(() => new CircuitBreaker({ name: n }), c)
      const b = check(() => CircuitBreaker.shared(n), c)
      assert.equal(a, b)
    } else if (c.permit !== undefined) {
      const b = new CircuitBreaker({ clock: new ManualClock() })
      const p = b.tryAcquire()
      const steps = c.permit.slice()
      const last = steps.pop()
      const act = { success: () => p.success(), failure: () => p.failure(), ignored: () => p.ignore(), release: () => p.release() }
      for (const s of steps) assert.equal(act[s](), true)
      check(act[last], c)
      const s = b.stats
      assert.ok(s.successes + s.failures + s.ignored <= 1, 'counted twice')
    } else if (c.retry !== undefined) {
      const clock = new ManualClock()
      const breaker = new CircuitBreaker({ clock })
      const budget = new RetryBudget({ clock })
      check(() => new RetryPolicy({ breaker, budget, ...retryOptions(c.retry) }), c)
    } else if (c.hedge !== undefined) {
      const clock = new ManualClock()
      const breaker = new CircuitBreaker({ clock })
      const budget = new RetryBudget({ clock })
      // A quantile is a quantile delay's: over an empty histogram.
      const histogram = c.hedge.quantile === undefined ? undefined : new LatencyHistogram({ clock })
      check(() => new HedgePolicy({ breaker, budget, histogram, ...retryOptions(c.hedge) }), c)
    } else if (c.retry_budget !== undefined) {
      check(() => new RetryBudget({ clock: new ManualClock(), ...retryOptions(c.retry_budget) }), c)
    } else if (c.open_for !== undefined) {
      const b = new CircuitBreaker({ clock: new ManualClock() })
      check(() => b.openFor(num(c.open_for)), c)
      assert.equal(b.state, 'closed', 'nothing changed')
    } else {
      check(() => new CircuitBreaker({ clock: new ManualClock(), ...options(c.config) }), c)
    }
  })
}
