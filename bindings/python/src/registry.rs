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
