//! Leases: the owner renews, another replica takes an expired lease over exactly once, and the
//! former owner's stale write then fails.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::fixtures::{T0, TASKS, at, conflict, id, new_instance, ok, save_and_check};
use crate::managed::clock::Timestamp;
use crate::managed::record::Lease;
use crate::managed::store::{CasError, StateStore, Versioned};
use crate::operation::OperationToken;

/// The lease owner renews its lease with compare-and-set writes; each renewal is a new
/// version, and a renewal from a stale read fails.
pub async fn lease_owner_renews<S: StateStore>(store: S) {
    let instance_id = id("lease");
    let mut record = new_instance("replica-a", T0);
    let token = record.lifecycle.operations[0].token.clone();
    let mut version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let first = version;
    for step in 1..=3 {
        assert!(record.lifecycle.owns(&token, "replica-a"));
        assert!(
            record
                .lifecycle
                .renew(&token, "replica-a", at(step * 30_000))
        );
        version = save_and_check(&store, &instance_id, version, &record).await;
    }
    conflict(
        store
            .save_instance(&instance_id, Some(first), &record)
            .await,
        "a renewal based on a stale read",
    );
    let stored = ok(store.load_instance(&instance_id).await, "load");
    let lease = stored
        .as_ref()
        .and_then(|v| v.record.lifecycle.running())
        .and_then(|op| op.lease.clone());
    assert_eq!(lease, Some(Lease::new("replica-a", at(90_000))));
}

/// After the lease expires, many replicas try to take the operation over at once: exactly one
/// becomes the owner, and the former owner's next renewal (from its old version) fails.
pub async fn expired_lease_is_taken_over_once<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("takeover");
    let record = new_instance("replica-dead", T0);
    let token = record.lifecycle.operations[0].token.clone();
    let dead_version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let now = at(31_000);
    let lease = record.lifecycle.running().and_then(|op| op.lease.clone());
    assert!(
        lease.is_some_and(|lease| lease.is_expired(now)),
        "the lease has expired"
    );

    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id, token) = (Arc::clone(&store), instance_id.clone(), token.clone());
        tasks.spawn(async move {
            let owner = format!("replica-{task}");
            try_take_over(&*store, &instance_id, &token, &owner, now).await
        });
    }
    let mut owners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        owners.extend(ok(joined, "a takeover task panicked"));
    }
    assert_eq!(
        owners.len(),
        1,
        "exactly one replica takes the lease over: {owners:?}"
    );
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert!(
        stored
            .as_ref()
            .is_some_and(|v| v.record.lifecycle.owns(&token, &owners[0])),
        "the store names the new owner"
    );

    let mut stale = record;
    assert!(stale.lifecycle.renew(&token, "replica-dead", at(60_000)));
    conflict(
        store
            .save_instance(&instance_id, Some(dead_version), &stale)
            .await,
        "the former owner's renewal after a takeover",
    );
}

/// One replica's attempt to take over the expired lease of `token`: `Some(owner)` when it won.
async fn try_take_over<S: StateStore>(
    store: &S,
    instance_id: &str,
    token: &OperationToken,
    owner: &str,
    now: Timestamp,
) -> Option<String> {
    let current = ok(store.load_instance(instance_id).await, "load");
    let Some(Versioned {
        version,
        mut record,
        ..
    }) = current
    else {
        panic!("the record vanished");
    };
    let expired = record
        .lifecycle
        .running()
        .and_then(|op| op.lease.as_ref())
        .is_some_and(|lease| lease.is_expired(now));
    if !expired {
        return None; // another replica took it over first
    }
    if let Some(op) = record.lifecycle.operations.last_mut() {
        op.lease = Some(Lease::new(
            owner,
            now.saturating_add(Duration::from_secs(30)),
        ));
    }
    assert!(record.lifecycle.owns(token, owner));
    match store
        .save_instance(instance_id, Some(version), &record)
        .await
    {
        Ok(_) => Some(owner.to_owned()),
        Err(CasError::Conflict) => None,
        Err(e) => panic!("a takeover failed: {e}"),
    }
}
