//! Latency histograms for Node (`histogram.js` gives them their JS shape):
//! the core's `LatencyHistogram`, fed by a breaker made with one
//! (`createBreaker`'s `histogram`) or by `record`, read as quantiles, and a
//! hedge policy's delay (`createHedgePolicy`'s `histogram`). Milliseconds.

use crate::NativeManualClock;
use fusebox::{ClockSource, LatencyHistogram};
use napi::bindgen_prelude::ClassInstance;
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

/// The core's latency histogram.
#[napi]
pub struct NativeLatencyHistogram {
    pub(crate) inner: Arc<LatencyHistogram>,
}

/// A latency histogram on `clock` (the system clock when absent).
#[napi]
pub fn create_latency_histogram(
    clock: Option<ClassInstance<NativeManualClock>>,
) -> NativeLatencyHistogram {
    let source = match clock {
        Some(c) => ClockSource::from(c.inner.clone()),
        None => ClockSource::Monotonic,
    };
    NativeLatencyHistogram {
        inner: Arc::new(LatencyHistogram::new(source)),
    }
}

#[napi]
impl NativeLatencyHistogram {
    /// Record one latency of `ms` milliseconds (the JS layer checks the
    /// range).
    #[napi]
    pub fn record(&self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            self.inner
                .record(Duration::from_nanos((ms * 1e6).round() as u64));
        }
    }

    /// The `q` quantile in ms, null while empty (`q` clamped to [0, 1]).
    #[napi]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.inner.quantile(q).map(|d| d.as_secs_f64() * 1e3)
    }

    /// The number of latencies in the window.
    #[napi(getter)]
    pub fn count(&self) -> f64 {
        self.inner.snapshot().count() as f64
    }
}
