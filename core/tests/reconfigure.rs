//! Live reconfiguration (`Breaker::reconfigure`, `Registry::reconfigure`):
//! settings change in place, state, window and counters are kept, the
//! window's shape cannot change, bad configs are refused with nothing
//! changed.

use fusebox::{
    Backoff, Breaker, Config, ConfigError, ManualClock, Phase, Registry, RejectReason, State,
    WindowConfig,
};
use std::sync::Arc;
use std::time::Duration;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new())
}

fn counting() -> Config {
    Config::builder()
        .count_window(20)
        .min_calls(10)
        .failure_rate_threshold(0.5)
        .consecutive_failures(None)
        .build()
        .unwrap()
}

#[test]
fn a_lowered_threshold_judges_the_kept_window_at_once() {
    let b = Breaker::with_clock(counting(), clock()).unwrap();
    for i in 0..10 {
        let p = b.try_acquire().unwrap();
        if i < 4 {
            p.failure()
        } else {
            p.success()
        }
    }
    assert_eq!(b.state(), State::Closed, "4 of 10 is under 0.5");
    let before = b.metrics();
    let done = b
        .reconfigure(Config {
            failure_rate_threshold: 0.4,
            ..counting()
        })
        .unwrap();
    assert_eq!(done.changed, ["failure_rate_threshold"]);
    assert!(done.tripped, "the kept window already holds 40 % failures");
    assert_eq!(b.state(), State::Open);
    let after = b.metrics();
    assert_eq!(
        (after.successes, after.failures, after.state_changes),
        (before.successes, before.failures, 1)
    );
}

#[test]
fn a_raised_threshold_keeps_the_window_and_stays_closed() {
    let b = Breaker::with_clock(counting(), clock()).unwrap();
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    let done = b
        .reconfigure(Config {
            failure_rate_threshold: 0.9,
            ..counting()
        })
        .unwrap();
    assert!(!done.tripped);
    assert_eq!(b.window_counts().failures, 4, "the window is kept");
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    // 9 failures of 9 calls, min_calls 10: one more success makes 9/10.
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Open, "9 of 10 ≥ 0.9");
}

#[test]
fn a_failure_run_past_a_lowered_limit_trips() {
    let cfg = Config::builder()
        .consecutive_failures(Some(10))
        .build()
        .unwrap();
    let b = Breaker::with_clock(cfg.clone(), clock()).unwrap();
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), State::Closed);
    let done = b
        .reconfigure(Config {
            consecutive_failures: Some(3),
            ..cfg
        })
        .unwrap();
    assert!(done.tripped);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn an_open_period_keeps_its_deadline_and_the_next_uses_the_new_timeout() {
    let c = clock();
    let cfg = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let b = Breaker::with_clock(cfg.clone(), c.clone()).unwrap();
    b.try_acquire().unwrap().failure();
    c.advance(Duration::from_secs(10));
    let g = b.generation();
    b.reconfigure(Config {
        open_timeout: Duration::from_secs(5),
        ..cfg
    })
    .unwrap();
    assert_eq!((b.phase(), b.generation()), (Phase::Open, g), "state kept");
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.retry_after, Some(Duration::from_secs(20)), "old deadline");
    c.advance(Duration::from_secs(20));
    b.try_acquire().unwrap().failure(); // the probe fails: open again
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.retry_after, Some(Duration::from_secs(5)), "new timeout");
}

#[test]
fn probe_limits_change_in_half_open() {
    let c = clock();
    let cfg = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(1))
        .half_open_max_calls(3)
        .success_threshold(3)
        .build()
        .unwrap();
    let b = Breaker::with_clock(cfg.clone(), c.clone()).unwrap();
    b.try_acquire().unwrap().failure();
    c.advance(Duration::from_secs(1));
    let p1 = b.try_acquire().unwrap();
    assert!(p1.is_probe());
    p1.success();
    b.reconfigure(Config {
        half_open_max_calls: 2,
        success_threshold: 2,
        ..cfg
    })
    .unwrap();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "state and the probe's success kept"
    );
    let p2 = b.try_acquire().unwrap();
    assert_eq!(
        b.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull,
        "2 slots now, both taken"
    );
    p2.success();
    assert_eq!(b.state(), State::Closed, "2 successes close it now");
}

#[test]
fn the_slow_call_duration_changes_but_detection_stays_on_or_off() {
    let c = clock();
    let cfg = Config::builder()
        .count_window(10)
        .min_calls(100)
        .consecutive_failures(None)
        .slow_call_duration(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let b = Breaker::with_clock(cfg.clone(), c.clone()).unwrap();
    let p = b.acquire_raw().unwrap();
    c.advance(Duration::from_secs(2));
    b.record_raw(p, fusebox::Outcome::Success, None);
    assert_eq!(b.metrics().slow, 1, "2 s > 1 s");
    let longer = Config {
        slow_call_duration: Some(Duration::from_secs(3)),
        ..cfg.clone()
    };
    assert_eq!(
        b.reconfigure(longer).unwrap().changed,
        ["slow_call_duration"]
    );
    let p = b.acquire_raw().unwrap();
    c.advance(Duration::from_secs(2));
    b.record_raw(p, fusebox::Outcome::Success, None);
    assert_eq!(b.metrics().slow, 1, "2 s < 3 s now");
    // Off, or on for a breaker made without it: refused, nothing changed.
    let off = Config {
        slow_call_duration: None,
        ..cfg.clone()
    };
    let e = b.reconfigure(off).unwrap_err();
    assert_eq!((e.field, e.value.as_str()), ("slow_call_duration", "None"));
    let plain = Breaker::with_clock(counting(), c.clone()).unwrap();
    let on = Config {
        slow_call_duration: Some(Duration::from_millis(500)),
        ..counting()
    };
    let e = plain.reconfigure(on).unwrap_err();
    assert_eq!((e.field, e.value.as_str()), ("slow_call_duration", "0.5"));
    assert_eq!(plain.config(), counting());
}

#[test]
fn another_window_shape_is_refused_with_nothing_changed() {
    let time = Config::builder()
        .time_window(Duration::from_secs(10), 10)
        .build()
        .unwrap();
    let tb = Breaker::with_clock(time.clone(), clock()).unwrap();
    let cb = Breaker::with_clock(counting(), clock()).unwrap();
    let cases: [(&Breaker, WindowConfig, &str); 4] = [
        (&tb, WindowConfig::Count { size: 10 }, "count 10"),
        (
            &tb,
            WindowConfig::Time {
                duration: Duration::from_secs(20),
                buckets: 10,
            },
            "time 20 in 10 buckets",
        ),
        (
            &tb,
            WindowConfig::Time {
                duration: Duration::from_secs(10),
                buckets: 5,
            },
            "time 10 in 5 buckets",
        ),
        (&cb, WindowConfig::Count { size: 21 }, "count 21"),
    ];
    for (b, window, quoted) in cases {
        let before = b.config();
        let err = b
            .reconfigure(Config {
                window,
                min_calls: 3,
                ..before.clone()
            })
            .unwrap_err();
        assert_eq!((err.field, err.value.as_str()), ("window", quoted));
        assert!(err.to_string().starts_with(&format!(
            "invalid window: {quoted} (expected the breaker's own window"
        )));
        assert_eq!(b.config(), before, "nothing changed");
    }
}

#[test]
fn a_bad_config_gets_the_errors_of_a_new_breaker() {
    let b = Breaker::with_clock(Config::default(), clock()).unwrap();
    let bads = [
        Config {
            min_calls: 0,
            ..Config::default()
        },
        Config {
            success_threshold: 9,
            ..Config::default()
        },
        Config {
            backoff: Some(Backoff {
                multiplier: 2.0,
                max: Duration::from_secs(1),
            }),
            ..Config::default()
        },
        Config {
            jitter: f64::NAN,
            ..Config::default()
        },
    ];
    for bad in bads {
        let want: ConfigError = bad.validate().unwrap_err();
        assert_eq!(b.reconfigure(bad).unwrap_err(), want);
        assert_eq!(b.config(), Config::default());
    }
}

#[test]
fn config_reads_back_every_setting() {
    let start = Config {
        slow_call_duration: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let b = Breaker::with_clock(start, clock()).unwrap();
    let all = Config {
        failure_rate_threshold: 0.25,
        consecutive_failures: None,
        min_calls: 33,
        window: WindowConfig::default(),
        open_timeout: Duration::from_millis(1500),
        backoff: Some(Backoff {
            multiplier: 1.5,
            max: Duration::from_secs(90),
        }),
        jitter: 0.125,
        half_open_max_calls: 7,
        success_threshold: 4,
        half_open_max_wait: Duration::from_secs(11),
        slow_call_duration: Some(Duration::from_micros(2500)),
        slow_call_rate_threshold: 0.75,
        max_open_for: Duration::from_secs(99),
        cancellation: fusebox::Cancellation::Failure,
    };
    let done = b.reconfigure(all.clone()).unwrap();
    assert_eq!(done.changed.len(), 13, "{:?}", done.changed);
    assert_eq!(b.config(), all);
    assert!(b.reconfigure(all).unwrap().changed.is_empty());
}

#[test]
fn calls_racing_reconfigurations_see_whole_settings() {
    // Real threads: calls go on while another thread flips the settings;
    // nothing panics, every call is counted, the last config is in force.
    let a = counting();
    let z = Config {
        failure_rate_threshold: 0.9,
        min_calls: 15,
        open_timeout: Duration::from_secs(7),
        ..counting()
    };
    let b = Arc::new(Breaker::new(a.clone()).unwrap());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    if let Ok(p) = b.try_acquire() {
                        p.success();
                    }
                }
            })
        })
        .collect();
    for i in 0..2_000 {
        b.reconfigure(if i % 2 == 0 { z.clone() } else { a.clone() })
            .unwrap();
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(b.config(), a);
    assert_eq!(b.metrics().successes, 40_000);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn through_the_registry() {
    let r = Registry::new(counting(), clock());
    let db = r.get_or_create("db").unwrap();
    for _ in 0..4 {
        db.try_acquire().unwrap().failure();
    }
    let done = r
        .reconfigure(
            "db",
            Config {
                min_calls: 4,
                ..counting()
            },
        )
        .unwrap()
        .unwrap();
    assert!(done.tripped);
    assert_eq!(db.state(), State::Open);
    let err = r
        .reconfigure(
            "db",
            Config {
                window: WindowConfig::Count { size: 5 },
                ..counting()
            },
        )
        .unwrap_err();
    assert!(matches!(err, fusebox::RegistryError::Config(e) if e.field == "window"));
    assert_eq!(db.config().min_calls, 4, "refused: unchanged");
    assert!(r.reconfigure("", counting()).is_err());
}
