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

/// An owner word of the table: `pid:32 | nonce:32` of the owning process
/// (0: free). Part of the file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owner(u64);

impl Owner {
    const PID_SHIFT: u32 = 32;
    const NONCE_MASK: u64 = (1 << Self::PID_SHIFT) - 1;

    /// No owner.
    const FREE: Owner = Owner(0);

    /// Process `pid`, told from an earlier process with its pid by `nonce`.
    #[cfg_attr(loom, allow(dead_code))] // under loom, only the models build owners
    fn new(pid: u32, nonce: u32) -> Owner {
        Owner((u64::from(pid) << Self::PID_SHIFT) | u64::from(nonce))
    }

    fn pid(self) -> u32 {
        (self.0 >> Self::PID_SHIFT) as u32
    }

    fn nonce(self) -> u32 {
        (self.0 & Self::NONCE_MASK) as u32
    }

    fn from_bits(w: u64) -> Owner {
        Owner(w)
    }

    fn bits(self) -> u64 {
        self.0
    }
}

/// What a thread slot holds, in this process only: `fork epoch:32 |
/// entry + 1:32` (0: not claimed yet; `u32::MAX`: it found no entry left,
/// and shares).
#[cfg(not(loom))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held(u64);

#[cfg(not(loom))]
impl Held {
    const EPOCH_SHIFT: u32 = 32;
    const ENTRY_MASK: u64 = (1 << Self::EPOCH_SHIFT) - 1;
    /// Nothing claimed yet.
    const UNCLAIMED: Held = Held(0);
    /// The entry field of a slot that found no entry left.
    const NONE_LEFT: u32 = u32::MAX;

    /// Claimed in fork epoch `epoch`: entry `got`, or none left.
    fn new(epoch: u32, got: Option<usize>) -> Held {
        let k = got.map_or(Self::NONE_LEFT, |k| k as u32 + 1);
        Held((u64::from(epoch) << Self::EPOCH_SHIFT) | u64::from(k))
    }

    /// What was claimed in fork epoch `epoch` (the entry, or `None` if none
    /// was left); `None` if nothing was, in that epoch.
    fn in_epoch(self, epoch: u32) -> Option<Option<usize>> {
        let k = (self.0 & Self::ENTRY_MASK) as u32;
        if k == 0 || (self.0 >> Self::EPOCH_SHIFT) as u32 != epoch {
            return None;
        }
        Some((k != Self::NONE_LEFT).then(|| k as usize - 1))
    }
}

/// Claim for owner word `me` the first of `entries` that is free or whose
/// owner is gone, by CAS from the value seen: its index, or `None` if it won
/// none (each entry is tried once; a CAS lost to another claimer moves on).
#[cfg_attr(loom, allow(dead_code))]
fn claim_entry<'w>(mut entries: impl Iterator<Item = &'w AtomicU64>, me: Owner) -> Option<usize> {
    entries.position(|w| {
        // Acquire (load and CAS): whoever gave the entry back (Release)
        // or died wrote its stripes before; we continue from there.
        let cur = Owner::from_bits(w.load(Acquire));
        (cur == Owner::FREE || gone(cur, me))
            && w.compare_exchange(cur.bits(), me.bits(), AcqRel, Acquire)
                .is_ok()
    })
}

/// Give entry word `w` back if `me` still owns it.
#[cfg_attr(loom, allow(dead_code))]
fn give_back(w: &AtomicU64, me: Owner) {
    // Release: our writes to the stripes come before the next owner's.
    let _ = w.compare_exchange(me.bits(), Owner::FREE.bits(), Release, Relaxed);
}

#[cfg(not(loom))]
pub(crate) struct Claims {
    map: Arc<Map>,
    /// Word of entry 0 in the file.
    first: usize,
    /// Entries (the stripe count less the shared one).
    count: usize,
    /// By thread slot: a [`Held`] word.
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
            mine: (0..SLOTS)
                .map(|_| AtomicU64::new(Held::UNCLAIMED.0))
                .collect(),
        }
    }

    /// Entries of the table: the stripes a thread can own.
    pub(crate) fn entries(&self) -> usize {
        self.count
    }

    /// The stripe owned by the thread in `slot`, if it has one.
    #[inline]
    pub(crate) fn stripe(&self, slot: usize) -> Option<usize> {
        // Relaxed: written only by the thread of this slot (and, after the
        // thread exits, by the next holder of the slot, ordered by the slot
        // allocator's lock).
        let held = Held(self.mine.get(slot)?.load(Relaxed));
        match held.in_epoch(fork_epoch() as u32) {
            Some(got) => got,
            None => self.claim(slot),
        }
    }

    #[cold]
    #[inline(never)]
    fn claim(&self, slot: usize) -> Option<usize> {
        let me = owner();
        let got = claim_entry((0..self.count).map(|k| self.map.w(self.first + k)), me);
        self.mine[slot].store(Held::new(fork_epoch() as u32, got).0, Relaxed);
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
        for held in self.mine.iter().map(|m| Held(m.load(Relaxed))) {
            if let Some(Some(k)) = held.in_epoch(epoch) {
                give_back(self.map.w(self.first + k), me);
            }
        }
    }
}

/// This process's owner word.
#[cfg(not(loom))]
fn owner() -> Owner {
    // The nonce is drawn as 32 bits.
    let nonce = crate::engine::thread_slot::process_nonce() as u32;
    Owner::new(std::process::id(), nonce)
}

/// Whether the process that wrote owner word `w` is gone.
fn gone(w: Owner, me: Owner) -> bool {
    let pid = w.pid();
    if pid == me.pid() {
        // Our pid with another nonce: an earlier process with this pid.
        return w.nonce() != me.nonce();
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

    fn owner(pid: u32) -> Owner {
        Owner::new(pid, 1)
    }
    fn me() -> Owner {
        owner(std::process::id())
    }
    fn parent() -> Owner {
        owner(std::os::unix::process::parent_id())
    }
    /// No such process (Linux keeps pids under 2^22, macOS under 10^5).
    const DEAD: Owner = Owner((i32::MAX as u64) << Owner::PID_SHIFT | 1);
    const FREE: Owner = Owner::FREE;

    fn table(words: &[Owner]) -> Arc<Vec<AtomicU64>> {
        Arc::new(words.iter().map(|&w| AtomicU64::new(w.bits())).collect())
    }
    fn at(t: &[AtomicU64], i: usize) -> Owner {
        Owner::from_bits(t[i].load(Relaxed))
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
                (Some(0), None) => assert_eq!(at(&t, 0), me()),
                (None, Some(0)) => assert_eq!(at(&t, 0), parent()),
                other => panic!("one winner, not {other:?}"),
            }
        });
    }

    #[test]
    fn threads_take_distinct_entries_and_leave_a_live_owners() {
        loom::model(|| {
            // The parent's entry (alive), a dead process's, a free one.
            let t = table(&[parent(), DEAD, FREE]);
            let t1 = t.clone();
            let h = thread::spawn(move || claim_entry(t1.iter(), me()));
            let a = claim_entry(t.iter(), me());
            let b = h.join().unwrap();
            let (Some(a), Some(b)) = (a, b) else {
                panic!("two entries were there to take: {a:?}, {b:?}");
            };
            assert_ne!(a, b, "two threads on one stripe");
            assert!(a != 0 && b != 0, "a live owner's entry was taken");
            assert_eq!(at(&t, 0), parent());
            assert_eq!((at(&t, 1), at(&t, 2)), (me(), me()));
        });
    }

    #[test]
    fn a_given_back_entry_is_reused_with_its_stripe() {
        loom::model(|| {
            // One entry, its stripe (counted by its owner with a plain load
            // and store, as a breaker's stripe is), and who holds it now.
            let t = table(&[FREE]);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn owner_words_keep_the_file_format() {
        let o = Owner::new(0x1234_5678, 0x9abc_def0);
        assert_eq!(o.bits(), 0x1234_5678_9abc_def0);
        assert_eq!((o.pid(), o.nonce()), (0x1234_5678, 0x9abc_def0));
        assert_eq!(Owner::FREE.bits(), 0);
    }

    #[test]
    fn held_words_say_what_was_claimed_in_which_epoch() {
        assert_eq!(Held::UNCLAIMED.in_epoch(0), None);
        let h = Held::new(7, Some(3));
        assert_eq!(h.0, (7 << 32) | 4);
        assert_eq!((h.in_epoch(7), h.in_epoch(8)), (Some(Some(3)), None));
        let none = Held::new(7, None);
        assert_eq!(none.0, (7 << 32) | u64::from(u32::MAX));
        assert_eq!(none.in_epoch(7), Some(None));
    }
}
