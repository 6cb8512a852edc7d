//! What this input has made (every handle, permit and freed address), the
//! dispatch of each decoded call to the code for its kind of handle, the
//! comparison of every shadowed breaker after each call, and the teardown
//! that frees everything.

use crate::breaker::{compare, BreakerH, Owner};
use crate::bulkhead::BulkheadH;
use crate::bulkhead_permit::BPermitH;
use crate::clock::ClockH;
use crate::config::{bulkhead_config_default, config_default, config_validate};
use crate::ffi::bulkhead::*;
use crate::ffi::fb_status::*;
use crate::ffi::*;
use crate::free::Kind;
use crate::input::{Call, DurArg, PermitSel, N};
use crate::permit::PermitH;
use crate::registry::RegistryH;
use crate::status::{last_error, status_name, version};

/// Objects of each kind an input may make.
pub const MAX_OBJECTS: usize = 16;

#[derive(Default)]
pub struct World {
    pub breakers: Vec<BreakerH>,
    pub clocks: Vec<ClockH>,
    pub registries: Vec<RegistryH>,
    pub permits: Vec<PermitH>,
    pub bulkheads: Vec<BulkheadH>,
    pub bpermits: Vec<BPermitH>,
    /// Ids of bulkhead permits given back.
    pub returned: std::collections::HashSet<u64>,
    pub next_id: u64,
    pub freed: Vec<usize>,
}

impl World {
    /// Make call `c`, check what it answered, then compare every shadowed
    /// breaker with its handle.
    pub fn step(&mut self, c: &Call) {
        match c {
            Call::ConfigDefault(null_out) => config_default(*null_out),
            Call::ConfigValidate(cfg) => config_validate(cfg),
            Call::ClockNew(null_out) => {
                if self.clocks.len() >= MAX_OBJECTS {
                    return;
                }
                self.clock_new(*null_out)
            }
            Call::ClockAdvance(sel, n) => self.clock_advance(*sel, *n),
            Call::ClockNow(sel, null_out) => self.clock_now(*sel, *null_out),
            Call::ClockFree(sel) => self.free(Kind::Clock, *sel),
            Call::BreakerNew(cfg, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker("fb_breaker_new", None, cfg, None, *null_out)
                }
            }
            Call::BreakerNewWithClock(cfg, clock, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker(
                        "fb_breaker_new_with_clock",
                        None,
                        cfg,
                        Some(*clock),
                        *null_out,
                    )
                }
            }
            Call::BreakerNewNamed(name, cfg, clock, null_out) => {
                if self.breakers.len() < MAX_OBJECTS {
                    self.new_breaker(
                        "fb_breaker_new_named",
                        Some(name),
                        cfg,
                        Some(*clock),
                        *null_out,
                    )
                }
            }
            Call::BreakerFree(sel) => self.free(Kind::Breaker, *sel),
            Call::Acquire(sel, null_permit, null_rejection) => {
                self.acquire(*sel, *null_permit, *null_rejection)
            }
            Call::Burst(sel, n, o) => {
                for _ in 0..=(n % 16) {
                    self.acquire(*sel, false, false);
                    let last = self.permits.len().saturating_sub(1) as u8;
                    self.record(PermitSel::Idx(last), Some(*o), DurArg::Ns(N::Ns(0)));
                }
            }
            Call::Record(sel, o, d) => self.record(*sel, Some(*o), *d),
            Call::Release(sel) => self.record(*sel, None, DurArg::Auto),
            Call::Forge(i, generation, start, probe) => {
                if !self.forge(*i, *generation, *start, *probe) {
                    return;
                }
            }
            Call::State(sel, null_out) => self.breaker_state(*sel, *null_out),
            Call::Metrics(sel, null_out) => self.breaker_metrics(*sel, *null_out),
            Call::ForceOpen(sel) | Call::Disable(sel) | Call::Reset(sel) => {
                self.breaker_manual(c, *sel)
            }
            Call::RegistryFree(sel) => self.free(Kind::Registry, *sel),
            Call::RegistryNew(..)
            | Call::RegistryGlobal(..)
            | Call::RegistrySetDefault(..)
            | Call::RegistryConfigure(..)
            | Call::RegistryGetOrCreate(..)
            | Call::RegistryGetOrCreateWith(..)
            | Call::RegistryGet(..)
            | Call::RegistryLen(..) => self.registry_op(c),
            Call::PermitDup(i) => self.permit_dup(*i),
            Call::BulkheadConfigDefault(null_out) => bulkhead_config_default(*null_out),
            Call::BulkheadNew(name, cfg, clock, null_out) => {
                self.new_bulkhead(name, cfg, *clock, *null_out)
            }
            Call::BulkheadFree(sel) => self.free(Kind::Bulkhead, *sel),
            Call::BulkheadAcquire(sel, wait, null_permit, null_full) => {
                self.bulkhead_acquire(*sel, *wait, *null_permit, *null_full)
            }
            Call::BulkheadRecord(sel, o) => self.bulkhead_give_back(*sel, Some(*o)),
            Call::BulkheadRelease(sel) => self.bulkhead_give_back(*sel, None),
            Call::BulkheadPermitDup(i) => self.bulkhead_permit_dup(*i),
            Call::BulkheadSetLimit(sel, limit) => self.bulkhead_set_limit(*sel, *limit),
            Call::BulkheadMetrics(sel, null_out) => self.bulkhead_metrics(*sel, *null_out),
            Call::BulkheadPrometheus(sel, cap, null_buf, null_len) => {
                self.bulkhead_prometheus(*sel, *cap, *null_buf, *null_len)
            }
            Call::LastError => {
                let _ = last_error();
            }
            Call::Version => version(),
            Call::StatusName(s) => status_name(*s),
        }
        for b in &self.breakers {
            compare(b);
        }
    }

    /// Free everything this input made (LeakSanitizer checks the rest).
    pub fn teardown(mut self) {
        for b in std::mem::take(&mut self.bulkheads) {
            self.bulkheads.push(BulkheadH { ..b });
            let h = self.bulkheads[0].handle;
            self.return_all(h as usize);
            self.bulkheads.clear();
            // SAFETY: a live bulkhead made by this input, no slot held.
            assert_eq!(unsafe { fb_bulkhead_free(h) }, FB_OK);
        }
        for b in std::mem::take(&mut self.breakers) {
            if b.owner == Owner::Caller {
                // SAFETY: a live breaker made by this input.
                assert_eq!(unsafe { fb_breaker_free(b.handle) }, FB_OK);
            }
        }
        for r in std::mem::take(&mut self.registries) {
            if !r.global {
                // SAFETY: a live registry made by this input.
                assert_eq!(unsafe { fb_registry_free(r.handle) }, FB_OK);
            }
        }
        for c in std::mem::take(&mut self.clocks) {
            // SAFETY: a live clock made by this input.
            assert_eq!(unsafe { fb_clock_free(c.handle) }, FB_OK);
        }
    }
}
