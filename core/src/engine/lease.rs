//! A breaker shared by a middleware's services and the futures of their
//! calls, its references counted in batches: [`SharedBreaker`] and
//! [`BreakerLease`].
//!
//! A call whose future must outlive the service that made it (tower's
//! `Service::call`, a spawned task) has to keep its breaker alive. With an
//! `Arc<Breaker>` that is a clone and a drop per call: two atomic
//! read-modify-writes on the one line every caller shares, most of a
//! closed call's cost through such a layer. A `SharedBreaker` takes
//! [`SharedBreaker::BATCH`] references at once and hands them out one per call as
//! [`BreakerLease`]s, with no atomic operation; a lease gives its
//! reference back with one. So a call costs one atomic operation, not two.
//!
//! The count follows `Arc`'s protocol: a holder that already counts may
//! add with `Relaxed` (the value cannot go while it holds); every give-back
//! is `Release`, and the one that brings the count to zero takes an
//! `Acquire` fence before it drops the value, so each holder's last use of
//! the breaker happens before its drop. Spare references go back when
//! their holder is dropped: a breaker lives exactly as long as some
//! holder or lease does, as with `Arc`.

use crate::sync::{fence, AtomicU64, Ordering};
use crate::Breaker;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

/// More references than this is a leak of holders (`Arc` aborts at the
/// same bound): the count could otherwise wrap and free a breaker in use.
const MAX_REFS: u64 = i64::MAX as u64;

/// The counted value and its count, on the heap, never moved.
struct Inner<T> {
    refs: AtomicU64,
    value: T,
}

/// One counted reference (or more), and where its value lives.
struct Counted<T> {
    inner: NonNull<Inner<T>>,
}

impl<T> Counted<T> {
    fn new(value: T) -> Self {
        let inner = Box::new(Inner {
            refs: AtomicU64::new(1),
            value,
        });
        Counted {
            inner: NonNull::from(Box::leak(inner)),
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: this holder counts at least one reference, so the `Inner`
        // it points to has not been freed (it is freed only by the give-back
        // that brings the count to zero).
        unsafe { self.inner.as_ref() }
    }

    /// `n` more references, counted by a holder that already counts one.
    fn add(&self, n: u64) {
        // Relaxed: the caller's own reference keeps the value alive; a new
        // reference needs no ordering with anything until it is given back.
        let old = self.inner().refs.fetch_add(n, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
    }

    /// Gives back `n` references, this holder's last use of them; the
    /// value is dropped if they were the last.
    ///
    /// # Safety
    ///
    /// The caller counts at least `n` references and makes no use of the
    /// value through this holder afterwards.
    unsafe fn give_back(&self, n: u64) {
        // Release: this holder's uses of the value happen before whoever
        // drops it (pairs with the Acquire fence below).
        if self.inner().refs.fetch_sub(n, Ordering::Release) != n {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the count went from `n` to zero: no holder or lease is
        // left, and the fence orders every give-back before this drop.
        drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
    }
}

/// A breaker held by a middleware's service: it counts one reference for
/// itself and up to [`SharedBreaker::BATCH`] spare ones, handed to calls by
/// [`SharedBreaker::lease`] without an atomic operation. A clone counts its
/// own (one atomic add). Dereferences to the [`Breaker`].
///
/// ```rust
/// use fusebox::{Breaker, Config, SharedBreaker};
/// use std::sync::Arc;
///
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let mut held = SharedBreaker::new(breaker.clone());
/// let lease = held.lease();               // no atomic operation
/// let permit = lease.acquire_raw().unwrap();
/// lease.record_raw(permit, fusebox::Outcome::Success, None);
/// drop(lease);                            // one atomic operation
/// assert_eq!(held.metrics().successes, 1);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct SharedBreaker {
    counted: Counted<Arc<Breaker>>,
    /// The `Arc`'s value, which `counted` also reaches: kept so that a
    /// call reads its breaker in one load, not through the box and the
    /// `Arc` (two dependent loads on the hot path).
    breaker: NonNull<Breaker>,
    /// References counted in `counted` and not yet handed out.
    spare: u64,
}

// SAFETY: a `SharedBreaker` is an `Arc<Breaker>` reached through a counted
// box: it may move to or be shared with another thread whenever the
// `Arc<Breaker>` may (`Breaker` is `Send + Sync`); its spare count is only
// changed through `&mut self`.
unsafe impl Send for SharedBreaker {}
// SAFETY: as above; `&SharedBreaker` gives only `&Breaker`.
unsafe impl Sync for SharedBreaker {}

impl SharedBreaker {
    /// How many references a holder takes at once when it has no spare one
    /// for a call.
    ///
    /// ```rust
    /// assert_eq!(fusebox::SharedBreaker::BATCH, 64);
    /// ```
    pub const BATCH: u64 = 64;

    /// Holds `breaker` (one `Arc` reference, for as long as any holder or
    /// lease of this one lives).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, SharedBreaker};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let held = SharedBreaker::new(breaker.clone());
    /// assert!(Arc::ptr_eq(held.arc(), &breaker));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(breaker: Arc<Breaker>) -> Self {
        let breaker_ptr = NonNull::from(&*breaker);
        SharedBreaker {
            counted: Counted::new(breaker),
            // The `Arc`'s value never moves, and the `Arc` lives as long as
            // the count.
            breaker: breaker_ptr,
            spare: 0,
        }
    }

    /// The `Arc<Breaker>` held.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, SharedBreaker};
    /// use std::sync::Arc;
    ///
    /// let held = SharedBreaker::new(Arc::new(Breaker::new(Config::default())?));
    /// let again: Arc<Breaker> = held.arc().clone();
    /// assert_eq!(again.name(), held.name());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn arc(&self) -> &Arc<Breaker> {
        &self.counted.inner().value
    }

    /// A reference for one call, from this holder's spares (one atomic
    /// add of [`SharedBreaker::BATCH`] when there are none). The lease keeps the breaker
    /// alive however long the call's future lives, on any thread.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, SharedBreaker};
    /// use std::sync::Arc;
    ///
    /// let mut held = SharedBreaker::new(Arc::new(Breaker::new(Config::default())?));
    /// let lease = held.lease();
    /// drop(held);
    /// let t = std::thread::spawn(move || lease.acquire_raw().is_ok());
    /// assert!(t.join().unwrap());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn lease(&mut self) -> BreakerLease {
        if self.spare == 0 {
            self.refill();
        }
        self.spare -= 1;
        BreakerLease {
            inner: self.counted.inner,
            breaker: self.breaker,
        }
    }

    #[cold]
    fn refill(&mut self) {
        self.counted.add(Self::BATCH);
        self.spare = Self::BATCH;
    }
}

impl Clone for SharedBreaker {
    /// Another holder of the same breaker and count, with its own spares
    /// (one atomic add).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, SharedBreaker};
    /// use std::sync::Arc;
    ///
    /// let held = SharedBreaker::new(Arc::new(Breaker::new(Config::default())?));
    /// let other = held.clone();
    /// assert!(Arc::ptr_eq(held.arc(), other.arc()));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    fn clone(&self) -> Self {
        self.counted.add(1);
        SharedBreaker {
            counted: Counted {
                inner: self.counted.inner,
            },
            breaker: self.breaker,
            spare: 0,
        }
    }
}

impl Drop for SharedBreaker {
    fn drop(&mut self) {
        // SAFETY: this holder counts its own reference and its spares, and
        // is not used again.
        unsafe { self.counted.give_back(1 + self.spare) }
    }
}

impl Deref for SharedBreaker {
    type Target = Breaker;

    #[inline]
    fn deref(&self) -> &Breaker {
        // SAFETY: the count keeps the `Arc<Breaker>` and so the breaker
        // alive while this holder lives.
        unsafe { self.breaker.as_ref() }
    }
}

impl fmt::Debug for SharedBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBreaker")
            .field("breaker", &self.name())
            .field("spare", &self.spare)
            .finish()
    }
}

/// One call's reference to a [`SharedBreaker`]'s breaker: dereferences to
/// the [`Breaker`], and gives its reference back when dropped (one atomic
/// operation). `Send` and `Sync`: a call's future may end on any thread.
/// (Example on [`SharedBreaker::lease`].)
pub struct BreakerLease {
    inner: NonNull<Inner<Arc<Breaker>>>,
    /// As [`SharedBreaker`]'s: the breaker in one load.
    breaker: NonNull<Breaker>,
}

// SAFETY: a lease is one counted reference to an `Arc<Breaker>`, which may
// be sent and shared between threads.
unsafe impl Send for BreakerLease {}
// SAFETY: as above; `&BreakerLease` gives only `&Breaker`.
unsafe impl Sync for BreakerLease {}

impl Deref for BreakerLease {
    type Target = Breaker;

    #[inline]
    fn deref(&self) -> &Breaker {
        // SAFETY: the lease's reference keeps the breaker alive.
        unsafe { self.breaker.as_ref() }
    }
}

impl Drop for BreakerLease {
    #[inline]
    fn drop(&mut self) {
        let counted = Counted { inner: self.inner };
        // SAFETY: the lease counts one reference and is not used again.
        unsafe { counted.give_back(1) }
        // `Counted` has no `Drop`: nothing else is given back.
    }
}

impl fmt::Debug for BreakerLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerLease")
            .field("breaker", &self.name())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Config;

    fn arc() -> Arc<Breaker> {
        Arc::new(Breaker::new(Config::default()).unwrap())
    }

    fn refs(h: &SharedBreaker) -> u64 {
        // Relaxed: these tests count on one thread.
        h.counted.inner().refs.load(Ordering::Relaxed)
    }

    #[test]
    fn a_batch_is_taken_once_per_batch_of_calls_and_given_back_whole() {
        let b = arc();
        let mut h = SharedBreaker::new(b.clone());
        assert_eq!(refs(&h), 1);
        let leases: Vec<_> = (0..SharedBreaker::BATCH + 1).map(|_| h.lease()).collect();
        // Two batches taken: the first for 64 calls, the second for the 65th.
        assert_eq!(refs(&h), 1 + 2 * SharedBreaker::BATCH);
        assert_eq!(h.spare, SharedBreaker::BATCH - 1);
        drop(leases);
        assert_eq!(refs(&h), 1 + SharedBreaker::BATCH - 1);
        let c = h.clone();
        assert_eq!(refs(&h), 1 + SharedBreaker::BATCH);
        drop(c);
        assert_eq!(Arc::strong_count(&b), 2);
        drop(h);
        // The holder's own reference and its spares went back together,
        // and with them the `Arc` the count held.
        assert_eq!(Arc::strong_count(&b), 1);
    }

    #[test]
    fn the_breaker_lives_while_a_lease_does_on_another_thread() {
        let b = arc();
        let weak = Arc::downgrade(&b);
        let mut h = SharedBreaker::new(b);
        let lease = h.lease();
        drop(h);
        assert!(weak.upgrade().is_some());
        let t = std::thread::spawn(move || {
            let p = lease.acquire_raw().unwrap();
            lease.record_raw(p, crate::Outcome::Success, None);
            lease.metrics().successes
        });
        assert_eq!(t.join().unwrap(), 1);
        assert!(weak.upgrade().is_none(), "the last lease freed the breaker");
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::Counted;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::Ordering;

    /// A value whose every use is a read of a loom cell, and whose drop
    /// writes it and counts itself: loom reports a drop not ordered after
    /// every use, and a leak of the drop counter if nothing dropped it.
    struct Watched {
        cell: UnsafeCell<u64>,
        drops: Arc<AtomicUsize>,
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            self.cell.with_mut(|v| {
                // SAFETY: loom checks that no read of the cell is concurrent.
                unsafe { *v += 1 }
            });
            // Relaxed: read only after every thread is joined.
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A holder moved to another thread (the test's own wrapper: `Counted`
    /// itself is wrapped by `Send` types only).
    struct Moved(Counted<Watched>);
    // SAFETY: `Watched` is used only through loom's checked cell.
    unsafe impl Send for Moved {}

    fn use_then_give_back(c: Counted<Watched>, n: u64) {
        // SAFETY: the holder counts `n` references, so the value is alive.
        unsafe { c.inner().value.cell.with(|v| *v) };
        // SAFETY: as above, and `c` is not used again.
        unsafe { c.give_back(n) };
    }

    /// A service and two calls' leases end on three threads in any order:
    /// the breaker is dropped once, after every use (a `Relaxed` give-back,
    /// or no fence, fails it), and never while a lease still holds it.
    #[test]
    fn loom_leases_given_back_on_three_threads_drop_the_value_once_after_every_use() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let held = Counted::new(Watched {
                cell: UnsafeCell::new(0),
                drops: drops.clone(),
            });
            // A batch of two taken by the holder, one per call.
            held.add(2);
            let calls: Vec<_> = (0..2)
                .map(|_| {
                    let lease = Moved(Counted { inner: held.inner });
                    thread::spawn(move || {
                        let Moved(lease) = lease;
                        use_then_give_back(lease, 1);
                    })
                })
                .collect();
            use_then_give_back(held, 1);
            for t in calls {
                t.join().unwrap();
            }
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}
