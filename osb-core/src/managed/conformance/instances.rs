//! Instances: every lifecycle transition of an instance round-trips through the store.

use std::time::Duration;

use serde_json::json;

use super::fixtures::{T0, at, id, new_instance, ok, operation, save_and_check};
use crate::managed::logic::OperationKind;
use crate::managed::record::{InstanceRecord, OperationStatus, Outcome, Phase};
use crate::managed::store::{StateStore, Version};
use crate::update::UpdateRequest;

/// An instance goes through every phase (async create, update failed with flags, disable with
/// its time, delete halting nothing, tombstone) and each saved state loads back unchanged.
pub async fn every_instance_transition_round_trips<S: StateStore>(store: S) {
    let instance_id = id("life");
    let mut record = new_instance("replica-a", T0);
    let mut version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    assert_eq!(record.lifecycle.phase, Phase::Creating);

    // Lease renewal while the provision runs.
    let create = record.lifecycle.operations[0].token.clone();
    assert!(record.lifecycle.renew(&create, "replica-a", at(60_000)));
    version = save_and_check(&store, &instance_id, version, &record).await;

    // A bind claims the instance, then releases it.
    record
        .binding_operations
        .insert("b-1".to_owned(), at(90_000));
    version = save_and_check(&store, &instance_id, version, &record).await;
    record.binding_operations.clear();

    record
        .lifecycle
        .complete(&create, Outcome::succeeded(), at(1_000), Duration::ZERO);
    record.dashboard_url = Some("https://dashboard.example.com/i/1".to_owned());
    assert_eq!(record.lifecycle.phase, Phase::Ready);
    version = save_and_check(&store, &instance_id, version, &record).await;

    // An update fails with both flags.
    let (mut version, mut pending) =
        fail_an_update(&store, &instance_id, version, &mut record).await;

    // A successful update, then IBM Cloud disables the instance.
    let update = operation(OperationKind::Update, "replica-a", at(4_000));
    let token = update.token.clone();
    record.lifecycle.begin(update, at(4_000), "halted");
    pending.parameters = Some(serde_json::Map::from_iter([("size".to_owned(), json!(6))]));
    record.pending_update = Some(pending);
    version = save_and_check(&store, &instance_id, version, &record).await;
    record
        .lifecycle
        .complete(&token, Outcome::succeeded(), at(5_000), Duration::ZERO);
    record.plan_id = "plan-large".to_owned();
    record.pending_update = None;
    record.enabled = false;
    record.state_reason = Some("billing".to_owned());
    record.enabled_changed_at = Some(at(5_500));
    version = save_and_check(&store, &instance_id, version, &record).await;

    // The deprovision leaves a tombstone with a retention time.
    let delete = operation(OperationKind::Deprovision, "replica-b", at(6_000));
    let token = delete.token.clone();
    record.lifecycle.begin(delete, at(6_000), "halted");
    assert_eq!(record.lifecycle.phase, Phase::Deleting);
    version = save_and_check(&store, &instance_id, version, &record).await;
    record.lifecycle.complete(
        &token,
        Outcome::succeeded(),
        at(7_000),
        Duration::from_secs(3600),
    );
    assert_eq!(record.lifecycle.phase, Phase::Deleted);
    assert!(record.lifecycle.retain_until.is_some());
    let version = save_and_check(&store, &instance_id, version, &record).await;
    ok(store.remove_instance(&instance_id, version).await, "remove");
}

/// Runs an update that fails with both flags (`instance_usable`, `update_repeatable`), saving
/// each step; returns the version and the update request, for the next update to reuse.
async fn fail_an_update<S: StateStore>(
    store: &S,
    instance_id: &str,
    mut version: Version,
    record: &mut InstanceRecord,
) -> (Version, UpdateRequest) {
    let update = operation(OperationKind::Update, "replica-b", at(2_000));
    let token = update.token.clone();
    let pending: UpdateRequest = ok(
        serde_json::from_value(json!({"service_id": "svc-1", "plan_id": "plan-large",
            "parameters": {"size": 5}})),
        "build an update request",
    );
    record.lifecycle.begin(update, at(2_000), "halted");
    record.pending_update = Some(pending.clone());
    version = save_and_check(store, instance_id, version, record).await;
    let failure = Outcome {
        failure: Some("quota exceeded".to_owned()),
        instance_usable: Some(true),
        update_repeatable: Some(false),
    };
    record
        .lifecycle
        .complete(&token, failure, at(3_000), Duration::ZERO);
    record.pending_update = None;
    version = save_and_check(store, instance_id, version, record).await;
    let failed = record.lifecycle.latest().cloned();
    assert_eq!(
        failed
            .as_ref()
            .map(|op| (op.status, op.instance_usable, op.update_repeatable)),
        Some((OperationStatus::Failed, Some(true), Some(false)))
    );
    (version, pending)
}
