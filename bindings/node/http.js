'use strict'
// fusebox/http: the breaker where Node calls services and serves them.
// Nothing here needs undici, express or fastify installed: each adapter is
// a function of the shapes they call.

module.exports = {
  ...require('./http/fetch.js'),
  ...require('./http/undici.js'),
  ...require('./http/express.js'),
  ...require('./http/fastify.js'),
  ...require('./http/classify.js'),
  ...require('./http/origins.js')
}
