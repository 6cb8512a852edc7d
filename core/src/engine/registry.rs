//! Breakers by name (`"user-service:getUser"`), created on first use from a
//! per-name or default config.
//!
//! Lookup is lock-free: `papaya::HashMap` reads take no lock and never wait
//! for writers. Creation races are settled by the map: of two threads
//! creating the same name, both get the one breaker that was inserted.

use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError};
use crate::engine::metrics::Metrics;
use crate::observe::events::Listeners;
use crate::{Breaker, Transition};
use std::sync::{Arc, OnceLock, RwLock};

/// Names longer than this are refused.
pub const MAX_NAME_LEN: usize = 256;

/// Why a registry operation failed.
///
/// ```rust
/// use fusebox::{Config, Registry, RegistryError};
///
/// let registry = Registry::default();
/// let bad = Config { min_calls: 0, ..Config::default() };
/// let err = registry.configure("db", bad).unwrap_err();
/// assert!(matches!(&err, RegistryError::Config(e) if e.field == "min_calls"));
/// assert_eq!(err.to_string(), "invalid min_calls: 0 (expected 1..=1 000 000 000)");
///
/// let long = "x".repeat(300);
/// assert!(matches!(registry.get_or_create(&long), Err(RegistryError::BadName(_))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// Empty or too long a name.
    BadName(String),
    /// A config that does not validate.
    Config(ConfigError),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryError::BadName(n) => f.write_str(&crate::engine::input::name_message(n)),
            RegistryError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RegistryError {}

impl RegistryError {
    /// [`ErrorKind::InvalidName`](crate::ErrorKind) or `InvalidConfig`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RegistryError::BadName(_) => crate::ErrorKind::InvalidName,
            RegistryError::Config(e) => e.kind(),
        }
    }
}

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Config(e)
    }
}

/// A set of named breakers.
///
/// ```rust
/// use fusebox::{Config, ManualClock, Registry, RegistryError, State};
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// // Breakers not configured by name get this config.
/// let registry = Registry::new(Config::default(), clock.clone());
/// registry.configure("payments", Config::builder().consecutive_failures(Some(2)).build()?)?;
///
/// let payments = registry.get_or_create("payments")?;
/// let inventory = registry.get_or_create("inventory")?;
/// assert_eq!(payments.config().consecutive_failures, Some(2));
/// assert_eq!(inventory.config().consecutive_failures, Some(5));
/// assert!(Arc::ptr_eq(&payments, &registry.get_or_create("payments")?)); // one per name
///
/// payments.try_acquire()?.failure();
/// payments.try_acquire()?.failure();
/// // Lock-free lookups, without touching the reference count:
/// assert_eq!(registry.with("payments", |b| b.state()), Some(State::Open));
/// assert_eq!(registry.with("nope", |b| b.state()), None);
///
/// let mut names = registry.names();
/// names.sort();
/// assert_eq!(names, ["inventory", "payments"]);
/// let open: Vec<_> = registry.snapshot().into_iter().filter(|m| m.state == State::Open).collect();
/// assert_eq!(open.len(), 1);
/// assert!(registry.prometheus().contains(r#"fusebox_state{breaker="payments",state="open"} 1"#));
///
/// assert!(matches!(registry.get_or_create(""), Err(RegistryError::BadName(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry {
    breakers: papaya::HashMap<Arc<str>, Arc<Breaker>>,
    configs: papaya::HashMap<Arc<str>, Config>,
    default: RwLock<Config>,
    clock: ClockSource,
    /// Registry-wide state-change listeners (see [`Registry::on_state_change`]).
    transitions: Arc<Listeners<Transition>>,
    /// Registry-wide rejection listeners (see [`Registry::on_rejection`]).
    rejections: Arc<Listeners<crate::observe::events::Rejection>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(Config::default(), ClockSource::Monotonic)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish()
    }
}

/// `Ok` for a valid breaker name (1..=[`MAX_NAME_LEN`] bytes), else
/// `BadName`: the rule of every front end, for registry and standalone
/// breakers alike (see [`crate::input`]).
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    crate::engine::input::check_name(name).map_err(RegistryError::BadName)
}

impl Registry {
    /// An empty registry whose breakers use `default` unless configured by
    /// name, all on `clock` (example on [`Registry`]).
    pub fn new(default: Config, clock: impl Into<ClockSource>) -> Registry {
        Registry {
            breakers: papaya::HashMap::new(),
            configs: papaya::HashMap::new(),
            default: RwLock::new(default),
            clock: clock.into(),
            transitions: Arc::new(Listeners::new()),
            rejections: Arc::new(Listeners::new()),
        }
    }

    /// The process-wide registry (system clock, default config). Bindings
    /// share it, so e.g. Node worker threads see one breaker per name.
    ///
    /// ```rust
    /// use fusebox::Registry;
    /// use std::sync::Arc;
    ///
    /// let here = Registry::global().get_or_create("docs-example:global")?;
    /// let there = Registry::global().get_or_create("docs-example:global")?;
    /// assert!(Arc::ptr_eq(&here, &there));
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    pub fn global() -> &'static Registry {
        static G: OnceLock<Registry> = OnceLock::new();
        G.get_or_init(Registry::default)
    }

    /// Set the config used for names not configured one by one. Breakers
    /// already created keep theirs.
    ///
    /// ```rust
    /// use fusebox::{Config, Registry};
    ///
    /// let registry = Registry::default();
    /// let search = registry.get_or_create("search")?;
    /// registry.set_default(Config::builder().min_calls(50).build()?)?;
    /// assert_eq!(registry.get_or_create("reviews")?.config().min_calls, 50);
    /// assert_eq!(search.config().min_calls, 10); // created before: unchanged
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_default(&self, config: Config) -> Result<(), RegistryError> {
        config.validate()?;
        *self.default.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// Set the config of `name`, used when it is created (example on
    /// [`Registry`]).
    pub fn configure(&self, name: &str, config: Config) -> Result<(), RegistryError> {
        check_name(name)?;
        config.validate()?;
        self.configs.pin().insert(name.into(), config);
        Ok(())
    }

    /// Change the settings of `name` in place: its breaker, when it exists,
    /// is reconfigured ([`Breaker::reconfigure`]: state, window and counts
    /// kept; the same window required), and `config` becomes the name's
    /// config for a later creation (as [`Registry::configure`]). `Ok(None)`
    /// when no breaker of that name exists yet. Refused, with nothing
    /// changed, for a bad name or a config the breaker does not take.
    ///
    /// ```rust
    /// use fusebox::{Config, Registry};
    ///
    /// let registry = Registry::default();
    /// let db = registry.get_or_create("db")?;
    /// let done = registry.reconfigure("db", Config { min_calls: 50, ..Config::default() })?;
    /// assert_eq!(done.unwrap().changed, ["min_calls"]);
    /// assert_eq!(db.config().min_calls, 50);
    /// // Not made yet: kept for when it is.
    /// assert_eq!(registry.reconfigure("cache", Config { min_calls: 7, ..Config::default() })?, None);
    /// assert_eq!(registry.get_or_create("cache")?.config().min_calls, 7);
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    pub fn reconfigure(
        &self,
        name: &str,
        config: Config,
    ) -> Result<Option<crate::Reconfigured>, RegistryError> {
        check_name(name)?;
        let done = match self.get(name) {
            Some(b) => Some(b.reconfigure(config.clone())?),
            None => {
                config.validate()?;
                None
            }
        };
        self.configs.pin().insert(name.into(), config);
        Ok(done)
    }

    /// The breaker called `name`, if it exists. Lock-free.
    ///
    /// ```rust
    /// use fusebox::Registry;
    /// use std::sync::Arc;
    ///
    /// let registry = Registry::default();
    /// assert!(registry.get("db").is_none()); // `get` creates nothing
    /// let db = registry.get_or_create("db")?;
    /// assert!(Arc::ptr_eq(&registry.get("db").unwrap(), &db));
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    #[inline]
    pub fn get(&self, name: &str) -> Option<Arc<Breaker>> {
        self.breakers.pin().get(name).cloned()
    }

    /// Run `f` on the breaker called `name`, if it exists, without touching
    /// its reference count (no shared write: lookups from many threads do
    /// not contend). Lock-free.
    #[inline]
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&Breaker) -> R) -> Option<R> {
        self.breakers.pin().get(name).map(|b| f(b))
    }

    /// The breaker called `name`, created on first use.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Breaker>, RegistryError> {
        if let Some(b) = self.get(name) {
            return Ok(b);
        }
        check_name(name)?;
        let config = match self.configs.pin().get(name) {
            Some(c) => c.clone(),
            None => self
                .default
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        let fresh = self.create(name, config)?;
        let map = self.breakers.pin();
        Ok(map.get_or_insert(name.into(), fresh).clone())
    }

    /// The breaker called `name`, created with `config` if it does not exist
    /// yet (an existing breaker keeps its own config).
    ///
    /// ```rust
    /// use fusebox::{Config, Registry, WindowConfig};
    /// use std::sync::Arc;
    ///
    /// let registry = Registry::default();
    /// let batch = Config::builder().count_window(20).build()?;
    /// let export = registry.get_or_create_with("export", batch)?;
    /// let again = registry.get_or_create_with("export", Config::default())?;
    /// assert!(Arc::ptr_eq(&export, &again));
    /// assert_eq!(again.config().window, WindowConfig::Count { size: 20 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_or_create_with(
        &self,
        name: &str,
        config: Config,
    ) -> Result<Arc<Breaker>, RegistryError> {
        if let Some(b) = self.get(name) {
            return Ok(b);
        }
        check_name(name)?;
        let fresh = self.create(name, config)?;
        Ok(self
            .breakers
            .pin()
            .get_or_insert(name.into(), fresh)
            .clone())
    }

    /// A new breaker, wired to the registry's listeners before anyone else
    /// can see it (so no event is missed, whichever creator wins the race).
    fn create(&self, name: &str, config: Config) -> Result<Arc<Breaker>, RegistryError> {
        let fresh = Arc::new(Breaker::named(name, config, self.clock.clone())?);
        // The registry's sets hear every event of the breaker's (no event is
        // queued for them when nobody listens to either).
        fresh
            .transition_listeners()
            .set_parent(self.transitions.clone());
        fresh
            .rejection_listeners()
            .set_parent(self.rejections.clone());
        Ok(fresh)
    }

    /// Call `f` on every state change of every breaker of this registry,
    /// present and future. Listeners run on the event thread, never inside a
    /// call; a panicking listener is caught (see [`crate::events`]).
    ///
    /// ```rust
    /// use fusebox::{Phase, Registry};
    /// use std::{sync::mpsc, time::Duration};
    ///
    /// let registry = Registry::default();
    /// let (tx, rx) = mpsc::channel();
    /// registry.on_state_change(move |t| {
    ///     let _ = tx.send((t.breaker.to_string(), t.to));
    /// });
    /// let db = registry.get_or_create("db")?; // created after: heard as well
    /// db.force_open();
    ///
    /// // Delivered off the call path: wait for the event thread.
    /// assert!(fusebox::events::flush(Duration::from_secs(5)));
    /// let (name, to) = rx.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!((name.as_str(), to), ("db", Phase::ForcedOpen));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_state_change(
        &self,
        f: impl Fn(&Transition) + Send + Sync + 'static,
    ) -> crate::events::ListenerId {
        self.transitions.subscribe(f)
    }

    /// Remove a listener added by [`Registry::on_state_change`] or
    /// [`Registry::on_rejection`]; whether it was there. Events already
    /// queued may still reach it.
    ///
    /// ```rust
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::default();
    /// let id = registry.on_state_change(|t| println!("{} is {:?}", t.breaker, t.to));
    /// assert!(registry.remove_listener(id));
    /// assert!(!registry.remove_listener(id)); // once
    /// ```
    pub fn remove_listener(&self, id: crate::events::ListenerId) -> bool {
        self.transitions.unsubscribe(id) || self.rejections.unsubscribe(id)
    }

    /// Call `f` on every rejected call of every breaker of this registry,
    /// present and future, off the call path.
    ///
    /// ```rust
    /// use fusebox::{RejectReason, Registry};
    /// use std::{sync::mpsc, time::Duration};
    ///
    /// let registry = Registry::default();
    /// let db = registry.get_or_create("db")?; // created before: heard as well
    /// let (tx, rx) = mpsc::channel();
    /// registry.on_rejection(move |r| {
    ///     let _ = tx.send((r.breaker.to_string(), r.reason));
    /// });
    /// db.force_open();
    /// assert!(db.try_acquire().is_err());
    ///
    /// assert!(fusebox::events::flush(Duration::from_secs(5)));
    /// let (name, reason) = rx.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!((name.as_str(), reason), ("db", RejectReason::ForcedOpen));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_rejection(
        &self,
        f: impl Fn(&crate::observe::events::Rejection) + Send + Sync + 'static,
    ) -> crate::events::ListenerId {
        self.rejections.subscribe(f)
    }

    /// Every breaker's metrics in the Prometheus text format (see
    /// [`crate::prometheus`]; example on [`Registry`]).
    pub fn prometheus(&self) -> String {
        crate::observe::prometheus::render(&self.snapshot())
    }

    /// The breakers, sorted by name.
    ///
    /// ```rust
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::default();
    /// for name in ["search", "cart", "auth"] {
    ///     registry.get_or_create(name)?;
    /// }
    /// registry.breakers().iter().for_each(|b| b.force_open()); // e.g. maintenance
    /// let names: Vec<_> = registry.breakers().iter().map(|b| b.name().to_owned()).collect();
    /// assert_eq!(names, ["auth", "cart", "search"]);
    /// assert!(registry.breakers().iter().all(|b| b.try_acquire().is_err()));
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    pub fn breakers(&self) -> Vec<Arc<Breaker>> {
        let mut v: Vec<Arc<Breaker>> = self.breakers.pin().values().cloned().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Forget `name`; holders of its `Arc` keep a working breaker.
    ///
    /// ```rust
    /// use fusebox::Registry;
    /// use std::sync::Arc;
    ///
    /// let registry = Registry::default();
    /// let db = registry.get_or_create("db")?;
    /// let removed = registry.remove("db").expect("it was there");
    /// assert!(Arc::ptr_eq(&db, &removed));
    /// assert!(registry.get("db").is_none());
    /// assert!(db.try_acquire().is_ok()); // still works for its holders
    /// // The name is free again: a fresh breaker.
    /// assert!(!Arc::ptr_eq(&db, &registry.get_or_create("db")?));
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker>> {
        self.breakers.pin().remove(name).cloned()
    }

    /// Names, sorted (example on [`Registry`]).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.breakers.pin().keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    /// Every breaker's metrics, sorted by name (example on [`Registry`]).
    pub fn snapshot(&self) -> Vec<Metrics> {
        let mut v: Vec<Metrics> = self.breakers.pin().values().map(|b| b.metrics()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Number of breakers.
    ///
    /// ```rust
    /// use fusebox::Registry;
    ///
    /// let registry = Registry::default();
    /// assert!(registry.is_empty());
    /// registry.get_or_create("a")?;
    /// registry.get_or_create("a")?;
    /// registry.get_or_create("b")?;
    /// assert_eq!(registry.len(), 2);
    /// assert!(!registry.is_empty());
    /// # Ok::<(), fusebox::RegistryError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.breakers.len()
    }

    /// Whether there are none (example on [`Registry::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn created_once_per_name_and_configured_by_name() {
        let clock = Arc::new(ManualClock::new());
        let r = Registry::new(Config::default(), clock);
        r.configure(
            "inventory:get",
            Config::builder().min_calls(3).build().unwrap(),
        )
        .unwrap();
        let a = r.get_or_create("inventory:get").unwrap();
        let b = r.get_or_create("inventory:get").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.config().min_calls, 3);
        assert_eq!(
            r.get_or_create("payment:pay").unwrap().config().min_calls,
            10
        );
        assert_eq!(r.names(), vec!["inventory:get", "payment:pay"]);
        assert!(matches!(
            r.get_or_create(""),
            Err(RegistryError::BadName(_))
        ));
        let bad = Config {
            min_calls: 0,
            ..Config::default()
        };
        assert!(matches!(
            r.configure("x", bad),
            Err(RegistryError::Config(_))
        ));
    }

    #[test]
    fn racing_creators_get_one_breaker() {
        let r = Arc::new(Registry::default());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || r.get_or_create("svc:op").unwrap())
            })
            .collect();
        let got: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(got.iter().all(|b| Arc::ptr_eq(b, &got[0])));
        assert_eq!(r.len(), 1);
    }
}
