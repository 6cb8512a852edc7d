//! Calls that are futures: [`Breaker::call_async`] and the [`Guarded`]
//! future, runtime-agnostic (no executor, no timer: only `std::future`).
//!
//! Admission happens when the call is made (`call_async`, [`Guarded::new`]),
//! not at the first poll: that is tower's convention (`Service::call`
//! admits, the future it returns only runs), the decision is made when the
//! caller decides to make the call, and a rejected call never builds its
//! inner future. The permit is held across every `.await` of the inner
//! future and the outcome recorded when it completes; a future dropped
//! before it completes is a cancelled call, ended by
//! [`Breaker::cancel_raw`] as [`Config::cancellation`](crate::Config::cancellation)
//! says (`docs/semantics.md#cancelled-calls`).

use crate::engine::breaker::Breaker;
use crate::engine::error::{CallError, Rejected};
use crate::engine::permit::{Outcome, RawPermit};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The classifier of [`Breaker::call_async`]: `Ok` is a success, `Err` a
/// failure.
pub type ByResult<T, E> = fn(&Result<T, E>) -> Outcome;

fn by_result<T, E>(r: &Result<T, E>) -> Outcome {
    if r.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

enum Run<F, C> {
    /// Admitted: the inner future, its classifier, the permit.
    Running(F, Option<C>),
    /// Rejected at admission: resolves at once to this.
    Rejected(Rejected),
    /// Completed (or the rejection handed out).
    Done,
}

/// A call through a breaker as a future: admitted when made, holding its
/// permit across `.await`, recording its outcome when it completes, ending
/// the permit as a cancelled call when dropped before that.
///
/// `B` is how the future holds the breaker: `&Breaker` (from
/// [`Breaker::call_async`]), or an `Arc<Breaker>` for a `'static` future
/// (e.g. a tower service's), through [`Guarded::new`]. Resolves to
/// `Ok(value)`, `Err(CallError::Failed(e))` or `Err(CallError::Rejected(_))`.
///
/// ```rust
/// use fusebox::{Breaker, CallError, Config, Guarded, Outcome};
/// use std::future::Future;
/// use std::pin::pin;
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
///
/// let breaker = Arc::new(Breaker::new(Config::default())?);
/// // A 'static future, as a spawned task or a tower service needs.
/// let fut = Guarded::new(
///     breaker.clone(),
///     |r: &Result<u16, u16>| if matches!(r, Err(s) if *s >= 500) {
///         Outcome::Failure
///     } else {
///         Outcome::Success
///     },
///     || async { Err::<u16, u16>(503) },
/// );
/// let mut fut = pin!(fut);
/// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
/// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
/// let mut cx = Context::from_waker(&waker);
/// assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(CallError::Failed(503))));
/// assert_eq!(breaker.metrics().failures, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a call future does nothing unless polled (dropped, it is a cancelled call)"]
pub struct Guarded<B: Deref<Target = Breaker>, F, C> {
    breaker: B,
    /// The permit, while the call is in flight (taken when it ends).
    permit: Option<RawPermit>,
    run: Run<F, C>,
    /// The `fusebox.call` span, entered on every poll.
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl<B, F, C, T, E> Guarded<B, F, C>
where
    B: Deref<Target = Breaker>,
    F: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    /// Ask `breaker` for a permit now; if admitted, build the call with
    /// `make` (not called when rejected). `classify` decides the outcome
    /// when the call completes.
    ///
    /// ```rust
    /// use fusebox::{Breaker, CallError, Config, Guarded, RejectReason};
    /// use std::{future::Future, pin::pin, task::{Context, Poll}};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// breaker.force_open();
    /// let mut built = false;
    /// let fut = Guarded::new(&breaker, |_: &Result<(), ()>| fusebox::Outcome::Success, || {
    ///     built = true;
    ///     async { Ok(()) }
    /// });
    /// assert!(fut.is_rejected());
    /// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
    /// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
    /// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    /// let mut cx = Context::from_waker(&waker);
    /// let Poll::Ready(Err(CallError::Rejected(r))) = pin!(fut).poll(&mut cx) else { panic!() };
    /// assert_eq!(r.reason, RejectReason::ForcedOpen);
    /// assert!(!built, "a rejected call is never built");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(breaker: B, classify: C, make: impl FnOnce() -> F) -> Self {
        match breaker.acquire_raw() {
            Ok(p) => Guarded {
                #[cfg(feature = "tracing")]
                span: crate::observe::trace::call_span(
                    breaker.name(),
                    crate::observe::trace::admitted(p.probe),
                ),
                breaker,
                permit: Some(p),
                run: Run::Running(make(), Some(classify)),
            },
            Err(r) => Guarded {
                #[cfg(feature = "tracing")]
                span: crate::observe::trace::call_span(breaker.name(), "rejected"),
                breaker,
                permit: None,
                run: Run::Rejected(r),
            },
        }
    }
}

impl<B: Deref<Target = Breaker>, F, C> Guarded<B, F, C> {
    /// Whether the call was rejected at admission (the future resolves at
    /// once to `CallError::Rejected`).
    pub fn is_rejected(&self) -> bool {
        matches!(self.run, Run::Rejected(_))
    }

    /// Whether the call is a half-open probe (`false` once it ended).
    pub fn is_probe(&self) -> bool {
        self.permit.is_some_and(|p| p.probe)
    }
}

impl<B, F, C, T, E> Future for Guarded<B, F, C>
where
    B: Deref<Target = Breaker>,
    F: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the inner future only: it is never
        // moved out of `run` (it is polled in place, and dropped in place
        // when `run` is overwritten), and `Guarded` is `Unpin` only when `F`
        // is (auto trait). `breaker`, `permit` and the classifier are not
        // pinned, and `Drop` touches only `permit`.
        let this = unsafe { self.get_unchecked_mut() };
        #[cfg(feature = "tracing")]
        let _entered = this.span.enter();
        let r = match &mut this.run {
            Run::Running(fut, classify) => {
                // SAFETY: see above; `fut` stays where it is until dropped.
                match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => {
                        let classify = classify.take().expect("classifier present while running");
                        let outcome = classify(&r);
                        if let Some(p) = this.permit.take() {
                            this.breaker.record_raw(p, outcome, None);
                        }
                        r.map_err(CallError::Failed)
                    }
                }
            }
            Run::Rejected(r) => Err(CallError::Rejected(*r)),
            Run::Done => panic!("fusebox::Guarded polled after it completed"),
        };
        // Drops the finished inner future in place.
        this.run = Run::Done;
        Poll::Ready(r)
    }
}

impl<B: Deref<Target = Breaker>, F, C> Drop for Guarded<B, F, C> {
    fn drop(&mut self) {
        // Still holding the permit: dropped before completing, a cancelled call.
        if let Some(p) = self.permit.take() {
            self.breaker.cancel_raw(p);
        }
    }
}

impl Breaker {
    /// Run the future `make` builds through the breaker: admitted now, `Ok`
    /// a success and `Err` a failure when it completes, a cancelled call if
    /// dropped before ([`Config::cancellation`](crate::Config::cancellation)).
    /// Any executor; no runtime dependency.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock};
    /// use std::{future::Future, pin::pin, sync::Arc, task::{Context, Poll}};
    ///
    /// let breaker = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new()))?;
    /// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
    /// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
    /// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    /// let mut cx = Context::from_waker(&waker);
    /// let fut = breaker.call_async(|| async { Ok::<_, std::io::Error>(42) });
    /// assert_eq!(pin!(fut).poll(&mut cx).map(|r| r.ok()), Poll::Ready(Some(42)));
    ///
    /// // Dropped before it completes: neither success nor failure.
    /// let fut = breaker.call_async(|| std::future::pending::<Result<(), ()>>());
    /// drop(fut);
    /// let m = breaker.metrics();
    /// assert_eq!((m.successes, m.failures, m.window.calls), (1, 0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_async<T, E, F>(
        &self,
        make: impl FnOnce() -> F,
    ) -> Guarded<&Breaker, F, ByResult<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        Guarded::new(self, by_result::<T, E> as ByResult<T, E>, make)
    }

    /// [`Breaker::call_async`] with your own classification.
    ///
    /// ```rust
    /// use fusebox::{Breaker, CallError, Config, Outcome};
    /// use std::{future::Future, pin::pin, task::{Context, Poll}};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let classify = |r: &Result<(), u16>| match r {
    ///     Err(s) if *s >= 500 => Outcome::Failure,
    ///     Err(_) => Outcome::Ignored, // a 404 says nothing about health
    ///     Ok(()) => Outcome::Success,
    /// };
    /// let fut = breaker.call_async_with(classify, || async { Err(404) });
    /// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
    /// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
    /// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    /// let mut cx = Context::from_waker(&waker);
    /// assert_eq!(pin!(fut).poll(&mut cx), Poll::Ready(Err(CallError::Failed(404))));
    /// assert_eq!(breaker.metrics().ignored, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_async_with<T, E, F, C>(
        &self,
        classify: C,
        make: impl FnOnce() -> F,
    ) -> Guarded<&Breaker, F, C>
    where
        F: Future<Output = Result<T, E>>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        Guarded::new(self, classify, make)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::clock::ManualClock;
    use crate::{Cancellation, Config, Phase, RejectReason, State};
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use std::time::Duration;

    /// A future that is pending until its flag says otherwise, then yields
    /// the value: a call that the test completes by hand.
    struct Gate<T>(Arc<std::sync::Mutex<Option<T>>>);

    impl<T> Future for Gate<T> {
        type Output = T;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
            match self.0.lock().unwrap().take() {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending,
            }
        }
    }

    fn gate<T>() -> (Gate<T>, Arc<std::sync::Mutex<Option<T>>>) {
        let slot = Arc::new(std::sync::Mutex::new(None));
        (Gate(slot.clone()), slot)
    }

    /// A waker that does nothing (`Waker::noop` is newer than the MSRV):
    /// the tests poll by hand.
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(&Waker::from(Arc::new(Noop))))
    }

    fn setup(c: crate::ConfigBuilder) -> (Arc<ManualClock>, Breaker) {
        let clock = Arc::new(ManualClock::new());
        let b = Breaker::with_clock(
            c.consecutive_failures(Some(1))
                .open_timeout(Duration::from_secs(10))
                .half_open_max_calls(1)
                .success_threshold(1)
                .build()
                .unwrap(),
            clock.clone(),
        )
        .unwrap();
        (clock, b)
    }

    fn trip_and_wait(clock: &ManualClock, b: &Breaker) {
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_secs(10));
    }

    #[test]
    fn completion_records_success_failure_ignored_across_awaits() {
        let b = Breaker::with_clock(
            Config::builder()
                .min_calls(100)
                .consecutive_failures(None)
                .build()
                .unwrap(),
            Arc::new(ManualClock::new()),
        )
        .unwrap();
        for (value, want) in [
            (Ok(1), (1, 0, 0)),
            (Err(500), (1, 1, 0)),
            (Err(404), (1, 1, 1)),
        ] {
            let (g, slot) = gate::<Result<i32, i32>>();
            let classify = |r: &Result<i32, i32>| match r {
                Ok(_) => Outcome::Success,
                Err(500) => Outcome::Failure,
                Err(_) => Outcome::Ignored,
            };
            let mut fut = std::pin::pin!(b.call_async_with(classify, || g));
            // Pending twice: the permit is held across the awaits.
            assert!(poll(fut.as_mut()).is_pending());
            assert!(poll(fut.as_mut()).is_pending());
            *slot.lock().unwrap() = Some(value);
            let got = poll(fut.as_mut());
            assert_eq!(got, Poll::Ready(value.map_err(CallError::Failed)));
            let m = b.metrics();
            assert_eq!((m.successes, m.failures, m.ignored), want);
        }
    }

    #[test]
    fn a_rejected_call_resolves_at_once_and_is_never_built() {
        let (_, b) = setup(Config::builder());
        b.try_acquire().unwrap().failure();
        let fut = b.call_async(|| -> std::future::Ready<Result<(), ()>> {
            panic!("a rejected call is never built")
        });
        assert!(fut.is_rejected());
        let mut fut = std::pin::pin!(fut);
        match poll(fut.as_mut()) {
            Poll::Ready(Err(CallError::Rejected(r))) => assert_eq!(r.reason, RejectReason::Open),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn admission_is_at_creation_not_first_poll() {
        let (clock, b) = setup(Config::builder());
        trip_and_wait(&clock, &b);
        let fut = b.call_async(|| std::future::ready(Ok::<(), ()>(())));
        assert!(fut.is_probe(), "the probe slot is taken before any poll");
        assert_eq!(
            b.try_acquire().unwrap_err().reason,
            RejectReason::HalfOpenFull
        );
        let mut fut = std::pin::pin!(fut);
        assert!(poll(fut.as_mut()).is_ready());
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_cancelled_probe_gives_its_slot_back() {
        for policy in [Cancellation::Release, Cancellation::SlowIfOverdue] {
            let (clock, b) = setup(
                Config::builder()
                    .cancellation(policy)
                    .slow_call_duration(Some(Duration::from_secs(1))),
            );
            trip_and_wait(&clock, &b);
            let (g, _slot) = gate::<Result<(), ()>>();
            let mut fut = Box::pin(b.call_async(|| g));
            assert!(fut.is_probe());
            assert!(poll(fut.as_mut()).is_pending());
            clock.advance(Duration::from_secs(5)); // overdue, but a probe
            drop(fut);
            assert_eq!(b.state(), State::HalfOpen);
            let next = b.try_acquire().expect("the slot came back");
            assert!(next.is_probe());
            let m = b.metrics();
            assert_eq!((m.successes, m.failures, m.slow), (0, 1, 0), "{policy:?}");
            next.success();
            assert_eq!(b.state(), State::Closed);
        }
    }

    #[test]
    fn a_cancelled_probe_under_failure_reopens() {
        let (clock, b) = setup(Config::builder().cancellation(Cancellation::Failure));
        trip_and_wait(&clock, &b);
        let fut = b.call_async(std::future::pending::<Result<(), ()>>);
        assert!(fut.is_probe());
        drop(fut);
        assert_eq!(b.phase(), Phase::Open);
        assert_eq!(b.metrics().failures, 2);
    }

    #[test]
    fn a_call_cancelled_past_slow_call_duration_counts_slow() {
        let cfg = || {
            Config::builder()
                .min_calls(100)
                .slow_call_duration(Some(Duration::from_secs(2)))
        };
        let (clock, b) = setup(cfg());
        // Cancelled early: nothing counted.
        let mut early = Box::pin(b.call_async(std::future::pending::<Result<(), ()>>));
        assert!(poll(early.as_mut()).is_pending());
        clock.advance(Duration::from_secs(2)); // exactly the duration: not slow
        drop(early);
        assert_eq!(b.metrics().window.calls, 0);
        // Cancelled after 3 s: one slow call, no failure, the run untouched.
        let late = b.call_async(std::future::pending::<Result<(), ()>>);
        clock.advance(Duration::from_secs(3));
        drop(late);
        let m = b.metrics();
        assert_eq!(
            (m.window.calls, m.slow, m.failures, m.window.slow),
            (1, 1, 0, 1)
        );
        // Released policy: never counted.
        let (clock, b) = setup(cfg().cancellation(Cancellation::Release));
        let late = b.call_async(std::future::pending::<Result<(), ()>>);
        clock.advance(Duration::from_secs(3));
        drop(late);
        assert_eq!(b.metrics().window.calls, 0);
        // Slow-call detection off: never counted either.
        let (clock, b) = setup(Config::builder().min_calls(100));
        let late = b.call_async(std::future::pending::<Result<(), ()>>);
        clock.advance(Duration::from_secs(3));
        drop(late);
        assert_eq!(b.metrics().window.calls, 0);
    }

    #[test]
    fn a_cancelled_call_under_failure_counts_a_failure_and_trips() {
        let (_, b) = setup(Config::builder().cancellation(Cancellation::Failure));
        drop(b.call_async(std::future::pending::<Result<(), ()>>));
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.metrics().failures, 1);
    }

    #[test]
    fn a_completed_call_dropped_after_records_once() {
        let (_, b) = setup(Config::builder().cancellation(Cancellation::Failure));
        let mut fut = Box::pin(b.call_async(|| std::future::ready(Ok::<_, ()>(3))));
        assert_eq!(poll(fut.as_mut()), Poll::Ready(Ok(3)));
        drop(fut);
        let m = b.metrics();
        assert_eq!((m.successes, m.failures), (1, 0));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn an_arc_held_breaker_makes_a_static_future() {
        fn is_static<T: 'static + Send>(_: &T) {}
        let b = Arc::new(Breaker::new(Config::default()).unwrap());
        let fut = Guarded::new(b.clone(), by_result::<u8, ()>, || std::future::ready(Ok(1)));
        is_static(&fut);
        let mut fut = Box::pin(fut);
        assert_eq!(poll(fut.as_mut()), Poll::Ready(Ok(1)));
    }
}
