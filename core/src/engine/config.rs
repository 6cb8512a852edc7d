//! Breaker configuration: the defaults (`docs/semantics.md#defaults`), a
//! builder, and validation that names the field and the bad value
//! (`docs/semantics.md#validation`).

use crate::engine::input::ErrorKind;
use std::fmt;
use std::time::Duration;

/// How outcomes are grouped for the failure and slow-call rates.
///
/// ```rust
/// use fusebox::{Config, WindowConfig};
/// use std::time::Duration;
///
/// assert_eq!(
///     WindowConfig::default(),
///     WindowConfig::Time { duration: Duration::from_secs(10), buckets: 10 }
/// );
/// // The last 100 calls, however long ago they were made.
/// let config = Config { window: WindowConfig::Count { size: 100 }, ..Config::default() };
/// assert!(config.validate().is_ok());
///
/// let tiny = WindowConfig::Time { duration: Duration::from_millis(5), buckets: 10 };
/// let err = Config { window: tiny, ..Config::default() }.validate().unwrap_err();
/// assert_eq!(err.field, "window.buckets"); // buckets under 1 ms
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum WindowConfig {
    /// The last `duration`, as a ring of `buckets` equal buckets. A bucket is
    /// dropped as a whole once time moves a full window past it.
    Time {
        /// Window length.
        #[cfg_attr(feature = "serde", serde(with = "ms"))]
        duration: Duration,
        /// Number of buckets (1..=1000); `duration / buckets` must be ≥ 1 ms.
        buckets: u32,
    },
    /// The last `size` calls (1..=100 000).
    Count {
        /// Number of calls.
        size: u32,
    },
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig::Time {
            duration: Duration::from_secs(10),
            buckets: 10,
        }
    }
}

/// Exponential back-off of the open timeout while probes keep failing.
///
/// ```rust
/// use fusebox::{Backoff, Config};
/// use std::time::Duration;
///
/// // Open 30 s, then 60 s, 120 s, ... up to 10 minutes.
/// let backoff = Backoff { multiplier: 2.0, max: Duration::from_secs(600) };
/// let config = Config::builder()
///     .open_timeout(Duration::from_secs(30))
///     .backoff(Some(backoff))
///     .build()?;
/// assert_eq!(config.backoff, Some(backoff));
///
/// let below = Backoff { max: Duration::from_secs(10), ..backoff }; // < open_timeout
/// let err = Config::builder().backoff(Some(below)).build().unwrap_err();
/// assert_eq!(err.field, "backoff.max");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Backoff {
    /// Each re-open multiplies the open timeout by this (> 1).
    pub multiplier: f64,
    /// Upper bound of the open timeout.
    #[cfg_attr(feature = "serde", serde(with = "ms"))]
    pub max: Duration,
}

/// Breaker settings. Build with [`Config::builder`]; `Config::default()` holds
/// the documented defaults (`docs/semantics.md#defaults`).
///
/// ```rust
/// use fusebox::{Config, WindowConfig};
/// use std::time::Duration;
///
/// let defaults = Config::default();
/// assert_eq!(defaults.failure_rate_threshold, 0.5);
/// assert_eq!(defaults.min_calls, 10);
/// assert_eq!(defaults.consecutive_failures, Some(5));
/// assert_eq!(defaults.open_timeout, Duration::from_secs(30));
/// assert_eq!(
///     defaults.window,
///     WindowConfig::Time { duration: Duration::from_secs(10), buckets: 10 }
/// );
///
/// // Fields are public: a struct literal works too, checked by `validate`.
/// let config = Config { min_calls: 20, ..Config::default() };
/// assert!(config.validate().is_ok());
/// let bad = Config { success_threshold: 5, ..Config::default() }; // > 3 probes
/// let err = bad.validate().unwrap_err();
/// assert_eq!(err.field, "success_threshold");
/// assert_eq!(err.to_string(), "invalid success_threshold: 5 (expected ≤ half_open_max_calls)");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Failure ratio in (0, 1] that trips once `min_calls` calls are in the
    /// window. Reached, not exceeded: 5 of 10 trips 0.5. Default 0.5.
    pub failure_rate_threshold: f64,
    /// Failures in a row that trip (a success resets the run); `None` turns
    /// this detector off. Default 5.
    pub consecutive_failures: Option<u32>,
    /// Calls needed in the window before a rate is judged. Default 10.
    pub min_calls: u32,
    /// The sliding window. Default: 10 s in 10 buckets.
    pub window: WindowConfig,
    /// How long Open lasts before a probe is let through. Default 30 s.
    pub open_timeout: Duration,
    /// Back-off of the open timeout on repeated failed probing. Default off.
    pub backoff: Option<Backoff>,
    /// Random extra open time, as a fraction in [0, 1] of the open timeout,
    /// so a fleet does not probe in lock-step. Default 0 (off).
    pub jitter: f64,
    /// Probes admitted in Half-Open (1..=1000). Default 3.
    pub half_open_max_calls: u32,
    /// Probe successes that close the breaker (≤ `half_open_max_calls`).
    /// Default 3.
    pub success_threshold: u32,
    /// How long Half-Open may wait for its probes before going back to Open.
    /// Default 60 s.
    pub half_open_max_wait: Duration,
    /// A call that takes longer than this is slow. Default `None` (off).
    pub slow_call_duration: Option<Duration>,
    /// Slow-call ratio in (0, 1] that trips. Default 1.0.
    pub slow_call_rate_threshold: f64,
    /// The longest open period [`Breaker::open_for`](crate::Breaker::open_for)
    /// may ask for (a server's `Retry-After` is capped to it, so a bad
    /// header cannot keep the breaker open for a day). Default 300 s.
    pub max_open_for: Duration,
    /// What a call future dropped before it completed counts as
    /// ([`Breaker::call_async`](crate::Breaker::call_async),
    /// [`Breaker::cancel_raw`](crate::Breaker::cancel_raw)). Default
    /// [`Cancellation::SlowIfOverdue`].
    pub cancellation: Cancellation,
}

/// What a cancelled call (a call future dropped before it completed) counts
/// as (`docs/semantics.md#cancelled-calls`).
///
/// A caller that gives up says nothing about the dependency's health by
/// itself (it may have lost a race, or hit its own deadline), so by default
/// a cancellation is neither a success nor a failure: the permit is given
/// back (a half-open probe's slot is freed for the next caller). Except a
/// call cancelled after it ran longer than `slow_call_duration`: a caller
/// that gave up on a hung call *is* evidence, and it counts as one slow call.
///
/// ```rust
/// use fusebox::{Cancellation, Config};
///
/// assert_eq!(Config::default().cancellation, Cancellation::SlowIfOverdue);
/// let strict = Config::builder().cancellation(Cancellation::Failure).build()?;
/// assert_eq!(strict.cancellation, Cancellation::Failure);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Cancellation {
    /// Neither success nor failure, however long it ran: the permit is
    /// released (a probe's slot comes back).
    Release,
    /// As `Release`, unless the call had run longer than
    /// `slow_call_duration` (when slow-call detection is on): then it counts
    /// as one slow call (as [`Breaker::record_in_flight_slow`](crate::Breaker::record_in_flight_slow)
    /// counts one; a half-open probe is released all the same). The default.
    #[default]
    SlowIfOverdue,
    /// A failure, like an error (a cancelled probe re-opens the breaker).
    Failure,
}

impl Cancellation {
    /// Every policy, by code (the order of the C constants and of the names
    /// the front ends share).
    pub const ALL: [Cancellation; 3] = [
        Cancellation::Release,
        Cancellation::SlowIfOverdue,
        Cancellation::Failure,
    ];

    /// `release`, `slow_if_overdue`, `failure` (scenario files' and
    /// Python's names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Cancellation::Release => "release",
            Cancellation::SlowIfOverdue => "slow_if_overdue",
            Cancellation::Failure => "failure",
        }
    }

    /// The policy called `name` ([`Cancellation::as_str`]'s spelling), or
    /// the error that names the field `cancellation`.
    ///
    /// ```rust
    /// use fusebox::Cancellation;
    ///
    /// assert_eq!(Cancellation::from_name("release")?, Cancellation::Release);
    /// let e = Cancellation::from_name("sometimes").unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "invalid cancellation: \"sometimes\" (expected release, slow_if_overdue or failure)"
    /// );
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn from_name(name: &str) -> Result<Cancellation, ConfigError> {
        Cancellation::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| {
                err(
                    "cancellation",
                    format!("{name:?}"),
                    "release, slow_if_overdue or failure",
                )
            })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            failure_rate_threshold: 0.5,
            consecutive_failures: Some(5),
            min_calls: 10,
            window: WindowConfig::default(),
            open_timeout: Duration::from_secs(30),
            backoff: None,
            jitter: 0.0,
            half_open_max_calls: 3,
            success_threshold: 3,
            half_open_max_wait: Duration::from_secs(60),
            slow_call_duration: None,
            slow_call_rate_threshold: 1.0,
            max_open_for: Duration::from_secs(300),
            cancellation: Cancellation::SlowIfOverdue,
        }
    }
}

/// A setting that is out of range: which field, what value, what is allowed.
///
/// Every front end reports it through [`ConfigError::render`], with the
/// field spelled its own way (`minCalls`, `min_calls`, `config.min_calls`):
/// the rule and the words are the core's (`docs/semantics.md#bad-input`).
///
/// ```rust
/// use fusebox::Config;
///
/// let err = Config::builder().jitter(1.5).build().unwrap_err();
/// assert_eq!((err.field, err.value.as_str()), ("jitter", "1.5"));
/// assert_eq!(err.to_string(), "invalid jitter: 1.5 (expected a fraction in [0, 1])");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's name, as in [`Config`].
    pub field: &'static str,
    /// The rejected value, printed (durations in the caller's [`Unit`];
    /// NaN and infinities as `NaN`, `Infinity`, `-Infinity`).
    pub value: String,
    /// What the field accepts.
    pub expected: &'static str,
}

impl ConfigError {
    /// The message, naming the field as `name` (a binding's spelling of
    /// [`ConfigError::field`]): `invalid NAME: VALUE (expected …)`. The one
    /// formatter of config errors; `Display` is `render(self.field)`.
    pub fn render(&self, name: &str) -> String {
        format!(
            "invalid {name}: {} (expected {})",
            self.value, self.expected
        )
    }

    /// The error's kind: always [`ErrorKind::InvalidConfig`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidConfig
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.field))
    }
}

impl std::error::Error for ConfigError {}

/// The unit a front end takes durations in: a duration error quotes the
/// value and the allowed range in it (Python's seconds, Node's `*Ms`
/// options, C's `*_ns` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds (Rust's [`ConfigBuilder::secs`], Python).
    Seconds,
    /// Milliseconds (Node's `*Ms` options, scenario files).
    Millis,
    /// Nanoseconds (the C ABI).
    Nanos,
}

impl Unit {
    /// Nanoseconds in one of this unit.
    fn nanos(self) -> f64 {
        match self {
            Unit::Seconds => 1e9,
            Unit::Millis => 1e6,
            Unit::Nanos => 1.0,
        }
    }

    /// What a duration field accepts, in this unit.
    fn range(self) -> &'static str {
        match self {
            Unit::Seconds => "a duration in (0, 1 000 000] seconds",
            Unit::Millis => "a duration in (0, 1 000 000 000] ms",
            Unit::Nanos => "a duration in (0, 1 000 000 000 000 000] ns",
        }
    }

    /// `d` as a number of this unit, printed.
    pub(crate) fn quote(self, d: Duration) -> String {
        number(d.as_nanos() as f64 / self.nanos())
    }
}

/// A number as error messages print it: `NaN`, `Infinity`, `-Infinity`,
/// else the shortest form that reads back (`0`, `1.5`, `2000000000000`).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v}")
    }
}

/// Largest accepted duration (about 11.6 days): keeps nanosecond arithmetic
/// far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(1_000_000);
/// Largest bucket count of a time window.
pub const MAX_BUCKETS: u32 = 1000;
/// Largest count window.
pub const MAX_COUNT_WINDOW: u32 = 100_000;
/// Largest number of half-open probes.
pub const MAX_HALF_OPEN_CALLS: u32 = 1000;

fn err(field: &'static str, value: impl fmt::Display, expected: &'static str) -> ConfigError {
    ConfigError {
        field,
        value: value.to_string(),
        expected,
    }
}

fn rate(field: &'static str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(err(field, number(v), "a ratio in (0, 1]"))
    }
}

fn duration(field: &'static str, d: Duration, unit: Unit) -> Result<(), ConfigError> {
    if d.is_zero() || d > MAX_DURATION {
        Err(err(field, unit.quote(d), unit.range()))
    } else {
        Ok(())
    }
}

impl Config {
    /// A builder starting from the defaults (every setter is shown on
    /// [`ConfigBuilder`]).
    ///
    /// ```rust
    /// use fusebox::Config;
    ///
    /// assert_eq!(Config::builder().build()?, Config::default());
    /// let config = Config::builder().min_calls(20).build()?;
    /// assert_eq!(config.min_calls, 20);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
            error: None,
        }
    }

    /// Check every field; the first bad one is reported (durations in
    /// seconds: [`Config::validate_in`] with [`Unit::Seconds`]; example on
    /// [`Config`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_in(Unit::Seconds)
    }

    /// Check every field; the first bad one is reported, a duration quoted
    /// in `unit` (the unit the caller's front end takes durations in).
    pub fn validate_in(&self, unit: Unit) -> Result<(), ConfigError> {
        rate("failure_rate_threshold", self.failure_rate_threshold)?;
        if self.consecutive_failures == Some(0) {
            return Err(err(
                "consecutive_failures",
                0,
                "≥ 1, or None to turn it off",
            ));
        }
        if self.min_calls == 0 || self.min_calls > 1_000_000_000 {
            return Err(err("min_calls", self.min_calls, "1..=1 000 000 000"));
        }
        match self.window {
            WindowConfig::Time {
                duration: d,
                buckets,
            } => {
                duration("window", d, unit)?;
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(err("window.buckets", buckets, "1..=1000"));
                }
                if d / buckets < Duration::from_millis(1) {
                    return Err(err("window.buckets", buckets, "buckets of at least 1 ms"));
                }
            }
            WindowConfig::Count { size } => {
                if size == 0 || size > MAX_COUNT_WINDOW {
                    return Err(err("window.size", size, "1..=100 000"));
                }
            }
        }
        duration("open_timeout", self.open_timeout, unit)?;
        if let Some(b) = self.backoff {
            if !(b.multiplier.is_finite() && b.multiplier > 1.0 && b.multiplier <= 1000.0) {
                return Err(err(
                    "backoff.multiplier",
                    number(b.multiplier),
                    "a finite number in (1, 1000]",
                ));
            }
            duration("backoff.max", b.max, unit)?;
            if b.max < self.open_timeout {
                return Err(err("backoff.max", unit.quote(b.max), "≥ open_timeout"));
            }
        }
        if !(self.jitter.is_finite() && (0.0..=1.0).contains(&self.jitter)) {
            return Err(err("jitter", number(self.jitter), "a fraction in [0, 1]"));
        }
        if self.half_open_max_calls == 0 || self.half_open_max_calls > MAX_HALF_OPEN_CALLS {
            return Err(err(
                "half_open_max_calls",
                self.half_open_max_calls,
                "1..=1000",
            ));
        }
        if self.success_threshold == 0 {
            return Err(err("success_threshold", 0, "≥ 1"));
        }
        if self.success_threshold > self.half_open_max_calls {
            return Err(err(
                "success_threshold",
                self.success_threshold,
                "≤ half_open_max_calls",
            ));
        }
        duration("half_open_max_wait", self.half_open_max_wait, unit)?;
        if let Some(d) = self.slow_call_duration {
            duration("slow_call_duration", d, unit)?;
        }
        rate("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        duration("max_open_for", self.max_open_for, unit)?;
        Ok(())
    }

    /// Bucket width of a time window, in ns (0 for a count window).
    pub(crate) fn bucket_ns(&self) -> u64 {
        match self.window {
            WindowConfig::Time { duration, buckets } => duration.as_nanos() as u64 / buckets as u64,
            WindowConfig::Count { .. } => 0,
        }
    }
}

/// Builds a [`Config`]; [`ConfigBuilder::build`] validates it.
///
/// ```rust
/// use fusebox::{Backoff, Config, ConfigError, WindowConfig};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .failure_rate_threshold(0.25)
///     .min_calls(20)
///     .count_window(100) // the last 100 calls
///     .consecutive_failures(None) // rate only
///     .slow_call_duration(Some(Duration::from_millis(500)))
///     .slow_call_rate_threshold(0.8)
///     .backoff(Some(Backoff { multiplier: 2.0, max: Duration::from_secs(300) }))
///     .jitter(0.1)
///     .secs("open_timeout", 15.0) // seconds, as bindings pass them
///     .build()?;
/// assert_eq!(config.window, WindowConfig::Count { size: 100 });
/// assert_eq!(config.open_timeout, Duration::from_secs(15));
///
/// // The error names the field, the value and what is allowed.
/// let err = Config::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.field, "failure_rate_threshold");
/// assert_eq!(err.value, "1.5");
/// println!("{err}"); // invalid failure_rate_threshold: 1.5 (expected a ratio in (0, 1])
/// let err = Config::builder().secs("open_timeout", -1.0).build().unwrap_err();
/// assert_eq!(err.field, "open_timeout");
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
    error: Option<ConfigError>,
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.config.$name = v;
            self
        }
    };
}

impl ConfigBuilder {
    setter!(
        /// See [`Config::failure_rate_threshold`].
        failure_rate_threshold: f64
    );
    setter!(
        /// See [`Config::consecutive_failures`].
        consecutive_failures: Option<u32>
    );
    setter!(
        /// See [`Config::min_calls`].
        min_calls: u32
    );
    setter!(
        /// See [`Config::window`].
        window: WindowConfig
    );
    setter!(
        /// See [`Config::open_timeout`].
        open_timeout: Duration
    );
    setter!(
        /// See [`Config::backoff`].
        backoff: Option<Backoff>
    );
    setter!(
        /// See [`Config::jitter`].
        jitter: f64
    );
    setter!(
        /// See [`Config::half_open_max_calls`].
        half_open_max_calls: u32
    );
    setter!(
        /// See [`Config::success_threshold`].
        success_threshold: u32
    );
    setter!(
        /// See [`Config::half_open_max_wait`].
        half_open_max_wait: Duration
    );
    setter!(
        /// See [`Config::slow_call_duration`].
        slow_call_duration: Option<Duration>
    );
    setter!(
        /// See [`Config::slow_call_rate_threshold`].
        slow_call_rate_threshold: f64
    );
    setter!(
        /// See [`Config::max_open_for`].
        max_open_for: Duration
    );
    setter!(
        /// See [`Config::cancellation`].
        cancellation: Cancellation
    );

    /// A time window of `duration` in `buckets` buckets.
    ///
    /// ```rust
    /// use fusebox::{Config, WindowConfig};
    /// use std::time::Duration;
    ///
    /// // The last minute, dropped 5 s at a time.
    /// let config = Config::builder().time_window(Duration::from_secs(60), 12).build()?;
    /// assert_eq!(
    ///     config.window,
    ///     WindowConfig::Time { duration: Duration::from_secs(60), buckets: 12 }
    /// );
    /// let err = Config::builder().time_window(Duration::from_secs(60), 0).build().unwrap_err();
    /// assert_eq!(err.field, "window.buckets");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn time_window(self, duration: Duration, buckets: u32) -> Self {
        self.window(WindowConfig::Time { duration, buckets })
    }

    /// A count window of the last `size` calls.
    ///
    /// ```rust
    /// use fusebox::{Config, WindowConfig};
    ///
    /// let config = Config::builder().count_window(50).build()?;
    /// assert_eq!(config.window, WindowConfig::Count { size: 50 });
    /// let err = Config::builder().count_window(0).build().unwrap_err();
    /// assert_eq!(err.field, "window.size");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn count_window(self, size: u32) -> Self {
        self.window(WindowConfig::Count { size })
    }

    /// Durations given as seconds (as bindings receive them): NaN, negative
    /// and infinite values are reported against `field` at `build()`.
    pub fn secs(mut self, field: &'static str, secs: f64) -> Self {
        match secs_to_duration(field, secs) {
            Ok(d) => match field {
                "open_timeout" => self.config.open_timeout = d,
                "half_open_max_wait" => self.config.half_open_max_wait = d,
                "slow_call_duration" => self.config.slow_call_duration = Some(d),
                "max_open_for" => self.config.max_open_for = d,
                _ => {
                    self.error
                        .get_or_insert(err(field, number(secs), "a known duration field"));
                }
            },
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Validate and return the config: the first bad setting is the error.
    ///
    /// ```rust
    /// use fusebox::Config;
    ///
    /// let err = Config::builder()
    ///     .half_open_max_calls(2)
    ///     .success_threshold(3) // more successes than probes
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field, "success_threshold");
    /// assert_eq!(err.value, "3");
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.config.validate()?;
        Ok(self.config)
    }
}

/// Seconds as a float (NaN, negative, infinite and > 1 000 000 s refused).
pub fn secs_to_duration(field: &'static str, secs: f64) -> Result<Duration, ConfigError> {
    duration_in(field, secs, Unit::Seconds)
}

/// A duration given as a float of `unit` (NaN, negative, zero, infinite and
/// over 1 000 000 s refused), the error quoting the value and the range in
/// that unit: `invalid open_timeout: 0 (expected a duration in (0,
/// 1 000 000 000] ms)`.
pub fn duration_in(field: &'static str, v: f64, unit: Unit) -> Result<Duration, ConfigError> {
    let max = MAX_DURATION.as_nanos() as f64 / unit.nanos();
    if !v.is_finite() || v <= 0.0 || v > max {
        return Err(err(field, number(v), unit.range()));
    }
    let d = Duration::from_secs_f64(v * unit.nanos() / 1e9);
    if d.is_zero() {
        // A positive value below 1 ns rounds to nothing: still too small.
        return Err(err(field, number(v), unit.range()));
    }
    Ok(d)
}

#[cfg(feature = "serde")]
pub(crate) mod ms {
    //! Durations as integer or fractional milliseconds in JSON.
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || !(0.0..=1e12).contains(&v) {
            return Err(serde::de::Error::custom(format!(
                "duration {v} ms is not a finite, non-negative number of ms"
            )));
        }
        Ok(Duration::from_secs_f64(v / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.failure_rate_threshold, 0.5);
        assert_eq!(c.consecutive_failures, Some(5));
        assert_eq!(c.min_calls, 10);
        assert_eq!(c.open_timeout, Duration::from_secs(30));
        assert_eq!(c.half_open_max_calls, 3);
        assert_eq!(c.success_threshold, 3);
        assert_eq!(c.max_open_for, Duration::from_secs(300));
        assert_eq!(c.cancellation, Cancellation::SlowIfOverdue);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_values_name_field_and_value() {
        let cases: Vec<(ConfigBuilder, &str)> = vec![
            (
                Config::builder().failure_rate_threshold(f64::NAN),
                "failure_rate_threshold",
            ),
            (
                Config::builder().failure_rate_threshold(0.0),
                "failure_rate_threshold",
            ),
            (
                Config::builder().failure_rate_threshold(1.5),
                "failure_rate_threshold",
            ),
            (
                Config::builder().consecutive_failures(Some(0)),
                "consecutive_failures",
            ),
            (Config::builder().min_calls(0), "min_calls"),
            (
                Config::builder().open_timeout(Duration::ZERO),
                "open_timeout",
            ),
            (Config::builder().secs("open_timeout", -1.0), "open_timeout"),
            (
                Config::builder().secs("open_timeout", f64::NAN),
                "open_timeout",
            ),
            (
                Config::builder().time_window(Duration::from_secs(10), 0),
                "window.buckets",
            ),
            (
                Config::builder().time_window(Duration::from_secs(10), 5000),
                "window.buckets",
            ),
            (Config::builder().time_window(Duration::ZERO, 10), "window"),
            (Config::builder().count_window(0), "window.size"),
            (Config::builder().success_threshold(4), "success_threshold"),
            (
                Config::builder().half_open_max_calls(0),
                "half_open_max_calls",
            ),
            (Config::builder().jitter(-0.1), "jitter"),
            (
                Config::builder().slow_call_rate_threshold(0.0),
                "slow_call_rate_threshold",
            ),
            (
                Config::builder().backoff(Some(Backoff {
                    multiplier: 0.5,
                    max: Duration::from_secs(60),
                })),
                "backoff.multiplier",
            ),
        ];
        for (b, field) in cases {
            let e = b.build().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().contains(field));
        }
        let e = Config::builder()
            .failure_rate_threshold(1.5)
            .build()
            .unwrap_err();
        assert_eq!(e.value, "1.5");
    }

    #[test]
    fn cancellation_names_round_trip() {
        for c in Cancellation::ALL {
            assert_eq!(Cancellation::from_name(c.as_str()), Ok(c));
        }
        let e = Cancellation::from_name("SlowIfOverdue").unwrap_err();
        assert_eq!(
            (e.field, e.value.as_str()),
            ("cancellation", "\"SlowIfOverdue\"")
        );
    }
}
