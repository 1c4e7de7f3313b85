//! Token verification rules, against keys generated at test time.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use osb_iam::keys::KeyCache;
use osb_iam::{Policy, PolicyViolation, TokenRejection, Verifier};
use serde_json::json;
use support::{ACCOUNT, BROKER_CRN, crn_claims, key, key_set, now, with};

fn verifier_with(policy: Policy) -> Verifier {
    Verifier::builder(KeyCache::fixed(key_set(&[key(0)])), policy).build()
}

fn verifier() -> Verifier {
    verifier_with(Policy::bearer_crn(BROKER_CRN))
}

#[tokio::test]
async fn valid_bearer_crn_token_is_accepted_with_typed_claims() {
    let claims = verifier()
        .verify(&key(0).token(&crn_claims()))
        .await
        .unwrap();
    assert_eq!(claims.iam_id, format!("crn-{BROKER_CRN}"));
    assert_eq!(claims.sub.as_deref(), Some(BROKER_CRN));
    assert_eq!(claims.sub_type.as_deref(), Some("CRN"));
    assert_eq!(claims.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(claims.client_id.as_deref(), Some("resource-controller"));
    assert!(claims.has_scope("resource-controller"));
    assert_eq!(
        claims.grant_type.as_deref(),
        Some("urn:ibm:params:oauth:grant-type:iam-authz")
    );
    assert!(claims.exp > now());
    assert_eq!(claims.raw()["realmid"], "crn");
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let token = key(0).token(&with(crn_claims(), json!({"exp": now() - 60})));
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::Expired)
    );
}

#[tokio::test]
async fn expired_token_within_leeway_is_accepted() {
    let token = key(0).token(&with(crn_claims(), json!({"exp": now() - 2})));
    assert!(verifier().verify(&token).await.is_ok());
}

#[tokio::test]
async fn expired_token_beyond_custom_leeway_is_rejected() {
    let verifier = Verifier::builder(
        KeyCache::fixed(key_set(&[key(0)])),
        Policy::bearer_crn(BROKER_CRN),
    )
    .leeway(Duration::ZERO)
    .token_cache_capacity(0)
    .build();
    let token = key(0).token(&with(crn_claims(), json!({"exp": now() - 3})));
    assert_eq!(verifier.verify(&token).await, Err(TokenRejection::Expired));
}

#[tokio::test]
async fn token_not_yet_valid_is_rejected() {
    let token = key(0).token(&with(crn_claims(), json!({"nbf": now() + 120})));
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::NotYetValid)
    );
}

#[tokio::test]
async fn token_issued_in_the_future_is_rejected() {
    let token = key(0).token(&with(crn_claims(), json!({"iat": now() + 120})));
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::NotYetValid)
    );
}

#[tokio::test]
async fn not_before_within_leeway_is_accepted() {
    let token = key(0).token(&with(
        crn_claims(),
        json!({"nbf": now() + 2, "iat": now() + 2}),
    ));
    assert!(verifier().verify(&token).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let staging = with(
        crn_claims(),
        json!({"iss": "https://iam.test.cloud.ibm.com/identity"}),
    );
    assert_eq!(
        verifier().verify(&key(0).token(&staging)).await,
        Err(TokenRejection::WrongIssuer)
    );
    let mut missing = crn_claims();
    missing.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        verifier().verify(&key(0).token(&missing)).await,
        Err(TokenRejection::WrongIssuer)
    );
}

#[tokio::test]
async fn staging_issuer_is_accepted_by_a_staging_verifier() {
    let verifier = Verifier::builder(
        KeyCache::fixed(key_set(&[key(0)])),
        Policy::bearer_crn(BROKER_CRN),
    )
    .issuer(osb_iam::Environment::STAGING.issuer())
    .build();
    let staging = with(
        crn_claims(),
        json!({"iss": "https://iam.test.cloud.ibm.com/identity"}),
    );
    assert!(verifier.verify(&key(0).token(&staging)).await.is_ok());
}

#[tokio::test]
async fn token_without_exp_is_rejected() {
    let mut claims = crn_claims();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verifier().verify(&key(0).token(&claims)).await,
        Err(TokenRejection::MissingClaim { claim: "exp" })
    );
}

#[tokio::test]
async fn token_without_iam_id_is_rejected() {
    let mut claims = crn_claims();
    claims.as_object_mut().unwrap().remove("iam_id");
    assert_eq!(
        verifier().verify(&key(0).token(&claims)).await,
        Err(TokenRejection::MissingClaim { claim: "iam_id" })
    );
}

#[tokio::test]
async fn alg_none_is_rejected_before_key_lookup() {
    let header = json!({"alg": "none", "kid": key(0).kid});
    let token = format!("{}.", support::signing_input(&header, &crn_claims()));
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::DisallowedAlgorithm { alg: "none".into() })
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": key(0).kid});
    for secret in [key(0).public_der(), key(0).jwk().to_string().into_bytes()] {
        let token = support::hs256(&secret, &header, &crn_claims());
        assert_eq!(
            verifier().verify(&token).await,
            Err(TokenRejection::DisallowedAlgorithm {
                alg: "HS256".into()
            })
        );
    }
}

#[tokio::test]
async fn other_rsa_algorithms_are_rejected() {
    for alg in ["RS512", "PS256", "ES256", "rs256"] {
        let token = key(0).sign(&json!({"alg": alg, "kid": key(0).kid}), &crn_claims());
        assert_eq!(
            verifier().verify(&token).await,
            Err(TokenRejection::DisallowedAlgorithm { alg: alg.into() })
        );
    }
}

#[tokio::test]
async fn tampered_payload_fails_the_signature_check() {
    let token = key(0).token(&crn_claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = with(
        crn_claims(),
        json!({"iam_id": "crn-crn:v1:bluemix:public:other"}),
    );
    parts[1] = support::b64_json(&forged);
    let verifier = verifier_with(Policy::insecure_any_identity());
    assert_eq!(
        verifier.verify(&parts.join(".")).await,
        Err(TokenRejection::BadSignature)
    );
}

#[tokio::test]
async fn token_signed_by_another_key_with_a_known_kid_fails_the_signature_check() {
    let token = key(1).sign(&json!({"alg": "RS256", "kid": key(0).kid}), &crn_claims());
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::BadSignature)
    );
}

#[tokio::test]
async fn malformed_tokens_are_rejected_without_panic() {
    let valid = key(0).token(&crn_claims());
    let (head, _) = valid.split_once('.').unwrap();
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "!!!.e30.sig".into(),
        format!("{}.e30.", support::b64_json(&json!("a string"))),
        format!("{head}.!!!.AAAA"),
        format!("{head}.{}.%%%", support::b64_json(&crn_claims())),
        format!(
            "{}.e30.AA",
            support::b64_json(&json!({"alg": "RS256", "kid": key(0).kid, "crit": ["exp"]}))
        ),
        "é.é.é".into(),
    ];
    for token in cases {
        let rejection = verifier().verify(&token).await.unwrap_err();
        assert!(
            matches!(
                rejection,
                TokenRejection::Malformed { .. } | TokenRejection::BadSignature
            ),
            "{token:?} gave {rejection:?}"
        );
        assert_eq!(rejection.status(), 401);
    }
}

#[tokio::test]
async fn signed_claims_that_are_not_an_object_are_malformed() {
    let token = key(0).sign(&json!({"alg": "RS256", "kid": key(0).kid}), &json!([1, 2]));
    assert!(matches!(
        verifier().verify(&token).await,
        Err(TokenRejection::Malformed { .. })
    ));
}

#[tokio::test]
async fn header_without_kid_is_rejected() {
    let token = key(0).sign(&json!({"alg": "RS256"}), &crn_claims());
    assert_eq!(
        verifier().verify(&token).await,
        Err(TokenRejection::MissingKeyId)
    );
}

#[tokio::test]
async fn oversized_token_is_rejected_before_parsing() {
    let huge = "a".repeat(16 * 1024 + 1);
    assert_eq!(
        verifier().verify(&huge).await,
        Err(TokenRejection::TooLarge { limit: 16 * 1024 })
    );
    let padded = with(crn_claims(), json!({"padding": "x".repeat(20_000)}));
    assert!(matches!(
        verifier().verify(&key(0).token(&padded)).await,
        Err(TokenRejection::TooLarge { .. })
    ));
}

#[tokio::test]
async fn iam_id_outside_the_allow_list_is_denied_by_policy() {
    let user = with(crn_claims(), json!({"iam_id": "IBMid-50GNR717YE"}));
    let rejection = verifier().verify(&key(0).token(&user)).await.unwrap_err();
    assert_eq!(
        rejection,
        TokenRejection::PolicyDenied {
            violation: PolicyViolation::IamIdNotAllowed
        }
    );
    assert_eq!(rejection.status(), 403);
}

#[tokio::test]
async fn service_id_on_the_allow_list_is_accepted() {
    let verifier = verifier_with(Policy::iam_ids(["iam-ServiceId-1234"]));
    let service_id = with(
        crn_claims(),
        json!({"iam_id": "iam-ServiceId-1234", "sub_type": "ServiceId"}),
    );
    assert!(verifier.verify(&key(0).token(&service_id)).await.is_ok());
}

#[tokio::test]
async fn account_client_and_scope_rules_are_enforced() {
    let policy = Policy::bearer_crn(BROKER_CRN)
        .account_ids([ACCOUNT])
        .client_ids(["resource-controller"])
        .required_scope("resource-controller");
    let verifier = verifier_with(policy);
    assert!(verifier.verify(&key(0).token(&crn_claims())).await.is_ok());

    let cases = [
        (
            json!({"account": {"bss": "other"}}),
            PolicyViolation::AccountNotAllowed,
        ),
        (json!({"account": null}), PolicyViolation::AccountNotAllowed),
        (
            json!({"client_id": "bx"}),
            PolicyViolation::ClientNotAllowed,
        ),
        (
            json!({"scope": "ibm openid"}),
            PolicyViolation::MissingScope {
                scope: "resource-controller".into(),
            },
        ),
    ];
    for (change, violation) in cases {
        let token = key(0).token(&with(crn_claims(), change));
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenRejection::PolicyDenied { violation })
        );
    }
}

#[tokio::test]
async fn cached_token_is_still_checked_against_the_policy_and_expiry() {
    let verifier = verifier();
    let token = key(0).token(&crn_claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok()); // served from the verified-token cache
    let user = key(0).token(&with(crn_claims(), json!({"iam_id": "IBMid-1"})));
    for _ in 0..2 {
        assert!(matches!(
            verifier.verify(&user).await,
            Err(TokenRejection::PolicyDenied { .. })
        ));
    }
    // Within the leeway: accepted but never cached (an entry is served only before `exp`).
    let almost = key(0).token(&with(crn_claims(), json!({"exp": now() - 1})));
    for _ in 0..2 {
        assert!(verifier.verify(&almost).await.is_ok());
    }
}

#[tokio::test]
async fn raw_claims_keep_every_claim_and_odd_types_read_as_absent() {
    let odd = with(
        crn_claims(),
        json!({"name": 42, "email": ["a"], "custom": {"x": 1}, "exp": (now() + 60) as f64 + 0.5}),
    );
    let claims = verifier().verify(&key(0).token(&odd)).await.unwrap();
    assert_eq!(claims.name, None);
    assert_eq!(claims.email, None);
    assert_eq!(claims.raw()["custom"]["x"], 1);
    assert_eq!(claims.raw()["name"], 42);
    assert_eq!(claims.exp, now() + 60);
}

#[tokio::test]
async fn mistyped_exp_is_rejected() {
    for exp in [json!("tomorrow"), json!(-5)] {
        let token = key(0).token(&with(crn_claims(), json!({"exp": exp})));
        let rejection = verifier().verify(&token).await.unwrap_err();
        assert!(
            matches!(
                rejection,
                TokenRejection::Malformed { .. } | TokenRejection::MissingClaim { claim: "exp" }
            ),
            "{rejection:?}"
        );
    }
}
