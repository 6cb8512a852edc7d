//! Latency histogram and adaptive timeout
//! (`docs/semantics.md#adaptive-timeouts`).

use fusebox::histogram::{HistogramWindow, LatencyHistogram};
use fusebox::timeout::AdaptiveTimeout;
use fusebox::{Clock, ManualClock};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal, Normal};
use std::sync::Arc;
use std::time::Duration;

const N: usize = 1_000_000;

/// Exact nearest-rank quantile of sorted values (the definition the
/// histogram implements).
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn check_accuracy(name: &str, mut samples: Vec<u64>) {
    let clock = Arc::new(ManualClock::new());
    let h = LatencyHistogram::new(clock.clone());
    let now = clock.now_ns();
    for &s in &samples {
        h.record_at(now, s);
    }
    let snap = h.snapshot();
    assert_eq!(snap.count(), samples.len() as u64);
    samples.sort_unstable();
    for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
        let want = exact(&samples, q) as f64;
        let got = snap.quantile(q).unwrap() as f64;
        let err = (got - want).abs() / want;
        assert!(
            err <= 0.02,
            "{name}: q{q}: exact {want} ns, histogram {got} ns, error {:.3} %",
            err * 100.0
        );
    }
}

#[test]
fn quantiles_within_2_percent_on_lognormal() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0001);
    // Median 20 ms, a long tail (sigma 0.8): a typical RPC latency.
    let d = LogNormal::new((20e6f64).ln(), 0.8).unwrap();
    let samples: Vec<u64> = (0..N).map(|_| d.sample(&mut rng) as u64).collect();
    check_accuracy("lognormal", samples);
}

#[test]
fn quantiles_within_2_percent_on_bimodal() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0002);
    // 90 % cache hits around 300 µs, 10 % database reads around 40 ms.
    let fast = Normal::new(300e3, 40e3).unwrap();
    let slow = Normal::new(40e6, 8e6).unwrap();
    let pick = rand_distr::Bernoulli::new(0.1).unwrap();
    let samples: Vec<u64> = (0..N)
        .map(|_| {
            let v: f64 = if pick.sample(&mut rng) {
                slow.sample(&mut rng)
            } else {
                fast.sample(&mut rng)
            };
            v.max(1.0) as u64
        })
        .collect();
    check_accuracy("bimodal", samples);
}

#[test]
fn concurrent_records_are_all_counted() {
    for stripes in [1, 2, 8] {
        concurrent_records(stripes);
    }
}

fn concurrent_records(stripes: u32) {
    let clock = Arc::new(ManualClock::new());
    let window = HistogramWindow {
        stripes,
        ..HistogramWindow::default()
    };
    let h = Arc::new(LatencyHistogram::with_window(window, clock.clone()).unwrap());
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u64 {
                    h.record(Duration::from_nanos(1_000 + (i * 7 + t) % 5_000));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(h.snapshot().count(), 300_000);
}

#[test]
fn window_rotates_with_time() {
    let clock = Arc::new(ManualClock::new());
    let h = LatencyHistogram::with_window(
        HistogramWindow {
            duration: Duration::from_secs(2),
            slots: 4,
            stripes: 0,
        },
        clock.clone(),
    )
    .unwrap();
    for _ in 0..100 {
        h.record(Duration::from_millis(500));
    }
    assert!(h.quantile(0.5).unwrap() > Duration::from_millis(490));
    clock.advance(Duration::from_millis(1500));
    for _ in 0..100 {
        h.record(Duration::from_millis(5));
    }
    assert_eq!(h.snapshot().count(), 200);
    clock.advance(Duration::from_millis(500));
    // The slow period left the window; only the fast one remains.
    let s = h.snapshot();
    assert_eq!(s.count(), 100);
    assert!(s.quantile(0.99).unwrap() < 5_100_000);
    clock.advance(Duration::from_secs(2));
    assert_eq!(h.snapshot().count(), 0);
    assert_eq!(h.quantile(0.5), None);
}

#[test]
fn bad_windows_are_refused_by_name() {
    let clock = Arc::new(ManualClock::new());
    let e = LatencyHistogram::with_window(
        HistogramWindow {
            duration: Duration::from_secs(1),
            slots: 0,
            stripes: 0,
        },
        clock.clone(),
    )
    .unwrap_err();
    assert_eq!(e.field, "slots");
    let e = LatencyHistogram::with_window(
        HistogramWindow {
            duration: Duration::ZERO,
            slots: 4,
            stripes: 0,
        },
        clock,
    )
    .unwrap_err();
    assert_eq!(e.field, "window");
    let e = LatencyHistogram::with_window(
        HistogramWindow {
            stripes: 65,
            ..HistogramWindow::default()
        },
        Arc::new(ManualClock::new()),
    )
    .unwrap_err();
    assert_eq!(e.field, "stripes");
}

fn adaptive(clock: &Arc<ManualClock>) -> AdaptiveTimeout {
    AdaptiveTimeout::builder()
        .multiplier(2.0)
        .min(Duration::from_millis(50))
        .max(Duration::from_secs(3))
        .initial(Duration::from_secs(2))
        .min_samples(100)
        .refresh(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn adaptive_timeout_starts_fixed_then_follows_p95() {
    let clock = Arc::new(ManualClock::new());
    let t = adaptive(&clock);
    assert_eq!(t.timeout(), Duration::from_secs(2));
    // 99 samples: not enough yet.
    for i in 0..99u64 {
        t.record(Duration::from_millis(100 + i % 10));
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(t.timeout(), Duration::from_secs(2));
    // 1000 samples, 1..=1000 ms: P95 = 950 ms, so 1.9 s.
    for i in 1..=1000u64 {
        t.record(Duration::from_millis(i));
    }
    // Cached until the refresh period is over.
    assert_eq!(t.timeout(), Duration::from_secs(2));
    clock.advance(Duration::from_secs(1));
    let got = t.timeout().as_secs_f64();
    // 1099 samples: the 95th percentile is 946 ms (rank 1045 of 1099).
    assert!((got - 1.89).abs() / 1.89 < 0.02, "timeout {got} s");
    let (p50, p95, p99) = t.percentiles().unwrap();
    assert!(p50 < p95 && p95 < p99);
}

#[test]
fn adaptive_timeout_is_clamped() {
    let clock = Arc::new(ManualClock::new());
    let t = adaptive(&clock);
    for _ in 0..200 {
        t.record(Duration::from_secs(10));
    }
    assert_eq!(t.refresh(), Duration::from_secs(3));
    clock.advance(Duration::from_secs(20)); // the slow samples age out
    for _ in 0..200 {
        t.record(Duration::from_micros(100));
    }
    assert_eq!(t.refresh(), Duration::from_millis(50));
    clock.advance(Duration::from_secs(20)); // nothing left: back to the start value
    assert_eq!(t.refresh(), Duration::from_secs(2));
}

#[test]
fn adaptive_timeout_settings_are_checked() {
    let bad = |b: fusebox::timeout::AdaptiveTimeoutBuilder| b.build().unwrap_err().field;
    assert_eq!(
        bad(AdaptiveTimeout::builder().multiplier(0.0)),
        "multiplier"
    );
    assert_eq!(bad(AdaptiveTimeout::builder().quantile(1.5)), "quantile");
    assert_eq!(
        bad(AdaptiveTimeout::builder()
            .min(Duration::from_secs(2))
            .max(Duration::from_secs(1))),
        "min"
    );
    assert_eq!(
        bad(AdaptiveTimeout::builder().initial(Duration::from_secs(60))),
        "initial"
    );
    assert_eq!(
        bad(AdaptiveTimeout::builder().min_samples(0)),
        "min_samples"
    );
    assert_eq!(
        bad(AdaptiveTimeout::builder().window(Duration::from_secs(1), 0)),
        "slots"
    );
}
