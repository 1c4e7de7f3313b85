//! Every model type against spec-shaped fixtures: parse, serialise, compare as JSON values.
//!
//! Fixtures live in `tests/fixtures/`; they follow spec.md's examples, repaired where spec.md's
//! own JSON is invalid (`"ports:" [..]`, unquoted `attributes:`, trailing commas).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use std::time::Duration;

use osb_core::binding::{Device, VolumeMount};
use osb_core::catalog::{
    Cost, DashboardClient, InputParametersSchema, MaintenanceInfo, PlanMetadata, Schemas,
    ServiceBindingSchema, ServiceInstanceSchema, ServiceMetadata,
};
use osb_core::context::{CloudFoundryContext, IbmCloudContext, KubernetesContext};
use osb_core::instance_state::{InstanceState, InstanceStateUpdate};
use osb_core::last_operation::LastOperationBody;
use osb_core::update::PreviousValues;
use osb_core::{
    BindAccepted, BindRequest, BindResource, Binding, BindingLastOperation, BindingMetadata,
    BindingOperationState, BrokerError, Catalog, Context, Endpoint, ErrorBody, Failure,
    FetchBindingResponse, FetchInstanceResponse, InstanceMetadata, LastOperation, OperationState,
    OperationToken, ProvisionAccepted, ProvisionRequest, ProvisionedInstance, UpdateAccepted,
    UpdateRequest, UpdatedInstance,
};
use serde_json::{Value, json};
use support::{assert_no_null_or_empty, fixture, round_trip, round_trip_value};

#[test]
fn catalog_round_trip_keeps_every_field_and_vendor_extension() {
    let catalog: Catalog = round_trip("catalog.json");
    catalog.validate().unwrap();
    assert_no_null_or_empty(&serde_json::to_value(&catalog).unwrap());

    let service = &catalog.services[0];
    assert_eq!(service.instances_retrievable, Some(true));
    assert_eq!(service.bindings_retrievable, Some(true));
    assert_eq!(service.allow_context_updates, Some(true));
    assert_eq!(service.plan_updateable, Some(true));
    assert_eq!(service.requires.len(), 3);
    assert_eq!(service.extra["x-vendor-rating"], 5);

    let metadata = service.metadata.as_ref().unwrap();
    assert_eq!(
        metadata.display_name.as_deref(),
        Some("The Fake Service Broker")
    );
    assert_eq!(metadata.provider_display_name.as_deref(), Some("Fake Corp"));
    assert_eq!(metadata.shareable, Some(true));
    assert_eq!(metadata.extra["listing"]["blurb"], "Add a blurb here");

    let client = service.dashboard_client.as_ref().unwrap();
    assert_eq!(
        client.redirect_uri.as_deref(),
        Some("http://localhost:1234")
    );

    let plan = &service.plans[0];
    assert_eq!(plan.binding_rotatable, Some(true));
    assert_eq!(plan.maximum_polling_duration, Some(7200));
    assert_eq!(
        plan.maintenance_info.as_ref().unwrap().version,
        "2.1.1+abcdef"
    );
    assert_eq!(plan.extra["x-vendor-tier"], "gold");
    let plan_metadata = plan.metadata.as_ref().unwrap();
    assert_eq!(plan_metadata.costs[0].unit, "MONTHLY");
    assert_eq!(plan_metadata.costs[0].amount["usd"], 99.0);
    assert_eq!(plan_metadata.bullets.len(), 3);
    assert_eq!(plan_metadata.extra["max_storage_tb"], 5);
    assert!(!plan.is_free());
}

#[test]
fn catalog_parts_round_trip_on_their_own() {
    let catalog = fixture("catalog.json");
    let service = &catalog["services"][0];
    let plan = &service["plans"][0];
    round_trip_value::<osb_core::catalog::Service>(service);
    round_trip_value::<osb_core::catalog::Plan>(plan);
    round_trip_value::<ServiceMetadata>(&service["metadata"]);
    round_trip_value::<DashboardClient>(&service["dashboard_client"]);
    round_trip_value::<PlanMetadata>(&plan["metadata"]);
    round_trip_value::<Cost>(&plan["metadata"]["costs"][0]);
    round_trip_value::<Schemas>(&plan["schemas"]);
    round_trip_value::<ServiceInstanceSchema>(&plan["schemas"]["service_instance"]);
    round_trip_value::<ServiceBindingSchema>(&plan["schemas"]["service_binding"]);
    round_trip_value::<InputParametersSchema>(&plan["schemas"]["service_binding"]["create"]);
    round_trip_value::<MaintenanceInfo>(&plan["maintenance_info"]);
}

#[test]
fn catalog_built_in_code_serialises_like_the_spec() {
    let mut plan = osb_core::catalog::Plan::new("p", "small", "Small");
    plan.metadata = Some(PlanMetadata::default());
    if let Some(metadata) = plan.metadata.as_mut() {
        metadata.costs.push(Cost::new("usd", 99.0, "MONTHLY"));
        metadata.costs.push(Cost::new("usd", f64::NAN, "never"));
    }
    let mut service = osb_core::catalog::Service::new("s", "db", "A db", true).with_plan(plan);
    service.dashboard_client =
        Some(DashboardClient::new("client", "secret").with_redirect_uri("https://x.example"));
    let value = serde_json::to_value(Catalog::new(vec![service])).unwrap();
    assert_eq!(
        value,
        json!({"services": [{
            "id": "s", "name": "db", "description": "A db", "bindable": true,
            "dashboard_client": {"id": "client", "secret": "secret", "redirect_uri": "https://x.example"},
            "plans": [{"id": "p", "name": "small", "description": "Small", "metadata": {
                "costs": [{"amount": {"usd": 99.0}, "unit": "MONTHLY"}, {"amount": {"usd": 0}, "unit": "never"}]
            }}]
        }]})
    );
}

#[test]
fn provision_requests_round_trip_for_every_platform() {
    let cf: ProvisionRequest = round_trip("provision_request_cloudfoundry.json");
    let Some(Context::CloudFoundry(ctx)) = &cf.context else {
        panic!("expected a Cloud Foundry context, got {:?}", cf.context)
    };
    assert_eq!(ctx.organization_name.as_deref(), Some("system"));
    assert_eq!(ctx.space_name.as_deref(), Some("development"));
    assert_eq!(ctx.instance_name.as_deref(), Some("my-db"));
    assert!(ctx.extra.contains_key("instance_annotations"));
    assert_eq!(
        cf.organization_guid.as_deref(),
        Some("1113aa0-124e-4af2-1526-6bfacf61b111")
    );
    assert_eq!(
        cf.maintenance_info.as_ref().unwrap().version,
        "2.1.1+abcdef"
    );

    let k8s: ProvisionRequest = round_trip("provision_request_kubernetes.json");
    let Some(Context::Kubernetes(ctx)) = &k8s.context else {
        panic!("expected a Kubernetes context, got {:?}", k8s.context)
    };
    assert_eq!(ctx.namespace.as_deref(), Some("development"));
    assert_eq!(
        ctx.clusterid.as_deref(),
        Some("8263feba-9b8a-23ae-99ed-abcd1234feda")
    );
    assert!(ctx.extra.contains_key("namespace_annotations"));
    assert!(k8s.organization_guid.is_none());

    let ibm: ProvisionRequest = round_trip("provision_request_ibmcloud.json");
    let Some(Context::IbmCloud(ctx)) = &ibm.context else {
        panic!("expected an IBM Cloud context, got {:?}", ibm.context)
    };
    assert_eq!(
        ctx.account_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert!(
        ctx.crn
            .as_deref()
            .unwrap()
            .starts_with("crn:v1:bluemix:public:my-svc")
    );
    assert!(
        ctx.resource_group_crn
            .as_deref()
            .unwrap()
            .contains("resource-group")
    );
    assert!(ctx.target_crn.as_deref().unwrap().contains("deployment"));
    assert_eq!(ctx.name.as_deref(), Some("my-instance"));
    assert_eq!(ctx.extra["region"], "us-south");
    assert_eq!(ctx.extra["x_ibm_extra"]["tags"][0], "env:dev");
}

#[test]
fn contexts_round_trip_on_their_own() {
    for name in [
        "provision_request_cloudfoundry.json",
        "provision_request_kubernetes.json",
        "provision_request_ibmcloud.json",
        "bind_request_ibmcloud.json",
    ] {
        let context = &fixture(name)["context"];
        let parsed: Context = round_trip_value(context);
        assert_eq!(parsed.platform(), context["platform"].as_str());
    }
    let mut cf = fixture("provision_request_cloudfoundry.json")["context"].clone();
    cf.as_object_mut().unwrap().remove("platform");
    round_trip_value::<CloudFoundryContext>(&cf);
    let mut k8s = fixture("provision_request_kubernetes.json")["context"].clone();
    k8s.as_object_mut().unwrap().remove("platform");
    round_trip_value::<KubernetesContext>(&k8s);
    let mut ibm = fixture("provision_request_ibmcloud.json")["context"].clone();
    ibm.as_object_mut().unwrap().remove("platform");
    round_trip_value::<IbmCloudContext>(&ibm);
}

#[test]
fn update_requests_round_trip_for_every_platform() {
    let cf: UpdateRequest = round_trip("update_request_cloudfoundry.json");
    assert_eq!(
        cf.plan_id.as_deref(),
        Some("0f4008b5-0000-4000-8000-dace631cd648")
    );
    let previous = cf.previous_values.as_ref().unwrap();
    assert_eq!(
        previous.plan_id.as_deref(),
        Some("d3031751-0000-4000-8000-a42377d3320e")
    );
    assert_eq!(
        previous.organization_id.as_deref(),
        Some("1113aa0-124e-4af2-1526-6bfacf61b111")
    );
    assert_eq!(
        previous.maintenance_info.as_ref().unwrap().version,
        "2.1.1+abcdef"
    );
    assert_eq!(cf.maintenance_info.as_ref().unwrap().version, "2.1.2");
    assert!(matches!(cf.context, Some(Context::CloudFoundry(_))));

    let k8s: UpdateRequest = round_trip("update_request_kubernetes.json");
    assert!(
        k8s.plan_id.is_none(),
        "absent plan_id means the plan does not change"
    );
    assert!(matches!(k8s.context, Some(Context::Kubernetes(_))));

    let ibm: UpdateRequest = round_trip("update_request_ibmcloud.json");
    assert!(matches!(ibm.context, Some(Context::IbmCloud(_))));
    assert!(ibm.parameters.is_none(), "absent parameters mean no change");

    round_trip_value::<PreviousValues>(
        &fixture("update_request_cloudfoundry.json")["previous_values"],
    );
}

#[test]
fn bind_requests_round_trip_for_every_platform() {
    let cf: BindRequest = round_trip("bind_request_cloudfoundry.json");
    assert_eq!(cf.app_guid(), Some("app-guid-here"));
    let resource = cf.bind_resource.as_ref().unwrap();
    assert_eq!(
        resource.extra["space_guid"],
        "aaaa1234-da91-4f12-8ffa-b51d0336aaaa"
    );
    assert!(resource.extra.contains_key("app_annotations"));

    let k8s: BindRequest = round_trip("bind_request_kubernetes.json");
    assert_eq!(k8s.app_guid(), Some("development"));

    let ibm: BindRequest = round_trip("bind_request_ibmcloud.json");
    let resource = ibm.bind_resource.as_ref().unwrap();
    assert!(
        resource.extra["serviceid_crn"]
            .as_str()
            .unwrap()
            .contains("serviceid")
    );
    assert_eq!(ibm.app_guid(), None);

    let rotation: BindRequest = round_trip("bind_request_rotation.json");
    assert_eq!(
        rotation.predecessor_binding_id.as_deref(),
        Some("binding-id-of-the-predecessor")
    );
    let resource = rotation.bind_resource.as_ref().unwrap();
    assert_eq!(resource.route.as_deref(), Some("some-route.example.com"));
    assert_eq!(resource.extra["credential_client_id"], "cc_client");

    round_trip_value::<BindResource>(&fixture("bind_request_rotation.json")["bind_resource"]);
}

#[test]
fn instance_responses_round_trip_without_null_or_empty_strings() {
    let created: ProvisionedInstance = round_trip("provision_response.json");
    let metadata = created.metadata.as_ref().unwrap();
    assert_eq!(metadata.labels.as_ref().unwrap()["key1"], "value1");
    assert_eq!(
        metadata.attributes.as_ref().unwrap()["broker.generated.attr1"],
        "value1"
    );
    round_trip_value::<InstanceMetadata>(&fixture("provision_response.json")["metadata"]);

    let accepted: ProvisionAccepted = round_trip("provision_accepted.json");
    assert_eq!(accepted.operation.as_ref().unwrap().as_str(), "task_10");
    let _: UpdatedInstance = round_trip("update_response.json");
    let accepted: UpdateAccepted = round_trip("update_accepted.json");
    assert_eq!(accepted.operation.as_ref().unwrap().as_str(), "task_10");
    let fetched: FetchInstanceResponse = round_trip("fetch_instance_response.json");
    assert_eq!(fetched.maintenance_info.unwrap().version, "2.1.1+abcdef");

    for name in [
        "provision_response.json",
        "provision_accepted.json",
        "update_response.json",
        "update_accepted.json",
        "fetch_instance_response.json",
    ] {
        assert_no_null_or_empty(&fixture(name));
    }
}

#[test]
fn empty_instance_responses_serialise_as_empty_objects() {
    let empty = ProvisionedInstance::default();
    assert_eq!(serde_json::to_value(&empty).unwrap(), json!({}));
    let mut blank = ProvisionedInstance::with_dashboard_url("");
    blank.metadata = Some(InstanceMetadata::default());
    assert_eq!(
        serde_json::to_value(&blank).unwrap(),
        json!({"metadata": {}})
    );
    assert_eq!(
        serde_json::to_value(ProvisionAccepted::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(UpdatedInstance::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(UpdateAccepted::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(FetchInstanceResponse::default()).unwrap(),
        json!({})
    );
    let accepted = UpdateAccepted::with_operation(OperationToken::new("op").unwrap());
    assert_eq!(
        serde_json::to_value(&accepted).unwrap(),
        json!({"operation": "op"})
    );
}

#[test]
fn binding_responses_round_trip_with_every_field() {
    let binding: Binding = round_trip("bind_response.json");
    assert_eq!(binding.credentials.as_ref().unwrap()["port"], 3306);
    let metadata = binding.metadata.as_ref().unwrap();
    assert_eq!(
        metadata.expires_at.as_deref(),
        Some("2019-12-31T23:59:59.0Z")
    );
    assert_eq!(
        metadata.renew_before.as_deref(),
        Some("2019-12-30T23:59:59.0Z")
    );
    let mounts = binding.volume_mounts.as_ref().unwrap();
    assert_eq!(
        mounts[0].device.volume_id,
        "bc2c1eab-05b9-482d-b0cf-750ee07de311"
    );
    let endpoints = binding.endpoints.as_ref().unwrap();
    assert_eq!(
        endpoints[0].protocol, None,
        "absent protocol means tcp and stays absent"
    );
    assert_eq!(endpoints[1].protocol.as_deref(), Some("udp"));
    assert_no_null_or_empty(&serde_json::to_value(&binding).unwrap());

    let value = fixture("bind_response.json");
    round_trip_value::<BindingMetadata>(&value["metadata"]);
    round_trip_value::<VolumeMount>(&value["volume_mounts"][0]);
    round_trip_value::<Device>(&value["volume_mounts"][0]["device"]);
    round_trip_value::<Endpoint>(&value["endpoints"][1]);

    let accepted: BindAccepted = round_trip("bind_accepted.json");
    assert_eq!(accepted.operation.unwrap().as_str(), "bind-task-42");

    let fetched: FetchBindingResponse = round_trip("fetch_binding_response.json");
    assert_eq!(
        fetched.parameters.as_ref().unwrap()["billing-account"],
        "abcde12345"
    );
    assert!(fetched.binding.credentials.is_some());
}

#[test]
fn binding_built_in_code_matches_the_spec_shape() {
    let mut binding = Binding::with_credentials(
        json!({"uri": "mysql://mysqlhost:3306/dbname"})
            .as_object()
            .unwrap()
            .clone(),
    );
    binding.volume_mounts = Some(vec![VolumeMount::new(
        "cephdriver",
        "/data/images",
        "r",
        Device::new("vol-1")
            .with_mount_config(json!({"key": "value"}).as_object().unwrap().clone()),
    )]);
    binding.endpoints = Some(vec![
        Endpoint::new("mysqlhost", vec!["3306".to_owned()]),
        Endpoint::new("10.0.0.7", vec!["9000-9010".to_owned()]).with_protocol("all"),
    ]);
    binding.syslog_drain_url = Some(String::new());
    binding.metadata = Some(BindingMetadata::default());
    assert_eq!(
        serde_json::to_value(&binding).unwrap(),
        json!({
            "credentials": {"uri": "mysql://mysqlhost:3306/dbname"},
            "metadata": {},
            "volume_mounts": [{"driver": "cephdriver", "container_dir": "/data/images", "mode": "r",
                "device_type": "shared", "device": {"volume_id": "vol-1", "mount_config": {"key": "value"}}}],
            "endpoints": [{"host": "mysqlhost", "ports": ["3306"]},
                {"host": "10.0.0.7", "ports": ["9000-9010"], "protocol": "all"}]
        })
    );
    assert_eq!(
        serde_json::to_value(BindAccepted::default()).unwrap(),
        json!({})
    );
}

#[test]
fn instance_last_operation_bodies_match_the_fixtures() {
    let cases = [
        (
            "last_operation_in_progress.json",
            LastOperation::new(OperationState::InProgress)
                .with_description("Creating service (10% complete).")
                .with_retry_after(Duration::from_secs(5)),
        ),
        (
            "last_operation_succeeded.json",
            LastOperation::new(OperationState::Succeeded).with_description(""),
        ),
        (
            "last_operation_failed_update.json",
            LastOperation::new(OperationState::Failed(Failure::Update {
                instance_usable: Some(true),
                update_repeatable: Some(false),
            }))
            .with_description("The disk quota of the account is exhausted."),
        ),
        (
            "last_operation_failed_deprovision.json",
            LastOperation::new(OperationState::Failed(Failure::Deprovision {
                instance_usable: Some(false),
            }))
            .with_description("The database could not be dropped."),
        ),
        (
            "last_operation_failed_provision.json",
            LastOperation::new(OperationState::Failed(Failure::Provision))
                .with_description("No capacity left in us-south."),
        ),
    ];
    for (name, operation) in cases {
        assert_eq!(
            serde_json::to_value(&operation).unwrap(),
            fixture(name),
            "{name}"
        );
        let body: LastOperationBody = round_trip(name);
        assert_eq!(body, LastOperationBody::from(&operation), "{name}");
    }
}

#[test]
fn binding_last_operation_has_no_usability_flags() {
    let operation = BindingLastOperation::new(BindingOperationState::InProgress)
        .with_description("Creating binding (10% complete).");
    assert_eq!(
        serde_json::to_value(&operation).unwrap(),
        fixture("binding_last_operation_in_progress.json")
    );
    let _: LastOperationBody = round_trip("binding_last_operation_in_progress.json");
    let failed = BindingLastOperation::new(BindingOperationState::Failed);
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"state": "failed"})
    );
    let done = BindingLastOperation::new(BindingOperationState::Succeeded).with_description("");
    assert_eq!(
        serde_json::to_value(&done).unwrap(),
        json!({"state": "succeeded"})
    );
}

#[test]
fn last_operation_body_never_serialises_an_empty_description() {
    let body: LastOperationBody =
        serde_json::from_value(json!({"state": "succeeded", "description": ""})).unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"state": "succeeded"})
    );
}

#[test]
fn error_bodies_round_trip_and_match_broker_errors() {
    let cases = [
        (
            "error_async_required.json",
            BrokerError::async_required().with_description(
                "This Service Plan requires client support for asynchronous service operations.",
            ),
        ),
        (
            "error_concurrency.json",
            BrokerError::concurrency_error()
                .with_description("Another operation for this Service Instance is in progress."),
        ),
        ("error_requires_app.json", BrokerError::requires_app().with_description(
            "This Service supports generation of credentials through binding an application only.",
        )),
        (
            "error_maintenance_info_conflict.json",
            BrokerError::maintenance_info_conflict().with_description(
                "The maintenance information for the requested Service Plan has changed.",
            ),
        ),
        (
            "error_failed_update.json",
            BrokerError::unprocessable(
                "The requested plan change is not supported for instances with more than 5 TB of data.",
            )
            .with_instance_usable(true)
            .with_update_repeatable(false),
        ),
    ];
    for (name, error) in cases {
        let body: ErrorBody = round_trip(name);
        assert_eq!(error.to_body(), body, "{name}");
        assert_eq!(
            serde_json::to_value(error.to_body()).unwrap(),
            fixture(name),
            "{name}"
        );
    }
}

#[test]
fn bluemix_state_bodies_round_trip() {
    let state: InstanceState = round_trip("bluemix_state.json");
    assert!(state.enabled);
    assert_eq!(state.last_active, Some(1_574_290_882_000));
    let update: InstanceStateUpdate = round_trip("bluemix_state_update.json");
    assert!(!update.enabled);
    assert_eq!(update.reason_code.as_deref(), Some("IBMCLOUD_ACCT_SUSPEND"));

    assert_eq!(
        serde_json::to_value(InstanceState::new(false)).unwrap(),
        json!({"enabled": false})
    );
    let minimal: InstanceStateUpdate = serde_json::from_value(
        json!({"enabled": true, "initiator_id": "", "reason_code": "BMX_LEGACY"}),
    )
    .unwrap();
    assert_eq!(minimal.initiator_id, None);
    assert_eq!(
        minimal.reason_code.as_deref(),
        Some("BMX_LEGACY"),
        "unknown codes are kept"
    );
    assert_eq!(
        serde_json::to_value(InstanceStateUpdate::new(true)).unwrap(),
        json!({"enabled": true})
    );
}

#[test]
fn operation_token_serialises_as_a_plain_string() {
    let token: OperationToken = serde_json::from_value(json!("task_10")).unwrap();
    assert_eq!(
        serde_json::to_value(&token).unwrap(),
        Value::from("task_10")
    );
}

#[test]
fn schemas_built_in_code_have_the_spec_shape() {
    let schema = json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"});
    let schemas = Schemas::default()
        .with_instance_create(schema.clone())
        .with_instance_update(schema.clone())
        .with_binding_create(schema.clone());
    assert_eq!(
        serde_json::to_value(&schemas).unwrap(),
        json!({
            "service_instance": {"create": {"parameters": schema}, "update": {"parameters": schema}},
            "service_binding": {"create": {"parameters": schema}}
        })
    );
    assert_eq!(serde_json::to_value(Schemas::default()).unwrap(), json!({}));
}

#[test]
fn debug_output_redacts_credentials_parameters_and_secrets() {
    let binding: Binding = serde_json::from_value(fixture("bind_response.json")).unwrap();
    let debug = format!("{binding:?}");
    assert!(!debug.contains("mysqluser:pass"), "{debug}");
    let fetched: FetchBindingResponse =
        serde_json::from_value(fixture("fetch_binding_response.json")).unwrap();
    let debug = format!("{fetched:?}");
    assert!(
        !debug.contains("pass") && !debug.contains("abcde12345"),
        "{debug}"
    );
    let instance: FetchInstanceResponse =
        serde_json::from_value(fixture("fetch_instance_response.json")).unwrap();
    assert!(!format!("{instance:?}").contains("abcde12345"));
    let catalog: Catalog = serde_json::from_value(fixture("catalog.json")).unwrap();
    let debug = format!("{catalog:?}");
    assert!(
        !debug.contains("277cabb0"),
        "the dashboard client secret leaked: {debug}"
    );
}
