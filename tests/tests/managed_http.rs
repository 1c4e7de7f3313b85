//! The managed adapter's key rules through the real HTTP service (`osb_tower::OsbService`)
//! over loopback: idempotency, async operations, races, deletes, and `bluemix_v1` state.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, DeprovisionError, Execution, InstanceRecord, LogicError, Managed, MemoryStore,
    OperationKind, ServiceLogic, UpdateError,
};
use osb_core::{
    BindRequest, Binding, ProvisionRequest, ProvisionedInstance, UpdateRequest, UpdatedInstance,
};
use osb_e2e_tests::{Answer, Platform, RunningBroker};
use osb_tower::OsbService;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;

const SERVICE: &str = "managed-svc";
const SYNC: &str = "sync";
const ASYNC: &str = "async";

/// A logic that counts its calls; work waits while its gate is closed (for the asynchronous
/// plan only, or for everything).
#[derive(Debug)]
struct GatedLogic {
    catalog: Arc<Catalog>,
    calls: Mutex<HashMap<String, usize>>,
    all: watch::Sender<bool>,
    asynchronous: watch::Sender<bool>,
}

impl GatedLogic {
    fn new() -> Self {
        let mut service = Service::new(SERVICE, "managed", "Managed test service", true)
            .with_plan(Plan::new(SYNC, "sync", "Synchronous"))
            .with_plan(Plan::new(ASYNC, "async", "Asynchronous"));
        service.instances_retrievable = Some(true);
        service.bindings_retrievable = Some(true);
        Self {
            catalog: Arc::new(Catalog::new(vec![service])),
            calls: Mutex::new(HashMap::new()),
            all: watch::channel(true).0,
            asynchronous: watch::channel(true).0,
        }
    }

    fn calls(&self, what: &str) -> usize {
        self.calls.lock().unwrap().get(what).copied().unwrap_or(0)
    }

    async fn work(&self, what: String, plan_id: &str) {
        *self.calls.lock().unwrap().entry(what).or_default() += 1;
        let _ = self.all.subscribe().wait_for(|open| *open).await;
        if plan_id == ASYNC {
            let _ = self.asynchronous.subscribe().wait_for(|open| *open).await;
        }
    }
}

fn fails(parameters: Option<&serde_json::Map<String, Value>>) -> Option<String> {
    parameters?.get("fail")?.as_str().map(str::to_owned)
}

/// `{"refuse": "<description>"}`: the create refuses the request (400) and makes nothing.
fn refuses(parameters: Option<&serde_json::Map<String, Value>>) -> Option<String> {
    parameters?.get("refuse")?.as_str().map(str::to_owned)
}

#[async_trait]
impl ServiceLogic for GatedLogic {
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

    fn dashboard_url(&self, instance_id: &str, _request: &ProvisionRequest) -> Option<String> {
        Some(format!("https://dashboard.example.com/{instance_id}"))
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        self.work(format!("create {instance_id}"), &request.plan_id)
            .await;
        if let Some(refused) = refuses(request.parameters.as_ref()) {
            return Err(LogicError::bad_request(refused));
        }
        match fails(request.parameters.as_ref()) {
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
        self.work(format!("update {instance_id}"), &instance.plan_id)
            .await;
        match fails(request.parameters.as_ref()) {
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
        self.work(format!("delete {instance_id}"), &instance.plan_id)
            .await;
        Ok(())
    }

    async fn create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        self.work(format!("bind {instance_id}/{binding_id}"), &request.plan_id)
            .await;
        let Value::Object(credentials) = json!({"password": format!("pw-{binding_id}")}) else {
            unreachable!()
        };
        Ok(Binding::with_credentials(credentials))
    }

    async fn delete_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        binding: &BindingRecord,
    ) -> Result<(), LogicError> {
        self.work(
            format!("unbind {instance_id}/{binding_id}"),
            &binding.request.plan_id,
        )
        .await;
        Ok(())
    }
}

type Broker = Arc<Managed<GatedLogic>>;

async fn serve() -> (RunningBroker, Platform, Broker) {
    let broker: Broker = Arc::new(
        Managed::builder(GatedLogic::new())
            .store(MemoryStore::new())
            .build(),
    );
    let service = OsbService::new(broker.clone());
    let server = RunningBroker::router(axum::Router::new().fallback_service(service)).await;
    let platform = Platform::new(server.url());
    (server, platform, broker)
}

fn provision_body(plan_id: &str) -> Value {
    json!({
        "service_id": SERVICE, "plan_id": plan_id,
        "context": {"platform": "ibmcloud", "account_id": "acc", "crn": "crn:v1:bluemix:public:managed:us-south:a/acc::", "name": "first"},
    })
}

fn bind_body(plan_id: &str) -> Value {
    json!({"service_id": SERVICE, "plan_id": plan_id, "bind_resource": {"app_guid": "app-1"}})
}

async fn delete(
    platform: &Platform,
    path: &str,
    plan_id: &str,
    accepts_incomplete: bool,
) -> Answer {
    let path = format!(
        "{path}?service_id={SERVICE}&plan_id={plan_id}&accepts_incomplete={accepts_incomplete}"
    );
    platform.send(Method::DELETE, &path, None).await
}

async fn bind(
    platform: &Platform,
    iid: &str,
    bid: &str,
    body: &Value,
    accepts_incomplete: bool,
) -> Answer {
    let path = format!(
        "/v2/service_instances/{iid}/service_bindings/{bid}?accepts_incomplete={accepts_incomplete}"
    );
    platform.send(Method::PUT, &path, Some(body)).await
}

/// Polls until the state is no longer `in progress` (bounded; no timing assertion).
async fn settle(platform: &Platform, path: &str) -> Answer {
    for _ in 0..5_000 {
        let answer = platform.send(Method::GET, path, None).await;
        if answer.str("state") != "in progress" {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{path} still in progress");
}

#[tokio::test]
async fn provision_answers_201_then_200_for_identical_and_409_for_different_attributes() {
    let (_server, platform, broker) = serve().await;
    let created = platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    assert_eq!(
        created.str("dashboard_url"),
        "https://dashboard.example.com/i"
    );
    // Only the instance name changed: still identical (osb-core rules.md §13).
    let mut renamed = provision_body(SYNC);
    renamed["context"]["name"] = json!("renamed");
    platform.provision("i", &renamed, false).await.expect(200);
    let mut other = provision_body(SYNC);
    other["parameters"] = json!({"size": 2});
    platform
        .provision("i", &other, false)
        .await
        .expect_error(409, None);
    assert_eq!(broker.logic().calls("create i"), 1);
}

#[tokio::test]
async fn async_provision_polls_with_retry_after_and_fetch_is_404_until_done() {
    let (_server, platform, broker) = serve().await;
    platform
        .provision("i", &provision_body(ASYNC), false)
        .await
        .expect_error(422, Some("AsyncRequired"));
    broker.logic().asynchronous.send_replace(false);
    let accepted = platform
        .provision("i", &provision_body(ASYNC), true)
        .await
        .expect(202);
    let operation = accepted.str("operation").to_owned();
    assert!(!operation.is_empty());
    assert_eq!(
        accepted.str("dashboard_url"),
        "https://dashboard.example.com/i"
    );
    let again = platform
        .provision("i", &provision_body(ASYNC), true)
        .await
        .expect(202);
    assert_eq!(again.str("operation"), operation);
    let polled = platform
        .last_operation("i", Some(&operation))
        .await
        .expect(200);
    assert_eq!(polled.str("state"), "in progress");
    assert!(polled.headers.contains_key("retry-after"));
    platform.fetch_instance("i").await.expect_error(404, None);
    broker.logic().asynchronous.send_replace(true);
    let done = settle(
        &platform,
        &format!("/v2/service_instances/i/last_operation?operation={operation}"),
    )
    .await;
    assert_eq!(done.str("state"), "succeeded");
    let fetched = platform.fetch_instance("i").await.expect(200);
    assert_eq!(fetched.str("plan_id"), ASYNC);
    assert_eq!(broker.logic().calls("create i"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_provisions_over_http_create_once() {
    let (_server, platform, broker) = serve().await;
    broker.logic().asynchronous.send_replace(false);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let platform = platform.clone();
        tasks.push(tokio::spawn(async move {
            platform.provision("i", &provision_body(ASYNC), true).await
        }));
    }
    let mut operations = Vec::new();
    for task in tasks {
        operations.push(task.await.unwrap().expect(202).str("operation").to_owned());
    }
    operations.dedup();
    assert_eq!(operations.len(), 1);
    broker.logic().asynchronous.send_replace(true);
    assert_eq!(
        settle(&platform, "/v2/service_instances/i/last_operation")
            .await
            .str("state"),
        "succeeded"
    );
    platform
        .provision("i", &provision_body(ASYNC), true)
        .await
        .expect(200);
    assert_eq!(broker.logic().calls("create i"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_provisions_with_different_plans_over_http_give_one_success_and_409s() {
    let (_server, platform, broker) = serve().await;
    broker.logic().asynchronous.send_replace(false);
    let mut tasks = Vec::new();
    for n in 0..10 {
        let platform = platform.clone();
        tasks.push(tokio::spawn(async move {
            let plan = if n % 2 == 0 { SYNC } else { ASYNC };
            let mut body = provision_body(plan);
            body["parameters"] = json!({"n": n});
            platform.provision("i", &body, true).await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status.as_u16());
    }
    statuses.sort_unstable();
    let successes = statuses.iter().filter(|s| matches!(s, 201 | 202)).count();
    assert_eq!(successes, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 202 | 409)),
        "{statuses:?}"
    );
    broker.logic().asynchronous.send_replace(true);
    assert_eq!(broker.logic().calls("create i"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bind_and_deprovision_at_once_give_422_concurrency_error_to_one() {
    let (_server, platform, broker) = serve().await;
    platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    broker.logic().all.send_replace(false);
    let binder = platform.clone();
    let bind_task =
        tokio::spawn(async move { bind(&binder, "i", "b", &bind_body(SYNC), false).await });
    for _ in 0..5_000 {
        if broker.logic().calls("bind i/b") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    delete(&platform, "/v2/service_instances/i", SYNC, false)
        .await
        .expect_error(422, Some("ConcurrencyError"));
    broker.logic().all.send_replace(true);
    let bound = bind_task.await.unwrap().expect(201);
    assert_eq!(bound.body["credentials"]["password"], "pw-b");
    assert_eq!(broker.logic().calls("delete i"), 0);
}

#[tokio::test]
async fn rebind_returns_200_with_the_same_credentials_and_async_bind_202_has_none() {
    let (_server, platform, broker) = serve().await;
    platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    let first = bind(&platform, "i", "b", &bind_body(SYNC), false)
        .await
        .expect(201);
    let again = bind(&platform, "i", "b", &bind_body(SYNC), false)
        .await
        .expect(200);
    assert_eq!(first.body["credentials"], again.body["credentials"]);
    let mut other = bind_body(SYNC);
    other["bind_resource"]["app_guid"] = json!("app-2");
    bind(&platform, "i", "b", &other, false)
        .await
        .expect_error(409, None);

    broker.logic().asynchronous.send_replace(false);
    bind(&platform, "i", "b2", &bind_body(ASYNC), false)
        .await
        .expect_error(422, Some("AsyncRequired"));
    let accepted = bind(&platform, "i", "b2", &bind_body(ASYNC), true)
        .await
        .expect(202);
    assert!(accepted.body.get("credentials").is_none());
    assert!(!accepted.str("operation").is_empty());
    platform
        .fetch_binding("i", "b2")
        .await
        .expect_error(404, None);
    broker.logic().asynchronous.send_replace(true);
    let done = settle(
        &platform,
        "/v2/service_instances/i/service_bindings/b2/last_operation",
    )
    .await;
    assert_eq!(done.str("state"), "succeeded");
    let fetched = platform.fetch_binding("i", "b2").await.expect(200);
    assert_eq!(fetched.body["credentials"]["password"], "pw-b2");
    assert_eq!(broker.logic().calls("bind i/b"), 1);
}

#[tokio::test]
async fn deletes_of_unknown_resources_answer_410_and_async_delete_halts_a_create() {
    let (_server, platform, broker) = serve().await;
    delete(&platform, "/v2/service_instances/nope", SYNC, true)
        .await
        .expect_error(410, None);
    platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    delete(
        &platform,
        "/v2/service_instances/i/service_bindings/nope",
        SYNC,
        true,
    )
    .await
    .expect_error(410, None);

    broker.logic().asynchronous.send_replace(false);
    let create = platform
        .provision("j", &provision_body(ASYNC), true)
        .await
        .expect(202);
    let create_op = create.str("operation").to_owned();
    // A delete during the running create is accepted and halts it (spec.md "Deprovisioning").
    let deleted = delete(&platform, "/v2/service_instances/j", ASYNC, true)
        .await
        .expect(202);
    let delete_op = deleted.str("operation").to_owned();
    assert_ne!(delete_op, create_op);
    let halted = platform
        .last_operation("j", Some(&create_op))
        .await
        .expect(200);
    assert_eq!(halted.str("state"), "failed");
    broker.logic().asynchronous.send_replace(true);
    let done = settle(&platform, "/v2/service_instances/j/last_operation").await;
    assert_eq!(done.str("state"), "succeeded");
    // After an async delete, polls keep answering `succeeded` (the default setting).
    let again = platform
        .last_operation("j", Some(&delete_op))
        .await
        .expect(200);
    assert_eq!(again.str("state"), "succeeded");
    assert_eq!(broker.logic().calls("delete j"), 1);
    delete(&platform, "/v2/service_instances/j", ASYNC, true)
        .await
        .expect_error(410, None);
}

/// rules.md §3: after a 4xx nothing changed, so the platform's corrected retry creates.
#[tokio::test]
async fn provision_refused_by_the_logic_leaves_nothing_and_the_corrected_retry_creates() {
    let (_server, platform, _broker) = serve().await;
    let mut refused = provision_body(SYNC);
    refused["parameters"] = json!({"refuse": "size must be at most 100."});
    for _ in 0..2 {
        let answer = platform.provision("r", &refused, false).await;
        let answer = answer.expect_error(400, None);
        assert_eq!(answer.str("description"), "size must be at most 100.");
        platform.fetch_instance("r").await.expect_error(404, None);
    }
    platform
        .provision("r", &provision_body(SYNC), false)
        .await
        .expect(201);
}

#[tokio::test]
async fn failed_update_polls_with_usability_flags_and_failed_provision_without() {
    let (_server, platform, _broker) = serve().await;
    let mut failing = provision_body(ASYNC);
    failing["parameters"] = json!({"fail": "The region is full."});
    platform.provision("bad", &failing, true).await.expect(202);
    let failed = settle(&platform, "/v2/service_instances/bad/last_operation").await;
    assert_eq!(failed.str("state"), "failed");
    assert_eq!(failed.str("description"), "The region is full.");
    assert!(failed.body.get("instance_usable").is_none());
    assert!(failed.body.get("update_repeatable").is_none());

    platform
        .provision("i", &provision_body(ASYNC), true)
        .await
        .expect(202);
    settle(&platform, "/v2/service_instances/i/last_operation").await;
    let update = json!({"service_id": SERVICE, "parameters": {"fail": "Resize failed."}});
    platform.update("i", &update, true).await.expect(202);
    let failed = settle(&platform, "/v2/service_instances/i/last_operation").await;
    assert_eq!(failed.str("state"), "failed");
    assert_eq!(failed.body["instance_usable"], true);
    assert_eq!(failed.body["update_repeatable"], false);
}

#[tokio::test]
async fn disabled_instance_refuses_binds_until_enabled_through_bluemix_v1() {
    let (_server, platform, _broker) = serve().await;
    platform
        .send(Method::GET, "/bluemix_v1/service_instances/nope", None)
        .await
        .expect_error(404, None);
    platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    let disable =
        json!({"enabled": false, "initiator_id": "rc", "reason_code": "IBMCLOUD_ACCT_SUSPEND"});
    platform
        .send(
            Method::PUT,
            "/bluemix_v1/service_instances/i",
            Some(&disable),
        )
        .await
        .expect(200);
    let state = platform
        .send(Method::GET, "/bluemix_v1/service_instances/i", None)
        .await
        .expect(200);
    assert_eq!(state.body["enabled"], false);
    let refused = bind(&platform, "i", "b", &bind_body(SYNC), false)
        .await
        .expect_error(422, None);
    assert!(refused.str("description").contains("disabled"));
    // The data is kept: the instance is still there.
    platform.fetch_instance("i").await.expect(200);
    platform
        .send(
            Method::PUT,
            "/bluemix_v1/service_instances/i",
            Some(&json!({"enabled": true})),
        )
        .await
        .expect(200);
    bind(&platform, "i", "b", &bind_body(SYNC), false)
        .await
        .expect(201);
}

/// The update rules are the broker's: the adapter decides from the stored plan, with or without
/// `previous_values` (osb-core rules.md §10).
#[tokio::test]
async fn patch_without_previous_values_is_checked_against_the_stored_plan() {
    let (_server, platform, broker) = serve().await;
    platform
        .provision("i", &provision_body(SYNC), false)
        .await
        .expect(201);
    // The service is not plan_updateable: a plan change is 422 with a description.
    let change = json!({"service_id": SERVICE, "plan_id": ASYNC});
    let refused = platform
        .update("i", &change, true)
        .await
        .expect_error(422, None);
    assert!(refused.str("description").contains("plan_updateable"));
    // SYNC has no maintenance_info: any version is a conflict.
    let maintenance = json!({"service_id": SERVICE, "maintenance_info": {"version": "1.0.0"}});
    platform
        .update("i", &maintenance, true)
        .await
        .expect_error(422, Some("MaintenanceInfoConflict"));
    // The service does not allow context updates: a context-only PATCH is 422.
    let context_only = json!({
        "service_id": SERVICE,
        "context": {"platform": "ibmcloud", "account_id": "acc", "crn": "crn:v1:bluemix:public:managed:us-south:a/acc::", "name": "renamed"},
    });
    let refused = platform
        .update("i", &context_only, true)
        .await
        .expect_error(422, None);
    assert!(refused.str("description").contains("allow_context_updates"));
    // Nothing was stored or run.
    let fetched = platform.fetch_instance("i").await.expect(200);
    assert_eq!(fetched.str("plan_id"), SYNC);
    assert_eq!(broker.logic().calls("update i"), 0);
    // Naming the current plan is no plan change: accepted.
    let same = json!({"service_id": SERVICE, "plan_id": SYNC, "parameters": {"size": 2}});
    platform.update("i", &same, false).await.expect(200);
    assert_eq!(broker.logic().calls("update i"), 1);
    let fetched = platform.fetch_instance("i").await.expect(200);
    assert_eq!(fetched.str("plan_id"), SYNC);
    assert_eq!(fetched.body["parameters"]["size"], 2);
}
