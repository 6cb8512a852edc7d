//! Bad input, answered alike by every front end (`docs/semantics.md#bad-input`).
//!
//! The rules and the words are here, in the core; a binding only spells a
//! field its own way and maps an [`ErrorKind`] to its language's idiom
//! (a Python exception class, a Node error `code`, a C status). The cases
//! every front end is tested against are in `scenarios/bad_input/`.

use crate::engine::config::{number, Unit};
use std::fmt;
use std::time::Duration;

/// What kind of bad input an error is about, as the shared table of bad
/// inputs (`scenarios/bad_input/cases.json`) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A setting out of range ([`crate::ConfigError`]).
    InvalidConfig,
    /// A breaker name that is empty or longer than
    /// [`MAX_NAME_LEN`](crate::registry::MAX_NAME_LEN) bytes.
    InvalidName,
    /// A second outcome (or a release) for a permit already given one
    /// ([`PermitUsed`]).
    OutcomeAlreadyRecorded,
    /// An argument of a call out of range ([`ArgumentError`]: the duration
    /// given to `open_for`).
    InvalidArgument,
}

impl ErrorKind {
    /// `invalid_config`, `invalid_name`, `outcome_already_recorded`,
    /// `invalid_argument`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::OutcomeAlreadyRecorded => "outcome_already_recorded",
            ErrorKind::InvalidArgument => "invalid_argument",
        }
    }
}

/// Names longer than this many bytes are refused.
pub use crate::engine::registry::MAX_NAME_LEN;

/// How much of a refused name an error message quotes (in chars).
const QUOTED_NAME_CHARS: usize = 64;

/// `Ok` for a valid breaker name (1..=[`MAX_NAME_LEN`] bytes of UTF-8), else
/// the start of the name, to quote in [`name_message`].
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        let mut quoted: String = name.chars().take(QUOTED_NAME_CHARS).collect();
        if quoted.len() < name.len() {
            quoted.push('…');
        }
        Err(quoted)
    } else {
        Ok(())
    }
}

/// The message of a refused name, `quoted` as [`check_name`] returned it:
/// `invalid breaker name "" (expected 1..=256 bytes)`.
pub fn name_message(quoted: &str) -> String {
    format!("invalid breaker name {quoted:?} (expected 1..={MAX_NAME_LEN} bytes)")
}

/// A permit given a second outcome, or released after its outcome: refused
/// (nothing is counted twice). Rust's [`crate::Permit`] cannot be used twice
/// (its methods take it by value); bindings that hand out permits as values
/// report this instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermitUsed;

impl PermitUsed {
    /// Always [`ErrorKind::OutcomeAlreadyRecorded`].
    pub fn kind(self) -> ErrorKind {
        ErrorKind::OutcomeAlreadyRecorded
    }
}

impl fmt::Display for PermitUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the permit has already been given an outcome or released")
    }
}

impl std::error::Error for PermitUsed {}

/// An argument out of range (not a setting: that is a
/// [`ConfigError`](crate::ConfigError)): which argument, the value, what is
/// allowed. Every front end reports it through [`ArgumentError::render`],
/// with the argument spelled its own way (`seconds`, `ms`, `duration_ns`).
///
/// ```rust
/// use fusebox::input::duration_arg;
/// use fusebox::{ErrorKind, Unit};
///
/// let e = duration_arg("duration", -1.0, Unit::Seconds).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::InvalidArgument);
/// assert_eq!(e.render("seconds"), "invalid seconds: -1 (expected a finite duration ≥ 0 seconds)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentError {
    /// The argument's name, as the core calls it (`duration`).
    pub argument: &'static str,
    /// The rejected value, printed (`NaN`, `Infinity`, `-Infinity`).
    pub value: String,
    /// What the argument accepts.
    pub expected: &'static str,
}

impl ArgumentError {
    /// The message, naming the argument as `name` (a front end's spelling):
    /// `invalid NAME: VALUE (expected …)`.
    pub fn render(&self, name: &str) -> String {
        format!(
            "invalid {name}: {} (expected {})",
            self.value, self.expected
        )
    }

    /// Always [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.argument))
    }
}

impl std::error::Error for ArgumentError {}

/// A duration argument given as a float of `unit` that may be zero, as
/// [`Breaker::open_for`](crate::Breaker::open_for) takes from a front end
/// (`docs/semantics.md#open-for-a-given-time`): NaN, negative and infinite
/// values are refused; 0 is zero (open_for: a probe at the next call); a
/// value past what a [`Duration`] holds saturates (open_for caps it at
/// `max_open_for` anyway).
///
/// ```rust
/// use fusebox::input::duration_arg;
/// use fusebox::Unit;
/// use std::time::Duration;
///
/// assert_eq!(duration_arg("duration", 1500.0, Unit::Millis)?, Duration::from_millis(1500));
/// assert_eq!(duration_arg("duration", 0.0, Unit::Seconds)?, Duration::ZERO);
/// assert_eq!(duration_arg("duration", 1e300, Unit::Seconds)?, Duration::MAX);
/// let e = duration_arg("duration", f64::NAN, Unit::Millis).unwrap_err();
/// assert_eq!(e.to_string(), "invalid duration: NaN (expected a finite duration ≥ 0 ms)");
/// # Ok::<(), fusebox::input::ArgumentError>(())
/// ```
pub fn duration_arg(argument: &'static str, v: f64, unit: Unit) -> Result<Duration, ArgumentError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(ArgumentError {
            argument,
            value: number(v),
            expected: match unit {
                Unit::Seconds => "a finite duration ≥ 0 seconds",
                Unit::Millis => "a finite duration ≥ 0 ms",
                Unit::Nanos => "a finite duration ≥ 0 ns",
            },
        });
    }
    let secs = match unit {
        Unit::Seconds => v,
        Unit::Millis => v / 1e3,
        Unit::Nanos => v / 1e9,
    };
    // -0.0 passed the test above; `+ 0.0` makes it 0.
    Ok(Duration::try_from_secs_f64(secs + 0.0).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_in_bytes_and_quoted_short() {
        assert!(check_name("a").is_ok());
        assert!(check_name(&"x".repeat(256)).is_ok());
        assert_eq!(check_name(""), Err(String::new()));
        assert!(check_name(&"x".repeat(257)).is_err());
        // 129 two-byte chars: 258 bytes.
        assert!(check_name(&"é".repeat(129)).is_err());
        let q = check_name(&"x".repeat(100_000)).unwrap_err();
        assert_eq!(q.chars().count(), QUOTED_NAME_CHARS + 1);
        assert!(name_message(&q).contains("1..=256 bytes"));
    }

    #[test]
    fn duration_arguments_may_be_zero_but_not_negative_or_unbounded() {
        for bad in [-1.0, -1e-9, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for unit in [Unit::Seconds, Unit::Millis, Unit::Nanos] {
                let e = duration_arg("duration", bad, unit).unwrap_err();
                assert_eq!(
                    (e.argument, e.kind()),
                    ("duration", ErrorKind::InvalidArgument)
                );
                assert_eq!(e.value, number(bad));
            }
        }
        assert_eq!(duration_arg("d", -0.0, Unit::Millis), Ok(Duration::ZERO));
        assert_eq!(duration_arg("d", 0.4, Unit::Nanos), Ok(Duration::ZERO));
        assert_eq!(
            duration_arg("d", 2.0, Unit::Nanos),
            Ok(Duration::from_nanos(2))
        );
        assert_eq!(
            duration_arg("d", 2.5, Unit::Seconds),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(duration_arg("d", f64::MAX, Unit::Millis), Ok(Duration::MAX));
    }
}
