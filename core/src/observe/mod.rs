//! Observability: the event thread and its listeners, and the Prometheus
//! text exposition.

pub mod events;
pub mod prometheus;
