//! Every case of scenarios/bad_input/cases.json through the Rust API: the
//! kind, the field named in the message, and (for durations out of range)
//! the unit of the input, ms as scenario configs take them.
#![cfg(not(loom))]

use fusebox::retry::{HedgeDelay, HedgePolicy};
use fusebox::retry_scenario::{BudgetSpec, PolicySpec};
use fusebox::scenario::{BackoffSpec, ConfigSpec, WindowSpec};
use fusebox::{ErrorKind, LatencyHistogram, ManualClock, Registry};
use serde_json::Value;
use std::sync::Arc;

fn table() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/bad_input/cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// A neutral number: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => panic!("not a number: {other}"),
        },
        other => panic!("not a number: {other}"),
    }
}

fn int(v: &Value) -> u32 {
    u32::try_from(v.as_u64().unwrap()).unwrap()
}

fn name(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => v["repeat"]
            .as_str()
            .unwrap()
            .repeat(v["times"].as_u64().unwrap() as usize),
    }
}

fn spec(config: &Value) -> ConfigSpec {
    let mut c = ConfigSpec::default();
    for (k, v) in config.as_object().unwrap() {
        match k.as_str() {
            "failure_rate_threshold" => c.failure_rate_threshold = Some(num(v)),
            "consecutive_failures" => c.consecutive_failures = Some(v.as_u64().map(|n| n as u32)),
            "min_calls" => c.min_calls = Some(int(v)),
            "window" => {
                c.window = Some(match v["type"].as_str().unwrap() {
                    "time" => WindowSpec::Time {
                        duration_ms: num(&v["duration_ms"]),
                        buckets: int(&v["buckets"]),
                    },
                    _ => WindowSpec::Count {
                        size: int(&v["size"]),
                    },
                })
            }
            "open_timeout_ms" => c.open_timeout_ms = Some(num(v)),
            "backoff" => {
                c.backoff = Some(BackoffSpec {
                    multiplier: num(&v["multiplier"]),
                    max_ms: num(&v["max_ms"]),
                })
            }
            "jitter" => c.jitter = Some(num(v)),
            "half_open_max_calls" => c.half_open_max_calls = Some(int(v)),
            "success_threshold" => c.success_threshold = Some(int(v)),
            "half_open_max_wait_ms" => c.half_open_max_wait_ms = Some(num(v)),
            "slow_call_duration_ms" => c.slow_call_duration_ms = Some(num(v)),
            "slow_call_rate_threshold" => c.slow_call_rate_threshold = Some(num(v)),
            "max_open_for_ms" => c.max_open_for_ms = Some(num(v)),
            "cancellation" => c.cancellation = Some(v.as_str().unwrap().into()),
            other => panic!("unknown config key {other}: teach this runner"),
        }
    }
    c
}

/// A retry case's policy keys, as in `scenarios/retry/*.json`.
fn policy_spec(v: &Value) -> PolicySpec {
    let mut p = PolicySpec::default();
    for (k, v) in v.as_object().unwrap() {
        match k.as_str() {
            "max_attempts" => p.max_attempts = Some(int(v)),
            "base_backoff_ms" => p.base_backoff_ms = Some(num(v)),
            "max_backoff_ms" => p.max_backoff_ms = Some(num(v)),
            "deadline_ms" => p.deadline_ms = Some(num(v)),
            "min_attempt_ms" => p.min_attempt_ms = Some(num(v)),
            "retry_after_cap_ms" => p.retry_after_cap_ms = Some(num(v)),
            other => panic!("unknown retry key {other}: teach this runner"),
        }
    }
    p
}

/// A hedge case's keys (`max_hedges`, `delay_ms`, `quantile`) built into a
/// hedge policy: a delay in ms read as every front end reads a duration,
/// a quantile over an empty histogram (50 ms while it is empty).
fn hedge_policy(v: &Value) -> Result<HedgePolicy, fusebox::ConfigError> {
    let mut b = HedgePolicy::builder().name("bad-input");
    for (k, v) in v.as_object().unwrap() {
        b = match k.as_str() {
            "max_hedges" => b.max_hedges(int(v)),
            "delay_ms" => b.delay(HedgeDelay::Fixed(fusebox::config::duration_in(
                "delay",
                num(v),
                fusebox::Unit::Millis,
            )?)),
            "quantile" => b.delay(HedgeDelay::Quantile {
                histogram: Arc::new(LatencyHistogram::new(Arc::new(ManualClock::new()))),
                quantile: num(v),
                fallback: std::time::Duration::from_millis(50),
            }),
            other => panic!("unknown hedge key {other}: teach this runner"),
        };
    }
    b.build()
}

/// A retry budget case's keys, as in `scenarios/retry/*.json`.
fn budget_spec(v: &Value) -> BudgetSpec {
    let mut b = BudgetSpec::default();
    for (k, v) in v.as_object().unwrap() {
        match k.as_str() {
            "ratio" => b.ratio = Some(num(v)),
            "min_per_sec" => b.min_per_sec = Some(int(v)),
            "window_ms" => b.window_ms = Some(num(v)),
            "buckets" => b.buckets = Some(int(v)),
            other => panic!("unknown retry budget key {other}: teach this runner"),
        }
    }
    b
}

#[test]
fn every_bad_input_is_refused_by_kind_and_field() {
    let cases = table();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut ran = 0;
    for case in &cases {
        let what = case["what"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let field = case["field"].as_str().unwrap();
        let (got_kind, message) = if let Some(n) = case.get("name") {
            let e = Registry::default().get_or_create(&name(n)).unwrap_err();
            (e.kind(), e.to_string())
        } else if let Some(c) = case.get("config") {
            let e = spec(c).to_config().unwrap_err();
            assert_eq!(e.field, field, "{what}: {e}");
            (e.kind(), e.to_string())
        } else if let Some(r) = case.get("retry") {
            let e = policy_spec(r).to_policy("bad-input").unwrap_err();
            assert_eq!(e.field, field, "{what}: {e}");
            (e.kind(), e.to_string())
        } else if let Some(h) = case.get("hedge") {
            let e = hedge_policy(h).unwrap_err();
            assert_eq!(e.field, field, "{what}: {e}");
            (e.kind(), e.to_string())
        } else if let Some(b) = case.get("retry_budget") {
            let e = budget_spec(b).to_config().unwrap_err();
            assert_eq!(e.field, field, "{what}: {e}");
            (e.kind(), e.to_string())
        } else if let Some(v) = case.get("open_for") {
            // Breaker::open_for takes a Duration, which cannot be negative
            // or NaN: the check every front end's float goes through.
            let e = fusebox::input::duration_arg("duration", num(v), fusebox::Unit::Millis)
                .unwrap_err();
            assert_eq!(e.argument, field, "{what}: {e}");
            (e.kind(), e.to_string())
        } else {
            // Permit::success and the others take the permit by value: a
            // second outcome does not compile in Rust.
            assert_eq!(kind, ErrorKind::OutcomeAlreadyRecorded.as_str(), "{what}");
            continue;
        };
        ran += 1;
        assert_eq!(got_kind.as_str(), kind, "{what}: {message}");
        assert!(
            message.contains(field),
            "{what}: {message:?} does not name {field}"
        );
        if case["duration"] == Value::Bool(true) {
            assert!(
                message.ends_with("] ms)"),
                "{what}: {message:?} is not in ms"
            );
        }
    }
    assert!(ran >= 63, "ran {ran}");
}

#[test]
fn the_same_duration_reads_in_each_unit() {
    use fusebox::config::duration_in;
    use fusebox::Unit;
    let s = duration_in("open_timeout", 0.0, Unit::Seconds).unwrap_err();
    let ms = duration_in("open_timeout", f64::INFINITY, Unit::Millis).unwrap_err();
    let ns = duration_in("open_timeout", -1.0, Unit::Nanos).unwrap_err();
    assert_eq!(
        s.to_string(),
        "invalid open_timeout: 0 (expected a duration in (0, 1 000 000] seconds)"
    );
    assert_eq!(
        ms.render("openTimeoutMs"),
        "invalid openTimeoutMs: Infinity (expected a duration in (0, 1 000 000 000] ms)"
    );
    assert!(ns.to_string().ends_with("1 000 000 000 000 000] ns)"));
    assert_eq!(
        duration_in("x", 1500.0, Unit::Millis).unwrap(),
        std::time::Duration::from_millis(1500)
    );
    // A Duration field checked by validate_in quotes it in the unit too.
    let c = fusebox::Config {
        open_timeout: std::time::Duration::ZERO,
        ..Default::default()
    };
    assert!(c
        .validate_in(Unit::Nanos)
        .unwrap_err()
        .to_string()
        .contains(": 0 (expected a duration in (0, 1 000 000 000 000 000] ns)"));
}
