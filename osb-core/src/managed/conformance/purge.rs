//! Tombstones: purge removes exactly the expired ones, and keeps a record rewritten since.

use super::fixtures::{T0, at, id, new_binding, new_instance, ok, tombstone};
use crate::managed::store::StateStore;

/// `purge_expired(now)` removes the instance and binding records whose `retain_until` is at or
/// before `now`, and nothing else.
pub async fn purge_removes_only_expired_tombstones<S: StateStore>(store: S) {
    let now = at(100_000);
    let expired = id("expired");
    let due_now = id("due-now");
    let kept = id("kept");
    let live = id("live");
    for (instance_id, record) in [
        (&expired, tombstone(at(50_000))),
        (&due_now, tombstone(now)),
        (&kept, tombstone(at(100_001))),
        (&live, new_instance("a", T0)),
    ] {
        ok(
            store.save_instance(instance_id, None, &record).await,
            "create",
        );
    }
    let mut old_binding = new_binding("a", T0);
    old_binding.lifecycle.retain_until = Some(at(1));
    ok(
        store.save_binding(&live, "old", None, &old_binding).await,
        "create",
    );
    ok(
        store
            .save_binding(&live, "current", None, &new_binding("a", T0))
            .await,
        "create",
    );

    let removed = ok(store.purge_expired(now).await, "purge");
    assert_eq!(
        removed, 3,
        "two instance tombstones and one binding tombstone expire"
    );
    for gone in [&expired, &due_now] {
        assert!(
            ok(store.load_instance(gone).await, "load").is_none(),
            "expired tombstones go"
        );
    }
    for stays in [&kept, &live] {
        assert!(
            ok(store.load_instance(stays).await, "load").is_some(),
            "others stay"
        );
    }
    assert!(ok(store.load_binding(&live, "old").await, "load").is_none());
    assert!(ok(store.load_binding(&live, "current").await, "load").is_some());
    assert_eq!(
        ok(store.purge_expired(now).await, "purge"),
        0,
        "purge is idempotent"
    );
}

/// A tombstone rewritten into a live record (a new provision of the id after its retention)
/// is not purged, even though an older version of it had expired.
pub async fn purge_keeps_a_record_rewritten_since<S: StateStore>(store: S) {
    let instance_id = id("reborn");
    let v1 = ok(
        store
            .save_instance(&instance_id, None, &tombstone(at(10)))
            .await,
        "create",
    );
    let reborn = new_instance("b", at(20));
    ok(
        store.save_instance(&instance_id, Some(v1), &reborn).await,
        "rewrite",
    );
    assert_eq!(ok(store.purge_expired(at(1_000)).await, "purge"), 0);
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load").map(|v| v.record),
        Some(reborn),
        "the rewritten record stays"
    );
}
