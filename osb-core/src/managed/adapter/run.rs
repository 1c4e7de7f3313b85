//! The executor: carries out what a [decision](super::decide) started. The new operation's
//! record is saved by compare-and-set (a conflict sends the request back to load and decide
//! again); then the operation runs inline (synchronous: the answer waits for it) or in the
//! background under its lease (asynchronous: answered 202 with its token). The work itself runs
//! under the lease ([`Engine::run_owned`]) and its outcome is settled in the record
//! ([`Engine::finish`]).

use super::Engine;
use super::claim::Claim;
use super::decide::Start;
use super::error::retry;
use super::tasks::Target;
use crate::error::BrokerError;
use crate::managed::logic::ServiceLogic;
use crate::managed::record::{BindingRecord, InstanceRecord, OperationRecord};
use crate::managed::store::{StateStore, Version};
use crate::operation::OperationToken;

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

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Saves `start`'s record of instance `instance_id` if the stored version is still
    /// `expected`, then sets its operation running (see [`Started`]). A store failure is a 500.
    /// A delete halting a create whose work runs here records at once that the work stopped
    /// ([`Engine::stop_here`]).
    pub(super) async fn start_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        mut start: Start<InstanceRecord>,
    ) -> Result<Started, BrokerError> {
        self.stop_here(&mut start.record.lifecycle, start.halts.as_ref());
        if let Err(err) = self
            .core
            .store
            .save_instance(instance_id, expected, &start.record)
            .await
        {
            return retry(err).map(|()| Started::Conflict);
        }
        let target = Target::Instance(instance_id.to_owned());
        Ok(self.run_started(target, start.operation, start.halts).await)
    }

    /// [`Engine::start_instance`] for binding `binding_id`, which this request has `claim`ed on
    /// its instance: a claim it made is given back when the record cannot be saved.
    pub(super) async fn start_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        claim: Claim,
        mut start: Start<BindingRecord>,
    ) -> Result<Started, BrokerError> {
        self.stop_here(&mut start.record.lifecycle, start.halts.as_ref());
        if let Err(err) = self
            .core
            .store
            .save_binding(instance_id, binding_id, expected, &start.record)
            .await
        {
            self.return_claim(instance_id, binding_id, claim).await;
            return retry(err).map(|()| Started::Conflict);
        }
        let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
        Ok(self.run_started(target, start.operation, start.halts).await)
    }

    /// After `operation` is recorded: halts the create it replaces, then spawns it if it is
    /// asynchronous.
    async fn run_started(
        &self,
        target: Target,
        operation: OperationRecord,
        halts: Option<OperationToken>,
    ) -> Started {
        if let Some(create) = &halts {
            // spec.md "Deprovisioning": a delete accepted during a create MUST halt it.
            self.abort(create);
        }
        let OperationRecord {
            token,
            kind,
            asynchronous,
            ..
        } = operation;
        if !asynchronous {
            return Started::Inline(token);
        }
        self.spawn_work(target, kind, token.clone()).await;
        Started::Accepted(token)
    }
}
