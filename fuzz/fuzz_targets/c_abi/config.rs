//! Configs: what an `fb_config` and an `fb_bulkhead_config` stand for
//! (oracles written from the header's documentation of each field,
//! independently of the binding), the configs an input builds, and the
//! calls that only look at a config.

use crate::ffi::bulkhead::*;
use crate::ffi::fb_status::*;
use crate::ffi::*;
use crate::input::{BCfgArg, BEdit, CfgArg, Edit};
use crate::status::{call, Expect};
use fusebox::{Backoff, Config, WindowConfig};
use std::ptr::{null, null_mut};
use std::time::Duration;

/// The core config an `fb_config` stands for, if it is valid: written from
/// the header's documentation of each field, independently of the binding.
pub fn core_config(c: &fb_config) -> Option<Config> {
    if c.size as usize != std::mem::size_of::<fb_config>() {
        return None;
    }
    let window = match c.window_type {
        FB_WINDOW_TIME => WindowConfig::Time {
            duration: Duration::from_nanos(c.window_duration_ns),
            buckets: c.window_buckets,
        },
        FB_WINDOW_COUNT => WindowConfig::Count {
            size: c.window_size,
        },
        _ => return None,
    };
    let ns = Duration::from_nanos;
    let config = Config {
        failure_rate_threshold: c.failure_rate_threshold,
        consecutive_failures: (c.consecutive_failures != 0).then_some(c.consecutive_failures),
        min_calls: c.min_calls,
        window,
        open_timeout: ns(c.open_timeout_ns),
        backoff: (c.backoff_multiplier != 0.0).then(|| Backoff {
            multiplier: c.backoff_multiplier,
            max: ns(c.backoff_max_ns),
        }),
        jitter: c.jitter,
        half_open_max_calls: c.half_open_max_calls,
        success_threshold: c.success_threshold,
        half_open_max_wait: ns(c.half_open_max_wait_ns),
        slow_call_duration: (c.slow_call_duration_ns != 0).then(|| ns(c.slow_call_duration_ns)),
        slow_call_rate_threshold: c.slow_call_rate_threshold,
        ..Config::default()
    };
    config.validate().ok().map(|()| config)
}

pub fn make_config(arg: &CfgArg) -> Option<fb_config> {
    match arg {
        CfgArg::Null => None,
        CfgArg::Raw(bytes) => {
            // SAFETY: fb_config is plain old data (integers and floats):
            // every bit pattern is a value; read_unaligned copes with the
            // byte array's alignment.
            Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const fb_config) })
        }
        CfgArg::Edited(edits) => {
            let mut c = std::mem::MaybeUninit::<fb_config>::uninit();
            // SAFETY: a valid out-pointer to writable memory.
            let st = unsafe { fb_config_default(c.as_mut_ptr()) };
            assert_eq!(st, FB_OK, "fb_config_default");
            // SAFETY: fb_config_default returned FB_OK, so it wrote the struct.
            let mut c = unsafe { c.assume_init() };
            assert!(core_config(&c).is_some(), "defaults do not validate: {c:?}");
            for e in edits.iter().take(24) {
                match *e {
                    Edit::Size(v) => c.size = v,
                    Edit::ConsecutiveFailures(v) => c.consecutive_failures = v,
                    Edit::FailureRate(v) => c.failure_rate_threshold = v.get(),
                    Edit::MinCalls(v) => c.min_calls = v,
                    Edit::WindowType(v) => c.window_type = v % 4,
                    Edit::WindowDuration(v) => c.window_duration_ns = v.get(),
                    Edit::WindowBuckets(v) => c.window_buckets = v,
                    Edit::WindowSize(v) => c.window_size = v,
                    Edit::OpenTimeout(v) => c.open_timeout_ns = v.get(),
                    Edit::BackoffMultiplier(v) => c.backoff_multiplier = v.get(),
                    Edit::BackoffMax(v) => c.backoff_max_ns = v.get(),
                    Edit::Jitter(v) => c.jitter = v.get(),
                    Edit::HalfOpenMaxCalls(v) => c.half_open_max_calls = v,
                    Edit::SuccessThreshold(v) => c.success_threshold = v,
                    Edit::HalfOpenMaxWait(v) => c.half_open_max_wait_ns = v.get(),
                    Edit::SlowCallDuration(v) => c.slow_call_duration_ns = v.get(),
                    Edit::SlowCallRate(v) => c.slow_call_rate_threshold = v.get(),
                }
            }
            Some(c)
        }
    }
}

pub fn cfg_ptr(c: &Option<fb_config>) -> *const fb_config {
    c.as_ref().map_or(null(), |c| c as *const fb_config)
}

/// What a bulkhead config stands for, if valid: (fixed, initial limit,
/// capacity, max wait), from the header's documentation of each field
/// (the adaptive defaults included) and the core's ranges.
pub fn bulkhead_config(c: &fb_bulkhead_config) -> Option<(bool, u32, u32, u64)> {
    const MAX: u32 = 16_777_215;
    if c.size as usize != std::mem::size_of::<fb_bulkhead_config>()
        || c.max_wait_ns > 1_000_000 * 1_000_000_000
    {
        return None;
    }
    let (min, init, max) = match c.limit_algorithm {
        0 => {
            return (1..=MAX).contains(&c.max_concurrent).then_some((
                true,
                c.max_concurrent,
                c.max_concurrent,
                c.max_wait_ns,
            ))
        }
        1 => (1, 10, 200),
        2 => (1, 20, 1000),
        3 => (20, 20, 200),
        _ => return None,
    };
    let or = |v: u32, d: u32| if v == 0 { d } else { v };
    let (min, init, max) = (
        or(c.min_limit, min),
        or(c.initial_limit, init),
        or(c.max_limit, max),
    );
    ((1..=MAX).contains(&min) && (min..=MAX).contains(&max) && (min..=max).contains(&init))
        .then_some((false, init, max, c.max_wait_ns))
}

pub fn make_bulkhead_config(arg: &BCfgArg) -> Option<fb_bulkhead_config> {
    match arg {
        BCfgArg::Null => None,
        // SAFETY: plain old data: every bit pattern is a value.
        BCfgArg::Raw(bytes) => {
            Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const fb_bulkhead_config) })
        }
        BCfgArg::Edited(edits) => {
            let mut c = std::mem::MaybeUninit::<fb_bulkhead_config>::uninit();
            // SAFETY: a writable out-pointer.
            assert_eq!(unsafe { fb_bulkhead_config_default(c.as_mut_ptr()) }, FB_OK);
            // SAFETY: FB_OK: written.
            let mut c = unsafe { c.assume_init() };
            for e in edits.iter().take(16) {
                match *e {
                    BEdit::Size(v) => c.size = v,
                    BEdit::MaxConcurrent(v) => c.max_concurrent = v % 64,
                    BEdit::MaxWait(v) => c.max_wait_ns = v.get(),
                    BEdit::Algorithm(v) => c.limit_algorithm = v % 5,
                    BEdit::MinLimit(v) => c.min_limit = v,
                    BEdit::InitialLimit(v) => c.initial_limit = v,
                    BEdit::MaxLimit(v) => c.max_limit = v,
                }
            }
            Some(c)
        }
    }
}

/// `fb_config_default`: the core's default config.
pub fn config_default(null_out: bool) {
    let mut cfg = std::mem::MaybeUninit::<fb_config>::uninit();
    let p = if null_out {
        null_mut()
    } else {
        cfg.as_mut_ptr()
    };
    let mut e = Expect::new();
    e.null_if(null_out);
    // SAFETY: NULL or writable.
    let st = call("fb_config_default", &e, &[FB_OK], || unsafe {
        fb_config_default(p)
    });
    if st == FB_OK {
        // SAFETY: FB_OK: written.
        let cfg = unsafe { cfg.assume_init() };
        assert_eq!(core_config(&cfg), Some(Config::default()));
    }
}

/// `fb_config_validate`.
pub fn config_validate(cfg: &CfgArg) {
    let config = make_config(cfg);
    let mut e = Expect::new();
    e.config(&config);
    let cp = cfg_ptr(&config);
    // SAFETY: NULL or readable.
    call("fb_config_validate", &e, &[FB_OK], || unsafe {
        fb_config_validate(cp)
    });
}

/// `fb_bulkhead_config_default`: a fixed bulkhead of 25, no wait.
pub fn bulkhead_config_default(null_out: bool) {
    let mut c = std::mem::MaybeUninit::<fb_bulkhead_config>::uninit();
    let p = if null_out { null_mut() } else { c.as_mut_ptr() };
    let mut e = Expect::new();
    e.null_if(null_out);
    // SAFETY: NULL or writable.
    let st = call("fb_bulkhead_config_default", &e, &[FB_OK], || unsafe {
        fb_bulkhead_config_default(p)
    });
    if st == FB_OK {
        // SAFETY: FB_OK: written.
        let c = unsafe { c.assume_init() };
        assert_eq!(bulkhead_config(&c), Some((true, 25, 25, 0)));
    }
}
