//! Test support for the managed adapter: a logic that counts its calls and can hold its work,
//! and a clock the test moves by hand.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, Clock, DeprovisionError, Execution, InstanceRecord, LogicError, OperationKind,
    ServiceLogic, Timestamp, UpdateError,
};
use osb_core::{
    ApiVersion, BindRequest, Binding, BindingMetadata, ProvisionRequest, ProvisionedInstance,
    RequestContext, UpdateRequest, UpdatedInstance,
};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

pub const SERVICE: &str = "svc";
/// Every operation synchronous.
pub const SYNC: &str = "sync";
/// Every operation asynchronous, `maximum_polling_duration` 60 s.
pub const ASYNC: &str = "async";
/// Synchronous; bindings need an application.
pub const APP: &str = "app";

/// A clock moved by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(1_700_000_000_000)))
    }
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Calls made to the logic, per resource id.
#[derive(Debug, Default, Clone)]
pub struct Calls {
    pub create_instance: HashMap<String, usize>,
    pub update_instance: HashMap<String, usize>,
    pub delete_instance: HashMap<String, usize>,
    pub create_binding: HashMap<String, usize>,
    pub delete_binding: HashMap<String, usize>,
    pub on_disable: usize,
    pub on_enable: usize,
    /// Resources created and not deleted since.
    pub alive: std::collections::HashSet<String>,
    /// Creates of a resource that was already alive: must stay empty.
    pub created_twice: Vec<String>,
}

/// A logic that counts calls. Work waits while the gate is closed. Parameters
/// `{"fail": "<description>"}` make the operation fail with that description (a 500), and
/// `{"refuse": "<description>"}` make a create refuse the request (a 400) without making
/// anything.
#[derive(Debug)]
pub struct CountingLogic {
    catalog: Arc<Catalog>,
    calls: Mutex<Calls>,
    gate: watch::Sender<bool>,
    async_gate: watch::Sender<bool>,
    pub idempotent: bool,
    pub fail_delete: Mutex<bool>,
}

impl CountingLogic {
    pub fn new() -> Self {
        Self::with_idempotent(false)
    }

    pub fn with_idempotent(idempotent: bool) -> Self {
        let mut sync = Plan::new(SYNC, "sync", "Synchronous");
        sync.binding_rotatable = Some(true);
        let mut asynchronous = Plan::new(ASYNC, "async", "Asynchronous");
        asynchronous.maximum_polling_duration = Some(60);
        let mut service = Service::new(SERVICE, "counting", "Counts calls", true)
            .with_plan(sync)
            .with_plan(asynchronous)
            .with_plan(Plan::new(APP, "app", "Needs an app"));
        service.instances_retrievable = Some(true);
        service.bindings_retrievable = Some(true);
        service.plan_updateable = Some(true);
        Self {
            catalog: Arc::new(Catalog::new(vec![service])),
            calls: Mutex::new(Calls::default()),
            gate: watch::channel(true).0,
            async_gate: watch::channel(true).0,
            idempotent,
            fail_delete: Mutex::new(false),
        }
    }

    /// This logic with its catalog changed by `edit` (call before building the broker).
    pub fn with_catalog(mut self, edit: impl FnOnce(&mut Catalog)) -> Self {
        let mut catalog = (*self.catalog).clone();
        edit(&mut catalog);
        self.catalog = Arc::new(catalog);
        self
    }

    pub fn calls(&self) -> Calls {
        self.calls.lock().unwrap().clone()
    }

    /// Work started from now on waits until [`CountingLogic::open`].
    pub fn close(&self) {
        self.gate.send_replace(false);
    }

    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Work of the asynchronous plan started from now on waits until
    /// [`CountingLogic::open_async`]; synchronous work goes on.
    pub fn close_async(&self) {
        self.async_gate.send_replace(false);
    }

    pub fn open_async(&self) {
        self.async_gate.send_replace(true);
    }

    async fn pass(&self, plan_id: &str) {
        let mut gate = self.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        if plan_id == ASYNC {
            let mut gate = self.async_gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
        }
    }

    fn count(&self, which: impl FnOnce(&mut Calls) -> &mut HashMap<String, usize>, id: &str) {
        let mut calls = self.calls.lock().unwrap();
        *which(&mut calls).entry(id.to_owned()).or_default() += 1;
    }

    fn born(&self, id: &str) {
        let mut calls = self.calls.lock().unwrap();
        if !calls.alive.insert(id.to_owned()) {
            calls.created_twice.push(id.to_owned());
        }
    }

    fn died(&self, id: &str) {
        self.calls.lock().unwrap().alive.remove(id);
    }
}

fn failure(parameters: Option<&Map<String, Value>>) -> Option<String> {
    parameters?.get("fail")?.as_str().map(str::to_owned)
}

fn refusal(parameters: Option<&Map<String, Value>>) -> Option<LogicError> {
    let description = parameters?.get("refuse")?.as_str()?;
    Some(LogicError::bad_request(description))
}

#[async_trait]
impl ServiceLogic for CountingLogic {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    fn execution(&self, _kind: OperationKind, plan_id: &str) -> Execution {
        if plan_id == ASYNC {
            Execution::Asynchronous
        } else {
            Execution::Synchronous
        }
    }

    fn is_idempotent(&self, _kind: OperationKind) -> bool {
        self.idempotent
    }

    fn requires_app(&self, plan_id: &str) -> bool {
        plan_id == APP
    }

    fn dashboard_url(&self, instance_id: &str, _request: &ProvisionRequest) -> Option<String> {
        Some(format!("https://dashboard.example.com/{instance_id}"))
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        self.count(|c| &mut c.create_instance, instance_id);
        if let Some(refused) = refusal(request.parameters.as_ref()) {
            return Err(refused);
        }
        self.born(instance_id);
        self.pass(&request.plan_id).await;
        match failure(request.parameters.as_ref()) {
            Some(description) => Err(LogicError::failed(description)),
            None => Ok(ProvisionedInstance::default()),
        }
    }

    async fn update_instance(
        &self,
        instance_id: &str,
        request: &UpdateRequest,
        instance: &InstanceRecord,
    ) -> Result<UpdatedInstance, UpdateError> {
        self.count(|c| &mut c.update_instance, instance_id);
        self.pass(request.plan_id.as_deref().unwrap_or(&instance.plan_id))
            .await;
        match failure(request.parameters.as_ref()) {
            Some(description) => Err(UpdateError::from(LogicError::failed(description))
                .with_instance_usable(true)
                .with_update_repeatable(false)),
            None => Ok(UpdatedInstance::default()),
        }
    }

    async fn delete_instance(
        &self,
        instance_id: &str,
        instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        self.count(|c| &mut c.delete_instance, instance_id);
        self.died(instance_id);
        // Deleting an instance deletes its bindings.
        let prefix = format!("{instance_id}/");
        self.calls
            .lock()
            .unwrap()
            .alive
            .retain(|id| !id.starts_with(&prefix));
        self.pass(&instance.plan_id).await;
        if *self.fail_delete.lock().unwrap() {
            return Err(
                DeprovisionError::from(LogicError::failed("The disk is locked."))
                    .with_instance_usable(true),
            );
        }
        Ok(())
    }

    async fn create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        self.count(
            |c| &mut c.create_binding,
            &format!("{instance_id}/{binding_id}"),
        );
        if let Some(refused) = refusal(request.parameters.as_ref()) {
            return Err(refused);
        }
        self.born(&format!("{instance_id}/{binding_id}"));
        self.pass(&request.plan_id).await;
        if let Some(description) = failure(request.parameters.as_ref()) {
            return Err(LogicError::failed(description));
        }
        let credentials = json!({"user": binding_id, "password": format!("secret-{binding_id}")});
        let Value::Object(credentials) = credentials else {
            unreachable!()
        };
        let mut binding = Binding::with_credentials(credentials);
        // Parameters `{"expires_at": "<time>"}` give the binding that expiry.
        if let Some(expires_at) = request
            .parameters
            .as_ref()
            .and_then(|p| p.get("expires_at"))
            .and_then(Value::as_str)
        {
            let mut metadata = BindingMetadata::default();
            metadata.expires_at = Some(expires_at.to_owned());
            binding.metadata = Some(metadata);
        }
        Ok(binding)
    }

    async fn delete_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        binding: &BindingRecord,
    ) -> Result<(), LogicError> {
        self.count(
            |c| &mut c.delete_binding,
            &format!("{instance_id}/{binding_id}"),
        );
        self.died(&format!("{instance_id}/{binding_id}"));
        self.pass(&binding.request.plan_id).await;
        Ok(())
    }

    async fn on_disable(
        &self,
        _instance_id: &str,
        _update: &osb_core::InstanceStateUpdate,
    ) -> Result<(), LogicError> {
        self.calls.lock().unwrap().on_disable += 1;
        Ok(())
    }

    async fn on_enable(
        &self,
        _instance_id: &str,
        _update: &osb_core::InstanceStateUpdate,
    ) -> Result<(), LogicError> {
        self.calls.lock().unwrap().on_enable += 1;
        Ok(())
    }
}

pub fn ctx(accepts_incomplete: bool) -> RequestContext {
    RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(accepts_incomplete)
}

pub fn provision(plan: &str) -> ProvisionRequest {
    let mut request = ProvisionRequest::new(SERVICE, plan);
    request.organization_guid = Some("org".into());
    request.space_guid = Some("space".into());
    request
}

pub fn params(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

pub fn bind(plan: &str) -> BindRequest {
    let mut request = BindRequest::new(SERVICE, plan);
    request.app_guid = Some("app-1".into());
    request
}

/// Waits (without a time assertion) until `check` holds, yielding to background tasks.
pub async fn eventually<F: FnMut() -> bool>(mut check: F) {
    for _ in 0..10_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition never became true");
}
