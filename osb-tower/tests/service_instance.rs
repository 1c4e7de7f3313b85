//! `GET /v2/service_instances/:instance_id` (fetch instance).
#![allow(clippy::unwrap_used)]

mod support;

use http::Method;
use osb_core::BrokerError;
use support::*;

#[tokio::test]
async fn fetch_instance_returns_200_with_ids_and_passes_hints() {
    let (broker, service) = setup();
    let uri = format!("{INSTANCE}?service_id=svc-db&plan_id=");
    let answered = send(service, empty(req(Method::GET, &uri))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json()["service_id"], "svc-db");
    assert_eq!(answered.json()["plan_id"], "plan-small");
    // An empty hint is absent.
    assert_eq!(broker.last_call().detail, "Some(\"svc-db\") None");
}

#[tokio::test]
async fn fetch_instance_returns_404_unless_the_catalog_declares_it() {
    let (broker, service) = setup();
    let uri = format!("{INSTANCE}?service_id=svc-queue");
    assert_error(&send(service, empty(req(Method::GET, &uri))).await, 404);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn fetch_instance_unknown_or_in_progress_is_the_brokers_404_and_busy_is_422() {
    let (broker, service) = setup();
    set(&broker.fetch_instance, || Err(BrokerError::not_found()));
    assert_error(&send(service, empty(req(Method::GET, INSTANCE))).await, 404);
    let (broker, service) = setup();
    set(&broker.fetch_instance, || {
        Err(BrokerError::concurrency_error())
    });
    let answered = send(service, empty(req(Method::GET, INSTANCE))).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("ConcurrencyError"));
}
