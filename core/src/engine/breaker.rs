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
//! this file judges when a transition is due and does the winner's work.

use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError, WindowConfig};
use crate::engine::error::{CallError, RejectReason, Rejected};
use crate::engine::layout::*;
use crate::engine::metrics::Metrics;
use crate::engine::permit::{Outcome, Permit, RawPermit};
use crate::engine::state::{BreakerState, Close, Phase, Probe, State, Word};
use crate::engine::window::{bump, CountWindow, TimeWindow, WindowCounts};
use crate::engine::words::{Danger, Published, Run, Stall};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use std::fmt;
use std::time::Duration;

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
pub struct Breaker {
    name: std::sync::Arc<str>,
    config: Config,
    layout: Layout,
    cells: Cells,
    clock: ClockSource,
    window: WindowKind,
    /// Slow-call threshold in ns; 0 when slow-call detection is off.
    slow_ns: u64,
    /// Time window with slow-call detection off: a success is one bucket
    /// increment (the inlined fast path of `record_raw`).
    plain_successes: bool,
    /// The time window's arithmetic (unused for count windows).
    time: TimeWindow,
    /// Permits take the precise time at admission: slow-call detection is on
    /// or a latency histogram is attached. (Derivable from `slow_ns` and
    /// `latency`; kept as one flag so that `acquire_raw`'s inlined closed
    /// path tests one byte.)
    timed: bool,
    /// State-change listeners (a registry attaches its own as the parent).
    transitions: std::sync::Arc<crate::observe::events::Listeners<Transition>>,
    /// Rejection listeners (likewise).
    rejections:
        std::sync::Arc<crate::observe::events::Listeners<crate::observe::events::Rejection>>,
    /// Where call latencies go, when attached (see
    /// [`Breaker::with_latency_histogram`]).
    latency: Option<std::sync::Arc<crate::detect::histogram::LatencyHistogram>>,
    /// Threads whose slot ([`crate::engine::thread_slot`]) is below this own the stripe of
    /// that number: they count with plain loads and stores (in-process
    /// breakers; 0 for shared ones, whose threads own stripes through
    /// `claims`). Threads that own none share the last stripe, with CAS.
    exclusive: usize,
    /// A shared-memory breaker's stripe ownership (see `shm::claims`).
    #[cfg(all(feature = "shm", unix, not(loom)))]
    claims: Option<std::sync::Arc<crate::shm::Claims>>,
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

/// "No retry-after" in the ns form of one.
const NO_RETRY: u64 = u64::MAX;

/// A retry-after from its ns form.
#[inline(always)]
fn retry_after(ns: u64) -> Option<Duration> {
    (ns != NO_RETRY).then(|| Duration::from_nanos(ns))
}

/// A retry-after in ns ([`NO_RETRY`] for none).
fn retry_ns(retry_after: Option<Duration>) -> u64 {
    retry_after.map_or(NO_RETRY, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(NO_RETRY - 1)
    })
}

/// An admission's answer in two words (see [`Breaker::acquire_cold`]). A
/// permit: `generation << 1 | probe`, `start_ns`; a rejection: bit 63 set
/// and the reason, the retry-after in ns ([`NO_RETRY`] for none).
#[derive(Clone, Copy)]
struct Packed(u64, u64);

impl Packed {
    const REJECTED: u64 = 1 << 63;

    #[inline(always)]
    fn permit(p: RawPermit) -> Packed {
        // Generations have 41 bits (see `state`): the shift loses none.
        Packed((p.generation << 1) | u64::from(p.probe), p.start_ns)
    }

    /// A rejection for `reason`, with the retry-after in ns.
    #[inline(always)]
    fn rejected(reason: RejectReason, retry_ns: u64) -> Packed {
        let code = match reason {
            RejectReason::Open => 0,
            RejectReason::HalfOpenFull => 1,
            RejectReason::ForcedOpen => 2,
        };
        Packed(Self::REJECTED | code, retry_ns)
    }

    fn of(r: Result<RawPermit, Rejected>) -> Packed {
        match r {
            Ok(p) => Packed::permit(p),
            Err(r) => Packed::rejected(r.reason, retry_ns(r.retry_after)),
        }
    }

    /// Back to a `Result`; inlined, so a caller that only asks `is_err()`
    /// never builds the `Duration`.
    #[inline(always)]
    fn unpack(self) -> Result<RawPermit, Rejected> {
        let Packed(a, b) = self;
        if a & Self::REJECTED == 0 {
            return Ok(RawPermit {
                generation: a >> 1,
                start_ns: b,
                probe: a & 1 == 1,
            });
        }
        Err(Rejected {
            reason: match a & 3 {
                0 => RejectReason::Open,
                1 => RejectReason::HalfOpenFull,
                _ => RejectReason::ForcedOpen,
            },
            retry_after: retry_after(b),
        })
    }
}

impl Breaker {
    /// A breaker on the system clock.
    pub fn new(config: Config) -> Result<Breaker, ConfigError> {
        Breaker::named("breaker", config, ClockSource::Monotonic)
    }

    /// A breaker on the given clock (e.g. an `Arc<ManualClock>`).
    pub fn with_clock(
        config: Config,
        clock: impl Into<ClockSource>,
    ) -> Result<Breaker, ConfigError> {
        Breaker::named("breaker", config, clock)
    }

    /// A named breaker on the given clock.
    pub fn named(
        name: &str,
        config: Config,
        clock: impl Into<ClockSource>,
    ) -> Result<Breaker, ConfigError> {
        Breaker::with_stripes(name, config, clock, Layout::default_stripes())
    }

    /// As [`Breaker::named`], with an explicit number of counter stripes.
    pub fn with_stripes(
        name: &str,
        config: Config,
        clock: impl Into<ClockSource>,
        stripes: usize,
    ) -> Result<Breaker, ConfigError> {
        config.validate()?;
        let layout = Layout::new(&config, stripes);
        let window = match config.window {
            WindowConfig::Time { buckets, .. } => WindowKind::Time(TimeWindow {
                bucket_ns: config.bucket_ns(),
                buckets: u64::from(buckets),
            }),
            WindowConfig::Count { size } => WindowKind::Count(CountWindow {
                size: u64::from(size),
            }),
        };
        let cells = Cells::new(&layout);
        let clock = clock.into();
        // Seed for the open-timeout jitter: it must differ between breakers
        // and processes (so a fleet does not probe in lock-step), hence the
        // OS-seeded keys of std's RandomState mixed with the clock.
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(clock.now_ns());
            h.finish()
        };
        cells.w(W_RNG).store(seed, Relaxed);
        Ok(Breaker::assemble(
            name, config, layout, cells, clock, window, false,
        ))
    }

    /// A breaker over cells it does not own (a slot of a shared-memory
    /// registry), used as they are: nothing is reset or seeded (the slot's
    /// creator did that once). `layout` must be the one the cells were made
    /// for: `Layout::new(&config, stripes)`.
    #[cfg(all(feature = "shm", unix, not(loom)))]
    pub(crate) fn over_cells(
        name: &str,
        config: Config,
        clock: ClockSource,
        layout: Layout,
        cells: Cells,
        claims: std::sync::Arc<crate::shm::Claims>,
    ) -> Result<Breaker, ConfigError> {
        config.validate()?;
        debug_assert_eq!(layout, Layout::new(&config, layout.stripes));
        let window = match config.window {
            WindowConfig::Time { buckets, .. } => WindowKind::Time(TimeWindow {
                bucket_ns: config.bucket_ns(),
                buckets: u64::from(buckets),
            }),
            WindowConfig::Count { size } => WindowKind::Count(CountWindow {
                size: u64::from(size),
            }),
        };
        let mut b = Breaker::assemble(name, config, layout, cells, clock, window, true);
        b.claims = Some(claims);
        Ok(b)
    }

    fn assemble(
        name: &str,
        config: Config,
        layout: Layout,
        cells: Cells,
        clock: ClockSource,
        window: WindowKind,
        shared: bool,
    ) -> Breaker {
        let slow_ns = config.slow_call_duration.map_or(0, |d| d.as_nanos() as u64);
        let time = match window {
            WindowKind::Time(tw) => tw,
            WindowKind::Count(_) => TimeWindow {
                bucket_ns: 1,
                buckets: 1,
            },
        };
        Breaker {
            name: name.into(),
            plain_successes: slow_ns == 0 && matches!(window, WindowKind::Time(_)),
            timed: slow_ns != 0,
            time,
            slow_ns,
            config,
            layout,
            cells,
            clock,
            window,
            transitions: Default::default(),
            rejections: Default::default(),
            latency: None,
            exclusive: if shared { 0 } else { layout.stripes - 1 },
            #[cfg(all(feature = "shm", unix, not(loom)))]
            claims: None,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its clock.
    pub fn clock(&self) -> &ClockSource {
        &self.clock
    }

    /// The calling thread's stripe (its first word), and whether the thread
    /// is its only writer.
    #[inline(always)]
    fn my_stripe(&self) -> (usize, bool) {
        let s = crate::engine::thread_slot::current();
        if s < self.exclusive {
            (self.owned_stripe(s), true)
        } else {
            self.other_stripe(s)
        }
    }

    /// First word of stripe `k`, below `stripes` (no masking).
    #[inline(always)]
    fn owned_stripe(&self, k: usize) -> usize {
        self.layout.stripe_base + k * self.layout.stripe_words
    }

    /// The stripe of a thread past the in-process owned stripes: the one it
    /// claimed in a shared file, else the last stripe, shared.
    #[inline]
    fn other_stripe(&self, slot: usize) -> (usize, bool) {
        match self.claimed_stripe(slot) {
            Some(stripe) => (stripe, true),
            None => (self.layout.stripe(self.layout.stripes - 1), false),
        }
    }

    /// First word of the stripe the thread in `slot` owns in a shared file,
    /// if any.
    #[inline(always)]
    fn claimed_stripe(&self, _slot: usize) -> Option<usize> {
        #[cfg(all(feature = "shm", unix, not(loom)))]
        if let Some(k) = self.claims.as_ref().and_then(|c| c.stripe(_slot)) {
            return Some(self.owned_stripe(k));
        }
        None
    }

    /// The state word and its transitions ([`crate::engine::state`]).
    #[inline(always)]
    fn st(&self) -> &BreakerState {
        BreakerState::at(self.cells.w(W_STATE))
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

    // ----- admission ---------------------------------------------------

    /// Ask to make a call. The permit must be given an outcome
    /// ([`Permit::success`], [`Permit::failure`], [`Permit::ignore`]); a permit
    /// dropped without one gives back its half-open probe slot.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.acquire_raw().map(|raw| Permit::new(self, raw))
    }

    /// [`Breaker::try_acquire`] for bindings: the permit is a plain value, to be
    /// passed back to [`Breaker::record_raw`] or [`Breaker::release_raw`].
    #[inline(always)]
    pub fn acquire_raw(&self) -> Result<RawPermit, Rejected> {
        let w = self.word();
        if self.admits_from_word(w) {
            return Ok(RawPermit {
                generation: w.generation(),
                start_ns: 0,
                probe: false,
            });
        }
        self.acquire_cold(w).unpack()
    }

    /// Whether `w` alone admits a call, with nothing to write and no clock
    /// to read: Closed or Disabled, and permits untimed (no slow-call
    /// detection, no latency histogram). The first branch of
    /// [`Breaker::acquire_raw`], and the test a binding that reads the state
    /// word in place makes instead of calling in: it gets this breaker's
    /// part from [`crate::bindings::skips_core`], which asks this function,
    /// so the two cannot differ.
    #[inline(always)]
    pub(crate) fn admits_from_word(&self, w: Word) -> bool {
        w.admits_freely() && !self.timed
    }

    /// Everything but an untimed Closed admission, out of line, with its
    /// answer in two registers ([`Packed`]): returned as a 32-byte `Result`
    /// it would go through memory, and the inlined closed path, which merges
    /// with it, would copy its permit through the stack too (where a 16-byte
    /// load of two 8-byte stores stalls store forwarding).
    #[inline(never)]
    fn acquire_cold(&self, w: Word) -> Packed {
        if w.admits_freely() {
            // A timed permit (slow-call detection or a latency histogram).
            return Packed::permit(self.permit(w.generation(), false));
        }
        match w.phase() {
            Phase::Open => {
                if let Some(ns) = self.reject_while_open(w) {
                    return Packed::rejected(RejectReason::Open, ns);
                }
            }
            Phase::ForcedOpen => {
                // Nothing to decide: rejected until someone resets it.
                self.note_rejection(RejectReason::ForcedOpen, NO_RETRY);
                return Packed::rejected(RejectReason::ForcedOpen, NO_RETRY);
            }
            _ => {}
        }
        Packed::of(self.acquire_slow(w))
    }

    /// The common Open case: the deadline is published and not reached, and
    /// the state has not moved since `w`. Counts the rejection and returns
    /// the retry-after in ns; `None` sends the caller to the general path.
    #[inline]
    fn reject_while_open(&self, w: Word) -> Option<u64> {
        let d = self.deadline(w.generation())?;
        let now = self.clock.recent_ns();
        // The second load of the state word: see `deadline` for why a
        // rejection is only decided against an unchanged word.
        if now >= d || self.word() != w {
            return None;
        }
        let ns = d - now;
        self.note_rejection(RejectReason::Open, ns);
        Some(ns)
    }

    #[inline]
    fn permit(&self, generation: u64, probe: bool) -> RawPermit {
        RawPermit {
            generation,
            start_ns: if self.timed { self.clock.now_ns() } else { 0 },
            probe,
        }
    }

    #[inline(never)]
    fn acquire_slow(&self, mut w: Word) -> Result<RawPermit, Rejected> {
        loop {
            match w.phase() {
                Phase::Closed | Phase::Disabled => return Ok(self.permit(w.generation(), false)),
                Phase::ForcedOpen => return Err(self.reject(RejectReason::ForcedOpen, None)),
                Phase::Open => {
                    let now = self.clock.recent_ns();
                    match self.deadline(w.generation()) {
                        None => {
                            // Either the breaker moved on since we read `w`
                            // (the deadline word already belongs to a later
                            // phase): look again; or it has just opened and
                            // its winner has not published the deadline yet.
                            let fresh = self.word();
                            if fresh != w {
                                w = fresh;
                                continue;
                            }
                            if self.recover_unpublished(w, self.config.open_timeout) {
                                w = self.word();
                                continue;
                            }
                            return Err(
                                self.reject(RejectReason::Open, Some(self.config.open_timeout))
                            );
                        }
                        Some(d) if now < d => {
                            // `d` may belong to a later phase (see
                            // `deadline`); if so the state word has moved on
                            // too: look again rather than reject on a stale view.
                            let fresh = self.word();
                            if fresh != w {
                                w = fresh;
                                continue;
                            }
                            return Err(self
                                .reject(RejectReason::Open, Some(Duration::from_nanos(d - now))));
                        }
                        Some(_) => {
                            // The open period is over: this call becomes the
                            // first probe, if it wins the transition.
                            match self.st().transition_probe(w) {
                                Ok(probe) => return Ok(self.probe_permit(probe)),
                                Err(actual) => w = actual,
                            }
                        }
                    }
                }
                Phase::HalfOpen => {
                    if let Some(d) = self.deadline(w.generation()) {
                        if self.clock.recent_ns() >= d {
                            // Probes never reported: back to Open.
                            match self.st().transition_half_open_timeout(w) {
                                Ok(c) => {
                                    self.after_transition(c.from, c.to);
                                    w = c.to;
                                }
                                Err(actual) => w = actual,
                            }
                            continue;
                        }
                    }
                    if w.probes() >= self.config.half_open_max_calls {
                        let fresh = self.word();
                        if fresh != w {
                            w = fresh;
                            continue;
                        }
                        if self.deadline(w.generation()).is_none()
                            && self.recover_unpublished(w, self.config.half_open_max_wait)
                        {
                            w = self.word();
                            continue;
                        }
                        return Err(self.reject(RejectReason::HalfOpenFull, None));
                    }
                    match self.st().transition_probe(w) {
                        Ok(probe) => return Ok(self.probe_permit(probe)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
    }

    fn reject(&self, reason: RejectReason, retry_after: Option<Duration>) -> Rejected {
        self.note_rejection(reason, retry_ns(retry_after));
        Rejected {
            reason,
            retry_after,
        }
    }

    /// Count a rejection (retry-after in ns, [`NO_RETRY`] for none) and tell
    /// the rejection listeners, if any.
    #[inline(always)]
    #[cfg_attr(loom, allow(unused_variables))]
    fn note_rejection(&self, reason: RejectReason, retry_ns: u64) {
        let (s, exclusive) = self.my_stripe();
        // A statistic, read by metrics().
        bump(self.cells.w(s + S_REJECTED), 1, exclusive);
        #[cfg(not(loom))]
        if self.rejections.is_active() {
            self.emit_rejection(reason, retry_after(retry_ns));
        }
    }

    /// Out of line: the rejection path only pays for the listener check.
    #[cold]
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(never)]
    fn emit_rejection(&self, reason: RejectReason, retry_after: Option<Duration>) {
        self.rejections.emit(|| crate::observe::events::Rejection {
            breaker: self.name.clone(),
            reason,
            retry_after,
            at_ns: self.clock.recent_ns(),
        });
    }

    /// The deadline of the open or half-open phase of `generation`, if its
    /// winner has published it.
    fn deadline(&self, generation: u64) -> Option<u64> {
        // Acquire pairs with the Release stores in `publish_deadline`.
        // Seeing our generation in W_PHASE_GEN means the deadline stored
        // before it is visible: we read ours, or a later phase's. A later
        // one was stored (Release) after that phase's winning CAS, so by
        // reading it (Acquire) we are sure to see the state word moved on:
        // callers re-check the word before acting on a rejection, and a CAS
        // from a stale word fails.
        let g = Published::from_bits(self.cells.w(W_PHASE_GEN).load(Acquire));
        if g == Published::of(generation) {
            Some(self.cells.w(W_DEADLINE).load(Acquire))
        } else {
            None
        }
    }

    /// The phase of `w` (Open, or a full Half-Open) has no published
    /// deadline. Normally that only lasts the few ns between the winner's
    /// CAS and its `publish_deadline`; in shared memory the
    /// winner may have been killed in between, and in any breaker a winner
    /// descheduled in between may publish late, after the breaker has moved
    /// on, over a later phase's deadline: either would leave the breaker open
    /// (or half-open and full) forever. So the first caller to see it
    /// notes the time in `W_STALL`; once `grace` (the phase's own length) has
    /// passed since, the winner is taken for dead and any caller publishes a
    /// deadline of "noted + grace", already due, in its place. Returns
    /// whether the caller should look at the state again.
    ///
    /// Relaxed: the stall word is one self-contained value (a generation tag
    /// and a time); the deadline is published with `publish_deadline`'s own
    /// Release stores. A recoverer that publishes late, after the breaker
    /// moved on, can only make a later phase look unpublished for another
    /// `grace`, never wedge it.
    #[cold]
    fn recover_unpublished(&self, w: Word, grace: Duration) -> bool {
        let now = self.clock.now_ns();
        let stall = self.cells.w(W_STALL);
        let v = Stall::from_bits(stall.load(Relaxed));
        if !v.is_of(w.generation()) {
            let noted = Stall::noted(w.generation(), now);
            let _ = stall.compare_exchange(v.bits(), noted.bits(), Relaxed, Relaxed);
            return false;
        }
        let due = v.noted_ns().saturating_add(grace.as_nanos() as u64);
        if now < due || self.word() != w {
            return self.word() != w;
        }
        self.publish_deadline(w.generation(), due);
        true
    }

    fn publish_deadline(&self, generation: u64, deadline: u64) {
        self.cells.w(W_DEADLINE).store(deadline, Release);
        self.cells
            .w(W_PHASE_GEN)
            .store(Published::of(generation).bits(), Release);
    }

    /// The permit of a probe slot just taken: the first one (Open to
    /// HalfOpen, whose transition is announced) or another.
    fn probe_permit(&self, probe: Probe) -> RawPermit {
        match probe {
            Probe::HalfOpened(c) => {
                self.after_transition(c.from, c.to);
                self.permit(c.to.generation(), true)
            }
            Probe::Slot(generation) => self.permit(generation, true),
        }
    }

    /// Bookkeeping done only by the winner of a transition.
    fn after_transition(&self, from: Word, to: Word) {
        let now = self.clock.now_ns();
        match to.phase() {
            Phase::Open => {
                // Only winners write the re-open count, and winners are
                // ordered by the state CAS (AcqRel), so Relaxed suffices.
                let reopens = if from.phase() == Phase::HalfOpen {
                    self.cells.w(W_REOPENS).load(Relaxed) + 1
                } else {
                    0
                };
                self.cells.w(W_REOPENS).store(reopens, Relaxed);
                let timeout = self.open_timeout_ns(reopens);
                let jitter = self.jitter_ns(timeout);
                self.publish_deadline(to.generation(), now.saturating_add(timeout + jitter));
            }
            Phase::HalfOpen => {
                let wait = self.config.half_open_max_wait.as_nanos() as u64;
                self.publish_deadline(to.generation(), now.saturating_add(wait));
            }
            Phase::Closed => {
                self.cells.w(W_REOPENS).store(0, Relaxed);
                if let WindowKind::Count(cw) = self.window {
                    // Clear the count window: every slot written so far
                    // falls out of the last N tickets (its 16-bit generation
                    // tag alone could alias after 65,536 transitions).
                    self.cells.w(W_TICKET).fetch_add(cw.size, Relaxed);
                }
            }
            Phase::Disabled | Phase::ForcedOpen => {
                self.cells.w(W_REOPENS).store(0, Relaxed);
            }
        }
        if from.phase() != to.phase() {
            self.cells.w(W_STATE_CHANGES).fetch_add(1, Relaxed);
            self.emit(from.phase(), to, now);
        }
    }

    /// The open timeout after `reopens` failed probing rounds.
    pub(crate) fn open_timeout_ns(&self, reopens: u64) -> u64 {
        let base = self.config.open_timeout.as_nanos() as u64;
        match self.config.backoff {
            None => base,
            Some(b) => {
                let f = b.multiplier.powi(reopens.min(1000) as i32);
                let t = (base as f64 * f).min(b.max.as_nanos() as f64);
                t as u64
            }
        }
    }

    fn jitter_ns(&self, timeout: u64) -> u64 {
        if self.config.jitter == 0.0 {
            return 0;
        }
        // splitmix64 over a shared seed: only transition winners draw.
        let mut z = self
            .cells
            .w(W_RNG)
            .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        (timeout as f64 * self.config.jitter * unit) as u64
    }

    fn emit(&self, from: Phase, to: Word, now: u64) {
        // One atomic load when nobody listens; otherwise one job on the
        // event thread, where each listener runs inside catch_unwind.
        #[cfg(not(loom))]
        self.transitions.emit(|| Transition {
            breaker: self.name.clone(),
            from,
            to: to.phase(),
            generation: to.generation(),
            at_ns: now,
        });
        #[cfg(loom)]
        let _ = (from, to, now);
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
        self.transitions.subscribe(f);
    }

    /// Call `f` on every rejected call, off the call path (one atomic load
    /// per rejection when nobody listens).
    pub fn on_rejection(
        &self,
        f: impl Fn(&crate::observe::events::Rejection) + Send + Sync + 'static,
    ) {
        self.rejections.subscribe(f);
    }

    /// The state-change listener set (e.g. to attach a parent set).
    pub fn transition_listeners(
        &self,
    ) -> &std::sync::Arc<crate::observe::events::Listeners<Transition>> {
        &self.transitions
    }

    /// The rejection listener set.
    pub fn rejection_listeners(
        &self,
    ) -> &std::sync::Arc<crate::observe::events::Listeners<crate::observe::events::Rejection>> {
        &self.rejections
    }

    /// Record every call's latency (successes and failures) into `histogram`,
    /// e.g. to drive an [`crate::timeout::AdaptiveTimeout`]. Permits then read
    /// the precise clock at admission and at the outcome (two clock reads a
    /// call), unless the caller reports durations itself.
    pub fn with_latency_histogram(
        mut self,
        histogram: std::sync::Arc<crate::detect::histogram::LatencyHistogram>,
    ) -> Breaker {
        self.latency = Some(histogram);
        self.plain_successes = false;
        self.timed = true;
        self
    }

    // ----- outcomes ----------------------------------------------------

    /// Report the outcome of a call admitted by [`Breaker::acquire_raw`].
    /// `duration_ns` overrides the duration the permit measured.
    #[inline(always)]
    pub fn record_raw(&self, p: RawPermit, outcome: Outcome, duration_ns: Option<u64>) {
        // The common case, inlined: a fast success of a closed-path permit on
        // a time window, by a thread that owns its stripe. One read of the
        // recent clock, a plain load and store on this thread's stripe (no
        // read-modify-write instruction), and two loads of the control line
        // (written only while a run of failures is in progress or the window
        // is in danger).
        if self.plain_successes && outcome == Outcome::Success && !p.probe {
            let (stripe, owned) = self.my_stripe();
            if !owned {
                // The shared stripe: CAS, on the general path.
                return self.record_general(p, outcome, duration_ns);
            }
            let t = self.clock.recent_ns();
            let moved = self.time.record_owned(
                &self.cells,
                &self.layout,
                stripe,
                KIND_OK_FAST,
                p.generation,
                t,
            );
            // Relaxed: both words live on the control line, read-mostly;
            // a success only has work to do when a failure run is in
            // progress, when buckets may have left the window (this stripe
            // just moved to a new bucket), or when the window is in danger.
            if moved
                || Run::from_bits(self.cells.w(W_CONSEC).load(Relaxed)).in_progress()
                || self.in_danger(p.generation)
            {
                self.judge_success(p.generation, t);
            }
            return;
        }
        self.record_general(p, outcome, duration_ns);
    }

    /// Report `n` successes of calls admitted by `p` (an untimed permit),
    /// exactly as `n` calls of `record_raw(p, Outcome::Success, None)` in a
    /// row would: for a binding that gathers successes and hands them over
    /// at once, where crossing into Rust costs more than the record (Node).
    /// Bindings call it through [`crate::bindings::record_batch`], whose
    /// contract says when a batch may be held and when it must be handed over.
    ///
    /// In one store when the calls would each be the closed path's plain
    /// store (this thread owns its stripe, the bucket is current, no failure
    /// run in progress, the window not in danger: then no success has
    /// anything to judge); else one by one.
    pub(crate) fn record_successes_raw(&self, p: RawPermit, n: u32) {
        if n > 1 && self.plain_successes && !p.probe {
            let (stripe, owned) = self.my_stripe();
            // Relaxed: as in `record_raw`. A failure run or danger that
            // another thread starts after these loads is ordered after
            // these successes, as if they had been recorded first.
            if owned
                && !Run::from_bits(self.cells.w(W_CONSEC).load(Relaxed)).in_progress()
                && !self.in_danger(p.generation)
                && self.time.add_owned(
                    &self.cells,
                    &self.layout,
                    stripe,
                    KIND_OK_FAST,
                    p.generation,
                    self.clock.recent_ns(),
                    n,
                )
            {
                return;
            }
        }
        for _ in 0..n {
            self.record_raw(p, Outcome::Success, None);
        }
    }

    /// Whether the window of `generation` was last judged "too few calls to
    /// judge, but enough failures that reaching `min_calls` would trip".
    #[inline(always)]
    fn in_danger(&self, generation: u64) -> bool {
        Danger::from_bits(self.cells.w(W_DANGER).load(Relaxed)) == Danger::of(generation)
    }

    /// The rest of a closed-path success: end a failure run, and judge the
    /// window when the success may be the call that trips it.
    #[cold]
    fn judge_success(&self, generation: u64, t: u64) {
        let w = self.word();
        if w.phase() == Phase::Closed && w.generation() == generation {
            self.reset_consecutive(generation);
            self.evaluate(w, t);
        }
    }

    #[inline(never)]
    fn record_general(&self, p: RawPermit, outcome: Outcome, duration_ns: Option<u64>) {
        let (stripe, exclusive) = self.my_stripe();
        let kind = match outcome {
            Outcome::Ignored => {
                // A statistic.
                bump(self.cells.w(stripe + S_IGNORED), 1, exclusive);
                if p.probe {
                    self.release_probe(p);
                }
                return;
            }
            Outcome::Success => KIND_OK_FAST,
            Outcome::Failure => KIND_FAIL_FAST,
        };
        // The call's duration: the caller's figure, else measured from the
        // permit when it was timed (slow-call detection or a histogram).
        let d = duration_ns
            .or_else(|| (p.start_ns != 0).then(|| self.clock.now_ns().saturating_sub(p.start_ns)));
        let slow = self.slow_ns != 0 && d.unwrap_or(0) > self.slow_ns;
        let kind = kind + slow as usize;
        let t = self.clock.recent_ns();
        if let (Some(h), Some(d)) = (&self.latency, d) {
            h.record_at(t, d);
        }
        let moved = match self.window {
            WindowKind::Time(tw) => tw.record(
                &self.cells,
                &self.layout,
                stripe,
                kind,
                p.generation,
                t,
                exclusive,
            ),
            WindowKind::Count(cw) => {
                bump(self.cells.w(stripe + S_RETIRED + kind), 1, exclusive);
                // An outcome of an earlier generation takes no ticket: it
                // would push a current call out of the last N while adding
                // none (raising the rate without a failure).
                if self.word().generation() == p.generation {
                    cw.record(&self.cells, kind, p.generation);
                }
                false
            }
        };

        if p.probe {
            self.probe_outcome(p, outcome == Outcome::Success);
            return;
        }
        let w = self.word();
        if w.phase() != Phase::Closed || w.generation() != p.generation {
            return; // stale generation, or disabled: counted, not judged
        }
        match outcome {
            Outcome::Success => {
                self.reset_consecutive(p.generation);
                // A success trips the breaker when it is the call that
                // brings the window to `min_calls` with the rate at the
                // threshold, or when older successes have just left the
                // window; it cannot otherwise (it lowers the failure rate).
                if slow || moved || self.in_danger(p.generation) {
                    self.evaluate(w, t);
                }
            }
            _ => {
                let run = self.add_consecutive(p.generation);
                if self
                    .config
                    .consecutive_failures
                    .is_some_and(|n| run >= u64::from(n))
                {
                    self.trip(w);
                } else {
                    self.evaluate(w, t);
                }
            }
        }
    }

    /// Give back a permit without an outcome: a probe's slot is freed.
    pub fn release_raw(&self, p: RawPermit) {
        if p.probe {
            self.release_probe(p);
        }
    }

    /// Count a call that is *still in flight*, admitted by `p` and running
    /// for longer than the slow-call duration, as one slow call now (a slow
    /// success of `p`'s generation; dropped if stale), so a dependency that
    /// stops answering trips the slow-call rate before its calls time out.
    /// [`crate::bulkhead`] calls this for the calls it watches. The caller
    /// must then end `p` with [`Breaker::release_raw`], not `record_raw`,
    /// so that the call is counted once. Returns `false`, counting nothing,
    /// when slow-call detection is off or `p` is a half-open probe (a hung
    /// probe is the half-open wait limit's business).
    pub fn record_in_flight_slow(&self, p: RawPermit) -> bool {
        if self.slow_ns == 0 || p.probe {
            return false;
        }
        let (stripe, exclusive) = self.my_stripe();
        let t = self.clock.recent_ns();
        match self.window {
            WindowKind::Time(tw) => {
                tw.record(
                    &self.cells,
                    &self.layout,
                    stripe,
                    KIND_OK_SLOW,
                    p.generation,
                    t,
                    exclusive,
                );
            }
            WindowKind::Count(cw) => {
                // A statistic, as in `record_general`.
                bump(
                    self.cells.w(stripe + S_RETIRED + KIND_OK_SLOW),
                    1,
                    exclusive,
                );
                cw.record(&self.cells, KIND_OK_SLOW, p.generation);
            }
        }
        let w = self.word();
        if w.phase() == Phase::Closed && w.generation() == p.generation {
            self.evaluate(w, t);
        }
        true
    }

    fn reset_consecutive(&self, generation: u64) {
        // A success only writes when a run is in progress, so the success
        // path stays read-only on the shared control line. Relaxed: a lost
        // race between a failure and a reset is a race between two calls
        // that had no order anyway.
        let c = self.cells.w(W_CONSEC);
        let v = Run::from_bits(c.load(Relaxed));
        if v.in_progress() && v.is_of(generation) {
            let _ = c.compare_exchange(v.bits(), Run::ended(generation).bits(), Relaxed, Relaxed);
        }
    }

    fn add_consecutive(&self, generation: u64) -> u64 {
        let c = self.cells.w(W_CONSEC);
        let mut v = Run::from_bits(c.load(Relaxed));
        loop {
            let new = v.one_more(generation);
            match c.compare_exchange_weak(v.bits(), new.bits(), Relaxed, Relaxed) {
                Ok(_) => return new.length(),
                Err(actual) => v = Run::from_bits(actual),
            }
        }
    }

    fn evaluate(&self, w: Word, t: u64) {
        let c = self.window_counts_at(w.generation(), t);
        let min = u64::from(self.config.min_calls);
        if c.calls < min {
            // Too few calls to judge. If reaching `min_calls` with successes
            // alone would trip (the failures, or slow calls, already make
            // the threshold at `min_calls`), every success must be judged
            // until then: say so in the danger word (written only when it
            // changes, so the success path keeps reading a shared line).
            let f = c.failures as f64 / min as f64 >= self.config.failure_rate_threshold;
            let s = self.slow_ns != 0
                && c.slow as f64 / min as f64 >= self.config.slow_call_rate_threshold;
            let want = if f || s {
                Danger::of(w.generation())
            } else {
                Danger::NONE
            };
            let d = self.cells.w(W_DANGER);
            if d.load(Relaxed) != want.bits() {
                d.store(want.bits(), Relaxed);
            }
            return;
        }
        let by_failures = c.failure_rate() >= self.config.failure_rate_threshold;
        let by_slow = self.slow_ns != 0 && c.slow_rate() >= self.config.slow_call_rate_threshold;
        if by_failures || by_slow {
            self.trip(w);
        }
    }

    fn trip(&self, w: Word) {
        // Exactly one of the racing trippers wins; the others find the
        // generation moved (and leave it to the winner).
        if let Ok(c) = self.st().transition_trip(w) {
            self.after_transition(c.from, c.to);
        }
    }

    fn probe_outcome(&self, p: RawPermit, success: bool) {
        let change = if success {
            match self
                .st()
                .transition_close(p.generation, self.config.success_threshold)
            {
                Ok(Close::Closed(c)) => c,
                // Counted, still half-open; or a stale probe.
                Ok(Close::Counted) | Err(_) => return,
            }
        } else {
            match self.st().transition_reopen(p.generation) {
                Ok(c) => c,
                Err(_) => return, // stale probe
            }
        };
        self.after_transition(change.from, change.to);
    }

    fn release_probe(&self, p: RawPermit) {
        // Stale (the phase moved on, or no slot taken): nothing to give back.
        let _ = self.st().transition_release_probe(p.generation);
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
            self.after_transition(c.from, c.to);
        }
    }

    /// Admit every call and never trip, until [`Breaker::reset`].
    pub fn disable(&self) {
        if let Ok(c) = self.st().transition_disable() {
            self.after_transition(c.from, c.to);
        }
    }

    /// Back to Closed with an empty window.
    pub fn reset(&self) {
        if let Ok(c) = self.st().transition_reset() {
            self.after_transition(c.from, c.to);
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
        self.after_transition(c.from, c.to);
        // ...and the tickets of the others.
        if let WindowKind::Count(cw) = self.window {
            let t = cw.size.wrapping_mul(n - 2);
            self.cells.w(W_TICKET).fetch_add(t, Relaxed);
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
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        // If `f` panics, `permit` is dropped unrecorded and gives back its
        // probe slot.
        let r = f();
        permit.record(classify(&r));
        r.map_err(CallError::Failed)
    }

    // ----- reading -----------------------------------------------------

    /// What the window holds now, for the current generation.
    pub fn window_counts(&self) -> WindowCounts {
        let w = self.word();
        self.window_counts_at(w.generation(), self.clock.recent_ns())
    }

    fn window_counts_at(&self, generation: u64, t: u64) -> WindowCounts {
        match self.window {
            WindowKind::Time(tw) => tw.counts(&self.cells, &self.layout, generation, t),
            WindowKind::Count(cw) => cw.counts(&self.cells, generation),
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let w = self.word();
        let mut totals = [0u64; KINDS];
        let (mut ignored, mut rejected) = (0, 0);
        for s in 0..self.layout.stripes {
            let base = self.layout.stripe(s);
            // Retired totals first, then the bucket words: a concurrent
            // bucket reset moves a count from the word to the retired total
            // (word first, the total with Release: `window::retire`), and
            // these Acquire loads order the word loads after, so this can
            // only under-count, never count twice; the high-water marks
            // below keep totals from going back.
            for (k, t) in totals.iter_mut().enumerate() {
                *t = t.wrapping_add(self.cells.w(base + S_RETIRED + k).load(Acquire));
            }
            // Wrapping sums: a shared file's counters may be damaged (or
            // just old); a metrics read must not panic on them.
            ignored = self
                .cells
                .w(base + S_IGNORED)
                .load(Relaxed)
                .wrapping_add(ignored);
            rejected = self
                .cells
                .w(base + S_REJECTED)
                .load(Relaxed)
                .wrapping_add(rejected);
            if let WindowKind::Time(_) = self.window {
                for b in 0..self.layout.buckets {
                    for (k, t) in totals.iter_mut().enumerate() {
                        let v = self.cells.w(self.layout.bucket(base, b, k)).load(Relaxed);
                        *t = t.wrapping_add(crate::engine::window::Bucket::from_bits(v).count());
                    }
                }
            }
        }
        for (k, t) in totals.iter_mut().enumerate() {
            let prev = self.cells.w(W_HIGH_WATER + k).fetch_max(*t, Relaxed);
            *t = (*t).max(prev);
        }
        let window = self.window_counts_at(w.generation(), self.clock.recent_ns());
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
            state_changes: self.cells.w(W_STATE_CHANGES).load(Relaxed),
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
        let words = |b: &Breaker| -> Vec<u64> {
            (0..b.layout.lines() * LINE_WORDS)
                .filter(|&i| i != W_RNG)
                .map(|i| b.cells.w(i).load(Relaxed))
                .collect()
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
