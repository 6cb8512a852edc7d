'use strict'
// An undici interceptor (Dispatcher.compose, undici 7's handler API) with a
// breaker per origin; the verdicts from classify.js. It imports nothing of
// undici: an interceptor is a function of `dispatch`.

const { originBreakers, originOf } = require('./origins.js')
const { reportResponse, reportError } = require('./classify.js')

/**
 * Passes every callback on to the caller's handler; counts the outcome on
 * the breaker when the response starts (or the request fails).
 */
class BreakerHandler {
  #handler
  #breaker
  #permit
  #signal

  constructor (handler, breaker, permit, signal) {
    this.#handler = handler
    this.#breaker = breaker
    this.#permit = permit
    this.#signal = signal
  }

  #take () {
    const p = this.#permit
    this.#permit = null
    return p
  }

  /** Give the permit back unreported, if it was not used. */
  abandon () {
    this.#take()?.release()
  }

  onRequestStart (controller, context) {
    return this.#handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade (controller, statusCode, headers, socket) {
    this.#take()?.success()
    return this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket)
  }

  onResponseStart (controller, statusCode, headers, statusMessage) {
    const p = this.#take()
    if (p !== null) reportResponse(this.#breaker, p, statusCode, headers['retry-after'])
    return this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData (controller, chunk) {
    return this.#handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd (controller, trailers) {
    return this.#handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError (controller, error) {
    const p = this.#take()
    if (p !== null) reportError(p, error, this.#signal)
    return this.#handler.onResponseError?.(controller, error)
  }
}

/**
 * An interceptor for `dispatcher.compose(...)`: each request goes through
 * the breaker of its origin; when that breaker rejects, the request fails
 * at once with a CircuitOpenError (its `retryAfterMs` the breaker's) and
 * nothing is sent. `options` choose the breakers (see originBreakers);
 * they are the interceptor's `breakers` (a KeyedBreakers).
 */
function interceptor (options) {
  const breakers = originBreakers(options)
  function fuseboxInterceptor (dispatch) {
    return function dispatchThroughBreaker (opts, handler) {
      let breaker, permit
      try {
        breaker = breakers.getOrCreate(originOf(opts.origin))
        permit = breaker.acquire()
      } catch (e) {
        handler.onResponseError?.(null, e)
        return true
      }
      const h = new BreakerHandler(handler, breaker, permit, opts.signal)
      try {
        return dispatch(opts, h)
      } catch (e) {
        // Refused before it was sent (bad options): no outcome.
        h.abandon()
        throw e
      }
    }
  }
  fuseboxInterceptor.breakers = breakers
  return fuseboxInterceptor
}

module.exports = { interceptor }
