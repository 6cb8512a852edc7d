//! The file's data area: the breakers' lines, handed out in order by a
//! counter in the header ([`H_BUMP`]), never moved, never freed.
//!
//! Two kinds of request take lines from it: a new breaker's own lines
//! (`Layout::file`: its control lines and the stripe that the threads
//! owning none share), and the stripe of one breaker that a process's
//! thread owns through its claim (`shm::claims`), made the first time that
//! thread counts on that breaker. So an idle breaker costs its own lines
//! alone, whatever the stripe count, and the file grows by a stripe for
//! each (breaker, claim) that is counted on.
//!
//! A request is a CAS loop on the counter, so one that does not fit takes
//! nothing. A process killed between taking lines and publishing them
//! leaks them (they are never reused: they are not known to be unwritten).

use super::file::{Geometry, Map, H_BUMP};
use crate::engine::layout::LINE_WORDS;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The data area of one mapping of a file.
pub(crate) struct DataArea {
    map: Arc<Map>,
    /// The area's first word, in words from the start of the file.
    first: usize,
    /// The area's size in lines.
    lines: u64,
}

impl DataArea {
    /// The data area of `map`, laid out as `geo` says.
    pub(super) fn new(map: Arc<Map>, geo: &Geometry) -> DataArea {
        DataArea {
            map,
            first: geo.data_off,
            lines: geo.data_lines,
        }
    }

    /// Lines not handed out yet.
    pub(super) fn left(&self) -> u64 {
        // Relaxed: a hint for an error message; `take` decides.
        self.lines.saturating_sub(self.map.w(H_BUMP).load(Relaxed))
    }

    /// Take `n` lines: the first one's number, or `None` when fewer than
    /// `n` are left (and then nothing is taken).
    pub(crate) fn take(&self, n: usize) -> Option<u64> {
        let bump = self.map.w(H_BUMP);
        // Relaxed: the counter publishes nothing; the lines it hands out
        // are zero (the file was made so) until their taker publishes them
        // with a Release of its own.
        let mut used = bump.load(Relaxed);
        loop {
            let end = used.checked_add(n as u64).filter(|&e| e <= self.lines)?;
            match bump.compare_exchange_weak(used, end, Relaxed, Relaxed) {
                Ok(_) => return Some(used),
                Err(actual) => used = actual,
            }
        }
    }

    /// The first word of lines `line..line + n`, or `None` if they are not
    /// all in the area (a number read from a damaged file).
    pub(crate) fn lines_at(&self, line: u64, n: usize) -> Option<NonNull<AtomicU64>> {
        let end = line.checked_add(n as u64)?;
        if n == 0 || end > self.lines {
            return None;
        }
        // In bounds: `line < self.lines`, which the file's size covers
        // (`file::check`); `Map::w` asserts it again.
        Some(NonNull::from(
            self.map.w(self.first + line as usize * LINE_WORDS),
        ))
    }
}
