//! A delete that halts a create running on another replica: the logic's `delete_instance`
//! starts only once that replica has stopped the create (it notices at its next lease renewal
//! and records so), or once the create's lease has expired because its replica died. Two
//! `Managed` replicas share one store: memory, one SQLite file, and PostgreSQL when
//! `OSB_TEST_POSTGRES_URL` is set. Time is a manual clock; nothing here measures time.

#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod managed_support;
mod store_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use managed_support::{ManualClock, eventually};
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    DeprovisionError, Execution, InstanceRecord, LogicError, Managed, MemoryStore, OperationKind,
    OperationStatus, PostgresStore, ServiceLogic, SqliteStore, StateStore,
};
use osb_core::{
    ApiVersion, DeprovisionRequest, DeprovisionResponse, LastOperationRequest, OperationState,
    ProvisionRequest, ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker,
};

const SERVICE: &str = "svc";
/// Provision and deprovision both asynchronous.
const ASYNC: &str = "async";
/// Provision asynchronous, deprovision synchronous: the DELETE waits for the logic.
const SYNC_DELETE: &str = "sync-delete";
/// Lease duration on the manual clock; renewals every few real milliseconds, so the create's
/// replica notices a halt soon without the clock moving.
const LEASE: Duration = Duration::from_secs(30);
const RENEWAL: Duration = Duration::from_millis(5);

/// What the logic of both replicas did, per instance id.
#[derive(Debug, Default)]
struct Backend {
    /// Creates whose work is running (started and not yet finished or dropped).
    creating: HashMap<String, usize>,
    creates: HashMap<String, usize>,
    deletes: HashMap<String, usize>,
    /// Ids whose delete started while a create of the same id was still running.
    overlaps: Vec<String>,
}

/// Counts a create as running until its work is dropped (halted) or returns.
struct Creating {
    backend: Arc<Mutex<Backend>>,
    id: String,
}

impl Drop for Creating {
    fn drop(&mut self) {
        // Also while a failing test unwinds with the lock poisoned.
        let mut backend = self.backend.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = backend.creating.get_mut(&self.id) {
            *running -= 1;
        }
    }
}

#[derive(Debug)]
struct Logic {
    catalog: Arc<Catalog>,
    backend: Arc<Mutex<Backend>>,
}

impl Logic {
    fn new(backend: Arc<Mutex<Backend>>) -> Self {
        let service = Service::new(SERVICE, "halting", "Creates that never finish", true)
            .with_plan(Plan::new(ASYNC, "async", "Asynchronous"))
            .with_plan(Plan::new(SYNC_DELETE, "sync-delete", "Synchronous delete"));
        Self {
            catalog: Arc::new(Catalog::new(vec![service])),
            backend,
        }
    }
}

#[async_trait]
impl ServiceLogic for Logic {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
        if kind == OperationKind::Deprovision && plan_id == SYNC_DELETE {
            Execution::Synchronous
        } else {
            Execution::Asynchronous
        }
    }

    /// Runs until it is halted: only its replica stopping the work ends it.
    async fn create_instance(
        &self,
        instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        let _creating = {
            let mut backend = self.backend.lock().unwrap();
            *backend.creates.entry(instance_id.to_owned()).or_default() += 1;
            *backend.creating.entry(instance_id.to_owned()).or_default() += 1;
            Creating {
                backend: Arc::clone(&self.backend),
                id: instance_id.to_owned(),
            }
        };
        std::future::pending::<()>().await;
        Ok(ProvisionedInstance::default())
    }

    async fn delete_instance(
        &self,
        instance_id: &str,
        _instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        let mut backend = self.backend.lock().unwrap();
        *backend.deletes.entry(instance_id.to_owned()).or_default() += 1;
        if backend.creating.get(instance_id).is_some_and(|n| *n > 0) {
            backend.overlaps.push(instance_id.to_owned());
        }
        Ok(())
    }
}

type Replica<S> = Managed<Logic, S>;

fn replica<S: StateStore>(
    store: S,
    owner: &str,
    backend: &Arc<Mutex<Backend>>,
    clock: &Arc<ManualClock>,
) -> Replica<S> {
    Managed::builder(Logic::new(Arc::clone(backend)))
        .store(store)
        .clock(clock.clone())
        .lease(LEASE, RENEWAL)
        .owner(owner)
        .build()
}

fn ctx() -> RequestContext {
    RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(true)
}

fn creates(backend: &Mutex<Backend>, id: &str) -> usize {
    backend
        .lock()
        .unwrap()
        .creates
        .get(id)
        .copied()
        .unwrap_or(0)
}

fn deletes(backend: &Mutex<Backend>, id: &str) -> usize {
    backend
        .lock()
        .unwrap()
        .deletes
        .get(id)
        .copied()
        .unwrap_or(0)
}

/// Provisions `id` on `creator` and waits until its create runs there.
async fn create_running<S: StateStore>(
    creator: &Replica<S>,
    backend: &Mutex<Backend>,
    id: &str,
    plan: &str,
) {
    let answer = creator
        .provision(id, ProvisionRequest::new(SERVICE, plan), &ctx())
        .await
        .unwrap();
    assert!(matches!(answer, ProvisionResponse::Accepted(_)));
    eventually(|| creates(backend, id) == 1).await;
}

/// Polls `id` on `replica` until its last operation finished.
async fn finished<S: StateStore>(replica: &Replica<S>, id: &str) -> OperationState {
    let mut state = OperationState::InProgress;
    for _ in 0..10_000 {
        state = replica
            .last_operation(id, LastOperationRequest::default(), &ctx())
            .await
            .unwrap()
            .state;
        if state != OperationState::InProgress {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    state
}

/// The halted create's record: failed, and no delete waits for its replica any more.
async fn halt_recorded_as_stopped(store: &impl StateStore, id: &str) {
    let record = store.load_instance(id).await.unwrap().unwrap().record;
    let create = record
        .lifecycle
        .operations
        .iter()
        .find(|op| op.kind == OperationKind::Provision)
        .unwrap();
    assert_eq!(create.status, OperationStatus::Failed);
    assert_eq!(create.stopping, None);
}

/// Replica 1 runs a create; replica 2 accepts a delete of the same id (202, then an
/// asynchronous delete the platform polls; or a synchronous one the request waits for). The
/// logic's delete starts only after replica 1 stopped the create, never beside it.
async fn delete_waits_for_the_other_replica<S: StateStore>(
    first: S,
    second: S,
    inspect: impl StateStore,
    plan: &str,
) {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let clock = ManualClock::new();
    let creator = replica(first, "replica-1", &backend, &clock);
    let deleter = Arc::new(replica(second, "replica-2", &backend, &clock));
    let id = format!("inst-{}", uuid::Uuid::new_v4());
    create_running(&creator, &backend, &id, plan).await;

    let delete = {
        let (deleter, id) = (Arc::clone(&deleter), id.clone());
        let plan = plan.to_owned();
        tokio::spawn(async move {
            deleter
                .deprovision(&id, DeprovisionRequest::new(SERVICE, plan), &ctx())
                .await
        })
    };
    let answer = delete.await.unwrap().unwrap();
    if plan == SYNC_DELETE {
        assert!(matches!(answer, DeprovisionResponse::Deleted));
    } else {
        assert!(matches!(answer, DeprovisionResponse::Accepted { .. }));
        assert_eq!(finished(&deleter, &id).await, OperationState::Succeeded);
    }
    assert_eq!(deletes(&backend, &id), 1);
    let (overlaps, creating) = {
        let backend = backend.lock().unwrap();
        (backend.overlaps.clone(), backend.creating.get(&id).copied())
    };
    assert!(
        overlaps.is_empty(),
        "the delete started while the other replica's create ran: {overlaps:?}"
    );
    assert_eq!(creating, Some(0), "the create stopped");
    halt_recorded_as_stopped(&inspect, &id).await;
    deleter.shutdown().await;
    creator.shutdown().await;
}

/// Replica 1 starts a create and dies (its work stops, nobody records so, its lease stays).
/// Replica 2's delete waits while the lease holds, and goes on once it has expired.
async fn dead_replica_blocks_the_delete_only_until_its_lease_expires<S: StateStore>(
    first: S,
    second: S,
    store: impl StateStore,
) {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let clock = ManualClock::new();
    let dying = replica(first, "replica-1", &backend, &clock);
    let deleter = replica(second, "replica-2", &backend, &clock);
    let id = format!("inst-{}", uuid::Uuid::new_v4());
    create_running(&dying, &backend, &id, ASYNC).await;
    dying.shutdown().await;
    drop(dying);

    let answer = deleter
        .deprovision(&id, DeprovisionRequest::new(SERVICE, ASYNC), &ctx())
        .await
        .unwrap();
    assert!(matches!(answer, DeprovisionResponse::Accepted { .. }));
    // The halt is recorded with the dead replica's lease: the delete waits for it.
    let record = store.load_instance(&id).await.unwrap().unwrap().record;
    let create = &record.lifecycle.operations[0];
    assert_eq!(create.status, OperationStatus::Failed);
    assert_eq!(
        create.stopping.as_ref().map(|lease| lease.owner.as_str()),
        Some("replica-1")
    );
    let poll = deleter
        .last_operation(&id, LastOperationRequest::default(), &ctx())
        .await
        .unwrap();
    assert_eq!(poll.state, OperationState::InProgress);

    // Past the create's lease: the delete goes on without the dead replica's word.
    clock.advance(LEASE + Duration::from_secs(1));
    eventually(|| deletes(&backend, &id) == 1).await;
    assert_eq!(finished(&deleter, &id).await, OperationState::Succeeded);
    assert!(backend.lock().unwrap().overlaps.is_empty());
    deleter.shutdown().await;
}

/// A halt within one replica stops the create at once; the delete does not wait for a lease.
async fn same_replica_halt_does_not_wait<S: StateStore>(store: S) {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let clock = ManualClock::new();
    let only = replica(store, "replica-1", &backend, &clock);
    let id = format!("inst-{}", uuid::Uuid::new_v4());
    create_running(&only, &backend, &id, SYNC_DELETE).await;
    let answer = only
        .deprovision(&id, DeprovisionRequest::new(SERVICE, SYNC_DELETE), &ctx())
        .await
        .unwrap();
    assert!(matches!(answer, DeprovisionResponse::Deleted));
    assert_eq!(deletes(&backend, &id), 1);
    halt_recorded_as_stopped(only.store(), &id).await;
    only.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_memory_waits_until_the_other_replica_stopped_its_create() {
    for plan in [ASYNC, SYNC_DELETE] {
        let store = Arc::new(MemoryStore::new());
        delete_waits_for_the_other_replica(Arc::clone(&store), Arc::clone(&store), store, plan)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_sqlite_waits_until_the_other_replica_stopped_its_create() {
    for plan in [ASYNC, SYNC_DELETE] {
        let path = store_support::sqlite_path();
        let open = || SqliteStore::open(&path);
        let (first, second) = (open().await.unwrap(), open().await.unwrap());
        delete_waits_for_the_other_replica(first, second, open().await.unwrap(), plan).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_postgres_waits_until_the_other_replica_stopped_its_create() {
    let Some(url) = store_support::postgres_url() else {
        return;
    };
    for plan in [ASYNC, SYNC_DELETE] {
        let schema = store_support::fresh_schema();
        let connect = || {
            PostgresStore::builder(&url)
                .schema(schema.clone())
                .connect()
        };
        let (first, second) = (connect().await.unwrap(), connect().await.unwrap());
        delete_waits_for_the_other_replica(first, second, connect().await.unwrap(), plan).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_memory_goes_on_once_the_dead_replicas_lease_expired() {
    let store = Arc::new(MemoryStore::new());
    dead_replica_blocks_the_delete_only_until_its_lease_expires(
        Arc::clone(&store),
        Arc::clone(&store),
        store,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_sqlite_goes_on_once_the_dead_replicas_lease_expired() {
    let path = store_support::sqlite_path();
    let open = || SqliteStore::open(&path);
    dead_replica_blocks_the_delete_only_until_its_lease_expires(
        open().await.unwrap(),
        open().await.unwrap(),
        open().await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_postgres_goes_on_once_the_dead_replicas_lease_expired() {
    let Some(url) = store_support::postgres_url() else {
        return;
    };
    let schema = store_support::fresh_schema();
    let connect = || {
        PostgresStore::builder(&url)
            .schema(schema.clone())
            .connect()
    };
    dead_replica_blocks_the_delete_only_until_its_lease_expires(
        connect().await.unwrap(),
        connect().await.unwrap(),
        connect().await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_halting_a_create_of_the_same_replica_does_not_wait() {
    same_replica_halt_does_not_wait(Arc::new(MemoryStore::new())).await;
    let path = store_support::sqlite_path();
    same_replica_halt_does_not_wait(SqliteStore::open(&path).await.unwrap()).await;
}
