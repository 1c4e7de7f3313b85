//! `StateStore`: where the [`Managed`](super::Managed) adapter keeps instances, bindings and their
//! operations, with compare-and-set on every write.
//!
//! The guarantees a store must give are on [`StateStore`].

mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "clap")]
pub use open::StoreUrlParser;
pub use open::{AnyStore, InvalidStoreUrl, StoreUrl};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::record::{BindingRecord, InstanceRecord};
use crate::error::BoxError;

/// A record's version: changes on every successful write, never reused for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u64);

impl Version {
    /// A version from its number (stores create them; the adapter only compares them).
    pub const fn new(version: u64) -> Self {
        Self(version)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A record with the version it was loaded at.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Versioned<T> {
    /// The version to pass as `expected` to the next write.
    pub version: Version,
    /// The record.
    pub record: T,
}

impl<T> Versioned<T> {
    /// A record at a version.
    pub fn new(version: Version, record: T) -> Self {
        Self { version, record }
    }
}

/// One row of a listing: the key, and its record or why the stored record could not be read.
///
/// A row that cannot be read (corrupt JSON, a record this broker's decoder refuses) fails only
/// itself: a caller scanning the store reports it with its key and carries on with the others,
/// and a page stays as long as the rows the store found, so paging by the last key still works.
pub type Listed<T> = (String, Result<Versioned<T>, StoreError>);

/// The store failed (unreachable, timed out, corrupt data). Answered with a 500; the cause is
/// logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("state store failed: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl StoreError {
    /// A failure described by `message` (no secrets: it is logged).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }
}

/// Why a compare-and-set write did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CasError {
    /// The record's version is not the expected one (or it exists when absence was expected, or
    /// is absent when a version was expected). Reload and decide again.
    #[error("the record changed since it was read")]
    Conflict,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Instance and binding records with compare-and-set writes: where the
/// [`Managed`](super::Managed) adapter keeps its state.
///
/// # What a store must guarantee
///
/// The adapter holds no authoritative state in memory: several replicas may share one store, and
/// every rule of the spec (one create per id, 409 / 422 answers under races, leases) follows from
/// these guarantees alone. A store is correct when:
///
/// 1. **Keys.** An instance record is keyed by its instance id; a binding record by
///    `(instance_id, binding_id)`. Ids are arbitrary non-empty strings (IBM Cloud sends CRNs with
///    `:` and `/`); compare them byte for byte.
/// 2. **Linearisable compare-and-set per key.** `save_*` with `expected = None` succeeds only if
///    no record exists for the key; with `expected = Some(v)` only if the stored record's version
///    is `v`. Check and write are one atomic step: of two concurrent writers that read the same
///    version, exactly one succeeds and the other gets [`CasError::Conflict`]. (SQL: a conditional
///    `INSERT … ON CONFLICT DO NOTHING` / `UPDATE … WHERE version = $v` checking the row count, in
///    any isolation level, since each statement touches one row.) No cross-key transaction is
///    ever needed.
/// 3. **Fresh versions.** Each successful write returns a new [`Version`] that was never used for
///    that key before, even after the record was removed and created again (a global sequence
///    or a per-key counter that survives removal), so a stale writer can never succeed.
/// 4. **Read your writes.** A load after a successful save (on any replica) returns that save or
///    a later one. Loads are plain reads: they need no lock or write transaction.
/// 5. **Durability** as the deployment needs: a save that returned `Ok` survives a restart for a
///    durable store. A failed save leaves the old record whole.
/// 6. **Read back what was written.** A save that returns `Ok` stored a record the store can
///    load again, equal to the one given; a store that encodes records (as JSON text, say)
///    refuses with [`CasError::Store`] a record it could not decode, rather than keep a row that
///    would fail every later read. A row that cannot be read anyway (written by hand, or by an
///    older broker) fails the loads of its key, and only its own row of a listing
///    ([`Listed`]).
/// 7. **Retention.** Tombstones are kept (loaded and listed) until
///    [`StateStore::purge_expired`] removes them; it removes records whose
///    `lifecycle.retain_until` time has passed, and nothing else; it may run
///    concurrently with other calls and must honour the same compare-and-set rule (a record
///    rewritten after the purge read it is kept).
///
/// Errors of the store itself ([`StoreError`]) become a 500 with a generic description; the cause
/// goes to `tracing`.
///
/// Leases, tombstones and IBM Cloud's enabled flag are fields of the records, so they need no
/// extra methods: renewing a lease or disabling an instance is a compare-and-set like any other.
/// Future record families (a usage-metering outbox) get their own trait, implemented by the same
/// store types.
///
/// The trait is object-safe: `Arc<dyn StateStore>` is a store too.
///
/// # Example
///
/// ```
/// use osb_core::managed::{CasError, MemoryStore, StateStore};
/// # use osb_core::managed::{InstanceRecord, Lease, OperationKind, OperationRecord, Timestamp};
/// # use osb_core::ProvisionRequest;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let now = Timestamp::from_unix_millis(0);
/// # let op = OperationRecord::start(OperationKind::Provision, false, now, None, Lease::new("me", now));
/// # let record = InstanceRecord::new(ProvisionRequest::new("svc", "plan"), op);
/// let store = MemoryStore::new();
/// let v1 = store.save_instance("i-1", None, &record).await?;
/// // A second create of the same id loses.
/// assert!(matches!(store.save_instance("i-1", None, &record).await, Err(CasError::Conflict)));
/// // Writing at the current version wins, and only once.
/// let v2 = store.save_instance("i-1", Some(v1), &record).await?;
/// assert!(matches!(store.save_instance("i-1", Some(v1), &record).await, Err(CasError::Conflict)));
/// assert_eq!(store.load_instance("i-1").await?.unwrap().version, v2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug + 'static {
    /// The instance record, if any (tombstones included).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError>;

    /// Writes the instance record if its version is `expected` (`None`: if there is none).
    ///
    /// # Errors
    ///
    /// [`CasError::Conflict`] when the version differs; [`CasError::Store`] when the store fails.
    async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError>;

    /// Removes the instance record if its version is `expected`.
    ///
    /// # Errors
    ///
    /// [`CasError::Conflict`] when the version differs or the record is absent.
    async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError>;

    /// Instance records in id order, starting after `after`, at most `limit` of them: a scan
    /// for start-up recovery and for collectors (e.g. usage metering).
    ///
    /// Tombstones are listed too, until [`purge_expired`](Self::purge_expired) removes them:
    /// usage metering finds instances deleted during an hour it has not collected yet through
    /// them, so a store must not hide them.
    ///
    /// A stored record that cannot be read is listed with its error in its row ([`Listed`]),
    /// never skipped and never failing the page.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed<InstanceRecord>>, StoreError>;

    /// The binding record, if any (tombstones included).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError>;

    /// Writes the binding record if its version is `expected` (`None`: if there is none).
    ///
    /// # Errors
    ///
    /// [`CasError::Conflict`] when the version differs; [`CasError::Store`] when the store fails.
    async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError>;

    /// Removes the binding record if its version is `expected`.
    ///
    /// # Errors
    ///
    /// [`CasError::Conflict`] when the version differs or the record is absent.
    async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError>;

    /// The binding records of an instance, in binding-id order; a stored record that cannot be
    /// read is listed with its error in its row ([`Listed`]).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Listed<BindingRecord>>, StoreError>;

    /// Removes every record whose `lifecycle.retain_until` is at or before `now` (expired
    /// tombstones). Returns how many were removed.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError>;
}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: StateStore + ?Sized> StateStore for $ty {
            async fn load_instance(&self, instance_id: &str) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
                (**self).load_instance(instance_id).await
            }
            async fn save_instance(&self, instance_id: &str, expected: Option<Version>, record: &InstanceRecord) -> Result<Version, CasError> {
                (**self).save_instance(instance_id, expected, record).await
            }
            async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError> {
                (**self).remove_instance(instance_id, expected).await
            }
            async fn list_instances(&self, after: Option<&str>, limit: usize) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
                (**self).list_instances(after, limit).await
            }
            async fn load_binding(&self, instance_id: &str, binding_id: &str) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
                (**self).load_binding(instance_id, binding_id).await
            }
            async fn save_binding(&self, instance_id: &str, binding_id: &str, expected: Option<Version>, record: &BindingRecord) -> Result<Version, CasError> {
                (**self).save_binding(instance_id, binding_id, expected, record).await
            }
            async fn remove_binding(&self, instance_id: &str, binding_id: &str, expected: Version) -> Result<(), CasError> {
                (**self).remove_binding(instance_id, binding_id, expected).await
            }
            async fn list_bindings(&self, instance_id: &str) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
                (**self).list_bindings(instance_id).await
            }
            async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
                (**self).purge_expired(now).await
            }
        }
    )*};
}

forward_store!(std::sync::Arc<S>, Box<S>);
