'use strict'
// Shared-memory breakers for Node: one breaker for every process on the
// host (cluster workers, child processes), in a memory-mapped file that each
// process opens by path. The core (core/src/shm.rs, src/shared.rs) decides;
// this file gives it a Node shape. The breakers handed out are ordinary
// CircuitBreakers, fast path included.
//
// index.js calls the exported function once with what it shares.

module.exports = function shared ({
  native, CircuitBreaker, FuseboxError, kFromNative, nativeOptions, argType, argRange
}) {
  /**
   * A shared registry file cannot be used: not a fusebox registry, made by
   * another layout version or before the host last booted (code
   * 'EFUSEBOXBADFILE'), full ('EFUSEBOXSHAREDFULL'), or a breaker in it
   * being created by a process that stopped ('EFUSEBOXBUSY').
   */
  class SharedRegistryError extends FuseboxError {
    constructor (message, code, path) {
      super(message, code)
      if (path !== undefined) this.path = path
    }
  }
  SharedRegistryError.prototype.name = 'SharedRegistryError'

  /** The breaker exists in the file with other options (code 'EFUSEBOXMISMATCH'). */
  class ConfigMismatchError extends SharedRegistryError {
    constructor (message, breaker, fields) {
      super(message, 'EFUSEBOXMISMATCH')
      this.breaker = breaker
      this.fields = fields
    }
  }
  ConfigMismatchError.prototype.name = 'ConfigMismatchError'

  function raise (p) {
    switch (p.kind) {
      case 'io': {
        const e = new Error(p.message)
        e.code = p.code
        if (p.errno !== undefined && p.errno !== null) e.errno = -p.errno
        e.path = p.path
        throw e
      }
      case 'configMismatch':
        throw new ConfigMismatchError(p.message, p.breaker, p.fields)
      case 'badFile':
        throw new SharedRegistryError(p.message, 'EFUSEBOXBADFILE', p.path ?? undefined)
      case 'full':
        throw new SharedRegistryError(p.message, 'EFUSEBOXSHAREDFULL')
      case 'busy':
        throw new SharedRegistryError(p.message, 'EFUSEBOXBUSY')
      default:
        throw argRange(p.option ?? 'options', p.message)
    }
  }

  function checkPath (path) {
    if (typeof path !== 'string') throw argType('path', 'of type string', path)
    if (path.length === 0 || path.includes('\0')) {
      throw argRange('path', `The argument 'path' must be a non-empty string without null bytes. Received ${JSON.stringify(path)}`)
    }
  }

  const kClock = Symbol('fusebox.sharedClock')

  /**
   * A clock moved by hand that lives in a file: one time for every process
   * that opens the same path. For tests of multi-process code; give it to
   * `new SharedRegistry(path, { clock })` in every process.
   */
  class SharedManualClock {
    constructor (path) {
      checkPath(path)
      const n = native.sharedClockOpen(path)
      if (!(n instanceof native.NativeSharedClock)) raise(n)
      this[kClock] = n
    }

    /** Move time forward by `ms` (≥ 0) milliseconds, for every process. Returns the clock. */
    advance (ms) {
      if (typeof ms !== 'number') throw argType('ms', 'of type number', ms)
      if (!(ms >= 0 && ms <= 1e12)) throw argRange('ms', `The value of "ms" is out of range. It must be >= 0 and <= 1e12. Received ${ms}`)
      this[kClock].advance(ms)
      return this
    }

    /** The clock's time in ms from its origin. */
    now () {
      return this[kClock].now()
    }
  }

  const REGISTRY_OPTIONS = new Set(['capacity', 'dataBytes', 'stripes', 'clock'])

  /**
   * Breakers in a memory-mapped file shared by every process that opens the
   * same path: a trip seen by one cluster worker stops every worker's calls.
   * The file is created (atomically) if missing; `capacity` (breaker slots,
   * default 64), `dataBytes` and `stripes` are used only then.
   */
  class SharedRegistry {
    #native

    constructor (path, options) {
      checkPath(path)
      const o = options ?? {}
      if (typeof o !== 'object') throw argType('options', 'of type object', options)
      for (const key of Object.keys(o)) {
        if (!REGISTRY_OPTIONS.has(key)) {
          const e = new TypeError(`Unknown option "${key}"`)
          e.code = 'ERR_INVALID_ARG_VALUE'
          throw e
        }
      }
      for (const key of ['capacity', 'dataBytes', 'stripes']) {
        if (o[key] !== undefined && typeof o[key] !== 'number') throw argType(key, 'of type number', o[key], 'option')
      }
      let clock
      if (o.clock !== undefined) {
        if (!(o.clock instanceof SharedManualClock)) throw argType('clock', 'an instance of SharedManualClock', o.clock, 'option')
        clock = o.clock[kClock]
      }
      const n = native.sharedOpen(path, o.capacity, o.dataBytes, o.stripes, clock)
      if (!(n instanceof native.NativeSharedRegistry)) raise(n)
      this.#native = n
    }

    /** The file's path. */
    get path () { return this.#native.path }
    /** Breaker slots (fixed when the file was made). */
    get capacity () { return this.#native.capacity }
    /** Whether this object created the file (of racing processes, exactly one did). */
    get created () { return this.#native.created }

    /**
     * The breaker called `name`, created with `options` if the file does not
     * hold it yet; if it does, its options must be the same
     * (ConfigMismatchError otherwise). `timeoutMs`, `classify`, `fallback`
     * and `fallbackLimit` belong to the returned handle.
     */
    getOrCreate (name, options) {
      if (typeof name !== 'string') throw argType('name', 'of type string', name)
      if (options != null && options.name !== undefined && options.name !== name) {
        throw argRange('name', `invalid option name: ${JSON.stringify(options.name)} (expected ${JSON.stringify(name)}, the shared name)`)
      }
      if (options != null && options.clock !== undefined) {
        throw argType('clock', 'absent (a shared breaker runs on its registry\'s clock)', options.clock, 'option')
      }
      const { native: o } = nativeOptions(options, false)
      const n = this.#native.getOrCreate(name, o)
      if (!(n instanceof native.NativeBreaker)) raise(n)
      return new CircuitBreaker(kFromNative, { native: n, options })
    }

    /** The breaker called `name` with the options stored in the file, or undefined. */
    get (name) {
      if (typeof name !== 'string') throw argType('name', 'of type string', name)
      const n = this.#native.get(name)
      if (n instanceof native.NativeBreaker) return new CircuitBreaker(kFromNative, { native: n, options: undefined })
      if (n.kind === 'notFound') return undefined
      raise(n)
    }

    /** The names in the file. */
    names () {
      return this.#native.names()
    }
  }

  return { SharedRegistry, SharedManualClock, SharedRegistryError, ConfigMismatchError }
}
