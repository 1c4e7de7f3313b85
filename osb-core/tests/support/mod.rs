//! Shared helpers for osb-core's integration tests: fixture loading and round-trip checks.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The text of `tests/fixtures/<name>`.
pub(crate) fn fixture_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tests/fixtures/<name>` as JSON (every fixture must be valid JSON).
pub(crate) fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name))
        .unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"))
}

/// Parses a fixture as `T`, serialises it again and asserts nothing changed (compared as
/// `serde_json::Value`, so key order and whitespace do not matter). Returns the parsed value.
pub(crate) fn round_trip<T: Serialize + DeserializeOwned>(name: &str) -> T {
    let parsed: T = serde_json::from_str(&fixture_text(name))
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_eq!(back, fixture(name), "{name} changed on a round trip");
    parsed
}

/// Like [`round_trip`], for a JSON value (e.g. one object inside a fixture).
pub(crate) fn round_trip_value<T: Serialize + DeserializeOwned>(value: &Value) -> T {
    let parsed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{value} does not parse: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&back, value, "changed on a round trip");
    parsed
}

/// Asserts a serialised response holds no `null` and no `""` anywhere (spec.md "Service Broker
/// Errors": strings, if present, MUST be non-empty; absent fields are omitted, not `null`).
pub(crate) fn assert_no_null_or_empty(value: &Value) {
    fn walk(value: &Value, path: &str) {
        match value {
            Value::Null => panic!("null at {path}"),
            Value::String(s) if s.is_empty() => panic!("empty string at {path}"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    walk(item, &format!("{path}.{key}"));
                }
            }
            _ => {}
        }
    }
    walk(value, "$");
}
