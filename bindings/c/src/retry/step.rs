//! The retry step API (`fb_retry_begin`, `fb_retry_next`,
//! `fb_retry_next_rejected`, `fb_retry_succeeded`): one logical call's
//! progress as a plain C value, every decision the core's
//! [`fusebox_core::RetryPolicy::next`].

use super::super::args::{not_null, put};
use super::super::breaker::{fb_breaker, fb_reject_reason, fb_rejection};
use super::super::error::{fail, null_arg};
use super::super::fb_status::{self, *};
use super::super::handles::try_ref;
use super::super::panic::{guard, FfiResult};
use super::budget::fb_retry_budget;
use super::policy::fb_retry_policy;
use fusebox_core::retry::{AttemptEnd, Next, RetryState, RetryStats, StopReason, Verdict};
use fusebox_core::{RejectReason, Rejected};
use std::ffi::c_char;
use std::time::Duration;

/// `fb_retry_next`'s `verdict`: what the caller's classifier says of a
/// failed attempt.
pub type fb_verdict = u32;
/// Retryable, after the back-off.
pub const FB_VERDICT_RETRY: fb_verdict = 0;
/// Retryable, not before `retry_after_ns` (the server's Retry-After),
/// honoured up to the policy's cap; a longer one ends the call.
pub const FB_VERDICT_RETRY_AFTER: fb_verdict = 1;
/// Not retryable: the call ends.
pub const FB_VERDICT_STOP: fb_verdict = 2;

/// `fb_retry_call.stop`: why a call ended.
pub type fb_retry_stop = u32;
/// An attempt succeeded (also while the call is still going).
pub const FB_RETRY_SUCCEEDED: fb_retry_stop = 0;
/// The classifier said `FB_VERDICT_STOP`.
pub const FB_RETRY_NOT_RETRYABLE: fb_retry_stop = 1;
/// `max_attempts` attempts were made.
pub const FB_RETRY_MAX_ATTEMPTS: fb_retry_stop = 2;
/// The next attempt could not start before `deadline − min_attempt`.
pub const FB_RETRY_DEADLINE: fb_retry_stop = 3;
/// The budget refused the retry.
pub const FB_RETRY_BUDGET_EXHAUSTED: fb_retry_stop = 4;
/// The breaker is forced open.
pub const FB_RETRY_REJECTED: fb_retry_stop = 5;
/// The server's retry-after was longer than the cap.
pub const FB_RETRY_RETRY_AFTER_TOO_LONG: fb_retry_stop = 6;

const STOPS: [StopReason; 7] = [
    StopReason::Succeeded,
    StopReason::NotRetryable,
    StopReason::MaxAttempts,
    StopReason::Deadline,
    StopReason::BudgetExhausted,
    StopReason::Rejected,
    StopReason::RetryAfterTooLong,
];

fn stop_code(s: StopReason) -> fb_retry_stop {
    STOPS.iter().position(|x| *x == s).unwrap_or(0) as fb_retry_stop
}

/// One logical call's progress: a plain value on the caller's stack,
/// filled by `fb_retry_begin` and moved on by `fb_retry_next*` and
/// `fb_retry_succeeded`. Treat the fields as read-only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_retry_call {
    /// The current attempt's number, from 1.
    pub attempts: u32,
    /// Retries granted so far.
    pub retries: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// Whether the call has ended.
    pub done: bool,
    /// Why it ended (`FB_RETRY_*`); `FB_RETRY_SUCCEEDED` while going on.
    pub stop: fb_retry_stop,
    /// The waits granted so far, in ns.
    pub slept_ns: u64,
    /// Internal: the latest clock time an attempt may start.
    pub latest_start_ns: u64,
    /// Internal: whether `latest_start_ns` applies.
    pub has_deadline: bool,
}

impl fb_retry_call {
    fn to_core(self) -> RetryState {
        RetryState {
            latest_start: self.has_deadline.then_some(self.latest_start_ns),
            stats: RetryStats {
                attempts: self.attempts,
                retries: self.retries,
                rejections: self.rejections,
                slept: Duration::from_nanos(self.slept_ns),
                stop: STOPS[(self.stop as usize).min(STOPS.len() - 1)],
            },
            done: self.done,
        }
    }

    fn from_core(s: &RetryState) -> fb_retry_call {
        fb_retry_call {
            attempts: s.stats.attempts,
            retries: s.stats.retries,
            rejections: s.stats.rejections,
            done: s.done,
            stop: stop_code(s.stats.stop),
            slept_ns: u64::try_from(s.stats.slept.as_nanos()).unwrap_or(u64::MAX),
            latest_start_ns: s.latest_start.unwrap_or(0),
            has_deadline: s.latest_start.is_some(),
        }
    }
}

/// Start a logical call: one deposit in `budget`, attempt 1 counted, the
/// deadline (if any) from now on `breaker`'s clock. Fills `*call`.
///
/// # Safety
/// `policy`, `budget`, `breaker` are NULL or live; `call` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_begin(
    policy: *const fb_retry_policy,
    budget: *const fb_retry_budget,
    breaker: *const fb_breaker,
    call: *mut fb_retry_call,
) -> fb_status {
    const F: &str = "fb_retry_begin";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (p, b, br) = unsafe {
            (
                try_ref(F, policy)?,
                try_ref(F, budget)?,
                try_ref(F, breaker)?,
            )
        };
        not_null(F, "call", call)?;
        let state = p.begin(b, br.clock().now_ns());
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "call", call, fb_retry_call::from_core(&state)) }
    })
}

/// The current attempt succeeded: the call ends (`call->done`).
///
/// # Safety
/// `policy` is NULL or live; `call` is NULL or an `fb_retry_call` filled by
/// `fb_retry_begin`.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_succeeded(
    policy: *const fb_retry_policy,
    call: *mut fb_retry_call,
) -> fb_status {
    const F: &str = "fb_retry_succeeded";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let p = unsafe { try_ref(F, policy) }?;
        // SAFETY: the caller guarantees NULL or a valid fb_retry_call.
        let Some(c) = (unsafe { call.as_mut() }) else {
            return Err(null_arg(F, "call"));
        };
        let mut state = c.to_core();
        p.succeeded(&mut state);
        *c = fb_retry_call::from_core(&state);
        Ok(FB_OK)
    })
}

/// # Safety
/// As `fb_retry_next`.
#[allow(clippy::too_many_arguments)]
unsafe fn step(
    func: &str,
    policy: *const fb_retry_policy,
    budget: *const fb_retry_budget,
    breaker: *const fb_breaker,
    call: *mut fb_retry_call,
    end: AttemptEnd,
    retry: *mut bool,
    wait_ns: *mut u64,
) -> FfiResult {
    // SAFETY: forwarded from our caller's contract.
    let (p, b, br) = unsafe {
        (
            try_ref(func, policy)?,
            try_ref(func, budget)?,
            try_ref(func, breaker)?,
        )
    };
    not_null(func, "retry", retry)?;
    not_null(func, "wait_ns", wait_ns)?;
    // SAFETY: the caller guarantees NULL or a valid fb_retry_call.
    let Some(c) = (unsafe { call.as_mut() }) else {
        return Err(null_arg(func, "call"));
    };
    let mut state = c.to_core();
    let next = p.next(&mut state, b, end, br.clock().now_ns());
    *c = fb_retry_call::from_core(&state);
    let wait = next.wait();
    // SAFETY: checked non-NULL; the caller guarantees writable.
    unsafe {
        retry.write(matches!(next, Next::Retry(_)));
        wait_ns.write(wait.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)));
    }
    Ok(FB_OK)
}

/// The current attempt ran and failed; `verdict` (`FB_VERDICT_*`) is what
/// the caller's classifier says, `retry_after_ns` the server's wait (for
/// `FB_VERDICT_RETRY_AFTER`). `*retry`: wait `*wait_ns` (already paid from
/// the budget), then make the next attempt; or the call ended
/// (`call->stop` says why).
///
/// # Safety
/// `policy`, `budget`, `breaker` are NULL or live; `call` is NULL or filled
/// by `fb_retry_begin`; `retry` and `wait_ns` are NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fb_retry_next(
    policy: *const fb_retry_policy,
    budget: *const fb_retry_budget,
    breaker: *const fb_breaker,
    call: *mut fb_retry_call,
    verdict: fb_verdict,
    retry_after_ns: u64,
    retry: *mut bool,
    wait_ns: *mut u64,
) -> fb_status {
    const F: &str = "fb_retry_next";
    guard(F, || {
        let verdict = match verdict {
            FB_VERDICT_RETRY => Verdict::Retry,
            FB_VERDICT_RETRY_AFTER => Verdict::RetryAfter(Duration::from_nanos(retry_after_ns)),
            FB_VERDICT_STOP => Verdict::Stop,
            other => {
                return Err(fail(
                    FB_ERR_INVALID_ARGUMENT,
                    format!(
                        "{F}: verdict = {other} is not FB_VERDICT_RETRY, \
                         FB_VERDICT_RETRY_AFTER or FB_VERDICT_STOP"
                    ),
                ))
            }
        };
        let end = AttemptEnd::Failed(verdict);
        // SAFETY: forwarded from our caller's contract.
        unsafe { step(F, policy, budget, breaker, call, end, retry, wait_ns) }
    })
}

/// The breaker rejected the current attempt (`rejection` as
/// `fb_breaker_acquire` filled it): as `fb_retry_next`, the wait at least
/// the rejection's retry-after; a forced-open breaker ends the call.
///
/// # Safety
/// As `fb_retry_next`; `rejection` is NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_next_rejected(
    policy: *const fb_retry_policy,
    budget: *const fb_retry_budget,
    breaker: *const fb_breaker,
    call: *mut fb_retry_call,
    rejection: *const fb_rejection,
    retry: *mut bool,
    wait_ns: *mut u64,
) -> fb_status {
    const F: &str = "fb_retry_next_rejected";
    guard(F, || {
        // SAFETY: the caller guarantees NULL or readable.
        let Some(r) = (unsafe { rejection.as_ref() }) else {
            return Err(null_arg(F, "rejection"));
        };
        let reason = match r.reason {
            fb_reject_reason::FB_REJECT_OPEN => RejectReason::Open,
            fb_reject_reason::FB_REJECT_HALF_OPEN_FULL => RejectReason::HalfOpenFull,
            fb_reject_reason::FB_REJECT_FORCED_OPEN => RejectReason::ForcedOpen,
        };
        let end = AttemptEnd::Rejected(Rejected {
            reason,
            retry_after: r
                .has_retry_after
                .then(|| Duration::from_nanos(r.retry_after_ns)),
        });
        // SAFETY: forwarded from our caller's contract.
        unsafe { step(F, policy, budget, breaker, call, end, retry, wait_ns) }
    })
}

/// The name of a stop reason (`"max_attempts"`, `"budget_exhausted"`, …;
/// a static string), or `"unknown"`.
#[no_mangle]
pub extern "C" fn fb_retry_stop_name(stop: fb_retry_stop) -> *const c_char {
    const NAMES: [&std::ffi::CStr; 8] = [
        c"succeeded",
        c"not_retryable",
        c"max_attempts",
        c"deadline",
        c"budget_exhausted",
        c"rejected",
        c"retry_after_too_long",
        c"unknown",
    ];
    NAMES[(stop as usize).min(7)].as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_codes_match_the_core_names() {
        for (i, s) in STOPS.iter().enumerate() {
            assert_eq!(stop_code(*s), i as u32);
            // SAFETY: a static NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr(fb_retry_stop_name(i as u32)) };
            assert_eq!(name.to_str().unwrap(), s.as_str());
        }
    }
}
