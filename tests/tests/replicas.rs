//! Two broker replicas as a platform sees them: two `OsbService`s on two loopback ports, each
//! over its own store connection to one shared database, hammered at once with identical and
//! conflicting provision / bind / unbind / deprovision requests (osb-core issue 5).
//!
//! Checked: the logic creates each instance and binding exactly once; every answer is one the
//! spec allows for that request (never a 500), with the OSB error code the spec names; and both
//! replicas end up answering alike. Runs on PostgreSQL when `OSB_TEST_POSTGRES_URL` is set
//! (required under `CI=true`) and on one SQLite file always.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    DeprovisionError, InstanceRecord, LogicError, Managed, PostgresStore, ServiceLogic,
    SqliteStore, StateStore,
};
use osb_core::{BindRequest, Binding, ProvisionRequest, ProvisionedInstance};
use osb_tower::OsbService;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

const INSTANCES: usize = 4;
const REQUESTS: usize = 12;

/// A status and the OSB `error` code of the body, if any.
type Answer = (StatusCode, Option<String>);

/// The answers to the requests for one resource id, with the `size` each request asked for.
type Answers = HashMap<String, Vec<(u64, Answer)>>;

/// Creations the logic saw, per resource id, across both replicas (the shared backend).
type Creations = Arc<Mutex<HashMap<String, usize>>>;

#[derive(Debug)]
struct Logic {
    catalog: Arc<Catalog>,
    creations: Creations,
}

#[async_trait]
impl ServiceLogic for Logic {
    fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog)
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        *self
            .creations
            .lock()
            .expect("lock")
            .entry(instance_id.to_owned())
            .or_default() += 1;
        tokio::task::yield_now().await;
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
        instance_id: &str,
        binding_id: &str,
        _request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        *self
            .creations
            .lock()
            .expect("lock")
            .entry(format!("{instance_id}/{binding_id}"))
            .or_default() += 1;
        tokio::task::yield_now().await;
        let mut credentials = Map::new();
        credentials.insert("password".into(), json!(format!("secret-{binding_id}")));
        Ok(Binding::with_credentials(credentials))
    }
}

fn catalog() -> Arc<Catalog> {
    let service = Service::new("svc", "replicated", "Two replicas", true)
        .with_plan(Plan::new("small", "small", "Small"));
    Arc::new(Catalog::new(vec![service]))
}

/// Serves one replica on a fresh loopback port.
async fn replica<S: StateStore>(store: S, creations: &Creations, owner: &str) -> SocketAddr {
    let logic = Logic {
        catalog: catalog(),
        creations: Arc::clone(creations),
    };
    let broker = Managed::builder(logic).store(store).owner(owner).build();
    let service = OsbService::new(broker);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[derive(Clone)]
struct Platform {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Platform {
    fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request; returns the status and the OSB `error` code, if any.
    async fn send(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("X-Broker-API-Version", "2.17")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .expect("a request");
        let response = self.client.request(request).await.expect("an answer");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {json}");
        if !status.is_success() {
            assert!(
                json.get("description").is_some_and(Value::is_string),
                "{path}: an OSB error body: {json}"
            );
        }
        let code = json.get("error").and_then(Value::as_str).map(str::to_owned);
        (status, code)
    }
}

fn provision_body(size: u64) -> Value {
    json!({"service_id": "svc", "plan_id": "small", "organization_guid": "org",
           "space_guid": "space", "parameters": {"size": size}})
}

fn bind_body(size: u64) -> Value {
    json!({"service_id": "svc", "plan_id": "small", "parameters": {"size": size}})
}

const INCOMPLETE: &str = "accepts_incomplete=true";

/// Identical (same size as the winner) and conflicting requests raced to create one resource:
/// exactly one 201; 200 and 202 only for requests identical to the winner's; 409 only for
/// different ones; 422 `ConcurrencyError` while an operation runs (spec.md "Provisioning" and
/// "Binding" → Response).
fn check_creations(what: &str, answers: &Answers) {
    for (id, answers) in answers {
        let winner: Vec<u64> = answers
            .iter()
            .filter(|(_, (status, _))| *status == StatusCode::CREATED)
            .map(|(size, _)| *size)
            .collect();
        assert_eq!(winner.len(), 1, "{what} {id}: exactly one 201: {answers:?}");
        for (size, (status, code)) in answers {
            let allowed = match (*status, code.as_deref()) {
                (StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED, None) => {
                    *size == winner[0]
                }
                (StatusCode::CONFLICT, _) => *size != winner[0],
                (StatusCode::UNPROCESSABLE_ENTITY, Some("ConcurrencyError")) => true,
                _ => false,
            };
            assert!(
                allowed,
                "{what} {id}: {status} {code:?} for size {size}: {answers:?}"
            );
        }
    }
}

async fn hammer<S: StateStore>(first: S, second: S) {
    let creations: Creations = Arc::default();
    let ports = [
        replica(first, &creations, "replica-1").await,
        replica(second, &creations, "replica-2").await,
    ];
    let platform = Platform::new();
    let ids: Vec<String> = (0..INSTANCES)
        .map(|n| format!("i{n}-{}", uuid::Uuid::new_v4()))
        .collect();

    // Identical (size 1) and conflicting (size 2) provisions, on both ports at once.
    let mut tasks = JoinSet::new();
    for id in &ids {
        for n in 0..REQUESTS {
            let (platform, id, port) = (platform.clone(), id.clone(), ports[n % 2]);
            let size = if n % 4 == 3 { 2 } else { 1 };
            tasks.spawn(async move {
                let path = format!("/v2/service_instances/{id}?{INCOMPLETE}");
                let answer = platform
                    .send(port, Method::PUT, &path, Some(provision_body(size)))
                    .await;
                (id, size, answer)
            });
        }
    }
    let mut answers = Answers::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, size, answer) = joined.expect("a provision task");
        answers.entry(id).or_default().push((size, answer));
    }
    check_creations("provision", &answers);

    // Identical and conflicting binds of one binding per instance, on both ports at once.
    let mut tasks = JoinSet::new();
    for id in &ids {
        for n in 0..REQUESTS / 2 {
            let (platform, id, port) = (platform.clone(), id.clone(), ports[n % 2]);
            let size = if n % 3 == 2 { 2 } else { 1 };
            tasks.spawn(async move {
                let path = format!("/v2/service_instances/{id}/service_bindings/b?{INCOMPLETE}");
                let answer = platform
                    .send(port, Method::PUT, &path, Some(bind_body(size)))
                    .await;
                (id, size, answer)
            });
        }
    }
    let mut binds = Answers::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, size, answer) = joined.expect("a bind task");
        binds.entry(id).or_default().push((size, answer));
    }
    check_creations("bind", &binds);
    {
        let creations = creations.lock().expect("lock");
        for id in &ids {
            assert_eq!(creations.get(id), Some(&1), "{id}: created once");
            assert_eq!(
                creations.get(&format!("{id}/b")),
                Some(&1),
                "{id}/b: bound once"
            );
        }
    }

    // Deprovisions racing unbinds and new binds, on both ports at once.
    let mut tasks = JoinSet::new();
    for id in &ids {
        for n in 0..REQUESTS {
            let (platform, id, port) = (platform.clone(), id.clone(), ports[n % 2]);
            tasks.spawn(async move {
                let query = "service_id=svc&plan_id=small&accepts_incomplete=true";
                let (what, answer) = match n % 3 {
                    0 => {
                        let path = format!("/v2/service_instances/{id}?{query}");
                        (
                            "deprovision",
                            platform.send(port, Method::DELETE, &path, None).await,
                        )
                    }
                    1 => {
                        let path = format!("/v2/service_instances/{id}/service_bindings/b?{query}");
                        (
                            "unbind",
                            platform.send(port, Method::DELETE, &path, None).await,
                        )
                    }
                    _ => {
                        let path = format!(
                            "/v2/service_instances/{id}/service_bindings/late?{INCOMPLETE}"
                        );
                        let body = Some(bind_body(1));
                        ("bind", platform.send(port, Method::PUT, &path, body).await)
                    }
                };
                (id, what, answer)
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (id, what, (status, code)) = joined.expect("a racing task");
        let allowed = match (what, status, code.as_deref()) {
            // spec.md "Deprovisioning" / "Unbinding" → Response: 200, 202, 410, 422.
            (
                "deprovision" | "unbind",
                StatusCode::OK | StatusCode::ACCEPTED | StatusCode::GONE,
                _,
            ) => true,
            (_, StatusCode::UNPROCESSABLE_ENTITY, Some("ConcurrencyError")) => true,
            ("bind", StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED, None) => true,
            ("bind", StatusCode::NOT_FOUND, _) => true,
            _ => false,
        };
        assert!(allowed, "{id}: {what} answered {status} {code:?}");
    }

    // The platform finishes the job; then both replicas agree the instance is gone.
    for id in &ids {
        let path = format!("/v2/service_instances/{id}?service_id=svc&plan_id=small");
        let mut gone = false;
        for attempt in 0..1_000 {
            let (status, code) = platform
                .send(ports[attempt % 2], Method::DELETE, &path, None)
                .await;
            match status {
                StatusCode::GONE => {
                    gone = true;
                    break;
                }
                StatusCode::OK => {}
                StatusCode::UNPROCESSABLE_ENTITY => {
                    assert_eq!(code.as_deref(), Some("ConcurrencyError"));
                    tokio::task::yield_now().await;
                }
                other => panic!("{id}: final deprovision answered {other}"),
            }
        }
        assert!(gone, "{id}: the instance is eventually gone");
        for port in ports {
            let (status, _) = platform.send(port, Method::DELETE, &path, None).await;
            assert_eq!(status, StatusCode::GONE, "{id}: gone on both replicas");
            let bind = format!("/v2/service_instances/{id}/service_bindings/x");
            let (status, _) = platform
                .send(port, Method::PUT, &bind, Some(bind_body(1)))
                .await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{id}: nothing to bind on either replica"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_over_http_on_one_sqlite_file_agree() {
    let dir = std::env::temp_dir().join(format!("osb-replicas-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("broker.db");
    let first = SqliteStore::open(&path).await.expect("open");
    let second = SqliteStore::open(&path).await.expect("open");
    hammer(first, second).await;
    // Only when the test passed: a failure leaves the database to inspect.
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_over_http_on_one_postgres_database_agree() {
    let url = match std::env::var("OSB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but OSB_TEST_POSTGRES_URL is unset: the PostgreSQL tests must run")
        }
        _ => {
            eprintln!("skipped: set OSB_TEST_POSTGRES_URL to run the PostgreSQL replica test");
            return;
        }
    };
    let schema = format!("osb_replicas_{}", uuid::Uuid::new_v4().simple());
    let connect = || {
        PostgresStore::builder(&url)
            .schema(schema.clone())
            .connect()
    };
    let first = connect().await.expect("connect");
    let second = connect().await.expect("connect");
    hammer(first, second).await;
}
