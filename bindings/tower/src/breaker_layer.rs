//! One breaker in front of a service: `CircuitBreakerLayer`.

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::error::Error;
use crate::future::ResponseFuture;
use crate::guard::BreakerGuard;
use crate::hold::HoldBreaker;
use fusebox::Breaker;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Puts one breaker in front of a service. Admission is decided in `call`
/// (`poll_ready` only asks the inner service); a refused call's future
/// resolves at once to an [`Error`] holding a [`crate::Rejected`], and the
/// inner service never sees the request. The breaker `B` is an
/// `Arc<Breaker>` (each call's future holds a reference to it, one atomic
/// operation per call: see [`HoldBreaker`]) or a `&'static Breaker` (a
/// `static`, or `Box::leak`ed: no reference count per call, no cache line
/// shared by the threads that call it). The classifier `C` (default [`ByResult`]; for
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
pub struct CircuitBreakerLayer<C = ByResult, B = Arc<Breaker>> {
    breaker: B,
    classify: C,
}

impl<B: HoldBreaker> CircuitBreakerLayer<ByResult, B> {
    /// A layer over `breaker` (an `Arc<Breaker>` or a `&'static Breaker`)
    /// that counts `Ok` a success and `Err` a failure (example on
    /// [`CircuitBreakerLayer`]).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    /// use fusebox_tower::CircuitBreakerLayer;
    ///
    /// let fixed: &'static Breaker = Box::leak(Box::new(Breaker::new(Config::default())?));
    /// let layer = CircuitBreakerLayer::new(fixed);
    /// assert!(std::ptr::eq(*layer.breaker(), fixed));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(breaker: B) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: ByResult,
        }
    }
}

impl<C, B> CircuitBreakerLayer<C, B> {
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
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2, B> {
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
    pub fn breaker(&self) -> &B {
        &self.breaker
    }
}

impl<S, C: Clone, B: HoldBreaker> Layer<S> for CircuitBreakerLayer<C, B> {
    type Service = CircuitBreaker<S, C, B>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            breaker: self.breaker.hold(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`CircuitBreakerLayer`] makes. It keeps its breaker as
/// [`HoldBreaker::Held`] says (for an `Arc<Breaker>`, a
/// [`fusebox::SharedBreaker`]).
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S, C = ByResult, B: HoldBreaker = Arc<Breaker>> {
    inner: S,
    breaker: B::Held,
    classify: C,
}

impl<S, C, B: HoldBreaker> CircuitBreaker<S, C, B> {
    /// The breaker.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, State};
    /// use fusebox_tower::CircuitBreakerLayer;
    /// use std::sync::Arc;
    /// use tower::Layer;
    ///
    /// let svc = CircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default())?))
    ///     .layer(tower::service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
    /// assert_eq!(svc.breaker().state(), State::Closed);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C, B, Req> Service<Req> for CircuitBreaker<S, C, B>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
    B: HoldBreaker,
{
    type Response = S::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future, C, BreakerGuard<B::Lease>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::inner(e.into()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.acquire_raw() {
            Ok(p) => ResponseFuture::admitted(
                self.inner.call(req),
                BreakerGuard::new(B::lease(&mut self.breaker), p),
                self.classify.clone(),
            ),
            Err(r) => ResponseFuture::refused(r),
        }
    }
}
