//! The example's metered plan (issue 9): on only when configured, served beside the reporter,
//! which stops with the broker.
#![allow(clippy::unwrap_used)]

use minimal_broker::logic::{METERED_PLAN_ID, SERVICE_ID};
use osb_e2e_tests::fake_iam::{API_KEY, FakeIam};
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::{RunningBroker, test_config};

#[tokio::test]
async fn metered_plan_is_provisioned_and_bound_with_the_usage_reporter_running() {
    let iam = FakeIam::start().await;
    let mut config = test_config();
    config.ibm.iam_url = iam.url().to_owned();
    config.ibm.iam_api_key = Some(API_KEY.parse().unwrap());
    // Nothing is due within the test (windows close on the hour), so nothing is sent here.
    config.ibm.metering_url = Some("http://127.0.0.1:9".to_owned());
    let broker = RunningBroker::start(config).await;
    let platform = broker.platform();

    let catalog = platform.catalog().await.expect(200);
    let plans = catalog.body["services"][0]["plans"].as_array().unwrap();
    assert!(plans.iter().any(|plan| plan["id"] == METERED_PLAN_ID));
    platform
        .provision("m-1", &provision_body(METERED_PLAN_ID), false)
        .await
        .expect(201);
    platform
        .bind("m-1", "b-1", &bind_body(METERED_PLAN_ID, None))
        .await
        .expect(201);
    platform
        .unbind("m-1", "b-1", SERVICE_ID, METERED_PLAN_ID)
        .await
        .expect(200);
    platform
        .deprovision("m-1", SERVICE_ID, METERED_PLAN_ID)
        .await
        .expect(200);
    // The reporter shuts down with the server.
    broker.stop().await;
}

#[tokio::test]
async fn metering_url_over_plain_http_off_loopback_is_refused_at_start() {
    let mut config = test_config();
    config.ibm.iam_api_key = Some(API_KEY.parse().unwrap());
    config.ibm.metering_url = Some("http://billing.example.com".to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = minimal_broker::serve(listener, config, async {}).await;
    assert!(result.is_err());
}
