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
//! `tag:32 | count:32`. The tag is the bucket's *sequence*,
//! `epoch + generation × 4B` (epoch = time / bucket width), truncated to 32
//! bits. Offsetting the sequence by `4B` per generation is how closing the
//! breaker "clears the window": the new generation's tags are more than a
//! window away from every old one, so no reader counts them, and no one
//! touches the old words. Stale-generation outcomes land outside the window
//! by the same arithmetic.
//!
//! A stripe has one writer or several. A thread that owns its stripe
//! ([`crate::slot`]; in a shared file, `shm::claims`) counts with a plain
//! load and store: no read-modify-write instruction, which is what makes the
//! closed path cheap. Threads without one share the last stripe and count
//! with CAS. Either way, a writer whose tag is newer than the word's
//! replaces the word with `tag | 1` (the lock-free reset of a bucket that
//! time moved past) and adds the replaced count to the stripe's retired
//! total, so lifetime totals stay exact; a writer whose tag is older adds
//! its outcome to the retired total only.
//!
//! When a stripe's writer first enters a later bucket it clears the buckets
//! between (words a lap or more old; see [`TimeWindow::enter`]), and each
//! stripe keeps the 48-bit epoch of its last bucket, which readers check: a
//! stripe silent for a whole window is skipped. So no word lives long
//! enough for its 32-bit sequence to wrap and pass for a current one.
//! Readers never write.
//!
//! # Count window
//!
//! Each call takes a ticket (one shared `fetch_add`: a count window does not
//! scale across cores the way the striped time window does) and writes
//! `generation:16 | ticket:46 | kind:2` to slot `ticket mod N`, unless a newer
//! ticket is already there (it lapped this one, which is then out of the
//! window anyway).

use crate::layout::*;
use crate::sync::AtomicU64;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

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
/// thread is the stripe's only writer (see [`crate::slot`]), else with one
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

/// A stripe's `S_EPOCH` word: `(epoch + 1) << 16 | slot` of the last bucket
/// the stripe entered, 0 when it has entered none.
#[inline(always)]
fn bucket_word(epoch: u64, slot: usize) -> u64 {
    ((epoch + 1) << 16) | slot as u64
}

/// The epoch and ring slot in a stripe's `S_EPOCH` word, `None` when it has
/// entered no bucket. (The slot may be anything in a damaged shared file:
/// callers check it against the ring.)
#[inline(always)]
fn last_bucket(c: u64) -> Option<(u64, usize)> {
    (c >> 16).checked_sub(1).map(|e| (e, (c & 0xffff) as usize))
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

impl TimeWindow {
    #[inline]
    fn seq(&self, generation: u64, epoch: u64) -> u32 {
        epoch.wrapping_add(generation.wrapping_mul(4 * self.buckets)) as u32
    }

    /// The bucket epoch and ring slot of time `t` for the stripe at
    /// `stripe`, and whether the stripe just entered a new bucket.
    ///
    /// The stripe's `S_EPOCH` word is `(epoch + 1) << 16 | slot` of the last
    /// bucket it entered (0: none yet), so the closed path does not divide by
    /// the bucket width on every call. Entering a newer bucket goes through
    /// [`TimeWindow::enter`], which clears the buckets being entered first.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn locate(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        generation: u64,
        t: u64,
        exclusive: bool,
    ) -> (u64, usize, bool) {
        // Relaxed: for the stripe's writers the word only saves a division;
        // a value raced in by another writer is checked against `t` (and the
        // slot against the ring, since a shared file's word may be damaged)
        // before use.
        let c = cells.w(stripe + S_EPOCH).load(Relaxed);
        if let Some((epoch, slot)) = last_bucket(c) {
            if slot < layout.buckets
                && t.wrapping_sub(epoch.wrapping_mul(self.bucket_ns)) < self.bucket_ns
            {
                return (epoch, slot, false);
            }
        }
        self.enter(cells, layout, stripe, c, generation, t, exclusive)
    }

    /// `t` is outside the stripe's last bucket. If it is later, clear what
    /// is left in the buckets of every epoch from the last one (exclusive)
    /// up to `t`'s (at most the whole ring): words written a lap or more
    /// ago, moved to the retired totals. So every word a stripe holds was
    /// written within one window of the stripe's last epoch, which a reader
    /// checks with all 48 bits of it: no word ever lives long enough for its
    /// 32-bit sequence to wrap and pass for a current one, however long a
    /// thread stays silent.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn enter(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        c: u64,
        generation: u64,
        t: u64,
        exclusive: bool,
    ) -> (u64, usize, bool) {
        let epoch = t / self.bucket_ns;
        let slot = (epoch % self.buckets) as usize;
        let last = last_bucket(c).map(|(e, _)| e);
        if last.is_some_and(|l| l >= epoch) {
            // Not later: this thread's clock read lags another writer's, or
            // the bucket was entered already. Nothing to clear.
            return (epoch, slot, false);
        }
        let first = last
            .map_or(0, |l| l + 1)
            .max(epoch.saturating_sub(self.buckets - 1));
        for e in first..=epoch {
            let tag = self.seq(generation, e);
            let s = (e % self.buckets) as usize;
            for kind in 0..KINDS {
                let word = cells.w(layout.bucket(stripe, s, kind));
                let retired = cells.w(stripe + S_RETIRED + kind);
                // Relaxed, as in `record`: the Release store of the cache
                // below is what publishes these clears to readers.
                let v = word.load(Relaxed);
                let count = v as u32;
                if count == 0 {
                    continue;
                }
                if exclusive {
                    // Written by us alone, at an epoch of this slot no later
                    // than `last`, so a lap or more before `e`: old,
                    // whatever its 32-bit tag looks like.
                    word.store(0, Relaxed);
                } else if !older(tag, (v >> 32) as u32)
                    || word.compare_exchange(v, 0, Relaxed, Relaxed).is_err()
                {
                    // A shared stripe: another writer may have entered this
                    // bucket first and written to it; only a word whose tag
                    // says it is older is cleared, and the CAS lets one of
                    // the racing writers move its count, once. (This is
                    // where 32 bits still show: after a silence of between
                    // 3 × 2^30 and 2^32 widths, modulo 2^32, a word of a
                    // shared stripe can look newer and stay, hiding new
                    // outcomes of its bucket from the window, or, within a
                    // window of a multiple of 2^32 widths, pass for
                    // current. Owned stripes, the common case, clear
                    // unconditionally and are exact.)
                    continue;
                }
                retire(retired, u64::from(count), exclusive);
            }
        }
        let cache = cells.w(stripe + S_EPOCH);
        let new = bucket_word(epoch, slot);
        // Release: pairs with the Acquire load in `counts`; a reader that
        // sees the stripe in its new bucket sees the old buckets cleared.
        // Shared stripes keep the latest bucket any writer entered.
        if exclusive {
            // Relaxed: read by the owner only (`record_owned`).
            let until = (epoch + 1).saturating_mul(self.bucket_ns);
            cells.w(stripe + S_UNTIL).store(until, Relaxed);
            cache.store(new, Release);
        } else {
            cache.fetch_max(new, Release);
        }
        (epoch, slot, true)
    }

    /// Count one outcome of `kind`, for a permit of `generation`, at time
    /// `t`, on the stripe at `stripe`, of which the caller is the only
    /// writer if `exclusive`. Returns whether the stripe just entered a new
    /// bucket (buckets may have left the window).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        kind: usize,
        generation: u64,
        t: u64,
        exclusive: bool,
    ) -> bool {
        let (epoch, slot, moved) = self.locate(cells, layout, stripe, generation, t, exclusive);
        let tag = self.seq(generation, epoch);
        let word = cells.w(layout.bucket(stripe, slot, kind));
        let retired = cells.w(stripe + S_RETIRED + kind);
        // Relaxed throughout: a word is changed by its one owner (plain
        // load and store) or else only by CAS, so no increment is lost;
        // nothing else is published through it but the count a reset moves
        // out (see `retire`). Readers that need a complete count
        // synchronise by other means (joins in tests; the totals'
        // high-water marks in metrics).
        let mut cur = word.load(Relaxed);
        loop {
            let count = cur as u32;
            let ctag = (cur >> 32) as u32;
            let (new, moved_out) = if ctag == tag && count != 0 {
                if count == u32::MAX {
                    // Saturated (4 billion outcomes in one bucket of one
                    // stripe): the window stops growing, the total does not.
                    bump(retired, 1, exclusive);
                    return moved;
                }
                (cur + 1, 0)
            } else if count == 0 || older(tag, ctag) {
                // Empty, or a bucket time has moved past: reset it to ours.
                ((u64::from(tag) << 32) | 1, u64::from(count))
            } else {
                // Our sequence is older than the word's: this outcome is out
                // of the window; keep it in the lifetime total only.
                bump(retired, 1, exclusive);
                return moved;
            };
            if exclusive {
                word.store(new, Relaxed);
            } else if let Err(actual) = word.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                cur = actual;
                continue;
            }
            if moved_out != 0 {
                retire(retired, moved_out, exclusive);
            }
            return moved;
        }
    }

    /// [`TimeWindow::record`] by the stripe's only writer, in the fewest
    /// instructions: the closed path of an in-process breaker. The common
    /// case is two loads and a compare to find the bucket (still the one
    /// this stripe entered last), one load, compare and store to count.
    #[inline(always)]
    pub(crate) fn record_owned(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        kind: usize,
        generation: u64,
        t: u64,
    ) -> bool {
        if self.add_owned(cells, layout, stripe, kind, generation, t, 1) {
            return false;
        }
        self.record(cells, layout, stripe, kind, generation, t, true)
    }

    /// `n` outcomes of `kind` in one plain store by the stripe's only
    /// writer, when that is all it takes: the stripe's current bucket, our
    /// tag, room for `n` more. Else nothing, and `false` (the caller goes
    /// through [`TimeWindow::record`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_owned(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        kind: usize,
        generation: u64,
        t: u64,
        n: u32,
    ) -> bool {
        // Relaxed: both words are written by this thread only (in `enter`).
        let c = cells.w(stripe + S_EPOCH).load(Relaxed);
        // `last_bucket`, unchecked (two instructions fewer on the closed
        // path): with no bucket entered yet, `S_UNTIL` is 0 and `t` not below.
        let (epoch, slot) = ((c >> 16).wrapping_sub(1), (c & 0xffff) as usize);
        // The slot is checked even so: in a shared file the words may have
        // been damaged by someone else, and must never index past the ring.
        if t < cells.w(stripe + S_UNTIL).load(Relaxed) && slot < layout.buckets {
            let tag = u64::from(self.seq(generation, epoch)) << 32;
            let word = cells.w(layout.bucket(stripe, slot, kind));
            let cur = word.load(Relaxed);
            // Our tag and a count that `n` more keep within 32 bits (a zero
            // count with our tag included: adding to it is right too).
            if cur.wrapping_sub(tag) <= u64::from(u32::MAX - n) {
                // Relaxed: see `record`.
                word.store(cur + u64::from(n), Relaxed);
                return true;
            }
        }
        false
    }

    /// The window's contents for `generation` at time `t`. Reads only.
    pub(crate) fn counts(
        &self,
        cells: &Cells,
        layout: &Layout,
        generation: u64,
        t: u64,
    ) -> WindowCounts {
        let now = t / self.bucket_ns;
        let cur = self.seq(generation, now);
        let b = self.buckets as i64;
        let mut out = WindowCounts::default();
        for s in 0..layout.stripes {
            let base = layout.stripe(s);
            // Acquire: pairs with the Release in `enter`.
            let c = cells.w(base + S_EPOCH).load(Acquire);
            let Some((last, _)) = last_bucket(c) else {
                continue; // never written
            };
            if now > last && now - last >= self.buckets {
                // Silent for a whole window: none of its words is in the
                // window, and they may be old enough for their 32-bit
                // sequences to have wrapped.
                continue;
            }
            for slot in 0..layout.buckets {
                for kind in 0..KINDS {
                    let v = cells.w(layout.bucket(base, slot, kind)).load(Relaxed);
                    let count = v as u32;
                    if count == 0 {
                        continue;
                    }
                    let d = i64::from(cur.wrapping_sub((v >> 32) as u32) as i32);
                    // d in [0, B): one of the last B buckets. d in (-B, 0):
                    // written by a thread whose clock read is a little ahead
                    // of ours; it is newer, so it is in the window too.
                    if d > -b && d < b {
                        out.add_kind(kind, u64::from(count));
                    }
                }
            }
        }
        out
    }
}

const T_BITS: u32 = 46;
const T_MASK: u64 = (1 << T_BITS) - 1;
const G_MASK: u64 = 0xffff;

/// Count-window arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CountWindow {
    pub size: u64,
}

impl CountWindow {
    /// Count one outcome of `kind` for a permit of `generation`.
    pub(crate) fn record(&self, cells: &Cells, kind: usize, generation: u64) {
        // Relaxed: the ticket only orders calls; slots are written by CAS.
        let ticket = cells.w(W_TICKET).fetch_add(1, Relaxed).wrapping_add(1) & T_MASK;
        let slot = cells.w(W_SLOTS + (ticket % self.size) as usize);
        let new = ((generation & G_MASK) << 48) | (ticket << 2) | kind as u64;
        let mut cur = slot.load(Relaxed);
        loop {
            if cur != 0 {
                let theirs = (cur >> 2) & T_MASK;
                let ahead = theirs.wrapping_sub(ticket) & T_MASK;
                if ahead != 0 && ahead < (1 << (T_BITS - 1)) {
                    return; // lapped by a newer call: out of the window
                }
            }
            match slot.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The window's contents for `generation`.
    pub(crate) fn counts(&self, cells: &Cells, generation: u64) -> WindowCounts {
        let cur = cells.w(W_TICKET).load(Relaxed) & T_MASK;
        let mut out = WindowCounts::default();
        for i in 0..self.size as usize {
            let v = cells.w(W_SLOTS + i).load(Relaxed);
            if v == 0 || (v >> 48) != generation & G_MASK {
                continue;
            }
            let behind = cur.wrapping_sub((v >> 2) & T_MASK) & T_MASK;
            if behind < self.size {
                out.add_kind((v & 3) as usize, 1);
            }
        }
        out
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Bucket rollover under races: no outcome lost or counted twice.
    use super::*;
    use crate::config::Config;
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

        /// One outcome at `t` on stripe 0, by its owner or a sharer.
        fn record(&self, kind: usize, t: u64, owned: bool) {
            let (c, l) = (&*self.cells, &self.layout);
            self.tw.record(c, l, l.stripe(0), kind, 0, t, owned);
        }

        /// `n` outcomes at `t` in one owner's store, if it can be one.
        fn add_owned(&self, kind: usize, t: u64, n: u32) -> bool {
            let (c, l) = (&*self.cells, &self.layout);
            self.tw.add_owned(c, l, l.stripe(0), kind, 0, t, n)
        }

        fn counts(&self, t: u64) -> WindowCounts {
            self.tw.counts(&self.cells, &self.layout, 0, t)
        }

        /// Everything ever counted of `kind`: retired plus in the buckets.
        fn total(&self, kind: usize) -> u64 {
            let s = self.layout.stripe(0);
            // Acquire, then the buckets: as `Breaker::metrics` (see `retire`).
            let mut t = self.cells.w(s + S_RETIRED + kind).load(Acquire);
            for b in 0..self.layout.buckets {
                t += self.cells.w(self.layout.bucket(s, b, kind)).load(Relaxed) & 0xffff_ffff;
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
