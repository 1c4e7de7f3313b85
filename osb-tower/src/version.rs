//! Version negotiation: `X-Broker-API-Version` against the configured range.
//!
//! Spec: spec.md "API Version Header" (412 with a message naming the version to use; absent
//! header MAY 400); the project's choices are in osb-core rules.md §2.1.

use http::{HeaderMap, HeaderName, StatusCode};
use osb_core::{ApiVersion, BrokerError};

use crate::routing::Endpoint;

/// The header the platform declares its API version in.
pub(crate) const X_BROKER_API_VERSION: HeaderName = HeaderName::from_static("x-broker-api-version");

/// What an absent or empty `X-Broker-API-Version` is answered with.
///
/// # Example
///
/// ```
/// use osb_tower::{MissingVersion, OsbService};
/// # use std::sync::Arc;
/// # use osb_core::{catalog::Catalog, *};
/// # struct B;
/// # #[async_trait::async_trait]
/// # impl ServiceBroker for B {
/// #     async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> { Ok(Arc::default()) }
/// #     async fn provision(&self, _: &str, _: ProvisionRequest, _: &RequestContext) -> Result<ProvisionResponse, BrokerError> { Err(BrokerError::not_found()) }
/// #     async fn deprovision(&self, _: &str, _: DeprovisionRequest, _: &RequestContext) -> Result<DeprovisionResponse, BrokerError> { Err(BrokerError::gone()) }
/// # }
/// let service = OsbService::builder(B)
///     .missing_version(MissingVersion::BadRequest)
///     .build();
/// # let _ = service;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingVersion {
    /// `412 Precondition Failed`, as for an unsupported version. The conformance tools
    /// (osb-checker, osb-checker-kotlin) expect it on every endpoint: a deliberate deviation
    /// from the spec's "MAY 400".
    #[default]
    PreconditionFailed,
    /// `400 Bad Request`, the spec's wording since 2.16.
    BadRequest,
}

/// The accepted range of versions and the related settings.
#[derive(Debug, Clone)]
pub(crate) struct VersionPolicy {
    pub(crate) min: ApiVersion,
    /// `None`: every 2.x from `min` on.
    pub(crate) max: Option<ApiVersion>,
    pub(crate) missing: MissingVersion,
    pub(crate) enforce_endpoint_versions: bool,
    /// The description of the range, built once (`"2.12 or any later 2.x version"`).
    supported: String,
}

impl Default for VersionPolicy {
    fn default() -> Self {
        Self::new(ApiVersion::V2_12, None, MissingVersion::default(), false)
    }
}

impl VersionPolicy {
    pub(crate) fn new(
        min: ApiVersion,
        max: Option<ApiVersion>,
        missing: MissingVersion,
        enforce_endpoint_versions: bool,
    ) -> Self {
        let supported = match max {
            None => format!("{min} or any later 2.x version"),
            Some(max) if max == min => format!("{min}"),
            Some(max) => format!("{min} to {max}"),
        };
        Self {
            min,
            max,
            missing,
            enforce_endpoint_versions,
            supported,
        }
    }

    /// Negotiates the version of a request to an OSB endpoint (§13 step 2).
    pub(crate) fn negotiate(
        &self,
        headers: &HeaderMap,
        endpoint: Endpoint,
    ) -> Result<ApiVersion, BrokerError> {
        let value = headers
            .get(&X_BROKER_API_VERSION)
            .map(|v| v.as_bytes())
            .filter(|v| !v.iter().all(u8::is_ascii_whitespace));
        let Some(value) = value else {
            let status = match self.missing {
                MissingVersion::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                MissingVersion::BadRequest => StatusCode::BAD_REQUEST,
            };
            return Err(BrokerError::status_code(
                status,
                format!(
                    "The X-Broker-API-Version header is required; this broker supports {}.",
                    self.supported
                ),
            ));
        };
        let Some(version) = parse(value) else {
            return Err(self.unsupported("is not a MAJOR.MINOR version"));
        };
        let in_range = version.major() == 2
            && version >= self.min
            && self.max.is_none_or(|max| version <= max);
        if !in_range {
            return Err(BrokerError::status_code(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "X-Broker-API-Version {version} is not supported; this broker supports {}.",
                    self.supported
                ),
            ));
        }
        let too_old = endpoint
            .since()
            .filter(|since| self.enforce_endpoint_versions && version < *since);
        if let Some(since) = too_old {
            return Err(BrokerError::status_code(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "This endpoint needs X-Broker-API-Version {since} or later; the request declared {version}."
                ),
            ));
        }
        Ok(version)
    }

    /// The version recorded for a `bluemix_v1` request: the declared one when valid, else `min`.
    pub(crate) fn lenient(&self, headers: &HeaderMap) -> ApiVersion {
        headers
            .get(&X_BROKER_API_VERSION)
            .and_then(|v| parse(v.as_bytes()))
            .unwrap_or(self.min)
    }

    fn unsupported(&self, why: &str) -> BrokerError {
        BrokerError::status_code(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "The X-Broker-API-Version header {why}; this broker supports {}.",
                self.supported
            ),
        )
    }
}

/// A header value as [`ApiVersion`]'s `FromStr` reads it; the `2.N` and `2.NN` every platform
/// sends are read directly, without the general parser (this runs on every request).
fn parse(value: &[u8]) -> Option<ApiVersion> {
    let digit = |d: u8| u16::from(d - b'0');
    match *value {
        [major @ b'0'..=b'9', b'.', minor @ b'0'..=b'9'] => {
            Some(ApiVersion::new(digit(major), digit(minor)))
        }
        [
            major @ b'0'..=b'9',
            b'.',
            tens @ b'0'..=b'9',
            ones @ b'0'..=b'9',
        ] => Some(ApiVersion::new(
            digit(major),
            digit(tens) * 10 + digit(ones),
        )),
        _ => std::str::from_utf8(value).ok()?.parse().ok(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn fast_version_parse_agrees_with_api_version_from_str() {
        for value in [
            "2.17", "2.12", "2.9", "2.07", "3.0", "12.3", "2.123", " 2.17", "2.17 ", "2.", ".17",
            "2.x", "v2.17", "2,17", "2.1a", "",
        ] {
            assert_eq!(
                parse(value.as_bytes()),
                value.parse::<ApiVersion>().ok(),
                "{value:?}"
            );
        }
    }

    fn headers(version: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(v) = version {
            headers.insert(X_BROKER_API_VERSION, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn default_range_is_2_12_and_later() {
        let policy = VersionPolicy::default();
        for ok in ["2.12", "2.14", "2.17", "2.99"] {
            assert!(
                policy
                    .negotiate(&headers(Some(ok)), Endpoint::Catalog)
                    .is_ok(),
                "{ok}"
            );
        }
        for bad in ["2.11", "1.17", "3.0", "2", "abc"] {
            let err = policy
                .negotiate(&headers(Some(bad)), Endpoint::Catalog)
                .unwrap_err();
            assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED, "{bad}");
            assert!(err.description().contains("2.12 or any later 2.x"), "{bad}");
        }
    }

    #[test]
    fn missing_or_empty_is_412_by_default_and_400_as_setting() {
        let policy = VersionPolicy::default();
        for h in [headers(None), headers(Some("")), headers(Some("  "))] {
            let err = policy.negotiate(&h, Endpoint::Catalog).unwrap_err();
            assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED);
        }
        let policy = VersionPolicy::new(ApiVersion::V2_12, None, MissingVersion::BadRequest, false);
        let err = policy
            .negotiate(&headers(None), Endpoint::Catalog)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn endpoint_versions_enforced_only_when_enabled() {
        let off = VersionPolicy::default();
        assert!(
            off.negotiate(&headers(Some("2.12")), Endpoint::FetchInstance)
                .is_ok()
        );
        let on = VersionPolicy::new(ApiVersion::V2_12, None, MissingVersion::default(), true);
        let err = on
            .negotiate(&headers(Some("2.13")), Endpoint::FetchBinding)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED);
        assert!(
            on.negotiate(&headers(Some("2.14")), Endpoint::FetchBinding)
                .is_ok()
        );
        assert!(
            on.negotiate(&headers(Some("2.12")), Endpoint::Provision)
                .is_ok()
        );
    }

    #[test]
    fn bounded_range_names_both_ends() {
        let policy = VersionPolicy::new(
            ApiVersion::V2_13,
            Some(ApiVersion::V2_15),
            MissingVersion::default(),
            false,
        );
        let err = policy
            .negotiate(&headers(Some("2.16")), Endpoint::Catalog)
            .unwrap_err();
        assert!(err.description().contains("2.13 to 2.15"));
    }
}
