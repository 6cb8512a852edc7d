//! The retry scenario files (`scenarios/retry/*.json`) through the C ABI:
//! the caller's loop of `bindings/c/src/retry.rs`, with the waits moving
//! the manual clock; and the retry ABI's error paths.

use super::super::retry::{budget::*, hedge::*, policy::*, step::*};
use super::*;
use fusebox_core::retry_scenario::{
    self, AttemptOutcome, AttemptSpec, BudgetSpec, PolicySpec, RetryScenario, RetryStep,
};

struct Rig {
    f: Fixture,
    policy: *mut fb_retry_policy,
    budget: *mut fb_retry_budget,
}

impl Drop for Rig {
    fn drop(&mut self) {
        // SAFETY: live handles made in `rig`, freed once here.
        unsafe {
            assert_eq!(fb_retry_policy_free(self.policy), FB_OK);
            assert_eq!(fb_retry_budget_free(self.budget), FB_OK);
        }
    }
}

fn retry_config(p: &PolicySpec) -> fb_retry_config {
    let mut c = std::mem::MaybeUninit::uninit();
    // SAFETY: a valid out-pointer, filled on FB_OK.
    let mut c = unsafe {
        assert_eq!(fb_retry_config_default(c.as_mut_ptr()), FB_OK);
        c.assume_init()
    };
    c.seed = p.seed.unwrap_or(1);
    if let Some(v) = p.max_attempts {
        c.max_attempts = v;
    }
    let set = |v: Option<f64>, f: &mut u64| {
        if let Some(v) = v {
            *f = ns(v);
        }
    };
    set(p.base_backoff_ms, &mut c.base_backoff_ns);
    set(p.max_backoff_ms, &mut c.max_backoff_ns);
    set(p.deadline_ms, &mut c.deadline_ns);
    set(p.min_attempt_ms, &mut c.min_attempt_ns);
    set(p.retry_after_cap_ms, &mut c.retry_after_cap_ns);
    if let Some(v) = p.jitter {
        c.jitter = v;
    }
    c
}

fn budget_config(b: &BudgetSpec) -> fb_retry_budget_config {
    let mut c = std::mem::MaybeUninit::uninit();
    // SAFETY: a valid out-pointer, filled on FB_OK.
    let mut c = unsafe {
        assert_eq!(fb_retry_budget_config_default(c.as_mut_ptr()), FB_OK);
        c.assume_init()
    };
    if let Some(v) = b.ratio {
        c.ratio = v;
    }
    if let Some(v) = b.min_per_sec {
        c.min_per_sec = v;
    }
    if let Some(v) = b.window_ms {
        c.window_ns = ns(v);
    }
    if let Some(v) = b.buckets {
        c.buckets = v;
    }
    c
}

fn rig(s: &RetryScenario) -> Result<Rig, String> {
    let f = Fixture::new(&config_to_c(
        &s.config.to_config().map_err(|e| e.to_string())?,
    ));
    let name = CString::new(s.name.as_str()).unwrap();
    let (mut policy, mut budget) = (null_mut(), null_mut());
    // SAFETY: valid pointers throughout.
    unsafe {
        let st = fb_retry_policy_new(name.as_ptr(), &retry_config(&s.retry), &mut policy);
        if st != FB_OK {
            return Err(format!("retry: {}", last_error()));
        }
        let st = fb_retry_budget_new_with_clock(
            name.as_ptr(),
            &budget_config(&s.budget),
            f.clock,
            &mut budget,
        );
        if st != FB_OK {
            fb_retry_policy_free(policy);
            return Err(format!("budget: {}", last_error()));
        }
    }
    Ok(Rig { f, policy, budget })
}

/// One logical call, the caller's loop: (result, call, waits in ms).
fn retry_call(
    r: &Rig,
    attempts: &[AttemptSpec],
    attempt_ms: f64,
) -> (&'static str, fb_retry_call, Vec<f64>) {
    let mut call = std::mem::MaybeUninit::uninit();
    // SAFETY: live handles, a valid out-pointer filled on FB_OK.
    let mut call = unsafe {
        assert_eq!(
            fb_retry_begin(r.policy, r.budget, r.f.breaker, call.as_mut_ptr()),
            FB_OK
        );
        call.assume_init()
    };
    let mut waits = vec![];
    loop {
        let (mut retry, mut wait) = (false, 0u64);
        let result;
        match r.f.acquire() {
            Err(rej) => {
                result = "rejected";
                // SAFETY: live handles, valid pointers.
                let st = unsafe {
                    fb_retry_next_rejected(
                        r.policy,
                        r.budget,
                        r.f.breaker,
                        &mut call,
                        &rej,
                        &mut retry,
                        &mut wait,
                    )
                };
                assert_eq!(st, FB_OK, "{}", last_error());
            }
            Ok(mut p) => {
                r.f.advance_ms(attempt_ms);
                let spec = &attempts[(call.attempts as usize - 1).min(attempts.len() - 1)];
                let (outcome, after) = match spec {
                    AttemptSpec::Plain(o) => (*o, None),
                    AttemptSpec::Detailed {
                        outcome,
                        retry_after_ms,
                    } => (*outcome, *retry_after_ms),
                };
                if outcome == AttemptOutcome::Success {
                    // SAFETY: a permit just filled by acquire; live policy.
                    unsafe {
                        assert_eq!(fb_permit_record(&mut p, FB_OUTCOME_SUCCESS, 0), FB_OK);
                        assert_eq!(fb_retry_succeeded(r.policy, &mut call), FB_OK);
                    }
                    return ("success", call, waits);
                }
                result = "failed";
                let (verdict, after_ns) = match (outcome, after) {
                    (AttemptOutcome::Fatal, _) => (FB_VERDICT_STOP, 0),
                    (_, Some(ms)) => (FB_VERDICT_RETRY_AFTER, ns(ms)),
                    _ => (FB_VERDICT_RETRY, 0),
                };
                // SAFETY: a permit just filled by acquire; live handles.
                let st = unsafe {
                    assert_eq!(fb_permit_record(&mut p, FB_OUTCOME_FAILURE, 0), FB_OK);
                    fb_retry_next(
                        r.policy,
                        r.budget,
                        r.f.breaker,
                        &mut call,
                        verdict,
                        after_ns,
                        &mut retry,
                        &mut wait,
                    )
                };
                assert_eq!(st, FB_OK, "{}", last_error());
            }
        }
        if !retry {
            return (result, call, waits);
        }
        waits.push(wait as f64 / 1e6);
        r.f.advance_ms(wait as f64 / 1e6);
    }
}

fn check<T: PartialEq + std::fmt::Debug>(
    name: &str,
    want: Option<T>,
    got: T,
) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("{name} {got:?} != {w:?}")),
        _ => Ok(()),
    }
}

fn run(s: &RetryScenario) -> Result<(), String> {
    let r = rig(s)?;
    for (i, step) in s.steps.iter().enumerate() {
        let at = |msg: String| format!("{} step {}: {msg}", s.name, i + 1);
        match step {
            RetryStep::Advance { ms } => r.f.advance_ms(*ms),
            RetryStep::RetryCall {
                attempts,
                attempt_ms,
                repeat,
                expect,
            } => {
                for _ in 0..repeat.unwrap_or(1) {
                    let (result, call, waits) = retry_call(&r, attempts, attempt_ms.unwrap_or(0.0));
                    // SAFETY: a static string.
                    let stop = unsafe { CStr::from_ptr(fb_retry_stop_name(call.stop)) };
                    check("result", expect.result.as_deref(), result).map_err(at)?;
                    check("attempts", expect.attempts, call.attempts).map_err(at)?;
                    check("retries", expect.retries, call.retries).map_err(at)?;
                    check("rejections", expect.rejections, call.rejections).map_err(at)?;
                    check("stop", expect.stop.as_deref(), stop.to_str().unwrap()).map_err(at)?;
                    if let Some(want) = &expect.waits_ms {
                        let same = waits.len() == want.len()
                            && waits.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-3);
                        if !same {
                            return Err(at(format!("waits_ms {waits:?} != {want:?}")));
                        }
                    }
                }
            }
            RetryStep::ExpectBudget(e) => {
                let mut got = std::mem::MaybeUninit::uninit();
                // SAFETY: live budget, valid out-pointer filled on FB_OK.
                let got = unsafe {
                    assert_eq!(fb_retry_budget_metrics(r.budget, got.as_mut_ptr()), FB_OK);
                    got.assume_init()
                };
                check("deposits", e.deposits, got.deposits).map_err(at)?;
                check("withdrawals", e.withdrawals, got.withdrawals).map_err(at)?;
                check("refusals", e.refusals, got.refusals).map_err(at)?;
                check("available", e.available, got.available).map_err(at)?;
            }
            RetryStep::ExpectRetryMetrics(e) => {
                let mut got = std::mem::MaybeUninit::uninit();
                // SAFETY: live policy, valid out-pointer filled on FB_OK.
                let got = unsafe {
                    assert_eq!(fb_retry_policy_metrics(r.policy, got.as_mut_ptr()), FB_OK);
                    got.assume_init()
                };
                check("calls", e.calls, got.calls).map_err(at)?;
                check("attempts", e.attempts, got.attempts).map_err(at)?;
                check("retries", e.retries, got.retries).map_err(at)?;
                check("budget_refusals", e.budget_refusals, got.budget_refusals).map_err(at)?;
                check("failed_calls", e.failed_calls, got.failed_calls).map_err(at)?;
            }
            RetryStep::ExpectState { state } => {
                check("state", Some(state.as_str()), state_name(r.f.state())).map_err(at)?
            }
            RetryStep::ExpectMetrics(m) => {
                let got = r.f.metrics();
                check("successes", m.successes, got.successes).map_err(at)?;
                check("failures", m.failures, got.failures).map_err(at)?;
                check("rejected", m.rejected, got.rejected).map_err(at)?;
                check("state_changes", m.state_changes, got.state_changes).map_err(at)?;
                check("ignored", m.ignored, got.ignored).map_err(at)?;
                check("slow", m.slow, got.slow).map_err(at)?;
                check("window_calls", m.window_calls, got.window_calls).map_err(at)?;
                check("window_failures", m.window_failures, got.window_failures).map_err(at)?;
            }
        }
    }
    Ok(())
}

/// A retry case of scenarios/bad_input/cases.json (`retry` or
/// `retry_budget`) through the C ABI: its status and the field as C
/// spells it; `None` when the case is not a retry case.
pub(super) fn bad_input(case: &serde_json::Value) -> Option<(fb_status, String)> {
    let ms = |v: &serde_json::Value| match v.as_str() {
        Some("NaN") => f64::NAN,
        _ => v.as_f64().unwrap(),
    };
    let field = case["field"].as_str().unwrap();
    let c_field = super::super::retry::policy::c_field(field);
    let mut out = null_mut();
    let st = if let Some(r) = case.get("retry") {
        let mut p = PolicySpec::default();
        for (k, v) in r.as_object().unwrap() {
            match k.as_str() {
                "max_attempts" => p.max_attempts = Some(v.as_u64().unwrap() as u32),
                "base_backoff_ms" => p.base_backoff_ms = Some(ms(v)),
                "max_backoff_ms" => p.max_backoff_ms = Some(ms(v)),
                "deadline_ms" => p.deadline_ms = Some(ms(v)),
                "min_attempt_ms" => p.min_attempt_ms = Some(ms(v)),
                "retry_after_cap_ms" => p.retry_after_cap_ms = Some(ms(v)),
                other => panic!("unknown retry key {other}: teach this runner"),
            }
        }
        // SAFETY: valid pointers.
        let st = unsafe { fb_retry_policy_new(c"bad-input".as_ptr(), &retry_config(&p), &mut out) };
        assert!(out.is_null(), "nothing is made");
        st
    } else if let Some(b) = case.get("retry_budget") {
        let mut spec = BudgetSpec::default();
        for (k, v) in b.as_object().unwrap() {
            match k.as_str() {
                "ratio" => spec.ratio = Some(ms(v)),
                "min_per_sec" => spec.min_per_sec = Some(v.as_u64().unwrap() as u32),
                "window_ms" => spec.window_ms = Some(ms(v)),
                "buckets" => spec.buckets = Some(v.as_u64().unwrap() as u32),
                other => panic!("unknown retry budget key {other}: teach this runner"),
            }
        }
        let mut b = null_mut();
        // SAFETY: valid pointers.
        let st =
            unsafe { fb_retry_budget_new(c"bad-input".as_ptr(), &budget_config(&spec), &mut b) };
        assert!(b.is_null(), "nothing is made");
        st
    } else if let Some(h) = case.get("hedge") {
        let mut c = std::mem::MaybeUninit::<fb_hedge_config>::uninit();
        // SAFETY: a valid out-pointer, filled on FB_OK.
        let mut c = unsafe {
            assert_eq!(fb_hedge_config_default(c.as_mut_ptr()), FB_OK);
            c.assume_init()
        };
        for (k, v) in h.as_object().unwrap() {
            match k.as_str() {
                "max_hedges" => c.max_hedges = v.as_u64().unwrap() as u32,
                "delay_ms" => c.delay_ns = (ms(v) * 1e6) as u64,
                "quantile" => c.quantile = ms(v),
                other => panic!("unknown hedge key {other}: teach this runner"),
            }
        }
        // A quantile means a quantile delay: over an empty histogram.
        let mut hist = null_mut();
        if h.get("quantile").is_some() {
            // SAFETY: a valid out-pointer.
            assert_eq!(
                unsafe { fb_latency_histogram_new(null(), &mut hist) },
                FB_OK
            );
            c.histogram = hist;
        }
        let mut p = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { fb_hedge_policy_new(c"bad-input".as_ptr(), &c, &mut p) };
        assert!(p.is_null(), "nothing is made");
        if !hist.is_null() {
            // SAFETY: a live histogram, freed once.
            assert_eq!(unsafe { fb_latency_histogram_free(hist) }, FB_OK);
        }
        st
    } else {
        return None;
    };
    Some((st, format!("config.{c_field}")))
}

#[test]
fn every_retry_scenario_file_runs_through_the_c_abi() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/retry");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "found only {files:?}");
    let failures: Vec<_> = files
        .iter()
        .filter_map(|p| {
            let s = retry_scenario::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
            run(&s).err()
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn retry_errors_are_statuses_naming_the_argument() {
    let mut c = retry_config(&PolicySpec::default());
    let mut p = null_mut();
    c.max_attempts = 0;
    // SAFETY: valid pointers; NULLs are reported.
    unsafe {
        assert_err(
            fb_retry_policy_new(c"p".as_ptr(), &c, &mut p),
            FB_ERR_INVALID_CONFIG,
            &["fb_retry_policy_new", "config.max_attempts"],
        );
        assert!(p.is_null());
        c.max_attempts = 3;
        c.base_backoff_ns = 0;
        assert_err(
            fb_retry_policy_new(c"p".as_ptr(), &c, &mut p),
            FB_ERR_INVALID_CONFIG,
            &["config.base_backoff_ns"],
        );
        c.size = 1;
        assert_err(
            fb_retry_policy_new(c"p".as_ptr(), &c, &mut p),
            FB_ERR_INVALID_CONFIG,
            &["fb_retry_config_default"],
        );
        assert_err(
            fb_retry_policy_new(c"".as_ptr(), &c, &mut p),
            FB_ERR_INVALID_NAME,
            &["name"],
        );
        let mut b = budget_config(&BudgetSpec::default());
        b.ratio = f64::NAN;
        let mut out = null_mut();
        assert_err(
            fb_retry_budget_new(c"b".as_ptr(), &b, &mut out),
            FB_ERR_INVALID_CONFIG,
            &["config.ratio"],
        );
        b.ratio = 0.2;
        b.window_ns = 1;
        assert_err(
            fb_retry_budget_new(c"b".as_ptr(), &b, &mut out),
            FB_ERR_INVALID_CONFIG,
            &["config.window_ns"],
        );
        assert_err(
            fb_retry_begin(null(), null(), null(), null_mut()),
            FB_ERR_NULL_POINTER,
            &["fb_retry_begin: policy"],
        );
        assert_err(
            fb_retry_policy_free(8 as *mut fb_retry_policy),
            FB_ERR_INVALID_HANDLE,
            &["retry policy"],
        );
    }
}

#[test]
fn budget_prometheus_and_an_unknown_verdict() {
    let s =
        retry_scenario::parse(r#"{"name":"db","budget":{"ratio":0.5,"min_per_sec":0},"steps":[]}"#)
            .unwrap();
    let r = rig(&s).unwrap();
    let mut allowed = true;
    // SAFETY: live handles, valid pointers.
    unsafe {
        assert_eq!(fb_retry_budget_deposit(r.budget), FB_OK);
        assert_eq!(fb_retry_budget_deposit(r.budget), FB_OK);
        assert_eq!(fb_retry_budget_try_withdraw(r.budget, &mut allowed), FB_OK);
        assert!(allowed);
        assert_eq!(fb_retry_budget_try_withdraw(r.budget, &mut allowed), FB_OK);
        assert!(!allowed);
        let mut len = 0usize;
        assert_eq!(
            fb_retry_budget_prometheus(r.budget, null_mut(), 0, &mut len),
            FB_ERR_INVALID_ARGUMENT
        );
        let mut buf = vec![0 as c_char; len + 1];
        assert_eq!(
            fb_retry_budget_prometheus(r.budget, buf.as_mut_ptr(), buf.len(), &mut len),
            FB_OK
        );
        let text = CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
        assert!(text.contains("fusebox_retry_budget_refusals_total{budget=\"db\"} 1\n"));

        let mut call = std::mem::MaybeUninit::uninit();
        assert_eq!(
            fb_retry_begin(r.policy, r.budget, r.f.breaker, call.as_mut_ptr()),
            FB_OK
        );
        let mut call = call.assume_init();
        let (mut retry, mut wait) = (false, 0);
        assert_err(
            fb_retry_next(
                r.policy,
                r.budget,
                r.f.breaker,
                &mut call,
                9,
                0,
                &mut retry,
                &mut wait,
            ),
            FB_ERR_INVALID_ARGUMENT,
            &["verdict = 9"],
        );
    }
}
