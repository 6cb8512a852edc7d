'use strict'
// Inbound shedding on real servers on loopback, through express and
// fastify: trip on 5xx, answer 503 with the breaker's Retry-After, probe,
// close, 4xx ignored, a client that gives up is a cancellation.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { ManualClock, CircuitBreaker } = require('fusebox')
const { expressShedding, fastifyShedding } = require('fusebox/http')
const { waitFor } = require('./fixtures/origin.js')

const OPTIONS = { consecutiveFailures: 2, openTimeoutMs: 5500, halfOpenMaxCalls: 1, successThreshold: 1 }

// Routes: /ok 200, /fail 500, /missing 404, /hang answers when let go.
async function expressServer (t, options) {
  const express = require('express')
  const app = express()
  const mw = expressShedding(options)
  const hanging = []
  app.use(mw)
  app.get('/ok', (req, res) => res.send('ok'))
  app.get('/fail', (req, res) => res.status(500).send('down'))
  app.get('/missing', (req, res) => res.status(404).send('no'))
  app.get('/hang', (req, res) => { hanging.push(res) })
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { url: `http://127.0.0.1:${server.address().port}`, breaker: mw.breaker, hanging }
}

async function fastifyServer (t, options) {
  const fastify = require('fastify')({ forceCloseConnections: true })
  const hanging = []
  await fastify.register(fastifyShedding, options)
  fastify.get('/ok', async () => 'ok')
  fastify.get('/fail', async (req, reply) => reply.code(500).send('down'))
  fastify.get('/missing', async (req, reply) => reply.code(404).send('no'))
  fastify.get('/hang', (req, reply) => { hanging.push(reply) })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close())
  return { url: `http://127.0.0.1:${fastify.server.address().port}`, hanging }
}

const SERVERS = {
  express: async (t, options) => expressServer(t, options),
  fastify: async (t, options) => {
    // fastify takes no breaker back from a plugin: hand it one.
    const breaker = new CircuitBreaker({ name: 'inbound', ...options })
    const s = await fastifyServer(t, { breaker })
    return { ...s, breaker }
  }
}


for (const [name, start] of Object.entries(SERVERS)) {
  test(`${name}: 5xx trip; 503 with Retry-After; the probe closes`, async (t) => {
    const clock = new ManualClock()
    const { url, breaker } = await start(t, { clock, ...OPTIONS })
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${url}/missing`)).status, 404)
    assert.equal(breaker.stats.ignored, 3)
    assert.equal((await fetch(`${url}/fail`)).status, 500)
    assert.equal((await fetch(`${url}/fail`)).status, 500)
    assert.equal(breaker.state, 'open')
    clock.advance(1000)
    const shed = await fetch(`${url}/ok`)
    assert.equal(shed.status, 503)
    assert.equal(shed.headers.get('retry-after'), '5')
    assert.deepEqual(await shed.json(), { error: 'service unavailable', reason: 'open', retryAfterSeconds: 5 })
    clock.advance(4500)
    assert.equal((await fetch(`${url}/ok`)).status, 200, 'the probe')
    assert.equal(breaker.state, 'closed')
    assert.equal(breaker.stats.rejected, 1)
  })

  test(`${name}: openFor (e.g. from a downstream Retry-After) sheds for that long`, async (t) => {
    const clock = new ManualClock()
    const { url, breaker } = await start(t, { clock, ...OPTIONS })
    breaker.openFor(90_000)
    const shed = await fetch(`${url}/ok`)
    assert.equal(shed.status, 503)
    assert.equal(shed.headers.get('retry-after'), '90')
    breaker.forceOpen()
    assert.equal((await fetch(`${url}/ok`)).headers.get('retry-after'), '1', 'no time named: defaultRetryAfterMs')
  })

  test(`${name}: a client that gives up is a cancellation, not a failure`, async (t) => {
    const clock = new ManualClock()
    const { url, breaker, hanging } = await start(t, { clock, ...OPTIONS, slowCallMs: 1000 })
    // Trip it, then let the probe hang and its client give up: the probe's
    // slot comes back (else every request would be shed until reset).
    await fetch(`${url}/fail`)
    await fetch(`${url}/fail`)
    clock.advance(5500)
    const ac = new AbortController()
    const p = fetch(`${url}/hang`, { signal: ac.signal }).catch((e) => e)
    await waitFor(() => hanging.length === 1)
    assert.equal(breaker.state, 'halfOpen')
    const full = await fetch(`${url}/ok`)
    assert.equal(full.status, 503, 'the one probe slot is taken')
    ac.abort()
    assert.equal((await p).name, 'AbortError')
    let status = 503
    for (let i = 0; i < 1000 && status === 503; i++) status = (await fetch(`${url}/ok`)).status
    assert.equal(status, 200, 'a new probe')
    assert.equal(breaker.state, 'closed')
    let s = breaker.stats
    assert.deepEqual([s.failures, s.slow], [2, 0])

    // Given up after slowCallMs: one slow call.
    const late = new AbortController()
    const q = fetch(`${url}/hang`, { signal: late.signal }).catch((e) => e)
    await waitFor(() => hanging.length === 2)
    clock.advance(1500)
    late.abort()
    await q
    await waitFor(() => breaker.stats.slow === 1)
    s = breaker.stats
    assert.deepEqual([s.slow, s.failures], [1, 2])
  })
}

test('bad options are errors that name the option', async () => {
  assert.throws(() => expressShedding({ breaker: {} }), { code: 'ERR_INVALID_ARG_TYPE', message: /"breaker"/ })
  assert.throws(() => expressShedding({ defaultRetryAfterMs: -1 }), { code: 'ERR_OUT_OF_RANGE', option: 'defaultRetryAfterMs' })
  assert.throws(() => expressShedding({ minCalls: 0 }), { code: 'ERR_OUT_OF_RANGE', option: 'minCalls' })
  assert.throws(() => expressShedding(5), { code: 'ERR_INVALID_ARG_TYPE' })
  const fastify = require('fastify')()
  fastify.register(fastifyShedding, { defaultRetryAfterMs: NaN })
  await assert.rejects(fastify.ready(), { code: 'ERR_OUT_OF_RANGE' })
})
