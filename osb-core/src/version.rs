//! The `X-Broker-API-Version` header as a type.
//!
//! Spec: spec.md "API Version Header". The value is `MAJOR.MINOR`; minor revisions are additive.

use std::fmt;
use std::str::FromStr;

/// An OSB API version, as sent in `X-Broker-API-Version` (`MAJOR.MINOR`).
///
/// Versions order by major, then minor.
///
/// # Example
///
/// ```
/// use osb_core::ApiVersion;
///
/// let v: ApiVersion = "2.12".parse()?;
/// assert!(v < ApiVersion::V2_17);
/// assert_eq!(v.to_string(), "2.12");
/// assert!("2".parse::<ApiVersion>().is_err());
/// # Ok::<(), osb_core::version::InvalidApiVersion>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    major: u16,
    minor: u16,
}

impl ApiVersion {
    /// OSB 2.12, the version IBM Cloud's resource controller declares.
    pub const V2_12: Self = Self::new(2, 12);
    /// OSB 2.13 (context on bind).
    pub const V2_13: Self = Self::new(2, 13);
    /// OSB 2.14 (fetch endpoints, asynchronous bindings).
    pub const V2_14: Self = Self::new(2, 14);
    /// OSB 2.15 (request identity, maintenance info).
    pub const V2_15: Self = Self::new(2, 15);
    /// OSB 2.16 (instance usability, ETag).
    pub const V2_16: Self = Self::new(2, 16);
    /// OSB 2.17 (binding rotation), the newest release.
    pub const V2_17: Self = Self::new(2, 17);
    /// The newest version this crate implements.
    pub const LATEST: Self = Self::V2_17;

    /// Creates a version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// The major version (`2` for every OSB v2 platform).
    pub const fn major(self) -> u16 {
        self.major
    }

    /// The minor version.
    pub const fn minor(self) -> u16 {
        self.minor
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The error returned when a string is not a `MAJOR.MINOR` version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API version {value:?}: expected MAJOR.MINOR, e.g. 2.17")]
pub struct InvalidApiVersion {
    value: String,
}

impl FromStr for ApiVersion {
    type Err = InvalidApiVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidApiVersion {
            value: s.chars().take(32).collect(),
        };
        let (major, minor) = s.trim().split_once('.').ok_or_else(invalid)?;
        let part = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            p.parse::<u16>().map_err(|_| invalid())
        };
        Ok(Self::new(part(major)?, part(minor)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let a: ApiVersion = "2.12".parse().unwrap();
        let b: ApiVersion = " 2.17 ".parse().unwrap();
        assert!(a < b);
        assert_eq!(b, ApiVersion::LATEST);
        assert!("2.9".parse::<ApiVersion>().unwrap() < a);
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "",
            "2",
            "2.",
            ".1",
            "2.x",
            "v2.1",
            "2.1.0",
            "-2.1",
            "2.+1",
            "99999999.1",
        ] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad:?} parsed");
        }
    }
}
