//! Hedged requests in front of a breaker: `HedgeLayer`, placed outside a
//! [`crate::CircuitBreakerLayer`] (every attempt goes through the
//! breaker), paying each hedge from a [`RetryBudget`]. Every decision is
//! the core's step API ([`HedgePolicy::begin`], [`HedgePolicy::hedge_due`],
//! [`HedgePolicy::ended`]); this layer only runs the attempts, classifies
//! them, waits through a [`Timer`] and drops the losers.

use crate::BoxError;
use crate::classify::{ByResult, Classify};
use crate::rejected::{Reason, Rejected};
use fusebox::retry::{HedgeEnd, HedgePolicy, HedgeStart, HedgeState, Sleep, Timer};
use fusebox::{Outcome, RetryBudget};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_layer::Layer;
use tower_service::Service;

/// Hedges the calls of the service it wraps, as a [`HedgePolicy`] says:
/// the first attempt at once; if no attempt has succeeded a delay later, a
/// hedge (another attempt, on a clone of the request and of the service),
/// paid from a [`RetryBudget`] shared by every caller of the dependency,
/// up to the policy's `max_hedges`. The first success wins: the caller
/// gets it, and the other attempts' futures are dropped (cancelled calls
/// for the breaker, ended as its `Config::cancellation` says). Waits are a
/// [`Timer`]'s sleeps (tokio's, boxed); the first delay counts from the
/// call's first poll, and no timer is armed when the first attempt
/// answers then.
///
/// Put it outside a [`crate::CircuitBreakerLayer`]: each attempt goes
/// through the breaker, and a rejected one ends as the breaker's rejection.
/// The classifier `C` (the same as the breaker's; default [`ByResult`],
/// for HTTP [`crate::HttpClassifier`]) says which answers failed: a
/// failure (a 5xx, a connection error, a `Retry-After` to honour) ends
/// that attempt only, and the call fails, with the answer or error of the
/// attempt that ended last, once no attempt is left running; any other
/// answer (a 2xx, an ignored 404) wins. A failure never starts a hedge
/// early: hedging races slow answers, failures are a
/// [`RetryLayer`](crate::RetryLayer)'s.
///
/// The service must be `Clone` (each hedge calls a clone, made ready
/// first) and so must the request: it is cloned once when the call starts
/// and then only while another hedge may follow.
///
/// ```rust
/// use fusebox::retry::{HedgeDelay, HedgePolicy, Sleep, Timer};
/// use fusebox::{Breaker, Config, RetryBudget, RetryBudgetConfig};
/// use fusebox_tower::{CircuitBreakerLayer, HedgeLayer};
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
/// # // tokio's paused clock: the 5 ms pass at once.
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default())?);
/// let policy = Arc::new(
///     HedgePolicy::builder().delay(HedgeDelay::Fixed(Duration::from_millis(5))).build()?,
/// );
/// let tries = Arc::new(AtomicU32::new(0));
/// let t = tries.clone();
/// let mut svc = ServiceBuilder::new()
///     .layer(HedgeLayer::new(policy.clone(), budget, Arc::new(Tokio)))
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(move |x: u32| {
///         let n = t.fetch_add(1, Ordering::SeqCst);
///         async move {
///             if n == 0 {
///                 std::future::pending::<()>().await; // the first attempt is stuck
///             }
///             Ok::<_, std::io::Error>(x * 2)
///         }
///     }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42); // the hedge's answer
/// assert_eq!(policy.metrics().hedges, 1);
/// let m = breaker.metrics();
/// assert_eq!((m.successes, m.failures), (1, 0)); // the first attempt was cancelled
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct HedgeLayer<C = ByResult> {
    policy: Arc<HedgePolicy>,
    budget: Arc<RetryBudget>,
    timer: Arc<dyn Timer>,
    classify: C,
}

impl<C> fmt::Debug for HedgeLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl HedgeLayer<ByResult> {
    /// A layer for which every `Ok` wins and every `Err` is a failure
    /// (example on [`HedgeLayer`]).
    pub fn new(policy: Arc<HedgePolicy>, budget: Arc<RetryBudget>, timer: Arc<dyn Timer>) -> Self {
        HedgeLayer {
            policy,
            budget,
            timer,
            classify: ByResult,
        }
    }
}

impl<C> HedgeLayer<C> {
    /// The same layer with another classifier (use the breaker's).
    ///
    /// ```rust
    /// use fusebox::retry::{HedgePolicy, Sleep, Timer};
    /// use fusebox::{RetryBudget, RetryBudgetConfig};
    /// use fusebox_tower::{HedgeLayer, HttpClassifier};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// #[derive(Debug)]
    /// struct Tokio;
    /// impl Timer for Tokio {
    ///     fn sleep(&self, d: Duration) -> Sleep { Box::pin(tokio::time::sleep(d)) }
    /// }
    /// let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default())?);
    /// let policy = Arc::new(HedgePolicy::builder().build()?);
    /// let layer = HedgeLayer::new(policy, budget, Arc::new(Tokio)).classify(HttpClassifier);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn classify<C2>(self, classify: C2) -> HedgeLayer<C2> {
        HedgeLayer {
            policy: self.policy,
            budget: self.budget,
            timer: self.timer,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for HedgeLayer<C> {
    type Service = HedgeService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// The service [`HedgeLayer`] makes (example on [`HedgeLayer`]).
#[derive(Debug)]
pub struct HedgeService<S, C = ByResult> {
    inner: S,
    layer: Arc<HedgeLayer<C>>,
}

impl<S: Clone, C> Clone for HedgeService<S, C> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

/// A hedge in flight: its service made ready, then called.
type Attempt<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

pin_project! {
    /// The future of a [`HedgeService`] call (example on [`HedgeLayer`]):
    /// the first attempt inline (nothing is allocated for a call that
    /// answers at its first poll), each hedge boxed. Dropped, it drops
    /// every attempt still running: cancelled calls for the breaker.
    pub struct HedgeFuture<S: Service<Req>, Req, C> {
        #[pin]
        first: First<S::Future>,
        hedges: Vec<(u32, Attempt<S::Response>)>,
        // The next hedge's delay, until its sleep is made at a poll that
        // finds no answer.
        due: Option<Duration>,
        sleep: Option<Sleep>,
        // The service and request for hedges, kept only while another
        // hedge may start.
        spare: Option<(S, Req)>,
        layer: Arc<HedgeLayer<C>>,
        state: HedgeState,
    }
}

pin_project! {
    /// The first attempt, dropped in place once it has ended or lost.
    #[project = FirstProj]
    enum First<F> {
        Running { #[pin] fut: F },
        Ended,
    }
}

impl<S: Service<Req>, Req, C> fmt::Debug for HedgeFuture<S, Req, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeFuture")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended, for [`HedgePolicy::ended`]: a breaker's
/// rejection is [`HedgeEnd::Rejected`]; a full bulkhead, and what the
/// classifier calls a failure or asks to wait out (a `Retry-After`), failed;
/// anything else (a success, an ignored 404) is the call's answer.
fn hedge_end<T>(classify: &impl Classify<T, BoxError>, result: &Result<T, BoxError>) -> HedgeEnd {
    if let Err(e) = result {
        if let Some(r) = Rejected::find(&**e) {
            return match r.reason {
                Reason::Breaker(_) => HedgeEnd::Rejected,
                Reason::BulkheadFull(_) => HedgeEnd::Failed,
            };
        }
    }
    let v = classify.classify(result);
    match (v.outcome, v.open_for) {
        (Outcome::Failure, _) | (_, Some(_)) => HedgeEnd::Failed,
        _ => HedgeEnd::Succeeded,
    }
}

impl<S, C, Req> Service<Req> for HedgeService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    C: Classify<S::Response, BoxError>,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = HedgeFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The ready service makes the first attempt now (the breaker
        // admits it here); it is made ready again for a hedge, or cloned
        // when more than one hedge may follow.
        let clone = self.inner.clone();
        let mut svc = std::mem::replace(&mut self.inner, clone);
        let (state, due) = self.layer.policy.begin(&self.layer.budget);
        let first = svc.call(req.clone());
        HedgeFuture {
            first: First::Running { fut: first },
            hedges: Vec::new(),
            due,
            sleep: None,
            spare: Some((svc, req)),
            layer: self.layer.clone(),
            state,
        }
    }
}

/// Make `svc` ready, then call it.
async fn attempt<S, Req>(mut svc: S, req: Req) -> Result<S::Response, BoxError>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    poll_fn(|cx| svc.poll_ready(cx)).await.map_err(Into::into)?;
    svc.call(req).await.map_err(Into::into)
}

impl<S, C, Req> Future for HedgeFuture<S, Req, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    C: Classify<S::Response, BoxError>,
    Req: Clone + Send + 'static,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let l = &**this.layer;
        loop {
            // Answer or Fail end the call: the other attempts are dropped
            // with this future.
            let mut ended = |n: u32, r: Result<S::Response, BoxError>| {
                let end = hedge_end(&l.classify, &r);
                l.policy.ended(this.state, n, end).is_final().then_some(r)
            };
            if let FirstProj::Running { fut } = this.first.as_mut().project() {
                if let Poll::Ready(r) = fut.poll(cx) {
                    this.first.set(First::Ended);
                    if let Some(r) = ended(1, r.map_err(Into::into)) {
                        this.hedges.clear();
                        return Poll::Ready(r);
                    }
                }
            }
            let mut i = 0;
            while i < this.hedges.len() {
                let Poll::Ready(r) = this.hedges[i].1.as_mut().poll(cx) else {
                    i += 1;
                    continue;
                };
                let (n, _) = this.hedges.remove(i);
                if let Some(r) = ended(n, r) {
                    // The losers are cancelled now, not when this future
                    // is dropped.
                    this.first.set(First::Ended);
                    this.hedges.clear();
                    return Poll::Ready(r);
                }
            }
            if this.sleep.is_none() {
                let Some(d) = this.due.take() else {
                    return Poll::Pending;
                };
                *this.sleep = Some(l.timer.sleep(d));
            }
            if let Some(s) = this.sleep.as_mut() {
                if s.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            *this.sleep = None;
            match l.policy.hedge_due(this.state, &l.budget) {
                HedgeStart::Start { attempt: n, then } => {
                    *this.due = then;
                    let next = match (then, &*this.spare) {
                        (Some(_), Some((s, r))) => Some((s.clone(), r.clone())),
                        _ => this.spare.take(),
                    };
                    let Some((s, r)) = next else {
                        // Not reached: the policy starts no hedge after the last.
                        return Poll::Ready(Err(
                            "fusebox-tower: no request left for a hedge".into()
                        ));
                    };
                    this.hedges.push((n, Box::pin(attempt(s, r))));
                    // Poll the new attempt (and the next delay) at once.
                }
                HedgeStart::Refused | HedgeStart::None => *this.spare = None,
            }
        }
    }
}
