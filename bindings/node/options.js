'use strict'
// The option checks retry.js and hedge.js share: JS types checked here,
// ranges by the core (a problem it reports becomes index.js's RangeError).
//
// index.js calls the exported function once with its error makers.

module.exports = function options ({ argType, argRange }) {
  // A core-reported problem ({ option, message }) as index.js's RangeError.
  function rangeError (problem) {
    return argRange(problem.option, problem.message)
  }

  function unknown (key) {
    const e = new TypeError(`Unknown option "${key}"`)
    e.code = 'ERR_INVALID_ARG_VALUE'
    return e
  }

  // Copy the known options, checking their JS types (ranges are the
  // core's); those of type 'any' are checked by the caller.
  function pick (options, types) {
    if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
    const o = {}
    for (const [k, v] of Object.entries(options)) {
      const t = types[k]
      if (t === undefined) throw unknown(k)
      if (v === undefined || t === 'any') continue
      if (typeof v !== t) throw argType(k, `of type ${t}`, v)
      o[k] = v
    }
    return o
  }

  return { pick, rangeError }
}
