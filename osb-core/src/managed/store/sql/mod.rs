//! What the SQL stores share: the record encoding, query timeouts, error mapping, the
//! embedded migrations, and the [`StateStore`](super::StateStore) and
//! [`UsageOutbox`](crate::managed::UsageOutbox) operations themselves, written once as generic
//! code over a [`Dialect`] ([`SqlStore`]). What really differs between the databases (the SQL
//! text, how a write transaction starts, how a write draws its version, batch inserts, claims)
//! is the dialect's, in each store's `*_dialect.rs`.
//!
//! Both stores keep one row per record: the key columns, the compare-and-set `version`, the
//! record as JSON text, and `retain_until` (copied out of the record so that expired tombstones
//! can be purged by an indexed `DELETE` without parsing JSON).

mod dialect;
mod outbox;
mod records;

pub(super) use dialect::{Dialect, OutboxSql, Statements, Table};
pub(super) use records::SqlStore;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, Version, Versioned};
use crate::managed::record::Lifecycle;

/// Default for every query's time limit (connection checkout included).
pub(super) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One embedded, versioned schema migration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Migration {
    /// Applied in increasing order; recorded in `osb_schema_migrations`.
    pub(super) version: i64,
    /// A short name, recorded beside the version.
    pub(super) description: &'static str,
    /// The statements.
    pub(super) sql: &'static str,
}

/// Logs when the database holds migrations this binary does not know (a newer replica ran
/// them): the broker carries on, since migrations only ever add to the schema.
pub(super) fn warn_if_newer(database: &'static str, applied: &[i64], known: &[Migration]) {
    let latest = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = applied.iter().filter(|v| **v > latest).max() {
        tracing::warn!(
            database,
            version = newer,
            "the schema is newer than this broker"
        );
    }
}

/// The table both stores use to remember applied migrations.
pub(super) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS osb_schema_migrations (
    version     BIGINT PRIMARY KEY,
    description TEXT   NOT NULL
)";

/// A stored attempt count as a number of attempts.
pub(super) fn attempts(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// A record as stored: its JSON text and its retention time.
pub(super) struct Encoded {
    pub(super) json: String,
    pub(super) retain_until: Option<i64>,
}

/// Serialises a record for a write, refusing one that [`decode`] could not read back (the
/// `StateStore` rule "read back what was written"): JSON text nested deeper than serde_json's
/// recursion limit is written without complaint but never parsed again, and such a row would
/// fail every later read of its key.
pub(super) fn encode<T: Serialize + DeserializeOwned>(
    record: &T,
    lifecycle: &Lifecycle,
) -> Result<Encoded, StoreError> {
    let json = serde_json::to_string(record)
        .map_err(|e| StoreError::new("cannot serialise the record").with_source(e))?;
    if let Err(e) = serde_json::from_str::<T>(&json) {
        return Err(
            StoreError::new("refusing a record that could not be read back").with_source(e),
        );
    }
    Ok(Encoded {
        json,
        retain_until: lifecycle.retain_until.map(|t| t.as_unix_millis()),
    })
}

/// Turns a stored row back into a record.
pub(super) fn decode<T: DeserializeOwned>(
    version: i64,
    json: &str,
) -> Result<Versioned<T>, StoreError> {
    let version = u64::try_from(version)
        .map_err(|_| StoreError::new(format!("stored record has a negative version {version}")))?;
    let record = serde_json::from_str(json)
        .map_err(|e| StoreError::new("cannot parse a stored record").with_source(e))?;
    Ok(Versioned::new(Version::new(version), record))
}

/// Turns listed rows back into records, each row on its own: one that cannot be read fails
/// only itself (see [`Listed`](super::Listed)).
pub(super) fn decode_rows<T: DeserializeOwned>(
    rows: Vec<(String, i64, String)>,
) -> Vec<super::Listed<T>> {
    rows.into_iter()
        .map(|(id, version, json)| (id, decode(version, &json)))
        .collect()
}

/// The column value for an expected version; `None` when the number cannot be one the store
/// issued (it then matches no row, which is a conflict).
pub(super) fn expected_column(expected: Version) -> Option<i64> {
    i64::try_from(expected.get()).ok()
}

/// A stored version column as a [`Version`].
pub(super) fn version_from_column(version: i64) -> Result<Version, StoreError> {
    u64::try_from(version)
        .map(Version::new)
        .map_err(|_| StoreError::new(format!("database issued a negative version {version}")))
}

/// A page size as a `LIMIT` value.
pub(super) fn limit_column(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Runs one store operation under `limit`: a database that is down or slow yields a
/// [`StoreError`] instead of a hang. Dropping the future rolls back an open transaction and
/// returns (or closes) its connection, so nothing half-written stays behind.
pub(super) async fn timed<T, E>(
    database: &'static str,
    limit: Duration,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::new(format!(
            "{database} did not answer within {} ms",
            limit.as_millis()
        ))
        .into()),
    }
}

/// Wraps a driver error. The message names the database and the step, never the data.
pub(super) fn failed(
    database: &'static str,
    step: &'static str,
) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| StoreError::new(format!("{database} {step} failed")).with_source(e)
}
