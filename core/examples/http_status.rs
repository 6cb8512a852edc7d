//! Classifying outcomes by HTTP status: a 5xx (or no answer) is a failure,
//! a 4xx is the caller's mistake and says nothing about the server's health
//! (ignored), anything else is a success.
//!
//! `cargo run -p fusebox --example http_status`

use fusebox::{Breaker, CallError, Config, ManualClock, Outcome};
use std::sync::Arc;

/// A stand-in for an HTTP client's response.
#[derive(Debug)]
struct Response {
    status: u16,
}

/// A stand-in for a transport error (connection refused, timeout).
#[derive(Debug)]
struct TransportError;

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

fn classify(r: &Result<Response, TransportError>) -> Outcome {
    match r {
        Ok(resp) if resp.status >= 500 => Outcome::Failure,
        Ok(resp) if resp.status >= 400 => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(TransportError) => Outcome::Failure,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let breaker = Breaker::with_clock(
        Config::builder().consecutive_failures(Some(3)).build()?,
        Arc::new(ManualClock::new()),
    )?;

    // What the server answers, call after call: a run of 404s does not
    // trip the breaker; three failures in a row (503, 500, no answer) do.
    let answers: [Option<u16>; 9] = [
        Some(200),
        Some(404),
        Some(404),
        Some(404),
        Some(503),
        Some(500),
        None,
        Some(200),
        Some(200),
    ];
    for answer in answers {
        let outcome = std::cell::Cell::new(None);
        let r = breaker.call_with(
            |r| {
                outcome.set(Some(classify(r)));
                classify(r)
            },
            || match answer {
                Some(status) => Ok(Response { status }),
                None => Err(TransportError),
            },
        );
        let what = match &r {
            Ok(resp) => format!("HTTP {}", resp.status),
            Err(CallError::Failed(e)) => format!("error: {e}"),
            Err(CallError::Rejected(rej)) => format!("rejected: {rej}"),
        };
        let outcome = outcome
            .get()
            .map_or("not run".to_string(), |o| format!("{o:?}"));
        let state = breaker.state().as_str();
        println!("{what:<44} -> {outcome:<8} breaker {state}");
    }

    let m = breaker.metrics();
    println!(
        "successes {}, failures {}, ignored {}, rejected {}",
        m.successes, m.failures, m.ignored, m.rejected
    );
    Ok(())
}
