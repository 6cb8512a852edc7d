//! The hedging step API (`fb_hedge_begin`, `fb_hedge_due`,
//! `fb_hedge_ended`): one hedged call's progress as a plain C value, every
//! decision the core's ([`fusebox_core::retry::HedgePolicy::begin`],
//! `hedge_due`, `ended`). The caller runs the attempts, the timer and the
//! cancellation of the losers (`fb_permit_cancel`, which ends them as
//! the breaker's `cancellation` setting says); this module converts types only.

use super::super::args::{not_null, put};
use super::super::error::{fail, null_arg};
use super::super::fb_status::{self, *};
use super::super::handles::try_ref;
use super::super::panic::guard;
use super::budget::fb_retry_budget;
use super::hedge::fb_hedge_policy;
use fusebox_core::retry::{HedgeEnd, HedgeStart, HedgeState, HedgeStats, HedgeVerdict};
use std::time::Duration;

/// `fb_hedge_ended`'s `end`: how an attempt ended.
pub type fb_hedge_end = u32;
/// It ran and succeeded.
pub const FB_HEDGE_SUCCEEDED: fb_hedge_end = 0;
/// It ran and failed.
pub const FB_HEDGE_FAILED: fb_hedge_end = 1;
/// The breaker rejected it (`fb_breaker_acquire` returned `FB_REJECTED`).
pub const FB_HEDGE_REJECTED: fb_hedge_end = 2;

/// `fb_hedge_ended`'s answer: what the caller does next.
pub type fb_hedge_verdict = u32;
/// The call ends with this attempt's success: cancel every other attempt
/// still running (`fb_permit_cancel` on their permits).
pub const FB_HEDGE_ANSWER: fb_hedge_verdict = 0;
/// Other attempts are running: keep waiting for them (and for the next
/// hedge's delay, if one is armed).
pub const FB_HEDGE_WAIT: fb_hedge_verdict = 1;
/// The call ends, failed, with this attempt's error: nothing is running.
pub const FB_HEDGE_FAIL: fb_hedge_verdict = 2;

/// `fb_hedge_next.start`: what to do when a hedge's delay is over.
pub type fb_hedge_start = u32;
/// Start attempt `attempt` now (already paid from the budget).
pub const FB_HEDGE_START: fb_hedge_start = 0;
/// The budget refused the hedge: start nothing, and no more hedges in
/// this call; keep waiting for the attempts running.
pub const FB_HEDGE_REFUSED: fb_hedge_start = 1;
/// The call has ended, or no hedge was armed: start nothing.
pub const FB_HEDGE_NONE: fb_hedge_start = 2;

/// One hedged call's progress: a plain value on the caller's stack,
/// filled by `fb_hedge_begin` and moved on by `fb_hedge_due` and
/// `fb_hedge_ended`. Treat the fields as read-only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_hedge_call {
    /// Attempts started, the first included (rejected ones too).
    pub attempts: u32,
    /// Attempts after the first (each paid from the budget).
    pub hedges: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// The attempt (from 1) that ended last: once the call is done, the
    /// one whose answer the caller gets.
    pub answered_by: u32,
    /// Attempts started and not yet ended.
    pub running: u32,
    /// Whether a hedge was due and the budget refused it.
    pub budget_refused: bool,
    /// Whether another hedge may still start (a delay is running).
    pub hedge_armed: bool,
    /// Whether the call has ended.
    pub done: bool,
}

impl fb_hedge_call {
    fn to_core(self) -> HedgeState {
        HedgeState {
            stats: HedgeStats {
                attempts: self.attempts,
                hedges: self.hedges,
                rejections: self.rejections,
                budget_refused: self.budget_refused,
                answered_by: self.answered_by,
            },
            running: self.running,
            hedge_armed: self.hedge_armed,
            done: self.done,
        }
    }

    fn from_core(s: &HedgeState) -> fb_hedge_call {
        fb_hedge_call {
            attempts: s.stats.attempts,
            hedges: s.stats.hedges,
            rejections: s.stats.rejections,
            answered_by: s.stats.answered_by,
            running: s.running,
            budget_refused: s.stats.budget_refused,
            hedge_armed: s.hedge_armed,
            done: s.done,
        }
    }
}

/// `fb_hedge_due`'s answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_hedge_next {
    /// `FB_HEDGE_START`, `FB_HEDGE_REFUSED` or `FB_HEDGE_NONE`.
    pub start: fb_hedge_start,
    /// The attempt to start (from 2) for `FB_HEDGE_START`, else 0.
    pub attempt: u32,
    /// Whether another hedge is armed: call `fb_hedge_due` again
    /// `delay_ns` from now.
    pub has_delay: bool,
    /// The wait before the next hedge, in ns (0 when `!has_delay`).
    pub delay_ns: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// # Safety
/// `call` is NULL or a valid `fb_hedge_call`.
unsafe fn call_arg<'a>(
    func: &str,
    call: *mut fb_hedge_call,
) -> Result<&'a mut fb_hedge_call, fb_status> {
    // SAFETY: the caller guarantees NULL or a valid fb_hedge_call.
    unsafe { call.as_mut() }.ok_or_else(|| null_arg(func, "call"))
}

/// Start a hedged call: one deposit in `budget`, attempt 1 counted (start
/// it now). Fills `*call`; `*delay_ns` is the wait after which to call
/// `fb_hedge_due` if no attempt has succeeded.
///
/// ```c
/// fb_hedge_call call; uint64_t delay_ns;
/// fb_hedge_begin(policy, budget, &call, &delay_ns);
/// /* start attempt 1; arm a timer for delay_ns */
/// ```
///
/// # Safety
/// `policy` and `budget` are NULL or live; `call` and `delay_ns` are NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_begin(
    policy: *const fb_hedge_policy,
    budget: *const fb_retry_budget,
    call: *mut fb_hedge_call,
    delay_ns: *mut u64,
) -> fb_status {
    const F: &str = "fb_hedge_begin";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (p, b) = unsafe { (try_ref(F, policy)?, try_ref(F, budget)?) };
        not_null(F, "call", call)?;
        not_null(F, "delay_ns", delay_ns)?;
        let (state, delay) = p.begin(b);
        // SAFETY: forwarded from our caller's contract (both checked).
        unsafe {
            put(F, "call", call, fb_hedge_call::from_core(&state))?;
            put(F, "delay_ns", delay_ns, delay.map_or(0, nanos))
        }
    })
}

/// A hedge's delay is over and no attempt has succeeded: `*next` says
/// whether to start another attempt (paid from `budget`) and when to ask
/// again.
///
/// ```c
/// fb_hedge_next next;
/// fb_hedge_due(policy, budget, &call, &next);
/// if (next.start == FB_HEDGE_START) { /* start attempt next.attempt */ }
/// if (next.has_delay) { /* arm the timer for next.delay_ns */ }
/// ```
///
/// # Safety
/// `policy` and `budget` are NULL or live; `call` is NULL or filled by
/// `fb_hedge_begin`; `next` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_due(
    policy: *const fb_hedge_policy,
    budget: *const fb_retry_budget,
    call: *mut fb_hedge_call,
    next: *mut fb_hedge_next,
) -> fb_status {
    const F: &str = "fb_hedge_due";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (p, b) = unsafe { (try_ref(F, policy)?, try_ref(F, budget)?) };
        not_null(F, "next", next)?;
        // SAFETY: forwarded from our caller's contract.
        let c = unsafe { call_arg(F, call) }?;
        let mut state = c.to_core();
        let start = p.hedge_due(&mut state, b);
        *c = fb_hedge_call::from_core(&state);
        let value = match start {
            HedgeStart::Start { attempt, then } => fb_hedge_next {
                start: FB_HEDGE_START,
                attempt,
                has_delay: then.is_some(),
                delay_ns: then.map_or(0, nanos),
            },
            HedgeStart::Refused => fb_hedge_next {
                start: FB_HEDGE_REFUSED,
                attempt: 0,
                has_delay: false,
                delay_ns: 0,
            },
            HedgeStart::None => fb_hedge_next {
                start: FB_HEDGE_NONE,
                attempt: 0,
                has_delay: false,
                delay_ns: 0,
            },
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "next", next, value) }
    })
}

/// Attempt `attempt` (1..=`call->attempts`) ended as `end`
/// (`FB_HEDGE_SUCCEEDED`, `FB_HEDGE_FAILED` or `FB_HEDGE_REJECTED`):
/// `*verdict` is `FB_HEDGE_ANSWER` (give the caller this attempt's answer,
/// cancel the others), `FB_HEDGE_WAIT` or `FB_HEDGE_FAIL` (the call ends
/// with this attempt's error). After the call has ended it answers
/// `FB_HEDGE_WAIT` and counts nothing.
///
/// ```c
/// fb_hedge_verdict v;
/// fb_hedge_ended(policy, &call, 2, FB_HEDGE_SUCCEEDED, &v);
/// if (v == FB_HEDGE_ANSWER) { /* fb_permit_cancel the other attempts' permits */ }
/// ```
///
/// # Safety
/// `policy` is NULL or live; `call` is NULL or filled by `fb_hedge_begin`;
/// `verdict` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_ended(
    policy: *const fb_hedge_policy,
    call: *mut fb_hedge_call,
    attempt: u32,
    end: fb_hedge_end,
    verdict: *mut fb_hedge_verdict,
) -> fb_status {
    const F: &str = "fb_hedge_ended";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let p = unsafe { try_ref(F, policy) }?;
        not_null(F, "verdict", verdict)?;
        // SAFETY: forwarded from our caller's contract.
        let c = unsafe { call_arg(F, call) }?;
        let end = match end {
            FB_HEDGE_SUCCEEDED => HedgeEnd::Succeeded,
            FB_HEDGE_FAILED => HedgeEnd::Failed,
            FB_HEDGE_REJECTED => HedgeEnd::Rejected,
            other => return Err(bad_end(F, other)),
        };
        if attempt == 0 || attempt > c.attempts {
            return Err(fail(
                FB_ERR_INVALID_ARGUMENT,
                format!(
                    "{F}: attempt {attempt} was not started (attempts 1..={})",
                    c.attempts
                ),
            ));
        }
        let mut state = c.to_core();
        let v = p.ended(&mut state, attempt, end);
        *c = fb_hedge_call::from_core(&state);
        let value = match v {
            HedgeVerdict::Answer => FB_HEDGE_ANSWER,
            HedgeVerdict::Wait => FB_HEDGE_WAIT,
            HedgeVerdict::Fail => FB_HEDGE_FAIL,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "verdict", verdict, value) }
    })
}

fn bad_end(func: &str, end: u32) -> fb_status {
    fail(
        FB_ERR_INVALID_ARGUMENT,
        format!(
            "{func}: end {end} is not FB_HEDGE_SUCCEEDED, FB_HEDGE_FAILED or FB_HEDGE_REJECTED"
        ),
    )
}
