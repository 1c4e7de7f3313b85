//! Deeply nested request JSON (issue 13): the example broker on SQLite and PostgreSQL refuses a
//! body nested deeper than `osb_tower::MAX_JSON_DEPTH` with a 400 naming the field, before
//! anything is stored, and keeps serving and restarting; a body at the limit is stored and read
//! back.
#![allow(clippy::unwrap_used)]

use minimal_broker::logic::{SERVICE_ID, SMALL_PLAN_ID};
use osb_core::managed::StoreUrl;
use osb_e2e_tests::{RunningBroker, test_config};
use reqwest::Method;
use serde_json::Value;

/// A provision body whose `parameters.p` holds `levels` nested arrays around `1`; the body
/// itself is nested `levels + 2` deep.
fn deep_provision(levels: usize) -> String {
    format!(
        r#"{{"service_id":"{SERVICE_ID}","plan_id":"{SMALL_PLAN_ID}","organization_guid":"org","space_guid":"space","parameters":{{"p":{}1{}}}}}"#,
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

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

/// The rule on one database: too deep is a 400 and leaves nothing behind; the broker restarts
/// and the instance at the limit still answers.
async fn deep_bodies_never_poison(database_url: StoreUrl) {
    let mut config = test_config();
    config.database_url = database_url;
    let (deep, at_limit) = (
        format!("deep-{}", uuid::Uuid::new_v4()),
        format!("limit-{}", uuid::Uuid::new_v4()),
    );
    let path = |id: &str| format!("/v2/service_instances/{id}?accepts_incomplete=true");

    let broker = RunningBroker::start(config.clone()).await;
    let platform = broker.platform();
    let refused = platform
        .send_raw(Method::PUT, &path(&deep), Some(deep_provision(125)))
        .await
        .expect_error(400, None);
    let description = refused.body["description"].as_str().unwrap();
    assert!(description.contains("`parameters`"), "{description}");
    assert!(description.contains("64"), "{description}");
    platform.fetch_instance(&deep).await.expect(404);
    // The body at the limit: 64 levels, `parameters.p` 62 of them.
    platform
        .send_raw(Method::PUT, &path(&at_limit), Some(deep_provision(62)))
        .await
        .expect(201);
    platform
        .send_raw(Method::PUT, &path(&deep), Some(deep_provision(63)))
        .await
        .expect_error(400, None);
    broker.stop().await;

    let broker = RunningBroker::start(config).await;
    let platform = broker.platform();
    let fetched = platform.fetch_instance(&at_limit).await.expect(200);
    let mut p = &fetched.body["parameters"]["p"];
    for _ in 0..62 {
        p = &p[0];
    }
    assert_eq!(p, &Value::from(1));
    platform.last_operation(&at_limit, None).await.expect(200);
    platform
        .deprovision(&at_limit, SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(200);
    broker.stop().await;
}

#[tokio::test]
async fn deep_request_json_is_refused_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("osb-nesting-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("broker.db").display());
    deep_bodies_never_poison(url.parse().unwrap()).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn deep_request_json_is_refused_on_postgresql() {
    let Some(url) = postgres_url() else { return };
    deep_bodies_never_poison(url.parse().unwrap()).await;
}
