//! `UsageOutbox`: durable usage records waiting to be reported, and the once-per-window
//! collection claims that keep several replicas from measuring the same thing twice.
//!
//! A second record family beside [`StateStore`](super::StateStore), implemented by the same
//! store types ([`MemoryStore`](super::MemoryStore), and the SQL stores behind their features),
//! so a broker keeps one store. The payloads are opaque here: osb-core knows nothing of IBM's
//! metering API; `osb-iam`'s metering reporter writes and reads them.

use std::fmt;

use async_trait::async_trait;

use super::clock::Timestamp;
use super::record::Lease;
use super::store::StoreError;

/// A record to queue: its identity, its payload as it will be sent, and when it was queued.
///
/// # Example
///
/// ```
/// use osb_core::managed::{OutboxEntry, Timestamp};
///
/// let entry = OutboxEntry::new("key-1", r#"{"plan_id":"p"}"#, Timestamp::from_unix_millis(0));
/// assert_eq!(entry.key, "key-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The entry's identity (for IBM metering: the record's duplicate key).
    pub key: String,
    /// The payload, as sent (JSON text).
    pub payload: String,
    /// When it was queued.
    pub enqueued_at: Timestamp,
}

impl OutboxEntry {
    /// An entry with this identity and payload, queued at `enqueued_at`.
    pub fn new(key: impl Into<String>, payload: impl Into<String>, enqueued_at: Timestamp) -> Self {
        Self {
            key: key.into(),
            payload: payload.into(),
            enqueued_at,
        }
    }
}

/// A pending entry handed to a sender by [`UsageOutbox::lease_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingEntry {
    /// The entry's identity.
    pub key: String,
    /// The payload.
    pub payload: String,
    /// When it was queued.
    pub enqueued_at: Timestamp,
    /// How many sends were settled with [`Settlement::Retry`] so far.
    pub attempts: u32,
}

/// An entry the receiver refused, kept for the provider to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedEntry {
    /// The entry's identity.
    pub key: String,
    /// The payload.
    pub payload: String,
    /// When it was queued.
    pub enqueued_at: Timestamp,
    /// When it was rejected.
    pub rejected_at: Timestamp,
    /// Why (the receiver's code and message).
    pub reason: String,
}

/// What became of a sent entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The receiver has it (accepted now, or already): the entry is removed.
    Delivered,
    /// The receiver refused it for good: the entry is kept, with the reason, as rejected.
    Rejected {
        /// Why (no secrets: it is shown to operators).
        reason: String,
    },
    /// Try again from `not_before` on: the entry stays pending and its attempts count grows.
    Retry {
        /// The earliest time of the next send.
        not_before: Timestamp,
    },
}

/// The outcome of one claim in [`UsageOutbox::claim_collections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// The caller holds the claim until its lease ends: collect, then finish it.
    Claimed,
    /// Someone finished this collection already: nothing to do.
    Done,
    /// Another owner holds an unexpired claim: it may still finish; look again later.
    Held,
}

/// Counters over the outbox, for alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OutboxStats {
    /// Entries waiting to be delivered.
    pub pending: u64,
    /// When the oldest pending entry was queued.
    pub oldest_pending: Option<Timestamp>,
    /// Rejected entries kept for inspection.
    pub rejected: u64,
}

/// Usage records on their way out, and collection claims.
///
/// # What an implementation must guarantee
///
/// 1. **Identity.** An entry is keyed by its `key`, fixed when it is enqueued. Enqueueing a key
///    that is already pending or rejected changes nothing (the first payload wins), so a record
///    is never queued twice under one identity and never under a second one.
/// 2. **Write before send.** [`enqueue`](UsageOutbox::enqueue) returns only once the entries are
///    durable (for a durable store); a sender reads entries only from the store.
/// 3. **Leave only when settled.** An entry leaves the pending set only through
///    [`settle`](UsageOutbox::settle): delivered entries are removed, rejected ones are kept with
///    their reason until [`remove_rejected`](UsageOutbox::remove_rejected).
/// 4. **Leases.** [`lease_due`](UsageOutbox::lease_due) atomically picks due entries and moves
///    their `not_before` to the lease's end, so two replicas never send the same entry at the
///    same time; a crashed sender's entries become due again when the lease ends.
/// 5. **Claims.** [`claim_collections`](UsageOutbox::claim_collections) gives each collection key
///    to one owner at a time; [`finish_collections`](UsageOutbox::finish_collections) enqueues the
///    collected entries and marks the claims done in one atomic step, so a claim is done exactly
///    when its records are queued.
///
/// The trait is object-safe: `Arc<dyn UsageOutbox>` is an outbox too.
///
/// # Example
///
/// ```
/// use osb_core::managed::{MemoryStore, OutboxEntry, Settlement, Timestamp, UsageOutbox};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_unix_millis(10_000);
/// let entry = OutboxEntry::new("k1", "{}", now);
/// assert_eq!(store.enqueue(&[entry.clone()]).await?, 1);
/// // The same identity again changes nothing.
/// assert_eq!(store.enqueue(&[entry]).await?, 0);
///
/// let lease_end = Timestamp::from_unix_millis(70_000);
/// let due = store.lease_due(now, lease_end, 100).await?;
/// assert_eq!(due.len(), 1);
/// // Leased: another sender sees nothing until the lease ends.
/// assert!(store.lease_due(now, lease_end, 100).await?.is_empty());
///
/// store.settle(&[("k1".to_owned(), Settlement::Delivered)], now).await?;
/// assert_eq!(store.outbox_stats().await?.pending, 0);
/// # Ok::<(), osb_core::managed::StoreError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait UsageOutbox: Send + Sync + fmt::Debug + 'static {
    /// Queues entries whose key is neither pending nor rejected; returns how many were added.
    /// They are due at once.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails (then none may have been added).
    async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError>;

    /// Up to `limit` pending entries due at `now` (oldest queued first), leased until
    /// `lease_until`: they are not due again before then unless settled.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError>;

    /// Records what became of sent entries. Keys that are no longer pending are ignored.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn settle(
        &self,
        settlements: &[(String, Settlement)],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Rejected entries in key order, after `after`, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn rejected(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, StoreError>;

    /// Forgets a rejected entry (after the provider dealt with it); `false` if there was none.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError>;

    /// Pending and rejected counts, and the oldest pending entry's age.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Tries to claim each collection key for `lease.owner` until `lease.expires_at`: a key
    /// nobody holds, or whose holder's lease ended at `now` without finishing, is
    /// [`Claimed`](ClaimOutcome::Claimed). A new claim is kept until `retain_until`. Outcomes
    /// come in the order of `keys`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn claim_collections(
        &self,
        keys: &[String],
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<Vec<ClaimOutcome>, StoreError>;

    /// In one atomic step: queues `entries` (as [`enqueue`](Self::enqueue)) and marks the
    /// claims in `keys` that `owner` holds as done. Returns how many entries were added.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails (then nothing was written).
    async fn finish_collections(
        &self,
        keys: &[String],
        owner: &str,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError>;

    /// Removes claims whose `retain_until` is at or before `now`; returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError>;

    /// The value of a named cursor (e.g. "collected through this hour"), if set.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Moves a named cursor forward to `to` (never back); returns its value afterwards.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<Timestamp, StoreError>;
}

macro_rules! forward_outbox {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: UsageOutbox + ?Sized> UsageOutbox for $ty {
            async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
                (**self).enqueue(entries).await
            }
            async fn lease_due(&self, now: Timestamp, lease_until: Timestamp, limit: usize) -> Result<Vec<PendingEntry>, StoreError> {
                (**self).lease_due(now, lease_until, limit).await
            }
            async fn settle(&self, settlements: &[(String, Settlement)], now: Timestamp) -> Result<(), StoreError> {
                (**self).settle(settlements, now).await
            }
            async fn rejected(&self, after: Option<&str>, limit: usize) -> Result<Vec<RejectedEntry>, StoreError> {
                (**self).rejected(after, limit).await
            }
            async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError> {
                (**self).remove_rejected(key).await
            }
            async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
                (**self).outbox_stats().await
            }
            async fn claim_collections(&self, keys: &[String], lease: &Lease, now: Timestamp, retain_until: Timestamp) -> Result<Vec<ClaimOutcome>, StoreError> {
                (**self).claim_collections(keys, lease, now, retain_until).await
            }
            async fn finish_collections(&self, keys: &[String], owner: &str, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
                (**self).finish_collections(keys, owner, entries).await
            }
            async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
                (**self).purge_collections(now).await
            }
            async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
                (**self).load_cursor(name).await
            }
            async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<Timestamp, StoreError> {
                (**self).advance_cursor(name, to).await
            }
        }
    )*};
}

forward_outbox!(std::sync::Arc<S>, Box<S>);
