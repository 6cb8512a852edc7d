//! Retries (`docs/semantics.md#retries-and-the-retry-budget`): a
//! lock-free [`RetryBudget`] shared by every caller of a dependency, and a
//! [`RetryPolicy`] that runs each attempt through a [`Breaker`](crate::Breaker),
//! pays each retry from the budget and waits through a [`Sleeper`].
//!
//! ```rust
//! use fusebox::retry::{ManualSleeper, StopReason};
//! use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
//! use std::sync::Arc;
//!
//! let clock = Arc::new(ManualClock::new());
//! let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
//! // No reserve: only 20 % of requests may be retried.
//! let config = RetryBudgetConfig { ratio: 0.2, min_per_sec: 0, ..Default::default() };
//! let budget = RetryBudget::with_clock(config, clock.clone())?;
//! let policy = RetryPolicy::builder().max_attempts(3).seed(1).build()?;
//! let sleeper = ManualSleeper::new(clock);
//!
//! // The dependency is down: 10 calls, but only 2 retries (20 % of 10).
//! let retries: u32 = (0..10)
//!     .map(|_| policy.call(&breaker, &budget, &sleeper, |_| Err::<(), _>("down")).stats.retries)
//!     .sum();
//! assert_eq!(retries, 2);
//! // Every call ended on a retry the budget refused.
//! assert_eq!(policy.metrics().budget_refusals, 10);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! A caller that runs the attempts itself (an async loop, a front end, a
//! tower service) drives the same rules step by step: [`RetryPolicy::begin`],
//! [`RetryPolicy::next`] and [`RetryPolicy::succeeded`] on a [`RetryState`].
//!
//! Hedged requests: [`HedgePolicy`], waiting through a [`Timer`]; step by
//! step, [`HedgePolicy::begin`], [`HedgePolicy::hedge_due`] and
//! [`HedgePolicy::ended`] on a [`HedgeState`].

mod budget;
mod hedge;
mod hedge_state;
mod policy;
mod sleep;
mod state;
mod timer;

pub use budget::{RetryBudget, RetryBudgetConfig, RetryBudgetStats, MIN_BUCKET, UNITS_PER_RETRY};
pub use hedge::{HedgeDelay, HedgeOutcome, HedgePolicy, HedgePolicyBuilder, HedgeStats};
pub use hedge_state::{HedgeEnd, HedgeStart, HedgeState, HedgeVerdict};
pub use policy::{
    RetryError, RetryMetrics, RetryOutcome, RetryPolicy, RetryPolicyBuilder, RetryStats,
    StopReason, Verdict,
};
pub use sleep::{ManualSleeper, Sleeper, ThreadSleeper};
pub use state::{AttemptEnd, Next, RetryState};
pub use timer::{ManualTimer, Sleep, Timer};
