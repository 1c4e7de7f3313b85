//! Test support: RSA keys generated once per test binary, a token minter, and loopback fakes of
//! IAM's JWK-set and token endpoints.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use osb_iam::keys::{KeySet, PublicKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const ISSUER: &str = "https://iam.cloud.ibm.com/identity";
pub const BROKER_CRN: &str =
    "crn:v1:bluemix:public:resource-controller::a/0123abcd::resource-broker:416d769b";
pub const ACCOUNT: &str = "0123abcd";

/// One RSA-2048 key pair with its `kid`.
pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
    n: String,
    e: String,
}

/// Three key pairs, generated once per test binary (2048-bit keygen is not free).
pub fn key(index: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|i| TestKey::generate(&format!("key-{i}")))
            .collect()
    })[index]
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        Self {
            kid: kid.to_owned(),
            n: URL_SAFE_NO_PAD.encode(&public.n),
            e: URL_SAFE_NO_PAD.encode(&public.e),
            pair,
        }
    }

    /// The key as IAM publishes it (no `use`).
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "n": self.n, "e": self.e})
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_rsa_components(&self.kid, &self.n, &self.e).unwrap()
    }

    /// The public key's PKCS#1 DER (what an HS256-confusion attacker uses as the secret).
    pub fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs `header.claims` with RS256 whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A regular IAM token: RS256, this key's `kid`.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64_json(header), b64_json(claims))
}

/// An HS256 token with `secret` as the HMAC key.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The resource controller's Bearer-CRN token claims (osb-core rules.md §17.4), valid for 30 minutes.
pub fn crn_claims() -> Value {
    let now = now();
    json!({
        "iam_id": format!("crn-{BROKER_CRN}"),
        "id": format!("crn-{BROKER_CRN}"),
        "realmid": "crn",
        "sub": BROKER_CRN,
        "identifier": BROKER_CRN,
        "sub_type": "CRN",
        "client_id": "resource-controller",
        "scope": "ibm openid resource-controller",
        "grant_type": "urn:ibm:params:oauth:grant-type:iam-authz",
        "account": {"bss": ACCOUNT, "valid": true, "frozen": true},
        "iss": ISSUER,
        "iat": now,
        "exp": now + 1800,
        "jti": "b6b1f8b1-2f0a-4f5c-9a07-6d7f2a1c0e11",
    })
}

/// `claims` with `changes` merged over it.
pub fn with(mut claims: Value, changes: Value) -> Value {
    if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
        claims.extend(changes);
    }
    claims
}

pub fn key_set(keys: &[&TestKey]) -> KeySet {
    keys.iter()
        .fold(KeySet::new(), |set, key| set.with_key(key.public_key()))
}

pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()})
}

/// A canned answer of a fake endpoint.
#[derive(Clone)]
pub struct Canned {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Canned {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_string()),
        }
    }
}

/// A loopback HTTP server answering every request with its current canned answer, after an
/// optional delay, counting requests and remembering the last request body.
#[derive(Clone)]
pub struct FakeEndpoint {
    pub addr: SocketAddr,
    state: Arc<EndpointState>,
}

struct EndpointState {
    answer: Mutex<Canned>,
    delay: Mutex<Duration>,
    hits: AtomicUsize,
    last_body: Mutex<Option<Bytes>>,
}

impl FakeEndpoint {
    pub async fn start(answer: Canned) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(EndpointState {
            answer: Mutex::new(answer),
            delay: Mutex::new(Duration::ZERO),
            hits: AtomicUsize::new(0),
            last_body: Mutex::new(None),
        });
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(respond(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    /// A JWK-set endpoint publishing `keys`.
    pub async fn jwks(keys: &[&TestKey]) -> Self {
        Self::start(Canned::json(200, &jwks(keys))).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer(&self, answer: Canned) {
        *self.state.answer.lock().unwrap() = answer;
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        self.answer(Canned::json(200, &jwks(keys)));
    }

    pub fn delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn last_body(&self) -> Option<String> {
        self.state
            .last_body
            .lock()
            .unwrap()
            .as_ref()
            .map(|body| String::from_utf8_lossy(body).into_owned())
    }
}

async fn respond(state: &EndpointState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    *state.last_body.lock().unwrap() = Some(body);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let canned = state.answer.lock().unwrap().clone();
    Response::builder()
        .status(canned.status)
        .header("content-type", "application/json")
        .body(Full::new(canned.body))
        .unwrap()
}

/// A loopback address nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/identity/keys")
}

/// Waits (up to 10 s) until `condition` holds; polling, never a timing assertion.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// A tracing subscriber that keeps every event's fields as text, to prove what is (not) logged.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<String>>);

impl LogCapture {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut FieldText(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut FieldText(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.0.lock().unwrap();
        text.push('\n');
        text.push_str(event.metadata().level().as_str());
        event.record(&mut FieldText(&mut text));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
