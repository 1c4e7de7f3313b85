//! The `UsageOutbox` rules on every store: identity fixed at enqueue, leases, settlement,
//! rejected entries kept, claims taken once, cursors only moving forward. PostgreSQL runs with
//! `OSB_TEST_POSTGRES_URL` (skipped, saying so, when unset outside CI).
#![allow(clippy::unwrap_used)]

mod store_support;

use std::collections::HashSet;
use std::sync::Arc;

use osb_core::managed::{
    ClaimOutcome, Lease, MemoryStore, OutboxEntry, Settlement, Timestamp, UsageOutbox,
};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

async fn identity_lease_and_settlement(store: &dyn UsageOutbox) {
    let entries = [
        OutboxEntry::new("k1", "{\"n\":1}", at(100)),
        OutboxEntry::new("k2", "{\"n\":2}", at(200)),
        OutboxEntry::new("k3", "{\"n\":3}", at(300)),
    ];
    assert_eq!(store.enqueue(&entries).await.unwrap(), 3);
    // The first payload of an identity wins.
    let again = OutboxEntry::new("k1", "{\"n\":\"changed\"}", at(400));
    assert_eq!(store.enqueue(&[again]).await.unwrap(), 0);

    let now = at(1_000);
    let first = store.lease_due(now, at(5_000), 2).await.unwrap();
    let keys: Vec<&str> = first.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k1", "k2"], "oldest first");
    assert_eq!(first[0].payload, "{\"n\":1}");
    assert_eq!(first[0].attempts, 0);
    let second = store.lease_due(now, at(5_000), 2).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(store.lease_due(now, at(5_000), 2).await.unwrap().is_empty());

    store
        .settle(
            &[
                ("k1".to_owned(), Settlement::Delivered),
                (
                    "k2".to_owned(),
                    Settlement::Rejected {
                        reason: "400 bad: no plan".to_owned(),
                    },
                ),
                (
                    "k3".to_owned(),
                    Settlement::Retry {
                        not_before: at(2_000),
                    },
                ),
                ("unknown".to_owned(), Settlement::Delivered),
            ],
            now,
        )
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.rejected), (1, 1));
    assert_eq!(stats.oldest_pending, Some(at(300)));

    // A rejected identity is kept, not queued again.
    assert_eq!(
        store
            .enqueue(&[OutboxEntry::new("k2", "{}", at(1_100))])
            .await
            .unwrap(),
        0
    );
    // The retry waits for `not_before`, then comes back with its attempt counted.
    assert!(
        store
            .lease_due(at(1_999), at(9_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store.lease_due(at(2_000), at(9_000), 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].key.as_str(), retried[0].attempts), ("k3", 1));
    // A sender that died with the lease: the entry is due again when the lease ends.
    assert!(
        store
            .lease_due(at(8_999), at(20_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .lease_due(at(9_000), at(20_000), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let rejected = store.rejected(None, 10).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].key.as_str(), rejected[0].reason.as_str()),
        ("k2", "400 bad: no plan")
    );
    assert_eq!(rejected[0].rejected_at, now);
    assert!(store.rejected(Some("k2"), 10).await.unwrap().is_empty());
    assert!(store.remove_rejected("k2").await.unwrap());
    assert!(!store.remove_rejected("k2").await.unwrap());
    assert_eq!(store.outbox_stats().await.unwrap().rejected, 0);
}

async fn claims_and_cursors(store: &dyn UsageOutbox) {
    let keys = vec!["hour-1/a".to_owned(), "hour-1/b".to_owned()];
    let now = at(1_000);
    let a = Lease::new("replica-a", at(2_000));
    let b = Lease::new("replica-b", at(3_000));
    let retain = at(100_000);
    assert_eq!(
        store
            .claim_collections(&keys, &a, now, retain)
            .await
            .unwrap(),
        [ClaimOutcome::Claimed, ClaimOutcome::Claimed]
    );
    assert_eq!(
        store
            .claim_collections(&keys, &b, now, retain)
            .await
            .unwrap(),
        [ClaimOutcome::Held, ClaimOutcome::Held]
    );
    // Finishing queues the entries and closes the claim in one step.
    let entry = OutboxEntry::new("rec-a", "{}", now);
    assert_eq!(
        store
            .finish_collections(&keys[..1], "replica-a", &[entry])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.outbox_stats().await.unwrap().pending, 1);
    // After A's lease ends, B takes over the unfinished claim; A can no longer finish it.
    assert_eq!(
        store
            .claim_collections(&keys, &b, at(2_000), retain)
            .await
            .unwrap(),
        [ClaimOutcome::Done, ClaimOutcome::Claimed]
    );
    store
        .finish_collections(&keys[1..], "replica-a", &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_collections(&keys[1..], &a, at(2_500), retain)
            .await
            .unwrap(),
        [ClaimOutcome::Held]
    );
    store
        .finish_collections(&keys[1..], "replica-b", &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_collections(&keys, &a, at(9_000), retain)
            .await
            .unwrap(),
        [ClaimOutcome::Done, ClaimOutcome::Done]
    );
    assert_eq!(store.purge_collections(at(99_999)).await.unwrap(), 0);
    assert_eq!(store.purge_collections(retain).await.unwrap(), 2);

    assert_eq!(store.load_cursor("collected").await.unwrap(), None);
    assert_eq!(
        store.advance_cursor("collected", at(10)).await.unwrap(),
        at(10)
    );
    assert_eq!(
        store.advance_cursor("collected", at(5)).await.unwrap(),
        at(10)
    );
    assert_eq!(store.load_cursor("collected").await.unwrap(), Some(at(10)));
    assert_eq!(store.load_cursor("other").await.unwrap(), None);
}

async fn concurrent_senders_get_disjoint_batches(store: Arc<dyn UsageOutbox>) {
    let entries: Vec<OutboxEntry> = (0..200)
        .map(|n| OutboxEntry::new(format!("c{n:03}"), "{}", at(n)))
        .collect();
    store.enqueue(&entries).await.unwrap();
    let (one, two) = tokio::join!(
        store.lease_due(at(1_000), at(5_000), 100),
        store.lease_due(at(1_000), at(5_000), 100)
    );
    let mut seen = HashSet::new();
    for entry in one.unwrap().into_iter().chain(two.unwrap()) {
        assert!(seen.insert(entry.key), "an entry was leased twice");
    }
    assert_eq!(seen.len(), 200);
}

#[tokio::test]
async fn memory_store_keeps_the_outbox_rules() {
    identity_lease_and_settlement(&MemoryStore::new()).await;
    claims_and_cursors(&MemoryStore::new()).await;
    concurrent_senders_get_disjoint_batches(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_outbox_rules() {
    use osb_core::managed::SqliteStore;
    for check in 0..3 {
        let path = store_support::sqlite_path();
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        match check {
            0 => identity_lease_and_settlement(&*store).await,
            1 => claims_and_cursors(&*store).await,
            _ => concurrent_senders_get_disjoint_batches(store.clone()).await,
        }
        store.close().await;
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_the_outbox_rules() {
    for check in 0..3 {
        let Some(store) = store_support::postgres_store().await else {
            return;
        };
        let store = Arc::new(store);
        match check {
            0 => identity_lease_and_settlement(&*store).await,
            1 => claims_and_cursors(&*store).await,
            _ => concurrent_senders_get_disjoint_batches(store.clone()).await,
        }
        store.close().await;
    }
}
