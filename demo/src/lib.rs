//! The fusebox demo: the basic usage example, then the cascade of SPEC §1
//! run twice, without breakers and with fusebox.

pub mod cascade;
pub mod report;
pub mod usage;
