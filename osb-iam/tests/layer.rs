//! The IamAuth middleware through `tower::ServiceExt::oneshot`.
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use osb_iam::keys::KeyCache;
use osb_iam::{IamAuthLayer, IamClaims, Policy, TokenRejection, Verifier};
use serde_json::{Value, json};
use support::{BROKER_CRN, crn_claims, key, key_set, now, with};
use tower::{Layer, ServiceExt, service_fn};

fn verifier() -> Verifier {
    Verifier::builder(
        KeyCache::fixed(key_set(&[key(0)])),
        Policy::bearer_crn(BROKER_CRN),
    )
    .build()
}

/// Echoes the caller's `iam_id` from the claims the layer inserted.
async fn call(authorization: Option<&str>) -> Response<Bytes> {
    let inner = service_fn(|request: Request<()>| async move {
        let iam_id = request
            .extensions()
            .get::<IamClaims>()
            .map(|claims| claims.iam_id.clone());
        Ok::<_, Infallible>(Response::new(Bytes::from(iam_id.unwrap_or_default())))
    });
    let service = IamAuthLayer::new(verifier()).layer(inner);
    let mut request = Request::builder();
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    service.oneshot(request.body(()).unwrap()).await.unwrap()
}

fn body(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn rejection(response: &Response<Bytes>) -> Option<&TokenRejection> {
    response.extensions().get::<TokenRejection>()
}

#[tokio::test]
async fn valid_bearer_token_reaches_the_service_with_claims() {
    let token = key(0).token(&crn_claims());
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), format!("crn-{BROKER_CRN}").as_bytes());
    let lower_case_scheme = call(Some(&format!("bearer {token}"))).await;
    assert_eq!(lower_case_scheme.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_authorization_header_is_401_with_bearer_challenge() {
    let response = call(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(body(&response)["error"], "Unauthorized");
    assert!(
        body(&response)["description"]
            .as_str()
            .unwrap()
            .contains("IAM bearer token")
    );
    assert_eq!(rejection(&response), Some(&TokenRejection::MissingToken));
}

#[tokio::test]
async fn non_bearer_scheme_is_401() {
    for value in [
        "Basic cGxhdGZvcm06czNjcmV0",
        "Bearer",
        "Token abc",
        "Bearerabc",
    ] {
        let response = call(Some(value)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

#[tokio::test]
async fn expired_token_is_401_invalid_token_without_echoing_it() {
    let token = key(0).token(&with(crn_claims(), json!({"exp": now() - 600})));
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(rejection(&response), Some(&TokenRejection::Expired));
    let text = String::from_utf8_lossy(response.body()).into_owned();
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature) && !text.contains(&token[..20]));
}

#[tokio::test]
async fn every_bad_token_is_401_and_none_panics() {
    let header = json!({"alg": "none", "kid": key(0).kid});
    let cases = [
        "garbage".to_owned(),
        format!("{}.", support::signing_input(&header, &crn_claims())),
        support::hs256(
            &key(0).public_der(),
            &json!({"alg": "HS256", "kid": key(0).kid}),
            &crn_claims(),
        ),
        key(1).token(&crn_claims()),
        key(0).token(&with(
            crn_claims(),
            json!({"iss": "https://evil.example/identity"}),
        )),
        "x".repeat(20_000),
    ];
    for token in cases {
        let response = call(Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert!(rejection(&response).is_some());
    }
}

#[tokio::test]
async fn policy_refusal_is_403_insufficient_scope() {
    let token = key(0).token(&with(crn_claims(), json!({"iam_id": "IBMid-50GNR717YE"})));
    let response = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope""#
    );
    assert_eq!(body(&response)["error"], "Forbidden");
    assert!(matches!(
        rejection(&response),
        Some(TokenRejection::PolicyDenied { .. })
    ));
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let token = key(0).token(&crn_claims());
    let inner =
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Bytes::new())) });
    let request = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Basic cGxhdGZvcm06czNjcmV0")
        .body(())
        .unwrap();
    let response = IamAuthLayer::new(verifier())
        .layer(inner)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
