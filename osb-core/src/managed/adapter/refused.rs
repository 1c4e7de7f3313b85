//! A synchronous create the logic refused leaves nothing behind.
//!
//! rules.md §3: after a `4xx` the broker's resources are as they were, and a platform never
//! cleans up after one. A provision or bind run inline whose logic answered a `4xx` (bad
//! parameters, say) created nothing, so its record goes, or the tombstone it replaced comes
//! back, instead of staying "create failed": that would answer the platform's corrected retry
//! `409` and its identical retry `422`. A `5xx` leaves the record failed: the logic may have
//! made something, and the platform's orphan mitigation deletes it.

use super::Engine;
use crate::error::BrokerError;
use crate::managed::logic::ServiceLogic;
use crate::managed::record::{BindingRecord, InstanceRecord, Lifecycle, Phase};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

/// Whether `err` refused the request (a `4xx`), as opposed to failing it.
pub(super) fn is_refusal(err: &BrokerError) -> bool {
    err.status().is_client_error()
}

/// Whether `lifecycle` is the failed create `token` left: nobody touched the record since.
fn left_by(lifecycle: &Lifecycle, token: &OperationToken) -> bool {
    lifecycle.phase == Phase::CreateFailed
        && lifecycle.latest().is_some_and(|op| op.token == *token)
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Undoes the record of create `token` of instance `instance_id`, refused by the logic:
    /// `replaced` (a tombstone) comes back, or the record goes. Best effort: a record another
    /// request changed meanwhile is left to it.
    pub(super) async fn forget_refused_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
        replaced: Option<InstanceRecord>,
    ) {
        let store = &self.core.store;
        let Ok(Some(current)) = store.load_instance(instance_id).await else {
            return;
        };
        if !left_by(&current.record.lifecycle, token) {
            return;
        }
        let undone = match replaced {
            Some(tombstone) => store
                .save_instance(instance_id, Some(current.version), &tombstone)
                .await
                .map(drop),
            None => store.remove_instance(instance_id, current.version).await,
        };
        if let Err(err) = undone {
            tracing::warn!(operation = %token, error = %err, "undoing a refused provision failed");
        }
    }

    /// Undoes the record of bind `token`, refused by the logic (see
    /// [`forget_refused_instance`](Self::forget_refused_instance)).
    pub(super) async fn forget_refused_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
        replaced: Option<BindingRecord>,
    ) {
        let store = &self.core.store;
        let Ok(Some(current)) = store.load_binding(instance_id, binding_id).await else {
            return;
        };
        if !left_by(&current.record.lifecycle, token) {
            return;
        }
        let undone = match replaced {
            Some(tombstone) => store
                .save_binding(instance_id, binding_id, Some(current.version), &tombstone)
                .await
                .map(drop),
            None => {
                store
                    .remove_binding(instance_id, binding_id, current.version)
                    .await
            }
        };
        if let Err(err) = undone {
            tracing::warn!(operation = %token, error = %err, "undoing a refused bind failed");
        }
    }
}
