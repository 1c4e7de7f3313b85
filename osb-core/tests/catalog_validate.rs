//! `Catalog::validate` (every rule, each with a failing and a passing case) and the catalog
//! look-ups the HTTP layer relies on. Spec: spec.md "Catalog Management".
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use osb_core::catalog::{
    Catalog, CatalogProblem, InputParametersSchema, MaintenanceInfo, Plan, Schemas, Service,
    ServiceBindingSchema, ServiceInstanceSchema,
};
use serde_json::{Value, json};

fn plan(id: &str, name: &str) -> Plan {
    Plan::new(id, name, "A plan")
}

fn service(id: &str, name: &str, plans: Vec<Plan>) -> Service {
    let mut service = Service::new(id, name, "A service", true);
    service.plans = plans;
    service
}

fn problems(catalog: &Catalog) -> Vec<CatalogProblem> {
    catalog
        .validate()
        .map_or_else(|e| e.problems().to_vec(), |()| Vec::new())
}

fn with_plan_field(change: impl FnOnce(&mut Plan)) -> Catalog {
    let mut p = plan("p", "small");
    change(&mut p);
    Catalog::new(vec![service("s", "db", vec![p])])
}

fn schema(parameters: Value) -> Option<InputParametersSchema> {
    Some(InputParametersSchema::new(parameters))
}

/// Builds `Schemas` with one slot filled.
type SchemaSlot = fn(Option<InputParametersSchema>) -> Schemas;

fn instance_create(create: Option<InputParametersSchema>) -> Schemas {
    let mut instance = ServiceInstanceSchema::default();
    instance.create = create;
    let mut schemas = Schemas::default();
    schemas.service_instance = Some(instance);
    schemas
}

fn instance_update(update: Option<InputParametersSchema>) -> Schemas {
    let mut instance = ServiceInstanceSchema::default();
    instance.update = update;
    let mut schemas = Schemas::default();
    schemas.service_instance = Some(instance);
    schemas
}

fn binding_create(create: Option<InputParametersSchema>) -> Schemas {
    let mut binding = ServiceBindingSchema::default();
    binding.create = create;
    let mut schemas = Schemas::default();
    schemas.service_binding = Some(binding);
    schemas
}

const DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

#[test]
fn fixture_catalog_and_empty_catalog_are_valid() {
    let catalog: Catalog = serde_json::from_value(support::fixture("catalog.json")).unwrap();
    assert_eq!(catalog.validate(), Ok(()));
    assert_eq!(
        Catalog::default().validate(),
        Ok(()),
        "services MAY be empty"
    );
}

#[test]
fn duplicate_service_ids_are_rejected() {
    let bad = Catalog::new(vec![
        service("s", "db", vec![plan("p1", "small")]),
        service("s", "cache", vec![plan("p2", "small")]),
    ]);
    assert_eq!(
        problems(&bad),
        [CatalogProblem::DuplicateServiceId("s".into())]
    );
    let good = Catalog::new(vec![
        service("s1", "db", vec![plan("p1", "small")]),
        service("s2", "cache", vec![plan("p2", "small")]),
    ]);
    assert_eq!(problems(&good), []);
}

#[test]
fn duplicate_service_names_are_rejected_case_sensitively() {
    let bad = Catalog::new(vec![
        service("s1", "db", vec![plan("p1", "small")]),
        service("s2", "db", vec![plan("p2", "small")]),
    ]);
    assert_eq!(
        problems(&bad),
        [CatalogProblem::DuplicateServiceName("db".into())]
    );
    // spec.md "Catalog Management": names compare case-sensitively.
    let good = Catalog::new(vec![
        service("s1", "db", vec![plan("p1", "small")]),
        service("s2", "DB", vec![plan("p2", "small")]),
    ]);
    assert_eq!(problems(&good), []);
}

#[test]
fn duplicate_plan_ids_are_rejected_across_and_within_services() {
    let across = Catalog::new(vec![
        service("s1", "db", vec![plan("p", "small")]),
        service("s2", "cache", vec![plan("p", "large")]),
    ]);
    assert_eq!(
        problems(&across),
        [CatalogProblem::DuplicatePlanId("p".into())]
    );
    let within = Catalog::new(vec![service(
        "s",
        "db",
        vec![plan("p", "small"), plan("p", "large")],
    )]);
    assert_eq!(
        problems(&within),
        [CatalogProblem::DuplicatePlanId("p".into())]
    );
    let good = Catalog::new(vec![service(
        "s",
        "db",
        vec![plan("p1", "small"), plan("p2", "large")],
    )]);
    assert_eq!(problems(&good), []);
}

#[test]
fn duplicate_plan_names_are_rejected_within_a_service_only() {
    let bad = Catalog::new(vec![service(
        "s",
        "db",
        vec![plan("p1", "small"), plan("p2", "small")],
    )]);
    assert_eq!(
        problems(&bad),
        [CatalogProblem::DuplicatePlanName {
            service: "s".into(),
            plan: "small".into()
        }]
    );
    let good = Catalog::new(vec![
        service("s1", "db", vec![plan("p1", "small")]),
        service("s2", "cache", vec![plan("p2", "small")]),
    ]);
    assert_eq!(
        problems(&good),
        [],
        "the same plan name in two offerings is fine"
    );
}

#[test]
fn empty_required_service_fields_are_rejected() {
    for field in ["id", "name", "description"] {
        let mut s = service("s", "db", vec![plan("p", "small")]);
        match field {
            "id" => s.id.clear(),
            "name" => s.name.clear(),
            _ => s.description.clear(),
        }
        let found = problems(&Catalog::new(vec![s]));
        assert!(
            found.iter().any(
                |p| matches!(p, CatalogProblem::EmptyField { field: f, location }
                if *f == field && location.starts_with("service"))
            ),
            "{field}: {found:?}"
        );
    }
    assert_eq!(
        problems(&Catalog::new(vec![service(
            "s",
            "db",
            vec![plan("p", "small")]
        )])),
        []
    );
}

#[test]
fn empty_required_plan_fields_are_rejected() {
    for field in ["id", "name", "description"] {
        let bad = with_plan_field(|p| match field {
            "id" => p.id.clear(),
            "name" => p.name.clear(),
            _ => p.description.clear(),
        });
        let found = problems(&bad);
        assert!(
            found.iter().any(
                |p| matches!(p, CatalogProblem::EmptyField { field: f, location }
                if *f == field && location.starts_with("plan"))
            ),
            "{field}: {found:?}"
        );
    }
    assert_eq!(problems(&with_plan_field(|_| {})), []);
}

#[test]
fn service_without_plans_is_rejected() {
    let bad = Catalog::new(vec![service("s", "db", vec![])]);
    assert_eq!(problems(&bad), [CatalogProblem::NoPlans("s".into())]);
    let good = Catalog::new(vec![service("s", "db", vec![plan("p", "small")])]);
    assert_eq!(problems(&good), []);
}

#[test]
fn requires_accepts_only_the_three_spec_permissions() {
    let mut good = service("s", "db", vec![plan("p", "small")]);
    good.requires = vec![
        "syslog_drain".into(),
        "route_forwarding".into(),
        "volume_mount".into(),
    ];
    assert_eq!(problems(&Catalog::new(vec![good])), []);

    let mut bad = service("s", "db", vec![plan("p", "small")]);
    bad.requires = vec!["syslog_drain".into(), "volume-mount".into(), "".into()];
    assert_eq!(
        problems(&Catalog::new(vec![bad])),
        [
            CatalogProblem::UnknownRequires {
                service: "s".into(),
                value: "volume-mount".into()
            },
            CatalogProblem::UnknownRequires {
                service: "s".into(),
                value: "".into()
            },
        ]
    );
}

#[test]
fn maintenance_info_version_must_be_semver_2() {
    for version in [
        "1.0.0",
        "2.1.1+abcdef",
        "1.0.0-alpha.1",
        "10.20.30-rc.1+build.123",
    ] {
        let good = with_plan_field(|p| p.maintenance_info = Some(MaintenanceInfo::new(version)));
        assert_eq!(problems(&good), [], "{version}");
    }
    for version in [
        "", "1", "1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-", "latest",
    ] {
        let bad = with_plan_field(|p| p.maintenance_info = Some(MaintenanceInfo::new(version)));
        assert_eq!(
            problems(&bad),
            [CatalogProblem::InvalidMaintenanceVersion {
                plan: "p".into(),
                version: version.into()
            }],
            "{version}"
        );
    }
}

#[test]
fn every_schema_slot_needs_dollar_schema() {
    let without = json!({"type": "object"});
    let with = json!({"$schema": DRAFT_04, "type": "object"});
    let slots: [(&str, SchemaSlot); 3] = [
        ("service_instance.create", instance_create),
        ("service_instance.update", instance_update),
        ("service_binding.create", binding_create),
    ];
    for (slot, build) in slots {
        let bad = with_plan_field(|p| p.schemas = Some(build(schema(without.clone()))));
        assert_eq!(
            problems(&bad),
            [CatalogProblem::SchemaWithoutDollarSchema {
                plan: "p".into(),
                schema: slot
            }],
            "{slot}"
        );
        let good = with_plan_field(|p| p.schemas = Some(build(schema(with.clone()))));
        assert_eq!(problems(&good), [], "{slot}");
        let absent = with_plan_field(|p| p.schemas = Some(build(None)));
        assert_eq!(problems(&absent), [], "{slot}: no schema is fine");
    }
    let not_an_object =
        with_plan_field(|p| p.schemas = Some(binding_create(schema(json!("draft-04")))));
    assert_eq!(problems(&not_an_object).len(), 1);
}

/// A schema whose compact serialisation is exactly `size` bytes.
fn schema_of_size(size: usize) -> Value {
    let empty = json!({"$schema": DRAFT_04, "description": ""})
        .to_string()
        .len();
    json!({"$schema": DRAFT_04, "description": "x".repeat(size - empty)})
}

#[test]
fn schemas_over_64_kb_are_rejected() {
    let limit = 64 * 1024;
    assert_eq!(schema_of_size(limit).to_string().len(), limit);
    let at_limit =
        with_plan_field(|p| p.schemas = Some(binding_create(schema(schema_of_size(limit)))));
    assert_eq!(problems(&at_limit), []);
    let over =
        with_plan_field(|p| p.schemas = Some(binding_create(schema(schema_of_size(limit + 1)))));
    assert_eq!(
        problems(&over),
        [CatalogProblem::SchemaTooLarge {
            plan: "p".into(),
            schema: "service_binding.create",
            size: limit + 1
        }]
    );
}

#[test]
fn validate_returns_every_problem_at_once() {
    let mut first = service("s", "db", vec![plan("p1", "small"), plan("p1", "small")]);
    first.requires = vec!["network".into()];
    first.plans[0].maintenance_info = Some(MaintenanceInfo::new("1.0"));
    first.plans[1].schemas = Some(instance_create(schema(json!({"type": "object"}))));
    let second = service("s", "db", vec![]);
    let third = Service::new("s3", "cache", "", false).with_plan(plan("p1", "tiny"));
    let catalog = Catalog::new(vec![first, second, third]);

    let error = catalog.validate().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            CatalogProblem::UnknownRequires {
                service: "s".into(),
                value: "network".into()
            },
            CatalogProblem::InvalidMaintenanceVersion {
                plan: "p1".into(),
                version: "1.0".into()
            },
            CatalogProblem::DuplicatePlanId("p1".into()),
            CatalogProblem::DuplicatePlanName {
                service: "s".into(),
                plan: "small".into()
            },
            CatalogProblem::SchemaWithoutDollarSchema {
                plan: "p1".into(),
                schema: "service_instance.create"
            },
            CatalogProblem::DuplicateServiceId("s".into()),
            CatalogProblem::DuplicateServiceName("db".into()),
            CatalogProblem::NoPlans("s".into()),
            CatalogProblem::EmptyField {
                location: "service \"s3\"".into(),
                field: "description"
            },
            CatalogProblem::DuplicatePlanId("p1".into()),
        ]
    );
    let message = error.to_string();
    assert!(message.starts_with("invalid catalog: "), "{message}");
    assert_eq!(
        message.matches("; ").count(),
        error.problems().len() - 1,
        "{message}"
    );
    assert!(message.contains("duplicate service id \"s\""), "{message}");
}

#[test]
fn plan_lookup_needs_the_plan_to_belong_to_the_service() {
    let catalog = Catalog::new(vec![
        service("s1", "db", vec![plan("p1", "small")]),
        service("s2", "cache", vec![plan("p2", "small")]),
    ]);
    let (found_service, found_plan) = catalog.plan("s1", "p1").unwrap();
    assert_eq!(
        (found_service.id.as_str(), found_plan.id.as_str()),
        ("s1", "p1")
    );
    assert!(catalog.plan("s1", "p2").is_none(), "p2 belongs to s2");
    assert!(catalog.plan("s3", "p1").is_none());
    assert!(catalog.plan("s1", "").is_none());
    assert!(catalog.service("s2").is_some());
    assert!(catalog.service("S2").is_none(), "ids compare exactly");
    assert!(catalog.has_plan("p2"));
    assert!(!catalog.has_plan("p3"));
}

#[test]
fn plan_bindable_overrides_the_service() {
    let mut s = Service::new("s", "db", "A db", true);
    let mut p = plan("p", "small");
    assert!(p.is_bindable(&s), "absent: the offering's value");
    p.bindable = Some(false);
    assert!(
        !p.is_bindable(&s),
        "the plan's false beats the offering's true"
    );
    s.bindable = false;
    p.bindable = Some(true);
    assert!(
        p.is_bindable(&s),
        "the plan's true beats the offering's false"
    );
    p.bindable = None;
    assert!(!p.is_bindable(&s));
}

#[test]
fn plan_updateable_overrides_the_service_and_defaults_to_false() {
    let mut s = Service::new("s", "db", "A db", true);
    let mut p = plan("p", "small");
    assert!(!p.is_plan_updateable(&s), "both absent: false");
    s.plan_updateable = Some(true);
    assert!(
        p.is_plan_updateable(&s),
        "absent on the plan: the offering's value"
    );
    p.plan_updateable = Some(false);
    assert!(
        !p.is_plan_updateable(&s),
        "the plan's false beats the offering's true"
    );
    s.plan_updateable = Some(false);
    p.plan_updateable = Some(true);
    assert!(
        p.is_plan_updateable(&s),
        "the plan's true beats the offering's false"
    );
}

#[test]
fn optional_flags_have_the_spec_defaults() {
    let s = Service::new("s", "db", "A db", true);
    let mut p = plan("p", "small");
    assert!(!s.instances_retrievable());
    assert!(!s.bindings_retrievable());
    assert!(!s.allow_context_updates());
    assert!(p.is_free(), "spec.md: free defaults to true");
    assert!(
        !p.is_binding_rotatable(),
        "spec.md: binding_rotatable defaults to false"
    );
    p.free = Some(false);
    p.binding_rotatable = Some(true);
    assert!(!p.is_free());
    assert!(p.is_binding_rotatable());
}

#[test]
fn plan_updateable_keeps_the_spec_spelling_on_the_wire() {
    let mut s = Service::new("s", "db", "A db", true).with_plan(plan("p", "small"));
    s.plan_updateable = Some(true);
    s.plans[0].plan_updateable = Some(false);
    let value = serde_json::to_value(&s).unwrap();
    assert_eq!(value["plan_updateable"], true);
    assert_eq!(value["plans"][0]["plan_updateable"], false);
    assert!(value.get("plan_updatable").is_none());
}
