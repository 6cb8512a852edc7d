//! A registry's snapshot: every breaker's settings and state written to a
//! file, and read back at start (`docs/semantics.md#snapshot-and-restore`).

use crate::engine::breaker::Breaker;
use crate::engine::registry::Registry;
use crate::engine::snapshot::{Snapshot, SnapshotError};
use std::sync::Arc;
use std::time::Duration;

/// What [`Registry::restore_state`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Breakers made from the snapshot (they were not in the registry).
    pub created: Vec<String>,
    /// Breakers already in the registry whose settings and state were set
    /// from it.
    pub updated: Vec<String>,
}

impl Registry {
    /// Every breaker's settings and state now, written at the current wall
    /// time (example on [`Snapshot`]).
    pub fn save_state(&self) -> Snapshot {
        let mut breakers: Vec<_> = self.breakers().iter().map(|b| b.save_state()).collect();
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot::now(breakers)
    }

    /// [`Registry::save_state`], written to `path` whole or not at all
    /// ([`Snapshot::write`]).
    ///
    /// ```rust
    /// use fusebox::Registry;
    ///
    /// let path = std::env::temp_dir().join(format!("fusebox-doc-{}.json", std::process::id()));
    /// let registry = Registry::default();
    /// registry.get_or_create("db")?.force_open();
    /// registry.write_state(&path)?;
    ///
    /// let restarted = Registry::default();
    /// let done = restarted.restore_file(&path)?;
    /// assert_eq!(done.created, ["db"]);
    /// assert_eq!(restarted.get("db").unwrap().phase(), fusebox::Phase::ForcedOpen);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_state(&self, path: impl AsRef<std::path::Path>) -> Result<(), SnapshotError> {
        self.save_state().write(path)
    }

    /// Read the snapshot at `path` and restore it ([`Registry::restore_state`]).
    /// A file that cannot be read, is damaged, foreign or newer, or holds a
    /// bad entry is refused with nothing applied.
    pub fn restore_file(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<Restored, SnapshotError> {
        self.restore_state(&Snapshot::read(path)?)
    }

    /// Restore `snapshot`, taking the wall time since it was written off
    /// every open period ([`Registry::restore_state_after`] with that time).
    pub fn restore_state(&self, snapshot: &Snapshot) -> Result<Restored, SnapshotError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // A clock set back since: no time has passed.
        let elapsed = Duration::from_millis(now.saturating_sub(snapshot.written_at_unix_ms));
        self.restore_state_after(snapshot, elapsed)
    }

    /// Restore `snapshot` as if `elapsed` had passed since it was written:
    /// each breaker is made with the saved settings, or, when the registry
    /// has it already, reconfigured to them ([`Breaker::reconfigure`]);
    /// then its saved state is put back (an Open breaker stays open for the
    /// rest of its period, less `elapsed`, on the registry's clock). Every
    /// entry is checked first (the snapshot again, and that a breaker the
    /// registry has takes the saved settings: same window, not shared
    /// memory); one that does not refuses the whole snapshot, with nothing
    /// applied.
    ///
    /// ```rust
    /// use fusebox::{Config, ManualClock, Registry, State};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let before = Registry::new(Config::default(), Arc::new(ManualClock::new()));
    /// before.get_or_create("db")?.open_for(Duration::from_secs(60));
    /// let snapshot = before.save_state();
    ///
    /// // A restart 20 s later: open for the 40 s that are left.
    /// let clock = Arc::new(ManualClock::new());
    /// let after = Registry::new(Config::default(), clock.clone());
    /// after.restore_state_after(&snapshot, Duration::from_secs(20))?;
    /// let db = after.get("db").unwrap();
    /// let rejected = db.try_acquire().unwrap_err();
    /// assert_eq!(rejected.retry_after, Some(Duration::from_secs(40)));
    /// clock.advance(Duration::from_secs(40));
    /// assert!(db.try_acquire()?.is_probe());
    /// assert_eq!(db.state(), State::HalfOpen);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore_state_after(
        &self,
        snapshot: &Snapshot,
        elapsed: Duration,
    ) -> Result<Restored, SnapshotError> {
        // Check all...
        let text = snapshot.to_json();
        let snapshot = Snapshot::parse(&text)?;
        let mut plan: Vec<(Option<Arc<Breaker>>, crate::Config)> = Vec::new();
        for (i, saved) in snapshot.breakers.iter().enumerate() {
            let config = saved
                .config
                .to_config()
                .map_err(|e| SnapshotError::Invalid {
                    at: format!("breakers[{i}] {:?}.config", saved.name),
                    error: e.to_string(),
                })?;
            let existing = self.get(&saved.name);
            if let Some(b) = &existing {
                b.check_reconfigure_in(&config, crate::Unit::Millis)
                    .map_err(|e| SnapshotError::Invalid {
                        at: format!("breakers[{i}] {:?}.config", saved.name),
                        error: format!("the registry's breaker refuses it: {e}"),
                    })?;
            }
            plan.push((existing, config));
        }
        // ...then apply all.
        let mut done = Restored::default();
        for (saved, (existing, config)) in snapshot.breakers.iter().zip(plan) {
            let b = match existing {
                Some(b) => {
                    // Checked above: cannot be refused.
                    let _ = b.reconfigure_in(config, crate::Unit::Millis);
                    done.updated.push(saved.name.clone());
                    b
                }
                None => {
                    let b = self
                        .get_or_create_with(&saved.name, config.clone())
                        .map_err(|e| SnapshotError::Invalid {
                            at: format!("breaker {:?}", saved.name),
                            error: e.to_string(),
                        })?;
                    // Made by another thread meanwhile: take the settings.
                    let _ = b.reconfigure_in(config, crate::Unit::Millis);
                    done.created.push(saved.name.clone());
                    b
                }
            };
            b.restore_state(saved, elapsed);
        }
        Ok(done)
    }
}
