//! Turning a layer's error into an HTTP response, for servers: a rejection
//! is a 503 with `Retry-After`, a time-out a 504, anything else a 500.

use crate::rejected::Rejected;
use crate::timeout_layer::TimedOut;
use http::{HeaderValue, Response, StatusCode, header};

impl Rejected {
    /// A `503 Service Unavailable` saying why, with `Retry-After` in whole
    /// seconds (rounded up) when the rejection knows when to retry.
    ///
    /// ```rust
    /// use fusebox::RejectReason;
    /// use fusebox_tower::{Reason, Rejected};
    /// use std::time::Duration;
    ///
    /// let r = Rejected {
    ///     reason: Reason::Breaker(RejectReason::Open),
    ///     retry_after: Some(Duration::from_millis(1500)),
    /// };
    /// let resp: http::Response<String> = r.to_response();
    /// assert_eq!(resp.status(), 503);
    /// assert_eq!(resp.headers()["retry-after"], "2");
    /// assert_eq!(resp.body(), "circuit open; retry after 1.500 s");
    /// ```
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let mut resp = Response::new(B::from(self.to_string()));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        if let Some(d) = self.retry_after {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// The response for an error out of a stack of this crate's layers: a
/// [`Rejected`] anywhere in its chain is [`Rejected::to_response`] (503),
/// a [`TimedOut`] a `504 Gateway Timeout`, anything else a `500 Internal
/// Server Error`. For axum's `HandleErrorLayer`:
///
/// ```rust
/// use axum::{error_handling::HandleErrorLayer, routing::get, Router};
/// use fusebox::bulkhead::Bulkhead;
/// use fusebox_tower::{error_response, BulkheadLayer};
/// use std::sync::Arc;
/// use tower::ServiceBuilder;
///
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
///     ServiceBuilder::new()
///         .layer(HandleErrorLayer::new(|e: fusebox_tower::Error| async move {
///             error_response::<axum::body::Body>(&e)
///         }))
///         .layer(BulkheadLayer::new(Arc::new(Bulkhead::new(64)?))),
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn error_response<B: From<String>>(err: &(dyn std::error::Error + 'static)) -> Response<B> {
    if let Some(r) = Rejected::find(err) {
        return r.to_response();
    }
    let status = if TimedOut::find(err).is_some() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut resp = Response::new(B::from(err.to_string()));
    *resp.status_mut() = status;
    resp
}
