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

mod breaker;
// Detection, degradation and monitoring (docs/semantics.md#adaptive-timeouts
// and the sections after it).
pub mod fallback;
pub mod histogram;
pub mod limiter;
pub mod prometheus;
pub mod shedder;
// Breakers shared by the processes of a host (docs/semantics.md#shared-memory).
#[cfg(all(feature = "shm", unix, not(loom)))]
pub mod shm;
// Under loom, of `shm` only the claim table's protocol (the rest maps a file).
#[cfg(all(feature = "shm", unix, loom))]
mod shm {
    mod claims;
}
pub mod timeout;
// Failover and split brain (docs/semantics.md#failover, docs/semantics.md#fencing).
pub mod coordination;
pub mod failover;
pub mod fencing;
// Bulkheads and adaptive concurrency limits.
pub mod bulkhead;
pub mod clock;
pub mod concurrency;
pub mod config;
mod error;
pub mod events;
pub mod input;
pub mod layout;
mod metrics;
#[doc(hidden)]
pub mod model;
mod permit;
pub mod registry;
#[cfg(feature = "serde")]
pub mod scenario;
mod slot;
pub mod state;
mod sync;
mod window;

pub use breaker::{Breaker, Transition};
pub use bulkhead::{Bulkhead, BulkheadCallError, BulkheadError, BulkheadFull, BulkheadPermit};
pub use clock::{Clock, ClockSource, ManualClock, MonotonicClock};
pub use concurrency::{AdaptiveLimit, LimitConfig};
pub use config::{Backoff, Config, ConfigBuilder, ConfigError, Unit, WindowConfig};
pub use error::{CallError, RejectReason, Rejected};
pub use failover::FailoverGroup;
pub use fallback::{call_or_else, LimitedFallback};
pub use fencing::{FencedResource, FencingToken};
pub use histogram::LatencyHistogram;
pub use input::{ErrorKind, PermitUsed};
pub use limiter::{RateLimited, RateLimiter};
pub use metrics::Metrics;
pub use permit::{Outcome, Permit, RawPermit};
pub use registry::{Registry, RegistryError};
pub use shedder::{Decision, LoadLevel, Priority, Shedder};
pub use state::{Phase, State};
pub use timeout::AdaptiveTimeout;
pub use window::WindowCounts;

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
