//! The adaptive limit on a manual clock: a dependency's latency steps from
//! 10 ms to 10 s at T0 and back at T1, under a demand that always fills the
//! bulkhead (every freed slot is taken again at once). For each algorithm,
//! the limit must fall within a bounded number of windows after T0, and
//! climb back within a bounded number after T1. The bounds come from the
//! formulas (see `fusebox::concurrency`), with a little slack.
#![cfg(not(loom))]

use fusebox::bulkhead::{Bulkhead, RawBulkheadPermit};
use fusebox::concurrency::LimitConfig;
use fusebox::{ManualClock, Outcome};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;
const FAST: u64 = 10 * MS;
const SLOW: u64 = 10 * S;
const MAX: u32 = 50;
const MIN: u32 = 2;

struct Run {
    t0: u64,
    t1: u64,
    updates: Vec<(u64, u32)>,
    peak_in_flight_after_t0: u32,
}

impl Run {
    /// (seconds after T0, limit) of each window closed after `from`.
    fn trace(&self, from: u64) -> Vec<(f64, u32)> {
        self.updates
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|&(t, limit)| ((t as f64 - self.t0 as f64) / S as f64, limit))
            .collect()
    }

    fn limit_at(&self, t: u64) -> u32 {
        self.updates
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |u| u.1)
    }

    /// Windows closed after `from` until the limit is at most `target`.
    fn windows_until_at_most(&self, from: u64, target: u32) -> Option<usize> {
        self.updates
            .iter()
            .filter(|(t, _)| *t >= from)
            .position(|(_, l)| *l <= target)
            .map(|i| i + 1)
    }

    fn windows_until_at_least(&self, from: u64, target: u32) -> Option<usize> {
        self.updates
            .iter()
            .filter(|(t, _)| *t >= from)
            .position(|(_, l)| *l >= target)
            .map(|i| i + 1)
    }
}

/// Warm up at 10 ms for `warm` s, 10 s latency for `slow` s, then 10 ms
/// again for `after` s.
fn simulate(cfg: LimitConfig, warm: u64, slow: u64, after: u64) -> Run {
    let clock = Arc::new(ManualClock::new());
    let b = Bulkhead::builder()
        .name("dependency")
        .adaptive(cfg)
        .clock(clock.clone())
        .build()
        .unwrap();
    let origin = clock_now(&clock);
    let t0 = origin + warm * S;
    let t1 = t0 + slow * S;
    let end = t1 + after * S;
    let latency = |start: u64| {
        if (t0..t1).contains(&start) {
            SLOW
        } else {
            FAST
        }
    };
    // Calls in flight by end time (a closed loop starts them in waves).
    let mut pending: BTreeMap<u64, Vec<RawBulkheadPermit>> = BTreeMap::new();
    let mut run = Run {
        t0,
        t1,
        updates: Vec::new(),
        peak_in_flight_after_t0: 0,
    };
    let adaptive = b.adaptive().unwrap();
    let mut seen = 0;
    let mut now = origin;
    while now < end {
        // Demand fills every free slot.
        while let Ok(p) = b.try_acquire_raw() {
            pending.entry(now + latency(now)).or_default().push(p);
        }
        if now >= t0 {
            run.peak_in_flight_after_t0 = run.peak_in_flight_after_t0.max(b.in_flight());
        }
        // Jump to the next completion and finish the calls due then.
        let (next, due) = pending.pop_first().expect("calls in flight");
        clock.advance_ns(next - now);
        now = next;
        for p in due {
            b.record_raw(p, Outcome::Success);
            if adaptive.updates() != seen {
                seen = adaptive.updates();
                run.updates.push((now, b.limit()));
            }
        }
    }
    run
}

fn clock_now(c: &ManualClock) -> u64 {
    use fusebox::Clock;
    c.now_ns()
}

/// Check the run against the bounds; print the trace when it fails.
fn check(name: &str, run: &Run, fall_windows: usize, floor: u32, recover_windows: usize) {
    let at_t0 = run.limit_at(run.t0);
    if std::env::var_os("FUSEBOX_TRACE").is_some() {
        eprintln!(
            "{name}: fell {:?} windows, back {:?} windows: {:?}",
            run.windows_until_at_most(run.t0, at_t0 / 2),
            run.windows_until_at_least(run.t1, MAX * 9 / 10),
            run.trace(run.t0)
        );
    }
    assert!(
        at_t0 >= MAX * 9 / 10,
        "{name}: limit {at_t0} at T0: it should have grown to near {MAX} under 10 ms: {:?}",
        run.trace(0)
    );
    let half = at_t0 / 2;
    let fell = run.windows_until_at_most(run.t0, half);
    assert!(
        fell.is_some_and(|n| n <= fall_windows),
        "{name}: {fell:?} windows after T0 to fall from {at_t0} to {half}, bound {fall_windows}: {:?}",
        run.trace(run.t0)
    );
    let low = run
        .updates
        .iter()
        .filter(|(t, _)| (run.t0..run.t1).contains(t))
        .map(|u| u.1)
        .min();
    assert!(
        low.is_some_and(|l| l <= floor),
        "{name}: lowest limit {low:?} between T0 and T1, expected ≤ {floor}: {:?}",
        run.trace(run.t0)
    );
    // The bulkhead held: never more in flight than the limit allowed
    // (the limit at T0 is the most it could be afterwards).
    assert!(run.peak_in_flight_after_t0 <= MAX);
    // Recovery: calls started after T1 are fast again (those started
    // before end by T1 + 10 s).
    let target = MAX * 9 / 10;
    let back = run.windows_until_at_least(run.t1, target);
    assert!(
        back.is_some_and(|n| n <= recover_windows),
        "{name}: {back:?} windows after T1 to climb back to {target}, bound {recover_windows}: {:?}",
        run.trace(run.t1)
    );
}

#[test]
fn aimd_falls_by_a_tenth_a_window_and_climbs_by_one() {
    let cfg = LimitConfig::aimd().limits(MIN, MAX, MAX);
    let run = simulate(cfg, 20, 300, 60);
    // × 0.9 a window (windows over 5 s count as drops): ⌈ln 0.5 / ln 0.9⌉ = 7
    // windows to halve, + 1 for the window that straddles T0 (its average
    // mixes the last fast calls with the first slow ones). It reaches the
    // floor. Back: + 1 a window, 45 − 2 = 43 windows, + 1 straddling T1.
    check("aimd", &run, 8, MIN, 45);
}

#[test]
fn gradient2_falls_with_its_gradient_and_climbs_by_its_queue_size() {
    let cfg = LimitConfig::gradient2().limits(MIN, MAX, MAX);
    let run = simulate(cfg, 20, 300, 80);
    // gradient pinned at 0.5: limit → 0.9 × limit + 0.8 a window, so from
    // 50 to 25: 0.9^n × 42 ≤ 17 → n = 9, + 1 for the straddling window.
    // Its fixed point is 8, approached slowly (10 within 30 windows). Back:
    // + 0.8 a window (smoothing × queue size), (45 − 9) / 0.8 = 45 windows.
    check("gradient2", &run, 10, 10, 48);
}

#[test]
fn vegas_falls_by_log_limit_a_window_and_climbs_fast() {
    let cfg = LimitConfig::vegas().limits(MIN, MAX, MAX);
    let run = simulate(cfg, 20, 500, 20);
    // queue ≈ limit > 6·log: − log(limit) = − 1 a window below 100, so
    // 50 → 25 in 25 windows, + 1 for the straddling window. It stops at 6,
    // where the queue estimate (≈ limit) is no longer above β = 6.
    // Back: queue 0 ≤ log: + 6·log a window: (45 − 6) / 6 = 7 windows, + 1.
    check("vegas", &run, 26, 6, 8);
}

#[test]
fn a_steady_latency_keeps_the_limit_at_its_maximum() {
    for cfg in [
        LimitConfig::aimd(),
        LimitConfig::gradient2(),
        LimitConfig::vegas(),
    ] {
        let cfg = cfg.limits(MIN, MAX / 2, MAX);
        let run = simulate(cfg, 40, 0, 20);
        let tail: Vec<u32> = run.updates.iter().rev().take(20).map(|u| u.1).collect();
        assert!(tail.iter().all(|&l| l >= MAX * 9 / 10), "{cfg:?}: {tail:?}");
    }
}

#[test]
fn a_bulkhead_reports_its_adaptive_limit_in_metrics() {
    let cfg = LimitConfig::aimd().limits(MIN, 20, MAX);
    let clock = Arc::new(ManualClock::new());
    let b = Bulkhead::builder()
        .adaptive(cfg)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(b.limit(), 20);
    // Twenty calls of 6 s each (over AIMD's 5 s timeout) in one window.
    let ps: Vec<_> = (0..20).map(|_| b.try_acquire_raw().unwrap()).collect();
    clock.advance(Duration::from_secs(6));
    for p in ps {
        b.record_raw(p, Outcome::Success);
    }
    // The first sample opened the window; a later one closes it.
    clock.advance(Duration::from_secs(2));
    let ps: Vec<_> = (0..10).map(|_| b.try_acquire_raw().unwrap()).collect();
    clock.advance(Duration::from_secs(6));
    for p in ps {
        b.record_raw(p, Outcome::Success);
    }
    let m = b.metrics();
    assert_eq!(m.algorithm, Some("aimd"));
    assert_eq!(m.limit_updates, 1);
    assert_eq!(m.limit, 18, "⌊20 × 0.9⌋");
    assert_eq!(b.limit(), 18);
}
