//! Starting an operation: what provision, update, deprovision, bind and unbind do alike once
//! their order of checks decided to start one. The new operation goes into the resource's record,
//! which is saved by compare-and-set; then the operation runs inline (synchronous) or in the
//! background (asynchronous, answered 202 with its token).

use super::binding::Claim;
use super::error::retry;
use super::tasks::Target;
use super::{Core, Engine};
use crate::error::BrokerError;
use crate::managed::clock::Timestamp;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{BindingRecord, InstanceRecord, OperationRecord};
use crate::managed::store::{StateStore, Version};
use crate::operation::OperationToken;

/// An operation a request decided to start, made by [`Core::start`].
#[derive(Debug)]
pub(super) struct Start {
    operation: OperationRecord,
    /// The running create this operation halts once it is recorded (a delete during create).
    halts: Option<OperationToken>,
}

impl Start {
    /// The same start, halting the running create `halts` once recorded.
    pub(super) fn halting(self, halts: Option<OperationToken>) -> Self {
        Self { halts, ..self }
    }
}

/// What became of a [`Start`].
#[derive(Debug)]
#[must_use]
pub(super) enum Started {
    /// The resource changed since it was loaded: load it and decide again.
    Conflict,
    /// Recorded and synchronous: run it inline, the answer waits for it.
    Inline(OperationToken),
    /// Recorded and running in the background: answer 202 with this token.
    Accepted(OperationToken),
}

impl<L: ServiceLogic, S: StateStore> Core<L, S> {
    /// A new operation of `kind` on a resource of plan `plan_id`, its lease held by this
    /// replica. Only an asynchronous one has a deadline (the plan's `maximum_polling_duration`).
    pub(super) fn start(
        &self,
        kind: OperationKind,
        asynchronous: bool,
        service_id: &str,
        plan_id: &str,
        now: Timestamp,
    ) -> Start {
        let deadline = asynchronous
            .then(|| self.deadline(service_id, plan_id, now))
            .flatten();
        Start {
            operation: OperationRecord::start(kind, asynchronous, now, deadline, self.lease(now)),
            halts: None,
        }
    }
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Records `start` on instance `instance_id`, then sets it running (see [`Started`]):
    /// `record` makes the record with the new operation in it, saved only if the stored version
    /// is still `expected`. A store failure is a 500.
    pub(super) async fn start_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        start: Start,
        record: impl FnOnce(OperationRecord) -> InstanceRecord,
    ) -> Result<Started, BrokerError> {
        let record = record(start.operation.clone());
        if let Err(err) = self
            .core
            .store
            .save_instance(instance_id, expected, &record)
            .await
        {
            return retry(err).map(|()| Started::Conflict);
        }
        let target = Target::Instance(instance_id.to_owned());
        Ok(self.run_started(target, start).await)
    }

    /// [`Engine::start_instance`] for binding `binding_id`, which this request has `claim`ed on
    /// its instance: a claim it made is given back when the record cannot be saved.
    pub(super) async fn start_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        claim: Claim,
        start: Start,
        record: impl FnOnce(OperationRecord) -> BindingRecord,
    ) -> Result<Started, BrokerError> {
        let record = record(start.operation.clone());
        if let Err(err) = self
            .core
            .store
            .save_binding(instance_id, binding_id, expected, &record)
            .await
        {
            self.return_claim(instance_id, binding_id, claim).await;
            return retry(err).map(|()| Started::Conflict);
        }
        let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
        Ok(self.run_started(target, start).await)
    }

    /// After `start` is recorded: halts the create it replaces, then spawns it if it is
    /// asynchronous.
    async fn run_started(&self, target: Target, start: Start) -> Started {
        if let Some(create) = &start.halts {
            // spec.md "Deprovisioning": a delete accepted during a create MUST halt it.
            self.abort(create);
        }
        let OperationRecord {
            token,
            kind,
            asynchronous,
            ..
        } = start.operation;
        if !asynchronous {
            return Started::Inline(token);
        }
        self.spawn_work(target, kind, token.clone()).await;
        Started::Accepted(token)
    }
}
