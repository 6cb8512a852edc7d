//! Bad input, answered alike by every front end (`docs/semantics.md#bad-input`).
//!
//! The rules and the words are here, in the core; a binding only spells a
//! field its own way and maps an [`ErrorKind`] to its language's idiom
//! (a Python exception class, a Node error `code`, a C status). The cases
//! every front end is tested against are in `scenarios/bad_input/`.

use std::fmt;

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
}

impl ErrorKind {
    /// `invalid_config`, `invalid_name`, `outcome_already_recorded`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::OutcomeAlreadyRecorded => "outcome_already_recorded",
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
}
