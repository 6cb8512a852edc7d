//! Node.js bindings for fusebox, a lock-free circuit breaker.
//!
//! This crate converts types and errors; every decision is the core's. It is
//! used through the JS layer in `index.js`, which gives it a Node shape
//! (EventEmitter, promises, Error subclasses with a `code`). The hot path is
//! in [`hot`] (raw Node-API); everything else uses napi-rs's glue.

#![deny(clippy::undocumented_unsafe_blocks)]

// The admin endpoint (fusebox/admin).
pub mod admin;
pub mod bulkhead;
mod hot;
// Keyed breakers (KeyedBreakers).
pub mod keyed;
mod layout;
// Retry budgets and policies (RetryBudget, RetryPolicy).
pub mod retry;
// Hedge policies (hedge.js).
pub mod hedge;
// Latency histograms (histogram.js).
pub mod histogram;
// Shared-memory breakers (SharedRegistry).
#[cfg(unix)]
pub mod shared;

use fusebox::config::{duration_in, number};
use fusebox::fallback::LimitedFallback;
use fusebox::limiter::RateLimiter;
use fusebox::{
    Backoff, Breaker, CallError, ClockSource, Config, ConfigError, Registry, RegistryError,
    Transition, Unit, WindowConfig,
};
use napi::bindgen_prelude::{ClassInstance, Either, Object};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use layout::{word_layout, WordLayout};

// ----- options -----------------------------------------------------------

/// Breaker options as the JS layer passes them: types already checked
/// (numbers are numbers), ranges not.
#[napi(object)]
#[derive(Default)]
pub struct NativeOptions {
    /// The breaker's name.
    pub name: Option<String>,
    /// Failure ratio in (0, 1] that trips.
    pub failure_rate_threshold: Option<f64>,
    /// Failures in a row that trip.
    pub consecutive_failures: Option<f64>,
    /// `consecutiveFailures: null` turns that detector off.
    pub consecutive_failures_off: Option<bool>,
    /// Calls needed before the rate is judged.
    pub min_calls: Option<f64>,
    /// Time-window length in ms.
    pub window_ms: Option<f64>,
    /// Time-window buckets.
    pub window_buckets: Option<f64>,
    /// A count window of the last N calls instead of a time window.
    pub count_window: Option<f64>,
    /// How long Open lasts, ms.
    pub open_timeout_ms: Option<f64>,
    /// Back-off multiplier of the open timeout.
    pub backoff_multiplier: Option<f64>,
    /// Cap of the backed-off open timeout, ms.
    pub backoff_max_ms: Option<f64>,
    /// Random extra open time, as a fraction of the open timeout.
    pub jitter: Option<f64>,
    /// Probes admitted in Half-Open.
    pub half_open_max_calls: Option<f64>,
    /// Probe successes that close.
    pub success_threshold: Option<f64>,
    /// Longest wait for probes in Half-Open, ms.
    pub half_open_max_wait_ms: Option<f64>,
    /// Duration above which a call is slow, ms.
    pub slow_call_ms: Option<f64>,
    /// Slow-call ratio that trips.
    pub slow_call_rate_threshold: Option<f64>,
    /// The longest open period `openFor` may ask for, ms.
    pub max_open_for_ms: Option<f64>,
    /// What a cancelled call counts as (`release`, `slowIfOverdue`,
    /// `failure`).
    pub cancellation: Option<String>,
}

/// A bad option: the JS layer throws it as a `RangeError` naming the option.
#[napi(object)]
pub struct OptionProblem {
    /// The option's name, as the user wrote it (`minCalls`).
    pub option: String,
    /// The whole message.
    pub message: String,
}

/// Node's name of a core config field (the core's table).
fn option_name(field: &str) -> &'static str {
    fusebox::bindings::config_field(field).map_or("options", |f| f.node)
}

/// A core `ConfigError` as a problem with a Node option: the core's message
/// (durations in ms, as the `*Ms` options take them), the option spelled
/// Node's way.
pub(crate) fn problem(e: &ConfigError) -> OptionProblem {
    let option = option_name(e.field);
    OptionProblem {
        option: option.into(),
        message: e.render(&format!("option {option}")),
    }
}

impl NativeOptions {
    /// The core config these options describe.
    fn to_config(&self) -> Result<Config, OptionProblem> {
        let int = |field: &'static str, v: Option<f64>| -> Result<Option<u32>, OptionProblem> {
            match v {
                None => Ok(None),
                Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
                    Ok(Some(v as u32))
                }
                Some(v) => Err(problem(&ConfigError {
                    field,
                    value: number(v),
                    expected: "an integer",
                })),
            }
        };
        let ms = |field: &'static str, v: f64| -> Result<Duration, OptionProblem> {
            duration_in(field, v, Unit::Millis).map_err(|e| problem(&e))
        };
        let mut c = Config::default();
        if let Some(v) = self.failure_rate_threshold {
            c.failure_rate_threshold = v;
        }
        if self.consecutive_failures_off == Some(true) {
            c.consecutive_failures = None;
        } else if let Some(v) = int("consecutive_failures", self.consecutive_failures)? {
            c.consecutive_failures = Some(v);
        }
        if let Some(v) = int("min_calls", self.min_calls)? {
            c.min_calls = v;
        }
        let buckets = int("window.buckets", self.window_buckets)?;
        if let Some(size) = int("window.size", self.count_window)? {
            if self.window_ms.is_some() || buckets.is_some() {
                return Err(OptionProblem {
                    option: "countWindow".into(),
                    message: "invalid option countWindow: a count window has no windowMs or windowBuckets".into(),
                });
            }
            c.window = WindowConfig::Count { size };
        } else if self.window_ms.is_some() || buckets.is_some() {
            let (duration, default_buckets) = match c.window {
                WindowConfig::Time { duration, buckets } => (duration, buckets),
                WindowConfig::Count { .. } => (Duration::from_secs(10), 10),
            };
            c.window = WindowConfig::Time {
                duration: match self.window_ms {
                    Some(v) => ms("window", v)?,
                    None => duration,
                },
                buckets: buckets.unwrap_or(default_buckets),
            };
        }
        if let Some(v) = self.open_timeout_ms {
            c.open_timeout = ms("open_timeout", v)?;
        }
        match (self.backoff_multiplier, self.backoff_max_ms) {
            (None, None) => {}
            (Some(multiplier), Some(max)) => {
                c.backoff = Some(Backoff {
                    multiplier,
                    max: ms("backoff.max", max)?,
                })
            }
            (None, Some(_)) => {
                return Err(OptionProblem {
                    option: "backoff.multiplier".into(),
                    message: "invalid option backoff.multiplier: missing".into(),
                })
            }
            (Some(_), None) => {
                return Err(OptionProblem {
                    option: "backoff.maxMs".into(),
                    message: "invalid option backoff.maxMs: missing".into(),
                })
            }
        }
        if let Some(v) = self.jitter {
            c.jitter = v;
        }
        if let Some(v) = int("half_open_max_calls", self.half_open_max_calls)? {
            c.half_open_max_calls = v;
        }
        if let Some(v) = int("success_threshold", self.success_threshold)? {
            c.success_threshold = v;
        }
        if let Some(v) = self.half_open_max_wait_ms {
            c.half_open_max_wait = ms("half_open_max_wait", v)?;
        }
        if let Some(v) = self.slow_call_ms {
            c.slow_call_duration = Some(ms("slow_call_duration", v)?);
        }
        if let Some(v) = self.slow_call_rate_threshold {
            c.slow_call_rate_threshold = v;
        }
        if let Some(v) = self.max_open_for_ms {
            c.max_open_for = ms("max_open_for", v)?;
        }
        if let Some(v) = &self.cancellation {
            c.cancellation =
                fusebox::bindings::cancellation_from_node(v).map_err(|e| problem(&e))?;
        }
        c.validate_in(Unit::Millis).map_err(|e| problem(&e))?;
        Ok(c)
    }
}

/// A config as Node options (what `breaker.options` shows).
#[napi(object)]
pub struct ResolvedOptions {
    pub name: String,
    pub failure_rate_threshold: f64,
    /// `null` when off.
    pub consecutive_failures: Option<u32>,
    pub min_calls: u32,
    /// Time window length (absent for a count window).
    pub window_ms: Option<f64>,
    pub window_buckets: Option<u32>,
    /// Count window size (absent for a time window).
    pub count_window: Option<u32>,
    pub open_timeout_ms: f64,
    pub backoff_multiplier: Option<f64>,
    pub backoff_max_ms: Option<f64>,
    pub jitter: f64,
    pub half_open_max_calls: u32,
    pub success_threshold: u32,
    pub half_open_max_wait_ms: f64,
    /// `null` when slow-call detection is off.
    pub slow_call_ms: Option<f64>,
    pub slow_call_rate_threshold: f64,
    pub max_open_for_ms: f64,
    /// `release`, `slowIfOverdue` or `failure`.
    pub cancellation: String,
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn resolved(name: &str, c: &Config) -> ResolvedOptions {
    let (window_ms, window_buckets, count_window) = match c.window {
        WindowConfig::Time { duration, buckets } => (Some(ms_of(duration)), Some(buckets), None),
        WindowConfig::Count { size } => (None, None, Some(size)),
    };
    ResolvedOptions {
        name: name.into(),
        failure_rate_threshold: c.failure_rate_threshold,
        consecutive_failures: c.consecutive_failures,
        min_calls: c.min_calls,
        window_ms,
        window_buckets,
        count_window,
        open_timeout_ms: ms_of(c.open_timeout),
        backoff_multiplier: c.backoff.map(|b| b.multiplier),
        backoff_max_ms: c.backoff.map(|b| ms_of(b.max)),
        jitter: c.jitter,
        half_open_max_calls: c.half_open_max_calls,
        success_threshold: c.success_threshold,
        half_open_max_wait_ms: ms_of(c.half_open_max_wait),
        slow_call_ms: c.slow_call_duration.map(ms_of),
        slow_call_rate_threshold: c.slow_call_rate_threshold,
        max_open_for_ms: ms_of(c.max_open_for),
        cancellation: fusebox::bindings::CANCELLATION_NODE_NAMES
            [fusebox::bindings::cancellation_code(c.cancellation) as usize]
            .into(),
    }
}

// ----- clock ---------------------------------------------------------------

/// A clock moved by hand, for tests: breakers on it see time move only when
/// `advance` is called.
#[napi]
pub struct NativeManualClock {
    inner: Arc<fusebox::ManualClock>,
}

#[napi]
impl NativeManualClock {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeManualClock {
            inner: Arc::new(fusebox::ManualClock::new()),
        }
    }

    /// Move time forward by `ms` milliseconds (the JS layer checks the range).
    #[napi]
    pub fn advance(&self, ms: f64) {
        // Successes held back were reported before time moved.
        hot::flush();
        if ms.is_finite() && ms > 0.0 {
            self.inner.advance_ns((ms * 1e6).round() as u64);
        }
    }

    /// The clock's time, in ms from its origin.
    #[napi]
    pub fn now(&self) -> f64 {
        use fusebox::Clock;
        self.inner.now_ns() as f64 / 1e6
    }
}

impl Default for NativeManualClock {
    fn default() -> Self {
        Self::new()
    }
}

// ----- the breaker -----------------------------------------------------------

/// A transition, as delivered to JS listeners.
#[napi(object)]
pub struct TransitionEvent {
    pub name: String,
    /// Phase before (`closed`, `open`, `halfOpen`, `forcedOpen`, `disabled`).
    pub from: String,
    /// Phase after.
    pub to: String,
    /// State after (`closed`, `open`, `halfOpen`).
    pub state: String,
    pub generation: f64,
}

impl From<&Transition> for TransitionEvent {
    fn from(t: &Transition) -> Self {
        TransitionEvent {
            name: t.breaker.to_string(),
            from: layout::phase_name(t.from).into(),
            to: layout::phase_name(t.to).into(),
            state: layout::state_name(t.to.state()).into(),
            generation: t.generation as f64,
        }
    }
}

/// The listener a JS wrapper installs: called on the JS thread, never keeps
/// the process alive (weak), never blocks the core's event thread.
type EventFn = ThreadsafeFunction<TransitionEvent, (), TransitionEvent, Status, false, true>;

/// Counters at one moment.
#[napi(object)]
pub struct NativeStats {
    pub name: String,
    pub state: String,
    pub phase: String,
    pub generation: f64,
    pub successes: f64,
    pub failures: f64,
    pub ignored: f64,
    pub slow: f64,
    pub rejected: f64,
    pub state_changes: f64,
    pub calls: f64,
    pub failure_rate: f64,
    pub slow_rate: f64,
    pub window_calls: f64,
    pub window_failures: f64,
    pub window_slow: f64,
}

/// One JS wrapper's handle on a core breaker (several wrappers, in several
/// worker threads, may share one breaker through the registry).
#[napi]
pub struct NativeBreaker {
    inner: Arc<Breaker>,
    /// Where the core's listener sends transitions; `None` while nobody
    /// listens. The core keeps listeners for the breaker's life, so one is
    /// installed per wrapper, at most, and this slot turns it on and off.
    events: Arc<Mutex<Option<EventFn>>>,
    listening: bool,
}

/// A breaker's address as a number: no other breaker has it while the
/// breaker lives (user-space addresses fit in an f64's 53 bits).
pub(crate) fn identity(b: &Arc<Breaker>) -> f64 {
    Arc::as_ptr(b) as usize as f64
}

impl NativeBreaker {
    fn wrap(inner: Arc<Breaker>) -> Self {
        NativeBreaker {
            inner,
            events: Arc::new(Mutex::new(None)),
            listening: false,
        }
    }
}

impl Drop for NativeBreaker {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.events.lock() {
            slot.take();
        }
    }
}

#[napi]
impl NativeBreaker {
    /// The breaker's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().into()
    }

    /// The options in force (defaults filled in).
    #[napi]
    pub fn options(&self) -> ResolvedOptions {
        resolved(self.inner.name(), &self.inner.config())
    }

    /// This wrapper's part of the hot path: its id for this thread's hot
    /// functions (see `hotThread` and `hot.rs`) and the state word.
    #[napi(
        ts_return_type = "{ id: number; handle: object; word: ArrayBuffer; skipsCore: boolean }"
    )]
    pub fn hot<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        hot::bind(env, &self.inner)
    }

    /// Change the settings in place to `options` (the whole config, merged
    /// by the JS layer): state, window and counters kept, the window judged
    /// at once. A bad option (nothing changed) comes back as a problem.
    #[napi]
    pub fn reconfigure(&self, options: NativeOptions) -> Either<Reconfigured, OptionProblem> {
        let config = match options.to_config() {
            Ok(c) => c,
            Err(p) => return Either::B(p),
        };
        hot::flush();
        match self.inner.reconfigure_in(config, fusebox::Unit::Millis) {
            Ok(done) => Either::A(Reconfigured {
                changed: done
                    .changed
                    .iter()
                    .map(|f| {
                        fusebox::bindings::config_field(f)
                            .map_or(*f, |x| x.node)
                            .to_string()
                    })
                    .collect(),
                tripped: done.tripped,
            }),
            Err(e) => Either::B(problem(&e)),
        }
    }

    /// This breaker's state as a one-breaker snapshot's JSON text.
    #[napi]
    pub fn save_state(&self) -> String {
        hot::flush();
        fusebox::snapshot::Snapshot::now(vec![self.inner.save_state()]).to_json()
    }

    /// The state (`closed`, `open`, `halfOpen`).
    #[napi(getter)]
    pub fn state(&self) -> String {
        layout::state_name(self.inner.state()).into()
    }

    /// The phase (the state, or `forcedOpen` / `disabled`).
    #[napi(getter)]
    pub fn phase(&self) -> String {
        layout::phase_name(self.inner.phase()).into()
    }

    /// A snapshot of the counters.
    #[napi]
    pub fn stats(&self) -> NativeStats {
        hot::flush();
        let m = self.inner.metrics();
        NativeStats {
            state: layout::state_name(m.state).into(),
            phase: layout::phase_name(m.phase).into(),
            generation: m.generation as f64,
            successes: m.successes as f64,
            failures: m.failures as f64,
            ignored: m.ignored as f64,
            slow: m.slow as f64,
            rejected: m.rejected as f64,
            state_changes: m.state_changes as f64,
            calls: m.calls() as f64,
            failure_rate: m.failure_rate,
            slow_rate: m.slow_rate,
            window_calls: m.window.calls as f64,
            window_failures: m.window.failures as f64,
            window_slow: m.window.slow as f64,
            name: m.name,
        }
    }

    /// Open until `reset()`.
    #[napi]
    pub fn force_open(&self) {
        hot::flush();
        self.inner.force_open();
    }

    /// Admit everything and never trip, until `reset()`.
    #[napi]
    pub fn disable(&self) {
        hot::flush();
        self.inner.disable();
    }

    /// Back to Closed with an empty window.
    #[napi]
    pub fn reset(&self) {
        hot::flush();
        self.inner.reset();
    }

    /// Open for `ms` (capped at `maxOpenForMs`): whether it opened or
    /// extended the open period, or the problem with `ms` (the core's
    /// check: NaN, negative and infinite are refused).
    #[napi]
    pub fn open_for(&self, ms: f64) -> Either<bool, OptionProblem> {
        match fusebox::input::duration_arg("duration", ms, Unit::Millis) {
            Ok(d) => {
                hot::flush();
                Either::A(self.inner.open_for(d))
            }
            Err(e) => Either::B(OptionProblem {
                option: "ms".into(),
                message: e.render("argument ms"),
            }),
        }
    }

    /// Deliver transitions to `callback` (on this thread's event loop).
    #[napi(ts_args_type = "callback: (event: TransitionEvent) => void")]
    pub fn listen(&mut self, callback: EventFn) {
        if let Ok(mut slot) = self.events.lock() {
            *slot = Some(callback);
        }
        if !self.listening {
            self.listening = true;
            let events = self.events.clone();
            self.inner.on_state_change(move |t| {
                if let Ok(slot) = events.lock() {
                    if let Some(f) = slot.as_ref() {
                        f.call(
                            TransitionEvent::from(t),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                    }
                }
            });
        }
    }

    /// Stop delivering transitions.
    #[napi]
    pub fn unlisten(&self) {
        if let Ok(mut slot) = self.events.lock() {
            slot.take();
        }
    }

    /// A rate limit for this breaker's fallback path (on the breaker's
    /// clock), or the problem with its settings.
    #[napi]
    pub fn fallback_limit(
        &self,
        per_second: f64,
        burst: f64,
    ) -> Either<NativeFallbackLimit, OptionProblem> {
        let burst_u32 = if burst.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&burst) {
            burst as u32
        } else {
            0 // refused below, naming the option
        };
        match RateLimiter::with_clock(per_second, burst_u32, self.inner.clock().clone()) {
            Ok(l) => Either::A(NativeFallbackLimit {
                inner: LimitedFallback::new(l),
            }),
            Err(e) => {
                let (option, value) = if e.field == "burst" {
                    ("fallbackLimit.burst", burst)
                } else {
                    ("fallbackLimit.perSecond", per_second)
                };
                Either::B(OptionProblem {
                    option: option.into(),
                    message: format!(
                        "invalid option {option}: {} (expected {})",
                        number(value),
                        e.expected
                    ),
                })
            }
        }
    }

    /// Whether two handles are the same breaker.
    #[napi]
    pub fn same_as(&self, other: &NativeBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The breaker's identity: its address, as `NativeKeyed::lookupId`
    /// gives it (unique while this wrapper holds the breaker).
    #[napi]
    pub fn identity(&self) -> f64 {
        identity(&self.inner)
    }
}

/// Counters of a limited fallback path.
#[napi(object)]
pub struct FallbackCounts {
    /// Fallbacks run.
    pub served: f64,
    /// Fallbacks refused by the limiter.
    pub limited: f64,
}

/// The core's [`LimitedFallback`]: decides whether a fallback may run.
#[napi]
pub struct NativeFallbackLimit {
    inner: LimitedFallback,
}

#[napi]
impl NativeFallbackLimit {
    /// Whether the limiter admits one fallback now (counted as served or
    /// limited by the core).
    #[napi]
    pub fn admit(&self) -> bool {
        self.inner.run(CallError::<()>::Failed(()), |_| ()).is_ok()
    }

    /// How many fallbacks ran and how many were refused.
    #[napi]
    pub fn stats(&self) -> FallbackCounts {
        let s = self.inner.stats();
        FallbackCounts {
            served: s.served as f64,
            limited: s.limited as f64,
        }
    }
}

/// A breaker of its own, or the options' problem.
#[napi]
pub fn create_breaker(
    options: NativeOptions,
    clock: Option<ClassInstance<NativeManualClock>>,
    histogram: Option<ClassInstance<histogram::NativeLatencyHistogram>>,
) -> Either<NativeBreaker, OptionProblem> {
    let config = match options.to_config() {
        Ok(c) => c,
        Err(p) => return Either::B(p),
    };
    let clock = match clock {
        Some(c) => ClockSource::from(c.inner.clone()),
        None => ClockSource::Monotonic,
    };
    let name = options.name.as_deref().unwrap_or("breaker");
    // The registry's rule, for standalone breakers too.
    if let Err(e) = fusebox::registry::check_name(name) {
        return Either::B(registry_problem(e));
    }
    match Breaker::named(name, config, clock) {
        // Every call's latency into the histogram (the hot path then
        // defers to the core: `bindings::skips_core` says no).
        Ok(b) => Either::A(NativeBreaker::wrap(Arc::new(match histogram {
            Some(h) => b.with_latency_histogram(h.inner.clone()),
            None => b,
        }))),
        Err(e) => Either::B(problem(&e)),
    }
}

fn registry_problem(e: RegistryError) -> OptionProblem {
    match e {
        RegistryError::BadName(_) => OptionProblem {
            option: "name".into(),
            message: e.to_string(),
        },
        RegistryError::Config(e) => problem(&e),
    }
}

/// The core's message for a permit given a second outcome (or released
/// after one): the JS layer throws it, code `ERR_FUSEBOX_PERMIT_USED`.
#[napi]
pub fn permit_used_message() -> String {
    fusebox::PermitUsed.to_string()
}

/// The breaker called `name` in the process-wide registry (shared by every
/// worker thread), created with `options` on first use; an existing breaker
/// keeps its own options.
#[napi]
pub fn registry_get_or_create(
    name: String,
    options: Option<NativeOptions>,
) -> Either<NativeBreaker, OptionProblem> {
    let r = Registry::global();
    let got = match &options {
        None => r.get_or_create(&name),
        Some(o) => match o.to_config() {
            Ok(c) => r.get_or_create_with(&name, c),
            Err(p) => return Either::B(p),
        },
    };
    match got {
        Ok(b) => Either::A(NativeBreaker::wrap(b)),
        Err(e) => Either::B(registry_problem(e)),
    }
}

/// The breaker called `name`, if the registry has it.
#[napi]
pub fn registry_get(name: String) -> Option<NativeBreaker> {
    Registry::global().get(&name).map(NativeBreaker::wrap)
}

/// Forget `name` (holders keep a working breaker). Whether it was there.
#[napi]
pub fn registry_remove(name: String) -> bool {
    Registry::global().remove(&name).is_some()
}

/// What `reconfigure` did: the options that changed, and whether the kept
/// window, judged at once, tripped the breaker.
#[napi(object)]
pub struct Reconfigured {
    pub changed: Vec<String>,
    pub tripped: bool,
}

/// A snapshot refused, or a file that could not be read or written: the JS
/// layer throws it (`ERR_FUSEBOX_SNAPSHOT`, or the OS's error for a file).
#[napi(object)]
pub struct SnapshotProblem {
    /// `io` or `bad_file`.
    pub kind: String,
    pub message: String,
}

fn snapshot_problem(e: fusebox::snapshot::SnapshotError) -> SnapshotProblem {
    SnapshotProblem {
        kind: match e {
            fusebox::snapshot::SnapshotError::Io(_) => "io",
            _ => "bad_file",
        }
        .into(),
        message: e.to_string(),
    }
}

/// Reconfigure the registry's breaker `name` in place when it exists, and
/// make `options` its config for a later creation. `true` when that
/// tripped it.
#[napi]
pub fn registry_reconfigure(name: String, options: NativeOptions) -> Either<bool, OptionProblem> {
    let config = match options.to_config() {
        Ok(c) => c,
        Err(p) => return Either::B(p),
    };
    hot::flush();
    let r = Registry::global();
    // The breaker first, in this front end's unit: a refusal changes nothing.
    let tripped = match r.get(&name) {
        Some(b) => match b.reconfigure_in(config.clone(), fusebox::Unit::Millis) {
            Ok(d) => d.tripped,
            Err(e) => return Either::B(problem(&e)),
        },
        None => false,
    };
    match r.configure(&name, config) {
        Ok(()) => Either::A(tripped),
        Err(e) => Either::B(registry_problem(e)),
    }
}

/// Write the registry's breakers to `path` (whole or not at all).
#[napi]
pub fn registry_write_state(path: String) -> Option<SnapshotProblem> {
    hot::flush();
    Registry::global()
        .write_state(path)
        .err()
        .map(snapshot_problem)
}

/// Restore the snapshot at `path` into the registry: `elapsedMs` (else the
/// wall time since writing) off every open period. The names restored.
#[napi]
pub fn registry_restore_state(
    path: String,
    elapsed_ms: Option<f64>,
) -> Either<Vec<String>, SnapshotProblem> {
    hot::flush();
    let r = Registry::global();
    let done = fusebox::snapshot::Snapshot::read(path).and_then(|s| match elapsed_ms {
        Some(ms) if ms.is_finite() && ms >= 0.0 => {
            r.restore_state_after(&s, Duration::from_nanos((ms * 1e6).round() as u64))
        }
        _ => r.restore_state(&s),
    });
    match done {
        Ok(d) => {
            let mut names = d.created;
            names.extend(d.updated);
            names.sort();
            Either::A(names)
        }
        Err(e) => Either::B(snapshot_problem(e)),
    }
}

/// A standalone breaker on `clock` from a one-breaker snapshot's text
/// (`saveState`), `elapsedMs` after it was written: a restarted process.
#[napi]
pub fn restore_breaker(
    text: String,
    elapsed_ms: f64,
    clock: Option<ClassInstance<NativeManualClock>>,
) -> Either<NativeBreaker, SnapshotProblem> {
    let clock = match clock {
        Some(c) => ClockSource::from(c.inner.clone()),
        None => ClockSource::Monotonic,
    };
    let elapsed = Duration::from_nanos((elapsed_ms.max(0.0) * 1e6).round() as u64);
    let r = Registry::new(Config::default(), clock);
    let done = fusebox::snapshot::Snapshot::parse(&text)
        .and_then(|s| r.restore_state_after(&s, elapsed).map(|_| s));
    match done {
        Ok(s) => match s.breakers.first().and_then(|b| r.get(&b.name)) {
            Some(b) => Either::A(NativeBreaker::wrap(b)),
            None => Either::B(SnapshotProblem {
                kind: "bad_file".into(),
                message: "snapshot holds no breaker".into(),
            }),
        },
        Err(e) => Either::B(snapshot_problem(e)),
    }
}

/// Every registry breaker's metrics in the Prometheus text format (0.0.4).
#[napi]
pub fn registry_prometheus() -> String {
    hot::flush();
    Registry::global().prometheus()
}

/// The content type to serve `registry_prometheus()` with.
#[napi]
pub fn prometheus_content_type() -> String {
    fusebox::prometheus::CONTENT_TYPE.into()
}

/// This thread's hot-path functions and their mailbox (see `hot.rs`).
#[napi(
    ts_return_type = "{ acquire(): void; success(): void; failure(): void; record(): void; mailbox: ArrayBuffer; batchMax: number }"
)]
pub fn hot_thread(env: &Env) -> napi::Result<Object<'_>> {
    hot::thread(env)
}

/// Record this thread's successes held back (see `hot.rs`); the JS layer
/// calls it at the end of a run of microtasks that held some back.
#[napi]
pub fn flush_successes() {
    hot::flush();
}

/// Names in the registry, sorted.
#[napi]
pub fn registry_names() -> Vec<String> {
    Registry::global().names()
}

/// Wait until every transition event raised so far has been handed to the
/// listeners' threads (for tests and orderly shutdown). Whether it caught up.
#[napi]
pub fn flush_events(timeout_ms: f64) -> bool {
    let ms = if timeout_ms.is_finite() && timeout_ms > 0.0 {
        timeout_ms
    } else {
        0.0
    };
    fusebox::events::flush(Duration::from_secs_f64(ms.min(1e9) / 1000.0))
}

/// The core's version.
#[napi]
pub fn core_version() -> String {
    fusebox::VERSION.into()
}
