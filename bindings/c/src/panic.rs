//! The panic boundary: every export runs its body in [`guard`] (or, for
//! the three that return a string, [`guard_ptr`]), so no panic crosses the
//! FFI boundary. (Only code that calls nothing runs outside it:
//! `fb_breaker_acquire`'s closed path and `fb_permit_record`'s argument
//! checks.) The body returns `Result<fb_status, fb_status>` so that
//! the argument helpers of [`super::args`] can be used with `?`: `Ok` and
//! `Err` both carry the status to return (an `Err` has set the last
//! error).

use super::error::fail;
use super::fb_status::{self, *};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe, UnwindSafe};

/// What an export's body returns: the status either way; `Err` for an
/// error already recorded with [`fail`], so that `?` returns it.
pub(crate) type FfiResult = Result<fb_status, fb_status>;

/// Run an export's body, turning a panic into `FB_ERR_PANIC`.
#[inline(always)]
pub(crate) fn guard(func: &'static str, body: impl FnOnce() -> FfiResult) -> fb_status {
    // AssertUnwindSafe: the body only touches the core's atomics and values
    // it owns; a panic leaves nothing half-updated that a later call trusts.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status) | Err(status)) => status,
        Err(payload) => panicked(func, payload),
    }
}

#[cold]
fn panicked(func: &str, payload: Box<dyn std::any::Any + Send>) -> fb_status {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    fail(FB_ERR_PANIC, format!("{func}: internal error: {what}"))
}

/// Run the body of an export that returns a string and cannot fail: a
/// panic gives an empty string.
pub(crate) fn guard_ptr(body: impl FnOnce() -> *const c_char + UnwindSafe) -> *const c_char {
    catch_unwind(body).unwrap_or(c"".as_ptr())
}
