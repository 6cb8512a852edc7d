//! A time limit that follows the service's latency: `AdaptiveTimeoutLayer`
//! over `fusebox::AdaptiveTimeout`, on any runtime's timer.

use crate::BoxError;
use fusebox::AdaptiveTimeout;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_layer::Layer;
use tower_service::Service;

/// The error of a call that ran past its time limit.
///
/// ```rust
/// use fusebox_tower::TimedOut;
/// use std::time::Duration;
///
/// let e = TimedOut { after: Duration::from_millis(250) };
/// assert_eq!(e.to_string(), "timed out after 0.250 s");
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
/// assert_eq!(TimedOut::find(&*boxed), Some(&e));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut {
    /// The limit it ran past.
    pub after: Duration,
}

impl TimedOut {
    /// The time-out in an error or its chain of sources, if there is one
    /// (example on [`TimedOut`]).
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TimedOut> {
        crate::error::find_in(err, |x| x.downcast_ref::<TimedOut>())
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:.3} s", self.after.as_secs_f64())
    }
}

impl std::error::Error for TimedOut {}

/// Gives each call the time limit of a `fusebox::AdaptiveTimeout` (a
/// quantile of recent latencies times a multiplier, clamped) and feeds it
/// each finished call's latency, timed on its clock. A call past its limit
/// is dropped (a cancelled call, for a breaker inside this layer) and ends
/// in a boxed [`TimedOut`] (a failure, for a breaker outside it); the limit
/// itself is recorded as its latency, so that hung calls raise the quantile.
///
/// The timer is yours: `sleep` makes a future that completes after a
/// duration (`tokio::time::sleep`, or any runtime's), so this crate
/// depends on no runtime.
///
/// ```rust
/// use fusebox::AdaptiveTimeout;
/// use fusebox_tower::{AdaptiveTimeoutLayer, TimedOut};
/// use std::{sync::Arc, time::Duration};
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let limit = Arc::new(AdaptiveTimeout::builder().initial(Duration::from_millis(20)).build()?);
/// let mut svc = ServiceBuilder::new()
///     .layer(AdaptiveTimeoutLayer::new(limit, tokio::time::sleep))
///     .service(service_fn(|hang: bool| async move {
///         if hang { std::future::pending::<()>().await }
///         Ok::<_, std::io::Error>("done")
///     }));
/// assert_eq!(svc.ready().await?.call(false).await?, "done");
/// let err = svc.ready().await?.call(true).await.unwrap_err();
/// assert_eq!(TimedOut::find(&*err).map(|t| t.after), Some(Duration::from_millis(20)));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveTimeoutLayer<Sl> {
    timeout: Arc<AdaptiveTimeout>,
    sleep: Sl,
}

impl<Sl> AdaptiveTimeoutLayer<Sl> {
    /// A layer that limits each call to `timeout`'s current value, timed
    /// by the futures `sleep` makes (example on [`AdaptiveTimeoutLayer`]).
    pub fn new(timeout: Arc<AdaptiveTimeout>, sleep: Sl) -> Self {
        AdaptiveTimeoutLayer { timeout, sleep }
    }
}

impl<S, Sl: Clone> Layer<S> for AdaptiveTimeoutLayer<Sl> {
    type Service = AdaptiveTimeoutService<S, Sl>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveTimeoutService {
            inner,
            timeout: self.timeout.clone(),
            sleep: self.sleep.clone(),
        }
    }
}

/// The service [`AdaptiveTimeoutLayer`] makes.
#[derive(Clone, Debug)]
pub struct AdaptiveTimeoutService<S, Sl> {
    inner: S,
    timeout: Arc<AdaptiveTimeout>,
    sleep: Sl,
}

impl<S, Sl, D, Req> Service<Req> for AdaptiveTimeoutService<S, Sl>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Sl: Fn(Duration) -> D,
    D: Future,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future, D>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let limit = self.timeout.timeout();
        let start_ns = self.timeout.histogram().clock().now_ns();
        TimeoutFuture {
            fut: self.inner.call(req),
            sleep: (self.sleep)(limit),
            timeout: self.timeout.clone(),
            limit,
            start_ns,
        }
    }
}

pin_project! {
    /// The response future of [`AdaptiveTimeoutService`].
    pub struct TimeoutFuture<F, D> {
        #[pin]
        fut: F,
        #[pin]
        sleep: D,
        timeout: Arc<AdaptiveTimeout>,
        limit: Duration,
        start_ns: u64,
    }
}

impl<F, D, T, E> Future for TimeoutFuture<F, D>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    D: Future,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.fut.poll(cx) {
            let now = this.timeout.histogram().clock().now_ns();
            this.timeout
                .record(Duration::from_nanos(now.saturating_sub(*this.start_ns)));
            return Poll::Ready(r.map_err(Into::into));
        }
        if this.sleep.poll(cx).is_ready() {
            this.timeout.record(*this.limit);
            return Poll::Ready(Err(Box::new(TimedOut { after: *this.limit })));
        }
        Poll::Pending
    }
}
