//! Retries in the C ABI (`fb_retry_*`): a retry policy, a retry budget
//! shared by every caller of a dependency, and a step API the caller's own
//! loop drives (C has no portable closures): `fb_retry_begin`, then after
//! each attempt `fb_retry_succeeded`, `fb_retry_next` or
//! `fb_retry_next_rejected`, which answer "retry after this wait" or "stop".
//! Every decision is the core's ([`fusebox_core::RetryPolicy::next`]);
//! this module converts types only.
//!
//! ```c
//! fb_retry_call call;
//! fb_retry_begin(policy, budget, breaker, &call);
//! for (;;) {
//!   fb_permit p; fb_rejection r; bool retry; uint64_t wait_ns;
//!   if (fb_breaker_acquire(breaker, &p, &r) == FB_REJECTED) {
//!     fb_retry_next_rejected(policy, budget, breaker, &call, &r, &retry, &wait_ns);
//!   } else if (do_work() == 0) {
//!     fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0);
//!     fb_retry_succeeded(policy, &call);
//!     break;
//!   } else {
//!     fb_permit_record(&p, FB_OUTCOME_FAILURE, 0);
//!     fb_retry_next(policy, budget, breaker, &call, FB_VERDICT_RETRY, 0, &retry, &wait_ns);
//!   }
//!   if (!retry) break;          /* call.stop says why */
//!   sleep_ns(wait_ns);
//! }
//! ```
//!
//! Hedging has the same shape (`fb_hedge_begin`, `fb_hedge_due` when a
//! delay is over, `fb_hedge_ended` when an attempt ends): the caller runs
//! the attempts, the timer and the cancellation of the losers, the core
//! decides.

// Retry budgets (fb_retry_budget_*).
pub mod budget;
// Hedge policies (fb_hedge_policy_*, fb_hedge_config_default).
pub mod hedge;
// The hedging step API (fb_hedge_begin, fb_hedge_due, fb_hedge_ended).
pub mod hedge_step;
// Retry policies (fb_retry_policy_*, fb_retry_config_default).
pub mod policy;
// The step API (fb_retry_begin, fb_retry_next*, fb_retry_succeeded).
pub mod step;
