//! The order of checks (401 → 412 → 400 → 404/410), version negotiation, headers, bodies and
//! robustness (osb-core rules.md §4, §16).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http_body_util::{Full, StreamBody};
use osb_core::{ApiVersion, BrokerError, OriginatingIdentity, ProvisionResponse};
use osb_tower::auth::{Basic, RequireAuthLayer};
use osb_tower::{MissingVersion, OsbService};
use serde_json::json;
use support::*;
use tower::Layer;

const AUTH: &str = "Basic dXNlcjpwYXNz"; // user:pass

fn authed() -> (
    Arc<TestBroker>,
    impl tower::Service<
        http::Request<Full<Bytes>>,
        Response = http::Response<osb_tower::ResponseBody>,
        Error = std::convert::Infallible,
    > + Clone,
) {
    let broker = Arc::new(TestBroker::default());
    let service =
        RequireAuthLayer::new(Basic::new("user", "pass")).layer(OsbService::new(broker.clone()));
    (broker, service)
}

// -- order of checks ---------------------------------------------------------------------------

#[tokio::test]
async fn order_401_before_412_before_400_before_404() {
    let (broker, service) = authed();
    // No credentials, no version, bad query, unknown instance: 401 wins.
    let uri = "/v2/service_instances/unknown/last_operation";
    let answered = send(
        service.clone(),
        empty(bare(
            Method::DELETE,
            "/v2/service_instances/unknown?accepts_incomplete=maybe",
        )),
    )
    .await;
    assert_error(&answered, 401);
    assert!(
        answered
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    // Credentials, no version: 412.
    let answered = send(
        service.clone(),
        empty(
            bare(
                Method::DELETE,
                "/v2/service_instances/unknown?accepts_incomplete=maybe",
            )
            .header("authorization", AUTH),
        ),
    )
    .await;
    assert_error(&answered, 412);
    // Credentials and version, bad query: 400.
    let answered = send(
        service.clone(),
        empty(
            req(
                Method::DELETE,
                "/v2/service_instances/unknown?accepts_incomplete=maybe",
            )
            .header("authorization", AUTH),
        ),
    )
    .await;
    assert_error(&answered, 400);
    assert!(broker.calls().is_empty());
    // Everything fine: the broker's 404.
    set(&broker.last_operation, || Err(BrokerError::not_found()));
    let answered = send(
        service,
        empty(req(Method::GET, uri).header("authorization", AUTH)),
    )
    .await;
    assert_error(&answered, 404);
    assert_eq!(broker.ops(), ["last_operation"]);
}

#[tokio::test]
async fn version_is_checked_before_the_body() {
    let (broker, service) = setup();
    let request = json_body(bare(Method::PUT, INSTANCE), "{not json");
    assert_error(&send(service, request).await, 412);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn body_is_checked_before_the_catalog() {
    let (broker, service) = setup();
    let request = json_body(req(Method::PUT, INSTANCE), "{not json");
    assert_error(&send(service, request).await, 400);
    assert_eq!(*broker.catalog_calls.lock().unwrap(), 0);
}

// -- version negotiation -----------------------------------------------------------------------

#[tokio::test]
async fn missing_or_empty_version_returns_412_naming_the_supported_range() {
    for builder in [
        bare(Method::GET, "/v2/catalog"),
        bare(Method::GET, "/v2/catalog").header("X-Broker-API-Version", ""),
    ] {
        let (_, service) = setup();
        let answered = send(service, empty(builder)).await;
        assert_error(&answered, 412);
        assert!(
            answered.description().contains("2.12"),
            "{}",
            answered.description()
        );
    }
}

#[tokio::test]
async fn missing_version_returns_400_when_configured() {
    let service = OsbService::builder(Arc::new(TestBroker::default()))
        .missing_version(MissingVersion::BadRequest)
        .build();
    assert_error(
        &send(service, empty(bare(Method::GET, "/v2/catalog"))).await,
        400,
    );
}

#[tokio::test]
async fn unsupported_versions_return_412_on_every_endpoint() {
    let paths = [
        (Method::GET, "/v2/catalog".to_owned()),
        (Method::PUT, INSTANCE.to_owned()),
        (Method::PATCH, INSTANCE.to_owned()),
        (Method::DELETE, format!("{INSTANCE}?service_id=s&plan_id=p")),
        (Method::GET, INSTANCE.to_owned()),
        (Method::GET, format!("{INSTANCE}/last_operation")),
        (Method::PUT, BINDING.to_owned()),
        (Method::DELETE, format!("{BINDING}?service_id=s&plan_id=p")),
        (Method::GET, BINDING.to_owned()),
        (Method::GET, format!("{BINDING}/last_operation")),
    ];
    for (method, path) in paths {
        for version in ["2.11", "1.0", "3.0", "two"] {
            let (broker, service) = setup();
            let request =
                empty(bare(method.clone(), &path).header("X-Broker-API-Version", version));
            let answered = send(service, request).await;
            assert_error(&answered, 412);
            assert!(broker.calls().is_empty());
        }
    }
}

#[tokio::test]
async fn ibm_cloud_version_2_12_is_accepted_and_recorded() {
    let (broker, service) = setup();
    let request = json_body(
        bare(Method::PUT, INSTANCE).header("X-Broker-Api-Version", "2.12"),
        fixture("provision_ibmcloud.json"),
    );
    assert_eq!(send(service, request).await.status, 201);
    assert_eq!(broker.last_call().api_version, ApiVersion::V2_12);
}

#[tokio::test]
async fn endpoints_of_2_14_refused_to_older_platforms_only_when_enabled() {
    let uri = format!("{BINDING}/last_operation");
    let (_, service) = setup();
    let request = empty(bare(Method::GET, &uri).header("X-Broker-API-Version", "2.13"));
    assert_eq!(send(service, request).await.status, 200);
    let service = OsbService::builder(Arc::new(TestBroker::default()))
        .enforce_endpoint_versions(true)
        .build();
    let request = empty(bare(Method::GET, &uri).header("X-Broker-API-Version", "2.13"));
    let answered = send(service, request).await;
    assert_error(&answered, 412);
    assert!(answered.description().contains("2.14"));
}

#[tokio::test]
async fn max_version_bounds_the_range() {
    let service = OsbService::builder(Arc::new(TestBroker::default()))
        .min_api_version(ApiVersion::V2_13)
        .max_api_version(ApiVersion::V2_16)
        .build();
    let request = empty(bare(Method::GET, "/v2/catalog").header("X-Broker-API-Version", "2.17"));
    let answered = send(service, request).await;
    assert_error(&answered, 412);
    assert!(answered.description().contains("2.13 to 2.16"));
}

// -- headers -----------------------------------------------------------------------------------

#[tokio::test]
async fn request_identity_is_echoed_on_every_answer() {
    let cases = [
        req(Method::GET, "/v2/catalog"),
        req(Method::GET, "/nowhere"),
        req(Method::POST, "/v2/catalog"),
        bare(Method::GET, "/v2/catalog"),
        req(Method::DELETE, INSTANCE),
    ];
    for builder in cases {
        let (_, service) = setup();
        let answered = send(
            service,
            empty(builder.header("X-Broker-API-Request-Identity", "req-42")),
        )
        .await;
        assert_eq!(
            answered.header("x-broker-api-request-identity"),
            Some("req-42"),
            "status {}",
            answered.status
        );
    }
    let (broker, service) = setup();
    let request = json_body(
        req(Method::PUT, INSTANCE).header("X-Broker-API-Request-Identity", "req-7"),
        fixture("provision_cloudfoundry.json"),
    );
    send(service, request).await;
    assert_eq!(
        broker.last_call().request_identity.as_deref(),
        Some("req-7")
    );
}

#[tokio::test]
async fn originating_identity_is_parsed_into_the_context() {
    let (broker, service) = setup();
    let identity = OriginatingIdentity::new("cloudfoundry", json!({"user_id": "u-1"})).unwrap();
    let request = json_body(
        req(Method::PUT, INSTANCE).header(
            "X-Broker-API-Originating-Identity",
            identity.to_header_value(),
        ),
        fixture("provision_cloudfoundry.json"),
    );
    assert_eq!(send(service, request).await.status, 201);
    assert_eq!(
        broker.last_call().originating_platform.as_deref(),
        Some("cloudfoundry")
    );
}

#[tokio::test]
async fn malformed_originating_identity_returns_400() {
    for value in [
        "cloudfoundry",
        "cloudfoundry !!!",
        "cloudfoundry bm90IGpzb24=",
    ] {
        let (broker, service) = setup();
        let request = empty(
            req(Method::GET, "/v2/catalog").header("X-Broker-API-Originating-Identity", value),
        );
        let answered = send(service, request).await;
        assert_error(&answered, 400);
        assert!(answered.description().contains("Originating-Identity"));
        assert_eq!(*broker.catalog_calls.lock().unwrap(), 0);
    }
}

#[tokio::test]
async fn request_extensions_reach_the_broker_context() {
    let (broker, service) = setup();
    let mut request = json_body(
        req(Method::PUT, INSTANCE),
        fixture("provision_cloudfoundry.json"),
    );
    request.extensions_mut().insert(Marker("claims".to_owned()));
    send(service, request).await;
    assert_eq!(broker.last_call().marker, Some(Marker("claims".to_owned())));
}

// -- bodies ------------------------------------------------------------------------------------

#[tokio::test]
async fn content_type_other_than_json_is_accepted_when_the_body_parses() {
    let (_, service) = setup();
    let request = req(Method::PUT, INSTANCE)
        .header("Content-Type", "text/plain")
        .body(Full::new(Bytes::from(fixture(
            "provision_cloudfoundry.json",
        ))))
        .unwrap();
    assert_eq!(send(service, request).await.status, 201);
}

#[tokio::test]
async fn content_type_other_than_json_with_unparseable_body_returns_400() {
    let (_, service) = setup();
    let request = req(Method::PUT, INSTANCE)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from("service_id=svc-db")))
        .unwrap();
    let answered = send(service, request).await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("Content-Type"));
}

#[tokio::test]
async fn malformed_json_returns_400_naming_the_position() {
    let (_, service) = setup();
    let answered = send(
        service,
        json_body(req(Method::PUT, INSTANCE), "{\"service_id\": \"svc-db\",}"),
    )
    .await;
    assert_error(&answered, 400);
    assert!(
        answered.description().contains("line 1 column"),
        "{}",
        answered.description()
    );
}

#[tokio::test]
async fn json_errors_never_echo_parameter_values() {
    let (_, service) = setup();
    let body =
        json!({"service_id": "svc-db", "plan_id": "plan-small", "parameters": "password=hunter2"});
    let answered = send(
        service,
        json_body(req(Method::PUT, INSTANCE), body.to_string()),
    )
    .await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("parameters"));
    assert!(!String::from_utf8_lossy(&answered.body).contains("hunter2"));
}

#[tokio::test]
async fn empty_body_returns_400() {
    let (_, service) = setup();
    let answered = send(service, json_body(req(Method::PUT, INSTANCE), "")).await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("empty"));
}

#[tokio::test]
async fn declared_body_over_the_limit_returns_413_before_reading() {
    let broker = Arc::new(TestBroker::default());
    let service = OsbService::builder(broker.clone())
        .max_body_size(64)
        .build();
    let body = fixture("provision_cloudfoundry.json");
    assert!(body.len() > 64);
    let answered = send(service, json_body(req(Method::PUT, INSTANCE), body)).await;
    assert_error(&answered, 413);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn streamed_body_over_the_limit_returns_413_while_reading() {
    let broker = Arc::new(TestBroker::default());
    let service = OsbService::builder(broker.clone())
        .max_body_size(1024)
        .build();
    // No Content-Length and no size hint: the cap applies while reading.
    let chunks = (0..64).map(|_| {
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![b' '; 100])))
    });
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    let request = req(Method::PUT, INSTANCE).body(body).unwrap();
    let answered = send(service, request).await;
    assert_error(&answered, 413);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn default_body_limit_is_one_mebibyte() {
    let (_, service) = setup();
    let mut body = fixture_json("provision_cloudfoundry.json");
    body["parameters"]["blob"] = json!("x".repeat(1024 * 1024));
    assert_error(
        &send(
            service,
            json_body(req(Method::PUT, INSTANCE), body.to_string()),
        )
        .await,
        413,
    );
}

// -- robustness --------------------------------------------------------------------------------

#[tokio::test]
async fn broker_panic_returns_500_and_the_service_keeps_serving() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        panic!("secret internal state: hunter2")
    });
    let answered = send(
        service.clone(),
        json_body(
            req(Method::PUT, INSTANCE),
            fixture("provision_cloudfoundry.json"),
        ),
    )
    .await;
    assert_error(&answered, 500);
    assert!(!String::from_utf8_lossy(&answered.body).contains("hunter2"));
    set(&broker.provision, || {
        Ok(ProvisionResponse::Created(Default::default()))
    });
    let answered = send(
        service,
        json_body(
            req(Method::PUT, INSTANCE),
            fixture("provision_cloudfoundry.json"),
        ),
    )
    .await;
    assert_eq!(answered.status, 201);
}

#[tokio::test]
async fn internal_error_text_never_reaches_the_client() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        Err(BrokerError::internal(
            "connection string postgres://u:hunter2@db",
        ))
    });
    let answered = send(
        service,
        json_body(
            req(Method::PUT, INSTANCE),
            fixture("provision_cloudfoundry.json"),
        ),
    )
    .await;
    assert_error(&answered, 500);
    assert!(!String::from_utf8_lossy(&answered.body).contains("hunter2"));
}

#[tokio::test]
async fn service_is_always_ready_and_cheap_to_clone() {
    use tower::Service as _;
    let (_, mut service) = setup();
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let ready = tower::Service::<http::Request<Full<Bytes>>>::poll_ready(&mut service, &mut cx);
    assert!(matches!(ready, std::task::Poll::Ready(Ok(()))));
    fn assert_send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    assert_send_sync_clone(&service);
    let response = service
        .call(empty(req(Method::GET, "/v2/catalog")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
