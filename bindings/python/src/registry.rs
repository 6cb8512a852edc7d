//! `fusebox.Registry`: breakers by name, over `fusebox::Registry`.

use crate::breaker::{check_name, clock_source, metrics_dict, CircuitBreaker};
use crate::config::{config_error, config_from_kwargs};
use fusebox::RegistryError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;

enum Inner {
    /// `fusebox::Registry::global()`: shared with every other binding loaded
    /// in this process.
    Global,
    Owned(Arc<fusebox::Registry>),
}

/// Breakers by name (`"user-service:getUser"`), created on first use.
#[pyclass(frozen, module = "fusebox")]
pub struct Registry {
    inner: Inner,
}

/// `OSError` for a file that cannot be read or written, else `ValueError`,
/// with the core's message (what is wrong, where).
fn snapshot_error(e: fusebox::snapshot::SnapshotError) -> PyErr {
    match e {
        fusebox::snapshot::SnapshotError::Io(_) => {
            pyo3::exceptions::PyOSError::new_err(e.to_string())
        }
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn registry_error(e: RegistryError) -> PyErr {
    match e {
        RegistryError::BadName(_) => PyValueError::new_err(e.to_string()),
        RegistryError::Config(c) => config_error(c),
    }
}

impl Registry {
    fn get_ref(&self) -> &fusebox::Registry {
        match &self.inner {
            Inner::Global => fusebox::Registry::global(),
            Inner::Owned(r) => r,
        }
    }

    /// The core registry, shared: for a server that outlives this object.
    pub(crate) fn shared(&self) -> Shared {
        match &self.inner {
            Inner::Global => Shared::Global,
            Inner::Owned(r) => Shared::Owned(r.clone()),
        }
    }
}

/// A core registry held by something that runs beside Python (the admin
/// endpoint): the global one, or a reference to an owned one.
pub(crate) enum Shared {
    Global,
    Owned(Arc<fusebox::Registry>),
}

impl std::ops::Deref for Shared {
    type Target = fusebox::Registry;
    fn deref(&self) -> &fusebox::Registry {
        match self {
            Shared::Global => fusebox::Registry::global(),
            Shared::Owned(r) => r,
        }
    }
}

#[pymethods]
impl Registry {
    /// A new registry whose breakers use `clock` and, unless configured by
    /// name, the configuration given as keyword arguments.
    #[new]
    #[pyo3(signature = (*, clock = None, **defaults))]
    fn new(
        clock: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Registry> {
        let config = config_from_kwargs(defaults)?;
        let clock = clock_source(clock)?;
        Ok(Registry {
            inner: Inner::Owned(Arc::new(fusebox::Registry::new(config, clock))),
        })
    }

    /// Set the configuration of breakers created from now on whose name was
    /// not configured.
    #[pyo3(signature = (**config))]
    fn set_default(&self, config: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let c = config_from_kwargs(config)?;
        self.get_ref().set_default(c).map_err(registry_error)
    }

    /// Set the configuration `name` gets when it is created.
    #[pyo3(signature = (name, /, **config))]
    fn configure(&self, name: &str, config: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        check_name(name)?;
        let c = config_from_kwargs(config)?;
        self.get_ref().configure(name, c).map_err(registry_error)
    }

    /// The breaker called `name`, or `None`.
    #[pyo3(signature = (name, /, *, exclude = None))]
    fn get(
        &self,
        py: Python<'_>,
        name: &str,
        exclude: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<CircuitBreaker>> {
        match self.get_ref().get(name) {
            None => Ok(None),
            Some(b) => Ok(Some(CircuitBreaker::wrap(py, b, exclude)?)),
        }
    }

    /// The breaker called `name`, created on first use (with `config` if
    /// given, else the name's or the default configuration). `exclude`
    /// applies to the returned object.
    #[pyo3(signature = (name, /, *, exclude = None, **config))]
    fn get_or_create(
        &self,
        py: Python<'_>,
        name: &str,
        exclude: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CircuitBreaker> {
        check_name(name)?;
        let r = self.get_ref();
        let b = match config.filter(|c| !c.is_empty()) {
            Some(c) => r.get_or_create_with(name, config_from_kwargs(Some(c))?),
            None => r.get_or_create(name),
        }
        .map_err(registry_error)?;
        CircuitBreaker::wrap(py, b, exclude)
    }

    /// Forget `name`. Returns whether it was there.
    fn remove(&self, name: &str) -> bool {
        self.get_ref().remove(name).is_some()
    }

    /// Names, sorted.
    fn names(&self) -> Vec<String> {
        self.get_ref().names()
    }

    /// Every breaker's `metrics()`, sorted by name.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for m in self.get_ref().snapshot() {
            l.append(metrics_dict(py, &m)?)?;
        }
        Ok(l)
    }

    /// Reconfigure the breaker `name` in place when it exists (see
    /// `CircuitBreaker.reconfigure`; these keyword arguments are the whole
    /// new configuration, defaults for the rest), and make it the name's
    /// configuration for a later creation. Returns whether that tripped it.
    #[pyo3(signature = (name, /, **config))]
    fn reconfigure(&self, name: &str, config: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
        let config = config_from_kwargs(config)?;
        let done = self
            .get_ref()
            .reconfigure(name, config)
            .map_err(registry_error)?;
        Ok(done.is_some_and(|d| d.tripped))
    }

    /// Write every breaker's settings and state to the file at `path`
    /// (versioned JSON, whole or not at all). `OSError` when it cannot.
    fn write_state(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.get_ref().write_state(path).map_err(snapshot_error)
    }

    /// Restore the snapshot at `path`: breakers made or reconfigured to
    /// the saved settings, their state put back (an open breaker stays open
    /// for the rest of its period, less `elapsed` seconds, by default the
    /// wall time since the file was written). The file is checked whole
    /// first: `OSError` when it cannot be read, `ValueError` (naming what is
    /// wrong) when it is damaged, foreign, newer or holds a bad entry;
    /// nothing is applied then. Returns the names restored.
    #[pyo3(signature = (path, /, *, elapsed = None))]
    fn restore_state(
        &self,
        path: std::path::PathBuf,
        elapsed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<String>> {
        let snap = fusebox::snapshot::Snapshot::read(path).map_err(snapshot_error)?;
        let r = self.get_ref();
        let done = match elapsed {
            Some(e) if !e.is_none() => {
                let d = crate::config::wait_arg("elapsed", e)?;
                r.restore_state_after(&snap, d)
            }
            _ => r.restore_state(&snap),
        }
        .map_err(snapshot_error)?;
        let mut names = done.created;
        names.extend(done.updated);
        names.sort();
        Ok(names)
    }

    /// Every breaker's metrics in the Prometheus text format (the core's
    /// one writer; `fusebox.prometheus.Collector` hands it to
    /// prometheus_client).
    fn prometheus(&self) -> String {
        self.get_ref().prometheus()
    }

    fn __len__(&self) -> usize {
        self.get_ref().len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.get_ref().get(name).is_some()
    }

    fn __repr__(&self) -> String {
        format!("<fusebox.Registry {} breakers>", self.get_ref().len())
    }
}

static GLOBAL: PyOnceLock<Py<Registry>> = PyOnceLock::new();

/// The process-wide registry (system clock, default configuration).
#[pyfunction]
pub fn registry(py: Python<'_>) -> PyResult<Py<Registry>> {
    GLOBAL
        .get_or_try_init(py, || {
            Py::new(
                py,
                Registry {
                    inner: Inner::Global,
                },
            )
        })
        .map(|r| r.clone_ref(py))
}
