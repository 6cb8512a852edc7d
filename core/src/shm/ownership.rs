//! A shared breaker's stripe ownership in this process: the claim table
//! (`claims.rs`) and the breaker's own directory, by thread slot, of the
//! address of the stripe that slot's thread owns. With the directory the
//! closed path finds a shared breaker's stripe as an in-process owner finds
//! its own (`Breaker::my_stripe`: one compare, one load), not through the
//! claim table and its fork-epoch check on every call.
//!
//! An entry is 0 until the slot's thread first counts on the breaker; then
//! the claim is made or looked up (`Claims::stripe`, which checks the fork
//! epoch) and the stripe's address written. As an in-process breaker's
//! directory entries on its control line, an entry has one writer, the
//! thread in its slot (or a later holder of the slot, ordered by the slot
//! list's lock, which inherits the slot's claim with it), and is read by
//! that thread alone: Relaxed.
//!
//! A forked child has a copy of its parent's memory, directories included,
//! but not its parent's claims: it must not count on the stripes its
//! parent's threads own. Every live directory is listed, and a
//! `pthread_atfork` child handler zeroes them all before the child runs
//! anything, so the child's threads go back to `Claims::stripe` and claim
//! anew. The list's lock is taken by the prepare handler and let go after
//! the fork, so a child never inherits it held (the pattern the C library
//! uses for its own locks).

use super::{Claims, DataArea};
use crate::sync::AtomicU64;
use crate::sync::Ordering::Relaxed;
use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::Arc;

/// Directory entries at most: the thread slots that find their stripe in
/// one load. Threads in higher slots ask the claim table on every call.
const MAX_ENTRIES: usize = 64;

/// Directory entries for a file of `stripes` claimable stripes: twice that
/// (a process's slots are its own, so its owners' slots may run past the
/// number of stripes), at most [`MAX_ENTRIES`]; none when no stripe can be
/// claimed.
fn dir_entries(stripes: usize) -> usize {
    (2 * stripes).min(MAX_ENTRIES)
}

/// A shared breaker's ownership of stripes, in this process.
pub(crate) struct Ownership {
    /// The file's claim table, shared by the handle's breakers.
    pub(crate) claims: Arc<Claims>,
    /// The file's data area, where the stripes that claims own are made.
    pub(crate) area: Arc<DataArea>,
    /// By thread slot: the owned stripe's first word (0: not looked up
    /// since this process started or last forked).
    dir: Box<[AtomicU64]>,
}

impl Ownership {
    /// Ownership through `claims` of stripes made in `area`, with an empty
    /// directory listed for the fork handler.
    pub(crate) fn new(claims: Arc<Claims>, area: Arc<DataArea>) -> Ownership {
        // One entry at least, so that `dir` always has a first word.
        let len = dir_entries(claims.entries()).max(1);
        let dir: Box<[AtomicU64]> = (0..len).map(|_| AtomicU64::new(0)).collect();
        let o = Ownership { claims, area, dir };
        LIVE.with(|list| list.push(o.key()));
        o
    }

    /// Thread slots below this find their stripe in the directory.
    pub(crate) fn dir_len(&self) -> usize {
        dir_entries(self.claims.entries())
    }

    /// The directory's first entry, for the breaker's fast path.
    pub(crate) fn dir(&self) -> NonNull<AtomicU64> {
        NonNull::from(&self.dir[0])
    }

    /// Note that the thread in `slot` owns the stripe whose first word is
    /// `first`. Called by that thread only.
    pub(crate) fn fill(&self, slot: usize, first: &AtomicU64) {
        if let Some(w) = self.dir.get(slot) {
            // Relaxed: see the module doc.
            w.store(first as *const AtomicU64 as u64, Relaxed);
        }
    }

    /// How the list knows the directory: its address and length.
    fn key(&self) -> (usize, usize) {
        (self.dir.as_ptr() as usize, self.dir.len())
    }
}

impl Drop for Ownership {
    fn drop(&mut self) {
        let key = self.key();
        LIVE.with(|list| {
            if let Some(i) = list.iter().position(|&k| k == key) {
                list.swap_remove(i);
            }
        });
    }
}

/// Every live directory of this process (address, length), under a pthread
/// mutex that the fork handlers hold across `fork()`.
struct Live {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    list: UnsafeCell<Vec<(usize, usize)>>,
}

// SAFETY: `list` is only touched with `lock` held (by `Live::with`, or by
// the child's handler, while the prepare handler's hold carries over into
// the child, whose only thread runs it).
unsafe impl Sync for Live {}

static LIVE: Live = Live {
    lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
    list: UnsafeCell::new(Vec::new()),
};

impl Live {
    /// Run `f` on the list with the lock held (the fork handlers are
    /// installed first, once per process).
    fn with<R>(&self, f: impl FnOnce(&mut Vec<(usize, usize)>) -> R) -> R {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: three `extern "C" fn()`s that take the lock, give it
            // back, and zero the listed directories under it.
            unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(in_child)) };
        });
        // SAFETY: a statically initialised mutex, locked and unlocked in
        // pairs by this thread; `f` only edits the list (it cannot fork or
        // come back here), so no thread takes it twice.
        unsafe { libc::pthread_mutex_lock(self.lock.get()) };
        // SAFETY: the lock is held: no other reference to the list exists.
        let r = f(unsafe { &mut *self.list.get() });
        // SAFETY: locked above by this thread.
        unsafe { libc::pthread_mutex_unlock(self.lock.get()) };
        r
    }
}

extern "C" fn before_fork() {
    // SAFETY: as in `Live::with`; released by `after_fork` or, in the
    // child, re-initialised by `in_child`.
    unsafe { libc::pthread_mutex_lock(LIVE.lock.get()) };
}

extern "C" fn after_fork() {
    // SAFETY: locked by `before_fork` in this thread.
    unsafe { libc::pthread_mutex_unlock(LIVE.lock.get()) };
}

extern "C" fn in_child() {
    // SAFETY: `before_fork` holds the lock, so the list is whole and every
    // directory on it alive (one leaves the list before it is freed); the
    // child has one thread, this one.
    for &(at, len) in unsafe { &*LIVE.list.get() } {
        // SAFETY: `len` atomic words at `at`: a live directory.
        let words = unsafe { std::slice::from_raw_parts(at as *const AtomicU64, len) };
        for w in words {
            // Relaxed: the child's one thread reads them later, in program
            // order.
            w.store(0, Relaxed);
        }
    }
    // SAFETY: the child's only thread; nothing else can hold or wait on the
    // lock, so it is made afresh rather than unlocked by a thread that is
    // not, to the C library, the one that locked it.
    unsafe { LIVE.lock.get().write(libc::PTHREAD_MUTEX_INITIALIZER) };
}

#[cfg(test)]
mod tests {
    use crate::shm::SharedRegistry;
    use crate::{Config, ManualClock};
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A fresh registry file `name` (capacity 2, 64 stripes, a manual
    /// clock) in a folder of this process's, which the test removes.
    fn fresh_file(folder: &str, name: &str) -> (PathBuf, PathBuf, SharedRegistry) {
        let dir = std::env::temp_dir().join(format!("{folder}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let reg = SharedRegistry::builder()
            .capacity(2)
            .stripes(64)
            .clock(Arc::new(ManualClock::new()))
            .open(&path)
            .unwrap();
        (dir, path, reg)
    }

    #[test]
    fn a_directory_entry_is_made_on_the_first_count_and_holds_the_claimed_stripe() {
        let (dir, path, reg) = fresh_file("fusebox-own", "first-count");
        let b = reg.get_or_create("b", &Config::default()).unwrap();
        assert_eq!(b.dir_entry_for_test(), 0, "nothing looked up yet");
        b.try_acquire().unwrap().success();
        let (mine, owned) = b.my_stripe_for_test();
        assert!(owned, "a fresh file has stripes to claim");
        assert_eq!(b.dir_entry_for_test(), mine as u64);
        // Another handle on the same breaker (as another thread's or a
        // library's): its own directory, the same claim.
        let again = SharedRegistry::open(&path).unwrap();
        let other = again.get_or_create("b", &Config::default()).unwrap();
        assert_eq!(other.dir_entry_for_test(), 0);
        other.try_acquire().unwrap().success();
        assert_ne!(
            other.my_stripe_for_test().0,
            mine,
            "another handle, another claim table"
        );
        assert_eq!(b.metrics().successes, 2);
        drop((b, other, reg, again));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_forked_child_empties_its_directory_and_claims_a_stripe_of_its_own() {
        let (dir, _, reg) = fresh_file("fusebox-own-fork", "fork");
        let b = reg.get_or_create("b", &Config::default()).unwrap();
        b.try_acquire().unwrap().success();
        let (parents, owned) = b.my_stripe_for_test();
        assert!(owned);
        assert_eq!(b.dir_entry_for_test(), parents as u64);

        // SAFETY: the child only counts on the mapping (no lock that another
        // test thread could hold: the directory list's is held across the
        // fork by its handlers) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let code = if b.dir_entry_for_test() != 0 {
                2 // the parent's entry survived the fork
            } else if b.try_acquire().map(|p| p.success()).is_err() {
                3
            } else {
                let (childs, owned) = b.my_stripe_for_test();
                if !owned {
                    4 // no stripe of its own
                } else if childs == parents {
                    5 // on the parent's stripe
                } else if b.dir_entry_for_test() != childs as u64 {
                    6 // not in the directory
                } else {
                    0
                }
            };
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is ours to write.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "2: the parent's entry survived the fork, 4: no stripe of its own, \
             5: on the parent's stripe, 6: not in the directory"
        );
        // The parent keeps its stripe; both counts are there.
        assert_eq!(b.my_stripe_for_test().0, parents);
        assert_eq!(b.dir_entry_for_test(), parents as u64);
        assert_eq!(b.metrics().successes, 2);
        drop((b, reg));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
