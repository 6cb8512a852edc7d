//! Bulkheads in the C ABI (`fb_bulkhead_*`): at most N calls in flight to a
//! dependency, a fixed limit or an adaptive one. A thin layer over
//! [`fusebox_core::bulkhead::Bulkhead`], following the rules of the rest of
//! the ABI (status codes, `fb_last_error`, no panic across the boundary,
//! bad pointers reported). Acquiring and releasing allocate nothing and take
//! no lock (unless the bulkhead is full and configured to wait).
//!
//! To guard a breaker too, ask the breaker first (`fb_breaker_acquire`),
//! then the bulkhead, and report the outcome to both.

use super::args::{checked_name, not_null, outcome_arg, put, put_text};
use super::clock::{clock_arc, fb_clock};
use super::error::{fail, null_arg};
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::{guard, FfiResult};
use super::permit::{fb_outcome, permit_used};
use fusebox_core::bulkhead::{Bulkhead, BulkheadError, RawBulkheadPermit};
use fusebox_core::concurrency::LimitConfig;
use fusebox_core::{ConfigError, RawPermit};
use std::ffi::c_char;
use std::time::Duration;

/// A bulkhead (opaque): at most N calls in flight. Made by
/// `fb_bulkhead_new*`, freed with `fb_bulkhead_free`. Thread-safe.
pub struct fb_bulkhead {
    _opaque: [u8; 0],
}

/// `fb_bulkhead_config.limit_algorithm`: one of `FB_LIMIT_*`.
pub type fb_limit_algorithm = u32;
/// A fixed limit: `max_concurrent`.
pub const FB_LIMIT_FIXED: fb_limit_algorithm = 0;
/// Adaptive, AIMD (Netflix `AIMDLimit`: + 1 while busy, × 0.9 on a failure
/// or a window slower than 5 s).
pub const FB_LIMIT_AIMD: fb_limit_algorithm = 1;
/// Adaptive, TCP Vegas (Netflix `VegasLimit`).
pub const FB_LIMIT_VEGAS: fb_limit_algorithm = 2;
/// Adaptive, Gradient2 (Netflix `Gradient2Limit`).
pub const FB_LIMIT_GRADIENT2: fb_limit_algorithm = 3;

/// Bulkhead settings. Always start from `fb_bulkhead_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_bulkhead_config {
    /// `sizeof(fb_bulkhead_config)`, set by `fb_bulkhead_config_default`.
    pub size: u32,
    /// The fixed limit, 1..=16777215. Default 25. Unused when the limit is
    /// adaptive.
    pub max_concurrent: u32,
    /// How long `fb_bulkhead_acquire` waits for a slot when the bulkhead is
    /// full, in ns (real time); 0 (default): refuse at once.
    pub max_wait_ns: u64,
    /// `FB_LIMIT_FIXED` (default) or an adaptive algorithm.
    pub limit_algorithm: fb_limit_algorithm,
    /// Adaptive only: the lowest limit; 0 keeps the algorithm's default
    /// (AIMD 1, Vegas 1, Gradient2 20).
    pub min_limit: u32,
    /// Adaptive only: the limit at start; 0 keeps the algorithm's default
    /// (AIMD 10, Vegas 20, Gradient2 20).
    pub initial_limit: u32,
    /// Adaptive only: the highest limit; 0 keeps the algorithm's default
    /// (AIMD 200, Vegas 1000, Gradient2 200).
    pub max_limit: u32,
}

/// The right to one call in a bulkhead slot: a plain value filled by
/// `fb_bulkhead_try_acquire` / `fb_bulkhead_acquire`. Give it back exactly
/// once with `fb_bulkhead_permit_record` or `fb_bulkhead_permit_release`;
/// either sets `bulkhead` to NULL, so a second use is reported as
/// `FB_ERR_PERMIT_USED`. Treat the fields as read-only. The bulkhead must
/// outlive its permits.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fb_bulkhead_permit {
    /// The bulkhead that admitted the call; NULL once used (or refused).
    pub bulkhead: *const fb_bulkhead,
    /// Clock time at admission (adaptive limits only), else 0.
    pub start_ns: u64,
    /// Calls in flight at admission, this one included.
    pub in_flight: u32,
    /// Internal.
    pub slot: u32,
}

/// Filled when a bulkhead refuses a call (`FB_REJECTED`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_bulkhead_full {
    /// The limit at that moment.
    pub limit: u32,
    /// Calls in flight at that moment.
    pub in_flight: u32,
    /// How long the call waited for a slot, in ns (0 if it did not wait).
    pub waited_ns: u64,
}

/// A bulkhead's counters at one moment.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_bulkhead_stats {
    /// The current limit.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// The most calls ever in flight at once.
    pub peak_in_flight: u32,
    /// Threads waiting for a slot.
    pub waiting: u32,
    /// Calls refused because the bulkhead was full, all time.
    pub rejected: u64,
    /// Windows closed by the adaptive limit, all time (0 when fixed).
    pub limit_updates: u64,
}

// SAFETY: a live handle is `Box::into_raw` of a `Bulkhead` not yet freed.
unsafe impl Handle for fb_bulkhead {
    type Target = Bulkhead;
    const ARG: &'static str = "bulkhead";
    const KIND: Kind = Kind::Bulkhead;
}

fn default_config() -> fb_bulkhead_config {
    fb_bulkhead_config {
        size: std::mem::size_of::<fb_bulkhead_config>() as u32,
        max_concurrent: 25,
        max_wait_ns: 0,
        limit_algorithm: FB_LIMIT_FIXED,
        min_limit: 0,
        initial_limit: 0,
        max_limit: 0,
    }
}

/// Fill `config` with the defaults: a fixed limit of 25, no wait.
///
/// # Safety
/// `config` is NULL or points to writable memory for an `fb_bulkhead_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_config_default(config: *mut fb_bulkhead_config) -> fb_status {
    guard("fb_bulkhead_config_default", || {
        // SAFETY: forwarded from our caller's contract.
        unsafe {
            put(
                "fb_bulkhead_config_default",
                "config",
                config,
                default_config(),
            )
        }
    })
}

fn config_error(func: &str, e: ConfigError) -> fb_status {
    let field = match e.field {
        "max_wait" => "max_wait_ns",
        f => f,
    };
    fail(
        FB_ERR_INVALID_CONFIG,
        format!(
            "{func}: config.{field} = {} is out of range (expected {})",
            e.value, e.expected
        ),
    )
}

/// Build a bulkhead from a C config.
///
/// # Safety
/// `config` is NULL or points to a readable `fb_bulkhead_config`.
unsafe fn build(
    func: &str,
    name: &str,
    config: *const fb_bulkhead_config,
    clock: Option<fusebox_core::ClockSource>,
) -> Result<Bulkhead, fb_status> {
    // SAFETY: the caller guarantees NULL or a readable fb_bulkhead_config.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return Err(null_arg(func, "config"));
    };
    if c.size as usize != std::mem::size_of::<fb_bulkhead_config>() {
        return Err(fail(
            FB_ERR_INVALID_CONFIG,
            format!(
                "{func}: config.size is {}, not sizeof(fb_bulkhead_config) = {}: \
                 fill the config with fb_bulkhead_config_default first",
                c.size,
                std::mem::size_of::<fb_bulkhead_config>()
            ),
        ));
    }
    let mut b = Bulkhead::builder()
        .name(name)
        .max_concurrent(c.max_concurrent)
        .max_wait(Duration::from_nanos(c.max_wait_ns));
    let base = match c.limit_algorithm {
        FB_LIMIT_FIXED => None,
        FB_LIMIT_AIMD => Some(LimitConfig::aimd()),
        FB_LIMIT_VEGAS => Some(LimitConfig::vegas()),
        FB_LIMIT_GRADIENT2 => Some(LimitConfig::gradient2()),
        other => {
            return Err(fail(
                FB_ERR_INVALID_CONFIG,
                format!(
                    "{func}: config.limit_algorithm = {other} is not FB_LIMIT_FIXED, \
                     FB_LIMIT_AIMD, FB_LIMIT_VEGAS or FB_LIMIT_GRADIENT2"
                ),
            ))
        }
    };
    if let Some(mut l) = base {
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        l = l.limits(
            or(c.min_limit, l.min_limit),
            or(c.initial_limit, l.initial_limit),
            or(c.max_limit, l.max_limit),
        );
        b = b.adaptive(l);
    }
    if let Some(clock) = clock {
        b = b.clock(clock);
    }
    b.build().map_err(|e| config_error(func, e))
}

/// Register and hand out a new bulkhead.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn hand_out_new(func: &str, out: *mut *mut fb_bulkhead, b: Bulkhead) -> FfiResult {
    not_null(func, "out", out)?;
    let p = Box::into_raw(Box::new(b)) as *mut fb_bulkhead;
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { hand_out(out, p) }
}

/// Make a bulkhead named `name` (for metrics; 1..=256 bytes of UTF-8) with
/// `config`. Free it with `fb_bulkhead_free`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `config` is NULL or readable;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_new(
    name: *const c_char,
    config: *const fb_bulkhead_config,
    out: *mut *mut fb_bulkhead,
) -> fb_status {
    const F: &str = "fb_bulkhead_new";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { checked_name(F, name) }?;
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { build(F, name, config, None) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { hand_out_new(F, out, b) }
    })
}

/// As `fb_bulkhead_new`, timing calls (for an adaptive limit) on a manual
/// clock from `fb_clock_manual_new`, for deterministic tests.
///
/// # Safety
/// As `fb_bulkhead_new`; `clock` is NULL or a live clock handle.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_new_with_clock(
    name: *const c_char,
    config: *const fb_bulkhead_config,
    clock: *const fb_clock,
    out: *mut *mut fb_bulkhead,
) -> fb_status {
    const F: &str = "fb_bulkhead_new_with_clock";
    guard(F, || {
        not_null(F, "clock", clock)?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { checked_name(F, name) }?;
        // SAFETY: non-NULL, and the caller guarantees a live clock handle.
        let clock = unsafe { clock_arc(clock) };
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { build(F, name, config, Some(clock.into())) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { hand_out_new(F, out, b) }
    })
}

/// Free a bulkhead. No permit of it may be outstanding, and no other thread
/// may be using it. A pointer that is not a live bulkhead (e.g. freed
/// twice) gets `FB_ERR_INVALID_HANDLE` and is not touched.
///
/// # Safety
/// `bulkhead` is any pointer value; it is only dereferenced if it is a live
/// bulkhead made by `fb_bulkhead_new*`.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_free(bulkhead: *mut fb_bulkhead) -> fb_status {
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live `Box<Bulkhead>` from `fb_bulkhead_new*`.
    unsafe { free("fb_bulkhead_free", bulkhead, None) }
}

/// # Safety
/// `bulkhead` is NULL or live; `permit` and `full` are NULL or writable.
#[inline(always)]
unsafe fn acquire(
    func: &'static str,
    bulkhead: *const fb_bulkhead,
    permit: *mut fb_bulkhead_permit,
    full: *mut fb_bulkhead_full,
    wait: impl FnOnce(&Bulkhead) -> Result<RawBulkheadPermit, BulkheadError>,
) -> fb_status {
    guard(func, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(func, bulkhead) }?;
        not_null(func, "permit", permit)?;
        match wait(b) {
            Ok(raw) => {
                // SAFETY: checked non-NULL; the caller guarantees writable.
                unsafe {
                    permit.write(fb_bulkhead_permit {
                        bulkhead,
                        start_ns: raw.start_ns,
                        in_flight: raw.in_flight as u32,
                        slot: raw.slot as u32,
                    })
                };
                Ok(FB_OK)
            }
            // SAFETY: forwarded from our caller's contract.
            Err(e) => Ok(unsafe { refused(e, permit, full) }),
        }
    })
}

/// # Safety
/// `permit` is writable; `full` is NULL or writable.
#[cold]
unsafe fn refused(
    e: BulkheadError,
    permit: *mut fb_bulkhead_permit,
    full: *mut fb_bulkhead_full,
) -> fb_status {
    // SAFETY: the caller checked `permit` non-NULL; it is writable.
    unsafe {
        permit.write(fb_bulkhead_permit {
            bulkhead: std::ptr::null(),
            start_ns: 0,
            in_flight: 0,
            slot: 0,
        })
    };
    let BulkheadError::Full(f) = e else {
        // A C bulkhead has no breaker: nothing else refuses.
        return fail(FB_ERR_PANIC, format!("unexpected refusal: {e}"));
    };
    if !full.is_null() {
        // SAFETY: checked non-NULL; the caller guarantees writable.
        unsafe {
            full.write(fb_bulkhead_full {
                limit: f.limit,
                in_flight: f.in_flight,
                waited_ns: u64::try_from(f.waited.as_nanos()).unwrap_or(u64::MAX),
            })
        };
    }
    FB_REJECTED
}

/// Take a slot now: `FB_OK` and a filled `permit`, or `FB_REJECTED` when
/// the bulkhead is full (`full`, if not NULL, says how full). Never waits.
/// No allocation, no lock.
///
/// # Safety
/// `bulkhead` is NULL or a live handle; `permit` is NULL or writable;
/// `full` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_try_acquire(
    bulkhead: *const fb_bulkhead,
    permit: *mut fb_bulkhead_permit,
    full: *mut fb_bulkhead_full,
) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe {
        acquire("fb_bulkhead_try_acquire", bulkhead, permit, full, |b| {
            b.try_acquire_raw()
        })
    }
}

/// As `fb_bulkhead_try_acquire`, but waits up to the configured
/// `max_wait_ns` for a slot when the bulkhead is full (the thread sleeps).
///
/// # Safety
/// As `fb_bulkhead_try_acquire`.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_acquire(
    bulkhead: *const fb_bulkhead,
    permit: *mut fb_bulkhead_permit,
    full: *mut fb_bulkhead_full,
) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe {
        acquire("fb_bulkhead_acquire", bulkhead, permit, full, |b| {
            b.acquire_raw()
        })
    }
}

/// Take the permit's value and mark it used.
///
/// # Safety
/// `permit` is NULL or a valid `fb_bulkhead_permit`.
unsafe fn take_permit<'a>(
    func: &str,
    permit: *mut fb_bulkhead_permit,
) -> Result<(&'a Bulkhead, RawBulkheadPermit), fb_status> {
    // SAFETY: the caller guarantees NULL or a valid permit.
    let Some(p) = (unsafe { permit.as_mut() }) else {
        return Err(null_arg(func, "permit"));
    };
    // SAFETY: a permit's bulkhead is NULL or the live handle that issued it.
    let Some(b) = (unsafe { fb_bulkhead::target(p.bulkhead).as_ref() }) else {
        return Err(permit_used(func));
    };
    let raw = RawBulkheadPermit {
        breaker: RawPermit {
            generation: 0,
            start_ns: 0,
            probe: false,
        },
        start_ns: p.start_ns,
        in_flight: p.in_flight.into(),
        slot: p.slot.into(),
    };
    p.bulkhead = std::ptr::null();
    Ok((b, raw))
}

/// Free the slot, reporting how the call went (`FB_OUTCOME_*`): an adaptive
/// limit samples its latency (a failure counts as a drop, an ignored call
/// is not sampled). The permit is used up.
///
/// # Safety
/// `permit` is NULL or a valid permit whose bulkhead is still alive.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_permit_record(
    permit: *mut fb_bulkhead_permit,
    outcome: fb_outcome,
) -> fb_status {
    const F: &str = "fb_bulkhead_permit_record";
    guard(F, || {
        let outcome = outcome_arg(F, outcome)?;
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = unsafe { take_permit(F, permit) }?;
        b.record_raw(raw, outcome);
        Ok(FB_OK)
    })
}

/// Free the slot without an outcome (the call was abandoned). The permit is
/// used up.
///
/// # Safety
/// As `fb_bulkhead_permit_record`.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_permit_release(permit: *mut fb_bulkhead_permit) -> fb_status {
    const F: &str = "fb_bulkhead_permit_release";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = unsafe { take_permit(F, permit) }?;
        b.release_raw(raw);
        Ok(FB_OK)
    })
}

/// Set the limit by hand, 1..=the bulkhead's capacity (`max_concurrent`,
/// or the adaptive `max_limit`).
///
/// # Safety
/// `bulkhead` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_set_limit(
    bulkhead: *const fb_bulkhead,
    limit: u32,
) -> fb_status {
    const F: &str = "fb_bulkhead_set_limit";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, bulkhead) }?;
        b.set_limit(limit).map_err(|e| {
            fail(
                FB_ERR_INVALID_ARGUMENT,
                format!(
                    "{F}: limit = {} is out of range (expected {})",
                    e.value, e.expected
                ),
            )
        })?;
        Ok(FB_OK)
    })
}

/// A snapshot of the bulkhead's counters.
///
/// # Safety
/// `bulkhead` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_metrics(
    bulkhead: *const fb_bulkhead,
    out: *mut fb_bulkhead_stats,
) -> fb_status {
    const F: &str = "fb_bulkhead_metrics";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, bulkhead) }?;
        let m = b.metrics();
        let value = fb_bulkhead_stats {
            limit: m.limit,
            in_flight: m.in_flight,
            peak_in_flight: m.peak_in_flight,
            waiting: m.waiting,
            rejected: m.rejected,
            limit_updates: m.limit_updates,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, value) }
    })
}

/// Write the bulkhead's metrics in the Prometheus text format
/// (`fusebox_bulkhead_in_flight`, `_limit`, `_peak_in_flight`, `_waiting`,
/// `_rejected_total`, ...) into `buf`, NUL-terminated. `*len` is set to the
/// text's length (without the NUL) in every case; when `cap` is too small
/// (`cap < *len + 1`) nothing is written and `FB_ERR_INVALID_ARGUMENT` is
/// returned, so a caller can retry with a buffer of `*len + 1` bytes. `buf`
/// may be NULL when `cap` is 0.
///
/// # Safety
/// `bulkhead` is NULL or a live handle; `buf` is NULL or writable for `cap`
/// bytes; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_bulkhead_prometheus(
    bulkhead: *const fb_bulkhead,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_bulkhead_prometheus";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, bulkhead) }?;
        let text = fusebox_core::bulkhead::render(&[b.metrics()]);
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}

#[cfg(test)]
mod tests {
    use super::super::FB_OUTCOME_SUCCESS;
    use super::*;
    use std::ptr::{null, null_mut};

    fn new(cfg: &fb_bulkhead_config) -> *mut fb_bulkhead {
        let mut b = null_mut();
        // SAFETY: valid name, config and out-pointer.
        let s = unsafe { fb_bulkhead_new(c"test".as_ptr(), cfg, &mut b) };
        assert_eq!(s, FB_OK);
        b
    }

    fn empty() -> fb_bulkhead_permit {
        fb_bulkhead_permit {
            bulkhead: null(),
            start_ns: 0,
            in_flight: 0,
            slot: 0,
        }
    }

    #[test]
    fn admits_up_to_the_limit_then_refuses_with_the_counts() {
        let mut cfg = default_config();
        cfg.max_concurrent = 2;
        let b = new(&cfg);
        let (mut p1, mut p2, mut p3) = (empty(), empty(), empty());
        let mut full = fb_bulkhead_full {
            limit: 0,
            in_flight: 0,
            waited_ns: 9,
        };
        // SAFETY: live handle, writable permits.
        unsafe {
            assert_eq!(fb_bulkhead_try_acquire(b, &mut p1, null_mut()), FB_OK);
            assert_eq!(fb_bulkhead_try_acquire(b, &mut p2, null_mut()), FB_OK);
            assert_eq!(fb_bulkhead_try_acquire(b, &mut p3, &mut full), FB_REJECTED);
            assert!(p3.bulkhead.is_null());
            assert_eq!((full.limit, full.in_flight, full.waited_ns), (2, 2, 0));
            assert_eq!(
                fb_bulkhead_permit_record(&mut p1, FB_OUTCOME_SUCCESS),
                FB_OK
            );
            assert_eq!(
                fb_bulkhead_permit_record(&mut p1, FB_OUTCOME_SUCCESS),
                FB_ERR_PERMIT_USED
            );
            assert_eq!(fb_bulkhead_permit_release(&mut p2), FB_OK);
            assert_eq!(fb_bulkhead_permit_release(&mut p3), FB_ERR_PERMIT_USED);
            let mut m = std::mem::zeroed();
            assert_eq!(fb_bulkhead_metrics(b, &mut m), FB_OK);
            assert_eq!(
                (m.limit, m.in_flight, m.peak_in_flight, m.rejected),
                (2, 0, 2, 1)
            );
            assert_eq!(fb_bulkhead_free(b), FB_OK);
            assert_eq!(fb_bulkhead_free(b), FB_ERR_INVALID_HANDLE);
        }
    }

    #[test]
    fn bad_input_is_reported_by_name() {
        let mut cfg = default_config();
        cfg.max_concurrent = 0;
        let mut b = null_mut();
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            assert_eq!(
                fb_bulkhead_new(c"x".as_ptr(), &cfg, &mut b),
                FB_ERR_INVALID_CONFIG
            );
            let msg = std::ffi::CStr::from_ptr(super::super::fb_last_error());
            assert!(msg.to_str().unwrap().contains("max_concurrent"), "{msg:?}");
            cfg = default_config();
            cfg.limit_algorithm = 9;
            assert_eq!(
                fb_bulkhead_new(c"x".as_ptr(), &cfg, &mut b),
                FB_ERR_INVALID_CONFIG
            );
            cfg = default_config();
            cfg.limit_algorithm = FB_LIMIT_VEGAS;
            cfg.min_limit = 50;
            cfg.max_limit = 10;
            assert_eq!(
                fb_bulkhead_new(c"x".as_ptr(), &cfg, &mut b),
                FB_ERR_INVALID_CONFIG
            );
            cfg.size = 3;
            assert_eq!(
                fb_bulkhead_new(c"x".as_ptr(), &cfg, &mut b),
                FB_ERR_INVALID_CONFIG
            );
            assert_eq!(
                fb_bulkhead_new(null(), &default_config(), &mut b),
                FB_ERR_NULL_POINTER
            );
            assert_eq!(
                fb_bulkhead_new(c"".as_ptr(), &default_config(), &mut b),
                FB_ERR_INVALID_NAME
            );
            assert_eq!(
                fb_bulkhead_try_acquire(null(), null_mut(), null_mut()),
                FB_ERR_NULL_POINTER
            );
            assert_eq!(
                fb_bulkhead_permit_record(null_mut(), FB_OUTCOME_SUCCESS),
                FB_ERR_NULL_POINTER
            );
            let mut p = empty();
            assert_eq!(
                fb_bulkhead_permit_record(&mut p, 7),
                FB_ERR_INVALID_ARGUMENT
            );
            assert_eq!(fb_bulkhead_free(null_mut()), FB_ERR_NULL_POINTER);
        }
    }

    #[test]
    fn prometheus_text_fits_or_says_how_much_room_it_needs() {
        let b = new(&default_config());
        let mut len = 0usize;
        // SAFETY: live handle; buffers sized as passed.
        unsafe {
            assert_eq!(
                fb_bulkhead_prometheus(b, null_mut(), 0, &mut len),
                FB_ERR_INVALID_ARGUMENT
            );
            let mut buf = vec![0 as c_char; len + 1];
            assert_eq!(
                fb_bulkhead_prometheus(b, buf.as_mut_ptr(), buf.len(), &mut len),
                FB_OK
            );
            let text = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
            assert_eq!(text.len(), len);
            assert!(text.contains("fusebox_bulkhead_limit{bulkhead=\"test\"} 25"));
            fb_bulkhead_free(b);
        }
    }
}
