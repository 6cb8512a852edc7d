'use strict'
// Per-origin breakers for the HTTP clients' adapters: a bounded keyed set
// (KeyedBreakers: the core decides what is kept and what is evicted), keyed
// by the URL's origin (scheme, host and port).

const { KeyedBreakers } = require('../index.js')

/**
 * The per-origin breakers an adapter's `options` ask for: `breakers`, a
 * KeyedBreakers of one's own, or the options of a new one (`name`,
 * default 'http'; `capacity`, default 1024; `minIdleMs`; and the
 * breakers' options).
 */
function originBreakers (options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') {
    const e = new TypeError(`The "options" argument must be of type object. Received type ${typeof options} (${String(options)})`)
    e.code = 'ERR_INVALID_ARG_TYPE'
    throw e
  }
  const { breakers, ...rest } = options
  if (breakers !== undefined) {
    if (!(breakers instanceof KeyedBreakers)) {
      const e = new TypeError('The "breakers" option must be an instance of KeyedBreakers')
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
    return breakers
  }
  return new KeyedBreakers({ name: 'http', capacity: 1024, ...rest })
}

// The last URL's origin: a client mostly calls one origin in a row.
let lastUrl = ''
let lastOrigin = ''

/** The origin of a URL (a string or a URL): `http://host:port`. */
function originOf (url) {
  if (typeof url !== 'string') return new URL(url).origin
  if (url !== lastUrl) {
    lastOrigin = new URL(url).origin
    lastUrl = url
  }
  return lastOrigin
}

module.exports = { originBreakers, originOf }
