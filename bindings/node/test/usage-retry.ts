// Compiled with `tsc --noEmit --strict` against index.d.ts by the test
// script: the retry types must accept real use and reject misuse.
import { CircuitBreaker, HedgePolicy, LatencyHistogram, ManualClock, RetryBudget, RetryPolicy, type RetryCallStats, type RetryVerdict } from 'fusebox'

const clock = new ManualClock()
const breaker = new CircuitBreaker({ name: 'db', clock })
const budget = new RetryBudget({ name: 'db', ratio: 0.2, minPerSec: 10, windowMs: 10_000, clock })
const classify = (err: unknown): RetryVerdict => (err instanceof RangeError ? 'stop' : 'retry')
const policy = new RetryPolicy({
  breaker,
  budget,
  maxAttempts: 3,
  baseBackoffMs: 50,
  deadlineMs: 2_000,
  classify,
  sleep: async (ms: number) => clock.advance(ms),
  onEnd: (s: RetryCallStats) => console.log(s.stop, s.attempt)
})
const answer: Promise<number> = policy.fire(async (x: number) => x * 2, 21)
const refusals: number = policy.metrics().budgetRefusals
const available: number = budget.stats().available
console.log(answer, refusals, available)

// @ts-expect-error a policy needs a breaker and a budget
new RetryPolicy({ maxAttempts: 3 })
// @ts-expect-error durations are ms numbers
new RetryBudget({ windowMs: '10s' })

// Hedging: fn gets the AbortSignal that aborts a loser.
const hedge = new HedgePolicy({ breaker, budget, name: 'db', delayMs: 20, maxHedges: 2 })
const first: Promise<string> = hedge.fire(async (signal: AbortSignal, key: string) => (signal.aborted ? '' : key), 'k')
const text: string = hedge.prometheus() + policy.prometheus()
const hedges: number = hedge.metrics().hedges
console.log(first, text, hedges)

// @ts-expect-error the delay is delayMs, in ms
new HedgePolicy({ breaker, budget, delay: 20 })
// @ts-expect-error fn's first argument is the AbortSignal
hedge.fire(async (key: string) => key, 'k')

// Hedging after the dependency's P95, learnt from its breaker's calls.
const latencies = new LatencyHistogram()
const timed = new CircuitBreaker({ name: 'db', latencyHistogram: latencies })
const p95Hedge = new HedgePolicy({ breaker: timed, budget, histogram: latencies, quantile: 0.95, delayMs: 20 })
const p95: number | null = latencies.record(12).quantile(0.95)
const seen: number = latencies.count
console.log(p95Hedge, p95, seen)
// @ts-expect-error the histogram is a LatencyHistogram
new HedgePolicy({ breaker, budget, histogram: [1, 2] })
// @ts-expect-error a shared breaker takes no histogram
CircuitBreaker.shared('db', { latencyHistogram: latencies })
