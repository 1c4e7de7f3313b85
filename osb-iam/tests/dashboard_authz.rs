//! The `/v2/authz` client against the fake IAM: single and batched checks, request order,
//! the decision cache, and every way of getting no decision.
#![cfg(feature = "dashboard")]
#![allow(clippy::unwrap_used)]

mod dashboard_support;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashboard_support::{FakeIam, INSTANCE, OTHER_INSTANCE, PROVIDER_API_KEY, SERVICE_NAME, USER};
use osb_iam::Environment;
use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::authz::{AuthzClient, AuthzError, AuthzRequest, Subject};
use serde_json::json;

const VIEW: &str = "my-service.dashboard.view";

fn user_subject() -> Subject {
    let payload =
        URL_SAFE_NO_PAD.encode(json!({"iam_id": USER, "scope": "ibm openid"}).to_string());
    Subject::from_access_token(&format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")).unwrap()
}

fn tokens(iam: &FakeIam, key: &str) -> ApiKeyClient {
    ApiKeyClient::builder(ApiKey::new(key))
        .token_url(iam.url("/identity/token"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn single_check_permits_what_iam_permits() {
    let iam = FakeIam::start().await;
    let decision = iam
        .authz()
        .check(&AuthzRequest::new(user_subject(), INSTANCE, VIEW))
        .await
        .unwrap();
    assert!(decision.is_permitted());
    assert_eq!(decision.max_cache_age, Some(Duration::from_secs(600)));
    let denied = iam
        .authz()
        .check(&AuthzRequest::new(user_subject(), OTHER_INSTANCE, VIEW))
        .await
        .unwrap();
    assert!(!denied.is_permitted());
}

#[tokio::test]
async fn batched_check_sends_one_array_and_answers_in_request_order() {
    let iam = FakeIam::start().await;
    let requests = [
        AuthzRequest::new(user_subject(), OTHER_INSTANCE, VIEW),
        AuthzRequest::new(Subject::attributes(USER, "ibm openid"), INSTANCE, VIEW),
        AuthzRequest::new(
            user_subject(),
            INSTANCE,
            format!("{SERVICE_NAME}.dashboard.edit"),
        ),
        AuthzRequest::new(user_subject(), INSTANCE, VIEW),
    ];
    let answers = iam.authz().check_batch(&requests).await.unwrap();
    let permitted: Vec<bool> = answers
        .iter()
        .map(|answer| answer.as_ref().unwrap().is_permitted())
        .collect();
    assert_eq!(permitted, [false, true, false, true]);
    assert_eq!(iam.state.authz_hits.load(Ordering::SeqCst), 1);
    let bodies = iam.state.authz_bodies.lock().unwrap().clone();
    let crns: Vec<&str> = bodies[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["resource"]["crn"].as_str().unwrap())
        .collect();
    assert_eq!(crns, [OTHER_INSTANCE, INSTANCE, INSTANCE, INSTANCE]);
}

#[tokio::test]
async fn a_decision_is_reused_within_max_cache_age_without_asking_again() {
    let iam = FakeIam::start().await;
    let authz = iam.authz();
    let request = AuthzRequest::new(user_subject(), INSTANCE, VIEW);
    for _ in 0..3 {
        assert!(authz.check(&request).await.unwrap().is_permitted());
    }
    assert_eq!(iam.state.authz_hits.load(Ordering::SeqCst), 1);
    // A batch mixing a cached and a new question sends only the new one.
    let batch = [
        request.clone(),
        AuthzRequest::new(user_subject(), OTHER_INSTANCE, VIEW),
    ];
    let answers = authz.check_batch(&batch).await.unwrap();
    assert!(answers[0].as_ref().unwrap().is_permitted());
    assert!(!answers[1].as_ref().unwrap().is_permitted());
    let bodies = iam.state.authz_bodies.lock().unwrap().clone();
    assert_eq!(bodies[1].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn max_cache_age_zero_is_never_reused() {
    let iam = FakeIam::start().await;
    *iam.state.max_cache_age.lock().unwrap() = Some(0);
    let authz = iam.authz();
    let request = AuthzRequest::new(user_subject(), INSTANCE, VIEW);
    authz.check(&request).await.unwrap();
    authz.check(&request).await.unwrap();
    assert_eq!(iam.state.authz_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn disabled_cache_asks_every_time() {
    let iam = FakeIam::start().await;
    let authz = AuthzClient::builder(tokens(&iam, PROVIDER_API_KEY))
        .url(iam.url("/v2/authz"))
        .insecure_allow_http()
        .cache_capacity(0)
        .build()
        .unwrap();
    let request = AuthzRequest::new(user_subject(), INSTANCE, VIEW);
    authz.check(&request).await.unwrap();
    authz.check(&request).await.unwrap();
    assert_eq!(iam.state.authz_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_entry_iam_cannot_decide_is_an_error_not_a_denial() {
    let iam = FakeIam::start().await;
    let garbage = Subject::AccessTokenBody("not-base64-json".to_owned());
    let answers = iam
        .authz()
        .check_batch(&[
            AuthzRequest::new(garbage, INSTANCE, VIEW),
            AuthzRequest::new(user_subject(), INSTANCE, VIEW),
        ])
        .await
        .unwrap();
    assert!(matches!(&answers[0], Err(AuthzError::Undecided { status }) if status == "400"));
    assert!(answers[1].as_ref().unwrap().is_permitted());
}

#[tokio::test]
async fn iam_error_status_is_refused() {
    let iam = FakeIam::start().await;
    *iam.state.authz_failure.lock().unwrap() = Some(500);
    let answer = iam
        .authz()
        .check(&AuthzRequest::new(user_subject(), INSTANCE, VIEW))
        .await;
    assert!(matches!(answer, Err(AuthzError::Refused { status }) if status == 500));
}

#[tokio::test]
async fn a_bad_service_id_key_is_a_token_error() {
    let iam = FakeIam::start().await;
    let authz = AuthzClient::builder(tokens(&iam, "wrong-key"))
        .url(iam.url("/v2/authz"))
        .insecure_allow_http()
        .build()
        .unwrap();
    let answer = authz
        .check(&AuthzRequest::new(user_subject(), INSTANCE, VIEW))
        .await;
    assert!(matches!(answer, Err(AuthzError::Token(_))), "{answer:?}");
    assert_eq!(iam.state.authz_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unreachable_endpoint_is_an_error() {
    let iam = FakeIam::start().await;
    let closed = support::closed_port_url()
        .await
        .replace("/identity/keys", "/v2/authz");
    let authz = AuthzClient::builder(tokens(&iam, PROVIDER_API_KEY))
        .url(closed)
        .insecure_allow_http()
        .build()
        .unwrap();
    let answer = authz
        .check(&AuthzRequest::new(user_subject(), INSTANCE, VIEW))
        .await;
    assert!(
        matches!(answer, Err(AuthzError::Unreachable(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out() {
    let iam = FakeIam::start().await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let authz = AuthzClient::builder(tokens(&iam, PROVIDER_API_KEY))
        .url(format!("http://{addr}/v2/authz"))
        .insecure_allow_http()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let answer = authz
        .check(&AuthzRequest::new(user_subject(), INSTANCE, VIEW))
        .await;
    assert!(
        matches!(answer, Err(AuthzError::Unreachable(_))),
        "{answer:?}"
    );
}

#[test]
fn plain_http_endpoint_is_refused_unless_asked_for_by_name() {
    let tokens = ApiKeyClient::new(ApiKey::new("k"));
    assert!(
        AuthzClient::builder(tokens.clone())
            .url("http://iam.example/v2/authz")
            .build()
            .is_err()
    );
    assert!(
        AuthzClient::builder(tokens.clone())
            .url("not a url")
            .build()
            .is_err()
    );
    assert!(
        AuthzClient::builder(tokens)
            .url("http://iam.example/v2/authz")
            .insecure_allow_http()
            .build()
            .is_ok()
    );
}

#[test]
fn environment_selects_its_authz_endpoint() {
    let tokens = ApiKeyClient::new(ApiKey::new("k"));
    let staging = AuthzClient::builder(tokens.clone())
        .environment(&Environment::STAGING)
        .build()
        .unwrap();
    assert_eq!(staging.url(), "https://iam.test.cloud.ibm.com/v2/authz");
    let production = AuthzClient::builder(tokens).build().unwrap();
    assert_eq!(production.url(), "https://iam.cloud.ibm.com/v2/authz");
}
