//! What the crate logs: failures worth an operator's attention, never a token or an API key.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::keys::{HttpKeySource, KeyCache};
use osb_iam::{Policy, Verifier};
use serde_json::json;
use support::{BROKER_CRN, Canned, FakeEndpoint, LogCapture, crn_claims, key, now, with};

#[tokio::test(flavor = "current_thread")]
async fn key_refresh_failure_is_logged_and_no_token_ever_is() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let source = HttpKeySource::insecure_allow_http(&server.url("/identity/keys")).unwrap();
    let keys = KeyCache::new(source).min_refresh_interval(Duration::ZERO);
    keys.refresh().await.unwrap();
    let verifier = Verifier::builder(keys.clone(), Policy::bearer_crn(BROKER_CRN)).build();

    let good = key(0).token(&crn_claims());
    let expired = key(0).token(&with(crn_claims(), json!({"exp": now() - 600})));
    let unknown = key(1).token(&crn_claims());
    server.answer(Canned::json(503, &json!({"errorMessage": "down"})));
    assert!(keys.refresh().await.is_err());
    for token in [&good, &expired, &unknown] {
        let _ = verifier.verify(token).await;
    }

    let logged = capture.text();
    assert!(
        logged.contains("WARN") && logged.contains("keeping the last good keys"),
        "{logged}"
    );
    for token in [&good, &expired, &unknown] {
        let signature = token.rsplit('.').next().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        assert!(
            !logged.contains(signature) && !logged.contains(payload),
            "{logged}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn api_key_and_access_token_never_reach_a_log_line() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    const API_KEY: &str = "never-log-this-api-key";
    const TOKEN: &str = "never-log-this-access-token";

    let server = FakeEndpoint::start(Canned::json(
        200,
        &json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 4}),
    ))
    .await;
    let client = ApiKeyClient::builder(ApiKey::new(API_KEY))
        .token_url(server.url("/identity/token"))
        .build()
        .unwrap();
    client.token().await.unwrap();
    server.answer(Canned::json(
        400,
        &json!({"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found."}),
    ));
    tokio::time::sleep(Duration::from_millis(3300)).await; // past the 80 % refresh point
    assert_eq!(client.token().await.unwrap().secret(), TOKEN); // refresh failed, still valid

    let logged = capture.text();
    assert!(
        logged.contains("WARN") && logged.contains("BXNIM0415E"),
        "{logged}"
    );
    assert!(
        !logged.contains(API_KEY) && !logged.contains(TOKEN),
        "{logged}"
    );
}
