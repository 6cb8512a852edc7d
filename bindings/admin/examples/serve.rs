//! Serve a small registry's admin endpoint and print the dashboard's URL:
//! three breakers under made-up traffic (20 calls a second each): payments
//! healthy, search failing one call in five, inventory down (open, probing
//! again every 5 s and opening again).
//!
//! `cargo run -p fusebox-admin --example serve [SECONDS] [ADDR]`
//!
//! With SECONDS it exits after that many seconds (0: at once); without, it
//! runs until killed. ADDR defaults to 127.0.0.1:9464 (port 0: any free
//! port). The controls take the token in `FUSEBOX_ADMIN_TOKEN`, if set.

use fusebox::{Config, Registry};
use fusebox_admin::{serve, AdminConfig};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let mut config = AdminConfig::default();
    if let Some(addr) = args.next() {
        config.addr = addr.parse()?;
    }
    config.token = std::env::var("FUSEBOX_ADMIN_TOKEN").ok();

    let registry = Arc::new(Registry::new(
        Config::builder()
            .consecutive_failures(Some(3))
            .open_timeout(Duration::from_secs(5))
            .build()?,
        fusebox::ClockSource::Monotonic,
    ));
    for name in ["payments:charge", "inventory:reserve", "search:query"] {
        let breaker = registry.get_or_create(name)?;
        for _ in 0..20 {
            let _ = breaker.call(|| Ok::<_, ()>(()));
        }
    }
    // The inventory service is down: three failures open its breaker.
    let inventory = registry.get_or_create("inventory:reserve")?;
    for _ in 0..3 {
        let _ = inventory.call(|| Err::<(), _>("connection refused"));
    }
    let _ = inventory.call(|| Ok::<_, ()>(())); // rejected

    // The traffic (the example's own; a real service's calls go here).
    let traffic = registry.clone();
    std::thread::spawn(move || {
        for i in 0u64.. {
            for (name, fails) in [
                ("payments:charge", false),
                ("search:query", i % 5 == 0),
                ("inventory:reserve", true),
            ] {
                if let Ok(b) = traffic.get_or_create(name) {
                    let _ = b.call(|| if fails { Err("failed") } else { Ok(()) });
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });

    let admin = serve(registry, config)?;
    println!("fusebox admin at {}", admin.url());
    match seconds {
        Some(s) => std::thread::sleep(Duration::from_secs(s)),
        None => loop {
            std::thread::park();
        },
    }
    admin.stop();
    Ok(())
}
