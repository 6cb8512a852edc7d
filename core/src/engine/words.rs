//! The breaker's packed control words other than the state word (that one
//! is [`crate::engine::state`]): each a newtype with its fields' consts and its
//! encode/decode here, so no shift or mask is written at a use site.
//!
//! | word | bits | written by |
//! |---|---|---|
//! | `W_PHASE_GEN` ([`Published`]) | `generation:63 \| 1` | the winner of a transition, after the deadline |
//! | `W_CONSEC` ([`Run`]) | `generation:32 \| run:32` | failures (CAS), a success ending a run |
//! | `W_DANGER` ([`Danger`]) | `generation:32 \| 1`, or 0 | the window's judge |
//! | `W_STALL` ([`Stall`]) | `generation:20 \| ms:44` | a caller that found a deadline unpublished |
//!
//! A generation is cut to the field's width; a tag that wrapped would have to
//! survive 2^32 (2^20 for the stall word) transitions while its word is not
//! rewritten, and every use re-checks the state word as well.

/// `W_PHASE_GEN`: which generation's deadline `W_DEADLINE` holds, stored
/// (Release) after it: `generation << 1 | 1`, so 0 means "none yet".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Published(u64);

impl Published {
    /// The deadline of `generation` is published.
    #[inline]
    pub(crate) const fn of(generation: u64) -> Published {
        Published((generation << 1) | 1)
    }

    #[inline]
    pub(crate) const fn from_bits(v: u64) -> Published {
        Published(v)
    }

    #[inline]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }
}

/// `W_CONSEC`: the current run of consecutive failures, tagged with the
/// generation it belongs to, so a run of an earlier closed phase counts as
/// none without being cleared at each transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run(u64);

impl Run {
    const TAG_SHIFT: u32 = 32;
    const LENGTH: u64 = (1 << Self::TAG_SHIFT) - 1;

    #[inline]
    const fn tag(generation: u64) -> u64 {
        generation as u32 as u64
    }

    #[inline]
    pub(crate) const fn from_bits(v: u64) -> Run {
        Run(v)
    }

    #[inline]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }

    /// Whether some failures are counted (of whichever generation): the
    /// closed path's one-load test for "a success may have work to do".
    #[inline(always)]
    pub(crate) const fn in_progress(self) -> bool {
        self.0 & Self::LENGTH != 0
    }

    /// Whether the word belongs to `generation`.
    #[inline]
    pub(crate) const fn is_of(self, generation: u64) -> bool {
        self.0 >> Self::TAG_SHIFT == Self::tag(generation)
    }

    /// Failures in the run.
    #[inline]
    pub(crate) const fn length(self) -> u64 {
        self.0 & Self::LENGTH
    }

    /// No run, in `generation`.
    #[inline]
    pub(crate) const fn ended(generation: u64) -> Run {
        Run(Self::tag(generation) << Self::TAG_SHIFT)
    }

    /// One more failure in `generation`: the run goes on, or starts at 1 when
    /// the word belongs to another generation.
    #[inline]
    pub(crate) const fn one_more(self, generation: u64) -> Run {
        if self.is_of(generation) {
            Run(self.0 + 1)
        } else {
            Run((Self::tag(generation) << Self::TAG_SHIFT) | 1)
        }
    }
}

/// `W_DANGER`: set, for a generation, while its window holds too few calls
/// to be judged but enough failures (or slow calls) that reaching
/// `min_calls` would trip it; then every success must be judged too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Danger(u64);

impl Danger {
    /// Not in danger.
    pub(crate) const NONE: Danger = Danger(0);

    /// In danger, in `generation`.
    #[inline(always)]
    pub(crate) const fn of(generation: u64) -> Danger {
        Danger(((generation as u32 as u64) << 32) | 1)
    }

    #[inline(always)]
    pub(crate) const fn from_bits(v: u64) -> Danger {
        Danger(v)
    }

    #[inline(always)]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }
}

/// `W_STALL` (shared breakers' recovery from a winner that never published
/// its deadline): the time, in ms, a caller first saw the deadline of a
/// generation unpublished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stall(u64);

impl Stall {
    const MS_BITS: u32 = 44;
    const MS: u64 = (1 << Self::MS_BITS) - 1;
    const TAG: u64 = (1 << (64 - Self::MS_BITS)) - 1;

    #[inline]
    pub(crate) const fn from_bits(v: u64) -> Stall {
        Stall(v)
    }

    #[inline]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }

    /// Noted at `now_ns` for `generation`.
    #[inline]
    pub(crate) const fn noted(generation: u64, now_ns: u64) -> Stall {
        Stall(((generation & Self::TAG) << Self::MS_BITS) | ((now_ns / 1_000_000) & Self::MS))
    }

    /// Whether this is a note about `generation` (never, for an empty word).
    #[inline]
    pub(crate) const fn is_of(self, generation: u64) -> bool {
        self.0 != 0 && self.0 >> Self::MS_BITS == generation & Self::TAG
    }

    /// When the note was made, in ns (to the ms).
    #[inline]
    pub(crate) const fn noted_ns(self) -> u64 {
        (self.0 & Self::MS) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_within_its_generation_and_restarts_in_another() {
        let r = Run::ended(7).one_more(7).one_more(7);
        assert!(r.is_of(7) && r.in_progress());
        assert_eq!(r.length(), 2);
        let r = r.one_more(8);
        assert_eq!((r.is_of(8), r.length()), (true, 1));
        assert!(!Run::ended(8).in_progress());
        // Tags are the generation's low 32 bits.
        assert!(Run::ended(7).one_more(7 + (1 << 32)).is_of(7));
        assert_eq!(Run::from_bits(r.bits()), r);
    }

    #[test]
    fn danger_and_published_are_per_generation_and_never_zero() {
        assert_ne!(Danger::of(0), Danger::NONE);
        assert_ne!(Danger::of(1), Danger::of(2));
        assert_eq!(Danger::from_bits(Danger::of(3).bits()), Danger::of(3));
        assert_ne!(Published::of(0).bits(), 0);
        assert_ne!(Published::of(5), Published::of(6));
        assert_eq!(
            Published::from_bits(Published::of(5).bits()),
            Published::of(5)
        );
    }

    #[test]
    fn a_stall_note_keeps_its_generation_tag_and_its_millisecond() {
        let s = Stall::noted(42, 1_234_567_890);
        assert!(s.is_of(42) && !s.is_of(43));
        assert!(s.is_of(42 + (1 << 20)), "tags are 20 bits");
        assert_eq!(s.noted_ns(), 1_234_000_000);
        assert!(!Stall::from_bits(0).is_of(0), "an empty word notes nothing");
        assert_eq!(Stall::from_bits(s.bits()), s);
    }
}
