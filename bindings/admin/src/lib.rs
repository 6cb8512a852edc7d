//! A live admin endpoint for a [`fusebox::Registry`], in the spirit of the
//! Hystrix dashboard: one call starts it, dropping the handle stops it.
//!
//! | path | method | answer |
//! |---|---|---|
//! | `/` | GET | the dashboard page: every breaker, live |
//! | `/metrics` | GET | Prometheus text ([`fusebox::prometheus::render_registry`]) |
//! | `/breakers` | GET | JSON: every breaker's state, rates, thresholds, counts |
//! | `/breakers/{name}` | GET | JSON: one breaker (name percent-encoded) |
//! | `/events` | GET | server-sent events: one `transition` per state change |
//! | `/breakers/{name}/force_open`, `disable`, `reset` | POST | with `Authorization: Bearer TOKEN` |
//!
//! Bound to 127.0.0.1 by default. Without a configured token every control
//! is refused with 403; a missing or wrong token gets 401. Unknown paths
//! get 404, wrong methods 405 (with `Allow`).
//!
//! ```rust
//! use fusebox_admin::{serve, AdminConfig};
//! use fusebox::Registry;
//! use std::sync::Arc;
//!
//! let registry = Arc::new(Registry::default());
//! registry.get_or_create("payments")?;
//! let admin = serve(registry, AdminConfig::loopback(0).with_token("s3cret"))?;
//! println!("dashboard at {}", admin.url());
//! drop(admin); // stops it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod config;
mod json;
mod listener;
mod page;
mod path;
mod routes;
mod server;
mod stream;

pub use config::{AdminConfig, DEFAULT_PORT};
pub use server::{serve, AdminError, AdminHandle};
