//! `PUT /v2/service_instances/:instance_id`: every status the library decides, and the broker's
//! answers passed through.
#![allow(clippy::unwrap_used)]

mod support;

use http::Method;
use osb_core::{
    BrokerError, OperationToken, ProvisionAccepted, ProvisionResponse, ProvisionedInstance,
};
use serde_json::json;
use support::*;

type MakeError = fn() -> BrokerError;

fn provision(body: impl Into<String>) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    json_body(req(Method::PUT, INSTANCE), body)
}

#[tokio::test]
async fn provision_created_returns_201_with_dashboard_url() {
    let (broker, service) = setup();
    let answered = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
    assert_eq!(answered.status, 201);
    assert_eq!(
        answered.json(),
        json!({"dashboard_url": "https://dash.example.com/inst-1"})
    );
    let call = broker.last_call();
    assert_eq!(
        (call.op, call.instance_id.as_str()),
        ("provision", "inst-1")
    );
    assert_eq!(call.detail, "svc-db plan-small");
}

#[tokio::test]
async fn provision_identical_returns_200() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        Ok(ProvisionResponse::AlreadyExists(
            ProvisionedInstance::default(),
        ))
    });
    let answered = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json(), json!({}));
}

#[tokio::test]
async fn provision_async_returns_202_with_operation_when_accepts_incomplete() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        Ok(ProvisionResponse::Accepted(
            ProvisionAccepted::with_operation(OperationToken::new("op-1").unwrap()),
        ))
    });
    let request = json_body(
        req(Method::PUT, &format!("{INSTANCE}?accepts_incomplete=true")),
        fixture("provision_cloudfoundry.json"),
    );
    let answered = send(service, request).await;
    assert_eq!(answered.status, 202);
    assert_eq!(answered.json(), json!({"operation": "op-1"}));
    assert!(broker.last_call().accepts_incomplete);
}

#[tokio::test]
async fn provision_202_without_accepts_incomplete_is_a_broker_bug_answered_500() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        Ok(ProvisionResponse::Accepted(ProvisionAccepted::default()))
    });
    let answered = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
    assert_error(&answered, 500);
}

#[tokio::test]
async fn provision_broker_errors_pass_through_with_spec_codes() {
    let cases: [(MakeError, u16, Option<&str>); 4] = [
        (BrokerError::conflict, 409, None),
        (BrokerError::async_required, 422, Some("AsyncRequired")),
        (
            BrokerError::concurrency_error,
            422,
            Some("ConcurrencyError"),
        ),
        (|| BrokerError::bad_request("quota"), 400, None),
    ];
    for (make, status, code) in cases {
        let (broker, service) = setup();
        set(&broker.provision, move || Err(make()));
        let answered = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
        assert_error(&answered, status);
        assert_eq!(answered.error().as_deref(), code);
    }
}

#[tokio::test]
async fn provision_error_never_carries_usability_flags() {
    let (broker, service) = setup();
    set(&broker.provision, || {
        Err(BrokerError::bad_request("no")
            .with_instance_usable(false)
            .with_update_repeatable(true))
    });
    let answered = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
    assert_error(&answered, 400);
    let body = answered.json();
    assert!(body.get("instance_usable").is_none() && body.get("update_repeatable").is_none());
}

#[tokio::test]
async fn provision_ibmcloud_context_without_org_and_space_is_accepted() {
    let (broker, service) = setup();
    let answered = send(service, provision(fixture("provision_ibmcloud.json"))).await;
    assert_eq!(answered.status, 201);
    assert_eq!(broker.ops(), ["provision"]);
}

#[tokio::test]
async fn provision_without_context_requires_organization_and_space_guid() {
    for body in [
        json!({"service_id": "svc-db", "plan_id": "plan-small", "space_guid": "s"}),
        json!({"service_id": "svc-db", "plan_id": "plan-small", "organization_guid": "o"}),
        json!({"service_id": "svc-db", "plan_id": "plan-small", "organization_guid": "", "space_guid": "s"}),
    ] {
        let (broker, service) = setup();
        let answered = send(service, provision(body.to_string())).await;
        assert_error(&answered, 400);
        assert!(
            answered.description().contains("_guid"),
            "{}",
            answered.description()
        );
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn provision_strict_mode_requires_organization_and_space_even_with_context() {
    let broker = std::sync::Arc::new(TestBroker::default());
    let service = osb_tower::OsbService::builder(broker.clone())
        .require_organization_and_space(true)
        .build();
    let answered = send(
        service.clone(),
        provision(fixture("provision_ibmcloud.json")),
    )
    .await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("organization_guid"));
    let ok = send(service, provision(fixture("provision_cloudfoundry.json"))).await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn provision_missing_or_empty_ids_return_400_naming_the_field() {
    for (body, field) in [
        (
            json!({"plan_id": "plan-small", "context": {}}),
            "service_id",
        ),
        (
            json!({"service_id": "", "plan_id": "plan-small", "context": {}}),
            "service_id",
        ),
        (json!({"service_id": "svc-db", "context": {}}), "plan_id"),
        (
            json!({"service_id": "svc-db", "plan_id": "", "context": {}}),
            "plan_id",
        ),
    ] {
        let (broker, service) = setup();
        let answered = send(service, provision(body.to_string())).await;
        assert_error(&answered, 400);
        assert!(
            answered.description().contains(field),
            "{}",
            answered.description()
        );
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn provision_unknown_service_or_plan_returns_400() {
    for (service_id, plan_id, words) in [
        ("nope", "plan-small", "service_id"),
        ("svc-db", "nope", "plan_id"),
        ("svc-db", "plan-queue", "not a plan of the service"),
    ] {
        let (broker, service) = setup();
        let body =
            json!({"service_id": service_id, "plan_id": plan_id, "context": {"platform": "x"}});
        let answered = send(service, provision(body.to_string())).await;
        assert_error(&answered, 400);
        assert!(
            answered.description().contains(words),
            "{}",
            answered.description()
        );
        assert!(broker.calls().is_empty());
    }
}

#[tokio::test]
async fn provision_maintenance_info_mismatch_returns_422_maintenance_info_conflict() {
    let (broker, service) = setup();
    let body = json!({"service_id": "svc-db", "plan_id": "plan-small", "context": {}, "maintenance_info": {"version": "0.9.0"}});
    let answered = send(service, provision(body.to_string())).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("MaintenanceInfoConflict"));
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn provision_maintenance_info_for_plan_without_one_is_a_conflict() {
    let (_, service) = setup();
    let body = json!({"service_id": "svc-db", "plan_id": "plan-nobind", "context": {}, "maintenance_info": {"version": "1.0.0"}});
    let answered = send(service, provision(body.to_string())).await;
    assert_error(&answered, 422);
    assert_eq!(answered.error().as_deref(), Some("MaintenanceInfoConflict"));
}

#[tokio::test]
async fn provision_matching_or_absent_maintenance_info_is_accepted() {
    let (_, service) = setup();
    // `maintenance_info: {}` (osb-checker) means "not provided": no check.
    let answered = send(
        service.clone(),
        provision(fixture("provision_osb_checker_minimal.json")),
    )
    .await;
    assert_eq!(answered.status, 201);
    let body = json!({"service_id": "svc-db", "plan_id": "plan-nobind", "context": {}});
    assert_eq!(send(service, provision(body.to_string())).await.status, 201);
}

#[tokio::test]
async fn provision_non_semver_maintenance_version_returns_400() {
    let (_, service) = setup();
    let body = json!({"service_id": "svc-db", "plan_id": "plan-small", "context": {}, "maintenance_info": {"version": "latest"}});
    let answered = send(service, provision(body.to_string())).await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("maintenance_info"));
}

#[tokio::test]
async fn provision_unknown_fields_are_ignored() {
    let (_, service) = setup();
    let mut body = fixture_json("provision_cloudfoundry.json");
    body["vendor_extension"] = json!({"anything": [1, 2, 3]});
    let answered = send(service, provision(body.to_string())).await;
    assert_eq!(answered.status, 201);
}

#[tokio::test]
async fn provision_bad_accepts_incomplete_returns_400() {
    let (broker, service) = setup();
    let request = json_body(
        req(Method::PUT, &format!("{INSTANCE}?accepts_incomplete=yes")),
        fixture("provision_cloudfoundry.json"),
    );
    let answered = send(service, request).await;
    assert_error(&answered, 400);
    assert!(answered.description().contains("accepts_incomplete"));
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn provision_empty_accepts_incomplete_means_false() {
    let (broker, service) = setup();
    let request = json_body(
        req(Method::PUT, &format!("{INSTANCE}?accepts_incomplete=")),
        fixture("provision_cloudfoundry.json"),
    );
    assert_eq!(send(service, request).await.status, 201);
    assert!(!broker.last_call().accepts_incomplete);
}
