'use strict'
// Latency histograms for Node: a dependency's recent latencies (the core's
// LatencyHistogram, src/histogram.rs), fed by a breaker made with
// `latencyHistogram` or by record(ms), read as quantiles, and the delay of
// a HedgePolicy made with `histogram`. Milliseconds, as everywhere here.
//
// index.js calls the exported function once with what it shares.

module.exports = function histograms ({ native, kNative, ManualClock, argType, argRange }) {
  /** The latencies of the last 10 s, by bucket (lock-free), in ms. */
  class LatencyHistogram {
    constructor (options = {}) {
      if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
      for (const key of Object.keys(options)) {
        if (key !== 'clock') {
          const e = new TypeError(`Unknown option "${key}"`)
          e.code = 'ERR_INVALID_ARG_VALUE'
          throw e
        }
      }
      const { clock } = options
      if (clock !== undefined && !(clock instanceof ManualClock)) throw argType('clock', 'an instance of ManualClock', clock, 'option')
      this[kNative] = native.createLatencyHistogram(clock === undefined ? undefined : clock[kNative])
    }

    /** Record one latency of `ms` (≥ 0) milliseconds. Returns the histogram. */
    record (ms) {
      if (typeof ms !== 'number') throw argType('ms', 'of type number', ms)
      if (!(ms >= 0 && ms <= 1e12)) throw argRange('ms', `The value of "ms" is out of range. It must be >= 0 and <= 1e12. Received ${ms}`)
      this[kNative].record(ms)
      return this
    }

    /** The `q` quantile in ms (`q` clamped to [0, 1]), null while empty. */
    quantile (q) {
      if (typeof q !== 'number') throw argType('q', 'of type number', q)
      return this[kNative].quantile(q)
    }

    /** The number of latencies in the window. */
    get count () { return this[kNative].count }
  }

  return { LatencyHistogram }
}
