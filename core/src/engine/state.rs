//! The breaker's packed state word, and the protocol that changes it.
//!
//! One `u64` holds everything a transition must change at once, so every
//! transition is a single compare-and-swap and racing threads can never make
//! two transitions out of one state:
//!
//! ```text
//!  63                      23 22        13 12         3 2    0
//! +--------------------------+------------+------------+------+
//! |   generation (41 bits)   | probe oks  | probes     | phase|
//! +--------------------------+------------+------------+------+
//! ```
//!
//! * `phase`: closed, open, half-open, forced-open, disabled;
//! * `probes`: half-open probe slots taken (admitted and not released);
//! * `probe oks`: half-open probes that succeeded;
//! * `generation`: bumped by every transition. Permits carry it, and an
//!   outcome whose generation is not the current one is dropped.
//!
//! [`Word`] decodes a word; `BreakerState` (crate-private) owns the atomic and is the only
//! code that writes it, through its `transition_*` methods, each one closure
//! over one compare-exchange loop (`BreakerState::update`). The breaker
//! (`crate::engine::breaker`) judges *when* a transition is due (deadlines, windows)
//! and does the winner's side effects (deadline, events, metrics); this file
//! decides only whether the word allows it, and makes it.
//!
//! | from                          | event                        | to                      | generation |
//! |-------------------------------|------------------------------|-------------------------|------------|
//! | Closed (the judged word)      | `transition_trip`            | Open                    | +1         |
//! | Open (the judged word)        | `transition_probe` (due)     | HalfOpen, 1 probe       | +1         |
//! | HalfOpen (the judged word)    | `transition_probe`           | HalfOpen, probes + 1    | same       |
//! | HalfOpen (permit's gen)       | `transition_release_probe`   | HalfOpen, probes − 1    | same       |
//! | HalfOpen (permit's gen)       | `transition_close`, below threshold | HalfOpen, oks + 1 | same       |
//! | HalfOpen (permit's gen)       | `transition_close`, at threshold | Closed               | +1         |
//! | HalfOpen (permit's gen)       | `transition_reopen`          | Open                    | +1         |
//! | HalfOpen (the judged word)    | `transition_half_open_timeout` | Open                  | +1         |
//! | Closed, Open, HalfOpen (the judged word) | `transition_open_for` | Open           | +1         |
//! | any but ForcedOpen            | `transition_force_open`      | ForcedOpen              | +1         |
//! | any but Disabled              | `transition_disable`         | Disabled                | +1         |
//! | any                           | `transition_reset`           | Closed                  | +1         |
//! | any                           | `transition_reset_many(n)`   | Closed                  | +n         |
//!
//! "The judged word": the transition happens only from the exact word the
//! caller read and judged (a deadline passed, a window tripped); if the word
//! moved, the caller gets the fresh word back and judges again.
//! "Permit's gen": from HalfOpen at the generation of the probe's permit,
//! retried over probe-count changes, refused (`Stale`) once it moved on.

use crate::sync::AtomicU64;
use crate::sync::Ordering::{AcqRel, Acquire};
use std::fmt;

/// What a caller sees: the breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls pass; outcomes are counted.
    Closed,
    /// Calls are rejected.
    Open,
    /// A few probe calls are let through.
    HalfOpen,
}

impl State {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The internal phase: the three states plus the two manual overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Phase {
    /// Closed.
    Closed = 0,
    /// Open until its deadline.
    Open = 1,
    /// Probing.
    HalfOpen = 2,
    /// Open until `reset()` (manual).
    ForcedOpen = 3,
    /// Closed and never trips, until `reset()` (manual).
    Disabled = 4,
}

impl Phase {
    /// The state a caller sees.
    pub fn state(self) -> State {
        match self {
            Phase::Closed | Phase::Disabled => State::Closed,
            Phase::Open | Phase::ForcedOpen => State::Open,
            Phase::HalfOpen => State::HalfOpen,
        }
    }
    /// `closed`, `open`, `half_open`, `forced_open`, `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
            Phase::ForcedOpen => "forced_open",
            Phase::Disabled => "disabled",
        }
    }
    fn from_bits(b: u64) -> Phase {
        match b {
            0 => Phase::Closed,
            1 => Phase::Open,
            2 => Phase::HalfOpen,
            3 => Phase::ForcedOpen,
            _ => Phase::Disabled,
        }
    }
}

// The layout. Bindings that read the word in place get these through
// `crate::bindings` (derived there, never retyped).
const PHASE_BITS: u32 = 3;
pub(crate) const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;
const COUNT_BITS: u32 = 10;
const PROBES_SHIFT: u32 = PHASE_BITS;
const OKS_SHIFT: u32 = PHASE_BITS + COUNT_BITS;
pub(crate) const GEN_SHIFT: u32 = PHASE_BITS + 2 * COUNT_BITS;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Closed = 0 and Disabled = 4 are the only phases with these bits clear.
pub(crate) const FREE_MASK: u64 = 3;
/// Generations wrap at 2^41 (a transition a microsecond for 25 days).
pub const GEN_MASK: u64 = (1 << (64 - GEN_SHIFT)) - 1;

/// A decoded state word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// A word in `phase` at `generation`, with no probes.
    pub fn new(phase: Phase, generation: u64) -> Word {
        Word(((generation & GEN_MASK) << GEN_SHIFT) | phase as u64)
    }
    /// The phase.
    #[inline]
    pub fn phase(self) -> Phase {
        Phase::from_bits(self.0 & PHASE_MASK)
    }
    /// Closed or Disabled: calls are admitted without further checks.
    #[inline(always)]
    pub fn admits_freely(self) -> bool {
        self.0 & FREE_MASK == 0
    }
    /// The generation.
    #[inline]
    pub fn generation(self) -> u64 {
        self.0 >> GEN_SHIFT
    }
    /// Half-open probe slots taken.
    pub fn probes(self) -> u32 {
        ((self.0 >> PROBES_SHIFT) & COUNT_MASK) as u32
    }
    /// Half-open probes that succeeded.
    pub fn probe_oks(self) -> u32 {
        ((self.0 >> OKS_SHIFT) & COUNT_MASK) as u32
    }
    /// The same word with `probes` slots taken (≤ 1023).
    pub fn with_probes(self, probes: u32) -> Word {
        debug_assert!(u64::from(probes) <= COUNT_MASK);
        Word((self.0 & !(COUNT_MASK << PROBES_SHIFT)) | (u64::from(probes) << PROBES_SHIFT))
    }
    /// The same word with `oks` probe successes (≤ 1023).
    pub fn with_probe_oks(self, oks: u32) -> Word {
        debug_assert!(u64::from(oks) <= COUNT_MASK);
        Word((self.0 & !(COUNT_MASK << OKS_SHIFT)) | (u64::from(oks) << OKS_SHIFT))
    }
    /// The word a transition to `phase` produces: next generation, no probes.
    pub fn next(self, phase: Phase) -> Word {
        Word::new(phase, self.generation().wrapping_add(1) & GEN_MASK)
    }
    /// In `phase` at `generation`.
    #[inline]
    fn is_at(self, phase: Phase, generation: u64) -> bool {
        self.phase() == phase && self.generation() == generation
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("phase", &self.phase())
            .field("generation", &self.generation())
            .field("probes", &self.probes())
            .field("probe_oks", &self.probe_oks())
            .finish()
    }
}

/// A transition that happened: the word it left and the word it made.
/// Only its winner gets one, and does the transition's side effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// The word before.
    pub(crate) from: Word,
    /// The word after.
    pub(crate) to: Word,
}

/// A probe transition that could not happen because the probe's generation
/// is no longer the current half-open one (or, for a release, no slot is
/// taken): the outcome is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stale;

/// A manual transition that had nothing to do: already in the phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Already;

/// A probe slot taken by [`BreakerState::transition_probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The first probe: the breaker went Open → HalfOpen (side effects due).
    HalfOpened(Change),
    /// Another slot of the current half-open phase, of this generation.
    Slot(u64),
}

/// A probe success counted by [`BreakerState::transition_close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The threshold was reached: the breaker closed (side effects due).
    Closed(Change),
    /// Counted; still half-open.
    Counted,
}

/// The breaker's state word, and the only code that writes it.
///
/// `repr(transparent)` over the atomic, so the word can stay where the
/// layout puts it (first word of the control line, possibly in a shared
/// file) and be viewed as a `BreakerState` in place ([`BreakerState::at`]).
#[repr(transparent)]
pub(crate) struct BreakerState {
    word: AtomicU64,
}

impl BreakerState {
    /// The state word at `word`, viewed in place.
    #[inline(always)]
    pub(crate) fn at(word: &AtomicU64) -> &BreakerState {
        // SAFETY: `BreakerState` is `repr(transparent)` over `AtomicU64`,
        // so the two have one layout; the lifetime is `word`'s.
        unsafe { &*(word as *const AtomicU64 as *const BreakerState) }
    }

    /// The current word.
    #[inline(always)]
    pub(crate) fn load(&self) -> Word {
        // Acquire: pairs with the AcqRel compare-exchange of every
        // transition (`update`), so whatever the winner wrote before it is
        // visible to a thread that sees the new state. Free on x86_64 (a
        // plain load).
        Word(self.word.load(Acquire))
    }

    /// The address of the word (for bindings that read it in place).
    #[cfg(not(loom))]
    pub(crate) fn as_ptr(&self) -> *const u64 {
        self.word.as_ptr()
    }

    /// The one compare-exchange loop: `f` gets the current word (first
    /// `cur`, then whatever a failed exchange found) and returns the next
    /// word and an action for the caller, or `Err` with why there is no
    /// transition from it, which ends the loop.
    #[inline(always)]
    fn update<A, R>(
        &self,
        mut cur: Word,
        mut f: impl FnMut(Word) -> Result<(Word, A), R>,
    ) -> Result<(Change, A), R> {
        loop {
            let (to, action) = f(cur)?;
            // AcqRel on success: Release publishes what the previous steps
            // wrote (nothing needs it today but the re-open count, written
            // after, is ordered by the *next* transition's Acquire); Acquire
            // makes this winner see the previous winner's writes (re-open
            // count, deadline). Acquire on failure: `f` judges the fresh
            // word, as if `load` had returned it.
            match self.word.compare_exchange(cur.0, to.0, AcqRel, Acquire) {
                Ok(_) => return Ok((Change { from: cur, to }, action)),
                Err(actual) => cur = Word(actual),
            }
        }
    }

    /// From exactly `from` to `to(from)`, once: `Err` carries the fresh word
    /// when the word moved since the caller judged `from`.
    #[inline(always)]
    fn step_from(&self, from: Word, to: impl Fn(Word) -> Word) -> Result<Change, Word> {
        self.update(from, |cur| {
            if cur == from {
                Ok((to(cur), ()))
            } else {
                Err(cur)
            }
        })
        .map(|(c, ())| c)
    }

    /// Trip: Closed → Open, from the word `from` whose window the caller
    /// judged; generation + 1. Of racing trippers exactly one wins: the
    /// others find the generation moved and get `Err(fresh word)`.
    pub(crate) fn transition_trip(&self, from: Word) -> Result<Change, Word> {
        debug_assert_eq!(from.phase(), Phase::Closed);
        self.step_from(from, |w| w.next(Phase::Open))
    }

    /// Take a probe slot, from the word `from` the caller judged. From Open
    /// (its deadline passed): → HalfOpen with this first slot taken,
    /// generation + 1, [`Probe::HalfOpened`]. From HalfOpen (a slot free):
    /// probes + 1, same generation, [`Probe::Slot`]. `Err(fresh word)` when
    /// the word moved since `from` (another probe, a transition).
    pub(crate) fn transition_probe(&self, from: Word) -> Result<Probe, Word> {
        match from.phase() {
            Phase::Open => self
                .step_from(from, |w| w.next(Phase::HalfOpen).with_probes(1))
                .map(Probe::HalfOpened),
            _ => {
                debug_assert_eq!(from.phase(), Phase::HalfOpen);
                self.step_from(from, |w| w.with_probes(w.probes() + 1))
                    .map(|c| Probe::Slot(c.from.generation()))
            }
        }
    }

    /// Half-open timeout: HalfOpen → Open, from the word `from` whose
    /// deadline the caller found passed (probes never reported);
    /// generation + 1. `Err(fresh word)` when the word moved since `from`.
    pub(crate) fn transition_half_open_timeout(&self, from: Word) -> Result<Change, Word> {
        debug_assert_eq!(from.phase(), Phase::HalfOpen);
        self.step_from(from, |w| w.next(Phase::Open))
    }

    /// Open for a given time (`Breaker::open_for`): Closed, Open or
    /// HalfOpen → Open, from the word `from` the caller judged (from Open:
    /// its deadline is earlier than the one asked for); generation + 1, so
    /// a prober that judged the old Open deadline, or a probe of the old
    /// half-open phase, finds the word moved (its outcome is stale).
    /// `Err(fresh word)` when the word moved since `from`. ForcedOpen and
    /// Disabled are left alone by the caller, never passed here.
    pub(crate) fn transition_open_for(&self, from: Word) -> Result<Change, Word> {
        debug_assert!(matches!(
            from.phase(),
            Phase::Closed | Phase::Open | Phase::HalfOpen
        ));
        self.step_from(from, |w| w.next(Phase::Open))
    }

    /// Give back a probe slot of `generation`: HalfOpen → HalfOpen, probes
    /// − 1, same generation. [`Stale`] when the breaker left that half-open
    /// phase, or no slot is taken.
    pub(crate) fn transition_release_probe(&self, generation: u64) -> Result<(), Stale> {
        self.update(self.load(), |w| {
            if !w.is_at(Phase::HalfOpen, generation) || w.probes() == 0 {
                return Err(Stale);
            }
            Ok((w.with_probes(w.probes() - 1), ()))
        })
        .map(|_| ())
    }

    /// A probe of `generation` succeeded. HalfOpen with `threshold` − 1
    /// successes already: → Closed, generation + 1, [`Close::Closed`].
    /// Fewer: probe oks + 1, same generation, [`Close::Counted`]. [`Stale`]
    /// when the breaker left that half-open phase.
    pub(crate) fn transition_close(&self, generation: u64, threshold: u32) -> Result<Close, Stale> {
        self.update(self.load(), |w| {
            if !w.is_at(Phase::HalfOpen, generation) {
                return Err(Stale);
            }
            if w.probe_oks() + 1 >= threshold {
                Ok((w.next(Phase::Closed), true))
            } else {
                Ok((w.with_probe_oks(w.probe_oks() + 1), false))
            }
        })
        .map(|(c, closed)| {
            if closed {
                Close::Closed(c)
            } else {
                Close::Counted
            }
        })
    }

    /// A probe of `generation` failed: HalfOpen → Open, generation + 1.
    /// [`Stale`] when the breaker left that half-open phase.
    pub(crate) fn transition_reopen(&self, generation: u64) -> Result<Change, Stale> {
        self.update(self.load(), |w| {
            if !w.is_at(Phase::HalfOpen, generation) {
                return Err(Stale);
            }
            Ok((w.next(Phase::Open), ()))
        })
        .map(|(c, ())| c)
    }

    /// A manual transition to `phase`, from any phase but `phase` itself
    /// (Closed is left for Closed too: a reset empties the window);
    /// generation + 1.
    #[inline]
    fn force(&self, phase: Phase) -> Result<Change, Already> {
        self.update(self.load(), |w| {
            if w.phase() == phase && phase != Phase::Closed {
                return Err(Already);
            }
            Ok((w.next(phase), ()))
        })
        .map(|(c, ())| c)
    }

    /// Any phase but ForcedOpen → ForcedOpen, generation + 1; [`Already`]
    /// when forced open.
    pub(crate) fn transition_force_open(&self) -> Result<Change, Already> {
        self.force(Phase::ForcedOpen)
    }

    /// Any phase but Disabled → Disabled, generation + 1; [`Already`] when
    /// disabled.
    pub(crate) fn transition_disable(&self) -> Result<Change, Already> {
        self.force(Phase::Disabled)
    }

    /// Any phase → Closed, generation + 1 (from Closed too: the window of
    /// the new generation is empty). Never refused.
    pub(crate) fn transition_reset(&self) -> Result<Change, Already> {
        self.force(Phase::Closed)
    }

    /// `n` resets in a row as one exchange: any phase → Closed, the
    /// generation moved on by `n` (wrapping at 2^41 as `n` single steps
    /// do). Never refused. For `Breaker::reset_many`, a test hook.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn transition_reset_many(&self, n: u64) -> Change {
        self.update(self.load(), |w| {
            let to = Word::new(Phase::Closed, w.generation().wrapping_add(n));
            Ok::<_, std::convert::Infallible>((to, ()))
        })
        .map_or_else(|never| match never {}, |(c, ())| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_without_touching_each_other() {
        let w = Word::new(Phase::HalfOpen, 12345)
            .with_probes(1000)
            .with_probe_oks(999);
        assert_eq!(w.phase(), Phase::HalfOpen);
        assert_eq!(w.generation(), 12345);
        assert_eq!(w.probes(), 1000);
        assert_eq!(w.probe_oks(), 999);
        let n = w.next(Phase::Closed);
        assert_eq!(
            (n.phase(), n.generation(), n.probes(), n.probe_oks()),
            (Phase::Closed, 12346, 0, 0)
        );
        let top = Word::new(Phase::Open, GEN_MASK);
        assert_eq!(top.generation(), GEN_MASK);
        assert_eq!(top.next(Phase::HalfOpen).generation(), 0);
    }

    #[cfg(not(loom))]
    #[test]
    fn transitions_follow_the_table() {
        let a = crate::sync::atomic_u64(Word::new(Phase::Closed, 7).0);
        let st = BreakerState::at(&a);
        let w = st.load();
        let c = st.transition_trip(w).unwrap();
        assert_eq!((c.to.phase(), c.to.generation()), (Phase::Open, 8));
        assert_eq!(st.transition_trip(w), Err(c.to), "a stale tripper loses");
        let Ok(Probe::HalfOpened(h)) = st.transition_probe(c.to) else {
            panic!("first probe opens half-open")
        };
        assert_eq!((h.to.probes(), h.to.generation()), (1, 9));
        assert_eq!(st.transition_probe(h.to), Ok(Probe::Slot(9)));
        assert_eq!(st.transition_release_probe(9), Ok(()));
        assert_eq!(st.transition_release_probe(8), Err(Stale));
        assert_eq!(st.transition_close(9, 2), Ok(Close::Counted));
        let Ok(Close::Closed(z)) = st.transition_close(9, 2) else {
            panic!("second success closes")
        };
        assert_eq!((z.to.phase(), z.to.generation()), (Phase::Closed, 10));
        assert_eq!(st.transition_reopen(9), Err(Stale));
        let o = st.transition_open_for(z.to).unwrap();
        assert_eq!((o.to.phase(), o.to.generation()), (Phase::Open, 11));
        assert_eq!(st.transition_open_for(z.to), Err(o.to), "judged word moved");
        let o2 = st.transition_open_for(o.to).unwrap();
        assert_eq!((o2.to.phase(), o2.to.generation()), (Phase::Open, 12));
        st.transition_reset().unwrap();
        assert_eq!(st.transition_disable().unwrap().to.phase(), Phase::Disabled);
        assert_eq!(st.transition_disable(), Err(Already));
        assert_eq!(st.transition_force_open().unwrap().to.generation(), 15);
        assert_eq!(st.transition_reset().unwrap().to.phase(), Phase::Closed);
        assert_eq!(st.transition_reset().unwrap().to.generation(), 17);
    }

    #[cfg(not(loom))]
    #[test]
    fn reset_many_is_n_resets() {
        for (phase, g) in [
            (Phase::Closed, 7),
            (Phase::HalfOpen, 7),
            (Phase::ForcedOpen, GEN_MASK - 2),
            (Phase::Open, GEN_MASK),
        ] {
            for n in [1, 2, 3, 65_536, 70_001] {
                let start = Word::new(phase, g).with_probes(3).with_probe_oks(2).0;
                let (a, b) = (
                    crate::sync::atomic_u64(start),
                    crate::sync::atomic_u64(start),
                );
                let (one, many) = (BreakerState::at(&a), BreakerState::at(&b));
                let c = many.transition_reset_many(n);
                for _ in 0..n {
                    one.transition_reset().unwrap();
                }
                assert_eq!((c.from.0, c.to), (start, one.load()), "{phase:?} {g} {n}");
            }
        }
    }
}
