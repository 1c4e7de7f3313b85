//! Deprovision and unbind (rules.md §12.2): what a DELETE decided, carried out, and the
//! delete's work under its lease.

use super::claim::Claim;
use super::decide::{self, Decision};
use super::error::{contended, halted};
use super::run::Started;
use super::tasks::Target;
use super::{Engine, MAX_ATTEMPTS};
use crate::binding::UnbindResponse;
use crate::broker::RequestContext;
use crate::deprovision::DeprovisionResponse;
use crate::error::BrokerError;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::Outcome;
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Deprovision (rules.md §12.2): loads the instance, lets [`decide::deprovision`] decide,
    /// and starts the delete.
    pub(super) async fn deprovision(
        &self,
        instance_id: &str,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let core = &self.core;
        let is_async = |plan_id: &str| core.is_async(OperationKind::Deprovision, plan_id);
        for _ in 0..MAX_ATTEMPTS {
            let current = self.instance(instance_id).await?;
            let moment = core.moment(ctx.accepts_incomplete);
            let stored = current.as_ref().map(|c| &c.record);
            let start = match decide::deprovision(stored, is_async, &moment)? {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Start(start) => start,
            };
            let expected = current.map(|c| c.version);
            return match self.start_instance(instance_id, expected, start).await? {
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

    /// Unbind (rules.md §12.2): loads the instance and the binding, lets [`decide::unbind`]
    /// decide, claims the binding on its instance (taking over a bind's claim) and starts the
    /// unbind.
    pub(super) async fn unbind(
        &self,
        instance_id: &str,
        binding_id: &str,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        let core = &self.core;
        let is_async = |plan_id: &str| core.is_async(OperationKind::Unbind, plan_id);
        for _ in 0..MAX_ATTEMPTS {
            let instance = self
                .instance(instance_id)
                .await?
                .filter(|i| !i.record.lifecycle.is_deleted());
            let current = match &instance {
                Some(_) => self.binding(instance_id, binding_id).await?,
                None => None,
            };
            let moment = core.moment(ctx.accepts_incomplete);
            let (stored_instance, stored) = (
                instance.as_ref().map(|i| &i.record),
                current.as_ref().map(|c| &c.record),
            );
            let start = match decide::unbind(stored_instance, stored, is_async, &moment)? {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Start(start) => start,
            };
            // `decide::unbind` answered 410 for an unknown instance or binding.
            let (Some(instance), Some(current)) = (instance, current) else {
                return Err(BrokerError::gone());
            };
            let claim = match self
                .claim(instance_id, binding_id, instance.version, moment.now, true)
                .await?
            {
                Claim::Conflict | Claim::Busy => continue,
                claim @ (Claim::Fresh | Claim::TakenOver) => claim,
            };
            let expected = Some(current.version);
            let started = self
                .start_binding(instance_id, binding_id, expected, claim, start)
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
