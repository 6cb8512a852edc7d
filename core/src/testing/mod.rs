//! Test support (feature `testing`): the sequential model of the breaker's
//! semantics, and the runner of the language-neutral scenario files.

pub mod model;
pub mod scenario;
