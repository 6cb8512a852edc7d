'use strict'
// Keyed breakers for Node: a bounded set of breakers by key (per host, per
// route, per tenant), created on first use with one set of options. The
// core (core/src/engine/keyed.rs, src/keyed.rs) decides what is kept and
// what is evicted; this file gives it a Node shape. The breakers handed
// out are ordinary CircuitBreakers, fast path included, as the registry's.
//
// index.js calls the exported function once with what it shares.

module.exports = function keyed ({
  native, CircuitBreaker, FuseboxError, kFromNative, nativeOptions, wrapperOptions,
  throwProblem, argType, argRange
}) {
  /**
   * A new key refused because the set is full of breakers that hold
   * history (open, failing or recently used): none may be evicted. Code
   * 'EFUSEBOXKEYEDFULL'.
   */
  class KeyedFullError extends FuseboxError {
    constructor (message, keyed, key, capacity) {
      super(message, 'EFUSEBOXKEYEDFULL')
      this.keyed = keyed
      this.key = key
      this.capacity = capacity
    }
  }
  KeyedFullError.prototype.name = 'KeyedFullError'

  function checkKey (key) {
    if (typeof key !== 'string') throw argType('key', 'of type string', key)
  }

  /**
   * At most `capacity` breakers by key, each made on first use with the
   * set's breaker options and named after its key. When the set is full, a
   * breaker that holds no history (Closed, nothing in its window, unused
   * for `minIdleMs`) is evicted to make room; when none may go,
   * getOrCreate() throws a KeyedFullError rather than grow.
   */
  class KeyedBreakers {
    #native
    #name
    // What each handle is made with (timeoutMs, classify, fallback...).
    #options
    // One handle per key, with its breaker's identity: a handle costs far
    // more to make (~15 us) than a lookup, and a lookup through
    // lookupId() tells whether the set still holds that breaker (it may
    // have been evicted or removed). At most `capacity` entries, the
    // oldest forgotten first.
    #handles = new Map()
    #capacity

    constructor (options) {
      if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
      const { name = 'keyed', capacity, minIdleMs, ...breaker } = options
      if (typeof name !== 'string') throw argType('name', 'of type string', name, 'option')
      if (typeof capacity !== 'number') throw argType('capacity', 'of type number', capacity, 'option')
      if (minIdleMs !== undefined && typeof minIdleMs !== 'number') throw argType('minIdleMs', 'of type number', minIdleMs, 'option')
      // The breakers' options, checked now rather than at the first key.
      const { native: o, clock } = nativeOptions(breaker, true)
      wrapperOptions(breaker)
      const n = native.keyedCreate(name, capacity, minIdleMs, o, clock)
      if (!(n instanceof native.NativeKeyed)) throwProblem(n)
      this.#native = n
      this.#name = name
      this.#options = breaker
      this.#capacity = n.capacity
    }

    /** The handle kept for `key` if the set still holds its breaker (a lookup, as get()). */
    #kept (key) {
      const c = this.#handles.get(key)
      const id = this.#native.lookupId(key)
      if (c !== undefined && c.id === id) return c.breaker
      if (c !== undefined) this.#handles.delete(key)
      return id === -1 ? undefined : null
    }

    #keep (key, n) {
      const breaker = new CircuitBreaker(kFromNative, { native: n, options: this.#options })
      if (this.#handles.size >= this.#capacity) this.#handles.delete(this.#handles.keys().next().value)
      this.#handles.set(key, { id: n.identity(), breaker })
      return breaker
    }

    /** The set's name (the `keyed` label of its Prometheus series). */
    get name () { return this.#name }
    /** Breakers in the set. */
    get size () { return this.#native.len }
    /** The most breakers the set holds. */
    get capacity () { return this.#native.capacity }

    /**
     * The breaker of `key`, created on first use (evicting one that holds
     * no history when the set is full). Throws KeyedFullError when none
     * may be evicted. The same CircuitBreaker object for a key while the
     * set holds its breaker.
     */
    getOrCreate (key) {
      checkKey(key)
      const kept = this.#kept(key)
      if (kept) return kept
      const n = this.#native.getOrCreate(key)
      if (n instanceof native.NativeBreaker) return this.#keep(key, n)
      if (n.kind === 'full') throw new KeyedFullError(n.message, this.#name, key, n.capacity)
      throw argRange(n.option, n.message)
    }

    /** The breaker of `key`, or undefined when the set holds none (creates nothing). */
    get (key) {
      checkKey(key)
      const kept = this.#kept(key)
      if (kept !== null) return kept
      const n = this.#native.get(key)
      return n === null || n === undefined ? undefined : this.#keep(key, n)
    }

    /** Take `key`'s breaker out, whatever its state (handles keep working). Whether it was there. */
    remove (key) {
      checkKey(key)
      this.#handles.delete(key)
      return this.#native.remove(key)
    }

    /** The set's counters (totals never go back). */
    stats () {
      const s = this.#native.stats()
      return {
        name: s.name,
        size: s.len,
        capacity: s.capacity,
        created: s.created,
        evictions: s.evictions,
        refusals: s.refusals,
        removed: s.removed
      }
    }

    /** Every breaker's metrics and the set's counters in the Prometheus text format. */
    prometheus () {
      return this.#native.prometheus()
    }
  }

  return { KeyedBreakers, KeyedFullError }
}
