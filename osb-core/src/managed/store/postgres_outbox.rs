//! [`UsageOutbox`] for [`PostgresStore`]: tables from migration `0002_usage_outbox.sql`.
//!
//! Several replicas share these tables. Inserts are `ON CONFLICT DO NOTHING` (the first payload
//! of an identity wins); a sender leases due rows with `FOR UPDATE SKIP LOCKED`, so two senders
//! get disjoint batches; a claim is an upsert whose `WHERE` only lets an unfinished claim with an
//! ended lease (or the same owner's) be taken over.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::PostgresStore;
use super::sql::{failed, limit_column, timed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement, UsageOutbox,
};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

const DB: &str = "PostgreSQL";

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
    .map_err(failed(DB, "outbox insert"))?
    .rows_affected();
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

fn attempts(value: i32) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(0)
}

#[async_trait]
impl UsageOutbox for PostgresStore {
    async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
        timed(DB, self.query_timeout, async {
            let mut tx = self.pool.begin().await.map_err(failed(DB, "begin"))?;
            let added = insert_entries(&mut tx, entries).await?;
            tx.commit().await.map_err(failed(DB, "outbox commit"))?;
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
        timed(DB, self.query_timeout, async {
            let rows = sqlx::query_as::<_, (String, String, i64, i32)>(
                "UPDATE osb_usage_outbox SET not_before = $2 WHERE record_key IN ( \
                     SELECT record_key FROM osb_usage_outbox \
                     WHERE rejected_at IS NULL AND not_before <= $1 \
                     ORDER BY enqueued_at, record_key LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING record_key, payload, enqueued_at, attempts",
            )
            .bind(now.as_unix_millis())
            .bind(lease_until.as_unix_millis())
            .bind(limit_column(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(failed(DB, "outbox lease"))?;
            let mut entries: Vec<PendingEntry> = rows
                .into_iter()
                .map(|(key, payload, enqueued_at, tries)| PendingEntry {
                    key,
                    payload,
                    enqueued_at: Timestamp::from_unix_millis(enqueued_at),
                    attempts: attempts(tries),
                })
                .collect();
            // `RETURNING` promises no order.
            entries.sort_by(|a, b| (a.enqueued_at, &a.key).cmp(&(b.enqueued_at, &b.key)));
            Ok(entries)
        })
        .await
    }

    async fn settle(
        &self,
        settlements: &[(String, Settlement)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        timed(DB, self.query_timeout, async {
            let step = failed(DB, "outbox settle");
            let mut tx = self.pool.begin().await.map_err(&step)?;
            for (key, settlement) in settlements {
                let query = match settlement {
                    Settlement::Delivered => sqlx::query(
                        "DELETE FROM osb_usage_outbox \
                         WHERE record_key = $1 AND rejected_at IS NULL",
                    )
                    .bind(key),
                    Settlement::Rejected { reason } => sqlx::query(
                        "UPDATE osb_usage_outbox SET rejected_at = $2, reason = $3 \
                         WHERE record_key = $1 AND rejected_at IS NULL",
                    )
                    .bind(key)
                    .bind(now.as_unix_millis())
                    .bind(reason),
                    Settlement::Retry { not_before } => sqlx::query(
                        "UPDATE osb_usage_outbox SET attempts = attempts + 1, not_before = $2 \
                         WHERE record_key = $1 AND rejected_at IS NULL",
                    )
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
        timed(DB, self.query_timeout, async {
            let rows = sqlx::query_as::<_, (String, String, i64, i64, String)>(
                "SELECT record_key, payload, enqueued_at, rejected_at, COALESCE(reason, '') \
                 FROM osb_usage_outbox WHERE rejected_at IS NOT NULL AND record_key > $1 \
                 ORDER BY record_key LIMIT $2",
            )
            .bind(after.unwrap_or(""))
            .bind(limit_column(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(failed(DB, "outbox list"))?;
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
        timed(DB, self.query_timeout, async {
            let removed = sqlx::query(
                "DELETE FROM osb_usage_outbox WHERE record_key = $1 AND rejected_at IS NOT NULL",
            )
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(failed(DB, "outbox delete"))?
            .rows_affected();
            Ok(removed == 1)
        })
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        timed(DB, self.query_timeout, async {
            let (pending, oldest, rejected) = sqlx::query_as::<_, (i64, Option<i64>, i64)>(
                "SELECT \
                   COUNT(*) FILTER (WHERE rejected_at IS NULL), \
                   MIN(enqueued_at) FILTER (WHERE rejected_at IS NULL), \
                   COUNT(*) FILTER (WHERE rejected_at IS NOT NULL) \
                 FROM osb_usage_outbox",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(failed(DB, "outbox count"))?;
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
        timed(DB, self.query_timeout, async {
            let step = failed(DB, "claim");
            let mut tx = self.pool.begin().await.map_err(&step)?;
            let mut outcomes = Vec::with_capacity(keys.len());
            for key in keys {
                // Insert, or take over a claim that is ours or whose lease ended unfinished;
                // a concurrent claimant waits for this row's lock and then sees our claim.
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
                .fetch_optional(&mut *tx)
                .await
                .map_err(&step)?
                .is_some();
                let outcome = if won {
                    ClaimOutcome::Claimed
                } else {
                    let done: bool = sqlx::query_scalar(
                        "SELECT done FROM osb_usage_collections WHERE collection_key = $1",
                    )
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&step)?;
                    if done {
                        ClaimOutcome::Done
                    } else {
                        ClaimOutcome::Held
                    }
                };
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
        timed(DB, self.query_timeout, async {
            let step = failed(DB, "claim finish");
            let mut tx = self.pool.begin().await.map_err(&step)?;
            let added = insert_entries(&mut tx, entries).await?;
            sqlx::query(
                "UPDATE osb_usage_collections SET done = TRUE \
                 WHERE collection_key = ANY($1) AND owner = $2",
            )
            .bind(keys)
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(&step)?;
            tx.commit().await.map_err(&step)?;
            Ok(added)
        })
        .await
    }

    async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
        timed(DB, self.query_timeout, async {
            let removed = sqlx::query("DELETE FROM osb_usage_collections WHERE retain_until <= $1")
                .bind(now.as_unix_millis())
                .execute(&self.pool)
                .await
                .map_err(failed(DB, "claim purge"))?
                .rows_affected();
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        timed(DB, self.query_timeout, async {
            let value: Option<i64> =
                sqlx::query_scalar("SELECT value FROM osb_usage_cursors WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed(DB, "cursor read"))?;
            Ok(value.map(Timestamp::from_unix_millis))
        })
        .await
    }

    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<Timestamp, StoreError> {
        timed(DB, self.query_timeout, async {
            let value: i64 = sqlx::query_scalar(
                "INSERT INTO osb_usage_cursors AS c (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = GREATEST(c.value, EXCLUDED.value) \
                 RETURNING value",
            )
            .bind(name)
            .bind(to.as_unix_millis())
            .fetch_one(&self.pool)
            .await
            .map_err(failed(DB, "cursor write"))?;
            Ok(Timestamp::from_unix_millis(value))
        })
        .await
    }
}
