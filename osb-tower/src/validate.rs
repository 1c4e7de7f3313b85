//! Protocol validation against the catalog: the rules that depend only on the request and the
//! catalog, never on the broker's state (osb-core rules.md §8–§12).
//!
//! Everything else (unknown instance, idempotency, busy resources, `RequiresApp`) is the broker's.

use osb_core::catalog::{Plan, Service};
use osb_core::{BindRequest, BrokerError, Context, ProvisionRequest, UpdateRequest};

use crate::catalog::{PlanLookup, Prepared};

/// Provision (§13 step 4): ids, org/space, maintenance info.
///
/// `strict`: require `organization_guid` and `space_guid` even when a `context` is present.
pub(crate) fn provision(
    catalog: &Prepared,
    request: &ProvisionRequest,
    strict: bool,
) -> Result<(), BrokerError> {
    context_platform(request.context.as_ref())?;
    // spec.md "Provisioning" → Body: service_id and plan_id MUST be in the catalog.
    let (_, plan) = plan(catalog, &request.service_id, &request.plan_id)?;
    // spec.md: organization_guid / space_guid are REQUIRED; a deliberate deviation accepts
    // their absence when `context` is present (Kubernetes-style platforms omit them).
    if strict || request.context.is_none() {
        for (name, value) in [
            ("organization_guid", &request.organization_guid),
            ("space_guid", &request.space_guid),
        ] {
            if value.is_none() {
                return Err(BrokerError::bad_request(if strict {
                    format!("The {name} field is required.")
                } else {
                    format!("The {name} field is required when no context is sent.")
                }));
            }
        }
    }
    // spec.md "Provisioning": 422 MaintenanceInfoConflict; no version sent, no check.
    match &request.maintenance_info {
        Some(requested) => plan.check_maintenance_info(&requested.version),
        None => Ok(()),
    }
}

/// Update (§13 step 5), the part that needs no instance: the service is in the catalog and a
/// `plan_id` is one of its plans.
///
/// Whether the plan may change, a context-only change and `maintenance_info` depend on the
/// instance's current plan and context, which only the broker knows (`previous_values` is
/// informational, spec.md "Previous Values Object"): the broker judges them, e.g. with
/// [`UpdateRequest::check`] (the `Managed` adapter does).
pub(crate) fn update(catalog: &Prepared, request: &UpdateRequest) -> Result<(), BrokerError> {
    context_platform(request.context.as_ref())?;
    if catalog.service(&request.service_id).is_none() {
        return Err(BrokerError::bad_request(format!(
            "The service_id {:?} is not in the catalog.",
            request.service_id
        )));
    }
    if let Some(plan_id) = request.plan_id.as_deref() {
        plan(catalog, &request.service_id, plan_id)?;
    }
    Ok(())
}

/// Bind (§13 step 6): ids, bindable, rotation.
pub(crate) fn bind(catalog: &Prepared, request: &BindRequest) -> Result<(), BrokerError> {
    context_platform(request.context.as_ref())?;
    let (service, plan) = plan(catalog, &request.service_id, &request.plan_id)?;
    if !plan.is_bindable(service) {
        return Err(BrokerError::bad_request(format!(
            "The plan {:?} is not bindable.",
            plan.id
        )));
    }
    if request.predecessor_binding_id.is_some() && !plan.is_binding_rotatable() {
        // spec.md "Binding" (2.17): rotation only when the plan is binding_rotatable.
        return Err(BrokerError::bad_request(format!(
            "The plan {:?} does not support binding rotation (binding_rotatable is false).",
            plan.id
        )));
    }
    Ok(())
}

/// profile.md "Context Object": `platform` MUST be a string. The context is otherwise opaque and
/// kept as sent (a wrongly typed profile field is tolerated), but a platform that is a number
/// or an object is malformed, not an unknown platform. `null` counts as absent.
fn context_platform(context: Option<&Context>) -> Result<(), BrokerError> {
    let Some(Context::Other(map)) = context else {
        return Ok(()); // the typed profiles were chosen by a string platform
    };
    match map.get("platform") {
        None | Some(serde_json::Value::String(_) | serde_json::Value::Null) => Ok(()),
        Some(_) => Err(BrokerError::bad_request(
            "The request body is not valid: field `context.platform` must be a string.",
        )),
    }
}

/// Fetch instance (§13 step 11): 404 unless the catalog declares instances retrievable.
pub(crate) fn instances_retrievable(
    catalog: &Prepared,
    service_id: Option<&str>,
) -> Result<(), BrokerError> {
    let retrievable = match service_id.and_then(|id| catalog.service(id)) {
        Some(service) => service.instances_retrievable(),
        None => catalog.any_instances_retrievable(),
    };
    if retrievable {
        Ok(())
    } else {
        Err(BrokerError::not_found()
            .with_description("This service does not support fetching instances."))
    }
}

/// Fetch binding (§13 step 11): 404 unless the catalog declares bindings retrievable.
pub(crate) fn bindings_retrievable(
    catalog: &Prepared,
    service_id: Option<&str>,
) -> Result<(), BrokerError> {
    let retrievable = match service_id.and_then(|id| catalog.service(id)) {
        Some(service) => service.bindings_retrievable(),
        None => catalog.any_bindings_retrievable(),
    };
    if retrievable {
        Ok(())
    } else {
        Err(BrokerError::not_found()
            .with_description("This service does not support fetching bindings."))
    }
}

fn plan<'c>(
    catalog: &'c Prepared,
    service_id: &str,
    plan_id: &str,
) -> Result<(&'c Service, &'c Plan), BrokerError> {
    catalog.plan(service_id, plan_id).map_err(|why| {
        BrokerError::bad_request(match why {
            PlanLookup::UnknownService => {
                format!("The service_id {service_id:?} is not in the catalog.")
            }
            PlanLookup::UnknownPlan => format!("The plan_id {plan_id:?} is not in the catalog."),
            PlanLookup::PlanOfAnotherService => {
                format!("The plan_id {plan_id:?} is not a plan of the service {service_id:?}.")
            }
        })
    })
}
