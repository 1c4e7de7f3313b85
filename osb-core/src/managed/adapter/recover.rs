//! Settling stale operations: an operation whose deadline passed is failed, one whose owner's
//! lease expired is resumed or failed (rules.md §6.4); recovery does it for every record.

use std::sync::atomic::Ordering;

use super::error::internal;
use super::{Core, DEADLINE, Engine, INTERRUPTED};
use crate::error::BrokerError;
use crate::managed::clock::Timestamp;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{Lifecycle, Outcome};
use crate::managed::store::{StateStore, StoreError, Versioned};
use crate::operation::OperationToken;

/// What settling a running operation did.
#[derive(Debug)]
pub(super) enum Settle {
    /// Nothing to do.
    Nothing,
    /// The operation was failed (deadline passed, or its owner died and it cannot be re-run).
    Failed(OperationToken),
    /// This replica took the operation over and must run it again.
    Resume(OperationToken, OperationKind),
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Fails or takes over the running operation of `lifecycle` if its deadline passed or its
    /// owner's lease expired (rules.md §6.4: nothing may stay "in progress" forever).
    pub(super) fn settle(&self, lifecycle: &mut Lifecycle, now: Timestamp) -> Settle {
        let core = &self.core;
        let Some(op) = lifecycle.running() else {
            return Settle::Nothing;
        };
        let token = op.token.clone();
        let kind = op.kind;
        if op.deadline.is_some_and(|deadline| now >= deadline) {
            lifecycle.complete(
                &token,
                Outcome::failed(DEADLINE),
                now,
                core.settings.tombstone_retention,
            );
            return Settle::Failed(token);
        }
        // A live lease, or work still running in this process (whose renewals may merely be
        // late): leave it alone.
        if !op.lease.as_ref().is_none_or(|lease| lease.is_expired(now)) || self.is_local(&token) {
            return Settle::Nothing;
        }
        if core.logic.is_idempotent(kind) {
            let lease = core.lease(now);
            let owner = lease.owner.clone();
            if let Some(op) = lifecycle.operations.last_mut() {
                op.lease = Some(lease);
            }
            debug_assert!(lifecycle.owns(&token, &owner));
            Settle::Resume(token, kind)
        } else {
            lifecycle.complete(
                &token,
                Outcome::failed(INTERRUPTED),
                now,
                core.settings.tombstone_retention,
            );
            Settle::Failed(token)
        }
    }

    /// Settles every record of the store (start-up recovery).
    pub(super) async fn recover(&self) -> Result<usize, BrokerError> {
        let mut settled = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .core
                .store
                .list_instances(after.as_deref(), 100)
                .await
                .map_err(internal)?;
            let Some((last, _)) = page.last() else {
                return Ok(settled);
            };
            after = Some(last.clone());
            // A store that answers at once (the memory store) never suspends this loop: give the
            // worker back between pages, so requests never wait on a scan of every record.
            tokio::task::yield_now().await;
            for (instance_id, listed) in page {
                // An unreadable record is reported and skipped: it must not stop the others.
                if let Some(versioned) = self.core.readable(&instance_id, None, listed)
                    && versioned.record.lifecycle.running().is_some()
                    && self.settle_instance(&instance_id).await?.1
                {
                    settled += 1;
                }
                let bindings = self
                    .core
                    .store
                    .list_bindings(&instance_id)
                    .await
                    .map_err(internal)?;
                for (binding_id, listed) in bindings {
                    if let Some(versioned) =
                        self.core.readable(&instance_id, Some(&binding_id), listed)
                        && versioned.record.lifecycle.running().is_some()
                        && self.settle_binding(&instance_id, &binding_id).await?.1
                    {
                        settled += 1;
                    }
                }
            }
        }
    }
}

impl<L, S> Core<L, S> {
    /// The record of a listed row, or `None` when the store could not read it: then it is
    /// logged with its ids and counted
    /// ([`Managed::unreadable_records`](super::Managed::unreadable_records)).
    pub(super) fn readable<T>(
        &self,
        instance_id: &str,
        binding_id: Option<&str>,
        listed: Result<Versioned<T>, StoreError>,
    ) -> Option<Versioned<T>> {
        match listed {
            Ok(versioned) => Some(versioned),
            Err(err) => {
                self.unreadable.fetch_add(1, Ordering::Relaxed);
                let err = BrokerError::internal(err);
                tracing::error!(
                    instance_id,
                    binding_id,
                    cause = err.cause_chain().as_deref(),
                    "a stored record cannot be read: skipped; its requests answer 500 until it \
                     is repaired or removed"
                );
                None
            }
        }
    }
}
