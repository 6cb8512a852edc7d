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

/// A breaker's rejection in one word, as a response future holds it: the
/// reason in the top two bits, the retry-after in ns below (all ones for
/// none). One 8-byte store when the call is refused and one 8-byte load
/// when the future is polled: a [`Rejected`] held as it is (a byte, a
/// `u64` and a `u32`, written apart) is read back with wider loads that
/// the CPU cannot serve from its pending stores, a stall that was a third
/// of the open path's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedRefusal(u64);

const NS_BITS: u32 = 62;
const NO_RETRY: u64 = (1 << NS_BITS) - 1;

impl PackedRefusal {
    #[inline]
    pub(crate) fn pack(r: fusebox::Rejected) -> PackedRefusal {
        let reason = match r.reason {
            RejectReason::Open => 0,
            RejectReason::HalfOpenFull => 1,
            RejectReason::ForcedOpen => 2,
        };
        // A retry-after past 146 years is kept as the longest that fits.
        let ns = r.retry_after.map_or(NO_RETRY, |d| {
            d.as_nanos().min(u128::from(NO_RETRY - 1)) as u64
        });
        PackedRefusal(reason << NS_BITS | ns)
    }

    #[inline]
    pub(crate) fn unpack(self) -> Rejected {
        let reason = match self.0 >> NS_BITS {
            0 => RejectReason::Open,
            1 => RejectReason::HalfOpenFull,
            _ => RejectReason::ForcedOpen,
        };
        let ns = self.0 & NO_RETRY;
        Rejected {
            reason: Reason::Breaker(reason),
            retry_after: (ns != NO_RETRY).then(|| Duration::from_nanos(ns)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_refusal_round_trips() {
        let cases = [
            (RejectReason::Open, Some(Duration::from_millis(1500))),
            (RejectReason::HalfOpenFull, None),
            (RejectReason::ForcedOpen, None),
            (RejectReason::Open, Some(Duration::ZERO)),
        ];
        for (reason, retry_after) in cases {
            let r = fusebox::Rejected {
                reason,
                retry_after,
            };
            let back = PackedRefusal::pack(r).unpack();
            assert_eq!(back.reason, Reason::Breaker(reason));
            assert_eq!(back.retry_after, retry_after);
        }
        let far = fusebox::Rejected {
            reason: RejectReason::Open,
            retry_after: Some(Duration::MAX),
        };
        let back = PackedRefusal::pack(far).unpack();
        assert_eq!(back.retry_after, Some(Duration::from_nanos(NO_RETRY - 1)));
    }
}
