//! [`UsageOutbox`] for [`SqliteStore`]: tables from migration `0002_usage_outbox.sql`; the
//! operations are [`SqlStore`](super::SqlStore)'s, SQLite's own statements and claims are in
//! `sqlite_dialect.rs`.

use async_trait::async_trait;

use super::SqliteStore;
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement, UsageOutbox,
};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

#[async_trait]
impl UsageOutbox for SqliteStore {
    async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
        self.core.enqueue(entries).await
    }

    async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        self.core.lease_due(now, lease_until, limit).await
    }

    async fn settle(
        &self,
        settlements: &[(String, Settlement)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.core.settle(settlements, now).await
    }

    async fn rejected(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, StoreError> {
        self.core.rejected(after, limit).await
    }

    async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError> {
        self.core.remove_rejected(key).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.core.outbox_stats().await
    }

    async fn claim_collections(
        &self,
        keys: &[String],
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<Vec<ClaimOutcome>, StoreError> {
        let core = &self.core;
        core.claim_collections(keys, lease, now, retain_until).await
    }

    async fn finish_collections(
        &self,
        keys: &[String],
        owner: &str,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        self.core.finish_collections(keys, owner, entries).await
    }

    async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.core.purge_collections(now).await
    }

    async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        self.core.load_cursor(name).await
    }

    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<Timestamp, StoreError> {
        self.core.advance_cursor(name, to).await
    }
}
