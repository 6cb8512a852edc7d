'use strict'
// A fetch with a breaker per origin: fetch's own signature, the breakers'
// verdicts from classify.js.

const { originBreakers, originOf } = require('./origins.js')
const { reportResponse, reportError } = require('./classify.js')

/**
 * A `fetch(input, init)` that goes through the breaker of the request's
 * origin: rejects with a CircuitOpenError (its `retryAfterMs` the
 * breaker's) without sending anything when that breaker rejects; else
 * counts the response (or the error) as classify.js says once its headers
 * arrive. `options.fetch`: the fetch to wrap (default the global one);
 * the others choose the breakers (see originBreakers). The breakers are
 * the function's `breakers` (a KeyedBreakers).
 */
function breakerFetch (options) {
  const base = options?.fetch ?? globalThis.fetch
  if (typeof base !== 'function') {
    const e = new TypeError('The "fetch" option must be of type function')
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const { fetch: _, ...rest } = options ?? {}
  const breakers = originBreakers(rest)
  async function fetchThroughBreaker (input, init) {
    const url = typeof input === 'string' || input instanceof URL ? input : input.url
    const breaker = breakers.getOrCreate(originOf(url))
    const permit = breaker.acquire()
    let res
    try {
      res = await base(input, init)
    } catch (e) {
      reportError(permit, e, init?.signal ?? input?.signal)
      throw e
    }
    reportResponse(breaker, permit, res.status, res.headers.get('retry-after'))
    return res
  }
  fetchThroughBreaker.breakers = breakers
  return fetchThroughBreaker
}

module.exports = { breakerFetch }
