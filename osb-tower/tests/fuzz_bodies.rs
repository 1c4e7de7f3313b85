//! Property tests of the bodies (provision, update, bind, `bluemix_v1` state): valid bodies
//! mutated field by field, byte by byte, or random bytes are answered by the stage that owns
//! the problem (413 size, 400 JSON or fields, 422 maintenance info), never a 5xx, always the OSB
//! error body; once through `support::TestBroker`, once through the real `Managed` adapter on a
//! `MemoryStore`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod fuzz_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use fuzz_support::body_kinds::{BIND, BodyKind, PROVISION, STATE, UPDATE};
use fuzz_support::json_gen;
use fuzz_support::{Expect, Verdict, call, check, managed, run, runtime};
use http::Method;
use http_body_util::Full;
use osb_core::ServiceBroker;
use osb_tower::OsbService;

const LIMIT: usize = 1024 * 1024;
const CI_CASES: u32 = 160;

/// Where a body of `kind` goes; `n` makes a fresh id for creates.
fn target(kind: BodyKind, n: usize) -> (Method, String) {
    match kind.name {
        "provision" => (Method::PUT, format!("/v2/service_instances/fuzz-{n}")),
        "update" => (Method::PATCH, "/v2/service_instances/inst-1".to_owned()),
        "bind" => (
            Method::PUT,
            format!("/v2/service_instances/inst-1/service_bindings/fuzz-{n}"),
        ),
        _ => (
            Method::PUT,
            "/bluemix_v1/service_instances/inst-1".to_owned(),
        ),
    }
}

fn request(kind: BodyKind, n: usize, body: Vec<u8>) -> http::Request<Full<Bytes>> {
    let (method, uri) = target(kind, n);
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Broker-API-Version", "2.17")
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// What the broker may answer a body that passed the HTTP layer's checks. `valid`: the
/// generator knows the body is well-formed (else the catalog checks may still refuse it).
type Answers = fn(kind: BodyKind, valid: bool) -> &'static [u16];

fn test_broker_answers(kind: BodyKind, valid: bool) -> &'static [u16] {
    match (kind.name, valid) {
        ("provision", true) | ("bind", true) => &[201],
        ("provision", false) => &[201, 422], // maintenance_info
        ("bind", false) => &[201],
        ("update", false) => &[200, 422], // maintenance_info: the broker's to judge
        _ => &[200],
    }
}

/// The adapter judges updates against its record (plan_updateable, context, maintenance_info:
/// 422) and may refuse what it cannot do; creates use fresh ids.
fn managed_answers(kind: BodyKind, valid: bool) -> &'static [u16] {
    match (kind.name, valid) {
        ("provision", true) | ("bind", true) => &[201],
        ("provision", false) | ("bind", false) => &[201, 422],
        ("update", _) => &[200, 422],
        _ => &[200],
    }
}

fn fuzz<S>(class: &str, kind: BodyKind, service: S, answers: Answers)
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<osb_tower::ResponseBody>,
            Error = std::convert::Infallible,
        > + Clone,
{
    let rt = runtime();
    let n = AtomicUsize::new(0);
    run(class, CI_CASES, json_gen::body(kind), |body| {
        let size = if body.text.len() > LIMIT {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        let valid = body.verdict == Verdict::Valid;
        let allowed = Expect::new()
            .stage(size, 413)
            .stage(body.verdict, body.status)
            .then(answers(kind, valid));
        let n = n.fetch_add(1, Ordering::Relaxed);
        let reply = rt.block_on(call(service.clone(), request(kind, n, body.text)));
        check(&reply, &allowed).map_err(|e| {
            proptest::test_runner::TestCaseError::fail(format!(
                "{} ({}): {e}",
                body.mutation, kind.name
            ))
        })?;
        // A body that does not parse is described by field or position, never by value.
        let text = reply.text();
        proptest::prop_assert!(
            !(text.contains("The request body is not valid") && text.contains("hunter2")),
            "the description repeats a value: {text}"
        );
        Ok(reply.status.as_u16())
    });
}

fn test_broker() -> OsbService<Arc<support::TestBroker>> {
    let (broker, service) = support::setup();
    broker
        .states
        .lock()
        .unwrap()
        .insert("inst-1".to_owned(), true);
    service
}

#[test]
fn provision_bodies_through_the_test_broker() {
    fuzz("provision", PROVISION, test_broker(), test_broker_answers);
}

#[test]
fn update_bodies_through_the_test_broker() {
    fuzz("update", UPDATE, test_broker(), test_broker_answers);
}

#[test]
fn bind_bodies_through_the_test_broker() {
    fuzz("bind", BIND, test_broker(), test_broker_answers);
}

#[test]
fn state_bodies_through_the_test_broker() {
    fuzz("state", STATE, test_broker(), test_broker_answers);
}

/// The adapter with `inst-1` provisioned (on `plan-small`, with a context).
fn managed_service() -> OsbService<Arc<fuzz_support::ManagedBroker>> {
    let broker = managed(support::catalog());
    let rt = runtime();
    let request: osb_core::ProvisionRequest = serde_json::from_str(
        r#"{"service_id":"svc-db","plan_id":"plan-small","context":{"platform":"cloudfoundry"}}"#,
    )
    .unwrap();
    let ctx = osb_core::RequestContext::new(osb_core::ApiVersion::V2_17);
    rt.block_on(broker.provision("inst-1", request, &ctx))
        .unwrap();
    OsbService::new(broker)
}

#[test]
fn provision_bodies_through_the_managed_adapter() {
    fuzz(
        "managed-provision",
        PROVISION,
        managed_service(),
        managed_answers,
    );
}

#[test]
fn update_bodies_through_the_managed_adapter() {
    fuzz("managed-update", UPDATE, managed_service(), managed_answers);
}

#[test]
fn bind_bodies_through_the_managed_adapter() {
    fuzz("managed-bind", BIND, managed_service(), managed_answers);
}

#[test]
fn state_bodies_through_the_managed_adapter() {
    fuzz("managed-state", STATE, managed_service(), managed_answers);
}
