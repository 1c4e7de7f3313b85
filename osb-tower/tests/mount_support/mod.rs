//! Shared by the `mount_*` tests: a small broker, a loopback hyper server, a real HTTP client and
//! the request sequence every mount must pass.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::{
    BrokerError, DeprovisionRequest, DeprovisionResponse, ProvisionRequest, ProvisionResponse,
    ProvisionedInstance, RequestContext, ServiceBroker,
};
use osb_tower::auth::Basic;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const USER: &str = "platform";
pub const PASSWORD: &str = "s3cret-for-tests";

/// A broker with one service (`svc`) and one plan (`small`); provisioning always creates.
pub struct TestBroker {
    catalog: Arc<Catalog>,
}

impl TestBroker {
    pub fn new() -> Self {
        let service = Service::new("svc", "test-db", "A database for tests", false)
            .with_plan(Plan::new("small", "small", "A small plan"));
        Self {
            catalog: Arc::new(Catalog::new(vec![service])),
        }
    }
}

#[async_trait::async_trait]
impl ServiceBroker for TestBroker {
    async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
        Ok(Arc::clone(&self.catalog))
    }

    async fn provision(
        &self,
        instance_id: &str,
        _request: ProvisionRequest,
        _ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        Ok(ProvisionResponse::Created(
            ProvisionedInstance::with_dashboard_url(format!(
                "https://dashboard.example.com/{instance_id}"
            )),
        ))
    }

    async fn deprovision(
        &self,
        _instance_id: &str,
        _request: DeprovisionRequest,
        _ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        Ok(DeprovisionResponse::Deleted)
    }
}

/// The Basic authenticator every mount puts in front of the OSB service.
pub fn basic() -> Basic {
    Basic::new(USER, PASSWORD)
}

pub fn authorization(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A loopback server on `127.0.0.1:0`; the task is aborted when the handle drops.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves a tower service with hyper 1 directly (HTTP/1.1 via hyper-util's adapter).
pub async fn serve_hyper<S, B>(service: S) -> Server
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (listener, addr) = listener().await;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                // A failed connection only ends that connection; the test's assertions report it.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server { addr, task }
}

/// Serves any future (e.g. `axum::serve`) in a task aborted when the handle drops.
pub fn spawn_server(addr: SocketAddr, serve: impl Future<Output = ()> + Send + 'static) -> Server {
    Server {
        addr,
        task: tokio::spawn(serve),
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One answer, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a Method,
    pub url: &'a str,
    pub authorization: Option<&'a str>,
    pub version: Option<&'a str>,
    pub body: Option<&'a str>,
}

pub async fn send(client: &HttpClient, request: Call<'_>) -> Answer {
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(request.url);
    if let Some(value) = request.authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    if let Some(value) = request.version {
        builder = builder.header("x-broker-api-version", value);
    }
    let body = match request.body {
        Some(json) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(json.to_owned()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client.request(builder.body(body).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub const PROVISION_BODY: &str = r#"{
    "service_id": "svc",
    "plan_id": "small",
    "context": {"platform": "ibmcloud"},
    "parameters": {"size": 3}
}"#;

/// Drives the sequence every mount must pass, against an OSB service whose `/v2/…` paths sit
/// under `base` (e.g. `http://127.0.0.1:1234` or `http://127.0.0.1:1234/broker`):
///
/// - no credentials and no version header: 401 (auth comes before the 412), with a challenge;
/// - wrong password: 401; right credentials but no version header: 412;
/// - catalog and provision with credentials and version: 200 and 201, OSB JSON bodies.
pub async fn drive_catalog_and_provision(client: &HttpClient, base: &str) {
    let good = authorization(USER, PASSWORD);
    let bad = authorization(USER, "wrong");
    let catalog = format!("{base}/v2/catalog");
    let instance =
        format!("{base}/v2/service_instances/crn%3Av1%3Abluemix%3Apublic%3Atest%3A%3Aa%2F1%3A%3A");

    let get = |url, authorization, version| Call {
        method: &Method::GET,
        url,
        authorization,
        version,
        body: None,
    };

    // 401 before 412: neither credentials nor version.
    let answer = send(client, get(&catalog, None, None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert!(answer.headers.contains_key(http::header::WWW_AUTHENTICATE));
    assert_eq!(
        answer.headers[http::header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(answer.json()["error"], "Unauthorized");

    // 401 before 412 on a provision too, with a wrong password this time.
    let provision = |authorization, version| Call {
        method: &Method::PUT,
        url: &instance,
        authorization,
        version,
        body: Some(PROVISION_BODY),
    };
    let answer = send(client, provision(Some(&bad), None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert!(!String::from_utf8_lossy(&answer.body).contains("wrong"));

    // Authenticated but no version header: now the 412.
    let answer = send(client, get(&catalog, Some(&good), None)).await;
    assert_eq!(answer.status, StatusCode::PRECONDITION_FAILED, "{answer:?}");
    assert!(answer.json()["description"].is_string());

    // The catalog.
    let answer = send(client, get(&catalog, Some(&good), Some("2.17"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.headers[http::header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(answer.json()["services"][0]["id"], "svc");

    // A provision, with the IBM CRN as the URL-encoded instance id.
    let answer = send(client, provision(Some(&good), Some("2.12"))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    assert_eq!(
        answer.json()["dashboard_url"],
        "https://dashboard.example.com/crn:v1:bluemix:public:test::a/1::"
    );
}
