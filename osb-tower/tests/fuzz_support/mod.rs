//! Shared by the `fuzz_*` property tests: the generators (`http`, `json`), the oracle every
//! answer must pass, the expected status of a request stage by stage, a `Managed` broker on a
//! `MemoryStore`, and the per-class tally printed when `OSB_FUZZ_SUMMARY` is set.
//!
//! Case counts are small enough for CI in a debug build; `PROPTEST_CASES=n` runs `n` cases per
//! class instead (e.g. `PROPTEST_CASES=5000 OSB_FUZZ_SUMMARY=1 cargo test -p osb-tower --test
//! fuzz_bodies -- --nocapture`).
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod body_kinds;
pub mod http_gen;
pub mod json_gen;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Once};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use osb_core::catalog::Catalog;
use osb_core::managed::{
    DeprovisionError, InstanceRecord, LogicError, Managed, ServiceLogic, UpdateError,
};
use osb_core::{
    BindRequest, Binding, ProvisionRequest, ProvisionedInstance, UpdateRequest, UpdatedInstance,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

/// What the service must make of one generated part of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: this stage lets the request through.
    Valid,
    /// Malformed: this stage answers its status.
    Invalid,
    /// Either (random input): this stage may pass or answer its status.
    Unknown,
}

/// The statuses a request may get, built stage by stage in the order of checks (the table at
/// the top of `osb_tower::routing`): the first `Invalid` stage decides, `Unknown` stages add
/// their status and go on.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    statuses: Vec<u16>,
    decided: bool,
}

impl Expect {
    pub fn new() -> Self {
        Self::default()
    }

    /// One stage that answers `status` when its input is malformed.
    #[must_use]
    pub fn stage(mut self, verdict: Verdict, status: u16) -> Self {
        if !self.decided {
            match verdict {
                Verdict::Valid => {}
                Verdict::Invalid => {
                    self.statuses.push(status);
                    self.decided = true;
                }
                Verdict::Unknown => self.statuses.push(status),
            }
        }
        self
    }

    /// The broker's possible answers, when every stage let the request through.
    pub fn then(mut self, broker: &[u16]) -> Vec<u16> {
        if !self.decided {
            self.statuses.extend_from_slice(broker);
        }
        self.statuses
    }
}

/// One answer, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(400)
            .collect()
    }
}

/// Sends one request through `tower::ServiceExt::oneshot`.
pub async fn call<S>(service: S, request: http::Request<Full<Bytes>>) -> Reply
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<osb_tower::ResponseBody>,
            Error = std::convert::Infallible,
        >,
{
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// The invariants of every answer: no 5xx, a status among `allowed`, `application/json` with a
/// JSON object body (none for 304/204), and on 4xx the OSB error body: a non-empty
/// `description` string, an optional `error` string, and only the failure flags besides.
pub fn check(reply: &Reply, allowed: &[u16]) -> Result<(), TestCaseError> {
    let status = reply.status.as_u16();
    proptest::prop_assert!(status < 500, "answered {status}: {}", reply.text());
    proptest::prop_assert!(
        allowed.contains(&status),
        "answered {status}, expected one of {allowed:?}: {}",
        reply.text()
    );
    if status == 304 || status == 204 {
        proptest::prop_assert!(reply.body.is_empty(), "a {status} has no body");
        return Ok(());
    }
    let content_type = reply.headers.get(http::header::CONTENT_TYPE);
    proptest::prop_assert_eq!(
        content_type.and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| TestCaseError::fail(format!("body is not JSON ({e}): {}", reply.text())))?;
    let object = body
        .as_object()
        .ok_or_else(|| TestCaseError::fail(format!("body is not an object: {}", reply.text())))?;
    if reply.status.is_client_error() {
        let description = object.get("description").and_then(Value::as_str);
        proptest::prop_assert!(
            description.is_some_and(|d| !d.is_empty()),
            "a {status} without a description: {}",
            reply.text()
        );
        for (key, value) in object {
            let shaped = match key.as_str() {
                "description" => true,
                "error" => value.is_string(),
                "instance_usable" | "update_repeatable" => value.is_boolean(),
                _ => false,
            };
            proptest::prop_assert!(shaped, "error body field {key:?}: {}", reply.text());
        }
    }
    Ok(())
}

/// The cases of one class: `ci` unless `PROPTEST_CASES` says otherwise; nothing written to disk.
pub fn config(ci: u32) -> Config {
    let mut config = Config::default(); // reads PROPTEST_CASES
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci;
    }
    config.failure_persistence = None;
    config
}

/// A single-threaded runtime: the service runs on the test's thread, so its panics are counted
/// there.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

thread_local! {
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

/// Counts panics per thread (the service's panic guard turns one into a 500, which the oracle
/// reports; the count tells a panic from a broker's 500 in the summary).
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|n| n.set(n.get() + 1));
            previous(info);
        }));
    });
}

/// What one class saw.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    statuses: BTreeMap<u16, usize>,
    server_errors: usize,
    panics: usize,
}

static TALLIES: Mutex<BTreeMap<String, Tally>> = Mutex::new(BTreeMap::new());

fn record(class: &str, status: u16, panics: usize) {
    let mut tallies = TALLIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tally = tallies.entry(class.to_owned()).or_default();
    tally.cases += 1;
    *tally.statuses.entry(status).or_default() += 1;
    tally.server_errors += usize::from(status >= 500);
    tally.panics += panics;
}

fn summary(class: &str) {
    if std::env::var_os("OSB_FUZZ_SUMMARY").is_none() {
        return;
    }
    let tallies = TALLIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(t) = tallies.get(class) {
        eprintln!(
            "fuzz-summary class={class} cases={} statuses={:?} 5xx={} panics={}",
            t.cases, t.statuses, t.server_errors, t.panics
        );
    }
}

/// Runs `ci` cases of `strategy` (see [`config`]); `test` answers the status it saw, which is
/// tallied under `class`. Panics with proptest's minimal failing input on failure.
pub fn run<S, F>(class: &str, ci: u32, strategy: S, test: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Result<u16, TestCaseError>,
{
    count_panics();
    let mut runner = TestRunner::new(config(ci));
    let result = runner.run(&strategy, |value| {
        let before = PANICS.with(Cell::get);
        let outcome = test(value);
        let panics = PANICS.with(Cell::get) - before;
        if let Ok(status) = &outcome {
            record(class, *status, panics);
        }
        proptest::prop_assert_eq!(panics, 0, "the service panicked");
        outcome.map(|_| ())
    });
    summary(class);
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, value)) => panic!("{class}: {why}\nminimal input: {value:#?}"),
        Err(TestError::Abort(why)) => panic!("{class}: aborted: {why}"),
    }
}

/// Draws one value of `strategy` (for set-up that wants a generated value outside a run).
pub fn sample<S: Strategy>(strategy: &S) -> S::Value {
    let mut runner = TestRunner::deterministic();
    strategy.new_tree(&mut runner).unwrap().current()
}

/// Business logic that accepts everything, synchronously, over the test catalog.
#[derive(Debug)]
pub struct AcceptAll {
    catalog: Arc<Catalog>,
}

#[async_trait]
impl ServiceLogic for AcceptAll {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    async fn create_instance(
        &self,
        _: &str,
        _: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        Ok(ProvisionedInstance::default())
    }

    async fn update_instance(
        &self,
        _: &str,
        _: &UpdateRequest,
        _: &InstanceRecord,
    ) -> Result<UpdatedInstance, UpdateError> {
        Ok(UpdatedInstance::default())
    }

    async fn delete_instance(&self, _: &str, _: &InstanceRecord) -> Result<(), DeprovisionError> {
        Ok(())
    }

    async fn create_binding(
        &self,
        _: &str,
        _: &str,
        _: &BindRequest,
    ) -> Result<Binding, LogicError> {
        let mut credentials = serde_json::Map::new();
        credentials.insert("password".to_owned(), Value::from("s3cret"));
        Ok(Binding::with_credentials(credentials))
    }
}

/// The real adapter on a `MemoryStore`, over the same catalog as `support::TestBroker`.
pub type ManagedBroker = Managed<AcceptAll>;

pub fn managed(catalog: Catalog) -> Arc<ManagedBroker> {
    Arc::new(
        Managed::builder(AcceptAll {
            catalog: Arc::new(catalog),
        })
        .build(),
    )
}

/// A well-formed body for each endpoint that has one (`""` for the others).
pub fn valid_body(endpoint: osb_tower::Endpoint) -> &'static str {
    use osb_tower::Endpoint as E;
    match endpoint {
        E::Provision => {
            r#"{"service_id":"svc-db","plan_id":"plan-small","context":{"platform":"cloudfoundry"}}"#
        }
        E::Update => r#"{"service_id":"svc-db"}"#,
        E::Bind => r#"{"service_id":"svc-db","plan_id":"plan-small"}"#,
        E::SetInstanceState => r#"{"enabled":true}"#,
        _ => "",
    }
}

/// The query every endpoint accepts (deprovision and unbind need both ids).
pub fn valid_query(endpoint: osb_tower::Endpoint) -> &'static str {
    use osb_tower::Endpoint as E;
    match endpoint {
        E::Deprovision | E::Unbind => "?service_id=svc-db&plan_id=plan-small",
        _ => "",
    }
}

/// What `support::TestBroker` answers a well-formed request (no instance state recorded unless
/// `states` says so).
pub fn test_broker_answer(endpoint: osb_tower::Endpoint, states: bool) -> u16 {
    use osb_tower::Endpoint as E;
    match endpoint {
        E::Provision | E::Bind => 201,
        E::GetInstanceState | E::SetInstanceState if !states => 404,
        _ => 200,
    }
}
