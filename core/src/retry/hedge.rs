//! Hedged requests (`docs/semantics.md#hedged-requests`): when an attempt
//! is slow, a backup attempt after a delay (fixed, or a quantile of the
//! dependency's [`LatencyHistogram`]); the first success wins and the
//! others are dropped, each ended by the breaker as a cancelled call
//! ([`Config::cancellation`](crate::Config::cancellation)). Every hedge is
//! paid from the same [`RetryBudget`] as retries. Runtime-agnostic: the
//! call is a future, its waits come from a [`Timer`].

use super::budget::RetryBudget;
use super::hedge_state::{HedgeEnd, HedgeStart};
use super::policy::{RetryError, RetryMetrics};
use super::timer::{Sleep, Timer};
use crate::detect::histogram::LatencyHistogram;
use crate::engine::breaker::Breaker;
use crate::engine::config::{number, ConfigError};
use crate::engine::error::CallError;
use crate::sync::{atomic_u64, AtomicU64, Ordering::Relaxed};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// When a hedge starts, after the previous attempt started.
///
/// ```rust
/// use fusebox::retry::HedgeDelay;
/// use fusebox::{LatencyHistogram, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let fixed = HedgeDelay::Fixed(Duration::from_millis(50));
/// assert_eq!(fixed.current(), Duration::from_millis(50));
///
/// let h = Arc::new(LatencyHistogram::new(Arc::new(ManualClock::new())));
/// let p95 = HedgeDelay::p95(h.clone(), Duration::from_millis(100));
/// assert_eq!(p95.current(), Duration::from_millis(100)); // nothing recorded yet
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// let d = p95.current().as_secs_f64() * 1e3;
/// assert!((d / 95.0 - 1.0).abs() < 0.02, "{d}");
/// ```
#[derive(Clone)]
pub enum HedgeDelay {
    /// Always this long.
    Fixed(Duration),
    /// The `quantile` of `histogram` (the dependency's latencies), or
    /// `fallback` while it is empty.
    Quantile {
        /// The dependency's latencies.
        histogram: Arc<LatencyHistogram>,
        /// In (0, 1]: 0.95 hedges the slowest 5 % of calls.
        quantile: f64,
        /// Used while the histogram is empty.
        fallback: Duration,
    },
}

impl fmt::Debug for HedgeDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HedgeDelay::Fixed(d) => f.debug_tuple("Fixed").field(d).finish(),
            HedgeDelay::Quantile {
                quantile, fallback, ..
            } => f
                .debug_struct("Quantile")
                .field("quantile", quantile)
                .field("fallback", fallback)
                .finish_non_exhaustive(),
        }
    }
}

impl HedgeDelay {
    /// The P95 of `histogram`, `fallback` while it is empty (example on
    /// [`HedgeDelay`]).
    pub fn p95(histogram: Arc<LatencyHistogram>, fallback: Duration) -> HedgeDelay {
        HedgeDelay::Quantile {
            histogram,
            quantile: 0.95,
            fallback,
        }
    }

    /// The delay as of now (example on [`HedgeDelay`]).
    pub fn current(&self) -> Duration {
        match self {
            HedgeDelay::Fixed(d) => *d,
            HedgeDelay::Quantile {
                histogram,
                quantile,
                fallback,
            } => histogram.quantile(*quantile).unwrap_or(*fallback),
        }
    }
}

/// What one hedged call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgeStats {
    /// Attempts started, the first included (rejected ones too).
    pub attempts: u32,
    /// Attempts after the first (each paid from the budget).
    pub hedges: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// Whether a hedge was due and the budget refused it.
    pub budget_refused: bool,
    /// The attempt (from 1) whose answer the caller got.
    pub answered_by: u32,
}

/// The result of [`HedgePolicy::call`].
#[derive(Debug)]
pub struct HedgeOutcome<T, E> {
    /// The first success, or the last attempt's error.
    pub result: Result<T, RetryError<E>>,
    /// Attempts, hedges, and who answered.
    pub stats: HedgeStats,
}

/// Builds a [`HedgePolicy`].
#[derive(Clone, Debug)]
pub struct HedgePolicyBuilder {
    name: String,
    delay: HedgeDelay,
    max_hedges: u32,
}

impl HedgePolicyBuilder {
    /// The metrics label. Default empty.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
    /// When a hedge starts. Default `Fixed(50 ms)`.
    pub fn delay(mut self, delay: HedgeDelay) -> Self {
        self.delay = delay;
        self
    }
    /// Hedges a call may start (1..=10), one `delay` after another.
    /// Default 1.
    pub fn max_hedges(mut self, n: u32) -> Self {
        self.max_hedges = n;
        self
    }

    /// Check and build (example on [`HedgePolicy`]).
    pub fn build(self) -> Result<HedgePolicy, ConfigError> {
        if !(1..=10).contains(&self.max_hedges) {
            return Err(ConfigError {
                field: "max_hedges",
                value: self.max_hedges.to_string(),
                expected: "1..=10 hedges",
            });
        }
        match &self.delay {
            HedgeDelay::Fixed(d) if d.is_zero() => {
                return Err(ConfigError {
                    field: "delay",
                    value: number(d.as_secs_f64()),
                    expected: "a duration above 0",
                })
            }
            HedgeDelay::Quantile { quantile, .. }
                if !(quantile.is_finite() && *quantile > 0.0 && *quantile <= 1.0) =>
            {
                return Err(ConfigError {
                    field: "quantile",
                    value: number(*quantile),
                    expected: "a quantile in (0, 1]",
                })
            }
            HedgeDelay::Quantile { fallback, .. } if fallback.is_zero() => {
                return Err(ConfigError {
                    field: "fallback",
                    value: number(fallback.as_secs_f64()),
                    expected: "a duration above 0",
                })
            }
            _ => {}
        }
        Ok(HedgePolicy {
            name: self.name,
            delay: self.delay,
            max_hedges: self.max_hedges,
            calls: atomic_u64(0),
            attempts: atomic_u64(0),
            hedges: atomic_u64(0),
            budget_refusals: atomic_u64(0),
            failed_calls: atomic_u64(0),
        })
    }
}

/// Hedged calls: an attempt through a [`Breaker`]; if no answer has come
/// `delay` later, a hedge (another attempt) paid from a [`RetryBudget`];
/// the first success wins, the other attempts are dropped (cancelled calls
/// to the breaker). A failed attempt ends; the call fails when every
/// attempt has failed and no hedge is still to start (hedging races slow
/// answers: retry failures with a [`RetryPolicy`](crate::RetryPolicy)).
///
/// The call deposits once in the budget; each hedge withdraws one retry
/// first, and is not started if the budget refuses. Each attempt gives the
/// breaker one outcome: success, failure, or cancelled.
///
/// ```rust
/// use fusebox::retry::{HedgeDelay, HedgePolicy, ManualTimer};
/// use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig};
/// use std::{future::Future, pin::pin, sync::Arc, task::{Context, Poll}, time::Duration};
/// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
/// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
/// # let mut cx = Context::from_waker(&waker);
///
/// let clock = Arc::new(ManualClock::new());
/// let timer = ManualTimer::new(clock.clone());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
/// let hedge = HedgePolicy::builder()
///     .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
///     .build()?;
///
/// // The first attempt never answers; the hedge answers at once.
/// let call = hedge.call(&breaker, &budget, &timer, |attempt| async move {
///     if attempt == 1 {
///         std::future::pending::<Result<u32, ()>>().await
///     } else {
///         Ok(attempt)
///     }
/// });
/// let mut call = pin!(call);
/// assert!(call.as_mut().poll(&mut cx).is_pending());
/// timer.advance(Duration::from_millis(20));
/// let Poll::Ready(out) = call.as_mut().poll(&mut cx) else { panic!() };
/// assert_eq!(out.result, Ok(2));
/// assert_eq!((out.stats.attempts, out.stats.hedges, out.stats.answered_by), (2, 1, 2));
/// // One success; the first attempt was cancelled, neither success nor failure.
/// let m = breaker.metrics();
/// assert_eq!((m.successes, m.failures), (1, 0));
///
/// assert_eq!(HedgePolicy::builder().max_hedges(0).build().unwrap_err().field, "max_hedges");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct HedgePolicy {
    name: String,
    pub(super) delay: HedgeDelay,
    pub(super) max_hedges: u32,
    pub(super) calls: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) hedges: AtomicU64,
    pub(super) budget_refusals: AtomicU64,
    pub(super) failed_calls: AtomicU64,
}

impl fmt::Debug for HedgePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgePolicy")
            .field("name", &self.name)
            .field("delay", &self.delay)
            .field("max_hedges", &self.max_hedges)
            .finish()
    }
}

/// An attempt in flight.
type Attempt<'b, F, R, X> = Pin<Box<crate::Guarded<&'b Breaker, F, crate::ByResult<R, X>>>>;

impl HedgePolicy {
    /// A builder holding the defaults: one hedge, after 50 ms.
    pub fn builder() -> HedgePolicyBuilder {
        HedgePolicyBuilder {
            name: String::new(),
            delay: HedgeDelay::Fixed(Duration::from_millis(50)),
            max_hedges: 1,
        }
    }

    /// The counters, as a retry policy's: `attempts`, `hedges`,
    /// `budget_refusals` (hedges refused), `calls`, `failed_calls`
    /// (`retries` is 0). Written by
    /// [`write_retry_policies`](crate::prometheus::write_retry_policies).
    ///
    /// ```rust
    /// use fusebox::retry::HedgePolicy;
    ///
    /// let m = HedgePolicy::builder().name("search").build()?.metrics();
    /// assert_eq!((m.name.as_str(), m.calls, m.hedges), ("search", 0, 0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> RetryMetrics {
        RetryMetrics {
            name: self.name.clone(),
            calls: self.calls.load(Relaxed),
            attempts: self.attempts.load(Relaxed),
            retries: 0,
            hedges: self.hedges.load(Relaxed),
            budget_refusals: self.budget_refusals.load(Relaxed),
            failed_calls: self.failed_calls.load(Relaxed),
        }
    }

    /// Run `make(attempt)` (from 1) through `breaker`, hedged (example on
    /// [`HedgePolicy`]). The first attempt starts now (admission happens
    /// here, as with [`Breaker::call_async`]); the hedges when the delays
    /// `timer` hands out are over.
    pub fn call<'a, F, R, X>(
        &'a self,
        breaker: &'a Breaker,
        budget: &'a RetryBudget,
        timer: &'a dyn Timer,
        mut make: impl FnMut(u32) -> F + 'a,
    ) -> impl Future<Output = HedgeOutcome<R, X>> + 'a
    where
        F: Future<Output = Result<R, X>> + 'a,
        R: 'a,
        X: 'a,
    {
        let (mut state, first_delay) = self.begin(budget);
        let first: Attempt<'a, F, R, X> = Box::pin(breaker.call_async(|| make(1)));
        let mut running: Vec<(u32, Attempt<'a, F, R, X>)> = vec![(1, first)];
        let mut next: Option<Sleep> = first_delay.map(|d| timer.sleep(d));
        std::future::poll_fn(move |cx| loop {
            let mut i = 0;
            while i < running.len() {
                let Poll::Ready(r) = running[i].1.as_mut().poll(cx) else {
                    i += 1;
                    continue;
                };
                let (n, _) = running.remove(i);
                let (end, result) = match r {
                    Ok(v) => (HedgeEnd::Succeeded, Ok(v)),
                    Err(CallError::Failed(e)) => (HedgeEnd::Failed, Err(RetryError::Failed(e))),
                    Err(CallError::Rejected(rej)) => {
                        (HedgeEnd::Rejected, Err(RetryError::Rejected(rej)))
                    }
                };
                if self.ended(&mut state, n, end).is_final() {
                    // The losers are dropped: cancelled calls.
                    running.clear();
                    next = None;
                    let stats = state.stats;
                    return Poll::Ready(HedgeOutcome { result, stats });
                }
            }
            let Some(sleep) = next.as_mut() else {
                return Poll::Pending;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            next = None;
            let HedgeStart::Start { attempt: n, then } = self.hedge_due(&mut state, budget) else {
                return Poll::Pending;
            };
            running.push((n, Box::pin(breaker.call_async(|| make(n)))));
            next = then.map(|d| timer.sleep(d));
            // Poll the new attempt (and the timer) before returning.
        })
    }
}
