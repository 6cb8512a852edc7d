//! Breakers (`fb_breaker_*`): making and freeing them, asking to make a
//! call (`fb_breaker_acquire`, the hot path), state, metrics and the manual
//! controls. The permit a breaker hands out is in [`super::permit`].

use super::args::{name_arg, not_null, put};
use super::clock::{clock_source, fb_clock};
use super::config::{config_arg, config_error, fb_config};
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::histogram::{fb_latency_histogram, histogram_arc};
use super::panic::{guard, FfiResult};
use super::permit::fb_permit;
use super::registry::registry_error;
use fusebox_core::{bindings, Breaker, Phase, RejectReason, Rejected, State};
use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A circuit breaker (opaque). Made by `fb_breaker_new*` or handed out by
/// a keyed set (`fb_keyed_get*`, `fb_keyed_remove`), both freed with
/// `fb_breaker_free`, or handed out by a registry (owned by the registry:
/// never freed by the caller). Thread-safe: share one handle between any
/// number of threads.
pub struct fb_breaker {
    _opaque: [u8; 0],
}

/// Breakers owned by a registry are handed out with this bit set in the
/// pointer (a `Breaker` is at least 8-byte aligned, so the bit is free).
/// `fb_breaker_free` sees it and refuses without dereferencing.
pub(crate) const REGISTRY_TAG: usize = 1;

/// Breakers handed out by a keyed set are handed out with this bit set:
/// each such handle is one `Arc<Breaker>` reference, released by
/// `fb_breaker_free` (see [`super::keyed`]).
pub(crate) const KEYED_TAG: usize = 2;

// Both tag bits must be free in a breaker's address.
const _: () = assert!(std::mem::align_of::<Breaker>() > (REGISTRY_TAG | KEYED_TAG));

// SAFETY: a live breaker handle is a `Box<Breaker>` from `fb_breaker_new*`
// not yet freed, a pointer tagged with `REGISTRY_TAG` to a breaker its
// registry keeps alive, or a pointer tagged with `KEYED_TAG` to a breaker
// kept alive by the `Arc` reference the handle holds; `target` strips the
// tags.
unsafe impl Handle for fb_breaker {
    type Target = Breaker;
    const ARG: &'static str = "breaker";
    const KIND: Kind = Kind::Breaker;

    #[inline(always)]
    fn target(h: *const fb_breaker) -> *const Breaker {
        (h as usize & !(REGISTRY_TAG | KEYED_TAG)) as *const Breaker
    }
}

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

// The C codes are the core's (`fusebox::bindings`, from which the JS and
// Python layers' codes are generated too): a drift fails the build. (The
// enums keep their literals: cbindgen writes them into the header.)
const _: () = {
    use fusebox_core::bindings::{phase_code, reject_code, state_code};
    assert!(fb_state::FB_STATE_CLOSED as u32 == state_code(State::Closed));
    assert!(fb_state::FB_STATE_OPEN as u32 == state_code(State::Open));
    assert!(fb_state::FB_STATE_HALF_OPEN as u32 == state_code(State::HalfOpen));
    assert!(fb_phase::FB_PHASE_CLOSED as u32 == phase_code(Phase::Closed));
    assert!(fb_phase::FB_PHASE_OPEN as u32 == phase_code(Phase::Open));
    assert!(fb_phase::FB_PHASE_HALF_OPEN as u32 == phase_code(Phase::HalfOpen));
    assert!(fb_phase::FB_PHASE_FORCED_OPEN as u32 == phase_code(Phase::ForcedOpen));
    assert!(fb_phase::FB_PHASE_DISABLED as u32 == phase_code(Phase::Disabled));
    // 0 is "no rejection" in C: the core's code + 1.
    assert!(fb_reject_reason::FB_REJECT_OPEN as u32 == reject_code(RejectReason::Open) + 1);
    assert!(
        fb_reject_reason::FB_REJECT_HALF_OPEN_FULL as u32
            == reject_code(RejectReason::HalfOpenFull) + 1
    );
    assert!(
        fb_reject_reason::FB_REJECT_FORCED_OPEN as u32 == reject_code(RejectReason::ForcedOpen) + 1
    );
};

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

/// # Safety
/// As for `fb_breaker_new_named`.
unsafe fn new_breaker(
    func: &str,
    name: Option<*const c_char>,
    config: *const fb_config,
    clock: *const fb_clock,
    histogram: *const fb_latency_histogram,
    out: *mut *mut fb_breaker,
) -> FfiResult {
    not_null(func, "out", out)?;
    let name = match name {
        // SAFETY: forwarded from our caller's contract.
        Some(p) => unsafe { name_arg(func, "name", p) }?,
        None => "breaker",
    };
    // The registry's rule, for standalone breakers too.
    fusebox_core::registry::check_name(name).map_err(|e| registry_error(func, e))?;
    // SAFETY: forwarded from our caller's contract.
    let config = unsafe { config_arg(func, "config", config) }?;
    // SAFETY: forwarded from our caller's contract.
    let source = unsafe { clock_source(clock) };
    let mut breaker =
        Breaker::named(name, config, source).map_err(|e| config_error(func, "config", &e))?;
    if !histogram.is_null() {
        // SAFETY: non-NULL, and the caller guarantees a live histogram.
        breaker = breaker.with_latency_histogram(unsafe { histogram_arc(histogram) });
    }
    let p = Box::into_raw(Box::new(breaker)) as *mut fb_breaker;
    // SAFETY: checked non-NULL above; the caller guarantees it is writable.
    unsafe { hand_out(out, p) }
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
        new_breaker(
            "fb_breaker_new",
            None,
            config,
            std::ptr::null(),
            std::ptr::null(),
            out,
        )
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
        new_breaker(
            "fb_breaker_new_with_clock",
            None,
            config,
            clock,
            std::ptr::null(),
            out,
        )
    })
}

/// Make a named breaker (the name shows in metrics); `clock` may be NULL
/// for the system clock. A name must be 1..=256 bytes, as in a registry
/// (else `FB_ERR_INVALID_NAME`).
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
        new_breaker(
            "fb_breaker_new_named",
            Some(name),
            config,
            clock,
            std::ptr::null(),
            out,
        )
    })
}

/// As `fb_breaker_new_named`, with every call's latency (admission to
/// outcome, on the breaker's clock) recorded into `histogram` (NULL: none),
/// e.g. for a hedge policy's quantile delay. The breaker keeps its own
/// reference to the histogram. Every admitted call is then timed: the
/// histogram sees calls through `fb_breaker_acquire`'s fast path too.
///
/// ```c
/// fb_config c;
/// fb_latency_histogram *h;
/// fb_breaker *b;
/// fb_config_default(&c);
/// fb_latency_histogram_new(NULL, &h);
/// fb_breaker_new_with_histogram("search", &c, NULL, h, &b);
/// ```
///
/// # Safety
/// As `fb_breaker_new_named`; `histogram` is NULL or a live histogram
/// handle.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_new_with_histogram(
    name: *const c_char,
    config: *const fb_config,
    clock: *const fb_clock,
    histogram: *const fb_latency_histogram,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_breaker_new_with_histogram";
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe {
        new_breaker(F, Some(name), config, clock, histogram, out)
    })
}

/// Free a breaker made by `fb_breaker_new*`, or a handle handed out by a
/// keyed set (`fb_keyed_get*`, `fb_keyed_remove`: each handle is freed
/// once; the breaker itself goes when the set and every handle have let
/// go of it). No permit of it may be used afterwards. A breaker handed out
/// by a registry gets `FB_ERR_NOT_OWNED`; a pointer that is not a live
/// breaker or keyed handle (e.g. freed twice) gets
/// `FB_ERR_INVALID_HANDLE`; neither is dereferenced.
///
/// # Safety
/// `breaker` is any pointer value; it is only dereferenced if it is a live
/// breaker made by `fb_breaker_new*` or a live keyed handle, and then no
/// other thread may be using that handle.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_free(breaker: *mut fb_breaker) -> fb_status {
    if breaker as usize & KEYED_TAG != 0 {
        // SAFETY: forwarded from our caller's contract; dereferences only a
        // handle the keyed table holds.
        return unsafe { super::keyed::free_keyed_handle("fb_breaker_free", breaker) };
    }
    let owned = (breaker as usize & REGISTRY_TAG != 0)
        .then_some("this breaker belongs to a registry and is freed with it");
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live breaker from `new_breaker` (a `Box<Breaker>`).
    unsafe { free("fb_breaker_free", breaker, owned) }
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
    // The closed path, in line and calling nothing: the core's published
    // admission without a call (`fusebox_core::bindings`: the state word
    // read in place, admitted when it admits freely and the breaker's
    // permits are untimed), so that this function needs no stack frame,
    // no saved registers and no panic guard. Everything else (NULL
    // arguments, rejections, timed permits, half-open probes) is the
    // guarded general path, reached by a tail call.
    let b = fb_breaker::target(breaker);
    if !b.is_null() && !permit.is_null() {
        // SAFETY: `b` is non-NULL, and the caller guarantees a non-NULL
        // `breaker` is a live handle, which `target` turns into a valid
        // pointer to its breaker.
        let b = unsafe { &*b };
        if bindings::skips_core(b) {
            // SAFETY: the state word of a live breaker, valid while it
            // lives; read atomically only, as `state_word` requires.
            let word = unsafe { AtomicU64::from_ptr(bindings::state_word(b).cast_mut()) }
                // Acquire, as the core's own read of the word.
                .load(Ordering::Acquire);
            if word & bindings::FREE_MASK == 0 {
                let raw = bindings::permit_from_word(word);
                // SAFETY: checked non-NULL; the caller guarantees writable.
                unsafe {
                    permit.write(fb_permit {
                        breaker,
                        generation: raw.generation,
                        start_ns: raw.start_ns,
                        probe: raw.probe as u8,
                    })
                };
                return FB_OK;
            }
        }
    }
    // SAFETY: forwarded from our caller's contract.
    unsafe { acquire_general(breaker, permit, rejection) }
}

/// `fb_breaker_acquire` when the closed path does not apply (or an
/// argument is NULL): the core's `acquire_raw`, under the panic guard.
///
/// `extern "C"`, as the export: a call between two such functions cannot
/// unwind (a panic escaping one aborts), so the export needs no landing
/// pad and makes this call a tail call (a jump).
///
/// # Safety
/// As for `fb_breaker_acquire`.
#[inline(never)]
unsafe extern "C" fn acquire_general(
    breaker: *const fb_breaker,
    permit: *mut fb_permit,
    rejection: *mut fb_rejection,
) -> fb_status {
    const F: &str = "fb_breaker_acquire";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        not_null(F, "permit", permit)?;
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
                Ok(FB_OK)
            }
            // SAFETY: forwarded from our caller's contract.
            Err(r) => Ok(unsafe { rejected(r, permit, rejection) }),
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
    const F: &str = "fb_breaker_state";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, state_to_c(b.state())) }
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
    const F: &str = "fb_breaker_metrics";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        not_null(F, "out", out)?;
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
        unsafe { put(F, "out", out, value) }
    })
}

/// # Safety
/// `breaker` is NULL or a live breaker handle.
unsafe fn control(func: &'static str, breaker: *const fb_breaker, f: fn(&Breaker)) -> fb_status {
    guard(func, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(func, breaker) }?;
        f(b);
        Ok(FB_OK)
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

/// Open the breaker for `duration_ns` (a server's `Retry-After`), cut to
/// the config's `max_open_for_ns`, then probe as after any open period
/// (see `docs/semantics.md#open-for-a-given-time`). From closed and
/// half-open it opens (the probes in flight go stale); from open it only
/// moves the end of the open period later, never earlier; forced open and
/// disabled are left alone. 0 opens with the period already over: the next
/// call is a probe. `*opened` (if not NULL) says whether the breaker was
/// opened or its open period extended.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `opened` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_open_for(
    breaker: *const fb_breaker,
    duration_ns: u64,
    opened: *mut bool,
) -> fb_status {
    const F: &str = "fb_breaker_open_for";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        let did = b.open_for(Duration::from_nanos(duration_ns));
        if !opened.is_null() {
            // SAFETY: checked non-NULL; the caller guarantees writable.
            unsafe { opened.write(did) };
        }
        Ok(FB_OK)
    })
}
