//! At most N calls in flight through a service: `BulkheadLayer`, with a
//! fixed or an adaptive limit (`fusebox::bulkhead::Bulkhead`).

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::error::Error;
use crate::future::ResponseFuture;
use crate::guard::BulkheadGuard;
use fusebox::bulkhead::{Bulkhead as Slots, BulkheadError};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Sheds the calls past a `fusebox::bulkhead::Bulkhead`'s limit: a call
/// that finds no free slot is refused in `call` with a [`crate::Rejected`]
/// whose reason is [`crate::Reason::BulkheadFull`] (it never waits: the
/// bulkhead's `max_wait` is for threads, not tasks). With an adaptive limit
/// (`BulkheadBuilder::adaptive`) each finished call's latency, on the
/// bulkhead's clock, moves the limit; the classifier says which calls are
/// drops (failures) and which are not sampled (ignored). A future dropped
/// before it completes frees its slot and counts nothing.
///
/// Put a [`crate::CircuitBreakerLayer`] outside it rather than giving the
/// bulkhead a breaker: the layer ends a cancelled call by the breaker's
/// cancellation policy.
///
/// ```rust
/// use fusebox::bulkhead::Bulkhead;
/// use fusebox::LimitConfig;
/// use fusebox_tower::BulkheadLayer;
/// use std::sync::Arc;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let slots = Arc::new(Bulkhead::builder().adaptive(LimitConfig::vegas().limits(4, 16, 256)).build()?);
/// let mut svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(slots.clone()))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(slots.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadLayer<C = ByResult> {
    slots: Arc<Slots>,
    classify: C,
}

impl BulkheadLayer<ByResult> {
    /// A layer over `bulkhead`, `Ok` a success and `Err` a failure (example
    /// on [`BulkheadLayer`]).
    pub fn new(bulkhead: Arc<Slots>) -> Self {
        BulkheadLayer {
            slots: bulkhead,
            classify: ByResult,
        }
    }
}

impl<C> BulkheadLayer<C> {
    /// The same layer with another classifier.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox_tower::{BulkheadLayer, HttpClassifier};
    /// use std::sync::Arc;
    ///
    /// let layer = BulkheadLayer::new(Arc::new(Bulkhead::new(32)?)).classify(HttpClassifier);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn classify<C2>(self, classify: C2) -> BulkheadLayer<C2> {
        BulkheadLayer {
            slots: self.slots,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for BulkheadLayer<C> {
    type Service = Bulkhead<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead {
            inner,
            slots: self.slots.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`BulkheadLayer`] makes.
#[derive(Clone, Debug)]
pub struct Bulkhead<S, C = ByResult> {
    inner: S,
    slots: Arc<Slots>,
    classify: C,
}

impl<S, C, Req> Service<Req> for Bulkhead<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
{
    type Response = S::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future, C, BulkheadGuard>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::inner(e.into()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.slots.try_acquire_raw() {
            Ok(p) => ResponseFuture::admitted(
                self.inner.call(req),
                BulkheadGuard::new(self.slots.clone(), p),
                self.classify.clone(),
            ),
            Err(BulkheadError::Full(f)) => ResponseFuture::rejected(f.into()),
            Err(BulkheadError::Breaker(r)) => ResponseFuture::rejected(r.into()),
        }
    }
}
