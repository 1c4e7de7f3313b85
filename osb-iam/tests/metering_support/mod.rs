//! A fake IBM metering API (and IAM token endpoint) on loopback, a settable clock, and store
//! helpers, shared by the `metering_*` tests; [`broker`] adds a real broker and every store.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use osb_core::ProvisionRequest;
use osb_core::managed::{
    Clock, InstanceRecord, Lease, OperationKind, OperationRecord, Phase, StateStore, Timestamp,
};
use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::metering::{MeteringClient, RetryPolicy};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub mod broker;

pub const API_KEY: &str = "metering-test-api-key-never-logged";
pub const RESOURCE_ID: &str = "my-service-id";
pub const PLAN: &str = "plan-metered";

/// What a per-record rule makes the fake answer for records of one instance.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Always this per-record status (400, 404, 424), with a code and message.
    Reject(u16),
    /// 500 for the next `n` appearances, then the normal answer.
    RetryTimes(u32),
}

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The whole request answered with this status (5xx, 429, 401).
    Status(u16),
    /// The request processed normally, but the answer comes after this delay.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    tokens_issued: u64,
    valid_tokens: HashSet<String>,
    token_requests: u64,
    /// Duplicate key → times answered 201.
    accepted: HashMap<String, u32>,
    duplicates_answered: u64,
    rejected_answered: u64,
    requests: u64,
    batch_sizes: Vec<usize>,
    faults: VecDeque<Fault>,
    rules: HashMap<String, Rule>,
    violations: Vec<String>,
}

/// The fake: IAM's `POST /identity/token` and metering's `POST /v4/metering/resources/{id}/usage`.
#[derive(Clone)]
pub struct FakeMetering {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeMetering {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(respond(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/identity/token", self.addr)
    }

    /// A client with fast retries and a short timeout, against this fake.
    pub fn client(&self, clock: Arc<dyn Clock>) -> MeteringClient {
        let tokens = ApiKeyClient::builder(ApiKey::new(API_KEY))
            .token_url(self.token_url())
            .build()
            .unwrap();
        MeteringClient::builder(RESOURCE_ID, tokens)
            .base_url(self.base_url())
            .timeout(Duration::from_millis(500))
            .retry(
                RetryPolicy::new()
                    .max_attempts(4)
                    .initial_delay(Duration::from_millis(5))
                    .max_delay(Duration::from_millis(20)),
            )
            .clock(clock)
            .build()
            .unwrap()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, fault: Fault, times: usize) {
        self.with(|s| s.faults.extend(std::iter::repeat_n(fault, times)));
    }

    pub fn rule(&self, instance_id: &str, rule: Rule) {
        self.with(|s| s.rules.insert(instance_id.to_owned(), rule));
    }

    /// Every issued token stops working (as if expired or revoked).
    pub fn revoke_tokens(&self) {
        self.with(|s| s.valid_tokens.clear());
    }

    pub fn token_requests(&self) -> u64 {
        self.with(|s| s.token_requests)
    }

    pub fn requests(&self) -> u64 {
        self.with(|s| s.requests)
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.with(|s| s.batch_sizes.clone())
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }

    pub fn accepted(&self) -> HashMap<String, u32> {
        self.with(|s| s.accepted.clone())
    }

    pub fn duplicates_answered(&self) -> u64 {
        self.with(|s| s.duplicates_answered)
    }

    /// Panics unless every key was accepted exactly once.
    pub fn assert_accepted_once(&self, keys: &[String]) {
        let accepted = self.accepted();
        for key in keys {
            assert_eq!(
                accepted.get(key),
                Some(&1),
                "record {key} accepted {:?} times",
                accepted.get(key)
            );
        }
        assert!(
            accepted.values().all(|n| *n == 1),
            "a record was accepted twice: {accepted:?}"
        );
        assert!(self.violations().is_empty(), "{:?}", self.violations());
    }
}

fn answer(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    response
}

async fn respond(state: &Arc<Mutex<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request.into_body().collect().await.unwrap().to_bytes();
    if path == "/identity/token" {
        let form = String::from_utf8_lossy(&body).into_owned();
        let mut s = state.lock().unwrap();
        s.token_requests += 1;
        if !form.contains(&format!("apikey={API_KEY}")) {
            return answer(
                400,
                &json!({"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found."}),
            );
        }
        s.tokens_issued += 1;
        let token = format!("token-{}", s.tokens_issued);
        s.valid_tokens.insert(token.clone());
        return answer(
            200,
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
        );
    }
    if path != format!("/v4/metering/resources/{RESOURCE_ID}/usage") {
        return answer(404, &json!({"message": "no such route"}));
    }
    let fault = {
        let mut s = state.lock().unwrap();
        let token = authorization
            .as_deref()
            .and_then(|v| v.strip_prefix("Bearer "));
        if !token.is_some_and(|t| s.valid_tokens.contains(t)) {
            return answer(401, &json!({"message": "token expired"}));
        }
        s.requests += 1;
        s.faults.pop_front()
    };
    let delay = match fault {
        Some(Fault::Status(status)) => {
            let mut response = answer(status, &json!({"message": "try later"}));
            if status == 429 {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, "0".parse().unwrap());
            }
            return response;
        }
        Some(Fault::Slow(delay)) => Some(delay),
        None => None,
    };
    let response = process(state, &body);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

/// IBM's duplicate key fields, computed independently of the library.
fn duplicate_key(record: &Value) -> String {
    json!([
        record["resource_instance_id"],
        record.get("consumer_id").unwrap_or(&Value::Null),
        record["plan_id"],
        record.get("region").unwrap_or(&Value::Null),
        record["start"],
        record["end"],
    ])
    .to_string()
}

fn shape_violation(record: &Value) -> Option<&'static str> {
    let text = |field: &str| {
        record
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let int = |field: &str| record.get(field).and_then(Value::as_i64).is_some();
    if !text("resource_instance_id") || !text("plan_id") {
        return Some("record without resource_instance_id or plan_id");
    }
    if !int("start") || !int("end") {
        return Some("record without integer start/end");
    }
    let Some(measures) = record.get("measured_usage").and_then(Value::as_array) else {
        return Some("record without measured_usage");
    };
    if measures.is_empty() {
        return Some("empty measured_usage");
    }
    for measure in measures {
        let quantity = &measure["quantity"];
        let ok = quantity.is_number()
            || (quantity["previous"].is_number() && quantity["current"].is_number());
        if measure.get("measure").and_then(Value::as_str).is_none() || !ok {
            return Some("malformed measure");
        }
    }
    None
}

fn process(state: &Arc<Mutex<State>>, body: &[u8]) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(body) else {
        s.violations.push("body is not a JSON array".to_owned());
        return answer(400, &json!({"message": "body must be an array"}));
    };
    s.batch_sizes.push(records.len());
    if records.is_empty() || records.len() > 100 {
        s.violations
            .push(format!("batch of {} records", records.len()));
        return answer(400, &json!({"message": "1 to 100 records per request"}));
    }
    let mut resources = Vec::with_capacity(records.len());
    for record in &records {
        if let Some(violation) = shape_violation(record) {
            s.violations.push(violation.to_owned());
            resources.push(json!({"status": 400, "code": "bad_request", "message": violation}));
            continue;
        }
        let instance = record["resource_instance_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match s.rules.get_mut(&instance) {
            Some(Rule::Reject(status)) => {
                let status = *status;
                s.rejected_answered += 1;
                resources.push(json!({"status": status, "code": "instance_not_found", "message": "unknown instance"}));
                continue;
            }
            Some(Rule::RetryTimes(n)) if *n > 0 => {
                *n -= 1;
                resources
                    .push(json!({"status": 500, "code": "internal", "message": "retry later"}));
                continue;
            }
            _ => {}
        }
        let key = duplicate_key(record);
        if let std::collections::hash_map::Entry::Vacant(slot) = s.accepted.entry(key) {
            slot.insert(1);
            resources.push(json!({"status": 201, "location": "/v4/metering/usage/1"}));
        } else {
            s.duplicates_answered += 1;
            resources
                .push(json!({"status": 409, "code": "duplicate", "message": "already submitted"}));
        }
    }
    answer(202, &json!({"resources": resources}))
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn at(millis: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(millis)))
    }

    pub fn set(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

pub const HOUR: i64 = 3_600_000;
/// 2025-03-10T00:00:00Z.
pub const MARCH_10: i64 = 1_741_564_800_000;

pub fn crn(n: usize) -> String {
    format!("crn:v1:bluemix:public:my-svc:us-south:a/acct:{n:08}::")
}

/// A provisioned (ready, enabled) instance record on `plan`.
pub fn ready_instance(plan: &str) -> InstanceRecord {
    let now = Timestamp::from_unix_millis(0);
    let op = OperationRecord::start(
        OperationKind::Provision,
        false,
        now,
        None,
        Lease::new("t", now),
    );
    let mut record = InstanceRecord::new(ProvisionRequest::new(RESOURCE_ID, plan), op);
    record.lifecycle.phase = Phase::Ready;
    record.lifecycle.created = true;
    record
}

pub async fn provision(store: &dyn StateStore, count: usize, plan: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let id = crn(n);
        store
            .save_instance(&id, None, &ready_instance(plan))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// The duplicate key the fake computes for `instance`'s record over the hour at `start`.
pub fn hour_key(instance: &str, start: i64) -> String {
    json!([instance, null, PLAN, null, start, start + HOUR]).to_string()
}
