//! The API-key token client against a fake IAM token endpoint on loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use osb_iam::apikey::{ApiKey, ApiKeyClient, ApiKeyError};
use serde_json::json;
use support::{Canned, FakeEndpoint};

const API_KEY: &str = "my-very-secret-api-key";

fn token_answer(token: &str, expires_in: u64) -> Canned {
    Canned::json(
        200,
        &json!({
            "access_token": token,
            "refresh_token": "not-used",
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expiration": support::now() + expires_in,
            "scope": "ibm openid",
        }),
    )
}

fn client(server: &FakeEndpoint) -> ApiKeyClient {
    ApiKeyClient::builder(ApiKey::new(API_KEY))
        .token_url(server.url("/identity/token"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn token_is_exchanged_once_and_cached() {
    let server = FakeEndpoint::start(token_answer("token-1", 3600)).await;
    let client = client(&server);
    assert_eq!(client.token().await.unwrap().secret(), "token-1");
    assert_eq!(client.token().await.unwrap().secret(), "token-1");
    assert_eq!(server.hits(), 1);
    let form = server.last_body().unwrap();
    assert!(form.contains("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"));
    assert!(form.contains(&format!("apikey={API_KEY}")));
    assert!(form.contains("response_type=cloud_iam"));
}

#[tokio::test]
async fn token_past_80_percent_of_its_lifetime_is_refreshed() {
    // A 1-second token is due for refresh after 0.8 s.
    let server = FakeEndpoint::start(token_answer("short-lived", 1)).await;
    let client = client(&server);
    assert_eq!(client.token().await.unwrap().secret(), "short-lived");
    server.answer(token_answer("fresh", 3600));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(client.token().await.unwrap().secret(), "fresh");
    assert_eq!(client.token().await.unwrap().secret(), "fresh");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_exchange() {
    let server = FakeEndpoint::start(token_answer("shared", 3600)).await;
    server.delay(Duration::from_millis(50));
    let client = client(&server);
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let client = client.clone();
        callers.spawn(async move { client.token().await.map(|token| token.secret().to_owned()) });
    }
    while let Some(result) = callers.join_next().await {
        assert_eq!(result.unwrap().unwrap(), "shared");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn iam_error_body_becomes_a_clear_error() {
    let server = FakeEndpoint::start(Canned::json(
        400,
        &json!({
            "errorCode": "BXNIM0415E",
            "errorMessage": "Provided API key could not be found.",
            "context": {"requestId": "abc"},
        }),
    ))
    .await;
    let error = client(&server).token().await.unwrap_err();
    match &error {
        ApiKeyError::Refused {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("BXNIM0415E"));
            assert_eq!(
                message.as_deref(),
                Some("Provided API key could not be found.")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("BXNIM0415E") && text.contains("could not be found"),
        "{text}"
    );
    assert!(!text.contains(API_KEY) && !format!("{error:?}").contains(API_KEY));
}

#[tokio::test]
async fn non_json_error_and_garbage_answers_are_errors() {
    let server = FakeEndpoint::start(Canned {
        status: http::StatusCode::BAD_GATEWAY,
        body: "<html>".into(),
    })
    .await;
    assert!(matches!(
        client(&server).token().await,
        Err(ApiKeyError::Refused {
            code: None,
            message: None,
            ..
        })
    ));
    server.answer(Canned::json(200, &json!({"token_type": "Bearer"})));
    assert!(matches!(
        client(&server).token().await,
        Err(ApiKeyError::InvalidAnswer { .. })
    ));
    server.answer(Canned::json(200, &json!({"access_token": "t"})));
    assert!(matches!(
        client(&server).token().await,
        Err(ApiKeyError::InvalidAnswer { .. })
    ));
}

#[tokio::test]
async fn unreachable_iam_is_an_error() {
    let client = ApiKeyClient::builder(ApiKey::new(API_KEY))
        .token_url(support::closed_port_url().await)
        .build()
        .unwrap();
    let error = client.token().await.unwrap_err();
    assert!(matches!(error, ApiKeyError::Unreachable(_)));
    assert!(!format!("{error:?}").contains(API_KEY));
}

#[tokio::test]
async fn failed_refresh_keeps_the_unexpired_token() {
    // 4-second token: due for refresh after 3.2 s, valid until 4 s (0.7 s of slack for a slow
    // machine between the sleep and the failed exchange).
    let server = FakeEndpoint::start(token_answer("still-valid", 4)).await;
    let client = client(&server);
    client.token().await.unwrap();
    server.answer(Canned::json(
        500,
        &json!({"errorCode": "BXNIM0000E", "errorMessage": "boom"}),
    ));
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(client.token().await.unwrap().secret(), "still-valid");
    assert_eq!(server.hits(), 2);
}

#[test]
fn debug_output_redacts_key_and_token() {
    let client = ApiKeyClient::new(ApiKey::new(API_KEY));
    let shown = format!("{client:?}");
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[tokio::test]
async fn authorization_header_is_bearer_and_sensitive() {
    let server = FakeEndpoint::start(token_answer("abc.def.ghi", 3600)).await;
    let token = client(&server).token().await.unwrap();
    let header = token.authorization().unwrap();
    assert_eq!(header, "Bearer abc.def.ghi");
    assert!(header.is_sensitive());
    assert!(!format!("{token:?}").contains("abc"));
}
