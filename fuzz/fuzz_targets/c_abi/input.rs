//! The input grammar: what `arbitrary` decodes the fuzzer's bytes into (a
//! `Vec<Call>`), and the plain values its arguments stand for. The order of
//! variants and fields is the decoding: keep it, or the corpus loses its
//! meaning.

use crate::ffi::bulkhead::fb_bulkhead_config;
use crate::ffi::fb_config;
use arbitrary::Arbitrary;

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum F {
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
    pub fn get(self) -> f64 {
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
pub enum N {
    Any(u64),
    Ns(u16),
    Ms(u16),
    Secs(u32),
}

impl N {
    pub fn get(self) -> u64 {
        match self {
            N::Any(v) => v,
            N::Ns(v) => u64::from(v),
            N::Ms(v) => u64::from(v) * 1_000_000,
            N::Secs(v) => u64::from(v) * 1_000_000_000,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Edit {
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
pub enum CfgArg {
    Null,
    /// `fb_config_default`, then edits.
    Edited(Vec<Edit>),
    /// Never initialised: every byte arbitrary.
    Raw([u8; std::mem::size_of::<fb_config>()]),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum NameArg {
    Null,
    Pool(u8),
    Bytes(Vec<u8>),
    Repeat(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Sel {
    Null,
    Idx(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FreeSel {
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
pub enum OutcomeArg {
    Success,
    Failure,
    Ignored,
    Any(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum DurArg {
    Auto,
    Ns(N),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PermitSel {
    Null,
    /// A permit this input holds (live or used), or a zeroed one if none.
    Idx(u8),
    /// A zeroed permit never filled by the library.
    Zeroed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BEdit {
    Size(u32),
    MaxConcurrent(u32),
    MaxWait(N),
    Algorithm(u32),
    MinLimit(u32),
    InitialLimit(u32),
    MaxLimit(u32),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum BCfgArg {
    Null,
    /// `fb_bulkhead_config_default`, then edits.
    Edited(Vec<BEdit>),
    /// Never initialised.
    Raw([u8; std::mem::size_of::<fb_bulkhead_config>()]),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Call {
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
