//! The OSB service nested in an axum 0.8 `Router` under `/broker`, beside the application's own
//! `/healthz`, served by `axum::serve` over real loopback TCP.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod mount_support;

use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};
use mount_support::{
    Call, TestBroker, basic, client, drive_catalog_and_provision, listener, send, spawn_server,
};
use osb_tower::OsbService;
use osb_tower::auth::RequireAuthLayer;
use tower::Layer;

async fn serve_app() -> mount_support::Server {
    let osb = RequireAuthLayer::new(basic()).layer(OsbService::new(TestBroker::new()));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .nest_service("/broker", osb);
    let (listener, addr) = listener().await;
    spawn_server(addr, async move {
        // The server runs until the test aborts it; an I/O error fails the test's requests.
        let _ = axum::serve(listener, app).await;
    })
}

#[tokio::test]
async fn axum_router_serves_catalog_and_provision_under_prefix_with_401_before_412() {
    let server = serve_app().await;
    drive_catalog_and_provision(&client(), &server.url("/broker")).await;
}

#[tokio::test]
async fn axum_app_routes_beside_the_broker_need_no_broker_credentials() {
    let server = serve_app().await;
    let client = client();
    let healthz = server.url("/healthz");
    let answer = send(
        &client,
        Call {
            method: &Method::GET,
            url: &healthz,
            authorization: None,
            version: None,
            body: None,
        },
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body.as_ref(), b"ok");

    // Outside the prefix, the OSB paths are the app's (absent) routes, not the broker's.
    let outside = server.url("/v2/catalog");
    let answer = send(
        &client,
        Call {
            method: &Method::GET,
            url: &outside,
            authorization: None,
            version: Some("2.17"),
            body: None,
        },
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}
