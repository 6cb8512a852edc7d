//! The breaker's packed state word.
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

const PHASE_BITS: u32 = 3;
const COUNT_BITS: u32 = 10;
const PROBES_SHIFT: u32 = PHASE_BITS;
const OKS_SHIFT: u32 = PHASE_BITS + COUNT_BITS;
const GEN_SHIFT: u32 = PHASE_BITS + 2 * COUNT_BITS;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Generations wrap at 2^41 (a transition a microsecond for 25 days).
pub const GEN_MASK: u64 = (1 << (64 - GEN_SHIFT)) - 1;

/// A decoded state word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Word(pub u64);

impl Word {
    /// A word in `phase` at `generation`, with no probes.
    pub fn new(phase: Phase, generation: u64) -> Word {
        Word(((generation & GEN_MASK) << GEN_SHIFT) | phase as u64)
    }
    /// The phase.
    #[inline]
    pub fn phase(self) -> Phase {
        Phase::from_bits(self.0 & ((1 << PHASE_BITS) - 1))
    }
    /// Closed or Disabled: calls are admitted without further checks.
    #[inline(always)]
    pub fn admits_freely(self) -> bool {
        // Closed = 0, Disabled = 4: the low two bits are zero only for these.
        self.0 & 3 == 0
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
}
