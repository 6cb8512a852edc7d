//! Deciding what a finished call says about the dependency: a
//! [`Verdict`], made by a [`Classify`].

use fusebox::Outcome;
use std::time::Duration;

/// What a finished call says: its [`Outcome`] for the window, and, when the
/// dependency asked for a pause (an HTTP `Retry-After`), how long to stay
/// open ([`fusebox::Breaker::open_for`], capped by the config's
/// `max_open_for`).
///
/// ```rust
/// use fusebox::Outcome;
/// use fusebox_tower::Verdict;
/// use std::time::Duration;
///
/// let v = Verdict::from(Outcome::Failure);
/// assert_eq!((v.outcome, v.open_for), (Outcome::Failure, None));
/// let pause = Verdict::failure().open_for(Duration::from_secs(30));
/// assert_eq!(pause.open_for, Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Success, failure or ignored, as the window counts it.
    pub outcome: Outcome,
    /// Open the breaker for this long (the dependency's own hint).
    pub open_for: Option<Duration>,
}

impl Verdict {
    /// A success (example on [`Verdict`]).
    pub const fn success() -> Verdict {
        Verdict {
            outcome: Outcome::Success,
            open_for: None,
        }
    }

    /// A failure (example on [`Verdict`]).
    pub const fn failure() -> Verdict {
        Verdict {
            outcome: Outcome::Failure,
            open_for: None,
        }
    }

    /// Neither: not counted (a 404 says nothing about health).
    ///
    /// ```rust
    /// assert_eq!(fusebox_tower::Verdict::ignored().outcome, fusebox::Outcome::Ignored);
    /// ```
    pub const fn ignored() -> Verdict {
        Verdict {
            outcome: Outcome::Ignored,
            open_for: None,
        }
    }

    /// The same outcome, and open the breaker for `d` (example on
    /// [`Verdict`]).
    pub const fn open_for(mut self, d: Duration) -> Verdict {
        self.open_for = Some(d);
        self
    }
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        Verdict {
            outcome,
            open_for: None,
        }
    }
}

/// Classifies a finished call, response or error. Cloned into each call's
/// future (make it cheap: the ready ones are zero-sized). A closure
/// `Fn(&Result<T, E>) -> Verdict` is one. The layers of this crate hand
/// it the inner service's error boxed (`E` = [`crate::BoxError`]: find a
/// type in it with `downcast_ref`), and never an inner layer's
/// [`crate::Rejected`] (that call gives its permit back uncounted).
///
/// ```rust
/// use fusebox_tower::{Classify, Verdict};
///
/// let by_code = |r: &Result<u16, std::io::Error>| match r {
///     Ok(c) if *c >= 500 => Verdict::failure(),
///     Ok(_) => Verdict::success(),
///     Err(_) => Verdict::failure(),
/// };
/// assert_eq!(by_code.classify(&Ok(503)), Verdict::failure());
/// ```
pub trait Classify<T, E> {
    /// The verdict on one finished call.
    fn classify(&self, result: &Result<T, E>) -> Verdict;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Verdict,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        self(result)
    }
}

/// The plain classifier: `Ok` a success, `Err` a failure.
///
/// ```rust
/// use fusebox_tower::{ByResult, Classify, Verdict};
///
/// assert_eq!(ByResult.classify(&Ok::<_, ()>(1)), Verdict::success());
/// assert_eq!(ByResult.classify(&Err::<(), _>(())), Verdict::failure());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ByResult;

impl<T, E> Classify<T, E> for ByResult {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        if result.is_ok() {
            Verdict::success()
        } else {
            Verdict::failure()
        }
    }
}
