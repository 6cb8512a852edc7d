//! Differential fuzzing of the breaker against the sequential reference model
//! (`fusebox::model::Model`, `docs/semantics.md` written plainly).
//!
//! The input decodes (with `arbitrary`) into a config and a sequence of
//! operations: take and hold permits, whole calls through every API shape
//! (raw permits, RAII permits, `call`/`call_with`), outcomes with given or
//! measured durations, dropped permits, clock moves from a nanosecond to
//! months (and by powers of two of the bucket width, where packed tags
//! wrap), force open, disable, reset (also many times in a row, where
//! generation tags wrap). Both sides get the same operations on the same
//! manual clock; after every step they must agree on admission, rejection
//! reason and retry-after, phase, state, generation, lifetime totals and the
//! window. Any difference panics. Jitter stays 0: it is random by design.
//!
//! The comparison is that of core/tests/model.rs (the proptest version).
//!
//! Wrapping generations: the window tags its buckets and slots with 16 bits
//! of the generation, so an input must be able to move it on by 65,536 or
//! more. `ResetMany(n)` makes `n` resets in one step on each side
//! (`Breaker::reset_many`, `Model::reset_many`: hidden test hooks that
//! core's unit tests compare, word for word, with `n` real resets), up to
//! `MAX_RESETS` per input as before; made one at a time they took ~94% of
//! the run and held it to ~100 executions a second.
#![no_main]

use arbitrary::Arbitrary;
use fusebox::model::{Model, ModelPermit};
use fusebox::{
    Backoff, Breaker, CallError, Clock, Config, ManualClock, Outcome, RawPermit, WindowConfig,
};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::time::Duration;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;
const SEC: u64 = 1_000_000_000;
/// Operations looked at per input (the rest is ignored).
const MAX_OPS: usize = 512;
/// Resets per input across all `ResetMany` (70 000 wraps a 16-bit tag).
/// Each `ResetMany` costs one step however many resets it makes.
const MAX_RESETS: u32 = 70_000;
/// Calls per input (keeps one input's run short).
const MAX_CALLS: u32 = 4096;
const MAX_ADVANCE: u64 = 10_000_000 * SEC;
/// Counter stripes of the breaker under test. Fixed, so that an input runs
/// the same on every machine: the default is the core count + 1 rounded up
/// to a power of two (4 on 2 cores, 32 on 16), and every window read (two
/// per step) sums all stripes; it also spares asking the OS for the core
/// count (cgroup files) on every input. One thread writes one stripe.
const STRIPES: usize = 4;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum O {
    Success,
    Failure,
    Ignored,
}

impl From<O> for Outcome {
    fn from(o: O) -> Outcome {
        match o {
            O::Success => Outcome::Success,
            O::Failure => Outcome::Failure,
            O::Ignored => Outcome::Ignored,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Window {
    Time {
        bucket_ms: u16,
        buckets: u8,
        extra_ns: u32,
    },
    Count {
        size: u8,
    },
    BigCount {
        size: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Cfg {
    rate: u8,
    consecutive: Option<u8>,
    min_calls: u8,
    window: Window,
    open_ms: u32,
    backoff: Option<(u8, u8)>,
    half_open_max: u8,
    success: u8,
    wait_ms: u32,
    slow_us: Option<u32>,
    slow_rate: u8,
}

impl Cfg {
    /// Any decoded `Cfg` maps to a valid config.
    fn to_config(&self) -> Config {
        let window = match self.window {
            Window::Time {
                bucket_ms,
                buckets,
                extra_ns,
            } => {
                let buckets = 1 + u32::from(buckets % 20);
                let bucket = (1 + u64::from(bucket_ms % 5000)) * MS;
                WindowConfig::Time {
                    duration: Duration::from_nanos(
                        bucket * u64::from(buckets) + u64::from(extra_ns) % MS,
                    ),
                    buckets,
                }
            }
            Window::Count { size } => WindowConfig::Count {
                size: 1 + u32::from(size % 32),
            },
            Window::BigCount { size } => WindowConfig::Count {
                size: 1 + u32::from(size % 2000),
            },
        };
        let open = Duration::from_millis(1 + u64::from(self.open_ms % 300_000));
        let half_open_max_calls = 1 + u32::from(self.half_open_max % 8);
        Config {
            failure_rate_threshold: f64::from(1 + self.rate % 100) / 100.0,
            consecutive_failures: self.consecutive.map(|c| 1 + u32::from(c % 10)),
            min_calls: 1 + u32::from(self.min_calls % 20),
            window,
            open_timeout: open,
            backoff: self.backoff.map(|(m, f)| Backoff {
                multiplier: 1.0 + f64::from(1 + u32::from(m)) / 32.0,
                max: open * (1 + u32::from(f % 16)),
            }),
            jitter: 0.0,
            half_open_max_calls,
            success_threshold: 1 + u32::from(self.success) % half_open_max_calls,
            half_open_max_wait: Duration::from_millis(1 + u64::from(self.wait_ms % 600_000)),
            slow_call_duration: self
                .slow_us
                .map(|u| Duration::from_micros(1 + u64::from(u % 10_000_000))),
            slow_call_rate_threshold: f64::from(1 + self.slow_rate % 100) / 100.0,
            ..Config::default()
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Take a permit and hold it.
    Acquire,
    /// Acquire and report at once (duration in µs, or measured).
    Call(O, Option<u32>),
    /// 1..=32 whole calls with the same outcome.
    Burst(u8, O),
    /// Report held permit `i % held` (duration in µs, or measured).
    Record(u8, O, Option<u32>),
    /// Drop held permit `i % held` without an outcome.
    Release(u8),
    /// `try_acquire` and the RAII permit: record (measured or given), or drop.
    Guard(Option<O>, Option<u32>),
    /// `call` (success/failure) or `call_with` (ignored).
    Closure(O),
    AdvanceNs(u16),
    AdvanceMs(u16),
    AdvanceSecs(u16),
    AdvanceLarge(u32),
    /// Move by (2^shift + delta) bucket widths (1 ms for a count window).
    AdvanceBuckets {
        shift: u8,
        delta: i8,
    },
    ForceOpen,
    Disable,
    Reset,
    ResetMany(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: Cfg,
    ops: Vec<Op>,
}

struct Pair {
    clock: Arc<ManualClock>,
    b: Breaker,
    m: Model,
    held: Vec<(RawPermit, ModelPermit)>,
    bucket_ns: u64,
    calls: u32,
}

impl Pair {
    fn now(&self) -> u64 {
        self.clock.now_ns()
    }

    fn advance(&mut self, ns: u64) {
        let ns = ns.min(MAX_ADVANCE);
        // Keep far from u64::MAX: the model's deadline arithmetic is plain.
        if self.now().saturating_add(ns) < u64::MAX / 2 {
            self.clock.advance_ns(ns);
        }
    }

    /// Acquire on both sides; `Some` when both admitted.
    /// Count one more call against the input's budget.
    fn take_call(&mut self) -> bool {
        self.calls += 1;
        self.calls <= MAX_CALLS
    }

    fn acquire(&mut self, step: usize) -> Option<(RawPermit, ModelPermit)> {
        if !self.take_call() {
            return None;
        }
        let now = self.now();
        let (got, want) = (self.b.acquire_raw(), self.m.acquire(now));
        self.admission(step, got.map_err(|r| (r.reason, r.retry_after)), want)
    }

    fn admission(
        &self,
        step: usize,
        got: Result<RawPermit, (fusebox::RejectReason, Option<Duration>)>,
        want: Result<ModelPermit, (fusebox::RejectReason, Option<u64>)>,
    ) -> Option<(RawPermit, ModelPermit)> {
        match (got, want) {
            (Ok(p), Ok(q)) => {
                assert_eq!(
                    (p.generation, p.probe, p.start_ns),
                    (q.generation, q.probe, q.start),
                    "permit at step {step}"
                );
                Some((p, q))
            }
            (Err((reason, retry)), Err((want_reason, want_retry))) => {
                assert_eq!(reason, want_reason, "reject reason at step {step}");
                assert_eq!(
                    retry.map(|d| d.as_nanos() as u64),
                    want_retry,
                    "retry_after at step {step}"
                );
                None
            }
            (got, want) => {
                panic!("admission differs at step {step}: breaker {got:?}, model {want:?}")
            }
        }
    }

    fn record(&mut self, p: RawPermit, q: ModelPermit, o: O, d: Option<u64>) {
        let now = self.now();
        self.b.record_raw(p, o.into(), d);
        self.m.record(q, o.into(), d, now);
    }

    fn check(&self, step: usize) {
        let (b, m) = (&self.b, &self.m);
        let now = self.now();
        assert_eq!(b.phase(), m.phase, "phase at step {step}");
        assert_eq!(b.state(), m.phase.state(), "state at step {step}");
        assert_eq!(b.generation(), m.generation, "generation at step {step}");
        let got = b.metrics();
        let t = m.totals;
        assert_eq!(
            (got.phase, got.state, got.generation),
            (m.phase, m.phase.state(), m.generation),
            "metrics phase/state/generation at step {step}"
        );
        assert_eq!(
            (
                got.successes,
                got.failures,
                got.ignored,
                got.slow,
                got.rejected,
                got.state_changes
            ),
            (
                t.successes,
                t.failures,
                t.ignored,
                t.slow,
                t.rejected,
                t.state_changes
            ),
            "totals (successes, failures, ignored, slow, rejected, state_changes) at step {step}"
        );
        let w = got.window;
        assert_eq!(
            (w.calls, w.failures, w.slow),
            m.window(now),
            "window (calls, failures, slow) at step {step}"
        );
        assert_eq!(b.window_counts(), w, "window_counts() at step {step}");
        assert_eq!(got.failure_rate, w.failure_rate());
        assert_eq!(got.slow_rate, w.slow_rate());
    }
}

fuzz_target!(|input: Input| {
    let cfg = input.cfg.to_config();
    let clock = Arc::new(ManualClock::new());
    let b = Breaker::with_stripes("breaker", cfg.clone(), clock.clone(), STRIPES)
        .unwrap_or_else(|e| panic!("harness made an invalid config {cfg:?}: {e}"));
    let bucket_ns = match cfg.window {
        WindowConfig::Time { duration, buckets } => duration.as_nanos() as u64 / u64::from(buckets),
        WindowConfig::Count { .. } => MS,
    };
    let mut s = Pair {
        clock: clock.clone(),
        b,
        m: Model::new(cfg),
        held: Vec::new(),
        bucket_ns,
        calls: 0,
    };
    let mut resets = 0u32;
    for (step, op) in input.ops.into_iter().take(MAX_OPS).enumerate() {
        match op {
            Op::Acquire => {
                if let Some(pq) = s.acquire(step) {
                    s.held.push(pq);
                }
            }
            Op::Call(o, d) => {
                if let Some((p, q)) = s.acquire(step) {
                    s.record(p, q, o, d.map(|u| u64::from(u) * US));
                }
            }
            Op::Burst(n, o) => {
                for _ in 0..=(n % 32) {
                    if let Some((p, q)) = s.acquire(step) {
                        s.record(p, q, o, Some(0));
                    }
                }
            }
            Op::Record(i, o, d) => {
                if !s.held.is_empty() {
                    let (p, q) = s.held.remove(usize::from(i) % s.held.len());
                    s.record(p, q, o, d.map(|u| u64::from(u) * US));
                }
            }
            Op::Release(i) => {
                if !s.held.is_empty() {
                    let (p, q) = s.held.remove(usize::from(i) % s.held.len());
                    s.b.release_raw(p);
                    s.m.release(q);
                }
            }
            Op::Guard(..) | Op::Closure(_) if !s.take_call() => {}
            Op::Guard(o, d) => {
                let now = s.now();
                let want = s.m.acquire(now);
                match s.b.try_acquire() {
                    Ok(permit) => {
                        let raw = permit.raw();
                        let pq = s.admission(step, Ok(raw), want);
                        let (_, q) = pq.expect("admitted by both");
                        match (o, d) {
                            (None, _) => {
                                drop(permit);
                                s.m.release(q);
                            }
                            (Some(o), None) => {
                                permit.record(o.into());
                                s.m.record(q, o.into(), None, now);
                            }
                            (Some(o), Some(us)) => {
                                let ns = u64::from(us) * US;
                                permit.record_with_duration(o.into(), Duration::from_nanos(ns));
                                s.m.record(q, o.into(), Some(ns), now);
                            }
                        }
                    }
                    Err(r) => {
                        s.admission(step, Err((r.reason, r.retry_after)), want);
                    }
                }
            }
            Op::Closure(o) => {
                let now = s.now();
                let want = s.m.acquire(now);
                let got = match o {
                    O::Ignored => {
                        s.b.call_with(|_: &Result<(), ()>| Outcome::Ignored, || Ok(()))
                    }
                    O::Success => s.b.call(|| Ok::<(), ()>(())),
                    O::Failure => s.b.call(|| Err::<(), ()>(())),
                };
                match (got, want) {
                    (Err(CallError::Rejected(r)), want) => {
                        s.admission(step, Err((r.reason, r.retry_after)), want);
                    }
                    (_, Ok(q)) => s.m.record(q, o.into(), None, now),
                    (got, Err(want)) => {
                        panic!("admission differs at step {step}: breaker ran the call ({got:?}), model rejected {want:?}")
                    }
                }
            }
            Op::AdvanceNs(n) => s.advance(u64::from(n)),
            Op::AdvanceMs(n) => s.advance(u64::from(n) * MS),
            Op::AdvanceSecs(n) => s.advance(u64::from(n) * SEC),
            Op::AdvanceLarge(n) => s.advance(u64::from(n % (1 << 23)) * SEC),
            Op::AdvanceBuckets { shift, delta } => {
                let steps = ((1i64 << (shift % 34)) + i64::from(delta)).max(0) as u64;
                s.advance(steps.saturating_mul(s.bucket_ns));
            }
            Op::ForceOpen => {
                let now = s.now();
                s.b.force_open();
                s.m.force_open(now);
            }
            Op::Disable => {
                let now = s.now();
                s.b.disable();
                s.m.disable(now);
            }
            Op::Reset => {
                let now = s.now();
                s.b.reset();
                s.m.reset(now);
            }
            Op::ResetMany(n) => {
                let n = u32::from(n).min(MAX_RESETS - resets);
                resets += n;
                let now = s.now();
                s.b.reset_many(u64::from(n));
                s.m.reset_many(u64::from(n), now);
            }
        }
        s.check(step);
    }
});
