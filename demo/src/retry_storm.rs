//! Part 3: retries without a retry storm, simulated.
//!
//! Orders call a dependency that, at T+0, slows to a crawl: for the length
//! of the outage it completes at most [`StormParams::capacity_in_outage`]
//! calls a second and every other call fails (times out). Each order's
//! call goes through a [`RetryPolicy`] of 3 attempts. The same traffic runs
//! twice:
//!
//! * naive retries: a budget that never refuses, so every failed attempt
//!   is retried, up to 3 attempts;
//! * with a [`RetryBudget`] (20 % of requests, 1 retry a second reserve,
//!   over 10 s) shared by all orders.
//!
//! The dependency cannot serve more because it is asked more: retries add
//! load, not answers. The breaker is held closed (disabled) so that the two
//! runs compare retries alone (part 2 shows what the breaker adds).
//!
//! Time is simulated: a [`ManualClock`] moves tick by tick; the budget and
//! the breaker read it. Back-off waits are not modelled (each order's
//! attempts fall in its tick): they would move retries by milliseconds,
//! not change how many there are.

use fusebox::retry::Sleeper;
use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
use std::sync::Arc;
use std::time::Duration;

/// The scenario's knobs.
#[derive(Clone, Debug)]
pub struct StormParams {
    /// Orders a second (evenly spaced).
    pub orders_per_s: u32,
    /// Normal traffic before T+0.
    pub warmup: Duration,
    /// How long the dependency stays slow from T+0.
    pub outage: Duration,
    /// How long to keep going after it recovers.
    pub after: Duration,
    /// Calls a second the dependency completes while slow.
    pub capacity_in_outage: u32,
    /// Attempts per order, the first included.
    pub attempts: u32,
    /// The budget's ratio.
    pub ratio: f64,
    /// The budget's reserve, retries a second.
    pub min_per_sec: u32,
    /// The simulation's step.
    pub tick: Duration,
}

impl Default for StormParams {
    /// 200 orders/s; a minute at 20 calls/s; 3 attempts; a 20 % budget.
    fn default() -> Self {
        StormParams {
            orders_per_s: 200,
            warmup: Duration::from_secs(20),
            outage: Duration::from_secs(60),
            after: Duration::from_secs(20),
            capacity_in_outage: 20,
            attempts: 3,
            ratio: 0.2,
            min_per_sec: 1,
            tick: Duration::from_millis(10),
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StormReport {
    /// Orders taken.
    pub orders: u64,
    /// Orders whose call succeeded.
    pub served: u64,
    /// Orders taken during the outage.
    pub orders_in_outage: u64,
    /// Of which served.
    pub served_in_outage: u64,
    /// Calls the dependency received, all told.
    pub attempts: u64,
    /// Calls it received during the outage.
    pub attempts_in_outage: u64,
    /// Retries the budget refused.
    pub budget_refusals: u64,
    /// The run second by second (for the demo's page).
    pub seconds: Vec<StormSecond>,
}

/// One second of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StormSecond {
    /// Its start, seconds from T+0.
    pub t: f64,
    /// Orders taken.
    pub orders: u64,
    /// Calls the dependency received (attempts, retries included).
    pub attempts: u64,
    /// Orders served.
    pub served: u64,
}

impl StormReport {
    /// Calls the dependency received during the outage per order taken
    /// then: its load relative to the traffic (1 = no retries).
    pub fn load_in_outage(&self) -> f64 {
        self.attempts_in_outage as f64 / self.orders_in_outage.max(1) as f64
    }
}

/// Back-off waits are not modelled (see the module docs).
#[derive(Debug)]
struct NoWait;

impl Sleeper for NoWait {
    fn sleep(&self, _: Duration) {}
}

/// Run the scenario with a budget (`budgeted`) or with naive retries.
pub fn run(p: &StormParams, budgeted: bool) -> StormReport {
    let clock = Arc::new(ManualClock::new());
    let breaker = Breaker::with_clock(Config::default(), clock.clone()).expect("valid config");
    breaker.disable();
    let config = if budgeted {
        RetryBudgetConfig {
            ratio: p.ratio,
            min_per_sec: p.min_per_sec,
            ..Default::default()
        }
    } else {
        // Never refuses: 10 retries per request and a million a second.
        RetryBudgetConfig {
            ratio: 10.0,
            min_per_sec: 1_000_000,
            ..Default::default()
        }
    };
    let budget = RetryBudget::with_clock(config, clock.clone()).expect("valid budget");
    let policy = RetryPolicy::builder()
        .max_attempts(p.attempts)
        .seed(1)
        .build()
        .expect("valid policy");

    let tick_ns = p.tick.as_nanos() as u64;
    let ticks = |d: Duration| d.as_nanos() as u64 / tick_ns;
    let (start, end) = (ticks(p.warmup), ticks(p.warmup + p.outage));
    let total = ticks(p.warmup + p.outage + p.after);
    let per_s = 1_000_000_000 / tick_ns;
    let mut r = StormReport::default();
    let mut second = StormSecond::default();
    // Orders and completions are spread evenly: fractions carry over.
    let (mut order_credit, mut capacity) = (0u64, 0u64);
    for t in 0..total {
        let slow = (start..end).contains(&t);
        // The dependency completes at most `capacity_in_outage` calls a
        // second while slow (a whole call's worth at a time), all of them
        // otherwise.
        if slow {
            capacity = (capacity + u64::from(p.capacity_in_outage)).min(per_s);
        }
        order_credit += u64::from(p.orders_per_s);
        while order_credit >= per_s {
            order_credit -= per_s;
            r.orders += 1;
            r.orders_in_outage += u64::from(slow);
            let mut attempts = 0;
            let out = policy.call(&breaker, &budget, &NoWait, |_| {
                attempts += 1;
                if !slow {
                    Ok(())
                } else if capacity >= per_s {
                    capacity -= per_s;
                    Ok(())
                } else {
                    Err("timed out")
                }
            });
            r.attempts += attempts;
            r.attempts_in_outage += if slow { attempts } else { 0 };
            second.orders += 1;
            second.attempts += attempts;
            if out.result.is_ok() {
                r.served += 1;
                r.served_in_outage += u64::from(slow);
                second.served += 1;
            }
        }
        if (t + 1) % per_s == 0 {
            let start = (t + 1 - per_s) as f64 * p.tick.as_secs_f64() - p.warmup.as_secs_f64();
            r.seconds.push(StormSecond {
                t: start,
                ..std::mem::take(&mut second)
            });
        }
        clock.advance_ns(tick_ns);
    }
    r.budget_refusals = policy.metrics().budget_refusals;
    r
}

/// Both runs: (naive retries, with the budget).
pub fn run_both(p: &StormParams) -> (StormReport, StormReport) {
    (run(p, false), run(p, true))
}

/// The side-by-side summary.
pub fn summary(naive: &StormReport, budget: &StormReport) -> String {
    let row = |name: &str, f: &dyn Fn(&StormReport) -> String| {
        format!("  {name:<40} {:>16} {:>16}\n", f(naive), f(budget))
    };
    let mut out = format!(
        "  {:<40} {:>16} {:>16}\n",
        "", "naive retries", "retry budget"
    );
    out += &row("load on the dependency during the outage", &|r| {
        format!("{:.2}x", r.load_in_outage())
    });
    out += &row("calls it received during the outage", &|r| {
        r.attempts_in_outage.to_string()
    });
    out += &row("orders served during the outage", &|r| {
        format!("{} / {}", r.served_in_outage, r.orders_in_outage)
    });
    out += &row("orders served in all", &|r| {
        format!("{} / {}", r.served, r.orders)
    });
    out += &row("retries the budget refused", &|r| {
        r.budget_refusals.to_string()
    });
    out
}
