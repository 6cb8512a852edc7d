'use strict'
// The undici interceptor (Dispatcher.compose) against real servers on
// loopback: trip, Retry-After, probe, close, per-origin isolation,
// cancellation, timeouts. Open periods run on a ManualClock.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Agent, request, fetch: undiciFetch } = require('undici')
const { ManualClock, CircuitOpenError } = require('fusebox')
const { interceptor } = require('fusebox/http')
const { originServer, deadOrigin } = require('./fixtures/origin.js')

async function setup (t, options = {}, agentOptions = {}) {
  const server = await originServer()
  const clock = new ManualClock()
  const breakers = interceptor({ clock, consecutiveFailures: 2, openTimeoutMs: 10_000, halfOpenMaxCalls: 1, successThreshold: 1, ...options })
  const agent = new Agent(agentOptions)
  const dispatcher = agent.compose(breakers)
  t.after(async () => {
    await agent.destroy()
    await server.close()
  })
  const get = async (url, opts) => {
    const r = await request(url, { dispatcher, ...opts })
    await r.body.dump()
    return r.statusCode
  }
  const breaker = () => breakers.breakers.get(server.origin)
  return { server, clock, dispatcher, get, breaker, breakers }
}

const rejection = (p) => p.then((r) => assert.fail(`got ${r}`), (e) => e)

test('5xx trip the origin\'s breaker; request() then fails with CircuitOpenError, nothing sent', async (t) => {
  const { server, get, breaker } = await setup(t)
  server.behave({ status: 500 })
  assert.equal(await get(`${server.url}/a`), 500)
  assert.equal(await get(`${server.url}/b`), 500)
  assert.equal(breaker().state, 'open')
  const e = await rejection(get(`${server.url}/c`))
  assert.ok(e instanceof CircuitOpenError)
  assert.equal(e.retryAfterMs, 10_000)
  assert.equal(server.hits, 2)
})

test('fetch through the composed dispatcher: the CircuitOpenError is the cause', async (t) => {
  const { server, dispatcher } = await setup(t)
  server.behave({ status: 500 })
  for (let i = 0; i < 2; i++) assert.equal((await undiciFetch(server.url, { dispatcher })).status, 500)
  const e = await rejection(undiciFetch(server.url, { dispatcher }))
  assert.ok(e.cause instanceof CircuitOpenError, String(e))
  assert.equal(server.hits, 2)
})

test('4xx ignored; 503 Retry-After opens for that long; the probe closes', async (t) => {
  const { server, clock, get, breaker } = await setup(t)
  server.behave({ status: 400 })
  for (let i = 0; i < 3; i++) await get(server.url)
  assert.equal(breaker().stats.ignored, 3)
  server.behave({ status: 503, headers: { 'retry-after': '30' } })
  assert.equal(await get(server.url), 503)
  assert.equal(breaker().state, 'open')
  clock.advance(29_000)
  assert.equal((await rejection(get(server.url))).retryAfterMs, 1000)
  clock.advance(1000)
  server.behave({ status: 204 })
  assert.equal(await get(server.url), 204)
  assert.equal(breaker().state, 'closed')
})

test('per-origin isolation, and a refused connection is a failure', async (t) => {
  const { server, get, breakers } = await setup(t)
  const dead = await deadOrigin()
  await rejection(get(dead))
  await rejection(get(dead))
  assert.ok((await rejection(get(dead))) instanceof CircuitOpenError)
  assert.equal(breakers.breakers.get(new URL(dead).origin).stats.failures, 2)
  assert.equal(await get(server.url), 200)
  assert.equal(breakers.breakers.get(server.origin).state, 'closed')
})

test('a headers timeout is a failure', async (t) => {
  const { server, get, breaker } = await setup(t, {}, { headersTimeout: 20 })
  server.behave({ hang: true })
  const e = await rejection(get(server.url))
  assert.equal(e.code, 'UND_ERR_HEADERS_TIMEOUT')
  assert.equal(breaker().stats.failures, 1)
})

test('an aborted request is neither success nor failure; a cancelled probe frees its slot', async (t) => {
  const { server, clock, get, breaker } = await setup(t)
  server.behave({ hang: true })
  const ac = new AbortController()
  const p = rejection(get(server.url, { signal: ac.signal }))
  await server.waitHanging(1)
  ac.abort()
  await p
  let s = breaker().stats
  assert.deepEqual([s.successes, s.failures, s.window.calls], [0, 0, 0])

  server.behave({ status: 500 })
  await get(server.url)
  await get(server.url)
  clock.advance(10_000)
  server.behave({ hang: true })
  const probe = new AbortController()
  const q = rejection(get(server.url, { signal: probe.signal }))
  await server.waitHanging(1)
  assert.equal(breaker().state, 'halfOpen')
  probe.abort()
  await q
  server.behave({ status: 200 })
  assert.equal(await get(server.url), 200, 'a new probe is admitted')
  assert.equal(breaker().state, 'closed')
  s = breaker().stats
  assert.equal(s.failures, 2)
})

test('undici\'s fetch aborted through the composed dispatcher: a cancellation (the probe slot comes back)', async (t) => {
  const { server, clock, dispatcher, get, breaker } = await setup(t)
  server.behave({ status: 500 })
  await get(server.url)
  await get(server.url)
  clock.advance(10_000)
  server.behave({ hang: true })
  const ac = new AbortController()
  const p = rejection(undiciFetch(server.url, { dispatcher, signal: ac.signal }))
  await server.waitHanging(1)
  assert.equal(breaker().state, 'halfOpen')
  ac.abort()
  assert.equal((await p).name, 'AbortError')
  let status = 0
  server.behave({ status: 200 })
  // The abort reaches the interceptor on undici's side of the socket: wait
  // for the slot rather than for a moment.
  for (let i = 0; i < 1000 && status !== 200; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    status = await get(server.url).catch((e) => e.reason)
  }
  assert.equal(status, 200, 'a new probe')
  assert.equal(breaker().state, 'closed')
  assert.equal(breaker().stats.failures, 2)
})
