//! `PATCH /v2/service_instances/:instance_id`.
#![allow(clippy::unwrap_used)]

mod support;

use http::Method;
use osb_core::{BrokerError, OperationToken, UpdateAccepted, UpdateResponse};
use serde_json::json;
use support::*;

fn update(
    query: &str,
    body: serde_json::Value,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    json_body(
        req(Method::PATCH, &format!("{INSTANCE}{query}")),
        body.to_string(),
    )
}

#[tokio::test]
async fn update_applied_returns_200() {
    let (broker, service) = setup();
    let answered = send(service, update("", fixture_json("update_plan_change.json"))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({}));
    assert_eq!(broker.last_call().detail, "svc-db Some(\"plan-large\")");
}

#[tokio::test]
async fn update_async_returns_202_with_operation() {
    let (broker, service) = setup();
    set(&broker.update, || {
        Ok(UpdateResponse::Accepted(UpdateAccepted::with_operation(
            OperationToken::new("u-1").unwrap(),
        )))
    });
    let answered = send(
        service,
        update("?accepts_incomplete=true", json!({"service_id": "svc-db"})),
    )
    .await;
    assert_eq!(answered.status, 202);
    assert_eq!(answered.json(), json!({"operation": "u-1"}));
}

#[tokio::test]
async fn update_service_id_alone_reaches_the_broker() {
    // osb-checker sends `{service_id}` alone and expects the broker's AsyncRequired.
    let (broker, service) = setup();
    set(&broker.update, || Err(BrokerError::async_required()));
    let answered = send(service, update("", json!({"service_id": "svc-db"}))).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("AsyncRequired"));
}

#[tokio::test]
async fn update_missing_or_unknown_service_id_returns_400() {
    for body in [
        json!({"plan_id": "plan-small"}),
        json!({"service_id": ""}),
        json!({"service_id": "nope"}),
    ] {
        let (broker, service) = setup();
        let answered = send(service, update("", body)).await;
        assert_error(&answered, 400);
        assert!(
            answered.description().contains("service_id"),
            "{}",
            answered.description()
        );
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn update_to_a_plan_of_another_service_returns_400() {
    let (broker, service) = setup();
    let answered = send(
        service,
        update("", json!({"service_id": "svc-db", "plan_id": "plan-queue"})),
    )
    .await;
    assert_error(&answered, 400);
    assert!(broker.calls().is_empty());
}

/// The plan, context and maintenance rules need the instance's current plan and context, which
/// only the broker knows: `previous_values` (informational) never makes the service refuse.
#[tokio::test]
async fn update_rules_that_need_the_instance_are_left_to_the_broker() {
    for body in [
        json!({"service_id": "svc-db", "plan_id": "plan-small", "previous_values": {"plan_id": "plan-large"}}),
        json!({"service_id": "svc-queue", "plan_id": "plan-queue-bindable", "previous_values": {"plan_id": "plan-queue"}}),
        json!({"service_id": "svc-queue", "context": {"platform": "cloudfoundry", "instance_name": "renamed"}}),
        json!({"service_id": "svc-db", "plan_id": "plan-large", "maintenance_info": {"version": "9.9.9"}}),
    ] {
        let (broker, service) = setup();
        let answered = send(service, update("", body.clone())).await;
        assert_eq!(answered.status, 200, "{body}");
        assert_eq!(broker.calls().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn update_context_platform_that_is_not_a_string_returns_400() {
    for platform in [json!(5), json!({"a": 1}), json!(["ibmcloud"]), json!(true)] {
        let (broker, service) = setup();
        let body = json!({"service_id": "svc-db", "context": {"platform": platform}});
        let answered = send(service, update("", body)).await;
        assert_error(&answered, 400);
        assert!(answered.description().contains("context.platform"));
        assert!(broker.calls().is_empty());
    }
    let (_, service) = setup();
    let body = json!({"service_id": "svc-db", "context": {"platform": null}});
    assert_eq!(send(service, update("", body)).await.status, 200);
}

#[tokio::test]
async fn update_error_keeps_instance_usable_and_update_repeatable() {
    let (broker, service) = setup();
    set(&broker.update, || {
        Err(BrokerError::unprocessable("over quota")
            .with_instance_usable(true)
            .with_update_repeatable(false))
    });
    let answered = send(
        service,
        update("", json!({"service_id": "svc-db", "parameters": {"a": 1}})),
    )
    .await;
    assert_error(&answered, 422);
    assert_eq!(answered.json()["instance_usable"], true);
    assert_eq!(answered.json()["update_repeatable"], false);
}

#[tokio::test]
async fn update_concurrency_error_passes_through() {
    let (broker, service) = setup();
    set(&broker.update, || Err(BrokerError::concurrency_error()));
    let answered = send(service, update("", json!({"service_id": "svc-db"}))).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("ConcurrencyError"));
}

#[tokio::test]
async fn update_unknown_instance_from_broker_returns_404() {
    let (broker, service) = setup();
    set(&broker.update, || Err(BrokerError::not_found()));
    assert_error(
        &send(service, update("", json!({"service_id": "svc-db"}))).await,
        404,
    );
}
