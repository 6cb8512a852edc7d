//! Decoded arguments made into C arguments: a selection of a handle, a
//! name, an outcome.

use crate::ffi::fb_outcome;
use crate::ffi::*;
use crate::input::{NameArg, OutcomeArg, Sel};
use fusebox::Outcome;
use std::ffi::CString;
use std::ptr::null;

pub fn pick<T>(v: &[T], s: Sel) -> Option<&T> {
    match s {
        Sel::Null => None,
        Sel::Idx(i) => (!v.is_empty()).then(|| &v[usize::from(i) % v.len()]),
    }
}

/// A name argument: the C string (None for NULL) and its bytes.
pub fn make_name(arg: &NameArg) -> Option<CString> {
    let bytes: Vec<u8> = match arg {
        NameArg::Null => return None,
        NameArg::Pool(n) => format!("svc:{}", n % 6).into_bytes(),
        NameArg::Bytes(b) => b
            .iter()
            .copied()
            .take_while(|&c| c != 0)
            .take(600)
            .collect(),
        NameArg::Repeat(n) => vec![b'a'; usize::from(n % 600)],
    };
    Some(CString::new(bytes).expect("no NUL inside"))
}

pub fn name_ptr(n: &Option<CString>) -> *const std::ffi::c_char {
    n.as_ref().map_or(null(), |n| n.as_ptr())
}

pub fn outcome_of(o: OutcomeArg) -> (fb_outcome, Option<Outcome>) {
    match o {
        OutcomeArg::Success => (FB_OUTCOME_SUCCESS, Some(Outcome::Success)),
        OutcomeArg::Failure => (FB_OUTCOME_FAILURE, Some(Outcome::Failure)),
        OutcomeArg::Ignored => (FB_OUTCOME_IGNORED, Some(Outcome::Ignored)),
        OutcomeArg::Any(v) => (
            v,
            match v {
                0 => Some(Outcome::Success),
                1 => Some(Outcome::Failure),
                2 => Some(Outcome::Ignored),
                _ => None,
            },
        ),
    }
}
