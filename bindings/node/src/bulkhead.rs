//! Bulkheads for Node (`bulkhead.js` gives them their JS shape): at most N
//! calls in flight to a dependency, a fixed limit or an adaptive one. The
//! core decides everything; this converts.

use crate::{NativeManualClock, OptionProblem};
use fusebox::bulkhead::{Bulkhead, RawBulkheadPermit};
use fusebox::concurrency::LimitConfig;
use fusebox::{ClockSource, ConfigError, Outcome, RawPermit};
use napi::bindgen_prelude::{ClassInstance, Either};
use napi_derive::napi;

/// Bulkhead options as the JS layer passes them (types checked, ranges not).
#[napi(object)]
#[derive(Default)]
pub struct NativeBulkheadOptions {
    /// The bulkhead's name, for metrics.
    pub name: Option<String>,
    /// The fixed limit.
    pub max_concurrent: Option<f64>,
    /// `aimd`, `vegas` or `gradient2` for an adaptive limit.
    pub limit: Option<String>,
    /// Adaptive: the lowest limit.
    pub min_limit: Option<f64>,
    /// Adaptive: the limit at start.
    pub initial_limit: Option<f64>,
    /// Adaptive: the highest limit.
    pub max_limit: Option<f64>,
}

/// A slot taken: what the permit must give back.
#[napi(object)]
pub struct NativeBulkheadSlot {
    /// Clock time at admission in ns (adaptive limits only), else 0.
    pub start_ns: f64,
    /// Calls in flight at admission, this one included.
    pub in_flight: u32,
}

/// A bulkhead's counters.
#[napi(object)]
pub struct NativeBulkheadStats {
    /// The bulkhead's name.
    pub name: String,
    /// The current limit.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// The most calls ever in flight at once.
    pub peak_in_flight: u32,
    /// Calls refused because the bulkhead was full, all time.
    pub rejected: f64,
    /// `aimd`, `vegas`, `gradient2`, or null for a fixed limit.
    pub algorithm: Option<String>,
    /// Windows closed by the adaptive limit, all time.
    pub limit_updates: f64,
}

fn option_of(field: &str) -> &'static str {
    match field {
        "max_concurrent" => "maxConcurrent",
        "min_limit" => "minLimit",
        "initial_limit" => "initialLimit",
        "max_limit" => "maxLimit",
        "limit" => "limit",
        _ => "options",
    }
}

fn problem(e: &ConfigError) -> OptionProblem {
    let option = option_of(e.field);
    OptionProblem {
        option: option.into(),
        message: format!(
            "The value of \"{option}\" is out of range. It must be {}. Received {}",
            e.expected, e.value
        ),
    }
}

/// A whole number in u32 range, or the option's problem.
fn whole(option: &str, v: f64) -> Result<u32, OptionProblem> {
    if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
        Ok(v as u32)
    } else {
        Err(OptionProblem {
            option: option.into(),
            message: format!(
                "The value of \"{option}\" is out of range. It must be an integer >= 0. Received {v}"
            ),
        })
    }
}

fn build(
    o: &NativeBulkheadOptions,
    clock: Option<ClassInstance<NativeManualClock>>,
) -> Result<Bulkhead, OptionProblem> {
    let mut b = Bulkhead::builder().name(o.name.as_deref().unwrap_or("bulkhead"));
    if let Some(n) = o.max_concurrent {
        b = b.max_concurrent(whole("maxConcurrent", n)?);
    }
    let base = match o.limit.as_deref() {
        None => None,
        Some("aimd") => Some(LimitConfig::aimd()),
        Some("vegas") => Some(LimitConfig::vegas()),
        Some("gradient2") => Some(LimitConfig::gradient2()),
        Some(other) => {
            return Err(OptionProblem {
                option: "limit".into(),
                message: format!(
                    "The value of \"limit\" must be one of 'aimd', 'vegas', 'gradient2'. Received {other:?}"
                ),
            })
        }
    };
    match base {
        Some(l) => {
            let pick = |name, v: Option<f64>, d| v.map_or(Ok(d), |v| whole(name, v));
            let l = l.limits(
                pick("minLimit", o.min_limit, l.min_limit)?,
                pick("initialLimit", o.initial_limit, l.initial_limit)?,
                pick("maxLimit", o.max_limit, l.max_limit)?,
            );
            b = b.adaptive(l);
        }
        None => {
            for (name, v) in [
                ("minLimit", o.min_limit),
                ("initialLimit", o.initial_limit),
                ("maxLimit", o.max_limit),
            ] {
                if v.is_some() {
                    return Err(OptionProblem {
                        option: name.into(),
                        message: format!(
                            "The \"{name}\" option needs an adaptive limit ('aimd', 'vegas' or 'gradient2')"
                        ),
                    });
                }
            }
        }
    }
    if let Some(c) = clock {
        b = b.clock(ClockSource::from(c.inner.clone()));
    }
    b.build().map_err(|e| problem(&e))
}

/// A bulkhead, or the options' problem.
#[napi]
pub fn create_bulkhead(
    options: NativeBulkheadOptions,
    clock: Option<ClassInstance<NativeManualClock>>,
) -> Either<NativeBulkhead, OptionProblem> {
    match build(&options, clock) {
        Ok(b) => Either::A(NativeBulkhead { inner: b }),
        Err(p) => Either::B(p),
    }
}

/// The core's bulkhead.
#[napi]
pub struct NativeBulkhead {
    inner: Bulkhead,
}

/// Outcome codes of `record` (3: release without an outcome).
const SUCCESS: u32 = 0;
const FAILURE: u32 = 1;
const IGNORED: u32 = 2;

#[napi]
impl NativeBulkhead {
    /// A slot now, or null when full (never waits: Node must not block).
    #[napi]
    pub fn try_acquire(&self) -> Option<NativeBulkheadSlot> {
        self.inner
            .try_acquire_raw()
            .ok()
            .map(|p| NativeBulkheadSlot {
                start_ns: p.start_ns as f64,
                in_flight: p.in_flight as u32,
            })
    }

    /// Give a slot back: `outcome` is 0 success, 1 failure, 2 ignored,
    /// anything else a release without an outcome. The JS layer gives each
    /// slot back once.
    #[napi]
    pub fn record(&self, start_ns: f64, in_flight: u32, outcome: u32) {
        let p = RawBulkheadPermit {
            breaker: RawPermit {
                generation: 0,
                start_ns: 0,
                probe: false,
            },
            start_ns: start_ns as u64,
            in_flight: in_flight.into(),
            slot: 0,
        };
        match outcome {
            SUCCESS => self.inner.record_raw(p, Outcome::Success),
            FAILURE => self.inner.record_raw(p, Outcome::Failure),
            IGNORED => self.inner.record_raw(p, Outcome::Ignored),
            _ => self.inner.release_raw(p),
        }
    }

    /// The current limit.
    #[napi(getter)]
    pub fn limit(&self) -> u32 {
        self.inner.limit()
    }

    /// Calls in flight.
    #[napi(getter)]
    pub fn in_flight(&self) -> u32 {
        self.inner.in_flight()
    }

    /// Set the limit by hand; the problem if it is out of range.
    #[napi]
    pub fn set_limit(&self, limit: f64) -> Option<OptionProblem> {
        let n = match whole("limit", limit) {
            Ok(n) => n,
            Err(p) => return Some(p),
        };
        self.inner.set_limit(n).err().map(|e| problem(&e))
    }

    /// A snapshot of the counters.
    #[napi]
    pub fn stats(&self) -> NativeBulkheadStats {
        let m = self.inner.metrics();
        NativeBulkheadStats {
            name: m.name,
            limit: m.limit,
            in_flight: m.in_flight,
            peak_in_flight: m.peak_in_flight,
            rejected: m.rejected as f64,
            algorithm: m.algorithm.map(Into::into),
            limit_updates: m.limit_updates as f64,
        }
    }

    /// The counters in the Prometheus text format (`fusebox_bulkhead_*`).
    #[napi]
    pub fn prometheus(&self) -> String {
        fusebox::bulkhead::render(&[self.inner.metrics()])
    }
}
