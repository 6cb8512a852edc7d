//! The C ABI of bindings/c (crate `fusebox-ffi`) under arbitrary call
//! sequences: NULL and valid pointers, arbitrary byte strings as names,
//! arbitrary config values, registry handles (own and global), double
//! frees, frees of the wrong kind of object, of library-owned objects and of
//! arbitrary addresses, used and forged permits.
//!
//! The ABI's source file is compiled into this target as a module (its
//! crate has no rlib, and its staticlib would bring a second copy of std), so
//! the fuzzer sees its coverage and AddressSanitizer instruments it; every
//! call still goes through the `extern "C"` functions.
//!
//! Checked on every call:
//! * the status is one the inputs justify: each problem of the arguments
//!   (a NULL pointer, a name that is not UTF-8, empty or longer than 256
//!   bytes, a config that does not convert and validate, an unknown outcome,
//!   a used permit, a pointer that is not a live object of the right kind,
//!   a library-owned object) allows its error code, and with no problem the
//!   call must succeed (or say `FB_REJECTED` / `FB_ERR_NOT_FOUND` where that
//!   is the right answer); `FB_ERR_PANIC` is never right;
//! * after an error, `fb_last_error()` names the function; after success or
//!   a rejection it is unchanged;
//! * breakers on a manual clock have a shadow `fusebox::Breaker` driven with
//!   the same calls on a shadow clock: admission, rejection, permits and
//!   every metric must match (the binding converts, and nothing else);
//! * registries hand out one handle per name, tagged as library-owned, and
//!   `fb_registry_len` / `fb_registry_get` agree with the names made.
//!
//! Everything made is freed at the end of each input, so LeakSanitizer
//! reports any object the library leaks.
#![no_main]

// The ABI's source calls the engine `fusebox_core`.
extern crate fusebox as fusebox_core;

// rustfmt::skip: the C ABI's files are formatted with their own crate.
#[allow(dead_code, clippy::all)]
#[path = "../../bindings/c/src/lib.rs"]
#[rustfmt::skip]
mod ffi;

use arbitrary::Arbitrary;
use ffi::bulkhead::*;
use ffi::fb_status::{self, *};
use ffi::*;
use fusebox::{Backoff, Breaker, Clock, Config, ManualClock, Outcome, RawPermit, WindowConfig};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::Arc;
use std::time::Duration;

const MAX_CALLS: usize = 256;
const MAX_OBJECTS: usize = 16;

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone, Copy)]
enum F {
    Any(f64),
    Nan,
    Inf,
    NegInf,
    Zero,
    NegZero,
    One,
    Frac(u8),
    Big(u16),
}

impl F {
    fn get(self) -> f64 {
        match self {
            F::Any(v) => v,
            F::Nan => f64::NAN,
            F::Inf => f64::INFINITY,
            F::NegInf => f64::NEG_INFINITY,
            F::Zero => 0.0,
            F::NegZero => -0.0,
            F::One => 1.0,
            F::Frac(n) => f64::from(n) / 255.0,
            F::Big(n) => 1.0 + f64::from(n) / 64.0,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum N {
    Any(u64),
    Ns(u16),
    Ms(u16),
    Secs(u32),
}

impl N {
    fn get(self) -> u64 {
        match self {
            N::Any(v) => v,
            N::Ns(v) => u64::from(v),
            N::Ms(v) => u64::from(v) * 1_000_000,
            N::Secs(v) => u64::from(v) * 1_000_000_000,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Edit {
    Size(u32),
    ConsecutiveFailures(u32),
    FailureRate(F),
    MinCalls(u32),
    WindowType(u32),
    WindowDuration(N),
    WindowBuckets(u32),
    WindowSize(u32),
    OpenTimeout(N),
    BackoffMultiplier(F),
    BackoffMax(N),
    Jitter(F),
    HalfOpenMaxCalls(u32),
    SuccessThreshold(u32),
    HalfOpenMaxWait(N),
    SlowCallDuration(N),
    SlowCallRate(F),
}

#[derive(Arbitrary, Debug, Clone)]
enum CfgArg {
    Null,
    /// `fb_config_default`, then edits.
    Edited(Vec<Edit>),
    /// Never initialised: every byte arbitrary.
    Raw([u8; std::mem::size_of::<fb_config>()]),
}

#[derive(Arbitrary, Debug, Clone)]
enum NameArg {
    Null,
    Pool(u8),
    Bytes(Vec<u8>),
    Repeat(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Sel {
    Null,
    Idx(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FreeSel {
    Null,
    /// A live object of the right kind (or NULL if none).
    Live(u8),
    /// An address freed earlier (double free; may have been reused).
    Freed(u8),
    /// A live object of another kind.
    OtherKind(u8),
    /// A breaker handle from a registry, tagged or with its tag removed.
    RegistryBreaker(u8, bool),
    /// The global registry.
    Global,
    /// Any address at all (never dereferenced unless it is live).
    Garbage(usize),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OutcomeArg {
    Success,
    Failure,
    Ignored,
    Any(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum DurArg {
    Auto,
    Ns(N),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PermitSel {
    Null,
    /// A permit this input holds (live or used), or a zeroed one if none.
    Idx(u8),
    /// A zeroed permit never filled by the library.
    Zeroed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum BEdit {
    Size(u32),
    MaxConcurrent(u32),
    MaxWait(N),
    Algorithm(u32),
    MinLimit(u32),
    InitialLimit(u32),
    MaxLimit(u32),
}

#[derive(Arbitrary, Debug, Clone)]
enum BCfgArg {
    Null,
    /// `fb_bulkhead_config_default`, then edits.
    Edited(Vec<BEdit>),
    /// Never initialised.
    Raw([u8; std::mem::size_of::<ffi::bulkhead::fb_bulkhead_config>()]),
}

#[derive(Arbitrary, Debug, Clone)]
enum Call {
    ConfigDefault(bool),
    ConfigValidate(CfgArg),
    ClockNew(bool),
    ClockAdvance(Sel, N),
    ClockNow(Sel, bool),
    ClockFree(FreeSel),
    BreakerNew(CfgArg, bool),
    BreakerNewWithClock(CfgArg, Sel, bool),
    BreakerNewNamed(NameArg, CfgArg, Sel, bool),
    BreakerFree(FreeSel),
    Acquire(Sel, bool, bool),
    Burst(Sel, u8, OutcomeArg),
    Record(PermitSel, OutcomeArg, DurArg),
    Release(PermitSel),
    /// Change a held permit's plain fields (the header asks callers not to;
    /// the breaker must survive it anyway).
    Forge(u8, Option<u64>, Option<u64>, Option<u8>),
    State(Sel, bool),
    Metrics(Sel, bool),
    ForceOpen(Sel),
    Disable(Sel),
    Reset(Sel),
    RegistryNew(CfgArg, Sel, bool),
    RegistryGlobal(bool),
    RegistryFree(FreeSel),
    RegistrySetDefault(Sel, CfgArg),
    RegistryConfigure(Sel, NameArg, CfgArg),
    RegistryGetOrCreate(Sel, NameArg, bool),
    RegistryGetOrCreateWith(Sel, NameArg, CfgArg, bool),
    RegistryGet(Sel, NameArg, bool),
    RegistryLen(Sel, bool),
    LastError,
    Version,
    StatusName(i32),
    /// Copy a held breaker permit (a C caller may copy the struct and use
    /// both copies: out of contract, must not crash).
    PermitDup(u8),
    BulkheadConfigDefault(bool),
    /// `fb_bulkhead_new`, or `fb_bulkhead_new_with_clock` with a clock.
    BulkheadNew(NameArg, BCfgArg, Option<Sel>, bool),
    BulkheadFree(FreeSel),
    /// Try (or wait, when the bulkhead waits at most 0.1 ms) for a slot.
    BulkheadAcquire(Sel, bool, bool, bool),
    BulkheadRecord(PermitSel, OutcomeArg),
    BulkheadRelease(PermitSel),
    BulkheadPermitDup(u8),
    BulkheadSetLimit(Sel, u32),
    BulkheadMetrics(Sel, bool),
    BulkheadPrometheus(Sel, u16, bool, bool),
}

// ---------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------

/// The core config an `fb_config` stands for, if it is valid: written from
/// the header's documentation of each field, independently of the binding.
fn core_config(c: &fb_config) -> Option<Config> {
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
    };
    config.validate().ok().map(|()| config)
}

fn make_config(arg: &CfgArg) -> Option<fb_config> {
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

/// What a bulkhead config stands for, if valid: (fixed, initial limit,
/// capacity, max wait), from the header's documentation of each field
/// (the adaptive defaults included) and the core's ranges.
fn bulkhead_config(c: &fb_bulkhead_config) -> Option<(bool, u32, u32, u64)> {
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

fn make_bulkhead_config(arg: &BCfgArg) -> Option<fb_bulkhead_config> {
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

fn cfg_ptr(c: &Option<fb_config>) -> *const fb_config {
    c.as_ref().map_or(null(), |c| c as *const fb_config)
}

/// A name argument: the C string (None for NULL) and its bytes.
fn make_name(arg: &NameArg) -> Option<CString> {
    let bytes: Vec<u8> = match arg {
        NameArg::Null => return None,
        NameArg::Pool(n) => format!("svc:{}", n % 6).into_bytes(),
        NameArg::Bytes(b) => b
            .iter()
            .copied()
            .take_while(|&c| c != 0)
            .take(600)
            .collect(),
        NameArg::Repeat(n) => vec![b'a'; usize::from(n % 600)],
    };
    Some(CString::new(bytes).expect("no NUL inside"))
}

fn name_ptr(n: &Option<CString>) -> *const std::ffi::c_char {
    n.as_ref().map_or(null(), |n| n.as_ptr())
}

fn last_error() -> String {
    // SAFETY: fb_last_error never returns NULL; the string lives until the
    // next error on this thread, and is copied at once.
    unsafe { CStr::from_ptr(fb_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// The problems of a set of arguments, and what the call may answer.
struct Expect {
    problems: Vec<fb_status>,
}

impl Expect {
    fn new() -> Self {
        Expect {
            problems: Vec::new(),
        }
    }
    fn null_if(&mut self, is_null: bool) -> &mut Self {
        if is_null {
            self.problems.push(FB_ERR_NULL_POINTER);
        }
        self
    }
    fn add(&mut self, s: fb_status) -> &mut Self {
        self.problems.push(s);
        self
    }
    /// A config argument: NULL or invalid. Returns the core config.
    fn config(&mut self, c: &Option<fb_config>) -> Option<Config> {
        match c {
            None => {
                self.problems.push(FB_ERR_NULL_POINTER);
                None
            }
            Some(c) => {
                let core = core_config(c);
                if core.is_none() {
                    self.problems.push(FB_ERR_INVALID_CONFIG);
                }
                core
            }
        }
    }
    /// A name argument: NULL or not UTF-8; with `registry`, also empty or
    /// longer than 256 bytes. Returns the name.
    fn name(&mut self, n: &Option<CString>, registry: bool) -> Option<String> {
        let Some(n) = n else {
            self.problems.push(FB_ERR_NULL_POINTER);
            return None;
        };
        match n.to_str() {
            Err(_) => {
                self.problems.push(FB_ERR_INVALID_UTF8);
                None
            }
            Ok(s) => {
                if registry && (s.is_empty() || s.len() > 256) {
                    self.problems.push(FB_ERR_INVALID_NAME);
                }
                Some(s.to_string())
            }
        }
    }
    fn clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Call `f` (the ABI function `func`) and check its status against what
/// the arguments allow (`ok` when they have no problem).
fn call(func: &str, e: &Expect, ok: &[fb_status], f: impl FnOnce() -> fb_status) -> fb_status {
    let before = last_error();
    let st = f();
    let allowed: &[fb_status] = if e.clean() { ok } else { &e.problems };
    assert!(
        allowed.contains(&st),
        "{func} returned {st:?}, expected one of {allowed:?} (last error {:?})",
        last_error()
    );
    let after = last_error();
    if st as i32 >= 2 {
        assert!(
            after.starts_with(func) && after[func.len()..].starts_with(':'),
            "{func} returned {st:?} but the last error does not name it: {after:?}"
        );
    } else {
        assert_eq!(
            after, before,
            "{func} returned {st:?} and changed fb_last_error"
        );
    }
    st
}

// ---------------------------------------------------------------------------
// What this input has made
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Owner {
    Caller,
    Registry(usize),
    Global,
}

struct BreakerH {
    handle: *mut fb_breaker,
    owner: Owner,
    shadow: Option<Breaker>,
}

struct ClockH {
    handle: *mut fb_clock,
    shadow: Arc<ManualClock>,
}

struct RegistryH {
    handle: *mut fb_registry,
    global: bool,
    clock: Option<Arc<ManualClock>>,
    default: Config,
    configs: HashMap<String, Config>,
    names: HashMap<String, *mut fb_breaker>,
}

struct PermitH {
    p: fb_permit,
    /// The handle that issued it (as given by the library).
    owner: usize,
    shadow: Option<RawPermit>,
}

struct BulkheadH {
    handle: *mut fb_bulkhead,
    fixed: bool,
    limit: u32,
    capacity: u32,
    max_wait_ns: u64,
    /// A copied permit was given back twice: what follows is not specified.
    tainted: bool,
}

struct BPermitH {
    p: fb_bulkhead_permit,
    owner: usize,
    /// Copies share an id.
    id: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Breaker,
    Clock,
    Registry,
    Bulkhead,
}

#[derive(Default)]
struct World {
    breakers: Vec<BreakerH>,
    clocks: Vec<ClockH>,
    registries: Vec<RegistryH>,
    permits: Vec<PermitH>,
    bulkheads: Vec<BulkheadH>,
    bpermits: Vec<BPermitH>,
    /// Ids of bulkhead permits given back.
    returned: std::collections::HashSet<u64>,
    next_id: u64,
    freed: Vec<usize>,
}

fn pick<T>(v: &[T], s: Sel) -> Option<&T> {
    match s {
        Sel::Null => None,
        Sel::Idx(i) => (!v.is_empty()).then(|| &v[usize::from(i) % v.len()]),
    }
}

fn shadow_for(config: &Config, clock: &Option<Arc<ManualClock>>) -> Option<Breaker> {
    let clock = clock.as_ref()?;
    if config.jitter != 0.0 {
        return None; // random by design
    }
    Some(Breaker::with_clock(config.clone(), clock.clone()).expect("a valid config"))
}

fn outcome_of(o: OutcomeArg) -> (fb_outcome, Option<Outcome>) {
    match o {
        OutcomeArg::Success => (FB_OUTCOME_SUCCESS, Some(Outcome::Success)),
        OutcomeArg::Failure => (FB_OUTCOME_FAILURE, Some(Outcome::Failure)),
        OutcomeArg::Ignored => (FB_OUTCOME_IGNORED, Some(Outcome::Ignored)),
        OutcomeArg::Any(v) => (
            v,
            match v {
                0 => Some(Outcome::Success),
                1 => Some(Outcome::Failure),
                2 => Some(Outcome::Ignored),
                _ => None,
            },
        ),
    }
}

fn compare(h: &BreakerH) {
    let Some(shadow) = &h.shadow else { return };
    let mut m = std::mem::MaybeUninit::<fb_metrics>::uninit();
    // SAFETY: a live breaker handle and a writable out-pointer.
    let st = unsafe { fb_breaker_metrics(h.handle, m.as_mut_ptr()) };
    assert_eq!(st, FB_OK);
    // SAFETY: FB_OK: the struct was written.
    let m = unsafe { m.assume_init() };
    let s = shadow.metrics();
    let got = (
        m.state as u32,
        m.phase as u32,
        m.generation,
        (m.successes, m.failures, m.ignored, m.slow, m.rejected),
        m.state_changes,
        (m.window_calls, m.window_failures, m.window_slow),
    );
    let want = (
        s.state as u32,
        s.phase as u32,
        s.generation,
        (s.successes, s.failures, s.ignored, s.slow, s.rejected),
        s.state_changes,
        (s.window.calls, s.window.failures, s.window.slow),
    );
    assert_eq!(got, want, "C ABI metrics differ from the engine's");
    assert_eq!(m.failure_rate.to_bits(), s.failure_rate.to_bits());
    assert_eq!(m.slow_rate.to_bits(), s.slow_rate.to_bits());
}

impl World {
    fn find_breaker(&mut self, handle: usize) -> Option<&mut BreakerH> {
        self.breakers
            .iter_mut()
            .find(|b| b.handle as usize == handle)
    }

    fn kind_at(&self, addr: usize) -> Option<Kind> {
        if self
            .breakers
            .iter()
            .any(|b| b.owner == Owner::Caller && b.handle as usize == addr)
        {
            Some(Kind::Breaker)
        } else if self.clocks.iter().any(|c| c.handle as usize == addr) {
            Some(Kind::Clock)
        } else if self
            .registries
            .iter()
            .any(|r| !r.global && r.handle as usize == addr)
        {
            Some(Kind::Registry)
        } else if self.bulkheads.iter().any(|b| b.handle as usize == addr) {
            Some(Kind::Bulkhead)
        } else {
            None
        }
    }

    fn global_addr() -> usize {
        let mut g = null_mut();
        // SAFETY: a writable out-pointer.
        assert_eq!(unsafe { fb_registry_global(&mut g) }, FB_OK);
        g as usize
    }

    /// The address a `FreeSel` stands for, for a `*_free` of `kind`.
    fn free_target(&self, sel: FreeSel, kind: Kind) -> usize {
        let own_breakers: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| b.owner == Owner::Caller)
            .map(|b| b.handle as usize)
            .collect();
        let reg_breakers: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| b.owner != Owner::Caller)
            .map(|b| b.handle as usize)
            .collect();
        let clocks: Vec<usize> = self.clocks.iter().map(|c| c.handle as usize).collect();
        let regs: Vec<usize> = self
            .registries
            .iter()
            .filter(|r| !r.global)
            .map(|r| r.handle as usize)
            .collect();
        let bulkheads: Vec<usize> = self.bulkheads.iter().map(|b| b.handle as usize).collect();
        let of = |v: &[usize], i: u8| (!v.is_empty()).then(|| v[usize::from(i) % v.len()]);
        match sel {
            FreeSel::Null => 0,
            FreeSel::Live(i) => match kind {
                Kind::Breaker => of(&own_breakers, i),
                Kind::Clock => of(&clocks, i),
                Kind::Registry => of(&regs, i),
                Kind::Bulkhead => of(&bulkheads, i),
            }
            .unwrap_or(0),
            FreeSel::Freed(i) => of(&self.freed, i).unwrap_or(0),
            FreeSel::OtherKind(i) => {
                let mut other = Vec::new();
                if kind != Kind::Breaker {
                    other.extend(&own_breakers);
                }
                if kind != Kind::Clock {
                    other.extend(&clocks);
                }
                if kind != Kind::Registry {
                    other.extend(&regs);
                }
                if kind != Kind::Bulkhead {
                    other.extend(&bulkheads);
                }
                of(&other, i).unwrap_or(0)
            }
            FreeSel::RegistryBreaker(i, tagged) => of(&reg_breakers, i)
                .map(|a| if tagged { a } else { a & !1 })
                .unwrap_or(0),
            FreeSel::Global => World::global_addr(),
            FreeSel::Garbage(a) => a,
        }
    }

    /// What a `*_free` of `kind` at `addr` must answer.
    fn free_expect(&self, addr: usize, kind: Kind) -> fb_status {
        let registry_owned = kind == Kind::Breaker && addr & 1 == 1;
        let global = kind == Kind::Registry && addr == World::global_addr();
        if addr == 0 {
            FB_ERR_NULL_POINTER
        } else if registry_owned || global {
            FB_ERR_NOT_OWNED
        } else if self.kind_at(addr) == Some(kind) {
            FB_OK
        } else {
            FB_ERR_INVALID_HANDLE
        }
    }

    /// Forget breaker handles (and their live permits) that `pred` selects.
    fn drop_breakers(&mut self, pred: impl Fn(&BreakerH) -> bool) {
        let gone: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| pred(b))
            .map(|b| b.handle as usize)
            .collect();
        self.breakers.retain(|b| !pred(b));
        // A used permit (breaker NULL) is never dereferenced: keep it.
        self.permits
            .retain(|p| p.p.breaker.is_null() || !gone.contains(&p.owner));
    }

    fn free(&mut self, kind: Kind, sel: FreeSel) {
        let addr = self.free_target(sel, kind);
        let want = self.free_expect(addr, kind);
        let e = Expect::new();
        if want == FB_OK && kind == Kind::Bulkhead {
            // No permit may be outstanding when a bulkhead is freed.
            self.return_all(addr);
        }
        let (func, st) = match kind {
            // SAFETY (all three): the free functions take any pointer value
            // and dereference it only if it is a live object of their kind.
            Kind::Breaker => (
                "fb_breaker_free",
                call("fb_breaker_free", &e, &[want], || unsafe {
                    fb_breaker_free(addr as *mut fb_breaker)
                }),
            ),
            Kind::Clock => (
                "fb_clock_free",
                call("fb_clock_free", &e, &[want], || unsafe {
                    fb_clock_free(addr as *mut fb_clock)
                }),
            ),
            Kind::Registry => (
                "fb_registry_free",
                call("fb_registry_free", &e, &[want], || unsafe {
                    fb_registry_free(addr as *mut fb_registry)
                }),
            ),
            Kind::Bulkhead => (
                "fb_bulkhead_free",
                call("fb_bulkhead_free", &e, &[want], || unsafe {
                    fb_bulkhead_free(addr as *mut fb_bulkhead)
                }),
            ),
        };
        if st != FB_OK {
            return;
        }
        assert!(addr != 0, "{func}(NULL) returned FB_OK");
        self.freed.push(addr);
        if self.freed.len() > 64 {
            self.freed.remove(0);
        }
        match kind {
            Kind::Breaker => {
                self.drop_breakers(|b| b.owner == Owner::Caller && b.handle as usize == addr)
            }
            Kind::Clock => self.clocks.retain(|c| c.handle as usize != addr),
            Kind::Registry => {
                self.registries.retain(|r| r.handle as usize != addr);
                self.drop_breakers(|b| b.owner == Owner::Registry(addr));
            }
            Kind::Bulkhead => {
                self.bulkheads.retain(|b| b.handle as usize != addr);
                self.bpermits
                    .retain(|p| p.p.bulkhead.is_null() || p.owner != addr);
            }
        }
    }

    // ----- bulkheads -----------------------------------------------------

    /// Calls this input holds in `bulkhead` (copies counted once).
    fn bulkhead_in_flight(&self, bulkhead: usize) -> u32 {
        let mut ids: Vec<u64> = self
            .bpermits
            .iter()
            .filter(|p| {
                p.owner == bulkhead && !p.p.bulkhead.is_null() && !self.returned.contains(&p.id)
            })
            .map(|p| p.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u32
    }

    /// Give back every slot this input holds in `bulkhead`, once each.
    fn return_all(&mut self, bulkhead: usize) {
        let mut seen = std::collections::HashSet::new();
        for i in 0..self.bpermits.len() {
            let p = &self.bpermits[i];
            if p.owner == bulkhead
                && !p.p.bulkhead.is_null()
                && !self.returned.contains(&p.id)
                && seen.insert(p.id)
            {
                self.bulkhead_give_back(PermitSel::Idx(i as u8), None);
            }
        }
    }

    fn bulkhead_stats(h: *const fb_bulkhead) -> fb_bulkhead_stats {
        let mut m = std::mem::MaybeUninit::<fb_bulkhead_stats>::uninit();
        // SAFETY: a live bulkhead; a writable out-pointer.
        assert_eq!(unsafe { fb_bulkhead_metrics(h, m.as_mut_ptr()) }, FB_OK);
        // SAFETY: FB_OK: written.
        unsafe { m.assume_init() }
    }

    fn bulkhead_check(&self, handle: usize) {
        let Some(b) = self.bulkheads.iter().find(|b| b.handle as usize == handle) else {
            return;
        };
        let m = World::bulkhead_stats(b.handle);
        assert!(
            m.peak_in_flight >= m.in_flight,
            "peak below in flight: {m:?}"
        );
        assert!(
            m.limit >= 1 && m.limit <= b.capacity,
            "limit out of range: {m:?}"
        );
        assert_eq!(m.waiting, 0, "nobody waits in a single thread");
        if b.fixed {
            assert_eq!(m.limit, b.limit, "a fixed bulkhead's limit");
        }
        if !b.tainted {
            assert_eq!(
                m.in_flight,
                self.bulkhead_in_flight(handle),
                "bulkhead in flight"
            );
        }
    }

    fn new_bulkhead(&mut self, name: &NameArg, cfg: &BCfgArg, clock: Option<Sel>, null_out: bool) {
        if self.bulkheads.len() >= MAX_OBJECTS {
            return;
        }
        let name = make_name(name);
        let config = make_bulkhead_config(cfg);
        let clock_ptr =
            clock.map(|s| pick(&self.clocks, s).map_or(null(), |c| c.handle as *const fb_clock));
        let mut e = Expect::new();
        e.null_if(null_out);
        if let Some(k) = clock_ptr {
            e.null_if(k.is_null());
        }
        e.name(&name, true);
        let parsed = match &config {
            None => {
                e.add(FB_ERR_NULL_POINTER);
                None
            }
            Some(c) => {
                let p = bulkhead_config(c);
                if p.is_none() {
                    e.add(FB_ERR_INVALID_CONFIG);
                }
                p
            }
        };
        let func = if clock.is_some() {
            "fb_bulkhead_new_with_clock"
        } else {
            "fb_bulkhead_new"
        };
        let mut out = null_mut();
        let outp: *mut *mut fb_bulkhead = if null_out { null_mut() } else { &mut out };
        let np = name_ptr(&name);
        let cp = config
            .as_ref()
            .map_or(null(), |c| c as *const fb_bulkhead_config);
        // SAFETY: NULL or valid name, config, live clock, writable out.
        let st = call(func, &e, &[FB_OK], || unsafe {
            match clock_ptr {
                Some(k) => fb_bulkhead_new_with_clock(np, cp, k, outp),
                None => fb_bulkhead_new(np, cp, outp),
            }
        });
        if st == FB_OK {
            let (fixed, limit, capacity, max_wait_ns) = parsed.expect("FB_OK for a refused config");
            assert!(!out.is_null());
            self.bulkheads.push(BulkheadH {
                handle: out,
                fixed,
                limit,
                capacity,
                max_wait_ns,
                tainted: false,
            });
            let m = World::bulkhead_stats(out);
            assert_eq!(m.limit, limit, "a new bulkhead's limit");
            self.bulkhead_check(out as usize);
        }
    }

    fn bulkhead_acquire(&mut self, sel: Sel, wait: bool, null_permit: bool, null_full: bool) {
        let b = pick(&self.bulkheads, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_bulkhead);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_permit);
        let blocking = wait && b.is_some_and(|b| b.max_wait_ns <= 100_000);
        let func = if blocking {
            "fb_bulkhead_acquire"
        } else {
            "fb_bulkhead_try_acquire"
        };
        let held = self.bulkhead_in_flight(handle as usize);
        // A fixed bulkhead admits exactly while fewer than its limit hold
        // a slot.
        let admit = b.filter(|b| b.fixed && !b.tainted).map(|b| held < b.limit);
        let ok: &[fb_status] = match admit {
            Some(true) => &[FB_OK],
            Some(false) => &[FB_REJECTED],
            None => &[FB_OK, FB_REJECTED],
        };
        let mut p = fb_bulkhead_permit {
            bulkhead: 0x10 as *const fb_bulkhead,
            start_ns: 7,
            in_flight: 7,
            slot: 7,
        };
        let mut full = fb_bulkhead_full {
            limit: 7,
            in_flight: 7,
            waited_ns: 7,
        };
        let pp: *mut fb_bulkhead_permit = if null_permit { null_mut() } else { &mut p };
        let fp: *mut fb_bulkhead_full = if null_full { null_mut() } else { &mut full };
        // SAFETY: NULL or a live bulkhead; NULL or writable outs.
        let st = call(func, &e, ok, || unsafe {
            if blocking {
                fb_bulkhead_acquire(handle, pp, fp)
            } else {
                fb_bulkhead_try_acquire(handle, pp, fp)
            }
        });
        match st {
            FB_OK => {
                assert_eq!(p.bulkhead, handle, "permit's bulkhead");
                if admit.is_some() {
                    assert_eq!(p.in_flight, held + 1, "in flight at admission");
                }
                let id = self.next_id;
                self.next_id += 1;
                self.bpermits.push(BPermitH {
                    p,
                    owner: handle as usize,
                    id,
                });
                if self.bpermits.len() > 64 {
                    let last = self.bpermits.len() - 1;
                    self.bulkhead_give_back(PermitSel::Idx(last as u8), None);
                    self.bpermits.pop();
                }
            }
            FB_REJECTED => {
                assert!(p.bulkhead.is_null(), "a refused permit must be marked used");
                if !null_full {
                    assert!(full.in_flight >= full.limit, "refused with room: {full:?}");
                    if !blocking {
                        assert_eq!(full.waited_ns, 0, "try_acquire never waits");
                    }
                }
                if self.bpermits.len() < 64 {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.bpermits.push(BPermitH {
                        p,
                        owner: handle as usize,
                        id,
                    });
                }
            }
            _ => {}
        }
        self.bulkhead_check(handle as usize);
    }

    /// `fb_bulkhead_permit_record` (with an outcome) or `_release`.
    fn bulkhead_give_back(&mut self, sel: PermitSel, outcome: Option<OutcomeArg>) {
        let mut zeroed = fb_bulkhead_permit {
            bulkhead: null(),
            start_ns: 0,
            in_flight: 0,
            slot: 0,
        };
        let idx = match sel {
            PermitSel::Idx(i) if !self.bpermits.is_empty() => {
                Some(usize::from(i) % self.bpermits.len())
            }
            _ => None,
        };
        let is_null = matches!(sel, PermitSel::Null);
        let before = idx.map(|i| self.bpermits[i].p);
        let pp: *mut fb_bulkhead_permit = match (sel, idx) {
            (PermitSel::Null, _) => null_mut(),
            (_, Some(i)) => &mut self.bpermits[i].p,
            _ => &mut zeroed,
        };
        let mut e = Expect::new();
        e.null_if(is_null);
        if !is_null && before.is_none_or(|p| p.bulkhead.is_null()) {
            e.add(FB_ERR_PERMIT_USED);
        }
        let (func, st) = match outcome {
            Some(o) => {
                let (c_outcome, core) = outcome_of(o);
                if core.is_none() {
                    e.add(FB_ERR_INVALID_ARGUMENT);
                }
                // SAFETY: NULL, a zeroed permit, or one filled by the
                // library whose bulkhead is alive.
                let st = call("fb_bulkhead_permit_record", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_permit_record(pp, c_outcome)
                });
                ("fb_bulkhead_permit_record", st)
            }
            None => {
                // SAFETY: as above.
                let st = call("fb_bulkhead_permit_release", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_permit_release(pp)
                });
                ("fb_bulkhead_permit_release", st)
            }
        };
        let Some(i) = idx else { return };
        let ph = &self.bpermits[i];
        if st != FB_OK {
            let b = before.unwrap();
            assert!(
                ph.p.bulkhead == b.bulkhead
                    && (ph.p.start_ns, ph.p.in_flight, ph.p.slot)
                        == (b.start_ns, b.in_flight, b.slot),
                "{func} failed ({st:?}) but changed the permit"
            );
            return;
        }
        assert!(
            ph.p.bulkhead.is_null(),
            "{func}: the permit is not marked used"
        );
        let (owner, id) = (ph.owner, ph.id);
        if !self.returned.insert(id) {
            // The second copy of one permit: out of contract.
            if let Some(b) = self
                .bulkheads
                .iter_mut()
                .find(|b| b.handle as usize == owner)
            {
                b.tainted = true;
            }
        }
        self.bulkhead_check(owner);
    }

    fn bulkhead_prometheus(&mut self, sel: Sel, cap: u16, null_buf: bool, null_len: bool) {
        let handle = pick(&self.bulkheads, sel).map_or(null(), |b| b.handle as *const fb_bulkhead);
        let cap = usize::from(cap);
        let mut buf = vec![0xAAu8; cap];
        let bp = if null_buf {
            null_mut()
        } else {
            buf.as_mut_ptr() as *mut std::ffi::c_char
        };
        let mut len = usize::MAX;
        let lp: *mut usize = if null_len { null_mut() } else { &mut len };
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_len);
        // The length is known only from the answer: checked below.
        let ok: &[fb_status] = &[FB_OK, FB_ERR_INVALID_ARGUMENT, FB_ERR_NULL_POINTER];
        // SAFETY: NULL or a live bulkhead; `buf` NULL or writable for
        // `cap` bytes; `len` NULL or writable.
        let st = call("fb_bulkhead_prometheus", &e, ok, || unsafe {
            fb_bulkhead_prometheus(handle, bp, cap, lp)
        });
        if !e.clean() {
            return;
        }
        assert_ne!(len, usize::MAX, "*len is set in every case");
        match st {
            FB_OK => {
                assert!(!null_buf && cap > len, "FB_OK with no room");
                assert_eq!(buf[len], 0, "NUL-terminated");
                let text = std::str::from_utf8(&buf[..len]).expect("UTF-8 text");
                assert!(!text.contains('\0'));
                assert!(text.contains("fusebox_bulkhead_in_flight"), "{text}");
            }
            FB_ERR_INVALID_ARGUMENT => {
                assert!(cap < len + 1, "refused a buffer that fits");
                assert!(
                    buf.iter().all(|&b| b == 0xAA),
                    "wrote into a buffer too small"
                );
            }
            _ => assert!(
                null_buf && cap > len,
                "NULL_POINTER for a buffer that was given"
            ),
        }
    }

    fn new_breaker(
        &mut self,
        func: &str,
        name: Option<&NameArg>,
        cfg: &CfgArg,
        clock: Option<Sel>,
        null_out: bool,
    ) {
        let config = make_config(cfg);
        let name = name.map(make_name);
        let clock_h = clock.and_then(|s| pick(&self.clocks, s));
        let clock_ptr = clock_h.map_or(null(), |c| c.handle as *const fb_clock);
        let shadow_clock = clock_h.map(|c| c.shadow.clone());
        let mut e = Expect::new();
        e.null_if(null_out);
        if let Some(n) = &name {
            e.name(n, false);
        }
        let core = e.config(&config);
        let mut out: *mut fb_breaker = null_mut();
        let outp: *mut *mut fb_breaker = if null_out { null_mut() } else { &mut out };
        let cp = cfg_ptr(&config);
        // SAFETY: every pointer is NULL or valid (config, name, live clock,
        // writable out).
        let st = call(func, &e, &[FB_OK], || unsafe {
            match &name {
                Some(n) => fb_breaker_new_named(name_ptr(n), cp, clock_ptr, outp),
                None if clock.is_some() => fb_breaker_new_with_clock(cp, clock_ptr, outp),
                None => fb_breaker_new(cp, outp),
            }
        });
        if st == FB_OK {
            assert!(
                !out.is_null() && out as usize & 1 == 0,
                "{func}: bad handle"
            );
            let config = core.expect("FB_OK for a config the oracle refuses");
            self.breakers.push(BreakerH {
                handle: out,
                owner: Owner::Caller,
                shadow: shadow_for(&config, &shadow_clock),
            });
        }
    }

    fn acquire(&mut self, sel: Sel, null_permit: bool, null_rejection: bool) {
        let b = pick(&self.breakers, sel);
        let handle = b.map_or(null_mut(), |b| b.handle);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_permit);
        let mut p = fb_permit {
            breaker: 0x10 as *const fb_breaker,
            generation: 7,
            start_ns: 7,
            probe: 7,
        };
        let mut r = fb_rejection {
            reason: fb_reject_reason::FB_REJECT_OPEN,
            has_retry_after: true,
            retry_after_ns: 12345,
        };
        let pp: *mut fb_permit = if null_permit { null_mut() } else { &mut p };
        let rp: *mut fb_rejection = if null_rejection { null_mut() } else { &mut r };
        // SAFETY: NULL or a live breaker handle; NULL or writable outs.
        let st = call("fb_breaker_acquire", &e, &[FB_OK, FB_REJECTED], || unsafe {
            fb_breaker_acquire(handle, pp, rp)
        });
        if st != FB_OK && st != FB_REJECTED {
            return;
        }
        let b = b.expect("admission from a NULL breaker");
        let shadow = b.shadow.as_ref().map(|s| s.acquire_raw());
        match st {
            FB_OK => {
                assert_eq!(p.breaker, handle as *const fb_breaker, "permit's breaker");
                assert!(p.probe <= 1);
                let raw = RawPermit {
                    generation: p.generation,
                    start_ns: p.start_ns,
                    probe: p.probe != 0,
                };
                match shadow {
                    Some(Ok(s)) => assert_eq!(raw, s, "permit differs from the engine's"),
                    Some(Err(r)) => panic!("C ABI admitted, the engine rejected: {r:?}"),
                    None => {}
                }
                if self.permits.len() < 64 {
                    self.permits.push(PermitH {
                        p,
                        owner: handle as usize,
                        shadow: shadow.map(|s| s.unwrap()),
                    });
                } else if let Some(s) = shadow {
                    // Keep the shadow in step: give both back.
                    // SAFETY: the permit was just filled by fb_breaker_acquire.
                    assert_eq!(unsafe { fb_permit_release(&mut p) }, FB_OK);
                    b.shadow.as_ref().unwrap().release_raw(s.unwrap());
                } else {
                    // SAFETY: as above.
                    assert_eq!(unsafe { fb_permit_release(&mut p) }, FB_OK);
                }
            }
            _ => {
                assert!(p.breaker.is_null(), "a rejected permit must be marked used");
                if !null_rejection {
                    let reason = r.reason as u32;
                    assert!((1..=3).contains(&reason));
                    if let Some(s) = shadow {
                        let s = s.expect_err("C ABI rejected, the engine admitted");
                        let want_reason = match s.reason {
                            fusebox::RejectReason::Open => 1,
                            fusebox::RejectReason::HalfOpenFull => 2,
                            fusebox::RejectReason::ForcedOpen => 3,
                        };
                        assert_eq!(reason, want_reason, "reject reason");
                        let want = s.retry_after.map(|d| d.as_nanos() as u64);
                        assert_eq!(
                            r.has_retry_after.then_some(r.retry_after_ns),
                            want,
                            "retry_after"
                        );
                        if want.is_none() {
                            assert_eq!(r.retry_after_ns, 0);
                        }
                    }
                } else if let Some(s) = shadow {
                    assert!(s.is_err(), "C ABI rejected, the engine admitted");
                }
                if self.permits.len() < 64 {
                    self.permits.push(PermitH {
                        p,
                        owner: handle as usize,
                        shadow: None,
                    });
                }
            }
        }
    }

    fn record(&mut self, sel: PermitSel, outcome: Option<OutcomeArg>, dur: DurArg) {
        let mut zeroed = fb_permit {
            breaker: null(),
            generation: 0,
            start_ns: 0,
            probe: 0,
        };
        let idx = match sel {
            PermitSel::Idx(i) if !self.permits.is_empty() => {
                Some(usize::from(i) % self.permits.len())
            }
            _ => None,
        };
        let is_null = matches!(sel, PermitSel::Null);
        let before = idx.map(|i| self.permits[i].p);
        let pp: *mut fb_permit = match (sel, idx) {
            (PermitSel::Null, _) => null_mut(),
            (_, Some(i)) => &mut self.permits[i].p,
            _ => &mut zeroed,
        };
        let used = !is_null && before.is_none_or(|p| p.breaker.is_null());
        let mut e = Expect::new();
        e.null_if(is_null);
        if used {
            e.add(FB_ERR_PERMIT_USED);
        }
        let (func, st, core_outcome, d) = match outcome {
            Some(o) => {
                let (c_outcome, core) = outcome_of(o);
                if core.is_none() {
                    e.add(FB_ERR_INVALID_ARGUMENT);
                }
                let d = match dur {
                    DurArg::Auto => FB_DURATION_AUTO,
                    DurArg::Ns(n) => n.get(),
                };
                // SAFETY: NULL, or a permit filled by fb_breaker_acquire
                // whose breaker is alive (permits of freed breakers are
                // dropped), or a zeroed one.
                let st = call("fb_permit_record", &e, &[FB_OK], || unsafe {
                    fb_permit_record(pp, c_outcome, d)
                });
                (
                    "fb_permit_record",
                    st,
                    core,
                    (d != FB_DURATION_AUTO).then_some(d),
                )
            }
            None => {
                // SAFETY: as above.
                let st = call("fb_permit_release", &e, &[FB_OK], || unsafe {
                    fb_permit_release(pp)
                });
                ("fb_permit_release", st, None, None)
            }
        };
        let Some(i) = idx else { return };
        if matches!(sel, PermitSel::Zeroed) {
            return;
        }
        let ph = &mut self.permits[i];
        if st != FB_OK {
            let b = before.unwrap();
            assert!(
                ph.p.breaker == b.breaker
                    && ph.p.generation == b.generation
                    && ph.p.start_ns == b.start_ns
                    && ph.p.probe == b.probe,
                "{func} failed ({st:?}) but changed the permit"
            );
            return;
        }
        assert!(
            ph.p.breaker.is_null(),
            "{func}: the permit is not marked used"
        );
        let (owner, shadow) = (ph.owner, ph.shadow.take());
        if let (Some(raw), Some(b)) = (shadow, self.find_breaker(owner)) {
            if let Some(s) = &b.shadow {
                match core_outcome {
                    Some(o) => s.record_raw(raw, o, d),
                    None => s.release_raw(raw),
                }
            }
        }
    }

    fn registry_op(&mut self, call_: &Call) {
        match call_ {
            Call::RegistryNew(cfg, clock, null_out) => {
                if self.registries.len() >= MAX_OBJECTS {
                    return;
                }
                let config = make_config(cfg);
                let clock_h = pick(&self.clocks, *clock);
                let clock_ptr = clock_h.map_or(null(), |c| c.handle as *const fb_clock);
                let shadow_clock = clock_h.map(|c| c.shadow.clone());
                let mut e = Expect::new();
                e.null_if(*null_out);
                let core = e.config(&config);
                let mut out = null_mut();
                let outp: *mut *mut fb_registry = if *null_out { null_mut() } else { &mut out };
                let cp = cfg_ptr(&config);
                // SAFETY: NULL or valid pointers.
                let st = call("fb_registry_new", &e, &[FB_OK], || unsafe {
                    fb_registry_new(cp, clock_ptr, outp)
                });
                if st == FB_OK {
                    assert!(!out.is_null());
                    self.registries.push(RegistryH {
                        handle: out,
                        global: false,
                        clock: shadow_clock,
                        default: core.unwrap(),
                        configs: HashMap::new(),
                        names: HashMap::new(),
                    });
                }
            }
            Call::RegistryGlobal(null_out) => {
                let mut out = null_mut();
                let outp: *mut *mut fb_registry = if *null_out { null_mut() } else { &mut out };
                let mut e = Expect::new();
                e.null_if(*null_out);
                // SAFETY: NULL or writable.
                let st = call("fb_registry_global", &e, &[FB_OK], || unsafe {
                    fb_registry_global(outp)
                });
                if st == FB_OK && !self.registries.iter().any(|r| r.global) {
                    self.registries.push(RegistryH {
                        handle: out,
                        global: true,
                        clock: None,
                        default: Config::default(),
                        configs: HashMap::new(),
                        names: HashMap::new(),
                    });
                }
            }
            Call::RegistrySetDefault(sel, cfg) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let config = make_config(cfg);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let core = e.config(&config);
                let cp = cfg_ptr(&config);
                // SAFETY: NULL or live registry; NULL or readable config.
                let st = call("fb_registry_set_default", &e, &[FB_OK], || unsafe {
                    fb_registry_set_default(handle, cp)
                });
                if st == FB_OK {
                    let r = self
                        .registries
                        .iter_mut()
                        .find(|r| std::ptr::eq(r.handle, handle));
                    r.unwrap().default = core.unwrap();
                }
            }
            Call::RegistryConfigure(sel, name, cfg)
            | Call::RegistryGetOrCreateWith(sel, name, cfg, _) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let global = r.is_some_and(|r| r.global);
                let name = global_name(global, make_name(name));
                let config = make_config(cfg);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let n = e.name(&name, false);
                let core = e.config(&config);
                let np = name_ptr(&name);
                let cp = cfg_ptr(&config);
                let existing = r.and_then(|r| n.as_ref().and_then(|n| r.names.get(n).copied()));
                if let Call::RegistryGetOrCreateWith(.., null_out) = call_ {
                    if existing.is_none() {
                        // Only a name that must be made is checked for length.
                        if let Some(n) = &n {
                            if n.is_empty() || n.len() > 256 {
                                e.add(FB_ERR_INVALID_NAME);
                            }
                        }
                    }
                    e.null_if(*null_out);
                    let mut out = null_mut();
                    let outp: *mut *mut fb_breaker = if *null_out { null_mut() } else { &mut out };
                    // SAFETY: NULL or valid pointers.
                    let st = call("fb_registry_get_or_create_with", &e, &[FB_OK], || unsafe {
                        fb_registry_get_or_create_with(handle, np, cp, outp)
                    });
                    if st == FB_OK {
                        self.got_breaker(handle, n.unwrap(), out, existing, core);
                    }
                } else {
                    if let Some(n) = &n {
                        if n.is_empty() || n.len() > 256 {
                            e.add(FB_ERR_INVALID_NAME);
                        }
                    }
                    // SAFETY: NULL or valid pointers.
                    let st = call("fb_registry_configure", &e, &[FB_OK], || unsafe {
                        fb_registry_configure(handle, np, cp)
                    });
                    if st == FB_OK {
                        let r = self
                            .registries
                            .iter_mut()
                            .find(|r| std::ptr::eq(r.handle, handle));
                        r.unwrap().configs.insert(n.unwrap(), core.unwrap());
                    }
                }
            }
            Call::RegistryGetOrCreate(sel, name, null_out)
            | Call::RegistryGet(sel, name, null_out) => {
                let create = matches!(call_, Call::RegistryGetOrCreate(..));
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let global = r.is_some_and(|r| r.global);
                let name = if create {
                    global_name(global, make_name(name))
                } else {
                    make_name(name)
                };
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let n = e.name(&name, false);
                e.null_if(*null_out);
                let existing = r.and_then(|r| n.as_ref().and_then(|n| r.names.get(n).copied()));
                let np = name_ptr(&name);
                let mut out = null_mut();
                let outp: *mut *mut fb_breaker = if *null_out { null_mut() } else { &mut out };
                let st = if create {
                    if existing.is_none() {
                        if let Some(n) = &n {
                            if n.is_empty() || n.len() > 256 {
                                e.add(FB_ERR_INVALID_NAME);
                            }
                        }
                    }
                    // SAFETY: NULL or valid pointers.
                    call("fb_registry_get_or_create", &e, &[FB_OK], || unsafe {
                        fb_registry_get_or_create(handle, np, outp)
                    })
                } else {
                    let ok: &[fb_status] = if global {
                        &[FB_OK, FB_ERR_NOT_FOUND]
                    } else if existing.is_some() {
                        &[FB_OK]
                    } else {
                        &[FB_ERR_NOT_FOUND]
                    };
                    // SAFETY: NULL or valid pointers.
                    call("fb_registry_get", &e, ok, || unsafe {
                        fb_registry_get(handle, np, outp)
                    })
                };
                if st == FB_OK {
                    self.got_breaker(handle, n.unwrap(), out, existing, None);
                }
            }
            Call::RegistryLen(sel, null_out) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let want = r.filter(|r| !r.global).map(|r| r.names.len());
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut out = usize::MAX;
                let outp: *mut usize = if *null_out { null_mut() } else { &mut out };
                // SAFETY: NULL or valid pointers.
                let st = call("fb_registry_len", &e, &[FB_OK], || unsafe {
                    fb_registry_len(handle, outp)
                });
                if st == FB_OK {
                    if let Some(want) = want {
                        assert_eq!(out, want, "fb_registry_len");
                    }
                }
            }
            _ => unreachable!(),
        }
    }

    /// A registry handed out `out` for `name`.
    fn got_breaker(
        &mut self,
        registry: *const fb_registry,
        name: String,
        out: *mut fb_breaker,
        existing: Option<*mut fb_breaker>,
        with: Option<Config>,
    ) {
        assert!(
            out as usize & 1 == 1,
            "a registry's breaker handle must be tagged as library-owned"
        );
        if let Some(h) = existing {
            assert_eq!(out, h, "one handle per name");
            return;
        }
        let r = self
            .registries
            .iter_mut()
            .find(|r| std::ptr::eq(r.handle, registry))
            .unwrap();
        if r.global {
            if !self.breakers.iter().any(|b| b.handle == out) {
                self.breakers.push(BreakerH {
                    handle: out,
                    owner: Owner::Global,
                    shadow: None,
                });
            }
            return;
        }
        let config = with
            .or_else(|| r.configs.get(&name).cloned())
            .unwrap_or_else(|| r.default.clone());
        let shadow = shadow_for(&config, &r.clock);
        r.names.insert(name, out);
        let owner = Owner::Registry(r.handle as usize);
        self.breakers.push(BreakerH {
            handle: out,
            owner,
            shadow,
        });
    }

    fn step(&mut self, c: &Call) {
        match c {
            Call::ConfigDefault(null_out) => {
                let mut cfg = std::mem::MaybeUninit::<fb_config>::uninit();
                let p = if *null_out {
                    null_mut()
                } else {
                    cfg.as_mut_ptr()
                };
                let mut e = Expect::new();
                e.null_if(*null_out);
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
            Call::ConfigValidate(cfg) => {
                let config = make_config(cfg);
                let mut e = Expect::new();
                e.config(&config);
                let cp = cfg_ptr(&config);
                // SAFETY: NULL or readable.
                call("fb_config_validate", &e, &[FB_OK], || unsafe {
                    fb_config_validate(cp)
                });
            }
            Call::ClockNew(null_out) => {
                if self.clocks.len() >= MAX_OBJECTS {
                    return;
                }
                let mut out = null_mut();
                let outp: *mut *mut fb_clock = if *null_out { null_mut() } else { &mut out };
                let mut e = Expect::new();
                e.null_if(*null_out);
                // SAFETY: NULL or writable.
                let st = call("fb_clock_manual_new", &e, &[FB_OK], || unsafe {
                    fb_clock_manual_new(outp)
                });
                if st == FB_OK {
                    assert!(!out.is_null());
                    self.clocks.push(ClockH {
                        handle: out,
                        shadow: Arc::new(ManualClock::new()),
                    });
                }
            }
            Call::ClockAdvance(sel, n) => {
                let c = pick(&self.clocks, *sel);
                let handle = c.map_or(null(), |c| c.handle as *const fb_clock);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                // SAFETY: NULL or a live clock.
                let st = call("fb_clock_advance", &e, &[FB_OK], || unsafe {
                    fb_clock_advance(handle, n.get())
                });
                if st == FB_OK {
                    c.unwrap().shadow.advance_ns(n.get());
                }
            }
            Call::ClockNow(sel, null_out) => {
                let c = pick(&self.clocks, *sel);
                let handle = c.map_or(null(), |c| c.handle as *const fb_clock);
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut out = 0u64;
                let outp: *mut u64 = if *null_out { null_mut() } else { &mut out };
                // SAFETY: NULL or a live clock; NULL or writable.
                let st = call("fb_clock_now", &e, &[FB_OK], || unsafe {
                    fb_clock_now(handle, outp)
                });
                if st == FB_OK {
                    assert_eq!(out, c.unwrap().shadow.now_ns(), "fb_clock_now");
                }
            }
            Call::ClockFree(sel) => self.free(Kind::Clock, *sel),
            Call::BreakerNew(cfg, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker("fb_breaker_new", None, cfg, None, *null_out)
                }
            }
            Call::BreakerNewWithClock(cfg, clock, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker(
                        "fb_breaker_new_with_clock",
                        None,
                        cfg,
                        Some(*clock),
                        *null_out,
                    )
                }
            }
            Call::BreakerNewNamed(name, cfg, clock, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker(
                        "fb_breaker_new_named",
                        Some(name),
                        cfg,
                        Some(*clock),
                        *null_out,
                    )
                }
            }
            Call::BreakerFree(sel) => self.free(Kind::Breaker, *sel),
            Call::Acquire(sel, null_permit, null_rejection) => {
                self.acquire(*sel, *null_permit, *null_rejection)
            }
            Call::Burst(sel, n, o) => {
                for _ in 0..=(n % 16) {
                    self.acquire(*sel, false, false);
                    let last = self.permits.len().saturating_sub(1) as u8;
                    self.record(PermitSel::Idx(last), Some(*o), DurArg::Ns(N::Ns(0)));
                }
            }
            Call::Record(sel, o, d) => self.record(*sel, Some(*o), *d),
            Call::Release(sel) => self.record(*sel, None, DurArg::Auto),
            Call::Forge(i, generation, start, probe) => {
                if self.permits.is_empty() {
                    return;
                }
                let n = self.permits.len();
                let ph = &mut self.permits[usize::from(*i) % n];
                if ph.p.breaker.is_null() {
                    return;
                }
                if let Some(g) = generation {
                    ph.p.generation = ph.p.generation.wrapping_add(*g);
                }
                if let Some(s) = start {
                    ph.p.start_ns = *s;
                }
                if let Some(p) = probe {
                    ph.p.probe = *p;
                }
                if let Some(s) = &mut ph.shadow {
                    s.generation = ph.p.generation;
                    s.start_ns = ph.p.start_ns;
                    s.probe = ph.p.probe != 0;
                }
            }
            Call::State(sel, null_out) => {
                let b = pick(&self.breakers, *sel);
                let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut out = fb_state::FB_STATE_CLOSED;
                let outp: *mut fb_state = if *null_out { null_mut() } else { &mut out };
                // SAFETY: NULL or live; NULL or writable.
                let st = call("fb_breaker_state", &e, &[FB_OK], || unsafe {
                    fb_breaker_state(handle, outp)
                });
                if st == FB_OK {
                    if let Some(s) = &b.unwrap().shadow {
                        assert_eq!(out as u32, s.state() as u32, "fb_breaker_state");
                    }
                }
            }
            Call::Metrics(sel, null_out) => {
                let b = pick(&self.breakers, *sel);
                let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut out = std::mem::MaybeUninit::<fb_metrics>::uninit();
                let outp = if *null_out {
                    null_mut()
                } else {
                    out.as_mut_ptr()
                };
                // SAFETY: NULL or live; NULL or writable.
                let st = call("fb_breaker_metrics", &e, &[FB_OK], || unsafe {
                    fb_breaker_metrics(handle, outp)
                });
                if st == FB_OK {
                    // SAFETY: FB_OK: written.
                    let m = unsafe { out.assume_init() };
                    assert!(m.state as u32 <= 2 && m.phase as u32 <= 4);
                    assert!((0.0..=1.0).contains(&m.failure_rate));
                    assert!(m.window_failures <= m.window_calls && m.window_slow <= m.window_calls);
                }
            }
            Call::ForceOpen(sel) | Call::Disable(sel) | Call::Reset(sel) => {
                let b = pick(&self.breakers, *sel);
                let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let (func, f, g): (
                    &str,
                    unsafe extern "C" fn(*const fb_breaker) -> fb_status,
                    fn(&Breaker),
                ) = match c {
                    Call::ForceOpen(_) => (
                        "fb_breaker_force_open",
                        fb_breaker_force_open,
                        Breaker::force_open,
                    ),
                    Call::Disable(_) => {
                        ("fb_breaker_disable", fb_breaker_disable, Breaker::disable)
                    }
                    _ => ("fb_breaker_reset", fb_breaker_reset, Breaker::reset),
                };
                // SAFETY: NULL or a live breaker.
                let st = call(func, &e, &[FB_OK], || unsafe { f(handle) });
                if st == FB_OK {
                    if let Some(s) = &b.unwrap().shadow {
                        g(s);
                    }
                }
            }
            Call::RegistryFree(sel) => self.free(Kind::Registry, *sel),
            Call::RegistryNew(..)
            | Call::RegistryGlobal(..)
            | Call::RegistrySetDefault(..)
            | Call::RegistryConfigure(..)
            | Call::RegistryGetOrCreate(..)
            | Call::RegistryGetOrCreateWith(..)
            | Call::RegistryGet(..)
            | Call::RegistryLen(..) => self.registry_op(c),
            Call::PermitDup(i) => {
                if !self.permits.is_empty() && self.permits.len() < 64 {
                    let n = self.permits.len();
                    let p = &self.permits[usize::from(*i) % n];
                    let copy = PermitH {
                        p: p.p,
                        owner: p.owner,
                        shadow: p.shadow,
                    };
                    self.permits.push(copy);
                }
            }
            Call::BulkheadConfigDefault(null_out) => {
                let mut c = std::mem::MaybeUninit::<fb_bulkhead_config>::uninit();
                let p = if *null_out {
                    null_mut()
                } else {
                    c.as_mut_ptr()
                };
                let mut e = Expect::new();
                e.null_if(*null_out);
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
            Call::BulkheadNew(name, cfg, clock, null_out) => {
                self.new_bulkhead(name, cfg, *clock, *null_out)
            }
            Call::BulkheadFree(sel) => self.free(Kind::Bulkhead, *sel),
            Call::BulkheadAcquire(sel, wait, null_permit, null_full) => {
                self.bulkhead_acquire(*sel, *wait, *null_permit, *null_full)
            }
            Call::BulkheadRecord(sel, o) => self.bulkhead_give_back(*sel, Some(*o)),
            Call::BulkheadRelease(sel) => self.bulkhead_give_back(*sel, None),
            Call::BulkheadPermitDup(i) => {
                if !self.bpermits.is_empty() && self.bpermits.len() < 64 {
                    let n = self.bpermits.len();
                    let p = &self.bpermits[usize::from(*i) % n];
                    let copy = BPermitH {
                        p: p.p,
                        owner: p.owner,
                        id: p.id,
                    };
                    self.bpermits.push(copy);
                }
            }
            Call::BulkheadSetLimit(sel, limit) => {
                let b = pick(&self.bulkheads, *sel);
                let handle = b.map_or(null(), |b| b.handle as *const fb_bulkhead);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                if b.is_some_and(|b| *limit == 0 || *limit > b.capacity) {
                    e.add(FB_ERR_INVALID_ARGUMENT);
                }
                // SAFETY: NULL or a live bulkhead.
                let st = call("fb_bulkhead_set_limit", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_set_limit(handle, *limit)
                });
                if st == FB_OK {
                    let b = self
                        .bulkheads
                        .iter_mut()
                        .find(|b| std::ptr::eq(b.handle, handle))
                        .unwrap();
                    b.limit = *limit;
                    self.bulkhead_check(handle as usize);
                }
            }
            Call::BulkheadMetrics(sel, null_out) => {
                let handle =
                    pick(&self.bulkheads, *sel).map_or(null(), |b| b.handle as *const fb_bulkhead);
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut m = std::mem::MaybeUninit::<fb_bulkhead_stats>::uninit();
                let mp = if *null_out {
                    null_mut()
                } else {
                    m.as_mut_ptr()
                };
                // SAFETY: NULL or a live bulkhead; NULL or writable.
                call("fb_bulkhead_metrics", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_metrics(handle, mp)
                });
                self.bulkhead_check(handle as usize);
            }
            Call::BulkheadPrometheus(sel, cap, null_buf, null_len) => {
                self.bulkhead_prometheus(*sel, *cap, *null_buf, *null_len)
            }
            Call::LastError => {
                let _ = last_error();
            }
            Call::Version => {
                // SAFETY: a static NUL-terminated string.
                let v = unsafe { CStr::from_ptr(fb_version()) };
                assert!(!v.to_bytes().is_empty());
            }
            Call::StatusName(s) => {
                // The codes are 0..=N with N growing as the ABI grows: a
                // known code's predecessor is known, a negative one is not.
                let name = |s: i32| {
                    // SAFETY: a static NUL-terminated string.
                    unsafe { CStr::from_ptr(fb_status_name(s)) }
                        .to_str()
                        .unwrap()
                        .to_string()
                };
                let n = name(*s);
                assert!(n.starts_with("FB_"), "fb_status_name({s}) = {n:?}");
                if *s < 0 {
                    assert_eq!(n, "FB_UNKNOWN_STATUS");
                } else if n != "FB_UNKNOWN_STATUS" && *s > 0 {
                    assert_ne!(
                        name(*s - 1),
                        "FB_UNKNOWN_STATUS",
                        "status {s} known, {} not",
                        s - 1
                    );
                }
                for st in [FB_OK, FB_REJECTED, FB_ERR_NULL_POINTER, FB_ERR_PANIC] {
                    assert_ne!(name(st as i32), "FB_UNKNOWN_STATUS");
                }
            }
        }
        for b in &self.breakers {
            compare(b);
        }
    }

    /// Free everything this input made (LeakSanitizer checks the rest).
    fn teardown(mut self) {
        for b in std::mem::take(&mut self.bulkheads) {
            self.bulkheads.push(BulkheadH { ..b });
            let h = self.bulkheads[0].handle;
            self.return_all(h as usize);
            self.bulkheads.clear();
            // SAFETY: a live bulkhead made by this input, no slot held.
            assert_eq!(unsafe { fb_bulkhead_free(h) }, FB_OK);
        }
        for b in std::mem::take(&mut self.breakers) {
            if b.owner == Owner::Caller {
                // SAFETY: a live breaker made by this input.
                assert_eq!(unsafe { fb_breaker_free(b.handle) }, FB_OK);
            }
        }
        for r in std::mem::take(&mut self.registries) {
            if !r.global {
                // SAFETY: a live registry made by this input.
                assert_eq!(unsafe { fb_registry_free(r.handle) }, FB_OK);
            }
        }
        for c in std::mem::take(&mut self.clocks) {
            // SAFETY: a live clock made by this input.
            assert_eq!(unsafe { fb_clock_free(c.handle) }, FB_OK);
        }
    }
}

/// Names given to the global registry come from a small pool: it lives as
/// long as the process, and arbitrary names would grow it without bound.
fn global_name(global: bool, name: Option<CString>) -> Option<CString> {
    match name {
        Some(n) if global => {
            Some(CString::new(format!("fuzz:g{}", n.as_bytes().len() % 4)).unwrap())
        }
        other => other,
    }
}

fuzz_target!(|calls: Vec<Call>| {
    let mut w = World::default();
    for c in calls.iter().take(MAX_CALLS) {
        w.step(c);
    }
    w.teardown();
});
