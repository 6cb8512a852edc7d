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
//! bits. A writer whose tag is newer than the word's replaces the word with
//! `tag | 1` in one CAS (the lock-free reset of a bucket that time moved past)
//! and adds the replaced count to the stripe's retired total, so lifetime
//! totals stay exact; a writer whose tag is older (its timestamp or its
//! generation fell behind) adds its outcome to the retired total only.
//! Offsetting the sequence by `4B` per generation is how closing the breaker
//! "clears the window": the new generation's tags are more than a window
//! away from every old one, so no reader counts them, and no one touches the
//! old words. Stale-generation outcomes land outside the window by the same
//! arithmetic.
//!
//! # Count window
//!
//! Each call takes a ticket (one shared `fetch_add`: a count window does not
//! scale across cores the way the striped time window does) and writes
//! `generation:16 | ticket:46 | kind:2` to slot `ticket mod N`, unless a newer
//! ticket is already there (it lapped this one, which is then out of the
//! window anyway).

use crate::layout::*;
use crate::sync::Ordering::Relaxed;

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

impl TimeWindow {
    #[inline]
    fn seq(&self, generation: u64, epoch: u64) -> u32 {
        epoch.wrapping_add(generation.wrapping_mul(4 * self.buckets)) as u32
    }

    /// The bucket epoch and ring slot of time `t`, from the stripe's cache
    /// when `t` falls in the stripe's last bucket (the common case), else
    /// computed (two divisions) and cached; and whether it was computed (the
    /// stripe moved to a new bucket, so buckets may have left the window).
    #[inline]
    fn locate(&self, cells: &Cells, stripe: usize, t: u64) -> (u64, usize, bool) {
        let cache = cells.w(stripe + S_EPOCH);
        // Relaxed: the cache is one self-validating word (epoch and slot
        // together); a stale or concurrently replaced value is checked
        // against `t` before use, so any value read is safe.
        let c = cache.load(Relaxed);
        let epoch = c >> 16;
        if c != 0 && t.wrapping_sub(epoch.wrapping_mul(self.bucket_ns)) < self.bucket_ns {
            return (epoch, (c & 0xffff) as usize, false);
        }
        let epoch = t / self.bucket_ns;
        let slot = epoch % self.buckets;
        cache.store((epoch << 16) | slot, Relaxed);
        (epoch, slot as usize, true)
    }

    /// Count one outcome of `kind`, for a permit of `generation`, at time `t`.
    /// Returns whether this stripe just moved to a new bucket.
    #[inline]
    pub(crate) fn record(
        &self,
        cells: &Cells,
        layout: &Layout,
        stripe: usize,
        kind: usize,
        generation: u64,
        t: u64,
    ) -> bool {
        let (epoch, slot, moved) = self.locate(cells, stripe, t);
        let tag = self.seq(generation, epoch);
        let word = cells.w(layout.bucket(stripe, slot, kind));
        // Relaxed throughout: each counter word is changed only by CAS, so no
        // increment is lost; nothing else is published through it. Readers
        // that need a complete count synchronise by other means (joins in
        // tests; the totals' high-water marks in metrics).
        let mut cur = word.load(Relaxed);
        loop {
            let count = cur as u32;
            let ctag = (cur >> 32) as u32;
            // Signed distance from the word's sequence to ours. A word can be
            // legitimately newer than us only by a few generations' offsets
            // (a stale permit) or a little clock skew, never by 2^30: a word
            // that looks that much newer is in fact ancient (its 32-bit
            // sequence wrapped), so it is replaced like any older bucket.
            let d = tag.wrapping_sub(ctag) as i32;
            let (new, retire) = if count == 0 || (ctag != tag && (d > 0 || d <= -(1 << 30))) {
                // Empty, or a bucket time has moved past: reset it to ours.
                ((u64::from(tag) << 32) | 1, u64::from(count))
            } else if ctag == tag {
                if count == u32::MAX {
                    // Saturated (4 billion outcomes in one bucket of one
                    // stripe): the window stops growing, the total does not.
                    cells.w(stripe + S_RETIRED + kind).fetch_add(1, Relaxed);
                    return moved;
                }
                (cur + 1, 0)
            } else {
                // Our sequence is older than the word's: this outcome is out
                // of the window; keep it in the lifetime total only.
                cells.w(stripe + S_RETIRED + kind).fetch_add(1, Relaxed);
                return moved;
            };
            match word.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if retire != 0 {
                        cells
                            .w(stripe + S_RETIRED + kind)
                            .fetch_add(retire, Relaxed);
                    }
                    return moved;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// The window's contents for `generation` at time `t`.
    pub(crate) fn counts(
        &self,
        cells: &Cells,
        layout: &Layout,
        generation: u64,
        t: u64,
    ) -> WindowCounts {
        let cur = self.seq(generation, t / self.bucket_ns);
        let b = self.buckets as i64;
        let mut out = WindowCounts::default();
        for s in 0..layout.stripes {
            let base = layout.stripe(s);
            for slot in 0..layout.buckets {
                for kind in 0..KINDS {
                    let word = cells.w(layout.bucket(base, slot, kind));
                    let v = word.load(Relaxed);
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
                    } else if (d >= b || d <= -(1 << 30))
                        && word.compare_exchange(v, 0, Relaxed, Relaxed).is_ok()
                    {
                        // Older than the window: retire it (its count moves
                        // to the lifetime total) so that no word grows old
                        // enough for its 32-bit sequence to wrap and pass
                        // for a current one. Words that look newer (a later
                        // generation, if the breaker moved on while we
                        // scan) are left alone, unless they look 2^30
                        // newer, which only a wrapped, ancient word can. A
                        // writer racing with us retires it instead; the CAS
                        // lets only one of us do it.
                        cells
                            .w(base + S_RETIRED + kind)
                            .fetch_add(u64::from(count), Relaxed);
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

    fn setup() -> (Arc<Cells>, Layout, TimeWindow) {
        let cfg = Config::builder()
            .time_window(Duration::from_secs(2), 2)
            .build()
            .unwrap();
        let layout = Layout::new(&cfg, 1);
        let tw = TimeWindow {
            bucket_ns: cfg.bucket_ns(),
            buckets: 2,
        };
        (Arc::new(Cells::new(&layout)), layout, tw)
    }

    fn total(cells: &Cells, layout: &Layout, kind: usize) -> u64 {
        let s = layout.stripe(0);
        let mut t = cells.w(s + S_RETIRED + kind).load(Relaxed);
        for b in 0..layout.buckets {
            t += cells.w(layout.bucket(s, b, kind)).load(Relaxed) & 0xffff_ffff;
        }
        t
    }

    #[test]
    fn rollover_never_loses_or_double_counts() {
        loom::model(|| {
            let (cells, layout, tw) = setup();
            let sec = 1_000_000_000;
            // Epochs 1 and 3 share slot 1: the second write resets the bucket.
            tw.record(&cells, &layout, layout.stripe(0), KIND_OK_FAST, 0, sec);
            let (c2, l2) = (cells.clone(), layout);
            let t = thread::spawn(move || {
                tw.record(&c2, &l2, l2.stripe(0), KIND_OK_FAST, 0, sec);
            });
            tw.record(&cells, &layout, layout.stripe(0), KIND_OK_FAST, 0, 3 * sec);
            t.join().unwrap();
            assert_eq!(
                total(&cells, &layout, KIND_OK_FAST),
                3,
                "lifetime total exact"
            );
            // At t = 3 s the window is epochs 2..=3: only the newest call.
            let w = tw.counts(&cells, &layout, 0, 3 * sec);
            assert_eq!(w.calls, 1);
        });
    }

    #[test]
    fn concurrent_increments_are_all_counted() {
        loom::model(|| {
            let (cells, layout, tw) = setup();
            let (c2, l2) = (cells.clone(), layout);
            let t = thread::spawn(move || {
                tw.record(&c2, &l2, l2.stripe(0), KIND_FAIL_FAST, 0, 0);
                tw.record(&c2, &l2, l2.stripe(0), KIND_FAIL_FAST, 0, 0);
            });
            tw.record(&cells, &layout, layout.stripe(0), KIND_FAIL_FAST, 0, 0);
            t.join().unwrap();
            let w = tw.counts(&cells, &layout, 0, 0);
            assert_eq!((w.calls, w.failures), (3, 3));
        });
    }
}
