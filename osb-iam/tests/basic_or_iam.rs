//! The Verifier in osb-tower's auth slot: "Basic or IAM bearer" with `RequireAuthLayer`.
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use osb_iam::keys::KeyCache;
use osb_iam::{IamClaims, Policy, TokenRejection, Verifier};
use osb_tower::auth::{AuthenticateExt, Basic, RequireAuthLayer};
use serde_json::json;
use support::{BROKER_CRN, crn_claims, key, key_set, now, with};
use tower::{Layer, ServiceExt, service_fn};

/// `cGxhdGZvcm06czNjcmV0` is base64 of `platform:s3cret`.
const BASIC: &str = "Basic cGxhdGZvcm06czNjcmV0";

async fn call(authorization: Option<&str>) -> Response<Bytes> {
    let iam = Verifier::builder(
        KeyCache::fixed(key_set(&[key(0)])),
        Policy::bearer_crn(BROKER_CRN),
    )
    .build();
    let inner = service_fn(|request: Request<()>| async move {
        let who = match request.extensions().get::<IamClaims>() {
            Some(claims) => claims.iam_id.clone(),
            None => "basic".to_owned(),
        };
        Ok::<_, Infallible>(Response::new(Bytes::from(who)))
    });
    let service = RequireAuthLayer::new(Basic::new("platform", "s3cret").or(iam)).layer(inner);
    let mut request = Request::builder();
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    service.oneshot(request.body(()).unwrap()).await.unwrap()
}

#[tokio::test]
async fn basic_credentials_are_accepted() {
    let response = call(Some(BASIC)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "basic");
}

#[tokio::test]
async fn iam_bearer_token_is_accepted_and_claims_reach_the_service() {
    let token = key(0).token(&crn_claims());
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), format!("crn-{BROKER_CRN}").as_bytes());
}

#[tokio::test]
async fn no_credentials_get_401_with_both_challenges() {
    let response = call(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .collect();
    assert!(
        challenges
            .iter()
            .any(|value| value.as_bytes().starts_with(b"Basic"))
    );
    assert!(
        challenges
            .iter()
            .any(|value| value.as_bytes().starts_with(b"Bearer"))
    );
}

#[tokio::test]
async fn expired_bearer_token_is_final_401_with_typed_reason() {
    let token = key(0).token(&with(crn_claims(), json!({"exp": now() - 600})));
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.extensions().get::<TokenRejection>(),
        Some(&TokenRejection::Expired)
    );
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "Unauthorized");
}

#[tokio::test]
async fn wrong_basic_password_is_401() {
    // `cGxhdGZvcm06d3Jvbmc=` is base64 of `platform:wrong`.
    let response = call(Some("Basic cGxhdGZvcm06d3Jvbmc=")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bearer_token_of_a_disallowed_identity_is_403() {
    let token = key(0).token(&with(crn_claims(), json!({"iam_id": "IBMid-1"})));
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        response.extensions().get::<TokenRejection>(),
        Some(TokenRejection::PolicyDenied { .. })
    ));
}
