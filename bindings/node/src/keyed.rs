//! Keyed breakers for Node (`KeyedBreakers`): the core's bounded set of
//! breakers by key (`fusebox::KeyedBreakers`), one config for all. The
//! breakers handed out are ordinary `NativeBreaker`s: the JS
//! `CircuitBreaker` wraps them unchanged, hot path included, as it wraps
//! the registry's.

use crate::{hot, problem, NativeBreaker, NativeManualClock, NativeOptions, OptionProblem};
use fusebox::config::{duration_in, number};
use fusebox::{ClockSource, ConfigError, KeyedBreakers, KeyedError, Unit};
use napi::bindgen_prelude::{ClassInstance, Either};
use napi_derive::napi;
use std::time::Duration;

/// Why a keyed lookup failed: `full` (the JS layer throws a
/// `KeyedFullError`) or `option` (a bad key: a `RangeError` naming
/// `option`).
#[napi(object)]
pub struct KeyedProblem {
    /// `full` or `option`.
    pub kind: String,
    /// The core's message.
    pub message: String,
    /// `option`: the argument's name.
    pub option: Option<String>,
    /// `full`: the set's capacity.
    pub capacity: Option<f64>,
}

/// A keyed error as the problem with one argument, `name_option` being
/// the argument that a bad name came in (`name` for the set, `key` for a
/// breaker).
fn option_problem(e: KeyedError, name_option: &str) -> OptionProblem {
    match e {
        KeyedError::Config(c) if c.field == "capacity" => OptionProblem {
            option: "capacity".into(),
            message: c.render("option capacity"),
        },
        KeyedError::Config(c) => problem(&c),
        e => OptionProblem {
            option: name_option.into(),
            message: e.to_string(),
        },
    }
}

/// A set's counters at one moment.
#[napi(object)]
pub struct NativeKeyedStats {
    pub name: String,
    /// Breakers in the set (creations in progress included).
    pub len: f64,
    pub capacity: f64,
    pub created: f64,
    pub evictions: f64,
    pub refusals: f64,
    pub removed: f64,
}

/// The core's `KeyedBreakers`.
#[napi]
pub struct NativeKeyed {
    inner: KeyedBreakers,
}

/// A capacity from JS: an integer, else the core's kind of error (the
/// core judges the range, quoting the value as given).
fn capacity(v: f64) -> Result<usize, ConfigError> {
    let bad = |expected| ConfigError {
        field: "capacity",
        value: number(v),
        expected,
    };
    if v.fract() != 0.0 || v < 0.0 || !v.is_finite() {
        return Err(bad("an integer"));
    }
    // `as` saturates: past usize the core refuses usize::MAX with its own
    // range, quoted with the value given (see `keyed_create`).
    Ok(v as usize)
}

/// A set called `name` of at most `capacity` breakers made with `options`
/// (whose `name` is ignored: each breaker is named after its key), on
/// `clock`; a breaker may be evicted once unused for `min_idle_ms`
/// (default: the core's). Or the problem with an argument.
#[napi]
pub fn keyed_create(
    name: String,
    capacity: f64,
    min_idle_ms: Option<f64>,
    options: NativeOptions,
    clock: Option<ClassInstance<NativeManualClock>>,
) -> Either<NativeKeyed, OptionProblem> {
    let config = match options.to_config() {
        Ok(c) => c,
        Err(p) => return Either::B(p),
    };
    let min_idle = match min_idle_ms {
        None => None,
        // Zero is allowed: evictable as soon as it holds nothing.
        Some(0.0) => Some(Duration::ZERO),
        Some(v) => match duration_in("min_idle", v, Unit::Millis) {
            Ok(d) => Some(d),
            Err(e) => {
                return Either::B(OptionProblem {
                    option: "minIdleMs".into(),
                    message: e.render("option minIdleMs"),
                })
            }
        },
    };
    let cap = match self::capacity(capacity) {
        Ok(c) => c,
        Err(e) => return Either::B(option_problem(KeyedError::Config(e), "name")),
    };
    let clock = match clock {
        Some(c) => ClockSource::from(c.inner.clone()),
        None => ClockSource::Monotonic,
    };
    match KeyedBreakers::new(&name, cap, config, clock) {
        Ok(k) => Either::A(NativeKeyed {
            inner: match min_idle {
                Some(d) => k.min_idle(d),
                None => k,
            },
        }),
        Err(KeyedError::Config(mut c)) if c.field == "capacity" => {
            c.value = number(capacity);
            Either::B(option_problem(KeyedError::Config(c), "name"))
        }
        Err(e) => Either::B(option_problem(e, "name")),
    }
}

#[napi]
#[allow(clippy::len_without_is_empty)]
impl NativeKeyed {
    /// The breaker of `key`, created on first use; or why not (full, or a
    /// bad key).
    #[napi]
    pub fn get_or_create(&self, key: String) -> Either<NativeBreaker, KeyedProblem> {
        if let Some(b) = self.inner.get(&key) {
            return Either::A(NativeBreaker::wrap(b));
        }
        // A creation may evict: this thread's successes held back are
        // counted first, so that a breaker is judged on all its outcomes.
        hot::flush();
        match self.inner.get_or_create(&key) {
            Ok(b) => Either::A(NativeBreaker::wrap(b)),
            Err(KeyedError::Full { capacity }) => Either::B(KeyedProblem {
                kind: "full".into(),
                message: KeyedError::Full { capacity }.to_string(),
                option: None,
                capacity: Some(capacity as f64),
            }),
            Err(e) => {
                let p = option_problem(e, "key");
                Either::B(KeyedProblem {
                    kind: "option".into(),
                    message: p.message,
                    option: Some(p.option),
                    capacity: None,
                })
            }
        }
    }

    /// The identity (`NativeBreaker::identity`) of `key`'s breaker, looked
    /// up as `get` does (a use, for eviction), or -1 when the set holds
    /// none: the JS layer keeps one handle per key and checks with this
    /// that the set still holds its breaker, without a wrapper per lookup.
    #[napi]
    pub fn lookup_id(&self, key: String) -> f64 {
        self.inner.get(&key).map_or(-1.0, |b| crate::identity(&b))
    }

    /// The breaker of `key`, if the set holds one (creates nothing).
    #[napi]
    pub fn get(&self, key: String) -> Option<NativeBreaker> {
        self.inner.get(&key).map(NativeBreaker::wrap)
    }

    /// Take `key`'s breaker out of the set (holders keep a working
    /// breaker). Whether it was there.
    #[napi]
    pub fn remove(&self, key: String) -> bool {
        self.inner.remove(&key).is_some()
    }

    /// Breakers in the set.
    #[napi(getter)]
    pub fn len(&self) -> f64 {
        self.inner.len() as f64
    }

    /// The most breakers the set holds.
    #[napi(getter)]
    pub fn capacity(&self) -> f64 {
        self.inner.capacity() as f64
    }

    /// The set's counters.
    #[napi]
    pub fn stats(&self) -> NativeKeyedStats {
        let s = self.inner.stats();
        NativeKeyedStats {
            name: s.name,
            len: s.len as f64,
            capacity: s.capacity as f64,
            created: s.created as f64,
            evictions: s.evictions as f64,
            refusals: s.refusals as f64,
            removed: s.removed as f64,
        }
    }

    /// Every breaker's metrics and the set's counters in the Prometheus
    /// text format (0.0.4).
    #[napi]
    pub fn prometheus(&self) -> String {
        hot::flush();
        self.inner.prometheus()
    }
}
