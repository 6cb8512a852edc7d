//! Printing the cascade's results.

use crate::cascade::{Params, Report};
use std::fmt::Write as _;

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

/// The scenario in words.
pub fn scenario(p: &Params) -> String {
    format!(
        "An order service with {} workers takes {} orders/s; each order calls inventory \
         ({} ms), payment ({} ms) and logistics ({} ms) in turn, holding its worker. \
         At T+0 inventory's database turns slow ({} s per response); it recovers at T+{} s. \
         Clients give up after {} s; at most {} orders wait for a worker.",
        p.workers,
        p.arrivals_per_s,
        p.inventory_latency.as_millis(),
        p.payment_latency.as_millis(),
        p.logistics_latency.as_millis(),
        p.slow_response.as_secs_f64(),
        p.outage.as_secs(),
        p.client_deadline.as_secs_f64(),
        p.queue_limit,
    )
}

/// A run's timeline, one line per entry.
pub fn timeline(r: &Report) -> String {
    let mut out = String::new();
    for (t, what) in &r.timeline {
        let _ = writeln!(out, "  T{:+9.3} s  {what}", t);
    }
    out
}

/// The side-by-side summary.
pub fn summary(without: &Report, with: &Report) -> String {
    let outage = |r: &Report| {
        format!(
            "{} / {}",
            thousands(r.served_in_outage),
            thousands(r.arrived_in_outage)
        )
    };
    // The slow dependency's share of the pool: its bulkhead's limit bounds it.
    let held = |r: &Report| match r.path.inventory_limit {
        Some(l) => format!("{} (limit {l})", r.path.inventory_peak),
        None => format!("{} (no limit)", r.path.inventory_peak),
    };
    let rows: Vec<(&str, String, String)> = vec![
        (
            "orders",
            thousands(without.arrived),
            thousands(with.arrived),
        ),
        ("served", thousands(without.served), thousands(with.served)),
        (
            "  of which from cached inventory",
            thousands(without.degraded),
            thousands(with.degraded),
        ),
        (
            "  inventory calls by the standby",
            thousands(without.path.by_standby),
            thousands(with.path.by_standby),
        ),
        (
            "errors",
            thousands(without.errors()),
            thousands(with.errors()),
        ),
        (
            "  client gave up (deadline)",
            thousands(without.client_timeouts),
            thousands(with.client_timeouts),
        ),
        (
            "  refused (queue full)",
            thousands(without.refused),
            thousands(with.refused),
        ),
        (
            "  failed by a dependency",
            thousands(without.failed),
            thousands(with.failed),
        ),
        (
            "latency p50 / p99, served orders",
            format!("{} / {}", ms(without.p50_ms), ms(without.p99_ms)),
            format!("{} / {}", ms(with.p50_ms), ms(with.p99_ms)),
        ),
        (
            "  every order, as its client saw it",
            format!(
                "{} / {}",
                ms(without.client_p50_ms),
                ms(without.client_p99_ms)
            ),
            format!("{} / {}", ms(with.client_p50_ms), ms(with.client_p99_ms)),
        ),
        (
            "peak pool occupancy",
            format!("{} / {}", without.peak_busy, without.workers),
            format!("{} / {}", with.peak_busy, with.workers),
        ),
        ("peak workers held by inventory", held(without), held(with)),
        (
            "  inventory calls shed by its bulkhead",
            thousands(without.path.inventory_shed),
            thousands(with.path.inventory_shed),
        ),
        ("served during the outage", outage(without), outage(with)),
        (
            "failovers / failbacks",
            format!("{} / {}", without.path.failovers, without.path.failbacks),
            format!("{} / {}", with.path.failovers, with.path.failbacks),
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(out, "  {:<38} {:>18} {:>18}", "", without.label, with.label);
    for (k, a, b) in rows {
        let _ = writeln!(out, "  {k:<38} {a:>18} {b:>18}");
    }
    out
}

/// The bulkhead alone against no protection: the slow dependency's share
/// of the pool, and whether the orders still reach the other dependencies.
pub fn bulkhead_summary(without: &Report, bulkhead: &Report) -> String {
    let held = |r: &Report| match r.path.inventory_limit {
        Some(l) => format!("{} (limit {l})", r.path.inventory_peak),
        None => format!("{} (no limit)", r.path.inventory_peak),
    };
    let rows: Vec<(&str, String, String)> = vec![
        (
            "peak workers held by inventory",
            held(without),
            held(bulkhead),
        ),
        (
            "peak pool occupancy",
            format!("{} / {}", without.peak_busy, without.workers),
            format!("{} / {}", bulkhead.peak_busy, bulkhead.workers),
        ),
        (
            "inventory calls shed (cached)",
            thousands(without.path.inventory_shed),
            thousands(bulkhead.path.inventory_shed),
        ),
        (
            "served during the outage (all 3 calls)",
            format!(
                "{} / {}",
                thousands(without.served_in_outage),
                thousands(without.arrived_in_outage)
            ),
            format!(
                "{} / {}",
                thousands(bulkhead.served_in_outage),
                thousands(bulkhead.arrived_in_outage)
            ),
        ),
        (
            "errors",
            thousands(without.errors()),
            thousands(bulkhead.errors()),
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<38} {:>18} {:>18}",
        "", without.label, bulkhead.label
    );
    for (k, a, b) in rows {
        let _ = writeln!(out, "  {k:<38} {a:>18} {b:>18}");
    }
    out
}
