//! A `reqwest-middleware` middleware with a breaker per host, from a
//! `fusebox::KeyedBreakers`, judging responses by [`crate::classify_status`].

use crate::Verdict;
use crate::guard::{Admission, BreakerGuard};
use crate::http_classify::classify_status;
use crate::rejected::Rejected;
use fusebox::KeyedBreakers;
use reqwest_middleware::{Middleware, Next};
use std::sync::Arc;
use std::time::SystemTime;

/// Per-host breakers for a `reqwest_middleware::ClientWithMiddleware`.
/// The key is the URL's `host` or `host:port` (the port when the URL
/// names one). 5xx responses and transport errors are failures, 4xx
/// ignored, a 429 or 503 with `Retry-After` opens the host's breaker for
/// that long (capped by `max_open_for`). A refused request never leaves
/// the process: it ends in `reqwest_middleware::Error::Middleware` holding
/// a [`Rejected`] ([`rejection`] finds it). A request whose future is
/// dropped is a cancelled call (`Config::cancellation`). A host whose
/// breaker cannot be had (the set is full of breakers holding history) is
/// called unguarded.
///
/// ```rust
/// use fusebox::{ClockSource, Config, KeyedBreakers};
/// use fusebox_tower::reqwest::CircuitBreakerMiddleware;
/// use std::sync::Arc;
///
/// let hosts = Arc::new(KeyedBreakers::new("hosts", 1000, Config::default(), ClockSource::Monotonic)?);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(CircuitBreakerMiddleware::new(hosts))
///     .build();
/// # Ok::<(), fusebox::KeyedError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerMiddleware {
    breakers: Arc<KeyedBreakers>,
}

impl CircuitBreakerMiddleware {
    /// A middleware over `breakers` (example on [`CircuitBreakerMiddleware`]).
    pub fn new(breakers: Arc<KeyedBreakers>) -> Self {
        CircuitBreakerMiddleware { breakers }
    }

    /// The breakers.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    /// use fusebox_tower::reqwest::CircuitBreakerMiddleware;
    /// use std::sync::Arc;
    ///
    /// let hosts = Arc::new(KeyedBreakers::new("hosts", 10, Config::default(), ClockSource::Monotonic)?);
    /// assert!(CircuitBreakerMiddleware::new(hosts).breakers().is_empty());
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn breakers(&self) -> &Arc<KeyedBreakers> {
        &self.breakers
    }
}

/// The key of a URL: `host`, or `host:port` when it names a port.
fn host_key(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// The [`Rejected`] in a `reqwest_middleware::Error`, if the middleware
/// refused the request.
///
/// ```rust
/// let err = reqwest_middleware::Error::middleware(std::io::Error::other("other"));
/// assert!(fusebox_tower::reqwest::rejection(&err).is_none());
/// ```
pub fn rejection(err: &reqwest_middleware::Error) -> Option<&Rejected> {
    match err {
        reqwest_middleware::Error::Middleware(e) => e.downcast_ref::<Rejected>(),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}

#[async_trait::async_trait]
impl Middleware for CircuitBreakerMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let breaker = host_key(req.url()).and_then(|k| self.breakers.get_or_create(&k).ok());
        let Some(breaker) = breaker else {
            return next.run(req, extensions).await;
        };
        let permit = breaker
            .acquire_raw()
            .map_err(|r| reqwest_middleware::Error::middleware(Rejected::from(r)))?;
        // Dropped with the future before `finish`: a cancelled call.
        let mut guard = BreakerGuard::new(breaker, permit);
        let r = next.run(req, extensions).await;
        guard.finish(match &r {
            Ok(resp) => classify_status(resp.status(), resp.headers(), SystemTime::now()),
            Err(_) => Verdict::failure(),
        });
        r
    }
}
