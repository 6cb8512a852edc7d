//! tower layers over fusebox: a circuit breaker (one, or one per host),
//! a bulkhead with a fixed or adaptive limit, an adaptive timeout, and
//! retries and hedged requests paid from a retry budget;
//! classifiers for HTTP and gRPC; with the `reqwest` feature, a
//! `reqwest-middleware` middleware with per-host breakers.
//!
//! The layers follow tower's load-shedding convention: `poll_ready` only
//! asks the inner service, admission is decided in `call`, and a refused
//! call's future resolves at once to an [`Error`] holding a [`Rejected`]
//! (no allocation) with the reason and when to retry. They compose in `ServiceBuilder`, need no
//! `Clone` on the request, and depend on no runtime.
//!
//! ```rust
//! use fusebox::bulkhead::Bulkhead;
//! use fusebox::{ClockSource, Config, KeyedBreakers};
//! use fusebox_tower::{BulkheadLayer, HttpClassifier, KeyedCircuitBreakerLayer};
//! use std::sync::Arc;
//! use tower::ServiceBuilder;
//!
//! let hosts = Arc::new(KeyedBreakers::new("hosts", 10_000, Config::default(), ClockSource::Monotonic)?);
//! let stack = ServiceBuilder::new()
//!     .layer(KeyedCircuitBreakerLayer::new(hosts).classify(HttpClassifier))
//!     .layer(BulkheadLayer::new(Arc::new(Bulkhead::new(100)?)).classify(HttpClassifier));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A call whose future is dropped before it completes (a client gave up,
//! a `select!` lost, a time-out fired) is a *cancelled* call: neither a
//! success nor a failure, unless it ran past the breaker's
//! `slow_call_duration` (then one slow call), as `Config::cancellation`
//! says (`docs/semantics.md#cancelled-calls`).

#![warn(missing_docs)]

mod breaker_layer;
mod bulkhead_layer;
mod classify;
mod error;
mod future;
pub mod grpc;
mod guard;
mod hedge_layer;
mod hold;
mod http_classify;
mod key;
mod keyed_layer;
mod rejected;
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod response;
mod retry_after;
mod retry_layer;
mod timeout_layer;

pub use breaker_layer::{CircuitBreaker, CircuitBreakerLayer};
pub use bulkhead_layer::{Bulkhead, BulkheadLayer};
pub use classify::{ByResult, Classify, Verdict};
pub use error::Error;
pub use future::ResponseFuture;
pub use guard::{Admission, BreakerGuard, BulkheadGuard};
pub use hedge_layer::{HedgeFuture, HedgeLayer, HedgeService};
pub use hold::HoldBreaker;
pub use http_classify::{HttpClassifier, classify_status};
pub use key::{HostKey, KeyOf};
pub use keyed_layer::{KeyedCircuitBreaker, KeyedCircuitBreakerLayer};
pub use rejected::{Reason, Rejected};
pub use response::error_response;
pub use retry_after::retry_after;
pub use retry_layer::{Retry, RetryFuture, RetryLayer};
pub use timeout_layer::{AdaptiveTimeoutLayer, AdaptiveTimeoutService, TimedOut, TimeoutFuture};

/// A boxed error (tower's convention): what the adaptive timeout's service
/// returns, and how the breaker and bulkhead services hand the inner
/// service's error to a classifier and keep it in their [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
