//! Runs every scenario file in ../scenarios against the Rust API, and each
//! one against the sequential reference model as well.
#![cfg(not(loom))]

use std::path::PathBuf;

fn files() -> Vec<PathBuf> {
    files_in("../scenarios")
}

fn files_in(dir: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Parse and run every file; fail with every failure listed.
fn run_all(files: &[std::path::PathBuf]) {
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let s = fusebox::scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(e) = fusebox::scenario::run(&s) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_scenario_passes() {
    let files = files();
    assert!(files.len() >= 12, "only {} scenario files", files.len());
    run_all(&files);
}

/// The reconfigure, snapshot and restore scenarios (`scenarios/ops/`).
#[test]
fn every_ops_scenario_passes() {
    let files = files_in("../scenarios/ops");
    assert!(files.len() >= 2, "only {} ops scenario files", files.len());
    run_all(&files);
}

/// The retry scenarios (`scenarios/retry/`, a folder of their own: the C,
/// Python and Node runners read the breaker's files only, and would refuse
/// the retry steps).
#[test]
fn every_retry_scenario_passes() {
    let files = files_in("../scenarios/retry");
    assert!(
        files.len() >= 5,
        "only {} retry scenario files",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let s = fusebox::retry_scenario::parse(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(e) = fusebox::retry_scenario::run(&s) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_retry_expectation_is_caught() {
    let text = r#"{"name":"x","retry":{"base_backoff_ms":100,"jitter":false},
        "steps":[{"op":"retry_call","attempts":["failure","success"],
                  "expect":{"waits_ms":[99]}}]}"#;
    let e = fusebox::retry_scenario::parse(text)
        .and_then(|s| fusebox::retry_scenario::run(&s))
        .unwrap_err();
    assert!(e.contains("waits_ms [100.0] != [99.0]"), "{e}");
    for (text, needle) in [
        (
            r#"{"name":"x","steps":[{"op":"hedge"}]}"#,
            "unknown variant",
        ),
        (
            r#"{"name":"x","budget":{"ratio":20},"steps":[]}"#,
            "budget: invalid ratio",
        ),
        (
            r#"{"name":"x","retry":{"max_attempts":0},"steps":[]}"#,
            "retry: invalid max_attempts",
        ),
    ] {
        let e = fusebox::retry_scenario::parse(text)
            .and_then(|s| fusebox::retry_scenario::run(&s))
            .unwrap_err();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn a_wrong_expectation_is_caught() {
    // The runner itself must be able to fail.
    let s = fusebox::scenario::parse(
        r#"{"name":"x","steps":[{"op":"call","outcome":"failure","repeat":5},
            {"op":"expect_state","state":"closed"}]}"#,
    )
    .unwrap();
    let e = fusebox::scenario::run(&s).unwrap_err();
    assert!(e.contains("state open != closed"), "{e}");
}

#[test]
fn bad_files_are_refused_with_a_reason() {
    for (text, needle) in [
        (r#"{"name":"x","steps":[{"op":"fly"}]}"#, "unknown variant"),
        (
            r#"{"name":"x","config":{"min_calls":0},"steps":[]}"#,
            "min_calls",
        ),
        (
            r#"{"name":"x","config":{"open_timeout_ms":-5},"steps":[]}"#,
            "open_timeout",
        ),
        (
            r#"{"name":"x","config":{"bogus":1},"steps":[]}"#,
            "unknown field",
        ),
        (
            r#"{"name":"x","config":{"cancellation":"sometimes"},"steps":[]}"#,
            "invalid cancellation: \"sometimes\"",
        ),
        (
            r#"{"name":"x","steps":[{"op":"open_for","ms":-1}]}"#,
            "invalid duration: -1",
        ),
        (
            r#"{"name":"x","steps":[{"op":"open_for","ms":10,"opened":false}]}"#,
            "open_for answered true",
        ),
    ] {
        let r = fusebox::scenario::parse(text).and_then(|s| fusebox::scenario::run(&s));
        let e = r.unwrap_err();
        assert!(e.contains(needle), "{text}: {e}");
    }
}
