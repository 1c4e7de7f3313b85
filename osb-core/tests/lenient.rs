//! Lenient request parsing: the awkward inputs real platforms send (rules.md §16).
//!
//! Empty strings and empty placeholder objects mean "not provided", unknown fields are ignored,
//! and bad input gives an error that names what was wrong, never a panic.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use osb_core::{BindRequest, Context, ProvisionRequest, UpdateRequest};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn parse<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_str(&value.to_string()).map_err(|e| e.to_string())
}

fn error_of<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> String {
    parse::<T>(value.clone()).expect_err(&format!("{value} should not parse"))
}

#[test]
fn empty_required_ids_are_errors_naming_the_field() {
    for field in ["service_id", "plan_id"] {
        let mut body = json!({"service_id": "s", "plan_id": "p"});
        body[field] = json!("");
        let error = error_of::<ProvisionRequest>(body.clone());
        assert!(error.contains(field), "provision: {error}");
        assert!(error.contains("non-empty"), "provision: {error}");
        let error = error_of::<BindRequest>(body);
        assert!(error.contains(field), "bind: {error}");
    }
    let error = error_of::<UpdateRequest>(json!({"service_id": ""}));
    assert!(error.contains("service_id"), "{error}");
}

#[test]
fn null_missing_or_mistyped_required_ids_are_errors_naming_the_field() {
    for bad in [
        json!(null),
        json!(5),
        json!(["s"]),
        json!({"id": "s"}),
        json!(true),
    ] {
        let error = error_of::<ProvisionRequest>(json!({"service_id": bad, "plan_id": "p"}));
        assert!(error.contains("service_id"), "{bad}: {error}");
        let error = error_of::<BindRequest>(json!({"service_id": "s", "plan_id": bad}));
        assert!(error.contains("plan_id"), "{bad}: {error}");
    }
    let error = error_of::<ProvisionRequest>(json!({"plan_id": "p"}));
    assert!(error.contains("missing field `service_id`"), "{error}");
    let error = error_of::<BindRequest>(json!({"service_id": "s"}));
    assert!(error.contains("missing field `plan_id`"), "{error}");
    let error = error_of::<UpdateRequest>(json!({"plan_id": "p"}));
    assert!(error.contains("missing field `service_id`"), "{error}");
}

#[test]
fn empty_optional_strings_mean_not_provided() {
    let provision: ProvisionRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "organization_guid": "", "space_guid": "",
        "context": {"platform": "cloudfoundry", "organization_guid": "", "space_name": ""}
    }))
    .unwrap();
    assert_eq!(provision.organization_guid, None);
    assert_eq!(provision.space_guid, None);
    let Some(Context::CloudFoundry(ctx)) = &provision.context else {
        panic!("expected a Cloud Foundry context")
    };
    assert_eq!(ctx.organization_guid, None);
    assert_eq!(ctx.space_name, None);
    // Serialising again never sends the empty strings back.
    assert_eq!(
        serde_json::to_value(&provision).unwrap(),
        json!({"service_id": "s", "plan_id": "p", "context": {"platform": "cloudfoundry"}})
    );

    let update: UpdateRequest = parse(json!({
        "service_id": "s", "plan_id": "",
        "previous_values": {"plan_id": "", "service_id": "", "organization_id": "", "space_id": ""}
    }))
    .unwrap();
    assert_eq!(
        update.plan_id, None,
        "an empty plan_id must not change the plan"
    );
    let previous = update.previous_values.unwrap();
    assert_eq!(previous.plan_id, None);
    assert_eq!(previous.service_id, None);
    assert_eq!(previous.organization_id, None);
    assert_eq!(previous.space_id, None);

    let bind: BindRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "app_guid": "", "predecessor_binding_id": "",
        "bind_resource": {"app_guid": "", "route": ""}
    }))
    .unwrap();
    assert_eq!(bind.app_guid, None);
    assert_eq!(bind.predecessor_binding_id, None);
    assert_eq!(bind.app_guid(), None);
    assert_eq!(bind.bind_resource.unwrap().route, None);
}

#[test]
fn null_optional_fields_mean_not_provided() {
    let provision: ProvisionRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "context": null, "parameters": null,
        "organization_guid": null, "maintenance_info": null
    }))
    .unwrap();
    assert!(provision.context.is_none());
    assert!(provision.parameters.is_none());
    assert!(provision.maintenance_info.is_none());
    let bind: BindRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "bind_resource": null, "app_guid": null
    }))
    .unwrap();
    assert!(bind.bind_resource.is_none());
}

#[test]
fn empty_maintenance_info_placeholder_means_not_provided() {
    for placeholder in [
        json!({}),
        json!({"version": ""}),
        json!({"description": "x"}),
    ] {
        let provision: ProvisionRequest = parse(
            json!({"service_id": "s", "plan_id": "p", "maintenance_info": placeholder.clone()}),
        )
        .unwrap();
        assert_eq!(
            provision.maintenance_info, None,
            "provision with {placeholder}"
        );
        let update: UpdateRequest =
            parse(json!({"service_id": "s", "maintenance_info": placeholder.clone()})).unwrap();
        assert_eq!(update.maintenance_info, None, "update with {placeholder}");
    }
}

#[test]
fn maintenance_info_with_a_semver_version_is_kept() {
    for version in ["1.0.0", "2.1.1+abcdef", "1.0.0-rc.1+build.5"] {
        let provision: ProvisionRequest = parse(json!({
            "service_id": "s", "plan_id": "p",
            "maintenance_info": {"version": version, "description": "ignored but kept"}
        }))
        .unwrap();
        assert_eq!(provision.maintenance_info.unwrap().version, version);
    }
}

#[test]
fn non_semver_maintenance_version_is_an_error_naming_the_field() {
    for version in ["1.0", "v1.0.0", "latest", "1.0.0.0", "01.0.0"] {
        let body =
            json!({"service_id": "s", "plan_id": "p", "maintenance_info": {"version": version}});
        let error = error_of::<ProvisionRequest>(body);
        assert!(
            error.contains("maintenance_info.version"),
            "{version}: {error}"
        );
        assert!(error.contains("SemVer"), "{version}: {error}");
        let error = error_of::<UpdateRequest>(
            json!({"service_id": "s", "maintenance_info": {"version": version}}),
        );
        assert!(
            error.contains("maintenance_info.version"),
            "{version}: {error}"
        );
    }
    for bad in [json!({"version": 1}), json!("1.0.0"), json!([])] {
        let error = error_of::<ProvisionRequest>(
            json!({"service_id": "s", "plan_id": "p", "maintenance_info": bad.clone()}),
        );
        assert!(error.contains("maintenance_info"), "{bad}: {error}");
    }
}

#[test]
fn empty_bind_resource_placeholder_is_accepted() {
    let bind: BindRequest =
        parse(json!({"service_id": "s", "plan_id": "p", "bind_resource": {}})).unwrap();
    let resource = bind.bind_resource.as_ref().unwrap();
    assert_eq!(resource.app_guid, None);
    assert_eq!(resource.route, None);
    assert!(resource.extra.is_empty());
    assert_eq!(bind.app_guid(), None);
}

#[test]
fn previous_values_maintenance_placeholder_is_accepted() {
    let update: UpdateRequest = parse(json!({
        "service_id": "s", "previous_values": {"maintenance_info": {}}
    }))
    .unwrap();
    assert_eq!(update.previous_values.unwrap().maintenance_info, None);
}

#[test]
fn previous_values_keep_a_non_semver_version_because_they_are_informational() {
    let update: UpdateRequest = parse(json!({
        "service_id": "s", "previous_values": {"maintenance_info": {"version": "legacy-7"}}
    }))
    .unwrap();
    assert_eq!(
        update
            .previous_values
            .unwrap()
            .maintenance_info
            .unwrap()
            .version,
        "legacy-7"
    );
}

#[test]
fn unknown_fields_are_ignored_everywhere() {
    let provision: ProvisionRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "x-vendor": {"deep": [1, 2]}, "accepts_incomplete": true,
        "maintenance_info": {"version": "1.0.0", "unknown": 1}
    }))
    .unwrap();
    assert_eq!(provision.service_id, "s");
    let update: UpdateRequest = parse(json!({
        "service_id": "s", "previous_values": {"plan_id": "old", "x": 1}, "extra": null
    }))
    .unwrap();
    assert_eq!(
        update.previous_values.unwrap().plan_id.as_deref(),
        Some("old")
    );
    let bind: BindRequest = parse(json!({
        "service_id": "s", "plan_id": "p", "x-anything": "y", "bind_resource": {"app_guid": "a", "ibm": 1}
    }))
    .unwrap();
    assert_eq!(bind.app_guid(), Some("a"));
    assert_eq!(
        bind.bind_resource.unwrap().extra["ibm"],
        1,
        "bind_resource extras are kept"
    );
}

#[test]
fn wrongly_typed_fields_give_errors_not_panics() {
    let cases = [
        json!({"service_id": "s", "plan_id": "p", "parameters": "x"}),
        json!({"service_id": "s", "plan_id": "p", "parameters": [1]}),
        json!({"service_id": "s", "plan_id": "p", "context": 5}),
        json!({"service_id": "s", "plan_id": "p", "context": ["platform"]}),
        json!({"service_id": "s", "plan_id": "p", "organization_guid": 7}),
        json!({"service_id": "s", "plan_id": "p", "bind_resource": "app"}),
        json!({"service_id": "s", "plan_id": "p", "bind_resource": {"app_guid": 1}}),
        json!({"service_id": "s", "plan_id": "p", "predecessor_binding_id": {}}),
        json!([]),
        json!(null),
        json!("service_id"),
        json!(42),
    ];
    for body in cases {
        let provision = parse::<ProvisionRequest>(body.clone());
        let bind = parse::<BindRequest>(body.clone());
        assert!(
            provision.is_err() || bind.is_err(),
            "{body} parsed as both a provision and a bind request"
        );
    }
    let error = error_of::<UpdateRequest>(json!({"service_id": "s", "previous_values": "old"}));
    assert!(error.contains("invalid type"), "{error}");
}

#[test]
fn malformed_and_hostile_json_gives_errors_not_panics() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_parameters = format!(
        r#"{{"service_id":"s","plan_id":"p","parameters":{{"a":{}1{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let huge_id = format!(
        r#"{{"service_id":"{}","plan_id":"p"}}"#,
        "x".repeat(1 << 20)
    );
    let inputs = [
        "",
        "{",
        r#"{"service_id": "s", "plan_id": "p""#,
        r#"{"service_id": "s", "plan_id": "p",}"#,
        r#"{"service_id": "s" "plan_id": "p"}"#,
        "\u{0}",
        deep.as_str(),
        deep_parameters.as_str(),
    ];
    for input in inputs {
        assert!(serde_json::from_str::<ProvisionRequest>(input).is_err());
        assert!(serde_json::from_str::<UpdateRequest>(input).is_err());
        assert!(serde_json::from_str::<BindRequest>(input).is_err());
    }
    // Large but well-formed input is simply accepted; limits belong to the HTTP layer.
    let provision: ProvisionRequest = serde_json::from_str(&huge_id).unwrap();
    assert_eq!(provision.service_id.len(), 1 << 20);
}

#[test]
fn context_platform_selects_the_typed_profile() {
    let cases = [
        (
            json!({"platform": "cloudfoundry", "space_guid": "sp"}),
            "cloudfoundry",
        ),
        (
            json!({"platform": "kubernetes", "namespace": "ns"}),
            "kubernetes",
        ),
        (
            json!({"platform": "ibmcloud", "crn": "crn:v1:x"}),
            "ibmcloud",
        ),
    ];
    for (value, platform) in cases {
        let context: Context = parse(value.clone()).unwrap();
        assert_eq!(context.platform(), Some(platform));
        assert!(!matches!(context, Context::Other(_)), "{value}");
        assert_eq!(serde_json::to_value(&context).unwrap(), value);
    }
}

#[test]
fn unknown_platform_is_kept_whole_in_other() {
    let value = json!({"platform": "sapbtp", "subaccount_id": "abc", "nested": {"a": [1]}});
    let context: Context = parse(value.clone()).unwrap();
    let Context::Other(map) = &context else {
        panic!("expected Context::Other")
    };
    assert_eq!(map["subaccount_id"], "abc");
    assert_eq!(context.platform(), Some("sapbtp"));
    assert_eq!(serde_json::to_value(&context).unwrap(), value);
}

#[test]
fn missing_empty_or_mistyped_platform_is_kept_in_other_without_a_platform() {
    for value in [
        json!({"organization_guid": "org"}),
        json!({}),
        json!({"platform": ""}),
        json!({"platform": 5}),
        json!({"platform": null}),
    ] {
        let context: Context = parse(value.clone()).unwrap();
        assert!(matches!(context, Context::Other(_)), "{value}");
        assert_eq!(context.platform(), None, "{value}");
        assert_eq!(serde_json::to_value(&context).unwrap(), value, "kept whole");
    }
}

#[test]
fn platform_names_are_case_sensitive() {
    let context: Context = parse(json!({"platform": "CloudFoundry"})).unwrap();
    assert!(matches!(context, Context::Other(_)));
    assert_eq!(context.platform(), Some("CloudFoundry"));
}

#[test]
fn known_platform_with_a_mistyped_field_is_kept_rather_than_rejected() {
    let value = json!({"platform": "ibmcloud", "account_id": 12345, "crn": "crn:v1:x"});
    let context: Context = parse(value.clone()).unwrap();
    assert!(matches!(context, Context::Other(_)));
    assert_eq!(context.platform(), Some("ibmcloud"));
    assert_eq!(serde_json::to_value(&context).unwrap(), value);
}

#[test]
fn context_that_is_not_an_object_is_an_error() {
    for value in [json!("cloudfoundry"), json!(1), json!([]), json!(true)] {
        assert!(parse::<Context>(value.clone()).is_err(), "{value}");
    }
}

#[test]
fn identifying_fields_ignore_names_and_annotations() {
    let a: Context = parse(
        json!({"platform": "ibmcloud", "account_id": "a", "crn": "c",
        "resource_group_crn": "rg", "name": "one"}),
    )
    .unwrap();
    let renamed: Context = parse(
        json!({"platform": "ibmcloud", "account_id": "a", "crn": "c",
        "resource_group_crn": "rg", "name": "two", "target_crn": "t"}),
    )
    .unwrap();
    let moved: Context = parse(
        json!({"platform": "ibmcloud", "account_id": "b", "crn": "c", "resource_group_crn": "rg"}),
    )
    .unwrap();
    assert!(a.identifies_same(&renamed));
    assert!(!a.identifies_same(&moved));
    let cf: Context = parse(json!({"platform": "cloudfoundry", "organization_guid": "o",
        "space_guid": "s", "instance_name": "x", "space_annotations": {"a": "b"}}))
    .unwrap();
    let cf_renamed: Context = parse(
        json!({"platform": "cloudfoundry", "organization_guid": "o", "space_guid": "s",
            "instance_name": "y"}),
    )
    .unwrap();
    assert!(cf.identifies_same(&cf_renamed));
    assert!(!cf.identifies_same(&a));
}

#[test]
fn app_guid_prefers_bind_resource_then_the_deprecated_top_level_field() {
    let cases = [
        (
            json!({"app_guid": "top", "bind_resource": {"app_guid": "resource"}}),
            Some("resource"),
        ),
        (json!({"app_guid": "top"}), Some("top")),
        (json!({"app_guid": "top", "bind_resource": {}}), Some("top")),
        (
            json!({"app_guid": "top", "bind_resource": {"app_guid": ""}}),
            Some("top"),
        ),
        (
            json!({"app_guid": "", "bind_resource": {"app_guid": "resource"}}),
            Some("resource"),
        ),
        (json!({"bind_resource": {"route": "r"}}), None),
        (json!({"app_guid": ""}), None),
        (json!({}), None),
    ];
    for (mut body, expected) in cases {
        body["service_id"] = json!("s");
        body["plan_id"] = json!("p");
        let bind: BindRequest = parse(body.clone()).unwrap();
        assert_eq!(bind.app_guid(), expected, "{body}");
    }
}

#[test]
fn request_debug_output_redacts_parameters() {
    let secret = "hunter2-parameter";
    let provision: ProvisionRequest =
        parse(json!({"service_id": "s", "plan_id": "p", "parameters": {"password": secret}}))
            .unwrap();
    let update: UpdateRequest =
        parse(json!({"service_id": "s", "parameters": {"password": secret}})).unwrap();
    let bind: BindRequest =
        parse(json!({"service_id": "s", "plan_id": "p", "parameters": {"password": secret}}))
            .unwrap();
    for debug in [
        format!("{provision:?}"),
        format!("{update:?}"),
        format!("{bind:?}"),
    ] {
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }
}
