//! `fusebox.admin.AdminServer`: fusebox-admin's server over a registry,
//! started by `fusebox.admin.serve`.

use crate::registry::Registry;
use fusebox_admin::{AdminConfig, AdminHandle};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::net::SocketAddr;
use std::sync::Mutex;

/// A running admin endpoint: `/metrics`, `/breakers`, `/events` and the
/// dashboard page. `close()` (or leaving its `with` block) stops it and
/// frees the port.
#[pyclass(frozen, module = "fusebox.admin")]
pub struct AdminServer {
    addr: SocketAddr,
    handle: Mutex<Option<AdminHandle>>,
}

#[pymethods]
impl AdminServer {
    /// `"127.0.0.1:40123"`: where it listens.
    #[getter]
    fn address(&self) -> String {
        self.addr.to_string()
    }

    /// `"http://127.0.0.1:40123/"`: the dashboard page.
    #[getter]
    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Whether it still serves.
    #[getter]
    fn running(&self) -> bool {
        self.handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Stop serving and free the port; again is a no-op.
    fn close(&self, py: Python<'_>) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            // Joins the server's threads, which never need the GIL.
            py.detach(|| h.stop());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.running() { "running" } else { "closed" };
        format!("<fusebox.admin.AdminServer {} {state}>", self.addr)
    }
}

/// Serve `registry` on `address` (`"IP:PORT"`; port 0 picks a free one),
/// with the controls open to `token` (None: refused with 403).
#[pyfunction]
#[pyo3(signature = (registry, address, token = None))]
fn _admin_serve(
    py: Python<'_>,
    registry: &Registry,
    address: &str,
    token: Option<String>,
) -> PyResult<AdminServer> {
    let addr: SocketAddr = address.parse().map_err(|_| {
        PyValueError::new_err(format!(
            "address {address:?} is not IP:PORT (e.g. \"127.0.0.1:0\")"
        ))
    })?;
    let config = AdminConfig {
        addr,
        token,
        ..AdminConfig::loopback(0)
    };
    let shared = registry.shared();
    let handle = py
        .detach(|| fusebox_admin::serve(shared, config))
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok(AdminServer {
        addr: handle.addr(),
        handle: Mutex::new(Some(handle)),
    })
}

pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AdminServer>()?;
    m.add_function(wrap_pyfunction!(_admin_serve, m)?)
}
