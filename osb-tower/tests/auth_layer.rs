//! `RequireAuthLayer` in front of a trivial inner service, through `tower::ServiceExt::oneshot`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use osb_tower::auth::{
    Authenticate, AuthenticateExt, Basic, BasicFailure, Rejection, RequireAuth, RequireAuthLayer,
};
use tower::{Layer, Service, ServiceExt, service_fn};

/// What the fake bearer authenticator stores for the inner service.
#[derive(Debug, Clone, PartialEq)]
struct Subject(&'static str);

/// Why the fake bearer authenticator refused.
#[derive(Debug, Clone, PartialEq)]
enum BearerFailure {
    Missing,
    BadToken,
}

/// A stand-in for osb-iam: accepts `Bearer good-token`.
struct FakeBearer;

impl Authenticate for FakeBearer {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        Box::pin(async move {
            let challenge = HeaderValue::from_static("Bearer realm=\"iam\"");
            let token = parts
                .headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match token {
                None => Err(Rejection::missing_credentials("missing bearer token")
                    .with_challenge(challenge)
                    .with_reason(BearerFailure::Missing)),
                Some("good-token") => {
                    parts.extensions.insert(Subject("iam-user"));
                    Ok(())
                }
                Some(_) => Err(Rejection::unauthorized("invalid bearer token")
                    .with_challenge(challenge)
                    .with_reason(BearerFailure::BadToken)),
            }
        })
    }
}

type Body = Full<Bytes>;

/// An inner service that counts calls and answers the `Subject` it found, if any.
fn inner(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<()>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone + Send
{
    service_fn(move |request: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let subject = request
            .extensions()
            .get::<Subject>()
            .map_or("none", |s| s.0);
        let body = format!(r#"{{"subject":"{subject}"}}"#);
        async move { Ok::<_, Infallible>(Response::new(Body::from(Bytes::from(body)))) }
    })
}

fn basic_value(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn request(authorization: Option<&str>) -> Request<()> {
    let mut builder = Request::builder().uri("/v2/catalog");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(()).unwrap()
}

async fn body_json(response: Response<Body>) -> serde_json::Value {
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn challenges(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn basic() -> Basic {
    Basic::new("platform", "current").with_credentials("platform", "rotated")
}

async fn call_basic(authorization: Option<&str>) -> (Response<Body>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = RequireAuthLayer::new(basic()).layer(inner(Arc::clone(&calls)));
    let response = service.oneshot(request(authorization)).await.unwrap();
    (response, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn no_authorization_header_is_401_with_basic_challenge_and_inner_not_called() {
    let (response, calls) = call_basic(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        challenges(&response),
        [r#"Basic realm="osb", charset="UTF-8""#]
    );
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::MissingCredentials)
    );
    let body = body_json(response).await;
    assert_eq!(body["error"], "Unauthorized");
    assert!(body["description"].is_string());
}

#[tokio::test]
async fn right_credentials_reach_the_inner_service() {
    let (response, calls) = call_basic(Some(&basic_value("platform", "current"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn rotated_second_pair_is_accepted() {
    let (response, calls) = call_basic(Some(&basic_value("platform", "rotated"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn wrong_password_is_401_wrong_credentials() {
    let (response, calls) = call_basic(Some(&basic_value("platform", "guess"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::WrongCredentials)
    );
    assert_eq!(challenges(&response).len(), 1);
}

#[tokio::test]
async fn wrong_user_is_401_wrong_credentials() {
    let (response, calls) = call_basic(Some(&basic_value("intruder", "current"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::WrongCredentials)
    );
}

#[tokio::test]
async fn malformed_basic_values_are_401_malformed() {
    let no_colon = format!("Basic {}", STANDARD.encode("platformcurrent"));
    let not_utf8 = format!("Basic {}", STANDARD.encode(b"platform:\xff\xfe"));
    for value in [
        "Basic",
        "Basic %%%",
        "basic not base64!",
        no_colon.as_str(),
        not_utf8.as_str(),
    ] {
        let (response, calls) = call_basic(Some(value)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(calls, 0);
        assert_eq!(
            response.extensions().get::<BasicFailure>(),
            Some(&BasicFailure::MalformedCredentials),
            "{value}"
        );
    }
}

#[tokio::test]
async fn non_basic_scheme_is_401_missing_credentials() {
    let (response, calls) = call_basic(Some("Bearer good-token")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::MissingCredentials)
    );
}

#[tokio::test]
async fn rejection_body_never_echoes_the_presented_credentials() {
    let value = basic_value("platform", "hunter2-guess");
    let (response, _) = call_basic(Some(&value)).await;
    let body = body_json(response).await.to_string();
    assert!(!body.contains("hunter2-guess"), "{body}");
    assert!(!body.contains(value.trim_start_matches("Basic ")), "{body}");
}

async fn call_any(authorization: Option<&str>) -> (Response<Body>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = RequireAuthLayer::new(basic().or(FakeBearer)).layer(inner(Arc::clone(&calls)));
    let response = service.oneshot(request(authorization)).await.unwrap();
    (response, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn any_accepts_basic() {
    let (response, calls) = call_any(Some(&basic_value("platform", "current"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert_eq!(body_json(response).await["subject"], "none");
}

#[tokio::test]
async fn any_accepts_bearer_and_its_extensions_reach_the_inner_service() {
    let (response, calls) = call_any(Some("Bearer good-token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert_eq!(body_json(response).await["subject"], "iam-user");
}

#[tokio::test]
async fn any_without_credentials_offers_both_challenges_and_both_reasons() {
    let (response, calls) = call_any(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(
        challenges(&response),
        [
            r#"Basic realm="osb", charset="UTF-8""#,
            r#"Bearer realm="iam""#
        ]
    );
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::MissingCredentials)
    );
    assert_eq!(
        response.extensions().get::<BearerFailure>(),
        Some(&BearerFailure::Missing)
    );
}

#[tokio::test]
async fn any_wrong_basic_password_is_final_and_bearer_is_not_tried() {
    let (response, _) = call_any(Some(&basic_value("platform", "guess"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response).len(), 1);
    assert_eq!(
        response.extensions().get::<BasicFailure>(),
        Some(&BasicFailure::WrongCredentials)
    );
    assert!(response.extensions().get::<BearerFailure>().is_none());
}

#[tokio::test]
async fn any_bad_bearer_token_is_401_with_the_bearer_reason() {
    let (response, calls) = call_any(Some("Bearer forged")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 0);
    assert_eq!(
        response.extensions().get::<BearerFailure>(),
        Some(&BearerFailure::BadToken)
    );
    assert_eq!(challenges(&response), [r#"Bearer realm="iam""#]);
}

/// An authenticator that refuses by policy.
struct DenyAll;

impl Authenticate for DenyAll {
    fn authenticate<'a>(
        &'a self,
        _parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        Box::pin(async { Err(Rejection::forbidden("this caller may not use the broker")) })
    }
}

#[tokio::test]
async fn forbidden_rejection_is_403_with_forbidden_error_code() {
    let service = RequireAuth::new(inner(Arc::default()), DenyAll);
    let response = service.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenges(&response).is_empty());
    assert_eq!(body_json(response).await["error"], "Forbidden");
}

#[tokio::test]
async fn arc_and_boxed_authenticators_work_in_the_slot() {
    let shared: Arc<dyn Authenticate> = Arc::new(basic());
    let service = RequireAuthLayer::new(shared).layer(inner(Arc::default()));
    let response = service
        .clone()
        .oneshot(request(Some(&basic_value("platform", "current"))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let boxed: Box<dyn Authenticate> = Box::new(FakeBearer);
    let service = RequireAuthLayer::new(boxed).layer(inner(Arc::default()));
    let response = service
        .oneshot(request(Some("Bearer forged")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cloned_service_serves_many_requests() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = RequireAuthLayer::new(basic()).layer(inner(Arc::clone(&calls)));
    let good = basic_value("platform", "current");
    for _ in 0..3 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(Some(&good)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
