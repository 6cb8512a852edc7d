//! Which stripes of a shared registry's breakers this process's threads own.
//!
//! An in-process breaker gives each thread slot ([`crate::engine::thread_slot`]) below its
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
//! threads still own theirs; see [`crate::engine::thread_slot::fork_epoch`]). Entries are
//! given back when the handle's last breaker is dropped, or taken over once
//! their process has died (a process killed at any moment leaves its stripes
//! whole: every word in them is written by one atomic store).
//!
//! The table's protocol over its owner words (`claim_entry`, `give_back`)
//! is apart from the file, so that loom checks it over words of its own
//! (`loom_tests`; the rest of `shm` maps a file and is not built under loom).

use crate::sync::AtomicU64;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
#[cfg(not(loom))]
use {super::Map, crate::engine::thread_slot::fork_epoch, std::sync::Arc};

/// Thread slots that can own a stripe (a thread with a higher slot shares).
#[cfg(not(loom))]
const SLOTS: usize = 256;
/// `mine` value: this slot found no entry left; it shares.
#[cfg(not(loom))]
const NONE_LEFT: u32 = u32::MAX;

/// Claim for owner word `me` the first of `entries` that is free or whose
/// owner is gone, by CAS from the value seen: its index, or `None` if it won
/// none (each entry is tried once; a CAS lost to another claimer moves on).
#[cfg_attr(loom, allow(dead_code))]
fn claim_entry<'w>(mut entries: impl Iterator<Item = &'w AtomicU64>, me: u64) -> Option<usize> {
    entries.position(|w| {
        // Acquire (load and CAS): whoever gave the entry back (Release)
        // or died wrote its stripes before; we continue from there.
        let cur = w.load(Acquire);
        (cur == 0 || gone(cur, me)) && w.compare_exchange(cur, me, AcqRel, Acquire).is_ok()
    })
}

/// Give entry word `w` back if `me` still owns it.
#[cfg_attr(loom, allow(dead_code))]
fn give_back(w: &AtomicU64, me: u64) {
    // Release: our writes to the stripes come before the next owner's.
    let _ = w.compare_exchange(me, 0, Release, Relaxed);
}

#[cfg(not(loom))]
pub(crate) struct Claims {
    map: Arc<Map>,
    /// Word of entry 0 in the file.
    first: usize,
    /// Entries (the stripe count less the shared one).
    count: usize,
    /// By thread slot: `fork epoch:32 | entry + 1:32` (0: not claimed yet).
    mine: Box<[AtomicU64]>,
}

#[cfg(not(loom))]
impl Claims {
    pub(super) fn new(map: Arc<Map>, first: usize, count: usize) -> Claims {
        crate::engine::thread_slot::watch_forks();
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
        let got = claim_entry((0..self.count).map(|k| self.map.w(self.first + k)), me);
        let k = got.map_or(u64::from(NONE_LEFT), |k| k as u64 + 1);
        self.mine[slot].store((epoch << 32) | k, Relaxed);
        got
    }
}

#[cfg(not(loom))]
impl Drop for Claims {
    fn drop(&mut self) {
        // No breaker of this handle is left: give back what it claimed (in
        // this process's lifetime since the last fork; a parent's entries
        // are the parent's to give back).
        let (epoch, me) = (fork_epoch() as u32, owner());
        for v in self.mine.iter().map(|m| m.load(Relaxed)) {
            let k = v as u32;
            if k != 0 && k != NONE_LEFT && (v >> 32) as u32 == epoch {
                give_back(self.map.w(self.first + k as usize - 1), me);
            }
        }
    }
}

/// This process's owner word: `pid:32 | nonce:32`.
#[cfg(not(loom))]
fn owner() -> u64 {
    (u64::from(std::process::id()) << 32) | crate::engine::thread_slot::process_nonce()
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

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
    //!
    //! The table's words are loom's; the owners are real enough for `gone`:
    //! this process and its parent (alive: the test runner waits for us), and
    //! a pid above any system's `pid_max` (gone). Threads of one process
    //! claim with the same owner word, as they do in a registry.
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    fn owner(pid: u32) -> u64 {
        (u64::from(pid) << 32) | 1
    }
    fn me() -> u64 {
        owner(std::process::id())
    }
    fn parent() -> u64 {
        owner(std::os::unix::process::parent_id())
    }
    /// No such process (Linux keeps pids under 2^22, macOS under 10^5).
    const DEAD: u64 = (i32::MAX as u64) << 32 | 1;

    fn table(words: &[u64]) -> Arc<Vec<AtomicU64>> {
        Arc::new(words.iter().map(|&w| AtomicU64::new(w)).collect())
    }

    #[test]
    fn one_of_two_processes_takes_a_dead_owners_entry() {
        loom::model(|| {
            let t = table(&[DEAD]);
            let t1 = t.clone();
            let h = thread::spawn(move || claim_entry(t1.iter(), parent()));
            let mine = claim_entry(t.iter(), me());
            let theirs = h.join().unwrap();
            match (mine, theirs) {
                (Some(0), None) => assert_eq!(t[0].load(Relaxed), me()),
                (None, Some(0)) => assert_eq!(t[0].load(Relaxed), parent()),
                other => panic!("one winner, not {other:?}"),
            }
        });
    }

    #[test]
    fn threads_take_distinct_entries_and_leave_a_live_owners() {
        loom::model(|| {
            // The parent's entry (alive), a dead process's, a free one.
            let t = table(&[parent(), DEAD, 0]);
            let t1 = t.clone();
            let h = thread::spawn(move || claim_entry(t1.iter(), me()));
            let a = claim_entry(t.iter(), me());
            let b = h.join().unwrap();
            let (Some(a), Some(b)) = (a, b) else {
                panic!("two entries were there to take: {a:?}, {b:?}");
            };
            assert_ne!(a, b, "two threads on one stripe");
            assert!(a != 0 && b != 0, "a live owner's entry was taken");
            assert_eq!(t[0].load(Relaxed), parent());
            assert_eq!((t[1].load(Relaxed), t[2].load(Relaxed)), (me(), me()));
        });
    }

    #[test]
    fn a_given_back_entry_is_reused_with_its_stripe() {
        loom::model(|| {
            // One entry, its stripe (counted by its owner with a plain load
            // and store, as a breaker's stripe is), and who holds it now.
            let t = table(&[0]);
            let stripe = Arc::new(AtomicU64::new(0));
            let holders = Arc::new(AtomicUsize::new(0));
            let run = {
                let (t, stripe, holders) = (t.clone(), stripe.clone(), holders.clone());
                move || {
                    let Some(k) = claim_entry(t.iter(), me()) else {
                        return 0;
                    };
                    // Relaxed: an RMW reads the latest count whatever its
                    // ordering, and must not order the stripe's words.
                    assert_eq!(holders.fetch_add(1, Relaxed), 0, "stripe held twice");
                    stripe.store(stripe.load(Relaxed) + 1, Relaxed);
                    holders.fetch_sub(1, Relaxed);
                    give_back(&t[k], me());
                    1
                }
            };
            let h = thread::spawn(run.clone());
            let counted = run() + h.join().unwrap();
            assert!(counted >= 1, "the first claimer finds the entry free");
            // Given back twice over: a third claim gets it, and sees every
            // count of the owners before it.
            assert_eq!(claim_entry(t.iter(), me()), Some(0));
            assert_eq!(stripe.load(Relaxed), counted, "a count was lost");
        });
    }
}
