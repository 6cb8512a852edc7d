//! The future of a call through a breaker or bulkhead layer.

use crate::BoxError;
use crate::classify::Classify;
use crate::error::Error;
use crate::guard::Admission;
use crate::rejected::{PackedRefusal, Rejected};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The response future of [`crate::CircuitBreaker`],
    /// [`crate::KeyedCircuitBreaker`] and [`crate::Bulkhead`]: the inner
    /// call holding its admission `G`, or a rejection that resolves at
    /// once (no allocation). Dropped before it completes, it is a
    /// cancelled call (`fusebox::Config::cancellation`). The classifier
    /// sees the inner error boxed; an inner layer's [`Rejected`] is not
    /// classified (the permit is given back uncounted: the dependency was
    /// not called).
    pub struct ResponseFuture<F, C, G> {
        #[pin]
        state: State<F, C, G>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C, G> {
        Admitted { #[pin] fut: F, guard: G, classify: C },
        Unguarded { #[pin] fut: F },
        Rejected { rejected: Option<Rejected> },
        Refused { refusal: PackedRefusal },
    }
}

impl<F, C, G> ResponseFuture<F, C, G> {
    #[inline]
    pub(crate) fn admitted(fut: F, guard: G, classify: C) -> Self {
        ResponseFuture {
            state: State::Admitted {
                fut,
                guard,
                classify,
            },
        }
    }

    /// A breaker's rejection: polled (again), it gives the refusal.
    #[inline]
    pub(crate) fn refused(r: fusebox::Rejected) -> Self {
        ResponseFuture {
            state: State::Refused {
                refusal: PackedRefusal::pack(r),
            },
        }
    }

    pub(crate) fn unguarded(fut: F) -> Self {
        ResponseFuture {
            state: State::Unguarded { fut },
        }
    }

    #[inline]
    pub(crate) fn rejected(r: Rejected) -> Self {
        ResponseFuture {
            state: State::Rejected { rejected: Some(r) },
        }
    }
}

impl<F, C, G, T, E> Future for ResponseFuture<F, C, G>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, BoxError>,
    G: Admission,
{
    type Output = Result<T, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted {
                fut,
                guard,
                classify,
            } => {
                let r = std::task::ready!(fut.poll(cx)).map_err(Into::into);
                match &r {
                    // An inner layer's refusal: the dependency was not
                    // called, so nothing is learnt about it.
                    Err(e) if Rejected::find(&**e).is_some() => guard.release(),
                    _ => guard.finish(classify.classify(&r)),
                }
                Poll::Ready(r.map_err(Error::inner))
            }
            StateProj::Unguarded { fut } => fut.poll(cx).map_err(|e| Error::inner(e.into())),
            StateProj::Refused { refusal } => Poll::Ready(Err(Error::refused(refusal.unpack()))),
            StateProj::Rejected { rejected } => Poll::Ready(Err(Error::refused(
                rejected
                    .take()
                    .expect("fusebox_tower::ResponseFuture polled after it completed"),
            ))),
        }
    }
}
