//! The scenario-file parser and config conversion fed arbitrary bytes.
//!
//! The bytes are parsed twice: as a whole scenario file, and as the `config`
//! object of an otherwise fixed scenario (so that mutations land in
//! `ConfigSpec` and its ms-to-duration conversion more often). Whatever
//! parses is converted with `ConfigSpec::to_config` and, when small enough,
//! run on a manual clock with `scenario::run`. Nothing may panic, hang or
//! overflow; a config that converts must build a breaker; a scenario may
//! fail its own expectations (that is an `Err`, not a crash).
#![no_main]

use fusebox::scenario::{self, Scenario, Step};
use fusebox::{Breaker, ManualClock};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// Calls (sum of `repeat`s) a scenario may make to be run.
const MAX_CALLS: u64 = 20_000;
/// Steps a scenario may have to be run.
const MAX_STEPS: usize = 2_000;

fn calls(s: &Scenario) -> u64 {
    s.steps
        .iter()
        .map(|st| match st {
            Step::Call { repeat, .. } | Step::Reject { repeat, .. } => {
                u64::from(repeat.unwrap_or(1))
            }
            _ => 1,
        })
        .sum()
}

fn exercise(text: &str) {
    let Ok(s) = scenario::parse(text) else {
        return;
    };
    let config = s.config.to_config();
    if let Ok(c) = &config {
        c.validate()
            .expect("to_config returned a config that does not validate");
        Breaker::with_clock(c.clone(), Arc::new(ManualClock::new()))
            .expect("a converted config must build a breaker");
    }
    if s.steps.len() <= MAX_STEPS && calls(&s) <= MAX_CALLS {
        let r = scenario::run(&s);
        if config.is_err() {
            assert!(r.is_err(), "run accepted a config that to_config refused");
        }
    }
    for st in &s.steps {
        if let Step::Reject {
            reason: Some(r), ..
        } = st
        {
            let _ = scenario::reason_from_str(r);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    exercise(&text);
    exercise(&format!(
        r#"{{"name":"fuzz","config":{text},"steps":[
            {{"op":"call","outcome":"failure","repeat":12}},
            {{"op":"reject"}},
            {{"op":"advance","ms":3600000}},
            {{"op":"acquire","id":"p"}},
            {{"op":"advance","ms":5000}},
            {{"op":"record","id":"p","outcome":"success"}},
            {{"op":"call","outcome":"success","duration_ms":60000,"repeat":12}},
            {{"op":"expect_metrics"}}
        ]}}"#
    ));
});
