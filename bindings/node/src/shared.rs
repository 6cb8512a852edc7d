//! Shared-memory breakers for Node (`SharedRegistry`): one breaker for every
//! process on the host (cluster workers, child processes), in a
//! memory-mapped file, over `fusebox::shm`. The breakers handed out are
//! ordinary `NativeBreaker`s: the JS `CircuitBreaker` wraps them unchanged,
//! hot path included (its state-word view maps the shared file).

use crate::{option_name, NativeBreaker, NativeOptions};
use fusebox::shm::{self, ShmError};
use fusebox::Clock;
use napi::bindgen_prelude::{ClassInstance, Either};
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

/// Why a shared-registry call failed; the JS layer throws the matching error.
#[napi(object)]
pub struct SharedProblem {
    /// `io`, `badFile`, `configMismatch`, `full`, `busy`, `notFound` or
    /// `option` (a bad argument: a `RangeError` naming `option`).
    pub kind: String,
    /// The whole message.
    pub message: String,
    /// `option`: the argument's name.
    pub option: Option<String>,
    /// `configMismatch`: the breaker's name.
    pub breaker: Option<String>,
    /// `configMismatch`: the options that differ from the file's.
    pub fields: Option<Vec<String>>,
    /// `io`: the errno name (`ENOENT`, `EACCES`...).
    pub code: Option<String>,
    /// `io`: the errno number.
    pub errno: Option<i32>,
    /// `io` and `badFile`: the file.
    pub path: Option<String>,
}

impl SharedProblem {
    fn new(kind: &str, message: String) -> SharedProblem {
        SharedProblem {
            kind: kind.into(),
            message,
            option: None,
            breaker: None,
            fields: None,
            code: None,
            errno: None,
            path: None,
        }
    }

    fn option(option: &str, message: String) -> SharedProblem {
        SharedProblem {
            option: Some(option.into()),
            ..SharedProblem::new("option", message)
        }
    }
}

fn errno_name(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "ENOENT",
        PermissionDenied => "EACCES",
        AlreadyExists => "EEXIST",
        InvalidInput => "EINVAL",
        // Linux and macOS numbers alike.
        _ => match e.raw_os_error() {
            Some(20) => "ENOTDIR",
            Some(28) => "ENOSPC",
            Some(30) => "EROFS",
            _ => "EIO",
        },
    }
}

fn problem(e: ShmError) -> SharedProblem {
    let message = e.to_string();
    match e {
        ShmError::Io { path, source, .. } => SharedProblem {
            code: Some(errno_name(&source).into()),
            errno: source.raw_os_error(),
            path: Some(path.display().to_string()),
            ..SharedProblem::new("io", message)
        },
        ShmError::NotARegistry { ref path, .. }
        | ShmError::Version { ref path, .. }
        | ShmError::StaleBoot { ref path } => SharedProblem {
            path: Some(path.display().to_string()),
            ..SharedProblem::new("badFile", message)
        },
        ShmError::Corrupt { .. } => SharedProblem::new("badFile", message),
        ShmError::ConfigMismatch { name, fields, .. } => SharedProblem {
            breaker: Some(name),
            fields: Some(fields.iter().map(|f| option_name(f).to_string()).collect()),
            ..SharedProblem::new("configMismatch", message)
        },
        ShmError::Full { .. } | ShmError::OutOfSpace { .. } => SharedProblem::new("full", message),
        ShmError::Busy { .. } => SharedProblem::new("busy", message),
        ShmError::BadName(_) => SharedProblem::option("name", message),
        ShmError::BadOption { option, .. } => SharedProblem::option(
            match option {
                "data_bytes" => "dataBytes",
                other => other,
            },
            message,
        ),
        ShmError::Config(c) => {
            let p = crate::problem(&c);
            SharedProblem::option(&p.option, p.message)
        }
    }
}

/// A clock moved by hand that lives in a file: one time for every process
/// that opens it (tests of multi-process code).
#[napi]
pub struct NativeSharedClock {
    inner: Arc<shm::SharedManualClock>,
}

#[napi]
impl NativeSharedClock {
    /// Move time forward by `ms` (checked by the JS layer), for every process.
    #[napi]
    pub fn advance(&self, ms: f64) {
        crate::hot::flush();
        self.inner
            .advance(Duration::from_nanos((ms * 1e6).round() as u64));
    }

    /// The clock's time in ms from its origin.
    #[napi]
    pub fn now(&self) -> f64 {
        self.inner.now_ns() as f64 / 1e6
    }
}

/// The shared clock in the file at `path`, created if missing.
#[napi]
pub fn shared_clock_open(path: String) -> Either<NativeSharedClock, SharedProblem> {
    match shm::SharedManualClock::open(&path) {
        Ok(inner) => Either::A(NativeSharedClock { inner }),
        Err(e) => Either::B(SharedProblem {
            code: Some(errno_name(&e).into()),
            errno: e.raw_os_error(),
            path: Some(path.clone()),
            ..SharedProblem::new("io", format!("{path}: {e}"))
        }),
    }
}

/// A handle on a shared registry file.
#[napi]
pub struct NativeSharedRegistry {
    inner: shm::SharedRegistry,
}

/// An integer option in 1..=max; else (option, message).
fn whole(option: &str, v: Option<f64>, max: f64) -> Result<Option<u64>, (String, String)> {
    match v {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 && (1.0..=max).contains(&v) => Ok(Some(v as u64)),
        Some(v) => Err((
            option.into(),
            format!("invalid option {option}: {v} (expected an integer in 1..={max})"),
        )),
    }
}

/// Open the registry at `path`, creating it (atomically) if missing;
/// `capacity`, `dataBytes` and `stripes` are used only then.
#[napi]
pub fn shared_open(
    path: String,
    capacity: Option<f64>,
    data_bytes: Option<f64>,
    stripes: Option<f64>,
    clock: Option<ClassInstance<NativeSharedClock>>,
) -> Either<NativeSharedRegistry, SharedProblem> {
    let opts = (|| {
        Ok((
            whole("capacity", capacity, shm::MAX_CAPACITY as f64)?,
            whole("dataBytes", data_bytes, shm::MAX_DATA_BYTES as f64)?,
            whole("stripes", stripes, 64.0)?,
        ))
    })();
    let (capacity, data_bytes, stripes) = match opts {
        Ok(o) => o,
        Err((option, message)) => return Either::B(SharedProblem::option(&option, message)),
    };
    let mut b = shm::SharedRegistry::builder();
    if let Some(c) = capacity {
        b = b.capacity(c as usize);
    }
    if let Some(d) = data_bytes {
        b = b.data_bytes(d);
    }
    if let Some(s) = stripes {
        b = b.stripes(s as usize);
    }
    if let Some(c) = clock {
        b = b.clock(c.inner.clone());
    }
    match b.open(&path) {
        Ok(inner) => Either::A(NativeSharedRegistry { inner }),
        Err(e) => Either::B(problem(e)),
    }
}

#[napi]
impl NativeSharedRegistry {
    /// The file's path.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// Breaker slots (fixed when the file was made).
    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        self.inner.capacity() as u32
    }

    /// Whether this handle created the file.
    #[napi(getter)]
    pub fn created(&self) -> bool {
        self.inner.created()
    }

    /// The breaker `name`, created with `options` if the file does not hold
    /// it; an existing one must have the same options.
    #[napi]
    pub fn get_or_create(
        &self,
        name: String,
        options: NativeOptions,
    ) -> Either<NativeBreaker, SharedProblem> {
        let config = match options.to_config() {
            Ok(c) => c,
            Err(p) => return Either::B(SharedProblem::option(&p.option, p.message)),
        };
        match self.inner.get_or_create(&name, &config) {
            Ok(b) => Either::A(NativeBreaker::wrap(b)),
            Err(e) => Either::B(problem(e)),
        }
    }

    /// The breaker `name` with the options stored in the file (`notFound`
    /// when the file has none).
    #[napi]
    pub fn get(&self, name: String) -> Either<NativeBreaker, SharedProblem> {
        match self.inner.get(&name) {
            Ok(Some(b)) => Either::A(NativeBreaker::wrap(b)),
            Ok(None) => Either::B(SharedProblem::new(
                "notFound",
                format!("no breaker named {name:?}"),
            )),
            Err(e) => Either::B(problem(e)),
        }
    }

    /// The names in the file.
    #[napi]
    pub fn names(&self) -> Vec<String> {
        self.inner.names()
    }
}
