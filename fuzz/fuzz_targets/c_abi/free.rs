//! The `*_free` functions: which address a `FreeSel` stands for (a live
//! object of the right kind or of another, a freed one, a registry's
//! breaker, the global registry, garbage) and what the free must answer,
//! then what the input forgets with it.

use crate::breaker::{BreakerH, Owner};
use crate::ffi::bulkhead::*;
use crate::ffi::fb_status::{self, *};
use crate::ffi::*;
use crate::input::FreeSel;
use crate::status::{call, Expect};
use crate::world::World;
use std::ptr::null_mut;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Breaker,
    Clock,
    Registry,
    Bulkhead,
}

impl World {
    pub fn kind_at(&self, addr: usize) -> Option<Kind> {
        if self
            .breakers
            .iter()
            .any(|b| b.owner == Owner::Caller && b.handle as usize == addr)
        {
            Some(Kind::Breaker)
        } else if self.clocks.iter().any(|c| c.handle as usize == addr) {
            Some(Kind::Clock)
        } else if self
            .registries
            .iter()
            .any(|r| !r.global && r.handle as usize == addr)
        {
            Some(Kind::Registry)
        } else if self.bulkheads.iter().any(|b| b.handle as usize == addr) {
            Some(Kind::Bulkhead)
        } else {
            None
        }
    }

    pub fn global_addr() -> usize {
        let mut g = null_mut();
        // SAFETY: a writable out-pointer.
        assert_eq!(unsafe { fb_registry_global(&mut g) }, FB_OK);
        g as usize
    }

    /// The address a `FreeSel` stands for, for a `*_free` of `kind`.
    pub fn free_target(&self, sel: FreeSel, kind: Kind) -> usize {
        let own_breakers: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| b.owner == Owner::Caller)
            .map(|b| b.handle as usize)
            .collect();
        let reg_breakers: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| b.owner != Owner::Caller)
            .map(|b| b.handle as usize)
            .collect();
        let clocks: Vec<usize> = self.clocks.iter().map(|c| c.handle as usize).collect();
        let regs: Vec<usize> = self
            .registries
            .iter()
            .filter(|r| !r.global)
            .map(|r| r.handle as usize)
            .collect();
        let bulkheads: Vec<usize> = self.bulkheads.iter().map(|b| b.handle as usize).collect();
        let of = |v: &[usize], i: u8| (!v.is_empty()).then(|| v[usize::from(i) % v.len()]);
        match sel {
            FreeSel::Null => 0,
            FreeSel::Live(i) => match kind {
                Kind::Breaker => of(&own_breakers, i),
                Kind::Clock => of(&clocks, i),
                Kind::Registry => of(&regs, i),
                Kind::Bulkhead => of(&bulkheads, i),
            }
            .unwrap_or(0),
            FreeSel::Freed(i) => of(&self.freed, i).unwrap_or(0),
            FreeSel::OtherKind(i) => {
                let mut other = Vec::new();
                if kind != Kind::Breaker {
                    other.extend(&own_breakers);
                }
                if kind != Kind::Clock {
                    other.extend(&clocks);
                }
                if kind != Kind::Registry {
                    other.extend(&regs);
                }
                if kind != Kind::Bulkhead {
                    other.extend(&bulkheads);
                }
                of(&other, i).unwrap_or(0)
            }
            FreeSel::RegistryBreaker(i, tagged) => of(&reg_breakers, i)
                .map(|a| if tagged { a } else { a & !1 })
                .unwrap_or(0),
            FreeSel::Global => World::global_addr(),
            FreeSel::Garbage(a) => a,
        }
    }

    /// What a `*_free` of `kind` at `addr` must answer.
    pub fn free_expect(&self, addr: usize, kind: Kind) -> fb_status {
        let registry_owned = kind == Kind::Breaker && addr & 1 == 1;
        // The keyed-set tag (bit 1) is looked at first; this world makes no
        // keyed handles, so a pointer carrying it is never a live one.
        let keyed = kind == Kind::Breaker && addr & 2 == 2;
        let global = kind == Kind::Registry && addr == World::global_addr();
        if addr == 0 {
            FB_ERR_NULL_POINTER
        } else if keyed {
            FB_ERR_INVALID_HANDLE
        } else if registry_owned || global {
            FB_ERR_NOT_OWNED
        } else if self.kind_at(addr) == Some(kind) {
            FB_OK
        } else {
            FB_ERR_INVALID_HANDLE
        }
    }

    /// Forget breaker handles (and their live permits) that `pred` selects.
    pub fn drop_breakers(&mut self, pred: impl Fn(&BreakerH) -> bool) {
        let gone: Vec<usize> = self
            .breakers
            .iter()
            .filter(|b| pred(b))
            .map(|b| b.handle as usize)
            .collect();
        self.breakers.retain(|b| !pred(b));
        // A used permit (breaker NULL) is never dereferenced: keep it.
        self.permits
            .retain(|p| p.p.breaker.is_null() || !gone.contains(&p.owner));
    }

    pub fn free(&mut self, kind: Kind, sel: FreeSel) {
        let addr = self.free_target(sel, kind);
        let want = self.free_expect(addr, kind);
        let e = Expect::new();
        if want == FB_OK && kind == Kind::Bulkhead {
            // No permit may be outstanding when a bulkhead is freed.
            self.return_all(addr);
        }
        let (func, st) = match kind {
            // SAFETY (all three): the free functions take any pointer value
            // and dereference it only if it is a live object of their kind.
            Kind::Breaker => (
                "fb_breaker_free",
                call("fb_breaker_free", &e, &[want], || unsafe {
                    fb_breaker_free(addr as *mut fb_breaker)
                }),
            ),
            Kind::Clock => (
                "fb_clock_free",
                call("fb_clock_free", &e, &[want], || unsafe {
                    fb_clock_free(addr as *mut fb_clock)
                }),
            ),
            Kind::Registry => (
                "fb_registry_free",
                call("fb_registry_free", &e, &[want], || unsafe {
                    fb_registry_free(addr as *mut fb_registry)
                }),
            ),
            Kind::Bulkhead => (
                "fb_bulkhead_free",
                call("fb_bulkhead_free", &e, &[want], || unsafe {
                    fb_bulkhead_free(addr as *mut fb_bulkhead)
                }),
            ),
        };
        if st != FB_OK {
            return;
        }
        assert!(addr != 0, "{func}(NULL) returned FB_OK");
        self.freed.push(addr);
        if self.freed.len() > 64 {
            self.freed.remove(0);
        }
        match kind {
            Kind::Breaker => {
                self.drop_breakers(|b| b.owner == Owner::Caller && b.handle as usize == addr)
            }
            Kind::Clock => self.clocks.retain(|c| c.handle as usize != addr),
            Kind::Registry => {
                self.registries.retain(|r| r.handle as usize != addr);
                self.drop_breakers(|b| b.owner == Owner::Registry(addr));
            }
            Kind::Bulkhead => {
                self.bulkheads.retain(|b| b.handle as usize != addr);
                self.bpermits
                    .retain(|p| p.p.bulkhead.is_null() || p.owner != addr);
            }
        }
    }
}
