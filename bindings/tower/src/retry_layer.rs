//! Retries in front of a breaker: `RetryLayer`, placed outside a
//! [`crate::CircuitBreakerLayer`] (every attempt goes through the
//! breaker), paying each retry from a [`RetryBudget`]. Every decision is
//! the core's [`RetryPolicy::next`]; this layer only runs the attempts,
//! classifies them and sleeps through a [`Timer`].

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::rejected::{Reason, Rejected};
use fusebox::retry::{AttemptEnd, Next, Timer, Verdict as RetryVerdict};
use fusebox::{Outcome, RetryBudget, RetryPolicy};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Retries the calls of the service it wraps, as a [`RetryPolicy`] says,
/// each retry paid from a [`RetryBudget`] shared by every caller of the
/// dependency, each wait a [`Timer`]'s sleep (tokio's, boxed). Put it
/// outside a [`crate::CircuitBreakerLayer`]: a rejection is then retried
/// no sooner than its `retry_after` (a forced-open breaker ends the
/// call), and the classifier `C` (the same as the breaker's; default
/// [`ByResult`], for HTTP [`crate::HttpClassifier`]) says which answers to
/// retry: a failure is retried, after the server's `Retry-After` when it
/// gave one (up to the policy's `retry_after_cap`); a success or an
/// ignored answer (a 404) is final. The call's result is its last
/// attempt's. The request is cloned only while another attempt may follow.
///
/// ```rust
/// use fusebox::retry::{Sleep, Timer};
/// use fusebox::{Breaker, Config, RetryBudget, RetryBudgetConfig, RetryPolicy};
/// use fusebox_tower::{CircuitBreakerLayer, RetryLayer};
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use std::time::Duration;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// #[derive(Debug)]
/// struct Tokio;
/// impl Timer for Tokio {
///     fn sleep(&self, d: Duration) -> Sleep {
///         Box::pin(tokio::time::sleep(d))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default())?);
/// let policy = Arc::new(RetryPolicy::builder().base_backoff(Duration::from_millis(1)).build()?);
/// let tries = Arc::new(AtomicU32::new(0));
/// let t = tries.clone();
/// let mut svc = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy, budget, Arc::new(Tokio)))
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(move |x: u32| {
///         let n = t.fetch_add(1, Ordering::SeqCst);
///         async move { if n == 0 { Err(std::io::Error::other("reset")) } else { Ok(x * 2) } }
///     }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42);
/// assert_eq!(tries.load(Ordering::SeqCst), 2);
/// assert_eq!(breaker.metrics().failures, 1);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct RetryLayer<C = ByResult> {
    policy: Arc<RetryPolicy>,
    budget: Arc<RetryBudget>,
    timer: Arc<dyn Timer>,
    classify: C,
}

impl<C> fmt::Debug for RetryLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl RetryLayer<ByResult> {
    /// A layer that retries every `Err` (example on [`RetryLayer`]).
    pub fn new(policy: Arc<RetryPolicy>, budget: Arc<RetryBudget>, timer: Arc<dyn Timer>) -> Self {
        RetryLayer {
            policy,
            budget,
            timer,
            classify: ByResult,
        }
    }
}

impl<C> RetryLayer<C> {
    /// The same layer with another classifier (use the breaker's).
    ///
    /// ```rust
    /// use fusebox::retry::{Sleep, Timer};
    /// use fusebox::{RetryBudget, RetryBudgetConfig, RetryPolicy};
    /// use fusebox_tower::{HttpClassifier, RetryLayer};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// #[derive(Debug)]
    /// struct Tokio;
    /// impl Timer for Tokio {
    ///     fn sleep(&self, d: Duration) -> Sleep { Box::pin(tokio::time::sleep(d)) }
    /// }
    /// let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default())?);
    /// let layer = RetryLayer::new(Arc::new(RetryPolicy::default()), budget, Arc::new(Tokio))
    ///     .classify(HttpClassifier);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn classify<C2>(self, classify: C2) -> RetryLayer<C2> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            timer: self.timer,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = Retry<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner,
            layer: RetryLayer {
                policy: self.policy.clone(),
                budget: self.budget.clone(),
                timer: self.timer.clone(),
                classify: self.classify.clone(),
            },
        }
    }
}

/// The service [`RetryLayer`] makes.
#[derive(Clone, Debug)]
pub struct Retry<S, C = ByResult> {
    inner: S,
    layer: RetryLayer<C>,
}

/// The future of a [`Retry`] call.
pub type RetryFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

/// How an attempt that did not succeed ended, or `None`: it succeeded.
/// An ignored answer (a 404) is final: not retryable.
fn attempt_end<T>(
    classify: &impl Classify<T, BoxError>,
    result: &Result<T, BoxError>,
) -> Option<AttemptEnd> {
    if let Err(e) = result {
        if let Some(r) = Rejected::find(&**e) {
            return Some(match r.reason {
                Reason::Breaker(reason) => AttemptEnd::Rejected(fusebox::Rejected {
                    reason,
                    retry_after: r.retry_after,
                }),
                // A full bulkhead: try again after the back-off.
                Reason::BulkheadFull(_) => AttemptEnd::Failed(RetryVerdict::Retry),
            });
        }
    }
    let v = classify.classify(result);
    let verdict = match (v.outcome, v.open_for) {
        (Outcome::Success, _) => return None,
        // The server's Retry-After (a 503, or a 429 the breaker ignores).
        (_, Some(d)) => RetryVerdict::RetryAfter(d),
        (Outcome::Failure, None) => RetryVerdict::Retry,
        (Outcome::Ignored, None) => RetryVerdict::Stop,
    };
    Some(AttemptEnd::Failed(verdict))
}

impl<S, C, Req> Service<Req> for Retry<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    S::Response: Send,
    C: Classify<S::Response, BoxError> + Clone + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryFuture<S::Response>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The ready service makes the first attempt; a clone, made ready
        // again, each retry (tower's rule: `call` only after `poll_ready`).
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(run(ready, layer, req))
    }
}

async fn run<S, C, Req>(mut svc: S, l: RetryLayer<C>, req: Req) -> Result<S::Response, BoxError>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError>,
    Req: Clone,
{
    // The time matters only for a deadline: without one, no clock read.
    let clock = l.budget.clock();
    let now = || {
        if l.policy.has_deadline() {
            clock.now_ns()
        } else {
            0
        }
    };
    let mut call = l.policy.begin(&l.budget, now());
    let mut req = Some(req);
    loop {
        let Some(r) = req.take() else {
            // Not reached: the policy never retries after the last attempt.
            return Err("fusebox-tower: no request left for another attempt".into());
        };
        // Keep a copy only while another attempt may follow.
        let this = if call.attempt() < l.policy.max_attempts() {
            req = Some(r.clone());
            r
        } else {
            r
        };
        let result = svc.call(this).await.map_err(Into::into);
        let Some(end) = attempt_end(&l.classify, &result) else {
            l.policy.succeeded(&mut call);
            return result;
        };
        match l.policy.next(&mut call, &l.budget, end, now()) {
            Next::Stop(_) => return result,
            Next::Retry(wait) => {
                drop(result);
                l.timer.sleep(wait).await;
                std::future::poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
            }
        }
    }
}
