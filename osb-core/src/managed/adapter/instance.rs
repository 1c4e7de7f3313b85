//! Provision, update and fetch of instances (rules.md §8–10): what a provision or update
//! decided, carried out, and their work under the lease.

use super::decide::{self, Decision};
use super::error::{contended, halted};
use super::refused;
use super::run::Started;
use super::tasks::Target;
use super::{Engine, MAX_ATTEMPTS};
use crate::broker::RequestContext;
use crate::error::BrokerError;
use crate::instance::FetchInstanceResponse;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{InstanceRecord, Outcome, Phase};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;
use crate::provision::{
    ProvisionAccepted, ProvisionRequest, ProvisionResponse, ProvisionedInstance,
};
use crate::update::{UpdateAccepted, UpdateRequest, UpdateResponse, UpdatedInstance};

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Provision (rules.md §8): loads the instance, lets [`decide::provision`] decide, and
    /// starts the create.
    pub(super) async fn provision(
        &self,
        instance_id: &str,
        request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        let core = &self.core;
        let asynchronous = core.is_async(OperationKind::Provision, &request.plan_id);
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.instance(instance_id).await?;
            let moment = core.moment(ctx.accepts_incomplete);
            let decision = decide::provision(
                stored.as_ref().map(|s| &s.record),
                &request,
                asynchronous,
                &moment,
            )?;
            let mut start = match decision {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Start(start) => start,
            };
            start.record.dashboard_url = core.logic.dashboard_url(instance_id, &request);
            let dashboard_url = start.record.dashboard_url.clone();
            // What is stored here is a tombstone the new instance replaces.
            let expected = stored.as_ref().map(|tombstone| tombstone.version);
            return match self.start_instance(instance_id, expected, start).await? {
                Started::Conflict => continue,
                Started::Inline(token) => {
                    let replaced = stored.map(|tombstone| tombstone.record);
                    self.provision_inline(instance_id, &token, replaced).await
                }
                Started::Accepted(token) => Ok(ProvisionResponse::Accepted(ProvisionAccepted {
                    dashboard_url,
                    operation: Some(token),
                    metadata: None,
                })),
            };
        }
        Err(contended())
    }

    /// Runs the synchronous provision `token`; a refusal (rules.md §3.4) puts back the record it
    /// `replaced` (a tombstone), or none.
    async fn provision_inline(
        &self,
        instance_id: &str,
        token: &OperationToken,
        replaced: Option<InstanceRecord>,
    ) -> Result<ProvisionResponse, BrokerError> {
        let created = self.create_instance(instance_id, token).await;
        if let Err(err) = &created
            && refused::is_refusal(err)
        {
            self.forget_refused_instance(instance_id, token, replaced)
                .await;
        }
        created.map(ProvisionResponse::Created)
    }

    /// Runs the provision `token` of an instance recorded as creating. When it ends without
    /// recording an outcome (halted by a delete), records that its work stopped, for the delete
    /// that waits for it on another replica.
    pub(super) async fn create_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
    ) -> Result<ProvisionedInstance, BrokerError> {
        let created = self.run_create_instance(instance_id, token).await;
        if created.is_err() {
            let target = Target::Instance(instance_id.to_owned());
            self.record_stopped(&target, token).await;
        }
        created
    }

    async fn run_create_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
    ) -> Result<ProvisionedInstance, BrokerError> {
        let core = &self.core;
        let target = Target::Instance(instance_id.to_owned());
        let local = self.enter_local(token);
        let request = self.owned_instance(instance_id, token).await?.request;
        let work = core.logic.create_instance(instance_id, &request);
        let created = self
            .run_owned(&target, token, &local, work, |err| {
                Outcome::failed(err.description())
            })
            .await?;
        let now = core.now();
        let retention = core.settings.tombstone_retention;
        let mut answer = None;
        let done = self
            .modify_instance(instance_id, |r| {
                if !r
                    .lifecycle
                    .complete(token, Outcome::succeeded(), now, retention)
                {
                    return false;
                }
                if r.dashboard_url.is_none() {
                    r.dashboard_url.clone_from(&created.dashboard_url);
                }
                r.metadata.clone_from(&created.metadata);
                answer = Some(ProvisionedInstance {
                    dashboard_url: r.dashboard_url.clone(),
                    metadata: r.metadata.clone(),
                });
                true
            })
            .await?;
        match answer {
            Some(answer) if done => Ok(answer),
            _ => {
                self.clean_up_late(&target, token).await;
                Err(halted())
            }
        }
    }

    /// Update (rules.md §10): loads the instance, lets [`decide::update`] decide, and starts the
    /// update.
    pub(super) async fn update(
        &self,
        instance_id: &str,
        request: UpdateRequest,
        ctx: &RequestContext,
    ) -> Result<UpdateResponse, BrokerError> {
        let core = &self.core;
        let is_async = |plan_id: &str| core.is_async(OperationKind::Update, plan_id);
        for _ in 0..MAX_ATTEMPTS {
            let current = self.instance(instance_id).await?;
            let moment = core.moment(ctx.accepts_incomplete);
            let stored = current.as_ref().map(|c| &c.record);
            let start = match decide::update(stored, &request, is_async, &moment)? {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Start(start) => start,
            };
            let expected = current.map(|c| c.version);
            let started = self.start_instance(instance_id, expected, start).await?;
            return match started {
                Started::Conflict => continue,
                Started::Inline(token) => self
                    .update_instance(instance_id, &token)
                    .await
                    .map(UpdateResponse::Updated),
                Started::Accepted(token) => Ok(UpdateResponse::Accepted(
                    UpdateAccepted::with_operation(token),
                )),
            };
        }
        Err(contended())
    }

    /// Runs the update `token` recorded in the instance's `pending_update`.
    pub(super) async fn update_instance(
        &self,
        instance_id: &str,
        token: &OperationToken,
    ) -> Result<UpdatedInstance, BrokerError> {
        let core = &self.core;
        let target = Target::Instance(instance_id.to_owned());
        let local = self.enter_local(token);
        let record = self.owned_instance(instance_id, token).await?;
        let Some(request) = record.pending_update.clone() else {
            return Err(halted());
        };
        let work = core.logic.update_instance(instance_id, &request, &record);
        let updated = self
            .run_owned(&target, token, &local, work, |err| Outcome {
                failure: Some(err.error().description().to_owned()),
                instance_usable: err.instance_usable(),
                update_repeatable: err.update_repeatable(),
            })
            .await?;
        let now = core.now();
        let retention = core.settings.tombstone_retention;
        let done = self
            .modify_instance(instance_id, |r| {
                if !r
                    .lifecycle
                    .complete(token, Outcome::succeeded(), now, retention)
                {
                    return false;
                }
                apply_update(r, &request, &updated);
                true
            })
            .await?;
        if done { Ok(updated) } else { Err(halted()) }
    }

    pub(super) async fn fetch_instance(
        &self,
        instance_id: &str,
    ) -> Result<FetchInstanceResponse, BrokerError> {
        let Some(current) = self.instance(instance_id).await? else {
            return Err(BrokerError::not_found());
        };
        let record = current.record;
        // rules.md §9: 404 when the catalog does not declare instances retrievable.
        let retrievable = self
            .core
            .catalog
            .service(record.service_id())
            .is_some_and(|service| service.instances_retrievable());
        // spec.md "Fetching a Service Instance": 404 while provisioning is in progress.
        if !retrievable || !matches!(record.lifecycle.phase, Phase::Ready | Phase::Deleting) {
            return Err(BrokerError::not_found());
        }
        // 422 ConcurrencyError while the instance is being updated (or deleted).
        if record.lifecycle.running().is_some() {
            return Err(BrokerError::concurrency_error());
        }
        let stored = FetchInstanceResponse {
            service_id: Some(record.request.service_id.clone()),
            plan_id: Some(record.plan_id.clone()),
            dashboard_url: record.dashboard_url.clone(),
            parameters: record.parameters.clone(),
            maintenance_info: record.maintenance_info.clone(),
            metadata: record.metadata.clone(),
        };
        self.core
            .logic
            .fetch_instance(instance_id, stored)
            .await
            .map_err(BrokerError::from)
    }
}

fn apply_update(record: &mut InstanceRecord, request: &UpdateRequest, updated: &UpdatedInstance) {
    if let Some(plan_id) = &request.plan_id {
        record.plan_id.clone_from(plan_id);
    }
    if let Some(parameters) = &request.parameters {
        let current = record.parameters.get_or_insert_with(Default::default);
        for (key, value) in parameters {
            current.insert(key.clone(), value.clone());
        }
    }
    if request.context.is_some() {
        record.context.clone_from(&request.context);
    }
    if request.maintenance_info.is_some() {
        record
            .maintenance_info
            .clone_from(&request.maintenance_info);
    }
    if updated.dashboard_url.is_some() {
        record.dashboard_url.clone_from(&updated.dashboard_url);
    }
    if updated.metadata.is_some() {
        record.metadata.clone_from(&updated.metadata);
    }
}
