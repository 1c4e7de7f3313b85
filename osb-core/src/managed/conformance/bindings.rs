//! Bindings: scoped to their instance, and every lifecycle transition round-trips.

use std::time::Duration;

use serde_json::json;

use super::fixtures::{T0, at, id, new_binding, ok, operation, save_binding_and_check};
use crate::binding::Binding;
use crate::managed::logic::OperationKind;
use crate::managed::record::{Outcome, Phase};
use crate::managed::store::StateStore;

/// A binding is keyed by `(instance_id, binding_id)`: the same binding id under two instances
/// is two records, and `list_bindings` returns one instance's bindings in binding-id order.
pub async fn bindings_belong_to_their_instance<S: StateStore>(store: S) {
    let first = id("inst-a");
    let second = id("inst-b");
    let record = new_binding("a", T0);
    for binding_id in ["b-2", "b-1", "B-3"] {
        ok(
            store.save_binding(&first, binding_id, None, &record).await,
            "create",
        );
    }
    ok(
        store.save_binding(&second, "b-1", None, &record).await,
        "the same binding id under another instance is another record",
    );
    let listed: Vec<String> = ok(store.list_bindings(&first).await, "list")
        .into_iter()
        .map(|(binding_id, _)| binding_id)
        .collect();
    assert_eq!(listed, ["B-3", "b-1", "b-2"], "bindings list in byte order");
    assert_eq!(ok(store.list_bindings(&second).await, "list").len(), 1);
    let prefix = &first[..first.len() - 1];
    assert!(
        ok(store.list_bindings(prefix).await, "list").is_empty(),
        "an instance id prefix matches no binding"
    );
}

/// A binding goes through an async bind (with a delete halting a first one), credentials, an
/// unbind and a tombstone; each saved state loads back unchanged.
pub async fn every_binding_transition_round_trips<S: StateStore>(store: S) {
    let instance_id = id("life");
    let key = (instance_id.as_str(), "binding-1");
    let mut record = new_binding("replica-a", T0);
    let mut version = ok(
        store.save_binding(key.0, key.1, None, &record).await,
        "create",
    );
    let bind = record.lifecycle.operations[0].token.clone();
    assert!(record.lifecycle.renew(&bind, "replica-a", at(45_000)));
    version = save_binding_and_check(&store, key, version, &record).await;

    record.lifecycle.complete(
        &bind,
        Outcome::failed("backend unavailable"),
        at(1_000),
        Duration::ZERO,
    );
    assert_eq!(record.lifecycle.phase, Phase::CreateFailed);
    version = save_binding_and_check(&store, key, version, &record).await;

    // Orphan mitigation removes it; a new bind with credentials replaces it.
    ok(store.remove_binding(key.0, key.1, version).await, "remove");
    let mut record = new_binding("replica-b", at(2_000));
    let mut version = ok(
        store.save_binding(key.0, key.1, None, &record).await,
        "create again",
    );
    let bind = record.lifecycle.operations[0].token.clone();
    record
        .lifecycle
        .complete(&bind, Outcome::succeeded(), at(3_000), Duration::ZERO);
    let credentials = json!({"uri": "postgres://u:p@db/x", "password": "s3cr3t", "port": 5432});
    record.binding = Some(Binding::with_credentials(ok(
        serde_json::from_value(credentials),
        "credentials",
    )));
    version = save_binding_and_check(&store, key, version, &record).await;

    let unbind = operation(OperationKind::Unbind, "replica-a", at(4_000));
    let token = unbind.token.clone();
    record.lifecycle.begin(unbind, at(4_000), "halted");
    version = save_binding_and_check(&store, key, version, &record).await;
    record.lifecycle.complete(
        &token,
        Outcome::succeeded(),
        at(5_000),
        Duration::from_secs(60),
    );
    assert_eq!(record.lifecycle.phase, Phase::Deleted);
    save_binding_and_check(&store, key, version, &record).await;
}
