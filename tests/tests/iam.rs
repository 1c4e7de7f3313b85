//! The lifecycle with IBM Cloud IAM bearer tokens: keys generated in the test, served by a JWK-set
//! server on loopback, rotated in the middle of the run.
#![allow(clippy::unwrap_used)]

use minimal_broker::logic::{SERVICE_ID, SMALL_PLAN_ID};
use osb_e2e_tests::iam::{JwksServer, broker_iam_id, claims, key};
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::{Platform, RunningBroker, test_config};
use serde_json::json;

async fn iam_broker(jwks: &JwksServer) -> RunningBroker {
    let mut config = test_config();
    config.ibm.iam_jwks_url = Some(jwks.url().to_owned());
    config.ibm.iam_identities = vec![broker_iam_id()];
    RunningBroker::start(config).await
}

#[tokio::test]
async fn lifecycle_with_iam_tokens_survives_a_key_rotation() {
    let jwks = JwksServer::start(&[key(0)]).await;
    let broker = iam_broker(&jwks).await;
    let platform = Platform::new(broker.url());
    let before = platform.bearer(&key(0).token(&claims(&broker_iam_id())));

    before.catalog().await.expect(200);
    before
        .provision("iam-1", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    before
        .bind("iam-1", "b-1", &bind_body(SMALL_PLAN_ID, None))
        .await
        .expect(201);

    // IAM rotates: the new key is published and the resource controller signs with it. The
    // broker has never seen its `kid` and fetches the key set again.
    let fetches = jwks.hits();
    jwks.publish(&[key(1), key(0)]);
    let after = platform.bearer(&key(1).token(&claims(&broker_iam_id())));
    after.fetch_instance("iam-1").await.expect(200);
    assert_eq!(jwks.hits(), fetches + 1, "one fetch for the new kid");
    let update = json!({"service_id": SERVICE_ID, "parameters": {"size_gb": 20},
        "previous_values": {"plan_id": SMALL_PLAN_ID}});
    after.update("iam-1", &update, false).await.expect(200);
    after.fetch_binding("iam-1", "b-1").await.expect(200);
    // Tokens of the old key stay valid while IAM still publishes it.
    before.fetch_binding("iam-1", "b-1").await.expect(200);
    after
        .unbind("iam-1", "b-1", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(200);
    after
        .deprovision("iam-1", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(200);
    after.fetch_instance("iam-1").await.expect(404);
    broker.stop().await;
}

#[tokio::test]
async fn basic_credentials_still_work_when_iam_is_on() {
    let jwks = JwksServer::start(&[key(0)]).await;
    let broker = iam_broker(&jwks).await;
    broker.platform().catalog().await.expect(200);
    broker.stop().await;
}

#[tokio::test]
async fn tokens_of_other_identities_unknown_keys_or_past_expiry_are_refused() {
    let jwks = JwksServer::start(&[key(0)]).await;
    let broker = iam_broker(&jwks).await;
    let platform = Platform::new(broker.url());

    let stranger = key(0).token(&claims("IBMid-50GNR717YE"));
    platform
        .bearer(&stranger)
        .catalog()
        .await
        .expect_error(403, None);

    // Signed by a key IAM never published.
    let forged = key(2).token(&claims(&broker_iam_id()));
    let answer = platform
        .bearer(&forged)
        .catalog()
        .await
        .expect_error(401, None);
    assert!(answer.headers.contains_key("www-authenticate"));

    let mut expired = claims(&broker_iam_id());
    expired["exp"] = json!(expired["iat"].as_u64().unwrap() - 3600);
    let expired = key(0).token(&expired);
    platform
        .bearer(&expired)
        .catalog()
        .await
        .expect_error(401, None);

    let mut tampered = key(0).token(&claims(&broker_iam_id()));
    tampered.push('A');
    platform
        .bearer(&tampered)
        .catalog()
        .await
        .expect_error(401, None);
    broker.stop().await;
}
