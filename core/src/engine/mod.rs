//! The breaker engine: the state word and its transitions ([`state`]), the
//! layout of a breaker's words ([`layout`]), admission and recording
//! ([`breaker`]), the sliding windows ([`window`]), permits ([`permit`]), calls that are futures
//! ([`guarded`]),
//! the calling thread's stripe ([`thread_slot`]), metrics, configuration,
//! the clock, the registry by name ([`registry`]) and the bounded set by
//! key ([`keyed`]).

pub(crate) mod breaker;
pub mod clock;
pub mod config;
pub(crate) mod count_window;
pub(crate) mod error;
pub(crate) mod guarded;
pub mod input;
pub mod keyed;
pub(crate) mod layout;
pub(crate) mod lease;
#[cfg(all(test, loom))]
mod loom;
pub(crate) mod metrics;
pub(crate) mod permit;
pub mod registry;
#[cfg(feature = "serde")]
pub(crate) mod registry_snapshot;
#[cfg(feature = "serde")]
pub mod snapshot;
pub(crate) mod state;
pub(crate) mod thread_slot;
pub(crate) mod window;
pub(crate) mod words;
