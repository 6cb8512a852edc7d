//! One breaker per key (per host by default): `KeyedCircuitBreakerLayer`,
//! backed by the bounded registry `fusebox::KeyedBreakers`.

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::error::Error;
use crate::future::ResponseFuture;
use crate::guard::BreakerGuard;
use crate::key::{HostKey, KeyOf};
use fusebox::KeyedBreakers;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Puts a breaker per key in front of a service: the request's key (by
/// default [`HostKey`], the authority) picks its breaker in a
/// `fusebox::KeyedBreakers`, created on first use, so one bad host does
/// not open another's breaker. The rest is [`crate::CircuitBreakerLayer`]'s.
///
/// A request with no key, or whose breaker cannot be had (the set is full
/// of breakers holding history, or the key is not a valid breaker name),
/// goes through unguarded: the registry's bound protects memory, not the
/// dependency. Watch `KeyedBreakers::stats().refusals`.
///
/// ```rust
/// use fusebox::{ClockSource, Config, KeyedBreakers};
/// use fusebox_tower::{HttpClassifier, KeyedCircuitBreakerLayer};
/// use std::sync::Arc;
/// use tower::Layer;
///
/// let hosts = Arc::new(KeyedBreakers::new("hosts", 1000, Config::default(), ClockSource::Monotonic)?);
/// let layer = KeyedCircuitBreakerLayer::new(hosts.clone()).classify(HttpClassifier);
/// let svc = layer.layer(tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// }));
/// # Ok::<(), fusebox::KeyedError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyedCircuitBreakerLayer<K = HostKey, C = ByResult> {
    breakers: Arc<KeyedBreakers>,
    key: K,
    classify: C,
}

impl KeyedCircuitBreakerLayer<HostKey, ByResult> {
    /// A layer over `breakers`, keyed by [`HostKey`], `Ok` a success and
    /// `Err` a failure (example on [`KeyedCircuitBreakerLayer`]).
    pub fn new(breakers: Arc<KeyedBreakers>) -> Self {
        KeyedCircuitBreakerLayer {
            breakers,
            key: HostKey,
            classify: ByResult,
        }
    }
}

impl<K, C> KeyedCircuitBreakerLayer<K, C> {
    /// The same layer with another key.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    /// use fusebox_tower::KeyedCircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let routes = Arc::new(KeyedBreakers::new("routes", 100, Config::default(), ClockSource::Monotonic)?);
    /// let layer = KeyedCircuitBreakerLayer::new(routes)
    ///     .key(|r: &http::Request<()>| Some(r.uri().path().to_owned()));
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn key<K2>(self, key: K2) -> KeyedCircuitBreakerLayer<K2, C> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key,
            classify: self.classify,
        }
    }

    /// The same layer with another classifier (example on
    /// [`KeyedCircuitBreakerLayer`]).
    pub fn classify<C2>(self, classify: C2) -> KeyedCircuitBreakerLayer<K, C2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classify,
        }
    }

    /// The breakers.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    /// use fusebox_tower::KeyedCircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let hosts = Arc::new(KeyedBreakers::new("hosts", 10, Config::default(), ClockSource::Monotonic)?);
    /// assert!(KeyedCircuitBreakerLayer::new(hosts).breakers().is_empty());
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn breakers(&self) -> &Arc<KeyedBreakers> {
        &self.breakers
    }
}

impl<S, K: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, C> {
    type Service = KeyedCircuitBreaker<S, K, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`KeyedCircuitBreakerLayer`] makes.
#[derive(Clone, Debug)]
pub struct KeyedCircuitBreaker<S, K = HostKey, C = ByResult> {
    inner: S,
    breakers: Arc<KeyedBreakers>,
    key: K,
    classify: C,
}

impl<S, K, C, Req> Service<Req> for KeyedCircuitBreaker<S, K, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: KeyOf<Req>,
    C: Classify<S::Response, BoxError> + Clone,
{
    type Response = S::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future, C, BreakerGuard<Arc<fusebox::Breaker>>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::inner(e.into()))
    }

    // Inline, so that the future is built where the caller keeps it: moved
    // out of a call's return slot, it is read back with wider loads than
    // the stores that wrote it, a stall the CPU pays at once.
    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = match self.key.key(&req) {
            Some(k) => self.breakers.get_or_create(&k).ok(),
            None => None,
        };
        let Some(breaker) = breaker else {
            return ResponseFuture::unguarded(self.inner.call(req));
        };
        match breaker.acquire_raw() {
            Ok(p) => ResponseFuture::admitted(
                self.inner.call(req),
                BreakerGuard::new(breaker, p),
                self.classify.clone(),
            ),
            Err(r) => ResponseFuture::refused(r),
        }
    }
}
