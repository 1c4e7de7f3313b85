//! The rules an update is judged by against the catalog and the instance as the broker
//! recorded it (rules.md §10, spec.md "Updating a Service Instance").
//!
//! They live here, in one place, because only the broker knows the instance's current plan and
//! context: `previous_values` is informational (spec.md "Previous Values Object"), so a platform
//! that sends stale or wrong ones must not turn an allowed update into a refusal, nor a refused
//! one into an allowed one. The `Managed` adapter applies them to its stored record; a broker
//! written directly on `ServiceBroker` calls [`UpdateRequest::check`] with its own.

use crate::catalog::{Catalog, Plan, Service};
use crate::context::Context;
use crate::error::BrokerError;

use super::UpdateRequest;

/// The instance an update targets, as the broker recorded it.
///
/// # Example
///
/// ```
/// use osb_core::update::CurrentInstance;
///
/// let current = CurrentInstance::new("svc", "plan-small");
/// assert_eq!(current.plan_id, "plan-small");
/// assert!(current.context.is_none());
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CurrentInstance<'a> {
    /// The offering the instance belongs to.
    pub service_id: &'a str,
    /// The plan the instance is on now.
    pub plan_id: &'a str,
    /// The context last recorded for the instance, if any.
    pub context: Option<&'a Context>,
}

impl<'a> CurrentInstance<'a> {
    /// An instance of `service_id` on `plan_id`, with no recorded context.
    pub const fn new(service_id: &'a str, plan_id: &'a str) -> Self {
        Self {
            service_id,
            plan_id,
            context: None,
        }
    }

    /// The context last recorded for the instance: a request repeating it is no context change.
    #[must_use]
    pub const fn with_context(mut self, context: Option<&'a Context>) -> Self {
        self.context = context;
        self
    }
}

impl UpdateRequest {
    /// Judges this update against `catalog` and the instance as recorded, in the order of
    /// rules.md §10: the instance's service (400) → a plan change: the target
    /// plan a plan of that service (400) and the current plan `plan_updateable` (422) → a
    /// context-only change without `allow_context_updates` (422) → `maintenance_info` against
    /// the target plan (422 `MaintenanceInfoConflict`).
    ///
    /// `previous_values` plays no part. A `plan_id` equal to the current plan is no plan
    /// change, and a `context` equal to the recorded one is no context change, so a request
    /// repeating what the instance already is passes.
    ///
    /// # Errors
    ///
    /// The [`BrokerError`] the spec names for the first rule broken, with a description.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::{Catalog, UpdateRequest, update::CurrentInstance};
    ///
    /// let catalog: Catalog = serde_json::from_value(serde_json::json!({"services": [{
    ///     "id": "svc", "name": "db", "description": "A database", "bindable": true,
    ///     "plans": [
    ///         {"id": "small", "name": "small", "description": "Small", "plan_updateable": true},
    ///         {"id": "large", "name": "large", "description": "Large"}
    ///     ]
    /// }]}))?;
    /// let mut request = UpdateRequest::new("svc");
    /// request.plan_id = Some("large".to_owned());
    /// // The broker's record decides, whatever previous_values say.
    /// assert!(request.check(&catalog, CurrentInstance::new("svc", "small")).is_ok());
    /// // A plan_id equal to the current plan is no plan change.
    /// assert!(request.check(&catalog, CurrentInstance::new("svc", "large")).is_ok());
    /// request.plan_id = Some("small".to_owned());
    /// let refused = request.check(&catalog, CurrentInstance::new("svc", "large"));
    /// assert_eq!(refused.unwrap_err().status(), http::StatusCode::UNPROCESSABLE_ENTITY);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn check(
        &self,
        catalog: &Catalog,
        current: CurrentInstance<'_>,
    ) -> Result<(), BrokerError> {
        let service_id = current.service_id;
        if self.service_id != service_id {
            return Err(BrokerError::bad_request(format!(
                "The service_id {:?} is not the service of this instance ({service_id:?}).",
                self.service_id
            )));
        }
        let Some(service) = catalog.service(service_id) else {
            return Err(BrokerError::bad_request(format!(
                "The service_id {service_id:?} is not in the catalog."
            )));
        };
        let current_plan = service.plan(current.plan_id);
        let new_plan_id = self
            .plan_id
            .as_deref()
            .filter(|plan_id| *plan_id != current.plan_id);
        let target = match new_plan_id {
            Some(plan_id) => Some(plan_change(
                service,
                current_plan,
                current.plan_id,
                plan_id,
            )?),
            None => current_plan,
        };
        // `{"maintenance_info": {}}` is no maintenance_info (rules.md §16, Postel).
        let maintenance_info = self
            .maintenance_info
            .as_ref()
            .filter(|info| !info.version.is_empty());
        let context_changes = self
            .context
            .as_ref()
            .is_some_and(|context| current.context != Some(context));
        let context_only = context_changes
            && new_plan_id.is_none()
            && self.parameters.is_none()
            && maintenance_info.is_none();
        if context_only && !service.allow_context_updates() {
            // spec.md "Updating a Service Instance": context-only updates need
            // allow_context_updates (2.15).
            return Err(BrokerError::unprocessable(
                "This service does not accept updates of the context alone (allow_context_updates is false).",
            ));
        }
        // spec.md "Updating a Service Instance": 422 MaintenanceInfoConflict when the version
        // is not the (target) plan's; any version for a plan without maintenance_info is a
        // conflict. A current plan no longer in the catalog cannot be judged.
        match (maintenance_info, target) {
            (Some(requested), Some(plan)) => plan.check_maintenance_info(&requested.version),
            _ => Ok(()),
        }
    }
}

/// A move from `current` to `plan_id`: the target plan, or why the move is refused.
fn plan_change<'c>(
    service: &'c Service,
    current: Option<&Plan>,
    current_plan_id: &str,
    plan_id: &str,
) -> Result<&'c Plan, BrokerError> {
    let Some(target) = service.plan(plan_id) else {
        return Err(BrokerError::bad_request(format!(
            "The plan_id {plan_id:?} is not a plan of the service {:?}.",
            service.id
        )));
    };
    // spec.md "Updating a Service Instance": a plan change needs plan_updateable, the current
    // plan's value overriding the offering's.
    let updateable = match current {
        Some(plan) => plan.is_plan_updateable(service),
        None => service.plan_updateable.unwrap_or(false),
    };
    if !updateable {
        return Err(BrokerError::unprocessable(format!(
            "The plan of this instance ({current_plan_id:?}) cannot be changed (plan_updateable is false)."
        )));
    }
    Ok(target)
}
