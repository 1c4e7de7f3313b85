//! Races, with many tasks on a multi-threaded runtime: one winner per compare-and-set, and
//! read-modify-write loops that lose no increment.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::fixtures::{T0, TASKS, id, new_binding, new_instance, ok};
use crate::managed::store::{CasError, StateStore, Versioned};

/// Many tasks create the same instance (and binding) at once: exactly one succeeds, the
/// others conflict, and the stored record is the winner's.
pub async fn concurrent_creates_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("race-create");
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut record = new_instance(&format!("replica-{task}"), T0);
            record.plan_id = format!("plan-{task}");
            let result = store.save_instance(&instance_id, None, &record).await;
            let binding = store
                .save_binding(
                    &instance_id,
                    "b",
                    None,
                    &new_binding(&format!("replica-{task}"), T0),
                )
                .await;
            (task, result, binding)
        });
    }
    let mut winners = Vec::new();
    let mut binding_winners = 0;
    while let Some(joined) = tasks.join_next().await {
        let (task, result, binding) = ok(joined, "a racing task panicked");
        match result {
            Ok(version) => winners.push((task, version)),
            Err(CasError::Conflict) => {}
            Err(e) => panic!("a racing create failed: {e}"),
        }
        match binding {
            Ok(_) => binding_winners += 1,
            Err(CasError::Conflict) => {}
            Err(e) => panic!("a racing bind record failed: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create wins: {winners:?}"
    );
    assert_eq!(
        binding_winners, 1,
        "exactly one concurrent binding create wins"
    );
    let (task, version) = winners[0];
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert_eq!(
        stored.map(|v| (v.version, v.record.plan_id)),
        Some((version, format!("plan-{task}"))),
        "the stored record is the winner's"
    );
}

/// Many tasks update the same instance from the same version at once: exactly one succeeds.
pub async fn concurrent_updates_at_one_version_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("race-update");
    let v1 = ok(
        store
            .save_instance(&instance_id, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut record = new_instance("a", T0);
            record.plan_id = format!("plan-{task}");
            (
                task,
                store.save_instance(&instance_id, Some(v1), &record).await,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match ok(joined, "a racing task panicked") {
            (task, Ok(version)) => winners.push((task, version)),
            (_, Err(CasError::Conflict)) => {}
            (_, Err(e)) => panic!("a racing update failed: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one update at one version wins: {winners:?}"
    );
    let (task, version) = winners[0];
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert_eq!(
        stored.map(|v| (v.version, v.record.plan_id)),
        Some((version, format!("plan-{task}")))
    );
}

/// A remove and updates racing from the same version: exactly one of them wins.
pub async fn concurrent_remove_and_update_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    for round in 0..8 {
        let instance_id = id(&format!("race-remove-{round}"));
        let v1 = ok(
            store
                .save_instance(&instance_id, None, &new_instance("a", T0))
                .await,
            "create",
        );
        let mut tasks = JoinSet::new();
        for task in 0..4 {
            let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
            tasks.spawn(async move {
                if task == 0 {
                    store.remove_instance(&instance_id, v1).await.map(|()| None)
                } else {
                    store
                        .save_instance(&instance_id, Some(v1), &new_instance("b", T0))
                        .await
                        .map(Some)
                }
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match ok(joined, "a racing task panicked") {
                Ok(outcome) => outcomes.push(outcome),
                Err(CasError::Conflict) => {}
                Err(e) => panic!("a racing write failed: {e}"),
            }
        }
        assert_eq!(outcomes.len(), 1, "exactly one write at one version wins");
        let stored = ok(store.load_instance(&instance_id).await, "load").map(|v| v.version);
        assert_eq!(stored, outcomes[0], "the store holds the winner's outcome");
    }
}

/// Tasks increment a counter in one record with load / modify / compare-and-set loops: the
/// final count is exact, so no write was lost and no stale write succeeded.
pub async fn read_modify_write_loops_lose_no_update<S: StateStore>(store: S) {
    const INCREMENTS: u64 = 10;
    let store = Arc::new(store);
    let instance_id = id("counter");
    ok(
        store
            .save_instance(&instance_id, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut done = 0;
            while done < INCREMENTS {
                let current = ok(store.load_instance(&instance_id).await, "load");
                let Some(Versioned {
                    version,
                    mut record,
                    ..
                }) = current
                else {
                    panic!("the counter record vanished");
                };
                let count = record.state_reason.as_deref().unwrap_or("0");
                let count: u64 = ok(count.parse(), "parse the counter");
                record.state_reason = Some((count + 1).to_string());
                match store
                    .save_instance(&instance_id, Some(version), &record)
                    .await
                {
                    Ok(_) => done += 1,
                    Err(CasError::Conflict) => tokio::task::yield_now().await,
                    Err(e) => panic!("an increment failed: {e}"),
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        ok(joined, "an incrementing task panicked");
    }
    let stored = ok(store.load_instance(&instance_id).await, "load");
    let expected = (TASKS as u64 * INCREMENTS).to_string();
    assert_eq!(
        stored.and_then(|v| v.record.state_reason),
        Some(expected),
        "every increment is counted exactly once"
    );
}
