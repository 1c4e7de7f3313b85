//! `BrokerError` and the OSB error body (spec.md "Service Broker Errors").
//!
//! Every body carries a non-empty description, the spec's error code where it defines one, and
//! never the internal cause of a 500.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use std::error::Error as _;

use http::StatusCode;
use osb_core::{BrokerError, ErrorBody, ErrorKind};
use serde_json::json;
use support::assert_no_null_or_empty;

fn every_kind() -> Vec<BrokerError> {
    vec![
        BrokerError::bad_request("The plan does not belong to the service."),
        BrokerError::not_found(),
        BrokerError::conflict(),
        BrokerError::gone(),
        BrokerError::async_required(),
        BrokerError::concurrency_error(),
        BrokerError::requires_app(),
        BrokerError::maintenance_info_conflict(),
        BrokerError::unprocessable("The plan change is not supported."),
        BrokerError::status_code(StatusCode::FORBIDDEN, "The instance is disabled."),
        BrokerError::internal(std::io::Error::other("connection refused to 10.0.0.3:5432")),
    ]
}

#[test]
fn every_kind_maps_to_the_spec_status_and_error_code() {
    let expected = [
        (400, None),
        (404, None),
        (409, None),
        (410, None),
        (422, Some("AsyncRequired")),
        (422, Some("ConcurrencyError")),
        (422, Some("RequiresApp")),
        (422, Some("MaintenanceInfoConflict")),
        (422, None),
        (403, None),
        (500, None),
    ];
    for (error, (status, code)) in every_kind().into_iter().zip(expected) {
        assert_eq!(error.status().as_u16(), status, "{error}");
        assert_eq!(error.to_body().error.as_deref(), code, "{error}");
        assert_eq!(error.kind().status(), error.status());
    }
}

#[test]
fn every_body_has_a_non_empty_description_and_no_null() {
    for error in every_kind() {
        let body = serde_json::to_value(error.to_body()).unwrap();
        assert!(
            body["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        assert_no_null_or_empty(&body);
    }
}

#[test]
fn empty_description_is_never_emitted() {
    let error = BrokerError::bad_request("");
    assert!(!error.description().is_empty());
    let body = serde_json::to_value(error.to_body()).unwrap();
    assert_no_null_or_empty(&body);

    let error = BrokerError::concurrency_error().with_description("");
    assert_eq!(error.to_body().error.as_deref(), Some("ConcurrencyError"));
    assert!(!error.to_body().description.unwrap().is_empty());

    let body = ErrorBody::with_description("");
    assert_eq!(serde_json::to_value(&body).unwrap(), json!({}));
    assert_eq!(
        serde_json::to_value(ErrorBody::default()).unwrap(),
        json!({})
    );
}

#[test]
fn internal_cause_never_reaches_the_body_or_the_display() {
    let error = BrokerError::internal(std::io::Error::other("password=hunter2 at db.internal"));
    let body = serde_json::to_string(&error.to_body()).unwrap();
    assert!(
        !body.contains("hunter2") && !body.contains("db.internal"),
        "{body}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        error.source().unwrap().to_string().contains("hunter2"),
        "kept for logs"
    );

    let with_source = BrokerError::unprocessable("Quota exceeded.")
        .with_source(std::io::Error::other("tenant 42 at 98%"));
    let body = serde_json::to_string(&with_source.to_body()).unwrap();
    assert!(!body.contains("tenant 42"), "{body}");
    assert!(body.contains("Quota exceeded."), "{body}");
}

#[test]
fn custom_error_code_only_where_the_spec_defines_none() {
    let custom = BrokerError::status_code(StatusCode::FORBIDDEN, "Disabled.")
        .with_error_code("InstanceDisabled");
    assert_eq!(custom.to_body().error.as_deref(), Some("InstanceDisabled"));
    assert!(custom.to_string().contains("InstanceDisabled"), "{custom}");
    let spec = BrokerError::async_required().with_error_code("SomethingElse");
    assert_eq!(spec.to_body().error.as_deref(), Some("AsyncRequired"));
    let empty = BrokerError::bad_request("x").with_error_code("");
    assert_eq!(empty.to_body().error, None);
}

#[test]
fn usability_flags_reach_the_body_when_set() {
    let error = BrokerError::unprocessable("Nope.")
        .with_instance_usable(false)
        .with_update_repeatable(true);
    assert_eq!(error.instance_usable(), Some(false));
    assert_eq!(error.update_repeatable(), Some(true));
    assert_eq!(
        serde_json::to_value(error.to_body()).unwrap(),
        json!({"description": "Nope.", "instance_usable": false, "update_repeatable": true})
    );
    let plain = serde_json::to_value(BrokerError::conflict().to_body()).unwrap();
    assert!(plain.get("instance_usable").is_none() && plain.get("update_repeatable").is_none());
}

#[test]
fn non_error_statuses_become_internal_errors() {
    for status in [
        StatusCode::OK,
        StatusCode::ACCEPTED,
        StatusCode::MOVED_PERMANENTLY,
    ] {
        let error = BrokerError::status_code(status, "odd");
        assert_eq!(
            error.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{status}"
        );
        assert_eq!(error.kind(), ErrorKind::Internal);
    }
    let error = BrokerError::status_code(StatusCode::SERVICE_UNAVAILABLE, "Maintenance.");
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn error_body_parses_leniently() {
    let body: ErrorBody =
        serde_json::from_value(json!({"description": "x", "unknown": 1})).unwrap();
    assert_eq!(body.description.as_deref(), Some("x"));
    let empty: ErrorBody = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, ErrorBody::default());
}

#[test]
fn kind_converts_into_an_error_with_its_default_description() {
    let error: BrokerError = ErrorKind::Gone.into();
    assert_eq!(error.status(), StatusCode::GONE);
    assert!(!error.description().is_empty());
}
