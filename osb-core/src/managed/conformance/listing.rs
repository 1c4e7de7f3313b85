//! Listing: byte order, paging, tombstones listed until purged.

use super::fixtures::{T0, at, id, new_instance, ok, tombstone};
use crate::managed::record::InstanceRecord;
use crate::managed::store::{Listed, StateStore, Versioned};

/// `list_instances` pages through ids in byte order.
pub async fn instances_list_in_byte_order_with_paging<S: StateStore>(store: S) {
    let base = id("list");
    let mut ids: Vec<String> = ["Z", "a", "a:b", "a/b", "b", "é", "~"]
        .iter()
        .map(|suffix| format!("{base}-{suffix}"))
        .collect();
    for instance_id in &ids {
        ok(
            store
                .save_instance(instance_id, None, &new_instance("a", T0))
                .await,
            "create",
        );
    }
    ids.sort();
    let mut listed = Vec::new();
    let mut after = Some(format!("{base}-"));
    while let Some(cursor) = after.take() {
        let page = ok(store.list_instances(Some(&cursor), 3).await, "list");
        assert!(page.len() <= 3, "a page holds at most `limit` records");
        for (instance_id, _) in &page {
            if instance_id.starts_with(&base) {
                listed.push(instance_id.clone());
            }
        }
        if page.len() == 3 && page.iter().all(|(i, _)| i.starts_with(&base)) {
            after = page.last().map(|(i, _)| i.clone());
        }
    }
    assert_eq!(listed, ids, "instances list in byte order, each once");
    let all = ok(store.list_instances(None, usize::MAX).await, "list");
    assert!(
        all.windows(2).all(|w| w[0].0 < w[1].0),
        "a full list is strictly ordered"
    );
}

/// `list_instances` lists tombstones too, whole, until they are purged: collectors (usage
/// metering) find instances deleted since their last run through them.
pub async fn tombstones_are_listed_until_purged<S: StateStore>(store: S) {
    let base = id("listed");
    let (live, dead) = (format!("{base}-live"), format!("{base}-tombstone"));
    let record = tombstone(at(500));
    ok(
        store
            .save_instance(&live, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let version = ok(store.save_instance(&dead, None, &record).await, "create");
    let listed = |all: Vec<Listed<InstanceRecord>>| -> Vec<_> {
        all.into_iter()
            .filter(|(i, _)| i.starts_with(&base))
            .map(|(i, record)| (i, ok(record, "a listed record reads back")))
            .collect()
    };
    let all = listed(ok(store.list_instances(None, usize::MAX).await, "list"));
    assert_eq!(
        all.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [live.as_str(), dead.as_str()],
        "a tombstone is listed beside live records"
    );
    assert_eq!(
        all[1].1,
        Versioned::new(version, record),
        "a listed tombstone keeps its phase, operations and retention"
    );
    let page = ok(store.list_instances(Some(&live), 1).await, "list");
    assert_eq!(
        page.first().map(|(i, _)| i),
        Some(&dead),
        "paging reaches tombstones"
    );
    ok(store.purge_expired(at(500)).await, "purge");
    let all = listed(ok(store.list_instances(None, usize::MAX).await, "list"));
    assert_eq!(
        all.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [live.as_str()],
        "a purged tombstone is no longer listed"
    );
}
