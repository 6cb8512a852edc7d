//! One logical call's progress, step by step: the retry policy's rules for
//! a caller that runs the attempts itself (an async front end, a C loop,
//! a tower service). [`RetryPolicy::call_with`] is this loop with a
//! [`Sleeper`](super::Sleeper).

use super::budget::RetryBudget;
use super::policy::{RetryPolicy, RetryStats, StopReason, Verdict};
use crate::engine::error::{RejectReason, Rejected};
use crate::sync::Ordering::Relaxed;
use std::time::Duration;

/// How an attempt that did not succeed ended.
///
/// ```rust
/// use fusebox::retry::{AttemptEnd, Verdict};
///
/// let end = AttemptEnd::Failed(Verdict::Retry);
/// assert!(matches!(end, AttemptEnd::Failed(Verdict::Retry)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    /// It ran and failed; the classifier's verdict.
    Failed(Verdict),
    /// The breaker rejected it; it did not run.
    Rejected(Rejected),
}

/// What the caller does after an attempt that did not succeed.
///
/// ```rust
/// use fusebox::retry::{Next, StopReason};
/// use std::time::Duration;
///
/// let next = Next::Retry(Duration::from_millis(50));
/// assert_eq!(next.wait(), Some(Duration::from_millis(50)));
/// assert_eq!(Next::Stop(StopReason::MaxAttempts).wait(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then make the next attempt (the retry is paid from
    /// the budget and counted).
    Retry(Duration),
    /// The call ends, failed, for this reason.
    Stop(StopReason),
}

impl Next {
    /// The wait before the next attempt, or `None` when the call ends.
    pub fn wait(self) -> Option<Duration> {
        match self {
            Next::Retry(d) => Some(d),
            Next::Stop(_) => None,
        }
    }
}

/// One logical call's progress (plain data: copy it, keep it anywhere),
/// from [`RetryPolicy::begin`], moved on by [`RetryPolicy::next`] and
/// ended by [`RetryPolicy::succeeded`] or a [`Next::Stop`]. The fields are
/// open so that a front end can hold them in its own types (a C struct);
/// only the policy's methods should change them.
///
/// ```rust
/// use fusebox::retry::{AttemptEnd, Next, StopReason, Verdict};
/// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
/// let policy = RetryPolicy::builder()
///     .max_attempts(2)
///     .base_backoff(Duration::from_millis(100))
///     .jitter(false)
///     .build()?;
///
/// let mut call = policy.begin(&budget, 0);
/// assert_eq!(call.attempt(), 1);
/// // Attempt 1 failed, retryably: wait 100 ms, then attempt 2.
/// let next = policy.next(&mut call, &budget, AttemptEnd::Failed(Verdict::Retry), 0);
/// assert_eq!(next, Next::Retry(Duration::from_millis(100)));
/// assert_eq!(call.attempt(), 2);
/// // Attempt 2 failed too: that was the last.
/// let next = policy.next(&mut call, &budget, AttemptEnd::Failed(Verdict::Retry), 100_000_000);
/// assert_eq!(next, Next::Stop(StopReason::MaxAttempts));
/// assert_eq!((call.stats().attempts, call.stats().retries), (2, 1));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryState {
    /// The latest time (clock ns) an attempt may start: the deadline less
    /// `min_attempt`; `None` without a deadline. Set by `begin`.
    pub latest_start: Option<u64>,
    /// What the call has done so far.
    pub stats: RetryStats,
    /// Whether the call has ended.
    pub done: bool,
}

impl RetryState {
    /// The current attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.stats.attempts
    }

    /// What the call has done so far (its `stop` is final once it ended).
    pub fn stats(&self) -> RetryStats {
        self.stats
    }

    /// Whether the call has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RetryPolicy {
    /// Start a logical call at `now_ns` (the breaker's clock): one deposit
    /// in `budget`, and attempt 1 counted (example on [`RetryState`]).
    pub fn begin(&self, budget: &RetryBudget, now_ns: u64) -> RetryState {
        let latest_start = self
            .deadline_ns
            .map(|d| now_ns.saturating_add(d).saturating_sub(self.min_attempt_ns));
        budget.deposit();
        self.calls.fetch_add(1, Relaxed);
        self.attempts.fetch_add(1, Relaxed);
        RetryState {
            latest_start,
            stats: RetryStats {
                attempts: 1,
                retries: 0,
                rejections: 0,
                slept: Duration::ZERO,
                stop: StopReason::Succeeded,
            },
            done: false,
        }
    }

    /// The current attempt succeeded: the call ends. Returns its stats.
    ///
    /// ```rust
    /// use fusebox::retry::StopReason;
    /// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
    /// use std::sync::Arc;
    ///
    /// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), Arc::new(ManualClock::new()))?;
    /// let policy = RetryPolicy::default();
    /// let mut call = policy.begin(&budget, 0);
    /// let stats = policy.succeeded(&mut call);
    /// assert_eq!((stats.attempts, stats.stop), (1, StopReason::Succeeded));
    /// assert_eq!(policy.metrics().failed_calls, 0);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn succeeded(&self, state: &mut RetryState) -> RetryStats {
        state.done = true;
        state.stats.stop = StopReason::Succeeded;
        state.stats
    }

    /// The current attempt ended as `end` at `now_ns`: retry (after the
    /// wait returned, the budget already paid) or stop. Every rule of the
    /// policy is here: attempts, back-off and jitter, the deadline, the
    /// retry-after floor and cap, the forced-open breaker, the budget.
    /// After the call ended it answers the same stop again, counting
    /// nothing (example on [`RetryState`]).
    pub fn next(
        &self,
        state: &mut RetryState,
        budget: &RetryBudget,
        end: AttemptEnd,
        now_ns: u64,
    ) -> Next {
        if state.done {
            return Next::Stop(state.stats.stop);
        }
        // The least wait before the next attempt.
        let floor = match end {
            AttemptEnd::Rejected(rejected) => {
                state.stats.rejections += 1;
                match rejected.reason {
                    RejectReason::ForcedOpen => return self.stop(state, StopReason::Rejected),
                    _ => rejected.retry_after.unwrap_or(Duration::ZERO),
                }
            }
            AttemptEnd::Failed(Verdict::Retry) => Duration::ZERO,
            AttemptEnd::Failed(Verdict::RetryAfter(h)) if h <= self.retry_after_cap => h,
            AttemptEnd::Failed(Verdict::RetryAfter(_)) => {
                return self.stop(state, StopReason::RetryAfterTooLong)
            }
            AttemptEnd::Failed(Verdict::Stop) => return self.stop(state, StopReason::NotRetryable),
        };
        if state.stats.attempts >= self.max_attempts {
            return self.stop(state, StopReason::MaxAttempts);
        }
        let mut wait = self.backoff(state.stats.retries + 1).max(floor);
        if let Some(latest) = state.latest_start {
            let room = latest.saturating_sub(now_ns);
            if now_ns > latest || nanos(floor) > room {
                return self.stop(state, StopReason::Deadline);
            }
            // The jitter is cut to fit; the floor (a retry-after) is not.
            wait = wait.min(Duration::from_nanos(room));
        }
        if !budget.try_withdraw() {
            self.budget_refusals.fetch_add(1, Relaxed);
            return self.stop(state, StopReason::BudgetExhausted);
        }
        state.stats.retries += 1;
        state.stats.attempts += 1;
        state.stats.slept += wait;
        self.retries.fetch_add(1, Relaxed);
        self.attempts.fetch_add(1, Relaxed);
        Next::Retry(wait)
    }

    fn stop(&self, state: &mut RetryState, reason: StopReason) -> Next {
        self.failed_calls.fetch_add(1, Relaxed);
        state.done = true;
        state.stats.stop = reason;
        Next::Stop(reason)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::retry::RetryBudgetConfig;
    use crate::ManualClock;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn budget() -> RetryBudget {
        RetryBudget::with_clock(RetryBudgetConfig::default(), Arc::new(ManualClock::new())).unwrap()
    }

    #[test]
    fn steps_count_as_the_loop_does_and_stop_once() {
        let b = budget();
        let p = RetryPolicy::builder()
            .max_attempts(3)
            .base_backoff(ms(10))
            .jitter(false)
            .build()
            .unwrap();
        let mut s = p.begin(&b, 0);
        let fail = AttemptEnd::Failed(Verdict::Retry);
        assert_eq!(p.next(&mut s, &b, fail, 0), Next::Retry(ms(10)));
        assert_eq!(p.next(&mut s, &b, fail, 0), Next::Retry(ms(20)));
        assert_eq!(
            p.next(&mut s, &b, fail, 0),
            Next::Stop(StopReason::MaxAttempts)
        );
        // Ended: the same answer, nothing counted.
        assert_eq!(
            p.next(&mut s, &b, fail, 0),
            Next::Stop(StopReason::MaxAttempts)
        );
        assert!(s.is_done());
        assert_eq!(s.stats().slept, ms(30));
        let m = p.metrics();
        assert_eq!(
            (m.calls, m.attempts, m.retries, m.failed_calls),
            (1, 3, 2, 1)
        );
        assert_eq!(b.stats().withdrawals, 2);
    }

    #[test]
    fn a_rejection_waits_its_retry_after_and_forced_open_stops() {
        let b = budget();
        let p = RetryPolicy::builder()
            .base_backoff(ms(1))
            .jitter(false)
            .build()
            .unwrap();
        let mut s = p.begin(&b, 0);
        let open = Rejected {
            reason: RejectReason::Open,
            retry_after: Some(ms(700)),
        };
        assert_eq!(
            p.next(&mut s, &b, AttemptEnd::Rejected(open), 0),
            Next::Retry(ms(700))
        );
        let forced = Rejected {
            reason: RejectReason::ForcedOpen,
            retry_after: None,
        };
        assert_eq!(
            p.next(&mut s, &b, AttemptEnd::Rejected(forced), 0),
            Next::Stop(StopReason::Rejected)
        );
        assert_eq!(s.stats().rejections, 2);
    }

    #[test]
    fn the_deadline_is_read_from_the_time_given() {
        let b = budget();
        let p = RetryPolicy::builder()
            .max_attempts(10)
            .base_backoff(ms(100))
            .jitter(false)
            .deadline(Some(ms(1000)))
            .min_attempt(ms(200))
            .build()
            .unwrap();
        let t0 = 5_000_000_000;
        let mut s = p.begin(&b, t0);
        let fail = AttemptEnd::Failed(Verdict::Retry);
        // 750 ms in: 50 ms of room left before 800 ms, the wait is cut.
        assert_eq!(
            p.next(&mut s, &b, fail, t0 + 750_000_000),
            Next::Retry(ms(50))
        );
        assert_eq!(
            p.next(&mut s, &b, fail, t0 + 800_000_001),
            Next::Stop(StopReason::Deadline)
        );
    }
}
