'use strict'
// The one HTTP classification every adapter of fusebox/http shares (fetch,
// the undici interceptor, the express and fastify shedding): what a
// response or an error tells the breaker (docs/semantics.md#http-defaults).
//
// * A connection error or a timeout is a failure.
// * A 5xx status is a failure; a 4xx is ignored (the caller's fault says
//   nothing of the service's health); anything else is a success.
// * A 429 or 503 with a Retry-After (delta-seconds or an HTTP-date) opens
//   the breaker for that long (breaker.openFor: cut to maxOpenForMs by the
//   core), after its outcome is counted.
// * A call the caller gave up (its AbortSignal aborted, not by a timeout)
//   is a cancellation: the breaker's `cancellation` policy (the core's)
//   says what it counts as.

/** 'success', 'failure' or 'ignored': what an HTTP status says. */
function statusOutcome (status) {
  if (status >= 500) return 'failure'
  if (status >= 400) return 'ignored'
  return 'success'
}

const DELTA_SECONDS = /^\d+$/
// An HTTP-date names its day or month (IMF-fixdate, RFC 850, asctime);
// Date.parse alone would take "2030" too.
const HAS_NAME = /[A-Za-z]{3}/

/**
 * A Retry-After header's value (a string, or the first of an array) in ms
 * from `nowMs` (ms since the epoch): delta-seconds or an HTTP-date (a date
 * past is 0). null when absent or unreadable.
 */
function parseRetryAfter (value, nowMs = Date.now()) {
  if (Array.isArray(value)) value = value[0]
  if (typeof value !== 'string') return null
  const v = value.trim()
  if (DELTA_SECONDS.test(v)) return Number(v) * 1000
  if (!HAS_NAME.test(v)) return null
  const t = Date.parse(v)
  return Number.isNaN(t) ? null : Math.max(0, t - nowMs)
}

/** How long a response asks the breaker to stay open (ms > 0), or null. */
function openForMs (status, retryAfter) {
  if (status !== 429 && status !== 503) return null
  const ms = parseRetryAfter(retryAfter)
  return ms !== null && ms > 0 ? ms : null
}

/** Whether an error is a timeout (AbortSignal.timeout's reason, undici's). */
function isTimeout (e) {
  return e != null && (e.name === 'TimeoutError' || (typeof e.code === 'string' && e.code.endsWith('_TIMEOUT')))
}

/**
 * Whether a call that ended with `error` was given up by its caller: its
 * `signal` aborted for another reason than a timeout; without a signal to
 * ask, an abort error (fetch's AbortError, undici's UND_ERR_ABORTED).
 */
function isCancellation (error, signal) {
  if (signal != null && signal.aborted) return !isTimeout(signal.reason)
  return error != null && (error.name === 'AbortError' || error.code === 'UND_ERR_ABORTED')
}

/** Report a response's status on `permit`, then open `breaker` for its Retry-After (429, 503). */
function reportResponse (breaker, permit, status, retryAfter) {
  const outcome = statusOutcome(status)
  if (outcome === 'success') permit.success()
  else if (outcome === 'failure') permit.failure()
  else permit.ignore()
  const ms = openForMs(status, retryAfter)
  if (ms !== null) breaker.openFor(ms)
}

/** Report a call that ended with `error` (no response): a cancellation or a failure. */
function reportError (permit, error, signal) {
  if (isCancellation(error, signal)) permit.cancel()
  else permit.failure()
}

module.exports = { statusOutcome, parseRetryAfter, openForMs, isCancellation, reportResponse, reportError }
