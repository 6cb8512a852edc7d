//! Rust-side tests of the C ABI: every scenario file through the exported
//! functions, and every error path (NULLs, bad UTF-8, bad settings, double
//! frees, used permits, panics).

use super::config::config_to_c;
use super::error::fail;
use super::fb_status::*;
use super::panic::guard;
use super::*;
use fusebox_core::scenario::{self, Step};
use fusebox_core::{Config, Outcome, WindowConfig};
use std::ffi::{c_char, CStr, CString};
use std::hint::black_box;
use std::ptr::{null, null_mut};
use std::time::Duration;

/// The retry scenario files and the retry ABI's errors.
#[path = "tests_retry.rs"]
mod retry;

fn last_error() -> String {
    // SAFETY: fb_last_error never returns NULL, and the string stays valid
    // until the next error on this thread; we copy it at once.
    unsafe { CStr::from_ptr(fb_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Assert a status and that the last error mentions every `needle`.
#[track_caller]
fn assert_err(got: fb_status, want: fb_status, needles: &[&str]) {
    assert_eq!(got, want, "last error: {}", last_error());
    let msg = last_error();
    for n in needles {
        assert!(msg.contains(n), "{msg:?} should mention {n:?}");
    }
}

fn default_config() -> fb_config {
    let mut c = std::mem::MaybeUninit::<fb_config>::uninit();
    // SAFETY: a valid out-pointer; fb_config_default fills every field.
    unsafe {
        assert_eq!(fb_config_default(c.as_mut_ptr()), FB_OK);
        c.assume_init()
    }
}

struct Fixture {
    clock: *mut fb_clock,
    breaker: *mut fb_breaker,
    /// Set when the breaker belongs to a registry (scenarios).
    registry: *mut fb_registry,
}

impl Fixture {
    fn new(config: &fb_config) -> Fixture {
        let mut clock = null_mut();
        let mut breaker = null_mut();
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(fb_clock_manual_new(&mut clock), FB_OK);
            assert_eq!(
                fb_breaker_new_with_clock(config, clock, &mut breaker),
                FB_OK,
                "{}",
                last_error()
            );
        }
        Fixture {
            clock,
            breaker,
            registry: null_mut(),
        }
    }

    /// The breaker `name` of a fresh registry on a fresh manual clock,
    /// made with `config` (NULL: restored from the snapshot at `restore`,
    /// `elapsed_ns` after it was written).
    fn in_registry(
        name: &str,
        config: Option<&fb_config>,
        restore: Option<(&CStr, u64)>,
    ) -> Fixture {
        let (mut clock, mut registry, mut breaker) = (null_mut(), null_mut(), null_mut());
        let name = CString::new(name).unwrap();
        let default = default_config();
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(fb_clock_manual_new(&mut clock), FB_OK);
            assert_eq!(fb_registry_new(&default, clock, &mut registry), FB_OK);
            if let Some((path, elapsed)) = restore {
                let st = fb_registry_snapshot_restore_after(registry, path.as_ptr(), elapsed);
                assert_eq!(st, FB_OK, "{}", last_error());
                assert_eq!(
                    fb_registry_get(registry, name.as_ptr(), &mut breaker),
                    FB_OK
                );
            } else {
                let st = fb_registry_get_or_create_with(
                    registry,
                    name.as_ptr(),
                    config.unwrap_or(&default),
                    &mut breaker,
                );
                assert_eq!(st, FB_OK, "{}", last_error());
            }
        }
        Fixture {
            clock,
            breaker,
            registry,
        }
    }

    fn acquire(&self) -> Result<fb_permit, fb_rejection> {
        let mut p = std::mem::MaybeUninit::uninit();
        let mut r = std::mem::MaybeUninit::uninit();
        // SAFETY: live breaker, valid out-pointers.
        match unsafe { fb_breaker_acquire(self.breaker, p.as_mut_ptr(), r.as_mut_ptr()) } {
            // SAFETY: FB_OK fills the permit.
            FB_OK => Ok(unsafe { p.assume_init() }),
            // SAFETY: FB_REJECTED fills the rejection.
            FB_REJECTED => Err(unsafe { r.assume_init() }),
            s => panic!("acquire: {s:?}: {}", last_error()),
        }
    }

    fn state(&self) -> fb_state {
        let mut s = fb_state::FB_STATE_CLOSED;
        // SAFETY: live breaker, valid out-pointer.
        assert_eq!(unsafe { fb_breaker_state(self.breaker, &mut s) }, FB_OK);
        s
    }

    fn metrics(&self) -> fb_metrics {
        let mut m = std::mem::MaybeUninit::uninit();
        // SAFETY: live breaker, valid out-pointer, filled on FB_OK.
        unsafe {
            assert_eq!(fb_breaker_metrics(self.breaker, m.as_mut_ptr()), FB_OK);
            m.assume_init()
        }
    }

    fn advance_ms(&self, ms: f64) {
        // SAFETY: live clock.
        assert_eq!(
            unsafe { fb_clock_advance(self.clock, (ms * 1e6).round() as u64) },
            FB_OK
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: live handles made in `new` or `in_registry`, freed once
        // here (a registry's breaker with its registry).
        unsafe {
            if self.registry.is_null() {
                assert_eq!(fb_breaker_free(self.breaker), FB_OK);
            } else {
                assert_eq!(fb_registry_free(self.registry), FB_OK);
            }
            assert_eq!(fb_clock_free(self.clock), FB_OK);
        }
    }
}

fn outcome_code(o: Outcome) -> fb_outcome {
    match o {
        Outcome::Success => FB_OUTCOME_SUCCESS,
        Outcome::Failure => FB_OUTCOME_FAILURE,
        Outcome::Ignored => FB_OUTCOME_IGNORED,
    }
}

fn state_name(s: fb_state) -> &'static str {
    match s {
        fb_state::FB_STATE_CLOSED => "closed",
        fb_state::FB_STATE_OPEN => "open",
        fb_state::FB_STATE_HALF_OPEN => "half_open",
    }
}

fn reason_name(r: fb_reject_reason) -> &'static str {
    match r {
        fb_reject_reason::FB_REJECT_OPEN => "open",
        fb_reject_reason::FB_REJECT_HALF_OPEN_FULL => "half_open_full",
        fb_reject_reason::FB_REJECT_FORCED_OPEN => "forced_open",
    }
}

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

/// Run one scenario through the C ABI only.
fn run_scenario(s: &scenario::Scenario) -> Result<(), String> {
    let config = config_to_c(&s.config.to_config().map_err(|e| e.to_string())?);
    let mut f = Fixture::in_registry(&s.name, Some(&config), None);
    let file = std::env::temp_dir().join(format!(
        "fusebox-c-scenario-{}-{}.json",
        std::process::id(),
        s.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let path = CString::new(file.to_str().unwrap()).unwrap();
    let mut held: std::collections::HashMap<String, fb_permit> = Default::default();
    for (i, step) in s.steps.iter().enumerate() {
        let at = |m: String| format!("{}: step {} ({step:?}): {m}", s.name, i + 1);
        match step {
            Step::Advance { ms } => f.advance_ms(*ms),
            Step::Call {
                outcome,
                duration_ms,
                repeat,
            } => {
                for n in 0..repeat.unwrap_or(1) {
                    let mut p = f
                        .acquire()
                        .map_err(|r| at(format!("call {} rejected: {r:?}", n + 1)))?;
                    let d = duration_ms.map_or(0, ns);
                    // SAFETY: a permit just filled by acquire.
                    let st = unsafe { fb_permit_record(&mut p, outcome_code(*outcome), d) };
                    if st != FB_OK {
                        return Err(at(format!("record: {st:?}")));
                    }
                }
            }
            Step::Reject {
                reason,
                retry_after_ms,
                repeat,
            } => {
                for n in 0..repeat.unwrap_or(1) {
                    match f.acquire() {
                        Ok(mut p) => {
                            // SAFETY: a permit just filled by acquire.
                            unsafe { fb_permit_release(&mut p) };
                            return Err(at(format!("attempt {} was admitted", n + 1)));
                        }
                        Err(r) => {
                            if let Some(want) = reason {
                                if reason_name(r.reason) != want {
                                    return Err(at(format!("reason {:?}", r.reason)));
                                }
                            }
                            if let Some(want) = retry_after_ms {
                                let got = r.retry_after_ns as f64 / 1e6;
                                if !r.has_retry_after || (got - want).abs() > 1.0 {
                                    return Err(at(format!("retry_after {r:?}")));
                                }
                            }
                        }
                    }
                }
            }
            Step::Acquire { id, probe } => {
                let p = f.acquire().map_err(|r| at(format!("rejected: {r:?}")))?;
                if let Some(want) = probe {
                    if (p.probe != 0) != *want {
                        return Err(at(format!("probe {}", p.probe)));
                    }
                }
                held.insert(id.clone(), p);
            }
            Step::Record {
                id,
                outcome,
                duration_ms,
            } => {
                let mut p = held.remove(id).ok_or_else(|| at("no permit".into()))?;
                let d = duration_ms.map_or(FB_DURATION_AUTO, ns);
                // SAFETY: a permit filled by acquire, not used yet.
                let st = unsafe { fb_permit_record(&mut p, outcome_code(*outcome), d) };
                if st != FB_OK {
                    return Err(at(format!("record: {st:?}")));
                }
            }
            Step::Release { id } => {
                let mut p = held.remove(id).ok_or_else(|| at("no permit".into()))?;
                // SAFETY: a permit filled by acquire, not used yet.
                if unsafe { fb_permit_release(&mut p) } != FB_OK {
                    return Err(at("release failed".into()));
                }
            }
            Step::ExpectState { state } => {
                let got = state_name(f.state());
                if got != state {
                    return Err(at(format!("state {got}")));
                }
            }
            Step::ExpectMetrics(m) => {
                let got = f.metrics();
                let checks = [
                    ("successes", m.successes, got.successes),
                    ("failures", m.failures, got.failures),
                    ("ignored", m.ignored, got.ignored),
                    ("slow", m.slow, got.slow),
                    ("rejected", m.rejected, got.rejected),
                    ("state_changes", m.state_changes, got.state_changes),
                    ("window_calls", m.window_calls, got.window_calls),
                    ("window_failures", m.window_failures, got.window_failures),
                ];
                for (name, want, got) in checks {
                    if want.is_some_and(|w| w != got) {
                        return Err(at(format!("{name} {got} != {want:?}")));
                    }
                }
            }
            // SAFETY: live breaker.
            Step::ForceOpen => assert_eq!(unsafe { fb_breaker_force_open(f.breaker) }, FB_OK),
            // SAFETY: live breaker.
            Step::Disable => assert_eq!(unsafe { fb_breaker_disable(f.breaker) }, FB_OK),
            // SAFETY: live breaker.
            Step::Reset => assert_eq!(unsafe { fb_breaker_reset(f.breaker) }, FB_OK),
            Step::OpenFor { ms, opened } => {
                let mut got = false;
                // SAFETY: live breaker, valid out-pointer.
                let st = unsafe { fb_breaker_open_for(f.breaker, ns(*ms), &mut got) };
                if st != FB_OK {
                    return Err(at(format!("open_for: {st:?}")));
                }
                if opened.is_some_and(|want| want != got) {
                    return Err(at(format!("open_for answered {got}")));
                }
            }
            Step::Reconfigure {
                config,
                changed: _,
                tripped,
                error_field,
            } => {
                let mut now = default_config();
                // SAFETY: live breaker, valid out-pointer.
                assert_eq!(unsafe { fb_breaker_config(f.breaker, &mut now) }, FB_OK);
                let base = config_arg_back(&now);
                let new = config.over(base).map(|c| config_to_c(&c));
                let mut got = false;
                let st = match &new {
                    // SAFETY: live breaker, valid pointers.
                    Ok(c) => unsafe { fb_breaker_reconfigure(f.breaker, c, &mut got) },
                    Err(_) => FB_ERR_INVALID_CONFIG,
                };
                match (st, error_field) {
                    (FB_OK, None) => {
                        if tripped.is_some_and(|want| want != got) {
                            return Err(at(format!("tripped {got}")));
                        }
                    }
                    (FB_OK, Some(want)) => {
                        return Err(at(format!("accepted, not refused on {want}")))
                    }
                    (st, None) => return Err(at(format!("refused: {st:?}: {}", last_error()))),
                    (st, Some(want)) => {
                        // The core's field, in this front end's spelling.
                        let msg = match &new {
                            Err(e) => e.field.to_string(),
                            Ok(_) => last_error(),
                        };
                        if st != FB_ERR_INVALID_CONFIG
                            || !msg.contains(want.split('.').next().unwrap())
                        {
                            return Err(at(format!("{st:?}: {msg}, not {want}")));
                        }
                    }
                }
            }
            Step::Snapshot => {
                // SAFETY: live registry, a NUL-terminated path.
                let st = unsafe { fb_registry_snapshot_write(f.registry, path.as_ptr()) };
                if st != FB_OK {
                    return Err(at(format!("snapshot: {st:?}: {}", last_error())));
                }
            }
            Step::Restore { elapsed_ms } => {
                held.clear(); // gone with the old process
                f = Fixture::in_registry(&s.name, None, Some((&path, ns(*elapsed_ms))));
            }
        }
    }
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// An `fb_config` read back, as the core's `Config` (valid: it came from
/// a breaker).
fn config_arg_back(c: &fb_config) -> Config {
    // SAFETY: a readable fb_config.
    unsafe { super::config::config_arg("test", "config", c) }
        .unwrap_or_else(|st| panic!("{st:?}: {}", last_error()))
}

#[test]
fn every_scenario_file_runs_through_the_c_abi() {
    every_scenario_in("../../scenarios", 10);
}

/// The reconfigure, snapshot and restore scenarios.
#[test]
fn every_ops_scenario_file_runs_through_the_c_abi() {
    every_scenario_in("../../scenarios/ops", 2);
}

fn every_scenario_in(dir: &str, at_least: usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= at_least, "found only {files:?}");
    let mut failures = vec![];
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let s = scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = run_scenario(&s) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn config_round_trips_and_defaults_are_the_documented_ones() {
    let c = default_config();
    assert_eq!(c.size as usize, std::mem::size_of::<fb_config>());
    assert_eq!(c.failure_rate_threshold, 0.5);
    assert_eq!(c.consecutive_failures, 5);
    assert_eq!(c.min_calls, 10);
    assert_eq!(c.window_type, FB_WINDOW_TIME);
    assert_eq!(c.window_duration_ns, 10_000_000_000);
    assert_eq!(c.window_buckets, 10);
    assert_eq!(c.open_timeout_ns, 30_000_000_000);
    assert_eq!(c.half_open_max_calls, 3);
    assert_eq!(c.success_threshold, 3);
    assert_eq!(c.backoff_multiplier, 0.0);
    assert_eq!(c.slow_call_duration_ns, 0);
    assert_eq!(c.max_open_for_ns, 300_000_000_000);
    assert_eq!(c.cancellation, FB_CANCEL_SLOW_IF_OVERDUE);
    // SAFETY: valid config.
    let back = unsafe { config_arg("t", "config", &c) }.unwrap();
    assert_eq!(back, Config::default());
    // SAFETY: valid config.
    assert_eq!(unsafe { fb_config_validate(&c) }, FB_OK);

    let mut c2 = c;
    c2.consecutive_failures = 0;
    c2.window_type = FB_WINDOW_COUNT;
    c2.window_size = 50;
    c2.backoff_multiplier = 2.0;
    c2.backoff_max_ns = 60_000_000_000;
    c2.slow_call_duration_ns = 2_000_000_000;
    c2.max_open_for_ns = 45_000_000_000;
    c2.cancellation = FB_CANCEL_FAILURE;
    // SAFETY: valid config.
    let back = unsafe { config_arg("t", "config", &c2) }.unwrap();
    assert_eq!(back.max_open_for, Duration::from_secs(45));
    assert_eq!(back.cancellation, fusebox_core::Cancellation::Failure);
    assert_eq!(config_to_c(&back).cancellation, FB_CANCEL_FAILURE);
    c2.cancellation = FB_CANCEL_RELEASE;
    // SAFETY: valid config.
    let back = unsafe { config_arg("t", "config", &c2) }.unwrap();
    assert_eq!(back.cancellation, fusebox_core::Cancellation::Release);
    assert_eq!(back.consecutive_failures, None);
    assert_eq!(back.window, WindowConfig::Count { size: 50 });
    assert_eq!(back.backoff.unwrap().max, Duration::from_secs(60));
    assert_eq!(back.slow_call_duration, Some(Duration::from_secs(2)));
    assert_eq!(config_to_c(&back).window_size, 50);
}

/// `fb_breaker_open_for`: opens for the given ns cut to `max_open_for_ns`,
/// says whether it opened or extended, leaves a forced-open breaker alone;
/// `opened` may be NULL.
#[test]
fn open_for_opens_capped_and_answers() {
    let mut c = default_config();
    c.max_open_for_ns = ns(8000.0);
    let f = Fixture::new(&c);
    let open_for = |ms: f64| {
        let mut opened = false;
        // SAFETY: live breaker, valid out-pointer.
        assert_eq!(
            unsafe { fb_breaker_open_for(f.breaker, ns(ms), &mut opened) },
            FB_OK
        );
        opened
    };
    let retry_ms = || f.acquire().unwrap_err().retry_after_ns as f64 / 1e6;
    assert!(open_for(5000.0));
    assert_eq!(f.state(), fb_state::FB_STATE_OPEN);
    assert_eq!(retry_ms(), 5000.0);
    assert!(!open_for(1000.0), "never earlier");
    assert!(open_for(u64::MAX as f64 / 1e6), "the most a u64 holds: cut");
    assert_eq!(retry_ms(), 8000.0);
    f.advance_ms(8000.0);
    let mut p = f.acquire().unwrap();
    assert_eq!(p.probe, 1);
    // SAFETY: a permit just filled by acquire.
    assert_eq!(
        unsafe { fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, 0) },
        FB_OK
    );
    // SAFETY: live breaker; NULL `opened` is allowed.
    unsafe {
        assert_eq!(fb_breaker_force_open(f.breaker), FB_OK);
        assert_eq!(fb_breaker_open_for(f.breaker, 0, null_mut()), FB_OK);
    }
    assert!(!open_for(1000.0));
    assert_eq!(f.metrics().phase, fb_phase::FB_PHASE_FORCED_OPEN);
}

/// `fb_permit_cancel`: a cancelled call ends as `cancellation` says; the
/// permit is used up.
#[test]
fn cancelled_calls_count_as_the_setting_says() {
    for (policy, ran_ms, slow, failures) in [
        (FB_CANCEL_SLOW_IF_OVERDUE, 1000.0, 0, 0),
        (FB_CANCEL_SLOW_IF_OVERDUE, 3000.0, 1, 0),
        (FB_CANCEL_RELEASE, 3000.0, 0, 0),
        (FB_CANCEL_FAILURE, 1000.0, 0, 1),
    ] {
        let mut c = default_config();
        c.slow_call_duration_ns = ns(2000.0);
        c.cancellation = policy;
        let f = Fixture::new(&c);
        let mut p = f.acquire().unwrap();
        f.advance_ms(ran_ms);
        // SAFETY: a permit just filled by acquire.
        assert_eq!(unsafe { fb_permit_cancel(&mut p) }, FB_OK);
        let m = f.metrics();
        // (A slow cancelled call is a slow success in the totals.)
        assert_eq!(
            (m.slow, m.failures, m.successes),
            (slow, failures, slow),
            "{policy} {ran_ms}"
        );
        // SAFETY: the same permit, used up.
        assert_err(
            unsafe { fb_permit_cancel(&mut p) },
            FB_ERR_PERMIT_USED,
            &["fb_permit_cancel"],
        );
    }
    // SAFETY: NULL is reported.
    assert_err(
        unsafe { fb_permit_cancel(null_mut()) },
        FB_ERR_NULL_POINTER,
        &["fb_permit_cancel: permit"],
    );
}

#[test]
fn out_of_range_settings_name_the_c_field() {
    type Edit = fn(&mut fb_config);
    let cases: Vec<(Edit, &str)> = vec![
        (|c| c.size = 0, "config.size"),
        (
            |c| c.failure_rate_threshold = 1.5,
            "config.failure_rate_threshold",
        ),
        (
            |c| c.failure_rate_threshold = f64::NAN,
            "config.failure_rate_threshold",
        ),
        (|c| c.min_calls = 0, "config.min_calls"),
        (|c| c.window_type = 7, "config.window_type"),
        (|c| c.window_duration_ns = 0, "config.window_duration_ns"),
        (|c| c.window_buckets = 0, "config.window_buckets"),
        (|c| c.window_buckets = 5000, "config.window_buckets"),
        (
            |c| {
                c.window_type = FB_WINDOW_COUNT;
                c.window_size = 0
            },
            "config.window_size",
        ),
        (|c| c.open_timeout_ns = 0, "config.open_timeout_ns"),
        (|c| c.open_timeout_ns = u64::MAX, "config.open_timeout_ns"),
        (|c| c.backoff_multiplier = 0.5, "config.backoff_multiplier"),
        (
            |c| {
                c.backoff_multiplier = 2.0;
                c.backoff_max_ns = 1
            },
            "config.backoff_max_ns",
        ),
        (|c| c.jitter = -0.1, "config.jitter"),
        (|c| c.half_open_max_calls = 0, "config.half_open_max_calls"),
        (|c| c.success_threshold = 4, "config.success_threshold"),
        (
            |c| c.half_open_max_wait_ns = 0,
            "config.half_open_max_wait_ns",
        ),
        (
            |c| c.slow_call_duration_ns = u64::MAX,
            "config.slow_call_duration_ns",
        ),
        (
            |c| c.slow_call_rate_threshold = 0.0,
            "config.slow_call_rate_threshold",
        ),
        (|c| c.max_open_for_ns = 0, "config.max_open_for_ns"),
        (|c| c.max_open_for_ns = u64::MAX, "config.max_open_for_ns"),
        (|c| c.cancellation = 3, "config.cancellation"),
    ];
    for (edit, field) in cases {
        let mut c = default_config();
        edit(&mut c);
        let mut b = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { fb_breaker_new(&c, &mut b) };
        assert_err(st, FB_ERR_INVALID_CONFIG, &["fb_breaker_new", field]);
        assert!(b.is_null(), "{field}: nothing is made");
        // SAFETY: valid pointer.
        let st = unsafe { fb_config_validate(&c) };
        assert_err(st, FB_ERR_INVALID_CONFIG, &["fb_config_validate", field]);
    }
}

#[test]
fn null_pointers_are_reported_by_name() {
    let c = default_config();
    let f = Fixture::new(&c);
    let mut out_b = null_mut();
    let mut out_r = null_mut();
    let mut permit = f.acquire().unwrap();
    let mut m = std::mem::MaybeUninit::<fb_metrics>::uninit();
    let mut state = fb_state::FB_STATE_CLOSED;
    let mut n = 0usize;
    let mut t = 0u64;
    let mut reg = null_mut();
    // SAFETY: every pointer is NULL or valid.
    unsafe {
        assert_eq!(fb_registry_new(&c, f.clock, &mut reg), FB_OK);
        let cases: Vec<(fb_status, &str, &str)> = vec![
            (fb_config_default(null_mut()), "fb_config_default", "config"),
            (fb_config_validate(null()), "fb_config_validate", "config"),
            (
                fb_clock_manual_new(null_mut()),
                "fb_clock_manual_new",
                "out",
            ),
            (fb_clock_advance(null(), 1), "fb_clock_advance", "clock"),
            (fb_clock_now(null(), &mut t), "fb_clock_now", "clock"),
            (fb_clock_now(f.clock, null_mut()), "fb_clock_now", "out_ns"),
            (fb_clock_free(null_mut()), "fb_clock_free", "clock"),
            (
                fb_breaker_open_for(null(), 1, null_mut()),
                "fb_breaker_open_for",
                "breaker",
            ),
            (
                fb_breaker_new(null(), &mut out_b),
                "fb_breaker_new",
                "config",
            ),
            (fb_breaker_new(&c, null_mut()), "fb_breaker_new", "out"),
            (
                fb_breaker_new_with_clock(null(), f.clock, &mut out_b),
                "fb_breaker_new_with_clock",
                "config",
            ),
            (
                fb_breaker_new_named(null(), &c, null(), &mut out_b),
                "fb_breaker_new_named",
                "name",
            ),
            (fb_breaker_free(null_mut()), "fb_breaker_free", "breaker"),
            (
                fb_breaker_acquire(null(), &mut permit, null_mut()),
                "fb_breaker_acquire",
                "breaker",
            ),
            (
                fb_breaker_acquire(f.breaker, null_mut(), null_mut()),
                "fb_breaker_acquire",
                "permit",
            ),
            (
                fb_permit_record(null_mut(), FB_OUTCOME_SUCCESS, 0),
                "fb_permit_record",
                "permit",
            ),
            (fb_permit_release(null_mut()), "fb_permit_release", "permit"),
            (
                fb_breaker_state(null(), &mut state),
                "fb_breaker_state",
                "breaker",
            ),
            (
                fb_breaker_state(f.breaker, null_mut()),
                "fb_breaker_state",
                "out",
            ),
            (
                fb_breaker_metrics(null(), m.as_mut_ptr()),
                "fb_breaker_metrics",
                "breaker",
            ),
            (
                fb_breaker_metrics(f.breaker, null_mut()),
                "fb_breaker_metrics",
                "out",
            ),
            (
                fb_breaker_force_open(null()),
                "fb_breaker_force_open",
                "breaker",
            ),
            (fb_breaker_disable(null()), "fb_breaker_disable", "breaker"),
            (fb_breaker_reset(null()), "fb_breaker_reset", "breaker"),
            (
                fb_registry_new(null(), null(), &mut out_r),
                "fb_registry_new",
                "default_config",
            ),
            (
                fb_registry_new(&c, null(), null_mut()),
                "fb_registry_new",
                "out",
            ),
            (fb_registry_global(null_mut()), "fb_registry_global", "out"),
            (fb_registry_free(null_mut()), "fb_registry_free", "registry"),
            (
                fb_registry_set_default(null(), &c),
                "fb_registry_set_default",
                "registry",
            ),
            (
                fb_registry_set_default(reg, null()),
                "fb_registry_set_default",
                "config",
            ),
            (
                fb_registry_configure(reg, null(), &c),
                "fb_registry_configure",
                "name",
            ),
            (
                fb_registry_configure(reg, c"x".as_ptr(), null()),
                "fb_registry_configure",
                "config",
            ),
            (
                fb_registry_get_or_create(null(), c"x".as_ptr(), &mut out_b),
                "fb_registry_get_or_create",
                "registry",
            ),
            (
                fb_registry_get_or_create(reg, null(), &mut out_b),
                "fb_registry_get_or_create",
                "name",
            ),
            (
                fb_registry_get_or_create(reg, c"x".as_ptr(), null_mut()),
                "fb_registry_get_or_create",
                "out",
            ),
            (
                fb_registry_get_or_create_with(reg, c"x".as_ptr(), null(), &mut out_b),
                "fb_registry_get_or_create_with",
                "config",
            ),
            (
                fb_registry_get(reg, null(), &mut out_b),
                "fb_registry_get",
                "name",
            ),
            (
                fb_registry_get(reg, c"x".as_ptr(), null_mut()),
                "fb_registry_get",
                "out",
            ),
            (
                fb_registry_len(null(), &mut n),
                "fb_registry_len",
                "registry",
            ),
            (fb_registry_len(reg, null_mut()), "fb_registry_len", "out"),
        ];
        for (st, func, arg) in cases {
            assert_eq!(st, FB_ERR_NULL_POINTER, "{func}({arg})");
            // The message of each call is overwritten by the next; check
            // the shape with a fresh call of the same kind below.
            let _ = (func, arg);
        }
        // Messages name the function and the argument.
        assert_err(
            fb_breaker_acquire(f.breaker, null_mut(), null_mut()),
            FB_ERR_NULL_POINTER,
            &["fb_breaker_acquire", "permit is NULL"],
        );
        assert_err(
            fb_registry_new(null(), null(), &mut out_r),
            FB_ERR_NULL_POINTER,
            &["fb_registry_new", "default_config is NULL"],
        );
        // Nothing was made, nothing counted.
        assert!(out_b.is_null() && out_r.is_null());
        assert_eq!(fb_permit_release(&mut permit), FB_OK);
        assert_eq!(fb_registry_len(reg, &mut n), FB_OK);
        assert_eq!(n, 0);
        assert_eq!(fb_registry_free(reg), FB_OK);
    }
    assert_eq!(f.metrics().successes + f.metrics().failures, 0);
}

#[test]
fn names_that_are_not_utf8_or_empty_are_refused() {
    let c = default_config();
    let bad = b"svc\xff\xfe:op\0";
    let mut reg = null_mut();
    let mut out = null_mut();
    // SAFETY: valid pointers and NUL-terminated strings.
    unsafe {
        assert_eq!(fb_registry_new(&c, null(), &mut reg), FB_OK);
        let name = bad.as_ptr() as *const c_char;
        assert_err(
            fb_registry_get_or_create(reg, name, &mut out),
            FB_ERR_INVALID_UTF8,
            &["fb_registry_get_or_create", "name", "UTF-8", "offset 3"],
        );
        assert_err(
            fb_registry_get(reg, name, &mut out),
            FB_ERR_INVALID_UTF8,
            &["fb_registry_get"],
        );
        assert_err(
            fb_registry_configure(reg, name, &c),
            FB_ERR_INVALID_UTF8,
            &["fb_registry_configure"],
        );
        assert_err(
            fb_registry_get_or_create_with(reg, name, &c, &mut out),
            FB_ERR_INVALID_UTF8,
            &["fb_registry_get_or_create_with"],
        );
        assert_err(
            fb_breaker_new_named(name, &c, null(), &mut out),
            FB_ERR_INVALID_UTF8,
            &["fb_breaker_new_named"],
        );
        assert_err(
            fb_registry_get_or_create(reg, c"".as_ptr(), &mut out),
            FB_ERR_INVALID_NAME,
            &["fb_registry_get_or_create", "name"],
        );
        let long = CString::new("x".repeat(300)).unwrap();
        assert_err(
            fb_registry_get_or_create(reg, long.as_ptr(), &mut out),
            FB_ERR_INVALID_NAME,
            &["256"],
        );
        assert_err(
            fb_registry_configure(reg, c"".as_ptr(), &c),
            FB_ERR_INVALID_NAME,
            &["fb_registry_configure"],
        );
        assert!(out.is_null());
        let mut n = 9;
        assert_eq!(fb_registry_len(reg, &mut n), FB_OK);
        assert_eq!(n, 0);
        assert_eq!(fb_registry_free(reg), FB_OK);
    }
}

#[test]
fn double_frees_and_foreign_pointers_are_refused_without_a_crash() {
    let c = default_config();
    // SAFETY: every pointer given to a *_free function is either live or is
    // refused by the live set without being dereferenced.
    unsafe {
        let mut b = null_mut();
        assert_eq!(fb_breaker_new(&c, &mut b), FB_OK);
        assert_eq!(fb_breaker_free(b), FB_OK);
        assert_err(
            fb_breaker_free(b),
            FB_ERR_INVALID_HANDLE,
            &["fb_breaker_free", "freed twice"],
        );

        let mut clock = null_mut();
        assert_eq!(fb_clock_manual_new(&mut clock), FB_OK);
        // A clock is not a breaker.
        assert_err(
            fb_breaker_free(clock as *mut fb_breaker),
            FB_ERR_INVALID_HANDLE,
            &["live clock, not a breaker"],
        );
        assert_eq!(fb_clock_free(clock), FB_OK);
        assert_err(
            fb_clock_free(clock),
            FB_ERR_INVALID_HANDLE,
            &["fb_clock_free"],
        );

        // A pointer that was never ours.
        let mut x = 0u64;
        assert_err(
            fb_breaker_free(&mut x as *mut u64 as *mut fb_breaker),
            FB_ERR_INVALID_HANDLE,
            &["not a live breaker"],
        );

        let mut reg = null_mut();
        assert_eq!(fb_registry_new(&c, null(), &mut reg), FB_OK);
        let mut rb = null_mut();
        assert_eq!(
            fb_registry_get_or_create(reg, c"svc:op".as_ptr(), &mut rb),
            FB_OK
        );
        for _ in 0..2 {
            assert_err(
                fb_breaker_free(rb),
                FB_ERR_NOT_OWNED,
                &["fb_breaker_free", "registry"],
            );
        }
        // The registry breaker still works after the refused frees.
        let mut p = std::mem::MaybeUninit::uninit();
        assert_eq!(fb_breaker_acquire(rb, p.as_mut_ptr(), null_mut()), FB_OK);
        let mut p = p.assume_init();
        assert_eq!(fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, 0), FB_OK);
        assert_eq!(fb_registry_free(reg), FB_OK);
        assert_err(
            fb_registry_free(reg),
            FB_ERR_INVALID_HANDLE,
            &["fb_registry_free"],
        );

        let mut g = null_mut();
        assert_eq!(fb_registry_global(&mut g), FB_OK);
        for _ in 0..2 {
            assert_err(
                fb_registry_free(g),
                FB_ERR_NOT_OWNED,
                &["fb_registry_free", "global"],
            );
        }
    }
}

#[test]
fn permits_are_used_once_and_rejections_leave_no_usable_permit() {
    let mut c = default_config();
    c.consecutive_failures = 1;
    c.open_timeout_ns = 1_000_000_000;
    let f = Fixture::new(&c);
    let mut p = f.acquire().unwrap();
    assert_eq!(p.breaker, f.breaker as *const fb_breaker);
    assert_eq!(p.probe, 0);
    // SAFETY: `p` is a valid permit value throughout.
    unsafe {
        assert_err(
            fb_permit_record(&mut p, 3, 0),
            FB_ERR_INVALID_ARGUMENT,
            &["fb_permit_record", "outcome 3"],
        );
        // A bad outcome does not use the permit up.
        assert!(!p.breaker.is_null());
        assert_eq!(fb_permit_record(&mut p, FB_OUTCOME_FAILURE, 5), FB_OK);
        assert!(p.breaker.is_null());
        assert_err(
            fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, 0),
            FB_ERR_PERMIT_USED,
            &["fb_permit_record", "already been given an outcome"],
        );
        assert_err(
            fb_permit_release(&mut p),
            FB_ERR_PERMIT_USED,
            &["fb_permit_release"],
        );
    }
    assert_eq!(f.state(), fb_state::FB_STATE_OPEN);
    let r = f.acquire().unwrap_err();
    assert_eq!(r.reason, fb_reject_reason::FB_REJECT_OPEN);
    assert!(r.has_retry_after);
    assert_eq!(r.retry_after_ns, 1_000_000_000);
    // The permit written on rejection cannot be recorded.
    let mut rp = fb_permit {
        breaker: f.breaker,
        generation: 0,
        start_ns: 0,
        probe: 0,
    };
    // SAFETY: valid pointers; a NULL rejection is allowed.
    unsafe {
        assert_eq!(
            fb_breaker_acquire(f.breaker, &mut rp, null_mut()),
            FB_REJECTED
        );
        assert!(rp.breaker.is_null());
        assert_eq!(
            fb_permit_record(&mut rp, FB_OUTCOME_SUCCESS, 0),
            FB_ERR_PERMIT_USED
        );
    }
    let m = f.metrics();
    assert_eq!((m.failures, m.successes, m.rejected), (1, 0, 2));
}

#[test]
fn rejections_do_not_touch_the_last_error_and_errors_are_per_thread() {
    let c = default_config();
    let f = Fixture::new(&c);
    // SAFETY: live breaker; NULL is reported.
    unsafe {
        assert_eq!(fb_breaker_force_open(f.breaker), FB_OK);
        assert_eq!(fb_breaker_state(null(), null_mut()), FB_ERR_NULL_POINTER);
    }
    let before = last_error();
    let r = f.acquire().unwrap_err();
    assert_eq!(r.reason, fb_reject_reason::FB_REJECT_FORCED_OPEN);
    assert!(!r.has_retry_after);
    assert_eq!(last_error(), before);
    let other = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(other, "", "a fresh thread has no error");
    let mut m = f.metrics();
    assert_eq!(m.phase, fb_phase::FB_PHASE_FORCED_OPEN);
    // SAFETY: live breaker.
    unsafe { assert_eq!(fb_breaker_disable(f.breaker), FB_OK) };
    m = f.metrics();
    assert_eq!(
        (m.state, m.phase),
        (fb_state::FB_STATE_CLOSED, fb_phase::FB_PHASE_DISABLED)
    );
}

#[test]
fn a_panic_becomes_a_status_and_a_message() {
    let st = guard("fb_test", || panic!("boom {}", 42));
    assert_err(st, FB_ERR_PANIC, &["fb_test", "internal error", "boom 42"]);
    let st = guard("fb_test", || std::panic::panic_any(7u8));
    assert_err(st, FB_ERR_PANIC, &["unknown panic"]);
}

#[test]
fn registry_hands_out_one_tagged_handle_per_name() {
    let mut c = default_config();
    let mut reg = null_mut();
    let mut clock = null_mut();
    // SAFETY: valid pointers throughout; handles are live.
    unsafe {
        assert_eq!(fb_clock_manual_new(&mut clock), FB_OK);
        assert_eq!(fb_registry_new(&c, clock, &mut reg), FB_OK);
        c.min_calls = 2;
        c.consecutive_failures = 0;
        assert_eq!(
            fb_registry_configure(reg, c"inventory:get".as_ptr(), &c),
            FB_OK
        );
        let (mut a, mut b, mut g) = (null_mut(), null_mut(), null_mut());
        assert_err(
            fb_registry_get(reg, c"inventory:get".as_ptr(), &mut g),
            FB_ERR_NOT_FOUND,
            &["inventory:get"],
        );
        assert_eq!(
            fb_registry_get_or_create(reg, c"inventory:get".as_ptr(), &mut a),
            FB_OK
        );
        assert_eq!(
            fb_registry_get_or_create(reg, c"inventory:get".as_ptr(), &mut b),
            FB_OK
        );
        assert_eq!(
            fb_registry_get(reg, c"inventory:get".as_ptr(), &mut g),
            FB_OK
        );
        assert_eq!(a, b);
        assert_eq!(a, g);
        assert_eq!(a as usize & REGISTRY_TAG, REGISTRY_TAG);
        // The per-name config applies: 2 failures of 2 trip it.
        for _ in 0..2 {
            let mut p = std::mem::MaybeUninit::uninit();
            assert_eq!(fb_breaker_acquire(a, p.as_mut_ptr(), null_mut()), FB_OK);
            assert_eq!(
                fb_permit_record(p.as_mut_ptr(), FB_OUTCOME_FAILURE, 0),
                FB_OK
            );
        }
        let mut s = fb_state::FB_STATE_CLOSED;
        assert_eq!(fb_breaker_state(b, &mut s), FB_OK);
        assert_eq!(s, fb_state::FB_STATE_OPEN);
        // On the registry's manual clock.
        let mut r = std::mem::MaybeUninit::<fb_rejection>::uninit();
        let mut p = std::mem::MaybeUninit::uninit();
        assert_eq!(fb_clock_advance(clock, 10_000_000_000), FB_OK);
        assert_eq!(
            fb_breaker_acquire(a, p.as_mut_ptr(), r.as_mut_ptr()),
            FB_REJECTED
        );
        assert_eq!(r.assume_init().retry_after_ns, 20_000_000_000);

        let mut d = null_mut();
        let mut c3 = default_config();
        c3.half_open_max_calls = 5;
        assert_eq!(
            fb_registry_get_or_create_with(reg, c"payment:pay".as_ptr(), &c3, &mut d),
            FB_OK
        );
        c3.success_threshold = 9;
        assert_err(
            fb_registry_get_or_create_with(reg, c"other".as_ptr(), &c3, &mut d),
            FB_ERR_INVALID_CONFIG,
            &["success_threshold"],
        );
        c3.success_threshold = 1;
        assert_eq!(fb_registry_set_default(reg, &c3), FB_OK);
        let mut n = 0;
        assert_eq!(fb_registry_len(reg, &mut n), FB_OK);
        assert_eq!(n, 2);
        assert_eq!(fb_registry_free(reg), FB_OK);
        assert_eq!(fb_clock_free(clock), FB_OK);

        // The global registry is shared and lives on.
        let (mut g1, mut g2) = (null_mut(), null_mut());
        assert_eq!(fb_registry_global(&mut g1), FB_OK);
        assert_eq!(fb_registry_global(&mut g2), FB_OK);
        assert_eq!(g1, g2);
        let (mut x, mut y) = (null_mut(), null_mut());
        assert_eq!(
            fb_registry_get_or_create(g1, c"ffi-test:global".as_ptr(), &mut x),
            FB_OK
        );
        assert_eq!(
            fb_registry_get(g2, c"ffi-test:global".as_ptr(), &mut y),
            FB_OK
        );
        assert_eq!(x, y);
    }
}

#[test]
fn strings() {
    // SAFETY: static NUL-terminated strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(fb_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            CStr::from_ptr(fb_status_name(FB_ERR_NOT_OWNED as i32)).to_str(),
            Ok("FB_ERR_NOT_OWNED")
        );
        assert_eq!(
            CStr::from_ptr(fb_status_name(-4)).to_str(),
            Ok("FB_UNKNOWN_STATUS")
        );
    }
    assert_eq!(fail(FB_ERR_PANIC, "a\0b".into()), FB_ERR_PANIC);
    assert_eq!(last_error(), "a\\0b");
}

#[test]
fn many_threads_share_one_breaker_with_exact_counts() {
    let mut c = default_config();
    c.consecutive_failures = 0;
    c.failure_rate_threshold = 0.9;
    let f = Fixture::new(&c);
    let handle = f.breaker as usize;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let b = handle as *const fb_breaker;
                for i in 0..20_000u32 {
                    let mut p = std::mem::MaybeUninit::uninit();
                    // SAFETY: the breaker outlives the threads (joined below).
                    unsafe {
                        assert_eq!(fb_breaker_acquire(b, p.as_mut_ptr(), null_mut()), FB_OK);
                        let o = [0, 0, 1, 2][(i % 4) as usize];
                        assert_eq!(fb_permit_record(p.as_mut_ptr(), o, 0), FB_OK);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = f.metrics();
    assert_eq!(
        (m.successes, m.failures, m.ignored, m.rejected),
        (40_000, 20_000, 20_000, 0)
    );
    assert_eq!(m.state, fb_state::FB_STATE_CLOSED);
}

/// Counts the calling thread's allocations, to show that the hot path
/// makes none.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a const-initialised thread-local, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded from our caller's contract.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded from our caller's contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn acquire_and_record_do_not_allocate() {
    for clock in [true, false] {
        let mut c = default_config();
        c.consecutive_failures = 0;
        c.failure_rate_threshold = 0.9;
        c.slow_call_duration_ns = 1_000_000; // the slow-call path reads the clock too
        let mut clk = null_mut();
        let mut b = null_mut();
        // SAFETY: valid pointers; handles freed below.
        unsafe {
            if clock {
                assert_eq!(fb_clock_manual_new(&mut clk), FB_OK);
            }
            assert_eq!(fb_breaker_new_with_clock(&c, clk, &mut b), FB_OK);
        }
        let f = Fixture {
            clock: clk,
            breaker: b,
            registry: null_mut(),
        };
        // Warm up: the first read of the system clock starts its upkeep
        // thread (once per process).
        let mut p = f.acquire().unwrap();
        // SAFETY: a permit just admitted.
        unsafe { fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO) };
        // And a breaker's first transition makes the rest of its lines
        // (once: `core/src/engine/breaker/rest.rs`).
        // SAFETY: live breaker.
        unsafe {
            fb_breaker_force_open(f.breaker);
            fb_breaker_reset(f.breaker);
        }
        let before = allocations();
        for i in 0..10_000u32 {
            let mut p = f.acquire().unwrap();
            // SAFETY: a permit just admitted.
            let st = unsafe {
                match i % 4 {
                    0 => fb_permit_release(&mut p),
                    1 => fb_permit_record(&mut p, FB_OUTCOME_FAILURE, 5),
                    2 => fb_permit_record(&mut p, FB_OUTCOME_IGNORED, 0),
                    _ => fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO),
                }
            };
            assert_eq!(st, FB_OK);
        }
        // Rejections (forced open) allocate nothing either.
        // SAFETY: live breaker.
        unsafe { fb_breaker_force_open(f.breaker) };
        let before_rejects = allocations();
        for _ in 0..1000 {
            assert_eq!(
                f.acquire().unwrap_err().reason,
                fb_reject_reason::FB_REJECT_FORCED_OPEN
            );
        }
        let after = allocations();
        assert_eq!(before_rejects, before, "no allocation on acquire/record");
        assert_eq!(after, before_rejects, "no allocation on a rejection");
        // The counter does see allocations on this thread.
        let boxed = black_box(Box::new(7u64));
        assert_eq!(allocations(), after + 1);
        drop(boxed);
        if !clock {
            // SAFETY: the breaker was made above and is freed once; there is
            // no clock to free.
            unsafe { assert_eq!(fb_breaker_free(f.breaker), FB_OK) };
            std::mem::forget(f);
        }
    }
}

/// The shared table of bad inputs (scenarios/bad_input/cases.json) through
/// the C ABI: each kind is a status, and fb_last_error names the C field.
mod bad_input {
    use super::*;
    use serde_json::Value;

    /// The table's kinds as C status codes.
    fn status_of(kind: &str) -> fb_status {
        match kind {
            "invalid_config" => FB_ERR_INVALID_CONFIG,
            "invalid_name" => FB_ERR_INVALID_NAME,
            "outcome_already_recorded" => FB_ERR_PERMIT_USED,
            "invalid_argument" => FB_ERR_INVALID_ARGUMENT,
            other => panic!("unknown kind {other}: teach this runner"),
        }
    }

    /// The table's (core) field names as C spells them.
    fn c_name(field: &str) -> String {
        let f = match field {
            "name" | "permit" => return field.into(),
            "duration" => return "duration_ns".into(),
            "window" => "window_duration_ns",
            "window.buckets" => "window_buckets",
            "window.size" => "window_size",
            "open_timeout" => "open_timeout_ns",
            "backoff.multiplier" => "backoff_multiplier",
            "backoff.max" => "backoff_max_ns",
            "half_open_max_wait" => "half_open_max_wait_ns",
            "slow_call_duration" => "slow_call_duration_ns",
            "max_open_for" => "max_open_for_ns",
            other => other,
        };
        format!("config.{f}")
    }

    fn num(v: &Value) -> f64 {
        match v.as_str() {
            Some("NaN") => f64::NAN,
            Some("Infinity") => f64::INFINITY,
            Some("-Infinity") => f64::NEG_INFINITY,
            _ => v.as_f64().unwrap(),
        }
    }

    fn int(v: &Value) -> u32 {
        u32::try_from(v.as_u64().unwrap()).unwrap()
    }

    /// ms → the ns of an `fb_config` field, or None where a `u64` of ns
    /// cannot hold it (NaN, infinite, negative, a fraction of a ns).
    fn ns(v: &Value) -> Option<u64> {
        let ns = num(v) * 1e6;
        (ns.is_finite() && ns >= 0.0 && ns.fract() == 0.0 && ns < u64::MAX as f64)
            .then_some(ns as u64)
    }

    /// The case's config as an `fb_config`, or None if C cannot write it.
    fn config(spec: &Value) -> Option<fb_config> {
        let mut c = default_config();
        for (k, v) in spec.as_object().unwrap() {
            match k.as_str() {
                "failure_rate_threshold" => c.failure_rate_threshold = num(v),
                "consecutive_failures" => c.consecutive_failures = int(v),
                "min_calls" => c.min_calls = int(v),
                "window" if v["type"] == "time" => {
                    c.window_type = FB_WINDOW_TIME;
                    c.window_duration_ns = ns(&v["duration_ms"])?;
                    c.window_buckets = int(&v["buckets"]);
                }
                "window" => {
                    c.window_type = FB_WINDOW_COUNT;
                    c.window_size = int(&v["size"]);
                }
                "open_timeout_ms" => c.open_timeout_ns = ns(v)?,
                "backoff" => {
                    c.backoff_multiplier = num(&v["multiplier"]);
                    c.backoff_max_ns = ns(&v["max_ms"])?;
                }
                "jitter" => c.jitter = num(v),
                "half_open_max_calls" => c.half_open_max_calls = int(v),
                "success_threshold" => c.success_threshold = int(v),
                "half_open_max_wait_ms" => c.half_open_max_wait_ns = ns(v)?,
                "slow_call_duration_ms" => c.slow_call_duration_ns = ns(v)?,
                "slow_call_rate_threshold" => c.slow_call_rate_threshold = num(v),
                "max_open_for_ms" => c.max_open_for_ns = ns(v)?,
                // A name C has no constant for: a code C has no policy for.
                "cancellation" => {
                    c.cancellation = match v.as_str().unwrap() {
                        "release" => FB_CANCEL_RELEASE,
                        "slow_if_overdue" => FB_CANCEL_SLOW_IF_OVERDUE,
                        "failure" => FB_CANCEL_FAILURE,
                        _ => 99,
                    }
                }
                other => panic!("unknown config key {other}: teach this runner"),
            }
        }
        Some(c)
    }

    fn name(v: &Value) -> String {
        match v.as_str() {
            Some(s) => s.into(),
            None => v["repeat"]
                .as_str()
                .unwrap()
                .repeat(v["times"].as_u64().unwrap() as usize),
        }
    }

    /// Run one case: the status it got, or None when C cannot express it.
    fn run(case: &Value) -> Option<fb_status> {
        if let Some(n) = case.get("name") {
            let n = CString::new(name(n)).unwrap();
            let c = default_config();
            let mut out = null_mut();
            let mut reg = null_mut();
            // SAFETY: valid pointers and NUL-terminated strings.
            unsafe {
                let st = fb_breaker_new_named(n.as_ptr(), &c, null(), &mut out);
                assert!(out.is_null());
                assert_eq!(fb_registry_new(&c, null(), &mut reg), FB_OK);
                let st2 = fb_registry_get_or_create(reg, n.as_ptr(), &mut out);
                let msg = last_error();
                assert_eq!(fb_registry_free(reg), FB_OK);
                assert_eq!(st, st2, "{msg}");
                Some(st2)
            }
        } else if let Some(steps) = case.get("permit") {
            let f = Fixture::new(&default_config());
            let mut p = f.acquire().unwrap();
            let mut last = FB_OK;
            for step in steps.as_array().unwrap() {
                // SAFETY: `p` is a valid permit value of the live breaker.
                last = unsafe {
                    match step.as_str().unwrap() {
                        "success" => fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, 0),
                        "failure" => fb_permit_record(&mut p, FB_OUTCOME_FAILURE, 0),
                        "ignored" => fb_permit_record(&mut p, FB_OUTCOME_IGNORED, 0),
                        "release" => fb_permit_release(&mut p),
                        other => panic!("unknown permit step {other}"),
                    }
                };
            }
            let m = f.metrics();
            assert!(m.successes + m.failures + m.ignored <= 1, "counted twice");
            Some(last)
        } else if let Some(v) = case.get("open_for") {
            // A u64 of ns holds no negative, NaN or infinite duration: run
            // what it can hold (every value it holds is a duration).
            let d = ns(v)?;
            let f = Fixture::new(&default_config());
            // SAFETY: live breaker; `opened` may be NULL.
            Some(unsafe { fb_breaker_open_for(f.breaker, d, null_mut()) })
        } else {
            let c = config(&case["config"])?;
            let mut b = null_mut();
            // SAFETY: valid pointers.
            let st = unsafe { fb_breaker_new(&c, &mut b) };
            assert!(b.is_null(), "nothing is made");
            Some(st)
        }
    }

    #[test]
    fn every_bad_input_is_refused_by_status_and_field() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scenarios/bad_input/cases.json"
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (mut ran, mut skipped) = (0, Vec::new());
        for case in doc["cases"].as_array().unwrap() {
            let what = case["what"].as_str().unwrap();
            if case["not_in"].get("c").is_some() {
                skipped.push(what);
                continue;
            }
            let (st, field) = match super::retry::bad_input(case) {
                Some(got) => got,
                None => match run(case) {
                    Some(st) => (st, c_name(case["field"].as_str().unwrap())),
                    None => {
                        skipped.push(what);
                        continue;
                    }
                },
            };
            ran += 1;
            assert_err(st, status_of(case["kind"].as_str().unwrap()), &[&field]);
            if case["duration"] == Value::Bool(true) {
                let msg = last_error();
                assert!(msg.ends_with("] ns)"), "{what}: {msg:?} is not in ns");
            }
        }
        assert!(ran >= 35, "ran {ran}, skipped {skipped:?}");
    }
}

/// Keyed sets: one breaker per key, counted handles freed with
/// `fb_breaker_free`, `FB_ERR_FULL` when nothing may be evicted, eviction
/// after the min idle time, handles that outlive their set, and the
/// errors.
#[test]
fn keyed_sets() {
    use super::keyed::*;
    use super::KEYED_TAG;
    let c = default_config();
    let mut clock = null_mut();
    let mut k = null_mut();
    let (mut a, mut a2, mut b, mut x) = (null_mut(), null_mut(), null_mut(), null_mut());
    let mut s = std::mem::MaybeUninit::<fb_keyed_counts>::uninit();
    // SAFETY: every pointer is NULL, valid, or (the tagged garbage) only
    // checked against the handle table.
    unsafe {
        assert_eq!(fb_clock_manual_new(&mut clock), FB_OK);
        assert_eq!(fb_keyed_new(c"hosts".as_ptr(), 2, &c, clock, &mut k), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"a".as_ptr(), &mut a), FB_OK);
        assert_eq!(fb_keyed_get(k, c"a".as_ptr(), &mut a2), FB_OK);
        assert_eq!(a, a2);
        assert_eq!(a as usize & KEYED_TAG, KEYED_TAG);
        // Two handles: two frees, not three.
        assert_eq!(fb_breaker_free(a2), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"b".as_ptr(), &mut b), FB_OK);
        assert_eq!(fb_breaker_force_open(a), FB_OK);
        assert_err(
            fb_keyed_get_or_create(k, c"c".as_ptr(), &mut x),
            FB_ERR_FULL,
            &["fb_keyed_get_or_create: key: keyed breakers full: all 2"],
        );
        assert!(x.is_null());
        // b goes once unused for 10 s; a (forced open) never.
        assert_eq!(fb_clock_advance(clock, 10_000_000_000), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"c".as_ptr(), &mut x), FB_OK);
        assert_err(
            fb_keyed_get(k, c"b".as_ptr(), &mut a2),
            FB_ERR_NOT_FOUND,
            &["fb_keyed_get: no breaker for key \"b\""],
        );
        let mut p = std::mem::MaybeUninit::uninit();
        assert_eq!(fb_breaker_acquire(b, p.as_mut_ptr(), null_mut()), FB_OK);
        assert_eq!(
            fb_permit_record(p.as_mut_ptr(), FB_OUTCOME_SUCCESS, 0),
            FB_OK
        );
        assert_eq!(fb_keyed_stats(k, s.as_mut_ptr()), FB_OK);
        let st = s.assume_init();
        assert_eq!((st.len, st.capacity, st.created), (2, 2, 3));
        assert_eq!((st.evictions, st.refusals, st.removed), (1, 1, 0));
        // Remove, with and without a handle back.
        assert_eq!(fb_keyed_remove(k, c"c".as_ptr(), null_mut()), FB_OK);
        assert_eq!(fb_keyed_remove(k, c"a".as_ptr(), &mut a2), FB_OK);
        assert_eq!(a2, a);
        assert_eq!(fb_breaker_free(a2), FB_OK);
        assert_err(
            fb_keyed_remove(k, c"a".as_ptr(), null_mut()),
            FB_ERR_NOT_FOUND,
            &["fb_keyed_remove", "\"a\""],
        );
        let mut n = 9usize;
        assert_eq!(fb_keyed_len(k, &mut n), FB_OK);
        assert_eq!(n, 0);
        // The Prometheus text, with the buffer convention.
        assert_eq!(fb_keyed_get_or_create(k, c"d".as_ptr(), &mut a2), FB_OK);
        assert_eq!(fb_breaker_free(a2), FB_OK);
        let mut len = 0usize;
        assert_err(
            fb_keyed_prometheus(k, null_mut(), 0, &mut len),
            FB_ERR_INVALID_ARGUMENT,
            &["fb_keyed_prometheus: buffer of 0 bytes"],
        );
        let mut buf = vec![0 as c_char; len + 1];
        assert_eq!(
            fb_keyed_prometheus(k, buf.as_mut_ptr(), buf.len(), &mut len),
            FB_OK
        );
        let text = CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
        assert_eq!(text.len(), len);
        assert!(
            text.contains("fusebox_keyed_evictions_total{keyed=\"hosts\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("fusebox_keyed_refusals_total{keyed=\"hosts\"} 1\n"),
            "{text}"
        );
        // min idle 0: an unused breaker goes at once.
        assert_eq!(fb_keyed_set_min_idle_ns(k, 0), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"e".as_ptr(), &mut a2), FB_OK);
        assert_eq!(fb_breaker_free(a2), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"f".as_ptr(), &mut a2), FB_OK);
        assert_eq!(fb_breaker_free(a2), FB_OK);
        assert_eq!(fb_keyed_get_or_create(k, c"g".as_ptr(), &mut a2), FB_OK);
        assert_eq!(fb_breaker_free(a2), FB_OK);
        assert_eq!(fb_keyed_len(k, &mut n), FB_OK);
        assert_eq!(n, 2);
        // Handles outlive the set.
        assert_eq!(fb_keyed_free(k), FB_OK);
        assert_err(
            fb_keyed_free(k),
            FB_ERR_INVALID_HANDLE,
            &["fb_keyed_free", "freed twice"],
        );
        let mut state = fb_state::FB_STATE_CLOSED;
        assert_eq!(fb_breaker_state(a, &mut state), FB_OK);
        assert_eq!(state, fb_state::FB_STATE_OPEN);
        for h in [a, b, x] {
            assert_eq!(fb_breaker_free(h), FB_OK);
        }
        assert_err(
            fb_breaker_free(a),
            FB_ERR_INVALID_HANDLE,
            &["fb_breaker_free", "fb_keyed_get"],
        );
        // A tagged pointer never handed out: refused, not dereferenced.
        assert_err(
            fb_breaker_free(0x1000 as *mut fb_breaker),
            FB_ERR_INVALID_HANDLE,
            &["fb_breaker_free"],
        );
        assert_err(
            fb_breaker_free((0x1000 | KEYED_TAG) as *mut fb_breaker),
            FB_ERR_INVALID_HANDLE,
            &["freed more times than handed out"],
        );

        // Bad input: the status, and the message naming the argument.
        assert_err(
            fb_keyed_new(c"".as_ptr(), 2, &c, null(), &mut k),
            FB_ERR_INVALID_NAME,
            &["fb_keyed_new: name: "],
        );
        assert_err(
            fb_keyed_new(c"hosts".as_ptr(), 0, &c, null(), &mut k),
            FB_ERR_INVALID_ARGUMENT,
            &["fb_keyed_new: capacity: invalid capacity: 0 (expected 1..=10 000 000)"],
        );
        assert_err(
            fb_keyed_new(c"hosts".as_ptr(), 10_000_001, &c, null(), &mut k),
            FB_ERR_INVALID_ARGUMENT,
            &["fb_keyed_new: capacity: invalid capacity: 10000001"],
        );
        assert_err(
            fb_keyed_new(null(), 2, &c, null(), &mut k),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_new: name is NULL"],
        );
        assert_err(
            fb_keyed_new(c"hosts".as_ptr(), 2, null(), null(), &mut k),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_new: config is NULL"],
        );
        assert_err(
            fb_keyed_new(c"hosts".as_ptr(), 2, &c, null(), null_mut()),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_new: out is NULL"],
        );
        assert_err(
            fb_keyed_set_min_idle_ns(null_mut(), 0),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_set_min_idle_ns: keyed is NULL"],
        );
        assert_err(
            fb_keyed_get_or_create(null(), c"a".as_ptr(), &mut x),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_get_or_create: keyed is NULL"],
        );
        assert_err(
            fb_keyed_get(null(), c"a".as_ptr(), &mut x),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_get: keyed is NULL"],
        );
        assert_err(
            fb_keyed_len(null(), &mut n),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_len: keyed is NULL"],
        );
        assert_err(
            fb_keyed_stats(null(), s.as_mut_ptr()),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_stats: keyed is NULL"],
        );
        assert_err(
            fb_keyed_free(null_mut()),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_free: keyed is NULL"],
        );
        let mut bad = c;
        bad.min_calls = 0;
        assert_err(
            fb_keyed_new(c"hosts".as_ptr(), 2, &bad, null(), &mut k),
            FB_ERR_INVALID_CONFIG,
            &["fb_keyed_new: config.min_calls"],
        );
        assert_eq!(
            fb_keyed_new(c"hosts".as_ptr(), 1, &c, null(), &mut k),
            FB_OK
        );
        assert_err(
            fb_keyed_get_or_create(k, c"".as_ptr(), &mut x),
            FB_ERR_INVALID_NAME,
            &["fb_keyed_get_or_create: key: "],
        );
        assert_err(
            fb_keyed_get_or_create(k, c"a".as_ptr(), null_mut()),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_get_or_create: out is NULL"],
        );
        assert_err(
            fb_keyed_get_or_create(k, null(), &mut x),
            FB_ERR_NULL_POINTER,
            &["fb_keyed_get_or_create: key is NULL"],
        );
        assert_err(
            fb_keyed_get_or_create(k, c"\xff".as_ptr(), &mut x),
            FB_ERR_INVALID_UTF8,
            &["fb_keyed_get_or_create: key is not valid UTF-8"],
        );
        assert_eq!(fb_keyed_len(k, &mut n), FB_OK);
        assert_eq!(n, 0);
        assert_eq!(fb_keyed_free(k), FB_OK);
        assert_eq!(fb_clock_free(clock), FB_OK);
    }
}
