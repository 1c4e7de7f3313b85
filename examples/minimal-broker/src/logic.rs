//! The business logic: a pretend database service. This is the only part a real broker
//! replaces; state, HTTP, the spec's rules and auth come from the osb-rs crates.

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use async_trait::async_trait;
use osb_core::managed::{Clock, Execution, InstanceRecord, LogicError, OperationKind};
use osb_core::managed::{DeprovisionError, ServiceLogic, SystemClock, UpdateError};
use osb_core::{BindRequest, Binding, ProvisionRequest, ProvisionedInstance, catalog::Catalog};
use osb_core::{UpdateRequest, UpdatedInstance};
use osb_iam::dashboard::DashboardPath;
use osb_iam::metering::{Measure, MeteredInstance, Window};
use serde_json::json;
use uuid::Uuid;

use crate::Error;

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
    pub fn new(provision_time: Duration) -> Result<Self, Error> {
        // The catalog, in the spec's JSON.
        let catalog = Arc::new(Catalog::from_json(include_str!("../catalog.json"))?);
        Ok(Self { catalog, provision_time, calls: Mutex::default() })
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
        calls.and_then(|calls| calls.get(&(instance_id.to_owned(), hour)).copied()).unwrap_or(0)
    }

    /// The metered plan's usage of `instance` in `hour`, for IBM's metering (the reporter asks
    /// once per instance and finished hour).
    pub fn usage(&self, instance: &MeteredInstance, hour: Window) -> Vec<Measure> {
        vec![Measure::new(API_CALLS, self.calls(&instance.instance_id, hour))]
    }
}

// What the operations below return.
type Provisioned = Result<ProvisionedInstance, LogicError>;
type Updated = Result<UpdatedInstance, UpdateError>;
type Bound = Result<Binding, LogicError>;

#[async_trait]
impl ServiceLogic for Databases {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
        match (kind, plan_id) {
            (OperationKind::Provision, LARGE_PLAN_ID) => Execution::Asynchronous,
            _ => Execution::Synchronous,
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
    fn dashboard_url(&self, instance_id: &str, _: &ProvisionRequest) -> Option<String> {
        Some(DashboardPath::ibm().url(&format!("https://{DASHBOARD_HOST}"), instance_id))
    }

    async fn create_instance(&self, _: &str, request: &ProvisionRequest) -> Provisioned {
        if request.plan_id == LARGE_PLAN_ID {
            tokio::time::sleep(self.provision_time).await;
        }
        Ok(ProvisionedInstance::default())
    }

    async fn update_instance(&self, _: &str, _: &UpdateRequest, _: &InstanceRecord) -> Updated {
        Ok(UpdatedInstance::default())
    }

    async fn delete_instance(&self, _: &str, _: &InstanceRecord) -> Result<(), DeprovisionError> {
        Ok(())
    }

    async fn create_binding(&self, id: &str, _: &str, _: &BindRequest) -> Bound {
        self.count_call(id);
        // UUID v4: 122 bits from the operating system's random source.
        let secret = || Uuid::new_v4().simple().to_string();
        let (username, password) = (format!("u{}", &secret()[..12]), secret());
        // One database per instance, named by a UUID v5 of its id (a CRN is too long a name).
        let database = format!("db_{}", Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_bytes()).simple());
        let uri = format!("postgres://{username}:{password}@db.{DASHBOARD_HOST}:5432/{database}");
        let credentials = json!({"uri": uri, "username": username, "password": password});
        Ok(Binding::with_credentials(credentials.as_object().cloned().unwrap_or_default()))
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
        assert_eq!((counted("db-1"), counted("db-2"), counted("db-3")), (2, 1, 0));
    }

    #[test]
    fn catalog_json_carries_the_ids_of_the_constants() {
        let catalog =
            serde_json::to_value(&*Databases::new(Duration::ZERO).unwrap().catalog()).unwrap();
        let service = &catalog["services"][0];
        assert_eq!(service["id"], SERVICE_ID);
        let ids: Vec<_> = service["plans"].as_array().unwrap().iter().map(|p| &p["id"]).collect();
        assert_eq!(ids, [SMALL_PLAN_ID, LARGE_PLAN_ID, METERED_PLAN_ID]);
    }

    #[test]
    fn catalog_has_a_metered_plan_priced_per_api_call() {
        let catalog =
            serde_json::to_value(&*Databases::new(Duration::ZERO).unwrap().catalog()).unwrap();
        let plans = catalog["services"][0]["plans"].as_array().unwrap();
        let metered = plans.iter().find(|plan| plan["id"] == METERED_PLAN_ID).unwrap();
        assert_eq!(metered["metadata"]["costs"][0]["unit"], API_CALLS);
    }
}
