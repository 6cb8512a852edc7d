//! Retry policies in the C ABI (`fb_retry_policy_*`): attempts, back-off
//! with full jitter, a deadline, the retry-after cap; and the helpers the
//! retry modules share.

use super::super::args::{checked_name, not_null, put, put_text};
use super::super::error::{fail, null_arg};
use super::super::fb_status::{self, *};
use super::super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::super::panic::guard;
use fusebox_core::{ConfigError, RetryPolicy};
use std::ffi::c_char;
use std::time::Duration;

/// A retry policy (opaque): attempts, back-off, deadline, retry-after cap.
/// Made by `fb_retry_policy_new`, freed with `fb_retry_policy_free`.
/// Thread-safe; one policy serves any number of calls at once.
pub struct fb_retry_policy {
    _opaque: [u8; 0],
}

// SAFETY: a live handle is `Box::into_raw` of a `RetryPolicy` not yet freed.
unsafe impl Handle for fb_retry_policy {
    type Target = RetryPolicy;
    const ARG: &'static str = "policy";
    const KIND: Kind = Kind::RetryPolicy;
}

/// Retry policy settings. Always start from `fb_retry_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_retry_config {
    /// `sizeof(fb_retry_config)`, set by `fb_retry_config_default`.
    pub size: u32,
    /// Attempts in all, the first included (1..=100). Default 3.
    pub max_attempts: u32,
    /// The first retry waits up to this, in ns (> 0). Default 50 ms.
    pub base_backoff_ns: u64,
    /// No back-off waits more than this, in ns (≥ base). Default 5 s.
    pub max_backoff_ns: u64,
    /// The whole call's time limit from `fb_retry_begin`, in ns; 0: none
    /// (the default).
    pub deadline_ns: u64,
    /// The least time an attempt needs, in ns: none starts after
    /// `deadline − min_attempt`. Default 0.
    pub min_attempt_ns: u64,
    /// The longest server retry-after honoured, in ns. Default 30 s.
    pub retry_after_cap_ns: u64,
    /// Full jitter (default true), or waits of exactly the exponential cap.
    pub jitter: bool,
    /// The jitter's seed, for repeatable tests; 0 (default): from the
    /// clock.
    pub seed: u64,
}

/// A policy's counters (`fb_retry_policy_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_retry_metrics {
    /// Logical calls.
    pub calls: u64,
    /// Attempts, rejected ones included.
    pub attempts: u64,
    /// Retries.
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_refusals: u64,
    /// Calls that ended in an error.
    pub failed_calls: u64,
}

fn default_config() -> fb_retry_config {
    fb_retry_config {
        size: std::mem::size_of::<fb_retry_config>() as u32,
        max_attempts: 3,
        base_backoff_ns: 50_000_000,
        max_backoff_ns: 5_000_000_000,
        deadline_ns: 0,
        min_attempt_ns: 0,
        retry_after_cap_ns: 30_000_000_000,
        jitter: true,
        seed: 0,
    }
}

/// The core's field as C spells it.
pub(crate) fn c_field(core_field: &str) -> String {
    match core_field {
        "ratio" | "min_per_sec" | "buckets" | "max_attempts" | "max_hedges" | "quantile" => {
            core_field.into()
        }
        // A quantile delay's fallback is the hedge config's `delay_ns`.
        "fallback" => "delay_ns".into(),
        other => format!("{other}_ns"),
    }
}

pub(super) fn config_error(func: &str, e: &ConfigError) -> fb_status {
    let field = c_field(e.field);
    fail(
        FB_ERR_INVALID_CONFIG,
        format!("{func}: config.{field}: {}", e.render(&field)),
    )
}

pub(super) fn size_error(func: &str, got: u32, want: usize, ty: &str) -> fb_status {
    fail(
        FB_ERR_INVALID_CONFIG,
        format!(
            "{func}: config.size is {got}, not sizeof({ty}) = {want}: \
             fill the config with {ty}_default first"
        ),
    )
}

/// Fill `config` with the defaults: 3 attempts, back-off 50 ms doubling to
/// 5 s with full jitter, no deadline, retry-after honoured up to 30 s.
///
/// # Safety
/// `config` is NULL or points to writable memory for an `fb_retry_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_config_default(config: *mut fb_retry_config) -> fb_status {
    const F: &str = "fb_retry_config_default";
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe { put(F, "config", config, default_config()) })
}

/// # Safety
/// `config` is NULL or readable.
unsafe fn policy_arg(
    func: &str,
    name: &str,
    config: *const fb_retry_config,
) -> Result<RetryPolicy, fb_status> {
    // SAFETY: the caller guarantees NULL or a readable fb_retry_config.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return Err(null_arg(func, "config"));
    };
    if c.size as usize != std::mem::size_of::<fb_retry_config>() {
        return Err(size_error(
            func,
            c.size,
            std::mem::size_of::<fb_retry_config>(),
            "fb_retry_config",
        ));
    }
    let ns = Duration::from_nanos;
    let mut b = RetryPolicy::builder()
        .name(name)
        .max_attempts(c.max_attempts)
        .base_backoff(ns(c.base_backoff_ns))
        .max_backoff(ns(c.max_backoff_ns))
        .deadline((c.deadline_ns != 0).then(|| ns(c.deadline_ns)))
        .min_attempt(ns(c.min_attempt_ns))
        .retry_after_cap(ns(c.retry_after_cap_ns))
        .jitter(c.jitter);
    if c.seed != 0 {
        b = b.seed(c.seed);
    }
    b.build().map_err(|e| config_error(func, &e))
}

/// Make a retry policy named `name` (a metrics label, 1..=256 bytes of
/// UTF-8) with `config`. Free it with `fb_retry_policy_free`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `config` is NULL or readable; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_policy_new(
    name: *const c_char,
    config: *const fb_retry_config,
    out: *mut *mut fb_retry_policy,
) -> fb_status {
    const F: &str = "fb_retry_policy_new";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { checked_name(F, name) }?;
        // SAFETY: forwarded from our caller's contract.
        let policy = unsafe { policy_arg(F, name, config) }?;
        let p = Box::into_raw(Box::new(policy)) as *mut fb_retry_policy;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { hand_out(out, p) }
    })
}

/// Free a retry policy; no call may be using it. A pointer that is not a
/// live policy gets `FB_ERR_INVALID_HANDLE` and is not touched.
///
/// # Safety
/// `policy` is any pointer value.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_policy_free(policy: *mut fb_retry_policy) -> fb_status {
    // SAFETY: forwarded; `free` dereferences only a live policy.
    unsafe { free("fb_retry_policy_free", policy, None) }
}

/// The policy's counters.
///
/// # Safety
/// `policy` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_policy_metrics(
    policy: *const fb_retry_policy,
    out: *mut fb_retry_metrics,
) -> fb_status {
    const F: &str = "fb_retry_policy_metrics";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let p = unsafe { try_ref(F, policy) }?;
        let m = p.metrics();
        let value = fb_retry_metrics {
            calls: m.calls,
            attempts: m.attempts,
            retries: m.retries,
            budget_refusals: m.budget_refusals,
            failed_calls: m.failed_calls,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, value) }
    })
}

/// Write the policy's counters in the Prometheus text format
/// (`fusebox_retry_calls_total`, `_attempts_total`, `_retries_total`,
/// `_hedges_total`, `_budget_exhausted_total`, `_failed_calls_total`,
/// labelled `retry` with the policy's name) into `buf`, as
/// `fb_bulkhead_prometheus` does (`*len` always set; too small a `cap`:
/// `FB_ERR_INVALID_ARGUMENT`, nothing written).
///
/// # Safety
/// `policy` is NULL or live; `buf` is NULL or writable for `cap` bytes;
/// `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_retry_policy_prometheus(
    policy: *const fb_retry_policy,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_retry_policy_prometheus";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let p = unsafe { try_ref(F, policy) }?;
        let mut text = String::new();
        fusebox_core::prometheus::write_retry_policies(&mut text, &[p.metrics()]);
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}
