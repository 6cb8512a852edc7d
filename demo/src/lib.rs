//! The fusebox demo: the basic usage example, then a cascading failure
//! (`docs/semantics.md#cascading-failure`)
//! run twice, without breakers and with fusebox; then retries, naive and
//! with a retry budget.

pub mod cascade;
pub mod report;
pub mod retry_storm;
pub mod usage;
