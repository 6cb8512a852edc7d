//! One breaker in front of a service: `CircuitBreakerLayer`.

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::future::ResponseFuture;
use crate::guard::{BreakerRef, Guard};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Puts one breaker in front of a service. Admission is decided in `call`
/// (`poll_ready` only asks the inner service); a refused call's future
/// resolves at once to a boxed [`crate::Rejected`], and the inner service
/// never sees the request. The classifier `C` (default [`ByResult`]; for
/// HTTP [`crate::HttpClassifier`]) judges each finished call; a future
/// dropped before it completes is a cancelled call, ended as the breaker's
/// `Config::cancellation` says.
///
/// ```rust
/// use fusebox::{Breaker, Config};
/// use fusebox_tower::CircuitBreakerLayer;
/// use std::sync::Arc;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let mut svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42);
/// assert_eq!(breaker.metrics().successes, 1);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<C = ByResult> {
    breaker: BreakerRef,
    classify: C,
}

impl CircuitBreakerLayer<ByResult> {
    /// A layer over `breaker` (an `Arc<Breaker>` or a `&'static Breaker`)
    /// that counts `Ok` a success and `Err` a failure (example on
    /// [`CircuitBreakerLayer`]).
    pub fn new(breaker: impl Into<BreakerRef>) -> Self {
        CircuitBreakerLayer {
            breaker: breaker.into(),
            classify: ByResult,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// The same layer with another classifier.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    /// use fusebox_tower::{CircuitBreakerLayer, HttpClassifier};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let layer = CircuitBreakerLayer::new(breaker).classify(HttpClassifier);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// The breaker.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, State};
    /// use fusebox_tower::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let layer = CircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())?));
    /// assert_eq!(layer.breaker().state(), State::Closed);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> &BreakerRef {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`CircuitBreakerLayer`] makes.
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S, C = ByResult> {
    inner: S,
    breaker: BreakerRef,
    classify: C,
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.acquire_raw() {
            Ok(p) => ResponseFuture::admitted(
                self.inner.call(req),
                Guard::Breaker(self.breaker.clone(), Some(p)),
                self.classify.clone(),
            ),
            Err(r) => ResponseFuture::rejected(r.into()),
        }
    }
}
