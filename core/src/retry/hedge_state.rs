//! One hedged call's progress, step by step: the hedge policy's rules for
//! a caller that runs the attempts itself (an async front end, a C event
//! loop, a tower service). [`HedgePolicy::call`] is this loop over a
//! [`Timer`](super::Timer).

use super::budget::RetryBudget;
use super::hedge::{HedgePolicy, HedgeStats};
use crate::sync::Ordering::Relaxed;
use std::time::Duration;

/// How one attempt of a hedged call ended.
///
/// ```rust
/// use fusebox::retry::HedgeEnd;
///
/// assert_ne!(HedgeEnd::Succeeded, HedgeEnd::Failed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeEnd {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed,
    /// The breaker rejected it; it did not run.
    Rejected,
}

/// What the caller does after an attempt ended
/// ([`HedgePolicy::ended`]).
///
/// ```rust
/// use fusebox::retry::HedgeVerdict;
///
/// assert!(HedgeVerdict::Answer.is_final());
/// assert!(!HedgeVerdict::Wait.is_final());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeVerdict {
    /// The call ends with this attempt's success: give it to the caller
    /// and cancel every other attempt still running.
    Answer,
    /// Other attempts are running: keep waiting for them (and for the
    /// next hedge's delay, if one is due).
    Wait,
    /// The call ends, failed, with this attempt's error: no attempt is
    /// left running.
    Fail,
}

impl HedgeVerdict {
    /// Whether the call has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, HedgeVerdict::Wait)
    }
}

/// What the caller does when a hedge's delay is over
/// ([`HedgePolicy::hedge_due`]).
///
/// ```rust
/// use fusebox::retry::HedgeStart;
/// use std::time::Duration;
///
/// let s = HedgeStart::Start { attempt: 2, then: Some(Duration::from_millis(50)) };
/// assert_eq!(s.attempt(), Some(2));
/// assert_eq!(HedgeStart::Refused.attempt(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeStart {
    /// Start attempt `attempt` now (counted, and paid from the budget);
    /// then, when `then` is `Some`, wait that long and ask again.
    Start {
        /// The new attempt's number (from 2).
        attempt: u32,
        /// The delay before the next hedge, if the policy allows another.
        then: Option<Duration>,
    },
    /// The budget refused the hedge: start nothing, and no more hedges in
    /// this call; keep waiting for the attempts running.
    Refused,
    /// The call has already ended, or no hedge is due: start nothing.
    None,
}

impl HedgeStart {
    /// The attempt to start, if any.
    pub fn attempt(self) -> Option<u32> {
        match self {
            HedgeStart::Start { attempt, .. } => Some(attempt),
            _ => None,
        }
    }
}

/// One hedged call's progress (plain data: copy it, keep it anywhere),
/// from [`HedgePolicy::begin`], moved on by [`HedgePolicy::hedge_due`]
/// when a delay is over and [`HedgePolicy::ended`] when an attempt ends.
/// The fields are open so that a front end can hold them in its own types
/// (a C struct); only the policy's methods should change them.
///
/// ```rust
/// use fusebox::retry::{HedgeDelay, HedgeEnd, HedgePolicy, HedgeStart, HedgeVerdict};
/// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig};
/// use std::{sync::Arc, time::Duration};
///
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), Arc::new(ManualClock::new()))?;
/// let hedge = HedgePolicy::builder()
///     .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
///     .build()?;
///
/// // Attempt 1 starts now; a hedge is due in 20 ms.
/// let (mut call, delay) = hedge.begin(&budget);
/// assert_eq!(delay, Some(Duration::from_millis(20)));
/// // 20 ms later attempt 1 has not answered: start attempt 2 (the only hedge).
/// assert_eq!(hedge.hedge_due(&mut call, &budget), HedgeStart::Start { attempt: 2, then: None });
/// // Attempt 2 answers first: the caller gets it, attempt 1 is cancelled.
/// assert_eq!(hedge.ended(&mut call, 2, HedgeEnd::Succeeded), HedgeVerdict::Answer);
/// assert_eq!((call.stats.attempts, call.stats.hedges, call.stats.answered_by), (2, 1, 2));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgeState {
    /// What the call has done so far.
    pub stats: HedgeStats,
    /// Attempts started and not yet ended.
    pub running: u32,
    /// Whether another hedge may still start (a delay is running).
    pub hedge_armed: bool,
    /// Whether the call has ended.
    pub done: bool,
}

impl HedgePolicy {
    /// Start a hedged call: one deposit in `budget`, attempt 1 counted
    /// (the caller starts it now). Returns the delay after which
    /// [`HedgePolicy::hedge_due`] is to be asked (example on
    /// [`HedgeState`]).
    pub fn begin(&self, budget: &RetryBudget) -> (HedgeState, Option<Duration>) {
        budget.deposit();
        self.calls.fetch_add(1, Relaxed);
        self.attempts.fetch_add(1, Relaxed);
        let state = HedgeState {
            stats: HedgeStats {
                attempts: 1,
                hedges: 0,
                rejections: 0,
                budget_refused: false,
                answered_by: 1,
            },
            running: 1,
            hedge_armed: true,
            done: false,
        };
        (state, Some(self.delay.current()))
    }

    /// A hedge's delay is over: start another attempt, paid from `budget`,
    /// or not (example on [`HedgeState`]).
    ///
    /// ```rust
    /// use fusebox::retry::{HedgePolicy, HedgeStart};
    /// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig};
    /// use std::sync::Arc;
    ///
    /// // A budget with nothing in it: no reserve, no ratio.
    /// let config = RetryBudgetConfig { ratio: 0.0, min_per_sec: 0, ..Default::default() };
    /// let budget = RetryBudget::with_clock(config, Arc::new(ManualClock::new()))?;
    /// let hedge = HedgePolicy::builder().max_hedges(3).build()?;
    /// let (mut call, _) = hedge.begin(&budget);
    /// assert_eq!(hedge.hedge_due(&mut call, &budget), HedgeStart::Refused);
    /// // Refused once: no more hedges in this call.
    /// assert_eq!(hedge.hedge_due(&mut call, &budget), HedgeStart::None);
    /// assert!(call.stats.budget_refused);
    /// assert_eq!(hedge.metrics().budget_refusals, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn hedge_due(&self, state: &mut HedgeState, budget: &RetryBudget) -> HedgeStart {
        if state.done || !state.hedge_armed {
            return HedgeStart::None;
        }
        state.hedge_armed = false;
        if !budget.try_withdraw() {
            state.stats.budget_refused = true;
            self.budget_refusals.fetch_add(1, Relaxed);
            return HedgeStart::Refused;
        }
        state.stats.attempts += 1;
        state.stats.hedges += 1;
        state.running += 1;
        self.attempts.fetch_add(1, Relaxed);
        self.hedges.fetch_add(1, Relaxed);
        let then = (state.stats.hedges < self.max_hedges).then(|| self.delay.current());
        state.hedge_armed = then.is_some();
        HedgeStart::Start {
            attempt: state.stats.attempts,
            then,
        }
    }

    /// Attempt `attempt` ended as `end`: the call's answer, a failure, or
    /// wait for the others. A success answers; a failure or a rejection
    /// ends the call only when no other attempt is running (a failure
    /// neither starts a hedge early nor waits for one: failures are a
    /// [`RetryPolicy`](crate::RetryPolicy)'s). After the call ended
    /// (an attempt the caller had not cancelled yet) it answers
    /// [`HedgeVerdict::Wait`] and counts nothing.
    ///
    /// ```rust
    /// use fusebox::retry::{HedgeEnd, HedgePolicy, HedgeVerdict};
    /// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig};
    /// use std::sync::Arc;
    ///
    /// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), Arc::new(ManualClock::new()))?;
    /// let hedge = HedgePolicy::builder().build()?;
    /// let (mut call, _) = hedge.begin(&budget);
    /// hedge.hedge_due(&mut call, &budget);
    /// // One of two fails: wait for the other; then it fails too.
    /// assert_eq!(hedge.ended(&mut call, 1, HedgeEnd::Failed), HedgeVerdict::Wait);
    /// assert_eq!(hedge.ended(&mut call, 2, HedgeEnd::Rejected), HedgeVerdict::Fail);
    /// assert_eq!((call.stats.rejections, call.stats.answered_by), (1, 2));
    /// assert_eq!(hedge.metrics().failed_calls, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn ended(&self, state: &mut HedgeState, attempt: u32, end: HedgeEnd) -> HedgeVerdict {
        if state.done || state.running == 0 {
            return HedgeVerdict::Wait;
        }
        state.running -= 1;
        state.stats.answered_by = attempt;
        match end {
            HedgeEnd::Succeeded => {
                state.done = true;
                state.hedge_armed = false;
                HedgeVerdict::Answer
            }
            HedgeEnd::Failed | HedgeEnd::Rejected => {
                if end == HedgeEnd::Rejected {
                    state.stats.rejections += 1;
                }
                if state.running > 0 {
                    return HedgeVerdict::Wait;
                }
                state.done = true;
                state.hedge_armed = false;
                self.failed_calls.fetch_add(1, Relaxed);
                HedgeVerdict::Fail
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::retry::{HedgeDelay, RetryBudgetConfig};
    use crate::ManualClock;
    use std::sync::Arc;

    fn budget() -> RetryBudget {
        RetryBudget::with_clock(RetryBudgetConfig::default(), Arc::new(ManualClock::new())).unwrap()
    }

    #[test]
    fn hedges_start_one_delay_apart_up_to_the_limit() {
        let b = budget();
        let d = Duration::from_millis(7);
        let p = HedgePolicy::builder()
            .delay(HedgeDelay::Fixed(d))
            .max_hedges(2)
            .build()
            .unwrap();
        let (mut s, first) = p.begin(&b);
        assert_eq!(first, Some(d));
        let two = HedgeStart::Start {
            attempt: 2,
            then: Some(d),
        };
        assert_eq!(p.hedge_due(&mut s, &b), two);
        let three = HedgeStart::Start {
            attempt: 3,
            then: None,
        };
        assert_eq!(p.hedge_due(&mut s, &b), three);
        assert_eq!(p.hedge_due(&mut s, &b), HedgeStart::None);
        assert_eq!(s.running, 3);
        assert_eq!(p.ended(&mut s, 3, HedgeEnd::Failed), HedgeVerdict::Wait);
        assert_eq!(
            p.ended(&mut s, 1, HedgeEnd::Succeeded),
            HedgeVerdict::Answer
        );
        // The call has ended: a late answer changes nothing.
        assert_eq!(p.ended(&mut s, 2, HedgeEnd::Succeeded), HedgeVerdict::Wait);
        assert_eq!(s.stats.answered_by, 1);
        let m = p.metrics();
        assert_eq!(
            (m.calls, m.attempts, m.hedges, m.failed_calls),
            (1, 3, 2, 0)
        );
        assert_eq!(b.stats().withdrawals, 2);
    }

    #[test]
    fn a_failure_with_nothing_else_running_ends_the_call_at_once() {
        let b = budget();
        let p = HedgePolicy::builder().max_hedges(3).build().unwrap();
        let (mut s, _) = p.begin(&b);
        assert_eq!(p.ended(&mut s, 1, HedgeEnd::Failed), HedgeVerdict::Fail);
        assert!(s.done && !s.hedge_armed);
        assert_eq!(p.hedge_due(&mut s, &b), HedgeStart::None);
        assert_eq!(b.stats().withdrawals, 0, "no hedge after the end");
        assert_eq!(p.metrics().failed_calls, 1);
    }
}
