//! The identity headers: `X-Broker-API-Originating-Identity` and `X-Broker-API-Request-Identity`.
//!
//! Spec: spec.md "Originating Identity" and "Request Identity"; IBM Cloud: rules.md §2.2, §17.2.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;

/// The user on whose behalf the platform sends a request (`X-Broker-API-Originating-Identity`).
///
/// The header value is `<platform> <base64 of a JSON object>`. The decoded value is kept as JSON,
/// with typed accessors for the platforms this crate knows: Cloud Foundry (`user_id`), Kubernetes
/// (`username`, `uid`, `groups`, `extra`) and IBM Cloud (`iam_id`). IBM Cloud has been seen to send
/// a bare JSON string instead of an object; it is kept as is.
///
/// # Example
///
/// ```
/// use osb_core::OriginatingIdentity;
///
/// let id: OriginatingIdentity = "ibmcloud eyJpYW1faWQiOiJJQk1pZC01MEdOUjcxN1lFIn0=".parse()?;
/// assert_eq!(id.platform(), "ibmcloud");
/// assert_eq!(id.iam_id(), Some("IBMid-50GNR717YE"));
/// assert_eq!(id.to_header_value(), "ibmcloud eyJpYW1faWQiOiJJQk1pZC01MEdOUjcxN1lFIn0=");
///
/// assert!("cloudfoundry not-base64!".parse::<OriginatingIdentity>().is_err());
/// # Ok::<(), osb_core::identity::InvalidOriginatingIdentity>(())
/// ```
#[derive(Clone)]
pub struct OriginatingIdentity {
    /// `<platform> <base64>`, trimmed: one allocation for both parts.
    header: String,
    /// Where the platform ends in `header` (the space is at this index).
    platform_len: usize,
    /// The decoded JSON. Parsing validates the JSON without building it (no allocation); the
    /// value is built on first access, as most brokers never look at it.
    value: OnceLock<Value>,
}

impl PartialEq for OriginatingIdentity {
    /// Same platform and same encoded value (the header as received, or as [`Self::new`] encoded
    /// it); equal encodings always decode to equal values.
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl fmt::Debug for OriginatingIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginatingIdentity")
            .field("platform", &self.platform())
            .field("value", self.value())
            .field("encoded", &self.encoded())
            .finish()
    }
}

/// Why an `X-Broker-API-Originating-Identity` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOriginatingIdentity {
    /// The value is not `<platform> <value>` with a non-empty platform.
    #[error("originating identity must be `<platform> <base64 JSON>`")]
    Format,
    /// The value part is not base64.
    #[error("originating identity value is not valid base64")]
    Base64,
    /// The decoded value is not JSON.
    #[error("originating identity value is not valid JSON")]
    Json,
}

impl OriginatingIdentity {
    /// Builds an identity from a platform name and its JSON value.
    ///
    /// # Errors
    ///
    /// [`InvalidOriginatingIdentity::Format`] when `platform` is empty or holds whitespace.
    pub fn new(
        platform: impl Into<String>,
        value: Value,
    ) -> Result<Self, InvalidOriginatingIdentity> {
        let platform = platform.into();
        if platform.is_empty() || platform.contains(char::is_whitespace) {
            return Err(InvalidOriginatingIdentity::Format);
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_string());
        Ok(Self {
            platform_len: platform.len(),
            header: format!("{platform} {encoded}"),
            value: OnceLock::from(value),
        })
    }

    /// The platform name (`cloudfoundry`, `kubernetes`, `ibmcloud`, …).
    pub fn platform(&self) -> &str {
        self.header.get(..self.platform_len).unwrap_or_default()
    }

    /// The base64 part of the header.
    fn encoded(&self) -> &str {
        self.header.get(self.platform_len + 1..).unwrap_or_default()
    }

    /// The decoded JSON value.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            // `from_str` validated exactly this: base64 of JSON that `Value` accepts, so the
            // fallback is never taken.
            DECODER
                .decode(self.encoded())
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// A string field of the decoded object, if it is an object holding that field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.value().get(name).and_then(Value::as_str)
    }

    /// Cloud Foundry's `user_id`.
    pub fn user_id(&self) -> Option<&str> {
        self.field("user_id")
    }

    /// Kubernetes' `username`.
    pub fn username(&self) -> Option<&str> {
        self.field("username")
    }

    /// Kubernetes' `uid`.
    pub fn uid(&self) -> Option<&str> {
        self.field("uid")
    }

    /// Kubernetes' `groups`.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.value()
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// IBM Cloud's `iam_id`; when IBM sends a bare string, that string.
    pub fn iam_id(&self) -> Option<&str> {
        self.field("iam_id").or_else(|| self.value().as_str())
    }

    /// The header value, `<platform> <base64>`, as received (or as encoded by [`Self::new`]).
    pub fn to_header_value(&self) -> String {
        self.header.clone()
    }
}

/// Standard base64 that accepts values with or without padding. Built at compile time: the
/// engine's decode table is not rebuilt on every request.
const DECODER: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl FromStr for OriginatingIdentity {
    type Err = InvalidOriginatingIdentity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (platform, encoded) = s
            .trim()
            .split_once(' ')
            .ok_or(InvalidOriginatingIdentity::Format)?;
        let encoded = encoded.trim();
        if platform.is_empty() || encoded.is_empty() {
            return Err(InvalidOriginatingIdentity::Format);
        }
        // Typical identities are a few dozen bytes: decode them on the stack.
        let mut stack = [0_u8; 512];
        let heap;
        let bytes = match DECODER.decode_slice(encoded, &mut stack) {
            Ok(len) => stack.get(..len).unwrap_or_default(),
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                heap = DECODER
                    .decode(encoded)
                    .map_err(|_| InvalidOriginatingIdentity::Base64)?;
                heap.as_slice()
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => {
                return Err(InvalidOriginatingIdentity::Base64);
            }
        };
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        serde::Deserialize::deserialize(&mut deserializer)
            .and_then(|ValidJson| deserializer.end())
            .map_err(|_| InvalidOriginatingIdentity::Json)?;
        let mut header = String::with_capacity(platform.len() + 1 + encoded.len());
        header.push_str(platform);
        header.push(' ');
        header.push_str(encoded);
        Ok(Self {
            header,
            platform_len: platform.len(),
            value: OnceLock::new(),
        })
    }
}

/// Accepts exactly the JSON documents `serde_json::Value` accepts (same parser, same
/// `deserialize_any` path: UTF-8, escapes and surrogates, number ranges, nesting limit) without
/// building anything.
struct ValidJson;

impl<'de> serde::Deserialize<'de> for ValidJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValidJson)
    }
}

impl<'de> serde::de::Visitor<'de> for ValidJson {
    type Value = ValidJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_none<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<ValidJson>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        // Keys as `Value` reads them: strings.
        while map.next_key::<ValidKey>()?.is_some() {
            map.next_value::<ValidJson>()?;
        }
        Ok(self)
    }
}

/// An object key, read as a string the way `Value` reads keys.
struct ValidKey;

impl<'de> serde::Deserialize<'de> for ValidKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ValidKey)
    }
}

impl serde::de::Visitor<'_> for ValidKey {
    type Value = ValidKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
}

/// The platform's identifier of one request (`X-Broker-API-Request-Identity`, OSB 2.15).
///
/// The broker SHOULD echo it in the response; it is also the natural key for logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestIdentity(String);

impl RequestIdentity {
    /// Wraps a request identity. Returns `None` for an empty value (spec: it is non-empty).
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.is_empty()).then_some(Self(value))
    }

    /// The identity as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RequestIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RequestIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(v: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(v)
    }

    #[test]
    fn parses_cloud_foundry_identity() {
        let header = format!("cloudfoundry {}", encode(r#"{"user_id":"683ea748"}"#));
        let id: OriginatingIdentity = header.parse().unwrap();
        assert_eq!(id.platform(), "cloudfoundry");
        assert_eq!(id.user_id(), Some("683ea748"));
        assert_eq!(id.to_header_value(), header);
    }

    #[test]
    fn parses_kubernetes_identity() {
        let json = r#"{"username":"duke","uid":"c2dde242","groups":["admin","dev"],"extra":{"mydata":["data1"]}}"#;
        let id: OriginatingIdentity = format!("kubernetes {}", encode(json)).parse().unwrap();
        assert_eq!(id.username(), Some("duke"));
        assert_eq!(id.uid(), Some("c2dde242"));
        assert_eq!(id.groups().collect::<Vec<_>>(), ["admin", "dev"]);
    }

    #[test]
    fn parses_ibm_identity_object_and_bare_string() {
        let id: OriginatingIdentity = format!("ibmcloud {}", encode(r#"{"iam_id":"IBMid-1"}"#))
            .parse()
            .unwrap();
        assert_eq!(id.iam_id(), Some("IBMid-1"));
        let id: OriginatingIdentity = format!("ibmcloud {}", encode(r#""ibmid-456345X""#))
            .parse()
            .unwrap();
        assert_eq!(id.iam_id(), Some("ibmid-456345X"));
    }

    #[test]
    fn accepts_unpadded_base64() {
        let unpadded = encode(r#"{"user_id":"ab"}"#)
            .trim_end_matches('=')
            .to_owned();
        let id: OriginatingIdentity = format!("cloudfoundry {unpadded}").parse().unwrap();
        assert_eq!(id.user_id(), Some("ab"));
    }

    #[test]
    fn rejects_malformed_identities_with_clear_errors() {
        use InvalidOriginatingIdentity::*;
        let cases = [
            ("", Format),
            ("cloudfoundry", Format),
            (" eyJ9", Format),
            ("cloudfoundry %%%%", Base64),
            ("cloudfoundry bm90IGpzb24=", Json),
        ];
        for (input, expected) in cases {
            assert_eq!(
                input.parse::<OriginatingIdentity>().unwrap_err(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn validation_accepts_exactly_what_value_accepts() {
        let documents: [&[u8]; 14] = [
            br#"{"a":[1,-2,3.5e3,true,null,{"b":"c"}]}"#,
            br#""bare""#,
            br#"{"a":"\ud83d\ude00"}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"\udc00":1}"#,
            b"[1e400]",
            b"[-1e400]",
            b"{\"a\":\"\xff\"}",
            br#"{"a":1} x"#,
            br#"{"a":1,}"#,
            br#"{1:2}"#,
            b"\"tab\there\"",
            br#"{"a":1,"a":2}"#,
            b" ",
        ];
        for json in documents {
            let header = format!("p {}", DECODER.encode(json));
            let expected = serde_json::from_slice::<Value>(json).ok();
            let parsed = header.parse::<OriginatingIdentity>();
            assert_eq!(
                parsed.as_ref().ok().map(OriginatingIdentity::value),
                expected.as_ref(),
                "{}",
                String::from_utf8_lossy(json)
            );
            if expected.is_none() {
                assert_eq!(parsed.unwrap_err(), InvalidOriginatingIdentity::Json);
            }
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(
            format!("p {}", encode(&deep))
                .parse::<OriginatingIdentity>()
                .is_err()
        );
    }

    #[test]
    fn equality_and_debug_see_the_lazily_parsed_value() {
        let header = format!("cloudfoundry {}", encode(r#"{"user_id":"u"}"#));
        let a: OriginatingIdentity = header.parse().unwrap();
        let b: OriginatingIdentity = header.parse().unwrap();
        assert_eq!(a.user_id(), Some("u"));
        assert_eq!(a, b);
        assert!(format!("{b:?}").contains("user_id"));
        let other: OriginatingIdentity = format!("kubernetes {}", encode(r#"{"user_id":"u"}"#))
            .parse()
            .unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn new_encodes_value() {
        let id = OriginatingIdentity::new("cloudfoundry", json!({"user_id": "u"})).unwrap();
        let again: OriginatingIdentity = id.to_header_value().parse().unwrap();
        assert_eq!(again.user_id(), Some("u"));
        assert!(OriginatingIdentity::new("", json!({})).is_err());
    }

    #[test]
    fn request_identity_rejects_empty() {
        assert!(RequestIdentity::new("").is_none());
        assert_eq!(RequestIdentity::new("abc").unwrap().as_str(), "abc");
    }
}
