//! Durable-state throughput: provision, `last_operation` and bind through the full HTTP service
//! (`OsbService` over `Managed`, served by hyper on loopback) on the memory, SQLite and
//! PostgreSQL stores, in one run (issue 5, "Speed").
//!
//! Method: a fresh store per case; `CLIENTS` keep-alive HTTP/1.1 connections, each sending its
//! requests one after the other, all connections at once. Three timed phases per store, each on
//! fresh ids: provision (synchronous plan, 201), then one `last_operation` poll per instance
//! (200, a read), then one bind per instance (201). Every answer's status is checked. The
//! figure per phase is requests per second over the phase; the ratio compares with memory.
//!
//! SQLite runs twice: with the default `synchronous = FULL` and with `relaxed_durability()`.
//! PostgreSQL runs when `OSB_TEST_POSTGRES_URL` is set (a fresh schema per run), and is skipped
//! with a message otherwise. Run with `cargo bench -p osb-e2e-tests --bench durable_state`;
//! `-- --quick` measures less.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    DeprovisionError, InstanceRecord, LogicError, Managed, MemoryStore, PostgresStore,
    ServiceLogic, SqliteStore, StateStore,
};
use osb_core::{BindRequest, Binding, ProvisionRequest, ProvisionedInstance};
use osb_tower::OsbService;
use serde_json::{Map, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const CLIENTS: usize = 8;

/// Logic that does no work of its own, so the figures are the bookkeeping's and the store's.
#[derive(Debug)]
struct Instant0 {
    catalog: Arc<Catalog>,
}

#[async_trait]
impl ServiceLogic for Instant0 {
    fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog)
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        Ok(ProvisionedInstance::with_dashboard_url(format!(
            "https://dashboard.example.com/{instance_id}"
        )))
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
        binding_id: &str,
        _request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        let mut credentials = Map::new();
        credentials.insert("user".into(), json!(binding_id));
        credentials.insert("password".into(), json!("not-a-real-secret"));
        Ok(Binding::with_credentials(credentials))
    }
}

fn logic() -> Instant0 {
    let service = Service::new("svc", "bench-db", "A database", true)
        .with_plan(Plan::new("small", "small", "Small"));
    Instant0 {
        catalog: Arc::new(Catalog::new(vec![service])),
    }
}

async fn serve<S: StateStore>(store: S) -> std::net::SocketAddr {
    let broker = Managed::builder(logic()).store(store).build();
    let service = OsbService::new(broker);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    // The server task ends with the runtime, when the benchmark ends.
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

async fn connect(addr: std::net::SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr)
        .await
        .expect("a loopback connection");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Provision,
    Poll,
    Bind,
}

fn request(phase: Phase, instance_id: &str) -> Request<Full<Bytes>> {
    let (method, path, body) = match phase {
        Phase::Provision => (
            Method::PUT,
            format!("/v2/service_instances/{instance_id}"),
            json!({"service_id": "svc", "plan_id": "small",
                   "organization_guid": "org", "space_guid": "space",
                   "parameters": {"size": 3}})
            .to_string(),
        ),
        Phase::Poll => (
            Method::GET,
            format!("/v2/service_instances/{instance_id}/last_operation"),
            String::new(),
        ),
        Phase::Bind => (
            Method::PUT,
            format!("/v2/service_instances/{instance_id}/service_bindings/b-{instance_id}"),
            json!({"service_id": "svc", "plan_id": "small",
                   "bind_resource": {"app_guid": "app"}})
            .to_string(),
        ),
    };
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "localhost")
        .header("X-Broker-API-Version", "2.17")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

fn expected(phase: Phase) -> StatusCode {
    match phase {
        Phase::Provision | Phase::Bind => StatusCode::CREATED,
        Phase::Poll => StatusCode::OK,
    }
}

async fn send(sender: &mut SendRequest<Full<Bytes>>, phase: Phase, id: &str) {
    sender.ready().await.expect("the connection is ready");
    let response: Response<Incoming> = sender
        .send_request(request(phase, id))
        .await
        .expect("an answer");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(
        status,
        expected(phase),
        "{phase:?} {id}: {}",
        String::from_utf8_lossy(&body)
    );
}

/// Runs `phase` for every id, spread over the connections; returns requests per second.
async fn run_phase(
    senders: &mut Vec<SendRequest<Full<Bytes>>>,
    phase: Phase,
    ids: &Arc<Vec<String>>,
) -> f64 {
    let start = Instant::now();
    let mut clients = JoinSet::new();
    for (client, mut sender) in senders.drain(..).enumerate() {
        let ids = Arc::clone(ids);
        clients.spawn(async move {
            for id in ids.iter().skip(client).step_by(CLIENTS) {
                send(&mut sender, phase, id).await;
            }
            sender
        });
    }
    while let Some(sender) = clients.join_next().await {
        senders.push(sender.expect("a client task"));
    }
    ids.len() as f64 / start.elapsed().as_secs_f64()
}

/// `[provision, poll, bind, all three]` in requests per second.
async fn measure<S: StateStore>(store: S, per_phase: usize) -> [f64; 4] {
    let addr = serve(store).await;
    let mut senders = Vec::new();
    for _ in 0..CLIENTS {
        senders.push(connect(addr).await);
    }
    // Warm-up: connections, statement caches, the first pages of a file.
    let warm: Arc<Vec<String>> = Arc::new((0..CLIENTS * 4).map(|n| format!("warm-{n}")).collect());
    for phase in [Phase::Provision, Phase::Poll, Phase::Bind] {
        run_phase(&mut senders, phase, &warm).await;
    }
    let ids: Arc<Vec<String>> = Arc::new(
        (0..per_phase)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect(),
    );
    let start = Instant::now();
    let provision = run_phase(&mut senders, Phase::Provision, &ids).await;
    let poll = run_phase(&mut senders, Phase::Poll, &ids).await;
    let bind = run_phase(&mut senders, Phase::Bind, &ids).await;
    let all = (3 * per_phase) as f64 / start.elapsed().as_secs_f64();
    [provision, poll, bind, all]
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let per_phase = if quick { 400 } else { 4_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let mut rows: Vec<(&str, [f64; 4])> = Vec::new();
        rows.push(("memory", measure(MemoryStore::new(), per_phase).await));

        let dir = std::env::temp_dir().join(format!("osb-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let sqlite = SqliteStore::open(dir.join("broker.db"))
            .await
            .expect("an SQLite file");
        rows.push(("sqlite", measure(sqlite, per_phase).await));
        let relaxed = SqliteStore::builder(dir.join("relaxed.db"))
            .relaxed_durability()
            .open()
            .await
            .expect("an SQLite file");
        rows.push(("sqlite*", measure(relaxed, per_phase).await));
        let _ = std::fs::remove_dir_all(&dir);

        match std::env::var("OSB_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("osb_bench_{}", uuid::Uuid::new_v4().simple());
                let postgres = PostgresStore::builder(&url)
                    .schema(schema)
                    .query_timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("PostgreSQL at OSB_TEST_POSTGRES_URL");
                rows.push(("postgres", measure(postgres, per_phase).await));
            }
            _ => eprintln!("postgres: skipped, set OSB_TEST_POSTGRES_URL to include it"),
        }

        println!(
            "durable_state: {CLIENTS} connections, {per_phase} requests per phase, requests/s"
        );
        println!(
            "{:<10} {:>11} {:>15} {:>11} {:>11} {:>9}",
            "store", "provision", "last_operation", "bind", "all", "vs memory"
        );
        let baseline = rows[0].1[3];
        for (name, [provision, poll, bind, all]) in &rows {
            println!(
                "{name:<10} {provision:>11.0} {poll:>15.0} {bind:>11.0} {all:>11.0} {:>8.2}x",
                all / baseline
            );
        }
        println!("sqlite: synchronous=FULL (the default); sqlite*: relaxed_durability (NORMAL)");
    });
}
