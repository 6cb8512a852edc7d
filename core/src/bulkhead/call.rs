//! Running a function in a slot: acquire, run, report, release.

use super::{Bulkhead, BulkheadCallError};
use crate::engine::permit::Outcome;

impl Bulkhead {
    /// Run `f` in a slot (waiting up to `max_wait` for one): `Ok` is a
    /// success, `Err` a failure.
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, BulkheadCallError};
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// assert_eq!(b.call(|| Ok::<_, String>(42)), Ok(42));
    /// let r = b.call(|| Err::<u32, _>("timeout".to_string()));
    /// assert_eq!(r, Err(BulkheadCallError::Failed("timeout".to_string())));
    /// let m = breaker.metrics();
    /// assert_eq!((m.successes, m.failures, b.in_flight()), (1, 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, BulkheadCallError<E>> {
        self.call_with(
            |r: &Result<T, E>| {
                if r.is_ok() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            },
            f,
        )
    }

    /// Run `f` in a slot; `classify` decides the outcome.
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, BulkheadCallError};
    /// use fusebox::{Breaker, Config, Outcome};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// // A "not found" says nothing about the dependency's health.
    /// let classify = |r: &Result<u32, &str>| match r {
    ///     Err(e) if *e == "not found" => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// };
    /// let r = b.call_with(classify, || Err("not found"));
    /// assert_eq!(r, Err(BulkheadCallError::Failed("not found")));
    /// let m = breaker.metrics();
    /// assert_eq!((m.ignored, m.failures), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_with<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, BulkheadCallError<E>> {
        let permit = self.acquire()?;
        // A panic in `f` drops the permit, which frees the slot.
        let r = f();
        permit.record(classify(&r));
        r.map_err(BulkheadCallError::Failed)
    }
}
