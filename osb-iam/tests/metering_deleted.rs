//! Instances that stop being active during an hour are still billed for it: the collector of an
//! hour measures instances deleted (or being deleted) since it started, found through the
//! bookkeeping's tombstones, once per (instance, hour) like active ones; never those gone before
//! the hour, created after it, or never created. On memory, SQLite and (with
//! `OSB_TEST_POSTGRES_URL`) PostgreSQL stores, through the real `Managed` adapter.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::sync::Arc;

use metering_support::broker::{
    MINUTE, deleting_instance, deprovision, on_every_store, provision, setup, with_state,
};
use metering_support::{HOUR, MARCH_10, PLAN, crn, hour_key};
use osb_core::managed::{
    InstanceRecord, OperationStatus, Phase, StateStore, Timestamp, UsageOutbox,
};
use osb_iam::metering::UsageReporter;

on_every_store!(
    an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after,
    replicas_bill_an_instance_deleted_mid_hour_once,
    only_instances_active_at_some_time_during_the_hour_are_measured,
);

/// H = 2025-03-10T01:00Z. `gone-before` lives 00:10–00:20 (before H); `kept` from 00:30 on;
/// `deleted` from 00:30 to 01:30 (mid-H). Collecting H measures `kept` and `deleted` once each;
/// collecting H+1 measures only `kept`.
async fn an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store.clone(), MARCH_10 + 10 * MINUTE).await;
    let (gone_before, kept, deleted) = (crn(1), crn(2), crn(3));
    provision(&s.broker, &gone_before).await;
    s.clock.set(MARCH_10 + 20 * MINUTE);
    deprovision(&s.broker, &gone_before).await;
    s.clock.set(MARCH_10 + 30 * MINUTE);
    provision(&s.broker, &kept).await;
    provision(&s.broker, &deleted).await;
    s.clock.set(h + 30 * MINUTE);
    deprovision(&s.broker, &deleted).await;
    let tombstone = store.load_instance(&deleted).await.unwrap().unwrap();
    assert_eq!(tombstone.record.lifecycle.phase, Phase::Deleted);

    // Past H's end and the collect delay: the first run collects H.
    s.clock.set(h + HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 2));
    assert_eq!(s.reporter.deliver().await.unwrap().accepted, 2);
    s.fake
        .assert_accepted_once(&[hour_key(&kept, h), hour_key(&deleted, h)]);
    assert_eq!(s.fake.accepted().len(), 2);
    assert_eq!(
        s.asked.instance(&deleted, h).unwrap().deleted_at,
        Some(Timestamp::from_unix_millis(h + 30 * MINUTE)),
        "the meter learns when the deletion was requested"
    );
    assert_eq!(s.asked.instance(&kept, h).unwrap().deleted_at, None);
    // Collecting again within the hour measures nothing twice.
    assert_eq!(s.reporter.collect_due().await.unwrap().records_enqueued, 0);

    // H+1: the deleted instance is not measured again.
    s.clock.set(h + 2 * HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 1));
    s.reporter.deliver().await.unwrap();
    s.fake.assert_accepted_once(&[
        hour_key(&kept, h),
        hour_key(&deleted, h),
        hour_key(&kept, h + HOUR),
    ]);
    assert_eq!(s.fake.accepted().len(), 3);
    let calls = s.asked.calls();
    assert!(calls.values().all(|n| *n == 1), "{calls:?}");
    assert!(!calls.contains_key(&(gone_before.clone(), h)));
    assert!(!calls.contains_key(&(deleted.clone(), h + HOUR)));
    s.broker.shutdown().await;
}

async fn replicas_bill_an_instance_deleted_mid_hour_once<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store.clone(), MARCH_10 + 30 * MINUTE).await;
    let deleted = crn(1);
    provision(&s.broker, &deleted).await;
    s.clock.set(h + 45 * MINUTE);
    deprovision(&s.broker, &deleted).await;
    s.clock.set(h + HOUR + 2 * MINUTE);
    let other = UsageReporter::builder(s.fake.client(s.clock.clone()), store, s.asked.meter())
        .metered_plan(PLAN)
        .owner("replica-b")
        .build()
        .unwrap();
    let (a, b) = tokio::join!(s.reporter.collect_due(), other.collect_due());
    assert_eq!(a.unwrap().records_enqueued + b.unwrap().records_enqueued, 1);
    let (a, b) = tokio::join!(s.reporter.deliver(), other.deliver());
    assert_eq!(a.unwrap().accepted + b.unwrap().accepted, 1);
    s.fake.assert_accepted_once(&[hour_key(&deleted, h)]);
    assert_eq!(s.asked.calls().get(&(deleted, h)), Some(&1));
    s.broker.shutdown().await;
}

async fn only_instances_active_at_some_time_during_the_hour_are_measured<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store.clone(), h + HOUR + 2 * MINUTE).await;
    let cases: [(&str, InstanceRecord, bool); 7] = [
        // Measured: a delete still running, requested during H or after it.
        (
            "deleting-since-mid-hour",
            deleting_instance(MARCH_10, h + 50 * MINUTE, Phase::Deleting),
            true,
        ),
        (
            "deleted-after-the-hour",
            deleting_instance(MARCH_10, h + HOUR + MINUTE, Phase::Deleted),
            true,
        ),
        (
            "created-and-deleted-within-the-hour",
            deleting_instance(h + 10 * MINUTE, h + 20 * MINUTE, Phase::Deleted),
            true,
        ),
        // Not measured: gone before H, deleting since before H, created after H.
        (
            "deleted-before-the-hour",
            deleting_instance(MARCH_10, h - MINUTE, Phase::Deleted),
            false,
        ),
        (
            "deleted-at-the-hour-start",
            deleting_instance(MARCH_10, h, Phase::Deleted),
            false,
        ),
        (
            "deleting-since-before-the-hour",
            deleting_instance(MARCH_10, h - MINUTE, Phase::Deleting),
            false,
        ),
        (
            "created-after-the-hour",
            {
                let mut r = deleting_instance(h + HOUR + MINUTE, 0, Phase::Ready);
                r.lifecycle.operations.pop();
                r
            },
            false,
        ),
    ];
    for (id, record, _) in &cases {
        store.save_instance(id, None, record).await.unwrap();
    }
    // Never created (a delete that halted the create): not measured either.
    let mut halted = deleting_instance(MARCH_10, h + 10 * MINUTE, Phase::Deleted);
    halted.lifecycle.created = false;
    halted.lifecycle.operations[0].status = OperationStatus::Failed;
    store.save_instance("halted", None, &halted).await.unwrap();
    // Disabled since an unknown time (a record from before the time was kept), then deleted:
    // not measured.
    let disabled = with_state(
        deleting_instance(MARCH_10, h + 10 * MINUTE, Phase::Deleted),
        false,
        None,
    );
    store
        .save_instance("disabled", None, &disabled)
        .await
        .unwrap();

    let report = s.reporter.collect_due().await.unwrap();
    let mut measured: Vec<&str> = cases.iter().filter(|c| c.2).map(|c| c.0).collect();
    measured.sort_unstable();
    assert_eq!(report.records_enqueued, measured.len() as u64);
    assert_eq!(s.asked.measured(h), measured);
    assert_eq!(
        s.asked.calls().len(),
        measured.len(),
        "only H was collected"
    );
    s.broker.shutdown().await;
}
