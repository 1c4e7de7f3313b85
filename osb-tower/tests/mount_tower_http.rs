//! The OSB service under tower-http's `TraceLayer`, `TimeoutLayer` and `CompressionLayer`, with
//! `RequireAuthLayer<Basic>` in front of it, served by hyper over real loopback TCP.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod mount_support;

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mount_support::{
    PASSWORD, TestBroker, USER, authorization, basic, client, drive_catalog_and_provision,
    serve_hyper,
};
use osb_tower::OsbService;
use osb_tower::auth::RequireAuthLayer;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::DecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

async fn serve_stack() -> mount_support::Server {
    let service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CompressionLayer::new())
        .layer(RequireAuthLayer::new(basic()))
        .service(OsbService::new(TestBroker::new()));
    serve_hyper(service).await
}

#[tokio::test]
async fn tower_http_stack_serves_catalog_and_provision_with_401_before_412() {
    let server = serve_stack().await;
    drive_catalog_and_provision(&client(), &server.url("")).await;
}

#[tokio::test]
async fn tower_http_compression_applies_to_osb_answers_and_rejections() {
    let server = serve_stack().await;
    // The client side decompresses, as a platform's HTTP client would.
    let client = ServiceBuilder::new()
        .layer(DecompressionLayer::new())
        .service(client());
    let request = |authorization: Option<String>| {
        let mut builder = Request::get(server.url("/v2/catalog"))
            .header("x-broker-api-version", "2.17")
            .header(ACCEPT_ENCODING, "gzip");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(Full::new(Bytes::new())).unwrap()
    };

    let raw = mount_support::client()
        .request(request(Some(authorization(USER, PASSWORD))))
        .await
        .unwrap();
    assert_eq!(raw.headers()[CONTENT_ENCODING], "gzip");

    let response = client
        .clone()
        .oneshot(request(Some(authorization(USER, PASSWORD))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(catalog["services"][0]["id"], "svc");

    let response = client.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"], "Unauthorized");
}
