//! Tiered load shedding (`docs/semantics.md#load-shedding`: the double-11
//! table).

use fusebox::shedder::{policy, Decision, LoadLevel, Priority, Shed, Shedder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use Decision::{Admit, Degrade, Shed as Drop};
use Priority::{Core, NonCore, Secondary};

/// (load, level, [core, secondary, non-core]) — one row per level, at both
/// edges of each band.
const TABLE: &[(f64, LoadLevel, [Decision; 3])] = &[
    (0.0, LoadLevel::Normal, [Admit, Admit, Admit]),
    (0.599, LoadLevel::Normal, [Admit, Admit, Admit]),
    (0.6, LoadLevel::Elevated, [Admit, Admit, Drop]),
    (0.799, LoadLevel::Elevated, [Admit, Admit, Drop]),
    (0.8, LoadLevel::High, [Admit, Degrade, Drop]),
    (0.899, LoadLevel::High, [Admit, Degrade, Drop]),
    (0.9, LoadLevel::Critical, [Admit, Drop, Drop]),
    (1.0, LoadLevel::Critical, [Admit, Drop, Drop]),
    (7.5, LoadLevel::Critical, [Admit, Drop, Drop]),
];

#[test]
fn every_level_and_class_follows_the_double_11_table() {
    let s = Shedder::new();
    for &(load, level, decisions) in TABLE {
        s.set_load(load);
        assert_eq!(s.level(), level, "load {load}");
        assert_eq!(s.load(), load);
        for (p, want) in Priority::ALL.into_iter().zip(decisions) {
            assert_eq!(s.admit(p), want, "load {load}, {p:?}");
            assert_eq!(policy(level, p), want);
        }
    }
}

#[test]
fn in_flight_over_capacity_is_a_load() {
    let s = Shedder::new();
    s.set_in_flight(59, 100);
    assert_eq!(s.level(), LoadLevel::Normal);
    s.set_in_flight(60, 100);
    assert_eq!(s.level(), LoadLevel::Elevated);
    assert_eq!(s.admit(NonCore), Drop);
    s.set_in_flight(85, 100);
    assert_eq!(s.admit(Secondary), Degrade);
    s.set_in_flight(95, 100);
    assert_eq!(s.admit(Secondary), Drop);
    assert_eq!(s.admit(Core), Admit);
    s.set_in_flight(1, 0);
    assert_eq!(s.level(), LoadLevel::Critical);
    s.set_in_flight(0, 100);
    assert_eq!(s.level(), LoadLevel::Normal);
}

#[test]
fn custom_thresholds_and_bad_ones() {
    let s = Shedder::with_thresholds([0.5, 0.7, 0.95]).unwrap();
    s.set_load(0.5);
    assert_eq!(s.level(), LoadLevel::Elevated);
    s.set_load(0.94);
    assert_eq!(s.level(), LoadLevel::High);
    for bad in [
        [0.6, 0.6, 0.9],
        [0.9, 0.8, 0.6],
        [0.0, 0.5, 0.9],
        [0.6, 0.8, f64::NAN],
    ] {
        assert_eq!(
            Shedder::with_thresholds(bad).unwrap_err().field,
            "thresholds"
        );
    }
    // An unreadable signal is treated as the worst case.
    s.set_load(f64::NAN);
    assert_eq!(s.level(), LoadLevel::Critical);
}

#[test]
fn a_signal_is_polled_off_the_hot_path() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let sig = in_flight.clone();
    let s = Shedder::with_signal([0.6, 0.8, 0.9], move || {
        sig.load(Ordering::Relaxed) as f64 / 200.0
    })
    .unwrap();
    in_flight.store(170, Ordering::Relaxed);
    // Admission reads only the level set by the last poll.
    assert_eq!(s.admit(Secondary), Admit);
    assert_eq!(s.refresh(), LoadLevel::High);
    assert_eq!(s.admit(Secondary), Degrade);
    in_flight.store(10, Ordering::Relaxed);
    assert_eq!(s.refresh(), LoadLevel::Normal);
    assert_eq!(s.admit(NonCore), Admit);
}

#[test]
fn a_panicking_signal_keeps_the_last_level() {
    let s = Shedder::with_signal([0.6, 0.8, 0.9], || panic!("probe failed")).unwrap();
    s.set_load(0.85);
    assert_eq!(s.refresh(), LoadLevel::High);
}

#[test]
fn the_poller_thread_follows_the_signal_and_stops() {
    let load = Arc::new(AtomicU64::new(0));
    let sig = load.clone();
    let s = Arc::new(
        Shedder::with_signal([0.6, 0.8, 0.9], move || {
            sig.load(Ordering::Relaxed) as f64 / 100.0
        })
        .unwrap(),
    );
    let poller = s.start_polling(Duration::from_millis(1)).unwrap();
    load.store(95, Ordering::Relaxed);
    // Waits for the background thread; it does not move any clock.
    let until = Instant::now() + Duration::from_secs(10);
    while s.level() != LoadLevel::Critical && Instant::now() < until {
        std::thread::yield_now();
    }
    assert_eq!(s.level(), LoadLevel::Critical);
    drop(poller); // joins the thread
    load.store(0, Ordering::Relaxed);
    assert_eq!(
        s.level(),
        LoadLevel::Critical,
        "no poll after the handle is dropped"
    );
}

#[test]
fn serve_runs_the_full_or_degraded_path_or_sheds() {
    let s = Shedder::new();
    let serve = |p| s.serve(p, || "live inventory", || "cached inventory");
    s.set_load(0.3);
    assert_eq!(serve(Secondary), Ok("live inventory"));
    s.set_load(0.85);
    assert_eq!(serve(Secondary), Ok("cached inventory"));
    assert_eq!(serve(Core), Ok("live inventory"));
    assert_eq!(
        serve(NonCore),
        Err(Shed {
            level: LoadLevel::High,
            priority: NonCore
        })
    );
    s.set_load(0.95);
    let e = serve(Secondary).unwrap_err();
    assert_eq!(
        e.to_string(),
        "secondary request shed at load level critical"
    );
}
