//! Prometheus text exposition (format 0.0.4) of breaker and bulkhead
//! metrics (`docs/semantics.md#prometheus-exposition`): the one writer of
//! the crate, every family's `# HELP` and `# TYPE` written by one helper,
//! every label value escaped by [`escape_label`].
//!
//! ```text
//! fusebox_calls_total{breaker,outcome}      counter  success | failure | ignored
//! fusebox_slow_calls_total{breaker}         counter
//! fusebox_rejected_total{breaker}           counter
//! fusebox_state_changes_total{breaker}      counter
//! fusebox_state{breaker,state}              gauge    1 for the current state of
//!                                                    closed | open | half_open
//! fusebox_manual_override{breaker,mode}     gauge    forced_open | disabled
//! fusebox_failure_rate{breaker}             gauge    failures / calls in the window
//! fusebox_slow_call_rate{breaker}           gauge
//! fusebox_window_calls{breaker}             gauge    calls in the window
//! fusebox_events_dropped_total              counter  events lost to a full queue
//! fusebox_listener_panics_total             counter  listener panics caught
//! fusebox_latency_seconds{breaker,percentile} gauge  P50/P95/P99 (write_latencies)
//! fusebox_bulkhead_*{bulkhead}                gauge, counter (crate::bulkhead::write_prometheus)
//! fusebox_keyed_breakers{keyed}              gauge    breakers in a keyed set (write_keyed)
//! fusebox_keyed_capacity{keyed}              gauge    its capacity
//! fusebox_keyed_evictions_total{keyed}       counter  breakers evicted to make room
//! fusebox_keyed_refusals_total{keyed}        counter  creations refused: full, nothing evictable
//! ```
//!
//! Counters come from [`Breaker::metrics`](crate::Breaker::metrics), whose
//! totals never go backwards. The alert rules that go with these names are
//! in `monitoring/fusebox.rules.yml`.
//!
//! Serve [`crate::Registry::prometheus`] (or [`render`]) on `/metrics` with
//! the content type [`CONTENT_TYPE`].

use crate::bulkhead::BulkheadMetrics;
use crate::detect::histogram::LatencyHistogram;
use crate::engine::keyed::KeyedStats;
use crate::engine::metrics::Metrics;
use crate::engine::state::{Phase, State};
#[cfg(feature = "failover")]
use crate::failover::GroupMetrics;
use crate::retry::{RetryBudgetStats, RetryMetrics};
use std::fmt::{Display, Write};

/// The content type of the text format.
///
/// ```rust
/// use fusebox::prometheus::CONTENT_TYPE;
/// use fusebox::Registry;
///
/// let registry = Registry::default();
/// // What a /metrics handler answers:
/// let (content_type, body) = (CONTENT_TYPE, registry.prometheus());
/// assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
/// assert!(body.contains("# TYPE fusebox_rejected_total counter\n"));
/// ```
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escape a label value: backslash, double quote and line feed.
///
/// ```rust
/// use fusebox::prometheus::escape_label;
///
/// assert_eq!(escape_label("db:get"), "db:get");
/// assert_eq!(escape_label("say \"hi\"\n"), r#"say \"hi\"\n"#);
/// assert_eq!(escape_label(r"C:\dir"), r"C:\\dir");
/// ```
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`).
///
/// ```rust
/// use fusebox::prometheus::format_value;
///
/// assert_eq!(format_value(0.25), "0.25");
/// assert_eq!(format_value(3.0), "3");
/// assert_eq!(format_value(f64::INFINITY), "+Inf");
/// assert_eq!(format_value(f64::NAN), "NaN");
/// ```
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A family with one sample per item, labelled `label` with the item's
/// escaped name (`names`, in the order of `items`): `name{label="n"} v`.
fn labelled<T, V: Display>(
    out: &mut String,
    (name, kind, help): (&str, &str, &str),
    label: &str,
    names: &[String],
    items: &[T],
    value: impl Fn(&T) -> V,
) {
    family(out, name, kind, help);
    for (item, n) in items.iter().zip(names) {
        let _ = writeln!(out, "{name}{{{label}=\"{n}\"}} {}", value(item));
    }
}

/// The exposition of `metrics` (one entry per breaker) plus the event
/// dispatcher's counters.
///
/// ```rust
/// use fusebox::prometheus::{render, write_latencies, CONTENT_TYPE};
/// use fusebox::{Breaker, Config, LatencyHistogram, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let db = Breaker::named("db", Config::default(), clock.clone())?;
/// db.try_acquire()?.success();
/// db.try_acquire()?.failure();
/// db.force_open();
///
/// let mut text = render(&[db.metrics()]);
/// assert!(text.contains("# TYPE fusebox_calls_total counter\n"));
/// assert!(text.contains("fusebox_calls_total{breaker=\"db\",outcome=\"failure\"} 1\n"));
/// assert!(text.contains("fusebox_state{breaker=\"db\",state=\"open\"} 1\n"));
/// assert!(text.contains("fusebox_manual_override{breaker=\"db\",mode=\"forced_open\"} 1\n"));
///
/// // Latency percentiles, from histograms you keep.
/// let latency = LatencyHistogram::new(clock.clone());
/// latency.record(Duration::from_millis(20));
/// write_latencies(&mut text, &[("db", &latency)]);
/// assert!(text.contains("fusebox_latency_window_samples{breaker=\"db\"} 1\n"));
/// // Serve `text` on /metrics with this content type:
/// assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(metrics: &[Metrics]) -> String {
    let mut out = String::with_capacity(256 + metrics.len() * 1024);
    write_metrics(&mut out, metrics);
    out
}

/// Append the exposition of `metrics` to `out`.
///
/// ```rust
/// use fusebox::prometheus::write_metrics;
/// use fusebox::{Breaker, Config, ManualClock};
/// use std::sync::Arc;
///
/// let cache = Breaker::named("cache", Config::default(), Arc::new(ManualClock::new()))?;
/// cache.try_acquire()?.success();
///
/// let mut out = String::from("# HELP app_up The app is up.\n# TYPE app_up gauge\napp_up 1\n");
/// write_metrics(&mut out, &[cache.metrics()]);
/// assert!(out.starts_with("# HELP app_up")); // appended after what was there
/// assert!(out.contains("fusebox_calls_total{breaker=\"cache\",outcome=\"success\"} 1\n"));
/// assert!(out.contains("fusebox_state{breaker=\"cache\",state=\"closed\"} 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_metrics(out: &mut String, metrics: &[Metrics]) {
    let names: Vec<String> = metrics.iter().map(|m| escape_label(&m.name)).collect();
    let each = |out: &mut String, f: &dyn Fn(&mut String, &str, &Metrics)| {
        for (m, n) in metrics.iter().zip(&names) {
            f(out, n, m);
        }
    };

    family(
        out,
        "fusebox_calls_total",
        "counter",
        "Calls that ran and reported an outcome, by outcome.",
    );
    each(out, &|out, n, m| {
        for (outcome, v) in [
            ("success", m.successes),
            ("failure", m.failures),
            ("ignored", m.ignored),
        ] {
            let _ = writeln!(
                out,
                "fusebox_calls_total{{breaker=\"{n}\",outcome=\"{outcome}\"}} {v}"
            );
        }
    });

    for (name, help, get) in [
        (
            "fusebox_slow_calls_total",
            "Calls slower than the slow-call duration.",
            (|m: &Metrics| m.slow) as fn(&Metrics) -> u64,
        ),
        (
            "fusebox_rejected_total",
            "Calls rejected without running (open, half-open full, forced open).",
            |m: &Metrics| m.rejected,
        ),
        (
            "fusebox_state_changes_total",
            "State changes.",
            |m: &Metrics| m.state_changes,
        ),
    ] {
        labelled(
            out,
            (name, "counter", help),
            "breaker",
            &names,
            metrics,
            get,
        );
    }

    family(
        out,
        "fusebox_state",
        "gauge",
        "1 for the breaker's current state, 0 for the others.",
    );
    each(out, &|out, n, m| {
        for s in [State::Closed, State::Open, State::HalfOpen] {
            let _ = writeln!(
                out,
                "fusebox_state{{breaker=\"{n}\",state=\"{}\"}} {}",
                s.as_str(),
                u8::from(m.state == s)
            );
        }
    });

    family(
        out,
        "fusebox_manual_override",
        "gauge",
        "1 while the breaker is forced open or disabled by hand.",
    );
    each(out, &|out, n, m| {
        for p in [Phase::ForcedOpen, Phase::Disabled] {
            let _ = writeln!(
                out,
                "fusebox_manual_override{{breaker=\"{n}\",mode=\"{}\"}} {}",
                p.as_str(),
                u8::from(m.phase == p)
            );
        }
    });

    for (name, help, get) in [
        (
            "fusebox_failure_rate",
            "Failure rate (failures / calls) in the current window.",
            (|m: &Metrics| m.failure_rate) as fn(&Metrics) -> f64,
        ),
        (
            "fusebox_slow_call_rate",
            "Slow-call rate in the current window.",
            |m: &Metrics| m.slow_rate,
        ),
        (
            "fusebox_window_calls",
            "Calls (successes and failures) in the current window.",
            |m: &Metrics| m.window.calls as f64,
        ),
    ] {
        labelled(
            out,
            (name, "gauge", help),
            "breaker",
            &names,
            metrics,
            |m| format_value(get(m)),
        );
    }

    let ev = crate::observe::events::stats();
    family(
        out,
        "fusebox_events_dropped_total",
        "counter",
        "Events dropped because the event queue was full.",
    );
    let _ = writeln!(out, "fusebox_events_dropped_total {}", ev.dropped);
    family(
        out,
        "fusebox_listener_panics_total",
        "counter",
        "Event listener panics caught.",
    );
    let _ = writeln!(out, "fusebox_listener_panics_total {}", ev.panicked);
}

/// Append latency percentiles (P50, P95, P99 of each histogram's window, in
/// seconds) as the gauge `fusebox_latency_seconds{breaker,percentile}`
/// (`percentile` is `50`, `95` or `99`; the label `quantile` is reserved
/// for summaries, whose `_sum` and `_count` are lifetime totals), and
/// the window's sample count as `fusebox_latency_window_samples{breaker}`.
/// Histograms with an empty window write only their count.
///
/// ```rust
/// use fusebox::prometheus::write_latencies;
/// use fusebox::{LatencyHistogram, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let (db, idle) = (LatencyHistogram::new(clock.clone()), LatencyHistogram::new(clock));
/// db.record(Duration::from_millis(100));
///
/// let mut out = String::new();
/// write_latencies(&mut out, &[("db", &db), ("idle", &idle)]);
/// assert!(out.contains("fusebox_latency_seconds{breaker=\"db\",percentile=\"99\"} 0.0"));
/// assert!(out.contains("fusebox_latency_window_samples{breaker=\"idle\"} 0\n"));
/// assert!(!out.contains("fusebox_latency_seconds{breaker=\"idle\""));
/// ```
pub fn write_latencies(out: &mut String, histograms: &[(&str, &LatencyHistogram)]) {
    let snaps: Vec<_> = histograms
        .iter()
        .map(|(n, h)| (escape_label(n), h.snapshot()))
        .collect();
    family(
        out,
        "fusebox_latency_seconds",
        "gauge",
        "Call latency quantiles over the recent window.",
    );
    for (n, s) in &snaps {
        for (q, pct) in [(0.5, "50"), (0.95, "95"), (0.99, "99")] {
            if let Some(v) = s.quantile(q) {
                let _ = writeln!(
                    out,
                    "fusebox_latency_seconds{{breaker=\"{n}\",percentile=\"{pct}\"}} {}",
                    format_value(v as f64 / 1e9)
                );
            }
        }
    }
    family(
        out,
        "fusebox_latency_window_samples",
        "gauge",
        "Latency samples in the recent window.",
    );
    for (n, s) in &snaps {
        let _ = writeln!(
            out,
            "fusebox_latency_window_samples{{breaker=\"{n}\"}} {}",
            s.count()
        );
    }
}

/// Append the counters of keyed sets ([`crate::KeyedBreakers`]), labelled
/// `keyed` with each set's name: `fusebox_keyed_breakers` and
/// `fusebox_keyed_capacity` (gauges), `fusebox_keyed_evictions_total` and
/// `fusebox_keyed_refusals_total` (counters).
///
/// ```rust
/// use fusebox::prometheus::write_keyed;
/// use fusebox::{ClockSource, Config, KeyedBreakers};
///
/// let hosts = KeyedBreakers::new("hosts", 100, Config::default(), ClockSource::Monotonic)?;
/// let tenants = KeyedBreakers::new("tenants", 10, Config::default(), ClockSource::Monotonic)?;
/// tenants.get_or_create("acme")?;
///
/// let mut out = String::new();
/// write_keyed(&mut out, &[hosts.stats(), tenants.stats()]);
/// assert!(out.contains("# TYPE fusebox_keyed_evictions_total counter\n"));
/// assert!(out.contains("fusebox_keyed_breakers{keyed=\"tenants\"} 1\n"));
/// assert!(out.contains("fusebox_keyed_capacity{keyed=\"hosts\"} 100\n"));
/// assert!(out.contains("fusebox_keyed_refusals_total{keyed=\"hosts\"} 0\n"));
/// # Ok::<(), fusebox::KeyedError>(())
/// ```
pub fn write_keyed(out: &mut String, stats: &[KeyedStats]) {
    type Get = fn(&KeyedStats) -> u64;
    let families: [(&str, &str, &str, Get); 4] = [
        (
            "fusebox_keyed_breakers",
            "gauge",
            "Breakers in the keyed set.",
            |s| s.len as u64,
        ),
        (
            "fusebox_keyed_capacity",
            "gauge",
            "The most breakers the keyed set holds.",
            |s| s.capacity as u64,
        ),
        (
            "fusebox_keyed_evictions_total",
            "counter",
            "Breakers evicted from the keyed set to make room (only breakers holding no history).",
            |s| s.evictions,
        ),
        (
            "fusebox_keyed_refusals_total",
            "counter",
            "Breakers not created because the keyed set was full and none could be evicted.",
            |s| s.refusals,
        ),
    ];
    let names: Vec<String> = stats.iter().map(|s| escape_label(&s.name)).collect();
    for (name, kind, help, get) in families {
        labelled(out, (name, kind, help), "keyed", &names, stats, get);
    }
}

/// Append the counters of retry budgets ([`crate::RetryBudget::stats`]),
/// labelled `budget` with each budget's name: `fusebox_retry_budget_deposits_total`,
/// `fusebox_retry_budget_withdrawals_total`, `fusebox_retry_budget_refusals_total`
/// (counters) and `fusebox_retry_budget_available` (gauge).
///
/// ```rust
/// use fusebox::prometheus::write_retry_budgets;
/// use fusebox::{ManualClock, RetryBudget, RetryBudgetConfig};
/// use std::sync::Arc;
///
/// let config = RetryBudgetConfig { ratio: 1.0, min_per_sec: 0, ..Default::default() };
/// let db = RetryBudget::named("db", config, Arc::new(ManualClock::new()))?;
/// db.deposit();
/// assert!(db.try_withdraw());
/// assert!(!db.try_withdraw());
///
/// let mut out = String::new();
/// write_retry_budgets(&mut out, &[db.stats()]);
/// assert!(out.contains("# TYPE fusebox_retry_budget_refusals_total counter\n"));
/// assert!(out.contains("fusebox_retry_budget_deposits_total{budget=\"db\"} 1\n"));
/// assert!(out.contains("fusebox_retry_budget_withdrawals_total{budget=\"db\"} 1\n"));
/// assert!(out.contains("fusebox_retry_budget_refusals_total{budget=\"db\"} 1\n"));
/// assert!(out.contains("fusebox_retry_budget_available{budget=\"db\"} 0\n"));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn write_retry_budgets(out: &mut String, stats: &[RetryBudgetStats]) {
    type Get = fn(&RetryBudgetStats) -> u64;
    let families: [(&str, &str, &str, Get); 4] = [
        (
            "fusebox_retry_budget_deposits_total",
            "counter",
            "Requests deposited in the retry budget.",
            |s| s.deposits,
        ),
        (
            "fusebox_retry_budget_withdrawals_total",
            "counter",
            "Retries the budget allowed.",
            |s| s.withdrawals,
        ),
        (
            "fusebox_retry_budget_refusals_total",
            "counter",
            "Retries the budget refused.",
            |s| s.refusals,
        ),
        (
            "fusebox_retry_budget_available",
            "gauge",
            "Retries the budget could allow now.",
            |s| s.available,
        ),
    ];
    let names: Vec<String> = stats.iter().map(|s| escape_label(&s.name)).collect();
    for (name, kind, help, get) in families {
        labelled(out, (name, kind, help), "budget", &names, stats, get);
    }
}

/// Append the counters of retry policies ([`crate::RetryPolicy::metrics`]),
/// labelled `retry` with each policy's name: `fusebox_retry_calls_total`,
/// `fusebox_retry_attempts_total`, `fusebox_retry_retries_total`,
/// `fusebox_retry_hedges_total`, `fusebox_retry_budget_exhausted_total` and
/// `fusebox_retry_failed_calls_total`. A [`crate::retry::HedgePolicy`]'s
/// metrics are written the same way.
///
/// ```rust
/// use fusebox::prometheus::write_retry_policies;
/// use fusebox::retry::ManualSleeper;
/// use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())?;
/// let policy = RetryPolicy::builder().name("db").max_attempts(2).seed(1).build()?;
/// policy.call(&breaker, &budget, &ManualSleeper::new(clock), |_| Err::<(), _>("down"));
///
/// let mut out = String::new();
/// write_retry_policies(&mut out, &[policy.metrics()]);
/// assert!(out.contains("fusebox_retry_calls_total{retry=\"db\"} 1\n"));
/// assert!(out.contains("fusebox_retry_attempts_total{retry=\"db\"} 2\n"));
/// assert!(out.contains("fusebox_retry_retries_total{retry=\"db\"} 1\n"));
/// assert!(out.contains("fusebox_retry_hedges_total{retry=\"db\"} 0\n"));
/// assert!(out.contains("fusebox_retry_budget_exhausted_total{retry=\"db\"} 0\n"));
/// assert!(out.contains("fusebox_retry_failed_calls_total{retry=\"db\"} 1\n"));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn write_retry_policies(out: &mut String, metrics: &[RetryMetrics]) {
    type Get = fn(&RetryMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 6] = [
        (
            "fusebox_retry_calls_total",
            "counter",
            "Logical calls made through the retry policy.",
            |m| m.calls,
        ),
        (
            "fusebox_retry_attempts_total",
            "counter",
            "Attempts, breaker rejections included.",
            |m| m.attempts,
        ),
        (
            "fusebox_retry_retries_total",
            "counter",
            "Attempts after a call's first.",
            |m| m.retries,
        ),
        (
            "fusebox_retry_hedges_total",
            "counter",
            "Hedges: attempts started beside a slow one.",
            |m| m.hedges,
        ),
        (
            "fusebox_retry_budget_exhausted_total",
            "counter",
            "Retries or hedges not made because the retry budget refused them.",
            |m| m.budget_refusals,
        ),
        (
            "fusebox_retry_failed_calls_total",
            "counter",
            "Logical calls that ended in an error.",
            |m| m.failed_calls,
        ),
    ];
    let names: Vec<String> = metrics.iter().map(|m| escape_label(&m.name)).collect();
    for (name, kind, help, get) in families {
        labelled(out, (name, kind, help), "retry", &names, metrics, get);
    }
}

/// Append each breaker's configured failure- and slow-call-rate thresholds
/// as the gauges `fusebox_failure_rate_threshold{breaker}` and
/// `fusebox_slow_call_rate_threshold{breaker}`, to draw beside
/// `fusebox_failure_rate` and `fusebox_slow_call_rate`.
///
/// ```rust
/// use fusebox::prometheus::write_thresholds;
/// use fusebox::Config;
///
/// let db = Config::builder().failure_rate_threshold(0.25).build()?;
/// let mut out = String::new();
/// write_thresholds(&mut out, &[("db", &db)]);
/// assert!(out.contains("fusebox_failure_rate_threshold{breaker=\"db\"} 0.25\n"));
/// assert!(out.contains("fusebox_slow_call_rate_threshold{breaker=\"db\"} 1\n"));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn write_thresholds(out: &mut String, configs: &[(&str, &crate::Config)]) {
    let names: Vec<String> = configs.iter().map(|(n, _)| escape_label(n)).collect();
    labelled(
        out,
        (
            "fusebox_failure_rate_threshold",
            "gauge",
            "The failure rate at or above which the breaker opens.",
        ),
        "breaker",
        &names,
        configs,
        |(_, c)| format_value(c.failure_rate_threshold),
    );
    labelled(
        out,
        (
            "fusebox_slow_call_rate_threshold",
            "gauge",
            "The slow-call rate at or above which the breaker opens.",
        ),
        "breaker",
        &names,
        configs,
        |(_, c)| format_value(c.slow_call_rate_threshold),
    );
}

/// A registry's exposition: every breaker's metrics ([`render`]) followed
/// by their thresholds ([`write_thresholds`]). What an admin endpoint
/// serves on `/metrics`.
///
/// ```rust
/// use fusebox::prometheus::render_registry;
/// use fusebox::Registry;
///
/// let registry = Registry::default();
/// registry.get_or_create("db")?;
/// let text = render_registry(&registry);
/// assert!(text.contains("fusebox_state{breaker=\"db\",state=\"closed\"} 1\n"));
/// assert!(text.contains("fusebox_failure_rate_threshold{breaker=\"db\"} 0.5\n"));
/// # Ok::<(), fusebox::RegistryError>(())
/// ```
pub fn render_registry(registry: &crate::Registry) -> String {
    let breakers = registry.breakers();
    let metrics: Vec<Metrics> = breakers.iter().map(|b| b.metrics()).collect();
    let mut out = render(&metrics);
    let owned: Vec<crate::Config> = breakers.iter().map(|b| b.config()).collect();
    let configs: Vec<(&str, &crate::Config)> = breakers
        .iter()
        .zip(&owned)
        .map(|(b, c)| (b.name(), c))
        .collect();
    write_thresholds(&mut out, &configs);
    out
}

/// Append the counters of failover groups ([`crate::FailoverGroup::metrics`]),
/// labelled `group` with each group's name: `fusebox_failover_failovers_total`,
/// `fusebox_failover_failbacks_total`, `fusebox_failover_ejections_total`,
/// `fusebox_failover_restorations_total`, `fusebox_failover_panics_total`
/// (counters), `fusebox_failover_epoch`, `fusebox_failover_panic` and
/// `fusebox_failover_healthy_endpoints` (gauges).
///
/// ```rust
/// use fusebox::failover::{Endpoint, FailoverGroup};
/// use fusebox::prometheus::write_failover_groups;
/// use fusebox::{Config, ManualClock};
/// use std::sync::Arc;
///
/// let group = FailoverGroup::builder("orders-db")
///     .clock(Arc::new(ManualClock::new()))
///     .breaker_config(Config::builder().consecutive_failures(Some(1)).build()?)
///     .endpoint(Endpoint::new("primary", "10.0.0.1"))
///     .endpoint(Endpoint::new("standby", "10.0.0.2"))
///     .build()?;
/// let _ = group.call(|addr| if *addr == "10.0.0.1" { Err("down") } else { Ok(()) });
///
/// let mut out = String::new();
/// write_failover_groups(&mut out, &[group.metrics()]);
/// assert!(out.contains("fusebox_failover_failovers_total{group=\"orders-db\"} 1\n"));
/// assert!(out.contains("fusebox_failover_healthy_endpoints{group=\"orders-db\"} 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "failover")]
pub fn write_failover_groups(out: &mut String, metrics: &[GroupMetrics]) {
    type Get = fn(&GroupMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 8] = [
        (
            "fusebox_failover_failovers_total",
            "counter",
            "Times the group moved traffic away from the endpoint or tier in use.",
            |m| m.failovers,
        ),
        (
            "fusebox_failover_failbacks_total",
            "counter",
            "Times the group moved traffic back to a preferred endpoint or tier.",
            |m| m.failbacks,
        ),
        (
            "fusebox_failover_ejections_total",
            "counter",
            "Endpoints taken out of rotation.",
            |m| m.ejections,
        ),
        (
            "fusebox_failover_restorations_total",
            "counter",
            "Ejected endpoints put back in rotation.",
            |m| m.restorations,
        ),
        (
            "fusebox_failover_panics_total",
            "counter",
            "Times panic mode started.",
            |m| m.panics,
        ),
        (
            "fusebox_failover_epoch",
            "gauge",
            "The group's epoch (its fencing token).",
            |m| m.epoch,
        ),
        (
            "fusebox_failover_panic",
            "gauge",
            "1 while the group is in panic mode.",
            |m| u64::from(m.panic),
        ),
        (
            "fusebox_failover_healthy_endpoints",
            "gauge",
            "Endpoints whose breaker is closed (or disabled).",
            |m| m.endpoints.iter().filter(|e| e.healthy).count() as u64,
        ),
    ];
    let names: Vec<String> = metrics.iter().map(|m| escape_label(&m.name)).collect();
    for (name, kind, help, get) in families {
        labelled(out, (name, kind, help), "group", &names, metrics, get);
    }
}

/// Append the exposition of bulkheads: the body of
/// [`crate::bulkhead::write_prometheus`], which documents the families.
pub(crate) fn write_bulkheads(out: &mut String, metrics: &[BulkheadMetrics]) {
    type Get = fn(&BulkheadMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 7] = [
        (
            "fusebox_bulkhead_in_flight",
            "gauge",
            "Calls in flight in the bulkhead.",
            |m| u64::from(m.in_flight),
        ),
        (
            "fusebox_bulkhead_limit",
            "gauge",
            "The bulkhead's current concurrency limit.",
            |m| u64::from(m.limit),
        ),
        (
            "fusebox_bulkhead_peak_in_flight",
            "gauge",
            "The most calls ever in flight at once.",
            |m| u64::from(m.peak_in_flight),
        ),
        (
            "fusebox_bulkhead_waiting",
            "gauge",
            "Threads waiting for a bulkhead slot.",
            |m| u64::from(m.waiting),
        ),
        (
            "fusebox_bulkhead_rejected_total",
            "counter",
            "Calls refused because the bulkhead was full.",
            |m| m.rejected,
        ),
        (
            "fusebox_bulkhead_in_flight_slow_total",
            "counter",
            "Calls counted as slow by the breaker while still in flight.",
            |m| m.in_flight_slow,
        ),
        (
            "fusebox_bulkhead_limit_updates_total",
            "counter",
            "Windows closed by the adaptive concurrency limit.",
            |m| m.limit_updates,
        ),
    ];
    let names: Vec<String> = metrics.iter().map(|m| escape_label(&m.name)).collect();
    for (name, kind, help, get) in families {
        labelled(out, (name, kind, help), "bulkhead", &names, metrics, get);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The bulkhead families, byte for byte as `bulkhead::write_prometheus`
    /// wrote them when it had its own writer.
    #[test]
    fn bulkhead_exposition_is_unchanged() {
        let b = crate::bulkhead::Bulkhead::builder()
            .name("a\"b\\c\nd")
            .build()
            .unwrap();
        let _p = b.try_acquire().unwrap();
        let mut db = b.metrics();
        db.name = "db".into();
        (db.peak_in_flight, db.waiting, db.rejected) = (9, 4, 7);
        (db.in_flight_slow, db.limit_updates) = (3, 2);
        let mut text = String::new();
        write_bulkheads(&mut text, &[b.metrics(), db]);
        assert_eq!(
            text,
            r#"# HELP fusebox_bulkhead_in_flight Calls in flight in the bulkhead.
# TYPE fusebox_bulkhead_in_flight gauge
fusebox_bulkhead_in_flight{bulkhead="a\"b\\c\nd"} 1
fusebox_bulkhead_in_flight{bulkhead="db"} 1
# HELP fusebox_bulkhead_limit The bulkhead's current concurrency limit.
# TYPE fusebox_bulkhead_limit gauge
fusebox_bulkhead_limit{bulkhead="a\"b\\c\nd"} 25
fusebox_bulkhead_limit{bulkhead="db"} 25
# HELP fusebox_bulkhead_peak_in_flight The most calls ever in flight at once.
# TYPE fusebox_bulkhead_peak_in_flight gauge
fusebox_bulkhead_peak_in_flight{bulkhead="a\"b\\c\nd"} 1
fusebox_bulkhead_peak_in_flight{bulkhead="db"} 9
# HELP fusebox_bulkhead_waiting Threads waiting for a bulkhead slot.
# TYPE fusebox_bulkhead_waiting gauge
fusebox_bulkhead_waiting{bulkhead="a\"b\\c\nd"} 0
fusebox_bulkhead_waiting{bulkhead="db"} 4
# HELP fusebox_bulkhead_rejected_total Calls refused because the bulkhead was full.
# TYPE fusebox_bulkhead_rejected_total counter
fusebox_bulkhead_rejected_total{bulkhead="a\"b\\c\nd"} 0
fusebox_bulkhead_rejected_total{bulkhead="db"} 7
# HELP fusebox_bulkhead_in_flight_slow_total Calls counted as slow by the breaker while still in flight.
# TYPE fusebox_bulkhead_in_flight_slow_total counter
fusebox_bulkhead_in_flight_slow_total{bulkhead="a\"b\\c\nd"} 0
fusebox_bulkhead_in_flight_slow_total{bulkhead="db"} 3
# HELP fusebox_bulkhead_limit_updates_total Windows closed by the adaptive concurrency limit.
# TYPE fusebox_bulkhead_limit_updates_total counter
fusebox_bulkhead_limit_updates_total{bulkhead="a\"b\\c\nd"} 0
fusebox_bulkhead_limit_updates_total{bulkhead="db"} 2
"#
        );
        let mut none = String::new();
        write_bulkheads(&mut none, &[]);
        assert_eq!(none.lines().count(), 14, "HELP and TYPE of 7 families");
    }
}
