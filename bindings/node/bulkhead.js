'use strict'
// Bulkheads for Node: at most N calls in flight to a dependency, so a slow
// one cannot hold every pending request. The core (src/bulkhead.rs) decides;
// this file gives it a Node shape. Node never blocks waiting for a slot: a
// full bulkhead refuses at once (tryAcquire() returns null; call() throws
// and fire() rejects with a BulkheadFullError, code 'EFUSEBOXFULL').
//
// index.js calls the exported function once with what it shares.

module.exports = function bulkheads ({ native, FuseboxError, kNative, argType, argRange }) {
  /** A call refused because its bulkhead was full; the function did not run. */
  class BulkheadFullError extends FuseboxError {
    constructor (bulkhead, limit, inFlight) {
      super(`bulkhead "${bulkhead}" is full: ${inFlight} calls in flight, limit ${limit}`, 'EFUSEBOXFULL')
      this.bulkhead = bulkhead
      this.limit = limit
      this.inFlight = inFlight
    }
  }
  BulkheadFullError.prototype.name = 'BulkheadFullError'

  const SUCCESS = 0
  const FAILURE = 1
  const IGNORED = 2
  const RELEASE = 3

  // A permit collected without an outcome gives its slot back (the Node
  // form of a dropped permit).
  const collected = new FinalizationRegistry(({ n, start, inFlight }) => {
    n.record(start, inFlight, RELEASE)
  })

  /** A slot for one call: give it back exactly once. */
  class BulkheadPermit {
    #n
    #start
    #inFlight
    #live = true

    constructor (n, slot) {
      this.#n = n
      this.#start = slot.startNs
      this.#inFlight = slot.inFlight
      collected.register(this, { n, start: this.#start, inFlight: this.#inFlight }, this)
    }

    #end (outcome) {
      if (!this.#live) {
        const e = new Error('This permit has already been given an outcome or released')
        e.code = 'ERR_FUSEBOX_PERMIT_USED'
        throw e
      }
      this.#live = false
      collected.unregister(this)
      this.#n.record(this.#start, this.#inFlight, outcome)
    }

    /** Whether the permit still holds its slot. */
    get pending () { return this.#live }
    /** Calls in flight when it was admitted, itself included. */
    get inFlight () { return this.#inFlight }
    /** The call succeeded. */
    success () { this.#end(SUCCESS) }
    /** The call failed (for an adaptive limit: a drop). */
    failure () { this.#end(FAILURE) }
    /** The call ended in a way that says nothing about the dependency. */
    ignore () { this.#end(IGNORED) }
    /** Free the slot without an outcome. */
    release () { this.#end(RELEASE) }
  }

  const KNOWN = new Set(['name', 'maxConcurrent', 'limit', 'minLimit', 'initialLimit', 'maxLimit', 'clock'])
  const NUMBERS = ['maxConcurrent', 'minLimit', 'initialLimit', 'maxLimit']

  // A core-reported problem ({ option, message }) as index.js's RangeError.
  function rangeError (problem) {
    return argRange(problem.option, problem.message)
  }

  /** At most `maxConcurrent` calls in flight, or an adaptive limit. */
  class Bulkhead {
    #n
    #name

    constructor (options = {}) {
      if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
      for (const key of Object.keys(options)) {
        if (!KNOWN.has(key)) {
          const e = new TypeError(`Unknown option "${key}"`)
          e.code = 'ERR_INVALID_ARG_VALUE'
          throw e
        }
      }
      const o = {}
      if (options.name !== undefined) {
        if (typeof options.name !== 'string') throw argType('name', 'of type string', options.name)
        o.name = options.name
      }
      for (const k of NUMBERS) {
        if (options[k] === undefined) continue
        if (typeof options[k] !== 'number') throw argType(k, 'of type number', options[k])
        o[k] = options[k]
      }
      if (options.limit !== undefined) {
        if (typeof options.limit !== 'string') throw argType('limit', 'of type string', options.limit)
        o.limit = options.limit
      }
      let clock
      if (options.clock !== undefined) {
        clock = options.clock?.[kNative]
        if (clock === undefined) throw argType('clock', 'an instance of ManualClock', options.clock)
      }
      const r = native.createBulkhead(o, clock)
      if (r.option !== undefined && typeof r.message === 'string') throw rangeError(r)
      this.#n = r
      this.#name = o.name ?? 'bulkhead'
    }

    /** The name. */
    get name () { return this.#name }
    /** The current limit. */
    get limit () { return this.#n.limit }
    /** Calls in flight now. */
    get inFlight () { return this.#n.inFlight }

    /** A slot now, or null when the bulkhead is full. Never throws, never waits. */
    tryAcquire () {
      const slot = this.#n.tryAcquire()
      return slot === null || slot === undefined ? null : new BulkheadPermit(this.#n, slot)
    }

    #acquire () {
      const p = this.tryAcquire()
      if (p === null) throw new BulkheadFullError(this.#name, this.#n.limit, this.#n.inFlight)
      return p
    }

    /** `fn(...args)` in a slot, synchronously: a throw is a failure. */
    call (fn, ...args) {
      if (typeof fn !== 'function') throw argType('fn', 'of type function', fn)
      const p = this.#acquire()
      let r
      try {
        r = fn(...args)
      } catch (e) {
        p.failure()
        throw e
      }
      p.success()
      return r
    }

    /** `await fn(...args)` in a slot: a rejection is a failure. */
    async fire (fn, ...args) {
      if (typeof fn !== 'function') throw argType('fn', 'of type function', fn)
      const p = this.#acquire()
      let r
      try {
        r = await fn(...args)
      } catch (e) {
        p.failure()
        throw e
      }
      p.success()
      return r
    }

    /** Set the limit by hand (1 to maxConcurrent, or the adaptive maxLimit). */
    setLimit (limit) {
      if (typeof limit !== 'number') throw argType('limit', 'of type number', limit)
      const problem = this.#n.setLimit(limit)
      if (problem !== null && problem !== undefined) throw rangeError(problem)
    }

    /** The counters: name, limit, inFlight, peakInFlight, rejected, algorithm, limitUpdates. */
    stats () {
      const s = this.#n.stats()
      return {
        name: s.name,
        limit: s.limit,
        inFlight: s.inFlight,
        peakInFlight: s.peakInFlight,
        rejected: s.rejected,
        algorithm: s.algorithm ?? null,
        limitUpdates: s.limitUpdates
      }
    }

    /** The counters in the Prometheus text format (fusebox_bulkhead_*). */
    prometheus () {
      return this.#n.prometheus()
    }
  }

  return { Bulkhead, BulkheadPermit, BulkheadFullError }
}
