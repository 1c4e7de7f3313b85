//! The OSB service behind `RequireAuthLayer<Basic>`, served by hyper 1 directly (hyper-util's
//! `TowerToHyperService`) over real loopback TCP.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod mount_support;

use mount_support::{TestBroker, basic, client, drive_catalog_and_provision, serve_hyper};
use osb_tower::OsbService;
use osb_tower::auth::RequireAuthLayer;
use tower::Layer;

#[tokio::test]
async fn hyper_serves_catalog_and_provision_with_401_before_412() {
    let service = RequireAuthLayer::new(basic()).layer(OsbService::new(TestBroker::new()));
    let server = serve_hyper(service).await;
    drive_catalog_and_provision(&client(), &server.url("")).await;
}

#[tokio::test]
async fn hyper_serves_the_osb_service_under_a_path_prefix() {
    let osb = OsbService::builder(TestBroker::new())
        .path_prefix("/broker")
        .build();
    let server = serve_hyper(RequireAuthLayer::new(basic()).layer(osb)).await;
    drive_catalog_and_provision(&client(), &server.url("/broker")).await;
}
