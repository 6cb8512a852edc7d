//! A registry's breakers as observable instruments.

use crate::BREAKER_NAME;
use fusebox::{Metrics, Registry, State};
use opentelemetry::metrics::{
    AsyncInstrument, Meter, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
};
use opentelemetry::KeyValue;
use std::ops::Deref;
use std::sync::Arc;

/// The instruments [`observe_registry`] registered. The meter provider keeps
/// calling their callbacks while it lives; keep this beside it.
#[derive(Debug)]
pub struct RegistryInstruments {
    _calls: ObservableCounter<u64>,
    _rejections: ObservableCounter<u64>,
    _slow_calls: ObservableCounter<u64>,
    _state: ObservableUpDownCounter<i64>,
    _state_changes: ObservableCounter<u64>,
    _failure_rate: ObservableGauge<f64>,
    _slow_call_rate: ObservableGauge<f64>,
}

/// Register `registry`'s breakers with `meter`: every breaker in it at
/// collection time is reported, including breakers created afterwards
/// (table of instruments in the crate's documentation).
///
/// `registry` is an `Arc<Registry>` or `&'static Registry`
/// ([`Registry::global`]).
///
/// ```rust
/// use fusebox::Registry;
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
///
/// let exporter = InMemoryMetricExporter::default();
/// let provider = SdkMeterProvider::builder()
///     .with_reader(PeriodicReader::builder(exporter.clone()).build())
///     .build();
/// let _instruments = fusebox_otel::observe_registry(&provider.meter("fusebox"), Registry::global());
///
/// Registry::global().get_or_create("doc-db")?.force_open();
/// provider.force_flush()?;
/// let names: Vec<String> = exporter.get_finished_metrics()?.iter()
///     .flat_map(|r| r.scope_metrics()).flat_map(|s| s.metrics())
///     .map(|m| m.name().to_owned()).collect();
/// assert!(names.contains(&"fusebox.breaker.state".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn observe_registry<R>(meter: &Meter, registry: R) -> RegistryInstruments
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    let registry = Arc::new(registry);
    RegistryInstruments {
        _calls: meter
            .u64_observable_counter("fusebox.breaker.calls")
            .with_unit("{call}")
            .with_description("Calls that ran through a breaker and reported an outcome")
            .with_callback(each(&registry, |m, o| {
                for (outcome, n) in [
                    ("success", m.successes),
                    ("failure", m.failures),
                    ("ignored", m.ignored),
                ] {
                    o.observe(n, &[name(m), KeyValue::new("outcome", outcome)]);
                }
            }))
            .build(),
        _rejections: meter
            .u64_observable_counter("fusebox.breaker.rejections")
            .with_unit("{call}")
            .with_description("Calls a breaker refused without running them")
            .with_callback(each(&registry, |m, o| o.observe(m.rejected, &[name(m)])))
            .build(),
        _slow_calls: meter
            .u64_observable_counter("fusebox.breaker.slow_calls")
            .with_unit("{call}")
            .with_description("Calls slower than the breaker's slow-call threshold")
            .with_callback(each(&registry, |m, o| o.observe(m.slow, &[name(m)])))
            .build(),
        _state: meter
            .i64_observable_up_down_counter("fusebox.breaker.state")
            .with_unit("1")
            .with_description("1 for the breaker's current state, 0 for the others")
            .with_callback(each(&registry, |m, o| {
                for state in [State::Closed, State::Open, State::HalfOpen] {
                    let on = i64::from(m.state == state);
                    o.observe(on, &[name(m), KeyValue::new("state", state.as_str())]);
                }
            }))
            .build(),
        _state_changes: meter
            .u64_observable_counter("fusebox.breaker.state_changes")
            .with_unit("{transition}")
            .with_description("State changes of a breaker")
            .with_callback(each(&registry, |m, o| {
                o.observe(m.state_changes, &[name(m)])
            }))
            .build(),
        _failure_rate: meter
            .f64_observable_gauge("fusebox.breaker.failure_rate")
            .with_unit("1")
            .with_description("Failure rate in the breaker's current window")
            .with_callback(each(&registry, |m, o| {
                o.observe(m.failure_rate, &[name(m)])
            }))
            .build(),
        _slow_call_rate: meter
            .f64_observable_gauge("fusebox.breaker.slow_call_rate")
            .with_unit("1")
            .with_description("Slow-call rate in the breaker's current window")
            .with_callback(each(&registry, |m, o| o.observe(m.slow_rate, &[name(m)])))
            .build(),
    }
}

/// A callback that observes every breaker of the registry at collection time.
fn each<R, T>(
    registry: &Arc<R>,
    f: impl Fn(&Metrics, &dyn AsyncInstrument<T>) + Send + Sync + 'static,
) -> impl Fn(&dyn AsyncInstrument<T>) + Send + Sync + 'static
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    let registry = registry.clone();
    move |observer| {
        for m in registry.snapshot() {
            f(&m, observer);
        }
    }
}

fn name(m: &Metrics) -> KeyValue {
    KeyValue::new(BREAKER_NAME, m.name.clone())
}
