//! Bind (rules.md §11): the instance's checks, then a new binding or the answer for one that
//! exists.

use super::{Decision, Moment, Start};
use crate::binding::{BindAccepted, BindRequest, BindResponse};
use crate::error::BrokerError;
use crate::managed::adapter::error::disabled;
use crate::managed::adapter::expiry::parse_expires_at;
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord, OperationKind, Phase};

const INSTANCE_NOT_READY: &str = "The service instance failed to provision; it cannot be bound.";
const BIND_FAILED: &str =
    "A previous bind with this binding id failed; unbind it before trying again.";

/// rules.md §11.1, the instance's part: whether `instance` (`None` when unknown or deleted) takes
/// bind `request` now. Decided before the binding is looked at.
///
/// # Errors
///
/// 404 for an unknown instance, 400 for another service's binding, 422 for an instance whose
/// create failed, that is busy, or that is disabled.
pub(in crate::managed::adapter) fn bind_instance(
    instance: Option<&InstanceRecord>,
    request: &BindRequest,
) -> Result<(), BrokerError> {
    // rules.md §11.1: unknown instance → 404 (choice).
    let Some(instance) = instance.filter(|i| !i.lifecycle.is_deleted()) else {
        return Err(
            BrokerError::not_found().with_description("The service instance does not exist.")
        );
    };
    // The binding's service must be the instance's (400, like an unknown service).
    let service_id = instance.service_id();
    if request.service_id != service_id {
        return Err(BrokerError::bad_request(format!(
            "The service_id {:?} is not the service of this instance ({service_id:?}).",
            request.service_id
        )));
    }
    let life = &instance.lifecycle;
    if life.phase == Phase::CreateFailed {
        return Err(BrokerError::unprocessable(INSTANCE_NOT_READY));
    }
    // Instance being provisioned, updated or deleted → 422 ConcurrencyError.
    if life.phase != Phase::Ready || life.running().is_some() {
        return Err(BrokerError::concurrency_error());
    }
    // IBM Cloud bluemix_v1 (rules.md §17.3): a disabled instance refuses new bindings.
    if !instance.enabled {
        return Err(disabled(instance));
    }
    Ok(())
}

/// What a bind decides on, besides the request: the stored binding and what the logic says.
#[derive(Debug, Clone, Copy)]
pub(in crate::managed::adapter) struct BindFacts<'a> {
    /// The binding (a tombstone when deleted), `None` when unknown.
    pub(in crate::managed::adapter) existing: Option<&'a BindingRecord>,
    /// The binding the request's `predecessor_binding_id` names, if it names one that exists.
    pub(in crate::managed::adapter) predecessor: Option<&'a BindingRecord>,
    /// Whether the bind runs in the background ([`ServiceLogic::execution`]).
    ///
    /// [`ServiceLogic::execution`]: crate::managed::ServiceLogic::execution
    pub(in crate::managed::adapter) asynchronous: bool,
    /// Whether the plan needs an application ([`ServiceLogic::requires_app`]).
    ///
    /// [`ServiceLogic::requires_app`]: crate::managed::ServiceLogic::requires_app
    pub(in crate::managed::adapter) requires_app: bool,
}

/// rules.md §11.1 after the instance's checks ([`bind_instance`]): answers for a binding that
/// exists, or starts a new one.
///
/// # Errors
///
/// The refusal to answer: 409, 400 for a predecessor that is missing or expired, 422
/// `AsyncRequired`, `RequiresApp`, `ConcurrencyError`, or a failed bind.
pub(in crate::managed::adapter) fn bind(
    facts: BindFacts<'_>,
    request: &BindRequest,
    moment: &Moment<'_>,
) -> Result<Decision<BindResponse, BindingRecord>, BrokerError> {
    // A tombstone: a new binding of the same id replaces it.
    if let Some(record) = facts.existing.filter(|r| !r.lifecycle.is_deleted()) {
        return existing(record, request, moment.accepts_incomplete).map(Decision::Answer);
    }
    // Rotation (rules.md §11.2): the predecessor must be a ready binding of this instance that
    // has not expired.
    if let Some(predecessor) = &request.predecessor_binding_id {
        let Some(found) = facts
            .predecessor
            .filter(|p| p.lifecycle.phase == Phase::Ready)
        else {
            return Err(BrokerError::bad_request(format!(
                "The predecessor binding {predecessor} does not exist for this service instance."
            )));
        };
        if expired(found, moment.now) {
            return Err(BrokerError::bad_request(format!(
                "The predecessor binding {predecessor} has expired; it cannot be rotated."
            )));
        }
    }
    if facts.asynchronous && !moment.accepts_incomplete {
        return Err(BrokerError::async_required());
    }
    if facts.requires_app && request.app_guid().is_none() {
        return Err(BrokerError::requires_app());
    }
    let operation = moment.operation(
        OperationKind::Bind,
        facts.asynchronous,
        &request.service_id,
        &request.plan_id,
    );
    let record = BindingRecord::new(request.clone(), operation.clone());
    Ok(Decision::Start(Start::new(operation, record)))
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

/// rules.md §11.1, for a binding that exists: 409, 200 (with the stored credentials), 202 or 422.
fn existing(
    record: &BindingRecord,
    request: &BindRequest,
    accepts_incomplete: bool,
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
            Some(op) if accepts_incomplete => Ok(BindResponse::Accepted(BindAccepted {
                operation: Some(op.token.clone()),
            })),
            Some(_) => Err(BrokerError::async_required()),
            None => Err(BrokerError::concurrency_error()),
        },
        // spec.md "Binding": a re-bind's 200 carries the credentials (rules.md §13).
        Phase::Ready if life.running().is_none() => Ok(BindResponse::AlreadyExists(
            record.binding.clone().unwrap_or_default(),
        )),
        Phase::CreateFailed => Err(BrokerError::unprocessable(BIND_FAILED)),
        Phase::Ready | Phase::Deleting | Phase::Deleted => Err(BrokerError::concurrency_error()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests: a panic is the failure report
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{catalog, moment};
    use super::*;
    use crate::binding::{Binding, BindingMetadata};
    use crate::managed::adapter::Settings;
    use crate::managed::record::Outcome;
    use crate::provision::ProvisionRequest;

    fn facts<'a>(
        existing: Option<&'a BindingRecord>,
        predecessor: Option<&'a BindingRecord>,
    ) -> BindFacts<'a> {
        BindFacts {
            existing,
            predecessor,
            asynchronous: false,
            requires_app: false,
        }
    }

    fn decide(
        facts: BindFacts<'_>,
        request: &BindRequest,
        accepts_incomplete: bool,
    ) -> Result<Decision<BindResponse, BindingRecord>, BrokerError> {
        let (catalog, settings) = (catalog(), Settings::default());
        bind(
            facts,
            request,
            &moment(&catalog, &settings, accepts_incomplete),
        )
    }

    fn code(err: BrokerError) -> (u16, Option<String>) {
        (err.status().as_u16(), err.to_body().error)
    }

    /// A binding made by `request`, its bind finished with `binding`.
    fn bound(request: &BindRequest, binding: Binding) -> BindingRecord {
        let Decision::Start(start) = decide(facts(None, None), request, false).unwrap() else {
            panic!("a new binding starts a bind");
        };
        let mut record = start.record;
        let token = start.operation.token;
        let done = Timestamp::from_unix_millis(2000);
        assert!(
            record
                .lifecycle
                .complete(&token, Outcome::succeeded(), done, Duration::ZERO)
        );
        record.binding = Some(binding);
        record
    }

    /// A ready instance of service `s`, made by a finished create.
    fn instance() -> InstanceRecord {
        let (catalog, settings) = (catalog(), Settings::default());
        let moment = moment(&catalog, &settings, false);
        let create = moment.operation(OperationKind::Provision, false, "s", "p");
        let token = create.token.clone();
        let mut record = InstanceRecord::new(ProvisionRequest::new("s", "p"), create);
        let done = Timestamp::from_unix_millis(2000);
        assert!(
            record
                .lifecycle
                .complete(&token, Outcome::succeeded(), done, Duration::ZERO)
        );
        record
    }

    #[test]
    fn ready_enabled_instance_takes_a_bind() {
        bind_instance(Some(&instance()), &BindRequest::new("s", "p")).unwrap();
    }

    #[test]
    fn unknown_disabled_or_foreign_instance_refuses_a_bind() {
        let request = BindRequest::new("s", "p");
        let err = bind_instance(None, &request).unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
        let mut disabled = instance();
        disabled.enabled = false;
        let err = bind_instance(Some(&disabled), &request).unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
        let foreign = BindRequest::new("other", "p");
        let err = bind_instance(Some(&instance()), &foreign).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
    }

    #[test]
    fn unknown_binding_starts_a_bind() {
        let request = BindRequest::new("s", "p");
        let Decision::Start(start) = decide(facts(None, None), &request, false).unwrap() else {
            panic!("a new binding starts a bind");
        };
        assert_eq!(start.operation.kind, OperationKind::Bind);
        assert!(!start.operation.asynchronous);
        assert_eq!(start.record.lifecycle.running(), Some(&start.operation));
    }

    #[test]
    fn rebind_identical_answers_200_with_the_stored_credentials_and_different_is_409() {
        let request = BindRequest::new("s", "p");
        let stored = bound(&request, Binding::with_credentials(Default::default()));
        let answer = decide(facts(Some(&stored), None), &request, false).unwrap();
        match answer {
            Decision::Answer(BindResponse::AlreadyExists(binding)) => {
                assert_eq!(Some(binding), stored.binding);
            }
            other => panic!("decided {other:?}"),
        }
        let other = BindRequest::new("s", "slow");
        let err = decide(facts(Some(&stored), None), &other, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 409);
    }

    #[test]
    fn rotation_needs_a_ready_predecessor_that_has_not_expired() {
        let mut request = BindRequest::new("s", "p");
        request.predecessor_binding_id = Some("old".to_owned());
        let err = decide(facts(None, None), &request, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        let expiring = Binding {
            metadata: Some(BindingMetadata {
                expires_at: Some("1970-01-01T00:00:01Z".to_owned()), // = now
                ..BindingMetadata::default()
            }),
            ..Binding::default()
        };
        let expired = bound(&BindRequest::new("s", "p"), expiring);
        let err = decide(facts(None, Some(&expired)), &request, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        let live = bound(&BindRequest::new("s", "p"), Binding::default());
        let decision = decide(facts(None, Some(&live)), &request, false).unwrap();
        assert!(matches!(decision, Decision::Start(_)));
    }

    #[test]
    fn async_bind_without_accepts_incomplete_and_missing_app_are_refused() {
        let request = BindRequest::new("s", "p");
        let asynchronous = BindFacts {
            asynchronous: true,
            ..facts(None, None)
        };
        let err = decide(asynchronous, &request, false).unwrap_err();
        assert_eq!(code(err), (422, Some("AsyncRequired".to_owned())));
        let needs_app = BindFacts {
            requires_app: true,
            ..facts(None, None)
        };
        let err = decide(needs_app, &request, false).unwrap_err();
        assert_eq!(code(err), (422, Some("RequiresApp".to_owned())));
    }
}
