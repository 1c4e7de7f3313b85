//! [`Dialect`]: what differs between the SQL databases, behind the one generic implementation
//! of the store operations ([`SqlStore`](super::SqlStore)).

use std::future::Future;

use sqlx::{Database, IntoArguments, Pool, Transaction};

use super::{Encoded, Migration};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{ClaimOutcome, OutboxEntry};
use crate::managed::record::Lease;
use crate::managed::store::{CasError, StoreError, Version};

/// One SQL database as the shared store code sees it: its driver, its SQL text, and the few
/// operations whose shape (not just text) differs. Implemented by a marker type per database
/// (`SqliteDialect`, `PostgresDialect`); crate-private.
///
/// Every operation that needs a transaction takes the one [`begin_write`](Self::begin_write)
/// opened, so the caller commits (or drops it, which rolls back).
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The `sqlx` driver.
    type Db: Database<Arguments: IntoArguments<Self::Db>>;

    /// The database's name in messages.
    const NAME: &'static str;
    /// The record statements.
    const SQL: &'static Statements;
    /// The usage outbox statements.
    const OUTBOX: &'static OutboxSql;

    /// How many rows a statement changed (the drivers' results share no trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// Opens the transaction every multi-statement write runs in.
    fn begin_write(
        pool: &Pool<Self::Db>,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, StoreError>> + Send;

    /// Writes `record` at `key` of `table` with a fresh version: only if the key is absent
    /// (`expected` `None`) or its row is at version `expected`; [`CasError::Conflict`]
    /// otherwise. How the version is drawn is the dialect's.
    fn save(
        pool: &Pool<Self::Db>,
        table: &'static Table,
        key: &[&str],
        expected: Option<i64>,
        record: Encoded,
    ) -> impl Future<Output = Result<Version, CasError>> + Send;

    /// Adds the outbox entries whose key is new; returns how many.
    fn insert_entries(
        tx: &mut Transaction<'static, Self::Db>,
        entries: &[OutboxEntry],
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Takes one collection claim, or tells who has it.
    fn claim(
        tx: &mut Transaction<'static, Self::Db>,
        key: &str,
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> impl Future<Output = Result<ClaimOutcome, sqlx::Error>> + Send;

    /// Marks the owner's claims done.
    fn mark_done(
        tx: &mut Transaction<'static, Self::Db>,
        keys: &[String],
        owner: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The statements for one record table; the key columns are the first parameters.
pub(crate) struct Table {
    /// `version, record` of one key.
    pub(crate) load: &'static str,
    /// Key, then whatever the dialect's `save` binds; writes only if the key is absent.
    pub(crate) insert: &'static str,
    /// Key, then whatever the dialect's `save` binds, the expected version last.
    pub(crate) update: &'static str,
    /// Key, then the expected version.
    pub(crate) delete: &'static str,
    /// Every row whose `retain_until` is at or before parameter 1.
    pub(crate) purge: &'static str,
}

/// One database's SQL text for the records (see [`SqlStore`](super::SqlStore)).
pub(crate) struct Statements {
    /// The embedded migrations, in order.
    pub(crate) migrations: &'static [Migration],
    /// Records an applied migration: version, description.
    pub(crate) record_migration: &'static str,
    /// The instance table, keyed by `instance_id`.
    pub(crate) instances: Table,
    /// The binding table, keyed by `instance_id, binding_id`.
    pub(crate) bindings: Table,
    /// `instance_id, version, record` of the first page: `LIMIT` is parameter 1.
    pub(crate) list_instances: &'static str,
    /// The same after an id (parameter 1), `LIMIT` parameter 2.
    pub(crate) list_instances_after: &'static str,
    /// `binding_id, version, record` of one instance's bindings, by `binding_id`.
    pub(crate) list_bindings: &'static str,
}

/// One database's SQL text for the usage outbox; the parameters are listed per statement.
pub(crate) struct OutboxSql {
    /// Leases due rows (now, lease end, `LIMIT`), returning key, payload, enqueued-at and
    /// attempts (as a `BIGINT`).
    pub(crate) lease_due: &'static str,
    /// Removes a delivered entry (key).
    pub(crate) delivered: &'static str,
    /// Marks an entry rejected (key, now, reason).
    pub(crate) rejected: &'static str,
    /// Counts a failed attempt (key, next try).
    pub(crate) retry: &'static str,
    /// A page of rejected entries (after key, `LIMIT`).
    pub(crate) list_rejected: &'static str,
    /// Removes one rejected entry (key).
    pub(crate) remove_rejected: &'static str,
    /// Pending count, oldest pending time, rejected count.
    pub(crate) stats: &'static str,
    /// Removes claims retained until parameter 1 or earlier.
    pub(crate) purge_collections: &'static str,
    /// One cursor's value (name).
    pub(crate) load_cursor: &'static str,
    /// Moves a cursor forward, never back (name, value), returning the value now stored.
    pub(crate) advance_cursor: &'static str,
}
