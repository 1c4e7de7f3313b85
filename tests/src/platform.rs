//! [`Platform`]: what a platform (IBM Cloud's resource controller, Cloud Foundry) sends, over
//! a real HTTP client.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// HTTP Basic.
    Basic(String, String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// A broker's answer: status, headers and the JSON body (`Value::Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON, `Null` when empty or not JSON.
    pub body: Value,
}

impl Answer {
    /// The body's string field `name`, or `""`.
    pub fn str(&self, name: &str) -> &str {
        self.body
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Panics with the whole answer unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:#?}");
        self
    }

    /// Panics unless this is an OSB error body (with a description) with `status`, and, when
    /// `error` is given, that error code.
    #[track_caller]
    pub fn expect_error(self, status: u16, error: Option<&str>) -> Self {
        let answer = self.expect(status);
        assert!(
            !answer.str("description").is_empty(),
            "an OSB error body has a description: {answer:#?}"
        );
        if let Some(error) = error {
            assert_eq!(answer.str("error"), error, "{answer:#?}");
        }
        answer
    }
}

/// A platform talking to one broker: base URL, credentials and `X-Broker-API-Version`.
#[derive(Debug, Clone)]
pub struct Platform {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    version: Option<String>,
    request_identity: Option<String>,
}

/// RFC 3986's unreserved characters, left as they are in a path segment.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path segment of an id, percent-encoded as platforms send CRN ids.
pub fn segment(id: &str) -> String {
    utf8_percent_encode(id, UNRESERVED).to_string()
}

impl Platform {
    /// A platform without credentials sending API version 2.17 to `base`.
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a reqwest client");
        Self {
            http,
            base: base.to_owned(),
            auth: Auth::None,
            version: Some("2.17".to_owned()),
            request_identity: None,
        }
    }

    /// The same platform with `auth`.
    #[must_use]
    pub fn auth(&self, auth: Auth) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    /// The same platform with Basic credentials.
    #[must_use]
    pub fn basic(&self, user: &str, password: &str) -> Self {
        self.auth(Auth::Basic(user.to_owned(), password.to_owned()))
    }

    /// The same platform with a bearer token.
    #[must_use]
    pub fn bearer(&self, token: &str) -> Self {
        self.auth(Auth::Bearer(token.to_owned()))
    }

    /// The same platform sending `version` (`None`: no header).
    #[must_use]
    pub fn version(&self, version: Option<&str>) -> Self {
        Self {
            version: version.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same platform sending `X-Broker-API-Request-Identity: <id>` on every request.
    #[must_use]
    pub fn request_identity(&self, id: &str) -> Self {
        Self {
            request_identity: Some(id.to_owned()),
            ..self.clone()
        }
    }

    /// Sends a request with a raw body.
    pub async fn send_raw(&self, method: Method, path: &str, body: Option<String>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        if let Some(version) = &self.version {
            request = request.header("X-Broker-API-Version", version);
        }
        if let Some(id) = &self.request_identity {
            request = request.header("X-Broker-API-Request-Identity", id);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body arrives");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Sends a request with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.send_raw(method, path, body.map(Value::to_string))
            .await
    }

    /// `GET /v2/catalog`.
    pub async fn catalog(&self) -> Answer {
        self.send(Method::GET, "/v2/catalog", None).await
    }

    /// `PUT /v2/service_instances/:id` with `body`.
    pub async fn provision(&self, id: &str, body: &Value, accepts_incomplete: bool) -> Answer {
        let path = format!(
            "/v2/service_instances/{}?accepts_incomplete={accepts_incomplete}",
            segment(id)
        );
        self.send(Method::PUT, &path, Some(body)).await
    }

    /// `PATCH /v2/service_instances/:id` with `body`.
    pub async fn update(&self, id: &str, body: &Value, accepts_incomplete: bool) -> Answer {
        let path = format!(
            "/v2/service_instances/{}?accepts_incomplete={accepts_incomplete}",
            segment(id)
        );
        self.send(Method::PATCH, &path, Some(body)).await
    }

    /// `DELETE /v2/service_instances/:id`.
    pub async fn deprovision(&self, id: &str, service_id: &str, plan_id: &str) -> Answer {
        let path = format!(
            "/v2/service_instances/{}?service_id={service_id}&plan_id={plan_id}&accepts_incomplete=true",
            segment(id)
        );
        self.send(Method::DELETE, &path, None).await
    }

    /// `GET /v2/service_instances/:id`.
    pub async fn fetch_instance(&self, id: &str) -> Answer {
        self.send(
            Method::GET,
            &format!("/v2/service_instances/{}", segment(id)),
            None,
        )
        .await
    }

    /// `PUT /v2/service_instances/:id/service_bindings/:binding_id` with `body`.
    pub async fn bind(&self, id: &str, binding: &str, body: &Value) -> Answer {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}",
            segment(id),
            segment(binding)
        );
        self.send(Method::PUT, &path, Some(body)).await
    }

    /// `GET /v2/service_instances/:id/service_bindings/:binding_id`.
    pub async fn fetch_binding(&self, id: &str, binding: &str) -> Answer {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}",
            segment(id),
            segment(binding)
        );
        self.send(Method::GET, &path, None).await
    }

    /// `DELETE /v2/service_instances/:id/service_bindings/:binding_id`.
    pub async fn unbind(&self, id: &str, binding: &str, service_id: &str, plan_id: &str) -> Answer {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{}?service_id={service_id}&plan_id={plan_id}",
            segment(id),
            segment(binding)
        );
        self.send(Method::DELETE, &path, None).await
    }

    /// `GET /v2/service_instances/:id/last_operation`, with the operation token if given.
    pub async fn last_operation(&self, id: &str, operation: Option<&str>) -> Answer {
        let query = operation
            .map(|op| format!("?operation={}", segment(op)))
            .unwrap_or_default();
        let path = format!(
            "/v2/service_instances/{}/last_operation{query}",
            segment(id)
        );
        self.send(Method::GET, &path, None).await
    }

    /// Polls `last_operation` every 100 ms until the state is no
    /// longer `in progress`; returns that last answer. Panics after 60 s.
    pub async fn poll(&self, id: &str, operation: Option<&str>) -> Answer {
        for _ in 0..600 {
            let answer = self.last_operation(id, operation).await;
            if answer.status != StatusCode::OK || answer.str("state") != "in progress" {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("operation on {id} still in progress after 60 s");
    }
}

/// A provision body for `plan_id` of the example's offering, IBM Cloud style.
pub fn provision_body(plan_id: &str) -> Value {
    json!({
        "service_id": minimal_broker::logic::SERVICE_ID,
        "plan_id": plan_id,
        "context": {"platform": "ibmcloud", "account_id": "0123abcd", "crn": "crn:v1:bluemix:public:minimal-db:us-south:a/0123abcd::"},
        "parameters": {"size_gb": 10}
    })
}

/// A bind body for `plan_id` of the example's offering, for application `app_guid` if given.
pub fn bind_body(plan_id: &str, app_guid: Option<&str>) -> Value {
    let mut body = json!({"service_id": minimal_broker::logic::SERVICE_ID, "plan_id": plan_id});
    if let Some(app) = app_guid {
        body["bind_resource"] = json!({"app_guid": app});
    }
    body
}
