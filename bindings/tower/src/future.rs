//! The future of a call through a breaker or bulkhead layer.

use crate::BoxError;
use crate::classify::Classify;
use crate::guard::Guard;
use crate::rejected::Rejected;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The response future of [`crate::CircuitBreaker`],
    /// [`crate::KeyedCircuitBreaker`] and [`crate::Bulkhead`]: the inner
    /// call holding its admission, or a rejection that resolves at once.
    /// Dropped before it completes, it is a cancelled call
    /// (`fusebox::Config::cancellation`). The classifier sees the inner
    /// error boxed; an inner layer's [`Rejected`] is not classified (the
    /// permit is given back uncounted: the dependency was not called).
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Admitted { #[pin] fut: F, guard: Guard, classify: C },
        Unguarded { #[pin] fut: F },
        Rejected { rejected: Option<Rejected> },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn admitted(fut: F, guard: Guard, classify: C) -> Self {
        ResponseFuture {
            state: State::Admitted {
                fut,
                guard,
                classify,
            },
        }
    }

    pub(crate) fn unguarded(fut: F) -> Self {
        ResponseFuture {
            state: State::Unguarded { fut },
        }
    }

    pub(crate) fn rejected(r: Rejected) -> Self {
        ResponseFuture {
            state: State::Rejected { rejected: Some(r) },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, BoxError>,
{
    type Output = Result<T, BoxError>;

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
                Poll::Ready(r)
            }
            StateProj::Unguarded { fut } => fut.poll(cx).map_err(Into::into),
            StateProj::Rejected { rejected } => Poll::Ready(Err(Box::new(
                rejected
                    .take()
                    .expect("fusebox_tower::ResponseFuture polled after it completed"),
            ))),
        }
    }
}
