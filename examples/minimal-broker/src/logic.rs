//! The business logic: a pretend database service. This is the only part a real broker
//! replaces; state, HTTP, the spec's rules and auth come from the osb-rs crates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use osb_core::catalog::Catalog;
use osb_core::managed::{
    Clock, DeprovisionError, Execution, InstanceRecord, LogicError, OperationKind, ServiceLogic,
    SystemClock, UpdateError,
};
use osb_core::{
    BindRequest, Binding, ProvisionRequest, ProvisionedInstance, UpdateRequest, UpdatedInstance,
};
use osb_iam::metering::Window;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

/// The offering's id.
pub const SERVICE_ID: &str = "6d5ad4e4-8f0b-4f5e-9c43-2c1a0b7f3e01";
/// The synchronous plan: ready at once, may change plan, rotatable bindings, maintenance info.
pub const SMALL_PLAN_ID: &str = "6d5ad4e4-8f0b-4f5e-9c43-2c1a0b7f3e02";
/// The asynchronous plan: created in the background, bindings need an app, no plan changes.
pub const LARGE_PLAN_ID: &str = "6d5ad4e4-8f0b-4f5e-9c43-2c1a0b7f3e03";
/// The metered plan: pay per API call (counted by [`Databases::count_call`]), reported hourly.
pub const METERED_PLAN_ID: &str = "6d5ad4e4-8f0b-4f5e-9c43-2c1a0b7f3e04";
/// The measure the metered plan is billed by.
pub const API_CALLS: &str = "API_CALL";
/// Where instance dashboards live.
pub const DASHBOARD_HOST: &str = "minimal-broker.example.com";

/// What stays unencoded in a URL path segment: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The catalog, as the spec's JSON.
pub fn catalog() -> Result<Catalog, Box<dyn std::error::Error + Send + Sync>> {
    let catalog: Catalog = serde_json::from_value(json!({"services": [{
        "id": SERVICE_ID, "name": "minimal-db", "description": "A pretend database, one per instance.",
        "bindable": true, "instances_retrievable": true, "bindings_retrievable": true,
        "tags": ["database", "example"],
        "metadata": {"displayName": "Minimal DB", "providerDisplayName": "osb-rs",
                     "documentationUrl": "https://github.com/osb-rs/osb-rs"},
        "plans": [{
            "id": SMALL_PLAN_ID, "name": "small", "free": true,
            "description": "Ready at once. Can move to large; its bindings can be rotated.",
            "plan_updateable": true, "binding_rotatable": true,
            "maintenance_info": {"version": "1.1.0", "description": "PostgreSQL 17.2 with the November patches"}
        }, {
            "id": LARGE_PLAN_ID, "name": "large", "free": false,
            "description": "Created in the background in a few seconds. Bindings need an application.",
            "plan_updateable": false, "maximum_polling_duration": 600,
            "metadata": {"bullets": ["8 GB RAM"], "costs": [{"amount": {"usd": 20.0}, "unit": "MONTHLY"}]}
        }, {
            "id": METERED_PLAN_ID, "name": "metered", "free": false,
            "description": "Pay per API call: bindings and dashboard views, reported hourly.",
            "metadata": {"costs": [{"amount": {"usd": 0.001}, "unit": API_CALLS}]}
        }]
    }]}))?;
    catalog.validate()?;
    Ok(catalog)
}

/// The pretend database service.
#[derive(Debug)]
pub struct Databases {
    catalog: Arc<Catalog>,
    provision_time: Duration,
    /// API calls per instance and hour: the metered plan's usage.
    calls: Mutex<HashMap<(String, Window), u64>>,
}

impl Databases {
    /// The service; a `large` instance takes `provision_time` to create.
    ///
    /// # Errors
    ///
    /// When the catalog is invalid.
    pub fn new(provision_time: Duration) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            catalog: Arc::new(catalog()?),
            provision_time,
            calls: Mutex::default(),
        })
    }

    /// Counts one API call of `instance_id` in the current hour.
    pub fn count_call(&self, instance_id: &str) {
        let hour = Window::hour_containing(SystemClock.now());
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry((instance_id.to_owned(), hour)).or_default() += 1;
        }
    }

    /// The API calls of `instance_id` in `hour`.
    pub fn calls(&self, instance_id: &str, hour: Window) -> u64 {
        let calls = self.calls.lock().ok();
        calls
            .and_then(|calls| calls.get(&(instance_id.to_owned(), hour)).copied())
            .unwrap_or(0)
    }
}

#[async_trait]
impl ServiceLogic for Databases {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
        if kind == OperationKind::Provision && plan_id == LARGE_PLAN_ID {
            Execution::Asynchronous
        } else {
            Execution::Synchronous
        }
    }

    // Creating a pretend database twice is harmless, so a restart resumes it.
    fn is_idempotent(&self, kind: OperationKind) -> bool {
        kind == OperationKind::Provision
    }

    fn requires_app(&self, plan_id: &str) -> bool {
        plan_id == LARGE_PLAN_ID
    }

    // IBM Cloud style: the instance id (a CRN) URL-encoded in the path.
    fn dashboard_url(&self, instance_id: &str, _request: &ProvisionRequest) -> Option<String> {
        let id = utf8_percent_encode(instance_id, SEGMENT);
        Some(format!("https://{DASHBOARD_HOST}/dashboard/{id}"))
    }

    async fn create_instance(
        &self,
        _id: &str,
        request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        if request.plan_id == LARGE_PLAN_ID {
            tokio::time::sleep(self.provision_time).await;
        }
        Ok(ProvisionedInstance::default())
    }

    async fn update_instance(
        &self,
        _id: &str,
        _request: &UpdateRequest,
        _before: &InstanceRecord,
    ) -> Result<UpdatedInstance, UpdateError> {
        Ok(UpdatedInstance::default())
    }

    async fn delete_instance(
        &self,
        _id: &str,
        _instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        Ok(())
    }

    async fn create_binding(
        &self,
        instance_id: &str,
        _binding_id: &str,
        _request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        // UUID v4: 122 bits from the operating system's random source.
        self.count_call(instance_id);
        let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let password = uuid::Uuid::new_v4().simple().to_string();
        let database = utf8_percent_encode(instance_id, SEGMENT);
        let credentials = json!({
            "uri": format!("postgres://{username}:{password}@db.{DASHBOARD_HOST}:5432/{database}"),
            "username": username, "password": password,
        });
        Ok(Binding::with_credentials(
            credentials.as_object().cloned().unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_are_counted_per_instance_and_hour() {
        let logic = Databases::new(Duration::ZERO).unwrap();
        logic.count_call("db-1");
        logic.count_call("db-1");
        logic.count_call("db-2");
        let hour = Window::hour_containing(SystemClock.now());
        // The hour may just have turned between counting and reading: then all are in the last.
        let counted = |id| logic.calls(id, hour) + logic.calls(id, hour.previous());
        assert_eq!(
            (counted("db-1"), counted("db-2"), counted("db-3")),
            (2, 1, 0)
        );
    }

    #[test]
    fn catalog_has_a_metered_plan_priced_per_api_call() {
        let catalog = serde_json::to_value(catalog().unwrap()).unwrap();
        let plans = catalog["services"][0]["plans"].as_array().unwrap();
        let metered = plans
            .iter()
            .find(|plan| plan["id"] == METERED_PLAN_ID)
            .unwrap();
        assert_eq!(metered["metadata"]["costs"][0]["unit"], API_CALLS);
    }
}
