//! Every error a platform can meet, over loopback HTTP: status, OSB error body and error code.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use minimal_broker::logic::{LARGE_PLAN_ID, SERVICE_ID, SMALL_PLAN_ID};
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::{Auth, Platform, RunningBroker, test_config};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn missing_or_wrong_credentials_get_401_before_any_other_check() {
    let broker = RunningBroker::start(test_config()).await;
    let anonymous = Platform::new(broker.url());
    let answer = anonymous
        .catalog()
        .await
        .expect_error(401, Some("Unauthorized"));
    assert!(answer.headers.contains_key("www-authenticate"));
    // 401 comes before 412: nothing is learnt without credentials.
    let unversioned = anonymous.version(None);
    unversioned
        .catalog()
        .await
        .expect_error(401, Some("Unauthorized"));
    let wrong = anonymous.basic("platform", "not-the-password");
    let refused = wrong.request_identity("r-401").catalog().await;
    let refused = refused.expect_error(401, Some("Unauthorized"));
    // rules.md §2.3: the auth layer's refusal echoes the request identity too.
    assert_eq!(refused.headers["x-broker-api-request-identity"], "r-401");
    let path = "/v2/service_instances/x?accepts_incomplete=true";
    wrong
        .send(Method::PUT, path, Some(&provision_body(SMALL_PLAN_ID)))
        .await
        .expect(401);
    anonymous
        .auth(Auth::Bearer("not-a-token".to_owned()))
        .catalog()
        .await
        .expect(401);
    platform_fetches_nothing(&wrong).await;
    broker.stop().await;
}

async fn platform_fetches_nothing(platform: &Platform) {
    assert_eq!(platform.fetch_instance("x").await.status, 401);
}

#[tokio::test]
async fn missing_or_unsupported_api_version_gets_412() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .version(None)
        .catalog()
        .await
        .expect_error(412, None);
    platform
        .version(Some("1.0"))
        .catalog()
        .await
        .expect_error(412, None);
    platform
        .version(Some("2.11"))
        .catalog()
        .await
        .expect_error(412, None);
    platform.version(Some("2.12")).catalog().await.expect(200);
    broker.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    let path = "/v2/service_instances/bad-1";
    platform
        .send_raw(Method::PUT, path, Some("{not json".to_owned()))
        .await
        .expect_error(400, None);
    let unknown_plan = json!({"service_id": SERVICE_ID, "plan_id": "no-such-plan", "context": {"platform": "ibmcloud"}});
    platform
        .provision("bad-1", &unknown_plan, true)
        .await
        .expect_error(400, None);
    let no_service = json!({"plan_id": SMALL_PLAN_ID, "context": {"platform": "ibmcloud"}});
    platform
        .provision("bad-1", &no_service, true)
        .await
        .expect_error(400, None);
    let query = "/v2/service_instances/bad-1?accepts_incomplete=maybe";
    let body = provision_body(SMALL_PLAN_ID).to_string();
    platform
        .send_raw(Method::PUT, query, Some(body))
        .await
        .expect_error(400, None);
    // Nothing was created by any of them.
    platform
        .fetch_instance("bad-1")
        .await
        .expect_error(404, None);
    broker.stop().await;
}

#[tokio::test]
async fn ids_with_bad_percent_escapes_or_control_characters_get_400_and_alias_nothing() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    // `a%25zz` is the id `a%zz`; a lenient decoder would also read the raw `a%zz` as that id.
    platform
        .provision("a%zz", &provision_body(SMALL_PLAN_ID), true)
        .await
        .expect(201);
    let body = provision_body(SMALL_PLAN_ID).to_string();
    for raw in [
        "a%zz", "a%", "a%0", "a%00b", "a%0Ab", "a%7F", "a%C2%85", "a%FF",
    ] {
        let path = format!("/v2/service_instances/{raw}?accepts_incomplete=true");
        let put = platform.send_raw(Method::PUT, &path, Some(body.clone()));
        put.await.expect_error(400, None);
        let path = format!("/v2/service_instances/{raw}");
        let answer = platform.send(Method::GET, &path, None).await;
        let answer = answer.expect_error(400, None);
        assert!(
            answer.str("description").contains("instance_id"),
            "{raw}: {:?}",
            answer.body
        );
        let path = format!("/v2/service_instances/x/service_bindings/{raw}");
        let bind = bind_body(SMALL_PLAN_ID, None);
        let answer = platform.send(Method::PUT, &path, Some(&bind)).await;
        answer.expect_error(400, None);
    }
    let query = "/v2/service_instances/x/last_operation?operation=op%zz";
    let answer = platform.send(Method::GET, query, None).await;
    answer.expect_error(400, None);
    broker.stop().await;
}

#[tokio::test]
async fn unknown_instances_and_bindings_get_404_on_fetch_and_410_on_delete() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .fetch_instance("nobody")
        .await
        .expect_error(404, None);
    platform
        .fetch_binding("nobody", "b")
        .await
        .expect_error(404, None);
    platform
        .send(Method::GET, "/v2/no/such/route", None)
        .await
        .expect_error(404, None);
    platform
        .deprovision("nobody", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(410);
    platform
        .provision("somebody", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    platform
        .unbind("somebody", "nobody", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(410);
    broker.stop().await;
}

#[tokio::test]
async fn provision_of_an_existing_id_with_other_attributes_gets_409() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("taken", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    let mut other = provision_body(SMALL_PLAN_ID);
    other["parameters"] = json!({"size_gb": 20});
    platform
        .provision("taken", &other, false)
        .await
        .expect_error(409, None);
    let body = bind_body(SMALL_PLAN_ID, None);
    platform.bind("taken", "b", &body).await.expect(201);
    let other_binding = bind_body(SMALL_PLAN_ID, Some("another-app"));
    platform
        .bind("taken", "b", &other_binding)
        .await
        .expect_error(409, None);
    broker.stop().await;
}

#[tokio::test]
async fn async_plan_without_accepts_incomplete_gets_422_async_required() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("sync-only", &provision_body(LARGE_PLAN_ID), false)
        .await
        .expect_error(422, Some("AsyncRequired"));
    platform.fetch_instance("sync-only").await.expect(404);
    broker.stop().await;
}

#[tokio::test]
async fn changes_while_an_operation_runs_get_422_concurrency_error() {
    let mut config = test_config();
    // Long enough that the provision is still running when the next requests arrive.
    config.provision_time = Duration::from_secs(600);
    let broker = RunningBroker::start(config).await;
    let platform = broker.platform();
    platform
        .provision("busy", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    let update = json!({"service_id": SERVICE_ID, "parameters": {"size_gb": 20}});
    platform
        .update("busy", &update, true)
        .await
        .expect_error(422, Some("ConcurrencyError"));
    platform
        .bind("busy", "b", &bind_body(LARGE_PLAN_ID, Some("app")))
        .await
        .expect_error(422, Some("ConcurrencyError"));
    let polled = platform.last_operation("busy", None).await.expect(200);
    assert_eq!(polled.str("state"), "in progress");
    assert!(polled.headers.contains_key("retry-after"));
    // A deprovision halts the create (the adapter's default), so the platform can clean up.
    let deleted = platform
        .deprovision("busy", SERVICE_ID, LARGE_PLAN_ID)
        .await;
    assert!([200, 202].contains(&deleted.status.as_u16()), "{deleted:?}");
    broker.stop().await;
}

#[tokio::test]
async fn bind_without_an_application_on_the_large_plan_gets_422_requires_app() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("needs-app", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    platform.poll("needs-app", None).await.expect(200);
    platform
        .bind("needs-app", "b", &bind_body(LARGE_PLAN_ID, None))
        .await
        .expect_error(422, Some("RequiresApp"));
    platform
        .bind("needs-app", "b", &bind_body(LARGE_PLAN_ID, Some("app")))
        .await
        .expect(201);
    broker.stop().await;
}

#[tokio::test]
async fn maintenance_info_other_than_the_catalogs_gets_422_maintenance_info_conflict() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    let mut body = provision_body(SMALL_PLAN_ID);
    body["maintenance_info"] = json!({"version": "2.0.0"});
    platform
        .provision("stale", &body, false)
        .await
        .expect_error(422, Some("MaintenanceInfoConflict"));
    platform
        .provision("stale", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    let update = json!({"service_id": SERVICE_ID, "maintenance_info": {"version": "0.9.0"},
        "previous_values": {"plan_id": SMALL_PLAN_ID}});
    platform
        .update("stale", &update, false)
        .await
        .expect_error(422, Some("MaintenanceInfoConflict"));
    broker.stop().await;
}

#[tokio::test]
async fn plan_change_away_from_a_non_updateable_plan_gets_422() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("fixed", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    platform.poll("fixed", None).await.expect(200);
    // Platforms send the current plan in previous_values (spec.md "Updating a Service Instance").
    let update = json!({"service_id": SERVICE_ID, "plan_id": SMALL_PLAN_ID,
        "previous_values": {"plan_id": LARGE_PLAN_ID}});
    platform
        .update("fixed", &update, false)
        .await
        .expect_error(422, None);
    let fetched = platform.fetch_instance("fixed").await.expect(200);
    assert_eq!(
        fetched.str("plan_id"),
        LARGE_PLAN_ID,
        "the plan did not change"
    );
    broker.stop().await;
}

/// `previous_values` are informational (spec.md "Previous Values Object"): the broker's record
/// decides whether the plan changes.
#[tokio::test]
async fn patch_is_judged_by_the_stored_record_not_by_previous_values() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    platform
        .provision("on-small", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    // The record says SMALL (plan_updateable) and the request names SMALL: no plan change,
    // whatever previous_values claim.
    let stale = json!({"service_id": SERVICE_ID, "plan_id": SMALL_PLAN_ID,
        "previous_values": {"plan_id": LARGE_PLAN_ID}, "parameters": {"size_gb": 20}});
    platform.update("on-small", &stale, false).await.expect(200);
    let fetched = platform.fetch_instance("on-small").await.expect(200);
    assert_eq!(fetched.str("plan_id"), SMALL_PLAN_ID);
    broker.stop().await;
}

#[tokio::test]
async fn patch_repeating_only_the_stored_context_is_a_no_op_success() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    let body = provision_body(SMALL_PLAN_ID);
    platform.provision("ctx", &body, false).await.expect(201);
    // The service does not allow context updates, but repeating the context changes nothing.
    let same = json!({"service_id": SERVICE_ID, "context": body["context"]});
    platform.update("ctx", &same, false).await.expect(200);
    let mut renamed = body["context"].clone();
    renamed["name"] = json!("renamed");
    let changed = json!({"service_id": SERVICE_ID, "context": renamed});
    let refused = platform.update("ctx", &changed, false).await;
    let refused = refused.expect_error(422, None);
    assert!(refused.str("description").contains("allow_context_updates"));
    broker.stop().await;
}

#[tokio::test]
async fn context_platform_that_is_not_a_string_gets_400() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    for bad in [
        json!(5),
        json!({"name": "ibmcloud"}),
        json!(["ibmcloud"]),
        json!(false),
    ] {
        let mut body = provision_body(SMALL_PLAN_ID);
        body["context"]["platform"] = bad;
        let refused = platform.provision("typed", &body, false).await;
        let refused = refused.expect_error(400, None);
        assert!(refused.str("description").contains("context.platform"));
        let mut bind = bind_body(SMALL_PLAN_ID, None);
        bind["context"] = body["context"].clone();
        platform
            .bind("typed", "b", &bind)
            .await
            .expect_error(400, None);
    }
    platform
        .fetch_instance("typed")
        .await
        .expect_error(404, None);
    broker.stop().await;
}

#[tokio::test]
async fn last_operation_of_an_unknown_instance_gets_404() {
    // spec.md "Polling Last Operation" (2.17): 404 when the instance does not exist.
    let broker = RunningBroker::start(test_config()).await;
    let answer = broker
        .platform()
        .last_operation("never-created", None)
        .await;
    answer.expect_error(404, None);
    broker.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_wrong_methods_get_405() {
    let broker = RunningBroker::start(test_config()).await;
    let platform = broker.platform();
    let mut body = provision_body(SMALL_PLAN_ID);
    body["parameters"] = json!({"blob": "x".repeat(1024 * 1024 + 64 * 1024)});
    platform
        .provision("huge", &body, false)
        .await
        .expect_error(413, None);
    let answer = platform.send(Method::POST, "/v2/catalog", None).await;
    let answer = answer.expect_error(405, None);
    assert!(answer.headers.contains_key("allow"));
    platform.fetch_instance("huge").await.expect(404);
    broker.stop().await;
}

#[tokio::test]
async fn the_development_password_is_refused_off_loopback() {
    let mut config = test_config();
    config.password = minimal_broker::config::DEV_PASSWORD.to_owned();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = minimal_broker::serve(listener, config, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("set BROKER_PASSWORD"), "{err}");
}

#[tokio::test]
async fn an_empty_password_is_refused_and_the_development_one_is_fine_on_loopback() {
    let mut config = test_config();
    config.password = String::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = minimal_broker::serve(listener, config, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must not be empty"), "{err}");

    let mut config = test_config();
    config.password = minimal_broker::config::DEV_PASSWORD.to_owned();
    let broker = RunningBroker::start(config).await;
    broker.stop().await;
}
