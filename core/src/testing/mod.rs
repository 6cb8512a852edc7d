//! Test support (feature `testing`): the sequential model of the breaker's
//! semantics, and the runners of the language-neutral scenario files
//! (the breaker's, and the retry policy's in `scenarios/retry/`).

pub mod model;
pub mod retry_scenario;
pub mod scenario;
