//! The library's per-request overhead: requests through the full `OsbService` against a
//! hand-written baseline, in one run (issue 3, "Speed").
//!
//! The baseline does the minimum a hand-written handler must do to give the same answer: match
//! the route, read and deserialise the body where the broker needs it, make the same broker call
//! (same id, same request, the query parameters the broker receives), and serialise its answer
//! with `serde_json` into an `http::Response`. No version negotiation, no protocol validation, no
//! identity headers, no ETag, no panic catching, no tracing span.
//!
//! Method: every case is checked first (both sides give the same status and JSON), then measured
//! in interleaved rounds (library, baseline, baseline, library, …) so frequency drift hits both
//! alike; each figure is the median over rounds of the mean time per request.
//!
//! Run with `cargo bench -p osb-tower`; `-- --quick` measures less; `-- NAME` runs only the
//! cases whose name contains `NAME`; `-- --profile library|baseline NAME` runs one side of one
//! case in a loop without timing, for a profiler such as `valgrind --tool=callgrind`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::last_operation::OperationState;
use osb_core::{
    ApiVersion, BrokerError, DeprovisionRequest, DeprovisionResponse, LastOperation,
    LastOperationRequest, ProvisionRequest, ProvisionResponse, ProvisionedInstance, RequestContext,
    ServiceBroker,
};
use osb_tower::OsbService;
use tokio::net::{TcpListener, TcpStream};
use tower::{ServiceExt, service_fn};

/// A broker that does no work of its own, so the figures are the HTTP layer's.
struct BenchBroker {
    catalog: Arc<Catalog>,
}

impl BenchBroker {
    fn new() -> Self {
        // A catalog of realistic size: a few services with a few plans each.
        let services = (0..4)
            .map(|s| {
                let mut service = Service::new(
                    format!("service-{s}"),
                    format!("database-{s}"),
                    "A managed database with backups and point-in-time recovery",
                    true,
                );
                for p in 0..4 {
                    service = service.with_plan(Plan::new(
                        format!("service-{s}-plan-{p}"),
                        format!("plan-{p}"),
                        "A plan with some memory, some disk and some connections",
                    ));
                }
                service
            })
            .collect();
        Self {
            catalog: Arc::new(Catalog::new(services)),
        }
    }
}

#[async_trait::async_trait]
impl ServiceBroker for BenchBroker {
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
                "https://dashboard.example.com/instances/{instance_id}"
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

    async fn last_operation(
        &self,
        _instance_id: &str,
        _request: LastOperationRequest,
        _ctx: &RequestContext,
    ) -> Result<LastOperation, BrokerError> {
        Ok(LastOperation::new(OperationState::Succeeded).with_description("ready"))
    }
}

/// One benchmarked request shape.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    method: &'static Method,
    uri: &'static str,
    body: Option<&'static str>,
}

const INSTANCE: &str = "crn%3Av1%3Abluemix%3Apublic%3Adb%3Aus-south%3Aa%2F0123456789abcdef%3A11111111-2222-3333-4444-555555555555%3A%3A";

const PROVISION_BODY: &str = r#"{"service_id":"service-1","plan_id":"service-1-plan-2","context":{"platform":"ibmcloud","account_id":"0123456789abcdef","crn":"crn:v1:bluemix:public:db:us-south:a/0123456789abcdef:11111111-2222-3333-4444-555555555555::","resource_group_crn":"crn:v1:bluemix:public:resource-controller::a/0123456789abcdef::resource-group:abc","target_crn":"crn:v1:bluemix:public:globalcatalog::::deployment:db-us-south"},"parameters":{"size":3,"backups":true}}"#;

fn cases() -> [Case; 3] {
    // Leaked once so the cases can be `Copy` with `'static` strings.
    let provision: &'static str = Box::leak(
        format!("/v2/service_instances/{INSTANCE}?accepts_incomplete=true").into_boxed_str(),
    );
    let last_operation: &'static str = Box::leak(
        format!(
            "/v2/service_instances/{INSTANCE}/last_operation?service_id=service-1&plan_id=service-1-plan-2&operation=op-1"
        )
        .into_boxed_str(),
    );
    [
        Case {
            name: "catalog",
            method: &Method::GET,
            uri: "/v2/catalog",
            body: None,
        },
        Case {
            name: "provision",
            method: &Method::PUT,
            uri: provision,
            body: Some(PROVISION_BODY),
        },
        Case {
            name: "last_operation",
            method: &Method::GET,
            uri: last_operation,
            body: None,
        },
    ]
}

/// The request a platform sends; built the same way for both sides, inside the timed loop.
fn request(case: Case) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(
        case.body
            .map_or_else(Bytes::new, |body| Bytes::from_static(body.as_bytes())),
    ));
    *request.method_mut() = case.method.clone();
    *request.uri_mut() = http::Uri::from_static(case.uri);
    let headers = request.headers_mut();
    headers.insert("x-broker-api-version", HeaderValue::from_static("2.17"));
    headers.insert(
        "x-broker-api-originating-identity",
        HeaderValue::from_static("ibmcloud eyJpYW1faWQiOiJJQk1pZC0xMjM0NSJ9"),
    );
    headers.insert(
        "x-broker-api-request-identity",
        HeaderValue::from_static("9f6a1c1e-6f5b-4b0e-9d1a-3a6f0b1e2c3d"),
    );
    if case.body.is_some() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    request
}

/// What a hand-written handler must do, at the least, to give the same answers.
async fn baseline<B>(broker: &BenchBroker, request: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
{
    let (parts, body) = request.into_parts();
    // The query parameters the broker receives (`accepts_incomplete` in its context, the
    // `last_operation` request's fields), parsed as most handlers would: `form_urlencoded`.
    let mut accepts_incomplete = false;
    let mut last_operation = LastOperationRequest::default();
    for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()) {
        match &*key {
            "accepts_incomplete" => accepts_incomplete = value == "true",
            "service_id" => last_operation.service_id = Some(value.into_owned()),
            "plan_id" => last_operation.plan_id = Some(value.into_owned()),
            "operation" => last_operation.operation = Some(value.into_owned()),
            _ => {}
        }
    }
    let ctx = RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(accepts_incomplete);
    let path = parts.uri.path().strip_prefix("/v2/").unwrap_or_default();
    let mut segments = path.split('/');
    let route = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    );
    match (&parts.method, route) {
        (&Method::GET, (Some("catalog"), None, None, None)) => match broker.catalog(&ctx).await {
            Ok(catalog) => json(StatusCode::OK, &*catalog),
            Err(_) => json(StatusCode::INTERNAL_SERVER_ERROR, &serde_json::json!({})),
        },
        (&Method::PUT, (Some("service_instances"), Some(id), None, None)) => {
            let id = percent_decode(id);
            let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                return json(StatusCode::BAD_REQUEST, &serde_json::json!({}));
            };
            let Ok(provision) = serde_json::from_slice::<ProvisionRequest>(&body) else {
                return json(StatusCode::BAD_REQUEST, &serde_json::json!({}));
            };
            match broker.provision(&id, provision, &ctx).await {
                Ok(ProvisionResponse::Created(instance)) => json(StatusCode::CREATED, &instance),
                Ok(_) | Err(_) => json(StatusCode::INTERNAL_SERVER_ERROR, &serde_json::json!({})),
            }
        }
        (&Method::GET, (Some("service_instances"), Some(id), Some("last_operation"), None)) => {
            let id = percent_decode(id);
            match broker.last_operation(&id, last_operation, &ctx).await {
                Ok(operation) => json(StatusCode::OK, &operation),
                Err(_) => json(StatusCode::INTERNAL_SERVER_ERROR, &serde_json::json!({})),
            }
        }
        _ => json(StatusCode::NOT_FOUND, &serde_json::json!({})),
    }
}

fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn read<B: Body<Data = Bytes>>(response: Response<B>) -> (StatusCode, Bytes) {
    let status = response.status();
    let body = response.into_body().collect().await.map(|b| b.to_bytes());
    (status, body.unwrap_or_default())
}

/// Both sides must give the same status and the same JSON, or the comparison means nothing.
async fn check(case: Case, service: &OsbService<Arc<BenchBroker>>, broker: &BenchBroker) {
    let Ok(library) = service.clone().oneshot(request(case)).await;
    let (library_status, library_body) = read(library).await;
    let (baseline_status, baseline_body) = read(baseline(broker, request(case)).await).await;
    let parse = |body: &Bytes| serde_json::from_slice::<serde_json::Value>(body).ok();
    assert_eq!(
        library_status, baseline_status,
        "{}: statuses differ",
        case.name
    );
    assert_eq!(
        parse(&library_body),
        parse(&baseline_body),
        "{}: bodies differ\nlibrary:  {library_body:?}\nbaseline: {baseline_body:?}",
        case.name
    );
}

/// Mean nanoseconds per request over `iterations` requests through the library.
async fn time_library(case: Case, service: &OsbService<Arc<BenchBroker>>, iterations: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        let Ok(response) = service.clone().oneshot(request(case)).await;
        black_box(read(response).await);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// Mean nanoseconds per request over `iterations` requests through the baseline.
async fn time_baseline(case: Case, broker: &BenchBroker, iterations: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(read(baseline(broker, request(case)).await).await);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// Serves `service` on `127.0.0.1:0` with hyper and returns a connected HTTP/1.1 client.
async fn loopback<S>(service: S) -> SendRequest<Full<Bytes>>
where
    S: tower::Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    // The server task ends with the runtime, when the benchmark ends.
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
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

/// Mean nanoseconds per request over `iterations` requests over one keep-alive connection.
async fn time_loopback(case: Case, sender: &mut SendRequest<Full<Bytes>>, iterations: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        let mut request = request(case);
        request
            .headers_mut()
            .insert(http::header::HOST, HeaderValue::from_static("localhost"));
        let response = sender.send_request(request).await.expect("a response");
        black_box(read(response).await);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs one side of the matching cases 20 000 times, for a profiler.
async fn profile(
    side: &str,
    filter: &str,
    service: &OsbService<Arc<BenchBroker>>,
    broker: &BenchBroker,
) {
    for case in cases()
        .into_iter()
        .filter(|case| case.name.contains(filter))
    {
        for _ in 0..20_000 {
            if side == "library" {
                let Ok(response) = service.clone().oneshot(request(case)).await;
                black_box(read(response).await);
            } else {
                black_box(read(baseline(broker, request(case)).await).await);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let profile_side = args
        .iter()
        .position(|arg| arg == "--profile")
        .and_then(|at| args.get(at + 1).cloned());
    let filter = args
        .iter()
        .rfind(|arg| !arg.starts_with("--") && Some(*arg) != profile_side.as_ref())
        .cloned()
        .unwrap_or_default();
    let (rounds, round_time) = if quick {
        (5, Duration::from_millis(10))
    } else {
        (21, Duration::from_millis(40))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let broker = Arc::new(BenchBroker::new());
    let service = OsbService::new(Arc::clone(&broker));

    if let Some(side) = profile_side {
        runtime.block_on(profile(&side, &filter, &service, &broker));
        return;
    }
    runtime.block_on(async {
        let cases: Vec<Case> = cases()
            .into_iter()
            .filter(|case| case.name.contains(filter.as_str()))
            .collect();
        let mut rows = Vec::new();
        for &case in &cases {
            check(case, &service, &broker).await;
            // Warm up and size a round to about `round_time`.
            let probe = time_library(case, &service, 200)
                .await
                .max(time_baseline(case, &broker, 200).await);
            let iterations = iterations_for(round_time, probe);
            let mut library = Vec::with_capacity(rounds);
            let mut base = Vec::with_capacity(rounds);
            for round in 0..rounds {
                if round % 2 == 0 {
                    library.push(time_library(case, &service, iterations).await);
                    base.push(time_baseline(case, &broker, iterations).await);
                } else {
                    base.push(time_baseline(case, &broker, iterations).await);
                    library.push(time_library(case, &service, iterations).await);
                }
            }
            rows.push((case.name, median(library), median(base)));
        }
        print_table(
            "in-process: `oneshot` on a clone of the service, body read",
            &rows,
        );

        let baseline_service = {
            let broker = Arc::clone(&broker);
            service_fn(move |request: Request<Incoming>| {
                let broker = Arc::clone(&broker);
                async move { Ok::<_, Infallible>(baseline(&broker, request).await) }
            })
        };
        let mut library_client = loopback(service.clone()).await;
        let mut baseline_client = loopback(baseline_service).await;
        let mut rows = Vec::new();
        for &case in &cases {
            let probe = time_loopback(case, &mut library_client, 100)
                .await
                .max(time_loopback(case, &mut baseline_client, 100).await);
            let iterations = iterations_for(round_time, probe);
            let mut library = Vec::with_capacity(rounds);
            let mut base = Vec::with_capacity(rounds);
            for round in 0..rounds {
                if round % 2 == 0 {
                    library.push(time_loopback(case, &mut library_client, iterations).await);
                    base.push(time_loopback(case, &mut baseline_client, iterations).await);
                } else {
                    base.push(time_loopback(case, &mut baseline_client, iterations).await);
                    library.push(time_loopback(case, &mut library_client, iterations).await);
                }
            }
            rows.push((case.name, median(library), median(base)));
        }
        print_table(
            "loopback: hyper server and HTTP/1.1 keep-alive client on 127.0.0.1, one thread",
            &rows,
        );
        println!("\ntarget: library / baseline <= 1.25x");
    });
}

fn iterations_for(round_time: Duration, probe_ns: f64) -> u32 {
    ((round_time.as_nanos() as f64 / probe_ns) as u32).max(50)
}

fn print_table(title: &str, rows: &[(&str, f64, f64)]) {
    println!("\n{title}");
    println!(
        "{:<16} {:>15} {:>16} {:>8}",
        "request", "library ns/req", "baseline ns/req", "ratio"
    );
    for &(name, library, base) in rows {
        println!(
            "{name:<16} {library:>15.0} {base:>16.0} {:>7.2}x",
            library / base
        );
    }
    let library: f64 = rows.iter().map(|row| row.1).sum();
    let base: f64 = rows.iter().map(|row| row.2).sum();
    println!(
        "{:<16} {library:>15.0} {base:>16.0} {:>7.2}x",
        "sum",
        library / base
    );
}
