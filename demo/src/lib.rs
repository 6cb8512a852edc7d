//! The fusebox demo: the basic usage example, then a cascading failure
//! (`docs/semantics.md#cascading-failure`)
//! run twice, without breakers and with fusebox; then retries, naive and
//! with a retry budget. The cascade is also drawn: [`page`] writes an HTML
//! page of charts.

pub mod cascade;
pub mod chart;
pub mod page;
pub mod report;
pub mod retry_storm;
pub mod samples;
pub mod usage;
