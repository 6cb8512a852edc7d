//! The settings of an adaptive limit: the algorithm and its parameters,
//! the limit's bounds, the window; Netflix's defaults.

use crate::engine::config::ConfigError;
use std::time::Duration;

/// The largest limit an [`AdaptiveLimit`](super::AdaptiveLimit) accepts (a
/// bulkhead's word holds 24 bits of it).
pub const MAX_LIMIT: u32 = crate::bulkhead::MAX_CONCURRENT;

/// Which algorithm moves the limit, with its own settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease on drops or slow windows.
    Aimd {
        /// Multiplier on a drop, in [0.5, 1). Default 0.9.
        backoff_ratio: f64,
        /// A window latency above this counts as a drop. Default 5 s.
        timeout: Duration,
    },
    /// TCP Vegas: queueing estimated from the latency over the no-load latency.
    Vegas {
        /// Weight of the new estimate, in (0, 1]. Default 1.0.
        smoothing: f64,
        /// Windows between re-probes of the no-load latency, per unit of
        /// limit. Default 30.
        probe_multiplier: u32,
    },
    /// Netflix's Gradient2: short-term latency against a long-term average.
    Gradient2 {
        /// Weight of the new estimate, in (0, 1]. Default 0.2.
        smoothing: f64,
        /// Growth allowed per window while latency is flat. Default 4.
        queue_size: u32,
        /// Windows in the long-term average. Default 600.
        long_window: u32,
    },
}

impl Algorithm {
    /// The name: `aimd`, `vegas`, `gradient2`.
    ///
    /// ```rust
    /// use fusebox::LimitConfig;
    ///
    /// assert_eq!(LimitConfig::aimd().algorithm.as_str(), "aimd");
    /// assert_eq!(LimitConfig::vegas().algorithm.as_str(), "vegas");
    /// assert_eq!(LimitConfig::gradient2().algorithm.as_str(), "gradient2");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Aimd { .. } => "aimd",
            Algorithm::Vegas { .. } => "vegas",
            Algorithm::Gradient2 { .. } => "gradient2",
        }
    }
}

/// Settings of an [`AdaptiveLimit`](super::AdaptiveLimit). Start from [`LimitConfig::aimd`],
/// [`LimitConfig::vegas`] or [`LimitConfig::gradient2`] (Netflix's defaults)
/// and change fields as needed; [`LimitConfig::validate`] checks them.
///
/// ```rust
/// use fusebox::{Bulkhead, LimitConfig};
/// use std::time::Duration;
///
/// let mut config = LimitConfig::gradient2().limits(10, 50, 400);
/// config.window = Duration::from_millis(500);
/// config.window_size = 50;
/// assert!(config.validate().is_ok());
/// let b = Bulkhead::builder().adaptive(config).build()?;
/// assert_eq!(b.limit(), 50);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimitConfig {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The limit before the first window closes.
    pub initial_limit: u32,
    /// The limit never goes below this (≥ 1).
    pub min_limit: u32,
    /// The limit never goes above this (≤ [`MAX_LIMIT`]).
    pub max_limit: u32,
    /// Shortest window. Default 1 s.
    pub window: Duration,
    /// Samples a window needs before it closes. Default 10.
    pub window_size: u32,
    /// Samples faster than this are ignored. Default 100 µs.
    pub min_rtt: Duration,
}

impl LimitConfig {
    fn with(algorithm: Algorithm, initial: u32, min: u32, max: u32) -> LimitConfig {
        LimitConfig {
            algorithm,
            initial_limit: initial,
            min_limit: min,
            max_limit: max,
            window: Duration::from_secs(1),
            window_size: 10,
            min_rtt: Duration::from_micros(100),
        }
    }

    /// AIMD with Netflix's defaults (initial 10, min 1, max 200, back-off
    /// 0.9, timeout 5 s).
    ///
    /// ```rust
    /// use fusebox::concurrency::{Algorithm, LimitConfig};
    /// use std::time::Duration;
    ///
    /// let c = LimitConfig::aimd();
    /// assert_eq!((c.initial_limit, c.min_limit, c.max_limit), (10, 1, 200));
    /// let timeout = Duration::from_secs(5);
    /// assert_eq!(c.algorithm, Algorithm::Aimd { backoff_ratio: 0.9, timeout });
    /// assert_eq!((c.window, c.window_size), (Duration::from_secs(1), 10));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn aimd() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Aimd {
                backoff_ratio: 0.9,
                timeout: Duration::from_secs(5),
            },
            10,
            1,
            200,
        )
    }

    /// Vegas with Netflix's defaults (initial 20, min 1, max 1000,
    /// smoothing 1.0, probe multiplier 30).
    ///
    /// ```rust
    /// use fusebox::concurrency::{Algorithm, LimitConfig};
    ///
    /// let c = LimitConfig::vegas();
    /// assert_eq!((c.initial_limit, c.min_limit, c.max_limit), (20, 1, 1000));
    /// assert_eq!(c.algorithm, Algorithm::Vegas { smoothing: 1.0, probe_multiplier: 30 });
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn vegas() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Vegas {
                smoothing: 1.0,
                probe_multiplier: 30,
            },
            20,
            1,
            1000,
        )
    }

    /// Gradient2 with Netflix's defaults (initial 20, min 20, max 200,
    /// smoothing 0.2, queue size 4, long window 600).
    ///
    /// ```rust
    /// use fusebox::concurrency::{Algorithm, LimitConfig};
    ///
    /// let c = LimitConfig::gradient2();
    /// assert_eq!((c.initial_limit, c.min_limit, c.max_limit), (20, 20, 200));
    /// let g2 = Algorithm::Gradient2 { smoothing: 0.2, queue_size: 4, long_window: 600 };
    /// assert_eq!(c.algorithm, g2);
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn gradient2() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Gradient2 {
                smoothing: 0.2,
                queue_size: 4,
                long_window: 600,
            },
            20,
            20,
            200,
        )
    }

    /// The same, with the limit's bounds and starting point.
    ///
    /// ```rust
    /// use fusebox::LimitConfig;
    ///
    /// let c = LimitConfig::vegas().limits(5, 50, 500); // min, initial, max
    /// assert_eq!((c.min_limit, c.initial_limit, c.max_limit), (5, 50, 500));
    /// assert_eq!(c.algorithm, LimitConfig::vegas().algorithm); // the rest unchanged
    /// ```
    pub fn limits(mut self, min: u32, initial: u32, max: u32) -> LimitConfig {
        self.min_limit = min;
        self.initial_limit = initial;
        self.max_limit = max;
        self
    }

    /// Check every field; the first bad one is reported.
    ///
    /// ```rust
    /// use fusebox::concurrency::{LimitConfig, MAX_LIMIT};
    /// use std::time::Duration;
    ///
    /// assert!(LimitConfig::gradient2().validate().is_ok());
    /// let err = LimitConfig::aimd().limits(1, 10, MAX_LIMIT + 1).validate().unwrap_err();
    /// assert_eq!(err.field, "max_limit");
    /// let mut c = LimitConfig::aimd();
    /// c.window = Duration::from_micros(10); // shorter than 1 ms
    /// assert_eq!(c.validate().unwrap_err().field, "window");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: String, expected| {
            Err(ConfigError {
                field,
                value,
                expected,
            })
        };
        if self.min_limit == 0 || self.min_limit > MAX_LIMIT {
            return err("min_limit", self.min_limit.to_string(), "1..=16 777 215");
        }
        if self.max_limit < self.min_limit || self.max_limit > MAX_LIMIT {
            return err(
                "max_limit",
                self.max_limit.to_string(),
                "min_limit..=16 777 215",
            );
        }
        if self.initial_limit < self.min_limit || self.initial_limit > self.max_limit {
            return err(
                "initial_limit",
                self.initial_limit.to_string(),
                "min_limit..=max_limit",
            );
        }
        if self.window < Duration::from_millis(1)
            || self.window > crate::engine::config::MAX_DURATION
        {
            return err(
                "window",
                format!("{:?}", self.window),
                "a duration in [1 ms, 1 000 000 s]",
            );
        }
        if self.window_size == 0 || self.window_size > 1_000_000 {
            return err("window_size", self.window_size.to_string(), "1..=1 000 000");
        }
        if self.min_rtt > crate::engine::config::MAX_DURATION {
            return err(
                "min_rtt",
                format!("{:?}", self.min_rtt),
                "a duration ≤ 1 000 000 s",
            );
        }
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        match self.algorithm {
            Algorithm::Aimd {
                backoff_ratio,
                timeout,
            } => {
                if !(backoff_ratio.is_finite() && (0.5..1.0).contains(&backoff_ratio)) {
                    return err("backoff_ratio", format!("{backoff_ratio:?}"), "[0.5, 1)");
                }
                if timeout.is_zero() || timeout > crate::engine::config::MAX_DURATION {
                    return err(
                        "timeout",
                        format!("{timeout:?}"),
                        "a duration in (0, 1 000 000 s]",
                    );
                }
            }
            Algorithm::Vegas {
                smoothing,
                probe_multiplier,
            } => {
                if !unit(smoothing) {
                    return err("smoothing", format!("{smoothing:?}"), "(0, 1]");
                }
                if probe_multiplier == 0 {
                    return err("probe_multiplier", "0".into(), "≥ 1");
                }
            }
            Algorithm::Gradient2 {
                smoothing,
                queue_size,
                long_window,
            } => {
                if !unit(smoothing) {
                    return err("smoothing", format!("{smoothing:?}"), "(0, 1]");
                }
                if queue_size > MAX_LIMIT {
                    return err("queue_size", queue_size.to_string(), "0..=16 777 215");
                }
                if long_window == 0 {
                    return err("long_window", "0".into(), "≥ 1");
                }
            }
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_field() {
        let mut c = LimitConfig::gradient2();
        c.min_limit = 0;
        assert_eq!(c.validate().unwrap_err().field, "min_limit");
        let c = LimitConfig::aimd().limits(10, 5, 20);
        assert_eq!(c.validate().unwrap_err().field, "initial_limit");
        let c = LimitConfig::aimd().limits(10, 20, 5);
        assert_eq!(c.validate().unwrap_err().field, "max_limit");
        let mut c = LimitConfig::aimd();
        c.algorithm = Algorithm::Aimd {
            backoff_ratio: 1.0,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(c.validate().unwrap_err().field, "backoff_ratio");
        let mut c = LimitConfig::vegas();
        c.window = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "window");
        assert!(LimitConfig::vegas().validate().is_ok());
    }
}
