//! Snapshots of breaker state, as versioned JSON (`docs/semantics.md#snapshot-and-restore`):
//! what a process writes before it stops and reads back at start, so that an
//! Open breaker stays open for the rest of its open period across a restart.
//!
//! A file is read whole and checked whole ([`Snapshot::parse`]) before
//! anything is applied: a damaged, truncated or foreign file, a newer
//! version, or one bad entry refuses it all, with an error naming what is
//! wrong ([`SnapshotError`]). Applying it is `breaker/restore.rs` (one
//! breaker) and `engine/registry_snapshot.rs` (a registry).

use crate::engine::config::{Backoff, Cancellation, Config, ConfigError, Unit, WindowConfig};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The `format` tag of a snapshot file.
pub const FORMAT: &str = "fusebox.snapshot";
/// The snapshot version this library writes, and the newest it reads.
pub const VERSION: u32 = 1;

/// A snapshot file: breakers' settings and states, and when it was written.
///
/// ```rust
/// use fusebox::snapshot::{Snapshot, FORMAT, VERSION};
/// use fusebox::Registry;
///
/// let registry = Registry::default();
/// registry.get_or_create("db")?.force_open();
/// let snapshot = registry.save_state();
/// assert_eq!((snapshot.format.as_str(), snapshot.version), (FORMAT, VERSION));
/// let text = snapshot.to_json();
/// assert_eq!(Snapshot::parse(&text)?, snapshot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written by this library.
    pub version: u32,
    /// Wall-clock time of writing, in ms since the Unix epoch: a restoring
    /// process takes the time since off every open period.
    pub written_at_unix_ms: u64,
    /// One entry per breaker, names unique.
    pub breakers: Vec<BreakerSnapshot>,
}

/// One breaker's settings and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSnapshot {
    /// The breaker's name.
    pub name: String,
    /// `closed`, `open`, `half_open`, `forced_open` or `disabled`.
    pub phase: String,
    /// Open: what was left of the open period when written, in ms (absent
    /// for other phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_remaining_ms: Option<f64>,
    /// Failed probing rounds in a row (drives the back-off of the open
    /// timeout).
    #[serde(default)]
    pub reopens: u64,
    /// The settings.
    pub config: ConfigRecord,
}

/// A [`Config`] as a snapshot writes it: every field, durations in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ConfigRecord {
    pub failure_rate_threshold: f64,
    pub consecutive_failures: Option<u32>,
    pub min_calls: u32,
    pub window: WindowRecord,
    pub open_timeout_ms: f64,
    pub backoff: Option<BackoffRecord>,
    pub jitter: f64,
    pub half_open_max_calls: u32,
    pub success_threshold: u32,
    pub half_open_max_wait_ms: f64,
    pub slow_call_duration_ms: Option<f64>,
    pub slow_call_rate_threshold: f64,
    pub max_open_for_ms: f64,
    pub cancellation: String,
}

/// A window in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)]
pub enum WindowRecord {
    Time { duration_ms: f64, buckets: u32 },
    Count { size: u32 },
}

/// A back-off in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct BackoffRecord {
    pub multiplier: f64,
    pub max_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

fn from_ms(field: &'static str, v: f64) -> Result<Duration, ConfigError> {
    crate::engine::config::duration_in(field, v, Unit::Millis)
}

impl ConfigRecord {
    /// `c`, written down.
    pub fn of(c: &Config) -> ConfigRecord {
        ConfigRecord {
            failure_rate_threshold: c.failure_rate_threshold,
            consecutive_failures: c.consecutive_failures,
            min_calls: c.min_calls,
            window: match c.window {
                WindowConfig::Time { duration, buckets } => WindowRecord::Time {
                    duration_ms: ms(duration),
                    buckets,
                },
                WindowConfig::Count { size } => WindowRecord::Count { size },
            },
            open_timeout_ms: ms(c.open_timeout),
            backoff: c.backoff.map(|b| BackoffRecord {
                multiplier: b.multiplier,
                max_ms: ms(b.max),
            }),
            jitter: c.jitter,
            half_open_max_calls: c.half_open_max_calls,
            success_threshold: c.success_threshold,
            half_open_max_wait_ms: ms(c.half_open_max_wait),
            slow_call_duration_ms: c.slow_call_duration.map(ms),
            slow_call_rate_threshold: c.slow_call_rate_threshold,
            max_open_for_ms: ms(c.max_open_for),
            cancellation: c.cancellation.as_str().into(),
        }
    }

    /// The validated [`Config`] (errors quote durations in ms).
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let c = Config {
            failure_rate_threshold: self.failure_rate_threshold,
            consecutive_failures: self.consecutive_failures,
            min_calls: self.min_calls,
            window: match self.window {
                WindowRecord::Time {
                    duration_ms,
                    buckets,
                } => WindowConfig::Time {
                    duration: from_ms("window", duration_ms)?,
                    buckets,
                },
                WindowRecord::Count { size } => WindowConfig::Count { size },
            },
            open_timeout: from_ms("open_timeout", self.open_timeout_ms)?,
            backoff: match self.backoff {
                Some(b) => Some(Backoff {
                    multiplier: b.multiplier,
                    max: from_ms("backoff.max", b.max_ms)?,
                }),
                None => None,
            },
            jitter: self.jitter,
            half_open_max_calls: self.half_open_max_calls,
            success_threshold: self.success_threshold,
            half_open_max_wait: from_ms("half_open_max_wait", self.half_open_max_wait_ms)?,
            slow_call_duration: match self.slow_call_duration_ms {
                Some(v) => Some(from_ms("slow_call_duration", v)?),
                None => None,
            },
            slow_call_rate_threshold: self.slow_call_rate_threshold,
            max_open_for: from_ms("max_open_for", self.max_open_for_ms)?,
            cancellation: Cancellation::from_name(&self.cancellation)?,
        };
        c.validate_in(Unit::Millis)?;
        Ok(c)
    }
}

/// Why a snapshot was refused. Nothing of it was applied.
///
/// ```rust
/// use fusebox::snapshot::{Snapshot, SnapshotError};
///
/// let err = Snapshot::parse(r#"{"format":"fusebox.snapshot","version":1,"#).unwrap_err();
/// assert!(matches!(err, SnapshotError::Damaged(_)));
/// assert!(err.to_string().starts_with("snapshot is damaged or truncated: EOF"));
///
/// let err = Snapshot::parse(r#"{"format":"acme.state","version":1}"#).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "snapshot is not a fusebox snapshot: format \"acme.state\" (expected \"fusebox.snapshot\")"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// The file could not be read or written (the path and the OS's error).
    Io(String),
    /// Not JSON, or cut short (the parser's message, with line and column).
    Damaged(String),
    /// JSON, but its `format` is not [`FORMAT`] (what it was, or `none`).
    Foreign(String),
    /// Written by a newer fusebox: its version.
    Newer(u64),
    /// An entry is wrong: where (`breakers[2] "pay".config`) and what.
    Invalid {
        /// Which part of the file.
        at: String,
        /// What is wrong with it.
        error: String,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io(e) => write!(f, "snapshot file: {e}"),
            SnapshotError::Damaged(e) => write!(f, "snapshot is damaged or truncated: {e}"),
            SnapshotError::Foreign(found) => write!(
                f,
                "snapshot is not a fusebox snapshot: format {found} (expected {FORMAT:?})"
            ),
            SnapshotError::Newer(v) => write!(
                f,
                "snapshot version {v} is newer than this fusebox reads (up to {VERSION})"
            ),
            SnapshotError::Invalid { at, error } => write!(f, "snapshot {at}: {error}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// A phase as a snapshot names it.
pub(crate) const PHASES: [&str; 5] = ["closed", "open", "half_open", "forced_open", "disabled"];

impl Snapshot {
    /// A snapshot of `breakers` (from [`crate::Breaker::save_state`]),
    /// written now: this library's format and version, the wall time.
    ///
    /// ```rust
    /// use fusebox::snapshot::Snapshot;
    /// use fusebox::{Breaker, Config};
    ///
    /// let db = Breaker::named("db", Config::default(), fusebox::ClockSource::Monotonic)?;
    /// let snapshot = Snapshot::now(vec![db.save_state()]);
    /// assert_eq!(snapshot.breakers[0].phase, "closed");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn now(breakers: Vec<BreakerSnapshot>) -> Snapshot {
        let written = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            written_at_unix_ms: written,
            breakers,
        }
    }

    /// The JSON text (pretty-printed, one field a line).
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Read and check a snapshot's text: the `format` tag, the version,
    /// then every entry (its name, phase and config, names unique), so that
    /// a snapshot this returns can be applied whole. Example on
    /// [`SnapshotError`].
    pub fn parse(text: &str) -> Result<Snapshot, SnapshotError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SnapshotError::Damaged(e.to_string()))?;
        let format = v.get("format");
        if format.and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(SnapshotError::Foreign(
                format.map_or_else(|| "none".into(), |f| f.to_string()),
            ));
        }
        match v.get("version").and_then(|n| n.as_u64()) {
            Some(n) if n > u64::from(VERSION) => return Err(SnapshotError::Newer(n)),
            Some(n) if n >= 1 => {}
            _ => {
                return Err(SnapshotError::Invalid {
                    at: "version".into(),
                    error: format!(
                        "{} (expected a version 1..={VERSION})",
                        v.get("version")
                            .map_or_else(|| "none".into(), |n| n.to_string())
                    ),
                })
            }
        }
        let s: Snapshot = serde_json::from_value(v).map_err(|e| SnapshotError::Invalid {
            at: "layout".into(),
            error: e.to_string(),
        })?;
        s.check()?;
        Ok(s)
    }

    /// Every entry's name, phase and config; names unique.
    fn check(&self) -> Result<(), SnapshotError> {
        let mut seen = std::collections::HashSet::new();
        for (i, b) in self.breakers.iter().enumerate() {
            let at = |part: &str| format!("breakers[{i}] {:?}{part}", b.name);
            let bad = |part: &str, error: String| SnapshotError::Invalid {
                at: at(part),
                error,
            };
            crate::engine::registry::check_name(&b.name).map_err(|e| bad("", e.to_string()))?;
            if !seen.insert(b.name.as_str()) {
                return Err(bad("", "a second entry of this name".into()));
            }
            if !PHASES.contains(&b.phase.as_str()) {
                return Err(bad(
                    ".phase",
                    format!(
                        "{:?} (expected closed, open, half_open, forced_open or disabled)",
                        b.phase
                    ),
                ));
            }
            match (b.phase.as_str(), b.open_remaining_ms) {
                ("open", Some(r)) if r.is_finite() && r >= 0.0 => {}
                ("open", r) => {
                    return Err(bad(
                        ".open_remaining_ms",
                        format!(
                            "{} (expected a duration ≥ 0 ms for an open breaker)",
                            r.map_or_else(|| "none".into(), crate::engine::config::number)
                        ),
                    ))
                }
                (_, Some(_)) => {
                    return Err(bad(
                        ".open_remaining_ms",
                        "given for a breaker that is not open".into(),
                    ))
                }
                _ => {}
            }
            b.config
                .to_config()
                .map_err(|e| bad(".config", e.to_string()))?;
        }
        Ok(())
    }

    /// Read and check the snapshot file at `path` ([`Snapshot::parse`]).
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Snapshot, SnapshotError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SnapshotError::Io(format!("{}: {e}", path.display())))?;
        Snapshot::parse(&text)
    }

    /// Write the snapshot to `path`, whole or not at all: to a temporary
    /// file beside it, flushed to disk, then renamed over `path`.
    pub fn write(&self, path: impl AsRef<std::path::Path>) -> Result<(), SnapshotError> {
        use std::io::Write;
        let path = path.as_ref();
        let io = |e: std::io::Error| SnapshotError::Io(format!("{}: {e}", path.display()));
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(self.to_json().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }
}
