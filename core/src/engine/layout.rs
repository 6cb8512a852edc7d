//! Where each atomic word of a breaker lives.
//!
//! A breaker's whole mutable state is an array of 128-byte [`Line`]s of
//! `AtomicU64` words: no pointers, no per-process data, `#[repr(C)]`. The same
//! bytes can therefore live on the heap (in-process breakers) or in a shared
//! memory file that several processes map
//! (`docs/architecture.md#shared-memory-files`). [`Layout`] is the pure
//! arithmetic of which word is where.
//!
//! ```text
//! line 0            control: state word, consecutive failures, danger (a
//!                   shared file's breaker's: an in-process breaker keeps
//!                   these three in its handle), deadline (+ its
//!                   generation); re-open count, jitter seed, stall
//! line 1            metrics: state changes, high-water marks of the totals
//! line 2            count window: position counter, generation cleared
//! lines 3..         count window: one byte per call in the window, eight
//!                   to a word (`engine/count_window.rs`)
//! then S stripes    each its own lines, owned by one thread (the last shared
//!                   by the others): the last bucket entered and its end,
//!                   the time window's buckets (4 outcome words per bucket,
//!                   kind-major), then the tail: retired totals, ignored,
//!                   rejected
//! ```
//!
//! That is the eager layout, [`Layout::new`], all of whose stripes are
//! among its lines. A shared file's breaker is [`Layout::file`]: the
//! control and metrics lines (and a count window's), its directory, and
//! one stripe, the last, which the threads that own none share; each other
//! stripe is made in the file's data area when the process that claims it
//! first counts (`shm::data_area`), its place in the directory (a line
//! number in the data area, plus one). An idle shared breaker is 5 lines
//! whatever the stripe count, and one that P processes count on grows by a
//! stripe per claiming thread. An in-process breaker is [`Layout::lazy`]: its stripes are not among its
//! lines but lines of their own, each made when a thread first counts on it
//! (`engine/breaker/stripes.rs`), and found through a directory of words in
//! its cells. So an idle breaker is the control and metrics lines (and a
//! count window's), whatever the number of cores, and one that T threads
//! use has T stripes:
//!
//! ```text
//! line 0            control words 3..5 and 12..15 (the rest's address in
//!                   word 15; words 0..3 are in the handle); directory
//!                   entries 0..7 in words 5..12
//! the rest:
//! line 1            metrics words 16..21; directory entries 7..18 in 21..32
//! (count window)    ticket line, slot lines
//! then              directory entries 18.. (64 stripes or more only)
//! ```
//!
//! The rest (lines 1..) is a block of its own, made when first written
//! (a transition's count, a metrics total, a stripe past the control
//! line's entries), except for a count window, whose lines every call
//! writes: its breaker's cells hold all its lines from the start, and word
//! 8 points at its own line 1. Word `i` of the rest is at `rest + i - 16`
//! either way.
//!
//! Why not `crossbeam_utils::CachePadded`: its layout is not `#[repr(C)]`
//! (its alignment differs by target), and a shared-memory file needs a layout
//! fixed by us. We keep its 128-byte line (two 64-byte lines, for the
//! adjacent-line prefetcher on x86_64).

use crate::engine::config::{Config, WindowConfig};
use crate::engine::count_window::CountWindow;
use crate::sync::{atomic_u64, AtomicU64};

/// Words per line.
pub const LINE_WORDS: usize = 16;

/// One 128-byte line of atomic words.
#[repr(C, align(128))]
pub struct Line(pub [AtomicU64; LINE_WORDS]);

impl Line {
    /// A line of zeros.
    pub fn zeroed() -> Line {
        Line(std::array::from_fn(|_| atomic_u64(0)))
    }
}

// Control line. (A word added or moved here changes the shared-memory file
// format: list it in `shm::fingerprint`.) The words a call reads come
// first, in the line's first 64 bytes with the first directory entries, so
// that a closed call to a breaker that is not in cache misses one 64-byte
// line of it, not two: the state word, the failure run and the danger word
// (a success), the published deadline (an Open call), and the stripe
// addresses of thread slots 0..3 (`docs/architecture.md#memory-layout`).
// The first three are a shared breaker's only: an in-process breaker keeps
// them in its handle, beside its stripe addresses (`Breaker::hot`), and
// leaves these words unused.
pub(crate) const W_STATE: usize = 0;
pub(crate) const W_CONSEC: usize = 1;
/// Set (tagged with the generation) while the window holds too few calls to
/// be judged but enough failures (or slow calls) that reaching `min_calls`
/// would trip it: then every success must be judged too.
pub(crate) const W_DANGER: usize = 2;
pub(crate) const W_PHASE_GEN: usize = 3;
pub(crate) const W_DEADLINE: usize = 4;
pub(crate) const W_REOPENS: usize = 12;
pub(crate) const W_RNG: usize = 13;
/// Shared breakers only: `generation:20 | ms:44`, the time a caller first saw
/// the current phase's deadline unpublished (see `Breaker::recover_unpublished`).
pub(crate) const W_STALL: usize = 14;
// Metrics line.
pub(crate) const W_STATE_CHANGES: usize = LINE_WORDS;
/// High-water marks of the four outcome totals (see `metrics.rs`).
pub(crate) const W_HIGH_WATER: usize = LINE_WORDS + 1;
// Count window.
pub(crate) const W_TICKET: usize = 2 * LINE_WORDS;
/// The generation whose count window has been cleared, published by the
/// transition's winner after clearing (`engine/count_window.rs`).
pub(crate) const W_WINDOW_GEN: usize = 2 * LINE_WORDS + 1;
pub(crate) const W_SLOTS: usize = 3 * LINE_WORDS;

/// Outcome kinds, one counter each: every call ends in exactly one.
pub(crate) const KIND_OK_FAST: usize = 0;
pub(crate) const KIND_OK_SLOW: usize = 1;
pub(crate) const KIND_FAIL_FAST: usize = 2;
pub(crate) const KIND_FAIL_SLOW: usize = 3;
pub(crate) const KINDS: usize = 4;

// Stripe words, relative to the stripe's first word: the two a success
// reads, the ring of buckets, then the totals (the tail), so that a
// success's words share the stripe's first 64 bytes for ring slots 0..5
// and its first 128 for slots 0..13 ([`bucket_word`]).
/// The stripe's last bucket: `epoch:48 | slot:16`, so the closed path does not
/// divide by the bucket width on every call (a 64-bit division costs more
/// than the rest of the path).
pub(crate) const S_EPOCH: usize = 0;
/// Exclusive stripes only: the end (clock ns) of the bucket in `S_EPOCH`,
/// so that its owner's check "still in my last bucket" is one compare.
pub(crate) const S_UNTIL: usize = 1;
pub(crate) const S_BUCKETS: usize = 2;
// The tail's words, relative to its first ([`Stripe::tail`]).
/// Totals of outcomes no longer in a bucket word, one per kind.
pub(crate) const S_RETIRED: usize = 0;
pub(crate) const S_IGNORED: usize = 4;
pub(crate) const S_REJECTED: usize = 5;
/// Words in a stripe's tail.
pub(crate) const S_TAIL_WORDS: usize = 6;

/// The stripe word of ring slot `b`, kind `k`, in a ring of `buckets`
/// slots: kind-major, so the success counts of the first 6 slots share the
/// stripe's first 64 bytes with the words a success reads, and of the first
/// 14 its first 128 ([`Stripe::bucket`]).
#[inline(always)]
pub(crate) const fn bucket_word(b: usize, k: usize, buckets: usize) -> usize {
    S_BUCKETS + k * buckets + b
}

/// The stripe word of tail word `i` (`S_RETIRED`..) in a stripe of a ring
/// of `buckets` slots (0 for a count window's stripes): past the ring.
#[inline(always)]
pub(crate) const fn tail_word(i: usize, buckets: usize) -> usize {
    S_BUCKETS + KINDS * buckets + i
}

/// Lazy layouts: the address of the breaker's *rest*, its lines past the
/// control line (the metrics line, the directory's further entries, a
/// count window's lines), 0 until they are made: an idle in-process
/// breaker with a time window is its control line alone
/// (`engine/breaker/rest.rs`).
pub(crate) const W_REST: usize = 15;
/// Directory entries in the control line (words 5..12), the first of them
/// in word 5 ...
pub(crate) const DIR_CONTROL: usize = W_DEADLINE + 1;
/// ... seven of them ...
pub(crate) const DIR_ON_CONTROL: usize = W_REOPENS - DIR_CONTROL;
/// ... and in the metrics line (words 21..32), before the directory's own
/// lines (a shared file's layout) ...
const DIR_METRICS: usize = 2 * LINE_WORDS - (W_HIGH_WATER + KINDS);
/// ... or, in an in-process (lazy) layout, in the metrics line's words
/// 21..31, whose last word instead holds the address of the directory's
/// *extension*: the entries of the stripes from `DIR_IN_LINES` on, made
/// when a thread of one of those slots first counts (0 until then), so
/// that a breaker's directory grows with the threads that count on it,
/// not with its stripe count.
pub(crate) const W_DIR_EXT: usize = 2 * LINE_WORDS - 1;
/// Directory entries in a lazy layout's lines (the rest of them in the
/// extension).
pub(crate) const DIR_IN_LINES: usize = DIR_ON_CONTROL + DIR_METRICS - 1;

/// The positions of a breaker's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Whether the stripes are lines of their own, found through the
    /// directory ([`Layout::dir`]); else they follow the control lines.
    pub lazy: bool,
    /// A shared file's layout ([`Layout::file`]): the last stripe follows
    /// the directory; the others are made in the file's data area, found
    /// through the directory.
    pub file: bool,
    /// Stripes (a power of two).
    pub stripes: usize,
    /// The last `shared` of them are shared by the threads that own none
    /// (a power of two; 1 in a shared file). A lazy layout spreads those
    /// threads over one shared stripe per core, so that an oversubscribed
    /// pool's threads do not all write one line.
    pub shared: u32,
    /// Time-window buckets (0 for a count window).
    pub buckets: usize,
    /// Count-window slots, one byte each (0 for a time window).
    pub slots: usize,
    /// First word of stripe 0.
    pub stripe_base: usize,
    /// Words per stripe (a whole number of lines).
    pub stripe_words: usize,
    /// Each stripe's tail, its first word ([`tail_word`]`(0, buckets)`):
    /// kept so that an open rejection's count finds `S_REJECTED` with one
    /// add.
    pub tail: usize,
}

fn round_up(words: usize) -> usize {
    words.div_ceil(LINE_WORDS) * LINE_WORDS
}

impl Layout {
    /// The layout for `config` with `stripes` stripes (rounded up to a power
    /// of two, at most 64).
    pub fn new(config: &Config, stripes: usize) -> Layout {
        let stripes = stripes.clamp(1, 64).next_power_of_two();
        let (buckets, slots) = match config.window {
            WindowConfig::Time { buckets, .. } => (buckets as usize, 0),
            WindowConfig::Count { size } => (0, size as usize),
        };
        let stripe_base = W_SLOTS + round_up(CountWindow::words(slots));
        Layout {
            lazy: false,
            file: false,
            stripes,
            shared: 1,
            buckets,
            slots,
            stripe_base,
            stripe_words: round_up(tail_word(S_TAIL_WORDS, buckets)),
            tail: tail_word(0, buckets),
        }
    }

    /// The layout of an in-process breaker for `config` with `stripes`
    /// stripes (as [`Layout::new`] rounds them): its lines are the control
    /// and metrics lines, a count window's lines, and the directory's; its
    /// stripes are made one by one (`engine/breaker/stripes.rs`), each of
    /// [`Layout::stripe_words`] words.
    pub fn lazy(config: &Config, stripes: usize) -> Layout {
        let inline = Layout::new(config, stripes);
        let base = if inline.slots == 0 {
            W_TICKET
        } else {
            inline.stripe_base
        };
        // One shared stripe per core (rounded up to a power of two), at most
        // a quarter of the stripes: the threads that own none run at most
        // that many at a time.
        let cores = if cfg!(loom) {
            1
        } else {
            crate::engine::thread_slot::cores()
        };
        Layout {
            lazy: true,
            // (A u32, so that it shares a word with `lazy`.)
            shared: cores.next_power_of_two().min(inline.stripes / 4).max(1) as u32,
            // Here: the first of the directory's own words.
            stripe_base: base,
            ..inline
        }
    }

    /// The layout of a shared file's breaker for `config` with `stripes`
    /// stripes (as [`Layout::new`] rounds them): a lazy layout's lines, all
    /// made with the breaker, then the last stripe, which the threads that
    /// own none share. The others are made in the file's data area
    /// (`shm::data_area`), each found through its directory word
    /// ([`Layout::dir`]), which holds its first line's number in the data
    /// area plus one (0: not made).
    #[cfg_attr(not(all(feature = "shm", unix, not(loom))), allow(dead_code))]
    pub fn file(config: &Config, stripes: usize) -> Layout {
        Layout {
            lazy: false,
            file: true,
            shared: 1,
            ..Layout::lazy(config, stripes)
        }
    }

    /// The directory word of stripe `k` (file layouts, and lazy layouts
    /// below [`DIR_IN_LINES`]: the others are in the extension,
    /// [`Layout::dir_ext_words`]): 0 until the stripe is made, then the
    /// address of its first word (lazy) or its first line's number in the
    /// file's data area plus one (file).
    #[inline(always)]
    pub fn dir(&self, k: usize) -> usize {
        debug_assert!(
            !self.lazy || k < DIR_IN_LINES,
            "stripe {k}: in the extension"
        );
        if k < DIR_ON_CONTROL {
            DIR_CONTROL + k
        } else if k < DIR_ON_CONTROL + DIR_METRICS {
            W_HIGH_WATER + KINDS + (k - DIR_ON_CONTROL)
        } else {
            self.stripe_base + (k - DIR_ON_CONTROL - DIR_METRICS)
        }
    }

    /// The default stripe count of an in-process breaker: 64, the most
    /// (on 2 cores 62 threads own a stripe, the others share 2). Stripes
    /// that no thread uses cost nothing, and their directory entries past
    /// the first 17 are made when a thread of those slots first counts
    /// ([`W_DIR_EXT`]), so the count is for oversubscribed thread pools
    /// (64 threads on 2 cores), not for cores.
    pub fn default_lazy_stripes() -> usize {
        if cfg!(loom) {
            return 2;
        }
        64
    }

    /// The default stripe count of a shared file: one per core for the
    /// threads that own one (see the module `slot`) plus the stripe the
    /// others share, rounded up to a power of two by [`Layout::new`] (at
    /// most 64).
    #[cfg_attr(not(all(feature = "shm", unix, not(loom))), allow(dead_code))]
    pub fn default_stripes() -> usize {
        if cfg!(loom) {
            return 2;
        }
        crate::engine::thread_slot::cores()
            .saturating_add(1)
            .min(64)
    }

    /// Words of a lazy layout's directory extension ([`W_DIR_EXT`]): the
    /// entries of stripes `DIR_IN_LINES..stripes`, in whole lines (0: it
    /// has none).
    pub fn dir_ext_words(&self) -> usize {
        if !self.lazy {
            return 0;
        }
        round_up(self.stripes.saturating_sub(DIR_IN_LINES))
    }

    /// Total lines (of a lazy layout: without its stripes and its
    /// directory's extension; of a file layout: with its directory's lines
    /// and its last stripe alone).
    pub fn lines(&self) -> usize {
        if self.lazy || self.file {
            let dir = if self.file {
                self.stripes.saturating_sub(DIR_ON_CONTROL + DIR_METRICS)
            } else {
                0
            };
            let own = (self.stripe_base + round_up(dir)) / LINE_WORDS;
            return own + if self.file { self.stripe_lines() } else { 0 };
        }
        (self.stripe_base + self.stripes * self.stripe_words) / LINE_WORDS
    }

    /// Whether the lines past the control line are made when first needed
    /// (an in-process breaker with a time window), rather than with the
    /// breaker (its count window's lines are on its every call's path).
    pub fn rest_is_lazy(&self) -> bool {
        self.lazy && self.slots == 0
    }

    /// The lines a breaker's cells hold when it is made: all of them, or
    /// the control line alone when [`Layout::rest_is_lazy`].
    pub fn eager_lines(&self) -> usize {
        if self.rest_is_lazy() {
            1
        } else {
            self.lines()
        }
    }

    /// First word of stripe `s` (not of a lazy layout, nor, but for the
    /// last stripe, of a file layout: see [`Layout::dir`]).
    #[inline]
    pub fn stripe(&self, s: usize) -> usize {
        debug_assert!(!self.lazy);
        if self.file {
            debug_assert_eq!(s, self.stripes - 1);
            return (self.lines() - self.stripe_lines()) * LINE_WORDS;
        }
        self.stripe_base + (s & (self.stripes - 1)) * self.stripe_words
    }

    /// Lines per stripe.
    pub fn stripe_lines(&self) -> usize {
        self.stripe_words / LINE_WORDS
    }
}

/// The lines themselves: owned by the breaker (on the heap), or borrowed
/// from a shared-memory mapping that their breaker keeps alive.
///
/// 16 bytes: the breaker's handle has room for no more (`Breaker`'s
/// layout).
#[repr(C)]
pub(crate) struct Cells {
    /// First word of the first line. Word access is this pointer plus an
    /// index, whoever owns the lines.
    base: std::ptr::NonNull<AtomicU64>,
    /// Number of lines, with [`BORROWED`] set when the lines are not ours
    /// (a shared-memory mapping's); else they are a boxed slice of that
    /// many lines at `base`, freed on drop.
    lines: usize,
}

/// The bit of `Cells::lines` that says the lines are borrowed.
const BORROWED: usize = 1 << (usize::BITS - 1);

// SAFETY: `Cells` is a handle to atomic words, which every thread may read and
// write; the raw pointer is what keeps the compiler from seeing that. The
// memory stays valid while the `Cells` lives: it owns the lines, or whoever
// made it borrowed keeps them mapped (`Cells::borrowed`).
unsafe impl Send for Cells {}
// SAFETY: as above: all access through `&Cells` is to atomics.
unsafe impl Sync for Cells {}

impl Drop for Cells {
    fn drop(&mut self) {
        if self.lines & BORROWED == 0 {
            let lines =
                std::ptr::slice_from_raw_parts_mut(self.base.as_ptr().cast::<Line>(), self.lines);
            // SAFETY: not borrowed, so `base` and `lines` are the boxed
            // slice `Cells::new` leaked, not freed before (this is the
            // one drop), and no word is borrowed past `self`.
            drop(unsafe { Box::from_raw(lines) });
        }
    }
}

impl Cells {
    pub(crate) fn new(layout: &Layout) -> Cells {
        let lines: Box<[Line]> = (0..layout.eager_lines()).map(|_| Line::zeroed()).collect();
        let n = lines.len();
        // A layout has at least one line.
        debug_assert!(n > 0);
        // Raw from here on (freed in `drop`): a `Box` moved with the
        // handle would assert uniqueness over words that other threads
        // reach through `base`.
        let base = std::ptr::NonNull::from(Box::leak(lines)).cast::<AtomicU64>();
        Cells { base, lines: n }
    }

    /// Cells over `lines` lines starting at `base`, borrowed: the words
    /// are used as they are (not zeroed), and never freed.
    ///
    /// # Safety
    ///
    /// `base` must point to `lines` initialised, 128-byte-aligned [`Line`]s
    /// that stay valid while the `Cells` lives (a shared breaker's mapping,
    /// which the breaker keeps: `shm::Ownership`), and that are only ever
    /// accessed atomically (by this process or any other that maps them).
    #[cfg(all(feature = "shm", unix, not(loom)))]
    pub(crate) unsafe fn borrowed(base: std::ptr::NonNull<Line>, lines: usize) -> Cells {
        debug_assert!(lines & BORROWED == 0);
        Cells {
            base: base.cast(),
            lines: lines | BORROWED,
        }
    }

    /// The stripe whose first word is word `first` (`Layout::stripe`).
    #[inline(always)]
    pub(crate) fn stripe(&self, first: usize) -> Stripe<'_> {
        let w = self.w(first);
        debug_assert!(first % LINE_WORDS == 0);
        // SAFETY: a stripe laid out by `Layout` lies whole within the cells,
        // which live as long as the borrow of `self`.
        unsafe { Stripe::from_raw(std::ptr::NonNull::from(w)) }
    }

    /// Words `first..first + N`, as an array.
    #[inline(always)]
    pub(crate) fn words<const N: usize>(&self, first: usize) -> &[AtomicU64; N] {
        debug_assert!(first + N <= (self.lines & !BORROWED) * LINE_WORDS);
        // SAFETY: as in `w`: the lines are one contiguous array of words
        // from `base`, which this range lies in (above), living as long as
        // `self`; an array of `N` atomics has their layout.
        unsafe { &*self.base.as_ptr().add(first).cast::<[AtomicU64; N]>() }
    }

    /// Word `i`.
    #[inline(always)]
    pub(crate) fn w(&self, i: usize) -> &AtomicU64 {
        // Every index the crate computes comes from `Layout`, which sizes
        // `lines` to hold it; checked in debug builds and tests.
        debug_assert!(i < (self.lines & !BORROWED) * LINE_WORDS);
        // SAFETY: `Line` is `#[repr(C)]` around `[AtomicU64; 16]` with no
        // padding (128 bytes, align 128), so the lines are one contiguous
        // array of `lines * 16` words starting at `base`; `i` is in bounds
        // (above); the memory lives as long as `self` (`Cells::borrowed`).
        unsafe { &*self.base.as_ptr().add(i) }
    }
}

/// One stripe's words (see the module doc): where they are, for as long as
/// the breaker that holds them lives. They may be lines of the breaker's
/// [`Cells`] (a shared file's stripes) or lines of their own (an
/// in-process breaker's, made when a thread first needs them).
#[derive(Clone, Copy)]
pub(crate) struct Stripe<'a> {
    /// The stripe's first word.
    base: std::ptr::NonNull<AtomicU64>,
    _words: std::marker::PhantomData<&'a AtomicU64>,
}

impl<'a> Stripe<'a> {
    /// The stripe whose first word is `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the first of a stripe's words (`Layout::stripe_words`
    /// of them, initialised, accessed only atomically) that stay valid for
    /// `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(base: std::ptr::NonNull<AtomicU64>) -> Stripe<'a> {
        Stripe {
            base,
            _words: std::marker::PhantomData,
        }
    }

    /// Word `i` of the stripe (`S_*`).
    #[inline(always)]
    pub(crate) fn w(self, i: usize) -> &'a AtomicU64 {
        // SAFETY: `from_raw`'s contract: the stripe's words are valid for
        // 'a, and every index the crate passes is below the stripe's length
        // (`S_*` and buckets below `Layout::buckets`, checked by callers
        // where the slot comes from memory).
        unsafe { &*self.base.as_ptr().add(i) }
    }

    /// The word of ring slot `b`, kind `k`, in a ring of `buckets` slots
    /// ([`bucket_word`]: kind-major, right after the two words a success
    /// reads).
    #[inline(always)]
    pub(crate) fn bucket(self, b: usize, k: usize, buckets: usize) -> &'a AtomicU64 {
        self.w(bucket_word(b, k, buckets))
    }

    /// Tail word `i` (`S_RETIRED`.., [`tail_word`]) of a stripe of a ring
    /// of `buckets` slots.
    #[inline(always)]
    pub(crate) fn tail(self, i: usize, buckets: usize) -> &'a AtomicU64 {
        self.w(tail_word(i, buckets))
    }
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Line>() == 128);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stripes_do_not_overlap_and_fill_whole_lines() {
        let c = Config::builder()
            .time_window(Duration::from_secs(10), 10)
            .build()
            .unwrap();
        let l = Layout::new(&c, 3);
        assert_eq!(l.stripes, 4);
        assert_eq!(l.stripe_words % LINE_WORDS, 0);
        assert_eq!(l.stripe_base % LINE_WORDS, 0);
        for s in 0..l.stripes {
            let last = l.stripe(s) + tail_word(S_TAIL_WORDS, l.buckets) - 1;
            assert!(last < l.stripe(s) + l.stripe_words);
            if s + 1 < l.stripes {
                assert!(last < l.stripe(s + 1));
            }
        }
        assert_eq!(
            l.lines() * LINE_WORDS,
            l.stripe(l.stripes - 1) + l.stripe_words
        );
    }

    #[test]
    fn a_success_reads_and_writes_one_64_byte_line_of_its_stripe_for_6_slots() {
        // The stripe's own words a success reads: the last bucket entered
        // and its end; the word it writes: its slot's fast successes.
        const HALF: usize = LINE_WORDS / 2;
        assert_eq!((S_EPOCH / HALF, S_UNTIL / HALF), (0, 0));
        for buckets in [0usize, 1, 4, 8, 10, 16] {
            for b in 0..buckets {
                let w = bucket_word(b, KIND_OK_FAST, buckets);
                assert_eq!(w < HALF, b < 6, "{buckets} buckets, slot {b}");
                assert_eq!(w < LINE_WORDS, b < 14, "{buckets} buckets, slot {b}");
            }
            // Every (slot, kind) its own word, then the tail's, all within
            // the stripe (a count window's stripe, 0 buckets, is its tail).
            let words = if buckets == 0 {
                Layout::new(&Config::builder().count_window(10).build().unwrap(), 1).stripe_words
            } else {
                let c = Config::builder()
                    .time_window(Duration::from_secs(10), buckets as u32)
                    .build()
                    .unwrap();
                Layout::new(&c, 1).stripe_words
            };
            let mut seen: Vec<usize> = (0..buckets)
                .flat_map(|b| (0..KINDS).map(move |k| bucket_word(b, k, buckets)))
                .chain((0..S_TAIL_WORDS).map(|i| tail_word(i, buckets)))
                .chain([S_EPOCH, S_UNTIL])
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), KINDS * buckets + S_TAIL_WORDS + 2);
            assert!(*seen.last().unwrap() < words);
        }
    }

    // The tail's words apart and within it.
    const _: () = assert!(S_RETIRED + KINDS <= S_IGNORED && S_IGNORED < S_REJECTED);
    const _: () = assert!(S_REJECTED < S_TAIL_WORDS);

    #[test]
    fn what_a_call_reads_is_in_the_control_lines_first_64_bytes() {
        let l = Layout::lazy(&Config::default(), 16);
        let hot = [W_STATE, W_PHASE_GEN, W_DEADLINE, W_CONSEC, W_DANGER];
        let first_dir: Vec<usize> = (0..3).map(|k| l.dir(k)).collect();
        for w in hot.iter().chain(&first_dir) {
            assert!(*w < 64 / 8, "word {w} is past the first 64 bytes");
        }
    }

    #[test]
    fn a_file_layout_is_five_lines_whatever_the_stripe_count() {
        let time = Config::default();
        for stripes in [1, 2, 4, 16, 18, 64] {
            let f = Layout::file(&time, stripes);
            let l = Layout::lazy(&time, stripes);
            // The lazy layout's lines (control, metrics), the directory's
            // own past 18 stripes (a lazy layout has them in its
            // extension), then the shared stripe's 3.
            let dir_lines = f.stripes.saturating_sub(18).div_ceil(LINE_WORDS);
            assert_eq!(
                f.lines(),
                l.lines() + dir_lines + f.stripe_lines(),
                "{stripes}"
            );
            assert_eq!(f.stripe_lines(), 3);
            let last = f.stripe(f.stripes - 1);
            assert_eq!(last, (l.lines() + dir_lines) * LINE_WORDS);
            assert_eq!(last + f.stripe_words, f.lines() * LINE_WORDS);
            // Directory words as the lazy layout's where it has them in its
            // lines, all before the last stripe.
            for k in 0..f.stripes {
                if k < DIR_IN_LINES {
                    assert_eq!(f.dir(k), l.dir(k));
                }
                assert!(f.dir(k) < last);
            }
        }
        assert_eq!(Layout::file(&time, 16).lines(), 5);
        assert_eq!(Layout::new(&time, 16).lines(), 3 + 16 * 3);
    }

    #[test]
    fn a_lazy_layout_is_its_control_lines_and_a_directory_whose_words_are_free() {
        let time = Config::default();
        let count = Config::builder().count_window(100).build().unwrap();
        // The words the control, metrics and count-window code uses.
        let used: Vec<usize> = [W_STATE, W_PHASE_GEN, W_DEADLINE, W_CONSEC, W_REOPENS, W_RNG]
            .into_iter()
            .chain([W_STALL, W_DANGER, W_REST, W_STATE_CHANGES])
            .chain((0..KINDS).map(|k| W_HIGH_WATER + k))
            .collect();
        for (config, base_lines) in [(&time, 2), (&count, 3 + 100usize.div_ceil(8 * LINE_WORDS))] {
            for stripes in [1, 2, 4, 16, 32, 64] {
                let l = Layout::lazy(config, stripes);
                // A count window's ticket and slots (a time window has none).
                let slots = W_SLOTS..W_SLOTS + CountWindow::words(l.slots);
                let ticket = (l.slots > 0).then_some(W_TICKET);
                let in_lines = l.stripes.min(DIR_IN_LINES);
                let mut dir: Vec<usize> = (0..in_lines).map(|k| l.dir(k)).collect();
                for &d in &dir {
                    assert!(d < l.lines() * LINE_WORDS, "{stripes}: {d} past the lines");
                    assert!(!used.contains(&d) && !slots.contains(&d), "{d} is in use");
                    assert_ne!(Some(d), ticket, "the ticket");
                    assert_ne!(d, W_DIR_EXT, "the extension's address");
                }
                dir.sort_unstable();
                dir.dedup();
                assert_eq!(dir.len(), in_lines, "two stripes share a directory word");
                // The control lines alone, whatever the stripe count; the
                // directory's entries past 17 in the extension's lines.
                assert_eq!(l.lines(), base_lines, "{stripes} stripes");
                assert_eq!(
                    l.dir_ext_words(),
                    l.stripes.saturating_sub(DIR_IN_LINES).div_ceil(LINE_WORDS) * LINE_WORDS
                );
                assert!(!used.contains(&W_DIR_EXT) && !slots.contains(&W_DIR_EXT));
                assert_eq!(l.stripe_words, Layout::new(config, stripes).stripe_words);
                assert!(l.shared.is_power_of_two() && l.shared as usize <= l.stripes.max(4) / 4);
            }
        }
    }
}
