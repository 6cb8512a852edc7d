//! The count window: the outcomes of the last N calls, one byte each.
//!
//! Each call takes a *position* (one shared `fetch_add` on the `W_TICKET`
//! word: a count window does not scale across cores the way the striped time
//! window does). Position `p` belongs to slot `p mod N`, in *lap* `p / N`.
//! A slot is one byte, `code:6 | kind:2`: the outcome kind of the newest call
//! that wrote it, and its lap as a code `1 + lap mod 63`; code 0 is "empty"
//! (never written since the window was last cleared). Eight slots share a
//! 64-bit word (`W_SLOTS` onwards), written by CAS on the whole word, so a
//! window of N calls takes N bytes, rounded up to whole lines, in the same
//! `Line`/`u64` layout an in-process breaker and a shared file use.
//!
//! # Protocol
//!
//! * **Writer** (position `p`): `fetch_add` (Acquire) takes `p`; if the
//!   breaker has left the permit's generation since, the position is left
//!   unwritten (see *Generations*). Then, until its CAS succeeds: load the
//!   slot's word (Acquire), load the counter; if position `p + N` has been
//!   given out, a newer call owns the slot and `p` is out of the window:
//!   give up. Else CAS (Release) the word with `p`'s byte in place.
//!   Because the word is loaded before the counter, with Acquire pairing
//!   with every writer's Release CAS, a word that already holds a newer
//!   call of the slot comes with a counter that shows it: a slot is written
//!   in the order of its positions, and never by a call it has lapped.
//! * **Reader**: load the counter `c`; the window is positions
//!   `c - N .. c`, one per slot (the newest of the slot below `c`). A slot
//!   counts when its code is that position's lap code. A call given its
//!   position but not yet written, or written after the reader loaded `c`
//!   (a lap later), shows another code and is not counted: a reader counts
//!   exactly the window's calls that have been written, each once, with its
//!   kind.
//!
//! # Generations
//!
//! The window is judged for the breaker's current generation only, and
//! every generation starts with an empty window. The winner of every
//! transition (each starts a generation) clears it ([`CountWindow::clear`]):
//! stores 0 in every slot word, moves the counter on by N (Release), so the
//! new window is N positions that no call was given, then publishes the
//! generation in the `W_WINDOW_GEN` word (Release, only ever forward).
//! Readers count nothing until the window of their generation is published
//! (Acquire): between a transition and its clearing the new generation's
//! window reads empty, never as the old one's. A writer whose permit is
//! of an earlier generation takes no position (`record.rs` checks before);
//! one that raced the transition and got a position after the move sees the
//! new generation (its Acquire `fetch_add` reads from the move's release
//! sequence) and leaves the position unwritten; one that got a position
//! before it is out of the new window.
//!
//! # The exact guarantee
//!
//! With the breaker quiet (no call between taking a position and its
//! CAS), the window holds exactly the last N positions' outcomes of the
//! current generation, as the sequential model does. Under concurrency a
//! reader counts a subset of those: each written call of the window once,
//! with its kind, and nothing else, **provided** no slot holds a byte 63
//! laps (63 N positions) or more behind the position the reader expects
//! there, since a lap code repeats every 63 laps. That takes 63 positions
//! of one slot in a row left unwritten (each call lapped before its CAS,
//! having stalled for N calls, or racing a transition), or a writer
//! stalled for 63 N calls between loading its word and its CAS while the
//! word, all eight slots, came back to the value it loaded (the CAS's
//! ABA). Clearing at every transition bounds what a slot can hold from
//! before it to the last window's calls, which is why many transitions in
//! a row (`reset_many`) cannot make an old byte pass for a current one.
//!
//! Two transitions racing each other's clearing may drop the later
//! generation's first calls from its window (the earlier clearing lands
//! after them), as moving the counter did before bytes: an under-count,
//! never an outcome of another generation. In a shared file, a process
//! that dies between winning a transition and publishing the cleared
//! window leaves that generation's count window reading empty until the
//! next transition.

use crate::engine::layout::{Cells, W_SLOTS, W_TICKET, W_WINDOW_GEN};
use crate::engine::state::GEN_MASK;
use crate::engine::window::WindowCounts;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// Slots per 64-bit word.
pub(crate) const SLOTS_PER_WORD: usize = 8;

/// Lap codes cycle through 1..=63; 0 is an empty slot.
const LAP_CODES: u64 = 63;

/// A slot's byte for a call of `kind` at lap `lap`.
#[inline(always)]
const fn slot_byte(lap: u64, kind: usize) -> u64 {
    ((lap % LAP_CODES + 1) << 2) | kind as u64
}

/// The lap code of a slot byte (0: empty).
#[inline(always)]
const fn code_of(byte: u64) -> u64 {
    byte >> 2
}

/// Whether generation `a` is after `b` (modulo [`GEN_MASK`] + 1).
#[inline]
const fn is_after(a: u64, b: u64) -> bool {
    let d = a.wrapping_sub(b) & GEN_MASK;
    d != 0 && d <= GEN_MASK / 2
}

/// Count-window arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CountWindow {
    pub size: u64,
}

impl CountWindow {
    /// Slot words of a window of `size` calls.
    pub(crate) const fn words(size: usize) -> usize {
        size.div_ceil(SLOTS_PER_WORD)
    }

    /// Count one outcome of `kind`, if `still_current()` (whether the
    /// breaker is still in the permit's generation) says so once the call
    /// has its position.
    #[inline]
    pub(crate) fn record(&self, cells: &Cells, kind: usize, still_current: impl FnOnce() -> bool) {
        // Acquire: pairs with the Release of `clear`'s move; a position
        // after it sees the transition that cleared (see the module doc).
        let p = cells.w(W_TICKET).fetch_add(1, Acquire);
        if !still_current() {
            return; // raced a transition: no outcome of another generation
        }
        let (lap, slot) = (p / self.size, (p % self.size) as usize);
        let word = cells.w(W_SLOTS + slot / SLOTS_PER_WORD);
        let shift = (slot % SLOTS_PER_WORD) * 8;
        let byte = slot_byte(lap, kind) << shift;
        let mask = 0xff << shift;
        // Acquire: a word holding a newer call of the slot was released
        // after that call's position was taken, so the counter load below
        // sees it.
        let mut cur = word.load(Acquire);
        loop {
            // Relaxed: ordered after the word's Acquire load (above).
            if cells.w(W_TICKET).load(Relaxed).wrapping_sub(p) > self.size {
                return; // position p + N is given out: lapped
            }
            match word.compare_exchange_weak(cur, (cur & !mask) | byte, Release, Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The window's contents for `generation`, the breaker's current one
    /// (see the module doc): empty until the window of `generation` has
    /// been cleared and published.
    pub(crate) fn counts(&self, cells: &Cells, generation: u64) -> WindowCounts {
        // Acquire: pairs with `clear`'s Release; the counter and the slots
        // below are the cleared ones or later.
        if cells.w(W_WINDOW_GEN).load(Acquire) != generation & GEN_MASK {
            return WindowCounts::default();
        }
        // Relaxed: a slot counts only when its code is its window position's
        // lap; one written later is a lap on (see the module doc).
        let c = cells.w(W_TICKET).load(Relaxed);
        let (laps, first_old) = (c / self.size, (c % self.size) as usize);
        let mut out = WindowCounts::default();
        for w in 0..Self::words(self.size as usize) {
            let v = cells.w(W_SLOTS + w).load(Relaxed);
            if v == 0 {
                continue;
            }
            for k in 0..SLOTS_PER_WORD {
                let slot = w * SLOTS_PER_WORD + k;
                if slot >= self.size as usize {
                    break;
                }
                // Slots below `first_old` hold lap `laps`, the others the
                // lap before (none in the first lap).
                let lap = if slot < first_old {
                    laps
                } else if laps == 0 {
                    continue;
                } else {
                    laps - 1
                };
                let b = (v >> (k * 8)) & 0xff;
                if code_of(b) == code_of(slot_byte(lap, 0)) {
                    out.add_kind((b & 3) as usize, 1);
                }
            }
        }
        out
    }

    /// Empty the window for `generation`, moving the counter `windows`
    /// windows on (1; `reset_many` moves the ones it skips), and publish
    /// it: by the winner of the transition to `generation`, after it.
    pub(crate) fn clear(&self, cells: &Cells, generation: u64, windows: u64) {
        for w in 0..Self::words(self.size as usize) {
            // Relaxed: published by the Release move below. A swap, not a
            // store: the same on the machine, and loom 0.7 lets a plain
            // store land between the read and the write of a racing CAS
            // (tokio-rs/loom#254), a history no machine has.
            cells.w(W_SLOTS + w).swap(0, Relaxed);
        }
        cells
            .w(W_TICKET)
            .fetch_add(self.size.wrapping_mul(windows), Release);
        // Release: a reader that sees `generation` here sees the slots
        // cleared and the counter moved. Only forward: a slower winner of
        // an earlier transition must not take the window back from a later
        // generation (its clearing may still empty the later one: an
        // under-count, see the module doc).
        let published = cells.w(W_WINDOW_GEN);
        let mut cur = published.load(Relaxed);
        while is_after(generation, cur) {
            match published.compare_exchange_weak(cur, generation, Release, Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Writers, readers and a closing transition on one slot word.
    use super::*;
    use crate::engine::config::Config;
    use crate::engine::layout::{Layout, KIND_FAIL_FAST, KIND_OK_FAST, KIND_OK_SLOW};
    use crate::sync::AtomicU64;
    use loom::sync::Arc;
    use loom::thread;

    /// A count window of `size` and a stand-in for the state word's
    /// generation.
    struct W {
        cells: Cells,
        cw: CountWindow,
        generation: AtomicU64,
    }

    fn window(size: u32) -> Arc<W> {
        let cfg = Config::builder().count_window(size).build().unwrap();
        let layout = Layout::new(&cfg, 1);
        Arc::new(W {
            cells: Cells::new(&layout),
            cw: CountWindow {
                size: u64::from(size),
            },
            generation: AtomicU64::new(0),
        })
    }

    impl W {
        fn record(&self, kind: usize) {
            self.record_of(kind, 0);
        }

        fn record_of(&self, kind: usize, generation: u64) {
            // As `record.rs`: no position for an earlier generation.
            if self.generation.load(Acquire) == generation {
                self.cw.record(&self.cells, kind, || {
                    self.generation.load(Relaxed) == generation
                });
            }
        }

        fn counts(&self) -> WindowCounts {
            self.cw.counts(&self.cells, self.generation.load(Acquire))
        }
    }

    #[test]
    fn two_writers_on_slots_of_one_word_lose_nothing() {
        loom::model(|| {
            // Slots 0 and 1 share word 0: both outcomes end in the window.
            let w = window(4);
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_FAIL_FAST));
            w.record(KIND_OK_SLOW);
            let seen = w.counts();
            assert!(seen.calls <= 2);
            t.join().unwrap();
            let c = w.counts();
            assert_eq!((c.calls, c.failures, c.slow), (2, 1, 1), "an outcome lost");
        });
    }

    #[test]
    fn a_writer_lapped_by_a_newer_call_keeps_the_newest() {
        loom::model(|| {
            // A window of 1: position 0 fails, positions 1 and 2 race for
            // the one slot. Whatever the order, the slot ends with position
            // 2's outcome (a lapped call never overwrites a newer one).
            let w = window(1);
            w.record(KIND_FAIL_FAST);
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_FAIL_FAST));
            w.record(KIND_OK_FAST);
            t.join().unwrap();
            let c = w.counts();
            assert_eq!(c.calls, 1, "the newest position was not written");
            // Which call took position 2 decides the kind: read it back.
            let b = w.cells.w(W_SLOTS).load(Relaxed) & 0xff;
            assert_eq!(code_of(b), code_of(slot_byte(2, 0)), "lap of position 2");
        });
    }

    #[test]
    fn a_reader_racing_writers_never_counts_a_lapped_call() {
        loom::model(|| {
            // A window of 1 holding a failure (position 0); two successes
            // race. Once the main thread has recorded, position 0 is out of
            // the window whatever the order: its read must not count the
            // failure, even while the slot still holds it (the main
            // thread's call lapped before writing, the other's in flight).
            let w = window(1);
            w.record(KIND_FAIL_FAST);
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record(KIND_OK_FAST));
            w.record(KIND_OK_FAST);
            let seen = w.counts();
            assert_eq!(seen.failures, 0, "a lapped call was counted: {seen:?}");
            assert!(seen.calls <= 1, "more than the window: {seen:?}");
            t.join().unwrap();
            assert_eq!(w.counts().calls, 1);
        });
    }

    #[test]
    fn a_reader_between_a_transition_and_its_clearing_sees_no_old_outcome() {
        loom::model(|| {
            // Generation 0's window holds a failure; a transition to
            // generation 1 (the state word, then the clearing) races a
            // reader of the generation it finds: a reader of generation 1
            // counts nothing of generation 0's window, cleared yet or not.
            let w = window(2);
            w.record(KIND_FAIL_FAST);
            let w2 = w.clone();
            let t = thread::spawn(move || {
                let g = w2.generation.load(Acquire);
                let seen = w2.cw.counts(&w2.cells, g);
                assert!(g == 0 || seen.calls == 0, "generation {g}: {seen:?}");
            });
            w.generation.store(1, Release);
            w.cw.clear(&w.cells, 1, 1);
            t.join().unwrap();
            assert_eq!(w.counts(), WindowCounts::default());
        });
    }

    #[test]
    fn a_closing_transition_racing_a_record_leaves_the_new_window_clean() {
        loom::model(|| {
            // Generation 0 has a failure; a transition to generation 1
            // (the state word, then the clearing) races a failure of
            // generation 0 and is followed by a success of generation 1.
            // The new window never holds a failure.
            let w = window(2);
            w.record(KIND_FAIL_FAST);
            let w2 = w.clone();
            let t = thread::spawn(move || w2.record_of(KIND_FAIL_FAST, 0));
            w.generation.store(1, Release);
            w.cw.clear(&w.cells, 1, 1);
            w.record_of(KIND_OK_FAST, 1);
            let seen = w.counts();
            assert_eq!(seen.failures, 0, "an outcome of generation 0: {seen:?}");
            t.join().unwrap();
            let c = w.counts();
            assert_eq!(
                (c.calls, c.failures),
                (1, 0),
                "counter {}, word {:#x}, published {}",
                w.cells.w(W_TICKET).load(Relaxed),
                w.cells.w(W_SLOTS).load(Relaxed),
                w.cells.w(W_WINDOW_GEN).load(Relaxed)
            );
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::config::Config;
    use crate::engine::layout::{Layout, KIND_FAIL_FAST, KIND_FAIL_SLOW, KIND_OK_FAST};
    use crate::sync::Ordering::Relaxed;

    fn cells(size: u32) -> (Cells, CountWindow) {
        let cfg = Config::builder().count_window(size).build().unwrap();
        let cw = CountWindow {
            size: u64::from(size),
        };
        (Cells::new(&Layout::new(&cfg, 1)), cw)
    }

    #[test]
    fn a_slot_byte_keeps_lap_code_and_kind_and_never_reads_empty() {
        for lap in [0, 1, 62, 63, 64, u64::MAX / 3] {
            for kind in 0..4 {
                let b = slot_byte(lap, kind);
                assert!(b <= 0xff && code_of(b) != 0, "lap {lap}: empty");
                assert_eq!((b & 3) as usize, kind);
            }
        }
        // Codes repeat every 63 laps, and only then.
        assert_eq!(code_of(slot_byte(5, 0)), code_of(slot_byte(68, 0)));
        assert_ne!(code_of(slot_byte(5, 0)), code_of(slot_byte(6, 0)));
    }

    #[test]
    fn the_window_is_the_last_n_calls() {
        let (c, cw) = cells(10);
        for i in 0..25 {
            cw.record(
                &c,
                if i < 17 { KIND_FAIL_FAST } else { KIND_OK_FAST },
                || true,
            );
        }
        let n = cw.counts(&c, 0);
        // Calls 15..25: 15 and 16 failed.
        assert_eq!((n.calls, n.failures), (10, 2));
        assert_eq!(CountWindow::words(10), 2);
    }

    #[test]
    fn clearing_empties_the_window_however_often_it_is_done() {
        let (c, cw) = cells(3);
        for _ in 0..3 {
            cw.record(&c, KIND_FAIL_SLOW, || true);
        }
        // 63 windows on (the counter at 192: the window is lap 63, whose
        // code is lap 0's): an unwritten slot's old byte would pass for a
        // current one; the clearing is what keeps it from being counted.
        cw.clear(&c, 1, 63);
        assert_eq!(c.w(W_TICKET).load(Relaxed), 192);
        assert_eq!(code_of(slot_byte(63, 0)), code_of(slot_byte(0, 0)));
        assert_eq!(cw.counts(&c, 1), WindowCounts::default());
        cw.record(&c, KIND_OK_FAST, || true);
        assert_eq!((cw.counts(&c, 1).calls, cw.counts(&c, 1).failures), (1, 0));
        // Another generation's window (the one before) reads empty.
        assert_eq!(cw.counts(&c, 0), WindowCounts::default());
        // A call whose generation moved on leaves its position empty.
        cw.record(&c, KIND_FAIL_FAST, || false);
        assert_eq!(cw.counts(&c, 1).calls, 1);
        // A slower winner of an earlier transition does not take the
        // published generation back.
        cw.clear(&c, 0, 0);
        assert_eq!(c.w(W_WINDOW_GEN).load(Relaxed), 1);
    }
}
