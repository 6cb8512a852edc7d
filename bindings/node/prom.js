'use strict'
// fusebox/prom: fusebox's metrics in a prom-client registry.
//
//   const client = require('prom-client')
//   const { registry } = require('fusebox')
//   require('fusebox/prom').register(client.register, registry)
//   // client.register.metrics() now includes fusebox_calls_total, ...
//
// The text comes from the core's one Prometheus writer (the same text as
// `registry.prometheus()`): this file only reads it back into prom-client's
// value objects, one collector per metric family, so names, help, types,
// labels and values are the core's. prom-client is not imported here: pass
// its registry (any object with `registerMetric`).

/** Unescape a label value of the text format (`\\`, `\"`, `\n`). */
function unescape (s) {
  return s.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c))
}

/**
 * One sample line, `name{a="x",b="y"} value` or `name value`: its name, its
 * labels and its value, or null for a line that is not one.
 */
function sample (line) {
  const brace = line.indexOf('{')
  const space = line.lastIndexOf(' ')
  if (space < 0) return null
  const value = Number(line.slice(space + 1))
  if (brace < 0 || brace > space) {
    return { name: line.slice(0, space), labels: {}, value }
  }
  const name = line.slice(0, brace)
  const labels = {}
  // Label values may hold any character, `}` and `,` included: scan them.
  let i = brace + 1
  while (i < line.length && line[i] !== '}') {
    const eq = line.indexOf('="', i)
    if (eq < 0) return null
    const key = line.slice(i, eq)
    let j = eq + 2
    let raw = ''
    while (j < line.length && line[j] !== '"') {
      if (line[j] === '\\') {
        raw += line.slice(j, j + 2)
        j += 2
      } else {
        raw += line[j]
        j += 1
      }
    }
    labels[key] = unescape(raw)
    i = line[j + 1] === ',' ? j + 2 : j + 1
  }
  return { name, labels, value }
}

/**
 * The text format read back into families: `Map(name => { help, type,
 * values: [{ metricName, labels, value }] })`, in the text's order.
 */
function parse (text) {
  const families = new Map()
  const family = (name) => {
    let f = families.get(name)
    if (f === undefined) {
      f = { help: '', type: 'untyped', values: [] }
      families.set(name, f)
    }
    return f
  }
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7)
      const sp = rest.indexOf(' ')
      family(rest.slice(0, sp)).help = rest.slice(sp + 1).replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
    } else if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      family(name).type = type
    } else if (line !== '' && !line.startsWith('#')) {
      const s = sample(line)
      if (s === null) continue
      // A histogram's `_bucket`, `_sum` and `_count` samples belong to it.
      let name = s.name
      if (!families.has(name)) {
        const base = name.replace(/_(bucket|sum|count)$/, '')
        if (families.has(base)) name = base
      }
      family(name).values.push({ metricName: s.name, labels: s.labels, value: s.value })
    }
  }
  return families
}

/**
 * Register `source`'s metric families with a prom-client registry
 * (`promRegistry.registerMetric`): `source` is anything with a
 * `prometheus()` method giving the text format, such as fusebox's
 * process-wide `registry`, a `KeyedBreakers` or a `SharedRegistry`. The
 * families are those the text has now (the core writes every family, even
 * with no breaker yet); each scrape reads the text once. Returns the
 * families' names.
 */
function register (promRegistry, source) {
  if (promRegistry === null || typeof promRegistry !== 'object' || typeof promRegistry.registerMetric !== 'function') {
    throw new TypeError('fusebox/prom: promRegistry must be a prom-client Registry (an object with registerMetric)')
  }
  if (source === null || typeof source !== 'object' || typeof source.prometheus !== 'function') {
    throw new TypeError('fusebox/prom: source must have a prometheus() method (registry, KeyedBreakers, SharedRegistry)')
  }
  // One reading of the text per scrape: prom-client asks every family in
  // the same turn of the event loop.
  let now = null
  const current = () => {
    if (now === null) {
      now = parse(source.prometheus())
      setImmediate(() => { now = null }).unref()
    }
    return now
  }
  const names = []
  for (const [name, f] of current()) {
    const { help, type } = f
    promRegistry.registerMetric({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => {
        const g = current().get(name)
        return { name, help, type, aggregator: 'sum', values: g === undefined ? [] : g.values }
      },
      reset () {}
    })
    names.push(name)
  }
  return names
}

module.exports = { register, parse }
