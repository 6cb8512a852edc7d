// Types of fusebox/http: the breaker where Node calls services (fetch,
// undici) and serves them (express, fastify). None of those packages'
// types are needed: the shapes below are what the adapters use of them.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CircuitBreaker, CircuitBreakerOptions, KeyedBreakers, KeyedBreakersOptions, Permit, Outcome } from './index'

/**
 * The per-origin breakers of a client adapter: a KeyedBreakers of one's
 * own, or the options of a new one (name default 'http', capacity default
 * 1024, and the options of every origin's breaker).
 */
export type OriginBreakersOptions =
  | { breakers: KeyedBreakers }
  | (Partial<KeyedBreakersOptions> & { breakers?: undefined })

/** The KeyedBreakers `options` ask for. */
export declare function originBreakers (options?: OriginBreakersOptions): KeyedBreakers
/** A URL's origin (`http://host:port`), the key of its breaker. */
export declare function originOf (url: string | URL): string

/** fetch's signature. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** A fetch through per-origin breakers; its breakers are `breakers`. */
export interface BreakerFetch extends FetchLike {
  readonly breakers: KeyedBreakers
}

/**
 * A fetch that goes through the breaker of the request's origin: rejects
 * with a CircuitOpenError (its `retryAfterMs` the breaker's) without
 * sending anything when that breaker rejects; else counts the response as
 * the HTTP classification says (5xx and errors failures, 4xx ignored, 429
 * and 503 with Retry-After open the breaker that long, an abort a
 * cancellation).
 */
export declare function breakerFetch (options?: OriginBreakersOptions & { fetch?: FetchLike }): BreakerFetch

/** undici's `dispatch(opts, handler)` (the interceptor reads `opts.origin` and `opts.signal`). */
export type DispatchFn = (opts: any, handler: any) => boolean

/** An undici interceptor; its breakers are `breakers`. */
export interface BreakerInterceptor {
  (dispatch: DispatchFn): DispatchFn
  readonly breakers: KeyedBreakers
}

/**
 * An interceptor for undici's `dispatcher.compose(...)` (undici 7): each
 * request goes through the breaker of its origin; when it rejects, the
 * request fails with a CircuitOpenError and nothing is sent.
 */
export declare function interceptor (options?: OriginBreakersOptions): BreakerInterceptor

/** Inbound shedding's options: a breaker of one's own, or a new one's options (name default 'inbound'). */
export type InboundSheddingOptions =
  & (| { breaker: CircuitBreaker } | (CircuitBreakerOptions & { breaker?: undefined }))
  & {
    /** The Retry-After (ms, sent in whole seconds) when the breaker names no time. Default 1000. */
    defaultRetryAfterMs?: number
  }

/** express (or connect, or plain `http`) middleware; its breaker is `breaker`. */
export interface SheddingMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void
  readonly breaker: CircuitBreaker
}

/**
 * Middleware shedding load while the breaker over this server's responses
 * is open: 503 with the breaker's Retry-After; else the response is
 * counted when sent (5xx failure, 4xx ignored), a client gone before it a
 * cancellation.
 */
export declare function expressShedding (options?: InboundSheddingOptions): SheddingMiddleware

/** `fastify.register(fastifyShedding, options)`: the same shedding as a fastify plugin (not encapsulated). */
export declare function fastifyShedding (instance: any, options: InboundSheddingOptions, done: (err?: Error) => void): void

/** 'success', 'failure' or 'ignored': what an HTTP status says. */
export declare function statusOutcome (status: number): Outcome
/** A Retry-After value (delta-seconds or HTTP-date) in ms from `nowMs`, or null. */
export declare function parseRetryAfter (value: string | string[] | null | undefined, nowMs?: number): number | null
/** How long a response asks its breaker to stay open (429 and 503 with Retry-After), or null. */
export declare function openForMs (status: number, retryAfter: string | string[] | null | undefined): number | null
/** Whether a call that ended with `error` was given up by its caller (not a timeout). */
export declare function isCancellation (error: unknown, signal?: AbortSignal | null): boolean
/** Count a response on `permit`, then open `breaker` for its Retry-After (429, 503). */
export declare function reportResponse (breaker: CircuitBreaker, permit: Permit, status: number, retryAfter: string | string[] | null | undefined): void
/** Count a call that ended with `error` and no response: a cancellation or a failure. */
export declare function reportError (permit: Permit, error: unknown, signal?: AbortSignal | null): void
