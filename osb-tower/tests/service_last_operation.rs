//! Both `last_operation` endpoints: state bodies, flags, `Retry-After`, 404/410.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use http::Method;
use osb_core::{
    BindingLastOperation, BindingOperationState, BrokerError, Failure, LastOperation,
    OperationState,
};
use serde_json::json;
use support::*;

fn poll(query: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    empty(req(
        Method::GET,
        &format!("{INSTANCE}/last_operation{query}"),
    ))
}

#[tokio::test]
async fn last_operation_in_progress_returns_200_with_retry_after_in_seconds() {
    let (broker, service) = setup();
    set(&broker.last_operation, || {
        Ok(LastOperation::new(OperationState::InProgress)
            .with_description("Creating")
            .with_retry_after(Duration::from_millis(1500)))
    });
    let answered = send(
        service,
        poll("?operation=op%2F1&service_id=svc-db&plan_id=plan-small"),
    )
    .await;
    assert_eq!(answered.status, 200);
    assert_eq!(
        answered.json(),
        json!({"state": "in progress", "description": "Creating"})
    );
    assert_eq!(
        answered.header("retry-after"),
        Some("2"),
        "rounded up to whole seconds"
    );
    assert_eq!(
        broker.last_call().detail,
        "Some(\"svc-db\") Some(\"plan-small\") Some(\"op/1\")"
    );
}

#[tokio::test]
async fn last_operation_without_retry_after_sends_no_header() {
    let (_, service) = setup();
    let answered = send(service, poll("")).await;
    assert_eq!(answered.json(), json!({"state": "succeeded"}));
    assert!(answered.header("retry-after").is_none());
}

#[tokio::test]
async fn last_operation_empty_or_unknown_operation_is_passed_as_a_hint() {
    let (broker, service) = setup();
    assert_eq!(send(service, poll("?operation=")).await.status, 200);
    assert_eq!(broker.last_call().detail, "None None None");
}

#[tokio::test]
async fn last_operation_failed_update_carries_its_flags() {
    let (broker, service) = setup();
    set(&broker.last_operation, || {
        Ok(LastOperation::new(OperationState::Failed(
            Failure::Update {
                instance_usable: Some(true),
                update_repeatable: Some(false),
            },
        )))
    });
    let answered = send(service, poll("")).await;
    assert_eq!(
        answered.json(),
        json!({"state": "failed", "instance_usable": true, "update_repeatable": false})
    );
}

#[tokio::test]
async fn last_operation_unknown_returns_404_and_gone_returns_410() {
    for (make, status) in [
        (BrokerError::not_found as fn() -> BrokerError, 404),
        (BrokerError::gone, 410),
    ] {
        let (broker, service) = setup();
        set(&broker.last_operation, move || Err(make()));
        assert_error(&send(service, poll("")).await, status);
    }
}

#[tokio::test]
async fn last_operation_errors_never_carry_usability_flags() {
    let (broker, service) = setup();
    set(&broker.last_operation, || {
        Err(BrokerError::bad_request("x").with_instance_usable(false))
    });
    let answered = send(service, poll("")).await;
    assert_error(&answered, 400);
    assert!(answered.json().get("instance_usable").is_none());
}

#[tokio::test]
async fn binding_last_operation_returns_state_and_retry_after() {
    let (broker, service) = setup();
    set(&broker.binding_last_operation, || {
        Ok(BindingLastOperation::new(BindingOperationState::InProgress)
            .with_retry_after(Duration::from_secs(5)))
    });
    let uri = format!("{BINDING}/last_operation?operation=b-1");
    let answered = send(service, empty(req(Method::GET, &uri))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({"state": "in progress"}));
    assert_eq!(answered.header("retry-after"), Some("5"));
    let call = broker.last_call();
    assert_eq!(
        (call.op, call.binding_id.as_deref(), call.detail.as_str()),
        ("binding_last_operation", Some("bind-1"), "Some(\"b-1\")")
    );
}

#[tokio::test]
async fn binding_last_operation_unknown_returns_404_and_gone_returns_410() {
    for (make, status) in [
        (BrokerError::not_found as fn() -> BrokerError, 404),
        (BrokerError::gone, 410),
    ] {
        let (broker, service) = setup();
        set(&broker.binding_last_operation, move || Err(make()));
        let uri = format!("{BINDING}/last_operation");
        assert_error(&send(service, empty(req(Method::GET, &uri))).await, status);
    }
}
