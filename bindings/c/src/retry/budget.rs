//! Retry budgets in the C ABI (`fb_retry_budget_*`): retries allowed up
//! to a ratio of recent requests plus a reserve per second, shared by every
//! caller of a dependency; counters and the Prometheus text.

use super::super::args::checked_name;
use super::super::args::{not_null, put, put_text};
use super::super::clock::{clock_source, fb_clock};
use super::super::error::null_arg;
use super::super::fb_status::{self, *};
use super::super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::super::panic::{guard, FfiResult};
use super::policy::{config_error, size_error};
use fusebox_core::{ClockSource, RetryBudget, RetryBudgetConfig};
use std::ffi::c_char;
use std::time::Duration;

/// A retry budget (opaque): retries allowed up to a ratio of recent
/// requests plus a reserve per second, shared by every caller of a
/// dependency. Made by `fb_retry_budget_new*`, freed with
/// `fb_retry_budget_free`. Thread-safe and lock-free.
pub struct fb_retry_budget {
    _opaque: [u8; 0],
}

// SAFETY: a live handle is `Box::into_raw` of a `RetryBudget` not yet freed.
unsafe impl Handle for fb_retry_budget {
    type Target = RetryBudget;
    const ARG: &'static str = "budget";
    const KIND: Kind = Kind::RetryBudget;
}

/// Retry budget settings. Always start from `fb_retry_budget_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fb_retry_budget_config {
    /// `sizeof(fb_retry_budget_config)`, set by the default function.
    pub size: u32,
    /// Retries allowed per request, in [0, 10]. Default 0.2.
    pub ratio: f64,
    /// Retries allowed per second whatever the traffic (0..=1000000).
    /// Default 10.
    pub min_per_sec: u32,
    /// How long a deposit or withdrawal counts, in ns (0.1 s..=1 h).
    /// Default 10 s.
    pub window_ns: u64,
    /// Buckets of the window (1..=100, each ≥ 100 ms). Default 10.
    pub buckets: u32,
}

/// A budget's counters (`fb_retry_budget_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_retry_budget_stats {
    /// Requests deposited.
    pub deposits: u64,
    /// Retries allowed.
    pub withdrawals: u64,
    /// Retries refused.
    pub refusals: u64,
    /// Retries that could be allowed now.
    pub available: u64,
}

fn default_budget_config() -> fb_retry_budget_config {
    let d = RetryBudgetConfig::default();
    fb_retry_budget_config {
        size: std::mem::size_of::<fb_retry_budget_config>() as u32,
        ratio: d.ratio,
        min_per_sec: d.min_per_sec,
        window_ns: d.window.as_nanos() as u64,
        buckets: d.buckets,
    }
}

/// Fill `config` with the defaults: 20 % of requests plus 10 a second,
/// over 10 s in 10 buckets.
///
/// # Safety
/// `config` is NULL or writable for an `fb_retry_budget_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_config_default(
    config: *mut fb_retry_budget_config,
) -> fb_status {
    const F: &str = "fb_retry_budget_config_default";
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe {
        put(F, "config", config, default_budget_config())
    })
}

/// # Safety
/// As `fb_retry_budget_new_with_clock`.
unsafe fn new_budget(
    func: &str,
    name: *const c_char,
    config: *const fb_retry_budget_config,
    clock: ClockSource,
    out: *mut *mut fb_retry_budget,
) -> FfiResult {
    not_null(func, "out", out)?;
    // SAFETY: forwarded from our caller's contract.
    let name = unsafe { checked_name(func, name) }?;
    // SAFETY: the caller guarantees NULL or readable.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return Err(null_arg(func, "config"));
    };
    if c.size as usize != std::mem::size_of::<fb_retry_budget_config>() {
        return Err(size_error(
            func,
            c.size,
            std::mem::size_of::<fb_retry_budget_config>(),
            "fb_retry_budget_config",
        ));
    }
    let config = RetryBudgetConfig {
        ratio: c.ratio,
        min_per_sec: c.min_per_sec,
        window: Duration::from_nanos(c.window_ns),
        buckets: c.buckets,
    };
    let budget = RetryBudget::named(name, config, clock).map_err(|e| config_error(func, &e))?;
    let p = Box::into_raw(Box::new(budget)) as *mut fb_retry_budget;
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { hand_out(out, p) }
}

/// Make a retry budget named `name` (a metrics label) on the system clock.
/// Free it with `fb_retry_budget_free`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `config` is NULL or readable; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_new(
    name: *const c_char,
    config: *const fb_retry_budget_config,
    out: *mut *mut fb_retry_budget,
) -> fb_status {
    const F: &str = "fb_retry_budget_new";
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe {
        new_budget(F, name, config, ClockSource::Monotonic, out)
    })
}

/// As `fb_retry_budget_new`, on a manual clock from `fb_clock_manual_new`
/// (give the breaker the same clock), for deterministic tests.
///
/// # Safety
/// As `fb_retry_budget_new`; `clock` is NULL or a live clock handle.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_new_with_clock(
    name: *const c_char,
    config: *const fb_retry_budget_config,
    clock: *const fb_clock,
    out: *mut *mut fb_retry_budget,
) -> fb_status {
    const F: &str = "fb_retry_budget_new_with_clock";
    guard(F, || {
        not_null(F, "clock", clock)?;
        // SAFETY: non-NULL, and the caller guarantees a live clock handle.
        let clock = unsafe { clock_source(clock) };
        // SAFETY: forwarded from our caller's contract.
        unsafe { new_budget(F, name, config, clock, out) }
    })
}

/// Free a retry budget; no call may be using it.
///
/// # Safety
/// `budget` is any pointer value.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_free(budget: *mut fb_retry_budget) -> fb_status {
    // SAFETY: forwarded; `free` dereferences only a live budget.
    unsafe { free("fb_retry_budget_free", budget, None) }
}

/// Count one request (`fb_retry_begin` does this for its calls).
///
/// # Safety
/// `budget` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_deposit(budget: *const fb_retry_budget) -> fb_status {
    const F: &str = "fb_retry_budget_deposit";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        unsafe { try_ref(F, budget) }?.deposit();
        Ok(FB_OK)
    })
}

/// Ask for one retry: `*allowed` is whether the budget paid it
/// (`fb_retry_next*` do this for their calls).
///
/// # Safety
/// `budget` is NULL or live; `allowed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_try_withdraw(
    budget: *const fb_retry_budget,
    allowed: *mut bool,
) -> fb_status {
    const F: &str = "fb_retry_budget_try_withdraw";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, budget) }?;
        not_null(F, "allowed", allowed)?;
        let ok = b.try_withdraw();
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "allowed", allowed, ok) }
    })
}

/// The budget's counters.
///
/// # Safety
/// `budget` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_metrics(
    budget: *const fb_retry_budget,
    out: *mut fb_retry_budget_stats,
) -> fb_status {
    const F: &str = "fb_retry_budget_metrics";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let s = unsafe { try_ref(F, budget) }?.stats();
        let value = fb_retry_budget_stats {
            deposits: s.deposits,
            withdrawals: s.withdrawals,
            refusals: s.refusals,
            available: s.available,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, value) }
    })
}

/// Write the budget's metrics in the Prometheus text format
/// (`fusebox_retry_budget_deposits_total`, `_withdrawals_total`,
/// `_refusals_total`, `_available`, labelled `budget`) into `buf`, as
/// `fb_bulkhead_prometheus` does (`*len` always set; too small a `cap`:
/// `FB_ERR_INVALID_ARGUMENT`, nothing written).
///
/// # Safety
/// `budget` is NULL or live; `buf` is NULL or writable for `cap` bytes;
/// `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_budget_prometheus(
    budget: *const fb_retry_budget,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_retry_budget_prometheus";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, budget) }?;
        let mut text = String::new();
        fusebox_core::prometheus::write_retry_budgets(&mut text, &[b.stats()]);
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}
