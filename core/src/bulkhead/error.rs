//! Why a bulkhead refused a call, or why a call through it did not return
//! its value.

use crate::engine::error::Rejected;
use std::fmt;
use std::time::Duration;

/// A call refused because the bulkhead was full.
///
/// ```rust
/// use fusebox::bulkhead::{Bulkhead, BulkheadError, BulkheadFull};
/// use std::time::Duration;
///
/// let b = Bulkhead::new(1)?;
/// let _held = b.try_acquire()?;
/// let Err(BulkheadError::Full(full)) = b.try_acquire() else { panic!("full") };
/// assert_eq!(full, BulkheadFull { limit: 1, in_flight: 1, waited: Duration::ZERO });
/// assert_eq!(full.to_string(), "bulkhead full: 1 calls in flight, limit 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadFull {
    /// The limit when it was refused.
    pub limit: u32,
    /// Calls in flight when it was refused.
    pub in_flight: u32,
    /// How long it waited for a slot (zero when it did not wait).
    pub waited: Duration,
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead full: {} calls in flight, limit {}",
            self.in_flight, self.limit
        )?;
        if !self.waited.is_zero() {
            write!(f, " (waited {:.3} s)", self.waited.as_secs_f64())?;
        }
        Ok(())
    }
}

impl std::error::Error for BulkheadFull {}

/// Why a bulkhead did not admit a call.
///
/// ```rust
/// use fusebox::bulkhead::{Bulkhead, BulkheadError};
/// use fusebox::{Breaker, Config, RejectReason};
/// use std::sync::Arc;
///
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let b = Bulkhead::builder().max_concurrent(1).breaker(breaker.clone()).build()?;
/// let held = b.try_acquire()?;
/// assert!(matches!(b.try_acquire(), Err(BulkheadError::Full(_))));
/// drop(held);
/// breaker.force_open();
/// let r = b.try_acquire();
/// assert!(matches!(r, Err(BulkheadError::Breaker(rej)) if rej.reason == RejectReason::ForcedOpen));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkheadError {
    /// Too many calls in flight.
    Full(BulkheadFull),
    /// The bulkhead's breaker refused the call.
    Breaker(Rejected),
}

impl fmt::Display for BulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkheadError::Full(x) => x.fmt(f),
            BulkheadError::Breaker(r) => r.fmt(f),
        }
    }
}

impl std::error::Error for BulkheadError {}

/// The result of [`Bulkhead::call`](super::Bulkhead::call) when it is not
/// the call's own value.
///
/// ```rust
/// use fusebox::bulkhead::{Bulkhead, BulkheadCallError};
///
/// let b = Bulkhead::new(1)?;
/// let r: Result<(), _> = b.call(|| Err("no such row"));
/// assert_eq!(r, Err(BulkheadCallError::Failed("no such row")));
/// let _held = b.try_acquire()?;
/// let r = b.call(|| Ok::<_, &str>(()));
/// assert!(matches!(r, Err(BulkheadCallError::Full(f)) if f.in_flight == 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum BulkheadCallError<E> {
    /// Too many calls in flight; the function did not run.
    Full(BulkheadFull),
    /// The breaker refused the call; the function did not run.
    Breaker(Rejected),
    /// The function ran and returned this error.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for BulkheadCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkheadCallError::Full(x) => x.fmt(f),
            BulkheadCallError::Breaker(r) => r.fmt(f),
            BulkheadCallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for BulkheadCallError<E> {}

impl<E> From<BulkheadError> for BulkheadCallError<E> {
    fn from(e: BulkheadError) -> Self {
        match e {
            BulkheadError::Full(x) => BulkheadCallError::Full(x),
            BulkheadError::Breaker(r) => BulkheadCallError::Breaker(r),
        }
    }
}
