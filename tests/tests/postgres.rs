//! The example broker on PostgreSQL (`BROKER_DATABASE_URL=postgres://…`), when a test database
//! is given in `OSB_TEST_POSTGRES_URL`. Under `CI=true` it must be given; elsewhere the test
//! says it is skipped.
#![allow(clippy::unwrap_used)]

use minimal_broker::logic::{LARGE_PLAN_ID, SERVICE_ID};
use osb_core::managed::StoreUrl;
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::{RunningBroker, test_config};

fn postgres_url() -> Option<String> {
    match std::env::var("OSB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but OSB_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipped: set OSB_TEST_POSTGRES_URL to run the PostgreSQL end-to-end test");
            None
        }
    }
}

#[tokio::test]
async fn lifecycle_on_postgresql_keeps_state_across_a_restart() {
    let Some(url) = postgres_url() else { return };
    let mut config = test_config();
    config.database_url = url.parse::<StoreUrl>().unwrap();
    let id = format!("pg-{}", uuid::Uuid::new_v4());

    let broker = RunningBroker::start(config.clone()).await;
    let platform = broker.platform();
    platform
        .provision(&id, &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    platform.poll(&id, None).await.expect(200);
    platform
        .bind(&id, "b", &bind_body(LARGE_PLAN_ID, Some("app")))
        .await
        .expect(201);
    broker.stop().await;

    // A second broker (a restart, or another replica) sees the same state.
    let broker = RunningBroker::start(config).await;
    let platform = broker.platform();
    platform
        .provision(&id, &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(200);
    platform.fetch_binding(&id, "b").await.expect(200);
    platform
        .unbind(&id, "b", SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    platform
        .deprovision(&id, SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    platform.fetch_instance(&id).await.expect(404);
    broker.stop().await;
}
