//! Manual clocks: each `fb_clock` has a shadow `ManualClock` that the
//! shadow breakers made with it run on, moved by the same calls.

use crate::args::pick;
use crate::ffi::fb_status::*;
use crate::ffi::*;
use crate::input::{Sel, N};
use crate::status::{call, Expect};
use crate::world::World;
use fusebox::{Clock, ManualClock};
use std::ptr::{null, null_mut};
use std::sync::Arc;

pub struct ClockH {
    pub handle: *mut fb_clock,
    pub shadow: Arc<ManualClock>,
}

impl World {
    /// `fb_clock_manual_new` (the caller checked the object limit).
    pub fn clock_new(&mut self, null_out: bool) {
        let mut out = null_mut();
        let outp: *mut *mut fb_clock = if null_out { null_mut() } else { &mut out };
        let mut e = Expect::new();
        e.null_if(null_out);
        // SAFETY: NULL or writable.
        let st = call("fb_clock_manual_new", &e, &[FB_OK], || unsafe {
            fb_clock_manual_new(outp)
        });
        if st == FB_OK {
            assert!(!out.is_null());
            self.clocks.push(ClockH {
                handle: out,
                shadow: Arc::new(ManualClock::new()),
            });
        }
    }

    /// `fb_clock_advance`, and the shadow clock with it.
    pub fn clock_advance(&self, sel: Sel, n: N) {
        let c = pick(&self.clocks, sel);
        let handle = c.map_or(null(), |c| c.handle as *const fb_clock);
        let mut e = Expect::new();
        e.null_if(handle.is_null());
        // SAFETY: NULL or a live clock.
        let st = call("fb_clock_advance", &e, &[FB_OK], || unsafe {
            fb_clock_advance(handle, n.get())
        });
        if st == FB_OK {
            c.unwrap().shadow.advance_ns(n.get());
        }
    }

    /// `fb_clock_now` agrees with the shadow clock.
    pub fn clock_now(&self, sel: Sel, null_out: bool) {
        let c = pick(&self.clocks, sel);
        let handle = c.map_or(null(), |c| c.handle as *const fb_clock);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_out);
        let mut out = 0u64;
        let outp: *mut u64 = if null_out { null_mut() } else { &mut out };
        // SAFETY: NULL or a live clock; NULL or writable.
        let st = call("fb_clock_now", &e, &[FB_OK], || unsafe {
            fb_clock_now(handle, outp)
        });
        if st == FB_OK {
            assert_eq!(out, c.unwrap().shadow.now_ns(), "fb_clock_now");
        }
    }
}
