//! Breaker handles: who owns each, its shadow `fusebox::Breaker` (for a
//! breaker on a manual clock, without jitter) driven with the same calls,
//! and the checks that the C ABI says what the engine says: admission,
//! rejection, permits, state and every metric.

use crate::args::{make_name, name_ptr, pick};
use crate::config::{cfg_ptr, make_config};
use crate::ffi::fb_status::{self, *};
use crate::ffi::*;
use crate::input::{Call, CfgArg, NameArg, Sel};
use crate::permit::PermitH;
use crate::status::{call, Expect};
use crate::world::World;
use fusebox::{Breaker, Config, ManualClock, RawPermit};
use std::ptr::{null, null_mut};
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Owner {
    Caller,
    Registry(usize),
    Global,
}

pub struct BreakerH {
    pub handle: *mut fb_breaker,
    pub owner: Owner,
    pub shadow: Option<Breaker>,
}

pub fn shadow_for(config: &Config, clock: &Option<Arc<ManualClock>>) -> Option<Breaker> {
    let clock = clock.as_ref()?;
    if config.jitter != 0.0 {
        return None; // random by design
    }
    Some(Breaker::with_clock(config.clone(), clock.clone()).expect("a valid config"))
}

pub fn compare(h: &BreakerH) {
    let Some(shadow) = &h.shadow else { return };
    let mut m = std::mem::MaybeUninit::<fb_metrics>::uninit();
    // SAFETY: a live breaker handle and a writable out-pointer.
    let st = unsafe { fb_breaker_metrics(h.handle, m.as_mut_ptr()) };
    assert_eq!(st, FB_OK);
    // SAFETY: FB_OK: the struct was written.
    let m = unsafe { m.assume_init() };
    let s = shadow.metrics();
    let got = (
        m.state as u32,
        m.phase as u32,
        m.generation,
        (m.successes, m.failures, m.ignored, m.slow, m.rejected),
        m.state_changes,
        (m.window_calls, m.window_failures, m.window_slow),
    );
    let want = (
        s.state as u32,
        s.phase as u32,
        s.generation,
        (s.successes, s.failures, s.ignored, s.slow, s.rejected),
        s.state_changes,
        (s.window.calls, s.window.failures, s.window.slow),
    );
    assert_eq!(got, want, "C ABI metrics differ from the engine's");
    assert_eq!(m.failure_rate.to_bits(), s.failure_rate.to_bits());
    assert_eq!(m.slow_rate.to_bits(), s.slow_rate.to_bits());
}

impl World {
    pub fn find_breaker(&mut self, handle: usize) -> Option<&mut BreakerH> {
        self.breakers
            .iter_mut()
            .find(|b| b.handle as usize == handle)
    }

    pub fn new_breaker(
        &mut self,
        func: &str,
        name: Option<&NameArg>,
        cfg: &CfgArg,
        clock: Option<Sel>,
        null_out: bool,
    ) {
        let config = make_config(cfg);
        let name = name.map(make_name);
        let clock_h = clock.and_then(|s| pick(&self.clocks, s));
        let clock_ptr = clock_h.map_or(null(), |c| c.handle as *const fb_clock);
        let shadow_clock = clock_h.map(|c| c.shadow.clone());
        let mut e = Expect::new();
        e.null_if(null_out);
        if let Some(n) = &name {
            // A named breaker's name follows the registry's rule (1..=256
            // bytes), as everywhere.
            e.name(n, true);
        }
        let core = e.config(&config);
        let mut out: *mut fb_breaker = null_mut();
        let outp: *mut *mut fb_breaker = if null_out { null_mut() } else { &mut out };
        let cp = cfg_ptr(&config);
        // SAFETY: every pointer is NULL or valid (config, name, live clock,
        // writable out).
        let st = call(func, &e, &[FB_OK], || unsafe {
            match &name {
                Some(n) => fb_breaker_new_named(name_ptr(n), cp, clock_ptr, outp),
                None if clock.is_some() => fb_breaker_new_with_clock(cp, clock_ptr, outp),
                None => fb_breaker_new(cp, outp),
            }
        });
        if st == FB_OK {
            assert!(
                !out.is_null() && out as usize & 1 == 0,
                "{func}: bad handle"
            );
            let config = core.expect("FB_OK for a config the oracle refuses");
            self.breakers.push(BreakerH {
                handle: out,
                owner: Owner::Caller,
                shadow: shadow_for(&config, &shadow_clock),
            });
        }
    }

    pub fn acquire(&mut self, sel: Sel, null_permit: bool, null_rejection: bool) {
        let b = pick(&self.breakers, sel);
        let handle = b.map_or(null_mut(), |b| b.handle);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_permit);
        let mut p = fb_permit {
            breaker: 0x10 as *const fb_breaker,
            generation: 7,
            start_ns: 7,
            probe: 7,
        };
        let mut r = fb_rejection {
            reason: fb_reject_reason::FB_REJECT_OPEN,
            has_retry_after: true,
            retry_after_ns: 12345,
        };
        let pp: *mut fb_permit = if null_permit { null_mut() } else { &mut p };
        let rp: *mut fb_rejection = if null_rejection { null_mut() } else { &mut r };
        // SAFETY: NULL or a live breaker handle; NULL or writable outs.
        let st = call("fb_breaker_acquire", &e, &[FB_OK, FB_REJECTED], || unsafe {
            fb_breaker_acquire(handle, pp, rp)
        });
        if st != FB_OK && st != FB_REJECTED {
            return;
        }
        let b = b.expect("admission from a NULL breaker");
        let shadow = b.shadow.as_ref().map(|s| s.acquire_raw());
        match st {
            FB_OK => {
                assert_eq!(p.breaker, handle as *const fb_breaker, "permit's breaker");
                assert!(p.probe <= 1);
                let raw = RawPermit {
                    generation: p.generation,
                    start_ns: p.start_ns,
                    probe: p.probe != 0,
                };
                match shadow {
                    Some(Ok(s)) => assert_eq!(raw, s, "permit differs from the engine's"),
                    Some(Err(r)) => panic!("C ABI admitted, the engine rejected: {r:?}"),
                    None => {}
                }
                if self.permits.len() < 64 {
                    self.permits.push(PermitH {
                        p,
                        owner: handle as usize,
                        shadow: shadow.map(|s| s.unwrap()),
                    });
                } else if let Some(s) = shadow {
                    // Keep the shadow in step: give both back.
                    // SAFETY: the permit was just filled by fb_breaker_acquire.
                    assert_eq!(unsafe { fb_permit_release(&mut p) }, FB_OK);
                    b.shadow.as_ref().unwrap().release_raw(s.unwrap());
                } else {
                    // SAFETY: as above.
                    assert_eq!(unsafe { fb_permit_release(&mut p) }, FB_OK);
                }
            }
            _ => {
                assert!(p.breaker.is_null(), "a rejected permit must be marked used");
                if !null_rejection {
                    let reason = r.reason as u32;
                    assert!((1..=3).contains(&reason));
                    if let Some(s) = shadow {
                        let s = s.expect_err("C ABI rejected, the engine admitted");
                        let want_reason = match s.reason {
                            fusebox::RejectReason::Open => 1,
                            fusebox::RejectReason::HalfOpenFull => 2,
                            fusebox::RejectReason::ForcedOpen => 3,
                        };
                        assert_eq!(reason, want_reason, "reject reason");
                        let want = s.retry_after.map(|d| d.as_nanos() as u64);
                        assert_eq!(
                            r.has_retry_after.then_some(r.retry_after_ns),
                            want,
                            "retry_after"
                        );
                        if want.is_none() {
                            assert_eq!(r.retry_after_ns, 0);
                        }
                    }
                } else if let Some(s) = shadow {
                    assert!(s.is_err(), "C ABI rejected, the engine admitted");
                }
                if self.permits.len() < 64 {
                    self.permits.push(PermitH {
                        p,
                        owner: handle as usize,
                        shadow: None,
                    });
                }
            }
        }
    }

    /// `fb_breaker_state` agrees with the shadow.
    pub fn breaker_state(&self, sel: Sel, null_out: bool) {
        let b = pick(&self.breakers, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_out);
        let mut out = fb_state::FB_STATE_CLOSED;
        let outp: *mut fb_state = if null_out { null_mut() } else { &mut out };
        // SAFETY: NULL or live; NULL or writable.
        let st = call("fb_breaker_state", &e, &[FB_OK], || unsafe {
            fb_breaker_state(handle, outp)
        });
        if st == FB_OK {
            if let Some(s) = &b.unwrap().shadow {
                assert_eq!(out as u32, s.state() as u32, "fb_breaker_state");
            }
        }
    }

    /// `fb_breaker_metrics`: values in range (compared with the shadow's
    /// after every call).
    pub fn breaker_metrics(&self, sel: Sel, null_out: bool) {
        let b = pick(&self.breakers, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_out);
        let mut out = std::mem::MaybeUninit::<fb_metrics>::uninit();
        let outp = if null_out {
            null_mut()
        } else {
            out.as_mut_ptr()
        };
        // SAFETY: NULL or live; NULL or writable.
        let st = call("fb_breaker_metrics", &e, &[FB_OK], || unsafe {
            fb_breaker_metrics(handle, outp)
        });
        if st == FB_OK {
            // SAFETY: FB_OK: written.
            let m = unsafe { out.assume_init() };
            assert!(m.state as u32 <= 2 && m.phase as u32 <= 4);
            assert!((0.0..=1.0).contains(&m.failure_rate));
            assert!(m.window_failures <= m.window_calls && m.window_slow <= m.window_calls);
        }
    }

    /// `fb_breaker_force_open`, `_disable`, `_reset` (`c` says which), and
    /// the shadow's.
    pub fn breaker_manual(&self, c: &Call, sel: Sel) {
        let b = pick(&self.breakers, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_breaker);
        let mut e = Expect::new();
        e.null_if(handle.is_null());
        let (func, f, g): (
            &str,
            unsafe extern "C" fn(*const fb_breaker) -> fb_status,
            fn(&Breaker),
        ) = match c {
            Call::ForceOpen(_) => (
                "fb_breaker_force_open",
                fb_breaker_force_open,
                Breaker::force_open,
            ),
            Call::Disable(_) => ("fb_breaker_disable", fb_breaker_disable, Breaker::disable),
            _ => ("fb_breaker_reset", fb_breaker_reset, Breaker::reset),
        };
        // SAFETY: NULL or a live breaker.
        let st = call(func, &e, &[FB_OK], || unsafe { f(handle) });
        if st == FB_OK {
            if let Some(s) = &b.unwrap().shadow {
                g(s);
            }
        }
    }
}
