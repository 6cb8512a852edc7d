//! Bulkheads as observable instruments.

use crate::BULKHEAD_NAME;
use fusebox::bulkhead::BulkheadMetrics;
use fusebox::Bulkhead;
use opentelemetry::metrics::{AsyncInstrument, Meter, ObservableCounter, ObservableUpDownCounter};
use opentelemetry::KeyValue;
use std::sync::Arc;

/// The instruments [`observe_bulkheads`] registered; keep this beside the
/// meter provider.
#[derive(Debug)]
pub struct BulkheadInstruments {
    _in_flight: ObservableUpDownCounter<i64>,
    _limit: ObservableUpDownCounter<i64>,
    _rejections: ObservableCounter<u64>,
}

/// Register `bulkheads` with `meter`: `fusebox.bulkhead.in_flight`,
/// `fusebox.bulkhead.limit` and `fusebox.bulkhead.rejections`, each with
/// the attribute `fusebox.bulkhead.name`.
///
/// ```rust
/// use fusebox::Bulkhead;
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
/// use std::sync::Arc;
///
/// let provider = SdkMeterProvider::builder().build(); // with the application's exporter
/// let db = Arc::new(Bulkhead::builder().name("db").max_concurrent(8).build()?);
/// let _instruments = fusebox_otel::observe_bulkheads(&provider.meter("fusebox"), [db.clone()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn observe_bulkheads(
    meter: &Meter,
    bulkheads: impl IntoIterator<Item = Arc<Bulkhead>>,
) -> BulkheadInstruments {
    let bulkheads: Arc<[Arc<Bulkhead>]> = bulkheads.into_iter().collect();
    BulkheadInstruments {
        _in_flight: meter
            .i64_observable_up_down_counter("fusebox.bulkhead.in_flight")
            .with_unit("{call}")
            .with_description("Calls running inside the bulkhead")
            .with_callback(each(&bulkheads, |m, o| {
                o.observe(i64::from(m.in_flight), &[name(m)])
            }))
            .build(),
        _limit: meter
            .i64_observable_up_down_counter("fusebox.bulkhead.limit")
            .with_unit("{call}")
            .with_description("Calls the bulkhead lets run at once")
            .with_callback(each(&bulkheads, |m, o| {
                o.observe(i64::from(m.limit), &[name(m)])
            }))
            .build(),
        _rejections: meter
            .u64_observable_counter("fusebox.bulkhead.rejections")
            .with_unit("{call}")
            .with_description("Calls refused because the bulkhead was full")
            .with_callback(each(&bulkheads, |m, o| o.observe(m.rejected, &[name(m)])))
            .build(),
    }
}

fn each<T>(
    bulkheads: &Arc<[Arc<Bulkhead>]>,
    f: impl Fn(&BulkheadMetrics, &dyn AsyncInstrument<T>) + Send + Sync + 'static,
) -> impl Fn(&dyn AsyncInstrument<T>) + Send + Sync + 'static {
    let bulkheads = bulkheads.clone();
    move |observer| {
        for b in bulkheads.iter() {
            f(&b.metrics(), observer);
        }
    }
}

fn name(m: &BulkheadMetrics) -> KeyValue {
    KeyValue::new(BULKHEAD_NAME, m.name.clone())
}
