//! The circuit breaker (`docs/semantics.md#states-and-phases`): admission,
//! outcomes and transitions.
//!
//! Everything mutable lives in the atomic words of [`crate::engine::layout`]. The
//! closed path is: one load of the state word to admit; then, for the
//! outcome, one cheap clock read, one CAS on a word of the caller's own
//! stripe (its own cache line), and one load of the shared control line to
//! learn whether the generation is still current. Transitions are single CAS
//! operations on the state word, so of several threads racing to trip, open
//! or close the breaker exactly one wins, and only the winner publishes the
//! new deadline, counts the change and emits the event. The word's protocol,
//! every transition and its compare-exchange, is `crate::engine::state::BreakerState`;
//! this file and its three parts judge when a transition is due and do the
//! winner's work:
//!
//! * `breaker/admit.rs`: admission (the closed path, probes, rejections);
//! * `breaker/record.rs`: outcomes, the window's judgement, trips;
//! * `breaker/transition.rs`: the winner's work (deadlines, counts, events).
//!
//! * `breaker/stripes.rs`: which stripe a thread counts on, made when first
//!   needed.
//! * `breaker/rest.rs`: the lines past the control line, made when first
//!   written;
//! * `breaker/shape.rs`: what breakers made alike share.
//!
//! This file holds the type, its construction, the manual controls, `call`
//! and the metrics. The parts share its imports
//! (`use super::*`).

use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError, WindowConfig};
use crate::engine::count_window::CountWindow;
use crate::engine::error::{CallError, RejectReason, Rejected};
use crate::engine::layout::*;
use crate::engine::metrics::Metrics;
use crate::engine::permit::{Outcome, Permit, RawPermit};
use crate::engine::state::{BreakerState, Close, Phase, Probe, State, Word};
use crate::engine::window::{bump, TimeWindow, WindowCounts};
use crate::engine::words::{Danger, Published, Run, Stall};
use crate::observe::trace::Why;
use crate::sync::AtomicU64;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::fmt;
use std::time::Duration;

mod admit;
mod live;
mod reconfigure;
mod record;
mod rest;
#[cfg(feature = "serde")]
mod restore;
mod shape;
mod stripes;
mod transition;

pub use reconfigure::Reconfigured;

/// A state change, as delivered to listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The breaker's name.
    pub breaker: std::sync::Arc<str>,
    /// Phase before.
    pub from: Phase,
    /// Phase after.
    pub to: Phase,
    /// Generation after.
    pub generation: u64,
    /// Clock time of the change, in ns.
    pub at_ns: u64,
}

#[derive(Clone, Copy, Debug)]
enum WindowKind {
    Time(TimeWindow),
    Count(CountWindow),
}

/// A lock-free circuit breaker. Share it by reference or in an `Arc`.
///
/// Closed → Open → Half-Open → Closed, driven here by a [`ManualClock`](crate::ManualClock)
/// (`docs/semantics.md#states-and-phases`):
///
/// ```rust
/// use fusebox::{Breaker, CallError, Config, ManualClock, Outcome, RejectReason, State};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(
///     Config::builder()
///         .consecutive_failures(Some(3)) // 3 failures in a row trip it
///         .open_timeout(Duration::from_secs(30))
///         .half_open_max_calls(2) // 2 probes in Half-Open...
///         .success_threshold(2) // ...both must succeed to close
///         .build()?,
///     clock.clone(),
/// )?;
///
/// // `call`: Ok is a success, Err a failure.
/// assert_eq!(breaker.call(|| Ok::<_, String>(7)), Ok(7));
/// // `call_with`: your own classification (a 404 says nothing about health).
/// let r = breaker.call_with(
///     |r: &Result<u16, u16>| match r {
///         Err(s) if *s >= 500 => Outcome::Failure,
///         Err(_) => Outcome::Ignored,
///         Ok(_) => Outcome::Success,
///     },
///     || Err(404),
/// );
/// assert_eq!(r, Err(CallError::Failed(404)));
///
/// // A permit, for calls that do not fit in a closure.
/// for _ in 0..3 {
///     let permit = breaker.try_acquire().expect("closed");
///     permit.failure();
/// }
/// assert_eq!(breaker.state(), State::Open);
///
/// // Open: calls fail fast, with the rest of the open period as a hint.
/// let r = breaker.call(|| Ok::<_, String>(1)).unwrap_err();
/// let rejected = r.rejected().expect("rejected, not run");
/// assert_eq!(rejected.reason, RejectReason::Open);
/// assert!(rejected.retry_after.unwrap() <= Duration::from_secs(30));
///
/// // After the open timeout, probes are let through: exactly two.
/// clock.advance(Duration::from_secs(30));
/// let p1 = breaker.try_acquire()?;
/// let p2 = breaker.try_acquire()?;
/// assert!(p1.is_probe() && p2.is_probe());
/// assert_eq!(breaker.state(), State::HalfOpen);
/// assert_eq!(breaker.try_acquire().unwrap_err().reason, RejectReason::HalfOpenFull);
/// p1.success();
/// p2.success();
/// assert_eq!(breaker.state(), State::Closed);
///
/// let m = breaker.metrics();
/// assert_eq!((m.successes, m.failures, m.ignored), (3, 3, 1));
/// assert_eq!(m.rejected, 2);
/// assert_eq!(m.state_changes, 3); // closed → open → half-open → closed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
// `repr(C)`, aligned to a 64-byte line and 128 bytes long: the fields the
// closed path reads (the first threads' stripe addresses, the state word,
// the failure run and the danger word, the shape, the flags) fill the
// first line, so that a call to a breaker that is not in cache misses one
// line of the handle and, with it, has its state and its stripe's address:
// the stripe's miss follows, and the control line is not read at all
// (counted with cachegrind by `benches/examples/icount.rs many_fusebox`;
// the offsets are tested). What
// breakers made alike share (the clock, the window's arithmetic, the
// settings they were made with) is in the shape they point to, one for all
// of them, so that it stays in cache however many breakers there are
// (`breaker/shape.rs`); what is rarely there (listeners, a histogram, a
// reconfigured breaker's own settings, a shared breaker's ownership) is in
// `extras`, made when needed.
#[repr(C, align(64))]
pub struct Breaker {
    /// The stripe addresses of thread slots below `mirrored`, copied from
    /// the directory by each slot's own thread when it first counts (0
    /// until then): its later calls find their stripe here, in the line
    /// they read anyway, without waiting for the control line
    /// (`breaker/stripes.rs`). Written and read by that thread alone, as
    /// its directory entry (Relaxed); a value, so moving the handle keeps
    /// it right.
    mirror: [AtomicU64; MIRRORED],
    /// An in-process breaker's control words that a call reads: the state
    /// word, the failure run, the danger word (words [`W_STATE`],
    /// [`W_CONSEC`], [`W_DANGER`] of a shared file's control line, which
    /// its breakers use instead: `shared_words`). Here, on the line that
    /// holds the stripe addresses, a call to a breaker that is not in
    /// cache waits for one line of it before its stripe, not for two: it
    /// never reads the control line while Closed. Moving the handle moves
    /// them; nothing can point at them while it moves (a move needs the
    /// handle unborrowed), and the address bindings read the state word at
    /// ([`crate::bindings::state_word`]) is taken from a handle that stays
    /// put (boxed, or in an `Arc`).
    hot: [AtomicU64; HOT_WORDS],
    /// The clock, the window, the settings made with (`breaker/shape.rs`).
    shape: std::sync::Arc<shape::Shape>,
    /// Thread slots below this find their stripe's address at `dir`:
    /// `exclusive`, at most the directory's control-line entries (see
    /// `breaker/stripes.rs`); for a shared file's breaker, the entries of
    /// its process-local directory (`shm::Ownership`).
    owned_on_control_line: u16,
    /// A shared file's breaker: its control words are the file's, not
    /// `hot` ([`Breaker::ctl`]).
    shared_words: bool,
    /// Threads whose slot ([`crate::engine::thread_slot`]) is below this own the stripe of
    /// that number: they count with plain loads and stores (in-process
    /// breakers; 0 for shared ones, whose threads own stripes through
    /// `claims`). Threads that own none share the last stripes
    /// (`Layout::shared`), with CAS. At most 64 (`Breaker::with_stripes`).
    exclusive: u8,
    /// Thread slots below this find their stripe in `mirror`:
    /// `exclusive`, at most [`MIRRORED`].
    mirrored: u8,
    /// Time window with slow-call detection off: a success is one bucket
    /// increment (the inlined fast path of `record_raw`). Fixed for the
    /// breaker's life: `reconfigure` changes the slow-call duration, never
    /// turns detection on or off (`crate::bindings::skips_core`'s inputs).
    plain_successes: bool,
    /// Permits take the precise time at admission: slow-call detection is on
    /// or a latency histogram is attached. (Derivable from `slow_ns` and
    /// the histogram; kept as one flag so that `acquire_raw`'s inlined closed
    /// path tests one byte.) Fixed, as `plain_successes`.
    timed: bool,
    /// `plain_successes` on the monotonic clock, whose recent time is read
    /// in place: a success may be counted by `record_success_in_place`
    /// (one byte for the bindings' fast path to test). Fixed, as
    /// `plain_successes`.
    in_place: bool,
    /// The directory entry of thread slot 0 (slot `s`'s is `s` words on):
    /// on the control line, or a shared breaker's process-local directory.
    dir: stripes::DirEntries,
    /// The control line and the rest of the breaker's own lines (or a
    /// shared breaker's, borrowed from its file).
    cells: Cells,
    /// Slow-call threshold in ns; 0 when slow-call detection is off.
    /// Atomic, read Relaxed (a plain load), so that `reconfigure` can
    /// change it (never between 0 and not 0: see `timed`).
    slow_ns: AtomicU64,
    name: std::sync::Arc<str>,
    /// Listeners, the latency histogram, the breaker's own settings once
    /// reconfigured, a shared breaker's ownership: made when first needed
    /// (a shared breaker's when made), so that an idle breaker that nobody
    /// listens to keeps none and its emitters test one word.
    extras: std::sync::OnceLock<Box<Extras>>,
}

/// The control words a call reads, words `0..HOT_WORDS` of the control
/// line: in an in-process breaker's handle (`Breaker::hot`).
const HOT_WORDS: usize = 3;
const _: () = assert!(W_STATE < HOT_WORDS && W_CONSEC < HOT_WORDS && W_DANGER < HOT_WORDS);

/// Thread slots whose stripe address the handle holds (`Breaker::mirror`):
/// as many as fit on its first line beside the rest of what a call reads.
const MIRRORED: usize = 3;

/// What few breakers have (see `Breaker::extras`).
#[derive(Default)]
struct Extras {
    /// State-change listeners (a registry attaches its own as the parent).
    transitions: std::sync::OnceLock<std::sync::Arc<crate::observe::events::Listeners<Transition>>>,
    /// Rejection listeners (likewise).
    rejections: std::sync::OnceLock<
        std::sync::Arc<crate::observe::events::Listeners<crate::observe::events::Rejection>>,
    >,
    /// Where call latencies go, when attached (see
    /// [`Breaker::with_latency_histogram`]).
    latency: Option<std::sync::Arc<crate::detect::histogram::LatencyHistogram>>,
    /// The breaker's own settings, copied from the shape's by its first
    /// [`Breaker::reconfigure`]; never replaced once made.
    own: std::sync::OnceLock<Box<live::LiveConfig>>,
    /// `own` once that reconfiguration has stored its settings there;
    /// null until then, while the shape's are in force (`Breaker::live`).
    live: crate::sync::AtomicPtr<live::LiveConfig>,
    /// Held by [`Breaker::reconfigure`] while it stores the settings, so
    /// that two reconfigurations do not interleave (calls never take it).
    reconfiguring: crate::sync::Mutex<()>,
    /// A shared-memory breaker's stripe ownership (see `shm::claims` and
    /// `shm::ownership`), set when the breaker is made; `dir` points into
    /// it.
    #[cfg(all(feature = "shm", unix, not(loom)))]
    shared: Option<Box<crate::shm::Ownership>>,
}

/// The name of a breaker made without one.
const DEFAULT_NAME: &str = "breaker";

/// [`DEFAULT_NAME`], one string for every breaker that has it.
fn default_name() -> std::sync::Arc<str> {
    static NAME: std::sync::OnceLock<std::sync::Arc<str>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| DEFAULT_NAME.into()).clone()
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("phase", &self.phase())
            .field("generation", &self.generation())
            .finish()
    }
}

impl Breaker {
    /// A breaker on the system clock.
    pub fn new(config: Config) -> Result<Breaker, ConfigError> {
        Breaker::named(DEFAULT_NAME, config, ClockSource::Monotonic)
    }

    /// A breaker on the given clock (e.g. an `Arc<ManualClock>`).
    pub fn with_clock(
        config: Config,
        clock: impl Into<ClockSource>,
    ) -> Result<Breaker, ConfigError> {
        Breaker::named(DEFAULT_NAME, config, clock)
    }

    /// A named breaker on the given clock.
    pub fn named(
        name: &str,
        config: Config,
        clock: impl Into<ClockSource>,
    ) -> Result<Breaker, ConfigError> {
        Breaker::with_stripes(name, config, clock, Layout::default_lazy_stripes())
    }

    /// As [`Breaker::named`], with an explicit number of counter stripes.
    pub fn with_stripes(
        name: &str,
        config: Config,
        clock: impl Into<ClockSource>,
        stripes: usize,
    ) -> Result<Breaker, ConfigError> {
        config.validate()?;
        let stripes = stripes.clamp(1, 64).next_power_of_two();
        let shape = shape::Shape::shared(&config, clock.into(), stripes);
        let cells = Cells::new(&shape.layout);
        if !shape.layout.rest_is_lazy() {
            // A count window's rest: its own line 1 (`breaker/rest.rs`).
            // Relaxed: the breaker is not shared yet; whoever gets it later
            // gets it through a synchronising hand-over (a move, an `Arc`).
            cells
                .w(W_REST)
                .store(cells.w(LINE_WORDS) as *const AtomicU64 as u64, Relaxed);
        }
        // Seed for the open-timeout jitter: it must differ between breakers
        // and processes (so a fleet does not probe in lock-step), hence the
        // OS-seeded keys of std's RandomState mixed with the clock.
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(shape.clock.now_ns());
            h.finish()
        };
        cells.w(W_RNG).store(seed, Relaxed);
        Ok(Breaker::assemble(name, &config, shape, cells, false))
    }

    /// A breaker over cells it does not own (a slot of a shared-memory
    /// registry), used as they are: nothing is reset or seeded (the slot's
    /// creator did that once). `layout` must be the one the cells were made
    /// for: `Layout::file(&config, stripes)`. Its owned stripes are made
    /// in `area` (`breaker/stripes.rs`).
    #[cfg(all(feature = "shm", unix, not(loom)))]
    pub(crate) fn over_cells(
        name: &str,
        config: Config,
        clock: ClockSource,
        layout: Layout,
        cells: Cells,
        claims: std::sync::Arc<crate::shm::Claims>,
        area: std::sync::Arc<crate::shm::DataArea>,
    ) -> Result<Breaker, ConfigError> {
        config.validate()?;
        debug_assert_eq!(layout, Layout::file(&config, layout.stripes));
        let shape = std::sync::Arc::new(shape::Shape::new(&config, layout, clock));
        let mut b = Breaker::assemble(name, &config, shape, cells, true);
        let shared = Box::new(crate::shm::Ownership::new(claims, area));
        b.owned_on_control_line = shared.dir_len() as u16;
        b.dir = stripes::DirEntries::at(shared.dir());
        b.extras = std::sync::OnceLock::from(Box::new(Extras {
            shared: Some(shared),
            ..Extras::default()
        }));
        Ok(b)
    }

    fn assemble(
        name: &str,
        config: &Config,
        shape: std::sync::Arc<shape::Shape>,
        cells: Cells,
        shared: bool,
    ) -> Breaker {
        let slow_ns = config.slow_call_duration.map_or(0, |d| d.as_nanos() as u64);
        let layout = shape.layout;
        let plain_successes = slow_ns == 0 && matches!(shape.window, WindowKind::Time(_));
        // The control line's entries (a shared breaker's are replaced by
        // its own directory's in `over_cells`).
        let dir = stripes::DirEntries::at(std::ptr::NonNull::from(cells.w(DIR_CONTROL)));
        let exclusive = if shared {
            0
        } else {
            // At most 64 (`with_stripes` clamps the count).
            (layout.stripes - layout.shared as usize) as u8
        };
        Breaker {
            name: if name == DEFAULT_NAME {
                default_name()
            } else {
                name.into()
            },
            dir,
            plain_successes,
            in_place: plain_successes && matches!(shape.clock, ClockSource::Monotonic),
            timed: slow_ns != 0,
            slow_ns: AtomicU64::new(slow_ns),
            shape,
            cells,
            extras: std::sync::OnceLock::new(),
            exclusive,
            owned_on_control_line: u16::from(exclusive).min(DIR_ON_CONTROL as u16),
            mirrored: exclusive.min(MIRRORED as u8),
            mirror: std::array::from_fn(|_| AtomicU64::new(0)),
            hot: std::array::from_fn(|_| AtomicU64::new(0)),
            shared_words: shared,
        }
    }

    /// The settings now: the shape's, or the breaker's own once
    /// reconfigured (`Extras::live`).
    #[inline]
    fn live(&self) -> &live::LiveConfig {
        // Acquire: a reconfiguration stores its copy's settings before it
        // points `live` at it (`breaker/reconfigure.rs`).
        let own = self.extras.get().map(|e| e.live.load(Acquire));
        match own {
            Some(p) if !p.is_null() => {
                // SAFETY: a non-null `live` points at `Extras::own`, which
                // is never replaced nor freed until the breaker is dropped,
                // so it outlives `&self`.
                unsafe { &*p }
            }
            _ => &self.shape.config,
        }
    }

    /// The rarely present parts, made on first use.
    fn extras(&self) -> &Extras {
        self.extras.get_or_init(Default::default)
    }

    /// A shared-memory breaker's stripe ownership; `None` in-process.
    #[cfg(all(feature = "shm", unix, not(loom)))]
    #[inline]
    fn shared(&self) -> Option<&crate::shm::Ownership> {
        self.extras.get()?.shared.as_deref()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name's shared string (a keyed set's key shares it).
    pub(crate) fn name_arc(&self) -> &std::sync::Arc<str> {
        &self.name
    }

    /// Its configuration now (a copy: [`Breaker::reconfigure`] may change
    /// it in place).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    ///
    /// let config = Config::builder().min_calls(20).build()?;
    /// let breaker = Breaker::new(config.clone())?;
    /// assert_eq!(breaker.config(), config);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn config(&self) -> Config {
        self.live().load(self.slow_ns.load(Relaxed))
    }

    /// Its clock.
    pub fn clock(&self) -> &ClockSource {
        &self.shape.clock
    }

    /// The control words a call reads, indexed by [`W_STATE`],
    /// [`W_CONSEC`] and [`W_DANGER`]: in the handle (`hot`), or a shared
    /// breaker's in its file.
    #[inline(always)]
    fn ctl(&self) -> &[AtomicU64; HOT_WORDS] {
        if self.shared_words {
            self.cells.words(0)
        } else {
            &self.hot
        }
    }

    /// The state word and its transitions ([`crate::engine::state`]).
    #[inline(always)]
    fn st(&self) -> &BreakerState {
        BreakerState::at(&self.ctl()[W_STATE])
    }

    #[inline(always)]
    fn word(&self) -> Word {
        // Acquire (see `BreakerState::load`): the winner's writes before its
        // transition (re-open count) are visible once the new state is.
        self.st().load()
    }

    /// The state callers see.
    #[inline]
    pub fn state(&self) -> State {
        self.word().phase().state()
    }

    /// The phase, including the manual overrides.
    #[inline]
    pub fn phase(&self) -> Phase {
        self.word().phase()
    }

    /// The current generation (bumped by every transition).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.word().generation()
    }

    /// The address of the state word (see [`crate::bindings::state_word`]).
    #[cfg(not(loom))]
    pub(crate) fn state_word_ptr(&self) -> *const u64 {
        self.st().as_ptr()
    }

    /// Call `f` on every state change. Listeners run on the event thread,
    /// never inside a call; see [`crate::events`].
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock, Phase};
    /// use std::sync::{mpsc, Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::named("payments", Config::default(), clock.clone())?;
    /// let (tx, rx) = mpsc::channel();
    /// let tx = Mutex::new(tx);
    /// breaker.on_state_change(move |t| {
    ///     let _ = tx.lock().unwrap().send((t.breaker.to_string(), t.from, t.to));
    /// });
    ///
    /// for _ in 0..5 {
    ///     breaker.try_acquire()?.failure(); // 5 in a row trip by default
    /// }
    /// // Delivered off the call path: wait for the event thread.
    /// assert!(fusebox::events::flush(Duration::from_secs(5)));
    /// let (name, from, to) = rx.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!((name.as_str(), from, to), ("payments", Phase::Closed, Phase::Open));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_state_change(&self, f: impl Fn(&Transition) + Send + Sync + 'static) {
        self.transition_listeners().subscribe(f);
    }

    /// Call `f` on every rejected call, off the call path (one atomic load
    /// per rejection when nobody listens).
    pub fn on_rejection(
        &self,
        f: impl Fn(&crate::observe::events::Rejection) + Send + Sync + 'static,
    ) {
        self.rejection_listeners().subscribe(f);
    }

    /// The state-change listener set (e.g. to attach a parent set), made
    /// on first use.
    pub fn transition_listeners(
        &self,
    ) -> &std::sync::Arc<crate::observe::events::Listeners<Transition>> {
        self.extras().transitions.get_or_init(Default::default)
    }

    /// The rejection listener set, made on first use.
    pub fn rejection_listeners(
        &self,
    ) -> &std::sync::Arc<crate::observe::events::Listeners<crate::observe::events::Rejection>> {
        self.extras().rejections.get_or_init(Default::default)
    }

    /// Record every call's latency (successes and failures) into `histogram`,
    /// e.g. to drive an [`crate::timeout::AdaptiveTimeout`]. Permits then read
    /// the precise clock at admission and at the outcome (two clock reads a
    /// call), unless the caller reports durations itself.
    pub fn with_latency_histogram(
        mut self,
        histogram: std::sync::Arc<crate::detect::histogram::LatencyHistogram>,
    ) -> Breaker {
        self.extras();
        if let Some(extras) = self.extras.get_mut() {
            extras.latency = Some(histogram);
        }
        self.plain_successes = false;
        self.in_place = false;
        self.timed = true;
        self
    }

    // ----- manual control ----------------------------------------------

    /// Open the breaker until [`Breaker::reset`].
    ///
    /// The manual overrides, for operators (`docs/semantics.md#manual-control`):
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, Phase, RejectReason, State};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    ///
    /// breaker.force_open(); // maintenance: refuse everything
    /// assert_eq!(breaker.phase(), Phase::ForcedOpen);
    /// assert_eq!(breaker.state(), State::Open);
    /// let r = breaker.try_acquire().unwrap_err();
    /// assert_eq!((r.reason, r.retry_after), (RejectReason::ForcedOpen, None));
    ///
    /// breaker.disable(); // admit everything, never trip
    /// for _ in 0..100 {
    ///     breaker.try_acquire()?.failure();
    /// }
    /// assert_eq!(breaker.phase(), Phase::Disabled);
    ///
    /// breaker.reset(); // back to Closed, with an empty window
    /// assert_eq!(breaker.phase(), Phase::Closed);
    /// assert_eq!(breaker.window_counts().calls, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn force_open(&self) {
        if let Ok(c) = self.st().transition_force_open() {
            self.after_transition(c.from, c.to, Why::ForceOpen);
        }
    }

    /// Open the breaker for `duration` (capped at
    /// [`Config::max_open_for`]), then probe as after any open period: for
    /// a dependency that said when to come back (an HTTP 503 or 429 with
    /// `Retry-After`). From Closed and Half-Open it opens (a half-open
    /// phase's probes become stale); from Open it moves the deadline only
    /// later, never earlier. ForcedOpen and Disabled are left alone (a
    /// manual override outranks a server's hint), and so is a phase whose
    /// winner has not yet published its deadline (the few ns after a
    /// transition). Returns whether the breaker was opened or its open
    /// period extended
    /// (`docs/semantics.md#open-for-a-given-time`).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock, Phase, RejectReason, State};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::with_clock(
    ///     Config::builder().max_open_for(Duration::from_secs(120)).build()?,
    ///     clock.clone(),
    /// )?;
    ///
    /// // The server answered 503 with `Retry-After: 90`.
    /// assert!(breaker.open_for(Duration::from_secs(90)));
    /// let r = breaker.try_acquire().unwrap_err();
    /// assert_eq!((r.reason, r.retry_after), (RejectReason::Open, Some(Duration::from_secs(90))));
    /// // A shorter hint does not shorten it; a longer one is capped at 120 s.
    /// assert!(!breaker.open_for(Duration::from_secs(10)));
    /// assert!(breaker.open_for(Duration::from_secs(3600)));
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after, Some(Duration::from_secs(120)));
    ///
    /// // Then the usual half-open probing.
    /// clock.advance(Duration::from_secs(120));
    /// let probe = breaker.try_acquire()?;
    /// assert!(probe.is_probe());
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// probe.success();
    ///
    /// // A manual override is left alone.
    /// breaker.force_open();
    /// assert!(!breaker.open_for(Duration::from_secs(5)));
    /// assert_eq!(breaker.phase(), Phase::ForcedOpen);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_for(&self, duration: Duration) -> bool {
        let capped = duration.min(self.live().max_open_for());
        let deadline = self
            .shape
            .clock
            .now_ns()
            .saturating_add(u64::try_from(capped.as_nanos()).unwrap_or(u64::MAX));
        self.open_until_ns(deadline)
    }

    /// [`Breaker::open_for`] to a clock deadline, uncapped: Closed, Open
    /// (when `deadline` is later than its own) or HalfOpen → Open until
    /// `deadline`. `false` when nothing changed. Also what a restored
    /// snapshot's open period uses (`breaker/restore.rs`).
    pub(crate) fn open_until_ns(&self, deadline: u64) -> bool {
        let mut w = self.word();
        loop {
            match w.phase() {
                Phase::ForcedOpen | Phase::Disabled => return false,
                Phase::Open | Phase::HalfOpen => {
                    // From Open, only later. And not over a phase whose
                    // winner has not published its deadline yet (the few ns
                    // after its compare-exchange): its late store would
                    // overwrite the deadline published here, and the breaker
                    // would sit open until `recover_unpublished` (an open
                    // timeout later). That phase is as recent as this call:
                    // leave it, and say so.
                    let keep = match self.deadline(w.generation()) {
                        None => true,
                        Some(d) => w.phase() == Phase::Open && d >= deadline,
                    };
                    if keep {
                        // Judged against the word it belongs to.
                        let fresh = self.word();
                        if fresh == w {
                            return false;
                        }
                        w = fresh;
                        continue;
                    }
                }
                Phase::Closed => {}
            }
            match self.st().transition_open_for(w) {
                Ok(c) => {
                    self.after_open_for(c.from, c.to, deadline);
                    return true;
                }
                Err(fresh) => w = fresh,
            }
        }
    }

    /// Admit every call and never trip, until [`Breaker::reset`].
    pub fn disable(&self) {
        if let Ok(c) = self.st().transition_disable() {
            self.after_transition(c.from, c.to, Why::Disable);
        }
    }

    /// Back to Closed with an empty window.
    pub fn reset(&self) {
        if let Ok(c) = self.st().transition_reset() {
            self.after_transition(c.from, c.to, Why::Reset);
        }
    }

    /// [`Breaker::reset`] `n` times in a row, in one step: what the
    /// differential fuzzer uses to wrap the window's 16-bit generation tags
    /// (65,536 resets) in every input. The first is a plain reset; the
    /// others go Closed → Closed, which bumps only the generation (and a
    /// count window's ticket, by the window's size): they are made as one
    /// exchange. The same as `n` resets when nothing else happens in
    /// between (a unit test compares every word). A test hook, not API
    /// (feature `testing`).
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub fn reset_many(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.reset();
        if n == 1 {
            return;
        }
        let c = self.st().transition_reset_many(n - 1);
        // The last of them (Closed → Closed: no event, no state change)...
        self.after_transition(c.from, c.to, Why::Reset);
        // ...and the positions of the others.
        if let WindowKind::Count(cw) = self.shape.window {
            cw.clear(&self.cells, c.to.generation(), n - 2);
        }
    }

    // ----- calls -------------------------------------------------------

    /// Run `f` through the breaker: `Ok` is a success, `Err` a failure.
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_with(
            |r: &Result<T, E>| {
                if r.is_ok() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            },
            f,
        )
    }

    /// Run `f` through the breaker; `classify` decides the outcome (e.g. an
    /// HTTP 404 is `Ignored`, a 503 a `Failure`).
    pub fn call_with<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, CallError<E>> {
        // With `tracing`, and a subscriber that wants DEBUG: a `fusebox.call`
        // span around the call, out of line (one load when nobody wants it).
        #[cfg(feature = "tracing")]
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            return self.call_with_span(classify, f);
        }
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        // If `f` panics, `permit` is dropped unrecorded and gives back its
        // probe slot.
        let r = f();
        permit.record(classify(&r));
        r.map_err(CallError::Failed)
    }

    /// [`Breaker::call_with`] inside a `fusebox.call` span.
    #[cfg(feature = "tracing")]
    #[inline(never)]
    fn call_with_span<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, CallError<E>> {
        use crate::observe::trace::{admitted, call_span};
        let permit = match self.try_acquire() {
            Ok(p) => p,
            Err(r) => {
                let _rejected = call_span(&self.name, "rejected").entered();
                return Err(CallError::Rejected(r));
            }
        };
        let _span = call_span(&self.name, admitted(permit.is_probe())).entered();
        let r = f();
        permit.record(classify(&r));
        r.map_err(CallError::Failed)
    }

    // ----- reading -----------------------------------------------------

    /// What the window holds now, for the current generation.
    pub fn window_counts(&self) -> WindowCounts {
        let w = self.word();
        self.window_counts_at(w.generation(), self.shape.clock.recent_ns())
    }

    /// Closed (no manual override), with no failure run of the current
    /// generation and no call in its window: a breaker that holds no
    /// history, which a keyed set may evict (`crate::engine::keyed`).
    /// Reads only; a concurrent outcome may land just after it answers.
    pub(crate) fn holds_nothing(&self) -> bool {
        let w = self.word();
        if w.phase() != Phase::Closed {
            return false;
        }
        let run = Run::from_bits(self.ctl()[W_CONSEC].load(Relaxed));
        if run.is_of(w.generation()) && run.length() > 0 {
            return false;
        }
        self.window_counts_at(w.generation(), self.shape.clock.recent_ns())
            .calls
            == 0
    }

    fn window_counts_at(&self, generation: u64, t: u64) -> WindowCounts {
        match self.shape.window {
            WindowKind::Time(tw) => tw.counts(self.stripes(), generation, t),
            WindowKind::Count(cw) => cw.counts(&self.cells, generation),
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let w = self.word();
        let mut totals = [0u64; KINDS];
        let (mut ignored, mut rejected) = (0, 0);
        let buckets = self.shape.layout.buckets;
        for stripe in self.stripes() {
            // Retired totals first, then the bucket words: a concurrent
            // bucket reset moves a count from the word to the retired total
            // (word first, the total with Release: `window::retire`), and
            // these Acquire loads order the word loads after, so this can
            // only under-count, never count twice; the high-water marks
            // below keep totals from going back.
            for (k, t) in totals.iter_mut().enumerate() {
                *t = t.wrapping_add(stripe.tail(S_RETIRED + k, buckets).load(Acquire));
            }
            // Wrapping sums: a shared file's counters may be damaged (or
            // just old); a metrics read must not panic on them.
            ignored = stripe
                .tail(S_IGNORED, buckets)
                .load(Relaxed)
                .wrapping_add(ignored);
            rejected = stripe
                .tail(S_REJECTED, buckets)
                .load(Relaxed)
                .wrapping_add(rejected);
            if let WindowKind::Time(_) = self.shape.window {
                for b in 0..buckets {
                    for (k, t) in totals.iter_mut().enumerate() {
                        let v = stripe.bucket(b, k, buckets).load(Relaxed);
                        *t = t.wrapping_add(crate::engine::window::Bucket::from_bits(v).count());
                    }
                }
            }
        }
        // (An idle breaker's marks are not made until it has a total.)
        let marks = if totals.iter().any(|t| *t != 0) {
            Some(self.line_word(W_HIGH_WATER))
        } else {
            self.line_word_if_made(W_HIGH_WATER)
        };
        if marks.is_some() {
            for (k, t) in totals.iter_mut().enumerate() {
                let prev = self.line_word(W_HIGH_WATER + k).fetch_max(*t, Relaxed);
                *t = (*t).max(prev);
            }
        }
        let window = self.window_counts_at(w.generation(), self.shape.clock.recent_ns());
        Metrics {
            name: self.name.to_string(),
            state: w.phase().state(),
            phase: w.phase(),
            generation: w.generation(),
            successes: totals[KIND_OK_FAST].wrapping_add(totals[KIND_OK_SLOW]),
            failures: totals[KIND_FAIL_FAST].wrapping_add(totals[KIND_FAIL_SLOW]),
            ignored,
            slow: totals[KIND_OK_SLOW].wrapping_add(totals[KIND_FAIL_SLOW]),
            rejected,
            state_changes: self
                .line_word_if_made(W_STATE_CHANGES)
                .map_or(0, |w| w.load(Relaxed)),
            failure_rate: window.failure_rate(),
            slow_rate: window.slow_rate(),
            window,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::clock::{Clock, ManualClock};
    use std::sync::Arc;

    #[test]
    fn reset_many_is_n_resets() {
        // After `reset_many(n)` and after `n` resets, every word of the
        // breaker's memory (but the jitter seed) is the same, from every
        // phase and for both kinds of window; and so is all that follows.
        let base = || {
            Config::builder()
                .min_calls(1)
                .failure_rate_threshold(1.0)
                .consecutive_failures(Some(2))
        };
        let configs = [
            base().count_window(7).build().unwrap(),
            base()
                .time_window(Duration::from_secs(10), 5)
                .build()
                .unwrap(),
        ];
        // The breaker's own words but the seed, the rest, the directory and
        // its extension (addresses), then each stripe's words, in stripe
        // order.
        let words = |b: &Breaker| -> Vec<u64> {
            let dir: Vec<usize> = (0..b.shape.layout.stripes.min(DIR_IN_LINES))
                .map(|k| b.shape.layout.dir(k))
                .chain([W_DIR_EXT])
                .collect();
            let own = (0..b.shape.layout.lines() * LINE_WORDS)
                .filter(|i| *i != W_RNG && *i != W_REST && !dir.contains(i))
                .map(|i| b.line_word_if_made(i).map_or(0, |w| w.load(Relaxed)));
            let stripes = b
                .stripes()
                .flat_map(|s| (0..b.shape.layout.stripe_words).map(move |i| s.w(i).load(Relaxed)));
            own.chain(stripes).collect()
        };
        for cfg in &configs {
            for setup in 0..5 {
                for n in [1, 2, 3, 65_535, 65_536, 65_537, 70_000] {
                    let make = || {
                        let clock = Arc::new(ManualClock::new());
                        let b = Breaker::with_clock(cfg.clone(), clock.clone()).unwrap();
                        b.try_acquire().unwrap().success();
                        b.try_acquire().unwrap().failure();
                        let mut held = None;
                        match setup {
                            0 => {}              // Closed, the window not empty
                            1 => b.force_open(), // ForcedOpen
                            2 => b.disable(),    // Disabled
                            _ => {
                                b.try_acquire().unwrap().failure(); // Open
                                if setup == 4 {
                                    clock.advance(Duration::from_secs(31));
                                    held = Some(b.acquire_raw().unwrap()); // HalfOpen
                                }
                            }
                        }
                        (clock, b, held)
                    };
                    let ((ca, a, pa), (cb, b, pb)) = (make(), make());
                    a.reset_many(n);
                    for _ in 0..n {
                        b.reset();
                    }
                    let what = format!("setup {setup}, {n} resets, {:?}", cfg.window);
                    assert_eq!(words(&a), words(&b), "{what}");
                    assert_eq!(a.metrics(), b.metrics(), "{what}");
                    // A stale probe outcome, then calls until it trips twice.
                    if let (Some(pa), Some(pb)) = (pa, pb) {
                        a.record_raw(pa, Outcome::Success, None);
                        b.record_raw(pb, Outcome::Success, None);
                    }
                    for i in 0..24 {
                        for (c, x) in [(&ca, &a), (&cb, &b)] {
                            c.advance(Duration::from_secs(3));
                            if let Ok(p) = x.try_acquire() {
                                if i % 3 == 0 {
                                    p.success()
                                } else {
                                    p.failure()
                                }
                            }
                        }
                        assert_eq!(words(&a), words(&b), "{what}, then step {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn open_for_from_every_phase() {
        let clock = Arc::new(ManualClock::new());
        let cfg = Config::builder()
            .consecutive_failures(Some(1))
            .open_timeout(Duration::from_secs(10))
            .half_open_max_calls(2)
            .success_threshold(2)
            .max_open_for(Duration::from_secs(60))
            .build()
            .unwrap();
        let b = Breaker::with_clock(cfg, clock.clone()).unwrap();
        let retry = |b: &Breaker| b.try_acquire().unwrap_err().retry_after.unwrap();
        // Closed: opens; a new generation, one state change.
        assert!(b.open_for(Duration::from_secs(20)));
        assert_eq!((b.phase(), b.generation()), (Phase::Open, 1));
        assert_eq!(retry(&b), Duration::from_secs(20));
        // Open: only later (an equal deadline is no change).
        assert!(!b.open_for(Duration::from_secs(20)));
        assert!(b.open_for(Duration::from_secs(30)));
        assert_eq!((retry(&b), b.generation()), (Duration::from_secs(30), 2));
        assert_eq!(b.metrics().state_changes, 1, "open -> open is no change");
        // HalfOpen: opens again; the probe in flight is stale.
        clock.advance(Duration::from_secs(30));
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        assert!(b.open_for(Duration::from_millis(0)));
        assert_eq!(b.phase(), Phase::Open);
        probe.success(); // stale
        assert_eq!(b.phase(), Phase::Open);
        // 0: a probe at the next call.
        let p = b.try_acquire().unwrap();
        assert!(p.is_probe());
        drop(p);
        // Back-off count and the open timeout after a real trip: unchanged.
        b.reset();
        b.try_acquire().unwrap().failure();
        assert_eq!(retry(&b), Duration::from_secs(10));
        // ForcedOpen and Disabled: untouched.
        for manual in [Breaker::force_open, Breaker::disable] {
            manual(&b);
            let (phase, g) = (b.phase(), b.generation());
            assert!(!b.open_for(Duration::from_secs(5)));
            assert_eq!((b.phase(), b.generation()), (phase, g));
        }
    }

    #[test]
    fn a_late_stale_deadline_does_not_wedge_the_breaker() {
        // A winner of an old phase that publishes its deadline after the
        // breaker moved on overwrites the current phase's: in-process too,
        // the breaker must come out of Open after the open timeout.
        let clock = Arc::new(ManualClock::new());
        let cfg = Config::builder()
            .min_calls(1)
            .consecutive_failures(Some(1))
            .open_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let b = Breaker::with_clock(cfg, clock.clone()).unwrap();
        b.try_acquire().unwrap().failure(); // Open, generation g
        let stale = b.generation();
        b.reset(); // Closed
        b.try_acquire().unwrap().failure(); // Open again, a later generation
        assert!(b.generation() > stale);
        // The first phase's winner, descheduled until now, publishes.
        b.publish_deadline(stale, clock.now_ns() + 1_000_000_000);
        // The first caller to see it notes the stall and is rejected...
        assert!(
            b.try_acquire().is_err(),
            "open: the deadline looks unpublished"
        );
        clock.advance(Duration::from_millis(900));
        assert!(b.try_acquire().is_err(), "still within the open timeout");
        // ...and one open timeout later the deadline is republished, due.
        clock.advance(Duration::from_millis(200));
        let p = b.try_acquire().expect("half-open after the recovery");
        assert!(p.is_probe());
        p.success();
    }
}
