//! Lenient request parsing and exact response serialisation helpers.
//!
//! OSB v2.17 says string fields, "if present, MUST be non-empty" and that receivers MUST ignore
//! what they do not understand (spec.md "Vendor Extensions"). Real platforms still send `""` and
//! `{}` placeholders (rules.md §16), so requests treat them as "not provided", and responses never
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

/// Deserialises a required, non-empty `service_id`; the error names the field.
pub(crate) fn service_id<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    required_field(deserializer, "service_id")
}

/// Deserialises a required, non-empty `plan_id`; the error names the field.
pub(crate) fn plan_id<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    required_field(deserializer, "plan_id")
}

/// A required string that must not be empty, with errors that name the field: serde's own
/// messages ("invalid type: integer `5`, expected a string") do not say which field was wrong.
fn required_field<'de, D>(deserializer: D, field: &'static str) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<String>::deserialize(deserializer)
        .map_err(|e| serde::de::Error::custom(format_args!("invalid {field}: {e}")))?;
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        // spec.md "Service Broker Errors": strings, if present, MUST be non-empty, so `""` and
        // `null` are "missing mandatory data" (rules.md §16).
        _ => Err(serde::de::Error::custom(format_args!(
            "{field} must be a non-empty string"
        ))),
    }
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
/// `{}` (no `version`) and `{"version": ""}` mean "not provided" (rules.md §16, a deliberate
/// Postel deviation); a present version that is not SemVer 2.0 is an error.
pub(crate) fn maintenance_info<'de, D>(
    deserializer: D,
) -> Result<Option<crate::catalog::MaintenanceInfo>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(info) = raw_maintenance_info(deserializer, "maintenance_info")? else {
        return Ok(None);
    };
    if semver::Version::parse(&info.version).is_err() {
        return Err(serde::de::Error::custom(format_args!(
            "maintenance_info.version {:?} is not a SemVer 2.0 version",
            info.version
        )));
    }
    Ok(Some(info))
}

/// Deserialises `previous_values.maintenance_info`, which is informational only.
///
/// `{}` means "not provided" and a version that is not SemVer 2.0 is kept as sent rather than
/// failing the whole update: it describes the instance's past, not a request (rules.md §16).
pub(crate) fn previous_maintenance_info<'de, D>(
    deserializer: D,
) -> Result<Option<crate::catalog::MaintenanceInfo>, D::Error>
where
    D: Deserializer<'de>,
{
    raw_maintenance_info(deserializer, "previous_values.maintenance_info")
}

/// A `maintenance_info` object with its non-empty string fields; unknown fields are ignored.
///
/// Goes through a map so that only a JSON object is accepted (serde's derived structs would
/// also take an array) and errors name the field.
fn raw_maintenance_info<'de, D>(
    deserializer: D,
    field: &'static str,
) -> Result<Option<crate::catalog::MaintenanceInfo>, D::Error>
where
    D: Deserializer<'de>,
{
    use serde_json::{Map, Value};

    let invalid = |what: &dyn std::fmt::Display| {
        serde::de::Error::custom(format_args!("invalid {field}: {what}"))
    };
    let Some(map) =
        Option::<Map<String, Value>>::deserialize(deserializer).map_err(|e| invalid(&e))?
    else {
        return Ok(None);
    };
    let string = |key: &str| -> Result<Option<String>, D::Error> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
            Some(other) => Err(invalid(&format_args!(
                "{key} must be a string, got {other}"
            ))),
        }
    };
    let description = string("description")?;
    Ok(
        string("version")?.map(|version| crate::catalog::MaintenanceInfo {
            version,
            description,
        }),
    )
}
