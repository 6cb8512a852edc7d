'use strict'
// Inbound shedding as express (or connect, or plain `http`) middleware.

const { inboundShedding } = require('./inbound.js')

/**
 * Middleware `(req, res, next)`: while the breaker over this server's
 * responses is open, answers 503 with a Retry-After at once; else counts
 * the response when it is sent (5xx failure, 4xx ignored) and a client
 * gone before it as a cancellation. Options: see inboundShedding. The
 * breaker is the middleware's `breaker`.
 */
function expressShedding (options) {
  const shed = inboundShedding(options)
  function fuseboxShedding (req, res, next) {
    const permit = shed.admit()
    if (permit === null) {
      const { retryAfter, body } = shed.rejection()
      res.statusCode = 503
      res.setHeader('Retry-After', retryAfter)
      res.setHeader('Content-Type', 'application/json')
      res.end(body)
      return
    }
    res.once('finish', () => shed.finish(permit, res.statusCode))
    // After 'finish' this finds the permit used and does nothing.
    res.once('close', () => shed.abort(permit))
    next()
  }
  fuseboxShedding.breaker = shed.breaker
  return fuseboxShedding
}

module.exports = { expressShedding }
