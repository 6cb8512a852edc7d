//! What one collection through the SDK's in-memory exporter reports.

use fusebox::{Bulkhead, Config, ManualClock, Registry};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::sync::Arc;

fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

/// `(value, attributes as "k=v" sorted)` of every data point of `name`,
/// as f64, from the last collection, with the instrument's unit.
fn points(all: &[ResourceMetrics], name: &str) -> (String, Vec<(f64, Vec<String>)>) {
    let metric = all
        .iter()
        .rev()
        .flat_map(|r| r.scope_metrics())
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("{name} not collected"));
    fn attrs<'a>(it: impl Iterator<Item = &'a KeyValue>) -> Vec<String> {
        let mut v: Vec<String> = it.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        v.sort();
        v
    }
    let mut out = Vec::new();
    match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(s)) => {
            assert!(s.is_monotonic(), "{name} is a counter");
            for p in s.data_points() {
                out.push((p.value() as f64, attrs(p.attributes())));
            }
        }
        AggregatedMetrics::I64(MetricData::Sum(s)) => {
            assert!(!s.is_monotonic(), "{name} is an up-down counter");
            for p in s.data_points() {
                out.push((p.value() as f64, attrs(p.attributes())));
            }
        }
        AggregatedMetrics::F64(MetricData::Gauge(g)) => {
            for p in g.data_points() {
                out.push((p.value(), attrs(p.attributes())));
            }
        }
        other => panic!("{name}: unexpected kind {other:?}"),
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    (metric.unit().to_owned(), out)
}

fn value(points: &[(f64, Vec<String>)], attrs: &[&str]) -> f64 {
    points
        .iter()
        .find(|(_, a)| a.iter().map(String::as_str).eq(attrs.iter().copied()))
        .unwrap_or_else(|| panic!("no point {attrs:?} in {points:?}"))
        .0
}

#[test]
fn breakers_are_read_at_collection_time() {
    let clock = Arc::new(ManualClock::new());
    let config = Config::builder()
        .min_calls(3)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new(config, clock));
    let (provider, exporter) = provider();
    let _instruments = fusebox_otel::observe_registry(&provider.meter("fusebox"), registry.clone());

    // Created after registration: still reported.
    let db = registry.get_or_create("db").unwrap();
    db.try_acquire().unwrap().success();
    db.try_acquire().unwrap().failure();
    db.try_acquire().unwrap().failure(); // 2 of 3 failed: open
    assert!(db.try_acquire().is_err());
    assert!(db.try_acquire().is_err());
    registry
        .get_or_create("cache")
        .unwrap()
        .try_acquire()
        .unwrap()
        .ignore();
    let api = registry.get_or_create("api").unwrap();
    api.try_acquire().unwrap().success();
    api.try_acquire().unwrap().failure(); // below min_calls: still closed

    provider.force_flush().unwrap();
    let all = exporter.get_finished_metrics().unwrap();

    let (unit, calls) = points(&all, "fusebox.breaker.calls");
    assert_eq!(unit, "{call}");
    let db_name = "fusebox.breaker.name=db";
    assert_eq!(value(&calls, &[db_name, "outcome=success"]), 1.0);
    assert_eq!(value(&calls, &[db_name, "outcome=failure"]), 2.0);
    assert_eq!(value(&calls, &[db_name, "outcome=ignored"]), 0.0);
    assert_eq!(
        value(&calls, &["fusebox.breaker.name=cache", "outcome=ignored"]),
        1.0
    );

    let (unit, rejections) = points(&all, "fusebox.breaker.rejections");
    assert_eq!(unit, "{call}");
    assert_eq!(value(&rejections, &[db_name]), 2.0);

    let (unit, state) = points(&all, "fusebox.breaker.state");
    assert_eq!(unit, "1");
    assert_eq!(value(&state, &[db_name, "state=open"]), 1.0);
    assert_eq!(value(&state, &[db_name, "state=closed"]), 0.0);
    assert_eq!(value(&state, &[db_name, "state=half_open"]), 0.0);
    assert_eq!(
        value(&state, &["fusebox.breaker.name=cache", "state=closed"]),
        1.0
    );

    let (unit, changes) = points(&all, "fusebox.breaker.state_changes");
    assert_eq!(unit, "{transition}");
    assert_eq!(value(&changes, &[db_name]), 1.0);

    let (_, rate) = points(&all, "fusebox.breaker.failure_rate");
    assert_eq!(value(&rate, &["fusebox.breaker.name=api"]), 0.5);
    let (_, slow) = points(&all, "fusebox.breaker.slow_calls");
    assert_eq!(value(&slow, &[db_name]), 0.0);
}

#[test]
fn a_second_collection_sees_new_counts() {
    let registry = Arc::new(Registry::default());
    let (provider, exporter) = provider();
    let _instruments = fusebox_otel::observe_registry(&provider.meter("fusebox"), registry.clone());
    let api = registry.get_or_create("api").unwrap();
    api.try_acquire().unwrap().success();
    provider.force_flush().unwrap();
    api.try_acquire().unwrap().success();
    api.try_acquire().unwrap().success();
    exporter.reset();
    provider.force_flush().unwrap();
    let (_, calls) = points(
        &exporter.get_finished_metrics().unwrap(),
        "fusebox.breaker.calls",
    );
    assert_eq!(
        value(&calls, &["fusebox.breaker.name=api", "outcome=success"]),
        3.0
    );
}

#[test]
fn bulkheads_report_occupancy_limit_and_rejections() {
    let db = Arc::new(
        Bulkhead::builder()
            .name("db")
            .max_concurrent(2)
            .build()
            .unwrap(),
    );
    let (provider, exporter) = provider();
    let _instruments = fusebox_otel::observe_bulkheads(&provider.meter("fusebox"), [db.clone()]);
    let _a = db.try_acquire().unwrap();
    let _b = db.try_acquire().unwrap();
    assert!(db.try_acquire().is_err());

    provider.force_flush().unwrap();
    let all = exporter.get_finished_metrics().unwrap();
    let name = "fusebox.bulkhead.name=db";
    let (unit, in_flight) = points(&all, "fusebox.bulkhead.in_flight");
    assert_eq!(unit, "{call}");
    assert_eq!(value(&in_flight, &[name]), 2.0);
    assert_eq!(
        value(&points(&all, "fusebox.bulkhead.limit").1, &[name]),
        2.0
    );
    assert_eq!(
        value(&points(&all, "fusebox.bulkhead.rejections").1, &[name]),
        1.0
    );
}
