//! Argument helpers, written once for every export: each checks one
//! argument and returns `Err` with the status after recording the error
//! message (naming the function and the argument), so that an export's
//! body reads `let name = unsafe { name_arg(F, "name", name) }?;`.
//! Handle arguments are looked up with [`super::handles::try_ref`].

use super::error::{fail, null_arg};
use super::fb_status::{self, *};
use super::panic::FfiResult;
use super::permit::{fb_outcome, FB_OUTCOME_FAILURE, FB_OUTCOME_IGNORED, FB_OUTCOME_SUCCESS};
use fusebox_core::Outcome;
use std::ffi::{c_char, CStr};

/// `Ok(())` if `p` is not NULL (an out-pointer checked before the work).
#[inline(always)]
pub(crate) fn not_null<T>(func: &str, arg: &str, p: *const T) -> Result<(), fb_status> {
    if p.is_null() {
        return Err(null_arg(func, arg));
    }
    Ok(())
}

/// A name argument as `&str`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub(crate) unsafe fn name_arg<'a>(
    func: &str,
    arg: &str,
    name: *const c_char,
) -> Result<&'a str, fb_status> {
    not_null(func, arg, name)?;
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string
    // that outlives this call.
    let bytes = unsafe { CStr::from_ptr(name) };
    bytes.to_str().map_err(|e| {
        fail(
            FB_ERR_INVALID_UTF8,
            format!(
                "{func}: {arg} is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A bulkhead's or retry budget's name: 1..=256 bytes of UTF-8, else
/// `FB_ERR_INVALID_NAME` (NULL and bad UTF-8 as for [`name_arg`]).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub(crate) unsafe fn checked_name<'a>(
    func: &str,
    name: *const c_char,
) -> Result<&'a str, fb_status> {
    // SAFETY: forwarded from our caller's contract.
    let n = unsafe { name_arg(func, "name", name) }?;
    if n.is_empty() || n.len() > 256 {
        return Err(fail(
            FB_ERR_INVALID_NAME,
            format!("{func}: name must be 1..=256 bytes, got {}", n.len()),
        ));
    }
    Ok(n)
}

/// Write `value` through an out-pointer: `Ok(FB_OK)`, or the NULL error.
///
/// # Safety
/// `out` is NULL or valid for writes.
pub(crate) unsafe fn put<T>(func: &str, arg: &str, out: *mut T, value: T) -> FfiResult {
    not_null(func, arg, out)?;
    // SAFETY: non-NULL; the caller guarantees it points to writable memory
    // for a `T`. `write` does not read or drop the old contents.
    unsafe { out.write(value) };
    Ok(FB_OK)
}

/// Write `text` into `buf` NUL-terminated (the Prometheus text functions'
/// convention): `*len` is set to the text's length (without the NUL) in
/// every case; when `cap < *len + 1` nothing is written and
/// `FB_ERR_INVALID_ARGUMENT` is returned, so that the caller can retry
/// with `*len + 1` bytes. `buf` may be NULL when `cap` is too small.
///
/// # Safety
/// `buf` is NULL or writable for `cap` bytes; `len` is NULL or writable.
pub(crate) unsafe fn put_text(
    func: &str,
    text: &str,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> FfiResult {
    // SAFETY: forwarded from our caller's contract.
    unsafe { put(func, "len", len, text.len()) }?;
    if cap < text.len() + 1 {
        return Err(fail(
            FB_ERR_INVALID_ARGUMENT,
            format!("{func}: buffer of {cap} bytes, {} needed", text.len() + 1),
        ));
    }
    not_null(func, "buf", buf)?;
    // SAFETY: `buf` is non-NULL and writable for `cap` ≥ len + 1 bytes
    // (our caller's contract); the regions do not overlap (`text` is not
    // in the caller's buffer: it is ours).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
        buf.add(text.len()).write(0);
    }
    Ok(FB_OK)
}

/// An `outcome` argument: one of `FB_OUTCOME_*`.
pub(crate) fn outcome_arg(func: &str, outcome: fb_outcome) -> Result<Outcome, fb_status> {
    match outcome {
        FB_OUTCOME_SUCCESS => Ok(Outcome::Success),
        FB_OUTCOME_FAILURE => Ok(Outcome::Failure),
        FB_OUTCOME_IGNORED => Ok(Outcome::Ignored),
        other => Err(fail(
            FB_ERR_INVALID_ARGUMENT,
            format!(
                "{func}: outcome {other} is not FB_OUTCOME_SUCCESS, \
                 FB_OUTCOME_FAILURE or FB_OUTCOME_IGNORED"
            ),
        )),
    }
}
