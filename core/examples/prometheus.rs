//! The Prometheus text exposition of a registry's breakers, as a `/metrics`
//! handler would serve it (content type `fusebox::prometheus::CONTENT_TYPE`).
//!
//! `cargo run -p fusebox --example prometheus`

use fusebox::{Config, ManualClock, Registry};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new(Config::default(), Arc::new(ManualClock::new()));

    let payments = registry.get_or_create("payments")?;
    for _ in 0..8 {
        payments.try_acquire()?.success();
    }
    payments.try_acquire()?.ignore();

    let inventory = registry.get_or_create("inventory")?;
    for _ in 0..5 {
        inventory.try_acquire()?.failure(); // five in a row: it opens
    }
    let _ = inventory.try_acquire(); // rejected

    print!("{}", registry.prometheus());
    Ok(())
}
