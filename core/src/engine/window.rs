//! The sliding windows: a ring of time buckets, or the last N calls.
//!
//! Both count four outcome kinds (fast/slow × success/failure), so a call
//! changes exactly one counter. Neither is ever cleared by a writer that
//! would have to stop the others: every counter word carries a tag, and a
//! reader counts only the words whose tag says "current".
//!
//! # Time window
//!
//! Each stripe holds `B` buckets × 4 kinds of words, each word
//! `tag:32 | parity:1 | count:31`. The tag is the bucket's *sequence*,
//! `epoch + generation × 4B` (epoch = time / bucket width), truncated to 32
//! bits. Offsetting the sequence by `4B` per generation is how closing the
//! breaker "clears the window": the new generation's tags are more than a
//! window away from every old one, so no reader counts them, and no one
//! touches the old words. Stale-generation outcomes land outside the window
//! by the same arithmetic.
//!
//! A stripe has one writer or several. A thread that owns its stripe
//! ([`crate::engine::thread_slot`]; in a shared file, `shm::claims`) counts with a plain
//! load and store: no read-modify-write instruction, which is what makes the
//! closed path cheap. Threads without one share the last stripe and count
//! with CAS. Either way, a writer whose tag is newer than the word's
//! replaces the word with `tag | 1` (the lock-free reset of a bucket that
//! time moved past) and adds the replaced count to the stripe's retired
//! total, so lifetime totals stay exact; a writer whose tag is older adds
//! its outcome to the retired total only.
//!
//! Each stripe keeps the 48-bit epoch of its last bucket, which readers
//! check: a stripe silent for a whole window is skipped. When a stripe's
//! writer first enters a later bucket it clears the buckets between, so no
//! word lives long enough for its 32-bit sequence to wrap and pass for a
//! current one, or to look newer than the writers that come after a long
//! silence:
//!
//! * the owner of a stripe clears them outright (see
//!   [`TimeWindow::enter_owned`]);
//! * writers of the shared stripe, which may be entering the same bucket at
//!   once, clear by CAS the words whose tag says they are older, which is
//!   exact within a window of the stripe's last epoch; after a whole window
//!   of silence they reset the stripe instead, flipping the parity that
//!   every current word carries ([`TimeWindow::reset`]), so an old word is
//!   dead whatever its tag says.
//!
//! Readers never write.
//!
//! # Count window
//!
//! The last N calls, one byte each: see [`crate::engine::count_window`].

use crate::engine::layout::*;
use crate::sync::AtomicU64;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Calls with an outcome of success or failure.
    pub calls: u64,
    /// Failures.
    pub failures: u64,
    /// Slow calls (successes and failures).
    pub slow: u64,
}

impl WindowCounts {
    pub(crate) fn add_kind(&mut self, kind: usize, n: u64) {
        self.calls += n;
        if kind >= KIND_FAIL_FAST {
            self.failures += n;
        }
        if kind == KIND_OK_SLOW || kind == KIND_FAIL_SLOW {
            self.slow += n;
        }
    }

    /// failures / calls (0 when empty).
    pub fn failure_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failures as f64 / self.calls as f64
        }
    }

    /// slow / calls (0 when empty).
    pub fn slow_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.slow as f64 / self.calls as f64
        }
    }
}

/// Time-window arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeWindow {
    pub bucket_ns: u64,
    pub buckets: u64,
}

/// Add `n` to a stripe counter: with a plain load and store when the calling
/// thread is the stripe's only writer (see [`crate::engine::thread_slot`]), else with one
/// `fetch_add`.
#[inline(always)]
pub(crate) fn bump(word: &AtomicU64, n: u64, exclusive: bool) {
    if exclusive {
        // Relaxed load and store, no read-modify-write: nobody else writes
        // this word, so nothing can come between the two; readers see the
        // old value or the new one.
        word.store(word.load(Relaxed).wrapping_add(n), Relaxed);
    } else {
        // Relaxed: a counter; nothing is published through it.
        word.fetch_add(n, Relaxed);
    }
}

/// Move `n` outcomes from a bucket word the caller has just cleared or
/// replaced to the stripe's retired total. Release: a reader that loads the
/// total with Acquire and then the bucket word (`Breaker::metrics`) sees the
/// word's new value whenever it sees the moved count, so it may count an
/// outcome in neither place for a moment (under-count, which the totals'
/// high-water marks absorb) but never in both.
#[inline(always)]
fn retire(retired: &AtomicU64, n: u64, exclusive: bool) {
    if exclusive {
        retired.store(retired.load(Relaxed).wrapping_add(n), Release);
    } else {
        retired.fetch_add(n, Release);
    }
}

/// The parity of a shared stripe's resets (see [`TimeWindow::reset`]), as
/// the bit its bucket words carry. Owned stripes are always even.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parity(u64);

impl Parity {
    pub(crate) const EVEN: Parity = Parity(0);

    /// The other parity.
    #[inline(always)]
    fn flipped(self) -> Parity {
        Parity(self.0 ^ Bucket::PARITY)
    }
}

/// A bucket word, `sequence:32 | parity:1 | count:31`: the count of one
/// outcome kind in one bucket of one stripe, the bucket's sequence (its tag,
/// see [`TimeWindow::seq`]), and the [`Parity`] it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bucket(u64);

impl Bucket {
    const TAG_SHIFT: u32 = 32;
    const PARITY: u64 = 1 << 31;
    const COUNT: u64 = Self::PARITY - 1;
    /// The most a bucket word counts; further outcomes go to the retired total.
    const MAX: u32 = (1 << 31) - 1;

    #[inline(always)]
    pub(crate) const fn from_bits(v: u64) -> Bucket {
        Bucket(v)
    }

    #[inline(always)]
    const fn bits(self) -> u64 {
        self.0
    }

    /// The first outcome of the bucket tagged `tag`, in `parity`.
    #[inline(always)]
    fn first(tag: u32, parity: Parity) -> Bucket {
        Bucket((u64::from(tag) << Self::TAG_SHIFT) | parity.0 | 1)
    }

    /// The count.
    #[inline(always)]
    pub(crate) const fn count(self) -> u64 {
        self.0 & Self::COUNT
    }

    /// The tag (the bucket's sequence).
    #[inline(always)]
    const fn tag(self) -> u32 {
        (self.0 >> Self::TAG_SHIFT) as u32
    }

    #[inline(always)]
    const fn parity(self) -> Parity {
        Parity(self.0 & Self::PARITY)
    }

    /// One more, below [`Bucket::MAX`] (the caller checks).
    #[inline(always)]
    const fn plus_one(self) -> Bucket {
        Bucket(self.0 + 1)
    }

    /// `n` more in an even word tagged `tag`, when this is one (an empty
    /// one included) with room for them: the closed path's one compare.
    #[inline(always)]
    fn add_even(self, tag: u32, n: u32) -> Option<Bucket> {
        let base = u64::from(tag) << Self::TAG_SHIFT;
        (n <= Self::MAX && self.0.wrapping_sub(base) <= u64::from(Self::MAX - n))
            .then(|| Bucket(self.0 + u64::from(n)))
    }
}

/// A stripe's `S_EPOCH` word, `(epoch + 1):48 | parity:1 | slot:15`: the
/// last bucket the stripe entered (its epoch and ring slot; buckets are at
/// most 1,000), and the [`Parity`] its writers write with. 0 when it has
/// entered none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark(u64);

impl Mark {
    const EPOCH_SHIFT: u32 = 16;
    const PARITY: u64 = 1 << 15;
    const SLOT: u64 = Self::PARITY - 1;

    #[inline(always)]
    const fn from_bits(v: u64) -> Mark {
        Mark(v)
    }

    #[inline(always)]
    const fn bits(self) -> u64 {
        self.0
    }

    /// Entered `epoch`, at ring slot `slot`, in `parity`.
    #[inline(always)]
    fn entered(epoch: u64, slot: usize, parity: Parity) -> Mark {
        Mark(((epoch + 1) << Self::EPOCH_SHIFT) | (parity.0 >> 16) | slot as u64)
    }

    /// The stripe's parity.
    #[inline(always)]
    const fn parity(self) -> Parity {
        Parity((self.0 & Self::PARITY) << 16)
    }

    /// The epoch and ring slot of the last bucket, `None` when it has
    /// entered none. (The slot may be anything in a damaged shared file:
    /// callers check it against the ring.)
    #[inline(always)]
    fn last_bucket(self) -> Option<(u64, usize)> {
        (self.0 >> Self::EPOCH_SHIFT)
            .checked_sub(1)
            .map(|e| (e, (self.0 & Self::SLOT) as usize))
    }

    /// [`Mark::last_bucket`], unchecked (two instructions fewer on the
    /// closed path): with no bucket entered the epoch wraps to `u64::MAX`.
    /// The slot takes the parity bit with it, which an owned stripe never
    /// sets: a damaged word that has it is past the ring.
    #[inline(always)]
    const fn last_bucket_unchecked(self) -> (u64, usize) {
        (
            (self.0 >> Self::EPOCH_SHIFT).wrapping_sub(1),
            (self.0 & (Self::SLOT | Self::PARITY)) as usize,
        )
    }

    /// Whether this mark's bucket is earlier than `other`'s.
    #[inline(always)]
    const fn is_before(self, other: Mark) -> bool {
        self.0 >> Self::EPOCH_SHIFT < other.0 >> Self::EPOCH_SHIFT
    }
}

/// Whether a bucket word tagged `ctag` must give way to a writer (or a
/// bucket being entered) tagged `tag`: its sequence is older, or it looks
/// 2^30 newer, which only a word whose 32-bit sequence wrapped can (a word
/// is legitimately newer only by a few generations' offsets or a little
/// clock skew).
#[inline(always)]
fn older(tag: u32, ctag: u32) -> bool {
    let d = tag.wrapping_sub(ctag) as i32;
    d > 0 || d <= -(1 << 30)
}

/// Where an outcome goes: the bucket's epoch and ring slot, the parity bit
/// to write it with, and whether the stripe just entered a new bucket.
type Located = (u64, usize, Parity, bool);

impl TimeWindow {
    /// A bucket's sequence: `epoch + generation × 4B`, truncated to 32 bits.
    #[inline]
    fn seq(&self, generation: u64, epoch: u64) -> u32 {
        epoch.wrapping_add(generation.wrapping_mul(4 * self.buckets)) as u32
    }

    /// The bucket epoch and ring slot of time `t` for the stripe at
    /// `stripe`, the parity to write with, and whether the stripe just
    /// entered a new bucket.
    ///
    /// The stripe's `S_EPOCH` word caches the last bucket it entered, so the
    /// closed path does not divide by the bucket width on every call.
    /// Entering a newer bucket goes through [`TimeWindow::enter`], which
    /// clears the buckets being entered first.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn locate(&self, stripe: Stripe<'_>, generation: u64, t: u64, exclusive: bool) -> Located {
        loop {
            // Relaxed: for the stripe's writers the word only saves a
            // division and names the parity; a value raced in by another
            // writer is checked against `t` (and the slot against the ring,
            // since a shared file's word may be damaged) before use, and a
            // parity gone stale is caught where it matters (`count`).
            let c = Mark::from_bits(stripe.w(S_EPOCH).load(Relaxed));
            if let Some((epoch, slot)) = c.last_bucket() {
                // An owned stripe's writer always writes parity 0 (only
                // shared stripes reset by parity): a damaged word that says
                // otherwise is a cache miss, which `enter` rewrites.
                if slot < self.buckets as usize
                    && t.wrapping_sub(epoch.wrapping_mul(self.bucket_ns)) < self.bucket_ns
                    && !(exclusive && c.parity() != Parity::EVEN)
                {
                    return (epoch, slot, c.parity(), false);
                }
            }
            let entered = if exclusive {
                Some(self.enter_owned(stripe, c, t))
            } else {
                self.enter_shared(stripe, c, generation, t)
            };
            if let Some(found) = entered {
                return found;
            }
            // Another writer moved the stripe on (or reset it) under us.
        }
    }

    /// The owner of the stripe at `stripe` is at `t`, outside the bucket of
    /// its `S_EPOCH` word `c`. If `t` is later, clear what is left in the
    /// buckets of every epoch from the last one (exclusive) up to `t`'s (at
    /// most the whole ring): words written a lap or more ago, moved to the
    /// retired totals. So every word an owned stripe holds was written within
    /// one window of the stripe's last epoch, which a reader checks with all
    /// 48 bits of it: no word ever lives long enough for its 32-bit sequence
    /// to wrap and pass for a current one, however long a thread stays
    /// silent.
    #[cold]
    #[inline(never)]
    fn enter_owned(&self, stripe: Stripe<'_>, c: Mark, t: u64) -> Located {
        let epoch = t / self.bucket_ns;
        let slot = (epoch % self.buckets) as usize;
        let last = c.last_bucket().map(|(e, _)| e);
        if last.is_some_and(|l| l >= epoch) && c.parity() == Parity::EVEN {
            // Not later: nothing to clear.
            return (epoch, slot, Parity::EVEN, false);
        }
        let first = last
            .filter(|&l| l < epoch)
            .map_or(0, |l| l + 1)
            .max(epoch.saturating_sub(self.buckets - 1));
        for e in first..=epoch {
            let s = (e % self.buckets) as usize;
            for kind in 0..KINDS {
                let word = stripe.bucket(s, kind, self.buckets as usize);
                // Relaxed, as in `count`: the Release store of the cache
                // below is what publishes these clears to readers.
                let count = Bucket::from_bits(word.load(Relaxed)).count();
                if count != 0 {
                    // Written by us alone, at an epoch of this slot no later
                    // than `last`, so a lap or more before `e`: old,
                    // whatever its 32-bit tag looks like.
                    word.store(0, Relaxed);
                    retire(
                        stripe.tail(S_RETIRED + kind, self.buckets as usize),
                        count,
                        true,
                    );
                }
            }
        }
        // Relaxed: read by the owner only (`add_owned`).
        let until = (epoch + 1).saturating_mul(self.bucket_ns);
        stripe.w(S_UNTIL).store(until, Relaxed);
        // Release: pairs with the Acquire load in `counts`; a reader that
        // sees the stripe in its new bucket sees the old buckets cleared.
        stripe
            .w(S_EPOCH)
            .store(Mark::entered(epoch, slot, Parity::EVEN).bits(), Release);
        (epoch, slot, Parity::EVEN, true)
    }

    /// A writer of the shared stripe at `stripe` is at `t`, outside the
    /// bucket of the `S_EPOCH` word `c` it read. `None` when the word
    /// changed under it in a way that matters (the caller reads it again).
    ///
    /// Other writers may be entering the same buckets and counting in them,
    /// so words are cleared by CAS, once. After less than a whole window of
    /// silence a word to clear is told by its tag: every word of the
    /// stripe's parity was written within a window or two of its last
    /// epoch, so tags compare without ambiguity. After a whole window or
    /// more, tags cannot tell (32 bits wrap in 2^32 bucket widths: 49 days
    /// of 1 ms buckets) and the stripe is reset by parity
    /// ([`TimeWindow::reset`]).
    #[cold]
    #[inline(never)]
    fn enter_shared(
        &self,
        stripe: Stripe<'_>,
        c: Mark,
        generation: u64,
        t: u64,
    ) -> Option<Located> {
        let epoch = t / self.bucket_ns;
        let slot = (epoch % self.buckets) as usize;
        let parity = c.parity();
        let last = c.last_bucket().map(|(e, _)| e);
        if last.is_some_and(|l| l >= epoch) {
            // Not later: this thread's clock read lags another writer's, or
            // the bucket was entered already. Nothing to clear.
            return Some((epoch, slot, parity, false));
        }
        if last.is_some_and(|l| epoch - l >= self.buckets) {
            return self.reset(stripe, c, epoch, slot);
        }
        let first = last
            .map_or(0, |l| l + 1)
            .max(epoch.saturating_sub(self.buckets - 1));
        for e in first..=epoch {
            let tag = self.seq(generation, e);
            let s = (e % self.buckets) as usize;
            let stale = |v: Bucket| v.parity() != parity || older(tag, v.tag());
            if !self.clear(stripe, s, parity, stale) {
                return None;
            }
        }
        // Publish the bucket unless a writer went further, and only while
        // the stripe keeps our parity: a reset that came first would leave
        // our outcome to be written with a parity gone stale.
        // Release: pairs with the Acquire load in `counts`.
        let new = Mark::entered(epoch, slot, parity);
        let cache = stripe.w(S_EPOCH);
        let mut cur = c;
        while cur.parity() == parity && cur.is_before(new) {
            match cache.compare_exchange_weak(cur.bits(), new.bits(), Release, Relaxed) {
                Ok(_) => return Some((epoch, slot, parity, true)),
                Err(actual) => cur = Mark::from_bits(actual),
            }
        }
        (cur.parity() == parity).then_some((epoch, slot, parity, true))
    }

    /// Reset the shared stripe at `stripe`, silent for a whole window since
    /// the bucket of its `S_EPOCH` word `c`, into `epoch`: every word it
    /// holds is out of the window, whatever its tag says. The stripe's
    /// parity flips: from the CAS that flips it, readers count and writers
    /// keep only words of the new parity, so the old words are dead at once,
    /// and are then cleared (to the retired totals, by CAS: writers that
    /// meet one first replace it the same way). Words of the new parity left
    /// by an earlier reset that did not finish (a process killed in the
    /// middle) are cleared before the flip. `None` if `c` changed first.
    ///
    /// What a reset cannot see: a writer that read the stripe's word before
    /// the reset and writes long after it, having stalled between two
    /// instructions for a whole window, writes one outcome with the old
    /// parity (not counted, retired at the next reset), or, across two
    /// resets, with the current one (its tag is then a window or more old:
    /// out of the window, unless the stall was 2^30 bucket widths).
    #[cold]
    fn reset(&self, stripe: Stripe<'_>, c: Mark, epoch: u64, slot: usize) -> Option<Located> {
        let parity = c.parity();
        let next = parity.flipped();
        for s in 0..self.buckets as usize {
            if !self.clear(stripe, s, parity, |v| v.parity() == next) {
                return None;
            }
        }
        // AcqRel: Release publishes the clears above to readers and writers
        // that see the new parity (`counts`, `count`); Acquire orders the
        // clears below after every write of the old parity we read.
        stripe
            .w(S_EPOCH)
            .compare_exchange(
                c.bits(),
                Mark::entered(epoch, slot, next).bits(),
                AcqRel,
                Relaxed,
            )
            .ok()?;
        for s in 0..self.buckets as usize {
            // Not for the result: a writer that meets an old word replaces
            // it (as `clear` does), and the stripe may have moved on.
            self.clear(stripe, s, next, |v| v.parity() == parity);
        }
        Some((epoch, slot, next, true))
    }

    /// The parity of the stripe at `stripe` now. Acquire: see `clear` and
    /// `count`.
    #[inline(always)]
    fn parity(&self, stripe: Stripe<'_>) -> Parity {
        Mark::from_bits(stripe.w(S_EPOCH).load(Acquire)).parity()
    }

    /// Clear the words of ring slot `s` of the shared stripe at `stripe`
    /// that `stale` picks, moving their counts to the retired totals, while
    /// the stripe's parity is `parity`. `false` (some words left) when the
    /// parity changed: what is stale to a writer of one parity may be
    /// current to the writers of the next.
    fn clear(
        &self,
        stripe: Stripe<'_>,
        s: usize,
        parity: Parity,
        stale: impl Fn(Bucket) -> bool,
    ) -> bool {
        for kind in 0..KINDS {
            let word = stripe.bucket(s, kind, self.buckets as usize);
            // Acquire, and Acquire on the parity below: a word written with
            // a parity we have not seen yet (by a writer that saw a reset we
            // did not) makes the reset visible to the check.
            let mut v = Bucket::from_bits(word.load(Acquire));
            while v.count() != 0 && stale(v) {
                if self.parity(stripe) != parity {
                    return false;
                }
                // AcqRel: as a writer's CAS (`count`); one of the racing
                // writers moves the count, once.
                match word.compare_exchange(v.bits(), 0, AcqRel, Acquire) {
                    Ok(_) => retire(
                        stripe.tail(S_RETIRED + kind, self.buckets as usize),
                        v.count(),
                        false,
                    ),
                    Err(actual) => {
                        v = Bucket::from_bits(actual);
                        continue;
                    }
                }
                break;
            }
        }
        true
    }

    /// Count one outcome of `kind`, for a permit of `generation`, at time
    /// `t`, on the stripe at `stripe`, of which the caller is the only
    /// writer if `exclusive`. Returns whether the stripe just entered a new
    /// bucket (buckets may have left the window).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        stripe: Stripe<'_>,
        kind: usize,
        generation: u64,
        t: u64,
        exclusive: bool,
    ) -> bool {
        let mut moved = false;
        loop {
            let (epoch, slot, parity, entered) = self.locate(stripe, generation, t, exclusive);
            moved |= entered;
            let tag = self.seq(generation, epoch);
            if self.count(stripe, slot, kind, tag, parity, exclusive) {
                return moved;
            }
            // The shared stripe was reset since we located the bucket.
        }
    }

    /// Add one outcome of `kind` to the word of ring slot `slot` with our
    /// `tag`, written with `parity`. `false` (nothing counted) when a
    /// writer of the shared stripe finds that the stripe was reset under it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn count(
        &self,
        stripe: Stripe<'_>,
        slot: usize,
        kind: usize,
        tag: u32,
        parity: Parity,
        exclusive: bool,
    ) -> bool {
        let word = stripe.bucket(slot, kind, self.buckets as usize);
        let retired = stripe.tail(S_RETIRED + kind, self.buckets as usize);
        let ours = Bucket::first(tag, parity);
        // An owner's word is changed by it alone (plain load and store);
        // shared words only by CAS, so no increment is lost. Relaxed for the
        // owner: nothing is published through the word but the count a
        // reset moves out (see `retire`); readers that need a complete count
        // synchronise by other means (joins in tests; the totals' high-water
        // marks in metrics). Acquire and Release on the shared stripe: a
        // writer that meets a word of another parity must see the reset
        // that its writer saw (see `clear`).
        let mut cur = Bucket::from_bits(word.load(if exclusive { Relaxed } else { Acquire }));
        loop {
            let count = cur.count();
            let (new, moved_out) = if count == 0 {
                (ours, 0)
            } else if cur.parity() != parity {
                // Written before the stripe's last reset, unless the reset
                // came after we located the bucket.
                if !exclusive && self.parity(stripe) != parity {
                    return false;
                }
                (ours, count)
            } else if cur.tag() == tag {
                if count == u64::from(Bucket::MAX) {
                    // Saturated (2 billion outcomes in one bucket of one
                    // stripe): the window stops growing, the total does not.
                    bump(retired, 1, exclusive);
                    return true;
                }
                (cur.plus_one(), 0)
            } else if older(tag, cur.tag()) {
                // A bucket time has moved past: reset it to ours.
                (ours, count)
            } else {
                // Our sequence is older than the word's: this outcome is out
                // of the window; keep it in the lifetime total only.
                bump(retired, 1, exclusive);
                return true;
            };
            if exclusive {
                word.store(new.bits(), Relaxed);
            } else if let Err(actual) =
                word.compare_exchange_weak(cur.bits(), new.bits(), Release, Acquire)
            {
                // Another writer of this shared stripe came first: this
                // thread moves to another shared stripe for its next calls.
                crate::engine::thread_slot::collided();
                cur = Bucket::from_bits(actual);
                continue;
            }
            if moved_out != 0 {
                retire(retired, moved_out, exclusive);
            }
            return true;
        }
    }

    /// [`TimeWindow::record`] by the stripe's only writer, in the fewest
    /// instructions: the closed path of an in-process breaker. The common
    /// case is two loads and a compare to find the bucket (still the one
    /// this stripe entered last), one load, compare and store to count.
    #[inline(always)]
    pub(crate) fn record_owned(
        &self,
        stripe: Stripe<'_>,
        kind: usize,
        generation: u64,
        t: u64,
    ) -> bool {
        if self.add_owned(stripe, kind, generation, t, 1) {
            return false;
        }
        self.record(stripe, kind, generation, t, true)
    }

    /// `n` outcomes of `kind` in one plain store by the stripe's only
    /// writer, when that is all it takes: the stripe's current bucket, our
    /// tag, room for `n` more. Else nothing, and `false` (the caller goes
    /// through [`TimeWindow::record`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_owned(
        &self,
        stripe: Stripe<'_>,
        kind: usize,
        generation: u64,
        t: u64,
        n: u32,
    ) -> bool {
        // Relaxed: both words are written by this thread only (in `enter`).
        let c = Mark::from_bits(stripe.w(S_EPOCH).load(Relaxed));
        // Unchecked: with no bucket entered yet, `S_UNTIL` is 0 and `t` not
        // below; a damaged odd word's slot is past the ring, a cache miss.
        let (epoch, slot) = c.last_bucket_unchecked();
        // The slot is checked even so: in a shared file the words may have
        // been damaged by someone else, and must never index past the ring.
        if t < stripe.w(S_UNTIL).load(Relaxed) && slot < self.buckets as usize {
            let word = stripe.bucket(slot, kind, self.buckets as usize);
            // Our tag, even, and a count that `n` more keep within 31 bits
            // (a zero count with our tag included: adding to it is right too).
            let cur = Bucket::from_bits(word.load(Relaxed));
            if let Some(new) = cur.add_even(self.seq(generation, epoch), n) {
                // Relaxed: see `count`.
                word.store(new.bits(), Relaxed);
                return true;
            }
        }
        false
    }

    /// The window's contents for `generation` at time `t`. Reads only.
    pub(crate) fn counts<'a>(
        &self,
        stripes: impl IntoIterator<Item = Stripe<'a>>,
        generation: u64,
        t: u64,
    ) -> WindowCounts {
        let now = t / self.bucket_ns;
        let cur = self.seq(generation, now);
        let b = self.buckets as i64;
        let mut out = WindowCounts::default();
        for stripe in stripes {
            // Acquire: pairs with the Release in `enter_*` and `reset`.
            let c = Mark::from_bits(stripe.w(S_EPOCH).load(Acquire));
            let Some((last, _)) = c.last_bucket() else {
                continue; // never written
            };
            if now > last && now - last >= self.buckets {
                // Silent for a whole window: none of its words is in the
                // window, and they may be old enough for their 32-bit
                // sequences to have wrapped.
                continue;
            }
            let parity = c.parity();
            for slot in 0..self.buckets as usize {
                for kind in 0..KINDS {
                    let v = Bucket::from_bits(
                        stripe
                            .bucket(slot, kind, self.buckets as usize)
                            .load(Relaxed),
                    );
                    let count = v.count();
                    if count == 0 || v.parity() != parity {
                        continue; // empty, or left from before a reset
                    }
                    let d = i64::from(cur.wrapping_sub(v.tag()) as i32);
                    // d in [0, B): one of the last B buckets. d in (-B, 0):
                    // written by a thread whose clock read is a little ahead
                    // of ours; it is newer, so it is in the window too.
                    if d > -b && d < b {
                        out.add_kind(kind, count);
                    }
                }
            }
        }
        out
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Bucket rollover under races: no outcome lost or counted twice.
    use super::*;
    use crate::engine::config::Config;
    use loom::sync::Arc;
    use loom::thread;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    /// A 2 s window in two buckets, one stripe, generation 0.
    #[derive(Clone)]
    struct W {
        cells: Arc<Cells>,
        layout: Layout,
        tw: TimeWindow,
    }

    impl W {
        fn new() -> W {
            let cfg = Config::builder()
                .time_window(Duration::from_secs(2), 2)
                .build()
                .unwrap();
            let layout = Layout::new(&cfg, 1);
            let tw = TimeWindow {
                bucket_ns: cfg.bucket_ns(),
                buckets: 2,
            };
            W {
                cells: Arc::new(Cells::new(&layout)),
                layout,
                tw,
            }
        }

        /// Stripe 0.
        fn stripe(&self) -> Stripe<'_> {
            self.cells.stripe(self.layout.stripe(0))
        }

        /// One outcome at `t` on stripe 0, by its owner or a sharer.
        fn record(&self, kind: usize, t: u64, owned: bool) {
            self.tw.record(self.stripe(), kind, 0, t, owned);
        }

        /// `n` outcomes at `t` in one owner's store, if it can be one.
        fn add_owned(&self, kind: usize, t: u64, n: u32) -> bool {
            self.tw.add_owned(self.stripe(), kind, 0, t, n)
        }

        fn counts(&self, t: u64) -> WindowCounts {
            self.tw.counts([self.stripe()], 0, t)
        }

        /// Everything ever counted of `kind`: retired plus in the buckets.
        fn total(&self, kind: usize) -> u64 {
            let s = self.stripe();
            // Acquire, then the buckets: as `Breaker::metrics` (see `retire`).
            let mut t = s.tail(S_RETIRED + kind, self.layout.buckets).load(Acquire);
            for b in 0..self.layout.buckets {
                t +=
                    Bucket::from_bits(s.bucket(b, kind, self.layout.buckets).load(Relaxed)).count();
            }
            t
        }
    }

    #[test]
    fn rollover_never_loses_or_double_counts() {
        loom::model(|| {
            let w = W::new();
            // Epochs 1 and 3 share slot 1: the second write resets the bucket.
            w.record(KIND_OK_FAST, SEC, false);
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_OK_FAST, SEC, false));
            w.record(KIND_OK_FAST, 3 * SEC, false);
            t.join().unwrap();
            assert_eq!(w.total(KIND_OK_FAST), 3, "lifetime total exact");
            // At t = 3 s the window is epochs 2..=3: only the newest call.
            assert_eq!(w.counts(3 * SEC).calls, 1);
        });
    }

    #[test]
    fn racing_writers_entering_a_bucket_clear_it_once() {
        loom::model(|| {
            let w = W::new();
            w.record(KIND_FAIL_FAST, SEC, false);
            // Both enter epoch 3 (slot 1, holding epoch 1's failure): one of
            // them clears it, neither loses the other's call.
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_FAIL_FAST, 3 * SEC, false));
            w.record(KIND_OK_FAST, 3 * SEC, false);
            t.join().unwrap();
            assert_eq!(w.total(KIND_FAIL_FAST), 2, "failures, lifetime");
            assert_eq!(w.total(KIND_OK_FAST), 1, "successes, lifetime");
            let c = w.counts(3 * SEC);
            assert_eq!((c.calls, c.failures), (2, 1), "epoch 1 left the window");
        });
    }

    #[test]
    fn an_owner_counting_with_plain_stores_is_read_consistently() {
        loom::model(|| {
            let w = W::new();
            // The owner of the stripe (plain loads and stores) fills epoch 1,
            // then moves to epoch 3, whose bucket is epoch 1's slot; a reader
            // at t = 3 s races it. Epoch 1 is out of that window: whatever
            // the interleaving, the reader never counts it.
            let w2 = w.clone();
            let owner = thread::spawn(move || {
                w2.record(KIND_FAIL_FAST, SEC, true);
                w2.record(KIND_FAIL_FAST, SEC, true);
                w2.record(KIND_OK_FAST, 3 * SEC, true);
            });
            // Entering epoch 3 moves the two failures to the retired total:
            // a reader never sees them in both places.
            assert!(w.total(KIND_FAIL_FAST) <= 2, "counted twice");
            let seen = w.counts(3 * SEC);
            assert_eq!(seen.failures, 0, "a bucket of epoch 1 was counted at 3 s");
            assert!(seen.calls <= 1);
            owner.join().unwrap();
            assert_eq!(w.total(KIND_FAIL_FAST), 2);
            assert_eq!(w.total(KIND_OK_FAST), 1);
            assert_eq!(w.counts(3 * SEC).calls, 1);
        });
    }

    #[test]
    fn an_owner_adding_a_run_at_once_is_read_whole_or_not_at_all() {
        loom::model(|| {
            let w = W::new();
            // The owner enters epoch 1 with one success, adds a run of five
            // more in one store (`add_owned`, as `record_successes_raw`
            // does), then moves to epoch 3 (epoch 1's slot). A reader at
            // 1 s sees none, the first, or all six; never part of the run.
            let w2 = w.clone();
            let owner = thread::spawn(move || {
                w2.record(KIND_OK_FAST, SEC, true);
                assert!(w2.add_owned(KIND_OK_FAST, SEC, 5));
                w2.record(KIND_OK_FAST, 3 * SEC, true);
            });
            let seen = w.counts(SEC).calls;
            assert!([0, 1, 6].contains(&seen), "saw {seen} calls at 1 s");
            let later = w.counts(3 * SEC).calls;
            assert!(later <= 1, "epoch 1 counted at 3 s: {later}");
            owner.join().unwrap();
            assert_eq!(w.total(KIND_OK_FAST), 7);
            // Not the current bucket any more: nothing is added.
            assert!(!w.add_owned(KIND_OK_FAST, 5 * SEC, 2));
            assert_eq!(w.total(KIND_OK_FAST), 7);
        });
    }

    #[test]
    fn writers_resetting_a_silent_shared_stripe_count_each_outcome_once() {
        loom::model(|| {
            let w = W::new();
            w.record(KIND_FAIL_FAST, SEC, false);
            // A whole window later (epoch 5: the window is epochs 4..=5) two
            // writers race to reset the stripe, and a reader races both: the
            // old failure is never in the window, both new ones end there.
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_FAIL_FAST, 5 * SEC, false));
            w.record(KIND_FAIL_FAST, 5 * SEC, false);
            let seen = w.counts(5 * SEC);
            assert!(seen.failures <= 2, "the old failure was counted");
            t.join().unwrap();
            assert_eq!(w.total(KIND_FAIL_FAST), 3, "lifetime total exact");
            let c = w.counts(5 * SEC);
            assert_eq!((c.calls, c.failures), (2, 2));
        });
    }

    #[test]
    fn a_word_whose_tag_wrapped_is_never_counted_as_current() {
        loom::model(|| {
            let w = W::new();
            w.record(KIND_FAIL_FAST, SEC, false);
            // Epoch 1 + 2^32: the same ring slot and the same 32-bit tag as
            // epoch 1's failure, which must not count as current.
            let late = (1 + (1u64 << 32)) * SEC;
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_OK_FAST, late, false));
            w.record(KIND_OK_FAST, late, false);
            t.join().unwrap();
            let c = w.counts(late);
            assert_eq!((c.calls, c.failures), (2, 0));
            assert_eq!(w.total(KIND_FAIL_FAST), 1);
            assert_eq!(w.total(KIND_OK_FAST), 2);
        });
    }

    #[test]
    fn a_writer_entering_a_bucket_as_the_stripe_is_reset_is_not_lost() {
        loom::model(|| {
            let w = W::new();
            w.record(KIND_OK_FAST, SEC, false);
            // One writer enters epoch 2 (less than a window after epoch 1:
            // cleared by tag), another epoch 3 (a whole window: a reset).
            // Epoch 2 is in the window at 3 s whichever comes first.
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_FAIL_FAST, 2 * SEC, false));
            w.record(KIND_FAIL_FAST, 3 * SEC, false);
            t.join().unwrap();
            let c = w.counts(3 * SEC);
            assert_eq!(
                (c.calls, c.failures),
                (2, 2),
                "an outcome of epoch 2 or 3 was lost"
            );
            assert_eq!(w.total(KIND_OK_FAST), 1);
            assert_eq!(w.total(KIND_FAIL_FAST), 2);
        });
    }

    #[test]
    fn concurrent_increments_are_all_counted() {
        loom::model(|| {
            let w = W::new();
            let w2 = w.clone();
            let t = thread::spawn(move || {
                w2.record(KIND_FAIL_FAST, 0, false);
                w2.record(KIND_FAIL_FAST, 0, false);
            });
            w.record(KIND_FAIL_FAST, 0, false);
            t.join().unwrap();
            let c = w.counts(0);
            assert_eq!((c.calls, c.failures), (3, 3));
        });
    }
}

#[cfg(all(test, not(loom)))]
mod word_tests {
    use super::*;

    #[test]
    fn a_bucket_word_keeps_tag_parity_and_count_apart() {
        let odd = Parity::EVEN.flipped();
        let b = Bucket::first(u32::MAX, odd).plus_one();
        assert_eq!((b.tag(), b.parity(), b.count()), (u32::MAX, odd, 2));
        assert_eq!(Bucket::from_bits(b.bits()), b);
        // An owner adds only to an even word of its own tag, within 31 bits.
        let e = Bucket::first(7, Parity::EVEN);
        assert_eq!(e.add_even(7, 3).map(Bucket::count), Some(4));
        assert_eq!(Bucket::from_bits(0).add_even(7, 1), None, "another tag");
        assert_eq!(Bucket::first(6, Parity::EVEN).add_even(7, 1), None);
        assert_eq!(Bucket::first(7, odd).add_even(7, 1), None, "odd");
        assert_eq!(e.add_even(7, Bucket::MAX), None, "past the count");
        assert_eq!(
            e.add_even(7, Bucket::MAX - 1).map(Bucket::count),
            Some(u64::from(Bucket::MAX))
        );
    }

    #[test]
    fn a_mark_names_its_bucket_and_parity_and_orders_by_epoch() {
        assert_eq!(Mark::from_bits(0).last_bucket(), None);
        let odd = Parity::EVEN.flipped();
        let m = Mark::entered(41, 999, odd);
        assert_eq!((m.last_bucket(), m.parity()), (Some((41, 999)), odd));
        assert_eq!(m.last_bucket_unchecked().0, 41);
        assert!(
            m.last_bucket_unchecked().1 >= 1000,
            "odd is past the ring unchecked"
        );
        assert_eq!(
            Mark::entered(41, 999, Parity::EVEN).last_bucket_unchecked(),
            (41, 999)
        );
        assert!(m.is_before(Mark::entered(42, 0, Parity::EVEN)));
        assert!(!m.is_before(Mark::entered(41, 0, Parity::EVEN)));
        assert_eq!(Mark::from_bits(m.bits()), m);
    }
}
