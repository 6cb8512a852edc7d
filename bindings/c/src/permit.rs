//! Permits (`fb_permit_*`): the right to make one call, a plain value
//! filled by `fb_breaker_acquire`, and how the call ended (the hot path's
//! second half).

use super::args::outcome_arg;
use super::breaker::fb_breaker;
use super::error::{fail, null_arg};
use super::fb_status::{self, *};
use super::handles::Handle;
use super::panic::guard;
use fusebox_core::{bindings, Breaker, Outcome, RawPermit};

/// How a call ended: one of `FB_OUTCOME_*`.
pub type fb_outcome = u32;
/// The call succeeded (slow if it took longer than `slow_call_duration_ns`).
pub const FB_OUTCOME_SUCCESS: fb_outcome = 0;
/// The call failed (connection error, timeout, 5xx...).
pub const FB_OUTCOME_FAILURE: fb_outcome = 1;
/// The call says nothing about the dependency (e.g. a 4xx): not counted in
/// any rate.
pub const FB_OUTCOME_IGNORED: fb_outcome = 2;

// The core's codes (`fusebox::bindings`): a drift fails the build.
const _: () = {
    use fusebox_core::bindings::outcome_code;
    use fusebox_core::Outcome;
    assert!(FB_OUTCOME_SUCCESS == outcome_code(Outcome::Success));
    assert!(FB_OUTCOME_FAILURE == outcome_code(Outcome::Failure));
    assert!(FB_OUTCOME_IGNORED == outcome_code(Outcome::Ignored));
};

/// `duration_ns` for `fb_permit_record`: let the breaker measure the call on
/// its own clock, from `fb_breaker_acquire` to `fb_permit_record`.
pub const FB_DURATION_AUTO: u64 = u64::MAX;

/// The right to make one call: a plain value, filled by
/// `fb_breaker_acquire`, that lives wherever the caller puts it (no
/// allocation). Give it exactly one outcome with `fb_permit_record`, or give
/// it back with `fb_permit_release`; either sets `breaker` to NULL, so a
/// second use is reported as `FB_ERR_PERMIT_USED`. Treat the fields as
/// read-only. The breaker must outlive its permits.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fb_permit {
    /// The breaker that admitted the call; NULL when the permit is used up
    /// (or the call was rejected).
    pub breaker: *const fb_breaker,
    /// The breaker's generation at admission: an outcome reported after the
    /// breaker moved on (opened, half-opened) is not counted against the new
    /// state.
    pub generation: u64,
    /// Clock time at admission (when slow-call detection needs it), else 0.
    pub start_ns: u64,
    /// 1 if this call is a half-open probe, else 0.
    pub probe: u8,
}

/// `FB_ERR_PERMIT_USED`: the permit given to `func` (a breaker's or a
/// bulkhead's) is used up.
#[cold]
pub(crate) fn permit_used(func: &str) -> fb_status {
    fail(
        FB_ERR_PERMIT_USED,
        format!(
            "{func}: {} (or was never admitted)",
            fusebox_core::PermitUsed
        ),
    )
}

/// Take the permit's value and mark it used.
///
/// # Safety
/// `permit` is NULL or points to a readable, writable `fb_permit`.
#[inline(always)]
unsafe fn take_permit<'a>(
    func: &str,
    permit: *mut fb_permit,
) -> Result<(&'a Breaker, RawPermit), fb_status> {
    // SAFETY: the caller guarantees NULL or a valid fb_permit.
    let Some(p) = (unsafe { permit.as_mut() }) else {
        return Err(null_arg(func, "permit"));
    };
    // SAFETY: a permit's breaker is NULL or the live handle that issued it
    // (the breaker must outlive its permits).
    let Some(b) = (unsafe { fb_breaker::target(p.breaker).as_ref() }) else {
        return Err(permit_used(func));
    };
    Ok((b, read_permit(p)))
}

/// A permit's value, and the permit marked used (its `breaker` set to
/// NULL).
#[inline(always)]
fn read_permit(p: &mut fb_permit) -> RawPermit {
    let raw = peek_permit(p);
    p.breaker = std::ptr::null();
    raw
}

/// A permit's value, the permit left as it is.
#[inline(always)]
fn peek_permit(p: &fb_permit) -> RawPermit {
    // Each field read on its own (volatile reads are never merged): the
    // compiler would otherwise read `generation` and `start_ns` as one
    // 16-byte load, which store forwarding cannot serve from the two 8-byte
    // stores `fb_breaker_acquire` just made — a stall on every call that
    // cost more than the rest of the record.
    // SAFETY: `p` is a valid, aligned `fb_permit` (a reference).
    let (generation, start_ns, probe) = unsafe {
        (
            std::ptr::addr_of!(p.generation).read_volatile(),
            std::ptr::addr_of!(p.start_ns).read_volatile(),
            std::ptr::addr_of!(p.probe).read_volatile(),
        )
    };
    RawPermit {
        generation,
        start_ns,
        probe: probe != 0,
    }
}

/// Report how the call went: `outcome` is one of `FB_OUTCOME_*`;
/// `duration_ns` is how long it took (`FB_DURATION_AUTO`: measured by the
/// breaker's clock since `fb_breaker_acquire`); it only matters when
/// slow-call detection is on. The permit is used up (its `breaker` set to
/// NULL). No allocation, no lock.
///
/// # Safety
/// `permit` is NULL or a valid `fb_permit` filled by `fb_breaker_acquire`,
/// whose breaker is still alive.
#[no_mangle]
pub unsafe extern "C" fn fb_permit_record(
    permit: *mut fb_permit,
    outcome: fb_outcome,
    duration_ns: u64,
) -> fb_status {
    // The closed path's success, in line and calling nothing that can
    // unwind: the core's published shortcut
    // (`fusebox_core::bindings::record_success_fast_at`) counts it in place or
    // does nothing, and runs no user code, so it needs no panic guard and
    // this function no stack frame. Everything else is `record_guarded`,
    // reached by a tail call.
    // (Both tests in one: `outcome` is 0 and `duration_ns` all ones.)
    const _: () = assert!(FB_OUTCOME_SUCCESS == 0 && FB_DURATION_AUTO == u64::MAX);
    if (outcome as u64 | !duration_ns) == 0 {
        // The thread's slot first, while only `permit` is live: a
        // thread-local read is a call in a shared library, and the values
        // the path loads after it need no register saved across it.
        let slot = bindings::thread_slot();
        // SAFETY: the caller guarantees NULL or a valid fb_permit.
        if unsafe { success_in_place(permit, slot) } {
            return FB_OK;
        }
        // The arguments as constants, not kept from the entry: the path
        // above then needs no register that outlives it, so no saved
        // registers and no stack frame.
        // SAFETY: forwarded from our caller's contract.
        return unsafe { record_guarded(permit, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO) };
    }
    // SAFETY: forwarded from our caller's contract.
    unsafe { record_guarded(permit, outcome, duration_ns) }
}

/// `fb_permit_record`'s success counted in place by the core's published
/// shortcut (`fusebox_core::bindings::record_success_fast_at`), the permit
/// used up; `false` (nothing done) when that takes more.
///
/// # Safety
/// As for `fb_permit_record`.
#[inline(always)]
unsafe fn success_in_place(permit: *mut fb_permit, slot: usize) -> bool {
    // SAFETY: the caller guarantees NULL or a valid fb_permit.
    let Some(p) = (unsafe { permit.as_mut() }) else {
        return false;
    };
    // SAFETY: a permit's breaker is NULL or the live handle that issued it
    // (the breaker must outlive its permits).
    let Some(b) = (unsafe { fb_breaker::target(p.breaker).as_ref() }) else {
        return false;
    };
    // The two fields a success reads, each on its own (see `peek_permit`).
    // SAFETY: `p` is a valid, aligned `fb_permit` (a reference).
    let (generation, probe) = unsafe {
        (
            std::ptr::addr_of!(p.generation).read_volatile(),
            std::ptr::addr_of!(p.probe).read_volatile(),
        )
    };
    let raw = RawPermit {
        generation,
        start_ns: 0,
        probe: probe != 0,
    };
    if !bindings::record_success_fast_at(b, raw, slot) {
        return false;
    }
    p.breaker = std::ptr::null();
    true
}

/// `fb_permit_record` off its in-line path: the arguments checked, the
/// core's `record_raw` under the panic guard. `extern "C"`, as the export,
/// so the call to it is a tail call (see `acquire_general`).
///
/// # Safety
/// As for `fb_permit_record`.
#[inline(never)]
unsafe extern "C" fn record_guarded(
    permit: *mut fb_permit,
    outcome: fb_outcome,
    duration_ns: u64,
) -> fb_status {
    // The arguments checked in line, with no call: the panic guard then
    // holds the core's `record_raw` alone. A bad outcome, a NULL or used-up
    // permit is left to `record_checked` (a tail call), which reports it.
    let kind = match outcome {
        FB_OUTCOME_SUCCESS => Outcome::Success,
        FB_OUTCOME_FAILURE => Outcome::Failure,
        FB_OUTCOME_IGNORED => Outcome::Ignored,
        // SAFETY: forwarded from our caller's contract.
        _ => return unsafe { record_checked(permit, outcome, duration_ns) },
    };
    // SAFETY: the caller guarantees NULL or a valid fb_permit.
    let Some(p) = (unsafe { permit.as_mut() }) else {
        // SAFETY: forwarded from our caller's contract.
        return unsafe { record_checked(permit, outcome, duration_ns) };
    };
    // SAFETY: a permit's breaker is NULL or the live handle that issued it
    // (the breaker must outlive its permits).
    let Some(b) = (unsafe { fb_breaker::target(p.breaker).as_ref() }) else {
        // SAFETY: forwarded from our caller's contract.
        return unsafe { record_checked(permit, outcome, duration_ns) };
    };
    let raw = read_permit(p);
    let duration = (duration_ns != FB_DURATION_AUTO).then_some(duration_ns);
    guard("fb_permit_record", || {
        b.record_raw(raw, kind, duration);
        Ok(FB_OK)
    })
}

/// `fb_permit_record` with every argument checked and reported: what the
/// export falls back to when its in-line checks fail.
///
/// # Safety
/// As for `fb_permit_record`.
#[cold]
#[inline(never)]
unsafe extern "C" fn record_checked(
    permit: *mut fb_permit,
    outcome: fb_outcome,
    duration_ns: u64,
) -> fb_status {
    const F: &str = "fb_permit_record";
    guard(F, || {
        let outcome = outcome_arg(F, outcome)?;
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = unsafe { take_permit(F, permit) }?;
        let duration = (duration_ns != FB_DURATION_AUTO).then_some(duration_ns);
        b.record_raw(raw, outcome, duration);
        Ok(FB_OK)
    })
}

/// Give a permit back without an outcome (the call was not made): nothing
/// is counted, and a half-open probe slot is freed. For a call that was
/// started and then given up on, see `fb_permit_cancel`.
///
/// # Safety
/// As for `fb_permit_record`.
#[no_mangle]
pub unsafe extern "C" fn fb_permit_release(permit: *mut fb_permit) -> fb_status {
    const F: &str = "fb_permit_release";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = unsafe { take_permit(F, permit) }?;
        b.release_raw(raw);
        Ok(FB_OK)
    })
}

/// End a permit whose call was cancelled (started, then given up on before
/// it ended) as the breaker's `cancellation` setting says
/// (`docs/semantics.md#cancelled-calls`): `FB_CANCEL_SLOW_IF_OVERDUE`
/// (default) gives it back, or counts one slow call if it ran longer than
/// `slow_call_duration_ns`; `FB_CANCEL_RELEASE` gives it back;
/// `FB_CANCEL_FAILURE` counts a failure. A half-open probe's slot comes
/// back (unless it is a failure). The permit is used up.
///
/// # Safety
/// As for `fb_permit_record`.
#[no_mangle]
pub unsafe extern "C" fn fb_permit_cancel(permit: *mut fb_permit) -> fb_status {
    const F: &str = "fb_permit_cancel";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = unsafe { take_permit(F, permit) }?;
        b.cancel_raw(raw);
        Ok(FB_OK)
    })
}
