//! Fencing tokens against split brain (`docs/semantics.md#fencing`).
//!
//! When the link between a primary and its standby breaks, both may believe
//! they are primary. Fencing makes the *resource* the judge: becoming primary
//! yields a token that is larger than every token handed out before, every
//! write carries its writer's token, and the resource rejects a write whose
//! token is older than one it has already seen. An old primary that wakes up
//! from a long pause (or sits on the wrong side of a partition) still holds
//! its old token, so its writes bounce.
//!
//! Where tokens come from:
//!
//! * across hosts, from the coordination service: the revision at which the
//!   leader key was created ([`crate::coordination::Leadership::token`]);
//!   revisions only grow, so a later leader always has a larger token;
//! * within one process (or one shared-memory segment), from an
//!   [`EpochSource`]; a [`crate::failover::FailoverGroup`] takes one epoch per
//!   failover and failback and stamps it on every pick.
//!
//! What checks them: a [`Fence`] (one atomic high-water mark: lock-free, for
//! resources that apply a write atomically on their own) or a
//! [`FencedResource`], which runs the check and the write under one lock so
//! that no newer write can slip between them.

use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};
use std::fmt;

/// A fencing token: larger is newer. Token 0 is never handed out.
///
/// ```rust
/// use fusebox::fencing::{EpochSource, FencingToken};
///
/// let epochs = EpochSource::new();
/// let first = epochs.advance(); // on becoming primary
/// let second = epochs.advance(); // the next primary
/// assert!(second > first && first > FencingToken::default());
/// assert_eq!((first.get(), second), (1, FencingToken(2)));
/// assert_eq!(second.to_string(), "#2");
/// assert_eq!(epochs.current(), second);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FencingToken(pub u64);

impl FencingToken {
    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A monotonic epoch counter: each [`EpochSource::advance`] returns a token
/// larger than every one returned before, across threads.
#[derive(Debug)]
pub struct EpochSource {
    epoch: AtomicU64,
}

impl Default for EpochSource {
    fn default() -> Self {
        Self::new()
    }
}

impl EpochSource {
    /// A source whose first token will be 1.
    pub fn new() -> Self {
        Self::starting_after(FencingToken(0))
    }

    /// A source whose first token will be `last + 1` (e.g. restored from
    /// durable storage after a restart).
    pub fn starting_after(last: FencingToken) -> Self {
        Self {
            epoch: AtomicU64::new(last.0),
        }
    }

    /// Take a new epoch (on becoming primary).
    pub fn advance(&self) -> FencingToken {
        // AcqRel: the epoch is itself the thing being ordered; a thread that
        // sees epoch n also sees whatever the taker of n wrote before taking it.
        FencingToken(self.epoch.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// The latest epoch taken (0 if none).
    pub fn current(&self) -> FencingToken {
        FencingToken(self.epoch.load(Ordering::Acquire))
    }
}

/// A write carried a token older than one the resource has already accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleToken {
    /// The token the write carried.
    pub presented: FencingToken,
    /// The newest token the resource has seen.
    pub current: FencingToken,
}

impl fmt::Display for StaleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stale fencing token {} (the resource has seen {})",
            self.presented, self.current
        )
    }
}

impl std::error::Error for StaleToken {}

/// A lock-free token check: remembers the newest token admitted and rejects
/// any older one. Equal tokens pass (a primary writes many times).
///
/// `admit` orders tokens, not writes: a write admitted with token 5 may still
/// *land* after one admitted with token 6 if the resource does not apply
/// writes atomically with the check. Use [`FencedResource`] for that.
///
/// ```rust
/// use fusebox::fencing::{Fence, FencingToken, StaleToken};
///
/// let fence = Fence::new();
/// assert_eq!(fence.admit(FencingToken(3)), Ok(()));
/// assert_eq!(fence.admit(FencingToken(3)), Ok(())); // equal tokens pass
/// let stale = fence.admit(FencingToken(2)).unwrap_err();
/// assert_eq!(stale, StaleToken { presented: FencingToken(2), current: FencingToken(3) });
/// assert_eq!((fence.newest(), fence.rejected()), (FencingToken(3), 1));
/// ```
#[derive(Debug, Default)]
pub struct Fence {
    newest: AtomicU64,
    rejected: AtomicU64,
}

impl Fence {
    /// A fence that has seen no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admit `token` if it is not older than the newest seen; raise the
    /// high-water mark to it.
    pub fn admit(&self, token: FencingToken) -> Result<(), StaleToken> {
        // AcqRel / Acquire: `fetch_max` semantics with a check; the mark only
        // grows, so a CAS loop with a fresh value on failure is enough.
        let mut cur = self.newest.load(Ordering::Acquire);
        loop {
            if token.0 < cur {
                // Relaxed: a statistic.
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(StaleToken {
                    presented: token,
                    current: FencingToken(cur),
                });
            }
            if token.0 == cur {
                return Ok(());
            }
            match self.newest.compare_exchange_weak(
                cur,
                token.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// The newest token admitted.
    pub fn newest(&self) -> FencingToken {
        FencingToken(self.newest.load(Ordering::Acquire))
    }

    /// Writes rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// A resource guarded by a fence: the token check and the write happen under
/// one lock, so an accepted write is never older than any write accepted
/// before it. (This is the resource's side, e.g. a storage service; it is not
/// on any breaker's call path.)
///
/// An old primary's write after the new primary has fenced the resource,
/// with tokens from an election in the in-process coordination store:
///
/// ```rust
/// use fusebox::coordination::InProcessStore;
/// use fusebox::failover::Candidate;
/// use fusebox::fencing::FencedResource;
/// use fusebox::ManualClock;
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// let store = InProcessStore::new(clock.clone());
/// let old = Candidate::new("a", "orders", store.client("a")).clock(clock.clone());
/// let new = Candidate::new("b", "orders", store.client("b")).clock(clock.clone());
///
/// let ledger = FencedResource::new(Vec::new());
/// let t_old = old.try_activate()?;
/// ledger.write(t_old, |l| l.push("from a"))?;
///
/// old.resign(); // say a pauses, and b is elected meanwhile
/// let t_new = new.try_activate()?;
/// ledger.fence(t_new)?; // b's first act: shut a out
/// let late = ledger.write(t_old, |l| l.push("late write from a"));
/// assert_eq!(late.unwrap_err().current, t_new);
/// ledger.write(t_new, |l| l.push("from b"))?;
///
/// assert_eq!(ledger.read(|l| l.clone()), ["from a", "from b"]);
/// assert_eq!((ledger.accepted(), ledger.rejected(), ledger.newest()), (3, 1, t_new));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct FencedResource<T> {
    inner: Mutex<(u64, T)>,
    rejected: AtomicU64,
    accepted: AtomicU64,
}

impl<T> FencedResource<T> {
    /// Wrap `value`; no token seen yet.
    pub fn new(value: T) -> Self {
        Self {
            inner: Mutex::new((0, value)),
            rejected: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, T)> {
        // A writer that panicked leaves the value as it left it; the token
        // check itself cannot be half done, so carry on.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply `f` if `token` is not older than the newest token seen.
    pub fn write<R>(
        &self,
        token: FencingToken,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, StaleToken> {
        let mut g = self.lock();
        if token.0 < g.0 {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(StaleToken {
                presented: token,
                current: FencingToken(g.0),
            });
        }
        g.0 = token.0;
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(f(&mut g.1))
    }

    /// Raise the fence to `token` without writing (a new primary fences the
    /// resource as its first act, so the old one is shut out at once).
    pub fn fence(&self, token: FencingToken) -> Result<(), StaleToken> {
        self.write(token, |_| ())
    }

    /// Read the value.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock().1)
    }

    /// The newest token seen.
    pub fn newest(&self) -> FencingToken {
        FencingToken(self.lock().0)
    }

    /// Writes accepted so far (fences included).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Writes rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn epochs_grow_across_threads() {
        let s = std::sync::Arc::new(EpochSource::new());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || (0..1000).map(|_| s.advance().0).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000, "every token is unique");
        assert_eq!(all[0], 1);
        assert_eq!(s.current(), FencingToken(4000));
    }

    #[test]
    fn fence_rejects_older_tokens_only() {
        let f = Fence::new();
        assert!(f.admit(FencingToken(3)).is_ok());
        assert!(f.admit(FencingToken(3)).is_ok());
        let e = f.admit(FencingToken(2)).unwrap_err();
        assert_eq!(e.current, FencingToken(3));
        assert!(f.admit(FencingToken(7)).is_ok());
        assert!(f.admit(FencingToken(3)).is_err());
        assert_eq!(f.newest(), FencingToken(7));
        assert_eq!(f.rejected(), 2);
    }

    #[test]
    fn fenced_resource_applies_only_current_writes() {
        let r = FencedResource::new(Vec::new());
        r.write(FencingToken(1), |v| v.push("a1")).unwrap();
        r.fence(FencingToken(2)).unwrap();
        assert!(r.write(FencingToken(1), |v| v.push("a1-late")).is_err());
        r.write(FencingToken(2), |v| v.push("b2")).unwrap();
        assert_eq!(r.read(|v| v.clone()), vec!["a1", "b2"]);
        assert_eq!((r.accepted(), r.rejected()), (3, 1));
        assert_eq!(r.newest(), FencingToken(2));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib
    //! fencing::loom`: the epoch counter, the fence's high-water mark and the
    //! fenced resource's check-and-write, under every interleaving.
    use super::*;
    use loom::sync::atomic::AtomicU64 as Data;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_epochs_are_distinct_and_grow() {
        loom::model(|| {
            let s = Arc::new(EpochSource::new());
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || [s.advance().0, s.advance().0])
                })
                .collect();
            let mut all = Vec::new();
            for h in hs {
                let [a, b] = h.join().unwrap();
                assert!(a < b, "a later take is larger: {a} then {b}");
                all.extend([a, b]);
            }
            all.sort_unstable();
            assert_eq!(all, [1, 2, 3, 4], "every token once");
            assert_eq!(s.current(), FencingToken(4));
        });
    }

    #[test]
    fn loom_an_epoch_carries_what_its_taker_wrote() {
        // "A thread that sees epoch n also sees whatever the taker of n
        // wrote before taking it."
        loom::model(|| {
            let s = Arc::new(EpochSource::new());
            let data = Arc::new(Data::new(0));
            let (s1, data1) = (s.clone(), data.clone());
            let t = thread::spawn(move || {
                data1.store(42, Ordering::Relaxed);
                s1.advance()
            });
            if s.current() == FencingToken(1) {
                assert_eq!(
                    data.load(Ordering::Relaxed),
                    42,
                    "epoch 1 without its write"
                );
            }
            assert_eq!(t.join().unwrap(), FencingToken(1));
        });
    }

    #[test]
    fn loom_fence_never_refuses_the_newest() {
        loom::model(|| {
            let f = Arc::new(Fence::new());
            let f1 = f.clone();
            let old = thread::spawn(move || f1.admit(FencingToken(1)));
            let new = f.admit(FencingToken(2));
            let old = old.join().unwrap();
            assert_eq!(new, Ok(()), "the newest token is never refused");
            match old {
                Ok(()) => assert_eq!(f.rejected(), 0),
                Err(e) => {
                    assert_eq!(
                        e,
                        StaleToken {
                            presented: FencingToken(1),
                            current: FencingToken(2)
                        }
                    );
                    assert_eq!(f.rejected(), 1);
                }
            }
            assert_eq!(f.newest(), FencingToken(2), "the mark is the newest token");
            let before = f.rejected();
            assert!(f.admit(FencingToken(1)).is_err(), "1 after 2 is refused");
            assert!(f.admit(FencingToken(2)).is_ok(), "an equal token passes");
            assert_eq!(f.rejected(), before + 1);
        });
    }

    #[test]
    fn loom_fenced_resource_never_applies_an_older_write_after_a_newer() {
        loom::model(|| {
            let r = Arc::new(FencedResource::new(Vec::new()));
            let r1 = r.clone();
            let old = thread::spawn(move || r1.write(FencingToken(1), |v| v.push(1)));
            let new = r.write(FencingToken(2), |v| v.push(2));
            let old = old.join().unwrap();
            assert_eq!(new, Ok(()), "the newest write is never refused");
            let applied = r.read(|v| v.clone());
            match old {
                Ok(()) => assert_eq!(applied, [1, 2], "1 was applied, so before 2"),
                Err(e) => {
                    assert_eq!(e.current, FencingToken(2));
                    assert_eq!(applied, [2]);
                }
            }
            assert_eq!(r.newest(), FencingToken(2));
            assert_eq!(r.accepted(), applied.len() as u64);
            assert_eq!(r.accepted() + r.rejected(), 2);
        });
    }
}
