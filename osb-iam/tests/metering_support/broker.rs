//! A real `Managed` broker over the reporter's store, a meter that remembers what it was asked,
//! hand-made instance records, and the stores every reporter test runs on (memory, SQLite, and
//! PostgreSQL when `OSB_TEST_POSTGRES_URL` is set).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, Clock, DeprovisionError, InstanceRecord, Lease, LogicError, Managed,
    OperationKind, OperationRecord, OperationStatus, Phase, PostgresStore, ServiceLogic,
    SqliteStore, StateStore, Timestamp, UsageOutbox,
};
use osb_core::{
    ApiVersion, BindRequest, Binding, DeprovisionRequest, InstanceStateBroker, InstanceStateUpdate,
    ProvisionRequest, ProvisionedInstance, RequestContext, ServiceBroker,
};
use osb_iam::metering::{Measure, Meter, MeterError, MeteredInstance, UsageReporter, Window};

use super::{FakeMetering, HOUR, PLAN, RESOURCE_ID, TestClock, ready_instance};

pub const MINUTE: i64 = 60_000;

/// The provider's code: everything synchronous, nothing to do.
#[derive(Debug)]
pub struct Logic(Arc<Catalog>);

impl Logic {
    pub fn new() -> Self {
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

/// The instances a meter was given, by (instance id, hour start).
type Questions = HashMap<(String, i64), Vec<MeteredInstance>>;

/// What a meter was asked: every (instance, hour start) with the instances it was given.
#[derive(Clone, Default)]
pub struct Asked(Arc<Mutex<Questions>>);

impl Asked {
    /// A meter reporting 7 API calls per instance and hour, remembering each question here.
    pub fn meter(&self) -> impl Meter {
        let asked = self.0.clone();
        move |instance: MeteredInstance, window: Window| {
            asked
                .lock()
                .unwrap()
                .entry((
                    instance.instance_id.clone(),
                    window.start().as_unix_millis(),
                ))
                .or_default()
                .push(instance);
            async move { Ok::<_, MeterError>(vec![Measure::new("API_CALL", 7_u64)]) }
        }
    }

    /// How often each (instance, hour start) was measured.
    pub fn calls(&self) -> HashMap<(String, i64), usize> {
        let asked = self.0.lock().unwrap();
        asked.iter().map(|(k, v)| (k.clone(), v.len())).collect()
    }

    /// The instance as the meter was last given it for the hour starting at `hour`.
    pub fn instance(&self, id: &str, hour: i64) -> Option<MeteredInstance> {
        let asked = self.0.lock().unwrap();
        asked.get(&(id.to_owned(), hour))?.last().cloned()
    }

    /// The ids measured for the hour starting at `hour`, sorted.
    pub fn measured(&self, hour: i64) -> Vec<String> {
        let asked = self.0.lock().unwrap();
        let mut ids: Vec<String> = asked
            .keys()
            .filter(|(_, start)| *start == hour)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// A broker and a reporter sharing `store`, a fake IBM, and a clock tests move by hand.
pub struct Setup<S> {
    pub fake: FakeMetering,
    pub clock: Arc<TestClock>,
    pub broker: Managed<Logic, Arc<S>>,
    pub reporter: UsageReporter,
    pub asked: Asked,
}

pub async fn setup<S: StateStore + UsageOutbox>(store: Arc<S>, start: i64) -> Setup<S> {
    let fake = FakeMetering::start().await;
    let clock = TestClock::at(start);
    let broker = Managed::builder(Logic::new())
        .store(store.clone())
        .clock(clock.clone() as Arc<dyn Clock>)
        .build();
    let asked = Asked::default();
    let reporter = UsageReporter::builder(fake.client(clock.clone()), store, asked.meter())
        .metered_plan(PLAN)
        .build()
        .unwrap();
    Setup {
        fake,
        clock,
        broker,
        reporter,
        asked,
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(ApiVersion::V2_17)
}

pub async fn provision<S: StateStore>(broker: &Managed<Logic, Arc<S>>, id: &str) {
    broker
        .provision(id, ProvisionRequest::new(RESOURCE_ID, PLAN), &ctx())
        .await
        .unwrap();
}

pub async fn deprovision<S: StateStore>(broker: &Managed<Logic, Arc<S>>, id: &str) {
    broker
        .deprovision(id, DeprovisionRequest::new(RESOURCE_ID, PLAN), &ctx())
        .await
        .unwrap();
}

/// `PUT /bluemix_v1/service_instances/:id` with `enabled`.
pub async fn set_enabled<S: StateStore>(broker: &Managed<Logic, Arc<S>>, id: &str, enabled: bool) {
    broker
        .set_state(id, InstanceStateUpdate::new(enabled), &ctx())
        .await
        .unwrap();
}

/// A record whose create finished at `created_at`, then went through `phase` with a delete
/// requested (and, for a tombstone, finished) at `deleted_at`, kept 24 hours.
pub fn deleting_instance(created_at: i64, deleted_at: i64, phase: Phase) -> InstanceRecord {
    let mut record = created_instance(created_at);
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

/// A ready record whose create finished at `created_at`.
pub fn created_instance(created_at: i64) -> InstanceRecord {
    let mut record = ready_instance(PLAN);
    let create = &mut record.lifecycle.operations[0];
    create.status = OperationStatus::Succeeded;
    create.started_at = Timestamp::from_unix_millis(created_at);
    create.finished_at = Some(Timestamp::from_unix_millis(created_at));
    create.lease = None;
    record
}

/// `record` with its enabled flag set to `enabled` at `changed_at` (`None`: at an unknown time,
/// as in records stored before the time was kept).
pub fn with_state(
    mut record: InstanceRecord,
    enabled: bool,
    changed_at: Option<i64>,
) -> InstanceRecord {
    record.enabled = enabled;
    record.enabled_changed_at = changed_at.map(Timestamp::from_unix_millis);
    record
}

fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite store in a new file, and its directory (to remove once closed).
pub async fn sqlite_store() -> (Arc<SqliteStore>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("osb-iam-metering-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("broker.db")).await.unwrap();
    (Arc::new(store), dir)
}

/// A PostgreSQL store in a fresh schema of `OSB_TEST_POSTGRES_URL`'s database; `None` (the test
/// skips, saying so) when it is unset outside CI. Under `CI=true` a missing URL fails the test.
pub async fn postgres_store() -> Option<Arc<PostgresStore>> {
    let url = match std::env::var("OSB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but OSB_TEST_POSTGRES_URL is unset: the PostgreSQL tests must run in CI"
            )
        }
        _ => {
            eprintln!(
                "skipping: set OSB_TEST_POSTGRES_URL=postgres://user@127.0.0.1:5432/db to run the \
                 reporter tests on PostgreSQL (.ci/run starts a throwaway cluster itself)"
            );
            return None;
        }
    };
    let store = PostgresStore::builder(&url)
        .schema(format!("osb_iam_test_{}", unique()))
        .connect()
        .await
        .expect("connect to OSB_TEST_POSTGRES_URL (is the database up?)");
    Some(Arc::new(store))
}

/// For each `async fn test<S: StateStore + UsageOutbox>(store: Arc<S>)` named, a module of the
/// same name with one test per store: `memory`, `sqlite`, `postgres`.
#[allow(unused_macros)] // not every test file runs on every store
macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            use crate::metering_support::broker::{postgres_store, sqlite_store};

            #[tokio::test]
            async fn memory() {
                super::$test(std::sync::Arc::new(osb_core::managed::MemoryStore::new())).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let (store, dir) = sqlite_store().await;
                super::$test(store.clone()).await;
                store.close().await;
                let _ = std::fs::remove_dir_all(dir);
            }

            #[tokio::test]
            async fn postgres() {
                let Some(store) = postgres_store().await else {
                    return;
                };
                super::$test(store.clone()).await;
                store.close().await;
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use on_every_store;
