//! The header types: `X-Broker-API-Originating-Identity`, `X-Broker-API-Version`,
//! `X-Broker-API-Request-Identity`, and the `operation` token limits.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use osb_core::identity::InvalidOriginatingIdentity;
use osb_core::operation::MAX_OPERATION_LEN;
use osb_core::{ApiVersion, OperationToken, OriginatingIdentity, RequestIdentity};
use serde_json::json;

fn header(platform: &str, json: &str) -> String {
    format!("{platform} {}", STANDARD.encode(json))
}

#[test]
fn cloud_foundry_identity_exposes_user_id() {
    let value = header(
        "cloudfoundry",
        r#"{"user_id": "683ea748-3092-4ff4-b656-39cacc4d5360"}"#,
    );
    let id: OriginatingIdentity = value.parse().unwrap();
    assert_eq!(id.platform(), "cloudfoundry");
    assert_eq!(id.user_id(), Some("683ea748-3092-4ff4-b656-39cacc4d5360"));
    assert_eq!(id.iam_id(), None);
    assert_eq!(
        id.to_header_value(),
        value,
        "formatting gives back what was received"
    );
}

#[test]
fn kubernetes_identity_exposes_username_uid_groups_and_extra() {
    let json = r#"{"username": "duke", "uid": "c2dde242-5ce4-11e7-988c-000c2946f14f",
        "groups": ["admin", "dev", 7], "extra": {"mydata": ["data1", "data3"]}}"#;
    let id: OriginatingIdentity = header("kubernetes", json).parse().unwrap();
    assert_eq!(id.username(), Some("duke"));
    assert_eq!(id.uid(), Some("c2dde242-5ce4-11e7-988c-000c2946f14f"));
    assert_eq!(
        id.groups().collect::<Vec<_>>(),
        ["admin", "dev"],
        "non-strings are skipped"
    );
    assert_eq!(id.value()["extra"]["mydata"][1], "data3");
    assert_eq!(id.field("extra"), None, "field() returns strings only");
}

#[test]
fn ibm_cloud_identity_accepts_an_object_or_a_bare_string() {
    let object: OriginatingIdentity = header(
        "ibmcloud",
        r#"{"iam_id": "IBMid-50GNR717YE", "sub": "user@example.com"}"#,
    )
    .parse()
    .unwrap();
    assert_eq!(object.iam_id(), Some("IBMid-50GNR717YE"));
    assert_eq!(object.field("sub"), Some("user@example.com"));

    // rules.md §2.2: one IBM doc example decodes to a bare string.
    let bare: OriginatingIdentity = header("ibmcloud", r#""ibmid-456345X""#).parse().unwrap();
    assert_eq!(bare.iam_id(), Some("ibmid-456345X"));
    assert_eq!(bare.value(), &json!("ibmid-456345X"));
}

#[test]
fn unknown_platforms_are_accepted_as_is() {
    let id: OriginatingIdentity = header("acme-platform", r#"{"who": "me"}"#).parse().unwrap();
    assert_eq!(id.platform(), "acme-platform");
    assert_eq!(id.field("who"), Some("me"));
    assert_eq!(id.user_id(), None);
    assert_eq!(id.groups().count(), 0);
}

#[test]
fn surrounding_whitespace_and_missing_padding_are_tolerated() {
    let encoded = STANDARD.encode(r#"{"user_id":"ab"}"#);
    let padded = format!("  cloudfoundry   {encoded}  ");
    assert_eq!(
        padded.parse::<OriginatingIdentity>().unwrap().user_id(),
        Some("ab")
    );
    let unpadded = format!("cloudfoundry {}", encoded.trim_end_matches('='));
    assert_eq!(
        unpadded.parse::<OriginatingIdentity>().unwrap().user_id(),
        Some("ab")
    );
}

#[test]
fn malformed_identities_give_the_matching_error() {
    use InvalidOriginatingIdentity::{Base64, Format, Json};
    let not_utf8 = format!("cloudfoundry {}", STANDARD.encode([0xff, 0xfe, 0x00]));
    let cases = [
        (String::new(), Format),
        ("   ".to_owned(), Format),
        ("cloudfoundry".to_owned(), Format),
        ("cloudfoundry ".to_owned(), Format),
        (" eyJ1c2VyX2lkIjoiYSJ9".to_owned(), Format),
        ("cloudfoundry\teyJ1c2VyX2lkIjoiYSJ9".to_owned(), Format),
        ("cloudfoundry %%%".to_owned(), Base64),
        (
            "cloudfoundry eyJ1c2VyX2lkIjoiYSJ9 trailing".to_owned(),
            Base64,
        ),
        ("cloudfoundry eyJ1c2VyX2lkIjoiYSJ9-_".to_owned(), Base64),
        ("☃ ☃".to_owned(), Base64),
        (header("cloudfoundry", "not json"), Json),
        (header("cloudfoundry", r#"{"user_id": "a""#), Json),
        (header("cloudfoundry", ""), Format),
        (not_utf8, Json),
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
fn error_messages_say_what_is_expected_without_echoing_the_value() {
    let secretish = "cloudfoundry c2VjcmV0LXRva2Vu";
    let error = secretish
        .parse::<OriginatingIdentity>()
        .unwrap_err()
        .to_string();
    assert!(error.contains("JSON"), "{error}");
    assert!(!error.contains("c2VjcmV0"), "{error}");
    let error = "x".parse::<OriginatingIdentity>().unwrap_err().to_string();
    assert!(error.contains("<platform> <base64 JSON>"), "{error}");
}

#[test]
fn huge_and_hostile_identities_give_errors_not_panics() {
    let huge_garbage = format!("cloudfoundry {}", "A".repeat(4 << 20));
    assert_eq!(
        huge_garbage.parse::<OriginatingIdentity>().unwrap_err(),
        InvalidOriginatingIdentity::Json
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        header("kubernetes", &deep)
            .parse::<OriginatingIdentity>()
            .unwrap_err(),
        InvalidOriginatingIdentity::Json
    );
    let long_platform = format!("{} e30=", "p".repeat(1 << 20));
    assert_eq!(
        long_platform
            .parse::<OriginatingIdentity>()
            .unwrap()
            .platform()
            .len(),
        1 << 20
    );
    let big_json = format!(r#"{{"user_id": "{}"}}"#, "u".repeat(1 << 20));
    let big: OriginatingIdentity = header("cloudfoundry", &big_json).parse().unwrap();
    assert_eq!(big.user_id().map(str::len), Some(1 << 20));
}

#[test]
fn new_encodes_and_rejects_bad_platform_names() {
    let id = OriginatingIdentity::new("kubernetes", json!({"username": "duke"})).unwrap();
    let parsed: OriginatingIdentity = id.to_header_value().parse().unwrap();
    assert_eq!(parsed, id);
    for bad in ["", "cloud foundry", " ", "k8s\n"] {
        assert_eq!(
            OriginatingIdentity::new(bad, json!({})).unwrap_err(),
            InvalidOriginatingIdentity::Format,
            "{bad:?}"
        );
    }
}

#[test]
fn api_versions_parse_compare_and_format() {
    let v: ApiVersion = "2.12".parse().unwrap();
    assert_eq!(v, ApiVersion::V2_12);
    assert_eq!((v.major(), v.minor()), (2, 12));
    assert_eq!(v.to_string(), "2.12");
    assert!(ApiVersion::V2_12 < ApiVersion::V2_13);
    assert!(ApiVersion::V2_16 < ApiVersion::V2_17);
    assert_eq!(ApiVersion::LATEST, ApiVersion::V2_17);
    assert!(
        "2.9".parse::<ApiVersion>().unwrap() < v,
        "minor compares as a number"
    );
    assert!(ApiVersion::new(3, 0) > ApiVersion::V2_17);
    assert_eq!(" 2.17\t".parse::<ApiVersion>().unwrap(), ApiVersion::V2_17);
}

#[test]
fn malformed_api_versions_are_rejected_with_the_value_in_the_message() {
    for bad in [
        "", " ", "2", "2.", ".17", "2.x", "v2.17", "2.17.0", "2,17", "-2.17", "+2.17", "2.-1",
        "70000.1", "2.70000", "２.17", "2 .17",
    ] {
        let error = bad.parse::<ApiVersion>().unwrap_err().to_string();
        assert!(error.contains("MAJOR.MINOR"), "{bad:?}: {error}");
    }
    let error = "2.x".parse::<ApiVersion>().unwrap_err().to_string();
    assert!(error.contains("\"2.x\""), "{error}");
    let huge = "9".repeat(1 << 20);
    let error = huge.parse::<ApiVersion>().unwrap_err().to_string();
    assert!(
        error.len() < 200,
        "the message quotes a bounded prefix, got {} bytes",
        error.len()
    );
}

#[test]
fn request_identity_is_non_empty_and_echoed_verbatim() {
    assert!(RequestIdentity::new("").is_none());
    let id = RequestIdentity::new("e26cea0c-7a3c-4d54-8a3e-5ab2a3b9b8a1").unwrap();
    assert_eq!(id.as_str(), "e26cea0c-7a3c-4d54-8a3e-5ab2a3b9b8a1");
    assert_eq!(id.to_string(), id.as_str());
}

#[test]
fn operation_tokens_hold_1_to_10000_characters() {
    assert_eq!(MAX_OPERATION_LEN, 10_000);
    assert!(OperationToken::new("").is_err());
    assert!(OperationToken::new("x").is_ok());
    assert!(OperationToken::new("x".repeat(10_000)).is_ok());
    let error = OperationToken::new("x".repeat(10_001)).unwrap_err();
    assert!(error.to_string().contains("10001"), "{error}");
    // The limit counts characters, not bytes (spec.md: "no more than 10,000 characters").
    let multibyte = "é".repeat(10_000);
    assert_eq!(multibyte.len(), 20_000);
    assert!(OperationToken::new(multibyte).is_ok());
    assert!(OperationToken::new("é".repeat(10_001)).is_err());
}

#[test]
fn operation_tokens_from_json_obey_the_same_limits() {
    assert!(serde_json::from_value::<OperationToken>(json!("")).is_err());
    assert!(serde_json::from_value::<OperationToken>(json!("x".repeat(10_001))).is_err());
    assert!(serde_json::from_value::<OperationToken>(json!(5)).is_err());
    let token: OperationToken = serde_json::from_value(json!("task_10")).unwrap();
    assert_eq!(token.as_str(), "task_10");
    assert_eq!(token.to_string(), "task_10");
}

#[test]
fn random_operation_tokens_are_valid_and_distinct() {
    let a = OperationToken::random();
    let b = OperationToken::random();
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 36, "a hyphenated v4 UUID");
    assert!(OperationToken::new(a.as_str()).is_ok());
}

#[test]
fn the_spec_example_header_parses() {
    // spec.md "Originating Identity": the example value, whose JSON has CRLF line breaks.
    let value = "cloudfoundry eyANCiAgInVzZXJfaWQiOiAiNjgzZWE3NDgtMzA5Mi00ZmY0LWI2NTYtMzljYWNjNGQ1MzYwIg0KfQ==";
    let id: OriginatingIdentity = value.parse().unwrap();
    assert_eq!(id.platform(), "cloudfoundry");
    assert_eq!(id.user_id(), Some("683ea748-3092-4ff4-b656-39cacc4d5360"));
    assert_eq!(id.to_header_value(), value);
}
