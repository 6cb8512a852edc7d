//! A call's admission held across `.await`: a breaker permit or a bulkhead
//! slot, ended with the call's verdict when it completes, or as a
//! cancelled call when the future is dropped first.

use crate::classify::Verdict;
use fusebox::bulkhead::{Bulkhead, RawBulkheadPermit};
use fusebox::{Breaker, RawPermit};
use std::sync::Arc;

/// How a layer holds its breaker: shared (`Arc`, cloned into each call's
/// future) or `'static` (a `static`, or `Box::leak`ed: nothing to count,
/// no cache line shared by the threads that call it).
///
/// ```rust
/// use fusebox::{Breaker, Config};
/// use fusebox_tower::BreakerRef;
/// use std::sync::Arc;
///
/// let shared = BreakerRef::from(Arc::new(Breaker::new(Config::default())?));
/// let leaked: &'static Breaker = Box::leak(Box::new(Breaker::new(Config::default())?));
/// let fixed = BreakerRef::from(leaked);
/// assert_eq!(shared.state(), fixed.state());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub enum BreakerRef {
    /// Shared ownership.
    Shared(Arc<Breaker>),
    /// Lives for the whole program.
    Static(&'static Breaker),
}

impl std::ops::Deref for BreakerRef {
    type Target = Breaker;
    #[inline]
    fn deref(&self) -> &Breaker {
        match self {
            BreakerRef::Shared(b) => b,
            BreakerRef::Static(b) => b,
        }
    }
}

impl From<Arc<Breaker>> for BreakerRef {
    fn from(b: Arc<Breaker>) -> BreakerRef {
        BreakerRef::Shared(b)
    }
}

impl From<&'static Breaker> for BreakerRef {
    fn from(b: &'static Breaker) -> BreakerRef {
        BreakerRef::Static(b)
    }
}

/// What an admitted call holds until it ends.
pub(crate) enum Guard {
    Breaker(BreakerRef, Option<RawPermit>),
    Bulkhead(Arc<Bulkhead>, Option<RawBulkheadPermit>),
}

impl Guard {
    /// End the call with its verdict: the outcome counted, and the breaker
    /// opened for the verdict's `open_for` (capped by `max_open_for`).
    #[inline]
    pub(crate) fn finish(&mut self, v: Verdict) {
        match self {
            Guard::Breaker(b, permit) => {
                if let Some(p) = permit.take() {
                    b.record_raw(p, v.outcome, None);
                    if let Some(d) = v.open_for {
                        b.open_for(d);
                    }
                }
            }
            Guard::Bulkhead(b, permit) => {
                if let Some(p) = permit.take() {
                    b.record_raw(p, v.outcome);
                    if let (Some(d), Some(br)) = (v.open_for, b.breaker()) {
                        br.open_for(d);
                    }
                }
            }
        }
    }
}

impl Guard {
    /// End the call without an outcome (it never reached the dependency):
    /// a probe's slot is freed, a bulkhead's slot too.
    pub(crate) fn release(&mut self) {
        match self {
            Guard::Breaker(b, permit) => {
                if let Some(p) = permit.take() {
                    b.release_raw(p);
                }
            }
            Guard::Bulkhead(b, permit) => {
                if let Some(p) = permit.take() {
                    b.release_raw(p);
                }
            }
        }
    }
}

impl Drop for Guard {
    /// Dropped before [`Guard::finish`]: a cancelled call. The breaker ends
    /// it as its `Config::cancellation` says; a bulkhead frees the slot.
    #[inline]
    fn drop(&mut self) {
        match self {
            Guard::Breaker(b, permit) => {
                if let Some(p) = permit.take() {
                    b.cancel_raw(p);
                }
            }
            Guard::Bulkhead(b, permit) => {
                if let Some(p) = permit.take() {
                    b.release_raw(p);
                }
            }
        }
    }
}
