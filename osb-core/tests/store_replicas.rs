//! Two broker replicas (two `Managed` adapters, each with its own store connection) sharing one
//! database, hammered concurrently with identical and conflicting provision / bind / unbind /
//! deprovision requests: exactly one creation per id, only answers the spec allows, and one
//! consistent end state seen alike by both replicas. Runs on PostgreSQL (skipped outside CI
//! without `OSB_TEST_POSTGRES_URL`), on one SQLite file, and on a shared memory store as the
//! baseline. Plus: a store that fails answers 500 with no internals, and serves again after.

#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod store_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, Clock, DeprovisionError, Execution, InstanceRecord, LogicError, Managed,
    MemoryStore, OperationKind, PostgresStore, ServiceLogic, SqliteStore, StateStore, Timestamp,
};
use osb_core::{
    ApiVersion, BindRequest, BindResponse, Binding, BrokerError, DeprovisionRequest,
    DeprovisionResponse, ErrorKind, LastOperationRequest, OperationState, ProvisionRequest,
    ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker, UnbindRequest,
    UnbindResponse,
};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

const SERVICE: &str = "svc";
const SYNC: &str = "sync";
const ASYNC: &str = "async";
const INSTANCES: usize = 4;
const BINDINGS: usize = 3;
const REQUESTS_PER_ID: usize = 12;

/// What the backend (the real resources behind the broker, shared by all replicas) saw.
#[derive(Debug, Default)]
struct Backend {
    creates: HashMap<String, usize>,
    alive: std::collections::HashSet<String>,
    created_while_alive: Vec<String>,
}

#[derive(Debug)]
struct Logic {
    catalog: Arc<Catalog>,
    backend: Arc<Mutex<Backend>>,
    /// Creates never finish: the replica "hangs" until it is stopped.
    hang: bool,
    idempotent: bool,
}

impl Logic {
    fn new(backend: Arc<Mutex<Backend>>) -> Self {
        let mut asynchronous = Plan::new(ASYNC, "async", "Asynchronous");
        asynchronous.maximum_polling_duration = Some(600);
        let service = Service::new(SERVICE, "replicated", "Two replicas", true)
            .with_plan(Plan::new(SYNC, "sync", "Synchronous"))
            .with_plan(asynchronous);
        Self {
            catalog: Arc::new(Catalog::new(vec![service])),
            backend,
            hang: false,
            idempotent: false,
        }
    }

    fn born(&self, id: &str) {
        let mut backend = self.backend.lock().expect("lock");
        *backend.creates.entry(id.to_owned()).or_default() += 1;
        if !backend.alive.insert(id.to_owned()) {
            backend.created_while_alive.push(id.to_owned());
        }
    }
}

#[async_trait]
impl ServiceLogic for Logic {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    fn execution(&self, _kind: OperationKind, plan_id: &str) -> Execution {
        if plan_id == ASYNC {
            Execution::Asynchronous
        } else {
            Execution::Synchronous
        }
    }

    fn is_idempotent(&self, _kind: OperationKind) -> bool {
        self.idempotent
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        self.born(instance_id);
        if self.hang {
            std::future::pending::<()>().await;
        }
        tokio::task::yield_now().await;
        Ok(ProvisionedInstance::default())
    }

    async fn delete_instance(
        &self,
        instance_id: &str,
        _instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        let prefix = format!("{instance_id}/");
        let mut backend = self.backend.lock().expect("lock");
        backend.alive.remove(instance_id);
        backend.alive.retain(|id| !id.starts_with(&prefix));
        Ok(())
    }

    async fn create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        _request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        self.born(&format!("{instance_id}/{binding_id}"));
        tokio::task::yield_now().await;
        let Value::Object(credentials) = json!({"password": format!("secret-{binding_id}")}) else {
            return Err(LogicError::failed("credentials are not an object"));
        };
        Ok(Binding::with_credentials(credentials))
    }

    async fn delete_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        _binding: &BindingRecord,
    ) -> Result<(), LogicError> {
        let id = format!("{instance_id}/{binding_id}");
        self.backend.lock().expect("lock").alive.remove(&id);
        Ok(())
    }
}

type Replica<S> = Arc<Managed<Logic, S>>;

fn replicas<S: StateStore>(first: S, second: S) -> (Arc<Mutex<Backend>>, [Replica<S>; 2]) {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let build = |store, owner: &str| {
        Arc::new(
            Managed::builder(Logic::new(Arc::clone(&backend)))
                .store(store)
                .owner(owner)
                .build(),
        )
    };
    let replicas = [build(first, "replica-1"), build(second, "replica-2")];
    (backend, replicas)
}

fn ctx() -> RequestContext {
    RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(true)
}

fn parameters(value: u64) -> Option<Map<String, Value>> {
    match json!({"size": value}) {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn provision_request(plan: &str, size: u64) -> ProvisionRequest {
    let mut request = ProvisionRequest::new(SERVICE, plan);
    request.organization_guid = Some("org".into());
    request.space_guid = Some("space".into());
    request.parameters = parameters(size);
    request
}

fn bind_request(size: u64) -> BindRequest {
    let mut request = BindRequest::new(SERVICE, SYNC);
    request.parameters = parameters(size);
    request
}

/// An answer reduced to what the spec rules talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    Created,
    Ok,
    Accepted,
    Gone,
    Error(ErrorKind),
}

fn error(err: BrokerError) -> Answer {
    assert_ne!(
        err.kind(),
        ErrorKind::Internal,
        "no 500 while the store works: {err:?}"
    );
    Answer::Error(err.kind())
}

fn provision_answer(result: Result<ProvisionResponse, BrokerError>) -> Answer {
    match result {
        Ok(ProvisionResponse::Created(_)) => Answer::Created,
        Ok(ProvisionResponse::AlreadyExists(_)) => Answer::Ok,
        Ok(ProvisionResponse::Accepted(_)) => Answer::Accepted,
        Err(err) => error(err),
    }
}

fn bind_answer(result: Result<BindResponse, BrokerError>) -> Answer {
    match result {
        Ok(BindResponse::Created(_)) => Answer::Created,
        Ok(BindResponse::AlreadyExists(_)) => Answer::Ok,
        Ok(BindResponse::Accepted(_)) => Answer::Accepted,
        Err(err) => error(err),
    }
}

fn delete_answer<T>(result: Result<T, BrokerError>, accepted: impl Fn(&T) -> bool) -> Answer {
    match result {
        Ok(answer) if accepted(&answer) => Answer::Accepted,
        Ok(_) => Answer::Ok,
        Err(err) if err.kind() == ErrorKind::Gone => Answer::Gone,
        Err(err) => error(err),
    }
}

/// Polls `instance_id` on `replica` until its last operation has finished.
async fn settle<S: StateStore>(replica: &Replica<S>, instance_id: &str) -> Option<OperationState> {
    for _ in 0..10_000 {
        match replica
            .last_operation(instance_id, LastOperationRequest::default(), &ctx())
            .await
        {
            Ok(answer) if answer.state == OperationState::InProgress => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(answer) => return Some(answer.state),
            Err(err) if matches!(err.kind(), ErrorKind::Gone | ErrorKind::NotFound) => {
                return None;
            }
            Err(err) => panic!("polling failed: {err:?}"),
        }
    }
    panic!("the operation on {instance_id} never finished")
}

async fn hammer<S: StateStore>(first: S, second: S) {
    let (backend, replicas) = replicas(first, second);
    let ids: Vec<String> = (0..INSTANCES)
        .map(|n| format!("inst-{n}-{}", uuid::Uuid::new_v4()))
        .collect();

    // 1. Identical and conflicting provisions of each id, on both replicas at once. Even ids
    //    use the synchronous plan, odd ones the asynchronous plan.
    let mut tasks = JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let plan = if n % 2 == 0 { SYNC } else { ASYNC };
        for request in 0..REQUESTS_PER_ID {
            let replica = Arc::clone(&replicas[request % 2]);
            let (id, size) = (id.clone(), if request % 4 == 3 { 2 } else { 1 });
            tasks.spawn(async move {
                let answer = provision_answer(
                    replica
                        .provision(&id, provision_request(plan, size), &ctx())
                        .await,
                );
                (id, size, answer)
            });
        }
    }
    let mut provisions: HashMap<String, Vec<(u64, Answer)>> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, size, answer) = joined.expect("a provision task panicked");
        provisions.entry(id).or_default().push((size, answer));
    }
    for (n, id) in ids.iter().enumerate() {
        let answers = &provisions[id];
        // The request that created the instance: its 201, or (asynchronous) any 202, since
        // 202 goes only to requests identical to the running create.
        let winners: Vec<u64> = answers
            .iter()
            .filter(|(_, a)| *a == Answer::Created || (n % 2 == 1 && *a == Answer::Accepted))
            .map(|(size, _)| *size)
            .collect();
        assert!(
            !winners.is_empty(),
            "{id}: some provision created the instance: {answers:?}"
        );
        let winner = winners[0];
        for (size, answer) in answers {
            let allowed = match answer {
                // 201 once; 200 only for a request identical to the winner's.
                Answer::Created | Answer::Ok => *size == winner,
                // 202: the async create, or an identical request while the create runs.
                Answer::Accepted => *size == winner,
                // 409: different attributes; 422: another operation in progress.
                Answer::Error(ErrorKind::Conflict) => *size != winner,
                Answer::Error(ErrorKind::ConcurrencyError) => true,
                _ => false,
            };
            assert!(
                allowed,
                "{id}: {answer:?} for size {size} (winner {winner}): {answers:?}"
            );
        }
        assert_eq!(
            answers
                .iter()
                .filter(|(_, a)| *a == Answer::Created)
                .count(),
            usize::from(n % 2 == 0),
            "{id}: one 201 for a synchronous create, none for an asynchronous one"
        );
        let state = settle(&replicas[n % 2], id).await;
        assert_eq!(
            state,
            Some(OperationState::Succeeded),
            "{id}: the create finished"
        );
    }
    {
        let backend = backend.lock().expect("lock");
        for id in &ids {
            assert_eq!(
                backend.creates.get(id),
                Some(&1),
                "{id}: the logic created it once"
            );
        }
        assert!(backend.created_while_alive.is_empty());
    }

    // 2. Identical and conflicting binds of each binding, on both replicas at once.
    let mut tasks = JoinSet::new();
    for id in &ids {
        for binding in 0..BINDINGS {
            for request in 0..REQUESTS_PER_ID / 2 {
                let replica = Arc::clone(&replicas[request % 2]);
                let (id, binding_id) = (id.clone(), format!("b-{binding}"));
                let size = if request % 3 == 2 { 2 } else { 1 };
                tasks.spawn(async move {
                    let result = replica
                        .bind(&id, &binding_id, bind_request(size), &ctx())
                        .await;
                    (format!("{id}/{binding_id}"), size, bind_answer(result))
                });
            }
        }
    }
    let mut binds: HashMap<String, Vec<(u64, Answer)>> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (key, size, answer) = joined.expect("a bind task panicked");
        binds.entry(key).or_default().push((size, answer));
    }
    for (key, answers) in &binds {
        let created: Vec<u64> = answers
            .iter()
            .filter(|(_, a)| *a == Answer::Created)
            .map(|(size, _)| *size)
            .collect();
        assert_eq!(created.len(), 1, "{key}: exactly one 201: {answers:?}");
        for (size, answer) in answers {
            let allowed = match answer {
                // 202 for an identical bind while the bind runs (accepts_incomplete=true).
                Answer::Created | Answer::Ok | Answer::Accepted => *size == created[0],
                Answer::Error(ErrorKind::Conflict) => *size != created[0],
                Answer::Error(ErrorKind::ConcurrencyError) => true,
                _ => false,
            };
            assert!(allowed, "{key}: {answer:?} for size {size}: {answers:?}");
        }
        assert_eq!(
            backend.lock().expect("lock").creates.get(key),
            Some(&1),
            "{key}: the logic bound it once"
        );
    }

    // 3. Deprovisions racing unbinds and new binds, on both replicas at once.
    let mut tasks = JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let plan = if n % 2 == 0 { SYNC } else { ASYNC };
        for request in 0..REQUESTS_PER_ID {
            let replica = Arc::clone(&replicas[request % 2]);
            let id = id.clone();
            tasks.spawn(async move {
                let (operation, answer) = match request % 3 {
                    0 => {
                        let result = replica
                            .deprovision(&id, DeprovisionRequest::new(SERVICE, plan), &ctx())
                            .await;
                        let accepted = |a: &DeprovisionResponse| {
                            matches!(a, DeprovisionResponse::Accepted { .. })
                        };
                        ("deprovision", delete_answer(result, accepted))
                    }
                    1 => {
                        let result = replica
                            .unbind(&id, "b-0", UnbindRequest::new(SERVICE, SYNC), &ctx())
                            .await;
                        let accepted =
                            |a: &UnbindResponse| matches!(a, UnbindResponse::Accepted { .. });
                        ("unbind", delete_answer(result, accepted))
                    }
                    _ => {
                        let result = replica.bind(&id, "b-new", bind_request(1), &ctx()).await;
                        ("bind", bind_answer(result))
                    }
                };
                (id, operation, answer)
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (id, operation, answer) = joined.expect("a racing task panicked");
        let allowed = match operation {
            // spec.md "Deprovisioning" → Response: 200, 202, 410, 422 (in progress).
            "deprovision" | "unbind" => matches!(
                answer,
                Answer::Ok
                    | Answer::Accepted
                    | Answer::Gone
                    | Answer::Error(ErrorKind::ConcurrencyError)
            ),
            // A bind may win the race (201; 200 or 202 for an identical one), meet a running
            // operation (422) or find the instance gone (404).
            _ => matches!(
                answer,
                Answer::Created
                    | Answer::Ok
                    | Answer::Accepted
                    | Answer::Error(ErrorKind::ConcurrencyError | ErrorKind::NotFound)
            ),
        };
        assert!(allowed, "{id}: {operation} answered {answer:?}");
    }

    // Finish the job the way a platform would: deprovision until it is gone.
    for (n, id) in ids.iter().enumerate() {
        let plan = if n % 2 == 0 { SYNC } else { ASYNC };
        let mut gone = false;
        for _ in 0..1_000 {
            settle(&replicas[n % 2], id).await;
            let result = replicas[(n + 1) % 2]
                .deprovision(id, DeprovisionRequest::new(SERVICE, plan), &ctx())
                .await;
            match delete_answer(result, |a| {
                matches!(a, DeprovisionResponse::Accepted { .. })
            }) {
                Answer::Gone => {
                    gone = true;
                    break;
                }
                Answer::Ok | Answer::Accepted | Answer::Error(ErrorKind::ConcurrencyError) => {}
                other => panic!("{id}: final deprovision answered {other:?}"),
            }
        }
        assert!(gone, "{id}: the instance is eventually gone");
    }

    // One end state, seen alike by both replicas: everything gone, in the store and behind it.
    for id in &ids {
        for replica in &replicas {
            let bind = replica.bind(id, "b-late", bind_request(1), &ctx()).await;
            assert_eq!(
                bind_answer(bind),
                Answer::Error(ErrorKind::NotFound),
                "{id}"
            );
            let again = replica
                .deprovision(id, DeprovisionRequest::new(SERVICE, SYNC), &ctx())
                .await;
            assert_eq!(delete_answer(again, |_| false), Answer::Gone, "{id}");
        }
    }
    {
        let backend = backend.lock().expect("lock");
        assert!(
            backend.alive.is_empty(),
            "nothing is left behind in the backend: {:?}",
            backend.alive
        );
        assert!(backend.created_while_alive.is_empty());
    }
    for replica in &replicas {
        replica.shutdown().await;
    }
}

/// A clock moved by hand, shared by the replicas of a test.
#[derive(Debug)]
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Replica 1 starts an async provision and dies (its task stops, its lease stays). While the
/// lease holds, replica 2 leaves the operation alone; once it expires, replica 2 fails it (a
/// non-idempotent create) or runs it again (an idempotent one), and the platform sees the
/// outcome on either replica.
async fn takeover<S: StateStore>(first: S, second: S, idempotent: bool) {
    let backend = Arc::new(Mutex::new(Backend::default()));
    let clock = Arc::new(ManualClock(AtomicI64::new(1_750_000_000_000)));
    let lease = (Duration::from_secs(30), Duration::from_secs(10));
    let mut dying = Logic::new(Arc::clone(&backend));
    dying.hang = true;
    let dying = Managed::builder(dying)
        .store(first)
        .clock(clock.clone())
        .lease(lease.0, lease.1)
        .owner("replica-1")
        .build();
    let mut survivor = Logic::new(Arc::clone(&backend));
    survivor.idempotent = idempotent;
    let survivor = Arc::new(
        Managed::builder(survivor)
            .store(second)
            .clock(clock.clone())
            .lease(lease.0, lease.1)
            .owner("replica-2")
            .build(),
    );

    let id = format!("inst-{}", uuid::Uuid::new_v4());
    let answer = dying
        .provision(&id, provision_request(ASYNC, 1), &ctx())
        .await;
    assert_eq!(provision_answer(answer), Answer::Accepted);
    for _ in 0..10_000 {
        if backend.lock().expect("lock").creates.contains_key(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        backend.lock().expect("lock").creates.contains_key(&id),
        "replica 1 started the create"
    );
    dying.shutdown().await;
    drop(dying);

    // The lease still holds: nobody touches the operation.
    clock.0.fetch_add(29_000, Ordering::SeqCst);
    assert_eq!(survivor.recover().await.expect("recover"), 0);
    let poll = survivor
        .last_operation(&id, LastOperationRequest::default(), &ctx())
        .await
        .expect("poll");
    assert_eq!(poll.state, OperationState::InProgress);

    // Past the lease: the survivor settles it, once.
    clock.0.fetch_add(2_000, Ordering::SeqCst);
    assert_eq!(survivor.recover().await.expect("recover"), 1);
    let outcome = settle(&survivor, &id).await;
    if idempotent {
        assert_eq!(
            outcome,
            Some(OperationState::Succeeded),
            "the create ran again"
        );
        assert_eq!(backend.lock().expect("lock").creates.get(&id), Some(&2));
    } else {
        assert!(
            matches!(outcome, Some(OperationState::Failed(_))),
            "a non-idempotent create is reported failed: {outcome:?}"
        );
        assert_eq!(backend.lock().expect("lock").creates.get(&id), Some(&1));
    }
    // Orphan mitigation (or a plain delete) works either way.
    let deleted = survivor
        .deprovision(&id, DeprovisionRequest::new(SERVICE, ASYNC), &ctx())
        .await;
    let answer = delete_answer(deleted, |a| {
        matches!(a, DeprovisionResponse::Accepted { .. })
    });
    assert!(
        matches!(answer, Answer::Ok | Answer::Accepted),
        "{answer:?}"
    );
    settle(&survivor, &id).await;
    assert!(backend.lock().expect("lock").alive.is_empty());
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_taken_over_on_memory() {
    for idempotent in [false, true] {
        let store = Arc::new(MemoryStore::new());
        takeover(Arc::clone(&store), store, idempotent).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_taken_over_on_sqlite() {
    for idempotent in [false, true] {
        let path = store_support::sqlite_path();
        let first = SqliteStore::open(&path).await.expect("open");
        let second = SqliteStore::open(&path).await.expect("open");
        takeover(first, second, idempotent).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_taken_over_on_postgres() {
    let Some(url) = store_support::postgres_url() else {
        return;
    };
    for idempotent in [false, true] {
        let schema = store_support::fresh_schema();
        let connect = || {
            PostgresStore::builder(&url)
                .schema(schema.clone())
                .connect()
        };
        let first = connect().await.expect("connect");
        let second = connect().await.expect("connect");
        takeover(first, second, idempotent).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_memory_store_agree() {
    let store = Arc::new(MemoryStore::new());
    hammer(Arc::clone(&store), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_sqlite_file_agree() {
    let path = store_support::sqlite_path();
    let first = SqliteStore::open(&path).await.expect("open");
    let second = SqliteStore::open(&path).await.expect("open");
    hammer(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgres_database_agree() {
    let Some(url) = store_support::postgres_url() else {
        return;
    };
    let schema = store_support::fresh_schema();
    let connect = || {
        PostgresStore::builder(&url)
            .schema(schema.clone())
            .connect()
    };
    let first = connect().await.expect("connect");
    let second = connect().await.expect("connect");
    hammer(first, second).await;
}

#[tokio::test]
async fn a_failing_store_answers_500_without_internals_and_serves_again_after() {
    let path = store_support::sqlite_path();
    let backend = Arc::new(Mutex::new(Backend::default()));
    let store = SqliteStore::builder(&path)
        .query_timeout(Duration::from_millis(300))
        .open()
        .await
        .expect("open");
    let broker = Managed::builder(Logic::new(backend)).store(store).build();
    broker
        .provision("i-1", provision_request(SYNC, 1), &ctx())
        .await
        .expect("provision");

    // Another process holds the write lock: the broker's writes time out.
    let mut holder = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("connect")
    };
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("lock");
    let err = broker
        .provision("i-2", provision_request(SYNC, 1), &ctx())
        .await
        .expect_err("the store cannot write");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(&err.to_body()).expect("body");
    for internal in [
        "SQLite",
        "sqlite",
        "lock",
        "timed out",
        "did not answer",
        "osb_",
    ] {
        assert!(
            !body.contains(internal),
            "the body leaks {internal:?}: {body}"
        );
    }

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    let answer = broker
        .provision("i-2", provision_request(SYNC, 1), &ctx())
        .await;
    assert_eq!(
        provision_answer(answer),
        Answer::Created,
        "serves again, no restart"
    );
    broker.shutdown().await;
}
