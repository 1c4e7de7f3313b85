//! Bind and fetch of bindings (rules.md §11, §12.1): what a bind decided, carried out, and the
//! bind's work under its lease.

use super::claim::Claim;
use super::decide::{self, BindFacts, Decision};
use super::error::{contended, halted};
use super::refused;
use super::run::Started;
use super::tasks::Target;
use super::{Engine, MAX_ATTEMPTS};
use crate::binding::{BindAccepted, BindRequest, BindResponse, Binding, FetchBindingResponse};
use crate::broker::RequestContext;
use crate::error::BrokerError;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{BindingRecord, Outcome, Phase};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Bind (rules.md §11): loads the instance and the binding, lets [`decide::bind`] decide,
    /// claims the binding on its instance and starts the bind.
    pub(super) async fn bind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        let core = &self.core;
        let asynchronous = core.is_async(OperationKind::Bind, &request.plan_id);
        let requires_app = core.logic.requires_app(&request.plan_id);
        for _ in 0..MAX_ATTEMPTS {
            let instance = self.instance(instance_id).await?;
            decide::bind_instance(instance.as_ref().map(|i| &i.record), &request)?;
            // `bind_instance` answered 404 for an unknown instance.
            let Some(instance) = instance else {
                return Err(BrokerError::not_found());
            };
            let existing = self.binding(instance_id, binding_id).await?;
            // The predecessor matters only for a new binding (a retry is answered from the
            // binding): read it only then, as every read settles a stale operation.
            let live = existing
                .as_ref()
                .is_some_and(|c| !c.record.lifecycle.is_deleted());
            let predecessor = match &request.predecessor_binding_id {
                Some(predecessor) if !live => self.binding(instance_id, predecessor).await?,
                _ => None,
            };
            let facts = BindFacts {
                existing: existing.as_ref().map(|c| &c.record),
                predecessor: predecessor.as_ref().map(|p| &p.record),
                asynchronous,
                requires_app,
            };
            let moment = core.moment(ctx.accepts_incomplete);
            let start = match decide::bind(facts, &request, &moment)? {
                Decision::Answer(answer) => return Ok(answer),
                Decision::Start(start) => start,
            };
            let claim = match self
                .claim(instance_id, binding_id, instance.version, moment.now, false)
                .await?
            {
                Claim::Conflict => continue,
                // Another request on this binding is starting: let it write its record, then
                // decide again (202 for an identical request, 409 otherwise).
                Claim::Busy => {
                    tokio::task::yield_now().await;
                    continue;
                }
                claim @ (Claim::Fresh | Claim::TakenOver) => claim,
            };
            let expected = existing.as_ref().map(|tombstone| tombstone.version);
            let started = self
                .start_binding(instance_id, binding_id, expected, claim, start)
                .await?;
            return match started {
                Started::Conflict => continue,
                Started::Inline(token) => {
                    let replaced = existing.map(|tombstone| tombstone.record);
                    self.bind_inline(instance_id, binding_id, &token, replaced)
                        .await
                }
                Started::Accepted(token) => Ok(BindResponse::Accepted(BindAccepted {
                    operation: Some(token),
                })),
            };
        }
        Err(contended())
    }

    /// Runs the synchronous bind `token`; a refusal (rules.md §3.4) puts back the record it
    /// `replaced` (a tombstone), or none.
    async fn bind_inline(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
        replaced: Option<BindingRecord>,
    ) -> Result<BindResponse, BrokerError> {
        let created = self.create_binding(instance_id, binding_id, token).await;
        if let Err(err) = &created
            && refused::is_refusal(err)
        {
            self.forget_refused_binding(instance_id, binding_id, token, replaced)
                .await;
        }
        created.map(BindResponse::Created)
    }

    /// Runs the bind `token`. When it ends without recording an outcome (halted by an unbind),
    /// records that its work stopped, for the unbind that waits for it on another replica.
    pub(super) async fn create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
    ) -> Result<Binding, BrokerError> {
        let bound = self
            .run_create_binding(instance_id, binding_id, token)
            .await;
        if bound.is_err() {
            let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
            self.record_stopped(&target, token).await;
        }
        bound
    }

    async fn run_create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        token: &OperationToken,
    ) -> Result<Binding, BrokerError> {
        let core = &self.core;
        let target = Target::Binding(instance_id.to_owned(), binding_id.to_owned());
        let local = self.enter_local(token);
        let record = self.owned_binding(instance_id, binding_id, token).await?;
        let mut request = record.request;
        // Rotation: absent parameters are the predecessor's (rules.md §11.2).
        if let (None, Some(predecessor)) = (&request.parameters, &request.predecessor_binding_id)
            && let Ok(Some(p)) = core.store.load_binding(instance_id, predecessor).await
        {
            request.parameters = p.record.request.parameters;
        }
        let work = core.logic.create_binding(instance_id, binding_id, &request);
        let binding = self
            .run_owned(&target, token, &local, work, |err| {
                Outcome::failed(err.description())
            })
            .await?;
        let now = core.now();
        let retention = core.settings.tombstone_retention;
        let done = self
            .modify_binding(instance_id, binding_id, |r| {
                if !r
                    .lifecycle
                    .complete(token, Outcome::succeeded(), now, retention)
                {
                    return false;
                }
                r.binding = Some(binding.clone());
                true
            })
            .await?;
        if done {
            self.release_claim(instance_id, binding_id).await;
            return Ok(binding);
        }
        self.clean_up_late(&target, token).await;
        Err(halted())
    }

    pub(super) async fn fetch_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<FetchBindingResponse, BrokerError> {
        let instance = self
            .instance(instance_id)
            .await?
            .filter(|i| !i.record.lifecycle.is_deleted());
        let Some(instance) = instance else {
            return Err(BrokerError::not_found());
        };
        let retrievable = self
            .core
            .catalog
            .service(instance.record.service_id())
            .is_some_and(|service| service.bindings_retrievable());
        let current = self.binding(instance_id, binding_id).await?;
        // spec.md "Fetching a Service Binding": 404 when unknown or while a bind (or, project
        // decision, an unbind) is in progress; no 422 exists for bindings.
        let Some(current) = current.filter(|c| {
            c.record.lifecycle.phase == Phase::Ready && c.record.lifecycle.running().is_none()
        }) else {
            return Err(BrokerError::not_found());
        };
        if !retrievable {
            return Err(BrokerError::not_found());
        }
        let record = current.record;
        let stored = FetchBindingResponse {
            binding: record.binding.unwrap_or_default(),
            parameters: record.request.parameters,
        };
        self.core
            .logic
            .fetch_binding(instance_id, binding_id, stored)
            .await
            .map_err(BrokerError::from)
    }
}
