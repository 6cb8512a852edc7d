//! Part 1: the basic usage example. A dependency fails 70 % of its calls
//! behind a breaker; every state change and, every 10 calls, the stats are
//! printed.

use fusebox::{Breaker, CallError, Clock as _, Config, ManualClock};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A small deterministic random source (xorshift64*), so every run of the
/// demo prints the same story.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Run the example: `calls` calls, one a second of simulated time. Returns
/// the text it prints, and the number of state changes seen.
pub fn run(calls: u32) -> (String, usize) {
    let mut out = String::new();
    let clock = Arc::new(ManualClock::new());
    let origin = clock.now_ns();
    let breaker = Breaker::named(
        "flaky-dependency",
        Config::builder()
            .failure_rate_threshold(0.5)
            .min_calls(10)
            .consecutive_failures(Some(5))
            .open_timeout(Duration::from_secs(10))
            .half_open_max_calls(3)
            .success_threshold(3)
            .build()
            .expect("a valid config"),
        clock.clone(),
    )
    .expect("a valid breaker");
    let changes = Arc::new(Mutex::new(Vec::new()));
    let sink = changes.clone();
    breaker.on_state_change(move |t| {
        sink.lock().unwrap().push(format!(
            "  t={:>3} s  state change: {} -> {}",
            (t.at_ns - origin) / 1_000_000_000,
            t.from.as_str(),
            t.to.as_str()
        ))
    });
    let mut rng = Rng::new(11);
    let mut dependency = || -> Result<&'static str, &'static str> {
        if rng.unit() < 0.7 {
            Err("dependency error")
        } else {
            Ok("ok")
        }
    };
    let mut seen = 0;
    for i in 1..=calls {
        let _ = breaker.call(&mut dependency).map_err(|e| match e {
            CallError::Rejected(r) => format!("rejected: {r}"),
            CallError::Failed(e) => e.to_string(),
        });
        // State changes are delivered off the call path; wait for them so
        // that the printout keeps the order of events.
        fusebox::events::flush(Duration::from_secs(5));
        for line in changes.lock().unwrap().drain(..) {
            let _ = writeln!(out, "{line}");
            seen += 1;
        }
        if i % 10 == 0 {
            let m = breaker.metrics();
            let _ = writeln!(
                out,
                "  after {i:>2} calls: state={:<9} successes={:<2} failures={:<2} rejected={:<2} failure rate={:.0} %",
                m.state.as_str(),
                m.successes,
                m.failures,
                m.rejected,
                m.failures as f64 * 100.0 / (m.successes + m.failures).max(1) as f64
            );
        }
        clock.advance(Duration::from_secs(1));
    }
    (out, seen)
}
