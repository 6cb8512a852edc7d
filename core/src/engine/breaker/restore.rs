//! One breaker's part of a snapshot (`engine/snapshot.rs`): what it writes
//! down, and putting a written state back.

use super::*;
use crate::engine::snapshot::{BreakerSnapshot, ConfigRecord};

impl Breaker {
    /// This breaker's settings and state, for a snapshot
    /// ([`crate::Registry::save_state`] gathers them). An Open breaker
    /// records what is left of its open period; Half-Open is recorded as
    /// such (its probes in flight cannot outlive the process).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::named("db", Config::default(), clock.clone())?;
    /// breaker.open_for(Duration::from_secs(60));
    /// clock.advance(Duration::from_secs(15));
    /// let saved = breaker.save_state();
    /// assert_eq!((saved.name.as_str(), saved.phase.as_str()), ("db", "open"));
    /// assert_eq!(saved.open_remaining_ms, Some(45_000.0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn save_state(&self) -> BreakerSnapshot {
        let w = self.word();
        let open_remaining_ms = (w.phase() == Phase::Open).then(|| {
            let now = self.shape.clock.now_ns();
            // Unpublished (the winner of the opening is a few ns from its
            // store): the whole open timeout is left.
            let deadline = self.deadline(w.generation()).unwrap_or_else(|| {
                now.saturating_add(self.live().open_timeout().as_nanos() as u64)
            });
            deadline.saturating_sub(now) as f64 / 1e6
        });
        BreakerSnapshot {
            name: self.name.to_string(),
            phase: match w.phase() {
                Phase::Closed => "closed",
                Phase::Open => "open",
                Phase::HalfOpen => "half_open",
                Phase::ForcedOpen => "forced_open",
                Phase::Disabled => "disabled",
            }
            .into(),
            open_remaining_ms,
            reopens: self.cells.w(W_REOPENS).load(Relaxed),
            config: ConfigRecord::of(&self.config()),
        }
    }

    /// Put back a saved state (checked by [`crate::snapshot::Snapshot::parse`]),
    /// `elapsed` after it was written: Open stays open for what was left
    /// of its period less `elapsed` (on this breaker's clock; a probe at the
    /// next call when nothing is left), with its re-open count; Half-Open
    /// comes back Open with nothing left (its probes died with the old
    /// process: the next call probes again); the manual phases come back as
    /// they were; Closed resets a breaker that is not closed and leaves a
    /// closed one as it is. The window and the counters are not saved: they
    /// start empty. The settings are the caller's business
    /// ([`Breaker::reconfigure`]).
    pub(crate) fn restore_state(&self, saved: &BreakerSnapshot, elapsed: Duration) {
        match saved.phase.as_str() {
            "open" | "half_open" => {
                let left_ms = saved.open_remaining_ms.unwrap_or(0.0);
                let left = ((left_ms * 1e6).round() as u64)
                    .saturating_sub(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
                if matches!(self.phase(), Phase::ForcedOpen | Phase::Disabled) {
                    self.reset();
                }
                // From Closed or HalfOpen, or Open with an earlier deadline;
                // an Open breaker with a later deadline keeps it.
                self.open_until_ns(self.shape.clock.now_ns().saturating_add(left));
                self.cells.w(W_REOPENS).store(saved.reopens, Relaxed);
            }
            "forced_open" => self.force_open(),
            "disabled" => self.disable(),
            _ => {
                if self.phase() != Phase::Closed {
                    self.reset();
                }
            }
        }
    }
}
