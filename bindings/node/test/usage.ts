// Compiled with `tsc --noEmit --strict` against index.d.ts by the test
// script: the types must accept real use and reject misuse.
import {
  CircuitBreaker, CircuitOpenError, CallTimeoutError, FuseboxError, ManualClock, Permit,
  registry, flushEvents, defaultClassify, type Stats, type State, type TransitionEvent, type Outcome,
  type Cancellation,
  KeyedBreakers, KeyedFullError, type KeyedStats
} from 'fusebox'

const clock = new ManualClock()
const breaker = new CircuitBreaker({
  name: 'inventory:get',
  failureRateThreshold: 0.5,
  consecutiveFailures: null,
  minCalls: 10,
  windowMs: 10_000,
  windowBuckets: 10,
  openTimeoutMs: 30_000,
  backoff: { multiplier: 2, maxMs: 60_000 },
  halfOpenMaxCalls: 3,
  successThreshold: 3,
  halfOpenMaxWaitMs: 60_000,
  slowCallMs: 2_000,
  slowCallRateThreshold: 0.8,
  maxOpenForMs: 120_000,
  cancellation: 'slowIfOverdue',
  clock,
  classify: (e: unknown): Outcome => (e instanceof RangeError ? 'ignored' : 'failure')
})
clock.advance(1000).advance(2)

const n: number = breaker.call((a: number, b: number) => a + b, 1, 2)
const s: Promise<string> = breaker.fire(async (x: string) => x.toUpperCase(), 'a')
const t: Promise<number> = breaker.fireWithTimeout(500, async () => 1)
const w: (id: number) => Promise<string> = breaker.wrap(async (id: number) => `#${id}`)

const permit: Permit | null = breaker.tryAcquire()
if (permit !== null) {
  const probe: boolean = permit.probe
  if (probe) permit.release()
  else if (permit.pending && Math.random() > 2) permit.cancel()
  else permit.success(12.5)
} else {
  const why = breaker.lastRejection
  if (why !== null && why.retryAfterMs !== null) console.log(why.reason, why.retryAfterMs + 1)
}
try {
  const held: Permit = breaker.acquire()
  const given: boolean = held.cancel()
  console.log(given)
} catch (e) {
  if (e instanceof CircuitOpenError) console.log(e.retryAfterMs)
}

const state: State = breaker.state
const stats: Stats = breaker.stats
const rate: number = stats.failureRate + stats.window.calls
breaker.on('open', (e: TransitionEvent) => console.log(e.from, e.to, e.generation))
breaker.on('reject', (e: CircuitOpenError) => console.log(e.code, e.reason, e.retryAfterMs))
const opened: boolean = breaker.openFor(30_000)
const policy: Cancellation = breaker.options.cancellation
console.log(opened, policy, breaker.options.maxOpenForMs + 1)
breaker.forceOpen()
breaker.disable()
breaker.reset()

try {
  breaker.call(() => 1)
} catch (e) {
  if (e instanceof CircuitOpenError) {
    const code: 'EFUSEBOXOPEN' = e.code
    console.log(code, e.retryAfterMs)
  } else if (e instanceof CallTimeoutError) {
    console.log(e.timeoutMs)
  } else if (e instanceof FuseboxError) {
    console.log(e.code)
  }
}

const degraded = new CircuitBreaker({
  fallback: (cause: unknown, sku: string) => `cached ${sku} (${String(cause)})`,
  fallbackLimit: { perSecond: 50, burst: 10 }
})
const price: Promise<string> = degraded.fire(async (sku: string) => sku, 'a')
const fb: { served: number; limited: number } | null = degraded.fallbackStats
const text: string = registry.prometheus() + registry.prometheusContentType
console.log(price, fb, text)

const shared: CircuitBreaker = CircuitBreaker.shared('payment:pay', { minCalls: 20 })
const same: boolean = shared.isSameBreaker(registry.get('payment:pay'))
const names: string[] = registry.names()
const found: CircuitBreaker | undefined = registry.find('nope')
const flushed: boolean = flushEvents(100)
const o: Outcome = defaultClassify(new Error('x'))
console.log(n, s, t, w, state, rate, same, names, found, flushed, o, breaker.options.timeoutMs)

const hosts = new KeyedBreakers({ name: 'upstreams', capacity: 1000, minIdleMs: 30_000, clock, minCalls: 20, timeoutMs: 2_000 })
try {
  const host: CircuitBreaker = hosts.getOrCreate('a.example')
  const price2: Promise<number> = host.fire(async () => 1)
  console.log(price2)
} catch (e) {
  if (e instanceof KeyedFullError) {
    const code: 'EFUSEBOXKEYEDFULL' = e.code
    console.log(code, e.keyed, e.key, e.capacity)
  }
}
const kept: CircuitBreaker | undefined = hosts.get('a.example')
const removed: boolean = hosts.remove('a.example')
const ks: KeyedStats = hosts.stats()
console.log(kept, removed, ks.evictions + ks.refusals + hosts.size + hosts.capacity, hosts.prometheus(), hosts.name)

// Misuse the types must catch:
// @ts-expect-error unknown state name
const bad: State = 'half_open'
// @ts-expect-error arguments must match the function
breaker.call((a: number) => a, 'x')
// @ts-expect-error no clock for a shared breaker
CircuitBreaker.shared('x', { clock })
// @ts-expect-error options are typed
new CircuitBreaker({ minCalls: '10' })
// @ts-expect-error cancellation names are Node's camelCase
new CircuitBreaker({ cancellation: 'slow_if_overdue' })
// @ts-expect-error openFor takes ms as a number
breaker.openFor('30s')
// @ts-expect-error events are typed
breaker.on('open', (e: CircuitOpenError) => e)
// @ts-expect-error permits come from tryAcquire
new Permit()
// @ts-expect-error a keyed set needs a capacity
new KeyedBreakers({ name: 'hosts' })
// @ts-expect-error keys are strings
hosts.getOrCreate(1)
console.log(bad)
