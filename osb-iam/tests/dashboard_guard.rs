//! The guard and callback through `tower::ServiceExt::oneshot` and inside an axum `Router`:
//! secure defaults, configuration errors, typed rejections.
#![cfg(feature = "dashboard")]
#![allow(clippy::unwrap_used)]

mod dashboard_support;
mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use dashboard_support::{CLIENT_ID, CLIENT_SECRET, FakeIam, INSTANCE, dashboard_path};
use http::{Request, StatusCode, header};
use osb_iam::dashboard::{ConfigError, Rejection, SessionKey};
use osb_iam::{DashboardAuth, DashboardUser};
use tower::ServiceExt;

async fn page(request: Request<Body>) -> String {
    request
        .extensions()
        .get::<DashboardUser>()
        .map(|user| user.iam_id.clone())
        .unwrap_or_default()
}

fn router(auth: &DashboardAuth) -> Router {
    Router::new()
        .route("/dashboard/{instance}", get(page))
        .layer(auth.layer())
        .route_service("/auth/callback", auth.callback())
}

fn get_request(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn cookies_are_secure_by_default_with_an_https_redirect_uri() {
    let iam = FakeIam::start().await;
    let auth = DashboardAuth::builder(
        CLIENT_ID,
        CLIENT_SECRET,
        "https://broker.example/auth/callback",
        iam.verifier(),
    )
    .discovery(iam.discovery())
    .access_check(iam.authz(), "my-service")
    .build()
    .unwrap();
    let response = router(&auth)
        .oneshot(get_request(&dashboard_path(INSTANCE)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/auth/callback"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.contains("redirect_uri=https%3A%2F%2Fbroker.example%2Fauth%2Fcallback"),
        "{location}"
    );
}

#[tokio::test]
async fn insecure_allow_http_drops_secure() {
    let iam = FakeIam::start().await;
    let auth = iam.auth("127.0.0.1:1".parse().unwrap()).build().unwrap();
    let response = router(&auth)
        .oneshot(get_request(&dashboard_path(INSTANCE)))
        .await
        .unwrap();
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn plain_http_redirect_uri_is_refused_unless_asked_for_by_name() {
    let iam = FakeIam::start().await;
    let built = DashboardAuth::builder(
        CLIENT_ID,
        CLIENT_SECRET,
        "http://broker.example/auth/callback",
        iam.verifier(),
    )
    .insecure_skip_access_check()
    .build();
    assert!(matches!(built, Err(ConfigError::InvalidRedirectUri { .. })));
    let relative =
        DashboardAuth::builder(CLIENT_ID, CLIENT_SECRET, "/auth/callback", iam.verifier())
            .insecure_skip_access_check()
            .build();
    assert!(matches!(
        relative,
        Err(ConfigError::InvalidRedirectUri { .. })
    ));
}

#[tokio::test]
async fn the_access_check_must_be_configured_or_switched_off_by_name() {
    let iam = FakeIam::start().await;
    let built = DashboardAuth::builder(
        CLIENT_ID,
        CLIENT_SECRET,
        "https://broker.example/auth/callback",
        iam.verifier(),
    )
    .build();
    assert!(matches!(built, Err(ConfigError::NoAccessCheck)));
    let skipped = DashboardAuth::builder(
        CLIENT_ID,
        CLIENT_SECRET,
        "https://broker.example/auth/callback",
        iam.verifier(),
    )
    .insecure_skip_access_check()
    .build();
    assert!(
        skipped.is_ok(),
        "a random session key is generated when none is given"
    );
}

#[tokio::test]
async fn unsafe_default_return_path_and_bad_cookie_names_are_refused() {
    let iam = FakeIam::start().await;
    let builder = || {
        DashboardAuth::builder(
            CLIENT_ID,
            CLIENT_SECRET,
            "https://broker.example/auth/callback",
            iam.verifier(),
        )
        .insecure_skip_access_check()
        .session_key(SessionKey::from_bytes(&[1; 32]).unwrap())
    };
    for path in ["//evil.example", "https://evil.example/", "home"] {
        assert!(
            matches!(
                builder().default_return_path(path).build(),
                Err(ConfigError::InvalidReturnPath)
            ),
            "{path}"
        );
    }
    assert!(matches!(
        builder().cookie_name("a;b").build(),
        Err(ConfigError::InvalidCookie { what: "name" })
    ));
    assert!(matches!(
        builder().cookie_path("x").build(),
        Err(ConfigError::InvalidCookie { what: "path" })
    ));
}

#[tokio::test]
async fn rejections_are_typed_in_the_response_extensions() {
    let iam = FakeIam::start().await;
    let auth = iam.auth("127.0.0.1:1".parse().unwrap()).build().unwrap();
    let app = router(&auth);

    let response = app
        .clone()
        .oneshot(get_request("/dashboard/"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.extensions().get::<Rejection>(),
        Some(&Rejection::NoInstance)
    );

    let response = app
        .clone()
        .oneshot(get_request(
            "/auth/callback?code=c&state=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.extensions().get::<Rejection>(),
        Some(&Rejection::InvalidState)
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn guard_lets_no_request_through_to_the_handler_without_a_session() {
    let iam = FakeIam::start().await;
    let auth = iam.auth("127.0.0.1:1".parse().unwrap()).build().unwrap();
    let app = router(&auth);
    for method in ["GET", "POST", "PUT", "DELETE", "HEAD"] {
        let request = Request::builder()
            .method(method)
            .uri(dashboard_path(INSTANCE))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        // The router answers 405 for methods without a route; the guard answers first.
        assert_eq!(response.status(), StatusCode::FOUND, "{method}");
        assert!(response.extensions().get::<Rejection>().is_none());
    }
}

#[tokio::test]
async fn an_instance_id_too_long_for_the_state_cookie_is_no_instance() {
    let iam = FakeIam::start().await;
    let auth = iam
        .auth("127.0.0.1:1".parse().unwrap())
        .instance(|_: &http::Uri| Some("x".repeat(1025)))
        .build()
        .unwrap();
    let response = router(&auth)
        .oneshot(get_request(&dashboard_path(INSTANCE)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
