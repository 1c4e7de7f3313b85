//! Deprovision and unbind: one order of checks for both DELETEs (NOTES.md §13 steps 7–8).

use super::claim::Claim;
use super::decide::Start;
use super::error::{contended, halted};
use super::run::Started;
use super::settings::DeleteDuringCreate;
use super::tasks::Target;
use super::{Engine, HALTED, MAX_ATTEMPTS};
use crate::binding::UnbindResponse;
use crate::broker::RequestContext;
use crate::deprovision::DeprovisionResponse;
use crate::error::BrokerError;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{Lifecycle, Outcome};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

/// What the order of checks looks at, for an instance or a binding alike.
#[derive(Debug)]
pub(super) struct DeleteCheck<'a> {
    /// The resource, `None` when unknown.
    pub(super) lifecycle: Option<&'a Lifecycle>,
    /// Other work that must end first: for an instance, running binds or unbinds; for a
    /// binding, a running operation on its instance.
    pub(super) busy: bool,
    /// Whether the delete runs in the background (decided from the *stored* plan).
    pub(super) asynchronous: bool,
    pub(super) accepts_incomplete: bool,
    pub(super) during_create: DeleteDuringCreate,
}

/// The decision of the order of checks.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DeleteDecision {
    /// The same delete already runs: 202 with its operation.
    AlreadyDeleting(OperationToken),
    /// Start the delete, halting the running create `halts` if any.
    Start { halts: Option<OperationToken> },
}

/// NOTES.md §13 steps 7 and 8, the one order of checks for both DELETEs.
pub(super) fn order_of_checks(check: &DeleteCheck<'_>) -> Result<DeleteDecision, BrokerError> {
    // 1. Unknown (or already deleted) → 410 Gone (spec.md "Deprovisioning" / "Unbinding").
    let Some(life) = check.lifecycle.filter(|life| !life.is_deleted()) else {
        return Err(BrokerError::gone());
    };
    let running = life.running();
    // 2. The delete already runs → 202 with its operation, only if the platform accepts 202.
    if let Some(op) = running.filter(|op| op.kind.deletes()) {
        return if check.accepts_incomplete {
            Ok(DeleteDecision::AlreadyDeleting(op.token.clone()))
        } else {
            Err(BrokerError::async_required())
        };
    }
    // 3. Busy with an update or a bind → 422 ConcurrencyError.
    if check.busy || running.is_some_and(|op| !op.kind.creates()) {
        return Err(BrokerError::concurrency_error());
    }
    // 4. Busy with its own create → halt it (default) or refuse.
    let halts = running.map(|create| create.token.clone());
    if halts.is_some() && check.during_create == DeleteDuringCreate::Refuse {
        return Err(BrokerError::concurrency_error());
    }
    // 5. An async-only delete without accepts_incomplete → 422 AsyncRequired.
    if check.asynchronous && !check.accepts_incomplete {
        return Err(BrokerError::async_required());
    }
    Ok(DeleteDecision::Start { halts })
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    pub(super) async fn deprovision(
        &self,
        instance_id: &str,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let core = &self.core;
        for _ in 0..MAX_ATTEMPTS {
            let current = self.instance(instance_id).await?;
            let moment = core.moment(ctx.accepts_incomplete);
            let now = moment.now;
            let check = DeleteCheck {
                lifecycle: current.as_ref().map(|c| &c.record.lifecycle),
                busy: current
                    .as_ref()
                    .is_some_and(|c| c.record.has_binding_operations(now)),
                asynchronous: current
                    .as_ref()
                    .is_some_and(|c| core.is_async(OperationKind::Deprovision, &c.record.plan_id)),
                accepts_incomplete: ctx.accepts_incomplete,
                during_create: core.settings.delete_during_create,
            };
            let asynchronous = check.asynchronous;
            let halts = match order_of_checks(&check)? {
                DeleteDecision::AlreadyDeleting(token) => {
                    return Ok(DeprovisionResponse::Accepted {
                        operation: Some(token),
                    });
                }
                DeleteDecision::Start { halts } => halts,
            };
            let Some(current) = current else {
                return Err(BrokerError::gone());
            };
            let halted_here = self.halted_here(halts.as_ref());
            let mut record = current.record;
            let operation = moment.operation(
                OperationKind::Deprovision,
                asynchronous,
                record.service_id(),
                &record.plan_id,
            );
            record.lifecycle.begin(operation.clone(), now, HALTED);
            if let Some(create) = &halted_here {
                record.lifecycle.stopped(create, &core.owner);
            }
            record.binding_operations.clear();
            let start = Start {
                halts,
                ..Start::new(operation, record)
            };
            let started = self
                .start_instance(instance_id, Some(current.version), start)
                .await?;
            return match started {
                Started::Conflict => continue,
                Started::Inline(token) => self
                    .delete_instance(instance_id, &token)
                    .await
                    .map(|()| DeprovisionResponse::Deleted),
                Started::Accepted(token) => Ok(DeprovisionResponse::Accepted {
                    operation: Some(token),
                }),
            };
        }
        Err(contended())
    }

    /// Runs the deprovision `token`; on success removes the instance's binding records.
    pub(super) async fn delete_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
    ) -> Result<(), BrokerError> {
        let core = &self.core;
        let target = Target::Instance(instance_id.to_owned());
        let local = self.enter_local(token);
        let record = self.owned_instance(instance_id, token).await?;
        let stopped = self.until_stopped(&target, &record.lifecycle, token);
        let work = async {
            stopped.await;
            core.logic.delete_instance(instance_id, &record).await
        };
        self.run_owned(&target, token, &local, work, |err| Outcome {
            failure: Some(err.error().description().to_owned()),
            instance_usable: err.instance_usable(),
            update_repeatable: None,
        })
        .await?;
        if !self.finish(&target, token, Outcome::succeeded()).await? {
            return Err(halted());
        }
        // Platforms unbind first (spec.md "Deprovisioning"); forget what is left.
        match core.store.list_bindings(instance_id).await {
            Ok(bindings) => {
                for (binding_id, listed) in bindings {
                    // An unreadable row has no version to remove it at: it is reported, and
                    // stays for an operator.
                    if let Some(binding) = core.readable(instance_id, Some(&binding_id), listed) {
                        let _ = core
                            .store
                            .remove_binding(instance_id, &binding_id, binding.version)
                            .await;
                    }
                }
            }
            Err(err) => {
                let err = BrokerError::internal(err);
                tracing::warn!(
                    cause = err.cause_chain().as_deref(),
                    "listing bindings of a deleted instance failed"
                );
            }
        }
        Ok(())
    }

    pub(super) async fn unbind(
        &self,
        instance_id: &str,
        binding_id: &str,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        let core = &self.core;
        for _ in 0..MAX_ATTEMPTS {
            let instance = self
                .instance(instance_id)
                .await?
                .filter(|i| !i.record.lifecycle.is_deleted());
            let current = match &instance {
                Some(_) => self.binding(instance_id, binding_id).await?,
                None => None,
            };
            let check = DeleteCheck {
                lifecycle: current.as_ref().map(|c| &c.record.lifecycle),
                busy: instance
                    .as_ref()
                    .is_some_and(|i| i.record.lifecycle.running().is_some()),
                // NOTES.md §13 step 8: decided from the stored binding's plan.
                asynchronous: current.as_ref().is_some_and(|c| {
                    core.is_async(OperationKind::Unbind, &c.record.request.plan_id)
                }),
                accepts_incomplete: ctx.accepts_incomplete,
                during_create: core.settings.delete_during_create,
            };
            let asynchronous = check.asynchronous;
            let halts = match order_of_checks(&check)? {
                DeleteDecision::AlreadyDeleting(token) => {
                    return Ok(UnbindResponse::Accepted {
                        operation: Some(token),
                    });
                }
                DeleteDecision::Start { halts } => halts,
            };
            let (Some(instance), Some(current)) = (instance, current) else {
                return Err(BrokerError::gone());
            };
            let moment = core.moment(ctx.accepts_incomplete);
            let now = moment.now;
            let claim = match self
                .claim(instance_id, binding_id, instance.version, now, true)
                .await?
            {
                Claim::Conflict | Claim::Busy => continue,
                claim @ (Claim::Fresh | Claim::TakenOver) => claim,
            };
            let halted_here = self.halted_here(halts.as_ref());
            let mut record = current.record;
            let operation = moment.operation(
                OperationKind::Unbind,
                asynchronous,
                &record.request.service_id,
                &record.request.plan_id,
            );
            record.lifecycle.begin(operation.clone(), now, HALTED);
            if let Some(bind) = &halted_here {
                record.lifecycle.stopped(bind, &core.owner);
            }
            let start = Start {
                halts,
                ..Start::new(operation, record)
            };
            let started = self
                .start_binding(instance_id, binding_id, Some(current.version), claim, start)
                .await?;
            return match started {
                Started::Conflict => continue,
                Started::Inline(token) => self
                    .delete_binding(instance_id, binding_id, &token)
                    .await
                    .map(|()| UnbindResponse::Deleted),
                Started::Accepted(token) => Ok(UnbindResponse::Accepted {
                    operation: Some(token),
                }),
            };
        }
        Err(contended())
    }

    /// Runs the unbind `token`.
    pub(super) async fn delete_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
    ) -> Result<(), BrokerError> {
        let core = &self.core;
        let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
        let local = self.enter_local(token);
        let record = self.owned_binding(instance_id, binding_id, token).await?;
        let stopped = self.until_stopped(&target, &record.lifecycle, token);
        let work = async {
            stopped.await;
            core.logic
                .delete_binding(instance_id, binding_id, &record)
                .await
        };
        self.run_owned(&target, token, &local, work, |err| {
            Outcome::failed(err.description())
        })
        .await?;
        if self.finish(&target, token, Outcome::succeeded()).await? {
            Ok(())
        } else {
            Err(halted())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::managed::clock::Timestamp;
    use crate::managed::record::{Lease, OperationRecord};

    fn life(kind: OperationKind) -> Lifecycle {
        let now = Timestamp::from_unix_millis(0);
        Lifecycle::creating(OperationRecord::start(
            kind,
            true,
            now,
            None,
            Lease::new("a", now),
        ))
    }

    fn check(lifecycle: Option<&Lifecycle>) -> DeleteCheck<'_> {
        DeleteCheck {
            lifecycle,
            busy: false,
            asynchronous: false,
            accepts_incomplete: true,
            during_create: DeleteDuringCreate::Halt,
        }
    }

    #[test]
    fn unknown_resource_is_gone() {
        let err = order_of_checks(&check(None)).unwrap_err();
        assert_eq!(err.status().as_u16(), 410);
    }

    #[test]
    fn delete_during_create_halts_or_refuses_per_setting() {
        let creating = life(OperationKind::Provision);
        let token = creating.operations[0].token.clone();
        assert_eq!(
            order_of_checks(&check(Some(&creating))).unwrap(),
            DeleteDecision::Start { halts: Some(token) }
        );
        let refuse = DeleteCheck {
            during_create: DeleteDuringCreate::Refuse,
            ..check(Some(&creating))
        };
        assert_eq!(
            order_of_checks(&refuse)
                .unwrap_err()
                .to_body()
                .error
                .as_deref(),
            Some("ConcurrencyError")
        );
    }

    #[test]
    fn busy_beats_async_required() {
        let mut ready = life(OperationKind::Bind);
        let token = ready.operations[0].token.clone();
        ready.complete(
            &token,
            Outcome::succeeded(),
            Timestamp::from_unix_millis(1),
            std::time::Duration::ZERO,
        );
        let busy = DeleteCheck {
            busy: true,
            asynchronous: true,
            accepts_incomplete: false,
            ..check(Some(&ready))
        };
        assert_eq!(
            order_of_checks(&busy)
                .unwrap_err()
                .to_body()
                .error
                .as_deref(),
            Some("ConcurrencyError")
        );
        let idle = DeleteCheck {
            asynchronous: true,
            accepts_incomplete: false,
            ..check(Some(&ready))
        };
        assert_eq!(
            order_of_checks(&idle)
                .unwrap_err()
                .to_body()
                .error
                .as_deref(),
            Some("AsyncRequired")
        );
    }
}
