//! Update (rules.md §10): the catalog's rules, then busy, disabled and asynchronous checks, then
//! the update's operation.

use super::provision::CREATE_FAILED;
use super::{Decision, Moment, Start};
use crate::error::BrokerError;
use crate::managed::adapter::HALTED;
use crate::managed::adapter::error::disabled;
use crate::managed::record::{InstanceRecord, OperationKind, Phase};
use crate::update::{CurrentInstance, UpdateAccepted, UpdateRequest, UpdateResponse};

/// What update `request` does to instance `stored` (`None` when unknown): answers for a re-sent
/// PATCH, or starts the update. `is_async` says whether an update to a plan runs in the
/// background ([`ServiceLogic::execution`]).
///
/// [`ServiceLogic::execution`]: crate::managed::ServiceLogic::execution
///
/// # Errors
///
/// The refusal to answer: 404, what [`UpdateRequest::check`] refuses (400, 422), 422
/// `ConcurrencyError`, `AsyncRequired`, a failed create or a disabled instance.
pub(in crate::managed::adapter) fn update(
    stored: Option<&InstanceRecord>,
    request: &UpdateRequest,
    is_async: impl FnOnce(&str) -> bool,
    moment: &Moment<'_>,
) -> Result<Decision<UpdateResponse, InstanceRecord>, BrokerError> {
    // rules.md §10: unknown instance → 404 (the spec names no status).
    let Some(record) = stored.filter(|r| r.lifecycle.phase != Phase::Deleted) else {
        return Err(BrokerError::not_found());
    };
    // Then what the catalog decides (400, 422), before "busy" (422 ConcurrencyError).
    let current = CurrentInstance::new(record.service_id(), &record.plan_id)
        .with_context(record.context.as_ref());
    request.check(moment.catalog, current)?;
    match record.lifecycle.phase {
        Phase::Deleted => return Err(BrokerError::not_found()),
        Phase::Creating | Phase::Deleting => return Err(BrokerError::concurrency_error()),
        Phase::CreateFailed => return Err(BrokerError::unprocessable(CREATE_FAILED)),
        Phase::Ready => {}
    }
    if let Some(running) = record.lifecycle.running() {
        // spec.md "Updating": a re-sent PATCH gets 202 with the same operation.
        let same = running.kind == OperationKind::Update
            && record
                .pending_update
                .as_ref()
                .is_some_and(|pending| pending.is_identical(request));
        if !same {
            return Err(BrokerError::concurrency_error());
        }
        if !moment.accepts_incomplete {
            return Err(BrokerError::async_required());
        }
        let accepted = UpdateAccepted::with_operation(running.token.clone());
        return Ok(Decision::Answer(UpdateResponse::Accepted(accepted)));
    }
    if record.has_binding_operations(moment.now) {
        return Err(BrokerError::concurrency_error());
    }
    if !record.enabled {
        return Err(disabled(record));
    }
    let plan_id = request.plan_id.as_deref().unwrap_or(&record.plan_id);
    let asynchronous = is_async(plan_id);
    // rules.md §10: AsyncRequired before any "nothing to change" shortcut.
    if asynchronous && !moment.accepts_incomplete {
        return Err(BrokerError::async_required());
    }
    let operation = moment.operation(
        OperationKind::Update,
        asynchronous,
        record.service_id(),
        plan_id,
    );
    let mut next = record.clone();
    next.lifecycle.begin(operation.clone(), moment.now, HALTED);
    next.pending_update = Some(request.clone());
    Ok(Decision::Start(Start::new(operation, next)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests: a panic is the failure report
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{catalog, moment};
    use super::*;
    use crate::managed::adapter::Settings;
    use crate::managed::clock::Timestamp;
    use crate::managed::record::Outcome;
    use crate::provision::ProvisionRequest;

    fn decide(
        stored: Option<&InstanceRecord>,
        request: &UpdateRequest,
        asynchronous: bool,
        accepts_incomplete: bool,
    ) -> Result<Decision<UpdateResponse, InstanceRecord>, BrokerError> {
        let (catalog, settings) = (catalog(), Settings::default());
        let moment = moment(&catalog, &settings, accepts_incomplete);
        update(stored, request, |_| asynchronous, &moment)
    }

    fn code(err: BrokerError) -> (u16, Option<String>) {
        (err.status().as_u16(), err.to_body().error)
    }

    /// A ready instance of service `s`, plan `p`.
    fn ready() -> InstanceRecord {
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

    fn to_slow() -> UpdateRequest {
        let mut request = UpdateRequest::new("s");
        request.plan_id = Some("slow".to_owned());
        request
    }

    #[test]
    fn update_of_a_ready_instance_starts_with_the_request_pending() {
        let Decision::Start(start) = decide(Some(&ready()), &to_slow(), false, false).unwrap()
        else {
            panic!("a ready instance starts an update");
        };
        assert_eq!(start.operation.kind, OperationKind::Update);
        assert_eq!(start.record.pending_update, Some(to_slow()));
        assert_eq!(start.record.lifecycle.running(), Some(&start.operation));
    }

    #[test]
    fn unknown_instance_is_404() {
        let err = decide(None, &to_slow(), false, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
    }

    #[test]
    fn resent_patch_returns_202_with_the_same_operation_and_another_is_busy() {
        let Decision::Start(start) = decide(Some(&ready()), &to_slow(), true, true).unwrap() else {
            panic!("a ready instance starts an update");
        };
        let running = start.record;
        match decide(Some(&running), &to_slow(), true, true).unwrap() {
            Decision::Answer(UpdateResponse::Accepted(accepted)) => {
                assert_eq!(accepted.operation, Some(start.operation.token));
            }
            other => panic!("decided {other:?}"),
        }
        let other = UpdateRequest::new("s");
        let err = decide(Some(&running), &other, true, true).unwrap_err();
        assert_eq!(code(err), (422, Some("ConcurrencyError".to_owned())));
    }

    #[test]
    fn disabled_instance_and_async_without_accepts_incomplete_are_refused() {
        let mut disabled = ready();
        disabled.enabled = false;
        let err = decide(Some(&disabled), &to_slow(), false, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
        let err = decide(Some(&ready()), &to_slow(), true, false).unwrap_err();
        assert_eq!(code(err), (422, Some("AsyncRequired".to_owned())));
    }
}
