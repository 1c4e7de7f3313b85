//! [`UsageOutbox`](crate::managed::UsageOutbox) for [`PostgresStore`]: tables from migration
//! `0002_usage_outbox.sql`; the code shared with SQLite is [`sql::usage_outbox_impl!`].
//!
//! Several replicas share these tables. Inserts are `ON CONFLICT DO NOTHING` (the first payload
//! of an identity wins); a sender leases due rows with `FOR UPDATE SKIP LOCKED`, so two senders
//! get disjoint batches; a claim is an upsert whose `WHERE` only lets an unfinished claim with an
//! ended lease (or the same owner's) be taken over.

use sqlx::{Postgres, Transaction};

use super::PostgresStore;
use super::sql::{self, OutboxSql, failed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{ClaimOutcome, OutboxEntry};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

const SQL: OutboxSql = OutboxSql {
    name: super::DB,
    lease_due: "UPDATE osb_usage_outbox SET not_before = $2 WHERE record_key IN ( \
                    SELECT record_key FROM osb_usage_outbox \
                    WHERE rejected_at IS NULL AND not_before <= $1 \
                    ORDER BY enqueued_at, record_key LIMIT $3 FOR UPDATE SKIP LOCKED) \
                RETURNING record_key, payload, enqueued_at, attempts",
    delivered: "DELETE FROM osb_usage_outbox WHERE record_key = $1 AND rejected_at IS NULL",
    rejected: "UPDATE osb_usage_outbox SET rejected_at = $2, reason = $3 \
               WHERE record_key = $1 AND rejected_at IS NULL",
    retry: "UPDATE osb_usage_outbox SET attempts = attempts + 1, not_before = $2 \
            WHERE record_key = $1 AND rejected_at IS NULL",
    list_rejected: "SELECT record_key, payload, enqueued_at, rejected_at, COALESCE(reason, '') \
                    FROM osb_usage_outbox WHERE rejected_at IS NOT NULL AND record_key > $1 \
                    ORDER BY record_key LIMIT $2",
    remove_rejected: "DELETE FROM osb_usage_outbox \
                      WHERE record_key = $1 AND rejected_at IS NOT NULL",
    stats: "SELECT \
              COUNT(*) FILTER (WHERE rejected_at IS NULL), \
              MIN(enqueued_at) FILTER (WHERE rejected_at IS NULL), \
              COUNT(*) FILTER (WHERE rejected_at IS NOT NULL) \
            FROM osb_usage_outbox",
    purge_collections: "DELETE FROM osb_usage_collections WHERE retain_until <= $1",
    load_cursor: "SELECT value FROM osb_usage_cursors WHERE name = $1",
    advance_cursor: "INSERT INTO osb_usage_cursors AS c (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = GREATEST(c.value, EXCLUDED.value) \
                     RETURNING value",
};

sql::usage_outbox_impl! {
    store: PostgresStore,
    sql: SQL,
    attempts: i32,
    insert: insert_entries,
    claim: claim,
    finish: mark_done,
}

async fn insert_entries(
    tx: &mut Transaction<'static, Postgres>,
    entries: &[OutboxEntry],
) -> Result<usize, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let payloads: Vec<&str> = entries.iter().map(|e| e.payload.as_str()).collect();
    let times: Vec<i64> = entries
        .iter()
        .map(|e| e.enqueued_at.as_unix_millis())
        .collect();
    let added = sqlx::query(
        "INSERT INTO osb_usage_outbox (record_key, payload, enqueued_at, not_before) \
         SELECT k, p, t, t FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS e(k, p, t) \
         ON CONFLICT (record_key) DO NOTHING",
    )
    .bind(keys)
    .bind(payloads)
    .bind(times)
    .execute(&mut **tx)
    .await
    .map_err(failed(SQL.name, "outbox insert"))?
    .rows_affected();
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

async fn claim(
    tx: &mut Transaction<'static, Postgres>,
    key: &str,
    lease: &Lease,
    now: Timestamp,
    retain_until: Timestamp,
) -> Result<ClaimOutcome, sqlx::Error> {
    // Insert, or take over a claim that is ours or whose lease ended unfinished; a concurrent
    // claimant waits for this row's lock and then sees our claim.
    let won = sqlx::query_scalar::<_, bool>(
        "INSERT INTO osb_usage_collections AS c \
             (collection_key, owner, lease_until, done, retain_until) \
         VALUES ($1, $2, $3, FALSE, $5) \
         ON CONFLICT (collection_key) DO UPDATE \
           SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until \
           WHERE NOT c.done AND (c.owner = EXCLUDED.owner OR c.lease_until <= $4) \
         RETURNING TRUE",
    )
    .bind(key)
    .bind(&lease.owner)
    .bind(lease.expires_at.as_unix_millis())
    .bind(now.as_unix_millis())
    .bind(retain_until.as_unix_millis())
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    if won {
        return Ok(ClaimOutcome::Claimed);
    }
    let done: bool =
        sqlx::query_scalar("SELECT done FROM osb_usage_collections WHERE collection_key = $1")
            .bind(key)
            .fetch_one(&mut **tx)
            .await?;
    Ok(if done {
        ClaimOutcome::Done
    } else {
        ClaimOutcome::Held
    })
}

async fn mark_done(
    tx: &mut Transaction<'static, Postgres>,
    keys: &[String],
    owner: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE osb_usage_collections SET done = TRUE \
         WHERE collection_key = ANY($1) AND owner = $2",
    )
    .bind(keys)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
