//! Bind, unbind and fetch binding.
#![allow(clippy::unwrap_used)]

mod support;

use http::Method;
use osb_core::{BindAccepted, BindResponse, Binding, BrokerError, UnbindResponse};
use serde_json::json;
use support::*;

type MakeError = fn() -> BrokerError;

fn bind(query: &str, body: impl Into<String>) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    json_body(req(Method::PUT, &format!("{BINDING}{query}")), body)
}

#[tokio::test]
async fn bind_created_returns_201_with_credentials() {
    let (broker, service) = setup();
    let answered = send(service, bind("", fixture("bind_app.json"))).await;
    assert_eq!(answered.status, 201);
    assert_eq!(answered.json()["credentials"]["password"], "s3cret");
    let call = broker.last_call();
    assert_eq!(
        (call.instance_id.as_str(), call.binding_id.as_deref()),
        ("inst-1", Some("bind-1"))
    );
    assert!(call.detail.ends_with("app=Some(\"app-guid-here\")"));
}

#[tokio::test]
async fn bind_with_empty_bind_resource_keeps_the_top_level_app_guid() {
    let (broker, service) = setup();
    assert_eq!(
        send(service, bind("", fixture("bind_empty_bind_resource.json")))
            .await
            .status,
        201
    );
    assert!(
        broker
            .last_call()
            .detail
            .ends_with("app=Some(\"legacy-app-guid\")")
    );
}

#[tokio::test]
async fn bind_identical_returns_200_and_async_returns_202_without_credentials() {
    let (broker, service) = setup();
    set(&broker.bind, || {
        Ok(BindResponse::AlreadyExists(Binding::default()))
    });
    assert_eq!(
        send(service, bind("", fixture("bind_app.json")))
            .await
            .status,
        200
    );
    let (broker, service) = setup();
    set(&broker.bind, || {
        Ok(BindResponse::Accepted(BindAccepted::default()))
    });
    let answered = send(
        service,
        bind("?accepts_incomplete=true", fixture("bind_app.json")),
    )
    .await;
    assert_eq!(answered.status, 202);
    assert_eq!(answered.json(), json!({}));
}

#[tokio::test]
async fn bind_unknown_ids_return_400() {
    for (service_id, plan_id) in [
        ("nope", "plan-small"),
        ("svc-db", "nope"),
        ("svc-db", "plan-queue"),
        ("", "plan-small"),
    ] {
        let (broker, service) = setup();
        let body = json!({"service_id": service_id, "plan_id": plan_id});
        assert_error(&send(service, bind("", body.to_string())).await, 400);
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn bind_on_non_bindable_plan_returns_400() {
    for (service_id, plan_id) in [("svc-db", "plan-nobind"), ("svc-queue", "plan-queue")] {
        let (broker, service) = setup();
        let body = json!({"service_id": service_id, "plan_id": plan_id});
        let answered = send(service, bind("", body.to_string())).await;
        assert_error(&answered, 400);
        assert!(answered.description().contains("not bindable"));
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn bind_plan_bindable_override_wins_over_the_offering() {
    let (_, service) = setup();
    let body = json!({"service_id": "svc-queue", "plan_id": "plan-queue-bindable"});
    assert_eq!(send(service, bind("", body.to_string())).await.status, 201);
}

#[tokio::test]
async fn bind_rotation_needs_binding_rotatable() {
    let (broker, service) = setup();
    let body =
        json!({"service_id": "svc-db", "plan_id": "plan-large", "predecessor_binding_id": "old"});
    let answered = send(service.clone(), bind("", body.to_string())).await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("binding_rotatable"));
    assert!(broker.calls().is_empty());
    let body =
        json!({"service_id": "svc-db", "plan_id": "plan-small", "predecessor_binding_id": "old"});
    assert_eq!(send(service, bind("", body.to_string())).await.status, 201);
}

#[tokio::test]
async fn bind_requires_app_is_the_brokers_answer() {
    let (broker, service) = setup();
    set(&broker.bind, || Err(BrokerError::requires_app()));
    let body = json!({"service_id": "svc-db", "plan_id": "plan-small"});
    let answered = send(service, bind("", body.to_string())).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("RequiresApp"));
}

#[tokio::test]
async fn bind_broker_errors_pass_through() {
    let cases: [(MakeError, u16, Option<&str>); 4] = [
        (BrokerError::conflict, 409, None),
        (BrokerError::not_found, 404, None),
        (
            BrokerError::concurrency_error,
            422,
            Some("ConcurrencyError"),
        ),
        (BrokerError::async_required, 422, Some("AsyncRequired")),
    ];
    for (make, status, code) in cases {
        let (broker, service) = setup();
        set(
            &broker.bind,
            move || Err(make().with_instance_usable(false)),
        );
        let answered = send(service, bind("", fixture("bind_app.json"))).await;
        assert_error(&answered, status);
        assert_eq!(answered.error().as_deref(), code);
        assert!(answered.json().get("instance_usable").is_none());
    }
}

#[tokio::test]
async fn unbind_returns_200_202_and_requires_ids() {
    let (broker, service) = setup();
    let uri = format!("{BINDING}?service_id=svc-db&plan_id=plan-small");
    let answered = send(service.clone(), empty(req(Method::DELETE, &uri))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({}));
    assert_eq!(broker.last_call().op, "unbind");

    set(&broker.unbind, || {
        Ok(UnbindResponse::Accepted { operation: None })
    });
    let answered = send(
        service.clone(),
        empty(req(
            Method::DELETE,
            &format!("{uri}&accepts_incomplete=true"),
        )),
    )
    .await;
    assert_eq!(answered.status, 202);

    let answered = send(
        service,
        empty(req(Method::DELETE, &format!("{BINDING}?plan_id=p"))),
    )
    .await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("service_id"));
}

#[tokio::test]
async fn unbind_gone_returns_410() {
    let (broker, service) = setup();
    set(&broker.unbind, || Err(BrokerError::gone()));
    let uri = format!("{BINDING}?service_id=s&plan_id=p");
    assert_error(&send(service, empty(req(Method::DELETE, &uri))).await, 410);
}

#[tokio::test]
async fn fetch_binding_returns_200_when_retrievable() {
    let (broker, service) = setup();
    let answered = send(service, empty(req(Method::GET, BINDING))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json()["credentials"]["password"], "s3cret");
    assert_eq!(broker.last_call().op, "fetch_binding");
}

#[tokio::test]
async fn fetch_binding_returns_404_unless_the_catalog_declares_it() {
    // The service_id hint names an offering without bindings_retrievable.
    let (broker, service) = setup();
    let answered = send(
        service,
        empty(req(Method::GET, &format!("{BINDING}?service_id=svc-queue"))),
    )
    .await;
    assert_error(&answered, 404);
    assert!(broker.calls().is_empty());
    // No offering declares it.
    let mut catalog = catalog();
    catalog.services.remove(0);
    let broker = std::sync::Arc::new(TestBroker::with_catalog(catalog));
    let service = osb_tower::OsbService::new(broker.clone());
    assert_error(&send(service, empty(req(Method::GET, BINDING))).await, 404);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn fetch_binding_in_progress_is_the_brokers_404() {
    let (broker, service) = setup();
    set(&broker.fetch_binding, || Err(BrokerError::not_found()));
    assert_error(&send(service, empty(req(Method::GET, BINDING))).await, 404);
}
