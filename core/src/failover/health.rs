//! Active health checks: run through each endpoint's breaker, by hand or
//! on a thread of their own.

use super::group::FailoverGroup;
use crate::sync::{unmodelled, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Result of [`FailoverGroup::check_health`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Checks that passed.
    pub passed: u32,
    /// Checks that failed.
    pub failed: u32,
    /// Endpoints not checked because their breaker refused (open, probes full).
    pub skipped: u32,
}

impl<T> FailoverGroup<T> {
    /// Run every endpoint's health check through its breaker (endpoints
    /// whose breaker refuses are skipped), then bring the routing up to date.
    /// Call it from a timer, or use [`FailoverGroup::spawn_health_checks`].
    pub fn check_health(&self) -> HealthReport {
        let mut report = HealthReport::default();
        for s in self.slots.iter() {
            let Some(check) = &s.check else { continue };
            match s.breaker.try_acquire() {
                Ok(p) => {
                    let ok =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&s.value)))
                            .unwrap_or(false);
                    if ok {
                        report.passed += 1;
                        p.success();
                    } else {
                        report.failed += 1;
                        p.failure();
                    }
                }
                Err(rej) => {
                    report.skipped += 1;
                    self.note_rejection(s, &rej);
                }
            }
        }
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        self.rotation(r, healthy);
        report
    }
}

impl<T: Send + Sync + 'static> FailoverGroup<T> {
    /// Run [`FailoverGroup::check_health`] every `every` on a thread of its
    /// own, until the returned handle is stopped or dropped.
    pub fn spawn_health_checks(self: &Arc<Self>, every: Duration) -> HealthChecker {
        let stop = Arc::new(unmodelled::AtomicBool::new(false));
        let group = Arc::downgrade(self);
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("fusebox-health-{}", self.name))
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    match group.upgrade() {
                        Some(g) => {
                            g.check_health();
                        }
                        None => return,
                    }
                    std::thread::park_timeout(every);
                }
            })
            .ok();
        HealthChecker { stop, handle }
    }
}

/// The thread started by [`FailoverGroup::spawn_health_checks`]; stops it
/// when dropped.
#[derive(Debug)]
pub struct HealthChecker {
    /// Shared with a real thread: std's under loom too.
    stop: Arc<unmodelled::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl HealthChecker {
    /// Whether the thread runs.
    pub fn running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stop and join the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.halt();
    }
}
