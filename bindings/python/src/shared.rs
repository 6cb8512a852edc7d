//! `fusebox.SharedRegistry`: breakers in a memory-mapped file that every
//! process on the host shares (gunicorn workers, `multiprocessing` pools),
//! over `fusebox::shm`. The breakers it hands out are ordinary
//! `fusebox.CircuitBreaker` objects: the same calls, decorator and context
//! managers, the same hot path.

use crate::breaker::{check_name, metrics_dict, CircuitBreaker};
use crate::config::{arg_name, config_error, config_from_kwargs, float_arg};
use fusebox::shm::{self, ShmError};
use fusebox::Clock;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use std::path::PathBuf;
use std::sync::Arc;

static REGISTRY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MISMATCH_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An instance of `fusebox._shared.<name>(*args)`, as an error to raise.
fn raise<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    args: PyResult<Bound<'py, PyTuple>>,
) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let ty = cell.import(py, "fusebox._shared", name)?;
        Ok(PyErr::from_value(ty.call1(args?)?))
    };
    make().unwrap_or_else(|e| e)
}

fn shm_error(py: Python<'_>, e: ShmError) -> PyErr {
    let msg = e.to_string();
    match e {
        ShmError::Io { source, path, .. } => PyOSError::new_err((
            source.raw_os_error().unwrap_or(0),
            msg,
            path.display().to_string(),
        )),
        ShmError::ConfigMismatch { name, fields, .. } => {
            let fields: Vec<&str> = fields.iter().map(|f| arg_name(f)).collect();
            let args = (msg, name, fields).into_pyobject(py);
            raise(py, &MISMATCH_ERROR, "ConfigMismatchError", args)
        }
        ShmError::BadName(_) | ShmError::BadOption { .. } => PyValueError::new_err(msg),
        ShmError::Config(c) => config_error(c),
        _ => raise(
            py,
            &REGISTRY_ERROR,
            "SharedRegistryError",
            (msg,).into_pyobject(py),
        ),
    }
}

/// A clock moved by hand that lives in a file, so that several processes
/// read one time: `ManualClock` for tests of multi-process code. Pass it as
/// `clock=` to a `SharedRegistry` in every process.
#[pyclass(frozen, module = "fusebox")]
pub struct SharedManualClock {
    inner: Arc<shm::SharedManualClock>,
}

#[pymethods]
impl SharedManualClock {
    /// The clock in the file at `path`, created (at 1 s) if missing.
    #[new]
    fn new(path: PathBuf) -> PyResult<SharedManualClock> {
        let inner = shm::SharedManualClock::open(&path).map_err(|e| {
            PyOSError::new_err((
                e.raw_os_error().unwrap_or(0),
                e.to_string(),
                path.display().to_string(),
            ))
        })?;
        Ok(SharedManualClock { inner })
    }

    /// Move time forward by `seconds` (≥ 0), for every process.
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = float_arg("seconds", seconds)?;
        if !(s.is_finite() && (0.0..=1e9).contains(&s)) {
            return Err(PyValueError::new_err(format!(
                "invalid seconds: {s:?} (expected a finite number of seconds ≥ 0)"
            )));
        }
        self.inner
            .advance(std::time::Duration::from_nanos((s * 1e9).round() as u64));
        Ok(())
    }

    /// The clock's time, in seconds from an arbitrary origin.
    fn now(&self) -> f64 {
        self.inner.now_ns() as f64 / 1e9
    }

    fn __repr__(&self) -> String {
        format!("<fusebox.SharedManualClock now={:.6}>", self.now())
    }
}

/// Breakers shared by every process that opens the same file. The file is
/// created (atomically) if missing, with room for `capacity` breakers;
/// `capacity`, `data_bytes`, `stripes` and `mode` are used only then.
#[pyclass(frozen, module = "fusebox")]
pub struct SharedRegistry {
    inner: shm::SharedRegistry,
}

#[pymethods]
impl SharedRegistry {
    #[new]
    #[pyo3(signature = (path, *, capacity = 64, data_bytes = None, stripes = None, clock = None, mode = 0o600))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        capacity: usize,
        data_bytes: Option<u64>,
        stripes: Option<usize>,
        clock: Option<&Bound<'_, PyAny>>,
        mode: u32,
    ) -> PyResult<SharedRegistry> {
        let mut b = shm::SharedRegistry::builder().capacity(capacity).mode(mode);
        if let Some(d) = data_bytes {
            b = b.data_bytes(d);
        }
        if let Some(s) = stripes {
            if s == 0 {
                return Err(PyValueError::new_err(
                    "invalid stripes: 0 (expected 1..=64)",
                ));
            }
            b = b.stripes(s);
        }
        match clock.filter(|c| !c.is_none()) {
            None => {}
            Some(c) => match c.cast::<SharedManualClock>() {
                Ok(m) => b = b.clock(m.get().inner.clone()),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "clock must be a fusebox.SharedManualClock (a clock every process \
                         reads), not {}",
                        c.get_type().name()?
                    )))
                }
            },
        }
        let r = py.detach(|| b.open(&path)).map_err(|e| shm_error(py, e))?;
        Ok(SharedRegistry { inner: r })
    }

    /// The file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// Number of breaker slots (fixed when the file was made).
    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Whether this object created the file (of processes racing to create
    /// it, exactly one did).
    #[getter]
    fn created(&self) -> bool {
        self.inner.created()
    }

    /// The breaker called `name`, created with the configuration given as
    /// keyword arguments if the file does not hold it yet. If it does, its
    /// stored configuration must be the same: `ConfigMismatchError`
    /// otherwise. `exclude` applies to the returned object.
    #[pyo3(signature = (name, /, *, exclude = None, **config))]
    fn get_or_create(
        &self,
        py: Python<'_>,
        name: &str,
        exclude: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CircuitBreaker> {
        check_name(name)?;
        let c = config_from_kwargs(config)?;
        let b = py
            .detach(|| self.inner.get_or_create(name, &c))
            .map_err(|e| shm_error(py, e))?;
        CircuitBreaker::wrap(py, b, exclude)
    }

    /// The breaker called `name`, with the configuration stored in the file,
    /// or `None`.
    #[pyo3(signature = (name, /, *, exclude = None))]
    fn get(
        &self,
        py: Python<'_>,
        name: &str,
        exclude: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<CircuitBreaker>> {
        check_name(name)?;
        match self.inner.get(name).map_err(|e| shm_error(py, e))? {
            None => Ok(None),
            Some(b) => Ok(Some(CircuitBreaker::wrap(py, b, exclude)?)),
        }
    }

    /// Names in the file.
    fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// Every breaker's `metrics()`.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for m in self.inner.snapshot().map_err(|e| shm_error(py, e))? {
            l.append(metrics_dict(py, &m)?)?;
        }
        Ok(l)
    }

    fn __len__(&self) -> usize {
        self.inner.names().len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.get(name).ok().flatten().is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.SharedRegistry {:?}: {} of {} breakers>",
            self.inner.path().display().to_string(),
            self.inner.names().len(),
            self.inner.capacity()
        )
    }
}

pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SharedRegistry>()?;
    m.add_class::<SharedManualClock>()?;
    Ok(())
}
