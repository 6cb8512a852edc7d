//! The admin endpoint for Node (`fusebox/admin`): fusebox-admin's server
//! over the process-wide registry, on the core's threads (the JS thread
//! only starts and stops it).

use fusebox::Registry;
use fusebox_admin::{AdminConfig, AdminHandle};
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use std::net::SocketAddr;
use std::sync::Mutex;

/// A running admin endpoint.
#[napi]
pub struct NativeAdmin {
    addr: SocketAddr,
    handle: Mutex<Option<AdminHandle>>,
}

#[napi]
impl NativeAdmin {
    /// `127.0.0.1:40123`: where it listens.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Whether it still serves.
    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Stop serving and free the port (joins the server's threads, which
    /// never call into JS); again is a no-op.
    #[napi]
    pub fn close(&self) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            h.stop();
        }
    }
}

/// Why `adminServe` did not start: `kind` is `address` (not IP:PORT) or
/// `listen` (the system refused the address).
#[napi(object)]
pub struct AdminProblem {
    pub kind: String,
    pub message: String,
}

/// Serve the process-wide registry on `address`, the controls open to
/// `token` (none: refused with 403).
#[napi]
pub fn admin_serve(address: String, token: Option<String>) -> Either<NativeAdmin, AdminProblem> {
    let Ok(addr) = address.parse::<SocketAddr>() else {
        return Either::B(AdminProblem {
            kind: "address".into(),
            message: format!("address {address:?} is not IP:PORT (e.g. \"127.0.0.1:0\")"),
        });
    };
    let config = AdminConfig {
        addr,
        token,
        ..AdminConfig::loopback(0)
    };
    match fusebox_admin::serve(Registry::global(), config) {
        Ok(h) => Either::A(NativeAdmin {
            addr: h.addr(),
            handle: Mutex::new(Some(h)),
        }),
        Err(e) => Either::B(AdminProblem {
            kind: "listen".into(),
            message: e.to_string(),
        }),
    }
}
