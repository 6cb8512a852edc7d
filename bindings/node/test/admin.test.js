'use strict'
// fusebox/admin: the admin endpoint over the process-wide registry, fetched
// over loopback with fetch.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const { registry, FuseboxError } = require('fusebox')
const admin = require('fusebox/admin')

test('serves /breakers and /metrics of the registry', async () => {
  const pay = registry.get('admin-node:payments')
  pay.forceOpen()
  registry.get('admin-node:stock').call(() => 1)
  const server = admin.serve(registry, { address: '127.0.0.1:0' })
  try {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/)
    assert.strictEqual(server.url, `http://${server.address}/`)
    const r = await fetch(`http://${server.address}/breakers`)
    assert.strictEqual(r.status, 200)
    const byName = Object.fromEntries((await r.json()).breakers.map(b => [b.name, b]))
    assert.strictEqual(byName['admin-node:payments'].phase, 'forced_open')
    assert.strictEqual(byName['admin-node:stock'].state, 'closed')
    const m = await fetch(`http://${server.address}/metrics`)
    const text = await m.text()
    assert.ok(text.includes('fusebox_state{breaker="admin-node:payments",state="open"} 1\n'), text)
    assert.ok(text.includes('fusebox_calls_total{breaker="admin-node:stock",outcome="success"} 1\n'), text)
    assert.strictEqual((await fetch(`http://${server.address}/nope`)).status, 404)
  } finally {
    server.close()
  }
})

test('the controls need the token', async () => {
  const db = registry.get('admin-node:db')
  const server = admin.serve(registry, { token: 's3cret' })
  try {
    const url = `http://${server.address}/breakers/admin-node:db/force_open`
    assert.strictEqual((await fetch(url, { method: 'POST' })).status, 401)
    const ok = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer s3cret' } })
    assert.strictEqual(ok.status, 200)
    assert.strictEqual(db.phase, 'forcedOpen')
  } finally {
    server.close()
    db.reset()
  }
})

test('close frees the port', async () => {
  const server = admin.serve(registry)
  const port = Number(server.address.split(':')[1])
  assert.strictEqual(server.running, true)
  server.close()
  server.close() // again: nothing
  assert.strictEqual(server.running, false)
  await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => s.close(resolve))
  })
  const again = admin.serve(registry, { address: `127.0.0.1:${port}` })
  assert.strictEqual(again.address, `127.0.0.1:${port}`)
  again.close()
})

test('bad arguments', () => {
  assert.throws(() => admin.serve(registry, { address: 'localhost' }),
    { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /address "localhost" is not IP:PORT/ })
  assert.throws(() => admin.serve(registry, { address: 80 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => admin.serve(registry, { token: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => admin.serve({}), { code: 'ERR_INVALID_ARG_TYPE' })
  const first = admin.serve(registry)
  try {
    assert.throws(() => admin.serve(registry, { address: first.address }),
      (e) => e instanceof FuseboxError && e.code === 'EFUSEBOXLISTEN' && /cannot listen on 127\.0\.0\.1:/.test(e.message))
  } finally {
    first.close()
  }
})
