//! The error of the breaker and bulkhead services: a refusal held inline
//! (no allocation: failing fast stays fast), or the inner service's error
//! boxed.

use crate::BoxError;
use crate::rejected::Rejected;
use std::fmt;

/// The error of [`crate::CircuitBreaker`], [`crate::KeyedCircuitBreaker`]
/// and [`crate::Bulkhead`]: this layer's refusal, or the inner service's
/// error. It converts into a [`BoxError`] with `?` or `.into()`, so it
/// composes with tower's other layers; [`Rejected::find`] and
/// [`crate::error_response`] see through it.
///
/// ```rust
/// use fusebox::{Breaker, Config};
/// use fusebox_tower::CircuitBreakerLayer;
/// use std::sync::Arc;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|fail: bool| async move {
///     if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
/// }));
/// let err = svc.ready().await?.call(true).await.unwrap_err();
/// assert!(err.rejected().is_none());
/// assert_eq!(err.to_string(), "down");
///
/// breaker.force_open();
/// let err = svc.ready().await?.call(false).await.unwrap_err();
/// assert_eq!(err.rejected().unwrap().reason.as_str(), "forced_open");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Error(Repr);

#[derive(Debug)]
enum Repr {
    Rejected(Rejected),
    Inner(BoxError),
}

impl Error {
    pub(crate) fn refused(r: Rejected) -> Error {
        Error(Repr::Rejected(r))
    }

    pub(crate) fn inner(e: BoxError) -> Error {
        Error(Repr::Inner(e))
    }

    /// The refusal: this layer's, or one an inner layer of this crate made
    /// (example on [`Error`]).
    pub fn rejected(&self) -> Option<&Rejected> {
        match &self.0 {
            Repr::Rejected(r) => Some(r),
            Repr::Inner(e) => Rejected::find(&**e),
        }
    }

    /// The inner service's error, or `Err` with this layer's refusal.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    /// use fusebox_tower::CircuitBreakerLayer;
    /// use std::sync::Arc;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut svc = CircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())?))
    ///     .layer(service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("down")) }));
    /// let err = svc.ready().await?.call(()).await.unwrap_err();
    /// let inner = err.into_inner().expect("not a refusal");
    /// assert!(inner.downcast_ref::<std::io::Error>().is_some());
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # }).unwrap();
    /// ```
    pub fn into_inner(self) -> Result<BoxError, Rejected> {
        match self.0 {
            Repr::Rejected(r) => Err(r),
            Repr::Inner(e) => Ok(e),
        }
    }

    /// This layer's own refusal (not one found in the inner error).
    pub(crate) fn refusal(&self) -> Option<&Rejected> {
        match &self.0 {
            Repr::Rejected(r) => Some(r),
            Repr::Inner(_) => None,
        }
    }
}

impl fmt::Display for Error {
    /// The refusal's or the inner error's message, unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Rejected(r) => r.fmt(f),
            Repr::Inner(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    /// Transparent: the inner error's source (the inner error itself is
    /// reached with [`Error::into_inner`] or the crate's finders).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Repr::Rejected(_) => None,
            Repr::Inner(e) => e.source(),
        }
    }
}

impl From<Rejected> for Error {
    fn from(r: Rejected) -> Error {
        Error::refused(r)
    }
}

/// Walk `err` and its sources, looking inside this crate's [`Error`]s, for
/// the first error `f` accepts.
pub(crate) fn find_in<'a, T>(
    err: &'a (dyn std::error::Error + 'static),
    f: impl Fn(&'a (dyn std::error::Error + 'static)) -> Option<&'a T>,
) -> Option<&'a T> {
    let mut e = Some(err);
    while let Some(x) = e {
        if let Some(t) = f(x) {
            return Some(t);
        }
        e = match x.downcast_ref::<Error>() {
            Some(ours) => match &ours.0 {
                Repr::Rejected(_) => None,
                Repr::Inner(inner) => Some(&**inner),
            },
            None => x.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reason, TimedOut};
    use std::time::Duration;

    fn refusal() -> Rejected {
        Rejected {
            reason: Reason::Breaker(fusebox::RejectReason::Open),
            retry_after: Some(Duration::from_secs(2)),
        }
    }

    #[test]
    fn finders_see_through_nested_layers_and_boxes() {
        // A bulkhead's refusal, boxed by a layer above, under a breaker.
        let boxed: BoxError = Box::new(Error::refused(refusal()));
        let outer = Error::inner(Box::new(Error::inner(boxed)));
        assert_eq!(outer.rejected(), Some(&refusal()));
        assert_eq!(Rejected::find(&outer), Some(&refusal()));
        assert!(outer.refusal().is_none());
        assert_eq!(outer.to_string(), refusal().to_string());
        assert!(outer.into_inner().is_ok());

        let t = TimedOut {
            after: Duration::from_millis(20),
        };
        let timed = Error::inner(Box::new(t));
        assert_eq!(TimedOut::find(&timed), Some(&t));
        assert!(timed.rejected().is_none());
    }

    #[test]
    fn an_inner_error_keeps_its_message_and_sources() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Error::inner(Box::new(Outer(std::io::Error::other("reset"))));
        assert_eq!(e.to_string(), "request failed");
        use std::error::Error as _;
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("reset"));
        assert!(Rejected::find(&e).is_none());
        assert_eq!(
            Error::refused(refusal()).into_inner().unwrap_err(),
            refusal()
        );
    }
}
