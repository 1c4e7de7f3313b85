//! Instances that stop being active during an hour are still billed for it: the collector of an
//! hour measures instances deleted (or being deleted) since it started, found through the
//! bookkeeping's tombstones, once per (instance, hour) like active ones; never those gone before
//! the hour, created after it, or never created. On memory and SQLite stores, through the real
//! `Managed` adapter.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use metering_support::{
    FakeMetering, HOUR, MARCH_10, PLAN, RESOURCE_ID, TestClock, crn, hour_key, ready_instance,
};
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, Clock, DeprovisionError, InstanceRecord, Lease, LogicError, Managed,
    MemoryStore, OperationKind, OperationRecord, OperationStatus, Phase, ServiceLogic, SqliteStore,
    StateStore, Timestamp, UsageOutbox,
};
use osb_core::{
    ApiVersion, BindRequest, Binding, DeprovisionRequest, ProvisionRequest, ProvisionedInstance,
    RequestContext, ServiceBroker,
};
use osb_iam::metering::{Measure, MeterError, MeteredInstance, UsageReporter, Window};

const MINUTE: i64 = 60_000;

type Calls = Arc<Mutex<HashMap<(String, i64), usize>>>;

/// The provider's code: everything synchronous, nothing to do.
#[derive(Debug)]
struct Logic(Arc<Catalog>);

impl Logic {
    fn new() -> Self {
        Self(Arc::new(Catalog::new(vec![
            Service::new(RESOURCE_ID, "my-service", "A metered service", false)
                .with_plan(Plan::new(PLAN, "metered", "Pay as you go")),
        ])))
    }
}

#[async_trait]
impl ServiceLogic for Logic {
    fn catalog(&self) -> Arc<Catalog> {
        self.0.clone()
    }

    async fn create_instance(
        &self,
        _instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        Ok(ProvisionedInstance::default())
    }

    async fn delete_instance(
        &self,
        _instance_id: &str,
        _instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        Ok(())
    }

    async fn create_binding(
        &self,
        _instance_id: &str,
        _binding_id: &str,
        _request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        Err(LogicError::failed("not bindable"))
    }

    async fn delete_binding(
        &self,
        _instance_id: &str,
        _binding_id: &str,
        _binding: &BindingRecord,
    ) -> Result<(), LogicError> {
        Ok(())
    }
}

/// A meter reporting 7 API calls per instance and hour, counting how often it was asked (and
/// remembering the deletion time it was told).
fn counting_meter(
    calls: Calls,
    deleted: Arc<Mutex<HashMap<String, Option<Timestamp>>>>,
) -> impl osb_iam::metering::Meter {
    move |instance: MeteredInstance, window: Window| {
        *calls
            .lock()
            .unwrap()
            .entry((
                instance.instance_id.clone(),
                window.start().as_unix_millis(),
            ))
            .or_default() += 1;
        deleted
            .lock()
            .unwrap()
            .insert(instance.instance_id.clone(), instance.deleted_at);
        async move { Ok::<_, MeterError>(vec![Measure::new("API_CALL", 7_u64)]) }
    }
}

struct Setup<S> {
    fake: FakeMetering,
    clock: Arc<TestClock>,
    broker: Managed<Logic, Arc<S>>,
    reporter: UsageReporter,
    calls: Calls,
    deleted: Arc<Mutex<HashMap<String, Option<Timestamp>>>>,
}

async fn setup<S: StateStore + UsageOutbox>(store: Arc<S>, start: i64) -> Setup<S> {
    let fake = FakeMetering::start().await;
    let clock = TestClock::at(start);
    let broker = Managed::builder(Logic::new())
        .store(store.clone())
        .clock(clock.clone() as Arc<dyn Clock>)
        .build();
    let calls = Calls::default();
    let deleted: Arc<Mutex<HashMap<String, Option<Timestamp>>>> = Arc::default();
    let reporter = UsageReporter::builder(
        fake.client(clock.clone()),
        store,
        counting_meter(calls.clone(), deleted.clone()),
    )
    .metered_plan(PLAN)
    .build()
    .unwrap();
    Setup {
        fake,
        clock,
        broker,
        reporter,
        calls,
        deleted,
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(ApiVersion::V2_17)
}

async fn provision<S: StateStore>(broker: &Managed<Logic, Arc<S>>, id: &str) {
    broker
        .provision(id, ProvisionRequest::new(RESOURCE_ID, PLAN), &ctx())
        .await
        .unwrap();
}

async fn deprovision<S: StateStore>(broker: &Managed<Logic, Arc<S>>, id: &str) {
    broker
        .deprovision(id, DeprovisionRequest::new(RESOURCE_ID, PLAN), &ctx())
        .await
        .unwrap();
}

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
        s.deleted.lock().unwrap().get(&deleted),
        Some(&Some(Timestamp::from_unix_millis(h + 30 * MINUTE))),
        "the meter learns when the deletion was requested"
    );
    assert_eq!(s.deleted.lock().unwrap().get(&kept), Some(&None));
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
    let calls = s.calls.lock().unwrap().clone();
    assert!(calls.values().all(|n| *n == 1), "{calls:?}");
    assert!(!calls.contains_key(&(gone_before.clone(), h)));
    assert!(!calls.contains_key(&(deleted.clone(), h + HOUR)));
    s.broker.shutdown().await;
}

#[tokio::test]
async fn an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after_on_memory() {
    an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "osb-metering-deleted-{}-{}",
        std::process::id(),
        MARCH_10
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("broker.db")).await.unwrap());
    an_instance_deleted_mid_hour_is_billed_for_that_hour_once_and_not_after(store.clone()).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn replicas_bill_an_instance_deleted_mid_hour_once() {
    let h = MARCH_10 + HOUR;
    let store = Arc::new(MemoryStore::new());
    let s = setup(store.clone(), MARCH_10 + 30 * MINUTE).await;
    let deleted = crn(1);
    provision(&s.broker, &deleted).await;
    s.clock.set(h + 45 * MINUTE);
    deprovision(&s.broker, &deleted).await;
    s.clock.set(h + HOUR + 2 * MINUTE);
    let other = UsageReporter::builder(
        s.fake.client(s.clock.clone()),
        store.clone(),
        counting_meter(s.calls.clone(), Arc::default()),
    )
    .metered_plan(PLAN)
    .owner("replica-b")
    .build()
    .unwrap();
    let (a, b) = tokio::join!(s.reporter.collect_due(), other.collect_due());
    assert_eq!(a.unwrap().records_enqueued + b.unwrap().records_enqueued, 1);
    let (a, b) = tokio::join!(s.reporter.deliver(), other.deliver());
    assert_eq!(a.unwrap().accepted + b.unwrap().accepted, 1);
    s.fake.assert_accepted_once(&[hour_key(&deleted, h)]);
    assert_eq!(s.calls.lock().unwrap().get(&(deleted, h)), Some(&1));
    s.broker.shutdown().await;
}

/// A record whose create finished at `created_at`, then went through `phase` with a delete
/// requested at `deleted_at`.
fn deleting_instance(created_at: i64, deleted_at: i64, phase: Phase) -> InstanceRecord {
    let mut record = ready_instance(PLAN);
    let create = &mut record.lifecycle.operations[0];
    create.status = OperationStatus::Succeeded;
    create.started_at = Timestamp::from_unix_millis(created_at);
    create.finished_at = Some(Timestamp::from_unix_millis(created_at));
    create.lease = None;
    let at = Timestamp::from_unix_millis(deleted_at);
    let mut delete = OperationRecord::start(
        OperationKind::Deprovision,
        true,
        at,
        None,
        Lease::new("t", at),
    );
    if phase == Phase::Deleted {
        delete.status = OperationStatus::Succeeded;
        delete.finished_at = Some(at);
        delete.lease = None;
        record.lifecycle.retain_until = Some(Timestamp::from_unix_millis(deleted_at + 24 * HOUR));
    }
    record.lifecycle.operations.push(delete);
    record.lifecycle.phase = phase;
    record
}

#[tokio::test]
async fn only_instances_active_at_some_time_during_the_hour_are_measured() {
    let h = MARCH_10 + HOUR;
    let store = Arc::new(MemoryStore::new());
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
    // Disabled before being deleted: not measured (disabled instances are not active).
    let mut disabled = deleting_instance(MARCH_10, h + 10 * MINUTE, Phase::Deleted);
    disabled.enabled = false;
    store
        .save_instance("disabled", None, &disabled)
        .await
        .unwrap();

    let report = s.reporter.collect_due().await.unwrap();
    let measured: Vec<&str> = cases.iter().filter(|c| c.2).map(|c| c.0).collect();
    assert_eq!(report.records_enqueued, measured.len() as u64);
    let calls = s.calls.lock().unwrap().clone();
    let mut asked: Vec<&str> = calls.keys().map(|(id, _)| id.as_str()).collect();
    asked.sort_unstable();
    let mut expected = measured.clone();
    expected.sort_unstable();
    assert_eq!(asked, expected);
    s.broker.shutdown().await;
}
