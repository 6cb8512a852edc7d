//! Snapshot and restore: a registry's breakers written to a file and read
//! back, an Open breaker open for the rest of its period on the restoring
//! registry's clock; bad files refused whole, with nothing applied.

use fusebox::snapshot::{Snapshot, SnapshotError, FORMAT};
use fusebox::{Backoff, Config, ManualClock, Phase, Registry, State, WindowConfig};
use std::sync::Arc;
use std::time::Duration;

fn trips() -> Config {
    Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap()
}

fn registry() -> (Arc<ManualClock>, Registry) {
    let c = Arc::new(ManualClock::new());
    (c.clone(), Registry::new(trips(), c))
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fusebox-snap-{}-{name}.json", std::process::id()))
}

/// A registry with one breaker in each phase; "open" has 20 s left.
fn every_phase() -> Registry {
    let (c, r) = registry();
    r.get_or_create("closed").unwrap();
    r.get_or_create("open")
        .unwrap()
        .try_acquire()
        .unwrap()
        .failure();
    let h = r.get_or_create("half_open").unwrap();
    h.try_acquire().unwrap().failure();
    r.get_or_create("forced").unwrap().force_open();
    r.get_or_create("disabled").unwrap().disable();
    c.advance(Duration::from_secs(30));
    let probe = h.try_acquire().unwrap(); // open timeout over: half-open
    assert!(probe.is_probe());
    std::mem::forget(probe); // in flight when the process stops
    r.get("open").unwrap().open_for(Duration::from_secs(20));
    r
}

#[test]
fn every_phase_round_trips_through_a_file() {
    let path = temp("round");
    every_phase().write_state(&path).unwrap();
    let (c, r) = registry();
    let snap = Snapshot::read(&path).unwrap();
    let done = r.restore_state_after(&snap, Duration::ZERO).unwrap();
    assert_eq!(done.created.len(), 5);
    let phase = |n: &str| r.get(n).unwrap().phase();
    assert_eq!(phase("closed"), Phase::Closed);
    assert_eq!(phase("forced"), Phase::ForcedOpen);
    assert_eq!(phase("disabled"), Phase::Disabled);
    assert_eq!(phase("open"), Phase::Open);
    // Half-open comes back open with nothing left: the next call probes.
    assert_eq!(phase("half_open"), Phase::Open);
    assert!(r
        .get("half_open")
        .unwrap()
        .try_acquire()
        .unwrap()
        .is_probe());
    let open = r.get("open").unwrap();
    assert_eq!(
        open.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(20))
    );
    c.advance(Duration::from_secs(20));
    assert!(open.try_acquire().unwrap().is_probe());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn the_time_since_writing_is_taken_off_the_open_period() {
    let snap = every_phase().save_state();
    for (elapsed, left) in [(5, Some(15)), (19, Some(1)), (20, None), (3600, None)] {
        let (_c, r) = registry();
        r.restore_state_after(&snap, Duration::from_secs(elapsed))
            .unwrap();
        let open = r.get("open").unwrap();
        match left {
            Some(s) => assert_eq!(
                open.try_acquire().unwrap_err().retry_after,
                Some(Duration::from_secs(s)),
                "{elapsed} s later"
            ),
            None => assert!(open.try_acquire().unwrap().is_probe(), "{elapsed} s later"),
        }
    }
    // Wall time: a snapshot written "now" has (nearly) all of it left.
    let (_c, r) = registry();
    r.restore_state(&snap).unwrap();
    let left = r
        .get("open")
        .unwrap()
        .try_acquire()
        .unwrap_err()
        .retry_after;
    assert!(left.unwrap() > Duration::from_secs(10), "{left:?}");
}

#[test]
fn settings_and_the_back_off_count_come_back() {
    let c = Arc::new(ManualClock::new());
    let cfg = Config {
        backoff: Some(Backoff {
            multiplier: 2.0,
            max: Duration::from_secs(1000),
        }),
        window: WindowConfig::Count { size: 7 },
        slow_call_duration: Some(Duration::from_micros(1500)),
        jitter: 0.0,
        ..trips()
    };
    let r = Registry::new(cfg.clone(), c.clone());
    let b = r.get_or_create("db").unwrap();
    b.try_acquire().unwrap().failure(); // open 30 s
    c.advance(Duration::from_secs(30));
    b.try_acquire().unwrap().failure(); // probe failed: open 60 s, 1 re-open
    let snap = r.save_state();
    assert_eq!(snap.breakers[0].reopens, 1);

    let (c2, r2) = registry(); // another default config
    r2.restore_state_after(&snap, Duration::ZERO).unwrap();
    let b2 = r2.get("db").unwrap();
    assert_eq!(b2.config(), cfg, "the saved settings");
    c2.advance(Duration::from_secs(60));
    b2.try_acquire().unwrap().failure(); // a second failed round: 120 s
    assert_eq!(
        b2.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(120))
    );
}

#[test]
fn an_existing_breaker_is_updated_in_place() {
    let snap = every_phase().save_state();
    let (_c, r) = registry();
    let open = r
        .get_or_create_with(
            "open",
            Config {
                min_calls: 99,
                ..trips()
            },
        )
        .unwrap();
    let done = r.restore_state_after(&snap, Duration::ZERO).unwrap();
    assert_eq!(done.updated, ["open"]);
    assert!(Arc::ptr_eq(&open, &r.get("open").unwrap()));
    assert_eq!(open.config(), trips());
    assert_eq!(open.state(), State::Open);
}

fn refused(r: &Registry, text: &str) -> SnapshotError {
    let before = r.names().len();
    let err = Snapshot::parse(text)
        .and_then(|s| r.restore_state_after(&s, Duration::ZERO))
        .unwrap_err();
    assert_eq!(r.names().len(), before, "nothing applied: {err}");
    err
}

#[test]
fn damaged_truncated_foreign_and_newer_files_are_refused_by_name() {
    let (_c, r) = registry();
    let good = every_phase().save_state().to_json();
    let e = refused(&r, &good[..good.len() / 2]);
    assert!(matches!(e, SnapshotError::Damaged(_)), "{e}");
    assert!(e.to_string().contains("EOF while parsing"), "{e}");
    let e = refused(&r, "not json at all");
    assert!(
        e.to_string()
            .starts_with("snapshot is damaged or truncated: expected"),
        "{e}"
    );
    let e = refused(&r, &good.replace(FORMAT, "hystrix.state"));
    assert_eq!(
        e.to_string(),
        "snapshot is not a fusebox snapshot: format \"hystrix.state\" (expected \"fusebox.snapshot\")"
    );
    let e = refused(&r, r#"{"version": 1, "breakers": []}"#);
    assert_eq!(e, SnapshotError::Foreign("none".into()));
    let e = refused(&r, &good.replace("\"version\": 1", "\"version\": 2"));
    assert_eq!(
        e.to_string(),
        "snapshot version 2 is newer than this fusebox reads (up to 1)"
    );
    let e = refused(&r, &good.replace("\"version\": 1", "\"version\": \"one\""));
    assert_eq!(
        e.to_string(),
        "snapshot version: \"one\" (expected a version 1..=1)"
    );
    let e = refused(&r, &good.replace("\"reopens\"", "\"reopen_count\""));
    assert!(
        e.to_string()
            .starts_with("snapshot layout: unknown field `reopen_count`"),
        "{e}"
    );
}

#[test]
fn one_bad_entry_refuses_the_whole_snapshot() {
    let mut snap = every_phase().save_state();
    let last = snap.breakers.len() - 1;
    let (_c, r) = registry();
    let check = |snap: &Snapshot, want: &str| {
        let e = refused(&r, &snap.to_json());
        assert_eq!(e.to_string(), want);
    };
    let name = snap.breakers[last].name.clone();
    snap.breakers[last].config.min_calls = 0;
    check(
        &snap,
        &format!("snapshot breakers[{last}] {name:?}.config: invalid min_calls: 0 (expected 1..=1 000 000 000)"),
    );
    snap.breakers[last].config.min_calls = 10;
    snap.breakers[last].phase = "ajar".into();
    check(
        &snap,
        &format!("snapshot breakers[{last}] {name:?}.phase: \"ajar\" (expected closed, open, half_open, forced_open or disabled)"),
    );
    snap.breakers[last].phase = "open".into();
    snap.breakers[last].open_remaining_ms = Some(-1.0);
    check(
        &snap,
        &format!("snapshot breakers[{last}] {name:?}.open_remaining_ms: -1 (expected a duration ≥ 0 ms for an open breaker)"),
    );
    snap.breakers[last].open_remaining_ms = Some(5.0);
    snap.breakers[last].name = snap.breakers[0].name.clone();
    check(
        &snap,
        &format!(
            "snapshot breakers[{last}] {:?}: a second entry of this name",
            snap.breakers[0].name
        ),
    );
    snap.breakers[last].name = String::new();
    let e = refused(&r, &snap.to_json());
    assert!(
        e.to_string()
            .starts_with(&format!("snapshot breakers[{last}] \"\": ")),
        "{e}"
    );
}

#[test]
fn a_breaker_that_cannot_take_the_saved_window_refuses_it_all() {
    let snap = every_phase().save_state();
    let (_c, r) = registry();
    // Sorted by name: "closed" comes before "open", and must not be applied.
    let closed = r.get_or_create("closed").unwrap();
    closed.force_open();
    let open = r
        .get_or_create_with(
            "open",
            Config {
                window: WindowConfig::Count { size: 10 },
                ..trips()
            },
        )
        .unwrap();
    let e = r.restore_state_after(&snap, Duration::ZERO).unwrap_err();
    assert!(
        e.to_string().starts_with("snapshot breakers[")
            && e.to_string().contains("\"open\".config: the registry's breaker refuses it: invalid window: time 10000 in 10 buckets"),
        "{e}"
    );
    assert_eq!(closed.phase(), Phase::ForcedOpen, "nothing applied");
    assert_eq!(open.state(), State::Closed);
    assert_eq!(r.names().len(), 2);
}

#[test]
fn a_missing_file_names_its_path() {
    let path = temp("missing");
    let (_c, r) = registry();
    let e = r.restore_file(&path).unwrap_err();
    assert!(matches!(e, SnapshotError::Io(_)));
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}
