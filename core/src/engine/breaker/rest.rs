//! A breaker's lines past its control line (its *rest*: the metrics line,
//! with the directory's entries past the control line's and the address of
//! its extension, `Layout::lines`), made when first written.
//!
//! An idle in-process breaker with a time window is then its control line
//! alone, 128 bytes: nothing past it is written until a transition is
//! counted, a metrics read finds totals to keep, or a thread past the
//! control line's directory entries counts. The protocol is the stripes'
//! (`breaker/stripes.rs`), on the control line's word [`W_REST`]: 0, then
//! the address of the rest's zeroed lines, set once by CAS (Release; the
//! loser frees its lines); readers load it with Acquire. The rest lives
//! until the breaker is dropped. A count window's breaker has its rest
//! among its cells from the start (`Layout::rest_is_lazy`), the word
//! pointing at its own line 1; a shared file's breaker has no rest word:
//! its words are all in the file. Model-checked in `engine/loom.rs`
//! (`the_rest_made_by_two_transitions_counts_both`).

use super::*;

impl Breaker {
    /// Word `i` of the breaker's lines, if it exists yet: on the control
    /// line, or in the rest once it is made.
    #[inline]
    pub(super) fn line_word_if_made(&self, i: usize) -> Option<&AtomicU64> {
        if i < LINE_WORDS || !self.shape.layout.lazy {
            return Some(self.cells.w(i));
        }
        // Acquire: pairs with the CAS in `make_rest`; the rest's zeroed
        // words are visible.
        let p = self.cells.w(W_REST).load(Acquire) as *const AtomicU64;
        if p.is_null() {
            return None;
        }
        debug_assert!(i < self.shape.layout.lines() * LINE_WORDS);
        // SAFETY: a non-zero rest word is the first word of line 1 of
        // `layout.lines()` lines (made by `make_rest`, or the cells' own),
        // alive as long as `self`; `i` is within them (debug-checked).
        Some(unsafe { &*p.add(i - LINE_WORDS) })
    }

    /// Word `i` of the breaker's lines, its rest made if need be.
    #[inline]
    pub(super) fn line_word(&self, i: usize) -> &AtomicU64 {
        match self.line_word_if_made(i) {
            Some(w) => w,
            None => self.make_rest(i),
        }
    }

    /// Make the rest, or take the one another thread made first; word `i`
    /// of it.
    #[cold]
    #[inline(never)]
    fn make_rest(&self, i: usize) -> &AtomicU64 {
        let first = super::stripes::lines_at(self.cells.w(W_REST), self.shape.layout.lines() - 1);
        // SAFETY: `first` is the rest's first word (ours, or the winner's),
        // freed only when the breaker is dropped; `i` is within it.
        unsafe { &*first.add(i - LINE_WORDS) }
    }

    /// Free the rest, if `make_rest` made it (from `Drop`).
    pub(super) fn drop_rest(&mut self) {
        if !self.shape.layout.rest_is_lazy() {
            return;
        }
        // Relaxed: `&mut self`, no other thread holds the breaker.
        let p = self.cells.w(W_REST).load(Relaxed) as *mut AtomicU64;
        if !p.is_null() {
            // SAFETY: a lazy rest's non-zero word came from `make_rest`,
            // of `lines() - 1` lines, and the breaker, the only way to
            // it, is being dropped.
            unsafe { super::stripes::free_lines(p, self.shape.layout.lines() - 1) };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn an_idle_breaker_is_its_control_line_until_something_is_written_past_it() {
        let b = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new())).unwrap();
        assert_eq!(b.cells.w(W_REST).load(Relaxed), 0);
        let m = b.metrics();
        assert_eq!((m.state_changes, m.successes), (0, 0));
        assert_eq!(b.cells.w(W_REST).load(Relaxed), 0, "a read makes nothing");
        b.force_open();
        assert_ne!(
            b.cells.w(W_REST).load(Relaxed),
            0,
            "a transition counts there"
        );
        b.reset();
        assert_eq!(b.metrics().state_changes, 2);
    }

    #[test]
    fn a_count_windows_rest_is_its_own_line_one() {
        let config = Config::builder().count_window(100).build().unwrap();
        let b = Breaker::with_clock(config, Arc::new(ManualClock::new())).unwrap();
        let line_one = b.cells.w(LINE_WORDS) as *const AtomicU64 as u64;
        assert_eq!(b.cells.w(W_REST).load(Relaxed), line_one);
        b.force_open();
        assert_eq!(b.metrics().state_changes, 1);
        assert_eq!(b.cells.w(W_STATE_CHANGES).load(Relaxed), 1);
    }
}
