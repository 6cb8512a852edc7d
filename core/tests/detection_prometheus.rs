//! Prometheus exposition of a whole registry
//! (`docs/semantics.md#prometheus-exposition`), checked with a
//! Prometheus text-format parser (and with promtool when it is installed).
//!
//! With `FUSEBOX_SAMPLE_EXPOSITION=<path>` the sample exposition is also
//! written there (scripts/test.d/30-monitoring.sh lints it with promtool).

use fusebox::failover::{Endpoint, FailoverGroup};
use fusebox::histogram::LatencyHistogram;
use fusebox::prometheus::{
    escape_label, format_value, render_registry, write_failover_groups, write_keyed,
    write_latencies, write_retry_budgets, write_retry_policies,
};
use fusebox::retry::ManualSleeper;
use fusebox::{
    Bulkhead, Clock, Config, KeyedBreakers, ManualClock, Registry, RetryBudget, RetryBudgetConfig,
    RetryPolicy,
};
use prometheus_parse::{Scrape, Value};
use std::sync::Arc;
use std::time::Duration;

fn registry(clock: &Arc<ManualClock>) -> Registry {
    let config = Config::builder()
        .min_calls(4)
        .consecutive_failures(None)
        .open_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Registry::new(config, clock.clone())
}

/// A registry with a breaker in every state.
fn populated(clock: &Arc<ManualClock>) -> Registry {
    let r = registry(clock);
    let probe = r.get_or_create("user:get").unwrap();
    for _ in 0..4 {
        let _ = probe.call(|| Err::<(), _>(()));
    }
    clock.advance(Duration::from_secs(31));
    // Half-open with a probe in flight (reported as ignored).
    probe.try_acquire().unwrap().ignore();
    let pay = r.get_or_create("payment:pay").unwrap();
    for i in 0..10 {
        let _ = pay.call(|| if i % 5 == 0 { Err(()) } else { Ok(()) });
    }
    let inv = r.get_or_create("inventory:get").unwrap();
    for _ in 0..4 {
        let _ = inv.call(|| Err::<(), _>(()));
    }
    for _ in 0..3 {
        assert!(inv.try_acquire().is_err());
    }
    r.get_or_create("search:query").unwrap().force_open();
    r.get_or_create("reviews:list").unwrap().disable();
    let ok = r.get_or_create("reviews:list").unwrap();
    ok.call(|| Ok::<_, ()>(())).unwrap();
    r
}

fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    match found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{metric}: unexpected {other:?}"),
    }
}

fn parse(text: &str) -> Scrape {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    // The parser skips lines it cannot read: every sample line must be there.
    let sample_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "unparsed lines in:\n{text}"
    );
    scrape
}

#[test]
fn a_whole_registry_is_exposed_and_parses() {
    let clock = Arc::new(ManualClock::new());
    let r = populated(&clock);
    let text = r.prometheus();
    let s = parse(&text);

    for family in [
        "fusebox_calls_total",
        "fusebox_slow_calls_total",
        "fusebox_rejected_total",
        "fusebox_state_changes_total",
        "fusebox_state",
        "fusebox_manual_override",
        "fusebox_failure_rate",
        "fusebox_slow_call_rate",
        "fusebox_window_calls",
        "fusebox_events_dropped_total",
        "fusebox_listener_panics_total",
    ] {
        assert!(s.docs.contains_key(family), "no HELP for {family}");
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {family}"
        );
    }

    let calls = |b, o| value(&s, "fusebox_calls_total", &[("breaker", b), ("outcome", o)]);
    assert_eq!(calls("payment:pay", "success"), 8.0);
    assert_eq!(calls("payment:pay", "failure"), 2.0);
    assert_eq!(calls("inventory:get", "failure"), 4.0);
    assert_eq!(calls("user:get", "ignored"), 1.0);
    assert_eq!(calls("reviews:list", "success"), 1.0);
    assert_eq!(
        value(
            &s,
            "fusebox_rejected_total",
            &[("breaker", "inventory:get")]
        ),
        3.0
    );
    assert_eq!(
        value(&s, "fusebox_failure_rate", &[("breaker", "payment:pay")]),
        0.2
    );

    let state = |b, st| value(&s, "fusebox_state", &[("breaker", b), ("state", st)]);
    for (b, want) in [
        ("payment:pay", "closed"),
        ("inventory:get", "open"),
        ("user:get", "half_open"),
        ("search:query", "open"),
        ("reviews:list", "closed"),
    ] {
        for st in ["closed", "open", "half_open"] {
            assert_eq!(state(b, st), f64::from(u8::from(st == want)), "{b} {st}");
        }
    }
    let manual = |b, m| {
        value(
            &s,
            "fusebox_manual_override",
            &[("breaker", b), ("mode", m)],
        )
    };
    assert_eq!(manual("search:query", "forced_open"), 1.0);
    assert_eq!(manual("reviews:list", "disabled"), 1.0);
    assert_eq!(manual("payment:pay", "disabled"), 0.0);
    // closed -> open -> half-open
    assert_eq!(
        value(
            &s,
            "fusebox_state_changes_total",
            &[("breaker", "user:get")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &s,
            "fusebox_state_changes_total",
            &[("breaker", "payment:pay")]
        ),
        0.0
    );

    // Every family's samples are contiguous (the format requires it).
    let names: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for w in names.windows(2) {
        if w[0] != w[1] {
            assert!(seen.insert(w[0]), "{} is split", w[0]);
        }
    }
    promtool_check(&text);
}

#[test]
fn counters_never_go_backwards_across_scrapes() {
    let clock = Arc::new(ManualClock::new());
    let r = populated(&clock);
    let before = parse(&r.prometheus());
    let pay = r.get("payment:pay").unwrap();
    for _ in 0..20 {
        pay.call(|| Ok::<_, ()>(())).unwrap();
    }
    // Time moves past the window: window gauges drop, totals do not.
    clock.advance(Duration::from_secs(60));
    r.get("inventory:get").unwrap().reset();
    let after = parse(&r.prometheus());
    for b in before
        .samples
        .iter()
        .filter(|x| x.metric.ends_with("_total"))
    {
        let labels: Vec<(&str, &str)> = b
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let old = value(&before, &b.metric, &labels);
        let new = value(&after, &b.metric, &labels);
        assert!(
            new >= old,
            "{} {labels:?} went from {old} to {new}",
            b.metric
        );
    }
    assert_eq!(
        value(
            &after,
            "fusebox_calls_total",
            &[("breaker", "payment:pay"), ("outcome", "success")]
        ),
        28.0
    );
    assert_eq!(
        value(
            &after,
            "fusebox_window_calls",
            &[("breaker", "payment:pay")]
        ),
        0.0
    );
}

#[test]
fn labels_are_escaped_and_values_formatted() {
    assert_eq!(escape_label("a\"b\\c\nd:e"), "a\\\"b\\\\c\\nd:e");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(0.25), "0.25");
    let clock = Arc::new(ManualClock::new());
    let r = registry(&clock);
    r.get_or_create("odd \"name\" \\ here").unwrap();
    let text = r.prometheus();
    assert!(text.contains(r#"fusebox_rejected_total{breaker="odd \"name\" \\ here"} 0"#));
    promtool_check(&text);
}

#[test]
fn latency_quantiles_are_exposed() {
    let clock = Arc::new(ManualClock::new());
    let h = LatencyHistogram::new(clock.clone());
    for ms in 1..=100u64 {
        h.record(Duration::from_millis(ms));
    }
    let empty = LatencyHistogram::new(clock.clone());
    let mut text = String::new();
    write_latencies(&mut text, &[("payment:pay", &h), ("idle:op", &empty)]);
    let s = parse(&text);
    let p95 = value(
        &s,
        "fusebox_latency_seconds",
        &[("breaker", "payment:pay"), ("percentile", "95")],
    );
    assert!((p95 - 0.095).abs() < 0.095 * 0.02, "p95 {p95}");
    assert_eq!(
        value(
            &s,
            "fusebox_latency_window_samples",
            &[("breaker", "idle:op")]
        ),
        0.0
    );
    assert!(!text.contains("breaker=\"idle:op\",percentile"));
    promtool_check(&text);
}

/// The sample exposition for `promtool check metrics` and the Grafana
/// dashboard's check (see the module doc): every family the writer has.
#[test]
fn write_sample_exposition() {
    let clock = Arc::new(ManualClock::new());
    let r = populated(&clock);
    r.get_or_create("odd \"name\" \\ here").unwrap();
    r.get_or_create(QUOTE_NEWLINE).unwrap();
    let h = LatencyHistogram::new(clock.clone());
    for ms in 1..=200u64 {
        h.record(Duration::from_micros(ms * 250));
    }
    let mut text = render_registry(&r);
    write_latencies(&mut text, &[("payment:pay", &h)]);

    let bulkhead = Bulkhead::builder().name("payment:pool").build().unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    fusebox::bulkhead::write_prometheus(&mut text, &[bulkhead.metrics()]);

    let budget =
        RetryBudget::named("payment", RetryBudgetConfig::default(), clock.clone()).unwrap();
    budget.deposit();
    write_retry_budgets(&mut text, &[budget.stats()]);
    let breaker = r.get("payment:pay").unwrap();
    let policy = RetryPolicy::builder()
        .name("payment")
        .max_attempts(2)
        .seed(1)
        .build()
        .unwrap();
    policy.call(
        &breaker,
        &budget,
        &ManualSleeper::new(clock.clone()),
        |_| Ok::<_, ()>(()),
    );
    write_retry_policies(&mut text, &[policy.metrics()]);

    let group = FailoverGroup::builder("orders-db")
        .clock(clock.clone())
        .breaker_config(
            Config::builder()
                .consecutive_failures(Some(1))
                .build()
                .unwrap(),
        )
        .endpoint(Endpoint::new("primary", 1))
        .endpoint(Endpoint::new("standby", 2))
        .build()
        .unwrap();
    let _ = group.call(|n| if *n == 1 { Err("down") } else { Ok(()) });
    write_failover_groups(&mut text, &[group.metrics()]);

    let keyed = KeyedBreakers::new("tenants", 10, Config::default(), clock.clone()).unwrap();
    keyed.get_or_create("acme").unwrap();
    write_keyed(&mut text, &[keyed.stats()]);

    assert!(clock.now_ns() > 0);
    if let Some(path) = std::env::var_os("FUSEBOX_SAMPLE_EXPOSITION") {
        std::fs::write(path, &text).unwrap();
    }
    let s = parse(&text);
    for family in [
        "fusebox_failure_rate_threshold",
        "fusebox_bulkhead_in_flight",
        "fusebox_retry_budget_available",
        "fusebox_retry_calls_total",
        "fusebox_failover_failovers_total",
        "fusebox_keyed_breakers",
    ] {
        assert!(s.docs.contains_key(family), "no {family} in the sample");
    }
    assert_eq!(
        value(
            &s,
            "fusebox_failover_failovers_total",
            &[("group", "orders-db")]
        ),
        1.0
    );
    promtool_check(&text);
}

/// A breaker name with a double quote and a line feed.
const QUOTE_NEWLINE: &str = "a\"b\nc";

/// `a"b<LF>c` gives valid exposition whose label reads back as the name.
#[test]
fn a_name_with_quote_and_newline_parses_back() {
    let clock = Arc::new(ManualClock::new());
    let r = registry(&clock);
    let b = r.get_or_create(QUOTE_NEWLINE).unwrap();
    b.call(|| Err::<(), _>(())).unwrap_err();
    let text = render_registry(&r);
    assert!(text.contains("fusebox_rejected_total{breaker=\"a\\\"b\\nc\"} 0\n"));
    // Every sample is on one line: the line feed did not break it.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("fusebox_"), "broken line: {line:?}");
    }
    let s = parse(&text);
    let read_back: Vec<String> = s
        .samples
        .iter()
        .filter(|x| x.metric == "fusebox_calls_total")
        .map(|x| unescape(x.labels.get("breaker").unwrap()))
        .collect();
    assert_eq!(read_back, [QUOTE_NEWLINE; 3]);
    promtool_check(&text);
}

/// The text format's label unescaping (`\\`, `\"`, `\n`), for parsers that
/// hand back the raw value.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Lint with the real Prometheus parser when promtool is on the PATH
/// (scripts/test.d/30-monitoring.sh installs it).
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("promtool not installed: skipped its lint here");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
