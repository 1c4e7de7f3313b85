//! The verified claims of an IAM access token.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The claims of a verified IAM access token, put into the request's extensions by
/// [`IamAuth`](crate::IamAuth) and by the [`Verifier`](crate::Verifier)'s
/// `osb_tower::auth::Authenticate` implementation (osb-tower copies them into
/// `RequestContext::extensions`).
///
/// Typed fields for the claims brokers use (NOTES.md §3, §5); every claim, documented or not,
/// stays readable through [`raw`](Self::raw).
///
/// # Example
///
/// ```
/// use osb_iam::IamClaims;
///
/// fn caller(extensions: &http::Extensions) -> Option<&str> {
///     extensions.get::<IamClaims>().map(|claims| claims.iam_id.as_str())
/// }
/// assert_eq!(caller(&http::Extensions::new()), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IamClaims {
    /// `iam_id`: `crn-<CRN>` for a CRN identity (the resource controller with Bearer CRN),
    /// `iam-ServiceId-…` for a service ID, `IBMid-…` for a user.
    pub iam_id: String,
    /// `sub`: the subject (the CRN itself for a CRN identity).
    pub sub: Option<String>,
    /// `sub_type`: e.g. `CRN`, `ServiceId`.
    pub sub_type: Option<String>,
    /// `account.bss`: the IBM Cloud account id the token is for.
    pub account_id: Option<String>,
    /// `client_id`: e.g. `resource-controller`.
    pub client_id: Option<String>,
    /// `scope`: space-separated scopes (see [`scopes`](Self::scopes)).
    pub scope: Option<String>,
    /// `grant_type`: e.g. `urn:ibm:params:oauth:grant-type:iam-authz`.
    pub grant_type: Option<String>,
    /// `exp`: expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// `iat`: issue time, seconds since the Unix epoch.
    pub iat: Option<u64>,
    /// `nbf`: not-before time, seconds since the Unix epoch.
    pub nbf: Option<u64>,
    /// `name` (users only).
    pub name: Option<String>,
    /// `email` (users only).
    pub email: Option<String>,
    raw: Arc<Map<String, Value>>,
}

impl IamClaims {
    /// Reads the typed fields from a claim set; `None` when `iam_id` or `exp` is missing.
    pub(crate) fn from_raw(raw: Map<String, Value>) -> Option<Self> {
        let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        let time = |name: &str| raw.get(name).and_then(numeric_date);
        Some(Self {
            iam_id: text("iam_id")?,
            sub: text("sub"),
            sub_type: text("sub_type"),
            account_id: raw
                .get("account")
                .and_then(|account| account.get("bss"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            client_id: text("client_id"),
            scope: text("scope"),
            grant_type: text("grant_type"),
            exp: time("exp")?,
            iat: time("iat"),
            nbf: time("nbf"),
            name: text("name"),
            email: text("email"),
            raw: Arc::new(raw),
        })
    }

    /// Every claim of the token, as sent.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The scopes of `scope`, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }

    /// Whether `scope` lists `wanted`.
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scopes().any(|scope| scope == wanted)
    }
}

/// RFC 7519 NumericDate: seconds since the epoch, integer or fractional (truncated).
pub(crate) fn numeric_date(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value.as_f64().filter(|secs| secs.is_finite() && *secs >= 0.0).map(|secs| secs as u64)
    })
}
