//! Instances disabled (IBM Cloud `bluemix_v1`) during an hour are still billed for it, and told
//! when they were disabled; instances enabled again during an hour are billed for it; instances
//! disabled throughout an hour are not. The broker records when the enabled flag changed
//! (`InstanceRecord::enabled_changed_at`). On memory, SQLite and (with `OSB_TEST_POSTGRES_URL`)
//! PostgreSQL stores, through the real `Managed` adapter.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::sync::Arc;

use metering_support::broker::{
    MINUTE, created_instance, deleting_instance, deprovision, on_every_store, provision,
    set_enabled, setup, with_state,
};
use metering_support::{HOUR, MARCH_10, crn, hour_key};
use osb_core::managed::{InstanceRecord, Phase, StateStore, Timestamp, UsageOutbox};

on_every_store!(
    an_instance_disabled_mid_hour_is_billed_for_that_hour_and_not_after,
    an_instance_enabled_again_mid_hour_is_billed_for_that_hour_and_not_before,
    an_instance_disabled_mid_hour_and_then_deleted_is_billed_for_that_hour,
    repeating_a_state_keeps_the_time_of_the_change,
    instances_enabled_at_some_time_during_the_hour_are_measured,
);

fn at(millis: i64) -> Option<Timestamp> {
    Some(Timestamp::from_unix_millis(millis))
}

/// H = 2025-03-10T01:00Z. `kept` and `disabled` from 00:30; `disabled` is disabled at 01:30.
/// Collecting H measures both, `disabled` told it was disabled at 01:30; H+1 only `kept`.
async fn an_instance_disabled_mid_hour_is_billed_for_that_hour_and_not_after<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store.clone(), MARCH_10 + 30 * MINUTE).await;
    let (kept, disabled) = (crn(1), crn(2));
    provision(&s.broker, &kept).await;
    provision(&s.broker, &disabled).await;
    s.clock.set(h + 30 * MINUTE);
    set_enabled(&s.broker, &disabled, false).await;
    let stored = store.load_instance(&disabled).await.unwrap().unwrap();
    assert_eq!(
        (stored.record.enabled, stored.record.enabled_changed_at),
        (false, at(h + 30 * MINUTE)),
        "the broker records when the instance was disabled"
    );

    s.clock.set(h + HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 2));
    assert_eq!(s.reporter.deliver().await.unwrap().accepted, 2);
    s.fake
        .assert_accepted_once(&[hour_key(&kept, h), hour_key(&disabled, h)]);
    let measured = s.asked.instance(&disabled, h).unwrap();
    assert_eq!(
        (measured.disabled_at, measured.deleted_at),
        (at(h + 30 * MINUTE), None),
        "the meter learns when the instance was disabled"
    );
    assert_eq!(s.asked.instance(&kept, h).unwrap().disabled_at, None);

    // H+1: disabled throughout, not measured.
    s.clock.set(h + 2 * HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 1));
    assert_eq!(s.asked.measured(h + HOUR), std::slice::from_ref(&kept));
    s.reporter.deliver().await.unwrap();
    assert_eq!(s.fake.accepted().len(), 3);
    s.broker.shutdown().await;
}

/// H = 2025-03-10T01:00Z. An instance from 00:10, disabled at 00:20, enabled again at 02:30:
/// billed for H-1 (disabled during it), not for H (disabled throughout), billed for H+1
/// (enabled during it) and told since when it is enabled again.
async fn an_instance_enabled_again_mid_hour_is_billed_for_that_hour_and_not_before<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store, MARCH_10 + 10 * MINUTE).await;
    let id = crn(1);
    provision(&s.broker, &id).await;
    s.clock.set(MARCH_10 + 20 * MINUTE);
    set_enabled(&s.broker, &id, false).await;

    s.clock.set(h + 2 * MINUTE);
    assert_eq!(s.reporter.collect_due().await.unwrap().records_enqueued, 1);
    assert_eq!(
        s.asked.instance(&id, MARCH_10).unwrap().disabled_at,
        at(MARCH_10 + 20 * MINUTE)
    );

    s.clock.set(h + HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 0));

    s.clock.set(h + HOUR + 30 * MINUTE);
    set_enabled(&s.broker, &id, true).await;
    s.clock.set(h + 2 * HOUR + 2 * MINUTE);
    let report = s.reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_collected, report.records_enqueued), (1, 1));
    let measured = s.asked.instance(&id, h + HOUR).unwrap();
    assert_eq!(measured.disabled_at, None);
    assert_eq!(
        measured.record.enabled_changed_at,
        at(h + HOUR + 30 * MINUTE),
        "the meter can read since when it is enabled again"
    );

    assert_eq!(s.reporter.deliver().await.unwrap().accepted, 2);
    s.fake
        .assert_accepted_once(&[hour_key(&id, MARCH_10), hour_key(&id, h + HOUR)]);
    assert_eq!(s.fake.accepted().len(), 2);
    s.broker.shutdown().await;
}

/// Disabled at 01:20, deleted at 01:40 (a suspended account cleaned up): billed for H, told
/// both times.
async fn an_instance_disabled_mid_hour_and_then_deleted_is_billed_for_that_hour<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store, MARCH_10 + 30 * MINUTE).await;
    let id = crn(1);
    provision(&s.broker, &id).await;
    s.clock.set(h + 20 * MINUTE);
    set_enabled(&s.broker, &id, false).await;
    s.clock.set(h + 40 * MINUTE);
    deprovision(&s.broker, &id).await;

    s.clock.set(h + HOUR + 2 * MINUTE);
    assert_eq!(s.reporter.collect_due().await.unwrap().records_enqueued, 1);
    let measured = s.asked.instance(&id, h).unwrap();
    assert_eq!(
        (measured.disabled_at, measured.deleted_at),
        (at(h + 20 * MINUTE), at(h + 40 * MINUTE))
    );
    assert_eq!(s.reporter.deliver().await.unwrap().accepted, 1);
    s.fake.assert_accepted_once(&[hour_key(&id, h)]);
    s.broker.shutdown().await;
}

/// A repeated `PUT` of the state an instance already has is no change: the time stays the
/// first one's, and the next change moves it.
async fn repeating_a_state_keeps_the_time_of_the_change<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let s = setup(store.clone(), MARCH_10).await;
    let id = crn(1);
    provision(&s.broker, &id).await;
    set_enabled(&s.broker, &id, true).await;
    let changed_at = |store: Arc<S>, id: String| async move {
        store
            .load_instance(&id)
            .await
            .unwrap()
            .unwrap()
            .record
            .enabled_changed_at
    };
    assert_eq!(
        changed_at(store.clone(), id.clone()).await,
        None,
        "enabling an enabled instance changes nothing"
    );
    s.clock.set(MARCH_10 + 10 * MINUTE);
    set_enabled(&s.broker, &id, false).await;
    s.clock.set(MARCH_10 + 20 * MINUTE);
    set_enabled(&s.broker, &id, false).await;
    assert_eq!(
        changed_at(store.clone(), id.clone()).await,
        at(MARCH_10 + 10 * MINUTE)
    );
    s.clock.set(MARCH_10 + 30 * MINUTE);
    set_enabled(&s.broker, &id, true).await;
    assert_eq!(changed_at(store, id).await, at(MARCH_10 + 30 * MINUTE));
    s.broker.shutdown().await;
}

async fn instances_enabled_at_some_time_during_the_hour_are_measured<S>(store: Arc<S>)
where
    S: StateStore + UsageOutbox,
{
    let h = MARCH_10 + HOUR;
    let s = setup(store.clone(), h + HOUR + 2 * MINUTE).await;
    let old = || created_instance(MARCH_10);
    let cases: [(&str, InstanceRecord, bool); 12] = [
        // Measured: enabled at some time during H.
        (
            "disabled-mid-hour",
            with_state(old(), false, Some(h + 30 * MINUTE)),
            true,
        ),
        (
            "disabled-after-the-hour",
            with_state(old(), false, Some(h + HOUR + MINUTE)),
            true,
        ),
        (
            "enabled-again-mid-hour",
            with_state(old(), true, Some(h + 30 * MINUTE)),
            true,
        ),
        (
            "enabled-again-before-the-hour",
            with_state(old(), true, Some(h - MINUTE)),
            true,
        ),
        (
            "created-and-disabled-within-the-hour",
            with_state(
                created_instance(h + 10 * MINUTE),
                false,
                Some(h + 20 * MINUTE),
            ),
            true,
        ),
        (
            "disabled-and-deleted-within-the-hour",
            with_state(
                deleting_instance(MARCH_10, h + 40 * MINUTE, Phase::Deleted),
                false,
                Some(h + 20 * MINUTE),
            ),
            true,
        ),
        // Not measured: disabled throughout H.
        (
            "disabled-before-the-hour",
            with_state(old(), false, Some(h - MINUTE)),
            false,
        ),
        (
            "disabled-at-the-hour-start",
            with_state(old(), false, Some(h)),
            false,
        ),
        (
            "disabled-since-an-unknown-time",
            with_state(old(), false, None),
            false,
        ),
        (
            "enabled-again-after-the-hour",
            with_state(old(), true, Some(h + HOUR + MINUTE)),
            false,
        ),
        (
            "disabled-before-the-hour-and-deleted-in-it",
            with_state(
                deleting_instance(MARCH_10, h + 40 * MINUTE, Phase::Deleted),
                false,
                Some(h - MINUTE),
            ),
            false,
        ),
        (
            "enabled-again-after-the-hour-then-deleted",
            with_state(
                deleting_instance(MARCH_10, h + HOUR + 5 * MINUTE, Phase::Deleting),
                true,
                Some(h + HOUR + MINUTE),
            ),
            false,
        ),
    ];
    for (id, record, _) in &cases {
        store.save_instance(id, None, record).await.unwrap();
    }

    let report = s.reporter.collect_due().await.unwrap();
    let mut measured: Vec<&str> = cases.iter().filter(|c| c.2).map(|c| c.0).collect();
    measured.sort_unstable();
    assert_eq!(report.records_enqueued, measured.len() as u64);
    assert_eq!(s.asked.measured(h), measured);
    let disabled_at = |id: &str| s.asked.instance(id, h).unwrap().disabled_at;
    assert_eq!(
        disabled_at("disabled-after-the-hour"),
        at(h + HOUR + MINUTE)
    );
    assert_eq!(disabled_at("enabled-again-mid-hour"), None);
    s.broker.shutdown().await;
}
