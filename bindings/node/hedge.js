'use strict'
// Hedged requests for Node: a hedge policy whose fire(fn) starts an attempt
// through a breaker and, while none has succeeded, another one after each
// delay (fixed, or a quantile of a LatencyHistogram; up to maxHedges, paid
// from a RetryBudget); the first success wins
// and the others are aborted, their permits cancelled. Every decision (start
// a hedge or not, the next delay, the budget, which attempt answers) is the
// core's, through a native HedgeCall (src/hedge.rs); this file runs the
// attempts, the timers and the aborts.
//
// index.js calls the exported function once with what it shares.

const timers = require('node:timers/promises')

module.exports = function hedging ({ native, kNative, kSettle, kFallback, kTimeoutMs, CircuitBreaker, CircuitOpenError, CallTimeoutError, RetryBudget, LatencyHistogram, argType, pick, rangeError }) {
  const OPTIONS = {
    breaker: 'any',
    budget: 'any',
    name: 'string',
    delayMs: 'number',
    maxHedges: 'number',
    histogram: 'any',
    quantile: 'number',
    sleep: 'function'
  }

  // The default wait: a timer cleared when the call ends.
  const wait = (ms, signal) => timers.setTimeout(ms, undefined, { signal })

  /** Hedged calls through a breaker, each hedge paid from a RetryBudget. */
  class HedgePolicy {
    #n
    #breaker
    #budget
    #sleep

    constructor (options = {}) {
      const o = pick(options, OPTIONS)
      if (!(options.breaker instanceof CircuitBreaker)) throw argType('breaker', 'an instance of CircuitBreaker', options.breaker)
      if (!(options.budget instanceof RetryBudget)) throw argType('budget', 'an instance of RetryBudget', options.budget)
      // With a histogram the delay is its `quantile` (0.95 by default),
      // `delayMs` the wait while it is empty.
      const h = options.histogram
      if (h !== undefined && !(h instanceof LatencyHistogram)) throw argType('histogram', 'an instance of LatencyHistogram', h, 'option')
      if (h === undefined && o.quantile !== undefined) throw argType('histogram', 'an instance of LatencyHistogram when "quantile" is given', h, 'option')
      const { sleep, ...rest } = o
      const r = native.createHedgePolicy(rest, h === undefined ? undefined : h[kNative])
      if (r.option !== undefined) throw rangeError(r)
      this.#n = r
      this.#breaker = options.breaker
      this.#budget = options.budget
      this.#sleep = sleep ?? wait
    }

    /** The breaker every attempt goes through. */
    get breaker () { return this.#breaker }
    /** The budget every hedge is paid from. */
    get budget () { return this.#budget }
    /** { name, calls, attempts, retries (0), hedges, budgetRefusals, failedCalls }. */
    metrics () { return this.#n.metrics() }
    /** The counters in the Prometheus text format (`fusebox_retry_*`). */
    prometheus () { return this.#n.prometheus() }

    /**
     * Run `fn(signal, ...args)` through the breaker, hedged: resolves with
     * the first success (the other attempts' `signal`s are aborted and
     * their permits cancelled); rejects with the last error once every
     * attempt has failed (the attempt's, or the breaker's
     * CircuitOpenError), or resolves with the breaker's fallback's answer
     * for it. An attempt that runs past the breaker's `timeoutMs` fails
     * with CallTimeoutError, its `signal` aborted.
     */
    fire (fn, ...args) {
      if (typeof fn !== 'function') return Promise.reject(argType('fn', 'of type function', fn))
      const call = this.#n.begin(this.#budget[kNative])
      const breaker = this.#breaker
      const sleep = this.#sleep
      const timeoutMs = breaker[kTimeoutMs]
      return new Promise((resolve, reject) => {
        const running = new Map() // attempt -> { permit, controller, timer }
        const waits = new AbortController()
        let done = false

        const finish = (settle, value) => {
          done = true
          waits.abort()
          for (const { permit, controller, timer } of running.values()) {
            clearTimeout(timer)
            permit.cancel()
            controller.abort()
          }
          running.clear()
          settle(value)
        }

        const ended = (n, end, value) => {
          clearTimeout(running.get(n)?.timer)
          running.delete(n)
          const verdict = call.ended(n, end)
          if (verdict === 'answer') finish(resolve, value)
          else if (verdict === 'fail') finish(resolve, breaker[kFallback](value, args))
        }

        const start = (n) => {
          let permit
          try {
            permit = breaker.acquire()
          } catch (err) {
            ended(n, err instanceof CircuitOpenError ? 'rejected' : 'failed', err)
            return
          }
          const controller = new AbortController()
          const attempt = { permit, controller, timer: undefined }
          running.set(n, attempt)
          if (timeoutMs !== 0) {
            attempt.timer = setTimeout(() => {
              if (running.get(n) !== attempt) return
              controller.abort()
              permit.failure()
              ended(n, 'failed', new CallTimeoutError(breaker.name, timeoutMs))
            }, timeoutMs)
          }
          let p
          try {
            p = Promise.resolve(fn(controller.signal, ...args))
          } catch (err) {
            p = Promise.reject(err)
          }
          // A loser's late answer is dropped: its permit was cancelled.
          p.then((v) => {
            if (running.get(n) !== attempt) return
            permit.success()
            ended(n, 'succeeded', v)
          }, (err) => {
            if (running.get(n) !== attempt) return
            breaker[kSettle](permit, err)
            ended(n, 'failed', err)
          })
        }

        // A sleep that fails (not aborted by the call's end) ends the call
        // with its error, cancelling the attempts.
        const arm = (ms) => {
          let p
          try {
            p = Promise.resolve(sleep(ms, waits.signal))
          } catch (err) {
            p = Promise.reject(err)
          }
          p.then(() => {
            if (done) return
            const due = call.due()
            if (due.attempt != null) start(due.attempt)
            if (due.delayMs != null && !done) arm(due.delayMs)
          }, (err) => {
            if (!done) finish(reject, err)
          })
        }

        start(1)
        const first = call.firstDelayMs
        if (!done && first != null) arm(first)
      })
    }
  }

  return { HedgePolicy }
}
