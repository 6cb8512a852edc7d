'use strict'
// fusebox for Node: the JS face of the Rust core (native.js loads the addon).
//
// Where the time goes, and why the code looks like this:
// * Admitting a call while Closed is a read of the core's state word, mapped
//   into an Int32Array (no call into Rust): the core admits a Closed call
//   without touching anything either, so JS reads the same word it would,
//   with the masks and the per-breaker `skipsCore` the core publishes for
//   exactly this (its `bindings` module; docs/architecture.md#bindings).
// * Every other phase (and timed permits: slow-call detection, a latency
//   histogram) asks the core, which decides: one call.
// * Codes and names shared with the core come from codes.js, generated
//   from the core.
// * Reporting an outcome is one call into Rust, through a function built in
//   raw Node-API (napi-rs's method glue costs ~10x more).
// * Nothing on the fast path throws or builds an Error: tryAcquire() returns
//   null on rejection; errors are built only by call()/fire(), which must
//   reject with one, or when someone listens to 'reject'.
// * Nothing on the fast path allocates but the permit (tryAcquire) or the
//   promise (fire): fire()'s handlers are made once per generation.

const { EventEmitter } = require('node:events')
const os = require('node:os')
const native = require('./native.js')
const CODES = require('./codes.js')

// ----- the state word ------------------------------------------------------

const L = native.wordLayout()
const PHASE_MASK = L.phaseMask
const FREE_MASK = L.freeMask
const GEN_SHIFT = L.generationShift
const GEN_HI = 2 ** (32 - GEN_SHIFT)
// Internalized copies (property keys are), in plain packed arrays indexed
// by the phase bits (each decoded as the core does): so that
// `breaker.state === 'open'` is a pointer compare and the lookup is inlined.
const intern = (str) => Object.keys({ [str]: 0 })[0]
const STATES = L.phases.map((code) => intern(CODES.STATE_OF_PHASE[code]))
const PHASES = L.phases.map((code) => intern(CODES.PHASES[code]))
// Int32 halves of the little- or big-endian u64.
const LO = os.endianness() === 'LE' ? 0 : 1
const HI = 1 - LO
// If a future core moved the generation out of reach, always ask the core.
const WORD_READABLE = GEN_SHIFT > 0 && GEN_SHIFT < 32

// Outcome codes of the native `record` (mailbox slot 3): the core's.
const OK = CODES.SUCCESS
const FAIL = CODES.FAILURE
const IGNORE = CODES.IGNORED
const RELEASE = CODES.RELEASE
const CANCEL = CODES.CANCEL
const OUTCOME_CODES = { success: OK, failure: FAIL, ignored: IGNORE }

const REASONS = CODES.REJECT_REASONS
// Whether a token (`generation * 2 + probe`, an integer < 2^53) is a
// half-open probe's: ToInt32 keeps the low bit (and, unlike `%` on a token
// past the small-integer range, costs no fmod call).
const isProbe = (t) => (t & 1) === 1

// The hot natives, one set per thread (src/hot.rs), take no arguments and
// return nothing: they read and write a mailbox of f64 slots shared with
// Rust: [0] token or rejection code, [1] start time, [2] duration (ms, < 0:
// measure), [3] outcome, [4] [5] [6] this thread's success batch (how many
// held back, their token, their wrapper's id; -1: none), [7] the id of the
// wrapper a call is for. A wrapper's `h` is { id, handle }: the handle keeps
// the id valid while a wrapper or one of its permits may use it.
const HOT = native.hotThread()
const BOX = new Float64Array(HOT.mailbox)
const ACQUIRE = HOT.acquire
const SUCCESS = HOT.success
const FAILURE = HOT.failure
const RECORD = HOT.record
const BATCH_MAX = HOT.batchMax

// Successes are handed to the core in batches (src/hot.rs says why and
// when): a success of the batch's wrapper and token is only counted here,
// and the batch is recorded at the latest when this run of microtasks ends.
let flushQueued = false
function flushBatch () {
  flushQueued = false
  native.flushSuccesses()
}

/** Report a success of token `t`: held back in the open batch if it can be. */
function succeed (h, t, s) {
  if (BOX[6] === h.id && BOX[5] === t && BOX[4] < BATCH_MAX) {
    if (BOX[4]++ === 0 && !flushQueued) {
      flushQueued = true
      process.nextTick(flushBatch)
    }
    return
  }
  BOX[7] = h.id
  BOX[0] = t
  BOX[1] = s
  SUCCESS()
}

function report (h, t, s, outcome) {
  if (outcome === OK) return succeed(h, t, s)
  BOX[7] = h.id
  BOX[0] = t
  BOX[1] = s
  if (outcome === FAIL) FAILURE()
  else {
    BOX[2] = -1
    BOX[3] = outcome
    RECORD()
  }
}

function checkDuration (durationMs) {
  if (typeof durationMs !== 'number') throw argType('durationMs', 'of type number', durationMs)
  if (!(durationMs >= 0 && durationMs <= 1e12)) throw argRange('durationMs', `The value of "durationMs" is out of range. It must be >= 0 and <= 1e12. Received ${durationMs}`)
}

function reportTimed (h, t, s, outcome, durationMs) {
  BOX[7] = h.id
  BOX[0] = t
  BOX[1] = s
  BOX[2] = durationMs
  BOX[3] = outcome
  RECORD()
}

// ----- errors ----------------------------------------------------------------

/** Base class of the errors fusebox raises. */
class FuseboxError extends Error {
  constructor (message, code) {
    super(message)
    this.code = code
  }
}
FuseboxError.prototype.name = 'FuseboxError'

/** A call the breaker did not admit; the function was not run. */
class CircuitOpenError extends FuseboxError {
  constructor (breaker, reason, retryAfterMs) {
    super(openMessage(breaker, reason, retryAfterMs), 'EFUSEBOXOPEN')
    this.breaker = breaker
    this.reason = reason
    this.retryAfterMs = retryAfterMs
  }
}
CircuitOpenError.prototype.name = 'CircuitOpenError'

function openMessage (breaker, reason, retryAfterMs) {
  const why = reason === 'halfOpenFull'
    ? 'is half-open and every probe slot is taken'
    : reason === 'forcedOpen' ? 'is forced open' : 'is open'
  const when = retryAfterMs === null ? '' : `; retry after ${Math.ceil(retryAfterMs)} ms`
  return `circuit breaker "${breaker}" ${why}${when}`
}

// The CircuitOpenError a rejection hands out. Building an Error is most of
// what a rejection would cost: V8 builds one in its runtime (~0.9 us even
// with no stack trace captured; ~4 us with one, and more across an await),
// against ~2 us for the whole reject-and-catch. So a rejection's error is
// an ordinary object on CircuitOpenError's prototype (instanceof
// CircuitOpenError, FuseboxError and Error, the same own fields `code`,
// `breaker`, `reason`, `retryAfterMs`), whose `message` and `stack` (the
// header line a stackless Error has: there is no stack worth capturing, the
// function was not run) are made when read. `new CircuitOpenError(...)`
// still builds a real Error.
function Rejection (breaker, reason, retryAfterMs) {
  this.code = 'EFUSEBOXOPEN'
  this.breaker = breaker
  this.reason = reason
  this.retryAfterMs = retryAfterMs
}
Rejection.prototype = CircuitOpenError.prototype
Object.defineProperties(CircuitOpenError.prototype, {
  message: {
    get () { return openMessage(this.breaker, this.reason, this.retryAfterMs) },
    configurable: true
  },
  stack: {
    get () { return `${this.name}: ${this.message}` },
    configurable: true
  }
})

/** A fire() whose function did not settle within its timeout (counted as a failure). */
class CallTimeoutError extends FuseboxError {
  constructor (breaker, timeoutMs) {
    super(`circuit breaker "${breaker}": call timed out after ${timeoutMs} ms`, 'EFUSEBOXTIMEOUT')
    this.breaker = breaker
    this.timeoutMs = timeoutMs
    this.retryAfterMs = null
  }
}
CallTimeoutError.prototype.name = 'CallTimeoutError'

/** What a rejection code (see src/hot.rs) says: reason and retry-after. */
function decodeRejection (code) {
  const c = -code - 1
  const retry = Math.floor(c / 4)
  return { reason: REASONS[c % 4] ?? 'open', retryAfterMs: retry === 0 ? null : (retry - 1) / 1e6 }
}

function typeName (v) {
  if (v === null) return 'null'
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`
  return `type ${typeof v} (${String(v)})`
}

function argType (name, expected, got, what = 'argument') {
  const e = new TypeError(`The "${name}" ${what} must be ${expected}. Received ${typeName(got)}`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  return e
}

function optType (name, expected, got) {
  return argType(name, expected, got, 'option')
}

function argRange (name, message) {
  const e = new RangeError(message)
  e.code = 'ERR_OUT_OF_RANGE'
  e.option = name
  return e
}

function fnType (name, got) {
  const e = new TypeError(`The "${name}" argument must be of type function. Received ${typeName(got)}`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  return e
}

// ----- clock -------------------------------------------------------------------

const kNative = Symbol('fusebox.native')
// A failed call's outcome on a permit, as the breaker's `classify` says
// (for hedge.js: not public).
const kSettle = Symbol('fusebox.settle')
// For retry.js and hedge.js (not public): one attempt through the breaker
// with its timeout and without its fallback; the fallback's answer for a
// call the policy gave up on; the breaker's timeoutMs (0: none).
const kAttempt = Symbol('fusebox.attempt')
const kFallback = Symbol('fusebox.fallback')
const kTimeoutMs = Symbol('fusebox.timeoutMs')

/** A clock moved by hand, for tests: breakers on it see time move only on advance(). */
class ManualClock {
  constructor () {
    this[kNative] = new native.NativeManualClock()
  }

  /** Move time forward by `ms` (≥ 0) milliseconds. Returns the clock. */
  advance (ms) {
    if (typeof ms !== 'number') {
      const e = new TypeError(`The "ms" argument must be of type number. Received ${typeName(ms)}`)
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
    if (!(ms >= 0 && ms <= 1e12)) throw argRange('ms', `The value of "ms" is out of range. It must be >= 0 and <= 1e12. Received ${ms}`)
    this[kNative].advance(ms)
    return this
  }

  /** The clock's time in ms from its origin. */
  now () {
    return this[kNative].now()
  }
}

// Latency histograms (histogram.js): a breaker's `latencyHistogram`.
const { LatencyHistogram } = require('./histogram.js')({ native, kNative, ManualClock, argType, argRange })

// ----- options -------------------------------------------------------------------

const NUMBER_OPTIONS = [
  'failureRateThreshold', 'minCalls', 'windowMs', 'windowBuckets', 'countWindow',
  'openTimeoutMs', 'jitter', 'halfOpenMaxCalls', 'successThreshold', 'halfOpenMaxWaitMs',
  'slowCallMs', 'slowCallRateThreshold', 'maxOpenForMs'
]
const KNOWN_OPTIONS = new Set([
  ...NUMBER_OPTIONS, 'name', 'consecutiveFailures', 'backoff', 'clock', 'timeoutMs', 'classify',
  'fallback', 'fallbackLimit', 'cancellation', 'latencyHistogram'
])

/** Check the options' types (ranges are the core's business); the native form. */
function nativeOptions (options, allowClock, allowHistogram = false) {
  if (options === undefined || options === null) return { native: {}, clock: undefined }
  if (typeof options !== 'object') throw argType('options', 'of type object', options)
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      const e = new TypeError(`Unknown option "${key}"`)
      e.code = 'ERR_INVALID_ARG_VALUE'
      throw e
    }
  }
  const out = {}
  for (const key of NUMBER_OPTIONS) {
    const v = options[key]
    if (v === undefined) continue
    if (typeof v !== 'number') throw optType(key, 'of type number', v)
    out[key] = v
  }
  if (options.name !== undefined) {
    if (typeof options.name !== 'string') throw optType('name', 'of type string', options.name)
    out.name = options.name
  }
  // One of CODES.CANCELLATIONS; the core checks which.
  if (options.cancellation !== undefined) {
    if (typeof options.cancellation !== 'string') throw optType('cancellation', 'of type string', options.cancellation)
    out.cancellation = options.cancellation
  }
  const cf = options.consecutiveFailures
  if (cf === null) out.consecutiveFailuresOff = true
  else if (cf !== undefined) {
    if (typeof cf !== 'number') throw optType('consecutiveFailures', 'of type number or null', cf)
    out.consecutiveFailures = cf
  }
  const bo = options.backoff
  if (bo !== undefined && bo !== null) {
    if (typeof bo !== 'object') throw optType('backoff', 'of type object', bo)
    if (typeof bo.multiplier !== 'number') throw optType('backoff.multiplier', 'of type number', bo.multiplier)
    if (typeof bo.maxMs !== 'number') throw optType('backoff.maxMs', 'of type number', bo.maxMs)
    out.backoffMultiplier = bo.multiplier
    out.backoffMaxMs = bo.maxMs
  }
  let clock
  if (options.clock !== undefined) {
    if (!(options.clock instanceof ManualClock)) throw optType('clock', 'an instance of ManualClock', options.clock)
    if (!allowClock) throw optType('clock', 'absent for a shared breaker (the registry runs on the system clock)', options.clock)
    clock = options.clock[kNative]
  }
  // Only `new CircuitBreaker` attaches a histogram (not a shared, keyed or
  // registry breaker, nor reconfigure()).
  let histogram
  const h = options.latencyHistogram
  if (h !== undefined) {
    if (!allowHistogram) throw optType('latencyHistogram', 'absent (only new CircuitBreaker takes one)', h)
    if (!(h instanceof LatencyHistogram)) throw optType('latencyHistogram', 'an instance of LatencyHistogram', h)
    histogram = h[kNative]
  }
  return { native: out, clock, histogram }
}

function wrapperOptions (options) {
  let timeoutMs = 0
  let classify = defaultClassify
  let fallback = null
  let fallbackLimit = null
  if (options !== undefined && options !== null) {
    if (options.timeoutMs !== undefined) {
      const t = options.timeoutMs
      if (typeof t !== 'number') throw optType('timeoutMs', 'of type number', t)
      if (!(t > 0 && t <= 2147483647)) throw argRange('timeoutMs', `invalid option timeoutMs: ${t} (expected a duration in (0, 2147483647] ms)`)
      timeoutMs = t
    }
    if (options.classify !== undefined) {
      if (typeof options.classify !== 'function') throw optType('classify', 'of type function', options.classify)
      classify = options.classify
    }
    if (options.fallback !== undefined && options.fallback !== null) {
      if (typeof options.fallback !== 'function') throw optType('fallback', 'of type function', options.fallback)
      fallback = options.fallback
    }
    const fl = options.fallbackLimit
    if (fl !== undefined && fl !== null) {
      if (typeof fl !== 'object') throw optType('fallbackLimit', 'of type object', fl)
      if (typeof fl.perSecond !== 'number') throw optType('fallbackLimit.perSecond', 'of type number', fl.perSecond)
      if (typeof fl.burst !== 'number') throw optType('fallbackLimit.burst', 'of type number', fl.burst)
      if (fallback === null) {
        const e = new TypeError('The "fallbackLimit" option needs a "fallback"')
        e.code = 'ERR_INVALID_ARG_VALUE'
        throw e
      }
      fallbackLimit = fl
    }
  }
  return { timeoutMs, classify, fallback, fallbackLimit }
}

function throwProblem (p) {
  throw argRange(p.option, p.message)
}

/** A snapshot refused (ERR_FUSEBOX_SNAPSHOT) or a file error (ERR_FUSEBOX_SNAPSHOT_IO). */
function throwSnapshot (p) {
  throw new FuseboxError(p.message, p.kind === 'io' ? 'ERR_FUSEBOX_SNAPSHOT_IO' : 'ERR_FUSEBOX_SNAPSHOT')
}

/**
 * The default: an error carrying an HTTP 4xx `status` or `statusCode` says
 * nothing about the dependency's health and is ignored; anything else
 * (connection errors, timeouts, 5xx) is a failure.
 */
function defaultClassify (error) {
  const s = error != null ? (error.status ?? error.statusCode) : undefined
  return typeof s === 'number' && s >= 400 && s < 500 ? 'ignored' : 'failure'
}

// ----- permits ---------------------------------------------------------------------

// The core's message for a permit used twice (kind outcome_already_recorded).
const PERMIT_USED = native.permitUsedMessage()

/** A second outcome (or a release after one): the core's message. */
function permitUsed () {
  const e = new Error(PERMIT_USED)
  e.code = 'ERR_FUSEBOX_PERMIT_USED'
  return e
}

/**
 * The right to make one call. Report how it ended with success(), failure()
 * or ignore(); release() gives it back unreported (a half-open probe slot
 * is freed). Once only: a second report or release throws an Error with
 * code 'ERR_FUSEBOX_PERMIT_USED', and counts nothing.
 */
// A half-open probe that is never reported must not hold its slot: the core
// frees it when the permit is dropped, and in JS "dropped" is collected. (The
// core's half-open wait limit is the backstop.) Only probes are registered,
// so Closed calls pay nothing.
const probeReaper = new FinalizationRegistry(({ h, t, s }) => report(h, t, s, RELEASE))

class Permit {
  #h
  #token
  #start

  constructor (h, token, start) {
    this.#h = h
    this.#token = token
    this.#start = start
    if (isProbe(token)) probeReaper.register(this, { h, t: token, s: start }, this)
  }

  /** Whether this call is a half-open probe. */
  get probe () {
    const t = this.#token
    return t >= 0 && isProbe(t)
  }

  /** Whether the permit still waits for its outcome. */
  get pending () {
    return this.#token >= 0
  }

  /**
   * The call succeeded. `durationMs`: how long it took (else measured on
   * the breaker's clock, when slow-call detection is on). Returns true;
   * throws if the permit was already used.
   */
  success (durationMs) {
    const t = this.#token
    if (t < 0) throw permitUsed()
    if (durationMs !== undefined) return this.#timed(t, OK, durationMs)
    this.#done(t)
    succeed(this.#h, t, this.#start)
    return true
  }

  /** The call failed (`durationMs`: as for success()). */
  failure (durationMs) {
    const t = this.#token
    if (t < 0) throw permitUsed()
    if (durationMs !== undefined) return this.#timed(t, FAIL, durationMs)
    this.#done(t)
    report(this.#h, t, this.#start, FAIL)
    return true
  }

  /** The call ended in a way that says nothing about the dependency (e.g. a 404). */
  ignore () {
    const t = this.#token
    if (t < 0) throw permitUsed()
    this.#done(t)
    report(this.#h, t, this.#start, IGNORE)
    return true
  }

  /** Give the permit back without an outcome (a half-open probe slot is freed). */
  release () {
    const t = this.#token
    if (t < 0) throw permitUsed()
    this.#done(t)
    report(this.#h, t, this.#start, RELEASE)
    return true
  }

  /**
   * The call was given up on (aborted) before it ended: it counts as the
   * breaker's `cancellation` option says ('slowIfOverdue', the default:
   * nothing, or one slow call once past slowCallMs; 'release': nothing;
   * 'failure': a failure).
   */
  cancel () {
    const t = this.#token
    if (t < 0) throw permitUsed()
    this.#done(t)
    report(this.#h, t, this.#start, CANCEL)
    return true
  }

  /** A report with its duration (`durationMs` checked first). */
  #timed (t, outcome, durationMs) {
    checkDuration(durationMs)
    this.#done(t)
    reportTimed(this.#h, t, this.#start, outcome, durationMs)
    return true
  }

  #done (t) {
    this.#token = -1
    if (isProbe(t)) probeReaper.unregister(this)
  }
}

// ----- the breaker -------------------------------------------------------------------

const TRANSITION_EVENTS = ['open', 'halfOpen', 'close', 'stateChange']
const EVENT_OF_STATE = { closed: 'close', open: 'open', halfOpen: 'halfOpen' }
const kFromNative = Symbol('fusebox.fromNative')

/**
 * A circuit breaker. Events: 'open', 'halfOpen', 'close' and 'stateChange'
 * (transitions, delivered asynchronously on this thread's event loop: the
 * core raises them on its event thread), 'reject' (synchronously, with the
 * CircuitOpenError, each time a call is not admitted).
 */
class CircuitBreaker extends EventEmitter {
  #native
  #word
  #word2
  #h
  #id
  #readWord
  #onOk = null
  #onErr = null
  #reactToken = -1
  #timedPermits
  // The last rejection's code (0: none), in a typed array: a code is a
  // double, and storing one in a field would allocate a number each time.
  #last = new Float64Array(1)
  #onReject = false
  #listening = false
  #timeoutMs
  #classify
  #fallback
  #limit = null
  #name

  constructor (options, handle) {
    super()
    let n
    if (options === kFromNative) {
      n = handle.native
      options = handle.options
    } else {
      const { native: o, clock, histogram } = nativeOptions(options, true, true)
      n = native.createBreaker(o, clock, histogram)
      if (!(n instanceof native.NativeBreaker)) throwProblem(n)
    }
    const { timeoutMs, classify, fallback, fallbackLimit } = wrapperOptions(options)
    this.#timeoutMs = timeoutMs
    this.#classify = classify
    this.#fallback = fallback
    if (fallbackLimit !== null) {
      // The core's limited fallback path (on the breaker's clock).
      const l = n.fallbackLimit(fallbackLimit.perSecond, fallbackLimit.burst)
      if (!(l instanceof native.NativeFallbackLimit)) throwProblem(l)
      this.#limit = l
    }
    this.#native = n
    this.#name = n.name
    const hot = n.hot()
    // Two views of the word: the second read of the high half goes through
    // the other, so no compiler can fold it into the first.
    this.#word = new Int32Array(hot.word)
    this.#word2 = new Int32Array(hot.word)
    this.#h = { id: hot.id, handle: hot.handle }
    // `#h.id` again, one load nearer: the rejection path reads it.
    this.#id = hot.id
    // The core's answer (`bindings::skips_core`): whether admission may
    // skip it while the word admits freely; else permits are timed.
    this.#timedPermits = !hot.skipsCore
    this.#readWord = WORD_READABLE && hot.skipsCore
    this.on('newListener', this.#added)
    this.on('removeListener', this.#removed)
  }

  /**
   * The breaker called `name` in the process-wide registry, shared by every
   * worker thread of the process; created with `options` on first use (an
   * existing breaker keeps its own). `timeoutMs`, `classify`, `fallback`
   * and `fallbackLimit` belong to the returned handle. Runs on the system
   * clock.
   */
  static shared (name, options) {
    if (typeof name !== 'string') throw argType('name', 'of type string', name)
    if (options !== undefined && options !== null && options.name !== undefined && options.name !== name) {
      throw argRange('name', `invalid option name: ${JSON.stringify(options.name)} (expected ${JSON.stringify(name)}, the shared name)`)
    }
    const { native: o } = nativeOptions(options, false)
    const bare = options === undefined || options === null ||
      Object.keys(o).length === 0
    const n = native.registryGetOrCreate(name, bare ? undefined : o)
    if (!(n instanceof native.NativeBreaker)) throwProblem(n)
    return new CircuitBreaker(kFromNative, { native: n, options })
  }

  // ----- the fast path --------------------------------------------------------

  /**
   * A permit token (≥ 0), or -1 when rejected: the rejection's code is then
   * in BOX[0] until the next native call. (Returning the code itself, a
   * large double, would box it in a new heap number wherever V8 does not
   * inline this.)
   */
  #admit () {
    // Plain loads: each is one aligned 32-bit load of a word the core
    // updates with atomic stores and CAS. The generation is hi:lo; a
    // transition between the loads that carried into the high half shows as
    // a change of `hi` (then ask the core).
    const hi = this.#word[HI]
    const lo = this.#word[LO]
    // The core's first branch (`acquire_raw`): admitted, nothing written.
    if ((lo & FREE_MASK) === 0 && this.#readWord && this.#word2[HI] === hi) {
      return (hi * GEN_HI + (lo >>> GEN_SHIFT)) * 2
    }
    return this.#admitOther()
  }

  /** #admit() in every other case: the core decides (one call). Kept
   * apart so that V8 inlines the Closed path above into its callers. */
  #admitOther () {
    BOX[7] = this.#id
    ACQUIRE()
    const t = BOX[0]
    return t >= 0 ? t : -1
  }

  /**
   * A permit, or null when the breaker rejects the call (see lastRejection).
   * Never throws, never builds an Error (unless a 'reject' listener wants one).
   */
  tryAcquire () {
    const t = this.#admit()
    if (t >= 0) return new Permit(this.#h, t, this.#timedPermits ? BOX[1] : 0)
    const code = BOX[0]
    this.#last[0] = code
    if (this.#onReject) this.emit('reject', this.#error(code))
    return null
  }

  /**
   * A permit, or throws the CircuitOpenError when the breaker rejects the
   * call: tryAcquire() for code that reports outcomes itself and wants the
   * rejection as an error (an HTTP client's adapter).
   */
  acquire () {
    const t = this.#admit()
    if (t >= 0) return new Permit(this.#h, t, this.#timedPermits ? BOX[1] : 0)
    throw this.#rejected(BOX[0])
  }

  /** Why the last tryAcquire() / call() / fire() of this object was rejected. */
  get lastRejection () {
    const code = this.#last[0]
    return code === 0 ? null : decodeRejection(code)
  }

  // The error of the rejection `code` (decodeRejection, inlined: no
  // object between).
  #error (code) {
    const c = -code - 1
    const retry = Math.floor(c / 4)
    return new Rejection(this.#name, REASONS[c % 4] ?? 'open', retry === 0 ? null : (retry - 1) / 1e6)
  }

  #rejected (code) {
    this.#last[0] = code
    const e = this.#error(code)
    if (this.#onReject) this.emit('reject', e)
    return e
  }

  #outcome (error) {
    let o
    try {
      o = this.#classify(error)
    } catch {
      return FAIL
    }
    return OUTCOME_CODES[o] ?? FAIL
  }

  // ----- calls --------------------------------------------------------------------

  /**
   * Run a synchronous `fn(...args)` through the breaker: its return is a
   * success, its throw a failure (as `classify` says), rethrown. Throws
   * CircuitOpenError without running `fn` when rejected.
   */
  call (fn) {
    if (typeof fn !== 'function') throw fnType('fn', fn)
    const t = this.#admit()
    if (t < 0) {
      const e = this.#rejected(BOX[0])
      if (this.#fallback !== null) return this.#fallbackOr(e, Array.prototype.slice.call(arguments, 1))
      throw e
    }
    const s = this.#timedPermits ? BOX[1] : 0
    let v
    try {
      // No rest parameter: an array per call costs more than the breaker.
      switch (arguments.length) {
        case 1: v = fn(); break
        case 2: v = fn(arguments[1]); break
        case 3: v = fn(arguments[1], arguments[2]); break
        default: v = fn(...Array.prototype.slice.call(arguments, 1))
      }
    } catch (e) {
      report(this.#h, t, s, this.#outcome(e))
      if (this.#fallback !== null) return this.#fallbackOr(e, Array.prototype.slice.call(arguments, 1))
      throw e
    }
    report(this.#h, t, s, OK)
    return v
  }

  /**
   * Run `fn(...args)` (async or not) through the breaker: a fulfilment is a
   * success, a rejection (or throw) a failure (as `classify` says), passed
   * on unchanged. Rejects with CircuitOpenError without running `fn` when
   * rejected, and with CallTimeoutError (a failure) if the breaker has a
   * `timeoutMs` and `fn` takes longer. No timer is set without a timeout.
   */
  fire (fn) {
    if (typeof fn !== 'function') return Promise.reject(fnType('fn', fn))
    const t = this.#admit()
    if (t < 0) return this.#fail(this.#rejected(BOX[0]), arguments, 1)
    const s = this.#timedPermits ? BOX[1] : 0
    if (this.#timeoutMs !== 0) return this.#timed(t, s, this.#timeoutMs, fn, Array.prototype.slice.call(arguments, 1))
    let p
    try {
      switch (arguments.length) {
        case 1: p = fn(); break
        case 2: p = fn(arguments[1]); break
        case 3: p = fn(arguments[1], arguments[2]); break
        default: p = fn(...Array.prototype.slice.call(arguments, 1))
      }
    } catch (e) {
      report(this.#h, t, s, this.#outcome(e))
      return this.#fail(e, arguments, 1)
    }
    // One reaction on the call's promise (not an async function: its extra
    // frame and await cost more than the whole breaker). Without slow-call
    // detection or a fallback, the handlers depend on the token only, so
    // they are made once per generation, not per call.
    if (p === null || typeof p !== 'object' || p.constructor !== Promise) p = Promise.resolve(p)
    if (s === 0 && this.#fallback === null) {
      if (t !== this.#reactToken) {
        [this.#onOk, this.#onErr] = this.#handlers(t, 0, null)
        this.#reactToken = t
      }
      return p.then(this.#onOk, this.#onErr)
    }
    const args = this.#fallback === null ? null : Array.prototype.slice.call(arguments, 1)
    const [onOk, onErr] = this.#handlers(t, s, args)
    return p.then(onOk, onErr)
  }

  /**
   * fire()'s reactions for the permit token `t` with start time `s`; on a
   * failure the fallback gets `args` (null: no fallback). (Not native
   * handlers: the microtask queue calls a native function through V8's
   * generic, slower path.)
   */
  #handlers (t, s, args) {
    const h = this.#h
    return [
      (v) => {
        report(h, t, s, OK)
        return v
      },
      (e) => {
        report(h, t, s, this.#outcome(e))
        if (args !== null) return this.#fallbackOr(e, args)
        throw e
      }
    ]
  }

  /** fire() with a timeout of its own for this call (`timeoutMs` > 0). */
  fireWithTimeout (timeoutMs, fn) {
    if (typeof timeoutMs !== 'number') return Promise.reject(argType('timeoutMs', 'of type number', timeoutMs))
    if (!(timeoutMs > 0 && timeoutMs <= 2147483647)) {
      return Promise.reject(argRange('timeoutMs', `The value of "timeoutMs" is out of range. It must be > 0 and <= 2147483647. Received ${timeoutMs}`))
    }
    if (typeof fn !== 'function') return Promise.reject(fnType('fn', fn))
    const t = this.#admit()
    if (t < 0) return this.#fail(this.#rejected(BOX[0]), arguments, 2)
    const s = this.#timedPermits ? BOX[1] : 0
    return this.#timed(t, s, timeoutMs, fn, Array.prototype.slice.call(arguments, 2))
  }

  #timed (t, s, ms, fn, args) {
    const p = this.#timedRaw(t, s, ms, fn, args)
    return this.#fallback === null ? p : p.catch((e) => this.#fallbackOr(e, args))
  }

  /** #timed without the fallback. */
  #timedRaw (t, s, ms, fn, args) {
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        report(this.#h, t, s, FAIL)
        reject(new CallTimeoutError(this.#name, ms))
      }, ms)
      let r
      try {
        r = fn(...args)
      } catch (e) {
        settled = true
        clearTimeout(timer)
        report(this.#h, t, s, this.#outcome(e))
        reject(e)
        return
      }
      Promise.resolve(r).then((v) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        report(this.#h, t, s, OK)
        resolve(v)
      }, (e) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        report(this.#h, t, s, this.#outcome(e))
        reject(e)
      })
    })
  }

  /** A rejected promise for `e`, or the fallback's answer. */
  #fail (e, argsObject, from) {
    if (this.#fallback === null) return Promise.reject(e)
    try {
      return Promise.resolve(this.#fallbackOr(e, Array.prototype.slice.call(argsObject, from)))
    } catch (x) {
      return Promise.reject(x)
    }
  }

  /**
   * The fallback's answer for the cause `e` (a rejection, a failure, a
   * timeout), if the core's limiter (when there is one) lets it run; else
   * `e` is thrown.
   */
  #fallbackOr (e, args) {
    if (this.#limit !== null && !this.#limit.admit()) throw e
    return this.#fallback(e, ...args)
  }

  /** `fn` wrapped: `(...args) => this.fire(fn, ...args)`. */
  wrap (fn) {
    if (typeof fn !== 'function') throw fnType('fn', fn)
    const wrapped = (...args) => this.fire(fn, ...args)
    Object.defineProperty(wrapped, 'name', { value: fn.name })
    return wrapped
  }

  // ----- reading and manual control ------------------------------------------------

  /** The breaker's name. */
  get name () {
    return this.#name
  }

  // The native breaker, for retry.js (not public: a symbol key).
  get [kNative] () {
    return this.#native
  }

  // One attempt of a retried call: fire(fn, ...args) with the breaker's
  // timeout, without its fallback (which answers the whole call, once the
  // policy gives up: [kFallback]).
  [kAttempt] (fn, args) {
    const t = this.#admit()
    if (t < 0) return Promise.reject(this.#rejected(BOX[0]))
    const s = this.#timedPermits ? BOX[1] : 0
    if (this.#timeoutMs !== 0) return this.#timedRaw(t, s, this.#timeoutMs, fn, args)
    let p
    try {
      p = Promise.resolve(fn(...args))
    } catch (e) {
      report(this.#h, t, s, this.#outcome(e))
      return Promise.reject(e)
    }
    const [onOk, onErr] = this.#handlers(t, s, null)
    return p.then(onOk, onErr)
  }

  // A policy's call that failed with `e`: the fallback's answer (when there
  // is one and its limiter lets it run), else `e` (a promise either way).
  [kFallback] (e, args) {
    return this.#fail(e, args, 0)
  }

  get [kTimeoutMs] () {
    return this.#timeoutMs
  }

  // End `permit` as `classify` says of `error` (hedge.js: its attempts hold
  // permits, which a winner's answer cancels).
  [kSettle] (permit, error) {
    const o = this.#outcome(error)
    if (o === OK) permit.success()
    else if (o === IGNORE) permit.ignore()
    else permit.failure()
  }

  /** 'closed', 'open' or 'halfOpen'. */
  get state () {
    return STATES[this.#word[LO] & PHASE_MASK]
  }

  /** The state, or 'forcedOpen' / 'disabled' under manual control. */
  get phase () {
    return PHASES[this.#word[LO] & PHASE_MASK]
  }

  /**
   * The options in force, defaults filled in. Read from the core each time:
   * `reconfigure` (through this handle or another) changes them.
   */
  get options () {
    const o = this.#native.options()
    return Object.freeze({
      name: o.name,
      failureRateThreshold: o.failureRateThreshold,
      consecutiveFailures: o.consecutiveFailures ?? null,
      minCalls: o.minCalls,
      ...(o.countWindow === undefined || o.countWindow === null
        ? { windowMs: o.windowMs, windowBuckets: o.windowBuckets }
        : { countWindow: o.countWindow }),
      openTimeoutMs: o.openTimeoutMs,
      backoff: o.backoffMultiplier === undefined || o.backoffMultiplier === null
        ? null
        : Object.freeze({ multiplier: o.backoffMultiplier, maxMs: o.backoffMaxMs }),
      jitter: o.jitter,
      halfOpenMaxCalls: o.halfOpenMaxCalls,
      successThreshold: o.successThreshold,
      halfOpenMaxWaitMs: o.halfOpenMaxWaitMs,
      slowCallMs: o.slowCallMs ?? null,
      slowCallRateThreshold: o.slowCallRateThreshold,
      maxOpenForMs: o.maxOpenForMs,
      cancellation: o.cancellation,
      timeoutMs: this.#timeoutMs === 0 ? null : this.#timeoutMs
    })
  }

  /** A snapshot of the counters (totals never go back). */
  get stats () {
    const m = this.#native.stats()
    return {
      name: m.name,
      state: m.state,
      phase: m.phase,
      generation: m.generation,
      successes: m.successes,
      failures: m.failures,
      ignored: m.ignored,
      slow: m.slow,
      rejected: m.rejected,
      stateChanges: m.stateChanges,
      calls: m.calls,
      failureRate: m.failureRate,
      slowRate: m.slowRate,
      window: { calls: m.windowCalls, failures: m.windowFailures, slow: m.windowSlow }
    }
  }

  /** Counts of the limited fallback path, or null without a fallbackLimit. */
  get fallbackStats () {
    return this.#limit === null ? null : this.#limit.stats()
  }

  /** Open until reset(). */
  forceOpen () {
    this.#native.forceOpen()
  }

  /** Admit every call and never trip, until reset(). */
  disable () {
    this.#native.disable()
  }

  /** Back to Closed with an empty window. */
  reset () {
    this.#native.reset()
  }

  /**
   * Open for `ms` (a server's Retry-After), cut to maxOpenForMs, then probe
   * as after any open period: from open only later, never earlier; forced
   * open and disabled are left alone; 0 means a probe at the next call.
   * Returns whether the breaker was opened or its open period extended.
   */
  openFor (ms) {
    if (typeof ms !== 'number') throw argType('ms', 'of type number', ms)
    const r = this.#native.openFor(ms)
    if (typeof r !== 'boolean') throwProblem(r)
    return r
  }

  /**
   * Change the options given in `changes` in place (the others keep their
   * value): the state, the window's counts and the counters are kept, and
   * the window is judged at once under the new thresholds. Returns
   * `{ changed, tripped }`. A RangeError (nothing changed) for a bad value,
   * another window (countWindow, windowMs, windowBuckets are fixed when the
   * breaker is made) or slow-call detection turned on or off.
   */
  reconfigure (changes) {
    if (changes === null || typeof changes !== 'object') throw argType('changes', 'of type object', changes)
    const merged = { ...this.options }
    delete merged.name
    delete merged.timeoutMs
    if (changes.countWindow !== undefined) {
      delete merged.windowMs
      delete merged.windowBuckets
    } else if (changes.windowMs !== undefined || changes.windowBuckets !== undefined) {
      delete merged.countWindow
    }
    Object.assign(merged, changes)
    // `null` reads back as "off"; as an option only consecutiveFailures and
    // backoff take it (absent is off for the rest).
    for (const key of Object.keys(merged)) {
      if (merged[key] === null && key !== 'consecutiveFailures' && key !== 'backoff') delete merged[key]
    }
    const { native: o } = nativeOptions(merged, false)
    const r = this.#native.reconfigure(o)
    if (r.option !== undefined) throwProblem(r)
    return { changed: r.changed, tripped: r.tripped }
  }

  /**
   * This breaker's settings and state as a snapshot's JSON text (versioned:
   * format "fusebox.snapshot"), to keep across a restart; see
   * `CircuitBreaker.restoreState` and `registry.writeState`.
   */
  saveState () {
    return this.#native.saveState()
  }

  /**
   * A breaker restored from `saveState()`'s text, `elapsedMs` after it was
   * written (an open breaker stays open for the rest of its period), on
   * `clock` (a ManualClock) or the system clock. A bad text throws a
   * FuseboxError (code ERR_FUSEBOX_SNAPSHOT) naming what is wrong.
   */
  static restoreState (text, { elapsedMs = 0, clock } = {}) {
    if (typeof text !== 'string') throw argType('text', 'of type string', text)
    if (typeof elapsedMs !== 'number') throw argType('elapsedMs', 'of type number', elapsedMs)
    if (clock !== undefined && !(clock instanceof ManualClock)) throw argType('clock', 'an instance of ManualClock', clock)
    const n = native.restoreBreaker(text, elapsedMs, clock === undefined ? undefined : clock[kNative])
    if (!(n instanceof native.NativeBreaker)) throwSnapshot(n)
    return new CircuitBreaker(kFromNative, { native: n, options: undefined })
  }

  /** Whether `other` is a handle on the same breaker (e.g. the same shared name). */
  isSameBreaker (other) {
    return other instanceof CircuitBreaker && this.#native.sameAs(other.#native)
  }

  // ----- events -------------------------------------------------------------------

  #added = (event) => {
    if (event === 'reject') this.#onReject = true
    else if (TRANSITION_EVENTS.includes(event) && !this.#listening) {
      this.#listening = true
      this.#native.listen(CircuitBreaker.#listener(new WeakRef(this)))
    }
  }

  #removed = () => {
    this.#sync()
  }

  #sync () {
    this.#onReject = this.listenerCount('reject') > 0
    const want = TRANSITION_EVENTS.some((e) => this.listenerCount(e) > 0)
    if (!want && this.#listening) {
      this.#listening = false
      this.#native.unlisten()
    }
  }

  removeAllListeners (event) {
    super.removeAllListeners(event)
    // Our own two hooks go too when everything is removed: put them back.
    if (!this.listeners('newListener').includes(this.#added)) {
      this.on('newListener', this.#added)
    }
    if (!this.listeners('removeListener').includes(this.#removed)) {
      this.on('removeListener', this.#removed)
    }
    this.#sync()
    return this
  }

  // The native side holds the listener strongly (a thread-safe function);
  // the listener holds the breaker weakly, so a breaker nobody holds can be
  // collected while listened to (collecting it drops the native listener).
  // Made in a static method: a closure made in an instance method would
  // reach the breaker through its scope.
  static #listener (ref) {
    return (ev) => ref.deref()?.#transition(ev)
  }

  #transition (ev) {
    const e = { name: ev.name, from: ev.from, to: ev.to, state: ev.state, generation: ev.generation }
    this.emit('stateChange', e)
    this.emit(EVENT_OF_STATE[ev.state], e)
  }
}

/** The process-wide registry of named breakers (shared by worker threads). */
const registry = Object.freeze({
  /** The breaker called `name`, created with `options` on first use. */
  get: CircuitBreaker.shared,
  /** The breaker called `name`, or undefined when there is none. */
  find (name) {
    if (typeof name !== 'string') throw argType('name', 'of type string', name)
    const n = native.registryGet(name)
    return n === null || n === undefined ? undefined : new CircuitBreaker(kFromNative, { native: n, options: undefined })
  },
  /** Forget `name` (handles keep a working breaker). Whether it was there. */
  remove (name) {
    if (typeof name !== 'string') throw argType('name', 'of type string', name)
    return native.registryRemove(name)
  },
  /** The names, sorted. */
  names () {
    return native.registryNames()
  },
  /**
   * Reconfigure the breaker `name` in place when it exists (see
   * `CircuitBreaker#reconfigure`; `options` is the whole new config,
   * defaults for the rest), and make it the name's config for a later
   * creation. Whether that tripped it.
   */
  reconfigure (name, options) {
    if (typeof name !== 'string') throw argType('name', 'of type string', name)
    const { native: o } = nativeOptions(options, false)
    const r = native.registryReconfigure(name, o)
    if (typeof r !== 'boolean') throwProblem(r)
    return r
  },
  /** Write every shared breaker's settings and state to `path` (whole or not at all). */
  writeState (path) {
    if (typeof path !== 'string') throw argType('path', 'of type string', path)
    const p = native.registryWriteState(path)
    if (p !== null && p !== undefined) throwSnapshot(p)
  },
  /**
   * Restore the snapshot at `path`: breakers made or reconfigured to the
   * saved settings, their state put back (an open breaker stays open for
   * the rest of its period, less `elapsedMs`, by default the wall time
   * since writing). Checked whole first: a damaged, foreign or newer file
   * throws (ERR_FUSEBOX_SNAPSHOT, nothing applied). The names restored.
   */
  restoreState (path, { elapsedMs } = {}) {
    if (typeof path !== 'string') throw argType('path', 'of type string', path)
    if (elapsedMs !== undefined && typeof elapsedMs !== 'number') throw argType('elapsedMs', 'of type number', elapsedMs)
    const r = native.registryRestoreState(path, elapsedMs)
    if (!Array.isArray(r)) throwSnapshot(r)
    return r
  },
  /** Every shared breaker's metrics in the Prometheus text format (serve with `prometheusContentType`). */
  prometheus () {
    return native.registryPrometheus()
  },
  prometheusContentType: native.prometheusContentType()
})

/**
 * Wait (blocking, up to `timeoutMs`) until every transition raised so far
 * has been queued to its listeners' threads. For tests and shutdown.
 */
function flushEvents (timeoutMs = 1000) {
  return native.flushEvents(timeoutMs)
}

module.exports = {
  CircuitBreaker,
  Permit,
  ManualClock,
  LatencyHistogram,
  FuseboxError,
  CircuitOpenError,
  CallTimeoutError,
  registry,
  flushEvents,
  defaultClassify,
  STATES: CODES.STATES,
  version: require('./package.json').version
}

// Bulkheads (bulkhead.js).
Object.assign(module.exports, require('./bulkhead.js')({ native, FuseboxError, kNative, argType, argRange }))
// Shared-memory breakers (shared.js).
Object.assign(module.exports, require('./shared.js')({ native, CircuitBreaker, FuseboxError, kFromNative, nativeOptions, argType, argRange }))
// Retries (retry.js) and hedging (hedge.js), with the option checks they
// share (options.js).
const { pick, rangeError } = require('./options.js')({ argType, argRange })
const retries = require('./retry.js')({ native, kNative, kAttempt, kFallback, CircuitBreaker, CircuitOpenError, argType, typeName, pick, rangeError })
Object.assign(module.exports, retries)
Object.assign(module.exports, require('./hedge.js')({ native, kNative, kSettle, kFallback, kTimeoutMs, CircuitBreaker, CircuitOpenError, CallTimeoutError, RetryBudget: retries.RetryBudget, LatencyHistogram, argType, pick, rangeError }))
// Keyed breakers (keyed.js).
Object.assign(module.exports, require('./keyed.js')({ native, CircuitBreaker, FuseboxError, kFromNative, nativeOptions, wrapperOptions, throwProblem, argType, argRange }))
