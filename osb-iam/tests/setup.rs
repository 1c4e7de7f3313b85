//! `setup::Settings` → `IbmCloud`: what each setting switches on, and what it refuses at start.
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use osb_core::managed::MemoryStore;
use osb_iam::IamClaims;
use osb_iam::metering::{Measure, MeterError, MeteredInstance, Window};
use osb_iam::setup::{MeteringError, Settings, SetupError};
use osb_tower::auth::{Basic, RequireAuthLayer};
use serde_json::json;
use support::{BROKER_CRN, FakeEndpoint, ISSUER, closed_port_url, crn_claims, key, with};
use tower::{Layer, ServiceExt, service_fn};

/// `cGxhdGZvcm06czNjcmV0` is base64 of `platform:s3cret`.
const BASIC: &str = "Basic cGxhdGZvcm06czNjcmV0";
const API_KEY: &str = "provider-api-key";

/// Settings accepting Resource Controller's Bearer-CRN tokens, keys from `keys`.
fn bearer_settings(keys: &FakeEndpoint) -> Settings {
    let mut settings = Settings::default();
    settings.iam_url = keys.url("");
    settings.iam_jwks_url = Some(keys.url("/identity/keys"));
    settings.iam_issuer = Some(ISSUER.to_owned());
    settings.iam_identities = vec![format!("crn-{BROKER_CRN}")];
    settings
}

/// One request through `RequireAuthLayer(ibm.broker_auth(Basic))`: the status and who got in.
async fn call(ibm: &osb_iam::setup::IbmCloud, authorization: &str) -> (StatusCode, Bytes) {
    let inner = service_fn(|request: Request<()>| async move {
        let who = request
            .extensions()
            .get::<IamClaims>()
            .map(|claims| claims.iam_id.clone());
        Ok::<_, Infallible>(Response::new(Bytes::from(
            who.unwrap_or_else(|| "basic".into()),
        )))
    });
    let auth = ibm.broker_auth(Basic::new("platform", "s3cret"));
    let service = RequireAuthLayer::new(auth).layer(inner);
    let request = Request::builder().header("authorization", authorization);
    let response = service.oneshot(request.body(()).unwrap()).await.unwrap();
    (response.status(), response.into_body())
}

#[tokio::test]
async fn bearer_on_accepts_basic_or_an_allowed_iam_token_with_keys_fetched_at_start() {
    let keys = FakeEndpoint::jwks(&[key(0)]).await;
    let ibm = bearer_settings(&keys).start().await.unwrap();
    assert_eq!(
        keys.hits(),
        1,
        "the keys are fetched at start, before any token"
    );
    assert!(ibm.bearer_verifier().is_some() && ibm.key_cache().is_some());

    assert_eq!(
        call(&ibm, BASIC).await,
        (StatusCode::OK, Bytes::from("basic"))
    );
    let token = key(0).token(&crn_claims());
    let (status, who) = call(&ibm, &format!("Bearer {token}")).await;
    assert_eq!(
        (status, who),
        (StatusCode::OK, Bytes::from(format!("crn-{BROKER_CRN}")))
    );

    let stranger = key(0).token(&with(crn_claims(), json!({"iam_id": "crn-someone-else"})));
    let (status, _) = call(&ibm, &format!("Bearer {stranger}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&ibm, "Basic cGxhdGZvcm06d3Jvbmc=").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    ibm.shutdown().await;
}

#[tokio::test]
async fn bearer_off_lets_only_basic_in_and_fetches_nothing() {
    let ibm = Settings::default().start().await.unwrap();
    assert!(ibm.key_cache().is_none() && ibm.bearer_verifier().is_none());
    assert_eq!(call(&ibm, BASIC).await.0, StatusCode::OK);
    let token = key(0).token(&crn_claims());
    assert_eq!(
        call(&ibm, &format!("Bearer {token}")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unreachable_iam_at_start_is_logged_not_fatal() {
    let mut settings = Settings::default();
    settings.iam_jwks_url = Some(closed_port_url().await);
    settings.iam_identities = vec!["crn-x".to_owned()];
    let ibm = settings.start().await.unwrap();
    assert_eq!(ibm.key_cache().unwrap().keys().len(), 0);
}

#[tokio::test]
async fn plain_http_iam_off_loopback_is_refused() {
    let mut settings = Settings::default();
    settings.iam_url = "http://iam.example.com".to_owned();
    settings.iam_identities = vec!["crn-x".to_owned()];
    settings.iam_jwks_url = Some("http://iam.example.com/identity/keys".to_owned());
    let err = settings.start().await.unwrap_err();
    assert!(matches!(err, SetupError::KeysUrl(_)), "{err:?}");
}

/// A change to otherwise complete settings.
type Change = fn(&mut Settings);

/// Settings with the dashboard on, IAM at `iam`.
fn dashboard_settings(iam: &FakeEndpoint) -> Settings {
    let mut settings = Settings::default();
    settings.iam_url = iam.url("");
    settings.iam_api_key = Some(API_KEY.parse().unwrap());
    settings.dashboard_client_id = Some("client".to_owned());
    settings.dashboard_client_secret = Some("client-secret".to_owned());
    settings.dashboard_redirect_url = Some(format!("{}/auth/callback", iam.url("")));
    settings.service_name = Some("minimal-db".to_owned());
    settings
}

#[tokio::test]
async fn a_capability_without_a_setting_it_needs_names_both() {
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let cases: [(Change, &str, &str); 6] = [
        (
            |s| s.iam_identities.clear(),
            "BROKER_IAM_JWKS_URL",
            "BROKER_IAM_IDENTITIES",
        ),
        (
            |s| s.iam_api_key = None,
            "BROKER_DASHBOARD_CLIENT_ID",
            "BROKER_IAM_API_KEY",
        ),
        (
            |s| s.dashboard_client_secret = None,
            "BROKER_DASHBOARD_CLIENT_ID",
            "BROKER_DASHBOARD_CLIENT_SECRET",
        ),
        (
            |s| s.dashboard_redirect_url = None,
            "BROKER_DASHBOARD_CLIENT_ID",
            "BROKER_DASHBOARD_REDIRECT_URL",
        ),
        (
            |s| s.service_name = None,
            "BROKER_DASHBOARD_CLIENT_ID",
            "BROKER_SERVICE_NAME",
        ),
        (
            |s| (s.dashboard_client_id, s.iam_api_key) = (None, None),
            "BROKER_METERING_URL",
            "BROKER_IAM_API_KEY",
        ),
    ];
    for (change, capability, missing) in cases {
        let mut settings = dashboard_settings(&iam);
        settings.iam_jwks_url = Some(iam.url("/identity/keys"));
        settings.iam_identities = vec!["crn-x".to_owned()];
        settings.metering_url = Some("https://billing.example.com".to_owned());
        change(&mut settings);
        let err = settings.start().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{capability} needs {missing}"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_setting_is_refused_by_name() {
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let cases: [(Change, &str); 4] = [
        (
            |s| s.dashboard_client_id = Some(String::new()),
            "BROKER_DASHBOARD_CLIENT_ID",
        ),
        (
            |s| s.service_name = Some(" ".to_owned()),
            "BROKER_SERVICE_NAME",
        ),
        (
            |s| s.iam_identities.push(String::new()),
            "BROKER_IAM_IDENTITIES",
        ),
        (|s| s.iam_url = String::new(), "BROKER_IAM_URL"),
    ];
    for (change, setting) in cases {
        let mut settings = dashboard_settings(&iam);
        change(&mut settings);
        let err = settings.start().await.unwrap_err();
        assert_eq!(err.to_string(), format!("{setting} is empty"), "{err:?}");
    }
}

#[tokio::test]
async fn dashboard_on_configures_the_guard_and_its_callback() {
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let ibm = dashboard_settings(&iam).start().await.unwrap();
    let dashboard = ibm.dashboard().unwrap();
    assert_eq!(dashboard.callback_path(), "/auth/callback");
    assert!(ibm.key_cache().is_some() && ibm.api_key_client().is_some());
    assert!(
        ibm.bearer_verifier().is_none(),
        "the dashboard alone accepts no bearer tokens"
    );

    let mut bad = dashboard_settings(&iam);
    bad.dashboard_redirect_url = Some("/auth/callback".to_owned());
    let err = bad.start().await.unwrap_err();
    assert!(matches!(err, SetupError::Dashboard(_)), "{err:?}");
}

#[tokio::test]
async fn dashboard_session_key_from_settings_is_used() {
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let mut settings = dashboard_settings(&iam);
    settings.dashboard_session_key = Some(
        osb_iam::dashboard::SessionKey::from_base64(&"a2V5".repeat(16)).unwrap(), // 48 bytes
    );
    assert!(settings.start().await.unwrap().dashboard().is_some());
}

fn meter() -> impl osb_iam::metering::Meter {
    |_: MeteredInstance, _: Window| async {
        Ok::<_, MeterError>(vec![Measure::new("API_CALL", 1_u64)])
    }
}

#[tokio::test]
async fn metering_starts_only_when_on_and_stops_with_shutdown() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let mut off = Settings::default().start().await.unwrap();
    off.start_metering("service-id", ["plan"], store.clone(), meter())
        .unwrap();
    assert!(off.reporter().is_none() && off.metering_client("service-id").unwrap().is_none());

    let mut settings = Settings::default();
    settings.iam_api_key = Some(API_KEY.parse().unwrap());
    settings.metering_url = Some("http://127.0.0.1:9".to_owned());
    let mut on = settings.start().await.unwrap();
    on.start_metering("service-id", ["plan"], store.clone(), meter())
        .unwrap();
    let metrics = on.reporter().unwrap().metrics().await.unwrap();
    assert_eq!((metrics.pending, metrics.accepted), (0, 0));
    on.shutdown().await;

    let mut no_plans = settings.start().await.unwrap();
    let err = no_plans.start_metering("service-id", Vec::<String>::new(), store, meter());
    assert!(
        matches!(err, Err(SetupError::Metering(MeteringError::Reporter(_)))),
        "{err:?}"
    );
}

#[tokio::test]
async fn metering_url_off_loopback_over_http_is_refused() {
    let mut settings = Settings::default();
    settings.iam_api_key = Some(API_KEY.parse().unwrap());
    settings.metering_url = Some("http://billing.example.com".to_owned());
    let mut ibm = settings.start().await.unwrap();
    let store = std::sync::Arc::new(MemoryStore::new());
    let err = ibm.start_metering("service-id", ["plan"], store, meter());
    assert!(
        matches!(err, Err(SetupError::Metering(MeteringError::Url(_)))),
        "{err:?}"
    );
}

#[test]
fn display_lists_what_is_on_and_debug_hides_secrets() {
    let mut settings = Settings::default();
    assert_eq!(settings.to_string(), "");
    settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".to_owned());
    settings.iam_identities = vec!["crn-a".to_owned(), "crn-b".to_owned()];
    settings.iam_api_key = Some("k3y-s3cret".parse().unwrap());
    settings.dashboard_client_id = Some("client".to_owned());
    settings.dashboard_client_secret = Some("cl13nt-s3cret".to_owned());
    settings.metering_url = Some("https://billing.cloud.ibm.com".to_owned());
    let shown = settings.to_string();
    assert_eq!(
        shown,
        "IAM bearer tokens accepted from crn-a, crn-b (keys from https://iam.cloud.ibm.com/identity/keys)\n\
         dashboard sign-in through https://iam.cloud.ibm.com/identity as client client\n\
         usage metering to https://billing.cloud.ibm.com\n"
    );
    let debug = format!("{settings:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("client"), "{debug}");
}
