//! Deprovision and unbind (rules.md §12.2): one order of checks for both DELETEs, then the
//! delete's operation, halting a running create (rules.md §12.3).

use super::{Decision, Moment, Start};
use crate::binding::UnbindResponse;
use crate::deprovision::DeprovisionResponse;
use crate::error::BrokerError;
use crate::managed::adapter::HALTED;
use crate::managed::adapter::settings::DeleteDuringCreate;
use crate::managed::record::{BindingRecord, InstanceRecord, Lifecycle, OperationKind};
use crate::operation::OperationToken;

/// What the order of checks looks at, for an instance or a binding alike.
#[derive(Debug)]
pub(in crate::managed::adapter) struct DeleteCheck<'a> {
    /// The resource, `None` when unknown.
    pub(in crate::managed::adapter) lifecycle: Option<&'a Lifecycle>,
    /// Other work that must end first: for an instance, running binds or unbinds; for a
    /// binding, a running operation on its instance.
    pub(in crate::managed::adapter) busy: bool,
    /// Whether the delete runs in the background (decided from the *stored* plan).
    pub(in crate::managed::adapter) asynchronous: bool,
    pub(in crate::managed::adapter) accepts_incomplete: bool,
    pub(in crate::managed::adapter) during_create: DeleteDuringCreate,
}

/// The decision of the order of checks.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::managed::adapter) enum DeleteDecision {
    /// The same delete already runs: 202 with its operation.
    AlreadyDeleting(OperationToken),
    /// Start the delete, halting the running create `halts` if any.
    Start { halts: Option<OperationToken> },
}

/// rules.md §12.2, the one order of checks for both DELETEs.
pub(in crate::managed::adapter) fn order_of_checks(
    check: &DeleteCheck<'_>,
) -> Result<DeleteDecision, BrokerError> {
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

/// What deprovision does to instance `stored` (`None` when unknown): answers for a delete that
/// already runs, or starts the delete (halting a running create). `is_async` says whether a
/// delete of the *stored* plan runs in the background ([`ServiceLogic::execution`]).
///
/// [`ServiceLogic::execution`]: crate::managed::ServiceLogic::execution
///
/// # Errors
///
/// The refusal of [`order_of_checks`]: 410, 422 `AsyncRequired` or `ConcurrencyError`.
pub(in crate::managed::adapter) fn deprovision(
    stored: Option<&InstanceRecord>,
    is_async: impl FnOnce(&str) -> bool,
    moment: &Moment<'_>,
) -> Result<Decision<DeprovisionResponse, InstanceRecord>, BrokerError> {
    let asynchronous = stored.is_some_and(|r| is_async(&r.plan_id));
    let check = DeleteCheck {
        lifecycle: stored.map(|r| &r.lifecycle),
        busy: stored.is_some_and(|r| r.has_binding_operations(moment.now)),
        asynchronous,
        accepts_incomplete: moment.accepts_incomplete,
        during_create: moment.settings.delete_during_create,
    };
    let halts = match order_of_checks(&check)? {
        DeleteDecision::AlreadyDeleting(token) => {
            let answer = DeprovisionResponse::Accepted {
                operation: Some(token),
            };
            return Ok(Decision::Answer(answer));
        }
        DeleteDecision::Start { halts } => halts,
    };
    let Some(record) = stored else {
        return Err(BrokerError::gone());
    };
    let kind = OperationKind::Deprovision;
    let operation = moment.operation(kind, asynchronous, record.service_id(), &record.plan_id);
    let mut next = record.clone();
    next.lifecycle.begin(operation.clone(), moment.now, HALTED);
    // A live claim made the delete busy: the claims left are stale.
    next.binding_operations.clear();
    Ok(Decision::Start(Start {
        halts,
        ..Start::new(operation, next)
    }))
}

/// What unbind does to binding `stored` of `instance` (each `None` when unknown): answers for
/// an unbind that already runs, or starts the unbind (halting a running bind). `is_async` says
/// whether an unbind of the *stored* binding's plan runs in the background (rules.md §12.2).
///
/// # Errors
///
/// The refusal of [`order_of_checks`]: 410, 422 `AsyncRequired` or `ConcurrencyError`.
pub(in crate::managed::adapter) fn unbind(
    instance: Option<&InstanceRecord>,
    stored: Option<&BindingRecord>,
    is_async: impl FnOnce(&str) -> bool,
    moment: &Moment<'_>,
) -> Result<Decision<UnbindResponse, BindingRecord>, BrokerError> {
    let stored = stored.filter(|_| instance.is_some());
    let asynchronous = stored.is_some_and(|r| is_async(&r.request.plan_id));
    let check = DeleteCheck {
        lifecycle: stored.map(|r| &r.lifecycle),
        busy: instance.is_some_and(|i| i.lifecycle.running().is_some()),
        asynchronous,
        accepts_incomplete: moment.accepts_incomplete,
        during_create: moment.settings.delete_during_create,
    };
    let halts = match order_of_checks(&check)? {
        DeleteDecision::AlreadyDeleting(token) => {
            let answer = UnbindResponse::Accepted {
                operation: Some(token),
            };
            return Ok(Decision::Answer(answer));
        }
        DeleteDecision::Start { halts } => halts,
    };
    let Some(record) = stored else {
        return Err(BrokerError::gone());
    };
    let request = &record.request;
    let kind = OperationKind::Unbind;
    let operation = moment.operation(kind, asynchronous, &request.service_id, &request.plan_id);
    let mut next = record.clone();
    next.lifecycle.begin(operation.clone(), moment.now, HALTED);
    Ok(Decision::Start(Start {
        halts,
        ..Start::new(operation, next)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::managed::clock::Timestamp;
    use crate::managed::record::{Lease, OperationRecord, Outcome};

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

    /// A ready instance of service `s`, plan `p`, and a ready binding of it.
    fn ready() -> (InstanceRecord, BindingRecord) {
        let done = Timestamp::from_unix_millis(1);
        let mut instance = InstanceRecord::new(
            crate::provision::ProvisionRequest::new("s", "p"),
            life(OperationKind::Provision).operations.remove(0),
        );
        let token = instance.lifecycle.operations[0].token.clone();
        instance.lifecycle.complete(
            &token,
            Outcome::succeeded(),
            done,
            std::time::Duration::ZERO,
        );
        let mut binding = BindingRecord::new(
            crate::binding::BindRequest::new("s", "p"),
            life(OperationKind::Bind).operations.remove(0),
        );
        let token = binding.lifecycle.operations[0].token.clone();
        binding.lifecycle.complete(
            &token,
            Outcome::succeeded(),
            done,
            std::time::Duration::ZERO,
        );
        (instance, binding)
    }

    #[test]
    fn deprovision_of_a_ready_instance_starts_a_delete_and_of_an_unknown_one_is_gone() {
        use super::super::fixtures::{catalog, moment};
        let (catalog, settings) = (catalog(), crate::managed::adapter::Settings::default());
        let moment = moment(&catalog, &settings, false);
        let (instance, _) = ready();
        let Decision::Start(start) = deprovision(Some(&instance), |_| false, &moment).unwrap()
        else {
            panic!("a ready instance starts a delete");
        };
        assert_eq!(start.operation.kind, OperationKind::Deprovision);
        assert_eq!(
            start.record.lifecycle.phase,
            crate::managed::record::Phase::Deleting
        );
        let err = deprovision(None, |_| false, &moment).unwrap_err();
        assert_eq!(err.status().as_u16(), 410);
    }

    #[test]
    fn unbind_starts_for_a_known_binding_and_is_gone_without_its_instance() {
        use super::super::fixtures::{catalog, moment};
        let (catalog, settings) = (catalog(), crate::managed::adapter::Settings::default());
        let moment = moment(&catalog, &settings, false);
        let (instance, binding) = ready();
        let decision = unbind(Some(&instance), Some(&binding), |_| false, &moment).unwrap();
        let Decision::Start(start) = decision else {
            panic!("a ready binding starts an unbind");
        };
        assert_eq!(start.operation.kind, OperationKind::Unbind);
        assert_eq!(start.halts, None);
        let err = unbind(None, Some(&binding), |_| false, &moment).unwrap_err();
        assert_eq!(err.status().as_u16(), 410);
    }
}
