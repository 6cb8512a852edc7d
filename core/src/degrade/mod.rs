//! Degrading gracefully: fallbacks, rate limits and load shedding.

pub mod fallback;
pub mod limiter;
pub mod shedder;
