//! Complete lifecycles against the example broker over loopback HTTP, as a platform drives them.
#![allow(clippy::unwrap_used)]

use minimal_broker::logic::{DASHBOARD_HOST, LARGE_PLAN_ID, SERVICE_ID, SMALL_PLAN_ID};
use osb_e2e_tests::platform::{bind_body, provision_body, segment};
use osb_e2e_tests::{RunningBroker, test_config};
use serde_json::{Value, json};

/// An IBM Cloud style instance id: a CRN with `:` and `/`, percent-encoded in paths.
const CRN_ID: &str = "crn:v1:bluemix:public:minimal-db:us-south:a/0123abcd:5f0e6a2c-1b7d::";

#[tokio::test]
async fn catalog_shows_a_sync_and_an_async_plan_with_every_feature() {
    let broker = RunningBroker::start(test_config()).await;
    let catalog = broker.platform().catalog().await.expect(200);
    assert!(
        catalog.headers.contains_key("etag"),
        "the catalog carries an ETag"
    );
    let service = &catalog.body["services"][0];
    assert_eq!(service["id"], SERVICE_ID);
    assert_eq!(service["bindable"], true);
    assert_eq!(service["instances_retrievable"], true);
    assert_eq!(service["bindings_retrievable"], true);
    let plans = service["plans"].as_array().unwrap();
    let plan = |id: &str| plans.iter().find(|p| p["id"] == id).unwrap().clone();
    let (small, large) = (plan(SMALL_PLAN_ID), plan(LARGE_PLAN_ID));
    assert_eq!(small["plan_updateable"], true);
    assert_eq!(small["binding_rotatable"], true);
    assert_eq!(small["maintenance_info"]["version"], "1.1.0");
    assert_eq!(large["plan_updateable"], false);
    broker.stop().await;
}

#[tokio::test]
async fn synchronous_lifecycle_provision_fetch_update_bind_unbind_deprovision() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();

    let created = platform
        .provision(CRN_ID, &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    let dashboard = format!("https://{DASHBOARD_HOST}/dashboard/{}", segment(CRN_ID));
    assert_eq!(created.str("dashboard_url"), dashboard);
    // spec.md "Provisioning": an identical repeat is 200.
    platform
        .provision(CRN_ID, &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(200);

    let fetched = platform.fetch_instance(CRN_ID).await.expect(200);
    assert_eq!(fetched.str("service_id"), SERVICE_ID);
    assert_eq!(fetched.str("plan_id"), SMALL_PLAN_ID);
    assert_eq!(fetched.str("dashboard_url"), dashboard);
    assert_eq!(fetched.body["parameters"], json!({"size_gb": 10}));

    // small is plan_updateable: move to large.
    let update = json!({"service_id": SERVICE_ID, "plan_id": LARGE_PLAN_ID,
        "previous_values": {"plan_id": SMALL_PLAN_ID}});
    platform.update(CRN_ID, &update, false).await.expect(200);
    let fetched = platform.fetch_instance(CRN_ID).await.expect(200);
    assert_eq!(fetched.str("plan_id"), LARGE_PLAN_ID);

    // Bindings of large need an application.
    let body = bind_body(LARGE_PLAN_ID, Some("app-guid-1"));
    let bound = platform.bind(CRN_ID, "binding-1", &body).await.expect(201);
    let credentials = bound.body["credentials"].clone();
    for field in ["uri", "username", "password"] {
        assert!(
            !credentials[field].as_str().unwrap().is_empty(),
            "{field} generated"
        );
    }
    platform.bind(CRN_ID, "binding-1", &body).await.expect(200);
    let fetched = platform
        .fetch_binding(CRN_ID, "binding-1")
        .await
        .expect(200);
    assert_eq!(
        fetched.body["credentials"], credentials,
        "the same credentials come back"
    );

    // A second binding gets its own credentials.
    let other = platform.bind(CRN_ID, "binding-2", &body).await.expect(201);
    assert_ne!(
        other.body["credentials"]["password"],
        credentials["password"]
    );

    for binding in ["binding-1", "binding-2"] {
        platform
            .unbind(CRN_ID, binding, SERVICE_ID, LARGE_PLAN_ID)
            .await
            .expect(200);
    }
    platform
        .fetch_binding(CRN_ID, "binding-1")
        .await
        .expect(404);
    platform
        .deprovision(CRN_ID, SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    platform.fetch_instance(CRN_ID).await.expect(404);
    broker.stop().await;
}

#[tokio::test]
async fn asynchronous_provision_is_accepted_then_polled_until_succeeded() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();

    let accepted = platform
        .provision("async-1", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    let operation = accepted.str("operation").to_owned();
    assert!(!operation.is_empty(), "202 carries an operation token");
    assert_eq!(
        accepted.str("dashboard_url"),
        format!("https://{DASHBOARD_HOST}/dashboard/async-1"),
        "an async provision gives its dashboard in the first answer"
    );
    // A repeat while in progress is 202 with the same operation.
    let repeated = platform
        .provision("async-1", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    assert_eq!(repeated.str("operation"), operation);

    let first_poll = platform
        .last_operation("async-1", Some(&operation))
        .await
        .expect(200);
    assert!(
        ["in progress", "succeeded"].contains(&first_poll.str("state")),
        "{first_poll:?}"
    );
    let done = platform.poll("async-1", Some(&operation)).await.expect(200);
    assert_eq!(done.str("state"), "succeeded");

    platform.fetch_instance("async-1").await.expect(200);
    let body = bind_body(LARGE_PLAN_ID, Some("app-guid-1"));
    platform.bind("async-1", "b", &body).await.expect(201);
    platform
        .unbind("async-1", "b", SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    platform
        .deprovision("async-1", SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    broker.stop().await;
}

#[tokio::test]
async fn binding_rotation_gives_new_credentials_on_the_rotatable_plan_only() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("rotate", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    let first = platform
        .bind("rotate", "old", &bind_body(SMALL_PLAN_ID, None))
        .await
        .expect(201);
    let mut rotation = bind_body(SMALL_PLAN_ID, None);
    rotation["predecessor_binding_id"] = json!("old");
    let second = platform.bind("rotate", "new", &rotation).await.expect(201);
    assert_ne!(second.body["credentials"], first.body["credentials"]);
    // Both work until the platform unbinds the predecessor.
    platform.fetch_binding("rotate", "old").await.expect(200);
    platform.fetch_binding("rotate", "new").await.expect(200);

    platform
        .provision("no-rotate", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    platform.poll("no-rotate", None).await.expect(200);
    let body = bind_body(LARGE_PLAN_ID, Some("app"));
    platform.bind("no-rotate", "old", &body).await.expect(201);
    let mut rotation = body.clone();
    rotation["predecessor_binding_id"] = json!("old");
    platform
        .bind("no-rotate", "new", &rotation)
        .await
        .expect_error(400, None);
    broker.stop().await;
}

#[tokio::test]
async fn maintenance_update_to_the_catalog_version_is_accepted() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    let mut body = provision_body(SMALL_PLAN_ID);
    body["maintenance_info"] = json!({"version": "1.1.0"});
    platform.provision("maint", &body, false).await.expect(201);
    let update = json!({"service_id": SERVICE_ID, "maintenance_info": {"version": "1.1.0"}});
    platform.update("maint", &update, false).await.expect(200);
    let fetched = platform.fetch_instance("maint").await.expect(200);
    assert_eq!(fetched.body["maintenance_info"]["version"], "1.1.0");
    broker.stop().await;
}

#[tokio::test]
async fn answers_echo_the_request_identity_and_healthz_needs_no_credentials() {
    let broker = RunningBroker::start(test_config()).await;
    let identity = "e2e-3f1c9a2b-0d4e-4b6f-8a1e-7c2d5e9f0a1b";
    for (user, status) in [("platform", 200), ("intruder", 401)] {
        let response = reqwest::Client::new()
            .get(format!("{}/v2/catalog", broker.url()))
            .basic_auth(user, Some("e2e-password"))
            .header("X-Broker-API-Version", "2.17")
            .header("X-Broker-API-Request-Identity", identity)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        if status == 200 {
            assert_eq!(
                response.headers()["x-broker-api-request-identity"],
                identity
            );
        }
        let body: Value = response.json().await.unwrap();
        assert!(body.is_object(), "every answer is a JSON object: {body}");
    }
    let healthz = reqwest::get(format!("{}/healthz", broker.url()))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    broker.stop().await;
}
