//! Detection beyond the breaker's window: latency histograms and adaptive
//! timeouts.

pub mod histogram;
pub mod timeout;
