'use strict'
// fusebox/http's added cost per request: each adapter against the same
// client without it, on one loopback server in this process, in one run.
//
//   cd bench && npm install && node http.js [--quick]
//
// CPU ns per request (client and server together: the server's share is
// the same with and without the adapter, so the difference is the
// adapter's), the best of interleaved rounds.

const http = require('node:http')
const { Agent, request } = require('undici')
const express = require('express')
const { breakerFetch, interceptor, expressShedding } = require('../http.js')

const QUICK = process.argv.includes('--quick')
const ROUNDS = QUICK ? 5 : 15
const N = QUICK ? 500 : 2000

const cpuNs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

async function listen (server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${server.address().port}`
}

async function group (title, benches, n = N) {
  for (const b of benches) {
    b.best = Infinity
    for (let i = 0; i < 200; i++) await b.fn() // warm up
  }
  for (let r = 0; r < ROUNDS; r++) {
    // Every other round backwards: no bench always runs after another's garbage.
    for (const b of r % 2 === 0 ? benches : [...benches].reverse()) {
      const t0 = cpuNs()
      for (let i = 0; i < n; i++) await b.fn()
      b.best = Math.min(b.best, (cpuNs() - t0) / n)
    }
  }
  console.log(`\n${title}`)
  for (const b of benches) {
    // Over its own baseline: the row `vs` names (default the first).
    const base = benches[b.vs ?? 0]
    const d = b.best - base.best
    const over = b === base ? '' : `${d < 0 ? '-' : '+'}${Math.abs(d).toFixed(0)} ns`
    console.log(`  ${b.name.padEnd(62)} ${b.best.toFixed(0).padStart(7)} ns  ${over}`)
  }
}

// The adapters' own work, without I/O (a stand-in fetch, dispatch and
// response): on a busy machine, what a loopback request costs varies by
// more than this (see the A/A rows).
async function alone () {
  const { EventEmitter } = require('node:events')
  const res = new Response('ok')
  const fakeFetch = async () => res
  const wrapped = breakerFetch({ fetch: fakeFetch })
  const handler = { onRequestStart () {}, onResponseStart () {}, onResponseEnd () {}, onResponseError () {} }
  const fakeDispatch = (opts, h) => { h.onResponseStart(null, 200, {}, 'OK'); return true }
  const intercepted = interceptor()(fakeDispatch)
  const opts = { origin: 'http://127.0.0.1:1', path: '/', method: 'GET' }
  const mw = expressShedding()
  const next = () => {}
  const serve = () => {
    const r = new EventEmitter()
    r.statusCode = 200
    return r
  }
  await group('the adapter alone, no I/O (ns per call)', [
    { name: 'a stand-in fetch', fn: () => fakeFetch('http://127.0.0.1:1/x') },
    { name: 'breakerFetch({ fetch: stand-in })', vs: 0, fn: () => wrapped('http://127.0.0.1:1/x') },
    { name: 'a stand-in dispatch', vs: 2, fn: () => fakeDispatch(opts, handler) },
    { name: 'interceptor()(stand-in dispatch)', vs: 2, fn: () => intercepted(opts, handler) },
    { name: 'a response emitting finish', vs: 4, fn: () => { const r = serve(); r.emit('finish'); r.emit('close') } },
    { name: 'expressShedding() on it', vs: 4, fn: () => { const r = serve(); mw(null, r, next); r.emit('finish'); r.emit('close') } }
  ], 20_000)
}

async function main () {
  await alone()
  const plain = http.createServer((req, res) => res.end('ok'))
  const url = await listen(plain)

  const fetchB = breakerFetch()
  await group('fetch, client side (ns per request)', [
    { name: 'fetch(url)', fn: async () => { await (await fetch(url)).text() } },
    { name: 'breakerFetch()(url)', fn: async () => { await (await fetchB(url)).text() } },
    { name: 'fetch(url) again (the noise: A/A)', fn: async () => { await (await fetch(url)).text() } }
  ])

  const agent = new Agent()
  const composed = new Agent().compose(interceptor())
  // compose() itself (its handler wrappers, its Proxy): a no-op interceptor.
  const noop = new Agent().compose((dispatch) => (opts, handler) => dispatch(opts, handler))
  await group('undici request(), client side (ns per request)', [
    { name: 'request(url, { dispatcher: agent })', fn: async () => { await (await request(url, { dispatcher: agent })).body.text() } },
    { name: 'request(url, { dispatcher: agent.compose(no-op) })', fn: async () => { await (await request(url, { dispatcher: noop })).body.text() } },
    { name: 'request(url, { dispatcher: agent.compose(interceptor()) })', fn: async () => { await (await request(url, { dispatcher: composed })).body.text() } },
    { name: 'request(url, { dispatcher: agent }) again (A/A)', fn: async () => { await (await request(url, { dispatcher: agent })).body.text() } }
  ])

  const bare = express()
  bare.get('/', (req, res) => res.send('ok'))
  const shed = express()
  shed.use(expressShedding())
  shed.get('/', (req, res) => res.send('ok'))
  const bareUrl = await listen(http.createServer(bare))
  const shedUrl = await listen(http.createServer(shed))
  await group('express, server side (ns per request, undici client)', [
    { name: 'express app', fn: async () => { await (await request(bareUrl, { dispatcher: agent })).body.text() } },
    { name: 'express app + expressShedding()', fn: async () => { await (await request(shedUrl, { dispatcher: agent })).body.text() } },
    { name: 'express app again (A/A)', fn: async () => { await (await request(bareUrl, { dispatcher: agent })).body.text() } }
  ])
  console.log(`\nnode ${process.version}; best of ${ROUNDS} rounds of ${N}`)
  process.exit(0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
