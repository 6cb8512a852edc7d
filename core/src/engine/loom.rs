//! loom models of the breaker's atomic protocols (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`).
//! Each model explores every interleaving of its threads (bounded by
//! LOOM_MAX_PREEMPTIONS).

use crate::engine::clock::ManualClock;
use crate::engine::config::Config;
use crate::engine::permit::Outcome;
use crate::engine::state::Phase;
use crate::Breaker;
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn breaker(config: Config, clock: &std::sync::Arc<ManualClock>) -> Breaker {
    Breaker::with_stripes("loom", config, clock.clone(), 2).unwrap()
}

fn small() -> crate::ConfigBuilder {
    Config::builder()
        .time_window(Duration::from_secs(1), 1)
        .open_timeout(Duration::from_secs(1))
}

#[test]
fn racing_trips_make_exactly_one_transition() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .min_calls(1)
                .consecutive_failures(None)
                .build()
                .unwrap(),
            &clock,
        ));
        let p1 = b.acquire_raw().unwrap();
        let p2 = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(p2, Outcome::Failure, None));
        b.record_raw(p1, Outcome::Failure, None);
        t.join().unwrap();
        let m = b.metrics();
        assert_eq!(b.phase(), Phase::Open);
        assert_eq!(b.generation(), 1, "one transition, not two");
        assert_eq!(m.state_changes, 1);
        assert_eq!(m.failures, 2);
    });
}

#[test]
fn half_open_admits_exactly_max_probes() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .consecutive_failures(Some(1))
                .half_open_max_calls(2)
                .success_threshold(2)
                .build()
                .unwrap(),
            &clock,
        ));
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        assert_eq!(b.phase(), Phase::Open);
        clock.advance(Duration::from_secs(1));
        // Three racers for two probe slots (one takes its slot by making the
        // Open -> HalfOpen transition).
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.acquire_raw().is_ok() as u32)
            })
            .collect();
        let mine = b.acquire_raw().is_ok() as u32;
        let admitted: u32 = mine + hs.into_iter().map(|h| h.join().unwrap()).sum::<u32>();
        assert_eq!(admitted, 2, "exactly half_open_max_calls probes");
        assert_eq!(b.phase(), Phase::HalfOpen);
        assert_eq!(b.generation(), 2);
    });
}

#[test]
fn stale_generation_outcomes_are_dropped() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small().consecutive_failures(Some(1)).build().unwrap(),
            &clock,
        ));
        let old = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(old, Outcome::Failure, None));
        b.force_open();
        b.reset();
        t.join().unwrap();
        // Whatever the order, the failure never lands in the window of the
        // generation that reset() started.
        assert_eq!(b.phase(), Phase::Closed);
        assert_eq!(b.window_counts().calls, 0);
        assert_eq!(b.metrics().failures, 1);
    });
}

#[test]
fn dropped_probe_frees_its_slot() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .consecutive_failures(Some(1))
                .half_open_max_calls(1)
                .success_threshold(1)
                .build()
                .unwrap(),
            &clock,
        ));
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        clock.advance(Duration::from_secs(1));
        let b2 = b.clone();
        let t = thread::spawn(move || {
            if let Ok(p) = b2.acquire_raw() {
                b2.release_raw(p);
            }
        });
        if let Ok(p) = b.acquire_raw() {
            b.release_raw(p);
        }
        t.join().unwrap();
        // Both slots were given back: a new probe must be admitted.
        let p = b.acquire_raw().expect("slot was lost");
        assert!(p.probe);
        b.record_raw(p, Outcome::Success, None);
        assert_eq!(b.phase(), Phase::Closed);
    });
}

#[test]
fn racing_probe_outcomes_make_one_transition() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .consecutive_failures(Some(1))
                .half_open_max_calls(2)
                .success_threshold(1)
                .build()
                .unwrap(),
            &clock,
        ));
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        clock.advance(Duration::from_secs(1));
        let p1 = b.acquire_raw().unwrap();
        let p2 = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(p2, Outcome::Failure, None));
        b.record_raw(p1, Outcome::Success, None);
        t.join().unwrap();
        // HalfOpen(2) goes to Closed(3) or Open(3), never through both.
        assert_eq!(b.generation(), 3);
        assert!(matches!(b.phase(), Phase::Closed | Phase::Open));
        assert_eq!(b.metrics().state_changes, 3);
    });
}

#[test]
fn open_for_racing_a_trip_leaves_the_later_deadline() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .min_calls(1)
                .consecutive_failures(None)
                .build()
                .unwrap(),
            &clock,
        ));
        let p = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(p, Outcome::Failure, None));
        let opened = b.open_for(Duration::from_secs(5));
        t.join().unwrap();
        // Open either way, one state change. open_for first (the trip finds
        // the word moved and loses), or after the trip's deadline was
        // published (the 1 s one is earlier: extended): the 5 s deadline.
        // Between the trip's exchange and its publish: left alone, `false`,
        // the trip's 1 s deadline. Never a lost deadline (an open
        // period of 5 s + the recovery's grace).
        assert_eq!(b.phase(), Phase::Open);
        let g = b.generation();
        assert!(g == 1 || g == 2, "generation {g}");
        assert_eq!(b.metrics().state_changes, 1);
        let until = if opened { 5000 } else { 1000 };
        clock.advance(Duration::from_millis(until - 1));
        assert!(b.acquire_raw().is_err(), "the deadline holds");
        clock.advance(Duration::from_millis(1));
        assert!(b.acquire_raw().unwrap().probe, "opened: {opened}");
    });
}

#[test]
fn open_for_racing_a_probe_makes_the_probe_stale() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small()
                .consecutive_failures(Some(1))
                .half_open_max_calls(1)
                .success_threshold(1)
                .build()
                .unwrap(),
            &clock,
        ));
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        clock.advance(Duration::from_secs(1)); // the open timeout is over
        let b2 = b.clone();
        let t = thread::spawn(move || {
            if let Ok(p) = b2.acquire_raw() {
                // A probe admitted before open_for, or none at all.
                b2.record_raw(p, Outcome::Success, None);
            }
        });
        let opened = b.open_for(Duration::from_secs(5));
        t.join().unwrap();
        if !opened {
            // open_for came between the probe's Open -> HalfOpen exchange
            // and its deadline's publish: it left the phase alone, and the
            // probe's success closed the breaker.
            assert_eq!(b.phase(), Phase::Closed);
            return;
        }
        // The probe's success is stale (or it was rejected): still Open
        // until the given deadline, then one probe.
        assert_eq!(b.phase(), Phase::Open);
        clock.advance(Duration::from_millis(4999));
        assert!(b.acquire_raw().is_err());
        clock.advance(Duration::from_millis(1));
        let p = b.acquire_raw().unwrap();
        assert!(p.probe);
        b.record_raw(p, Outcome::Success, None);
        assert_eq!(b.phase(), Phase::Closed);
    });
}

#[test]
fn stripes_made_while_others_count_and_read_lose_nothing() {
    // Lazy stripes (`engine/breaker/stripes.rs`): the two spawned threads own
    // no stripe (loom numbers them 1 and 2; one stripe is owned, by the
    // main thread's slot 0), so both make the shared stripe at once: one
    // CAS wins, the other frees its lines and counts on the winner's. The
    // main thread reads the metrics as they do: never more than was
    // counted, and after the joins all of it. (The owner making its stripe
    // is in every model above: the main thread owns stripe 0.)
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(
            small().consecutive_failures(None).build().unwrap(),
            &clock,
        ));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    let p = b.acquire_raw().unwrap();
                    b.record_raw(p, Outcome::Failure, None);
                })
            })
            .collect();
        let seen = b.metrics();
        assert!(seen.failures <= 2 && seen.successes == 0, "{seen:?}");
        for h in hs {
            h.join().unwrap();
        }
        let m = b.metrics();
        assert_eq!((m.successes, m.failures), (0, 2));
        assert_eq!(b.window_counts().calls, 2);
    });
}

#[test]
fn the_rest_made_by_two_transitions_counts_both() {
    // The rest (`engine/breaker/rest.rs`): an idle breaker is its control
    // line alone, and the first write past it makes the rest. Two manual
    // transitions race, each counting itself on the rest's metrics line,
    // so both make it at once: one CAS wins, the other frees its lines and
    // counts on the winner's. The main thread reads the count meanwhile:
    // never more than was counted, and after the joins both.
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = Arc::new(breaker(small().build().unwrap(), &clock));
        let (b1, b2) = (b.clone(), b.clone());
        let h1 = thread::spawn(move || b1.force_open());
        let h2 = thread::spawn(move || b2.disable());
        assert!(b.metrics().state_changes <= 2);
        h1.join().unwrap();
        h2.join().unwrap();
        assert_eq!(b.metrics().state_changes, 2);
    });
}

#[test]
fn reconfigure_racing_a_failure_trips_at_most_once_and_loses_no_failure() {
    // A failure lands while min_calls is lowered to what the window then
    // holds. Each side judges under the settings it reads (Relaxed, see
    // `breaker/live.rs`): at most one transition, the failure counted, and
    // if neither judgement tripped, the next outcome does.
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let cfg = small()
            .min_calls(3)
            .failure_rate_threshold(1.0)
            .consecutive_failures(None)
            .build()
            .unwrap();
        let b = Arc::new(breaker(cfg.clone(), &clock));
        // The breaker's extras (where its own settings go) made before the
        // race, by a reconfiguration that changes nothing: std's `OnceLock`
        // publishes them, which loom cannot see. What the model checks is
        // the settings' own publication (`Extras::live`, Release/Acquire).
        assert!(b.reconfigure(cfg.clone()).unwrap().changed.is_empty());
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        let p = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(p, Outcome::Failure, None));
        b.reconfigure(Config {
            min_calls: 2,
            ..cfg
        })
        .unwrap();
        t.join().unwrap();
        assert!(b.generation() <= 1, "at most one transition");
        assert_eq!(b.metrics().failures, 2);
        assert_eq!(b.config().min_calls, 2);
        if b.phase() == Phase::Closed {
            let p = b.acquire_raw().unwrap();
            b.record_raw(p, Outcome::Failure, None);
        }
        assert_eq!(b.phase(), Phase::Open);
        assert_eq!(b.generation(), 1);
    });
}

#[test]
fn racing_reconfigurations_apply_one_whole_config_after_the_other() {
    // Two threads reconfigure one breaker: the end state is one of the two
    // configs whole (each is stored under the reconfiguration lock), never
    // a mix (min_calls of one, the probe limits of the other).
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let base = small().build().unwrap();
        let b = Arc::new(breaker(base.clone(), &clock));
        let x = Config {
            min_calls: 7,
            half_open_max_calls: 5,
            success_threshold: 5,
            ..base.clone()
        };
        let y = Config {
            min_calls: 9,
            half_open_max_calls: 1,
            success_threshold: 1,
            ..base
        };
        // The extras made before the race, as in the model above.
        assert!(b.reconfigure(b.config()).unwrap().changed.is_empty());
        let (b1, x1) = (b.clone(), x.clone());
        let t = thread::spawn(move || b1.reconfigure(x1).unwrap());
        b.reconfigure(y.clone()).unwrap();
        t.join().unwrap();
        let end = b.config();
        assert!(end == x || end == y, "{end:?}");
    });
}

#[test]
fn count_window_reset_racing_a_failure_keeps_the_new_window_clean() {
    // A count window of 2 holds a failure; a failure admitted before a
    // reset lands while the reset clears the window. The new generation's
    // window never holds either failure, before or after (the racing one
    // either took its position before the clearing moved the counter, or
    // sees the new generation and leaves its position unwritten); a
    // success of the new generation is then its whole window.
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let cfg = Config::builder()
            .count_window(2)
            .min_calls(10)
            .consecutive_failures(None)
            .build()
            .unwrap();
        let b = Arc::new(breaker(cfg, &clock));
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Failure, None);
        let stale = b.acquire_raw().unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.record_raw(stale, Outcome::Failure, None));
        b.reset();
        assert_eq!(
            b.window_counts().failures,
            0,
            "an old failure in the new window"
        );
        t.join().unwrap();
        let p = b.acquire_raw().unwrap();
        b.record_raw(p, Outcome::Success, None);
        let c = b.window_counts();
        assert_eq!((c.calls, c.failures), (1, 0));
        assert_eq!(b.metrics().failures, 2, "both failures in the totals");
    });
}
