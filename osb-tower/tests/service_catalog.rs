//! `GET /v2/catalog`: 200 with the catalog, `ETag`, `If-None-Match` → 304.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use http::Method;
use support::*;

#[tokio::test]
async fn catalog_returns_200_with_the_catalog_and_a_strong_etag() {
    let (_, service) = setup();
    let answered = send(service, empty(req(Method::GET, "/v2/catalog"))).await;
    assert_eq!(answered.status, 200);
    let expected = serde_json::to_value(catalog()).unwrap();
    assert_eq!(answered.json(), expected);
    let etag = answered.header("etag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong etag: {etag}"
    );
}

#[tokio::test]
async fn catalog_if_none_match_with_current_etag_returns_304_without_body() {
    let (_, service) = setup();
    let first = send(service.clone(), empty(req(Method::GET, "/v2/catalog"))).await;
    let etag = first.header("etag").unwrap().to_owned();
    let second = send(
        service.clone(),
        empty(req(Method::GET, "/v2/catalog").header("If-None-Match", &etag)),
    )
    .await;
    assert_eq!(second.status, 304);
    assert!(second.body.is_empty());
    assert_eq!(second.header("etag"), Some(etag.as_str()));
    let weak = send(
        service,
        empty(req(Method::GET, "/v2/catalog").header("If-None-Match", format!("W/{etag}"))),
    )
    .await;
    assert_eq!(weak.status, 304, "If-None-Match uses weak comparison");
}

#[tokio::test]
async fn catalog_if_none_match_with_stale_etag_returns_200() {
    let (broker, service) = setup();
    let first = send(service.clone(), empty(req(Method::GET, "/v2/catalog"))).await;
    let etag = first.header("etag").unwrap().to_owned();
    let mut changed = catalog();
    changed.services.pop();
    *broker.catalog.lock().unwrap() = Arc::new(changed);
    let second = send(
        service,
        empty(req(Method::GET, "/v2/catalog").header("If-None-Match", &etag)),
    )
    .await;
    assert_eq!(second.status, 200);
    assert_ne!(second.header("etag"), Some(etag.as_str()));
    assert_eq!(second.json()["services"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn catalog_failure_returns_500_without_internal_text() {
    let (broker, service) = setup();
    *broker.catalog_error.lock().unwrap() = true;
    let answered = send(service, empty(req(Method::GET, "/v2/catalog"))).await;
    assert_error(&answered, 500);
    assert!(!String::from_utf8_lossy(&answered.body).contains("hunter2"));
}
