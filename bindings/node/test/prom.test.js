'use strict'
// fusebox/prom: the core's Prometheus text handed to a prom-client
// registry, read back family by family.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const client = require('prom-client')
const { CircuitBreaker, KeyedBreakers, ManualClock, registry } = require('fusebox')
const prom = require('fusebox/prom')

test('a registry of breakers scraped through prom-client is the core text, value for value', async () => {
  const name = `prom-${process.pid}-a"b\nc\\d`
  const b = CircuitBreaker.shared(name, { consecutiveFailures: 2 })
  b.call(() => 1)
  for (let i = 0; i < 2; i++) assert.throws(() => b.call(() => { throw new Error('x') }))
  assert.equal(b.state, 'open')

  const reg = new client.Registry()
  const families = prom.register(reg, registry)
  assert.ok(families.includes('fusebox_calls_total'))
  assert.ok(families.includes('fusebox_state'))
  const text = await reg.metrics()

  // Every sample of the core's text is in prom-client's, same labels and
  // value (the name with a quote, a newline and a backslash included).
  const core = prom.parse(registry.prometheus())
  const theirs = prom.parse(text)
  for (const [family, f] of core) {
    const t = theirs.get(family)
    assert.ok(t, `family ${family}`)
    assert.equal(t.type, f.type, family)
    assert.deepEqual(t.values, f.values, family)
  }
  const state = theirs.get('fusebox_state').values.find(
    (v) => v.labels.breaker === name && v.labels.state === 'open')
  assert.equal(state.value, 1)
  const failed = theirs.get('fusebox_calls_total').values.find(
    (v) => v.labels.breaker === name && v.labels.outcome === 'failure')
  assert.equal(failed.value, 2)
  // The escaped name as the text format writes it.
  assert.ok(text.includes('breaker="prom-' + process.pid + '-a\\"b\\nc\\\\d"'), text.slice(0, 400))
  registry.remove(name)
})

test('a keyed set registers its own families too, and bad arguments are TypeErrors', async () => {
  const hosts = new KeyedBreakers({ capacity: 4, clock: new ManualClock() })
  hosts.getOrCreate('a.example').call(() => 1)
  const reg = new client.Registry()
  const families = prom.register(reg, hosts)
  assert.ok(families.includes('fusebox_keyed_breakers'), families.join(' '))
  const text = await reg.metrics()
  assert.match(text, /fusebox_calls_total\{breaker="a\.example",outcome="success"\} 1/)
  // A second source with the same families is prom-client's duplicate error.
  assert.throws(() => prom.register(reg, hosts), /already been registered/)
  assert.throws(() => prom.register({}, hosts), TypeError)
  assert.throws(() => prom.register(reg, {}), TypeError)
})
