'use strict'
// breakerFetch against real servers on loopback: trip, Retry-After, probe,
// close, per-origin isolation, cancellation. Open periods run on a
// ManualClock; only the I/O is real.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { ManualClock, CircuitOpenError } = require('fusebox')
const { breakerFetch } = require('fusebox/http')
const { originServer, deadOrigin } = require('./fixtures/origin.js')

async function setup (t, options = {}) {
  const server = await originServer()
  t.after(() => server.close())
  const clock = new ManualClock()
  const fetch = breakerFetch({ clock, consecutiveFailures: 2, openTimeoutMs: 10_000, halfOpenMaxCalls: 1, successThreshold: 1, ...options })
  const breaker = () => fetch.breakers.get(server.origin)
  return { server, clock, fetch, breaker }
}

const rejection = (p) => p.then((r) => assert.fail(`got ${r.status}`), (e) => e)

test('5xx trip the origin\'s breaker; then requests are refused without reaching it', async (t) => {
  const { server, fetch, breaker } = await setup(t)
  server.behave({ status: 500 })
  assert.equal((await fetch(`${server.url}/a`)).status, 500)
  assert.equal((await fetch(`${server.url}/b`)).status, 500)
  assert.equal(breaker().state, 'open')
  const e = await rejection(fetch(`${server.url}/c`))
  assert.ok(e instanceof CircuitOpenError)
  assert.equal(e.breaker, server.origin)
  assert.equal(e.retryAfterMs, 10_000)
  assert.equal(server.hits, 2)
})

test('4xx are ignored; 2xx succeed', async (t) => {
  const { server, fetch, breaker } = await setup(t)
  server.behave({ status: 404 })
  for (let i = 0; i < 5; i++) assert.equal((await fetch(server.url)).status, 404)
  server.behave({ status: 200 })
  assert.equal(await (await fetch(server.url)).text(), 'status 200')
  const s = breaker().stats
  assert.equal(s.state, 'closed')
  assert.deepEqual([s.ignored, s.successes, s.failures], [5, 1, 0])
})

test('503 with Retry-After (seconds) opens for that long, then a probe closes it', async (t) => {
  const { server, clock, fetch, breaker } = await setup(t)
  server.behave({ status: 503, headers: { 'retry-after': '120' } })
  assert.equal((await fetch(server.url)).status, 503)
  assert.equal(breaker().state, 'open')
  clock.advance(100_000)
  const e = await rejection(fetch(server.url))
  assert.equal(e.retryAfterMs, 20_000)
  clock.advance(20_000)
  server.behave({ status: 200 })
  assert.equal((await fetch(server.url)).status, 200, 'the probe')
  assert.equal(breaker().state, 'closed')
  assert.equal(server.hits, 2)
})

test('429 with Retry-After as an HTTP-date opens until then, capped by maxOpenForMs', async (t) => {
  const { server, fetch, breaker } = await setup(t, { maxOpenForMs: 60_000 })
  const inAnHour = new Date(Date.now() + 3_600_000).toUTCString()
  server.behave({ status: 429, headers: { 'retry-after': inAnHour } })
  assert.equal((await fetch(server.url)).status, 429)
  assert.equal(breaker().stats.ignored, 1, 'a 429 is the caller\'s: ignored')
  const e = await rejection(fetch(server.url))
  assert.equal(e.retryAfterMs, 60_000)
})

test('a 503 without Retry-After is a failure and opens nothing by itself', async (t) => {
  const { server, fetch, breaker } = await setup(t)
  server.behave({ status: 503 })
  assert.equal((await fetch(server.url)).status, 503)
  assert.equal(breaker().state, 'closed')
  assert.equal(breaker().stats.failures, 1)
})

test('a failed probe reopens; a refused connection is a failure', async (t) => {
  const { server, clock, fetch, breaker } = await setup(t)
  server.behave({ status: 502 })
  await fetch(server.url)
  await fetch(server.url)
  clock.advance(10_000)
  assert.equal((await fetch(server.url)).status, 502, 'the probe')
  assert.equal(breaker().state, 'open')

  const dead = await deadOrigin()
  const e1 = await rejection(fetch(dead))
  assert.ok(!(e1 instanceof CircuitOpenError))
  await rejection(fetch(dead))
  assert.ok((await rejection(fetch(dead))) instanceof CircuitOpenError)
  assert.equal(fetch.breakers.get(new URL(dead).origin).stats.failures, 2)
})

test('per-origin isolation: one origin open, another served', async (t) => {
  const { server, fetch } = await setup(t)
  const other = await originServer()
  t.after(() => other.close())
  server.behave({ status: 500 })
  await fetch(server.url)
  await fetch(server.url)
  assert.ok((await rejection(fetch(server.url))) instanceof CircuitOpenError)
  assert.equal((await fetch(`${other.url}/x`)).status, 200)
  assert.equal(fetch.breakers.get(other.origin).state, 'closed')
  assert.equal(fetch.breakers.size, 2)
})

test('a timeout (AbortSignal.timeout) is a failure', async (t) => {
  const { server, fetch, breaker } = await setup(t)
  server.behave({ hang: true })
  const e = await rejection(fetch(server.url, { signal: AbortSignal.timeout(20) }))
  assert.equal(e.name, 'TimeoutError')
  assert.equal(breaker().stats.failures, 1)
})

test('an aborted fetch is neither success nor failure; its probe slot comes back', async (t) => {
  const { server, clock, fetch, breaker } = await setup(t)
  server.behave({ hang: true })
  const ac = new AbortController()
  const p = rejection(fetch(server.url, { signal: ac.signal }))
  await server.waitHanging(1)
  ac.abort()
  assert.equal((await p).name, 'AbortError')
  let s = breaker().stats
  assert.deepEqual([s.successes, s.failures, s.window.calls], [0, 0, 0])

  // Trip, wait, and abandon the probe: the slot is free for the next one.
  server.behave({ status: 500 })
  await fetch(server.url)
  await fetch(server.url)
  clock.advance(10_000)
  server.behave({ hang: true })
  const probe = new AbortController()
  const q = rejection(fetch(server.url, { signal: probe.signal }))
  await server.waitHanging(1)
  assert.equal(breaker().state, 'halfOpen')
  probe.abort()
  await q
  server.behave({ status: 200 })
  assert.equal((await fetch(server.url)).status, 200, 'a new probe is admitted')
  assert.equal(breaker().state, 'closed')
  s = breaker().stats
  assert.equal(s.failures, 2)
})

test('an abort after slowCallMs counts as a slow call (the core\'s cancellation policy)', async (t) => {
  const { server, clock, fetch, breaker } = await setup(t, { slowCallMs: 1000 })
  server.behave({ hang: true })
  const ac = new AbortController()
  const p = rejection(fetch(server.url, { signal: ac.signal }))
  await server.waitHanging(1)
  clock.advance(1500)
  ac.abort()
  await p
  const s = breaker().stats
  // One slow call (the core counts it as a slow success), no failure.
  assert.deepEqual([s.slow, s.window.slow, s.failures], [1, 1, 0])
})

test('cancellation: "failure" makes an abort a failure', async (t) => {
  const { server, fetch, breaker } = await setup(t, { cancellation: 'failure' })
  server.behave({ hang: true })
  const ac = new AbortController()
  const p = rejection(fetch(server.url, { signal: ac.signal }))
  await server.waitHanging(1)
  ac.abort()
  await p
  assert.equal(breaker().stats.failures, 1)
})

test('a Request object, and breakers of one\'s own', async (t) => {
  const { KeyedBreakers } = require('fusebox')
  const server = await originServer()
  t.after(() => server.close())
  const breakers = new KeyedBreakers({ name: 'mine', capacity: 4, clock: new ManualClock() })
  const fetch = breakerFetch({ breakers })
  assert.equal(fetch.breakers, breakers)
  assert.equal((await fetch(new Request(`${server.url}/r`))).status, 200)
  assert.equal(breakers.get(server.origin).stats.successes, 1)
  assert.throws(() => breakerFetch({ breakers: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => breakerFetch({ fetch: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a full set of busy origins refuses a new origin with KeyedFullError, nothing sent', async (t) => {
  const { KeyedFullError } = require('fusebox')
  const { server, fetch } = await setup(t, { capacity: 1 })
  const other = await originServer()
  t.after(() => other.close())
  server.behave({ status: 500 })
  await fetch(server.url)
  await fetch(server.url)
  await assert.rejects(fetch(other.url), KeyedFullError)
  assert.equal(other.hits, 0)
})
