//! Provision (rules.md §8): a new instance, or the answer for one that exists.

use super::{Decision, Moment, Start};
use crate::error::BrokerError;
use crate::managed::record::{InstanceRecord, OperationKind, Phase};
use crate::provision::{
    ProvisionAccepted, ProvisionRequest, ProvisionResponse, ProvisionedInstance,
};

/// The refusal of a request for an instance whose create failed (rules.md §14).
pub(in crate::managed::adapter) const CREATE_FAILED: &str =
    "A previous provision of this service instance failed; deprovision it before trying again.";

/// What provision `request` does to instance `stored` (`None` when unknown, a tombstone when
/// deleted): answers for an instance that exists, or starts its create. `asynchronous` is the
/// logic's execution for the requested plan. The record to save has no dashboard URL yet: the
/// executor asks the logic for it.
///
/// # Errors
///
/// The refusal to answer: 409, 422 `AsyncRequired`, `ConcurrencyError`, or a failed create.
pub(in crate::managed::adapter) fn provision(
    stored: Option<&InstanceRecord>,
    request: &ProvisionRequest,
    asynchronous: bool,
    moment: &Moment<'_>,
) -> Result<Decision<ProvisionResponse, InstanceRecord>, BrokerError> {
    // A tombstone: a new instance of the same id replaces it.
    if let Some(record) = stored.filter(|record| !record.lifecycle.is_deleted()) {
        return existing(record, request, moment.accepts_incomplete).map(Decision::Answer);
    }
    // spec.md "Provisioning": an async-only plan without accepts_incomplete → 422.
    if asynchronous && !moment.accepts_incomplete {
        return Err(BrokerError::async_required());
    }
    let operation = moment.operation(
        OperationKind::Provision,
        asynchronous,
        &request.service_id,
        &request.plan_id,
    );
    let record = InstanceRecord::new(request.clone(), operation.clone());
    Ok(Decision::Start(Start::new(operation, record)))
}

/// rules.md §8, for an instance that exists: 409, 200, 202 or 422.
fn existing(
    record: &InstanceRecord,
    request: &ProvisionRequest,
    accepts_incomplete: bool,
) -> Result<ProvisionResponse, BrokerError> {
    // Being deleted: neither "exists" nor "being provisioned"; the platform may retry.
    if record.lifecycle.phase == Phase::Deleting {
        return Err(BrokerError::concurrency_error());
    }
    // spec.md "Provisioning": 409 when the instance exists or is being provisioned with
    // different attributes.
    if !record.request.is_identical(request) {
        return Err(BrokerError::conflict());
    }
    let life = &record.lifecycle;
    match life.phase {
        Phase::Creating => match life.running() {
            // 202 with the same operation, only if the platform accepts it.
            Some(op) if accepts_incomplete => Ok(ProvisionResponse::Accepted(ProvisionAccepted {
                dashboard_url: record.dashboard_url.clone(),
                operation: Some(op.token.clone()),
                metadata: None,
            })),
            Some(_) => Err(BrokerError::async_required()),
            None => Err(BrokerError::concurrency_error()),
        },
        Phase::Ready if life.running().is_none() => {
            Ok(ProvisionResponse::AlreadyExists(ProvisionedInstance {
                dashboard_url: record.dashboard_url.clone(),
                metadata: record.metadata.clone(),
            }))
        }
        Phase::CreateFailed => Err(BrokerError::unprocessable(CREATE_FAILED)),
        // Busy with a different operation (update, deprovision).
        Phase::Ready | Phase::Deleting | Phase::Deleted => Err(BrokerError::concurrency_error()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests: a panic is the failure report
mod tests {
    use super::super::fixtures::{catalog, moment};
    use super::*;
    use crate::managed::adapter::Settings;
    use crate::managed::clock::Timestamp;
    use crate::managed::record::Outcome;

    fn decide(
        stored: Option<&InstanceRecord>,
        request: &ProvisionRequest,
        asynchronous: bool,
        accepts_incomplete: bool,
    ) -> Result<Decision<ProvisionResponse, InstanceRecord>, BrokerError> {
        let (catalog, settings) = (catalog(), Settings::default());
        provision(
            stored,
            request,
            asynchronous,
            &moment(&catalog, &settings, accepts_incomplete),
        )
    }

    fn started(decision: Decision<ProvisionResponse, InstanceRecord>) -> Start<InstanceRecord> {
        match decision {
            Decision::Start(start) => start,
            Decision::Answer(answer) => panic!("answered {answer:?}"),
        }
    }

    fn code(err: BrokerError) -> (u16, Option<String>) {
        (err.status().as_u16(), err.to_body().error)
    }

    /// An instance created by `request`, its create finished.
    fn created(request: &ProvisionRequest) -> InstanceRecord {
        let mut record = started(decide(None, request, false, false).unwrap()).record;
        let token = record.lifecycle.operations[0].token.clone();
        let done = Timestamp::from_unix_millis(2000);
        let retention = std::time::Duration::ZERO;
        assert!(
            record
                .lifecycle
                .complete(&token, Outcome::succeeded(), done, retention)
        );
        record
    }

    #[test]
    fn unknown_instance_starts_a_create_under_this_replicas_lease() {
        let request = ProvisionRequest::new("s", "slow");
        let start = started(decide(None, &request, true, true).unwrap());
        assert_eq!(start.record.lifecycle.phase, Phase::Creating);
        assert_eq!(start.record.lifecycle.running(), Some(&start.operation));
        assert_eq!(start.operation.kind, OperationKind::Provision);
        assert_eq!(start.operation.lease.as_ref().unwrap().owner, "me");
        // Asynchronous: the deadline is the plan's maximum_polling_duration from now.
        assert_eq!(
            start.operation.deadline,
            Some(Timestamp::from_unix_millis(61_000))
        );
    }

    #[test]
    fn async_plan_without_accepts_incomplete_is_async_required() {
        let request = ProvisionRequest::new("s", "p");
        let err = decide(None, &request, true, false).unwrap_err();
        assert_eq!(code(err), (422, Some("AsyncRequired".to_owned())));
    }

    #[test]
    fn identical_request_for_a_created_instance_answers_200() {
        let request = ProvisionRequest::new("s", "p");
        let stored = created(&request);
        let answer = decide(Some(&stored), &request, false, false).unwrap();
        assert!(matches!(
            answer,
            Decision::Answer(ProvisionResponse::AlreadyExists(_))
        ));
    }

    #[test]
    fn different_request_for_an_existing_instance_is_409() {
        let stored = created(&ProvisionRequest::new("s", "p"));
        let other = ProvisionRequest::new("s", "slow");
        let err = decide(Some(&stored), &other, false, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 409);
    }

    #[test]
    fn identical_request_while_creating_returns_202_with_the_same_operation() {
        let request = ProvisionRequest::new("s", "p");
        let stored = started(decide(None, &request, true, true).unwrap()).record;
        let token = stored.lifecycle.operations[0].token.clone();
        match decide(Some(&stored), &request, true, true).unwrap() {
            Decision::Answer(ProvisionResponse::Accepted(accepted)) => {
                assert_eq!(accepted.operation, Some(token));
            }
            other => panic!("decided {other:?}"),
        }
        let err = decide(Some(&stored), &request, true, false).unwrap_err();
        assert_eq!(code(err), (422, Some("AsyncRequired".to_owned())));
    }

    #[test]
    fn tombstone_is_replaced_by_a_new_instance() {
        let request = ProvisionRequest::new("s", "p");
        let mut stored = created(&request);
        stored.lifecycle.phase = Phase::Deleted;
        let start = started(decide(Some(&stored), &request, false, false).unwrap());
        assert_eq!(start.record.lifecycle.operations.len(), 1);
    }
}
