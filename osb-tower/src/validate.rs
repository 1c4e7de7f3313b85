//! Protocol validation against the catalog: the rules that depend only on the request and the
//! catalog, never on the broker's state (osb-spec NOTES.md §13 steps 4–6 and 11).
//!
//! Everything else (unknown instance, idempotency, busy resources, `RequiresApp`) is the broker's.

use osb_core::catalog::{Plan, Service};
use osb_core::{BindRequest, BrokerError, ProvisionRequest, UpdateRequest};

use crate::catalog::{PlanLookup, Prepared};

/// Provision (§13 step 4): ids, org/space, maintenance info.
///
/// `strict`: require `organization_guid` and `space_guid` even when a `context` is present.
pub(crate) fn provision(
    catalog: &Prepared,
    request: &ProvisionRequest,
    strict: bool,
) -> Result<(), BrokerError> {
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
    maintenance_info(
        plan,
        request
            .maintenance_info
            .as_ref()
            .map(|m| m.version.as_str()),
    )
}

/// Update (§13 step 5): service, new plan, plan_updateable, context-only, maintenance info.
pub(crate) fn update(catalog: &Prepared, request: &UpdateRequest) -> Result<(), BrokerError> {
    let service = catalog.service(&request.service_id).ok_or_else(|| {
        BrokerError::bad_request(format!(
            "The service_id {:?} is not in the catalog.",
            request.service_id
        ))
    })?;
    let previous_plan_id = request
        .previous_values
        .as_ref()
        .and_then(|p| p.plan_id.as_deref());
    let previous_plan = previous_plan_id.and_then(|id| service.plan(id));
    let target_plan = match request.plan_id.as_deref() {
        Some(plan_id) => Some(plan(catalog, &request.service_id, plan_id)?.1),
        None => None,
    };
    let plan_changes = match (request.plan_id.as_deref(), previous_plan_id) {
        (Some(new), Some(old)) => new != old,
        // Without previous_values the current plan is the broker's knowledge, not ours.
        _ => false,
    };
    if plan_changes {
        // spec.md "Updating a Service Instance": a plan change needs plan_updateable, the
        // current plan's value overriding the offering's.
        let updateable = match previous_plan {
            Some(current) => current.is_plan_updateable(service),
            None => service.plan_updateable.unwrap_or(false),
        };
        if !updateable {
            return Err(BrokerError::unprocessable(
                "The current plan of this instance cannot be changed (plan_updateable is false).",
            ));
        }
    }
    // A `plan_id` equal to the previous one changes nothing; one we cannot compare may.
    let plan_may_change =
        request.plan_id.is_some() && request.plan_id.as_deref() != previous_plan_id;
    let context_only = request.context.is_some()
        && !plan_may_change
        && request.parameters.is_none()
        && request.maintenance_info.is_none();
    if context_only && !service.allow_context_updates() {
        // spec.md "Updating a Service Instance": context-only updates need
        // allow_context_updates (2.15).
        return Err(BrokerError::unprocessable(
            "This service does not accept updates of the context alone (allow_context_updates is false).",
        ));
    }
    if let Some(requested) = &request.maintenance_info {
        // Checked against the plan the instance moves to, else the one it is on.
        if let Some(plan) = target_plan.or(previous_plan) {
            maintenance_info(plan, Some(&requested.version))?;
        }
    }
    Ok(())
}

/// Bind (§13 step 6): ids, bindable, rotation.
pub(crate) fn bind(catalog: &Prepared, request: &BindRequest) -> Result<(), BrokerError> {
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

/// spec.md "Provisioning" → 422 `MaintenanceInfoConflict`: a requested version that differs from
/// the plan's, or any version for a plan without maintenance info. No version sent: no check.
fn maintenance_info(plan: &Plan, requested: Option<&str>) -> Result<(), BrokerError> {
    let Some(requested) = requested else {
        return Ok(());
    };
    match &plan.maintenance_info {
        Some(info) if info.version == requested => Ok(()),
        Some(info) => Err(BrokerError::maintenance_info_conflict().with_description(format!(
            "The maintenance_info.version {requested:?} does not match the plan's {:?}; fetch the catalog again.",
            info.version
        ))),
        None => Err(BrokerError::maintenance_info_conflict().with_description(format!(
            "The plan {:?} has no maintenance_info, but the request names version {requested:?}; fetch the catalog again.",
            plan.id
        ))),
    }
}
