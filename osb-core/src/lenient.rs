//! Lenient request parsing and exact response serialisation helpers.
//!
//! OSB v2.17 says string fields, "if present, MUST be non-empty" and that receivers MUST ignore
//! what they do not understand (spec.md "Vendor Extensions"). Real platforms still send `""` and
//! `{}` placeholders (NOTES.md §13), so requests treat them as "not provided", and responses never
//! emit them.

use serde::{Deserialize, Deserializer};

/// Deserialises an optional string, mapping `""` (and `null`) to `None`.
pub(crate) fn empty_string_as_none<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|s| !s.is_empty()))
}

/// Deserialises a required string that must not be empty.
pub(crate) fn non_empty_string<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    let value = String::deserialize(deserializer)?;
    if value.is_empty() {
        return Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(""),
            &"a non-empty string",
        ));
    }
    Ok(value)
}

/// `skip_serializing_if` for optional strings: absent and empty strings are both omitted.
pub(crate) fn is_none_or_empty(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// `skip_serializing_if` for optional JSON objects: `None` is omitted, `{}` is kept.
pub(crate) fn is_none<T>(value: &Option<T>) -> bool {
    value.is_none()
}

/// Writes `<redacted>` in place of a secret value in `Debug` output.
pub(crate) struct Redacted<'a, T>(pub(crate) &'a Option<T>);

impl<T> std::fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

/// Deserialises an optional `maintenance_info`.
///
/// `{}` (no `version`) and `{"version": ""}` mean "not provided" (NOTES.md §13, a deliberate
/// Postel deviation); a present version that is not SemVer 2.0 is an error.
pub(crate) fn maintenance_info<'de, D>(
    deserializer: D,
) -> Result<Option<crate::catalog::MaintenanceInfo>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default, deserialize_with = "empty_string_as_none")]
        version: Option<String>,
        #[serde(default, deserialize_with = "empty_string_as_none")]
        description: Option<String>,
    }
    let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let Some(version) = raw.version else {
        return Ok(None);
    };
    if semver::Version::parse(&version).is_err() {
        return Err(serde::de::Error::custom(format_args!(
            "maintenance_info.version {version:?} is not a SemVer 2.0 version"
        )));
    }
    Ok(Some(crate::catalog::MaintenanceInfo {
        version,
        description: raw.description,
    }))
}
