//! The retry policy (`docs/semantics.md#retries-and-the-retry-budget`):
//! attempts, exponential back-off with full jitter, a deadline, a
//! classifier, every attempt through a breaker and every retry paid from a
//! [`RetryBudget`].

use super::budget::RetryBudget;
use super::sleep::Sleeper;
use super::state::{AttemptEnd, Next};
use crate::engine::breaker::Breaker;
use crate::engine::config::{number, ConfigError};
use crate::engine::error::Rejected;
use crate::sync::{atomic_u64, AtomicU64, Ordering::Relaxed};
use std::fmt;
use std::time::Duration;

/// What the classifier says of a failed attempt.
///
/// ```rust
/// use fusebox::retry::Verdict;
/// use std::time::Duration;
///
/// // An HTTP client's classifier: 503 with Retry-After, 5xx, the rest final.
/// fn classify(status: &(u16, Option<u64>)) -> Verdict {
///     match *status {
///         (503, Some(secs)) => Verdict::RetryAfter(Duration::from_secs(secs)),
///         (500..=599, _) => Verdict::Retry,
///         _ => Verdict::Stop,
///     }
/// }
/// assert_eq!(classify(&(503, Some(2))), Verdict::RetryAfter(Duration::from_secs(2)));
/// assert_eq!(classify(&(404, None)), Verdict::Stop);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Retryable, after the back-off.
    Retry,
    /// Retryable, not before this long (the server's `Retry-After`),
    /// honoured up to the policy's `retry_after_cap`; a longer hint ends
    /// the call.
    RetryAfter(Duration),
    /// Not retryable: the call ends with this error.
    Stop,
}

/// Why a call through [`RetryPolicy::call`] ended.
///
/// ```rust
/// use fusebox::retry::StopReason;
///
/// assert_eq!(StopReason::BudgetExhausted.as_str(), "budget_exhausted");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// An attempt succeeded.
    Succeeded,
    /// The classifier said [`Verdict::Stop`].
    NotRetryable,
    /// `max_attempts` attempts were made.
    MaxAttempts,
    /// The next attempt could not start before `deadline − min_attempt`.
    Deadline,
    /// The [`RetryBudget`] refused the retry.
    BudgetExhausted,
    /// The breaker rejected the attempt with no time to wait for
    /// (forced open).
    Rejected,
    /// The server's retry-after was longer than `retry_after_cap`.
    RetryAfterTooLong,
}

impl StopReason {
    /// `succeeded`, `not_retryable`, `max_attempts`, `deadline`,
    /// `budget_exhausted`, `rejected`, `retry_after_too_long`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Succeeded => "succeeded",
            StopReason::NotRetryable => "not_retryable",
            StopReason::MaxAttempts => "max_attempts",
            StopReason::Deadline => "deadline",
            StopReason::BudgetExhausted => "budget_exhausted",
            StopReason::Rejected => "rejected",
            StopReason::RetryAfterTooLong => "retry_after_too_long",
        }
    }
}

/// How a call failed: the last attempt's error, or the breaker's
/// rejection of the last attempt.
///
/// ```rust
/// use fusebox::retry::{ManualSleeper, RetryError};
/// use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
/// breaker.force_open();
/// let out = RetryPolicy::default().call(&breaker, &budget, &ManualSleeper::new(clock), |_| {
///     Ok::<(), &str>(())
/// });
/// assert!(matches!(out.result, Err(RetryError::Rejected(_))));
/// assert_eq!(out.result.unwrap_err().to_string(), "circuit forced open");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum RetryError<E> {
    /// The last attempt ran and returned this error.
    Failed(E),
    /// The breaker rejected the last attempt.
    Rejected(Rejected),
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::Failed(e) => e.fmt(f),
            RetryError::Rejected(r) => r.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RetryError<E> {}

/// What one logical call did (example on [`RetryPolicy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryStats {
    /// Attempts made, rejected ones included (≥ 1).
    pub attempts: u32,
    /// Attempts after the first (each paid from the budget).
    pub retries: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// Time spent waiting between attempts.
    pub slept: Duration,
    /// Why the call ended.
    pub stop: StopReason,
}

/// The result of [`RetryPolicy::call`]: the final result and what it took.
#[derive(Debug)]
pub struct RetryOutcome<T, E> {
    /// The successful value, or how the last attempt failed.
    pub result: Result<T, RetryError<E>>,
    /// Attempts, retries, waits, and why the call ended.
    pub stats: RetryStats,
}

/// A policy's counters, since it was built.
///
/// ```rust
/// use fusebox::RetryPolicy;
///
/// let policy = RetryPolicy::builder().name("db").build()?;
/// let m = policy.metrics();
/// assert_eq!((m.name.as_str(), m.calls, m.attempts), ("db", 0, 0));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryMetrics {
    /// The policy's name (a metrics label).
    pub name: String,
    /// Logical calls.
    pub calls: u64,
    /// Attempts, rejected ones included.
    pub attempts: u64,
    /// Retries (attempts after a call's first, after a failure).
    pub retries: u64,
    /// Hedges (attempts after a call's first, racing it; from a
    /// [`HedgePolicy`](crate::retry::HedgePolicy)).
    pub hedges: u64,
    /// Retries or hedges the budget refused.
    pub budget_refusals: u64,
    /// Calls that ended in an error.
    pub failed_calls: u64,
}

/// Builds a [`RetryPolicy`] (defaults on [`RetryPolicy`]).
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder {
    name: String,
    max_attempts: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    deadline: Option<Duration>,
    min_attempt: Duration,
    retry_after_cap: Duration,
    seed: Option<u64>,
    jitter: bool,
}

impl RetryPolicyBuilder {
    /// The metrics label. Default empty.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
    /// Attempts in all, the first included (1..=100). Default 3.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }
    /// The first retry waits up to this (> 0). Default 50 ms.
    pub fn base_backoff(mut self, d: Duration) -> Self {
        self.base_backoff = d;
        self
    }
    /// No back-off waits more than this (≥ `base_backoff`). Default 5 s.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
    /// The whole call's time limit (> 0), from its start. Default none.
    pub fn deadline(mut self, d: Option<Duration>) -> Self {
        self.deadline = d;
        self
    }
    /// The least time an attempt needs: none starts after
    /// `deadline − min_attempt` (≤ `deadline`). Default 0.
    pub fn min_attempt(mut self, d: Duration) -> Self {
        self.min_attempt = d;
        self
    }
    /// The longest server retry-after honoured. Default 30 s.
    pub fn retry_after_cap(mut self, d: Duration) -> Self {
        self.retry_after_cap = d;
        self
    }
    /// Seed the jitter, for repeatable tests. Default: from the clock.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Full jitter (the default), or none: each back-off is then its cap,
    /// `min(max_backoff, base_backoff × 2^(retry−1))`, exactly (for tests
    /// and scenario files that check the waits).
    ///
    /// ```rust
    /// use fusebox::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::builder().base_backoff(Duration::from_millis(100)).jitter(false).build()?;
    /// assert_eq!(p.backoff(3), Duration::from_millis(400));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Check and build (example on [`RetryPolicy`]).
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let secs = |d: Duration| number(d.as_secs_f64());
        if !(1..=100).contains(&self.max_attempts) {
            return Err(ConfigError {
                field: "max_attempts",
                value: self.max_attempts.to_string(),
                expected: "1..=100 attempts",
            });
        }
        if self.base_backoff.is_zero() || self.base_backoff > Duration::from_secs(3600) {
            return Err(ConfigError {
                field: "base_backoff",
                value: secs(self.base_backoff),
                expected: "a duration in (0, 3600] seconds",
            });
        }
        if self.max_backoff < self.base_backoff || self.max_backoff > Duration::from_secs(86_400) {
            return Err(ConfigError {
                field: "max_backoff",
                value: secs(self.max_backoff),
                expected: "a duration in [base_backoff, 86400] seconds",
            });
        }
        if let Some(d) = self.deadline {
            if d.is_zero() {
                return Err(ConfigError {
                    field: "deadline",
                    value: secs(d),
                    expected: "a duration above 0",
                });
            }
            if self.min_attempt > d {
                return Err(ConfigError {
                    field: "min_attempt",
                    value: secs(self.min_attempt),
                    expected: "a duration ≤ deadline",
                });
            }
        }
        let seed = self
            .seed
            .unwrap_or_else(|| crate::engine::clock::monotonic_ns() ^ 0x5DEE_CE66_D1CE_4E5B);
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            base_ns: nanos(self.base_backoff),
            max_ns: nanos(self.max_backoff),
            deadline_ns: self.deadline.map(nanos),
            min_attempt_ns: nanos(self.min_attempt),
            retry_after_cap: self.retry_after_cap,
            rng: atomic_u64(seed),
            jitter: self.jitter,
            calls: atomic_u64(0),
            attempts: atomic_u64(0),
            retries: atomic_u64(0),
            budget_refusals: atomic_u64(0),
            failed_calls: atomic_u64(0),
            name: self.name,
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How a logical call is retried: up to `max_attempts` attempts, each
/// through a [`Breaker`], each retry paid from a [`RetryBudget`], waits of
/// exponential back-off with full jitter, within an optional deadline.
///
/// Defaults: 3 attempts, back-off from 50 ms up to 5 s, no deadline,
/// `min_attempt` 0, retry-after honoured up to 30 s.
///
/// ```rust
/// use fusebox::retry::{ManualSleeper, StopReason};
/// use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .base_backoff(Duration::from_millis(100))
///     .deadline(Some(Duration::from_secs(2)))
///     .seed(7)
///     .build()?;
///
/// // Fails twice, then works: three attempts, two retries, no real sleep.
/// let out = policy.call(&breaker, &budget, &ManualSleeper::new(clock.clone()), |attempt| {
///     if attempt < 3 { Err("busy") } else { Ok(attempt) }
/// });
/// assert_eq!(out.result, Ok(3));
/// assert_eq!((out.stats.attempts, out.stats.retries), (3, 2));
/// assert_eq!(out.stats.stop, StopReason::Succeeded);
/// assert!(out.stats.slept <= Duration::from_millis(300)); // 100 ms + 200 ms at most
/// assert_eq!(breaker.metrics().failures, 2); // one outcome per attempt
///
/// assert_eq!(RetryPolicy::builder().max_attempts(0).build().unwrap_err().field, "max_attempts");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct RetryPolicy {
    pub(super) max_attempts: u32,
    base_ns: u64,
    max_ns: u64,
    pub(super) deadline_ns: Option<u64>,
    pub(super) min_attempt_ns: u64,
    pub(super) retry_after_cap: Duration,
    /// The jitter's splitmix64 state.
    rng: AtomicU64,
    /// Full jitter, or none.
    jitter: bool,
    pub(super) calls: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) budget_refusals: AtomicU64,
    pub(super) failed_calls: AtomicU64,
    name: String,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("base_ns", &self.base_ns)
            .field("max_ns", &self.max_ns)
            .field("deadline_ns", &self.deadline_ns)
            .field("min_attempt_ns", &self.min_attempt_ns)
            .field("retry_after_cap", &self.retry_after_cap)
            .finish()
    }
}

impl Default for RetryPolicy {
    /// The defaults (on [`RetryPolicy`]), jitter seeded from the clock.
    fn default() -> Self {
        RetryPolicy::builder()
            .build()
            .expect("the defaults are valid")
    }
}

impl RetryPolicy {
    /// A builder holding the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            name: String::new(),
            max_attempts: 3,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            deadline: None,
            min_attempt: Duration::ZERO,
            retry_after_cap: Duration::from_secs(30),
            seed: None,
            jitter: true,
        }
    }

    /// Attempts in all, the first included: a caller that must copy a
    /// request for a retry needs no copy for the last attempt.
    ///
    /// ```rust
    /// let p = fusebox::RetryPolicy::builder().max_attempts(4).build()?;
    /// assert_eq!(p.max_attempts(), 4);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether the policy has a deadline: only then do
    /// [`RetryPolicy::begin`] and [`RetryPolicy::next`] read the time they
    /// are given, so a caller without one may pass 0 and skip the clock.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// let p = fusebox::RetryPolicy::builder().deadline(Some(Duration::from_secs(1))).build()?;
    /// assert!(p.has_deadline());
    /// assert!(!fusebox::RetryPolicy::default().has_deadline());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn has_deadline(&self) -> bool {
        self.deadline_ns.is_some()
    }

    /// The counters (example on [`RetryMetrics`]).
    pub fn metrics(&self) -> RetryMetrics {
        RetryMetrics {
            name: self.name.clone(),
            calls: self.calls.load(Relaxed),
            attempts: self.attempts.load(Relaxed),
            retries: self.retries.load(Relaxed),
            hedges: 0,
            budget_refusals: self.budget_refusals.load(Relaxed),
            failed_calls: self.failed_calls.load(Relaxed),
        }
    }

    /// The back-off before retry number `retry` (1 for the first): a
    /// uniform draw in `[0, min(max_backoff, base_backoff × 2^(retry−1))]`
    /// ("full jitter"), or the cap itself without jitter.
    ///
    /// ```rust
    /// use fusebox::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::builder()
    ///     .base_backoff(Duration::from_millis(100))
    ///     .max_backoff(Duration::from_millis(300))
    ///     .seed(1)
    ///     .build()?;
    /// for retry in 1..=10 {
    ///     let cap = Duration::from_millis([100, 200, 300][(retry as usize - 1).min(2)]);
    ///     assert!(policy.backoff(retry) <= cap);
    /// }
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn backoff(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(63);
        let cap = self.base_ns.saturating_mul(1u64 << shift).min(self.max_ns);
        if !self.jitter {
            return Duration::from_nanos(cap);
        }
        Duration::from_nanos(self.next_random() % (cap.saturating_add(1)).max(1))
    }

    /// splitmix64, one `fetch_add` a draw: shared by all callers, and
    /// repeatable from the seed when one thread draws.
    fn next_random(&self) -> u64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut z = self.rng.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Run `f` (given the attempt number, from 1) until it succeeds,
    /// retrying every error: [`RetryPolicy::call_with`] with a classifier
    /// that always says [`Verdict::Retry`] (example on [`RetryPolicy`]).
    pub fn call<T, E>(
        &self,
        breaker: &Breaker,
        budget: &RetryBudget,
        sleeper: &dyn Sleeper,
        f: impl FnMut(u32) -> Result<T, E>,
    ) -> RetryOutcome<T, E> {
        self.call_with(breaker, budget, sleeper, |_| Verdict::Retry, f)
    }

    /// Run `f` (given the attempt number, from 1) until it succeeds or the
    /// call must end; `classify` says which errors are retryable.
    ///
    /// The call deposits once in `budget`; each attempt takes a permit from
    /// `breaker` and gives it one outcome (`Ok` a success, `Err` a failure);
    /// each retry withdraws from `budget` before it waits. A rejected
    /// attempt is retried no sooner than its `retry_after`; if that passes
    /// the deadline (or the breaker is forced open), the call ends with the
    /// rejection. Times are read from the breaker's clock.
    ///
    /// ```rust
    /// use fusebox::retry::{ManualSleeper, StopReason, Verdict};
    /// use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
    /// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
    /// let sleeper = ManualSleeper::new(clock.clone());
    /// let policy = RetryPolicy::builder().max_attempts(5).seed(3).build()?;
    ///
    /// // 429 with Retry-After: 2 s, then 200.
    /// let out = policy.call_with(
    ///     &breaker,
    ///     &budget,
    ///     &sleeper,
    ///     |status: &u16| if *status == 429 { Verdict::RetryAfter(Duration::from_secs(2)) } else { Verdict::Stop },
    ///     |attempt| if attempt == 1 { Err(429) } else { Ok("done") },
    /// );
    /// assert_eq!(out.result, Ok("done"));
    /// assert!(out.stats.slept >= Duration::from_secs(2)); // the server's wait, at least
    ///
    /// // A 404 is final.
    /// let out = policy.call_with(&breaker, &budget, &sleeper, |_: &u16| Verdict::Stop, |_| Err::<(), _>(404));
    /// assert_eq!((out.stats.attempts, out.stats.stop), (1, StopReason::NotRetryable));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn call_with<T, E>(
        &self,
        breaker: &Breaker,
        budget: &RetryBudget,
        sleeper: &dyn Sleeper,
        classify: impl Fn(&E) -> Verdict,
        mut f: impl FnMut(u32) -> Result<T, E>,
    ) -> RetryOutcome<T, E> {
        let clock = breaker.clock();
        // The time matters only for a deadline: without one, no clock read.
        let now = || {
            if self.has_deadline() {
                clock.now_ns()
            } else {
                0
            }
        };
        let mut state = self.begin(budget, now());
        loop {
            // The attempt's error, and how it ended.
            let (err, end) = match breaker.try_acquire() {
                Err(rejected) => (
                    RetryError::Rejected(rejected),
                    AttemptEnd::Rejected(rejected),
                ),
                Ok(permit) => match f(state.attempt()) {
                    Ok(v) => {
                        permit.success();
                        let stats = self.succeeded(&mut state);
                        return RetryOutcome {
                            result: Ok(v),
                            stats,
                        };
                    }
                    Err(e) => {
                        permit.failure();
                        let verdict = classify(&e);
                        (RetryError::Failed(e), AttemptEnd::Failed(verdict))
                    }
                },
            };
            match self.next(&mut state, budget, end, now()) {
                Next::Retry(wait) => sleeper.sleep(wait),
                Next::Stop(_) => {
                    return RetryOutcome {
                        result: Err(err),
                        stats: state.stats(),
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::error::RejectReason;
    use crate::retry::sleep::ManualSleeper;
    use crate::retry::RetryBudgetConfig;
    use crate::{Clock, Config, ManualClock};
    use std::sync::{Arc, Mutex};

    struct Rig {
        clock: Arc<ManualClock>,
        breaker: Breaker,
        budget: RetryBudget,
        sleeper: ManualSleeper,
    }

    fn rig(budget: RetryBudgetConfig) -> Rig {
        let clock = Arc::new(ManualClock::new());
        let config = Config::builder()
            .consecutive_failures(None)
            .build()
            .unwrap();
        Rig {
            breaker: Breaker::with_clock(config, clock.clone()).unwrap(),
            budget: RetryBudget::with_clock(budget, clock.clone()).unwrap(),
            sleeper: ManualSleeper::new(clock.clone()),
            clock,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A sleeper that logs its waits and moves the clock.
    #[derive(Debug)]
    struct Log(Arc<ManualClock>, Mutex<Vec<Duration>>);
    impl Sleeper for Log {
        fn sleep(&self, d: Duration) {
            self.1.lock().unwrap().push(d);
            self.0.advance(d);
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_the_exponential_cap() {
        let p = RetryPolicy::builder()
            .base_backoff(ms(10))
            .max_backoff(ms(1000))
            .seed(42)
            .build()
            .unwrap();
        for retry in 1..=12u32 {
            let cap = (10u64 << (retry - 1)).min(1000);
            let draws: Vec<_> = (0..200).map(|_| p.backoff(retry)).collect();
            assert!(draws.iter().all(|d| *d <= ms(cap)));
            // Spread over the whole range, not clustered at the top.
            assert!(draws.iter().any(|d| *d < ms(cap) / 4));
            assert!(draws.iter().any(|d| *d > ms(cap) * 3 / 4));
        }
        // Repeatable from the seed.
        let a = RetryPolicy::builder().seed(9).build().unwrap();
        let b = RetryPolicy::builder().seed(9).build().unwrap();
        let xs: Vec<_> = (1..20).map(|r| a.backoff(r)).collect();
        let ys: Vec<_> = (1..20).map(|r| b.backoff(r)).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn max_attempts_and_one_outcome_per_attempt() {
        let r = rig(RetryBudgetConfig::default());
        let p = RetryPolicy::builder()
            .max_attempts(4)
            .seed(1)
            .build()
            .unwrap();
        let out = p.call(&r.breaker, &r.budget, &r.sleeper, |_| Err::<(), _>("down"));
        assert_eq!(out.result, Err(RetryError::Failed("down")));
        assert_eq!((out.stats.attempts, out.stats.retries), (4, 3));
        assert_eq!(out.stats.stop, StopReason::MaxAttempts);
        assert_eq!(r.breaker.metrics().failures, 4);
        let m = p.metrics();
        assert_eq!(
            (m.calls, m.attempts, m.retries, m.failed_calls),
            (1, 4, 3, 1)
        );
        let s = r.budget.stats();
        assert_eq!((s.deposits, s.withdrawals), (1, 3));
    }

    #[test]
    fn the_deadline_stops_attempts_and_cuts_the_jitter() {
        let r = rig(RetryBudgetConfig::default());
        let log = Log(r.clock.clone(), Mutex::default());
        let p = RetryPolicy::builder()
            .max_attempts(100)
            .base_backoff(ms(100))
            .max_backoff(ms(400))
            .deadline(Some(ms(1000)))
            .min_attempt(ms(150))
            .seed(5)
            .build()
            .unwrap();
        let t0 = r.clock.now_ns();
        let starts = Mutex::new(Vec::new());
        let out = p.call(&r.breaker, &r.budget, &log, |_| {
            let now = r.clock.now_ns();
            starts.lock().unwrap().push(now - t0);
            r.clock.advance(ms(20)); // each attempt takes 20 ms
            Err::<(), _>("slow")
        });
        assert_eq!(out.stats.stop, StopReason::Deadline);
        let starts = starts.into_inner().unwrap();
        // No attempt started after deadline − min_attempt = 850 ms, and
        // the waits never ran past it.
        assert!(starts.iter().all(|s| *s <= 850_000_000), "{starts:?}");
        assert!(r.clock.now_ns() - t0 <= 850_000_000 + 20_000_000);
        assert_eq!(starts.len() as u32, out.stats.attempts);
        assert!(out.stats.attempts > 2);
    }

    #[test]
    fn a_retry_after_is_waited_and_capped() {
        let r = rig(RetryBudgetConfig::default());
        let log = Log(r.clock.clone(), Mutex::default());
        let p = RetryPolicy::builder()
            .base_backoff(ms(1))
            .max_backoff(ms(1))
            .retry_after_cap(Duration::from_secs(5))
            .seed(2)
            .build()
            .unwrap();
        let out = p.call_with(
            &r.breaker,
            &r.budget,
            &log,
            |e: &u64| Verdict::RetryAfter(Duration::from_secs(*e)),
            |a| if a == 1 { Err(3) } else { Ok(()) },
        );
        assert!(out.result.is_ok());
        assert_eq!(*log.1.lock().unwrap(), [Duration::from_secs(3)]);

        // Over the cap: not waited on.
        let out = p.call_with(
            &r.breaker,
            &r.budget,
            &log,
            |e: &u64| Verdict::RetryAfter(Duration::from_secs(*e)),
            |_| Err::<(), _>(6),
        );
        assert_eq!(out.stats.stop, StopReason::RetryAfterTooLong);
        assert_eq!(out.stats.attempts, 1);

        // Past the deadline: not waited on either.
        let p = RetryPolicy::builder()
            .deadline(Some(Duration::from_secs(2)))
            .seed(2)
            .build()
            .unwrap();
        let out = p.call_with(
            &r.breaker,
            &r.budget,
            &log,
            |e: &u64| Verdict::RetryAfter(Duration::from_secs(*e)),
            |_| Err::<(), _>(3),
        );
        assert_eq!(out.stats.stop, StopReason::Deadline);
    }

    #[test]
    fn a_rejection_waits_for_its_retry_after_or_gives_up() {
        let r = rig(RetryBudgetConfig::default());
        let trip = Config::builder()
            .consecutive_failures(Some(1))
            .open_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let breaker = Breaker::with_clock(trip, r.clock.clone()).unwrap();
        breaker.try_acquire().unwrap().failure(); // Open for 2 s
        let log = Log(r.clock.clone(), Mutex::default());
        let p = RetryPolicy::builder()
            .base_backoff(ms(1))
            .max_backoff(ms(1))
            .seed(4)
            .build()
            .unwrap();
        let ran = Mutex::new(0);
        let out = p.call(&breaker, &r.budget, &log, |_| {
            *ran.lock().unwrap() += 1;
            Ok::<_, ()>(7)
        });
        assert_eq!(out.result, Ok(7));
        assert_eq!((out.stats.attempts, out.stats.rejections), (2, 1));
        assert_eq!(*log.1.lock().unwrap(), [Duration::from_secs(2)]);
        assert_eq!(*ran.lock().unwrap(), 1, "the rejected attempt did not run");

        // Open again: a 1 s deadline ends the call with the rejection.
        breaker.try_acquire().unwrap().failure();
        let p = RetryPolicy::builder()
            .deadline(Some(Duration::from_secs(1)))
            .seed(4)
            .build()
            .unwrap();
        let out = p.call(&breaker, &r.budget, &log, |_| Ok::<_, ()>(7));
        assert!(
            matches!(out.result, Err(RetryError::Rejected(rej)) if rej.reason == RejectReason::Open)
        );
        assert_eq!(out.stats.stop, StopReason::Deadline);
    }

    #[test]
    fn an_empty_budget_ends_the_call() {
        let r = rig(RetryBudgetConfig {
            ratio: 0.0,
            min_per_sec: 0,
            ..Default::default()
        });
        let p = RetryPolicy::builder().seed(8).build().unwrap();
        let out = p.call(&r.breaker, &r.budget, &r.sleeper, |_| Err::<(), _>("x"));
        assert_eq!(out.stats.stop, StopReason::BudgetExhausted);
        assert_eq!((out.stats.attempts, out.stats.retries), (1, 0));
        assert_eq!(p.metrics().budget_refusals, 1);
        assert_eq!(r.budget.stats().refusals, 1);
    }

    #[test]
    fn config_errors_name_the_field() {
        let b = RetryPolicy::builder;
        assert_eq!(
            b().max_attempts(101).build().unwrap_err().field,
            "max_attempts"
        );
        assert_eq!(
            b().base_backoff(Duration::ZERO).build().unwrap_err().field,
            "base_backoff"
        );
        let e = b().max_backoff(ms(10)).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid max_backoff: 0.01 (expected a duration in [base_backoff, 86400] seconds)"
        );
        assert_eq!(
            b().deadline(Some(Duration::ZERO))
                .build()
                .unwrap_err()
                .field,
            "deadline"
        );
        let e = b()
            .deadline(Some(ms(10)))
            .min_attempt(ms(20))
            .build()
            .unwrap_err();
        assert_eq!(e.field, "min_attempt");
    }
}
