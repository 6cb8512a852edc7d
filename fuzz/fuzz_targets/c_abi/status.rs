//! The status oracle: what a call may answer given the problems of its
//! arguments (`Expect`), checked with `fb_last_error` by `call`; and the
//! library's fixed strings (`fb_version`, `fb_status_name`).

use crate::config::core_config;
use crate::ffi::fb_status::{self, *};
use crate::ffi::*;
use fusebox::Config;
use std::ffi::{CStr, CString};

pub fn last_error() -> String {
    // SAFETY: fb_last_error never returns NULL; the string lives until the
    // next error on this thread, and is copied at once.
    unsafe { CStr::from_ptr(fb_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// The problems of a set of arguments, and what the call may answer.
pub struct Expect {
    pub problems: Vec<fb_status>,
}

impl Expect {
    pub fn new() -> Self {
        Expect {
            problems: Vec::new(),
        }
    }
    pub fn null_if(&mut self, is_null: bool) -> &mut Self {
        if is_null {
            self.problems.push(FB_ERR_NULL_POINTER);
        }
        self
    }
    pub fn add(&mut self, s: fb_status) -> &mut Self {
        self.problems.push(s);
        self
    }
    /// A config argument: NULL or invalid. Returns the core config.
    pub fn config(&mut self, c: &Option<fb_config>) -> Option<Config> {
        match c {
            None => {
                self.problems.push(FB_ERR_NULL_POINTER);
                None
            }
            Some(c) => {
                let core = core_config(c);
                if core.is_none() {
                    self.problems.push(FB_ERR_INVALID_CONFIG);
                }
                core
            }
        }
    }
    /// A name argument: NULL or not UTF-8; with `registry`, also empty or
    /// longer than 256 bytes. Returns the name.
    pub fn name(&mut self, n: &Option<CString>, checked: bool) -> Option<String> {
        let Some(n) = n else {
            self.problems.push(FB_ERR_NULL_POINTER);
            return None;
        };
        match n.to_str() {
            Err(_) => {
                self.problems.push(FB_ERR_INVALID_UTF8);
                None
            }
            Ok(s) => {
                if checked && (s.is_empty() || s.len() > 256) {
                    self.problems.push(FB_ERR_INVALID_NAME);
                }
                Some(s.to_string())
            }
        }
    }
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Call `f` (the ABI function `func`) and check its status against what
/// the arguments allow (`ok` when they have no problem).
pub fn call(func: &str, e: &Expect, ok: &[fb_status], f: impl FnOnce() -> fb_status) -> fb_status {
    let before = last_error();
    let st = f();
    let allowed: &[fb_status] = if e.clean() { ok } else { &e.problems };
    assert!(
        allowed.contains(&st),
        "{func} returned {st:?}, expected one of {allowed:?} (last error {:?})",
        last_error()
    );
    let after = last_error();
    if st as i32 >= 2 {
        assert!(
            after.starts_with(func) && after[func.len()..].starts_with(':'),
            "{func} returned {st:?} but the last error does not name it: {after:?}"
        );
    } else {
        assert_eq!(
            after, before,
            "{func} returned {st:?} and changed fb_last_error"
        );
    }
    st
}

/// `fb_version`: a non-empty string.
pub fn version() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(fb_version()) };
    assert!(!v.to_bytes().is_empty());
}

/// `fb_status_name(s)`: every known status has a name, and the known codes
/// are `0..=N`.
pub fn status_name(s: i32) {
    // The codes are 0..=N with N growing as the ABI grows: a
    // known code's predecessor is known, a negative one is not.
    let name = |s: i32| {
        // SAFETY: a static NUL-terminated string.
        unsafe { CStr::from_ptr(fb_status_name(s)) }
            .to_str()
            .unwrap()
            .to_string()
    };
    let n = name(s);
    assert!(n.starts_with("FB_"), "fb_status_name({s}) = {n:?}");
    if s < 0 {
        assert_eq!(n, "FB_UNKNOWN_STATUS");
    } else if n != "FB_UNKNOWN_STATUS" && s > 0 {
        assert_ne!(
            name(s - 1),
            "FB_UNKNOWN_STATUS",
            "status {s} known, {} not",
            s - 1
        );
    }
    for st in [FB_OK, FB_REJECTED, FB_ERR_NULL_POINTER, FB_ERR_PANIC] {
        assert_ne!(name(st as i32), "FB_UNKNOWN_STATUS");
    }
}
