'use strict'
// fusebox/admin: the admin endpoint over the process-wide registry.
//
//   const { registry } = require('fusebox')
//   const admin = require('fusebox/admin').serve(registry, { address: '127.0.0.1:0' })
//   console.log(`dashboard at ${admin.url}`)  // /metrics, /breakers, /events
//   admin.close()
//
// The server runs on the Rust core's threads (the same server as Rust, C and
// Python): the JS thread only starts and stops it. Bound to loopback unless
// told otherwise; POST /breakers/{name}/force_open|disable|reset needs
// `Authorization: Bearer TOKEN` and is refused (403) without a token.

const native = require('./native.js')
const { registry: processRegistry, FuseboxError } = require('./index.js')

function typeName (v) {
  if (v === null) return 'null'
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`
  return `type ${typeof v} (${String(v)})`
}

function argType (name, expected, got, what = 'argument') {
  const e = new TypeError(`The "${name}" ${what} must be ${expected}. Received ${typeName(got)}`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  return e
}

/** A running admin endpoint; `close()` stops it and frees the port. */
class AdminServer {
  #native
  constructor (n) {
    this.#native = n
  }

  /** `127.0.0.1:40123`: where it listens. */
  get address () {
    return this.#native.address
  }

  /** `http://127.0.0.1:40123/`: the dashboard page. */
  get url () {
    return `http://${this.#native.address}/`
  }

  /** Whether it still serves. */
  get running () {
    return this.#native.running
  }

  /** Stop serving and free the port; again is a no-op. */
  close () {
    this.#native.close()
  }
}

/**
 * Serve `registry` (fusebox's `registry`, the process-wide one) on
 * `options.address` (`'IP:PORT'`, default `'127.0.0.1:0'`: a free port on
 * loopback), with the controls open to `options.token`.
 */
function serve (registry, options = {}) {
  if (registry !== processRegistry) throw argType('registry', "fusebox's registry", registry)
  if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
  const { address = '127.0.0.1:0', token } = options
  if (typeof address !== 'string') throw argType('address', 'of type string', address, 'option')
  if (token !== undefined && token !== null && typeof token !== 'string') {
    throw argType('token', 'of type string', token, 'option')
  }
  const r = native.adminServe(address, token ?? undefined)
  if (r instanceof native.NativeAdmin) return new AdminServer(r)
  if (r.kind === 'address') {
    const e = new TypeError(`The "address" option is invalid: ${r.message}`)
    e.code = 'ERR_INVALID_ARG_VALUE'
    throw e
  }
  throw new FuseboxError(r.message, 'EFUSEBOXLISTEN')
}

module.exports = { serve, AdminServer }
