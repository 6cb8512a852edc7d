//! The demo's breakers (`cargo run -p fusebox-demo`, part 2) on the admin
//! dashboard, in real time: an order service calls inventory (a primary
//! database and a standby replica), payment and logistics, 20 orders a
//! second. The primary is down for the first OUTAGE seconds: its breaker
//! opens, probes every 5 s and opens again, and the orders go to the
//! standby; after the outage a probe succeeds and it closes. Logistics
//! fails one call in ten (its failure rate shows, under the threshold).
//!
//! `cargo run -p fusebox-admin --example cascade [SECONDS] [ADDR] [OUTAGE]`
//!
//! SECONDS and ADDR as in the `serve` example (run until killed; 127.0.0.1:9464);
//! OUTAGE defaults to 60.

use fusebox::{Config, Registry};
use fusebox_admin::{serve, AdminConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let mut config = AdminConfig::default();
    if let Some(addr) = args.next() {
        config.addr = addr.parse()?;
    }
    let outage = Duration::from_secs(args.next().map(|s| s.parse()).transpose()?.unwrap_or(60));
    config.token = std::env::var("FUSEBOX_ADMIN_TOKEN").ok();

    // The demo's breaker settings.
    let registry = Arc::new(Registry::new(
        Config::builder()
            .consecutive_failures(Some(5))
            .failure_rate_threshold(0.5)
            .min_calls(20)
            .open_timeout(Duration::from_secs(5))
            .half_open_max_calls(3)
            .success_threshold(3)
            .build()?,
        fusebox::ClockSource::Monotonic,
    ));
    let names = [
        "inventory:primary",
        "inventory:standby",
        "payment",
        "logistics",
    ];
    for name in names {
        registry.get_or_create(name)?;
    }

    let traffic = registry.clone();
    let start = Instant::now();
    std::thread::spawn(move || {
        let b = |name| traffic.get_or_create(name).expect("valid name");
        let (primary, standby, payment, logistics) =
            (b(names[0]), b(names[1]), b(names[2]), b(names[3]));
        for i in 0u64.. {
            let down = start.elapsed() < outage;
            // Inventory: the primary, else the standby.
            if primary
                .call(|| if down { Err("timed out") } else { Ok(()) })
                .is_err()
            {
                let _ = standby.call(|| Ok::<_, ()>(()));
            }
            let _ = payment.call(|| Ok::<_, ()>(()));
            let _ = logistics.call(|| if i % 10 == 0 { Err("failed") } else { Ok(()) });
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
