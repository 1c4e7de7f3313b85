//! [`UsageOutbox`](crate::managed::UsageOutbox) for [`SqliteStore`]: tables from migration
//! `0002_usage_outbox.sql`; the code shared with PostgreSQL is [`sql::usage_outbox_impl!`].
//!
//! Every write is one `BEGIN IMMEDIATE` transaction (SQLite's single writer), so the
//! insert-if-absent, lease and claim rules hold across processes opening the same file.

use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use super::sql::{self, OutboxSql, failed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{ClaimOutcome, OutboxEntry};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

const SQL: OutboxSql = OutboxSql {
    name: super::DB,
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

sql::usage_outbox_impl! {
    store: SqliteStore,
    sql: SQL,
    attempts: i64,
    insert: insert_entries,
    claim: claim,
    finish: mark_done,
}

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
        .map_err(failed(SQL.name, "outbox insert"))?
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
