'use strict'
// Retries for Node: a retry budget shared by every caller of a dependency,
// and a retry policy whose fire(fn) runs fn through a breaker until it
// succeeds or the policy stops. Every decision (retry or stop, the wait, the
// deadline, the budget) is the core's, through a native RetryCall
// (src/retry.rs); this file runs the attempts and waits with setTimeout.
//
// index.js calls the exported function once with what it shares.

module.exports = function retries ({ native, kNative, kAttempt, kFallback, CircuitBreaker, CircuitOpenError, argType, typeName, pick, rangeError }) {
  const BUDGET = { name: 'string', ratio: 'number', minPerSec: 'number', windowMs: 'number', buckets: 'number', clock: 'any' }

  /** Retries allowed up to a ratio of recent requests plus a reserve per second. */
  class RetryBudget {
    constructor (options = {}) {
      const o = pick(options, BUDGET)
      const r = native.createRetryBudget(o, options.clock?.[kNative] ?? null)
      if (r.option !== undefined) throw rangeError(r)
      this[kNative] = r
    }

    /** Count one request. */
    deposit () { this[kNative].deposit() }
    /** Ask for one retry: whether the budget paid it. */
    tryWithdraw () { return this[kNative].tryWithdraw() }
    /** { name, deposits, withdrawals, refusals, available }. */
    stats () { return this[kNative].stats() }
    /** The counters in the Prometheus text format. */
    prometheus () { return this[kNative].prometheus() }
  }

  const POLICY = {
    breaker: 'any',
    budget: 'any',
    name: 'string',
    maxAttempts: 'number',
    baseBackoffMs: 'number',
    maxBackoffMs: 'number',
    deadlineMs: 'number',
    minAttemptMs: 'number',
    retryAfterCapMs: 'number',
    jitter: 'boolean',
    seed: 'number',
    classify: 'function',
    sleep: 'function',
    onEnd: 'function'
  }

  const VERDICTS = new Set(['retry', 'stop'])
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

  /** Retries through a breaker, paid from a RetryBudget. */
  class RetryPolicy {
    #n
    #breaker
    #budget
    #classify
    #sleep
    #onEnd

    constructor (options = {}) {
      const o = pick(options, POLICY)
      if (!(options.breaker instanceof CircuitBreaker)) throw argType('breaker', 'an instance of CircuitBreaker', options.breaker)
      if (!(options.budget instanceof RetryBudget)) throw argType('budget', 'an instance of RetryBudget', options.budget)
      const { breaker, budget } = options
      const { classify, sleep, onEnd, ...rest } = o
      const r = native.createRetryPolicy({ name: breaker.name, ...rest })
      if (r.option !== undefined) throw rangeError(r)
      this.#n = r
      this.#breaker = breaker
      this.#budget = budget
      this.#classify = classify ?? (() => 'retry')
      this.#sleep = sleep ?? wait
      this.#onEnd = onEnd ?? null
    }

    /** The breaker every attempt goes through. */
    get breaker () { return this.#breaker }
    /** The budget every retry is paid from. */
    get budget () { return this.#budget }
    /** { name, calls, attempts, retries, hedges, budgetRefusals, failedCalls }. */
    metrics () { return this.#n.metrics() }
    /** The back-off before retry number `retry` (1 for the first), in ms. */
    backoff (retry) { return this.#n.backoff(retry) }
    /** The counters in the Prometheus text format (`fusebox_retry_*`). */
    prometheus () { return this.#n.prometheus() }

    // The wait before the next attempt, or null: the call ends.
    #next (call, err) {
      if (err instanceof CircuitOpenError && err.breaker === this.#breaker.name) {
        return call.rejected(err.reason, err.retryAfterMs)
      }
      const v = this.#classify(err)
      if (typeof v === 'number') return call.failed('retryAfter', v)
      if (!VERDICTS.has(v)) {
        const e = new TypeError(`classify must return 'retry', 'stop' or a number of ms. Received ${typeName(v)}`)
        e.code = 'ERR_INVALID_RETURN_VALUE'
        throw e
      }
      return call.failed(v, null)
    }

    #end (call) {
      if (this.#onEnd !== null) this.#onEnd(call.stats())
    }

    /**
     * Run `fn(...args)` (sync or async) through the breaker until it
     * succeeds or the policy stops; then reject with the last error (the
     * attempt's, or the breaker's CircuitOpenError), or resolve with the
     * breaker's fallback's answer for it. Each attempt has the breaker's
     * `timeoutMs`; the fallback answers the call, not an attempt.
     */
    async fire (fn, ...args) {
      if (typeof fn !== 'function') throw argType('fn', 'of type function', fn)
      const call = this.#n.begin(this.#budget[kNative], this.#breaker[kNative])
      for (;;) {
        let ms
        try {
          const result = await this.#breaker[kAttempt](fn, args)
          call.succeeded()
          this.#end(call)
          return result
        } catch (err) {
          ms = this.#next(call, err)
          if (ms === null) {
            this.#end(call)
            return this.#breaker[kFallback](err, args)
          }
        }
        await this.#sleep(ms)
      }
    }
  }

  return { RetryBudget, RetryPolicy }
}
