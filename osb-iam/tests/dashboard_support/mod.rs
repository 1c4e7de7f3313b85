//! Test support for the dashboard sign-in: a fake IAM on loopback (discovery, keys, authorize
//! that signs the user in at once, token, `/v2/authz`), the provider's dashboard served with
//! plain hyper behind the guard, and a minimal cookie-keeping browser.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::authz::AuthzClient;
use osb_iam::dashboard::{DashboardAuthBuilder, Discovery, SessionKey};
use osb_iam::keys::KeyCache;
use osb_iam::{DashboardAuth, DashboardUser, Policy, Verifier};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt};

use super::support::{self, ACCOUNT, ISSUER};

pub const CLIENT_ID: &str = "provider-sso-client";
pub const CLIENT_SECRET: &str = "provider-sso-secret";
pub const SERVICE_NAME: &str = "my-service";
pub const USER: &str = "IBMid-50GNR717YE";
pub const PROVIDER_SERVICE_ID: &str = "iam-ServiceId-provider";
pub const PROVIDER_API_KEY: &str = "provider-api-key";
pub const INSTANCE: &str =
    "crn:v1:bluemix:public:my-service:us-south:a/0123abcd:5f2c8e1a-7d8b-4c1e-9f4a-2b6c8d0e1f3a::";
pub const OTHER_INSTANCE: &str =
    "crn:v1:bluemix:public:my-service:us-south:a/0123abcd:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0::";

/// `/dashboard/<URL-encoded CRN>`, as IBM Cloud builds `dashboard_url`s.
pub fn dashboard_path(crn: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(crn.as_bytes()).collect();
    format!("/dashboard/{encoded}")
}

/// Serves `service` on a fresh loopback port.
pub async fn serve<S>(service: S) -> SocketAddr
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(service);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// The fake IAM

/// What the fake IAM does; every knob can be changed while it runs.
pub struct IamState {
    addr: Mutex<Option<SocketAddr>>,
    /// Claims of the user IAM signs in (`iss`, `iat`, `exp` are filled in when minting).
    pub user: Mutex<Value>,
    /// Mint user tokens that expired an hour ago.
    pub expired_tokens: AtomicBool,
    /// Instances the user may view (`/v2/authz`).
    pub permitted: Mutex<HashSet<String>>,
    /// `maxCacheAgeSeconds` in authz answers.
    pub max_cache_age: Mutex<Option<u64>>,
    /// Answer the token endpoint's code exchange with this status instead (e.g. 500).
    pub token_failure: Mutex<Option<u16>>,
    /// Answer `/v2/authz` with this status instead.
    pub authz_failure: Mutex<Option<u16>>,
    /// Codes issued and not yet redeemed: code → redirect_uri.
    codes: Mutex<HashMap<String, String>>,
    next_code: AtomicUsize,
    pub discovery_hits: AtomicUsize,
    pub authorize_hits: AtomicUsize,
    pub code_exchanges: AtomicUsize,
    pub authz_hits: AtomicUsize,
    pub authz_bodies: Mutex<Vec<Value>>,
}

#[derive(Clone)]
pub struct FakeIam {
    pub addr: SocketAddr,
    pub state: Arc<IamState>,
}

pub fn user_claims() -> Value {
    json!({
        "iam_id": USER,
        "id": USER,
        "realmid": "IBMid",
        "sub": "ann@example.com",
        "sub_type": "user",
        "name": "Ann Example",
        "email": "ann@example.com",
        "account": {"bss": ACCOUNT, "valid": true},
        "client_id": CLIENT_ID,
        "scope": "ibm openid",
        "grant_type": "authorization_code",
        "jti": "1b0e7b1c-3f1a-4a8e-9c55-0d7a4f1e2b3c",
    })
}

impl FakeIam {
    pub async fn start() -> Self {
        let state = Arc::new(IamState {
            addr: Mutex::new(None),
            user: Mutex::new(user_claims()),
            expired_tokens: AtomicBool::new(false),
            permitted: Mutex::new(HashSet::from([INSTANCE.to_owned()])),
            max_cache_age: Mutex::new(Some(600)),
            token_failure: Mutex::new(None),
            authz_failure: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            next_code: AtomicUsize::new(1),
            discovery_hits: AtomicUsize::new(0),
            authorize_hits: AtomicUsize::new(0),
            code_exchanges: AtomicUsize::new(0),
            authz_hits: AtomicUsize::new(0),
            authz_bodies: Mutex::new(Vec::new()),
        });
        let served = state.clone();
        let addr = serve(tower::service_fn(move |request: Request<Incoming>| {
            let state = served.clone();
            async move { Ok::<_, Infallible>(iam(&state, request).await) }
        }))
        .await;
        *state.addr.lock().unwrap() = Some(addr);
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn discovery(&self) -> Discovery {
        Discovery::insecure_allow_http(&self.url("/identity/.well-known/openid-configuration"))
            .unwrap()
    }

    /// A verifier over this IAM's JWK set, for any user signed in through the SSO client.
    pub fn verifier(&self) -> Verifier {
        let source =
            osb_iam::keys::HttpKeySource::insecure_allow_http(&self.url("/identity/keys")).unwrap();
        Verifier::builder(
            KeyCache::new(source),
            Policy::insecure_any_identity().client_ids([CLIENT_ID]),
        )
        .issuer(ISSUER)
        .build()
    }

    /// The provider's authz client, with its service ID's API key exchanged at this IAM.
    pub fn authz(&self) -> AuthzClient {
        let tokens = ApiKeyClient::builder(ApiKey::new(PROVIDER_API_KEY))
            .token_url(self.url("/identity/token"))
            .build()
            .unwrap();
        AuthzClient::builder(tokens)
            .url(self.url("/v2/authz"))
            .insecure_allow_http()
            .build()
            .unwrap()
    }

    /// The sign-in as a provider would configure it for this IAM and an app at `app`.
    pub fn auth(&self, app: SocketAddr) -> DashboardAuthBuilder {
        DashboardAuth::builder(
            CLIENT_ID,
            CLIENT_SECRET,
            format!("http://{app}/auth/callback"),
            self.verifier(),
        )
        .discovery(self.discovery())
        .access_check(self.authz(), SERVICE_NAME)
        .session_key(SessionKey::from_bytes(&[9; 64]).unwrap())
        .insecure_allow_http()
    }

    pub fn hits(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn iam(state: &IamState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let base = format!("http://{}", state.addr.lock().unwrap().unwrap());
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/identity/.well-known/openid-configuration") => {
            state.discovery_hits.fetch_add(1, Ordering::SeqCst);
            json_response(
                200,
                &json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{base}/identity/authorize"),
                    "token_endpoint": format!("{base}/identity/token"),
                    "jwks_uri": format!("{base}/identity/keys"),
                    "response_types_supported": ["code"],
                }),
            )
        }
        ("GET", "/identity/keys") => json_response(200, &support::jwks(&[support::key(0)])),
        ("GET", "/identity/authorize") => {
            state.authorize_hits.fetch_add(1, Ordering::SeqCst);
            let query = query_map(parts.uri.query());
            let (Some(client_id), Some(redirect_uri), Some(response_type), Some(state_param)) = (
                query.get("client_id"),
                query.get("redirect_uri"),
                query.get("response_type"),
                query.get("state"),
            ) else {
                return json_response(400, &json!({"errorCode": "BXNIM0400E"}));
            };
            if client_id != CLIENT_ID || response_type != "code" {
                return json_response(400, &json!({"errorCode": "BXNIM0401E"}));
            }
            // The user is signed in at IAM already: straight back with a code.
            let code = format!("code-{}", state.next_code.fetch_add(1, Ordering::SeqCst));
            state
                .codes
                .lock()
                .unwrap()
                .insert(code.clone(), redirect_uri.clone());
            let back: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", state_param)
                .finish();
            Response::builder()
                .status(302)
                .header(header::LOCATION, format!("{redirect_uri}?{back}"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        ("POST", "/identity/token") => token(state, &parts.headers, &body),
        ("POST", "/v2/authz") => authz(state, &parts.headers, &body),
        _ => json_response(404, &json!({"errorCode": "not found"})),
    }
}

fn token(state: &IamState, headers: &http::HeaderMap, body: &[u8]) -> Response<Full<Bytes>> {
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let now = support::now();
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ibm:params:oauth:grant-type:apikey") => {
            if form.get("apikey").map(String::as_str) != Some(PROVIDER_API_KEY) {
                return json_response(400, &json!({"errorCode": "BXNIM0415E"}));
            }
            let claims = json!({
                "iam_id": PROVIDER_SERVICE_ID, "sub": "ServiceId-provider", "sub_type": "ServiceId",
                "account": {"bss": "provider-account"}, "iss": ISSUER, "iat": now, "exp": now + 3600,
                "scope": "ibm openid", "client_id": "default",
            });
            json_response(
                200,
                &json!({
                    "access_token": support::key(0).token(&claims), "token_type": "Bearer",
                    "expires_in": 3600, "expiration": now + 3600,
                }),
            )
        }
        Some("authorization_code") => {
            let expected = format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                != Some(&expected)
            {
                return json_response(401, &json!({"errorCode": "BXNIM0308E"}));
            }
            if form.get("response_type").map(String::as_str) != Some("cloud_iam") {
                return json_response(400, &json!({"errorCode": "BXNIM0402E"}));
            }
            if let Some(status) = *state.token_failure.lock().unwrap() {
                return json_response(status, &json!({"errorCode": "BXNIM0500E"}));
            }
            // A code is good once, and only with the redirect URI it was issued for.
            let issued = form
                .get("code")
                .and_then(|code| state.codes.lock().unwrap().remove(code));
            if issued.is_none() || issued.as_ref() != form.get("redirect_uri") {
                return json_response(
                    400,
                    &json!({"errorCode": "BXNIM0436E", "errorMessage": "invalid code"}),
                );
            }
            state.code_exchanges.fetch_add(1, Ordering::SeqCst);
            let (iat, exp) = if state.expired_tokens.load(Ordering::SeqCst) {
                (now - 7200, now - 3600)
            } else {
                (now, now + 3600)
            };
            let claims = support::with(
                state.user.lock().unwrap().clone(),
                json!({"iss": ISSUER, "iat": iat, "exp": exp}),
            );
            json_response(
                200,
                &json!({
                    "access_token": support::key(0).token(&claims), "refresh_token": "not-used",
                    "token_type": "Bearer", "expires_in": 3600, "expiration": exp,
                }),
            )
        }
        _ => json_response(400, &json!({"errorCode": "BXNIM0400E"})),
    }
}

fn authz(state: &IamState, headers: &http::HeaderMap, body: &[u8]) -> Response<Full<Bytes>> {
    state.authz_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(status) = *state.authz_failure.lock().unwrap() {
        return json_response(status, &json!({"errorCode": "AUTHZ500"}));
    }
    // Only the provider's service ID may ask.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    if bearer.as_ref().and_then(|claims| claims["iam_id"].as_str()) != Some(PROVIDER_SERVICE_ID) {
        return json_response(401, &json!({"errorCode": "BXNIM0307E"}));
    }
    let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(body) else {
        return json_response(400, &json!({"errorCode": "not an array"}));
    };
    state
        .authz_bodies
        .lock()
        .unwrap()
        .push(Value::Array(entries.clone()));
    let permitted = state.permitted.lock().unwrap().clone();
    let max_age = *state.max_cache_age.lock().unwrap();
    let responses: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let subject = subject_iam_id(&entry["subject"]);
            let Some(subject) = subject else {
                return json!({"status": "400"});
            };
            let crn = entry["resource"]["crn"].as_str().unwrap_or_default();
            let action = entry["action"].as_str().unwrap_or_default();
            let allowed = subject == USER
                && action == format!("{SERVICE_NAME}.dashboard.view")
                && permitted.contains(crn);
            let mut decision = json!({"permitted": allowed});
            if let Some(age) = max_age {
                decision["obligation"] =
                    json!({"actions": [], "maxCacheAgeSeconds": age, "subject": {}});
            }
            json!({"status": "200", "authorizationDecision": decision})
        })
        .collect();
    json_response(200, &json!({"responses": responses}))
}

/// The subject's `iam_id`, from either form.
fn subject_iam_id(subject: &Value) -> Option<String> {
    if let Some(body) = subject["accessTokenBody"].as_str() {
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        return claims["iam_id"].as_str().map(str::to_owned);
    }
    let attributes = &subject["attributes"];
    attributes["scope"].as_str()?;
    attributes["id"].as_str().map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// The provider's dashboard, plain hyper

/// The dashboard page: shows the signed-in user.
pub async fn dashboard_page<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let page = match request.extensions().get::<DashboardUser>() {
        Some(user) => format!(
            "<!DOCTYPE html><html><head><title>Dashboard</title></head><body>\
             <p id=\"user\">{}</p><p id=\"email\">{}</p><p id=\"account\">{}</p>\
             <p id=\"instance\">{}</p><p id=\"path\">{}</p></body></html>",
            user.iam_id,
            user.email.as_deref().unwrap_or("-"),
            user.account_id.as_deref().unwrap_or("-"),
            user.instance_id,
            request.uri(),
        ),
        None => "no user".to_owned(),
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)))
        .unwrap())
}

/// The provider's app: the callback at `/auth/callback`, everything else behind the guard.
pub fn app(
    auth: &DashboardAuth,
) -> BoxCloneService<Request<Incoming>, Response<Full<Bytes>>, Infallible> {
    let guarded = auth
        .layer()
        .layer(tower::service_fn(dashboard_page::<Incoming>));
    let callback = auth.callback();
    let callback_path = auth.callback_path().to_owned();
    BoxCloneService::new(tower::service_fn(move |request: Request<Incoming>| {
        let guarded = guarded.clone();
        let callback = callback.clone();
        let is_callback = request.uri().path() == callback_path;
        async move {
            if is_callback {
                callback.oneshot(request).await
            } else {
                guarded.oneshot(request).await
            }
        }
    }))
}

/// A fake IAM and the provider's app wired to it, with `configure` applied to the sign-in.
pub struct World {
    pub iam: FakeIam,
    pub app: SocketAddr,
    pub auth: DashboardAuth,
}

impl World {
    pub async fn start() -> Self {
        Self::with(|builder| builder).await
    }

    pub async fn with(
        configure: impl FnOnce(DashboardAuthBuilder) -> DashboardAuthBuilder,
    ) -> Self {
        let iam = FakeIam::start().await;
        // The redirect URI names the app's address, so bind first and serve afterwards.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_addr = listener.local_addr().unwrap();
        let auth = configure(iam.auth(app_addr)).build().unwrap();
        let service = app(&auth);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(service);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            iam,
            app: app_addr,
            auth,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app)
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal browser

/// One answer the browser got.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }
}

#[derive(Debug, Clone)]
struct StoredCookie {
    value: String,
    path: String,
}

/// Follows nothing by itself; keeps cookies by name (with their `Path`) for every host.
#[derive(Debug, Default)]
pub struct Browser {
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, StoredCookie>>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .unwrap()
            .get(name)
            .map(|cookie| cookie.value.clone())
    }

    pub fn cookie_names(&self) -> Vec<String> {
        self.cookies.lock().unwrap().keys().cloned().collect()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies.lock().unwrap().insert(
            name.to_owned(),
            StoredCookie {
                value: value.to_owned(),
                path: "/".to_owned(),
            },
        );
    }

    pub async fn get(&self, url: &str) -> Page {
        self.request(reqwest::Method::GET, url).await
    }

    pub async fn request(&self, method: reqwest::Method, url: &str) -> Page {
        let parsed = reqwest::Url::parse(url).unwrap();
        let cookie_header: Vec<String> = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, cookie)| parsed.path().starts_with(&cookie.path))
            .map(|(name, cookie)| format!("{name}={}", cookie.value))
            .collect();
        let mut request = self.client.request(method, parsed.clone());
        if !cookie_header.is_empty() {
            request = request.header(header::COOKIE, cookie_header.join("; "));
        }
        let response = request.send().await.unwrap();
        let page = Page {
            url: url.to_owned(),
            status: response.status(),
            headers: response.headers().clone(),
            body: String::new(),
        };
        let body = response.text().await.unwrap();
        let page = Page { body, ..page };
        for line in page.set_cookies() {
            self.store(&line);
        }
        page
    }

    fn store(&self, line: &str) {
        let mut parts = line.split(';').map(str::trim);
        let (name, value) = parts.next().unwrap().split_once('=').unwrap();
        let mut path = "/".to_owned();
        let mut delete = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" => path = val.to_owned(),
                "max-age" if val.parse::<i64>().unwrap_or(1) <= 0 => delete = true,
                _ => {}
            }
        }
        let mut cookies = self.cookies.lock().unwrap();
        if delete {
            cookies.remove(name);
        } else {
            cookies.insert(
                name.to_owned(),
                StoredCookie {
                    value: value.to_owned(),
                    path,
                },
            );
        }
    }

    /// Gets `url` and follows redirects (at most 10), returning every answer in order.
    pub async fn visit(&self, url: &str) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut next = url.to_owned();
        for _ in 0..10 {
            let page = self.get(&next).await;
            let location = page.location();
            let base = reqwest::Url::parse(&page.url).unwrap();
            pages.push(page);
            match location.map(|location| base.join(&location).unwrap()) {
                // Never leave loopback: a redirect elsewhere is the end of the visit.
                Some(target) if target.host_str() == Some("127.0.0.1") => next = target.to_string(),
                _ => break,
            }
        }
        pages
    }
}
