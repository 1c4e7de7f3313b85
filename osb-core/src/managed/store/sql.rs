//! What the SQL stores share: the record encoding, query timeouts, error mapping, the
//! embedded migrations, and the [`StateStore`](super::StateStore) and
//! [`UsageOutbox`](crate::managed::UsageOutbox) code itself ([`state_store_impl!`] and
//! [`usage_outbox_impl!`]), written once over the SQL text of a [`Dialect`] / [`OutboxSql`].
//! What really differs (how a write draws its version, batch inserts, claims) stays in each
//! store's file.
//!
//! Both stores keep one row per record: the key columns, the compare-and-set `version`, the
//! record as JSON text, and `retain_until` (copied out of the record so that expired tombstones
//! can be purged by an indexed `DELETE` without parsing JSON).

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

/// The statements for one record table; the key columns are the first parameters.
pub(super) struct Table {
    /// `version, record` of one key.
    pub(super) load: &'static str,
    /// Key, then whatever the dialect's `save` binds; writes only if the key is absent.
    pub(super) insert: &'static str,
    /// Key, then whatever the dialect's `save` binds, the expected version last.
    pub(super) update: &'static str,
    /// Key, then the expected version.
    pub(super) delete: &'static str,
    /// Every row whose `retain_until` is at or before parameter 1.
    pub(super) purge: &'static str,
}

/// One database's SQL text for the code [`state_store_impl!`] generates.
pub(super) struct Dialect {
    /// The database's name in messages.
    pub(super) name: &'static str,
    /// The embedded migrations, in order.
    pub(super) migrations: &'static [Migration],
    /// Records an applied migration: version, description.
    pub(super) record_migration: &'static str,
    /// The instance table, keyed by `instance_id`.
    pub(super) instances: Table,
    /// The binding table, keyed by `instance_id, binding_id`.
    pub(super) bindings: Table,
    /// `instance_id, version, record` of the first page: `LIMIT` is parameter 1.
    pub(super) list_instances: &'static str,
    /// The same after an id (parameter 1), `LIMIT` parameter 2.
    pub(super) list_instances_after: &'static str,
    /// `binding_id, version, record` of one instance's bindings, by `binding_id`.
    pub(super) list_bindings: &'static str,
}

/// One database's SQL text for the code [`usage_outbox_impl!`] generates; the parameters are
/// listed per statement.
pub(super) struct OutboxSql {
    /// The database's name in messages.
    pub(super) name: &'static str,
    /// Leases due rows (now, lease end, `LIMIT`), returning key, payload, enqueued-at and
    /// attempts.
    pub(super) lease_due: &'static str,
    /// Removes a delivered entry (key).
    pub(super) delivered: &'static str,
    /// Marks an entry rejected (key, now, reason).
    pub(super) rejected: &'static str,
    /// Counts a failed attempt (key, next try).
    pub(super) retry: &'static str,
    /// A page of rejected entries (after key, `LIMIT`).
    pub(super) list_rejected: &'static str,
    /// Removes one rejected entry (key).
    pub(super) remove_rejected: &'static str,
    /// Pending count, oldest pending time, rejected count.
    pub(super) stats: &'static str,
    /// Removes claims retained until parameter 1 or earlier.
    pub(super) purge_collections: &'static str,
    /// One cursor's value (name).
    pub(super) load_cursor: &'static str,
    /// Moves a cursor forward, never back (name, value), returning the value now stored.
    pub(super) advance_cursor: &'static str,
}

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

/// Implements [`StateStore`](super::StateStore) for `$store`, a struct with fields
/// `pool` (the `sqlx` pool of `$database`) and `query_timeout`, from the statements of the
/// [`Dialect`] `$sql`. Also generates `apply_migrations`, which runs the migrations a
/// transaction has not seen yet (the caller commits).
///
/// The store provides `save(&self, &Table, key, Option<Version>, Encoded) -> Result<Version,
/// CasError>` itself: how a write draws a fresh version is what differs between databases.
///
/// Every removal and purge is one conditional statement, and the condition is checked when the
/// row is written (under SQLite's write lock; PostgreSQL's `READ COMMITTED` re-checks it on a
/// row another writer just changed): a record rewritten after we were called is kept.
macro_rules! state_store_impl {
    ($store:ty, $database:ty, $sql:expr) => {
        // In a block so the imports stay out of the store's module.
        const _: () = {
            use $crate::managed::clock::Timestamp;
            use $crate::managed::record::{BindingRecord, InstanceRecord};
            use $crate::managed::store::sql::{self, Table, failed, timed};
            use $crate::managed::store::{
                CasError, Listed, StateStore, StoreError, Version, Versioned,
            };

            impl $store {
                async fn apply_migrations(
                    tx: &mut ::sqlx::Transaction<'static, $database>,
                ) -> Result<(), StoreError> {
                    let db = $sql.name;
                    let step = failed(db, "migration");
                    ::sqlx::query(sql::MIGRATIONS_TABLE)
                        .execute(&mut **tx)
                        .await
                        .map_err(&step)?;
                    let applied: Vec<i64> =
                        ::sqlx::query_scalar("SELECT version FROM osb_schema_migrations")
                            .fetch_all(&mut **tx)
                            .await
                            .map_err(&step)?;
                    let pending = $sql.migrations.iter();
                    for migration in pending.filter(|m| !applied.contains(&m.version)) {
                        ::sqlx::raw_sql(migration.sql)
                            .execute(&mut **tx)
                            .await
                            .map_err(&step)?;
                        ::sqlx::query($sql.record_migration)
                            .bind(migration.version)
                            .bind(migration.description)
                            .execute(&mut **tx)
                            .await
                            .map_err(&step)?;
                        ::tracing::info!(
                            version = migration.version,
                            "applied {db} schema migration"
                        );
                    }
                    sql::warn_if_newer(db, &applied, $sql.migrations);
                    Ok(())
                }

                async fn load<T: ::serde::de::DeserializeOwned>(
                    &self,
                    table: &Table,
                    key: &[&str],
                ) -> Result<Option<Versioned<T>>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let mut query = ::sqlx::query_as::<_, (i64, String)>(table.load);
                        for part in key {
                            query = query.bind(*part);
                        }
                        let row = query
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(failed($sql.name, "read"))?;
                        row.map(|(version, json)| sql::decode(version, &json))
                            .transpose()
                    })
                    .await
                }

                async fn remove(
                    &self,
                    table: &Table,
                    key: &[&str],
                    expected: Version,
                ) -> Result<(), CasError> {
                    let Some(expected) = sql::expected_column(expected) else {
                        return Err(CasError::Conflict);
                    };
                    timed($sql.name, self.query_timeout, async {
                        let mut query = ::sqlx::query(table.delete);
                        for part in key {
                            query = query.bind(*part);
                        }
                        let removed = query
                            .bind(expected)
                            .execute(&self.pool)
                            .await
                            .map_err(failed($sql.name, "delete"))?
                            .rows_affected();
                        if removed == 1 {
                            Ok(())
                        } else {
                            Err(CasError::Conflict)
                        }
                    })
                    .await
                }
            }

            #[::async_trait::async_trait]
            impl StateStore for $store {
                async fn load_instance(
                    &self,
                    instance_id: &str,
                ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
                    self.load(&$sql.instances, &[instance_id]).await
                }

                async fn save_instance(
                    &self,
                    instance_id: &str,
                    expected: Option<Version>,
                    record: &InstanceRecord,
                ) -> Result<Version, CasError> {
                    let encoded = sql::encode(record, &record.lifecycle)?;
                    self.save(&$sql.instances, &[instance_id], expected, encoded)
                        .await
                }

                async fn remove_instance(
                    &self,
                    instance_id: &str,
                    expected: Version,
                ) -> Result<(), CasError> {
                    self.remove(&$sql.instances, &[instance_id], expected).await
                }

                async fn list_instances(
                    &self,
                    after: Option<&str>,
                    limit: usize,
                ) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let query = match after {
                            Some(after) => ::sqlx::query_as::<_, (String, i64, String)>(
                                $sql.list_instances_after,
                            )
                            .bind(after),
                            None => {
                                ::sqlx::query_as::<_, (String, i64, String)>($sql.list_instances)
                            }
                        };
                        let rows = query
                            .bind(sql::limit_column(limit))
                            .fetch_all(&self.pool)
                            .await
                            .map_err(failed($sql.name, "list"))?;
                        Ok(sql::decode_rows(rows))
                    })
                    .await
                }

                async fn load_binding(
                    &self,
                    instance_id: &str,
                    binding_id: &str,
                ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
                    self.load(&$sql.bindings, &[instance_id, binding_id]).await
                }

                async fn save_binding(
                    &self,
                    instance_id: &str,
                    binding_id: &str,
                    expected: Option<Version>,
                    record: &BindingRecord,
                ) -> Result<Version, CasError> {
                    let encoded = sql::encode(record, &record.lifecycle)?;
                    self.save(
                        &$sql.bindings,
                        &[instance_id, binding_id],
                        expected,
                        encoded,
                    )
                    .await
                }

                async fn remove_binding(
                    &self,
                    instance_id: &str,
                    binding_id: &str,
                    expected: Version,
                ) -> Result<(), CasError> {
                    self.remove(&$sql.bindings, &[instance_id, binding_id], expected)
                        .await
                }

                async fn list_bindings(
                    &self,
                    instance_id: &str,
                ) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let rows = ::sqlx::query_as::<_, (String, i64, String)>($sql.list_bindings)
                            .bind(instance_id)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(failed($sql.name, "list"))?;
                        Ok(sql::decode_rows(rows))
                    })
                    .await
                }

                async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let mut removed = 0;
                        for table in [&$sql.instances, &$sql.bindings] {
                            removed += ::sqlx::query(table.purge)
                                .bind(now.as_unix_millis())
                                .execute(&self.pool)
                                .await
                                .map_err(failed($sql.name, "purge"))?
                                .rows_affected();
                        }
                        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
                    })
                    .await
                }
            }
        };
    };
}
pub(super) use state_store_impl;

/// Implements [`UsageOutbox`](crate::managed::UsageOutbox) for `$store` (fields `pool` and
/// `query_timeout`, and `write_transaction()` opening the transaction every multi-statement
/// write runs in) from the statements of the [`OutboxSql`] `$sql`. `$attempts` is the Rust
/// type of the `attempts` column.
///
/// What differs between the databases beyond the text is passed in as functions taking the
/// open transaction: `$insert(tx, entries) -> Result<usize, StoreError>` adds entries whose
/// key is new; `$claim(tx, key, lease, now, retain_until) -> Result<ClaimOutcome, sqlx::Error>`
/// takes one collection claim (or tells who has it); `$finish(tx, keys, owner) -> Result<(),
/// sqlx::Error>` marks the owner's claims done.
macro_rules! usage_outbox_impl {
    (
        store: $store:ty,
        sql: $sql:expr,
        attempts: $attempts:ty,
        insert: $insert:path,
        claim: $claim:path,
        finish: $finish:path $(,)?
    ) => {
        // In a block so the imports stay out of the store's module.
        const _: () = {
            use $crate::managed::clock::Timestamp;
            use $crate::managed::outbox::{
                ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement,
                UsageOutbox,
            };
            use $crate::managed::record::Lease;
            use $crate::managed::store::StoreError;
            use $crate::managed::store::sql::{attempts, failed, limit_column, timed};

            #[::async_trait::async_trait]
            impl UsageOutbox for $store {
                async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let mut tx = self.write_transaction().await?;
                        let added = $insert(&mut tx, entries).await?;
                        tx.commit()
                            .await
                            .map_err(failed($sql.name, "outbox commit"))?;
                        Ok(added)
                    })
                    .await
                }

                async fn lease_due(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: usize,
                ) -> Result<Vec<PendingEntry>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let rows =
                            ::sqlx::query_as::<_, (String, String, i64, $attempts)>($sql.lease_due)
                                .bind(now.as_unix_millis())
                                .bind(lease_until.as_unix_millis())
                                .bind(limit_column(limit))
                                .fetch_all(&self.pool)
                                .await
                                .map_err(failed($sql.name, "outbox lease"))?;
                        let mut entries: Vec<PendingEntry> = rows
                            .into_iter()
                            .map(|(key, payload, enqueued_at, tries)| PendingEntry {
                                key,
                                payload,
                                enqueued_at: Timestamp::from_unix_millis(enqueued_at),
                                attempts: attempts(i64::from(tries)),
                            })
                            .collect();
                        // `RETURNING` promises no order.
                        entries
                            .sort_by(|a, b| (a.enqueued_at, &a.key).cmp(&(b.enqueued_at, &b.key)));
                        Ok(entries)
                    })
                    .await
                }

                async fn settle(
                    &self,
                    settlements: &[(String, Settlement)],
                    now: Timestamp,
                ) -> Result<(), StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let step = failed($sql.name, "outbox settle");
                        let mut tx = self.write_transaction().await?;
                        for (key, settlement) in settlements {
                            let query = match settlement {
                                Settlement::Delivered => ::sqlx::query($sql.delivered).bind(key),
                                Settlement::Rejected { reason } => ::sqlx::query($sql.rejected)
                                    .bind(key)
                                    .bind(now.as_unix_millis())
                                    .bind(reason),
                                Settlement::Retry { not_before } => ::sqlx::query($sql.retry)
                                    .bind(key)
                                    .bind(not_before.as_unix_millis()),
                            };
                            query.execute(&mut *tx).await.map_err(&step)?;
                        }
                        tx.commit().await.map_err(&step)
                    })
                    .await
                }

                async fn rejected(
                    &self,
                    after: Option<&str>,
                    limit: usize,
                ) -> Result<Vec<RejectedEntry>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let rows = ::sqlx::query_as::<_, (String, String, i64, i64, String)>(
                            $sql.list_rejected,
                        )
                        .bind(after.unwrap_or(""))
                        .bind(limit_column(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(failed($sql.name, "outbox list"))?;
                        Ok(rows
                            .into_iter()
                            .map(
                                |(key, payload, enqueued_at, rejected_at, reason)| RejectedEntry {
                                    key,
                                    payload,
                                    enqueued_at: Timestamp::from_unix_millis(enqueued_at),
                                    rejected_at: Timestamp::from_unix_millis(rejected_at),
                                    reason,
                                },
                            )
                            .collect())
                    })
                    .await
                }

                async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let removed = ::sqlx::query($sql.remove_rejected)
                            .bind(key)
                            .execute(&self.pool)
                            .await
                            .map_err(failed($sql.name, "outbox delete"))?
                            .rows_affected();
                        Ok(removed == 1)
                    })
                    .await
                }

                async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let (pending, oldest, rejected) =
                            ::sqlx::query_as::<_, (i64, Option<i64>, i64)>($sql.stats)
                                .fetch_one(&self.pool)
                                .await
                                .map_err(failed($sql.name, "outbox count"))?;
                        Ok(OutboxStats {
                            pending: u64::try_from(pending).unwrap_or(0),
                            oldest_pending: oldest.map(Timestamp::from_unix_millis),
                            rejected: u64::try_from(rejected).unwrap_or(0),
                        })
                    })
                    .await
                }

                async fn claim_collections(
                    &self,
                    keys: &[String],
                    lease: &Lease,
                    now: Timestamp,
                    retain_until: Timestamp,
                ) -> Result<Vec<ClaimOutcome>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let step = failed($sql.name, "claim");
                        let mut tx = self.write_transaction().await?;
                        let mut outcomes = Vec::with_capacity(keys.len());
                        for key in keys {
                            let outcome = $claim(&mut tx, key, lease, now, retain_until)
                                .await
                                .map_err(&step)?;
                            outcomes.push(outcome);
                        }
                        tx.commit().await.map_err(&step)?;
                        Ok(outcomes)
                    })
                    .await
                }

                async fn finish_collections(
                    &self,
                    keys: &[String],
                    owner: &str,
                    entries: &[OutboxEntry],
                ) -> Result<usize, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let step = failed($sql.name, "claim finish");
                        let mut tx = self.write_transaction().await?;
                        let added = $insert(&mut tx, entries).await?;
                        $finish(&mut tx, keys, owner).await.map_err(&step)?;
                        tx.commit().await.map_err(&step)?;
                        Ok(added)
                    })
                    .await
                }

                async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let removed = ::sqlx::query($sql.purge_collections)
                            .bind(now.as_unix_millis())
                            .execute(&self.pool)
                            .await
                            .map_err(failed($sql.name, "claim purge"))?
                            .rows_affected();
                        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
                    })
                    .await
                }

                async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let value: Option<i64> = ::sqlx::query_scalar($sql.load_cursor)
                            .bind(name)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(failed($sql.name, "cursor read"))?;
                        Ok(value.map(Timestamp::from_unix_millis))
                    })
                    .await
                }

                async fn advance_cursor(
                    &self,
                    name: &str,
                    to: Timestamp,
                ) -> Result<Timestamp, StoreError> {
                    timed($sql.name, self.query_timeout, async {
                        let value: i64 = ::sqlx::query_scalar($sql.advance_cursor)
                            .bind(name)
                            .bind(to.as_unix_millis())
                            .fetch_one(&self.pool)
                            .await
                            .map_err(failed($sql.name, "cursor write"))?;
                        Ok(Timestamp::from_unix_millis(value))
                    })
                    .await
                }
            }
        };
    };
}
pub(super) use usage_outbox_impl;
