'use strict'
// Inbound shedding as a fastify plugin (hooks onRequest, onResponse,
// onRequestAbort). It imports nothing of fastify: it marks itself as
// fastify-plugin would, so that its hooks apply to the whole server.

const { inboundShedding } = require('./inbound.js')

const kPermit = 'fuseboxPermit'

/**
 * `fastify.register(fastifyShedding, options)`: while the breaker over
 * the server's responses is open, requests are answered 503 with a
 * Retry-After before routing; else the response is counted when sent (5xx
 * failure, 4xx ignored), a request its client aborted as a cancellation.
 * Options: see inboundShedding (a `breaker` of one's own, to read it).
 */
function fastifyShedding (fastify, options, done) {
  let shed
  try {
    shed = inboundShedding(options)
  } catch (e) {
    done(e)
    return
  }
  fastify.decorateRequest(kPermit, null)
  fastify.addHook('onRequest', (request, reply, next) => {
    const permit = shed.admit()
    if (permit === null) {
      const { retryAfter, body } = shed.rejection()
      reply.code(503).header('Retry-After', retryAfter).type('application/json').send(body)
      return
    }
    request[kPermit] = permit
    next()
  })
  fastify.addHook('onResponse', (request, reply, next) => {
    const permit = request[kPermit]
    if (permit !== null) shed.finish(permit, reply.statusCode)
    next()
  })
  fastify.addHook('onRequestAbort', (request, next) => {
    const permit = request[kPermit]
    if (permit !== null) shed.abort(permit)
    next()
  })
  done()
}
// What fastify-plugin sets: no encapsulation, a name.
fastifyShedding[Symbol.for('skip-override')] = true
fastifyShedding[Symbol.for('fastify.display-name')] = 'fusebox-shedding'

module.exports = { fastifyShedding }
