//! Observability: the event thread and its listeners, the Prometheus
//! text exposition, and `tracing` events (feature `tracing`).

pub mod events;
pub mod prometheus;
pub(crate) mod trace;
