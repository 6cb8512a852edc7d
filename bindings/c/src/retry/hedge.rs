//! Hedge policies in the C ABI (`fb_hedge_policy_*`): a backup attempt
//! after a delay, up to `max_hedges`; counters and the Prometheus text.
//! The delay is fixed (the core's `HedgeDelay::Fixed`), or a quantile of a
//! latency histogram (`HedgeDelay::Quantile`, `delay_ns` its fallback
//! while the histogram is empty); the step functions are in
//! [`super::hedge_step`].

use super::super::args::{checked_name, not_null, put, put_text};
use super::super::error::null_arg;
use super::super::fb_status;
use super::super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::super::histogram::{fb_latency_histogram, histogram_arc};
use super::super::panic::guard;
use super::policy::{config_error, size_error};
use fusebox_core::retry::{HedgeDelay, HedgePolicy};
use std::ffi::c_char;
use std::time::Duration;

/// A hedge policy (opaque): when a call's attempt is slow, another one
/// after `delay_ns`, up to `max_hedges`. Made by `fb_hedge_policy_new`,
/// freed with `fb_hedge_policy_free`. Thread-safe; one policy serves any
/// number of calls at once.
pub struct fb_hedge_policy {
    _opaque: [u8; 0],
}

// SAFETY: a live handle is `Box::into_raw` of a `HedgePolicy` not yet freed.
unsafe impl Handle for fb_hedge_policy {
    type Target = HedgePolicy;
    const ARG: &'static str = "policy";
    const KIND: Kind = Kind::HedgePolicy;
}

/// Hedge policy settings. Always start from `fb_hedge_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fb_hedge_config {
    /// `sizeof(fb_hedge_config)`, set by `fb_hedge_config_default`.
    pub size: u32,
    /// Hedges a call may start (1..=10), one delay after another.
    /// Default 1.
    pub max_hedges: u32,
    /// The wait before each hedge, in ns (> 0); with a `histogram`, the
    /// wait while the histogram is empty. Default 50 ms.
    pub delay_ns: u64,
    /// NULL (the default): the delay is `delay_ns`. Otherwise the
    /// dependency's latencies (a live `fb_latency_histogram`, e.g. fed by
    /// its breaker, see `fb_breaker_new_with_histogram`): the delay is
    /// their `quantile`, read when each hedge is armed. The policy keeps
    /// its own reference.
    pub histogram: *const fb_latency_histogram,
    /// With a `histogram`: the quantile, in (0, 1]. Default 0.95 (hedge
    /// the slowest 5 % of calls).
    pub quantile: f64,
}

/// A hedge policy's counters (`fb_hedge_policy_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_hedge_metrics {
    /// Hedged calls.
    pub calls: u64,
    /// Attempts, the first of each call and rejected ones included.
    pub attempts: u64,
    /// Attempts after the first (each paid from the budget).
    pub hedges: u64,
    /// Hedges the budget refused.
    pub budget_refusals: u64,
    /// Calls in which every attempt failed.
    pub failed_calls: u64,
}

/// Fill `config` with the defaults: one hedge, after 50 ms (no histogram;
/// quantile 0.95 once one is set).
///
/// # Safety
/// `config` is NULL or writable for an `fb_hedge_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_config_default(config: *mut fb_hedge_config) -> fb_status {
    const F: &str = "fb_hedge_config_default";
    let value = fb_hedge_config {
        size: std::mem::size_of::<fb_hedge_config>() as u32,
        max_hedges: 1,
        delay_ns: 50_000_000,
        histogram: std::ptr::null(),
        quantile: 0.95,
    };
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe { put(F, "config", config, value) })
}

/// Make a hedge policy named `name` (a metrics label, 1..=256 bytes of
/// UTF-8) with `config`. Free it with `fb_hedge_policy_free`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `config` is NULL or readable, its
/// `histogram` NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_policy_new(
    name: *const c_char,
    config: *const fb_hedge_config,
    out: *mut *mut fb_hedge_policy,
) -> fb_status {
    const F: &str = "fb_hedge_policy_new";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { checked_name(F, name) }?;
        // SAFETY: the caller guarantees NULL or a readable fb_hedge_config.
        let Some(c) = (unsafe { config.as_ref() }) else {
            return Err(null_arg(F, "config"));
        };
        let want = std::mem::size_of::<fb_hedge_config>();
        if c.size as usize != want {
            return Err(size_error(F, c.size, want, "fb_hedge_config"));
        }
        let delay = Duration::from_nanos(c.delay_ns);
        let delay = if c.histogram.is_null() {
            HedgeDelay::Fixed(delay)
        } else {
            HedgeDelay::Quantile {
                // SAFETY: non-NULL, and the caller guarantees a live
                // histogram handle.
                histogram: unsafe { histogram_arc(c.histogram) },
                quantile: c.quantile,
                fallback: delay,
            }
        };
        let policy = HedgePolicy::builder()
            .name(name)
            .max_hedges(c.max_hedges)
            .delay(delay)
            .build()
            .map_err(|e| config_error(F, &e))?;
        let p = Box::into_raw(Box::new(policy)) as *mut fb_hedge_policy;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { hand_out(out, p) }
    })
}

/// Free a hedge policy; no call may be using it. A pointer that is not a
/// live policy gets `FB_ERR_INVALID_HANDLE` and is not touched.
///
/// # Safety
/// `policy` is any pointer value.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_policy_free(policy: *mut fb_hedge_policy) -> fb_status {
    // SAFETY: forwarded; `free` dereferences only a live policy.
    unsafe { free("fb_hedge_policy_free", policy, None) }
}

/// The policy's counters.
///
/// # Safety
/// `policy` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_policy_metrics(
    policy: *const fb_hedge_policy,
    out: *mut fb_hedge_metrics,
) -> fb_status {
    const F: &str = "fb_hedge_policy_metrics";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let m = unsafe { try_ref(F, policy) }?.metrics();
        let value = fb_hedge_metrics {
            calls: m.calls,
            attempts: m.attempts,
            hedges: m.hedges,
            budget_refusals: m.budget_refusals,
            failed_calls: m.failed_calls,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, value) }
    })
}

/// Write the policy's counters in the Prometheus text format (as
/// `fb_retry_policy_prometheus`: `fusebox_retry_*{retry="name"}`, with
/// `fusebox_retry_hedges_total`) into `buf`, as `fb_bulkhead_prometheus`
/// does (`*len` always set; too small a `cap`: `FB_ERR_INVALID_ARGUMENT`,
/// nothing written).
///
/// # Safety
/// `policy` is NULL or live; `buf` is NULL or writable for `cap` bytes;
/// `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_hedge_policy_prometheus(
    policy: *const fb_hedge_policy,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_hedge_policy_prometheus";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let p = unsafe { try_ref(F, policy) }?;
        let mut text = String::new();
        fusebox_core::prometheus::write_retry_policies(&mut text, &[p.metrics()]);
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}
