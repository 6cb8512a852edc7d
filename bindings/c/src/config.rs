//! Breaker settings (`fb_config`): the defaults, validation, and the
//! conversion to the core's [`Config`] used by every maker of a breaker.

use super::args::put;
use super::error::{fail, null_arg};
use super::fb_status::{self, *};
use super::panic::guard;
use fusebox_core::bindings::cancellation_code;
use fusebox_core::{Backoff, Cancellation, Config, ConfigError, Unit, WindowConfig};
use std::time::Duration;

/// `fb_config.window_type`: a sliding time window of `window_duration_ns`
/// in `window_buckets` buckets.
pub const FB_WINDOW_TIME: u32 = 0;
/// `fb_config.window_type`: a count window of the last `window_size` calls.
pub const FB_WINDOW_COUNT: u32 = 1;

/// `fb_config.cancellation`: a cancelled call (`fb_permit_cancel`; see
/// `docs/semantics.md#cancelled-calls`) is neither a success nor a
/// failure: its permit is given back.
pub const FB_CANCEL_RELEASE: u32 = 0;
/// `fb_config.cancellation`: as `FB_CANCEL_RELEASE`, unless the call ran
/// longer than `slow_call_duration_ns`: then one slow call (the default).
pub const FB_CANCEL_SLOW_IF_OVERDUE: u32 = 1;
/// `fb_config.cancellation`: a cancelled call is a failure.
pub const FB_CANCEL_FAILURE: u32 = 2;

// The C codes are the core's (`fusebox::bindings`): a drift fails the build.
const _: () = {
    assert!(FB_CANCEL_RELEASE == cancellation_code(Cancellation::Release));
    assert!(FB_CANCEL_SLOW_IF_OVERDUE == cancellation_code(Cancellation::SlowIfOverdue));
    assert!(FB_CANCEL_FAILURE == cancellation_code(Cancellation::Failure));
};

/// Breaker settings. Always start from `fb_config_default`, then change the
/// fields you need. Durations are in nanoseconds. The library checks every
/// field when the config is used and reports the first bad one by name.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fb_config {
    /// `sizeof(fb_config)`, set by `fb_config_default` (catches a config
    /// that was never initialised).
    pub size: u32,
    /// Failures in a row that trip the breaker (a success resets the run);
    /// 0 turns this detector off. Default 5.
    pub consecutive_failures: u32,
    /// Failure ratio in (0, 1] that trips the breaker once `min_calls` calls
    /// are in the window. Reached, not exceeded: 5 failures of 10 trip 0.5.
    /// Default 0.5.
    pub failure_rate_threshold: f64,
    /// Calls needed in the window before a rate is judged. Default 10.
    pub min_calls: u32,
    /// `FB_WINDOW_TIME` (default) or `FB_WINDOW_COUNT`.
    pub window_type: u32,
    /// Time window length in ns (time window only). Default 10 s.
    pub window_duration_ns: u64,
    /// Buckets of the time window, 1..=1000, each ≥ 1 ms. Default 10.
    pub window_buckets: u32,
    /// Calls in the count window, 1..=100000 (count window only).
    /// Default 100.
    pub window_size: u32,
    /// How long Open lasts before a probe is let through, in ns.
    /// Default 30 s.
    pub open_timeout_ns: u64,
    /// Exponential back-off of the open timeout while probes keep failing:
    /// each re-open multiplies it by this, in (1, 1000]; 0 turns back-off
    /// off (default).
    pub backoff_multiplier: f64,
    /// Cap of the backed-off open timeout in ns (≥ `open_timeout_ns`); used
    /// only when `backoff_multiplier` is not 0. Default 0.
    pub backoff_max_ns: u64,
    /// Random extra open time, as a fraction in [0, 1] of the open timeout.
    /// Default 0.
    pub jitter: f64,
    /// Probes admitted in Half-Open, 1..=1000. Default 3.
    pub half_open_max_calls: u32,
    /// Probe successes that close the breaker (≤ `half_open_max_calls`).
    /// Default 3.
    pub success_threshold: u32,
    /// How long Half-Open waits for its probes before going back to Open,
    /// in ns. Default 60 s.
    pub half_open_max_wait_ns: u64,
    /// A call longer than this is slow, in ns; 0 turns slow-call detection
    /// off (default).
    pub slow_call_duration_ns: u64,
    /// Slow-call ratio in (0, 1] that trips the breaker. Default 1.0.
    pub slow_call_rate_threshold: f64,
    /// The longest open period `fb_breaker_open_for` may ask for, in ns
    /// (a longer one is cut to this). Default 300 s.
    pub max_open_for_ns: u64,
    /// What a cancelled call (`fb_permit_cancel`) counts as:
    /// `FB_CANCEL_RELEASE`, `FB_CANCEL_SLOW_IF_OVERDUE` (default) or
    /// `FB_CANCEL_FAILURE`.
    pub cancellation: u32,
}

pub(crate) fn config_to_c(c: &Config) -> fb_config {
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let (window_type, window_duration_ns, window_buckets, window_size) = match c.window {
        WindowConfig::Time { duration, buckets } => (FB_WINDOW_TIME, ns(duration), buckets, 100),
        WindowConfig::Count { size } => (FB_WINDOW_COUNT, 10_000_000_000, 10, size),
    };
    fb_config {
        size: std::mem::size_of::<fb_config>() as u32,
        consecutive_failures: c.consecutive_failures.unwrap_or(0),
        failure_rate_threshold: c.failure_rate_threshold,
        min_calls: c.min_calls,
        window_type,
        window_duration_ns,
        window_buckets,
        window_size,
        open_timeout_ns: ns(c.open_timeout),
        backoff_multiplier: c.backoff.map_or(0.0, |b| b.multiplier),
        backoff_max_ns: c.backoff.map_or(0, |b| ns(b.max)),
        jitter: c.jitter,
        half_open_max_calls: c.half_open_max_calls,
        success_threshold: c.success_threshold,
        half_open_max_wait_ns: ns(c.half_open_max_wait),
        slow_call_duration_ns: c.slow_call_duration.map_or(0, ns),
        slow_call_rate_threshold: c.slow_call_rate_threshold,
        max_open_for_ns: ns(c.max_open_for),
        cancellation: cancellation_code(c.cancellation),
    }
}

/// The `fb_config` field a core `ConfigError` is about.
fn c_field(core_field: &str) -> &str {
    match core_field {
        "window" => "window_duration_ns",
        "window.buckets" => "window_buckets",
        "window.size" => "window_size",
        "open_timeout" => "open_timeout_ns",
        "backoff.multiplier" => "backoff_multiplier",
        "backoff.max" => "backoff_max_ns",
        "half_open_max_wait" => "half_open_max_wait_ns",
        "slow_call_duration" => "slow_call_duration_ns",
        "max_open_for" => "max_open_for_ns",
        other => other,
    }
}

/// Convert and validate (the core validates; we only convert).
///
/// # Safety
/// `config` is NULL or points to a readable `fb_config`.
pub(crate) unsafe fn config_arg(
    func: &str,
    arg: &str,
    config: *const fb_config,
) -> Result<Config, fb_status> {
    // SAFETY: the caller guarantees NULL or a readable fb_config.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return Err(null_arg(func, arg));
    };
    let bad = |field: &str, msg: String| {
        fail(
            FB_ERR_INVALID_CONFIG,
            format!("{func}: {arg}.{field}: {msg}"),
        )
    };
    let expected = std::mem::size_of::<fb_config>() as u32;
    if c.size != expected {
        return Err(bad(
            "size",
            format!(
                "is {}, expected {expected}: fill the config with fb_config_default first",
                c.size
            ),
        ));
    }
    let window = match c.window_type {
        FB_WINDOW_TIME => WindowConfig::Time {
            duration: Duration::from_nanos(c.window_duration_ns),
            buckets: c.window_buckets,
        },
        FB_WINDOW_COUNT => WindowConfig::Count {
            size: c.window_size,
        },
        other => {
            return Err(bad(
                "window_type",
                format!("{other} (expected FB_WINDOW_TIME or FB_WINDOW_COUNT)"),
            ))
        }
    };
    let cancellation = match c.cancellation {
        FB_CANCEL_RELEASE => Cancellation::Release,
        FB_CANCEL_SLOW_IF_OVERDUE => Cancellation::SlowIfOverdue,
        FB_CANCEL_FAILURE => Cancellation::Failure,
        other => {
            return Err(bad(
                "cancellation",
                format!(
                    "{other} (expected FB_CANCEL_RELEASE, FB_CANCEL_SLOW_IF_OVERDUE \
                     or FB_CANCEL_FAILURE)"
                ),
            ))
        }
    };
    let config = Config {
        failure_rate_threshold: c.failure_rate_threshold,
        consecutive_failures: (c.consecutive_failures != 0).then_some(c.consecutive_failures),
        min_calls: c.min_calls,
        window,
        open_timeout: Duration::from_nanos(c.open_timeout_ns),
        backoff: (c.backoff_multiplier != 0.0).then(|| Backoff {
            multiplier: c.backoff_multiplier,
            max: Duration::from_nanos(c.backoff_max_ns),
        }),
        jitter: c.jitter,
        half_open_max_calls: c.half_open_max_calls,
        success_threshold: c.success_threshold,
        half_open_max_wait: Duration::from_nanos(c.half_open_max_wait_ns),
        slow_call_duration: (c.slow_call_duration_ns != 0)
            .then(|| Duration::from_nanos(c.slow_call_duration_ns)),
        slow_call_rate_threshold: c.slow_call_rate_threshold,
        max_open_for: Duration::from_nanos(c.max_open_for_ns),
        cancellation,
    };
    // Durations are quoted in ns, the unit of the `*_ns` fields.
    config
        .validate_in(Unit::Nanos)
        .map_err(|e| config_error(func, arg, &e))?;
    Ok(config)
}

/// `FB_ERR_INVALID_CONFIG`, with the core's message naming the C field:
/// `fb_breaker_new: config.open_timeout_ns: invalid open_timeout_ns: 0
/// (expected …)`.
pub(crate) fn config_error(func: &str, arg: &str, e: &ConfigError) -> fb_status {
    let field = c_field(e.field);
    fail(
        FB_ERR_INVALID_CONFIG,
        format!("{func}: {arg}.{field}: {}", e.render(field)),
    )
}

/// Fill `config` with the defaults (see `docs/semantics.md#defaults`:
/// failure rate 0.5, 5 consecutive failures, 10 calls minimum, a 10 s
/// window in 10 buckets, open for 30 s, 3 half-open probes, 3 successes to
/// close, a 60 s half-open wait, no back-off, no jitter, no slow-call
/// detection, `fb_breaker_open_for` capped at 300 s, a cancelled call slow
/// only if overdue).
///
/// # Safety
/// `config` is NULL or points to writable memory for an `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_config_default(config: *mut fb_config) -> fb_status {
    guard("fb_config_default", || {
        let value = config_to_c(&Config::default());
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_config_default", "config", config, value) }
    })
}

/// Check `config` without making anything: `FB_OK`, or
/// `FB_ERR_INVALID_CONFIG` naming the first bad field.
///
/// # Safety
/// `config` is NULL or points to a readable `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_config_validate(config: *const fb_config) -> fb_status {
    guard("fb_config_validate", || {
        // SAFETY: forwarded from our caller's contract.
        unsafe { config_arg("fb_config_validate", "config", config) }?;
        Ok(FB_OK)
    })
}
