//! Records: absent records, create-if-absent, update and remove at a version, versions never
//! reused, ids compared byte for byte.

use super::fixtures::{
    T0, conflict, id, new_binding, new_instance, ok, save_and_check, save_binding_and_check,
};
use crate::binding::Binding;
use crate::managed::store::{StateStore, Version, Versioned};

/// Unknown instances and bindings load as `None`, list as empty, and cannot be removed.
pub async fn absent_records_read_as_none<S: StateStore>(store: S) {
    let instance_id = id("absent");
    assert!(ok(store.load_instance(&instance_id).await, "load").is_none());
    assert!(ok(store.load_binding(&instance_id, "b").await, "load").is_none());
    assert!(ok(store.list_bindings(&instance_id).await, "list").is_empty());
    conflict(
        store.remove_instance(&instance_id, Version::new(1)).await,
        "removing an absent instance",
    );
    conflict(
        store
            .remove_binding(&instance_id, "b", Version::new(1))
            .await,
        "removing an absent binding",
    );
    conflict(
        store
            .save_instance(&instance_id, Some(Version::new(1)), &new_instance("a", T0))
            .await,
        "updating an absent instance",
    );
}

/// A create (`expected = None`) succeeds once; a second create of the same id conflicts and
/// leaves the first record.
pub async fn create_if_absent_succeeds_once<S: StateStore>(store: S) {
    let instance_id = id("create");
    let first = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &first).await,
        "the first create succeeds",
    );
    let mut second = new_instance("b", T0);
    second.plan_id = "plan-large".to_owned();
    conflict(
        store.save_instance(&instance_id, None, &second).await,
        "a second create of one id",
    );
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load"),
        Some(Versioned::new(v1, first)),
        "the first create's record stays"
    );

    let binding = new_binding("a", T0);
    let b1 = ok(
        store
            .save_binding(&instance_id, "b-1", None, &binding)
            .await,
        "the first bind record succeeds",
    );
    conflict(
        store
            .save_binding(&instance_id, "b-1", None, &binding)
            .await,
        "a second create of one binding",
    );
    assert_eq!(
        ok(store.load_binding(&instance_id, "b-1").await, "load"),
        Some(Versioned::new(b1, binding))
    );
}

/// A save with `expected = Some(v)` succeeds only at version `v`, and each success returns a
/// new version.
pub async fn update_requires_the_current_version<S: StateStore>(store: S) {
    let instance_id = id("update");
    let mut record = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    record.enabled = false;
    let v2 = save_and_check(&store, &instance_id, v1, &record).await;
    record.enabled = true;
    conflict(
        store.save_instance(&instance_id, Some(v1), &record).await,
        "a save at a stale version",
    );
    conflict(
        store
            .save_instance(
                &instance_id,
                Some(Version::new(v2.get().wrapping_add(1_000_000))),
                &record,
            )
            .await,
        "a save at a version never issued",
    );
    conflict(
        store
            .save_instance(&instance_id, Some(Version::new(u64::MAX)), &record)
            .await,
        "a save at version u64::MAX",
    );
    assert!(
        !ok(store.load_instance(&instance_id).await, "load")
            .map(|v| v.record.enabled)
            .unwrap_or(true),
        "failed saves change nothing"
    );

    let binding_id = id("b");
    let mut binding = new_binding("a", T0);
    let b1 = ok(
        store
            .save_binding(&instance_id, &binding_id, None, &binding)
            .await,
        "create",
    );
    binding.binding = Some(Binding::default());
    save_binding_and_check(&store, (&instance_id, &binding_id), b1, &binding).await;
    conflict(
        store
            .save_binding(&instance_id, &binding_id, Some(b1), &binding)
            .await,
        "a binding save at a stale version",
    );
}

/// A remove succeeds only at the current version, once.
pub async fn remove_requires_the_current_version<S: StateStore>(store: S) {
    let instance_id = id("remove");
    let record = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let v2 = ok(
        store.save_instance(&instance_id, Some(v1), &record).await,
        "update",
    );
    conflict(
        store.remove_instance(&instance_id, v1).await,
        "a remove at a stale version",
    );
    ok(
        store.remove_instance(&instance_id, v2).await,
        "a remove at the current version succeeds",
    );
    assert!(ok(store.load_instance(&instance_id).await, "load").is_none());
    conflict(
        store.remove_instance(&instance_id, v2).await,
        "a second remove",
    );

    let binding = new_binding("a", T0);
    let b1 = ok(
        store.save_binding(&instance_id, "b", None, &binding).await,
        "create",
    );
    conflict(
        store
            .remove_binding(&instance_id, "b", Version::new(b1.get().wrapping_add(1)))
            .await,
        "a binding remove at another version",
    );
    ok(
        store.remove_binding(&instance_id, "b", b1).await,
        "a binding remove at the current version succeeds",
    );
    assert!(ok(store.load_binding(&instance_id, "b").await, "load").is_none());
}

/// A record removed and created again gets a version never seen before, so a writer holding
/// the old version cannot succeed.
pub async fn versions_are_never_reused<S: StateStore>(store: S) {
    let instance_id = id("reuse");
    let record = new_instance("a", T0);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let v1 = ok(
            store.save_instance(&instance_id, None, &record).await,
            "create",
        );
        let v2 = ok(
            store.save_instance(&instance_id, Some(v1), &record).await,
            "update",
        );
        for v in [v1, v2] {
            assert!(!seen.contains(&v), "version {v:?} was issued twice");
            seen.push(v);
        }
        ok(store.remove_instance(&instance_id, v2).await, "remove");
    }
    let current = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    for stale in &seen {
        conflict(
            store
                .save_instance(&instance_id, Some(*stale), &record)
                .await,
            "a save at a version from an earlier life of the record",
        );
    }
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load").map(|v| v.version),
        Some(current)
    );
}

/// Ids are arbitrary strings compared byte for byte: case, spaces, CRNs with `:` and `/`, and
/// non-ASCII text make distinct keys.
pub async fn ids_are_compared_byte_for_byte<S: StateStore>(store: S) {
    let base = id("Id");
    let ids = [
        base.clone(),
        base.to_lowercase(),
        format!("{base} "),
        format!("crn:v1:bluemix:public:svc:us-south:a/{base}::"),
        format!("{base}/é/ß"),
    ];
    let mut versions = Vec::new();
    for instance_id in &ids {
        let mut record = new_instance("a", T0);
        record.plan_id = instance_id.clone();
        versions.push(ok(
            store.save_instance(instance_id, None, &record).await,
            "each distinct id is a distinct record",
        ));
    }
    for (instance_id, version) in ids.iter().zip(versions) {
        let loaded = ok(store.load_instance(instance_id).await, "load");
        let loaded = loaded.unwrap_or_else(|| panic!("record {instance_id:?} is missing"));
        assert_eq!(loaded.version, version);
        assert_eq!(
            &loaded.record.plan_id, instance_id,
            "ids must not be folded"
        );
    }
}
