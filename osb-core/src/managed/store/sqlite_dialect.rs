//! [`SqliteDialect`]: what SQLite does its own way, for the store code shared with PostgreSQL
//! ([`SqlStore`](super::sql::SqlStore)).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction (SQLite's single writer), so the
//! compare-and-set, insert-if-absent, lease and claim rules hold across processes opening the
//! same file.

use std::time::Duration;

use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Pool, Sqlite, Transaction};

use super::faults::is_busy;
use super::sql::{self, Dialect, Encoded, Migration, OutboxSql, Statements, Table, failed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{ClaimOutcome, OutboxEntry};
use crate::managed::record::Lease;
use crate::managed::store::{CasError, StoreError, Version};

/// SQLite, for [`SqlStore`](super::sql::SqlStore).
#[derive(Debug, Clone, Copy)]
pub(super) struct SqliteDialect;

const DB: &str = "SQLite";

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "records",
        sql: include_str!("../../../migrations/sqlite/0001_records.sql"),
    },
    Migration {
        version: 2,
        description: "usage outbox",
        sql: include_str!("../../../migrations/sqlite/0002_usage_outbox.sql"),
    },
];

/// Draws a fresh version for a write (one row, one writer at a time).
pub(super) const DRAW_VERSION: &str =
    "UPDATE osb_record_versions SET value = value + 1 WHERE id = 1 RETURNING value";

/// The record statements.
const SQL: Statements = Statements {
    migrations: MIGRATIONS,
    record_migration: "INSERT INTO osb_schema_migrations (version, description) VALUES (?1, ?2)",
    instances: Table {
        load: "SELECT version, record FROM osb_instances WHERE instance_id = ?1",
        insert: "INSERT INTO osb_instances (instance_id, version, retain_until, record) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        update: "UPDATE osb_instances SET version = ?2, retain_until = ?3, record = ?4 \
                 WHERE instance_id = ?1 AND version = ?5",
        delete: "DELETE FROM osb_instances WHERE instance_id = ?1 AND version = ?2",
        purge: "DELETE FROM osb_instances WHERE retain_until <= ?1",
    },
    bindings: Table {
        load: "SELECT version, record FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2",
        insert: "INSERT INTO osb_bindings (instance_id, binding_id, version, retain_until, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        update: "UPDATE osb_bindings SET version = ?3, retain_until = ?4, record = ?5 \
                 WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?6",
        delete: "DELETE FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?3",
        purge: "DELETE FROM osb_bindings WHERE retain_until <= ?1",
    },
    list_instances: "SELECT instance_id, version, record FROM osb_instances \
                     ORDER BY instance_id LIMIT ?1",
    list_instances_after: "SELECT instance_id, version, record FROM osb_instances \
                           WHERE instance_id > ?1 ORDER BY instance_id LIMIT ?2",
    list_bindings: "SELECT binding_id, version, record FROM osb_bindings \
                    WHERE instance_id = ?1 ORDER BY binding_id",
};

const OUTBOX: OutboxSql = OutboxSql {
    // One statement: the pick and the lease happen under the write lock together.
    lease_due: "UPDATE osb_usage_outbox SET not_before = ?2 WHERE record_key IN ( \
                    SELECT record_key FROM osb_usage_outbox \
                    WHERE rejected_at IS NULL AND not_before <= ?1 \
                    ORDER BY enqueued_at, record_key LIMIT ?3) \
                RETURNING record_key, payload, enqueued_at, attempts",
    delivered: "DELETE FROM osb_usage_outbox WHERE record_key = ?1 AND rejected_at IS NULL",
    rejected: "UPDATE osb_usage_outbox SET rejected_at = ?2, reason = ?3 \
               WHERE record_key = ?1 AND rejected_at IS NULL",
    retry: "UPDATE osb_usage_outbox SET attempts = attempts + 1, not_before = ?2 \
            WHERE record_key = ?1 AND rejected_at IS NULL",
    list_rejected: "SELECT record_key, payload, enqueued_at, rejected_at, COALESCE(reason, '') \
                    FROM osb_usage_outbox WHERE rejected_at IS NOT NULL AND record_key > ?1 \
                    ORDER BY record_key LIMIT ?2",
    remove_rejected: "DELETE FROM osb_usage_outbox \
                      WHERE record_key = ?1 AND rejected_at IS NOT NULL",
    stats: "SELECT \
              (SELECT COUNT(*) FROM osb_usage_outbox WHERE rejected_at IS NULL), \
              (SELECT MIN(enqueued_at) FROM osb_usage_outbox WHERE rejected_at IS NULL), \
              (SELECT COUNT(*) FROM osb_usage_outbox WHERE rejected_at IS NOT NULL)",
    purge_collections: "DELETE FROM osb_usage_collections WHERE retain_until <= ?1",
    load_cursor: "SELECT value FROM osb_usage_cursors WHERE name = ?1",
    advance_cursor: "INSERT INTO osb_usage_cursors (name, value) VALUES (?1, ?2) \
                     ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value) \
                     RETURNING value",
};

impl Dialect for SqliteDialect {
    type Db = Sqlite;

    const NAME: &'static str = DB;
    const SQL: &'static Statements = &SQL;
    const OUTBOX: &'static OutboxSql = &OUTBOX;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// `BEGIN IMMEDIATE`: the write lock up front, so the busy timeout applies instead of a
    /// deadlock error when two writers would upgrade read locks at once.
    ///
    /// SQLite answers `SQLITE_BUSY` at once, without its busy handler, while another connection
    /// switches a new file to WAL mode (several replicas opening one file together): that
    /// answer is retried with a short backoff. The caller's query timeout bounds the retries.
    async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut backoff = Duration::from_millis(5);
        loop {
            match pool.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => return Ok(tx),
                Err(err) if is_busy(&err) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(err) => return Err(failed(DB, "begin")(err)),
            }
        }
    }

    /// Draws a fresh version from the one-row table `osb_record_versions` and writes with a
    /// conditional statement, in one `BEGIN IMMEDIATE` transaction.
    async fn save(
        pool: &Pool<Sqlite>,
        table: &'static Table,
        key: &[&str],
        expected: Option<i64>,
        record: Encoded,
    ) -> Result<Version, CasError> {
        let step = failed(DB, "write");
        let mut tx = Self::begin_write(pool).await?;
        let next: i64 = sqlx::query_scalar(DRAW_VERSION)
            .fetch_one(&mut *tx)
            .await
            .map_err(&step)?;
        let mut query = sqlx::query(match expected {
            None => table.insert,
            Some(_) => table.update,
        });
        for part in key {
            query = query.bind(*part);
        }
        query = query.bind(next).bind(record.retain_until).bind(record.json);
        if let Some(expected) = expected {
            query = query.bind(expected);
        }
        let written = query
            .execute(&mut *tx)
            .await
            .map_err(&step)?
            .rows_affected();
        if written == 1 {
            tx.commit().await.map_err(&step)?;
            Ok(sql::version_from_column(next)?)
        } else {
            tx.rollback().await.map_err(&step)?;
            Err(CasError::Conflict)
        }
    }

    /// One `INSERT … ON CONFLICT DO NOTHING` per entry.
    async fn insert_entries(
        tx: &mut Transaction<'static, Sqlite>,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        let mut added = 0;
        for entry in entries {
            added += sqlx::query(
                "INSERT INTO osb_usage_outbox (record_key, payload, enqueued_at, not_before) \
                 VALUES (?1, ?2, ?3, ?3) ON CONFLICT DO NOTHING",
            )
            .bind(&entry.key)
            .bind(&entry.payload)
            .bind(entry.enqueued_at.as_unix_millis())
            .execute(&mut **tx)
            .await
            .map_err(failed(DB, "outbox insert"))?
            .rows_affected();
        }
        Ok(usize::try_from(added).unwrap_or(usize::MAX))
    }

    async fn claim(
        tx: &mut Transaction<'static, Sqlite>,
        key: &str,
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<ClaimOutcome, sqlx::Error> {
        // Insert, or take over a claim that is ours or whose lease ended unfinished.
        let won = sqlx::query(
            "INSERT INTO osb_usage_collections \
                 (collection_key, owner, lease_until, done, retain_until) \
             VALUES (?1, ?2, ?3, 0, ?5) \
             ON CONFLICT (collection_key) DO UPDATE \
               SET owner = excluded.owner, lease_until = excluded.lease_until \
               WHERE done = 0 AND (owner = excluded.owner OR lease_until <= ?4)",
        )
        .bind(key)
        .bind(&lease.owner)
        .bind(lease.expires_at.as_unix_millis())
        .bind(now.as_unix_millis())
        .bind(retain_until.as_unix_millis())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if won == 1 {
            return Ok(ClaimOutcome::Claimed);
        }
        let done: i64 =
            sqlx::query_scalar("SELECT done FROM osb_usage_collections WHERE collection_key = ?1")
                .bind(key)
                .fetch_one(&mut **tx)
                .await?;
        Ok(if done != 0 {
            ClaimOutcome::Done
        } else {
            ClaimOutcome::Held
        })
    }

    async fn mark_done(
        tx: &mut Transaction<'static, Sqlite>,
        keys: &[String],
        owner: &str,
    ) -> Result<(), sqlx::Error> {
        for key in keys {
            sqlx::query(
                "UPDATE osb_usage_collections SET done = 1 WHERE collection_key = ?1 AND owner = ?2",
            )
            .bind(key)
            .bind(owner)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}
