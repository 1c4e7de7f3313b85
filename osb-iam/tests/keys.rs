//! Key fetching, rotation, outages and refresh rate limits, against a JWK-set server on loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use osb_iam::keys::{HttpKeySource, KeyCache, KeySet, KeySource, KeySourceError, StaticKeys};
use osb_iam::{Policy, TokenRejection, Verifier};
use support::{BROKER_CRN, Canned, FakeEndpoint, closed_port_url, crn_claims, eventually, key};

fn source(server: &FakeEndpoint) -> HttpKeySource {
    HttpKeySource::insecure_allow_http(&server.url("/identity/keys")).unwrap()
}

fn verifier(keys: KeyCache) -> Verifier {
    Verifier::builder(keys, Policy::bearer_crn(BROKER_CRN)).build()
}

#[tokio::test]
async fn keys_are_fetched_lazily_on_the_first_token() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let verifier = verifier(KeyCache::new(source(&server)));
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn unknown_kid_then_rotation_is_accepted_without_restart() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let keys = KeyCache::new(source(&server)).min_refresh_interval(Duration::ZERO);
    assert_eq!(keys.refresh().await.unwrap(), 1);
    let verifier = verifier(keys);
    let rotated = key(1).token(&crn_claims());
    assert_eq!(
        verifier.verify(&rotated).await,
        Err(TokenRejection::UnknownKey {
            kid: key(1).kid.clone()
        })
    );
    server.publish(&[key(0), key(1)]);
    assert!(verifier.verify(&rotated).await.is_ok());
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
}

#[tokio::test]
async fn first_unknown_kid_refreshes_even_right_after_start_up() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let keys = KeyCache::new(source(&server));
    keys.refresh().await.unwrap();
    server.publish(&[key(0), key(1)]);
    assert!(
        verifier(keys)
            .verify(&key(1).token(&crn_claims()))
            .await
            .is_ok()
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn removed_key_is_rejected_after_the_periodic_refresh() {
    let server = FakeEndpoint::jwks(&[key(0), key(1)]).await;
    let keys = KeyCache::new(source(&server));
    keys.refresh().await.unwrap();
    let verifier = verifier(keys.clone());
    let old = key(0).token(&crn_claims());
    assert!(verifier.verify(&old).await.is_ok()); // now in the verified-token cache too

    server.publish(&[key(1)]);
    let task = keys.spawn_refresh(Duration::from_millis(20));
    assert!(eventually(|| !keys.keys().contains(&key(0).kid)).await);
    assert_eq!(
        verifier.verify(&old).await,
        Err(TokenRejection::UnknownKey {
            kid: key(0).kid.clone()
        })
    );
    assert!(verifier.verify(&key(1).token(&crn_claims())).await.is_ok());
    task.shutdown().await;
}

#[tokio::test]
async fn refresh_task_stops_when_shut_down_or_dropped() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let keys = KeyCache::new(source(&server));
    let task = keys.spawn_refresh(Duration::from_millis(10));
    assert!(eventually(|| server.hits() >= 2).await);
    task.shutdown().await;
    let after_shutdown = server.hits();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // At most a request already on the wire when the task was stopped.
    assert!(server.hits() <= after_shutdown + 1);

    let task = keys.spawn_refresh(Duration::from_millis(10));
    assert!(eventually(|| server.hits() >= after_shutdown + 2).await);
    drop(task);
    tokio::task::yield_now().await;
    let after_drop = server.hits();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // At most a fetch already in flight when the task was dropped.
    assert!(server.hits() <= after_drop + 1);
}

#[tokio::test]
async fn iam_down_keeps_the_cached_keys_working() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let keys = KeyCache::new(source(&server)).min_refresh_interval(Duration::ZERO);
    keys.refresh().await.unwrap();
    let verifier = Verifier::builder(keys.clone(), Policy::bearer_crn(BROKER_CRN))
        .token_cache_capacity(0)
        .build();

    server.answer(Canned::json(
        503,
        &serde_json::json!({"errorMessage": "down"}),
    ));
    assert!(
        matches!(keys.refresh().await, Err(KeySourceError::Status { status, .. }) if status == 503)
    );
    server.answer(Canned {
        status: http::StatusCode::OK,
        body: "<html>".into(),
    });
    assert!(matches!(
        keys.refresh().await,
        Err(KeySourceError::Invalid { .. })
    ));
    server.answer(Canned::json(200, &serde_json::json!({"keys": []})));
    assert!(matches!(
        keys.refresh().await,
        Err(KeySourceError::Invalid { .. })
    ));

    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
    // An unknown kid during the outage: refused, the good keys stay.
    assert!(matches!(
        verifier.verify(&key(1).token(&crn_claims())).await,
        Err(TokenRejection::UnknownKey { .. })
    ));
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
}

/// A source that serves good keys until switched to an address nothing listens on.
struct Flaky {
    good: StaticKeys,
    unreachable: HttpKeySource,
    down: AtomicBool,
}

impl KeySource for Flaky {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<KeySet, KeySourceError>> + Send + '_>> {
        if self.down.load(Ordering::SeqCst) {
            self.unreachable.fetch()
        } else {
            self.good.fetch()
        }
    }
}

#[tokio::test]
async fn unreachable_iam_keeps_the_cached_keys_working() {
    let source = Arc::new(Flaky {
        good: StaticKeys::new(support::key_set(&[key(0)])),
        unreachable: HttpKeySource::insecure_allow_http(&closed_port_url().await).unwrap(),
        down: AtomicBool::new(false),
    });
    let keys = KeyCache::new(source.clone()).min_refresh_interval(Duration::ZERO);
    keys.refresh().await.unwrap();
    let verifier = Verifier::builder(keys.clone(), Policy::bearer_crn(BROKER_CRN))
        .token_cache_capacity(0)
        .build();

    source.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        keys.refresh().await,
        Err(KeySourceError::Unreachable { .. })
    ));
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
    assert!(matches!(
        verifier.verify(&key(1).token(&crn_claims())).await,
        Err(TokenRejection::UnknownKey { .. })
    ));
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
}

#[tokio::test]
async fn never_reachable_iam_refuses_tokens_with_unknown_key() {
    let url = closed_port_url().await;
    let keys = KeyCache::new(HttpKeySource::insecure_allow_http(&url).unwrap());
    assert!(matches!(
        keys.refresh().await,
        Err(KeySourceError::Unreachable { .. })
    ));
    assert!(keys.keys().is_empty());
    assert!(matches!(
        verifier(keys).verify(&key(0).token(&crn_claims())).await,
        Err(TokenRejection::UnknownKey { .. })
    ));
}

#[tokio::test]
async fn forged_kid_flood_triggers_at_most_one_refresh_per_interval() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    server.delay(Duration::from_millis(50)); // keeps the single flight open while others arrive
    let keys = KeyCache::new(source(&server)).min_refresh_interval(Duration::from_secs(30));
    keys.refresh().await.unwrap();
    let verifier = verifier(keys);

    let mut flood = tokio::task::JoinSet::new();
    for i in 0..64 {
        let verifier = verifier.clone();
        let forged = key(1).sign(
            &serde_json::json!({"alg": "RS256", "kid": format!("forged-{i}")}),
            &crn_claims(),
        );
        flood.spawn(async move { verifier.verify(&forged).await });
    }
    while let Some(result) = flood.join_next().await {
        assert!(matches!(
            result.unwrap(),
            Err(TokenRejection::UnknownKey { .. })
        ));
    }
    assert_eq!(
        server.hits(),
        2,
        "start-up fetch plus one refresh for the whole flood"
    );

    for i in 0..16 {
        let forged = key(1).sign(
            &serde_json::json!({"alg": "RS256", "kid": format!("later-{i}")}),
            &crn_claims(),
        );
        assert!(matches!(
            verifier.verify(&forged).await,
            Err(TokenRejection::UnknownKey { .. })
        ));
    }
    assert_eq!(
        server.hits(),
        2,
        "rate-limited: no fetch within the interval"
    );
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());
}

#[tokio::test]
async fn concurrent_unknown_kid_requests_share_one_fetch() {
    let server = FakeEndpoint::jwks(&[key(0), key(1)]).await;
    server.delay(Duration::from_millis(50));
    let verifier = verifier(KeyCache::new(source(&server)));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let verifier = verifier.clone();
        let token = key(1).token(&crn_claims());
        requests.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = requests.join_next().await {
        assert!(result.unwrap().is_ok());
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn oversized_jwk_set_is_refused() {
    let server = FakeEndpoint::jwks(&[key(0), key(1), key(2)]).await;
    let keys = KeyCache::new(source(&server).max_body_size(512));
    assert!(matches!(
        keys.refresh().await,
        Err(KeySourceError::TooLarge { limit: 512, .. })
    ));
}

#[tokio::test]
async fn unusable_keys_are_skipped_and_usable_ones_kept() {
    let mut jwks = support::jwks(&[key(0)]);
    let extra = [
        serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}),
        serde_json::json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        serde_json::json!({"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"}),
        serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
    ];
    jwks["keys"].as_array_mut().unwrap().extend(extra);
    let server = FakeEndpoint::start(Canned::json(200, &jwks)).await;
    let keys = KeyCache::new(source(&server));
    assert_eq!(keys.refresh().await.unwrap(), 1);
    assert!(keys.keys().contains(&key(0).kid));
}

#[test]
fn plain_http_key_source_needs_the_insecure_constructor() {
    assert!(HttpKeySource::new("http://127.0.0.1:1/identity/keys").is_err());
    assert!(HttpKeySource::new("not a url").is_err());
    assert!(HttpKeySource::insecure_allow_http("http://127.0.0.1:1/identity/keys").is_ok());
    assert!(HttpKeySource::insecure_allow_http("ftp://127.0.0.1/keys").is_err());
}

#[tokio::test]
async fn cached_token_is_checked_again_when_its_kid_gets_other_key_material() {
    let server = FakeEndpoint::jwks(&[key(0)]).await;
    let keys = KeyCache::new(source(&server));
    keys.refresh().await.unwrap();
    let verifier = verifier(keys.clone());
    let token = key(0).token(&crn_claims());
    assert!(verifier.verify(&token).await.is_ok()); // verified, now cached

    let mut impostor = key(1).jwk();
    impostor["kid"] = key(0).kid.clone().into();
    server.answer(Canned::json(
        200,
        &serde_json::json!({ "keys": [impostor] }),
    ));
    keys.refresh().await.unwrap();
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenRejection::BadSignature)
    );
}
