//! [`Builder`]: the adapter's settings, store and clock, chosen before it starts.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::settings::{AfterDelete, DeleteDuringCreate, Settings};
use super::tasks::TaskSet;
use super::{Core, Engine, Managed};
use crate::managed::clock::{Clock, SystemClock};
use crate::managed::logic::ServiceLogic;
use crate::managed::store::{MemoryStore, StateStore};

/// Builds a [`Managed`] adapter; from [`Managed::builder`].
#[must_use]
pub struct Builder<L, S> {
    logic: L,
    store: S,
    settings: Settings,
    clock: Arc<dyn Clock>,
    owner: Option<String>,
}

impl<L, S> fmt::Debug for Builder<L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .field("clock", &self.clock)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl<L: ServiceLogic, S: StateStore> Builder<L, S> {
    /// Uses `store` for the state. Default: a new [`MemoryStore`].
    pub fn store<S2: StateStore>(self, store: S2) -> Builder<L, S2> {
        Builder {
            logic: self.logic,
            store,
            settings: self.settings,
            clock: self.clock,
            owner: self.owner,
        }
    }

    /// What a delete during a running create does. Default: [`DeleteDuringCreate::Halt`].
    pub fn delete_during_create(mut self, choice: DeleteDuringCreate) -> Self {
        self.settings.delete_during_create = choice;
        self
    }

    /// What `last_operation` answers after a delete finished. Default: [`AfterDelete::Succeeded`].
    pub fn after_delete(mut self, choice: AfterDelete) -> Self {
        self.settings.after_delete = choice;
        self
    }

    /// How long tombstones of deleted resources answer polls (and stay listed), before
    /// [`Managed::purge_tombstones`] removes them.
    ///
    /// Usage metering (osb-iam's `UsageReporter`) needs an instance's tombstone until the hour
    /// it was deleted in is collected: it bills that last hour through the tombstone. Keep
    /// tombstones longer than the longest reporter outage you want to survive; a purged
    /// tombstone loses its instance's last hour. IBM takes a month's usage until the 2nd day of
    /// the following month, so 33 days cover every hour IBM still accepts.
    ///
    /// Default: 24 hours.
    pub fn tombstone_retention(mut self, retention: Duration) -> Self {
        self.settings.tombstone_retention = retention;
        self
    }

    /// The `Retry-After` sent while an operation is in progress. Default: 5 seconds.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.settings.retry_after = retry_after;
        self
    }

    /// How long an operation's lease lasts, and how often its owner renews it. A replica that
    /// dies leaves its operations "in progress" for at most `duration`; `renewal` must be well
    /// below `duration` (renewals that keep failing for `duration` lose the operation).
    /// Default: 60 seconds, renewed every 20 seconds.
    ///
    /// # Panics
    ///
    /// When `renewal` is zero or not below `duration`.
    pub fn lease(mut self, duration: Duration, renewal: Duration) -> Self {
        assert!(
            !renewal.is_zero() && renewal < duration,
            "lease renewal must be non-zero and below the lease duration"
        );
        self.settings.lease_duration = duration;
        self.settings.lease_renewal = renewal;
        self
    }

    /// The clock. Default: [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// This replica's id in leases. Default: a random UUID, new for each process.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The adapter.
    pub fn build(self) -> Managed<L, S> {
        let catalog = self.logic.catalog();
        let tasks = Arc::new(TaskSet::default());
        Managed {
            engine: Engine {
                core: Arc::new(Core {
                    logic: self.logic,
                    store: self.store,
                    catalog,
                    settings: self.settings,
                    clock: self.clock,
                    owner: self
                        .owner
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    unreadable: AtomicU64::new(0),
                }),
                tasks: Arc::downgrade(&tasks),
            },
            tasks,
        }
    }
}

impl<L: ServiceLogic> Managed<L, MemoryStore> {
    /// A builder for an adapter over `logic`, with an in-memory store and default settings.
    pub fn builder(logic: L) -> Builder<L, MemoryStore> {
        Builder {
            logic,
            store: MemoryStore::new(),
            settings: Settings::default(),
            clock: Arc::new(SystemClock),
            owner: None,
        }
    }
}
