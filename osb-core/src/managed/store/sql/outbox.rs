//! The [`UsageOutbox`](crate::managed::UsageOutbox) operations of [`SqlStore`], once for every
//! [`Dialect`]. Every multi-statement write runs in the dialect's write transaction.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Type};

use super::{Dialect, SqlStore, attempts, failed, limit_column, timed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement,
};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

/// A leased row: key, payload, enqueued-at, attempts.
type LeasedRow = (String, String, i64, i64);
/// A rejected row: key, payload, enqueued-at, rejected-at, reason.
type RejectedRow = (String, String, i64, i64, String);

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Decode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    /// See [`UsageOutbox::enqueue`](crate::managed::UsageOutbox::enqueue).
    pub(crate) async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let mut tx = D::begin_write(&self.pool).await?;
            let added = D::insert_entries(&mut tx, entries).await?;
            tx.commit()
                .await
                .map_err(failed(D::NAME, "outbox commit"))?;
            Ok(added)
        })
        .await
    }

    /// See [`UsageOutbox::lease_due`](crate::managed::UsageOutbox::lease_due).
    pub(crate) async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let rows = sqlx::query_as::<_, LeasedRow>(D::OUTBOX.lease_due)
                .bind(now.as_unix_millis())
                .bind(lease_until.as_unix_millis())
                .bind(limit_column(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed(D::NAME, "outbox lease"))?;
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

    /// See [`UsageOutbox::settle`](crate::managed::UsageOutbox::settle).
    pub(crate) async fn settle(
        &self,
        settlements: &[(String, Settlement)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let step = failed(D::NAME, "outbox settle");
            let mut tx = D::begin_write(&self.pool).await?;
            for (key, settlement) in settlements {
                let key = key.as_str();
                let query = match settlement {
                    Settlement::Delivered => sqlx::query(D::OUTBOX.delivered).bind(key),
                    Settlement::Rejected { reason } => sqlx::query(D::OUTBOX.rejected)
                        .bind(key)
                        .bind(now.as_unix_millis())
                        .bind(reason.as_str()),
                    Settlement::Retry { not_before } => sqlx::query(D::OUTBOX.retry)
                        .bind(key)
                        .bind(not_before.as_unix_millis()),
                };
                query.execute(&mut *tx).await.map_err(&step)?;
            }
            tx.commit().await.map_err(&step)
        })
        .await
    }

    /// See [`UsageOutbox::rejected`](crate::managed::UsageOutbox::rejected).
    pub(crate) async fn rejected(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let rows = sqlx::query_as::<_, RejectedRow>(D::OUTBOX.list_rejected)
                .bind(after.unwrap_or(""))
                .bind(limit_column(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed(D::NAME, "outbox list"))?;
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

    /// See [`UsageOutbox::remove_rejected`](crate::managed::UsageOutbox::remove_rejected).
    pub(crate) async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let result = sqlx::query(D::OUTBOX.remove_rejected)
                .bind(key)
                .execute(&self.pool)
                .await
                .map_err(failed(D::NAME, "outbox delete"))?;
            Ok(D::rows_affected(&result) == 1)
        })
        .await
    }

    /// See [`UsageOutbox::outbox_stats`](crate::managed::UsageOutbox::outbox_stats).
    pub(crate) async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let (pending, oldest, rejected) =
                sqlx::query_as::<_, (i64, Option<i64>, i64)>(D::OUTBOX.stats)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(failed(D::NAME, "outbox count"))?;
            Ok(OutboxStats {
                pending: u64::try_from(pending).unwrap_or(0),
                oldest_pending: oldest.map(Timestamp::from_unix_millis),
                rejected: u64::try_from(rejected).unwrap_or(0),
            })
        })
        .await
    }

    /// See [`UsageOutbox::claim_collections`](crate::managed::UsageOutbox::claim_collections).
    pub(crate) async fn claim_collections(
        &self,
        keys: &[String],
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<Vec<ClaimOutcome>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let step = failed(D::NAME, "claim");
            let mut tx = D::begin_write(&self.pool).await?;
            let mut outcomes = Vec::with_capacity(keys.len());
            for key in keys {
                let outcome = D::claim(&mut tx, key, lease, now, retain_until)
                    .await
                    .map_err(&step)?;
                outcomes.push(outcome);
            }
            tx.commit().await.map_err(&step)?;
            Ok(outcomes)
        })
        .await
    }

    /// See [`UsageOutbox::finish_collections`](crate::managed::UsageOutbox::finish_collections).
    pub(crate) async fn finish_collections(
        &self,
        keys: &[String],
        owner: &str,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let step = failed(D::NAME, "claim finish");
            let mut tx = D::begin_write(&self.pool).await?;
            let added = D::insert_entries(&mut tx, entries).await?;
            D::mark_done(&mut tx, keys, owner).await.map_err(&step)?;
            tx.commit().await.map_err(&step)?;
            Ok(added)
        })
        .await
    }

    /// See [`UsageOutbox::purge_collections`](crate::managed::UsageOutbox::purge_collections).
    pub(crate) async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let result = sqlx::query(D::OUTBOX.purge_collections)
                .bind(now.as_unix_millis())
                .execute(&self.pool)
                .await
                .map_err(failed(D::NAME, "claim purge"))?;
            Ok(usize::try_from(D::rows_affected(&result)).unwrap_or(usize::MAX))
        })
        .await
    }

    /// See [`UsageOutbox::load_cursor`](crate::managed::UsageOutbox::load_cursor).
    pub(crate) async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let value: Option<i64> = sqlx::query_scalar(D::OUTBOX.load_cursor)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed(D::NAME, "cursor read"))?;
            Ok(value.map(Timestamp::from_unix_millis))
        })
        .await
    }

    /// See [`UsageOutbox::advance_cursor`](crate::managed::UsageOutbox::advance_cursor).
    pub(crate) async fn advance_cursor(
        &self,
        name: &str,
        to: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let value: i64 = sqlx::query_scalar(D::OUTBOX.advance_cursor)
                .bind(name)
                .bind(to.as_unix_millis())
                .fetch_one(&self.pool)
                .await
                .map_err(failed(D::NAME, "cursor write"))?;
            Ok(Timestamp::from_unix_millis(value))
        })
        .await
    }
}
