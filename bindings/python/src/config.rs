//! Keyword arguments → `fusebox::Config`, with errors that name the Python
//! argument. The core validates; this module only converts.

use fusebox::config::secs_to_duration;
use fusebox::{Backoff, Cancellation, Config, ConfigError, WindowConfig};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use std::time::Duration;

/// The Python argument that a core field name stands for (the core's table).
pub fn arg_name(field: &str) -> &str {
    fusebox::bindings::config_field(field).map_or(field, |f| f.python)
}

/// Refuse keyword arguments in `rest` other than `allowed` (those a class's
/// Python part takes in its `__init__`): a misspelt setting is a
/// `TypeError`, as for any Python function, not a silent default.
pub fn only_keywords(
    class: &str,
    rest: Option<&Bound<'_, PyDict>>,
    allowed: &[&str],
) -> PyResult<()> {
    for key in rest.iter().flat_map(|d| d.keys()) {
        if !key.extract::<&str>().is_ok_and(|k| allowed.contains(&k)) {
            return Err(PyTypeError::new_err(format!(
                "{class}() got an unexpected keyword argument {}",
                key.repr()?
            )));
        }
    }
    Ok(())
}

/// A core `ConfigError` as a Python `ValueError` naming the argument (the
/// core's message, durations in seconds).
pub fn config_error(e: ConfigError) -> PyErr {
    PyValueError::new_err(e.render(arg_name(e.field)))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A real number (int or float, not bool) for argument `name`.
pub fn float_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number, not {}",
            type_name(v)
        )));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(f.value());
    }
    v.extract::<f64>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a number, not {}", type_name(v))))
}

/// A non-negative int that fits in `u32` for argument `name`.
pub fn u32_arg(name: &str, v: &Bound<'_, PyAny>) -> PyResult<u32> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(v)
        )));
    }
    match v.extract::<i64>() {
        Ok(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok(n as u32),
        _ => Err(PyValueError::new_err(format!(
            "invalid {name}: {} (expected a non-negative int below 2**32)",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// Seconds (int or float) for argument `name`, as a duration.
pub fn secs_arg(name: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    secs_to_duration(name, float_arg(name, v)?).map_err(config_error)
}

/// Seconds ≥ 0 for argument `name` (0 allowed: no wait, no delay).
pub fn wait_arg(name: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if float_arg(name, v)? == 0.0 {
        return Ok(Duration::ZERO);
    }
    secs_arg(name, v)
}

/// `cancellation=`: one of the core's names (`'release'`,
/// `'slow_if_overdue'`, `'failure'`).
fn cancellation_arg(v: &Bound<'_, PyAny>) -> PyResult<Cancellation> {
    let s = v.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("cancellation must be a str, not {}", type_name(v)))
    })?;
    Cancellation::from_name(&s.to_cow()?).map_err(config_error)
}

/// Build a `Config` from keyword arguments (`None` or missing: the default).
/// Unknown keywords are a `TypeError`, as for any Python function.
pub fn config_from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut c = Config::default();
    let Some(kwargs) = kwargs else {
        return Ok(c);
    };
    let mut window_secs: Option<Duration> = None;
    let mut buckets: Option<u32> = None;
    let mut count: Option<u32> = None;
    let mut multiplier: Option<f64> = None;
    let mut backoff_max: Option<Duration> = None;
    for (k, v) in kwargs.iter() {
        let key = k.cast::<PyString>()?.to_cow()?;
        let key: &str = &key;
        let none = v.is_none();
        match key {
            "failure_rate_threshold" => c.failure_rate_threshold = float_arg(key, &v)?,
            "consecutive_failures" => {
                c.consecutive_failures = if none { None } else { Some(u32_arg(key, &v)?) }
            }
            "min_calls" => c.min_calls = u32_arg(key, &v)?,
            "window" => {
                if !none {
                    window_secs = Some(secs_arg("window", &v)?)
                }
            }
            "window_buckets" => {
                if !none {
                    buckets = Some(u32_arg(key, &v)?)
                }
            }
            "count_window" => {
                if !none {
                    count = Some(u32_arg(key, &v)?)
                }
            }
            "open_timeout" => c.open_timeout = secs_arg("open_timeout", &v)?,
            "backoff_multiplier" => {
                if !none {
                    multiplier = Some(float_arg(key, &v)?)
                }
            }
            "backoff_max" => {
                if !none {
                    backoff_max = Some(secs_arg("backoff_max", &v)?)
                }
            }
            "jitter" => c.jitter = float_arg(key, &v)?,
            "half_open_max_calls" => c.half_open_max_calls = u32_arg(key, &v)?,
            "success_threshold" => c.success_threshold = u32_arg(key, &v)?,
            "half_open_max_wait" => c.half_open_max_wait = secs_arg("half_open_max_wait", &v)?,
            "slow_call_duration" => {
                c.slow_call_duration = if none {
                    None
                } else {
                    Some(secs_arg("slow_call_duration", &v)?)
                }
            }
            "slow_call_rate_threshold" => c.slow_call_rate_threshold = float_arg(key, &v)?,
            "max_open_for" => c.max_open_for = secs_arg("max_open_for", &v)?,
            "cancellation" => c.cancellation = cancellation_arg(&v)?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unexpected keyword argument '{other}'"
                )))
            }
        }
    }
    c.window = match (count, window_secs, buckets) {
        (Some(size), None, None) => WindowConfig::Count { size },
        (Some(_), _, _) => {
            return Err(PyValueError::new_err(
                "invalid count_window: a count window takes no window or window_buckets",
            ))
        }
        (None, d, b) => WindowConfig::Time {
            duration: d.unwrap_or(Duration::from_secs(10)),
            buckets: b.unwrap_or(10),
        },
    };
    c.backoff = match (multiplier, backoff_max) {
        (None, None) => None,
        (Some(multiplier), Some(max)) => Some(Backoff { multiplier, max }),
        (Some(_), None) => {
            return Err(PyValueError::new_err(
                "invalid backoff_max: None (required with backoff_multiplier)",
            ))
        }
        (None, Some(_)) => {
            return Err(PyValueError::new_err(
                "invalid backoff_multiplier: None (required with backoff_max)",
            ))
        }
    };
    c.validate().map_err(config_error)?;
    Ok(c)
}

/// Put `changes` over `current` (a breaker's `config()`), so that a
/// window or back-off given in `changes` replaces the current one whole:
/// `count_window=50` over a time window drops `window` and
/// `window_buckets`; `backoff_multiplier=None` turns the back-off off.
pub fn merge_changes(current: &Bound<'_, PyDict>, changes: &Bound<'_, PyDict>) -> PyResult<()> {
    let py = current.py();
    let has = |k: &str| changes.contains(k).unwrap_or(false);
    if has("count_window")
        && !changes
            .get_item("count_window")?
            .is_none_or(|v| v.is_none())
    {
        current.set_item("window", py.None())?;
        current.set_item("window_buckets", py.None())?;
    } else if has("window") || has("window_buckets") {
        current.set_item("count_window", py.None())?;
        if current.get_item("window")?.is_none_or(|v| v.is_none()) && !has("window") {
            current.set_item("window", 10.0)?;
        }
    }
    let off = |k: &str| -> PyResult<bool> { Ok(changes.get_item(k)?.is_some_and(|v| v.is_none())) };
    if off("backoff_multiplier")? || off("backoff_max")? {
        current.set_item("backoff_multiplier", py.None())?;
        current.set_item("backoff_max", py.None())?;
    }
    for (k, v) in changes.iter() {
        let key = k.cast::<PyString>()?.to_cow()?.into_owned();
        if key.starts_with("backoff_") && v.is_none() {
            continue;
        }
        current.set_item(key, v)?;
    }
    Ok(())
}
