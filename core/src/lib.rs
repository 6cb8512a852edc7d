//! fusebox: a lock-free circuit breaker and failover toolkit.
//!
//! ```
//! use fusebox::{Breaker, CallError, Config};
//! use std::time::Duration;
//!
//! let breaker = Breaker::new(
//!     Config::builder()
//!         .failure_rate_threshold(0.5)
//!         .open_timeout(Duration::from_secs(30))
//!         .build()?,
//! )?;
//!
//! match breaker.call(|| -> Result<u32, std::io::Error> { Ok(42) }) {
//!     Ok(v) => assert_eq!(v, 42),
//!     Err(CallError::Rejected(r)) => println!("fail fast: {r}"),
//!     Err(CallError::Failed(e)) => println!("the call failed: {e}"),
//! }
//!
//! // Or by hand, with a permit:
//! if let Ok(permit) = breaker.try_acquire() {
//!     permit.success();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The exact semantics (states, windows, thresholds, every default) are
//! described in `docs/semantics.md`, and how the engine is built in
//! `docs/architecture.md`, at the root of the repository.

#![warn(missing_docs)]

// The source is folded by capability (docs/architecture.md draws the
// folders); the public paths stay flat, re-exported below.
mod engine;
// Detection beyond the window (docs/semantics.md#adaptive-timeouts).
mod detect;
// Fallbacks, rate limits and load shedding.
mod degrade;
// Bulkheads and adaptive concurrency limits.
pub mod bulkhead;
// Retry budgets and retry policies (docs/semantics.md#retries-and-the-retry-budget).
pub mod retry;
// Failover, elections, fencing and coordination (docs/semantics.md#failover,
// docs/semantics.md#fencing).
#[cfg(feature = "failover")]
pub mod failover;
// Breakers shared by the processes of a host (docs/semantics.md#shared-memory).
#[cfg(all(feature = "shm", unix, not(loom)))]
pub mod shm;
// Under loom, of `shm` only the claim table's protocol (the rest maps a file).
#[cfg(all(feature = "shm", unix, loom))]
mod shm {
    mod claims;
}
// Events off the hot path, and the Prometheus exposition.
mod observe;
// The contract between the core and its bindings (the state word's address
// and layout, the admission shortcut, success batches, the codes the front
// ends share): for the bindings in this repository, not a public API.
#[doc(hidden)]
pub mod bindings;
// The sequential model and the scenario runner, for tests of this crate,
// the bindings and the fuzz targets.
#[cfg(feature = "testing")]
pub mod testing;
// The loom shim: every sync primitive the protocols use.
mod sync;

pub use bulkhead::concurrency;
pub use degrade::{fallback, limiter, shedder};
pub use detect::{histogram, timeout};
#[cfg(feature = "serde")]
pub use engine::registry_snapshot::Restored;
#[cfg(feature = "serde")]
pub use engine::snapshot;
pub use engine::{clock, config, input, keyed, registry};
#[cfg(feature = "failover")]
pub use failover::{coordination, fencing};
pub use observe::{events, prometheus};
#[cfg(feature = "testing")]
pub use testing::{model, retry_scenario, scenario};

pub use bulkhead::{Bulkhead, BulkheadCallError, BulkheadError, BulkheadFull, BulkheadPermit};
pub use clock::{Clock, ClockSource, ManualClock, MonotonicClock};
pub use concurrency::{AdaptiveLimit, LimitConfig};
pub use config::{Backoff, Cancellation, Config, ConfigBuilder, ConfigError, Unit, WindowConfig};
pub use engine::breaker::{Breaker, Reconfigured, Transition};
pub use engine::error::{CallError, RejectReason, Rejected};
pub use engine::guarded::{ByResult, Guarded};
pub use engine::lease::{BreakerLease, SharedBreaker};
pub use engine::metrics::Metrics;
pub use engine::permit::{Outcome, Permit, RawPermit};
pub use engine::state::{Phase, State};
pub use engine::window::WindowCounts;
#[cfg(feature = "failover")]
pub use failover::FailoverGroup;
pub use fallback::{call_or_else, LimitedFallback};
#[cfg(feature = "failover")]
pub use fencing::{FencedResource, FencingToken};
pub use histogram::LatencyHistogram;
pub use input::{ArgumentError, ErrorKind, PermitUsed};
pub use keyed::{KeyedBreakers, KeyedError, KeyedStats};
pub use limiter::{RateLimited, RateLimiter};
pub use registry::{Registry, RegistryError};
pub use retry::{RetryBudget, RetryBudgetConfig, RetryError, RetryPolicy};
pub use shedder::{Decision, LoadLevel, Priority, Shedder};
pub use timeout::AdaptiveTimeout;

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
