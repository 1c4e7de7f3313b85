//! What the checks share: assertions that name the broken rule, ids, times and records.

use std::fmt::Display;
use std::time::Duration;

use serde_json::json;

use crate::binding::BindRequest;
use crate::managed::clock::Timestamp;
use crate::managed::logic::OperationKind;
use crate::managed::record::{BindingRecord, InstanceRecord, Lease, OperationRecord, Outcome};
use crate::managed::store::{CasError, StateStore, Version, Versioned};
use crate::provision::ProvisionRequest;

/// Concurrent tasks in the race checks.
pub(super) const TASKS: usize = 16;

/// An arbitrary fixed time the checks start at.
pub(super) const T0: Timestamp = Timestamp::from_unix_millis(1_750_000_000_000);

pub(super) fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

pub(super) fn conflict<T: std::fmt::Debug>(result: Result<T, CasError>, rule: &str) {
    match result {
        Err(CasError::Conflict) => {}
        other => panic!("{rule}: expected CasError::Conflict, got {other:?}"),
    }
}

pub(super) fn id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

pub(super) fn at(millis: i64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

pub(super) fn operation(kind: OperationKind, owner: &str, now: Timestamp) -> OperationRecord {
    OperationRecord::start(
        kind,
        true,
        now,
        Some(now.saturating_add(Duration::from_secs(3600))),
        Lease::new(owner, now.saturating_add(Duration::from_secs(30))),
    )
}

pub(super) fn provision_request() -> ProvisionRequest {
    let request = json!({
        "service_id": "svc-1",
        "plan_id": "plan-small",
        "organization_guid": "org-1",
        "space_guid": "space-1",
        "parameters": {"size": 3, "tags": ["a", "é"], "nested": {"ratio": 0.25}},
        "context": {
            "platform": "cloudfoundry",
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "instance_name": "my-db"
        },
        "maintenance_info": {"version": "1.2.3"}
    });
    ok(serde_json::from_value(request), "build a provision request")
}

pub(super) fn bind_request() -> BindRequest {
    let request = json!({
        "service_id": "svc-1",
        "plan_id": "plan-small",
        "bind_resource": {"app_guid": "app-1"},
        "parameters": {"role": "reader"},
        "context": {"platform": "cloudfoundry", "organization_guid": "org-1", "space_guid": "space-1"}
    });
    ok(serde_json::from_value(request), "build a bind request")
}

/// A new instance record whose async provision `owner` runs.
pub(super) fn new_instance(owner: &str, now: Timestamp) -> InstanceRecord {
    InstanceRecord::new(
        provision_request(),
        operation(OperationKind::Provision, owner, now),
    )
}

/// A new binding record whose async bind `owner` runs.
pub(super) fn new_binding(owner: &str, now: Timestamp) -> BindingRecord {
    BindingRecord::new(bind_request(), operation(OperationKind::Bind, owner, now))
}

/// A deleted instance: a tombstone kept until `retain_until`.
pub(super) fn tombstone(retain_until: Timestamp) -> InstanceRecord {
    let mut record = new_instance("a", T0);
    let create = record.lifecycle.operations[0].token.clone();
    record
        .lifecycle
        .complete(&create, Outcome::succeeded(), at(1), Duration::ZERO);
    let delete = operation(OperationKind::Deprovision, "a", at(2));
    let token = delete.token.clone();
    record.lifecycle.begin(delete, at(2), "halted");
    record
        .lifecycle
        .complete(&token, Outcome::succeeded(), at(3), Duration::ZERO);
    record.lifecycle.retain_until = Some(retain_until);
    record
}

pub(super) async fn save_and_check<S: StateStore>(
    store: &S,
    instance_id: &str,
    expected: Version,
    record: &InstanceRecord,
) -> Version {
    let version = ok(
        store
            .save_instance(instance_id, Some(expected), record)
            .await,
        "a save at the current version succeeds",
    );
    assert_ne!(version, expected, "a successful save returns a new version");
    let loaded = ok(store.load_instance(instance_id).await, "load");
    assert_eq!(
        loaded,
        Some(Versioned::new(version, record.clone())),
        "a load returns the record and version just saved"
    );
    version
}

pub(super) async fn save_binding_and_check<S: StateStore>(
    store: &S,
    (instance_id, binding_id): (&str, &str),
    expected: Version,
    record: &BindingRecord,
) -> Version {
    let version = ok(
        store
            .save_binding(instance_id, binding_id, Some(expected), record)
            .await,
        "a binding save at the current version succeeds",
    );
    assert_ne!(version, expected, "a successful save returns a new version");
    let loaded = ok(store.load_binding(instance_id, binding_id).await, "load");
    assert_eq!(
        loaded,
        Some(Versioned::new(version, record.clone())),
        "a load returns the binding record and version just saved"
    );
    version
}
