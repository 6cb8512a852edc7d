//! Bulkhead permits: the slots an input holds (copies share an id, and a
//! copy given back twice taints its bulkhead: what follows is not
//! specified), and `fb_bulkhead_permit_record` / `_release`.

use crate::args::outcome_of;
use crate::ffi::bulkhead::*;
use crate::ffi::fb_status::*;
use crate::input::{OutcomeArg, PermitSel};
use crate::status::{call, Expect};
use crate::world::World;
use std::ptr::{null, null_mut};

pub struct BPermitH {
    pub p: fb_bulkhead_permit,
    pub owner: usize,
    /// Copies share an id.
    pub id: u64,
}

impl World {
    /// Calls this input holds in `bulkhead` (copies counted once).
    pub fn bulkhead_in_flight(&self, bulkhead: usize) -> u32 {
        let mut ids: Vec<u64> = self
            .bpermits
            .iter()
            .filter(|p| {
                p.owner == bulkhead && !p.p.bulkhead.is_null() && !self.returned.contains(&p.id)
            })
            .map(|p| p.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u32
    }

    /// Give back every slot this input holds in `bulkhead`, once each.
    pub fn return_all(&mut self, bulkhead: usize) {
        let mut seen = std::collections::HashSet::new();
        for i in 0..self.bpermits.len() {
            let p = &self.bpermits[i];
            if p.owner == bulkhead
                && !p.p.bulkhead.is_null()
                && !self.returned.contains(&p.id)
                && seen.insert(p.id)
            {
                self.bulkhead_give_back(PermitSel::Idx(i as u8), None);
            }
        }
    }

    /// `fb_bulkhead_permit_record` (with an outcome) or `_release`.
    pub fn bulkhead_give_back(&mut self, sel: PermitSel, outcome: Option<OutcomeArg>) {
        let mut zeroed = fb_bulkhead_permit {
            bulkhead: null(),
            start_ns: 0,
            in_flight: 0,
            slot: 0,
        };
        let idx = match sel {
            PermitSel::Idx(i) if !self.bpermits.is_empty() => {
                Some(usize::from(i) % self.bpermits.len())
            }
            _ => None,
        };
        let is_null = matches!(sel, PermitSel::Null);
        let before = idx.map(|i| self.bpermits[i].p);
        let pp: *mut fb_bulkhead_permit = match (sel, idx) {
            (PermitSel::Null, _) => null_mut(),
            (_, Some(i)) => &mut self.bpermits[i].p,
            _ => &mut zeroed,
        };
        let mut e = Expect::new();
        e.null_if(is_null);
        if !is_null && before.is_none_or(|p| p.bulkhead.is_null()) {
            e.add(FB_ERR_PERMIT_USED);
        }
        let (func, st) = match outcome {
            Some(o) => {
                let (c_outcome, core) = outcome_of(o);
                if core.is_none() {
                    e.add(FB_ERR_INVALID_ARGUMENT);
                }
                // SAFETY: NULL, a zeroed permit, or one filled by the
                // library whose bulkhead is alive.
                let st = call("fb_bulkhead_permit_record", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_permit_record(pp, c_outcome)
                });
                ("fb_bulkhead_permit_record", st)
            }
            None => {
                // SAFETY: as above.
                let st = call("fb_bulkhead_permit_release", &e, &[FB_OK], || unsafe {
                    fb_bulkhead_permit_release(pp)
                });
                ("fb_bulkhead_permit_release", st)
            }
        };
        let Some(i) = idx else { return };
        let ph = &self.bpermits[i];
        if st != FB_OK {
            let b = before.unwrap();
            assert!(
                ph.p.bulkhead == b.bulkhead
                    && (ph.p.start_ns, ph.p.in_flight, ph.p.slot)
                        == (b.start_ns, b.in_flight, b.slot),
                "{func} failed ({st:?}) but changed the permit"
            );
            return;
        }
        assert!(
            ph.p.bulkhead.is_null(),
            "{func}: the permit is not marked used"
        );
        let (owner, id) = (ph.owner, ph.id);
        if !self.returned.insert(id) {
            // The second copy of one permit: out of contract.
            if let Some(b) = self
                .bulkheads
                .iter_mut()
                .find(|b| b.handle as usize == owner)
            {
                b.tainted = true;
            }
        }
        self.bulkhead_check(owner);
    }

    /// Copy a held bulkhead permit (same id).
    pub fn bulkhead_permit_dup(&mut self, i: u8) {
        if !self.bpermits.is_empty() && self.bpermits.len() < 64 {
            let n = self.bpermits.len();
            let p = &self.bpermits[usize::from(i) % n];
            let copy = BPermitH {
                p: p.p,
                owner: p.owner,
                id: p.id,
            };
            self.bpermits.push(copy);
        }
    }
}
