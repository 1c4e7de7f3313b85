//! A whole IBM Cloud IAM on loopback for the dashboard sign-in: OpenID discovery, keys, an
//! authorize endpoint where the user is already signed in, the token endpoint (API keys and
//! authorization codes) and `/v2/authz`. Tokens are signed with [`key`]`(0)`; their issuer is
//! `<url>/identity`, so the broker's `BROKER_IAM_URL` is all it needs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::iam::{claims, key};

/// The dashboard's SSO client id at the fake IAM.
pub const CLIENT_ID: &str = "minimal-db-sso";
/// Its client secret.
pub const CLIENT_SECRET: &str = "sso-secret";
/// The provider's service ID API key.
pub const API_KEY: &str = "provider-api-key";
/// The signed-in user.
pub const USER: &str = "IBMid-50GNR717YE";

/// The fake IAM; [`FakeIam::permit`] says which instances [`USER`] may view.
#[derive(Debug, Clone)]
pub struct FakeIam {
    url: String,
    state: Arc<IamState>,
}

#[derive(Debug, Default)]
struct IamState {
    /// `http://127.0.0.1:<port>/identity`.
    issuer: String,
    /// Issued codes and the redirect URI each was issued for.
    codes: Mutex<HashMap<String, String>>,
    permitted: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeIam {
    /// Serves the fake IAM on `127.0.0.1:<ephemeral>`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let state = Arc::new(IamState {
            issuer: format!("{url}/identity"),
            ..IamState::default()
        });
        let base = url.clone();
        let app = Router::new()
            .route(
                "/identity/.well-known/openid-configuration",
                get(move || async move {
                    Json(json!({
                        "issuer": format!("{base}/identity"),
                        "authorization_endpoint": format!("{base}/identity/authorize"),
                        "token_endpoint": format!("{base}/identity/token"),
                    }))
                }),
            )
            .route(
                "/identity/keys",
                get(|| async { Json(json!({"keys": [key(0).jwk()]})) }),
            )
            .route("/identity/authorize", get(authorize))
            .route("/identity/token", post(token))
            .route("/v2/authz", post(authz))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    /// `http://127.0.0.1:<port>`, the broker's `BROKER_IAM_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Lets [`USER`] view `instance_crn`.
    pub fn permit(&self, instance_crn: &str) {
        lock(&self.state.permitted).insert(instance_crn.to_owned());
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"errorCode": code}))).into_response()
}

/// The user is signed in at IAM already: straight back with a fresh code.
async fn authorize(
    State(state): State<Arc<IamState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (Some(redirect), Some(state_param)) = (query.get("redirect_uri"), query.get("state"))
    else {
        return error(StatusCode::BAD_REQUEST, "BXNIM0400E");
    };
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return error(StatusCode::BAD_REQUEST, "BXNIM0401E");
    }
    let code = uuid::Uuid::new_v4().to_string();
    lock(&state.codes).insert(code.clone(), redirect.clone());
    let back = format!("{redirect}?code={code}&state={state_param}");
    Redirect::to(&back).into_response()
}

async fn token(
    State(state): State<Arc<IamState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str);
    let subject = match field("grant_type") {
        Some("urn:ibm:params:oauth:grant-type:apikey") if field("apikey") == Some(API_KEY) => {
            "iam-ServiceId-provider".to_owned()
        }
        Some("authorization_code") => {
            let basic = format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                != Some(&basic)
            {
                return error(StatusCode::UNAUTHORIZED, "BXNIM0308E");
            }
            // A code is good once, and only with the redirect URI it was issued for.
            let issued = field("code").and_then(|code| lock(&state.codes).remove(code));
            if issued.is_none() || issued.as_deref() != field("redirect_uri") {
                return error(StatusCode::BAD_REQUEST, "BXNIM0436E");
            }
            USER.to_owned()
        }
        _ => return error(StatusCode::BAD_REQUEST, "BXNIM0400E"),
    };
    let mut claims = claims(&subject);
    claims["iss"] = Value::from(state.issuer.clone());
    let exp = claims["exp"].clone();
    Json(json!({
        "access_token": key(0).token(&claims), "token_type": "Bearer",
        "expires_in": 1800, "expiration": exp,
    }))
    .into_response()
}

/// Permits [`USER`] on the permitted CRNs, asked by the provider's service ID only.
async fn authz(
    State(state): State<Arc<IamState>>,
    headers: HeaderMap,
    Json(entries): Json<Vec<Value>>,
) -> Response {
    let caller = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| {
            value
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")?
                .split('.')
                .nth(1)
        })
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    if caller.as_ref().and_then(|claims| claims["iam_id"].as_str())
        != Some("iam-ServiceId-provider")
    {
        return error(StatusCode::UNAUTHORIZED, "BXNIM0307E");
    }
    let permitted = lock(&state.permitted).clone();
    let responses: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let crn = entry["resource"]["crn"].as_str().unwrap_or_default();
            let allowed = entry["action"] == "minimal-db.dashboard.view" && permitted.contains(crn);
            json!({"status": "200", "authorizationDecision": {"permitted": allowed}})
        })
        .collect();
    Json(json!({"responses": responses})).into_response()
}
