//! The usage reporter against a fake metering API: collection, delivery, outages, token expiry,
//! restarts on SQLite, replicas, catch-up after downtime. In every case each record is accepted
//! exactly once or kept as rejected; none is lost.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metering_support::{
    FakeMetering, Fault, HOUR, MARCH_10, PLAN, Rule, TestClock, crn, hour_key, provision,
    ready_instance,
};
use osb_core::managed::{Clock, MemoryStore, SqliteStore, StateStore, UsageOutbox};
use osb_iam::metering::{
    Measure, MeterError, MeteredInstance, ReporterConfigError, UsageReporter, Window,
};

/// 2025-03-01T00:00:00Z.
const MARCH_1: i64 = 1_740_787_200_000;
const MINUTE: i64 = 60_000;

type Calls = Arc<Mutex<HashMap<(String, i64), usize>>>;

/// A meter that reports 7 API calls per instance and hour and counts how often it was asked.
fn counting_meter(calls: Calls) -> impl osb_iam::metering::Meter {
    move |instance: MeteredInstance, window: Window| {
        *calls
            .lock()
            .unwrap()
            .entry((
                instance.instance_id.clone(),
                window.start().as_unix_millis(),
            ))
            .or_default() += 1;
        async move { Ok::<_, MeterError>(vec![Measure::new("API_CALL", 7_u64)]) }
    }
}

fn reporter<S: StateStore + UsageOutbox>(
    fake: &FakeMetering,
    store: Arc<S>,
    clock: Arc<TestClock>,
    calls: Calls,
) -> UsageReporter {
    UsageReporter::builder(fake.client(clock), store, counting_meter(calls))
        .metered_plan(PLAN)
        .build()
        .unwrap()
}

fn keys_for(ids: &[String], hour_start: i64) -> Vec<String> {
    ids.iter().map(|id| hour_key(id, hour_start)).collect()
}

#[tokio::test]
async fn hourly_collection_reports_each_active_metered_instance_once() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 5, PLAN).await;
    // Not reported: disabled, on a free plan, still being created.
    let mut disabled = ready_instance(PLAN);
    disabled.enabled = false;
    store
        .save_instance("disabled", None, &disabled)
        .await
        .unwrap();
    store
        .save_instance("free", None, &ready_instance("plan-free"))
        .await
        .unwrap();
    let mut creating = ready_instance(PLAN);
    creating.lifecycle.phase = osb_core::managed::Phase::Creating;
    store
        .save_instance("creating", None, &creating)
        .await
        .unwrap();

    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let calls = Calls::default();
    let reporter = reporter(&fake, store.clone(), clock.clone(), calls.clone());
    let collected = reporter.collect_due().await.unwrap();
    assert_eq!(
        (collected.hours_collected, collected.records_enqueued),
        (1, 5)
    );
    assert_eq!(reporter.metrics().await.unwrap().pending, 5);
    let delivered = reporter.deliver().await.unwrap();
    assert_eq!((delivered.batches, delivered.accepted), (1, 5));

    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    assert_eq!(fake.accepted().len(), 5);
    // Nothing is collected twice within the hour.
    assert_eq!(reporter.collect_due().await.unwrap().records_enqueued, 0);
    assert_eq!(calls.lock().unwrap().len(), 5);
    let metrics = reporter.metrics().await.unwrap();
    assert_eq!(
        (metrics.pending, metrics.accepted, metrics.enqueued),
        (0, 5, 5)
    );
}

#[tokio::test]
async fn mixed_statuses_settle_each_record_and_keep_rejections_for_inspection() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 4, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    fake.rule(&crn(1), Rule::Reject(424));
    fake.rule(&crn(2), Rule::RetryTimes(1));
    reporter.collect_due().await.unwrap();
    // Record 3 was delivered before (say by a replica that crashed before settling it).
    let hour = MARCH_10 + HOUR;
    let client = fake.client(clock.clone());
    let earlier = osb_iam::metering::UsageRecord::builder(crn(3), PLAN)
        .window(hour, hour + HOUR)
        .measure("API_CALL", 7_u64)
        .build()
        .unwrap();
    client.submit(&[earlier]).await.unwrap();

    let first = reporter.deliver().await.unwrap();
    assert_eq!(
        (
            first.accepted,
            first.duplicates,
            first.rejected,
            first.retry_later
        ),
        (1, 1, 1, 1)
    );
    let rejected = reporter.rejected(None, 10).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].key, hour_key(&ids[1], hour));
    assert!(rejected[0].reason.contains("424"), "{}", rejected[0].reason);
    // The retry waits for its backoff, then goes through.
    assert_eq!(reporter.deliver().await.unwrap().batches, 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(reporter.deliver().await.unwrap().accepted, 1);

    let metrics = reporter.metrics().await.unwrap();
    assert_eq!((metrics.pending, metrics.rejected), (0, 1));
    fake.assert_accepted_once(&[
        hour_key(&ids[0], hour),
        hour_key(&ids[2], hour),
        hour_key(&ids[3], hour),
    ]);
}

#[tokio::test]
async fn an_outage_then_recovery_delivers_every_record_exactly_once() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 150, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    reporter.collect_due().await.unwrap();
    // Three delivery rounds' worth of 503s (4 attempts each), then a mix of 500 and 429.
    fake.fault(Fault::Status(503), 12);
    fake.fault(Fault::Status(429), 2);
    let mut rounds = 0;
    loop {
        let report = reporter.deliver().await.unwrap();
        let metrics = reporter.metrics().await.unwrap();
        if metrics.pending == 0 {
            break;
        }
        assert!(
            report.interrupted,
            "records pending without an outage: {report:?}"
        );
        assert!(metrics.oldest_pending_age.is_some());
        rounds += 1;
        assert!(rounds < 10, "the outage never ended");
        clock.advance(Duration::from_secs(2 * 3600));
    }
    assert_eq!(rounds, 3);
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    assert_eq!(
        fake.batch_sizes().iter().filter(|n| **n > 0).count(),
        fake.batch_sizes().len()
    );
}

#[tokio::test]
async fn token_expiry_mid_run_gets_a_new_token_and_loses_nothing() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 3, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    reporter.collect_due().await.unwrap();
    reporter.deliver().await.unwrap();
    fake.revoke_tokens();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(reporter.collect_due().await.unwrap().records_enqueued, 3);
    assert_eq!(reporter.deliver().await.unwrap().accepted, 3);
    assert_eq!(fake.token_requests(), 2);
    let mut keys = keys_for(&ids, MARCH_10 + HOUR);
    keys.extend(keys_for(&ids, MARCH_10 + 2 * HOUR));
    fake.assert_accepted_once(&keys);
}

#[tokio::test]
async fn a_restart_with_records_in_flight_on_sqlite_loses_nothing_and_bills_nothing_twice() {
    let dir = std::env::temp_dir().join(format!("osb-metering-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broker.db");
    let fake = FakeMetering::start().await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let ids = provision(&*store, 250, PLAN).await;
    let first = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    assert_eq!(first.collect_due().await.unwrap().records_enqueued, 250);
    // The first batch reaches IBM, but its answer comes too late: the process dies meanwhile.
    fake.fault(Fault::Slow(Duration::from_secs(5)), 1);
    let sending = tokio::spawn({
        let first = first.clone();
        async move { first.deliver().await }
    });
    let started = Instant::now();
    while fake.accepted().len() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the first batch never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sending.abort();
    let _ = sending.await;
    drop(first);
    store.close().await;
    drop(store);

    // A new process on the same file: nothing to collect again, everything still queued.
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let calls = Calls::default();
    let second = reporter(&fake, store.clone(), clock.clone(), calls.clone());
    assert_eq!(second.collect_due().await.unwrap().records_enqueued, 0);
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(second.metrics().await.unwrap().pending, 250);
    // The leased batch waits for its send lease; the others go at once.
    let now = second.deliver().await.unwrap();
    assert_eq!(now.accepted, 150);
    clock.advance(Duration::from_secs(11 * 60));
    let later = second.deliver().await.unwrap();
    assert_eq!((later.accepted, later.duplicates), (0, 100));
    assert_eq!(second.metrics().await.unwrap().pending, 0);
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn replicas_sharing_a_store_measure_and_report_each_instance_hour_once() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 300, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let calls = Calls::default();
    let a = UsageReporter::builder(
        fake.client(clock.clone()),
        store.clone(),
        counting_meter(calls.clone()),
    )
    .metered_plan(PLAN)
    .owner("replica-a")
    .build()
    .unwrap();
    let b = UsageReporter::builder(
        fake.client(clock.clone()),
        store.clone(),
        counting_meter(calls.clone()),
    )
    .metered_plan(PLAN)
    .owner("replica-b")
    .build()
    .unwrap();
    let (ra, rb) = tokio::join!(a.collect_due(), b.collect_due());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.records_enqueued + rb.records_enqueued, 300);
    assert!(calls.lock().unwrap().values().all(|n| *n == 1));
    assert_eq!(calls.lock().unwrap().len(), 300);
    let (da, db) = tokio::join!(a.deliver(), b.deliver());
    assert_eq!(da.unwrap().accepted + db.unwrap().accepted, 300);
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    assert_eq!(fake.duplicates_answered(), 0);
}

#[tokio::test]
async fn after_downtime_hours_inside_the_deadline_are_caught_up_and_older_ones_counted_missed() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 2, PLAN).await;
    // Last run on 27 February, 10:02.
    let clock = TestClock::at(MARCH_1 - 38 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    assert_eq!(reporter.collect_due().await.unwrap().hours_collected, 1);
    reporter.deliver().await.unwrap();
    // Back on 4 March, 01:02: February's deadline (3 March, 00:00) has passed.
    clock.set(MARCH_1 + 73 * HOUR + 2 * MINUTE);
    let report = reporter.collect_due().await.unwrap();
    assert_eq!((report.hours_missed, report.hours_collected), (38, 73));
    assert_eq!(report.records_enqueued, 2 * 73);
    assert_eq!(reporter.metrics().await.unwrap().hours_missed, 38);
    while reporter.deliver().await.unwrap().batches > 0 {}
    let mut keys = keys_for(&ids, MARCH_1 - 39 * HOUR);
    for hour in 0..73 {
        keys.extend(keys_for(&ids, MARCH_1 + hour * HOUR));
    }
    fake.assert_accepted_once(&keys);
    assert_eq!(fake.accepted().len(), keys.len());
}

#[tokio::test]
async fn a_measuring_failure_leaves_only_that_instance_hour_to_be_collected_again() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 3, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let asked = Arc::new(AtomicUsize::new(0));
    let failing = crn(1);
    let meter = {
        let asked = asked.clone();
        move |instance: MeteredInstance, _window: Window| {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            let fail = instance.instance_id == failing && n < 3;
            async move {
                if fail {
                    Err(MeterError::new("usage database unreachable"))
                } else {
                    Ok(vec![Measure::new("API_CALL", 1_u64)])
                }
            }
        }
    };
    let reporter = UsageReporter::builder(fake.client(clock.clone()), store.clone(), meter)
        .metered_plan(PLAN)
        .build()
        .unwrap();
    let first = reporter.collect_due().await.unwrap();
    assert!(!first.complete);
    assert_eq!(first.records_enqueued, 2);
    let second = reporter.collect_due().await.unwrap();
    assert!(second.complete);
    assert_eq!(second.records_enqueued, 1);
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    assert_eq!(reporter.metrics().await.unwrap().measure_failures, 1);
    reporter.deliver().await.unwrap();
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
}

#[tokio::test]
async fn a_started_reporter_delivers_in_the_background_and_shuts_down_cleanly() {
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let ids = provision(&*store, 20, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    let running = reporter.start();
    let started = Instant::now();
    while running.metrics().await.unwrap().accepted < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.shutdown().await;
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    assert_eq!(reporter.metrics().await.unwrap().pending, 0);
}

#[tokio::test]
async fn a_reporter_without_metered_plans_is_refused() {
    let fake = FakeMetering::start().await;
    let clock = TestClock::at(MARCH_10);
    let result = UsageReporter::builder(
        fake.client(clock),
        Arc::new(MemoryStore::new()),
        counting_meter(Calls::default()),
    )
    .build();
    assert!(matches!(result, Err(ReporterConfigError::NoMeteredPlans)));
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn hourly_cycle_over_ten_thousand_instances<S: StateStore + UsageOutbox>(
    store: Arc<S>,
    label: &str,
) {
    let fake = FakeMetering::start().await;
    let ids = provision(&*store, 10_000, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 2 * MINUTE);
    let reporter = reporter(&fake, store.clone(), clock.clone(), Calls::default());
    let before = peak_rss_kib();
    let started = Instant::now();
    let collected = reporter.collect_due().await.unwrap();
    let collect_time = started.elapsed();
    let delivered = reporter.deliver().await.unwrap();
    let total = started.elapsed();
    eprintln!(
        "{label}: 10,000 instances: collect {collect_time:?}, deliver {:?}, total {total:?}; \
         peak RSS {before:?} KiB before, {:?} KiB after",
        total - collect_time,
        peak_rss_kib()
    );
    assert_eq!(collected.records_enqueued, 10_000);
    assert_eq!((delivered.batches, delivered.accepted), (100, 10_000));
    assert_eq!(fake.batch_sizes(), vec![100; 100]);
    fake.assert_accepted_once(&keys_for(&ids, MARCH_10 + HOUR));
    let _ = clock.now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hourly_cycle_over_ten_thousand_instances_sends_100_batches() {
    hourly_cycle_over_ten_thousand_instances(Arc::new(MemoryStore::new()), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow (10,000 durable SQLite writes to provision); run by hand for the figure"]
async fn one_hourly_cycle_over_ten_thousand_instances_on_sqlite_sends_100_batches() {
    let dir = std::env::temp_dir().join(format!("osb-metering-10k-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("broker.db")).await.unwrap());
    hourly_cycle_over_ten_thousand_instances(store.clone(), "sqlite").await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
