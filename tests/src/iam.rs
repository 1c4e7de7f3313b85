//! IBM Cloud IAM on loopback: RSA keys generated in the test, a token minter, and a JWK-set
//! server whose published keys a test can change (key rotation).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The issuer of production IAM's tokens (the example's default).
pub const ISSUER: &str = "https://iam.cloud.ibm.com/identity";
/// The CRN of the broker in these tests.
pub const BROKER_CRN: &str =
    "crn:v1:bluemix:public:resource-controller::a/0123abcd::resource-broker:416d769b";

/// The `iam_id` of the resource controller's Bearer-CRN tokens for [`BROKER_CRN`].
pub fn broker_iam_id() -> String {
    format!("crn-{BROKER_CRN}")
}

/// An RSA-2048 signing key and its `kid`.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Key `index` (0 to 2), generated once per test binary (RSA key generation is slow).
pub fn key(index: usize) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|i| SigningKey {
                kid: format!("test-key-{i}"),
                pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
            })
            .collect()
    })[index]
}

impl SigningKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as IAM publishes it in its JWK set.
    pub fn jwk(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA", "kid": self.kid, "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
        })
    }

    /// An RS256 token with `claims`, naming this key in its header.
    pub fn token(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let input = format!("{}.{}", encode(&header), encode(claims));
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The claims of a token IAM issues to `iam_id`, valid for 30 minutes from now.
pub fn claims(iam_id: &str) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "iam_id": iam_id, "id": iam_id, "sub": iam_id, "realmid": "crn", "sub_type": "CRN",
        "client_id": "resource-controller", "scope": "ibm openid resource-controller",
        "account": {"bss": "0123abcd"}, "iss": ISSUER, "iat": now, "exp": now + 1800,
    })
}

/// A JWK-set endpoint on loopback serving `GET /identity/keys`.
#[derive(Debug, Clone)]
pub struct JwksServer {
    url: String,
    state: Arc<JwksState>,
}

#[derive(Debug)]
struct JwksState {
    document: Mutex<Value>,
    hits: Mutex<usize>,
}

impl JwksServer {
    /// Starts serving `keys`.
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let state = Arc::new(JwksState {
            document: Mutex::new(json!({})),
            hits: Mutex::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!(
            "http://{}/identity/keys",
            listener.local_addr().expect("an address")
        );
        let app = Router::new()
            .route("/identity/keys", get(serve_keys))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let server = Self { url, state };
        server.publish(keys);
        server
    }

    /// The JWK set URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Publishes `keys` from now on (a rotation replaces the set).
    pub fn publish(&self, keys: &[&SigningKey]) {
        let document = json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()});
        *self
            .state
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = document;
    }

    /// How many times the keys were fetched.
    pub fn hits(&self) -> usize {
        *self
            .state
            .hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn serve_keys(State(state): State<Arc<JwksState>>) -> axum::Json<Value> {
    *state.hits.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    axum::Json(
        state
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
}
