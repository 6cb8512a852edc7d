'use strict'
// The one HTTP classification all of fusebox/http shares.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { statusOutcome, parseRetryAfter, openForMs, isCancellation } = require('fusebox/http')

test('statuses: 5xx failure, 4xx ignored, the rest success', () => {
  assert.deepEqual([200, 204, 301, 399, 400, 404, 429, 499, 500, 503, 599].map(statusOutcome),
    ['success', 'success', 'success', 'success', 'ignored', 'ignored', 'ignored', 'ignored', 'failure', 'failure', 'failure'])
})

test('Retry-After: delta-seconds or an HTTP-date; anything else is null', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0)
  assert.equal(parseRetryAfter('120', now), 120_000)
  assert.equal(parseRetryAfter(' 0 ', now), 0)
  assert.equal(parseRetryAfter('2030', now), 2_030_000, 'digits are seconds')
  assert.equal(parseRetryAfter(['7', '9'], now), 7000)
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 12:01:30 GMT', now), 90_000)
  assert.equal(parseRetryAfter('Thursday, 01-Jan-26 12:00:10 GMT', now), 10_000)
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now), 0, 'a date past: now')
  for (const bad of [undefined, null, '', '-5', '1.5', '2030-01-01', 'soon', 12]) {
    assert.equal(parseRetryAfter(bad, now), null, String(bad))
  }
})

test('only 429 and 503 open the breaker, and only for a time to come', () => {
  assert.equal(openForMs(503, '30'), 30_000)
  assert.equal(openForMs(429, '1'), 1000)
  assert.equal(openForMs(500, '30'), null)
  assert.equal(openForMs(200, '30'), null)
  assert.equal(openForMs(503, null), null)
  assert.equal(openForMs(503, '0'), null)
})

test('a cancellation is an abort by the caller, not a timeout', () => {
  const ac = new AbortController()
  ac.abort()
  const abortError = ac.signal.reason
  assert.equal(isCancellation(abortError, ac.signal), true)
  const timedOut = { aborted: true, reason: new DOMException('t', 'TimeoutError') }
  assert.equal(isCancellation(timedOut.reason, timedOut), false)
  const mine = new AbortController()
  mine.abort(new Error('user left'))
  assert.equal(isCancellation(mine.signal.reason, mine.signal), true, 'any reason but a timeout')
  assert.equal(isCancellation(Object.assign(new Error('x'), { code: 'UND_ERR_ABORTED' })), true)
  assert.equal(isCancellation(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), false)
  assert.equal(isCancellation(new Error('ECONNREFUSED')), false)
})
