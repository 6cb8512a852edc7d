// fusebox/http's types against the real packages (compiled with tsc
// --noEmit --strict by the test script, undici and fastify installed).
import { Agent, request } from 'undici'
import Fastify from 'fastify'
import { createServer } from 'node:http'
import { CircuitBreaker, CircuitOpenError, KeyedBreakers } from 'fusebox'
import {
  breakerFetch, interceptor, expressShedding, fastifyShedding, parseRetryAfter, isCancellation,
  type BreakerFetch
} from 'fusebox/http'

async function client (): Promise<void> {
  const fetch: BreakerFetch = breakerFetch({ capacity: 256, consecutiveFailures: 5, maxOpenForMs: 60_000 })
  try {
    const res: Response = await fetch('http://127.0.0.1:8080/items', { signal: AbortSignal.timeout(2000) })
    console.log(res.status, fetch.breakers.size)
  } catch (e) {
    if (e instanceof CircuitOpenError) console.log(e.retryAfterMs)
  }
  const mine = breakerFetch({ breakers: new KeyedBreakers({ capacity: 8 }), fetch: globalThis.fetch })
  await mine(new URL('http://127.0.0.1:8080/'))

  const breakers = interceptor({ capacity: 64, openTimeoutMs: 10_000 })
  const dispatcher = new Agent().compose(breakers)
  const { statusCode } = await request('http://127.0.0.1:8080/', { dispatcher })
  console.log(statusCode, breakers.breakers.get('http://127.0.0.1:8080')?.state)
  const ms: number | null = parseRetryAfter('120')
  console.log(ms, isCancellation(new Error('x')))
}

async function servers (): Promise<void> {
  const shed = expressShedding({ consecutiveFailures: 5, defaultRetryAfterMs: 2000 })
  createServer((req, res) => shed(req, res, () => res.end('ok'))).listen(0)
  console.log(shed.breaker.state)
  const app = Fastify()
  await app.register(fastifyShedding, { breaker: new CircuitBreaker({ name: 'api' }) })
  // @ts-expect-error a breaker or a breaker's options, not both kinds of thing
  expressShedding({ breaker: 'api' })
  // @ts-expect-error the fetch to wrap is a function
  breakerFetch({ fetch: 1 })
}

void client
void servers
