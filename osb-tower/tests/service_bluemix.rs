//! IBM Cloud's `bluemix_v1` instance-state routes (osb-core rules.md §17.3).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use http::Method;
use osb_tower::OsbService;
use serde_json::json;
use support::*;

const STATE: &str = "/bluemix_v1/service_instances/crn%3Av1%3Abluemix%3Apublic%3Adb%3Aus-south%3Aa%2Facc%3Ainst%3A%3A";
const CRN: &str = "crn:v1:bluemix:public:db:us-south:a/acc:inst::";

fn with_instance() -> (Arc<TestBroker>, Service) {
    let (broker, service) = setup();
    broker.states.lock().unwrap().insert(CRN.to_owned(), true);
    (broker, service)
}

#[tokio::test]
async fn get_instance_state_returns_200_with_the_state() {
    let (broker, service) = with_instance();
    let answered = send(service, empty(req(Method::GET, STATE))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({"enabled": true}));
    assert_eq!(broker.last_call().instance_id, CRN);
}

#[tokio::test]
async fn put_instance_state_returns_200_with_the_new_state_by_default() {
    let (broker, service) = with_instance();
    let answered = send(
        service,
        json_body(
            req(Method::PUT, STATE),
            fixture("instance_state_disable.json"),
        ),
    )
    .await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({"enabled": false}));
    assert_eq!(broker.last_call().detail, "Some(\"IBMCLOUD_ACCT_SUSPEND\")");
}

#[tokio::test]
async fn put_instance_state_returns_204_when_configured() {
    let broker = Arc::new(TestBroker::default());
    broker.states.lock().unwrap().insert(CRN.to_owned(), true);
    let service = OsbService::builder(broker.clone())
        .instance_state_no_content(true)
        .build();
    let answered = send(
        service,
        json_body(
            req(Method::PUT, STATE),
            fixture("instance_state_disable.json"),
        ),
    )
    .await;
    assert_eq!(answered.status, 204);
    assert!(answered.body.is_empty());
    assert!(!broker.states.lock().unwrap()[CRN]);
}

#[tokio::test]
async fn unknown_instance_returns_404() {
    let (_, service) = setup();
    assert_error(
        &send(service.clone(), empty(req(Method::GET, STATE))).await,
        404,
    );
    let answered = send(
        service,
        json_body(req(Method::PUT, STATE), r#"{"enabled":true}"#),
    )
    .await;
    assert_error(&answered, 404);
}

#[tokio::test]
async fn broker_without_instance_state_answers_404() {
    let broker = Arc::new(TestBroker::without_instance_state());
    let service = OsbService::new(broker.clone());
    let answered = send(service, empty(req(Method::GET, STATE))).await;
    assert_error(&answered, 404);
    assert!(answered.description().contains("bluemix_v1"));
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn instance_state_does_not_require_the_version_header() {
    let (broker, service) = with_instance();
    let answered = send(service, empty(bare(Method::GET, STATE))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(broker.last_call().api_version, osb_core::ApiVersion::V2_12);
}

#[tokio::test]
async fn put_instance_state_without_enabled_returns_400() {
    let (_, service) = with_instance();
    let answered = send(
        service,
        json_body(req(Method::PUT, STATE), r#"{"reason_code":"X"}"#),
    )
    .await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("enabled"));
}
