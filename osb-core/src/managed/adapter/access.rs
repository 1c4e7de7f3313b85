//! Reading and writing records: loads that settle stale operations, and compare-and-set loops.

use super::error::{contended, halted, internal, retry};
use super::recover::Settle;
use super::tasks::Target;
use super::{Engine, MAX_ATTEMPTS};
use crate::error::BrokerError;
use crate::managed::logic::ServiceLogic;
use crate::managed::record::{BindingRecord, InstanceRecord};
use crate::managed::store::{StateStore, Versioned};
use crate::operation::OperationToken;

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// The instance record (tombstones included), with a stale running operation settled.
    pub(super) async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, BrokerError> {
        Ok(self.settle_instance(instance_id).await?.0)
    }

    /// [`Engine::instance`], also saying whether this call settled an operation.
    pub(super) async fn settle_instance(
        &self,
        instance_id: &str,
    ) -> Result<(Option<Versioned<InstanceRecord>>, bool), BrokerError> {
        let store = &self.core.store;
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut current) = store.load_instance(instance_id).await.map_err(internal)?
            else {
                return Ok((None, false));
            };
            let now = self.core.now();
            let settle = self.settle(&mut current.record.lifecycle, now);
            match &settle {
                Settle::Nothing => return Ok((Some(current), false)),
                Settle::Failed(_) => current.record.pending_update = None,
                Settle::Resume(..) => {}
            }
            match store
                .save_instance(instance_id, Some(current.version), &current.record)
                .await
            {
                Ok(version) => {
                    current.version = version;
                    self.after_settle(Target::Instance(instance_id.to_owned()), settle)
                        .await;
                    return Ok((Some(current), true));
                }
                Err(err) => retry(err)?,
            }
        }
        Err(contended())
    }

    /// The binding record (tombstones included), with a stale running operation settled.
    pub(super) async fn binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, BrokerError> {
        Ok(self.settle_binding(instance_id, binding_id).await?.0)
    }

    /// [`Engine::binding`], also saying whether this call settled an operation.
    pub(super) async fn settle_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<(Option<Versioned<BindingRecord>>, bool), BrokerError> {
        let store = &self.core.store;
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut current) = store
                .load_binding(instance_id, binding_id)
                .await
                .map_err(internal)?
            else {
                return Ok((None, false));
            };
            let now = self.core.now();
            let settle = self.settle(&mut current.record.lifecycle, now);
            if matches!(settle, Settle::Nothing) {
                return Ok((Some(current), false));
            }
            match store
                .save_binding(
                    instance_id,
                    binding_id,
                    Some(current.version),
                    &current.record,
                )
                .await
            {
                Ok(version) => {
                    current.version = version;
                    let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
                    self.after_settle(target, settle).await;
                    return Ok((Some(current), true));
                }
                Err(err) => retry(err)?,
            }
        }
        Err(contended())
    }

    async fn after_settle(&self, target: Target, settle: Settle) {
        match settle {
            Settle::Nothing => {}
            Settle::Failed(token) => {
                self.abort(&token);
                if let Target::Binding(iid, bid) = &target {
                    self.release_claim(iid, bid).await;
                }
                tracing::info!(operation = %token, "settled a stale operation as failed");
            }
            Settle::Resume(token, kind) => {
                tracing::info!(operation = %token, "resuming an operation whose owner's lease expired");
                self.spawn_work(target, kind, token).await;
            }
        }
    }

    /// The instance record, if operation `token` still runs on it under this replica's lease;
    /// else [`halted`].
    pub(super) async fn owned_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
    ) -> Result<InstanceRecord, BrokerError> {
        let store = &self.core.store;
        match store.load_instance(instance_id).await {
            Ok(Some(c)) if c.record.lifecycle.owns(token, &self.core.owner) => Ok(c.record),
            Ok(_) => Err(halted()),
            Err(err) => Err(internal(err)),
        }
    }

    /// The binding record, if operation `token` still runs on it under this replica's lease;
    /// else [`halted`].
    pub(super) async fn owned_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
    ) -> Result<BindingRecord, BrokerError> {
        let store = &self.core.store;
        match store.load_binding(instance_id, binding_id).await {
            Ok(Some(c)) if c.record.lifecycle.owns(token, &self.core.owner) => Ok(c.record),
            Ok(_) => Err(halted()),
            Err(err) => Err(internal(err)),
        }
    }

    /// Applies `change` to the instance record in a compare-and-set loop. `change` returns
    /// `false` to write nothing. `Ok(false)` when the record is absent or unchanged.
    pub(super) async fn modify_instance(
        &self,
        instance_id: &str,
        mut change: impl FnMut(&mut InstanceRecord) -> bool,
    ) -> Result<bool, BrokerError> {
        let store = &self.core.store;
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut current) = store.load_instance(instance_id).await.map_err(internal)?
            else {
                return Ok(false);
            };
            if !change(&mut current.record) {
                return Ok(false);
            }
            match store
                .save_instance(instance_id, Some(current.version), &current.record)
                .await
            {
                Ok(_) => return Ok(true),
                Err(err) => retry(err)?,
            }
        }
        Err(contended())
    }

    /// Applies `change` to the binding record in a compare-and-set loop (see
    /// [`Engine::modify_instance`]).
    pub(super) async fn modify_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        mut change: impl FnMut(&mut BindingRecord) -> bool,
    ) -> Result<bool, BrokerError> {
        let store = &self.core.store;
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut current) = store
                .load_binding(instance_id, binding_id)
                .await
                .map_err(internal)?
            else {
                return Ok(false);
            };
            if !change(&mut current.record) {
                return Ok(false);
            }
            match store
                .save_binding(
                    instance_id,
                    binding_id,
                    Some(current.version),
                    &current.record,
                )
                .await
            {
                Ok(_) => return Ok(true),
                Err(err) => retry(err)?,
            }
        }
        Err(contended())
    }
}
