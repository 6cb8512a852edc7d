//! The fusebox demo: the basic usage example, then a cascading failure
//! (`docs/semantics.md#cascading-failure`)
//! run twice, without breakers and with fusebox.

pub mod cascade;
pub mod report;
pub mod usage;
