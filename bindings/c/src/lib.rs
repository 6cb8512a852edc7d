//! The C ABI of fusebox: `include/fusebox.h` is generated from this file by
//! cbindgen (config in `bindings/c/cbindgen.toml`).
//!
//! This crate is a thin layer: it converts C types to the core's types and
//! the core's errors to status codes; every breaker decision is made by
//! [`fusebox_core::Breaker`].
//!
//! Rules the whole ABI follows:
//!
//! * every fallible function returns an [`fb_status`]; on an error it also
//!   stores a message, read with [`fb_last_error`] (thread-local);
//! * a NULL pointer, a name that is not UTF-8, an out-of-range setting, a
//!   double free or the free of an object the library owns is reported as a
//!   status, never a crash;
//! * every export runs inside `catch_unwind`: no panic crosses the boundary;
//! * the hot path ([`fb_breaker_acquire`], [`fb_permit_record`]) allocates
//!   nothing and takes no lock: a permit is a plain value on the caller's
//!   stack, and handles are plain pointers to the core's breaker.

#![deny(unsafe_op_in_unsafe_fn)]
// The exported names are the C names (`fb_breaker`, `FB_OK`).
#![allow(non_camel_case_types)]

use fusebox_core::{
    Backoff, Breaker, Config, ConfigError, ManualClock, Outcome, Phase, RawPermit, Registry,
    RegistryError, RejectReason, Rejected, State, WindowConfig,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(test)]
mod tests;
// Bulkheads (fb_bulkhead_*).
pub mod bulkhead;
// Shared-memory breakers (fb_shared_*).
#[cfg(unix)]
pub mod shared;

// ---------------------------------------------------------------------------
// Types shared with C
// ---------------------------------------------------------------------------

/// What every fallible function returns. `FB_OK` (0) and `FB_REJECTED` (1)
/// are not errors; every other value is, and `fb_last_error()` then says what
/// went wrong, naming the function and the argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fb_status {
    /// Success.
    FB_OK = 0,
    /// `fb_breaker_acquire` only: the breaker did not admit the call (see
    /// the `fb_rejection` it filled). Not an error: `fb_last_error()` is not
    /// changed.
    FB_REJECTED = 1,
    /// A required pointer argument is NULL.
    FB_ERR_NULL_POINTER = 2,
    /// A name is not valid UTF-8.
    FB_ERR_INVALID_UTF8 = 3,
    /// A setting in an `fb_config` is out of range, or the struct was not
    /// filled by `fb_config_default` first.
    FB_ERR_INVALID_CONFIG = 4,
    /// A name is empty or longer than 256 bytes.
    FB_ERR_INVALID_NAME = 5,
    /// Another argument is out of range (e.g. an unknown outcome).
    FB_ERR_INVALID_ARGUMENT = 6,
    /// The pointer given to a `*_free` function is not a live object made
    /// by this library (freed twice, or never made by it).
    FB_ERR_INVALID_HANDLE = 7,
    /// The object belongs to the library (a breaker owned by a registry,
    /// the global registry) and must not be freed by the caller.
    FB_ERR_NOT_OWNED = 8,
    /// `fb_registry_get`: no breaker has that name.
    FB_ERR_NOT_FOUND = 9,
    /// The permit was already recorded or released, or was not admitted.
    FB_ERR_PERMIT_USED = 10,
    /// An internal error (a Rust panic, caught at the boundary).
    FB_ERR_PANIC = 11,
    /// `fb_shared_*`: the file could not be made, opened or mapped.
    FB_ERR_IO = 12,
    /// `fb_shared_open`: the file is not a fusebox shared registry, or was
    /// made by another layout version, or before the host last booted.
    FB_ERR_BAD_FILE = 13,
    /// `fb_shared_get_or_create`: the breaker exists in the file with
    /// another config.
    FB_ERR_CONFIG_MISMATCH = 14,
    /// `fb_shared_get_or_create`: no free slot or no room left in the file.
    FB_ERR_FULL = 15,
    /// `fb_shared_get_or_create`: another live process has been creating
    /// the same breaker for seconds (stopped?).
    FB_ERR_BUSY = 16,
}
use fb_status::*;

/// A circuit breaker (opaque). Made by `fb_breaker_new*` (freed with
/// `fb_breaker_free`) or handed out by a registry (owned by the registry:
/// never freed by the caller). Thread-safe: share one handle between any
/// number of threads.
pub struct fb_breaker {
    _opaque: [u8; 0],
}

/// A manual clock for tests (opaque): time moves only when
/// `fb_clock_advance` is called. Thread-safe.
pub struct fb_clock {
    _opaque: [u8; 0],
}

/// A set of breakers by name (opaque). Thread-safe.
pub struct fb_registry {
    _opaque: [u8; 0],
}

/// How a call ended: one of `FB_OUTCOME_*`.
pub type fb_outcome = u32;
/// The call succeeded (slow if it took longer than `slow_call_duration_ns`).
pub const FB_OUTCOME_SUCCESS: fb_outcome = 0;
/// The call failed (connection error, timeout, 5xx...).
pub const FB_OUTCOME_FAILURE: fb_outcome = 1;
/// The call says nothing about the dependency (e.g. a 4xx): not counted in
/// any rate.
pub const FB_OUTCOME_IGNORED: fb_outcome = 2;

/// `duration_ns` for `fb_permit_record`: let the breaker measure the call on
/// its own clock, from `fb_breaker_acquire` to `fb_permit_record`.
pub const FB_DURATION_AUTO: u64 = u64::MAX;

/// `fb_config.window_type`: a sliding time window of `window_duration_ns`
/// in `window_buckets` buckets.
pub const FB_WINDOW_TIME: u32 = 0;
/// `fb_config.window_type`: a count window of the last `window_size` calls.
pub const FB_WINDOW_COUNT: u32 = 1;

/// The state callers see.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fb_state {
    /// Calls pass; outcomes are counted.
    FB_STATE_CLOSED = 0,
    /// Calls are rejected.
    FB_STATE_OPEN = 1,
    /// A few probe calls are let through.
    FB_STATE_HALF_OPEN = 2,
}

/// The state plus the manual overrides.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fb_phase {
    /// Closed.
    FB_PHASE_CLOSED = 0,
    /// Open until its deadline.
    FB_PHASE_OPEN = 1,
    /// Probing.
    FB_PHASE_HALF_OPEN = 2,
    /// Forced open by `fb_breaker_force_open` (state: open).
    FB_PHASE_FORCED_OPEN = 3,
    /// Disabled by `fb_breaker_disable` (state: closed, never trips).
    FB_PHASE_DISABLED = 4,
}

/// Why a call was rejected.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fb_reject_reason {
    /// The breaker is open.
    FB_REJECT_OPEN = 1,
    /// Half-open, and every probe slot is taken.
    FB_REJECT_HALF_OPEN_FULL = 2,
    /// Forced open (until `fb_breaker_reset`).
    FB_REJECT_FORCED_OPEN = 3,
}

/// Filled by `fb_breaker_acquire` when it returns `FB_REJECTED`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_rejection {
    /// Why.
    pub reason: fb_reject_reason,
    /// Whether `retry_after_ns` is known (it is not while half-open probes
    /// are in flight, nor when forced open).
    pub has_retry_after: bool,
    /// When a retry may be admitted: the rest of the open period, in ns.
    pub retry_after_ns: u64,
}

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
}

/// A breaker's counters at one moment (`fb_breaker_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fb_metrics {
    /// State.
    pub state: fb_state,
    /// Phase (state plus manual overrides).
    pub phase: fb_phase,
    /// Generation (bumped by every transition).
    pub generation: u64,
    /// Successful calls, all time.
    pub successes: u64,
    /// Failed calls, all time.
    pub failures: u64,
    /// Ignored calls, all time.
    pub ignored: u64,
    /// Slow calls (successes and failures), all time.
    pub slow: u64,
    /// Rejected calls, all time.
    pub rejected: u64,
    /// State changes, all time.
    pub state_changes: u64,
    /// Failure rate in the current window.
    pub failure_rate: f64,
    /// Slow-call rate in the current window.
    pub slow_rate: f64,
    /// Calls (successes and failures) in the current window.
    pub window_calls: u64,
    /// Failures in the current window.
    pub window_failures: u64,
    /// Slow calls in the current window.
    pub window_slow: u64,
}

// ---------------------------------------------------------------------------
// Errors, panics and handles
// ---------------------------------------------------------------------------

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `msg` as this thread's last error and return `status`.
#[cold]
fn fail(status: fb_status, msg: String) -> fb_status {
    let msg = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread teardown the slot may be gone; the status
    // still says what happened.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = msg);
    status
}

#[cold]
fn null_arg(func: &str, arg: &str) -> fb_status {
    fail(FB_ERR_NULL_POINTER, format!("{func}: {arg} is NULL"))
}

/// Run an export's body, turning a panic into `FB_ERR_PANIC`.
#[inline(always)]
fn guard(func: &'static str, body: impl FnOnce() -> fb_status) -> fb_status {
    // AssertUnwindSafe: the body only touches the core's atomics and values
    // it owns; a panic leaves nothing half-updated that a later call trusts.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
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

/// What a live heap object made by `*_new` is, for the `*_free` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Breaker,
    Clock,
    Registry,
    Bulkhead,
    SharedRegistry,
    SharedClock,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Breaker => "breaker",
            Kind::Clock => "clock",
            Kind::Registry => "registry",
            Kind::Bulkhead => "bulkhead",
            Kind::SharedRegistry => "shared registry",
            Kind::SharedClock => "shared clock",
        }
    }

    /// The function that makes one.
    fn maker(self) -> &'static str {
        match self {
            Kind::Breaker => "fb_breaker_new",
            Kind::Clock => "fb_clock_manual_new",
            Kind::Registry => "fb_registry_new",
            Kind::Bulkhead => "fb_bulkhead_new",
            Kind::SharedRegistry => "fb_shared_open",
            Kind::SharedClock => "fb_shared_clock_open",
        }
    }
}

/// Every object handed to C that the caller must free, by address. Only
/// `*_new` and `*_free` touch it (never the hot path), so a freed or foreign
/// pointer given to a `*_free` function is reported without being
/// dereferenced.
static LIVE: Mutex<BTreeMap<usize, Kind>> = Mutex::new(BTreeMap::new());

fn live() -> std::sync::MutexGuard<'static, BTreeMap<usize, Kind>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Take `addr` out of the live set if it is a live object of `kind`.
fn take_live(func: &str, addr: usize, kind: Kind) -> Result<(), fb_status> {
    let mut live = live();
    match live.get(&addr) {
        Some(k) if *k == kind => {
            live.remove(&addr);
            Ok(())
        }
        Some(k) => Err(fail(
            FB_ERR_INVALID_HANDLE,
            format!(
                "{func}: the pointer is a live {}, not a {} made by {}",
                k.name(),
                kind.name(),
                kind.maker()
            ),
        )),
        None => Err(fail(
            FB_ERR_INVALID_HANDLE,
            format!(
                "{func}: not a live {} made by {} (freed twice?)",
                kind.name(),
                kind.maker()
            ),
        )),
    }
}

/// Breakers owned by a registry are handed out with this bit set in the
/// pointer (a `Breaker` is at least 8-byte aligned, so the bit is free).
/// `fb_breaker_free` sees it and refuses without dereferencing.
const REGISTRY_TAG: usize = 1;

/// The breaker behind a handle, or `None` for NULL.
///
/// # Safety
/// `h` is NULL or a live handle from this library.
#[inline(always)]
unsafe fn breaker_ref<'a>(h: *const fb_breaker) -> Option<&'a Breaker> {
    let p = (h as usize & !REGISTRY_TAG) as *const Breaker;
    // SAFETY: the caller guarantees a non-NULL `h` is a live handle: either
    // a `Box<Breaker>` from `fb_breaker_new*` not yet freed, or a tagged
    // pointer to a breaker its registry keeps alive.
    unsafe { p.as_ref() }
}

/// The manual clock behind a handle, or `None` for NULL.
///
/// # Safety
/// `h` is NULL or a live handle from `fb_clock_manual_new`.
unsafe fn clock_ref<'a>(h: *const fb_clock) -> Option<&'a ManualClock> {
    // SAFETY: a live clock handle is `Arc::into_raw` of an `Arc<ManualClock>`.
    unsafe { (h as *const ManualClock).as_ref() }
}

/// A new reference to the clock behind a live handle.
///
/// # Safety
/// `h` is a live, non-NULL handle from `fb_clock_manual_new`.
unsafe fn clock_arc(h: *const fb_clock) -> Arc<ManualClock> {
    let p = h as *const ManualClock;
    // SAFETY: `p` came from `Arc::into_raw` and that reference is still
    // held (the handle is live), so adding one more is sound.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// The registry behind a handle, or `None` for NULL.
///
/// # Safety
/// `h` is NULL, the global registry, or a live handle from `fb_registry_new`.
unsafe fn registry_ref<'a>(h: *const fb_registry) -> Option<&'a Registry> {
    // SAFETY: a registry handle is `Box::into_raw` of a `Registry`, or
    // `Registry::global()`, which lives for the whole process.
    unsafe { (h as *const Registry).as_ref() }
}

/// A name argument as `&str`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn name_arg<'a>(func: &str, arg: &str, name: *const c_char) -> Result<&'a str, fb_status> {
    if name.is_null() {
        return Err(null_arg(func, arg));
    }
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

/// Write `value` through an out-pointer.
///
/// # Safety
/// `out` is NULL or valid for writes.
unsafe fn put<T>(func: &str, arg: &str, out: *mut T, value: T) -> fb_status {
    if out.is_null() {
        return null_arg(func, arg);
    }
    // SAFETY: non-NULL; the caller guarantees it points to writable memory
    // for a `T`. `write` does not read or drop the old contents.
    unsafe { out.write(value) };
    FB_OK
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

fn config_to_c(c: &Config) -> fb_config {
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
        other => other,
    }
}

/// Convert and validate (the core validates; we only convert).
///
/// # Safety
/// `config` is NULL or points to a readable `fb_config`.
unsafe fn config_arg(func: &str, arg: &str, config: *const fb_config) -> Result<Config, fb_status> {
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
    };
    config
        .validate()
        .map_err(|e| bad(c_field(e.field), e.to_string()))?;
    Ok(config)
}

fn config_error(func: &str, arg: &str, e: &ConfigError) -> fb_status {
    fail(
        FB_ERR_INVALID_CONFIG,
        format!("{func}: {arg}.{}: {e}", c_field(e.field)),
    )
}

/// Fill `config` with the defaults (see `docs/semantics.md#defaults`:
/// failure rate 0.5, 5 consecutive failures, 10 calls minimum, a 10 s
/// window in 10 buckets, open for 30 s, 3 half-open probes, 3 successes to
/// close, a 60 s half-open wait, no back-off, no jitter, no slow-call
/// detection).
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
        match unsafe { config_arg("fb_config_validate", "config", config) } {
            Ok(_) => FB_OK,
            Err(s) => s,
        }
    })
}

// ---------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------

/// Make a manual clock (starting at 1 s) for deterministic tests. Breakers
/// made on it with `fb_breaker_new_with_clock` (or a registry made on it)
/// see time move only through `fb_clock_advance`. Free with `fb_clock_free`
/// (breakers keep their own reference, so the order does not matter).
///
/// # Safety
/// `out` is NULL or points to writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_manual_new(out: *mut *mut fb_clock) -> fb_status {
    guard("fb_clock_manual_new", || {
        if out.is_null() {
            return null_arg("fb_clock_manual_new", "out");
        }
        let p = Arc::into_raw(Arc::new(ManualClock::new())) as *mut fb_clock;
        live().insert(p as usize, Kind::Clock);
        // SAFETY: checked non-NULL above; the caller guarantees it is writable.
        unsafe { out.write(p) };
        FB_OK
    })
}

/// Move the manual clock forward by `ns` nanoseconds (saturating).
///
/// # Safety
/// `clock` is NULL or a live handle from `fb_clock_manual_new`.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_advance(clock: *const fb_clock, ns: u64) -> fb_status {
    guard("fb_clock_advance", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(c) = (unsafe { clock_ref(clock) }) else {
            return null_arg("fb_clock_advance", "clock");
        };
        c.advance_ns(ns);
        FB_OK
    })
}

/// The manual clock's time, in ns.
///
/// # Safety
/// `clock` is NULL or a live clock handle; `out_ns` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_clock_now(clock: *const fb_clock, out_ns: *mut u64) -> fb_status {
    guard("fb_clock_now", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(c) = (unsafe { clock_ref(clock) }) else {
            return null_arg("fb_clock_now", "clock");
        };
        use fusebox_core::Clock;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_clock_now", "out_ns", out_ns, c.now_ns()) }
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
    guard("fb_clock_free", || {
        if clock.is_null() {
            return null_arg("fb_clock_free", "clock");
        }
        if let Err(s) = take_live("fb_clock_free", clock as usize, Kind::Clock) {
            return s;
        }
        // SAFETY: the live set proved this is an `Arc::into_raw` pointer not
        // yet released; it is now out of the set, so this runs once.
        drop(unsafe { Arc::from_raw(clock as *const ManualClock) });
        FB_OK
    })
}

// ---------------------------------------------------------------------------
// Breaker
// ---------------------------------------------------------------------------

/// # Safety
/// As for `fb_breaker_new_named`.
unsafe fn new_breaker(
    func: &str,
    name: Option<*const c_char>,
    config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_breaker,
) -> fb_status {
    if out.is_null() {
        return null_arg(func, "out");
    }
    let name = match name {
        // SAFETY: forwarded from our caller's contract.
        Some(p) => match unsafe { name_arg(func, "name", p) } {
            Ok(n) => n,
            Err(s) => return s,
        },
        None => "breaker",
    };
    // SAFETY: forwarded from our caller's contract.
    let config = match unsafe { config_arg(func, "config", config) } {
        Ok(c) => c,
        Err(s) => return s,
    };
    let source: fusebox_core::ClockSource = if clock.is_null() {
        fusebox_core::ClockSource::Monotonic
    } else {
        // SAFETY: non-NULL, and the caller guarantees a live clock handle.
        unsafe { clock_arc(clock) }.into()
    };
    let breaker = match Breaker::named(name, config, source) {
        Ok(b) => b,
        Err(e) => return config_error(func, "config", &e),
    };
    let p = Box::into_raw(Box::new(breaker)) as *mut fb_breaker;
    live().insert(p as usize, Kind::Breaker);
    // SAFETY: checked non-NULL above; the caller guarantees it is writable.
    unsafe { out.write(p) };
    FB_OK
}

/// Make a breaker on the system clock (`CLOCK_MONOTONIC`) and store it in
/// `*out`. Free it with `fb_breaker_free`.
///
/// # Safety
/// `config` is NULL or a readable `fb_config`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_new(
    config: *const fb_config,
    out: *mut *mut fb_breaker,
) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    guard("fb_breaker_new", || unsafe {
        new_breaker("fb_breaker_new", None, config, std::ptr::null(), out)
    })
}

/// Make a breaker on a manual clock (for tests). `clock` may be NULL for
/// the system clock.
///
/// # Safety
/// `config` is NULL or a readable `fb_config`; `clock` is NULL or a live
/// clock handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_new_with_clock(
    config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_breaker,
) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    guard("fb_breaker_new_with_clock", || unsafe {
        new_breaker("fb_breaker_new_with_clock", None, config, clock, out)
    })
}

/// Make a named breaker (the name shows in metrics); `clock` may be NULL
/// for the system clock.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; otherwise as for
/// `fb_breaker_new_with_clock`.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_new_named(
    name: *const c_char,
    config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_breaker,
) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    guard("fb_breaker_new_named", || unsafe {
        new_breaker("fb_breaker_new_named", Some(name), config, clock, out)
    })
}

/// Free a breaker made by `fb_breaker_new*`. No permit of it may be used
/// afterwards. A breaker handed out by a registry gets `FB_ERR_NOT_OWNED`;
/// a pointer that is not a live breaker (e.g. freed twice) gets
/// `FB_ERR_INVALID_HANDLE`; neither is dereferenced.
///
/// # Safety
/// `breaker` is any pointer value; it is only dereferenced if it is a live
/// breaker made by `fb_breaker_new*`, and then no other thread may be using
/// it.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_free(breaker: *mut fb_breaker) -> fb_status {
    guard("fb_breaker_free", || {
        if breaker.is_null() {
            return null_arg("fb_breaker_free", "breaker");
        }
        if breaker as usize & REGISTRY_TAG != 0 {
            return fail(
                FB_ERR_NOT_OWNED,
                "fb_breaker_free: this breaker belongs to a registry and is freed with it".into(),
            );
        }
        if let Err(s) = take_live("fb_breaker_free", breaker as usize, Kind::Breaker) {
            return s;
        }
        // SAFETY: the live set proved this is a `Box<Breaker>` from
        // `new_breaker` not yet freed; it is now out of the set.
        drop(unsafe { Box::from_raw(breaker as *mut Breaker) });
        FB_OK
    })
}

/// Ask to make a call. `FB_OK`: admitted, `*permit` is filled; report the
/// outcome with `fb_permit_record` (or give it back with
/// `fb_permit_release`). `FB_REJECTED`: fail fast without calling the
/// dependency; `*rejection` (if not NULL) says why and when to retry, and
/// `*permit` is marked used. No allocation, no lock.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `permit` is NULL or
/// writable; `rejection` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_acquire(
    breaker: *const fb_breaker,
    permit: *mut fb_permit,
    rejection: *mut fb_rejection,
) -> fb_status {
    guard("fb_breaker_acquire", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(b) = (unsafe { breaker_ref(breaker) }) else {
            return null_arg("fb_breaker_acquire", "breaker");
        };
        if permit.is_null() {
            return null_arg("fb_breaker_acquire", "permit");
        }
        match b.acquire_raw() {
            Ok(raw) => {
                // SAFETY: checked non-NULL; the caller guarantees writable.
                unsafe {
                    permit.write(fb_permit {
                        breaker,
                        generation: raw.generation,
                        start_ns: raw.start_ns,
                        probe: raw.probe as u8,
                    })
                };
                FB_OK
            }
            // SAFETY: forwarded from our caller's contract.
            Err(r) => unsafe { rejected(r, permit, rejection) },
        }
    })
}

/// The rejection half of `fb_breaker_acquire`, kept out of the hot path.
///
/// # Safety
/// `permit` is writable; `rejection` is NULL or writable.
#[cold]
#[inline(never)]
unsafe fn rejected(r: Rejected, permit: *mut fb_permit, rejection: *mut fb_rejection) -> fb_status {
    // SAFETY: the caller checked `permit` non-NULL; it is writable.
    unsafe {
        permit.write(fb_permit {
            breaker: std::ptr::null(),
            generation: 0,
            start_ns: 0,
            probe: 0,
        })
    };
    if !rejection.is_null() {
        let reason = match r.reason {
            RejectReason::Open => fb_reject_reason::FB_REJECT_OPEN,
            RejectReason::HalfOpenFull => fb_reject_reason::FB_REJECT_HALF_OPEN_FULL,
            RejectReason::ForcedOpen => fb_reject_reason::FB_REJECT_FORCED_OPEN,
        };
        let ns = r
            .retry_after
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        // SAFETY: checked non-NULL; the caller guarantees writable.
        unsafe {
            rejection.write(fb_rejection {
                reason,
                has_retry_after: ns.is_some(),
                retry_after_ns: ns.unwrap_or(0),
            })
        };
    }
    FB_REJECTED
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
    let Some(b) = (unsafe { breaker_ref(p.breaker) }) else {
        return Err(fail(
            FB_ERR_PERMIT_USED,
            format!("{func}: the permit was already recorded or released, or was never admitted"),
        ));
    };
    // Each field read on its own (volatile reads are never merged): the
    // compiler would otherwise read `generation` and `start_ns` as one
    // 16-byte load, which store forwarding cannot serve from the two 8-byte
    // stores `fb_breaker_acquire` just made — a stall on every call that
    // cost more than the rest of the record.
    // SAFETY: `p` is a valid, aligned `fb_permit` (checked non-NULL above).
    let (generation, start_ns, probe) = unsafe {
        (
            std::ptr::addr_of!(p.generation).read_volatile(),
            std::ptr::addr_of!(p.start_ns).read_volatile(),
            std::ptr::addr_of!(p.probe).read_volatile(),
        )
    };
    let raw = RawPermit {
        generation,
        start_ns,
        probe: probe != 0,
    };
    p.breaker = std::ptr::null();
    Ok((b, raw))
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
    guard("fb_permit_record", || {
        let outcome = match outcome {
            FB_OUTCOME_SUCCESS => Outcome::Success,
            FB_OUTCOME_FAILURE => Outcome::Failure,
            FB_OUTCOME_IGNORED => Outcome::Ignored,
            other => {
                return fail(
                    FB_ERR_INVALID_ARGUMENT,
                    format!(
                        "fb_permit_record: outcome {other} is not FB_OUTCOME_SUCCESS, \
                         FB_OUTCOME_FAILURE or FB_OUTCOME_IGNORED"
                    ),
                )
            }
        };
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = match unsafe { take_permit("fb_permit_record", permit) } {
            Ok(v) => v,
            Err(s) => return s,
        };
        let duration = (duration_ns != FB_DURATION_AUTO).then_some(duration_ns);
        b.record_raw(raw, outcome, duration);
        FB_OK
    })
}

/// Give a permit back without an outcome (the call was not made, or was
/// cancelled): nothing is counted, and a half-open probe slot is freed.
///
/// # Safety
/// As for `fb_permit_record`.
#[no_mangle]
pub unsafe extern "C" fn fb_permit_release(permit: *mut fb_permit) -> fb_status {
    guard("fb_permit_release", || {
        // SAFETY: forwarded from our caller's contract.
        let (b, raw) = match unsafe { take_permit("fb_permit_release", permit) } {
            Ok(v) => v,
            Err(s) => return s,
        };
        b.release_raw(raw);
        FB_OK
    })
}

fn state_to_c(s: State) -> fb_state {
    match s {
        State::Closed => fb_state::FB_STATE_CLOSED,
        State::Open => fb_state::FB_STATE_OPEN,
        State::HalfOpen => fb_state::FB_STATE_HALF_OPEN,
    }
}

fn phase_to_c(p: Phase) -> fb_phase {
    match p {
        Phase::Closed => fb_phase::FB_PHASE_CLOSED,
        Phase::Open => fb_phase::FB_PHASE_OPEN,
        Phase::HalfOpen => fb_phase::FB_PHASE_HALF_OPEN,
        Phase::ForcedOpen => fb_phase::FB_PHASE_FORCED_OPEN,
        Phase::Disabled => fb_phase::FB_PHASE_DISABLED,
    }
}

/// The breaker's state.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_state(
    breaker: *const fb_breaker,
    out: *mut fb_state,
) -> fb_status {
    guard("fb_breaker_state", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(b) = (unsafe { breaker_ref(breaker) }) else {
            return null_arg("fb_breaker_state", "breaker");
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_breaker_state", "out", out, state_to_c(b.state())) }
    })
}

/// A snapshot of the breaker's counters.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_metrics(
    breaker: *const fb_breaker,
    out: *mut fb_metrics,
) -> fb_status {
    guard("fb_breaker_metrics", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(b) = (unsafe { breaker_ref(breaker) }) else {
            return null_arg("fb_breaker_metrics", "breaker");
        };
        if out.is_null() {
            return null_arg("fb_breaker_metrics", "out");
        }
        let m = b.metrics();
        let value = fb_metrics {
            state: state_to_c(m.state),
            phase: phase_to_c(m.phase),
            generation: m.generation,
            successes: m.successes,
            failures: m.failures,
            ignored: m.ignored,
            slow: m.slow,
            rejected: m.rejected,
            state_changes: m.state_changes,
            failure_rate: m.failure_rate,
            slow_rate: m.slow_rate,
            window_calls: m.window.calls,
            window_failures: m.window.failures,
            window_slow: m.window.slow,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_breaker_metrics", "out", out, value) }
    })
}

/// # Safety
/// `breaker` is NULL or a live breaker handle.
unsafe fn control(func: &'static str, breaker: *const fb_breaker, f: fn(&Breaker)) -> fb_status {
    guard(func, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(b) = (unsafe { breaker_ref(breaker) }) else {
            return null_arg(func, "breaker");
        };
        f(b);
        FB_OK
    })
}

/// Open the breaker until `fb_breaker_reset` (rejections say
/// `FB_REJECT_FORCED_OPEN`).
///
/// # Safety
/// `breaker` is NULL or a live breaker handle.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_force_open(breaker: *const fb_breaker) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe { control("fb_breaker_force_open", breaker, Breaker::force_open) }
}

/// Admit every call and never trip, until `fb_breaker_reset`.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_disable(breaker: *const fb_breaker) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe { control("fb_breaker_disable", breaker, Breaker::disable) }
}

/// Back to Closed with an empty window (also ends force-open and disable).
///
/// # Safety
/// `breaker` is NULL or a live breaker handle.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_reset(breaker: *const fb_breaker) -> fb_status {
    // SAFETY: forwarded from our caller's contract.
    unsafe { control("fb_breaker_reset", breaker, Breaker::reset) }
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

fn registry_error(func: &str, e: RegistryError) -> fb_status {
    match e {
        RegistryError::BadName(_) => fail(FB_ERR_INVALID_NAME, format!("{func}: name: {e}")),
        RegistryError::Config(c) => config_error(func, "config", &c),
    }
}

/// A handle for a breaker the registry keeps: tagged so that
/// `fb_breaker_free` refuses it.
fn registry_handle(b: &Arc<Breaker>) -> *mut fb_breaker {
    let p = Arc::as_ptr(b) as usize;
    debug_assert_eq!(p & REGISTRY_TAG, 0);
    (p | REGISTRY_TAG) as *mut fb_breaker
}

/// Make a registry whose breakers use `default_config` (unless configured
/// by name with `fb_registry_configure`), all on `clock` (NULL: the system
/// clock). Free it with `fb_registry_free`.
///
/// # Safety
/// `default_config` is NULL or a readable `fb_config`; `clock` is NULL or a
/// live clock handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_new(
    default_config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_registry,
) -> fb_status {
    const F: &str = "fb_registry_new";
    guard(F, || {
        if out.is_null() {
            return null_arg(F, "out");
        }
        // SAFETY: forwarded from our caller's contract.
        let config = match unsafe { config_arg(F, "default_config", default_config) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        let source: fusebox_core::ClockSource = if clock.is_null() {
            fusebox_core::ClockSource::Monotonic
        } else {
            // SAFETY: non-NULL, and the caller guarantees a live clock handle.
            unsafe { clock_arc(clock) }.into()
        };
        let p = Box::into_raw(Box::new(Registry::new(config, source))) as *mut fb_registry;
        live().insert(p as usize, Kind::Registry);
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { out.write(p) };
        FB_OK
    })
}

/// The process-wide registry (system clock, default config). It lives until
/// the process ends: `fb_registry_free` refuses it with `FB_ERR_NOT_OWNED`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_global(out: *mut *mut fb_registry) -> fb_status {
    guard("fb_registry_global", || {
        let p = Registry::global() as *const Registry as *mut fb_registry;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_registry_global", "out", out, p) }
    })
}

/// Free a registry made by `fb_registry_new`, and every breaker in it:
/// their handles must not be used afterwards. The global registry gets
/// `FB_ERR_NOT_OWNED`; a pointer that is not a live registry (e.g. freed
/// twice) gets `FB_ERR_INVALID_HANDLE`; neither is dereferenced.
///
/// # Safety
/// `registry` is any pointer value; it is only dereferenced if it is a live
/// registry made by `fb_registry_new`, and then no other thread may be
/// using it or its breakers.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_free(registry: *mut fb_registry) -> fb_status {
    const F: &str = "fb_registry_free";
    guard(F, || {
        if registry.is_null() {
            return null_arg(F, "registry");
        }
        if std::ptr::eq(registry as *const Registry, Registry::global()) {
            return fail(
                FB_ERR_NOT_OWNED,
                format!("{F}: the global registry lives as long as the process"),
            );
        }
        if let Err(s) = take_live(F, registry as usize, Kind::Registry) {
            return s;
        }
        // SAFETY: the live set proved this is a `Box<Registry>` from
        // `fb_registry_new` not yet freed; it is now out of the set.
        drop(unsafe { Box::from_raw(registry as *mut Registry) });
        FB_OK
    })
}

/// Set the config used for names not configured one by one. Breakers
/// already made keep theirs.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `config` is NULL or a
/// readable `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_set_default(
    registry: *const fb_registry,
    config: *const fb_config,
) -> fb_status {
    const F: &str = "fb_registry_set_default";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg(F, "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        let config = match unsafe { config_arg(F, "config", config) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        match r.set_default(config) {
            Ok(()) => FB_OK,
            Err(e) => registry_error(F, e),
        }
    })
}

/// Set the config of the breaker called `name`, used when it is made.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `name` is NULL or a
/// NUL-terminated string; `config` is NULL or a readable `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_configure(
    registry: *const fb_registry,
    name: *const c_char,
    config: *const fb_config,
) -> fb_status {
    const F: &str = "fb_registry_configure";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg(F, "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        let name = match unsafe { name_arg(F, "name", name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        // SAFETY: forwarded from our caller's contract.
        let config = match unsafe { config_arg(F, "config", config) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        match r.configure(name, config) {
            Ok(()) => FB_OK,
            Err(e) => registry_error(F, e),
        }
    })
}

/// The breaker called `name` (e.g. `"user-service:getUser"`), made on first
/// use. The handle stays valid as long as the registry; it belongs to the
/// registry (`fb_breaker_free` refuses it). Lock-free once the breaker
/// exists.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `name` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get_or_create(
    registry: *const fb_registry,
    name: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get_or_create";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg(F, "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        let name = match unsafe { name_arg(F, "name", name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        if out.is_null() {
            return null_arg(F, "out");
        }
        match r.get_or_create(name) {
            // SAFETY: forwarded from our caller's contract.
            Ok(b) => unsafe { put(F, "out", out, registry_handle(&b)) },
            Err(e) => registry_error(F, e),
        }
    })
}

/// As `fb_registry_get_or_create`, making the breaker with `config` if it
/// does not exist yet (an existing breaker keeps its own config).
///
/// # Safety
/// As for `fb_registry_get_or_create`; `config` is NULL or a readable
/// `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get_or_create_with(
    registry: *const fb_registry,
    name: *const c_char,
    config: *const fb_config,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get_or_create_with";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg(F, "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        let name = match unsafe { name_arg(F, "name", name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        // SAFETY: forwarded from our caller's contract.
        let config = match unsafe { config_arg(F, "config", config) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        if out.is_null() {
            return null_arg(F, "out");
        }
        match r.get_or_create_with(name, config) {
            // SAFETY: forwarded from our caller's contract.
            Ok(b) => unsafe { put(F, "out", out, registry_handle(&b)) },
            Err(e) => registry_error(F, e),
        }
    })
}

/// The breaker called `name` if it exists, else `FB_ERR_NOT_FOUND`.
/// Lock-free.
///
/// # Safety
/// As for `fb_registry_get_or_create`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get(
    registry: *const fb_registry,
    name: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg(F, "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        let name = match unsafe { name_arg(F, "name", name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        if out.is_null() {
            return null_arg(F, "out");
        }
        match r.get(name) {
            // SAFETY: forwarded from our caller's contract.
            Some(b) => unsafe { put(F, "out", out, registry_handle(&b)) },
            None => fail(FB_ERR_NOT_FOUND, format!("{F}: no breaker named {name:?}")),
        }
    })
}

/// The number of breakers in the registry.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_len(
    registry: *const fb_registry,
    out: *mut usize,
) -> fb_status {
    guard("fb_registry_len", || {
        // SAFETY: forwarded from our caller's contract.
        let Some(r) = (unsafe { registry_ref(registry) }) else {
            return null_arg("fb_registry_len", "registry");
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put("fb_registry_len", "out", out, r.len()) }
    })
}

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

/// The message of the last error on the calling thread (each thread has
/// its own): it names the function, the argument and what was wrong. Set
/// by every function that returns an error status, left unchanged by the
/// others (like `errno`). Never NULL (an empty string before any error);
/// valid until the next error on this thread. One of the three functions
/// that cannot fail and so return no status.
#[no_mangle]
pub extern "C" fn fb_last_error() -> *const c_char {
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|e| e.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    })
    .unwrap_or(c"".as_ptr())
}

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version, e.g. `"0.1.0"` (a static string).
#[no_mangle]
pub extern "C" fn fb_version() -> *const c_char {
    // catch_unwind like every export, though nothing here can panic.
    catch_unwind(|| VERSION.as_ptr() as *const c_char).unwrap_or(c"".as_ptr())
}

/// The name of a status code, e.g. `"FB_ERR_NULL_POINTER"` (a static
/// string; `"FB_UNKNOWN_STATUS"` for a value that is not a status).
#[no_mangle]
pub extern "C" fn fb_status_name(status: i32) -> *const c_char {
    catch_unwind(|| status_name(status).as_ptr()).unwrap_or(c"".as_ptr())
}

fn status_name(status: i32) -> &'static CStr {
    match status {
        0 => c"FB_OK",
        1 => c"FB_REJECTED",
        2 => c"FB_ERR_NULL_POINTER",
        3 => c"FB_ERR_INVALID_UTF8",
        4 => c"FB_ERR_INVALID_CONFIG",
        5 => c"FB_ERR_INVALID_NAME",
        6 => c"FB_ERR_INVALID_ARGUMENT",
        7 => c"FB_ERR_INVALID_HANDLE",
        8 => c"FB_ERR_NOT_OWNED",
        9 => c"FB_ERR_NOT_FOUND",
        10 => c"FB_ERR_PERMIT_USED",
        11 => c"FB_ERR_PANIC",
        12 => c"FB_ERR_IO",
        13 => c"FB_ERR_BAD_FILE",
        14 => c"FB_ERR_CONFIG_MISMATCH",
        15 => c"FB_ERR_FULL",
        16 => c"FB_ERR_BUSY",
        _ => c"FB_UNKNOWN_STATUS",
    }
}
