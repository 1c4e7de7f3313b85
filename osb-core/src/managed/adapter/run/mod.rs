//! The executor: carries out what a [decision](super::decide) started. The new operation's
//! record is saved by compare-and-set (a conflict sends the request back to load and decide
//! again); then the operation runs inline (synchronous: the answer waits for it) or in the
//! background under its lease (asynchronous: answered 202 with its token). The work itself runs
//! under the lease ([`Engine::run_owned`]) and its outcome is settled in the record
//! ([`Engine::finish`]).

mod lease;
mod outcome;

use super::claim::Claim;
use super::decide::Start;
use super::error::retry;
use super::tasks::Target;
use super::{Engine, INTERRUPTED};
use crate::error::{BrokerError, ErrorKind};
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{BindingRecord, InstanceRecord, OperationRecord, Outcome};
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

    /// Runs operation `token` of `kind` in the background; if that is impossible (shut down,
    /// no runtime), fails it at once rather than leave it to lease expiry.
    pub(super) async fn spawn_work(
        &self,
        target: Target,
        kind: OperationKind,
        token: OperationToken,
    ) {
        if !self.try_spawn(target.clone(), kind, token.clone()) {
            let _ = self
                .finish(&target, &token, Outcome::failed(INTERRUPTED))
                .await;
        }
    }

    /// Spawns the task running operation `token`. Not `async`: the task may itself settle and
    /// resume operations, and a recursive `async fn` could not be proven `Send`.
    fn try_spawn(&self, target: Target, kind: OperationKind, token: OperationToken) -> bool {
        let engine = self.clone();
        let work_token = token.clone();
        let work_target = target;
        let task = async move {
            let (target, token) = (work_target, work_token);
            let result = match (&target, kind) {
                (Target::Instance(iid), OperationKind::Provision) => {
                    engine.create_instance(iid, &token).await.map(drop)
                }
                (Target::Instance(iid), OperationKind::Update) => {
                    engine.update_instance(iid, &token).await.map(drop)
                }
                (Target::Instance(iid), OperationKind::Deprovision) => {
                    engine.delete_instance(iid, &token).await
                }
                (Target::Binding(iid, bid), OperationKind::Bind) => {
                    engine.create_binding(iid, bid, &token).await.map(drop)
                }
                (Target::Binding(iid, bid), OperationKind::Unbind) => {
                    engine.delete_binding(iid, bid, &token).await
                }
                _ => Ok(()),
            };
            if let Err(err) = result {
                log_failure(&token, &err);
            }
        };
        self.tasks
            .upgrade()
            .is_some_and(|tasks| tasks.spawn(Some(token), task))
    }
}

/// Logs why background operation `token` ended with `err`, with the cause chain (which may
/// hold internals: logs only). A halt by another request is routine (debug); a failure of the
/// logic is a warning; a broker failure (5xx, e.g. the store) is an error.
fn log_failure(token: &OperationToken, err: &BrokerError) {
    let cause = err.cause_chain();
    let cause = cause.as_deref();
    if err.kind() == ErrorKind::ConcurrencyError {
        tracing::debug!(operation = %token, error = %err, "background operation halted");
    } else if err.status().is_server_error() {
        tracing::error!(operation = %token, error = %err, cause, "background operation failed");
    } else {
        tracing::warn!(operation = %token, error = %err, cause, "background operation failed");
    }
}
