'use strict'
// Inbound shedding, shared by the express middleware and the fastify
// plugin: a breaker over the server's own responses (classify.js's
// verdicts: a 5xx is a failure, a 4xx ignored); while it is open, requests
// are answered at once with a 503 and a Retry-After (the breaker's), so a
// failing server sheds load instead of queueing it.

const { CircuitBreaker } = require('../index.js')
const { statusOutcome } = require('./classify.js')

/**
 * The shedding `options` ask for: `breaker` (a CircuitBreaker of one's
 * own) or the options of a new one (`name` default 'inbound'), and
 * `defaultRetryAfterMs` (default 1000): the Retry-After sent when the
 * breaker names no time (forced open, every probe slot taken).
 */
function inboundShedding (options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') {
    const e = new TypeError(`The "options" argument must be of type object. Received type ${typeof options} (${String(options)})`)
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const { breaker: given, defaultRetryAfterMs = 1000, ...rest } = options
  if (typeof defaultRetryAfterMs !== 'number' || !(defaultRetryAfterMs >= 0 && defaultRetryAfterMs <= 1e12)) {
    const e = new RangeError(`invalid option defaultRetryAfterMs: ${String(defaultRetryAfterMs)} (expected a duration in [0, 1e12] ms)`)
    e.code = 'ERR_OUT_OF_RANGE'
    e.option = 'defaultRetryAfterMs'
    throw e
  }
  let breaker
  if (given !== undefined) {
    if (!(given instanceof CircuitBreaker)) {
      const e = new TypeError('The "breaker" option must be an instance of CircuitBreaker')
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
    breaker = given
  } else {
    breaker = new CircuitBreaker({ name: 'inbound', ...rest })
  }
  return {
    breaker,
    /** A permit for a request, or null: answer it with rejection(). */
    admit () {
      return breaker.tryAcquire()
    },
    /** The 503's Retry-After (whole seconds, rounded up) and body for the last refusal. */
    rejection () {
      const r = breaker.lastRejection
      const ms = r === null || r.retryAfterMs === null ? defaultRetryAfterMs : r.retryAfterMs
      const seconds = String(Math.ceil(ms / 1000))
      return {
        retryAfter: seconds,
        body: JSON.stringify({ error: 'service unavailable', reason: r?.reason ?? 'open', retryAfterSeconds: Number(seconds) })
      }
    },
    /** The response went out with `status`. */
    finish (permit, status) {
      if (!permit.pending) return
      const o = statusOutcome(status)
      if (o === 'success') permit.success()
      else if (o === 'failure') permit.failure()
      else permit.ignore()
    },
    /** The client went away before the response was sent: a cancellation. */
    abort (permit) {
      if (permit.pending) permit.cancel()
    }
  }
}

module.exports = { inboundShedding }
