//! Scans of every record (start-up recovery, maintenance, tombstone purges) never hold the
//! executor or a store lock for the whole scan: requests keep being served while they run.
//!
//! The memory store answers without ever suspending, so a scan that did not yield by itself
//! would run from its first page to its last in one poll. On a single-threaded runtime that is
//! observable without any clock: a task that counts while the scan runs never gets a turn.
#![allow(clippy::unwrap_used)]

mod managed_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use managed_support::*;
use osb_core::ServiceBroker;
use osb_core::managed::{Managed, MemoryStore, StateStore};

/// Runs `scan` while another task counts its turns; returns how many turns it had meanwhile.
async fn turns_during<F: Future>(scan: F) -> (F::Output, usize) {
    let turns = Arc::new(AtomicUsize::new(0));
    let counter = turns.clone();
    let ticker = tokio::spawn(async move {
        loop {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    });
    tokio::task::yield_now().await; // the counter is running
    let before = turns.load(Ordering::SeqCst);
    let output = scan.await;
    let during = turns.load(Ordering::SeqCst) - before;
    ticker.abort();
    (output, during)
}

async fn broker_with_instances(
    count: usize,
) -> (Managed<CountingLogic, Arc<MemoryStore>>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let broker = Managed::builder(CountingLogic::new())
        .store(store.clone())
        .build();
    for i in 0..count {
        let id = format!("i-{i:05}");
        broker
            .provision(&id, provision(SYNC), &ctx(false))
            .await
            .unwrap();
    }
    (broker, store)
}

#[tokio::test(flavor = "current_thread")]
async fn recovery_scan_lets_other_tasks_run_between_pages() {
    let (broker, _) = broker_with_instances(1_000).await;
    let (settled, turns) = turns_during(broker.recover()).await;
    assert_eq!(settled.unwrap(), 0);
    // 1,000 instances are 10 pages: other tasks ran between them.
    assert!(turns >= 9, "other tasks had {turns} turns during the scan");
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_purge_lets_other_tasks_run_between_chunks() {
    let (broker, store) = broker_with_instances(5_000).await;
    let (removed, turns) = turns_during(broker.purge_tombstones()).await;
    assert_eq!(removed.unwrap(), 0, "live records are never purged");
    assert!(turns >= 4, "other tasks had {turns} turns during the purge");
    let listed = store.list_instances(None, usize::MAX).await.unwrap();
    assert_eq!(listed.len(), 5_000);
}
