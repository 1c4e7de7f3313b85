//! One valid IAM token: verified through the `IamAuth` layer, against the raw RSA-2048 signature
//! check of the same token by each crypto backend, in the same run.
//!
//! `cargo bench -p osb-iam` (aws-lc-rs, the default) or
//! `cargo bench -p osb-iam --no-default-features --features rust-crypto`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    self as lc, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{Request, Response};
use jsonwebtoken::Algorithm;
use osb_iam::keys::{KeyCache, KeySet, PublicKey};
use osb_iam::{IamAuth, IamAuthLayer, Policy, Verifier};
use sha2::Digest as _;
use tower::{Layer, Service, service_fn};

const CRN: &str = "crn:v1:bluemix:public:resource-controller::a/0123abcd::resource-broker:416d769b";

struct Fixture {
    token: String,
    n: Vec<u8>,
    e: Vec<u8>,
    public_der: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iam_id": format!("crn-{CRN}"), "id": format!("crn-{CRN}"), "realmid": "crn",
            "sub": CRN, "identifier": CRN, "sub_type": "CRN", "client_id": "resource-controller",
            "scope": "ibm openid resource-controller",
            "grant_type": "urn:ibm:params:oauth:grant-type:iam-authz",
            "account": {"bss": "0123abcd", "valid": true, "frozen": true},
            "iss": "https://iam.cloud.ibm.com/identity", "iat": now, "exp": now + 3600,
            "jti": "b6b1f8b1-2f0a-4f5c-9a07-6d7f2a1c0e11",
        });
        let header = serde_json::json!({"kid": "20240901", "alg": "RS256"});
        let b64 = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        Self {
            token: format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature)),
            n: public.n,
            e: public.e,
            public_der: pair.public_key().as_ref().to_vec(),
        }
    }

    fn parts(&self) -> (&[u8], Vec<u8>) {
        let (input, signature) = self.token.rsplit_once('.').unwrap();
        (input.as_bytes(), URL_SAFE_NO_PAD.decode(signature).unwrap())
    }

    fn keys(&self) -> KeySet {
        let key = PublicKey::from_rsa_components(
            "20240901",
            &URL_SAFE_NO_PAD.encode(&self.n),
            &URL_SAFE_NO_PAD.encode(&self.e),
        )
        .unwrap();
        KeySet::new().with_key(key)
    }
}

/// Polls a future that never waits (the keys are in memory) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the verification path waited"),
    }
}

fn bench(c: &mut Criterion) {
    let fixture = Fixture::new();
    let (input, signature) = fixture.parts();
    let mut group = c.benchmark_group("rs256_2048");

    // Raw signature checks over the same bytes: the floor the layer is measured against.
    group.bench_function("raw/aws-lc-rs (pre-parsed key)", |b| {
        let key =
            lc::ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &fixture.public_der).unwrap();
        b.iter(|| {
            key.verify_sig(black_box(input), black_box(&signature))
                .unwrap()
        })
    });
    group.bench_function("raw/rust-crypto (pre-parsed key)", |b| {
        let key = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&fixture.n),
            rsa::BigUint::from_bytes_be(&fixture.e),
        )
        .unwrap();
        b.iter(|| {
            let digest = sha2::Sha256::digest(black_box(input));
            key.verify(
                rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                &digest,
                black_box(&signature),
            )
            .unwrap()
        })
    });
    // The call osb-iam makes: jsonwebtoken's RS256 verifier for the chosen backend (it parses
    // the key from `n`/`e` on each call).
    let provider = if cfg!(feature = "aws-lc-rs") {
        "aws-lc-rs"
    } else {
        "rust-crypto"
    };
    group.bench_function(format!("raw/{provider} via jsonwebtoken"), |b| {
        let key = jsonwebtoken::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
        b.iter(|| {
            let verifier = (provider_of_build().verifier_factory)(&Algorithm::RS256, &key).unwrap();
            jsonwebtoken::signature::Verifier::verify(&*verifier, black_box(input), &signature)
                .unwrap()
        })
    });

    let verifier = |cache: usize| {
        Verifier::builder(KeyCache::fixed(fixture.keys()), Policy::bearer_crn(CRN))
            .token_cache_capacity(cache)
            .build()
    };
    let authorization = format!("Bearer {}", fixture.token);
    let mut layered = |name: &str, cache: usize| {
        let inner =
            service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Bytes::new())) });
        let mut service = IamAuthLayer::new(verifier(cache)).layer(inner);
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = Request::builder()
                    .header("authorization", &authorization)
                    .body(())
                    .unwrap();
                let response = ready(service.call(black_box(request))).unwrap();
                assert_eq!(response.status(), 200);
            })
        });
    };
    layered(&format!("layer/{} (no token cache)", osb_iam::BACKEND), 0);
    layered(
        &format!("layer/{} (token cache hit)", osb_iam::BACKEND),
        1024,
    );
    group.finish();
}

#[cfg(feature = "aws-lc-rs")]
fn provider_of_build() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

#[cfg(not(feature = "aws-lc-rs"))]
fn provider_of_build() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}

/// Raw and layered verification alternating in batches, best batch of each: a ratio that holds
/// on a busy machine, where sequential criterion groups drift with the load.
fn interleaved_ratio() {
    const BATCH: u32 = 200;
    const ROUNDS: u32 = 40;
    let fixture = Fixture::new();
    let (input, signature) = fixture.parts();
    let lc_key =
        lc::ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &fixture.public_der).unwrap();
    let rc_key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&fixture.n),
        rsa::BigUint::from_bytes_be(&fixture.e),
    )
    .unwrap();
    // The raw check of the backend this build verifies with.
    let raw = || {
        if cfg!(feature = "aws-lc-rs") {
            lc_key
                .verify_sig(black_box(input), black_box(&signature))
                .unwrap();
        } else {
            let digest = sha2::Sha256::digest(black_box(input));
            let scheme = rsa::Pkcs1v15Sign::new::<sha2::Sha256>();
            rc_key
                .verify(scheme, &digest, black_box(&signature))
                .unwrap();
        }
    };
    let inner =
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Bytes::new())) });
    let layered = |cache: usize| {
        let verifier = Verifier::builder(KeyCache::fixed(fixture.keys()), Policy::bearer_crn(CRN))
            .token_cache_capacity(cache)
            .build();
        IamAuthLayer::new(verifier).layer(inner)
    };
    let (mut uncached, mut cached) = (layered(0), layered(1024));
    let authorization = format!("Bearer {}", fixture.token);
    let through = |service: &mut IamAuth<_>| {
        let started = Instant::now();
        for _ in 0..BATCH {
            let request = Request::builder()
                .header("authorization", &authorization)
                .body(())
                .unwrap();
            let response = ready(service.call(black_box(request))).unwrap();
            assert_eq!(response.status(), 200);
        }
        started.elapsed() / BATCH
    };
    let jwt_key = jsonwebtoken::DecodingKey::from_rsa_raw_components(&fixture.n, &fixture.e);
    let via_jsonwebtoken = || {
        let verifier = (provider_of_build().verifier_factory)(&Algorithm::RS256, &jwt_key).unwrap();
        jsonwebtoken::signature::Verifier::verify(&*verifier, black_box(input), &signature).unwrap()
    };
    let (mut best_raw, mut best_jwt) = (Duration::MAX, Duration::MAX);
    let (mut best_layer, mut best_hit) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..BATCH {
            raw();
        }
        best_raw = best_raw.min(started.elapsed() / BATCH);
        let started = Instant::now();
        for _ in 0..BATCH {
            via_jsonwebtoken();
        }
        best_jwt = best_jwt.min(started.elapsed() / BATCH);
        best_layer = best_layer.min(through(&mut uncached));
        best_hit = best_hit.min(through(&mut cached));
    }
    let backend = osb_iam::BACKEND;
    let ratio = best_layer.as_secs_f64() / best_raw.as_secs_f64();
    println!(
        "interleaved best-of-{ROUNDS} batches: raw {backend} {best_raw:?}, via jsonwebtoken {best_jwt:?}, layer/{backend} {best_layer:?} (ratio {ratio:.2}), token cache hit {best_hit:?}"
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    interleaved_ratio();
}
