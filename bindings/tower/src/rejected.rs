//! The error of a call refused without reaching the service: a breaker's
//! rejection or a full bulkhead, with the reason and when to retry.

use fusebox::{BulkheadFull, RejectReason};
use std::fmt;
use std::time::Duration;

/// Why a call was refused.
///
/// ```rust
/// use fusebox_tower::Reason;
///
/// assert_eq!(Reason::Breaker(fusebox::RejectReason::Open).as_str(), "open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The breaker refused it (open, half-open with every probe slot taken,
    /// forced open).
    Breaker(RejectReason),
    /// The bulkhead had no free slot.
    BulkheadFull(BulkheadFull),
}

impl Reason {
    /// A metrics label: the breaker's (`open`, `half_open_full`,
    /// `forced_open`) or `bulkhead_full` (example on [`Reason`]).
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Breaker(r) => r.as_str(),
            Reason::BulkheadFull(_) => "bulkhead_full",
        }
    }
}

/// A call refused by a layer of this crate: in the breaker and bulkhead
/// services' [`crate::Error`] ([`crate::Error::rejected`]), boxed in the
/// others' errors; [`Rejected::find`] finds it in either.
///
/// ```rust
/// use fusebox::{Breaker, Config};
/// use fusebox_tower::{CircuitBreakerLayer, Rejected};
/// use std::sync::Arc;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let mut svc = CircuitBreakerLayer::new(breaker.clone())
///     .layer(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// breaker.force_open();
/// let err = svc.ready().await?.call(1).await.unwrap_err();
/// let rejected = Rejected::find(&err).expect("a rejection");
/// assert_eq!(rejected.reason.as_str(), "forced_open");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: Reason,
    /// When a retry may be admitted (the rest of the open period); `None`
    /// when unknown (probes in flight, forced open, a full bulkhead).
    pub retry_after: Option<Duration>,
}

impl Rejected {
    /// The rejection in an error or its chain of sources, if there is one
    /// (example on [`Rejected`]).
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Rejected> {
        crate::error::find_in(err, |x| match x.downcast_ref::<crate::Error>() {
            Some(ours) => ours.refusal(),
            None => x.downcast_ref::<Rejected>(),
        })
    }
}

impl From<fusebox::Rejected> for Rejected {
    fn from(r: fusebox::Rejected) -> Rejected {
        Rejected {
            reason: Reason::Breaker(r.reason),
            retry_after: r.retry_after,
        }
    }
}

impl From<BulkheadFull> for Rejected {
    fn from(f: BulkheadFull) -> Rejected {
        Rejected {
            reason: Reason::BulkheadFull(f),
            retry_after: None,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Breaker(reason) => fusebox::Rejected {
                reason,
                retry_after: self.retry_after,
            }
            .fmt(f),
            Reason::BulkheadFull(b) => b.fmt(f),
        }
    }
}

impl std::error::Error for Rejected {}
