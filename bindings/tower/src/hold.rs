//! How a [`crate::CircuitBreakerLayer`] holds its breaker: what each of
//! its services keeps, and what each admitted call's future keeps.

use fusebox::{Breaker, BreakerLease, SharedBreaker};
use std::ops::Deref;
use std::sync::Arc;

/// A breaker as a layer is given it: an `Arc<Breaker>` or a
/// `&'static Breaker`. Implemented for those two only.
///
/// An `Arc<Breaker>` is held by each service as a
/// [`fusebox::SharedBreaker`], which hands each call a
/// [`fusebox::BreakerLease`]: one atomic operation per call (the lease's
/// give-back) where cloning and dropping the `Arc` would be two. A
/// `&'static Breaker` needs no count at all.
///
/// ```rust
/// use fusebox::{Breaker, Config};
/// use fusebox_tower::HoldBreaker;
/// use std::sync::Arc;
///
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let mut held = breaker.hold();
/// let lease = <Arc<Breaker> as HoldBreaker>::lease(&mut held);
/// assert_eq!(lease.name(), breaker.name());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub trait HoldBreaker: Deref<Target = Breaker> + Clone + sealed::Sealed {
    /// What a service keeps.
    type Held: Deref<Target = Breaker> + Clone + std::fmt::Debug;
    /// What an admitted call's future keeps until the call ends.
    type Lease: Deref<Target = Breaker>;

    /// What a new service keeps (example on [`HoldBreaker`]).
    fn hold(&self) -> Self::Held;

    /// What a call keeps, from its service's hold (example on
    /// [`HoldBreaker`]).
    fn lease(held: &mut Self::Held) -> Self::Lease;
}

impl HoldBreaker for Arc<Breaker> {
    type Held = SharedBreaker;
    type Lease = BreakerLease;

    fn hold(&self) -> SharedBreaker {
        SharedBreaker::new(self.clone())
    }

    #[inline]
    fn lease(held: &mut SharedBreaker) -> BreakerLease {
        held.lease()
    }
}

impl HoldBreaker for &'static Breaker {
    type Held = Self;
    type Lease = Self;

    fn hold(&self) -> Self {
        self
    }

    #[inline]
    fn lease(held: &mut Self) -> Self {
        held
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::sync::Arc<fusebox::Breaker> {}
    impl Sealed for &'static fusebox::Breaker {}
}
