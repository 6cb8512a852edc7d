//! Breaker permits: the permits an input holds (live, used, copied or
//! forged) with their shadow permits, and `fb_permit_record` /
//! `fb_permit_release`, whose outcome the shadow breaker gets too.

use crate::args::outcome_of;
use crate::ffi::fb_status::*;
use crate::ffi::*;
use crate::input::{DurArg, OutcomeArg, PermitSel};
use crate::status::{call, Expect};
use crate::world::World;
use fusebox::RawPermit;
use std::ptr::{null, null_mut};

pub struct PermitH {
    pub p: fb_permit,
    /// The handle that issued it (as given by the library).
    pub owner: usize,
    pub shadow: Option<RawPermit>,
}

impl World {
    pub fn record(&mut self, sel: PermitSel, outcome: Option<OutcomeArg>, dur: DurArg) {
        let mut zeroed = fb_permit {
            breaker: null(),
            generation: 0,
            start_ns: 0,
            probe: 0,
        };
        let idx = match sel {
            PermitSel::Idx(i) if !self.permits.is_empty() => {
                Some(usize::from(i) % self.permits.len())
            }
            _ => None,
        };
        let is_null = matches!(sel, PermitSel::Null);
        let before = idx.map(|i| self.permits[i].p);
        let pp: *mut fb_permit = match (sel, idx) {
            (PermitSel::Null, _) => null_mut(),
            (_, Some(i)) => &mut self.permits[i].p,
            _ => &mut zeroed,
        };
        let used = !is_null && before.is_none_or(|p| p.breaker.is_null());
        let mut e = Expect::new();
        e.null_if(is_null);
        if used {
            e.add(FB_ERR_PERMIT_USED);
        }
        let (func, st, core_outcome, d) = match outcome {
            Some(o) => {
                let (c_outcome, core) = outcome_of(o);
                if core.is_none() {
                    e.add(FB_ERR_INVALID_ARGUMENT);
                }
                let d = match dur {
                    DurArg::Auto => FB_DURATION_AUTO,
                    DurArg::Ns(n) => n.get(),
                };
                // SAFETY: NULL, or a permit filled by fb_breaker_acquire
                // whose breaker is alive (permits of freed breakers are
                // dropped), or a zeroed one.
                let st = call("fb_permit_record", &e, &[FB_OK], || unsafe {
                    fb_permit_record(pp, c_outcome, d)
                });
                (
                    "fb_permit_record",
                    st,
                    core,
                    (d != FB_DURATION_AUTO).then_some(d),
                )
            }
            None => {
                // SAFETY: as above.
                let st = call("fb_permit_release", &e, &[FB_OK], || unsafe {
                    fb_permit_release(pp)
                });
                ("fb_permit_release", st, None, None)
            }
        };
        let Some(i) = idx else { return };
        if matches!(sel, PermitSel::Zeroed) {
            return;
        }
        let ph = &mut self.permits[i];
        if st != FB_OK {
            let b = before.unwrap();
            assert!(
                ph.p.breaker == b.breaker
                    && ph.p.generation == b.generation
                    && ph.p.start_ns == b.start_ns
                    && ph.p.probe == b.probe,
                "{func} failed ({st:?}) but changed the permit"
            );
            return;
        }
        assert!(
            ph.p.breaker.is_null(),
            "{func}: the permit is not marked used"
        );
        let (owner, shadow) = (ph.owner, ph.shadow.take());
        if let (Some(raw), Some(b)) = (shadow, self.find_breaker(owner)) {
            if let Some(s) = &b.shadow {
                match core_outcome {
                    Some(o) => s.record_raw(raw, o, d),
                    None => s.release_raw(raw),
                }
            }
        }
    }

    /// Change a held permit's plain fields; false when there was none to
    /// change (no live permit held).
    pub fn forge(
        &mut self,
        i: u8,
        generation: Option<u64>,
        start: Option<u64>,
        probe: Option<u8>,
    ) -> bool {
        if self.permits.is_empty() {
            return false;
        }
        let n = self.permits.len();
        let ph = &mut self.permits[usize::from(i) % n];
        if ph.p.breaker.is_null() {
            return false;
        }
        if let Some(g) = generation {
            ph.p.generation = ph.p.generation.wrapping_add(g);
        }
        if let Some(s) = start {
            ph.p.start_ns = s;
        }
        if let Some(p) = probe {
            ph.p.probe = p;
        }
        if let Some(s) = &mut ph.shadow {
            s.generation = ph.p.generation;
            s.start_ns = ph.p.start_ns;
            s.probe = ph.p.probe != 0;
        }
        true
    }

    /// Copy a held breaker permit (both copies may be used).
    pub fn permit_dup(&mut self, i: u8) {
        if !self.permits.is_empty() && self.permits.len() < 64 {
            let n = self.permits.len();
            let p = &self.permits[usize::from(i) % n];
            let copy = PermitH {
                p: p.p,
                owner: p.owner,
                shadow: p.shadow,
            };
            self.permits.push(copy);
        }
    }
}
