//! Bind and fetch of bindings (NOTES.md §13 steps 6 and 11).

use super::error::{contended, disabled, halted, internal, retry};
use super::expiry::parse_expires_at;
use super::refused;
use super::start::Started;
use super::tasks::Target;
use super::{Engine, MAX_ATTEMPTS};
use crate::binding::{BindAccepted, BindRequest, BindResponse, Binding, FetchBindingResponse};
use crate::broker::RequestContext;
use crate::error::BrokerError;
use crate::managed::clock::Timestamp;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{BindingRecord, Outcome, Phase};
use crate::managed::store::{StateStore, Version};
use crate::operation::OperationToken;

/// The result of [`Engine::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The instance changed: reload and decide again.
    Conflict,
    /// Another request holds a live claim on this binding.
    Busy,
    /// Claimed; nobody held it.
    Fresh,
    /// Claimed over a live claim (an unbind halting a bind).
    TakenOver,
}

const INSTANCE_NOT_READY: &str = "The service instance failed to provision; it cannot be bound.";
const BIND_FAILED: &str =
    "A previous bind with this binding id failed; unbind it before trying again.";

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    pub(super) async fn bind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        let core = &self.core;
        for _ in 0..MAX_ATTEMPTS {
            // NOTES.md §13 step 6: unknown instance → 404 (choice).
            let Some(instance) = self
                .instance(instance_id)
                .await?
                .filter(|i| !i.record.lifecycle.is_deleted())
            else {
                return Err(BrokerError::not_found()
                    .with_description("The service instance does not exist."));
            };
            // The binding's service must be the instance's (400, like an unknown service).
            let service_id = instance.record.service_id();
            if request.service_id != service_id {
                return Err(BrokerError::bad_request(format!(
                    "The service_id {:?} is not the service of this instance ({service_id:?}).",
                    request.service_id
                )));
            }
            let life = &instance.record.lifecycle;
            if life.phase == Phase::CreateFailed {
                return Err(BrokerError::unprocessable(INSTANCE_NOT_READY));
            }
            // Instance being provisioned, updated or deleted → 422 ConcurrencyError.
            if life.phase != Phase::Ready || life.running().is_some() {
                return Err(BrokerError::concurrency_error());
            }
            // IBM Cloud bluemix_v1: a disabled instance refuses new bindings.
            if !instance.record.enabled {
                return Err(disabled(&instance.record));
            }
            let existing = self.binding(instance_id, binding_id).await?;
            let replaced = match existing {
                Some(current) if !current.record.lifecycle.is_deleted() => {
                    return bind_existing(&current.record, &request, ctx);
                }
                tombstone => tombstone,
            };
            let expected = replaced.as_ref().map(|tombstone| tombstone.version);
            // Rotation (2.17): the predecessor must be a ready binding of this instance that
            // has not expired.
            if let Some(predecessor) = &request.predecessor_binding_id {
                let found = self
                    .binding(instance_id, predecessor)
                    .await?
                    .filter(|p| p.record.lifecycle.phase == Phase::Ready);
                let Some(found) = found else {
                    return Err(BrokerError::bad_request(format!(
                        "The predecessor binding {predecessor} does not exist for this service instance."
                    )));
                };
                if expired(&found.record, core.now()) {
                    return Err(BrokerError::bad_request(format!(
                        "The predecessor binding {predecessor} has expired; it cannot be rotated."
                    )));
                }
            }
            let asynchronous = core.is_async(OperationKind::Bind, &request.plan_id);
            if asynchronous && !ctx.accepts_incomplete {
                return Err(BrokerError::async_required());
            }
            if core.logic.requires_app(&request.plan_id) && request.app_guid().is_none() {
                return Err(BrokerError::requires_app());
            }
            let now = core.now();
            let claim = match self
                .claim(instance_id, binding_id, instance.version, now, false)
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
            let start = core.start(
                OperationKind::Bind,
                asynchronous,
                &request.service_id,
                &request.plan_id,
                now,
            );
            let started = self
                .start_binding(
                    instance_id,
                    binding_id,
                    expected,
                    claim,
                    start,
                    |operation| BindingRecord::new(request.clone(), operation),
                )
                .await?;
            return match started {
                Started::Conflict => continue,
                Started::Inline(token) => {
                    let created = self.create_binding(instance_id, binding_id, &token).await;
                    if let Err(err) = &created
                        && refused::is_refusal(err)
                    {
                        let replaced = replaced.map(|tombstone| tombstone.record);
                        self.forget_refused_binding(instance_id, binding_id, &token, replaced)
                            .await;
                    }
                    created.map(BindResponse::Created)
                }
                Started::Accepted(token) => Ok(BindResponse::Accepted(BindAccepted {
                    operation: Some(token),
                })),
            };
        }
        Err(contended())
    }

    /// Marks binding `binding_id` as busy on its instance, if the instance is still at
    /// `version` (so a deprovision or update started meanwhile wins). A live claim of another
    /// request on the same binding is left alone unless `take_over` (an unbind halting a bind).
    pub(super) async fn claim(
        &self,
        instance_id: &str,
        binding_id: &str,
        version: Version,
        now: Timestamp,
        take_over: bool,
    ) -> Result<Claim, BrokerError> {
        let store = &self.core.store;
        let Some(mut current) = store.load_instance(instance_id).await.map_err(internal)? else {
            return Ok(Claim::Conflict);
        };
        if current.version != version {
            return Ok(Claim::Conflict);
        }
        let claims = &mut current.record.binding_operations;
        claims.retain(|_, until| *until > now);
        let existed = claims.contains_key(binding_id);
        if existed && !take_over {
            return Ok(Claim::Busy);
        }
        let until = now.saturating_add(self.core.settings.lease_duration);
        claims.insert(binding_id.to_owned(), until);
        match store
            .save_instance(instance_id, Some(version), &current.record)
            .await
        {
            Ok(_) if existed => Ok(Claim::TakenOver),
            Ok(_) => Ok(Claim::Fresh),
            Err(err) => retry(err).map(|()| Claim::Conflict),
        }
    }

    /// Gives a claim back after the binding's record could not be written; only a claim this
    /// request made itself (never one it took over: that one belongs to the running operation).
    pub(super) async fn return_claim(&self, instance_id: &str, binding_id: &str, claim: Claim) {
        if claim == Claim::Fresh {
            self.release_claim(instance_id, binding_id).await;
        }
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
        // Rotation: absent parameters are the predecessor's (NOTES.md §13 step 6).
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

/// Whether the binding's `metadata.expires_at` lies at or before `now` (spec.md "Binding":
/// rotation needs a predecessor that has not expired). A binding without `expires_at` never
/// expires; an `expires_at` that is not the spec's `yyyy-mm-ddThh:mm:ss(.s)Z` counts as not
/// expired (the logic wrote it; refusing rotations over it would strand the platform).
fn expired(record: &BindingRecord, now: Timestamp) -> bool {
    record
        .binding
        .as_ref()
        .and_then(|b| b.metadata.as_ref())
        .and_then(|m| m.expires_at.as_deref())
        .and_then(parse_expires_at)
        .is_some_and(|expires_at| expires_at <= now)
}

/// NOTES.md §13 step 6, for a binding that exists: 409, 200 (with the stored credentials), 202
/// or 422.
fn bind_existing(
    record: &BindingRecord,
    request: &BindRequest,
    ctx: &RequestContext,
) -> Result<BindResponse, BrokerError> {
    if record.lifecycle.phase == Phase::Deleting {
        return Err(BrokerError::concurrency_error());
    }
    // 409 beats everything else for different attributes, even a different plan.
    if !record.request.is_identical(request) {
        return Err(BrokerError::conflict());
    }
    let life = &record.lifecycle;
    match life.phase {
        Phase::Creating => match life.running() {
            Some(op) if ctx.accepts_incomplete => Ok(BindResponse::Accepted(BindAccepted {
                operation: Some(op.token.clone()),
            })),
            Some(_) => Err(BrokerError::async_required()),
            None => Err(BrokerError::concurrency_error()),
        },
        // spec.md "Binding": a re-bind's 200 carries the credentials (NOTES.md §9.1).
        Phase::Ready if life.running().is_none() => Ok(BindResponse::AlreadyExists(
            record.binding.clone().unwrap_or_default(),
        )),
        Phase::CreateFailed => Err(BrokerError::unprocessable(BIND_FAILED)),
        Phase::Ready | Phase::Deleting | Phase::Deleted => Err(BrokerError::concurrency_error()),
    }
}
