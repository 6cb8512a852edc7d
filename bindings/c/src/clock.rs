//! Manual clocks for tests (`fb_clock_*`).

use super::args::{not_null, put};
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::guard;
use fusebox_core::{ClockSource, ManualClock};
use std::sync::Arc;

/// A manual clock for tests (opaque): time moves only when
/// `fb_clock_advance` is called. Thread-safe.
pub struct fb_clock {
    _opaque: [u8; 0],
}

// SAFETY: a live clock handle is `Arc::into_raw` of an `Arc<ManualClock>`
// not yet released.
unsafe impl Handle for fb_clock {
    type Target = ManualClock;
    const ARG: &'static str = "clock";
    const KIND: Kind = Kind::Clock;

    unsafe fn drop_live(h: *mut fb_clock) {
        // SAFETY: the caller guarantees an `Arc::into_raw` pointer not yet
        // released, released once.
        drop(unsafe { Arc::from_raw(fb_clock::target(h)) });
    }
}

/// The clock a breaker or registry is made on: `clock`'s, or the system
/// clock when NULL.
///
/// # Safety
/// `clock` is NULL or a live handle from `fb_clock_manual_new`.
pub(crate) unsafe fn clock_source(clock: *const fb_clock) -> ClockSource {
    if clock.is_null() {
        ClockSource::Monotonic
    } else {
        // SAFETY: non-NULL, and the caller guarantees a live clock handle.
        unsafe { clock_arc(clock) }.into()
    }
}

/// A new reference to the clock behind a live handle.
///
/// # Safety
/// `h` is a live, non-NULL handle from `fb_clock_manual_new`.
pub(crate) unsafe fn clock_arc(h: *const fb_clock) -> Arc<ManualClock> {
    let p = fb_clock::target(h);
    // SAFETY: `p` came from `Arc::into_raw` and that reference is still
    // held (the handle is live), so adding one more is sound.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// Make a manual clock (starting at 1 s) for deterministic tests. Breakers
/// made on it with `fb_breaker_new_with_clock` (or a registry made on it)
/// see time move only through `fb_clock_advance`. Free with `fb_clock_free`
/// (breakers keep their own reference, so the order does not matter).
///
/// # Safety
/// `out` is NULL or points to writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_manual_new(out: *mut *mut fb_clock) -> fb_status {
    const F: &str = "fb_clock_manual_new";
    guard(F, || {
        not_null(F, "out", out)?;
        let p = Arc::into_raw(Arc::new(ManualClock::new())) as *mut fb_clock;
        // SAFETY: checked non-NULL above; the caller guarantees it is writable.
        unsafe { hand_out(out, p) }
    })
}

/// Move the manual clock forward by `ns` nanoseconds (saturating).
///
/// # Safety
/// `clock` is NULL or a live handle from `fb_clock_manual_new`.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_advance(clock: *const fb_clock, ns: u64) -> fb_status {
    const F: &str = "fb_clock_advance";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let c = unsafe { try_ref(F, clock) }?;
        c.advance_ns(ns);
        Ok(FB_OK)
    })
}

/// The manual clock's time, in ns.
///
/// # Safety
/// `clock` is NULL or a live clock handle; `out_ns` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_now(clock: *const fb_clock, out_ns: *mut u64) -> fb_status {
    const F: &str = "fb_clock_now";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let c = unsafe { try_ref(F, clock) }?;
        use fusebox_core::Clock;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out_ns", out_ns, c.now_ns()) }
    })
}

/// Free a manual clock. Breakers and registries made on it keep working.
/// A pointer that is not a live clock (e.g. freed twice) gets
/// `FB_ERR_INVALID_HANDLE` and is not touched.
///
/// # Safety
/// `clock` is any pointer value; it is only dereferenced if it is a live
/// clock made by `fb_clock_manual_new`.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_free(clock: *mut fb_clock) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe { free("fb_clock_free", clock, None) }
}
