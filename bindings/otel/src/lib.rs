//! fusebox's breakers and bulkheads as OpenTelemetry metrics.
//!
//! Every instrument is observable (asynchronous): its callback reads the
//! breakers' counters when the application's reader collects, so a call
//! through a breaker costs nothing more than it did without this crate.
//!
//! | instrument | kind | unit | attributes |
//! |---|---|---|---|
//! | `fusebox.breaker.calls` | counter | `{call}` | `fusebox.breaker.name`, `outcome` (`success`, `failure`, `ignored`) |
//! | `fusebox.breaker.rejections` | counter | `{call}` | `fusebox.breaker.name` |
//! | `fusebox.breaker.slow_calls` | counter | `{call}` | `fusebox.breaker.name` |
//! | `fusebox.breaker.state` | up-down counter, 1 for the current state and 0 for the others | `1` | `fusebox.breaker.name`, `state` (`closed`, `open`, `half_open`) |
//! | `fusebox.breaker.state_changes` | counter | `{transition}` | `fusebox.breaker.name` |
//! | `fusebox.breaker.failure_rate`, `fusebox.breaker.slow_call_rate` | gauge, in the current window | `1` | `fusebox.breaker.name` |
//! | `fusebox.bulkhead.in_flight` | up-down counter | `{call}` | `fusebox.bulkhead.name` |
//! | `fusebox.bulkhead.limit` | up-down counter | `{call}` | `fusebox.bulkhead.name` |
//! | `fusebox.bulkhead.rejections` | counter | `{call}` | `fusebox.bulkhead.name` |
//!
//! ```rust
//! use fusebox::Registry;
//! use opentelemetry::metrics::MeterProvider;
//! use std::sync::Arc;
//! # let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
//!
//! // `provider`: the application's meter provider, with its exporter.
//! let registry = Arc::new(Registry::default());
//! let _instruments = fusebox_otel::observe_registry(&provider.meter("fusebox"), registry.clone());
//! registry.get_or_create("payments")?.try_acquire()?.success();
//! // The next collection reports fusebox.breaker.calls{outcome="success"} = 1.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod breakers;
mod bulkheads;

pub use breakers::{observe_registry, RegistryInstruments};
pub use bulkheads::{observe_bulkheads, BulkheadInstruments};

/// The attribute naming a breaker.
pub const BREAKER_NAME: &str = "fusebox.breaker.name";
/// The attribute naming a bulkhead.
pub const BULKHEAD_NAME: &str = "fusebox.bulkhead.name";
