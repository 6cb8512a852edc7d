//! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
//!
//! The routing word and the ejection mask, over real breakers (an
//! endpoint's health is its breaker's state word) and the real event
//! path (`crate::events`, whose queue a model runs itself). Round robin
//! and the random draws are per-thread state, not modelled: the models
//! assert what holds for any draw.
//!
//! Each racing thread starts with an RMW on a `gate`: loom's DPOR keeps
//! only the last access to each object, so a thread that only loads (a
//! pick that changes nothing), run first, would never be reordered after
//! another thread's load-then-CAS of the same word.

use super::{Endpoint, FailoverGroup, FailoverKind, Mode};
use crate::engine::permit::{Outcome, RawPermit};
use crate::sync::Ordering;
use crate::{Config, ManualClock, Phase};
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn group(
    mode: Mode,
    names: &[&'static str],
    eject_pct: f64,
    clock: &std::sync::Arc<ManualClock>,
) -> FailoverGroup<&'static str> {
    let config = Config::builder()
        .time_window(Duration::from_secs(1), 1)
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(1))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap();
    names
        .iter()
        .fold(FailoverGroup::builder("loom"), |b, &n| {
            b.endpoint(Endpoint::new(n, n))
        })
        .mode(mode)
        .clock(clock.clone())
        .breaker_config(config)
        .stabilization(Duration::from_secs(1))
        .max_ejection_percent(eject_pct)
        .build()
        .unwrap()
}

/// A failure that trips endpoint `i`'s breaker.
fn fail(g: &FailoverGroup<&'static str>, i: usize, p: RawPermit) {
    g.breaker(i).record_raw(p, Outcome::Failure, None);
    assert_eq!(g.breaker(i).phase(), Phase::Open);
}

fn pass(gate: &AtomicUsize) {
    gate.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn a_failover_is_made_and_told_once() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let g = Arc::new(group(Mode::ActivePassive, &["p", "s"], 100.0, &clock));
        let heard = Arc::new(AtomicUsize::new(0));
        let h = heard.clone();
        g.on_event(move |e| {
            assert!(matches!(e.kind, FailoverKind::Failover { .. }));
            assert_eq!(e.epoch, 2);
            h.fetch_add(1, Ordering::Relaxed);
        });
        let permit = g.breaker(0).acquire_raw().unwrap();
        let gate = Arc::new(AtomicUsize::new(0));
        let (g1, gate1) = (g.clone(), gate.clone());
        let t = thread::spawn(move || {
            pass(&gate1);
            fail(&g1, 0, permit);
            // Once this thread has seen the primary open, it never
            // routes there: the standby, under the new epoch.
            let c = g1.pick().expect("the standby is healthy");
            assert_eq!((c.index, c.token.0), (1, 2));
        });
        pass(&gate);
        // Racing the trip: the primary under the first epoch, or the
        // standby under the second; the token names the route.
        let c = g.pick().expect("an endpoint is healthy");
        assert!(
            matches!((c.index, c.token.0), (0, 1) | (1, 2)),
            "{} under epoch {}",
            c.index,
            c.token.0
        );
        t.join().unwrap();
        crate::observe::events::run_queued();
        let m = g.metrics();
        // One CAS won the change: one count, one event, one epoch step,
        // and no failback to the open primary.
        assert_eq!((m.failovers, m.failbacks, m.epoch), (1, 0, 2));
        assert_eq!(heard.load(Ordering::Relaxed), 1, "one event per change");
    });
}

#[test]
fn a_failback_racing_a_new_trip_is_made_once() {
    loom::model(|| {
        // Failed over to the standby; the primary has recovered and
        // stayed closed for the stabilisation period, so the next picks
        // fail back, while a third thread trips the primary again.
        let clock = std::sync::Arc::new(ManualClock::new());
        let g = Arc::new(group(Mode::ActivePassive, &["p", "s"], 100.0, &clock));
        let p = g.breaker(0).acquire_raw().unwrap();
        fail(&g, 0, p);
        assert_eq!(g.pick().unwrap().token.0, 2);
        clock.advance(Duration::from_secs(1));
        let probe = g.breaker(0).acquire_raw().unwrap();
        g.breaker(0).record_raw(probe, Outcome::Success, None);
        assert_eq!(g.pick().unwrap().index, 1, "closed, not yet stable");
        clock.advance(Duration::from_secs(1));
        let permit = g.breaker(0).acquire_raw().unwrap();
        let gate = Arc::new(AtomicUsize::new(0));
        let (g1, gate1) = (g.clone(), gate.clone());
        let tripper = thread::spawn(move || {
            pass(&gate1);
            fail(&g1, 0, permit);
            let c = g1.pick().expect("the standby is healthy");
            assert_eq!(c.index, 1, "picked the primary it had seen open");
        });
        let pick = |g: &FailoverGroup<&'static str>, gate: &AtomicUsize| {
            pass(gate);
            // The primary under an odd epoch (3: failed back), the
            // standby under an even one (2: before; 4: failed over again).
            let c = g.pick().expect("an endpoint is healthy");
            assert_eq!(c.index as u64, 1 - c.token.0 % 2, "{c:?}");
        };
        let (g2, gate2) = (g.clone(), gate.clone());
        let picker = thread::spawn(move || pick(&g2, &gate2));
        pick(&g, &gate);
        tripper.join().unwrap();
        picker.join().unwrap();
        let m = g.metrics();
        assert_eq!(m.active_tier, "s");
        // Two threads may see the primary stable, one fails back; and
        // none after it has seen the primary trip (a new generation).
        assert!(m.failbacks <= 1, "failed back {} times", m.failbacks);
        // Each change of route counted once, by the CAS that made it.
        assert_eq!(m.failovers, 1 + m.failbacks);
        assert_eq!(m.epoch, 1 + m.failovers + m.failbacks);
    });
}

#[test]
fn ejections_keep_the_cap_and_are_counted_once() {
    loom::model(|| {
        // A tier of three with room for one ejection; `a` is down, `b`
        // goes down while two threads bring the mask up to date.
        let clock = std::sync::Arc::new(ManualClock::new());
        let g = Arc::new(group(Mode::ActiveActive, &["a", "b", "c"], 34.0, &clock));
        let pa = g.breaker(0).acquire_raw().unwrap();
        fail(&g, 0, pa);
        let pb = g.breaker(1).acquire_raw().unwrap();
        let gate = Arc::new(AtomicUsize::new(0));
        let (g1, gate1) = (g.clone(), gate.clone());
        let t = thread::spawn(move || {
            pass(&gate1);
            fail(&g1, 1, pb);
            let c = g1.pick().expect("c is healthy");
            assert_ne!(c.index, 0, "picked the ejected endpoint");
            assert!(c.index == 2 || c.bypass, "{c:?}");
        });
        pass(&gate);
        let c = g.pick().expect("c is healthy");
        assert_ne!(c.index, 0, "picked the ejected endpoint");
        t.join().unwrap();
        let m = g.metrics();
        let ejected = g.ejected.load(Ordering::Acquire);
        assert_eq!(ejected, 0b001, "a out; b kept in by the cap");
        // Every change of the mask was counted by the CAS that made it.
        assert_eq!((m.ejections, m.restorations), (1, 0));
        let out: Vec<bool> = m.endpoints.iter().map(|e| e.ejected).collect();
        assert_eq!(out, [true, false, false]);
    });
}
