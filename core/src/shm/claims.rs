//! Which stripes of a shared registry's breakers this process's threads own.
//!
//! An in-process breaker gives each thread slot ([`crate::slot`]) below its
//! stripe count a stripe of its own, counted with plain loads and stores.
//! Thread slots of different processes collide, so in a shared file the
//! ownership is written in the file: a table in the header with one owner
//! word per stripe index but the last, `pid:32 | nonce:32` of the owning
//! process (0: free). Entry `k` owns stripe `k` of *every* breaker in the
//! file; the last stripe stays shared (CAS) by the threads that own none.
//!
//! A thread claims an entry the first time it counts, through the handle
//! it counts with: a free entry, or one whose owner is gone (`kill(pid, 0)`
//! says there is no such process, or the pid is ours with another nonce: a
//! process that had our pid before us). Which entry each thread slot holds
//! is kept in this process only. A forked child claims anew (its parent's
//! threads still own theirs; see [`crate::slot::fork_epoch`]). Entries are
//! given back when the handle's last breaker is dropped, or taken over once
//! their process has died (a process killed at any moment leaves its stripes
//! whole: every word in them is written by one atomic store).

use super::Map;
use crate::slot::fork_epoch;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Thread slots that can own a stripe (a thread with a higher slot shares).
const SLOTS: usize = 256;
/// `mine` value: this slot found no entry left; it shares.
const NONE_LEFT: u32 = u32::MAX;

pub(crate) struct Claims {
    map: Arc<Map>,
    /// Word of entry 0 in the file.
    first: usize,
    /// Entries (the stripe count less the shared one).
    count: usize,
    /// By thread slot: `fork epoch:32 | entry + 1:32` (0: not claimed yet).
    mine: Box<[AtomicU64]>,
}

impl Claims {
    pub(super) fn new(map: Arc<Map>, first: usize, count: usize) -> Claims {
        crate::slot::watch_forks();
        Claims {
            map,
            first,
            count,
            mine: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The stripe owned by the thread in `slot`, if it has one.
    #[inline]
    pub(crate) fn stripe(&self, slot: usize) -> Option<usize> {
        // Relaxed: written only by the thread of this slot (and, after the
        // thread exits, by the next holder of the slot, ordered by the slot
        // allocator's lock).
        let v = self.mine.get(slot)?.load(Relaxed);
        let k = v as u32;
        if k != 0 && (v >> 32) as u32 == fork_epoch() as u32 {
            return (k != NONE_LEFT).then(|| k as usize - 1);
        }
        self.claim(slot)
    }

    #[cold]
    #[inline(never)]
    fn claim(&self, slot: usize) -> Option<usize> {
        let epoch = fork_epoch() as u32 as u64;
        let me = owner();
        let got = (0..self.count).find(|&k| {
            let w = self.map.w(self.first + k);
            // Acquire (load and CAS): whoever gave the entry back (Release)
            // or died wrote its stripes before; we continue from there.
            let cur = w.load(Acquire);
            (cur == 0 || gone(cur, me)) && w.compare_exchange(cur, me, AcqRel, Acquire).is_ok()
        });
        let k = got.map_or(u64::from(NONE_LEFT), |k| k as u64 + 1);
        self.mine[slot].store((epoch << 32) | k, Relaxed);
        got
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        // No breaker of this handle is left: give back what it claimed (in
        // this process's lifetime since the last fork; a parent's entries
        // are the parent's to give back).
        let (epoch, me) = (fork_epoch() as u32, owner());
        for v in self.mine.iter().map(|m| m.load(Relaxed)) {
            let k = v as u32;
            if k != 0 && k != NONE_LEFT && (v >> 32) as u32 == epoch {
                // Release: our writes to the stripes come before the next
                // owner's.
                let _ = self.map.w(self.first + k as usize - 1).compare_exchange(
                    me,
                    0,
                    Ordering::Release,
                    Relaxed,
                );
            }
        }
    }
}

/// This process's owner word: `pid:32 | nonce:32`.
fn owner() -> u64 {
    (u64::from(std::process::id()) << 32) | crate::slot::process_nonce()
}

/// Whether the process that wrote owner word `w` is gone.
fn gone(w: u64, me: u64) -> bool {
    let pid = (w >> 32) as u32;
    if pid == (me >> 32) as u32 {
        // Our pid with another nonce: an earlier process with this pid.
        return w != me;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return true; // no process has such a pid: a damaged word
    };
    if pid <= 0 {
        return true; // 0 and negatives mean groups to kill(): never ask
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process
    // exists (and that we may signal it).
    let r = unsafe { libc::kill(pid, 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}
