//! The verified claims of an IAM access token.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

/// The claims of a verified IAM access token, put into the request's extensions by
/// [`IamAuth`](crate::IamAuth) and by the [`Verifier`](crate::Verifier)'s
/// `osb_tower::auth::Authenticate` implementation (osb-tower copies them into
/// `RequestContext::extensions`).
///
/// Typed fields for the claims brokers use (osb-core rules.md §17.4, §17.5); every claim, documented or not,
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
    raw: Arc<RawClaims>,
}

impl IamClaims {
    /// Claims with only `iam_id` and `exp` set: for testing code that reads claims (the
    /// verifier builds them from tokens). Set the other public fields directly; [`raw`](Self::raw)
    /// holds `iam_id` and `exp` only.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::IamClaims;
    ///
    /// let mut claims = IamClaims::new("iam-ServiceId-1234", 4_102_444_800);
    /// claims.scope = Some("ibm openid".to_owned());
    /// assert!(claims.has_scope("openid"));
    /// assert_eq!(claims.raw()["iam_id"], "iam-ServiceId-1234");
    /// ```
    pub fn new(iam_id: impl Into<String>, exp: u64) -> Self {
        let iam_id = iam_id.into();
        let json = serde_json::json!({ "iam_id": iam_id, "exp": exp }).to_string();
        Self {
            iam_id,
            sub: None,
            sub_type: None,
            account_id: None,
            client_id: None,
            scope: None,
            grant_type: None,
            exp,
            iat: None,
            nbf: None,
            name: None,
            email: None,
            raw: Arc::new(RawClaims {
                json: json.into_bytes().into_boxed_slice(),
                map: OnceLock::new(),
            }),
        }
    }

    /// Every claim of the token, as sent (parsed on first use).
    pub fn raw(&self) -> &Map<String, Value> {
        self.raw.map()
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

/// The claim set as sent: kept as JSON text and parsed into a map only when asked for, so the
/// request path does not build a `Value` tree for claims nobody reads.
struct RawClaims {
    json: Box<[u8]>,
    map: OnceLock<Map<String, Value>>,
}

impl RawClaims {
    fn map(&self) -> &Map<String, Value> {
        // The JSON was parsed once already (as `Wire`) and starts with `{`, so it is an object.
        self.map
            .get_or_init(|| serde_json::from_slice(&self.json).unwrap_or_default())
    }
}

impl PartialEq for RawClaims {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl fmt::Debug for RawClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.json))
    }
}

/// The claims the verifier and [`IamClaims`] read, decoded in one pass straight from the JSON.
#[derive(Deserialize)]
pub(crate) struct Wire {
    #[serde(default)]
    pub(crate) iss: Lenient,
    #[serde(default)]
    pub(crate) exp: Option<Date>,
    #[serde(default)]
    pub(crate) nbf: Option<Date>,
    #[serde(default)]
    pub(crate) iat: Option<Date>,
    #[serde(default)]
    iam_id: Lenient,
    #[serde(default)]
    sub: Lenient,
    #[serde(default)]
    sub_type: Lenient,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    client_id: Lenient,
    #[serde(default)]
    scope: Lenient,
    #[serde(default)]
    grant_type: Lenient,
    #[serde(default)]
    name: Lenient,
    #[serde(default)]
    email: Lenient,
}

impl Wire {
    /// Decodes a claim set; `None` unless it is a JSON object with well-typed `iss` and times.
    pub(crate) fn parse(json: &[u8]) -> Option<Self> {
        // A derived struct would also accept an array, by position.
        if json.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// The typed claims; `None` when `iam_id` or `exp` is missing.
    pub(crate) fn into_claims(self, json: Vec<u8>) -> Option<IamClaims> {
        Some(IamClaims {
            iam_id: self.iam_id.0?,
            sub: self.sub.0,
            sub_type: self.sub_type.0,
            account_id: self.account.and_then(|account| account.bss.0),
            client_id: self.client_id.0,
            scope: self.scope.0,
            grant_type: self.grant_type.0,
            exp: self.exp?.0?,
            iat: self.iat.and_then(|date| date.0),
            nbf: self.nbf.and_then(|date| date.0),
            name: self.name.0,
            email: self.email.0,
            raw: Arc::new(RawClaims {
                json: json.into_boxed_slice(),
                map: OnceLock::new(),
            }),
        })
    }
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    bss: Lenient,
}

/// A string claim; any other JSON type reads as absent (undocumented claims may change type).
#[derive(Default)]
pub(crate) struct Lenient(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Lenient, E> {
                Ok(Lenient(Some(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Lenient, E> {
                Ok(Lenient(Some(text)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// An RFC 7519 NumericDate; `None` inside when the value is not a usable number.
pub(crate) struct Date(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Number::deserialize(deserializer)?;
        Ok(Date(numeric_date(&value)))
    }
}

/// RFC 7519 NumericDate: seconds since the epoch, integer or fractional (truncated).
fn numeric_date(value: &serde_json::Number) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(|secs| secs as u64)
    })
}
