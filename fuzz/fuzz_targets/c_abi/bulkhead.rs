//! Bulkheads: what the input knows of each (fixed or adaptive, limit,
//! capacity, wait), and the checks of their stats after every call: in
//! flight as many as this input holds, a fixed limit kept, nobody waiting
//! in a single thread; acquisition, limits and the Prometheus text.

use crate::args::{make_name, name_ptr, pick};
use crate::bulkhead_permit::BPermitH;
use crate::config::{bulkhead_config, make_bulkhead_config};
use crate::ffi::bulkhead::*;
use crate::ffi::fb_clock;
use crate::ffi::fb_status::{self, *};
use crate::input::{BCfgArg, NameArg, PermitSel, Sel};
use crate::status::{call, Expect};
use crate::world::{World, MAX_OBJECTS};
use std::ptr::{null, null_mut};

pub struct BulkheadH {
    pub handle: *mut fb_bulkhead,
    pub fixed: bool,
    pub limit: u32,
    pub capacity: u32,
    pub max_wait_ns: u64,
    /// A copied permit was given back twice: what follows is not specified.
    pub tainted: bool,
}

impl World {
    pub fn bulkhead_stats(h: *const fb_bulkhead) -> fb_bulkhead_stats {
        let mut m = std::mem::MaybeUninit::<fb_bulkhead_stats>::uninit();
        // SAFETY: a live bulkhead; a writable out-pointer.
        assert_eq!(unsafe { fb_bulkhead_metrics(h, m.as_mut_ptr()) }, FB_OK);
        // SAFETY: FB_OK: written.
        unsafe { m.assume_init() }
    }

    pub fn bulkhead_check(&self, handle: usize) {
        let Some(b) = self.bulkheads.iter().find(|b| b.handle as usize == handle) else {
            return;
        };
        let m = World::bulkhead_stats(b.handle);
        assert!(
            m.peak_in_flight >= m.in_flight,
            "peak below in flight: {m:?}"
        );
        assert!(
            m.limit >= 1 && m.limit <= b.capacity,
            "limit out of range: {m:?}"
        );
        assert_eq!(m.waiting, 0, "nobody waits in a single thread");
        if b.fixed {
            assert_eq!(m.limit, b.limit, "a fixed bulkhead's limit");
        }
        if !b.tainted {
            assert_eq!(
                m.in_flight,
                self.bulkhead_in_flight(handle),
                "bulkhead in flight"
            );
        }
    }

    pub fn new_bulkhead(
        &mut self,
        name: &NameArg,
        cfg: &BCfgArg,
        clock: Option<Sel>,
        null_out: bool,
    ) {
        if self.bulkheads.len() >= MAX_OBJECTS {
            return;
        }
        let name = make_name(name);
        let config = make_bulkhead_config(cfg);
        let clock_ptr =
            clock.map(|s| pick(&self.clocks, s).map_or(null(), |c| c.handle as *const fb_clock));
        let mut e = Expect::new();
        e.null_if(null_out);
        if let Some(k) = clock_ptr {
            e.null_if(k.is_null());
        }
        e.name(&name, true);
        let parsed = match &config {
            None => {
                e.add(FB_ERR_NULL_POINTER);
                None
            }
            Some(c) => {
                let p = bulkhead_config(c);
                if p.is_none() {
                    e.add(FB_ERR_INVALID_CONFIG);
                }
                p
            }
        };
        let func = if clock.is_some() {
            "fb_bulkhead_new_with_clock"
        } else {
            "fb_bulkhead_new"
        };
        let mut out = null_mut();
        let outp: *mut *mut fb_bulkhead = if null_out { null_mut() } else { &mut out };
        let np = name_ptr(&name);
        let cp = config
            .as_ref()
            .map_or(null(), |c| c as *const fb_bulkhead_config);
        // SAFETY: NULL or valid name, config, live clock, writable out.
        let st = call(func, &e, &[FB_OK], || unsafe {
            match clock_ptr {
                Some(k) => fb_bulkhead_new_with_clock(np, cp, k, outp),
                None => fb_bulkhead_new(np, cp, outp),
            }
        });
        if st == FB_OK {
            let (fixed, limit, capacity, max_wait_ns) = parsed.expect("FB_OK for a refused config");
            assert!(!out.is_null());
            self.bulkheads.push(BulkheadH {
                handle: out,
                fixed,
                limit,
                capacity,
                max_wait_ns,
                tainted: false,
            });
            let m = World::bulkhead_stats(out);
            assert_eq!(m.limit, limit, "a new bulkhead's limit");
            self.bulkhead_check(out as usize);
        }
    }

    pub fn bulkhead_acquire(&mut self, sel: Sel, wait: bool, null_permit: bool, null_full: bool) {
        let b = pick(&self.bulkheads, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_bulkhead);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_permit);
        let blocking = wait && b.is_some_and(|b| b.max_wait_ns <= 100_000);
        let func = if blocking {
            "fb_bulkhead_acquire"
        } else {
            "fb_bulkhead_try_acquire"
        };
        let held = self.bulkhead_in_flight(handle as usize);
        // A fixed bulkhead admits exactly while fewer than its limit hold
        // a slot.
        let admit = b.filter(|b| b.fixed && !b.tainted).map(|b| held < b.limit);
        let ok: &[fb_status] = match admit {
            Some(true) => &[FB_OK],
            Some(false) => &[FB_REJECTED],
            None => &[FB_OK, FB_REJECTED],
        };
        let mut p = fb_bulkhead_permit {
            bulkhead: 0x10 as *const fb_bulkhead,
            start_ns: 7,
            in_flight: 7,
            slot: 7,
        };
        let mut full = fb_bulkhead_full {
            limit: 7,
            in_flight: 7,
            waited_ns: 7,
        };
        let pp: *mut fb_bulkhead_permit = if null_permit { null_mut() } else { &mut p };
        let fp: *mut fb_bulkhead_full = if null_full { null_mut() } else { &mut full };
        // SAFETY: NULL or a live bulkhead; NULL or writable outs.
        let st = call(func, &e, ok, || unsafe {
            if blocking {
                fb_bulkhead_acquire(handle, pp, fp)
            } else {
                fb_bulkhead_try_acquire(handle, pp, fp)
            }
        });
        match st {
            FB_OK => {
                assert_eq!(p.bulkhead, handle, "permit's bulkhead");
                if admit.is_some() {
                    assert_eq!(p.in_flight, held + 1, "in flight at admission");
                }
                let id = self.next_id;
                self.next_id += 1;
                self.bpermits.push(BPermitH {
                    p,
                    owner: handle as usize,
                    id,
                });
                if self.bpermits.len() > 64 {
                    let last = self.bpermits.len() - 1;
                    self.bulkhead_give_back(PermitSel::Idx(last as u8), None);
                    self.bpermits.pop();
                }
            }
            FB_REJECTED => {
                assert!(p.bulkhead.is_null(), "a refused permit must be marked used");
                if !null_full {
                    assert!(full.in_flight >= full.limit, "refused with room: {full:?}");
                    if !blocking {
                        assert_eq!(full.waited_ns, 0, "try_acquire never waits");
                    }
                }
                if self.bpermits.len() < 64 {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.bpermits.push(BPermitH {
                        p,
                        owner: handle as usize,
                        id,
                    });
                }
            }
            _ => {}
        }
        self.bulkhead_check(handle as usize);
    }

    /// `fb_bulkhead_set_limit` (1 ..= capacity).
    pub fn bulkhead_set_limit(&mut self, sel: Sel, limit: u32) {
        let b = pick(&self.bulkheads, sel);
        let handle = b.map_or(null(), |b| b.handle as *const fb_bulkhead);
        let mut e = Expect::new();
        e.null_if(handle.is_null());
        if b.is_some_and(|b| limit == 0 || limit > b.capacity) {
            e.add(FB_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: NULL or a live bulkhead.
        let st = call("fb_bulkhead_set_limit", &e, &[FB_OK], || unsafe {
            fb_bulkhead_set_limit(handle, limit)
        });
        if st == FB_OK {
            let b = self
                .bulkheads
                .iter_mut()
                .find(|b| std::ptr::eq(b.handle, handle))
                .unwrap();
            b.limit = limit;
            self.bulkhead_check(handle as usize);
        }
    }

    /// `fb_bulkhead_metrics`.
    pub fn bulkhead_metrics(&self, sel: Sel, null_out: bool) {
        let handle = pick(&self.bulkheads, sel).map_or(null(), |b| b.handle as *const fb_bulkhead);
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_out);
        let mut m = std::mem::MaybeUninit::<fb_bulkhead_stats>::uninit();
        let mp = if null_out { null_mut() } else { m.as_mut_ptr() };
        // SAFETY: NULL or a live bulkhead; NULL or writable.
        call("fb_bulkhead_metrics", &e, &[FB_OK], || unsafe {
            fb_bulkhead_metrics(handle, mp)
        });
        self.bulkhead_check(handle as usize);
    }

    pub fn bulkhead_prometheus(&mut self, sel: Sel, cap: u16, null_buf: bool, null_len: bool) {
        let handle = pick(&self.bulkheads, sel).map_or(null(), |b| b.handle as *const fb_bulkhead);
        let cap = usize::from(cap);
        let mut buf = vec![0xAAu8; cap];
        let bp = if null_buf {
            null_mut()
        } else {
            buf.as_mut_ptr() as *mut std::ffi::c_char
        };
        let mut len = usize::MAX;
        let lp: *mut usize = if null_len { null_mut() } else { &mut len };
        let mut e = Expect::new();
        e.null_if(handle.is_null()).null_if(null_len);
        // The length is known only from the answer: checked below.
        let ok: &[fb_status] = &[FB_OK, FB_ERR_INVALID_ARGUMENT, FB_ERR_NULL_POINTER];
        // SAFETY: NULL or a live bulkhead; `buf` NULL or writable for
        // `cap` bytes; `len` NULL or writable.
        let st = call("fb_bulkhead_prometheus", &e, ok, || unsafe {
            fb_bulkhead_prometheus(handle, bp, cap, lp)
        });
        if !e.clean() {
            return;
        }
        assert_ne!(len, usize::MAX, "*len is set in every case");
        match st {
            FB_OK => {
                assert!(!null_buf && cap > len, "FB_OK with no room");
                assert_eq!(buf[len], 0, "NUL-terminated");
                let text = std::str::from_utf8(&buf[..len]).expect("UTF-8 text");
                assert!(!text.contains('\0'));
                assert!(text.contains("fusebox_bulkhead_in_flight"), "{text}");
            }
            FB_ERR_INVALID_ARGUMENT => {
                assert!(cap < len + 1, "refused a buffer that fits");
                assert!(
                    buf.iter().all(|&b| b == 0xAA),
                    "wrote into a buffer too small"
                );
            }
            _ => assert!(
                null_buf && cap > len,
                "NULL_POINTER for a buffer that was given"
            ),
        }
    }
}
