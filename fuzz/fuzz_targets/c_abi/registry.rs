//! Registries, own and global: one handle per name, tagged as
//! library-owned, made with the registry's default config or the config
//! set for the name; `fb_registry_len` / `fb_registry_get` agree with the
//! names made. Breakers of an own registry on a manual clock get a shadow.

use crate::args::{make_name, name_ptr, pick};
use crate::breaker::{shadow_for, BreakerH, Owner};
use crate::config::{cfg_ptr, make_config};
use crate::ffi::fb_status::{self, *};
use crate::ffi::*;
use crate::input::Call;
use crate::status::{call, Expect};
use crate::world::{World, MAX_OBJECTS};
use fusebox::{Config, ManualClock};
use std::collections::HashMap;
use std::ffi::CString;
use std::ptr::{null, null_mut};
use std::sync::Arc;

pub struct RegistryH {
    pub handle: *mut fb_registry,
    pub global: bool,
    pub clock: Option<Arc<ManualClock>>,
    pub default: Config,
    pub configs: HashMap<String, Config>,
    pub names: HashMap<String, *mut fb_breaker>,
}

impl World {
    pub fn registry_op(&mut self, call_: &Call) {
        match call_ {
            Call::RegistryNew(cfg, clock, null_out) => {
                if self.registries.len() >= MAX_OBJECTS {
                    return;
                }
                let config = make_config(cfg);
                let clock_h = pick(&self.clocks, *clock);
                let clock_ptr = clock_h.map_or(null(), |c| c.handle as *const fb_clock);
                let shadow_clock = clock_h.map(|c| c.shadow.clone());
                let mut e = Expect::new();
                e.null_if(*null_out);
                let core = e.config(&config);
                let mut out = null_mut();
                let outp: *mut *mut fb_registry = if *null_out { null_mut() } else { &mut out };
                let cp = cfg_ptr(&config);
                // SAFETY: NULL or valid pointers.
                let st = call("fb_registry_new", &e, &[FB_OK], || unsafe {
                    fb_registry_new(cp, clock_ptr, outp)
                });
                if st == FB_OK {
                    assert!(!out.is_null());
                    self.registries.push(RegistryH {
                        handle: out,
                        global: false,
                        clock: shadow_clock,
                        default: core.unwrap(),
                        configs: HashMap::new(),
                        names: HashMap::new(),
                    });
                }
            }
            Call::RegistryGlobal(null_out) => {
                let mut out = null_mut();
                let outp: *mut *mut fb_registry = if *null_out { null_mut() } else { &mut out };
                let mut e = Expect::new();
                e.null_if(*null_out);
                // SAFETY: NULL or writable.
                let st = call("fb_registry_global", &e, &[FB_OK], || unsafe {
                    fb_registry_global(outp)
                });
                if st == FB_OK && !self.registries.iter().any(|r| r.global) {
                    self.registries.push(RegistryH {
                        handle: out,
                        global: true,
                        clock: None,
                        default: Config::default(),
                        configs: HashMap::new(),
                        names: HashMap::new(),
                    });
                }
            }
            Call::RegistrySetDefault(sel, cfg) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let config = make_config(cfg);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let core = e.config(&config);
                let cp = cfg_ptr(&config);
                // SAFETY: NULL or live registry; NULL or readable config.
                let st = call("fb_registry_set_default", &e, &[FB_OK], || unsafe {
                    fb_registry_set_default(handle, cp)
                });
                if st == FB_OK {
                    let r = self
                        .registries
                        .iter_mut()
                        .find(|r| std::ptr::eq(r.handle, handle));
                    r.unwrap().default = core.unwrap();
                }
            }
            Call::RegistryConfigure(sel, name, cfg)
            | Call::RegistryGetOrCreateWith(sel, name, cfg, _) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let global = r.is_some_and(|r| r.global);
                let name = global_name(global, make_name(name));
                let config = make_config(cfg);
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let n = e.name(&name, false);
                let core = e.config(&config);
                let np = name_ptr(&name);
                let cp = cfg_ptr(&config);
                let existing = r.and_then(|r| n.as_ref().and_then(|n| r.names.get(n).copied()));
                if let Call::RegistryGetOrCreateWith(.., null_out) = call_ {
                    if existing.is_none() {
                        // Only a name that must be made is checked for length.
                        if let Some(n) = &n {
                            if n.is_empty() || n.len() > 256 {
                                e.add(FB_ERR_INVALID_NAME);
                            }
                        }
                    }
                    e.null_if(*null_out);
                    let mut out = null_mut();
                    let outp: *mut *mut fb_breaker = if *null_out { null_mut() } else { &mut out };
                    // SAFETY: NULL or valid pointers.
                    let st = call("fb_registry_get_or_create_with", &e, &[FB_OK], || unsafe {
                        fb_registry_get_or_create_with(handle, np, cp, outp)
                    });
                    if st == FB_OK {
                        self.got_breaker(handle, n.unwrap(), out, existing, core);
                    }
                } else {
                    if let Some(n) = &n {
                        if n.is_empty() || n.len() > 256 {
                            e.add(FB_ERR_INVALID_NAME);
                        }
                    }
                    // SAFETY: NULL or valid pointers.
                    let st = call("fb_registry_configure", &e, &[FB_OK], || unsafe {
                        fb_registry_configure(handle, np, cp)
                    });
                    if st == FB_OK {
                        let r = self
                            .registries
                            .iter_mut()
                            .find(|r| std::ptr::eq(r.handle, handle));
                        r.unwrap().configs.insert(n.unwrap(), core.unwrap());
                    }
                }
            }
            Call::RegistryGetOrCreate(sel, name, null_out)
            | Call::RegistryGet(sel, name, null_out) => {
                let create = matches!(call_, Call::RegistryGetOrCreate(..));
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let global = r.is_some_and(|r| r.global);
                let name = if create {
                    global_name(global, make_name(name))
                } else {
                    make_name(name)
                };
                let mut e = Expect::new();
                e.null_if(handle.is_null());
                let n = e.name(&name, false);
                e.null_if(*null_out);
                let existing = r.and_then(|r| n.as_ref().and_then(|n| r.names.get(n).copied()));
                let np = name_ptr(&name);
                let mut out = null_mut();
                let outp: *mut *mut fb_breaker = if *null_out { null_mut() } else { &mut out };
                let st = if create {
                    if existing.is_none() {
                        if let Some(n) = &n {
                            if n.is_empty() || n.len() > 256 {
                                e.add(FB_ERR_INVALID_NAME);
                            }
                        }
                    }
                    // SAFETY: NULL or valid pointers.
                    call("fb_registry_get_or_create", &e, &[FB_OK], || unsafe {
                        fb_registry_get_or_create(handle, np, outp)
                    })
                } else {
                    let ok: &[fb_status] = if global {
                        &[FB_OK, FB_ERR_NOT_FOUND]
                    } else if existing.is_some() {
                        &[FB_OK]
                    } else {
                        &[FB_ERR_NOT_FOUND]
                    };
                    // SAFETY: NULL or valid pointers.
                    call("fb_registry_get", &e, ok, || unsafe {
                        fb_registry_get(handle, np, outp)
                    })
                };
                if st == FB_OK {
                    self.got_breaker(handle, n.unwrap(), out, existing, None);
                }
            }
            Call::RegistryLen(sel, null_out) => {
                let r = pick(&self.registries, *sel);
                let handle = r.map_or(null(), |r| r.handle as *const fb_registry);
                let want = r.filter(|r| !r.global).map(|r| r.names.len());
                let mut e = Expect::new();
                e.null_if(handle.is_null()).null_if(*null_out);
                let mut out = usize::MAX;
                let outp: *mut usize = if *null_out { null_mut() } else { &mut out };
                // SAFETY: NULL or valid pointers.
                let st = call("fb_registry_len", &e, &[FB_OK], || unsafe {
                    fb_registry_len(handle, outp)
                });
                if st == FB_OK {
                    if let Some(want) = want {
                        assert_eq!(out, want, "fb_registry_len");
                    }
                }
            }
            _ => unreachable!(),
        }
    }

    /// A registry handed out `out` for `name`.
    pub fn got_breaker(
        &mut self,
        registry: *const fb_registry,
        name: String,
        out: *mut fb_breaker,
        existing: Option<*mut fb_breaker>,
        with: Option<Config>,
    ) {
        assert!(
            out as usize & 1 == 1,
            "a registry's breaker handle must be tagged as library-owned"
        );
        if let Some(h) = existing {
            assert_eq!(out, h, "one handle per name");
            return;
        }
        let r = self
            .registries
            .iter_mut()
            .find(|r| std::ptr::eq(r.handle, registry))
            .unwrap();
        if r.global {
            if !self.breakers.iter().any(|b| b.handle == out) {
                self.breakers.push(BreakerH {
                    handle: out,
                    owner: Owner::Global,
                    shadow: None,
                });
            }
            return;
        }
        let config = with
            .or_else(|| r.configs.get(&name).cloned())
            .unwrap_or_else(|| r.default.clone());
        let shadow = shadow_for(&config, &r.clock);
        r.names.insert(name, out);
        let owner = Owner::Registry(r.handle as usize);
        self.breakers.push(BreakerH {
            handle: out,
            owner,
            shadow,
        });
    }
}

/// Names given to the global registry come from a small pool: it lives as
/// long as the process, and arbitrary names would grow it without bound.
pub fn global_name(global: bool, name: Option<CString>) -> Option<CString> {
    match name {
        Some(n) if global => {
            Some(CString::new(format!("fuzz:g{}", n.as_bytes().len() % 4)).unwrap())
        }
        other => other,
    }
}
