//! `last_operation` for instances and bindings, answered from the store (rules.md §7).

use super::settings::AfterDelete;
use super::{Engine, Settings};
use crate::error::BrokerError;
use crate::last_operation::{
    BindingLastOperation, BindingOperationState, Failure, LastOperation, OperationState,
};
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{Lifecycle, OperationRecord, OperationStatus};
use crate::managed::store::StateStore;

/// The operation a poll answers for: the one with the token if known, else the latest (some
/// clients send `provision` or nothing; rules.md §7.1). After a synchronous delete that halted a
/// create, the halted create (spec.md "Deprovisioning": last_operation SHOULD then show the
/// provision as failed).
fn pick<'a>(life: &'a Lifecycle, token: Option<&str>) -> Option<&'a OperationRecord> {
    if let Some(op) = token.and_then(|token| life.find(token)) {
        return Some(op);
    }
    let latest = life.latest()?;
    if latest.kind.deletes() && !latest.asynchronous && latest.status == OperationStatus::Succeeded
    {
        let before = life.operations.iter().rev().nth(1);
        if let Some(halted) =
            before.filter(|op| op.kind.creates() && op.status == OperationStatus::Failed)
        {
            return Some(halted);
        }
    }
    Some(latest)
}

/// Whether the answer is `410 Gone` rather than `succeeded` (a finished delete, per setting).
fn gone_after_delete(op: &OperationRecord, settings: &Settings) -> bool {
    op.kind.deletes()
        && op.status == OperationStatus::Succeeded
        && settings.after_delete == AfterDelete::Gone
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    pub(super) async fn last_operation(
        &self,
        instance_id: &str,
        token: Option<&str>,
    ) -> Result<LastOperation, BrokerError> {
        let now = self.core.now();
        let current = self
            .instance(instance_id)
            .await?
            .filter(|c| !c.record.lifecycle.is_expired_tombstone(now));
        let Some(current) = current else {
            return Err(BrokerError::not_found());
        };
        let Some(op) = pick(&current.record.lifecycle, token) else {
            return Err(BrokerError::not_found());
        };
        if gone_after_delete(op, &self.core.settings) {
            return Err(BrokerError::gone());
        }
        let state = match op.status {
            OperationStatus::InProgress => OperationState::InProgress,
            OperationStatus::Succeeded => OperationState::Succeeded,
            OperationStatus::Failed => OperationState::Failed(match op.kind {
                OperationKind::Update => Failure::Update {
                    instance_usable: op.instance_usable,
                    update_repeatable: op.update_repeatable,
                },
                OperationKind::Deprovision => Failure::Deprovision {
                    instance_usable: op.instance_usable,
                },
                _ => Failure::Provision,
            }),
        };
        let mut answer = LastOperation::new(state);
        if let Some(description) = &op.description {
            answer = answer.with_description(description.clone());
        }
        if op.is_running() {
            answer = answer.with_retry_after(self.core.settings.retry_after);
        }
        Ok(answer)
    }

    pub(super) async fn binding_last_operation(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: Option<&str>,
    ) -> Result<BindingLastOperation, BrokerError> {
        let now = self.core.now();
        let current = self
            .binding(instance_id, binding_id)
            .await?
            .filter(|c| !c.record.lifecycle.is_expired_tombstone(now));
        let Some(current) = current else {
            return Err(BrokerError::not_found());
        };
        let Some(op) = pick(&current.record.lifecycle, token) else {
            return Err(BrokerError::not_found());
        };
        if gone_after_delete(op, &self.core.settings) {
            return Err(BrokerError::gone());
        }
        let state = match op.status {
            OperationStatus::InProgress => BindingOperationState::InProgress,
            OperationStatus::Succeeded => BindingOperationState::Succeeded,
            OperationStatus::Failed => BindingOperationState::Failed,
        };
        let mut answer = BindingLastOperation::new(state);
        if let Some(description) = &op.description {
            answer = answer.with_description(description.clone());
        }
        if op.is_running() {
            answer = answer.with_retry_after(self.core.settings.retry_after);
        }
        Ok(answer)
    }
}
