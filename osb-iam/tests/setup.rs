//! `setup::Settings` → `IbmCloud`: what each setting switches on, and what it refuses at start.
#![cfg(all(feature = "dashboard", feature = "metering"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use osb_core::managed::MemoryStore;
use osb_iam::IamClaims;
use osb_iam::dashboard::SessionKey;
use osb_iam::metering::{Measure, MeterError, MeteredInstance, Window};
use osb_iam::setup::{Error, MeteringError, Settings};
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
async fn unreachable_iam_at_start_is_not_fatal() {
    let mut settings = Settings::default();
    settings.iam_jwks_url = Some(closed_port_url().await);
    settings.iam_identities = vec!["crn-x".to_owned()];
    let ibm = settings.start().await.unwrap();
    assert_eq!(ibm.key_cache().unwrap().keys().len(), 0);
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_for_every_url() {
    let cases: [(Change, &str); 4] = [
        // The API key would travel in clear text to the token endpoint.
        (
            |s| s.iam_url = "http://iam.example.com".to_owned(),
            "BROKER_IAM_URL (iam_url)",
        ),
        (
            |s| s.iam_jwks_url = Some("http://iam.example.com/identity/keys".to_owned()),
            "BROKER_IAM_JWKS_URL (iam_jwks_url)",
        ),
        (
            |s| s.iam_issuer = Some("http://iam.example.com/identity".to_owned()),
            "BROKER_IAM_ISSUER (iam_issuer)",
        ),
        (
            |s| s.metering_url = Some("http://billing.example.com".to_owned()),
            "BROKER_METERING_URL (metering_url)",
        ),
    ];
    for (change, setting) in cases {
        let mut settings = Settings::default();
        settings.iam_api_key = Some(API_KEY.parse().unwrap());
        settings.metering_url = Some("https://billing.example.com".to_owned());
        settings.iam_identities = vec!["crn-x".to_owned()];
        settings.iam_jwks_url = Some("https://iam.example.com/identity/keys".to_owned());
        change(&mut settings);
        let err = settings.start().await.unwrap_err();
        let reason = "it must be https (plain http only on a loopback host)";
        assert_eq!(
            err.to_string(),
            format!("{setting} is unusable: {reason}"),
            "{err:?}"
        );
    }
    let mut settings = Settings::default();
    settings.iam_url = "iam.example.com".to_owned();
    let err = settings.start().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "BROKER_IAM_URL (iam_url) is unusable: not an absolute URL"
    );
}

#[tokio::test]
async fn settings_of_a_capability_that_is_off_are_refused() {
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let cases: [(Change, &str, &str); 4] = [
        (
            |s| s.iam_jwks_url = None,
            "BROKER_IAM_IDENTITIES",
            "BROKER_IAM_JWKS_URL",
        ),
        (
            |s| s.dashboard_client_id = None,
            "BROKER_DASHBOARD_CLIENT_SECRET",
            "BROKER_DASHBOARD_CLIENT_ID",
        ),
        (
            |s| {
                (
                    s.dashboard_client_id,
                    s.dashboard_client_secret,
                    s.dashboard_redirect_url,
                ) = (None, None, None)
            },
            "BROKER_SERVICE_NAME",
            "BROKER_DASHBOARD_CLIENT_ID",
        ),
        (
            |s| {
                s.dashboard_client_id = None;
                (
                    s.dashboard_client_secret,
                    s.dashboard_redirect_url,
                    s.service_name,
                ) = (None, None, None);
                s.dashboard_session_key = Some(SessionKey::from_bytes(&[7; 64]).unwrap());
            },
            "BROKER_DASHBOARD_SESSION_KEY",
            "BROKER_DASHBOARD_CLIENT_ID",
        ),
    ];
    for (change, setting, switch) in cases {
        let mut settings = dashboard_settings(&iam);
        settings.iam_jwks_url = Some(iam.url("/identity/keys"));
        settings.iam_identities = vec!["crn-x".to_owned()];
        change(&mut settings);
        let err = settings.start().await.unwrap_err();
        let Error::Unused {
            setting: given,
            switch: needs,
        } = err
        else {
            panic!("{setting}: {err:?}");
        };
        assert_eq!((given.env_var(), needs.env_var()), (setting, switch));
    }
}

#[tokio::test]
async fn a_crn_given_for_its_iam_id_is_refused() {
    let mut settings = Settings::default();
    settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".to_owned());
    settings.iam_identities = vec![BROKER_CRN.to_owned()];
    let err = settings.start().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("BROKER_IAM_IDENTITIES (iam_identities) is unusable"),
        "{message}"
    );
}

#[tokio::test]
async fn identities_are_trimmed() {
    let keys = FakeEndpoint::jwks(&[key(0)]).await;
    let mut settings = bearer_settings(&keys);
    settings.iam_identities = vec!["crn-other".to_owned(), format!(" crn-{BROKER_CRN}")];
    let ibm = settings.start().await.unwrap();
    let token = key(0).token(&crn_claims());
    assert_eq!(
        call(&ibm, &format!("Bearer {token}")).await.0,
        StatusCode::OK
    );
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
            |s| {
                (s.dashboard_client_id, s.dashboard_client_secret) = (None, None);
                (s.dashboard_redirect_url, s.service_name, s.iam_api_key) = (None, None, None);
            },
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
        let Error::Missing {
            capability: on,
            missing: needs,
        } = err
        else {
            panic!("{capability} without {missing}: {err:?}");
        };
        assert_eq!((on.env_var(), needs.env_var()), (capability, missing));
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
        let Error::Empty { setting: empty } = err else {
            panic!("{setting}: {err:?}");
        };
        assert_eq!(empty.env_var(), setting);
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

    let mut relative = dashboard_settings(&iam);
    relative.dashboard_redirect_url = Some("/auth/callback".to_owned());
    let err = relative.start().await.unwrap_err().to_string();
    let setting = "BROKER_DASHBOARD_REDIRECT_URL (dashboard_redirect_url)";
    assert_eq!(err, format!("{setting} is unusable: not an absolute URL"));
    // IAM on loopback does not make a plain-http broker elsewhere acceptable: its session
    // cookie would travel in clear text.
    let mut plain = dashboard_settings(&iam);
    plain.dashboard_redirect_url = Some("http://broker.example.com/auth/callback".to_owned());
    let err = plain.start().await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{setting} is unusable: it must be https")),
        "{err}"
    );
    assert!(
        !err.contains("broker.example.com"),
        "no value in messages: {err}"
    );
}

#[tokio::test]
async fn credentials_in_a_url_or_whitespace_around_a_setting_are_refused() {
    let mut settings = Settings::default();
    settings.iam_api_key = Some(API_KEY.parse().unwrap());
    settings.metering_url = Some("https://user:s3cret@billing.example.com".to_owned());
    let err = settings.start().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "BROKER_METERING_URL (metering_url) is unusable: credentials do not belong in the URL"
    );
    let mut settings = Settings::default();
    settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".to_owned());
    settings.iam_identities = vec!["crn-x".to_owned()];
    settings.iam_issuer = Some("https://iam.cloud.ibm.com/identity ".to_owned());
    let err = settings.start().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "BROKER_IAM_ISSUER (iam_issuer) is unusable: it has whitespace around it"
    );
}

#[tokio::test]
async fn a_session_key_from_the_settings_is_accepted() {
    // That replicas sharing it share sessions is proven end to end (tests/tests/dashboard.rs).
    let iam = FakeEndpoint::jwks(&[key(0)]).await;
    let mut settings = dashboard_settings(&iam);
    settings.dashboard_session_key = Some(SessionKey::from_base64(&"a2V5".repeat(16)).unwrap()); // 48 bytes
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
    let again = on.start_metering("service-id", ["plan"], store.clone(), meter());
    assert!(
        matches!(again, Err(Error::Metering(MeteringError::AlreadyStarted))),
        "{again:?}"
    );
    let metrics = on.reporter().unwrap().metrics().await.unwrap();
    assert_eq!((metrics.pending, metrics.accepted), (0, 0));
    on.shutdown().await;

    let mut no_plans = settings.start().await.unwrap();
    let err = no_plans.start_metering("service-id", Vec::<String>::new(), store, meter());
    assert!(
        matches!(err, Err(Error::Metering(MeteringError::Reporter(_)))),
        "{err:?}"
    );
}

#[test]
fn the_summary_lists_what_is_on_and_debug_hides_secrets() {
    let mut settings = Settings::default();
    assert_eq!(settings.summary(), "");
    settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".to_owned());
    settings.iam_identities = vec!["crn-a".to_owned(), "crn-b".to_owned()];
    settings.iam_api_key = Some("k3y-s3cret".parse().unwrap());
    settings.dashboard_client_id = Some("client".to_owned());
    settings.dashboard_client_secret = Some("cl13nt-s3cret".to_owned());
    settings.metering_url = Some("https://billing.cloud.ibm.com".to_owned());
    settings.service_name = Some("db".to_owned());
    settings.dashboard_redirect_url = Some("https://broker.example.com/auth/callback".to_owned());
    let shown = settings.summary();
    assert_eq!(
        shown,
        "IAM bearer tokens accepted from crn-a, crn-b (keys from https://iam.cloud.ibm.com/identity/keys)\n\
         dashboard sign-in through https://iam.cloud.ibm.com/identity as client client\n\
         usage metering to https://billing.cloud.ibm.com\n"
    );
    let debug = format!("{settings:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(
        debug.contains(r#"dashboard_client_id: Some("client")"#),
        "{debug}"
    );
}
