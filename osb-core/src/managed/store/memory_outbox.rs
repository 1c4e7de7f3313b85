//! [`UsageOutbox`] for [`MemoryStore`]: the outbox, claims and cursors in ordered maps behind
//! one mutex (each method is one critical section, hence atomic).

use std::collections::BTreeMap;
use std::sync::PoisonError;

use async_trait::async_trait;

use super::MemoryStore;
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement, UsageOutbox,
};
use crate::managed::record::Lease;
use crate::managed::store::StoreError;

/// The outbox part of a [`MemoryStore`].
#[derive(Debug, Default)]
pub(super) struct OutboxState {
    pending: BTreeMap<String, Pending>,
    rejected: BTreeMap<String, RejectedEntry>,
    claims: BTreeMap<String, Claim>,
    cursors: BTreeMap<String, Timestamp>,
}

#[derive(Debug)]
struct Pending {
    payload: String,
    enqueued_at: Timestamp,
    attempts: u32,
    not_before: Timestamp,
}

#[derive(Debug)]
struct Claim {
    lease: Lease,
    done: bool,
    retain_until: Timestamp,
}

impl OutboxState {
    fn enqueue(&mut self, entries: &[OutboxEntry]) -> usize {
        let mut added = 0;
        for entry in entries {
            if self.pending.contains_key(&entry.key) || self.rejected.contains_key(&entry.key) {
                continue;
            }
            self.pending.insert(
                entry.key.clone(),
                Pending {
                    payload: entry.payload.clone(),
                    enqueued_at: entry.enqueued_at,
                    attempts: 0,
                    not_before: entry.enqueued_at,
                },
            );
            added += 1;
        }
        added
    }
}

impl MemoryStore {
    fn outbox_state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        // A poisoned lock only means a panic elsewhere; every method leaves the maps consistent
        // at each statement that can panic (none of them allocate half a record).
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UsageOutbox for MemoryStore {
    async fn enqueue(&self, entries: &[OutboxEntry]) -> Result<usize, StoreError> {
        Ok(self.outbox_state().enqueue(entries))
    }

    async fn lease_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        let mut state = self.outbox_state();
        let mut due: Vec<(&String, &Pending)> = state
            .pending
            .iter()
            .filter(|(_, p)| p.not_before <= now)
            .collect();
        due.sort_by(|a, b| (a.1.enqueued_at, a.0).cmp(&(b.1.enqueued_at, b.0)));
        let keys: Vec<String> = due
            .into_iter()
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect();
        let mut leased = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(pending) = state.pending.get_mut(&key) {
                pending.not_before = lease_until;
                leased.push(PendingEntry {
                    payload: pending.payload.clone(),
                    enqueued_at: pending.enqueued_at,
                    attempts: pending.attempts,
                    key,
                });
            }
        }
        Ok(leased)
    }

    async fn settle(
        &self,
        settlements: &[(String, Settlement)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.outbox_state();
        for (key, settlement) in settlements {
            match settlement {
                Settlement::Delivered => {
                    state.pending.remove(key);
                }
                Settlement::Rejected { reason } => {
                    if let Some(pending) = state.pending.remove(key) {
                        state.rejected.insert(
                            key.clone(),
                            RejectedEntry {
                                key: key.clone(),
                                payload: pending.payload,
                                enqueued_at: pending.enqueued_at,
                                rejected_at: now,
                                reason: reason.clone(),
                            },
                        );
                    }
                }
                Settlement::Retry { not_before } => {
                    if let Some(pending) = state.pending.get_mut(key) {
                        pending.attempts = pending.attempts.saturating_add(1);
                        pending.not_before = *not_before;
                    }
                }
            }
        }
        Ok(())
    }

    async fn rejected(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, StoreError> {
        let state = self.outbox_state();
        Ok(state
            .rejected
            .values()
            .filter(|r| after.is_none_or(|after| r.key.as_str() > after))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn remove_rejected(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.outbox_state().rejected.remove(key).is_some())
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let state = self.outbox_state();
        Ok(OutboxStats {
            pending: state.pending.len() as u64,
            oldest_pending: state.pending.values().map(|p| p.enqueued_at).min(),
            rejected: state.rejected.len() as u64,
        })
    }

    async fn claim_collections(
        &self,
        keys: &[String],
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<Vec<ClaimOutcome>, StoreError> {
        let mut state = self.outbox_state();
        let mut outcomes = Vec::with_capacity(keys.len());
        for key in keys {
            let outcome = match state.claims.get_mut(key) {
                Some(claim) if claim.done => ClaimOutcome::Done,
                Some(claim) if claim.lease.owner == lease.owner || claim.lease.is_expired(now) => {
                    claim.lease = lease.clone();
                    ClaimOutcome::Claimed
                }
                Some(_) => ClaimOutcome::Held,
                None => {
                    state.claims.insert(
                        key.clone(),
                        Claim {
                            lease: lease.clone(),
                            done: false,
                            retain_until,
                        },
                    );
                    ClaimOutcome::Claimed
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn finish_collections(
        &self,
        keys: &[String],
        owner: &str,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        let mut state = self.outbox_state();
        let added = state.enqueue(entries);
        for key in keys {
            if let Some(claim) = state.claims.get_mut(key)
                && claim.lease.owner == owner
            {
                claim.done = true;
            }
        }
        Ok(added)
    }

    async fn purge_collections(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut state = self.outbox_state();
        let before = state.claims.len();
        state.claims.retain(|_, claim| claim.retain_until > now);
        Ok(before - state.claims.len())
    }

    async fn load_cursor(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.outbox_state().cursors.get(name).copied())
    }

    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<Timestamp, StoreError> {
        let mut state = self.outbox_state();
        let cursor = state.cursors.entry(name.to_owned()).or_insert(to);
        if *cursor < to {
            *cursor = to;
        }
        Ok(*cursor)
    }
}
