//! The C ABI of fusebox: `include/fusebox.h` is generated from this crate's
//! sources by cbindgen (config in `bindings/c/cbindgen.toml`).
//!
//! This crate is a thin layer: it converts C types to the core's types and
//! the core's errors to status codes; every breaker decision is made by
//! [`fusebox_core::Breaker`].
//!
//! Rules the whole ABI follows:
//!
//! * every fallible function returns an [`fb_status`]; on an error it also
//!   stores a message, read with [`fb_last_error`] (thread-local);
//! * a NULL pointer, a name that is not UTF-8, an out-of-range setting, a
//!   double free or the free of an object the library owns is reported as a
//!   status, never a crash;
//! * every export runs inside `catch_unwind`: no panic crosses the boundary
//!   (`fb_breaker_acquire`'s closed path, which calls nothing, runs before
//!   it);
//! * the hot path ([`fb_breaker_acquire`], [`fb_permit_record`]) allocates
//!   nothing and takes no lock: a permit is a plain value on the caller's
//!   stack, and handles are plain pointers to the core's breaker.
//!
//! Layout: one module per handle kind ([`breaker`], [`permit`],
//! [`config`], [`clock`], [`registry`], [`keyed`], [`bulkhead`], [`retry`],
//! `shared`, [`admin`]), each with its C types and `fb_*` functions, and small
//! private modules for what they share: `status` (the status codes and
//! static strings), `error` (the last-error storage), `panic` (the guard
//! every export runs in), `handles` (the live-handle tables and the lookup
//! of a handle argument) and `args` (the argument checks, each written
//! once and used with `?`). Everything but `fb_bulkhead_*`, `fb_keyed_*`,
//! `fb_shared_*`, `fb_retry_*` and `fb_hedge_*` is re-exported at the root. No module
//! names a path through `crate::`: the fuzz target `c_abi` compiles this
//! file as a module of its own crate.

#![deny(unsafe_op_in_unsafe_fn)]
// The exported names are the C names (`fb_breaker`, `FB_OK`).
#![allow(non_camel_case_types)]

// What the handle kinds share.
mod args;
mod error;
mod handles;
mod panic;
mod status;

// One module per handle kind.
// The admin endpoint (fb_admin_*).
pub mod admin;
pub mod breaker;
// Bulkheads (fb_bulkhead_*).
pub mod bulkhead;
pub mod clock;
pub mod config;
pub mod histogram;
// Keyed sets (fb_keyed_*).
pub mod keyed;
pub mod permit;
// Live reconfiguration (fb_breaker_reconfigure, fb_registry_reconfigure).
pub mod reconfigure;
pub mod registry;
// Retry policies, retry budgets, hedge policies and their step APIs
// (fb_retry_*, fb_hedge_*).
pub mod retry;
// Snapshots of a registry (fb_registry_snapshot_*).
pub mod snapshot;
// Shared-memory breakers (fb_shared_*).
#[cfg(unix)]
pub mod shared;

#[cfg(test)]
mod tests;

pub use admin::*;
pub use breaker::*;
pub use clock::*;
pub use config::*;
pub use error::fb_last_error;
pub use histogram::*;
pub use permit::*;
pub use reconfigure::*;
pub use registry::*;
pub use snapshot::*;
pub use status::*;
