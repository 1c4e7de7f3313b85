//! Routing: 404 / 405 with `Allow`, percent-decoded ids, prefix mounting (own prefix and axum's
//! `nest_service`).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use http::Method;
use osb_tower::{Endpoint, OsbService};
use support::*;

#[tokio::test]
async fn unknown_path_returns_404_json() {
    for path in [
        "/",
        "/v2",
        "/v2/catalog/",
        "/v2/service_instances/",
        "/v3/catalog",
        "/v2/service_instances/i/nope",
    ] {
        let (_, service) = setup();
        let answered = send(service, empty(req(Method::GET, path))).await;
        assert_error(&answered, 404);
    }
}

#[tokio::test]
async fn wrong_method_returns_405_with_allow() {
    let cases = [
        (Method::POST, "/v2/catalog", "GET"),
        (Method::POST, INSTANCE, "PUT, PATCH, DELETE, GET"),
        (Method::PUT, "/v2/service_instances/i/last_operation", "GET"),
        (Method::PATCH, BINDING, "PUT, DELETE, GET"),
        (
            Method::DELETE,
            "/bluemix_v1/service_instances/i",
            "GET, PUT",
        ),
    ];
    for (method, path, allow) in cases {
        let (broker, service) = setup();
        let answered = send(service, empty(req(method.clone(), path))).await;
        assert_error(&answered, 405);
        assert_eq!(answered.header("allow"), Some(allow), "{method} {path}");
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn crn_instance_ids_are_percent_decoded_after_splitting() {
    let (broker, service) = setup();
    let crn = "crn:v1:bluemix:public:db-service:us-south:a/0123abcd:416d769b::";
    let encoded =
        "crn%3Av1%3Abluemix%3Apublic%3Adb-service%3Aus-south%3Aa%2F0123abcd%3A416d769b%3A%3A";
    let uri = format!("/v2/service_instances/{encoded}/service_bindings/crn%3Av1%3Akey%2F1");
    let answered = send(
        service,
        json_body(req(Method::PUT, &uri), fixture("bind_app.json")),
    )
    .await;
    assert_eq!(answered.status, 201);
    let call = broker.last_call();
    assert_eq!(call.instance_id, crn);
    assert_eq!(call.binding_id.as_deref(), Some("crn:v1:key/1"));
}

#[tokio::test]
async fn id_that_is_not_utf8_after_decoding_returns_400() {
    let (broker, service) = setup();
    let answered = send(
        service,
        empty(req(Method::GET, "/v2/service_instances/%FF/last_operation")),
    )
    .await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("instance_id"));
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn responses_carry_the_endpoint_in_their_extensions() {
    let (_, service) = setup();
    let answered = send(
        service,
        empty(req(Method::GET, "/v2/service_instances/i/last_operation")),
    )
    .await;
    assert_eq!(
        answered.extensions.get::<Endpoint>(),
        Some(&Endpoint::LastOperation)
    );
}

#[tokio::test]
async fn path_prefix_serves_under_the_prefix_only() {
    let broker = Arc::new(TestBroker::default());
    let service = OsbService::builder(broker.clone())
        .path_prefix("/broker/")
        .build();
    let answered = send(
        service.clone(),
        empty(req(Method::GET, "/broker/v2/catalog")),
    )
    .await;
    assert_eq!(answered.status, 200);
    let uri = "/broker/v2/service_instances/i-9?service_id=s&plan_id=p";
    assert_eq!(
        send(service.clone(), empty(req(Method::DELETE, uri)))
            .await
            .status,
        200
    );
    assert_eq!(broker.last_call().instance_id, "i-9");
    assert_error(
        &send(service.clone(), empty(req(Method::GET, "/v2/catalog"))).await,
        404,
    );
    assert_error(
        &send(service, empty(req(Method::GET, "/brokerv2/catalog"))).await,
        404,
    );
}

#[tokio::test]
async fn axum_nest_service_strips_the_prefix_beside_application_routes() {
    let broker = Arc::new(TestBroker::default());
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest_service("/broker", OsbService::new(broker.clone()));
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        req(Method::GET, "/broker/v2/catalog")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        req(Method::PUT, "/broker/v2/service_instances/crn%3Ax%2Fy")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(fixture("provision_ibmcloud.json")))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(broker.last_call().instance_id, "crn:x/y");
    let response = tower::ServiceExt::oneshot(
        app,
        http::Request::get("/health")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
}
