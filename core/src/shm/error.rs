//! Why a shared registry or breaker could not be opened.

use super::slot_table::BUSY_TIMEOUT;
use crate::engine::config::{Config, ConfigError};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a shared registry or breaker could not be opened.
#[derive(Debug)]
pub enum ShmError {
    /// A system call on the file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The file is not a fusebox registry (bad magic, truncated, inconsistent
    /// geometry).
    NotARegistry {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was made by a build with another layout.
    Version {
        /// The file.
        path: PathBuf,
        /// Its layout version and fingerprint.
        found: (u64, u64),
        /// This build's.
        expected: (u64, u64),
    },
    /// The file was made before the host's last boot: its deadlines are on a
    /// `CLOCK_MONOTONIC` that no longer runs. Delete it.
    StaleBoot {
        /// The file.
        path: PathBuf,
    },
    /// The breaker exists in the file with another config.
    ConfigMismatch {
        /// The breaker.
        name: String,
        /// The config the file holds.
        stored: Box<Config>,
        /// The fields that differ.
        fields: Vec<&'static str>,
    },
    /// Every slot holds another breaker.
    Full {
        /// The number of slots.
        capacity: usize,
    },
    /// The data area has no room left for this breaker's lines.
    OutOfSpace {
        /// The breaker.
        name: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        left: u64,
    },
    /// Another live process has been creating the same name for longer than
    /// a creation takes (it is stopped, or its pid was reused after it died).
    Busy {
        /// The breaker.
        name: String,
        /// The creating process.
        pid: u32,
    },
    /// A breaker slot that does not hold what it says.
    Corrupt {
        /// The breaker.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Empty or too long a name (1..=256 bytes).
    BadName(String),
    /// An option of [`SharedRegistryBuilder`](super::SharedRegistryBuilder) out of range.
    BadOption {
        /// The option.
        option: &'static str,
        /// Its value.
        value: u64,
        /// What it accepts.
        expected: &'static str,
    },
    /// A config that does not validate.
    Config(ConfigError),
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Io {
                path,
                action,
                source,
            } => write!(f, "{}: cannot {action}: {source}", path.display()),
            ShmError::NotARegistry { path, reason } => write!(
                f,
                "{} is not a fusebox shared registry: {reason}",
                path.display()
            ),
            ShmError::Version {
                path,
                found,
                expected,
            } => write!(
                f,
                "{} was made by another fusebox layout (version {}, fingerprint {:016x}; \
                 this build reads version {}, fingerprint {:016x}): stop the processes \
                 that use it and delete it, or open another path",
                path.display(),
                found.0,
                found.1,
                expected.0,
                expected.1
            ),
            ShmError::StaleBoot { path } => write!(
                f,
                "{} was made before the host last booted (its deadlines are on an old \
                 CLOCK_MONOTONIC): delete it, or keep it on a tmpfs such as /dev/shm",
                path.display()
            ),
            ShmError::ConfigMismatch { name, fields, .. } => write!(
                f,
                "breaker {name:?} exists in the shared registry with another config \
                 (differs in: {}); open it with the same config, or use another name or file",
                fields.join(", ")
            ),
            ShmError::Full { capacity } => write!(
                f,
                "the shared registry is full (all {capacity} slots hold breakers); \
                 create the file with a larger capacity"
            ),
            ShmError::OutOfSpace { name, needed, left } => write!(
                f,
                "no room for breaker {name:?} in the shared registry ({needed} bytes needed, \
                 {left} left); create the file with a larger data size"
            ),
            ShmError::Busy { name, pid } => write!(
                f,
                "breaker {name:?} is being created by process {pid}, which has not finished \
                 in {} s (stopped?)",
                BUSY_TIMEOUT.as_secs()
            ),
            ShmError::Corrupt { name, reason } => {
                write!(
                    f,
                    "breaker {name:?} in the shared registry is corrupt: {reason}"
                )
            }
            ShmError::BadName(n) => f.write_str(&crate::engine::input::name_message(n)),
            ShmError::BadOption {
                option,
                value,
                expected,
            } => write!(f, "invalid {option}: {value} (expected {expected})"),
            ShmError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io { source, .. } => Some(source),
            ShmError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for ShmError {
    fn from(e: ConfigError) -> Self {
        ShmError::Config(e)
    }
}

/// The [`ShmError::Io`] of `action` on `path`.
pub(super) fn io_err<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> ShmError + 'a {
    move |source| ShmError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

pub(super) fn not_registry(path: &Path, reason: impl Into<String>) -> ShmError {
    ShmError::NotARegistry {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
