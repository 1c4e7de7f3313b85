//! `DELETE /v2/service_instances/:instance_id`.
#![allow(clippy::unwrap_used)]

mod support;

use http::Method;
use osb_core::{BrokerError, DeprovisionResponse, OperationToken};
use serde_json::json;
use support::*;

fn delete(query: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    empty(req(Method::DELETE, &format!("{INSTANCE}{query}")))
}

#[tokio::test]
async fn deprovision_deleted_returns_200_with_empty_object() {
    let (broker, service) = setup();
    let answered = send(service, delete("?service_id=svc-db&plan_id=plan-small")).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({}));
    assert_eq!(broker.last_call().detail, "svc-db plan-small");
}

#[tokio::test]
async fn deprovision_of_a_retired_plan_is_not_checked_against_the_catalog() {
    let (broker, service) = setup();
    let answered = send(service, delete("?service_id=gone-svc&plan_id=gone-plan")).await;
    assert_eq!(answered.status, 200);
    assert_eq!(broker.last_call().detail, "gone-svc gone-plan");
}

#[tokio::test]
async fn deprovision_async_returns_202_with_operation() {
    let (broker, service) = setup();
    set(&broker.deprovision, || {
        Ok(DeprovisionResponse::Accepted {
            operation: Some(OperationToken::new("d-1").unwrap()),
        })
    });
    let answered = send(
        service,
        delete("?service_id=s&plan_id=p&accepts_incomplete=true"),
    )
    .await;
    assert_eq!(answered.status, 202);
    assert_eq!(answered.json(), json!({"operation": "d-1"}));
    let (broker, service) = setup();
    set(&broker.deprovision, || {
        Ok(DeprovisionResponse::Accepted { operation: None })
    });
    let answered = send(
        service,
        delete("?service_id=s&plan_id=p&accepts_incomplete=true"),
    )
    .await;
    assert_eq!(answered.status, 202);
    assert_eq!(answered.json(), json!({}));
}

#[tokio::test]
async fn deprovision_missing_ids_return_400() {
    for query in [
        "",
        "?service_id=s",
        "?plan_id=p",
        "?service_id=&plan_id=p",
        "?service_id=s&plan_id=",
    ] {
        let (broker, service) = setup();
        let answered = send(service, delete(query)).await;
        assert_error(&answered, 400);
        assert!(answered.description().contains("_id"), "{query}");
        assert!(broker.calls().is_empty(), "{query}");
    }
}

#[tokio::test]
async fn deprovision_gone_returns_410() {
    let (broker, service) = setup();
    set(&broker.deprovision, || Err(BrokerError::gone()));
    assert_error(&send(service, delete("?service_id=s&plan_id=p")).await, 410);
}

#[tokio::test]
async fn deprovision_async_required_and_concurrency_pass_through() {
    for (make, code) in [
        (
            BrokerError::async_required as fn() -> BrokerError,
            "AsyncRequired",
        ),
        (BrokerError::concurrency_error, "ConcurrencyError"),
    ] {
        let (broker, service) = setup();
        set(&broker.deprovision, move || Err(make()));
        let answered = send(service, delete("?service_id=s&plan_id=p")).await;
        assert_error(&answered, 422);
        assert_eq!(answered.error().as_deref(), Some(code));
    }
}

#[tokio::test]
async fn deprovision_error_keeps_instance_usable_but_not_update_repeatable() {
    let (broker, service) = setup();
    set(&broker.deprovision, || {
        Err(BrokerError::internal("db down")
            .with_instance_usable(false)
            .with_update_repeatable(true))
    });
    let answered = send(service, delete("?service_id=s&plan_id=p")).await;
    assert_error(&answered, 500);
    assert_eq!(answered.json()["instance_usable"], false);
    assert!(answered.json().get("update_repeatable").is_none());
    assert!(!answered.description().contains("db down"));
}
