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

/// What stays unencoded in a URL path segment: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The catalog, from `catalog.json` in the spec's JSON.
pub fn catalog() -> Result<Catalog, Error> {
    let catalog: Catalog = serde_json::from_str(include_str!("../catalog.json"))?;
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
    pub fn new(provision_time: Duration) -> Result<Self, Error> {
        let catalog = Arc::new(catalog()?);
        Ok(Self {
            catalog,
            provision_time,
            calls: Mutex::default(),
        })
    }

    /// Counts one API call of `instance_id` in the current hour.
    pub fn count_call(&self, instance_id: &str) {
        let hour = Window::hour_containing(SystemClock.now());
        let key = (instance_id.to_owned(), hour);
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(key).or_default() += 1;
        }
    }

    /// The API calls of `instance_id` in `hour`.
    pub fn calls(&self, instance_id: &str, hour: Window) -> u64 {
        let calls = self.calls.lock().ok();
        let count = calls.and_then(|calls| calls.get(&(instance_id.to_owned(), hour)).copied());
        count.unwrap_or(0)
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
        let id = utf8_percent_encode(instance_id, SEGMENT);
        Some(format!("https://{DASHBOARD_HOST}/dashboard/{id}"))
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

    async fn create_binding(&self, instance: &str, _: &str, _: &BindRequest) -> Bound {
        self.count_call(instance);
        // UUID v4: 122 bits from the operating system's random source.
        let secret = || uuid::Uuid::new_v4().simple().to_string();
        let (username, password) = (format!("u{}", &secret()[..12]), secret());
        let database = utf8_percent_encode(instance, SEGMENT);
        let uri = format!("postgres://{username}:{password}@db.{DASHBOARD_HOST}:5432/{database}");
        let credentials = json!({"uri": uri, "username": username, "password": password});
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
    fn catalog_json_carries_the_ids_of_the_constants() {
        let catalog = serde_json::to_value(catalog().unwrap()).unwrap();
        let service = &catalog["services"][0];
        assert_eq!(service["id"], SERVICE_ID);
        let ids: Vec<_> = service["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["id"])
            .collect();
        assert_eq!(ids, [SMALL_PLAN_ID, LARGE_PLAN_ID, METERED_PLAN_ID]);
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
