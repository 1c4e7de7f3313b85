//! The managed adapter's rules, driven through the `ServiceBroker` trait.
#![allow(clippy::unwrap_used, missing_docs)]

mod managed_support;

use std::sync::Arc;
use std::time::Duration;

use managed_support::*;
use osb_core::catalog::{MaintenanceInfo, Plan, Service};
use osb_core::managed::{AfterDelete, DeleteDuringCreate, Managed, MemoryStore, StateStore};
use osb_core::update::PreviousValues;
use osb_core::{
    BindResponse, BindingOperationState, BrokerError, DeprovisionRequest, DeprovisionResponse,
    ErrorKind, Failure, FetchBindingRequest, FetchInstanceRequest, InstanceStateUpdate,
    LastOperation, LastOperationRequest, OperationState, ProvisionResponse, ServiceBroker,
    UnbindRequest, UnbindResponse, UpdateRequest, UpdateResponse,
};
use serde_json::json;

type Broker = Managed<CountingLogic, Arc<MemoryStore>>;

fn broker_with(logic: CountingLogic, clock: Arc<ManualClock>) -> Broker {
    Managed::builder(logic)
        .store(Arc::new(MemoryStore::new()))
        .clock(clock)
        .build()
}

fn broker() -> (Broker, Arc<ManualClock>) {
    let clock = ManualClock::new();
    (broker_with(CountingLogic::new(), clock.clone()), clock)
}

fn kind<T: std::fmt::Debug>(result: Result<T, BrokerError>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

fn token(answer: &ProvisionResponse) -> String {
    match answer {
        ProvisionResponse::Accepted(accepted) => accepted.operation.as_ref().unwrap().to_string(),
        other => panic!("expected 202, got {other:?}"),
    }
}

async fn poll(
    broker: &Broker,
    iid: &str,
    operation: Option<&str>,
) -> Result<LastOperation, BrokerError> {
    let mut request = LastOperationRequest::default();
    request.operation = operation.map(str::to_owned);
    broker.last_operation(iid, request, &ctx(false)).await
}

async fn poll_binding(
    broker: &Broker,
    iid: &str,
    bid: &str,
) -> Result<osb_core::BindingLastOperation, BrokerError> {
    broker
        .binding_last_operation(iid, bid, LastOperationRequest::default(), &ctx(false))
        .await
}

async fn settled(broker: &Broker, iid: &str) -> LastOperation {
    for _ in 0..10_000 {
        let answer = poll(broker, iid, None).await.unwrap();
        if answer.state != OperationState::InProgress {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("operation never finished");
}

fn deprovision_request() -> DeprovisionRequest {
    DeprovisionRequest::new(SERVICE, SYNC)
}

async fn provision_sync(broker: &Broker, iid: &str) {
    let answer = broker
        .provision(iid, provision(SYNC), &ctx(false))
        .await
        .unwrap();
    assert!(matches!(answer, ProvisionResponse::Created(_)));
}

// ---------------------------------------------------------------- provision

#[tokio::test]
async fn provision_new_sync_returns_201_and_calls_create_once() {
    let (broker, _) = broker();
    let answer = broker
        .provision("i", provision(SYNC), &ctx(false))
        .await
        .unwrap();
    let ProvisionResponse::Created(created) = answer else {
        panic!("expected 201")
    };
    assert_eq!(
        created.dashboard_url.as_deref(),
        Some("https://dashboard.example.com/i")
    );
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
    // A synchronously created instance answers `succeeded` when polled.
    assert_eq!(
        poll(&broker, "i", None).await.unwrap().state,
        OperationState::Succeeded
    );
}

#[tokio::test]
async fn provision_identical_after_completion_returns_200_without_creating_again() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let answer = broker
        .provision("i", provision(SYNC), &ctx(true))
        .await
        .unwrap();
    let ProvisionResponse::AlreadyExists(existing) = answer else {
        panic!("expected 200")
    };
    assert_eq!(
        existing.dashboard_url.as_deref(),
        Some("https://dashboard.example.com/i")
    );
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test]
async fn provision_with_different_attributes_returns_409() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let mut other_plan = provision(APP);
    other_plan.plan_id = APP.into();
    assert_eq!(
        kind(broker.provision("i", other_plan, &ctx(false)).await),
        ErrorKind::Conflict
    );
    let mut other_params = provision(SYNC);
    other_params.parameters = params(json!({"size": 2}));
    assert_eq!(
        kind(broker.provision("i", other_params, &ctx(false)).await),
        ErrorKind::Conflict
    );
    let mut other_space = provision(SYNC);
    other_space.space_guid = Some("elsewhere".into());
    assert_eq!(
        kind(broker.provision("i", other_space, &ctx(false)).await),
        ErrorKind::Conflict
    );
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test]
async fn provision_with_only_context_names_changed_is_identical() {
    let (broker, _) = broker();
    let with_name = |name: &str| {
        let mut request = provision(SYNC);
        request.context = serde_json::from_value(json!({
            "platform": "cloudfoundry", "organization_guid": "org", "space_guid": "space",
            "instance_name": name
        }))
        .unwrap();
        request
    };
    broker
        .provision("i", with_name("a"), &ctx(false))
        .await
        .unwrap();
    let answer = broker
        .provision("i", with_name("b"), &ctx(false))
        .await
        .unwrap();
    assert!(matches!(answer, ProvisionResponse::AlreadyExists(_)));
    let mut moved = with_name("a");
    moved.context = serde_json::from_value(
        json!({"platform": "cloudfoundry", "organization_guid": "org", "space_guid": "other"}),
    )
    .unwrap();
    assert_eq!(
        kind(broker.provision("i", moved, &ctx(false)).await),
        ErrorKind::Conflict
    );
}

#[tokio::test]
async fn provision_async_plan_without_accepts_incomplete_returns_422_async_required() {
    let (broker, _) = broker();
    let result = broker.provision("i", provision(ASYNC), &ctx(false)).await;
    assert_eq!(kind(result), ErrorKind::AsyncRequired);
    assert!(broker.logic().calls().create_instance.is_empty());
    // Nothing was recorded: the instance is still unknown.
    assert_eq!(kind(poll(&broker, "i", None).await), ErrorKind::NotFound);
}

#[tokio::test]
async fn provision_async_returns_202_with_dashboard_and_polls_to_succeeded() {
    let (broker, _) = broker();
    broker.logic().close();
    let answer = broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    let ProvisionResponse::Accepted(accepted) = &answer else {
        panic!("expected 202")
    };
    assert_eq!(
        accepted.dashboard_url.as_deref(),
        Some("https://dashboard.example.com/i")
    );
    let op = token(&answer);
    let polled = poll(&broker, "i", Some(&op)).await.unwrap();
    assert_eq!(polled.state, OperationState::InProgress);
    assert_eq!(polled.retry_after, Some(Duration::from_secs(5)));
    broker.logic().open();
    let done = settled(&broker, "i").await;
    assert_eq!(done.state, OperationState::Succeeded);
    assert_eq!(done.retry_after, None);
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test]
async fn provision_identical_while_in_progress_returns_202_with_the_same_operation() {
    let (broker, _) = broker();
    broker.logic().close();
    let first = token(
        &broker
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    let again = token(
        &broker
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    assert_eq!(first, again);
    // Without accepts_incomplete the spec allows no 202.
    let result = broker.provision("i", provision(ASYNC), &ctx(false)).await;
    assert_eq!(kind(result), ErrorKind::AsyncRequired);
    broker.logic().open();
    settled(&broker, "i").await;
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test]
async fn failed_async_create_reports_failed_and_orphan_mitigation_delete_succeeds() {
    let (broker, _) = broker();
    let mut request = provision(ASYNC);
    request.parameters = params(json!({"fail": "The region is full."}));
    broker
        .provision("i", request.clone(), &ctx(true))
        .await
        .unwrap();
    let done = settled(&broker, "i").await;
    assert_eq!(done.state, OperationState::Failed(Failure::Provision));
    assert_eq!(done.description.as_deref(), Some("The region is full."));
    // The same request again does not create twice.
    assert_eq!(
        kind(broker.provision("i", request, &ctx(true)).await),
        ErrorKind::UnprocessableEntity
    );
    // Orphan mitigation: the platform deletes; the logic cleans up.
    let deleted = broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    assert!(matches!(deleted, DeprovisionResponse::Accepted { .. }));
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
    assert_eq!(broker.logic().calls().delete_instance["i"], 1);
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test]
async fn failed_sync_create_answers_the_logic_error_and_leaves_state_for_orphan_mitigation() {
    let (broker, _) = broker();
    let mut request = provision(SYNC);
    request.parameters = params(json!({"fail": "Quota exceeded."}));
    let err = broker
        .provision("i", request, &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 500);
    assert_eq!(err.description(), "Quota exceeded.");
    assert!(err.instance_usable().is_none() && err.update_repeatable().is_none());
    let deleted = broker
        .deprovision("i", deprovision_request(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(deleted, DeprovisionResponse::Deleted);
}

/// rules.md §3: after a 4xx nothing changed. A create the logic refused made nothing, so the
/// platform's corrected retry is a new provision, not a 409 (nor a 422 for an identical one).
#[tokio::test]
async fn sync_create_refused_by_the_logic_leaves_no_record() {
    let (broker, _) = broker();
    let store = broker.store().clone();
    let mut refused = provision(SYNC);
    refused.parameters = params(json!({"refuse": "size_gb must be at most 100."}));
    for _ in 0..2 {
        let err = broker
            .provision("i", refused.clone(), &ctx(false))
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        assert_eq!(err.description(), "size_gb must be at most 100.");
        assert!(store.load_instance("i").await.unwrap().is_none());
    }
    let answer = broker.provision("i", provision(SYNC), &ctx(false)).await;
    assert!(matches!(answer.unwrap(), ProvisionResponse::Created(_)));
}

#[tokio::test]
async fn sync_create_refused_over_a_tombstone_brings_the_tombstone_back() {
    let (broker, _) = broker();
    let store = broker.store().clone();
    provision_sync(&broker, "i").await;
    let deleted = broker
        .deprovision("i", deprovision_request(), &ctx(false))
        .await;
    assert_eq!(deleted.unwrap(), DeprovisionResponse::Deleted);
    let tombstone = store.load_instance("i").await.unwrap().unwrap();
    assert!(tombstone.record.lifecycle.is_deleted());
    let mut refused = provision(SYNC);
    refused.parameters = params(json!({"refuse": "No."}));
    let err = broker
        .provision("i", refused, &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
    let after = store.load_instance("i").await.unwrap().unwrap();
    assert_eq!(after.record, tombstone.record, "the tombstone is as it was");
}

#[tokio::test]
async fn sync_bind_refused_by_the_logic_leaves_no_binding_and_no_claim() {
    let (broker, _) = broker();
    let store = broker.store().clone();
    provision_sync(&broker, "i").await;
    let mut refused = bind(SYNC);
    refused.parameters = params(json!({"refuse": "No such role."}));
    let err = broker
        .bind("i", "b", refused, &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
    assert!(store.load_binding("i", "b").await.unwrap().is_none());
    let instance = store.load_instance("i").await.unwrap().unwrap();
    assert!(instance.record.binding_operations.is_empty());
    let answer = broker.bind("i", "b", bind(SYNC), &ctx(false)).await;
    assert!(matches!(answer.unwrap(), BindResponse::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_provisions_create_exactly_once() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    broker.logic().close();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            broker.provision("i", provision(ASYNC), &ctx(true)).await
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(token(&task.await.unwrap().unwrap()));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every 202 carries the same operation");
    broker.logic().open();
    settled(&broker, "i").await;
    let answer = broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    assert!(matches!(answer, ProvisionResponse::AlreadyExists(_)));
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_sync_provisions_give_one_201_and_202s_or_200s() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            broker.provision("i", provision(SYNC), &ctx(true)).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            ProvisionResponse::Created(_) => created += 1,
            ProvisionResponse::Accepted(_) | ProvisionResponse::AlreadyExists(_) => {}
        }
    }
    assert_eq!(created, 1);
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_provisions_with_different_plans_give_one_success_and_409s() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    broker.logic().close();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            let mut request = provision(ASYNC);
            request.parameters = params(json!({"variant": n}));
            broker.provision("i", request, &ctx(true)).await
        }));
    }
    let (mut accepted, mut conflicts) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(ProvisionResponse::Accepted(_)) => accepted += 1,
            Err(err) if err.kind() == ErrorKind::Conflict => conflicts += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((accepted, conflicts), (1, 11));
    broker.logic().open();
    settled(&broker, "i").await;
    assert_eq!(broker.logic().calls().create_instance["i"], 1);
}

// ---------------------------------------------------------------- update and fetch

#[tokio::test]
async fn update_of_unknown_instance_returns_404() {
    let (broker, _) = broker();
    let result = broker
        .update("nope", UpdateRequest::new(SERVICE), &ctx(true))
        .await;
    assert_eq!(kind(result), ErrorKind::NotFound);
}

#[tokio::test]
async fn sync_update_returns_200_and_fetch_shows_the_new_plan_and_parameters() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let mut request = UpdateRequest::new(SERVICE);
    request.plan_id = Some(APP.into());
    request.parameters = params(json!({"size": 3}));
    let answer = broker.update("i", request, &ctx(false)).await.unwrap();
    assert!(matches!(answer, UpdateResponse::Updated(_)));
    let fetched = broker
        .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(fetched.plan_id.as_deref(), Some(APP));
    assert_eq!(fetched.service_id.as_deref(), Some(SERVICE));
    assert_eq!(fetched.parameters, params(json!({"size": 3})));
}

#[tokio::test]
async fn async_update_resent_returns_202_same_operation_and_a_different_one_422() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    broker.logic().close();
    let mut request = UpdateRequest::new(SERVICE);
    request.parameters = params(json!({"size": 2}));
    assert_eq!(
        kind(broker.update("i", request.clone(), &ctx(false)).await),
        ErrorKind::AsyncRequired
    );
    let UpdateResponse::Accepted(first) = broker
        .update("i", request.clone(), &ctx(true))
        .await
        .unwrap()
    else {
        panic!("expected 202")
    };
    let UpdateResponse::Accepted(again) = broker.update("i", request, &ctx(true)).await.unwrap()
    else {
        panic!("expected 202")
    };
    assert_eq!(first.operation, again.operation);
    let mut other = UpdateRequest::new(SERVICE);
    other.parameters = params(json!({"size": 9}));
    assert_eq!(
        kind(broker.update("i", other, &ctx(true)).await),
        ErrorKind::ConcurrencyError
    );
    // A fetch while an update runs: 422 ConcurrencyError (spec.md "Fetching a Service Instance").
    let fetched = broker
        .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
        .await;
    assert_eq!(kind(fetched), ErrorKind::ConcurrencyError);
    broker.logic().open();
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
    assert_eq!(broker.logic().calls().update_instance["i"], 1);
}

#[tokio::test]
async fn fetch_instance_while_async_create_runs_returns_404_then_200() {
    let (broker, _) = broker();
    broker.logic().close();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    let fetched = broker
        .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
        .await;
    assert_eq!(kind(fetched), ErrorKind::NotFound);
    broker.logic().open();
    settled(&broker, "i").await;
    let fetched = broker
        .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(
        fetched.dashboard_url.as_deref(),
        Some("https://dashboard.example.com/i")
    );
}

#[tokio::test]
async fn failed_update_reports_instance_usable_and_update_repeatable() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    let mut request = UpdateRequest::new(SERVICE);
    request.parameters = params(json!({"fail": "Resize failed."}));
    broker
        .update("i", request.clone(), &ctx(true))
        .await
        .unwrap();
    let done = settled(&broker, "i").await;
    assert_eq!(
        done.state,
        OperationState::Failed(Failure::Update {
            instance_usable: Some(true),
            update_repeatable: Some(false)
        })
    );
    assert_eq!(done.description.as_deref(), Some("Resize failed."));
    // Synchronously the flags travel in the error.
    let (sync_broker, _) = self::broker();
    provision_sync(&sync_broker, "j").await;
    let err = sync_broker
        .update("j", request, &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(
        (err.instance_usable(), err.update_repeatable()),
        (Some(true), Some(false))
    );
    // The failed update left the instance usable and idle.
    assert!(
        sync_broker
            .fetch_instance("j", FetchInstanceRequest::default(), &ctx(false))
            .await
            .is_ok()
    );
}

// ---------------------------------------------------------------- bindings

#[tokio::test]
async fn bind_on_unknown_instance_returns_404() {
    let (broker, _) = broker();
    assert_eq!(
        kind(broker.bind("nope", "b", bind(SYNC), &ctx(false)).await),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn rebind_identical_returns_200_with_the_stored_credentials() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let BindResponse::Created(first) = broker
        .bind("i", "b", bind(SYNC), &ctx(false))
        .await
        .unwrap()
    else {
        panic!("expected 201")
    };
    assert!(first.credentials.is_some());
    let BindResponse::AlreadyExists(again) = broker
        .bind("i", "b", bind(SYNC), &ctx(false))
        .await
        .unwrap()
    else {
        panic!("expected 200")
    };
    assert_eq!(again, first);
    assert_eq!(broker.logic().calls().create_binding["i/b"], 1);
}

#[tokio::test]
async fn bind_with_different_attributes_returns_409() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    broker
        .bind("i", "b", bind(SYNC), &ctx(false))
        .await
        .unwrap();
    let mut other_app = bind(SYNC);
    other_app.app_guid = Some("app-2".into());
    assert_eq!(
        kind(broker.bind("i", "b", other_app, &ctx(false)).await),
        ErrorKind::Conflict
    );
    // A swapped plan is a conflict too: 409 beats 400.
    assert_eq!(
        kind(broker.bind("i", "b", bind(APP), &ctx(false)).await),
        ErrorKind::Conflict
    );
}

#[tokio::test]
async fn async_bind_fetch_is_404_while_in_progress_and_200_with_credentials_after() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    broker.logic().close();
    assert_eq!(
        kind(broker.bind("i", "b", bind(ASYNC), &ctx(false)).await),
        ErrorKind::AsyncRequired
    );
    let BindResponse::Accepted(accepted) = broker
        .bind("i", "b", bind(ASYNC), &ctx(true))
        .await
        .unwrap()
    else {
        panic!("expected 202")
    };
    let BindResponse::Accepted(again) = broker
        .bind("i", "b", bind(ASYNC), &ctx(true))
        .await
        .unwrap()
    else {
        panic!("expected 202")
    };
    assert_eq!(accepted.operation, again.operation);
    let fetched = broker
        .fetch_binding("i", "b", FetchBindingRequest::default(), &ctx(false))
        .await;
    assert_eq!(kind(fetched), ErrorKind::NotFound);
    assert_eq!(
        poll_binding(&broker, "i", "b").await.unwrap().state,
        BindingOperationState::InProgress
    );
    broker.logic().open();
    eventually(|| broker.logic().calls().create_binding.contains_key("i/b")).await;
    for _ in 0..10_000 {
        if poll_binding(&broker, "i", "b").await.unwrap().state == BindingOperationState::Succeeded
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let fetched = broker
        .fetch_binding("i", "b", FetchBindingRequest::default(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(fetched.binding.credentials.unwrap()["password"], "secret-b");
}

#[tokio::test]
async fn bind_during_instance_update_returns_422_concurrency_error() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    broker.logic().close();
    broker
        .update("i", UpdateRequest::new(SERVICE), &ctx(true))
        .await
        .unwrap();
    assert_eq!(
        kind(broker.bind("i", "b", bind(SYNC), &ctx(true)).await),
        ErrorKind::ConcurrencyError
    );
    broker.logic().open();
}

#[tokio::test]
async fn bind_without_app_for_a_plan_that_requires_one_returns_422_requires_app() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let mut request = bind(APP);
    request.app_guid = None;
    assert_eq!(
        kind(broker.bind("i", "b", request, &ctx(false)).await),
        ErrorKind::RequiresApp
    );
    assert!(broker.bind("i", "b", bind(APP), &ctx(false)).await.is_ok());
}

#[tokio::test]
async fn rotation_needs_an_existing_predecessor() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let mut rotated = bind(SYNC);
    rotated.predecessor_binding_id = Some("old".into());
    assert_eq!(
        kind(broker.bind("i", "new", rotated.clone(), &ctx(false)).await),
        ErrorKind::BadRequest
    );
    broker
        .bind("i", "old", bind(SYNC), &ctx(false))
        .await
        .unwrap();
    assert!(matches!(
        broker.bind("i", "new", rotated, &ctx(false)).await.unwrap(),
        BindResponse::Created(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprovision_while_a_bind_runs_returns_422_concurrency_error() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    provision_sync(&broker, "i").await;
    broker.logic().close();
    let binder = broker.clone();
    let bind = tokio::spawn(async move { binder.bind("i", "b", bind(SYNC), &ctx(false)).await });
    eventually(|| broker.logic().calls().create_binding.contains_key("i/b")).await;
    let result = broker
        .deprovision("i", deprovision_request(), &ctx(false))
        .await;
    assert_eq!(kind(result), ErrorKind::ConcurrencyError);
    broker.logic().open();
    assert!(matches!(
        bind.await.unwrap().unwrap(),
        BindResponse::Created(_)
    ));
    assert!(broker.logic().calls().delete_instance.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_while_a_deprovision_runs_returns_422_concurrency_error() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    provision_sync(&broker, "i").await;
    broker.logic().close();
    let deleter = broker.clone();
    let delete = tokio::spawn(async move {
        deleter
            .deprovision("i", deprovision_request(), &ctx(false))
            .await
    });
    eventually(|| broker.logic().calls().delete_instance.contains_key("i")).await;
    assert_eq!(
        kind(broker.bind("i", "b", bind(SYNC), &ctx(false)).await),
        ErrorKind::ConcurrencyError
    );
    broker.logic().open();
    assert_eq!(delete.await.unwrap().unwrap(), DeprovisionResponse::Deleted);
    assert!(broker.logic().calls().create_binding.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_bind_and_deprovision_never_leave_a_binding_on_a_deleted_instance() {
    for round in 0..20 {
        let (broker, _) = broker();
        let broker = Arc::new(broker);
        let iid = format!("i{round}");
        provision_sync(&broker, &iid).await;
        let (b1, b2) = (broker.clone(), broker.clone());
        let (i1, i2) = (iid.clone(), iid.clone());
        let bind = tokio::spawn(async move { b1.bind(&i1, "b", bind(SYNC), &ctx(false)).await });
        let delete = tokio::spawn(async move {
            b2.deprovision(&i2, deprovision_request(), &ctx(false))
                .await
        });
        let (bind, delete) = (bind.await.unwrap(), delete.await.unwrap());
        match (&bind, &delete) {
            // The bind came first and finished, then the delete (platforms unbind first, but the
            // spec leaves this case to the broker).
            (Ok(_), Ok(_)) => {}
            (Err(e), Ok(_)) => assert!(
                matches!(e.kind(), ErrorKind::ConcurrencyError | ErrorKind::NotFound),
                "{e:?}"
            ),
            (Ok(_), Err(e)) => assert_eq!(e.kind(), ErrorKind::ConcurrencyError),
            (Err(a), Err(b)) => panic!("both failed: {a:?} {b:?}"),
        }
        if delete.is_ok() {
            let fetched = broker
                .fetch_binding(&iid, "b", FetchBindingRequest::default(), &ctx(false))
                .await;
            assert_eq!(kind(fetched), ErrorKind::NotFound);
        }
    }
}

#[tokio::test]
async fn unbind_during_async_bind_halts_it_and_the_bind_reports_failed() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    broker.logic().close();
    broker
        .bind("i", "b", bind(ASYNC), &ctx(true))
        .await
        .unwrap();
    eventually(|| broker.logic().calls().create_binding.contains_key("i/b")).await;
    broker.logic().open();
    let unbound = broker
        .unbind("i", "b", UnbindRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    let UnbindResponse::Accepted {
        operation: Some(unbind_op),
    } = unbound
    else {
        panic!("expected 202")
    };
    let _ = unbind_op;
    for _ in 0..10_000 {
        if poll_binding(&broker, "i", "b").await.unwrap().state != BindingOperationState::InProgress
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        poll_binding(&broker, "i", "b").await.unwrap().state,
        BindingOperationState::Succeeded
    );
    eventually(|| broker.logic().calls().delete_binding.contains_key("i/b")).await;
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_of_unknown_resources_returns_410() {
    let (broker, _) = broker();
    assert_eq!(
        kind(
            broker
                .deprovision("nope", deprovision_request(), &ctx(true))
                .await
        ),
        ErrorKind::Gone
    );
    provision_sync(&broker, "i").await;
    let result = broker
        .unbind("i", "nope", UnbindRequest::new(SERVICE, SYNC), &ctx(true))
        .await;
    assert_eq!(kind(result), ErrorKind::Gone);
    let result = broker
        .unbind(
            "nope",
            "nope",
            UnbindRequest::new(SERVICE, SYNC),
            &ctx(true),
        )
        .await;
    assert_eq!(kind(result), ErrorKind::Gone);
}

#[tokio::test]
async fn sync_deprovision_during_async_create_halts_it_and_the_create_reports_failed() {
    let (broker, _) = broker();
    broker.logic().close();
    let create = token(
        &broker
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    eventually(|| broker.logic().calls().create_instance.contains_key("i")).await;
    broker.logic().open();
    // The delete of an async plan needs accepts_incomplete; it is accepted and halts the create.
    assert_eq!(
        kind(
            broker
                .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(false))
                .await
        ),
        ErrorKind::AsyncRequired
    );
    let deleted = broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    let DeprovisionResponse::Accepted {
        operation: Some(delete),
    } = deleted
    else {
        panic!("expected 202")
    };
    let halted = poll(&broker, "i", Some(&create)).await.unwrap();
    assert_eq!(halted.state, OperationState::Failed(Failure::Provision));
    assert!(halted.description.is_some());
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
    assert_eq!(
        poll(&broker, "i", Some(delete.as_str()))
            .await
            .unwrap()
            .state,
        OperationState::Succeeded
    );
    assert_eq!(broker.logic().calls().delete_instance["i"], 1);
}

#[tokio::test]
async fn delete_during_create_is_refused_with_422_when_so_configured() {
    let clock = ManualClock::new();
    let broker = Managed::builder(CountingLogic::new())
        .store(Arc::new(MemoryStore::new()))
        .clock(clock)
        .delete_during_create(DeleteDuringCreate::Refuse)
        .build();
    broker.logic().close();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    let result = broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await;
    assert_eq!(kind(result), ErrorKind::ConcurrencyError);
    broker.logic().open();
}

#[tokio::test]
async fn async_deprovision_resent_returns_202_and_after_completion_polls_succeeded_then_410() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    broker.logic().close();
    let request = DeprovisionRequest::new(SERVICE, ASYNC);
    let first = broker
        .deprovision("i", request.clone(), &ctx(true))
        .await
        .unwrap();
    let again = broker
        .deprovision("i", request.clone(), &ctx(true))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        kind(broker.deprovision("i", request.clone(), &ctx(false)).await),
        ErrorKind::AsyncRequired
    );
    broker.logic().open();
    // Default: `succeeded` on every later poll while the tombstone lives.
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
    assert_eq!(
        poll(&broker, "i", None).await.unwrap().state,
        OperationState::Succeeded
    );
    assert_eq!(
        kind(broker.deprovision("i", request, &ctx(true)).await),
        ErrorKind::Gone
    );
    // The id can be provisioned again.
    broker
        .provision("i", provision(SYNC), &ctx(false))
        .await
        .unwrap();
    assert_eq!(broker.logic().calls().create_instance["i"], 2);
}

#[tokio::test]
async fn after_delete_gone_setting_answers_410_on_poll() {
    let broker = Managed::builder(CountingLogic::new())
        .store(Arc::new(MemoryStore::new()))
        .clock(ManualClock::new())
        .after_delete(AfterDelete::Gone)
        .build();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    let deleted = broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    let DeprovisionResponse::Accepted {
        operation: Some(delete),
    } = deleted
    else {
        panic!("expected 202")
    };
    for _ in 0..10_000 {
        match poll(&broker, "i", Some(delete.as_str())).await {
            Ok(answer) if answer.state == OperationState::InProgress => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(answer) => panic!("expected 410, got {answer:?}"),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Gone);
                return;
            }
        }
    }
    panic!("the delete never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_deprovision_during_sync_create_halts_it_and_polls_show_the_create_failed() {
    let (broker, _) = broker();
    let broker = Arc::new(broker);
    broker.logic().close();
    let creator = broker.clone();
    let create =
        tokio::spawn(async move { creator.provision("i", provision(SYNC), &ctx(false)).await });
    eventually(|| broker.logic().calls().create_instance.contains_key("i")).await;
    let deleter = broker.clone();
    let delete = tokio::spawn(async move {
        deleter
            .deprovision("i", deprovision_request(), &ctx(false))
            .await
    });
    // The halted create answers at once, before the delete's work may go on.
    assert_eq!(kind(create.await.unwrap()), ErrorKind::ConcurrencyError);
    broker.logic().open();
    assert_eq!(delete.await.unwrap().unwrap(), DeprovisionResponse::Deleted);
    // spec.md "Deprovisioning": after a sync delete, last_operation shows the provision failed.
    let answer = poll(&broker, "i", None).await.unwrap();
    assert_eq!(answer.state, OperationState::Failed(Failure::Provision));
    assert_eq!(broker.logic().calls().delete_instance["i"], 1);
}

#[tokio::test]
async fn fetch_binding_while_an_unbind_runs_returns_404() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    broker
        .bind("i", "b", bind(ASYNC), &ctx(true))
        .await
        .unwrap();
    for _ in 0..10_000 {
        if poll_binding(&broker, "i", "b").await.unwrap().state == BindingOperationState::Succeeded
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        broker
            .fetch_binding("i", "b", FetchBindingRequest::default(), &ctx(false))
            .await
            .is_ok()
    );
    broker.logic().close();
    broker
        .unbind("i", "b", UnbindRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    let fetched = broker
        .fetch_binding("i", "b", FetchBindingRequest::default(), &ctx(false))
        .await;
    assert_eq!(kind(fetched), ErrorKind::NotFound);
    // A second unbind while the first runs: 202 with the same operation; a bind: 422.
    assert!(matches!(
        broker
            .unbind("i", "b", UnbindRequest::new(SERVICE, ASYNC), &ctx(true))
            .await
            .unwrap(),
        UnbindResponse::Accepted { .. }
    ));
    assert_eq!(
        kind(broker.bind("i", "b", bind(ASYNC), &ctx(true)).await),
        ErrorKind::ConcurrencyError
    );
    broker.logic().open();
}

#[tokio::test]
async fn tombstones_answer_polls_until_their_retention_ends() {
    let (broker, clock) = broker();
    provision_sync(&broker, "i").await;
    broker
        .deprovision("i", deprovision_request(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(
        poll(&broker, "i", None).await.unwrap().state,
        OperationState::Succeeded
    );
    clock.advance(Duration::from_secs(24 * 60 * 60));
    assert_eq!(kind(poll(&broker, "i", None).await), ErrorKind::NotFound);
    assert_eq!(broker.purge_tombstones().await.unwrap(), 1);
    assert!(
        broker
            .store()
            .list_instances(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn last_operation_with_an_unknown_or_missing_token_answers_for_the_latest_operation() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let mut request = UpdateRequest::new(SERVICE);
    request.parameters = params(json!({"fail": "No."}));
    let _ = broker.update("i", request, &ctx(false)).await;
    for operation in [None, Some("provision"), Some("not-a-token")] {
        let answer = poll(&broker, "i", operation).await.unwrap();
        assert!(
            matches!(answer.state, OperationState::Failed(Failure::Update { .. })),
            "{operation:?}"
        );
    }
}

#[tokio::test]
async fn failed_async_deprovision_reports_instance_usable_and_keeps_the_instance() {
    let (broker, _) = broker();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    settled(&broker, "i").await;
    *broker.logic().fail_delete.lock().unwrap() = true;
    broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    let done = settled(&broker, "i").await;
    assert_eq!(
        done.state,
        OperationState::Failed(Failure::Deprovision {
            instance_usable: Some(true)
        })
    );
    assert!(
        broker
            .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
            .await
            .is_ok()
    );
}

// ---------------------------------------------------------------- deadlines and restarts

#[tokio::test]
async fn operation_past_maximum_polling_duration_is_marked_failed() {
    let (broker, clock) = broker();
    broker.logic().close();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    assert_eq!(
        poll(&broker, "i", None).await.unwrap().state,
        OperationState::InProgress
    );
    clock.advance(Duration::from_secs(61));
    let answer = poll(&broker, "i", None).await.unwrap();
    assert_eq!(answer.state, OperationState::Failed(Failure::Provision));
    assert!(
        answer
            .description
            .unwrap()
            .contains("maximum polling duration")
    );
    broker.logic().open();
    // Orphan mitigation works afterwards.
    broker
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
}

fn replica(logic: CountingLogic, store: &Arc<MemoryStore>, clock: &Arc<ManualClock>) -> Broker {
    Managed::builder(logic)
        .store(store.clone())
        .clock(clock.clone())
        .lease(Duration::from_secs(10), Duration::from_secs(3))
        .build()
}

#[tokio::test]
async fn restarted_broker_fails_an_operation_whose_owner_died() {
    let clock = ManualClock::new();
    let store = Arc::new(MemoryStore::new());
    let first = replica(CountingLogic::new(), &store, &clock);
    first.logic().close();
    let op = token(
        &first
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    eventually(|| first.logic().calls().create_instance.contains_key("i")).await;
    // The process dies: its tasks stop, its lease is left behind.
    first.shutdown().await;
    assert_eq!(first.running_tasks(), 0);
    drop(first);
    let second = replica(CountingLogic::new(), &store, &clock);
    // Within the lease the operation still counts as running elsewhere.
    assert_eq!(
        poll(&second, "i", Some(&op)).await.unwrap().state,
        OperationState::InProgress
    );
    clock.advance(Duration::from_secs(11));
    assert_eq!(second.recover().await.unwrap(), 1);
    let answer = poll(&second, "i", Some(&op)).await.unwrap();
    assert_eq!(answer.state, OperationState::Failed(Failure::Provision));
    assert!(answer.description.unwrap().contains("broker stopped"));
    assert!(second.logic().calls().create_instance.is_empty());
    // The repeated provision does not create twice; orphan mitigation works.
    assert_eq!(
        kind(second.provision("i", provision(ASYNC), &ctx(true)).await),
        ErrorKind::UnprocessableEntity
    );
    second
        .deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    assert_eq!(settled(&second, "i").await.state, OperationState::Succeeded);
}

#[tokio::test]
async fn start_settles_what_an_earlier_run_left_then_runs_the_maintenance() {
    let clock = ManualClock::new();
    let store = Arc::new(MemoryStore::new());
    let first = replica(CountingLogic::new(), &store, &clock);
    first.logic().close();
    first
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    eventually(|| first.logic().calls().create_instance.contains_key("i")).await;
    first.shutdown().await;
    drop(first);
    clock.advance(Duration::from_secs(11));
    let second = replica(CountingLogic::new(), &store, &clock);
    assert_eq!(second.start(Duration::from_secs(3600)).await.unwrap(), 1);
    assert_eq!(second.running_tasks(), 1, "the maintenance task");
    assert_eq!(
        settled(&second, "i").await.state,
        OperationState::Failed(Failure::Provision)
    );
    second.shutdown().await;
    assert_eq!(second.running_tasks(), 0);
}

#[tokio::test]
async fn restarted_broker_resumes_an_idempotent_operation_whose_owner_died() {
    let clock = ManualClock::new();
    let store = Arc::new(MemoryStore::new());
    let first = replica(CountingLogic::with_idempotent(true), &store, &clock);
    first.logic().close();
    let op = token(
        &first
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    eventually(|| first.logic().calls().create_instance.contains_key("i")).await;
    first.shutdown().await;
    drop(first);
    let second = replica(CountingLogic::with_idempotent(true), &store, &clock);
    clock.advance(Duration::from_secs(11));
    // The poll takes the operation over and runs it again here.
    assert_eq!(
        poll(&second, "i", Some(&op)).await.unwrap().state,
        OperationState::InProgress
    );
    assert_eq!(settled(&second, "i").await.state, OperationState::Succeeded);
    assert_eq!(second.logic().calls().create_instance["i"], 1);
    assert!(matches!(
        second
            .provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
        ProvisionResponse::AlreadyExists(_)
    ));
}

#[tokio::test]
async fn a_live_lease_of_another_replica_is_respected() {
    let clock = ManualClock::new();
    let store = Arc::new(MemoryStore::new());
    let first = replica(CountingLogic::with_idempotent(true), &store, &clock);
    first.logic().close();
    first
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    eventually(|| first.logic().calls().create_instance.contains_key("i")).await;
    let second = replica(CountingLogic::with_idempotent(true), &store, &clock);
    clock.advance(Duration::from_secs(9));
    assert_eq!(
        poll(&second, "i", None).await.unwrap().state,
        OperationState::InProgress
    );
    assert_eq!(second.recover().await.unwrap(), 0);
    assert!(second.logic().calls().create_instance.is_empty());
    first.logic().open();
    assert_eq!(settled(&second, "i").await.state, OperationState::Succeeded);
}

// ---------------------------------------------------------------- bluemix_v1

#[tokio::test]
async fn disabled_instance_refuses_binds_and_updates_and_is_enabled_again() {
    let (broker, _) = broker();
    provision_sync(&broker, "i").await;
    let states = broker.instance_state().unwrap();
    let mut disable = InstanceStateUpdate::new(false);
    disable.reason_code = Some("IBMCLOUD_ACCT_SUSPEND".into());
    let state = states.set_state("i", disable, &ctx(false)).await.unwrap();
    assert!(!state.enabled);
    assert!(!states.get_state("i", &ctx(false)).await.unwrap().enabled);
    assert_eq!(broker.logic().calls().on_disable, 1);
    let err = broker
        .bind("i", "b", bind(SYNC), &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 422);
    assert!(
        err.description().contains("disabled")
            && err.description().contains("IBMCLOUD_ACCT_SUSPEND")
    );
    assert_eq!(
        kind(
            broker
                .update("i", UpdateRequest::new(SERVICE), &ctx(false))
                .await
        ),
        ErrorKind::UnprocessableEntity
    );
    // Data is kept: the instance is still there.
    assert!(
        broker
            .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
            .await
            .is_ok()
    );
    states
        .set_state("i", InstanceStateUpdate::new(true), &ctx(false))
        .await
        .unwrap();
    assert_eq!(broker.logic().calls().on_enable, 1);
    assert!(broker.bind("i", "b", bind(SYNC), &ctx(false)).await.is_ok());
}

#[tokio::test]
async fn instance_state_of_unknown_instance_returns_404() {
    let (broker, _) = broker();
    let states = broker.instance_state().unwrap();
    assert_eq!(
        kind(states.get_state("nope", &ctx(false)).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            states
                .set_state("nope", InstanceStateUpdate::new(false), &ctx(false))
                .await
        ),
        ErrorKind::NotFound
    );
}

// ---------------------------------------------------------------- stores and housekeeping

#[tokio::test]
async fn a_trait_object_store_serves_as_the_state_store() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let broker = Managed::builder(CountingLogic::new())
        .store(store.clone())
        .build();
    broker
        .provision("i", provision(SYNC), &ctx(false))
        .await
        .unwrap();
    assert!(store.load_instance("i").await.unwrap().is_some());
}

#[tokio::test]
async fn maintenance_purges_expired_tombstones() {
    let (broker, clock) = broker();
    provision_sync(&broker, "i").await;
    broker
        .deprovision("i", deprovision_request(), &ctx(false))
        .await
        .unwrap();
    broker.spawn_maintenance(Duration::from_millis(1));
    assert_eq!(broker.running_tasks(), 1);
    clock.advance(Duration::from_secs(24 * 60 * 60 + 1));
    for _ in 0..10_000 {
        if broker
            .store()
            .list_instances(None, 10)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        broker
            .store()
            .list_instances(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    broker.shutdown().await;
    assert_eq!(broker.running_tasks(), 0);
}

#[tokio::test]
async fn records_never_show_parameters_or_credentials_in_debug_output() {
    let (broker, _) = broker();
    let mut request = provision(SYNC);
    request.parameters = params(json!({"admin_password": "hunter2"}));
    broker.provision("i", request, &ctx(false)).await.unwrap();
    let mut bind_request = bind(SYNC);
    bind_request.parameters = params(json!({"token": "tok-123"}));
    broker
        .bind("i", "b", bind_request, &ctx(false))
        .await
        .unwrap();
    let instance = broker.store().load_instance("i").await.unwrap().unwrap();
    let binding = broker
        .store()
        .load_binding("i", "b")
        .await
        .unwrap()
        .unwrap();
    let debug = format!("{instance:?} {binding:?} {broker:?}");
    for secret in ["hunter2", "tok-123", "secret-b"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    // The store keeps the credentials: a re-bind's 200 needs them.
    assert_eq!(
        binding.record.binding.unwrap().credentials.unwrap()["password"],
        "secret-b"
    );
}

#[test]
#[should_panic(expected = "lease renewal")]
fn lease_renewal_must_be_shorter_than_the_lease() {
    let _ = Managed::builder(CountingLogic::new())
        .lease(Duration::from_secs(10), Duration::from_secs(10));
}

// ---------------------------------------------------------------- replicas sharing a store

fn fast_replica(store: &Arc<MemoryStore>, clock: &Arc<ManualClock>) -> Broker {
    Managed::builder(CountingLogic::new())
        .store(store.clone())
        .clock(clock.clone())
        .lease(Duration::from_secs(10), Duration::from_millis(20))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_provisions_across_two_replicas_create_once() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let replicas = [
        Arc::new(fast_replica(&store, &clock)),
        Arc::new(fast_replica(&store, &clock)),
    ];
    let mut tasks = Vec::new();
    for n in 0..16 {
        let replica = replicas[n % 2].clone();
        tasks.push(tokio::spawn(async move {
            replica.provision("i", provision(SYNC), &ctx(true)).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        if let ProvisionResponse::Created(_) = task.await.unwrap().unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let calls: usize = replicas
        .iter()
        .map(|r| {
            r.logic()
                .calls()
                .create_instance
                .get("i")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_on_one_replica_halts_a_create_running_on_another() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let (a, b) = (fast_replica(&store, &clock), fast_replica(&store, &clock));
    a.logic().close();
    let create = token(
        &a.provision("i", provision(ASYNC), &ctx(true))
            .await
            .unwrap(),
    );
    eventually(|| a.logic().calls().create_instance.contains_key("i")).await;
    b.deprovision("i", DeprovisionRequest::new(SERVICE, ASYNC), &ctx(true))
        .await
        .unwrap();
    assert_eq!(settled(&b, "i").await.state, OperationState::Succeeded);
    // A notices at its next lease renewal and drops the work, though its gate never opened.
    for _ in 0..10_000 {
        if a.running_tasks() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(a.running_tasks(), 0);
    let halted = poll(&a, "i", Some(&create)).await.unwrap();
    assert_eq!(halted.state, OperationState::Failed(Failure::Provision));
    assert_eq!(b.logic().calls().delete_instance["i"], 1);
    a.logic().open();
}

// ---------------------------------------------------------------- update and bind against the catalog
//
// osb-tower checks plan changes and maintenance_info only when `previous_values` names the
// current plan; these requests send none, so the adapter decides (rules.md §10, §11.1).

/// `plan_updateable: false` (the service says `true`).
const FIXED: &str = "fixed";
/// `maintenance_info.version` 2.0.0.
const MAINTAINED: &str = "maintained";
const OTHER_SERVICE: &str = "other-svc";
const OTHER_PLAN: &str = "other-plan";

fn catalog_broker(allow_context_updates: bool) -> Broker {
    let logic = CountingLogic::new().with_catalog(|catalog| {
        let service = &mut catalog.services[0];
        let mut fixed = Plan::new(FIXED, "fixed", "Cannot change plan");
        fixed.plan_updateable = Some(false);
        let mut maintained = Plan::new(MAINTAINED, "maintained", "Has maintenance info");
        maintained.maintenance_info = Some(MaintenanceInfo::new("2.0.0"));
        service.plans.extend([fixed, maintained]);
        service.allow_context_updates = Some(allow_context_updates);
        catalog.services.push(
            Service::new(OTHER_SERVICE, "other", "Another service", true).with_plan(Plan::new(
                OTHER_PLAN,
                "other-plan",
                "Another plan",
            )),
        );
    });
    broker_with(logic, ManualClock::new())
}

/// Asserts that `request` is refused with `expected` and that nothing was stored or run.
async fn refused(
    broker: &Broker,
    iid: &str,
    request: UpdateRequest,
    expected: ErrorKind,
) -> BrokerError {
    let before = broker.store().load_instance(iid).await.unwrap().unwrap();
    let updates = broker.logic().calls().update_instance.get(iid).copied();
    let err = broker
        .update(iid, request, &ctx(true))
        .await
        .expect_err("expected a refusal");
    assert_eq!(err.kind(), expected, "{err}");
    let after = broker.store().load_instance(iid).await.unwrap().unwrap();
    assert_eq!(before.version, after.version, "a refused update wrote");
    assert_eq!(
        broker.logic().calls().update_instance.get(iid).copied(),
        updates
    );
    err
}

async fn updated(broker: &Broker, iid: &str, request: UpdateRequest) {
    let answer = broker.update(iid, request, &ctx(false)).await.unwrap();
    assert!(matches!(answer, UpdateResponse::Updated(_)), "{answer:?}");
}

async fn fetched_plan(broker: &Broker, iid: &str) -> String {
    broker
        .fetch_instance(iid, FetchInstanceRequest::default(), &ctx(false))
        .await
        .unwrap()
        .plan_id
        .unwrap()
}

fn update(plan_id: Option<&str>, maintenance_version: Option<&str>) -> UpdateRequest {
    let mut request = UpdateRequest::new(SERVICE);
    request.plan_id = plan_id.map(str::to_owned);
    request.maintenance_info = maintenance_version.map(MaintenanceInfo::new);
    request
}

fn cloud_foundry_context() -> Option<osb_core::Context> {
    serde_json::from_value(json!({
        "platform": "cloudfoundry",
        "organization_guid": "org",
        "space_guid": "space",
        "instance_name": "renamed"
    }))
    .ok()
}

#[tokio::test]
async fn update_naming_another_service_returns_400_after_the_404_and_changes_nothing() {
    let broker = catalog_broker(false);
    let mut other = UpdateRequest::new(OTHER_SERVICE);
    other.parameters = params(json!({"size": 2}));
    assert_eq!(
        kind(broker.update("nope", other.clone(), &ctx(true)).await),
        ErrorKind::NotFound
    );
    provision_sync(&broker, "i").await;
    refused(&broker, "i", other, ErrorKind::BadRequest).await;
    let mut same = UpdateRequest::new(SERVICE);
    same.parameters = params(json!({"size": 2}));
    updated(&broker, "i", same).await;
}

#[tokio::test]
async fn plan_change_without_previous_values_needs_a_plan_updateable_current_plan() {
    let broker = catalog_broker(false);
    broker
        .provision("i", provision(FIXED), &ctx(false))
        .await
        .unwrap();
    let err = refused(
        &broker,
        "i",
        update(Some(SYNC), None),
        ErrorKind::UnprocessableEntity,
    )
    .await;
    assert!(err.description().contains("plan_updateable"), "{err}");
    assert_eq!(fetched_plan(&broker, "i").await, FIXED);
    // Naming the current plan is no plan change.
    let mut same = update(Some(FIXED), None);
    same.parameters = params(json!({"size": 2}));
    updated(&broker, "i", same).await;
    // The offering's plan_updateable holds for a plan without its own: SYNC may move to FIXED.
    provision_sync(&broker, "j").await;
    updated(&broker, "j", update(Some(FIXED), None)).await;
    assert_eq!(fetched_plan(&broker, "j").await, FIXED);
}

#[tokio::test]
async fn plan_change_to_a_plan_outside_the_instances_service_returns_400() {
    let broker = catalog_broker(false);
    provision_sync(&broker, "i").await;
    refused(
        &broker,
        "i",
        update(Some(OTHER_PLAN), None),
        ErrorKind::BadRequest,
    )
    .await;
    refused(
        &broker,
        "i",
        update(Some("no-such-plan"), None),
        ErrorKind::BadRequest,
    )
    .await;
    updated(&broker, "i", update(Some(APP), None)).await;
    assert_eq!(fetched_plan(&broker, "i").await, APP);
}

#[tokio::test]
async fn update_maintenance_info_is_checked_against_the_target_plan() {
    let broker = catalog_broker(false);
    provision_sync(&broker, "i").await;
    // SYNC has no maintenance_info: any version is a conflict.
    refused(
        &broker,
        "i",
        update(None, Some("2.0.0")),
        ErrorKind::MaintenanceInfoConflict,
    )
    .await;
    // Moving to MAINTAINED: its version, not the current plan's absence of one.
    refused(
        &broker,
        "i",
        update(Some(MAINTAINED), Some("1.0.0")),
        ErrorKind::MaintenanceInfoConflict,
    )
    .await;
    updated(&broker, "i", update(Some(MAINTAINED), Some("2.0.0"))).await;
    let fetched = broker
        .fetch_instance("i", FetchInstanceRequest::default(), &ctx(false))
        .await
        .unwrap();
    assert_eq!(fetched.plan_id.as_deref(), Some(MAINTAINED));
    assert_eq!(fetched.maintenance_info.unwrap().version, "2.0.0");
    // No plan change: the current plan's version.
    updated(&broker, "i", update(None, Some("2.0.0"))).await;
    refused(
        &broker,
        "i",
        update(None, Some("3.0.0")),
        ErrorKind::MaintenanceInfoConflict,
    )
    .await;
    // Moving back to SYNC with a version: a conflict.
    refused(
        &broker,
        "i",
        update(Some(SYNC), Some("2.0.0")),
        ErrorKind::MaintenanceInfoConflict,
    )
    .await;
}

#[tokio::test]
async fn context_only_update_needs_allow_context_updates() {
    let broker = catalog_broker(false);
    provision_sync(&broker, "i").await;
    let mut context_only = UpdateRequest::new(SERVICE);
    context_only.context = cloud_foundry_context();
    assert!(context_only.context.is_some());
    let err = refused(
        &broker,
        "i",
        context_only.clone(),
        ErrorKind::UnprocessableEntity,
    )
    .await;
    assert!(err.description().contains("allow_context_updates"), "{err}");
    // The current plan_id changes nothing: still context-only.
    let mut same_plan = context_only.clone();
    same_plan.plan_id = Some(SYNC.into());
    refused(&broker, "i", same_plan, ErrorKind::UnprocessableEntity).await;
    // With parameters it is no longer context-only.
    let mut with_parameters = context_only.clone();
    with_parameters.parameters = params(json!({"size": 2}));
    updated(&broker, "i", with_parameters).await;
    // A service that allows context updates takes it.
    let allowing = catalog_broker(true);
    provision_sync(&allowing, "i").await;
    updated(&allowing, "i", context_only).await;
}

/// `previous_values` are informational (spec.md "Previous Values Object"): the stored plan
/// decides, whichever way they are wrong.
#[tokio::test]
async fn previous_values_that_contradict_the_record_decide_nothing() {
    let broker = catalog_broker(false);
    provision_sync(&broker, "on-sync").await;
    let mut stale = update(Some(APP), None);
    stale.previous_values = Some(previous_plan(FIXED));
    updated(&broker, "on-sync", stale).await;
    assert_eq!(fetched_plan(&broker, "on-sync").await, APP);
    broker
        .provision("on-fixed", provision(FIXED), &ctx(false))
        .await
        .unwrap();
    let mut hopeful = update(Some(SYNC), None);
    hopeful.previous_values = Some(previous_plan(SYNC));
    let err = refused(&broker, "on-fixed", hopeful, ErrorKind::UnprocessableEntity).await;
    assert!(err.description().contains("plan_updateable"), "{err}");
}

fn previous_plan(plan_id: &str) -> PreviousValues {
    serde_json::from_value(json!({"plan_id": plan_id})).unwrap()
}

#[tokio::test]
async fn update_repeating_only_the_stored_context_is_no_context_change() {
    let broker = catalog_broker(false);
    let mut request = provision(SYNC);
    request.context = cloud_foundry_context();
    broker.provision("i", request, &ctx(false)).await.unwrap();
    let mut same = UpdateRequest::new(SERVICE);
    same.context = cloud_foundry_context();
    updated(&broker, "i", same).await;
    let mut renamed = UpdateRequest::new(SERVICE);
    renamed.context = serde_json::from_value(json!({
        "platform": "cloudfoundry", "organization_guid": "org", "space_guid": "space",
        "instance_name": "renamed again"
    }))
    .ok();
    refused(&broker, "i", renamed, ErrorKind::UnprocessableEntity).await;
}

#[tokio::test]
async fn update_checks_the_catalog_before_answering_busy() {
    let broker = catalog_broker(false);
    broker.logic().close();
    broker
        .provision("i", provision(ASYNC), &ctx(true))
        .await
        .unwrap();
    // Being created: a wrong service is still 400, a valid request is 422 ConcurrencyError.
    refused(
        &broker,
        "i",
        UpdateRequest::new(OTHER_SERVICE),
        ErrorKind::BadRequest,
    )
    .await;
    refused(
        &broker,
        "i",
        update(Some(OTHER_PLAN), None),
        ErrorKind::BadRequest,
    )
    .await;
    refused(
        &broker,
        "i",
        update(Some(SYNC), None),
        ErrorKind::ConcurrencyError,
    )
    .await;
    broker.logic().open();
    assert_eq!(settled(&broker, "i").await.state, OperationState::Succeeded);
}

#[tokio::test]
async fn bind_naming_another_service_returns_400_after_the_instance_404() {
    let broker = catalog_broker(false);
    let other = || {
        let mut request = osb_core::BindRequest::new(OTHER_SERVICE, OTHER_PLAN);
        request.app_guid = Some("app-1".into());
        request
    };
    assert_eq!(
        kind(broker.bind("nope", "b", other(), &ctx(false)).await),
        ErrorKind::NotFound
    );
    provision_sync(&broker, "i").await;
    assert_eq!(
        kind(broker.bind("i", "b", other(), &ctx(false)).await),
        ErrorKind::BadRequest
    );
    assert!(
        broker
            .store()
            .load_binding("i", "b")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        broker
            .bind("i", "b", bind(SYNC), &ctx(false))
            .await
            .unwrap(),
        BindResponse::Created(_)
    ));
}

#[tokio::test]
async fn rotation_refuses_a_predecessor_whose_expires_at_has_passed() {
    let (broker, clock) = broker();
    provision_sync(&broker, "i").await;
    // The test clock starts at 2023-11-14T22:13:20Z.
    let mut expiring = bind(SYNC);
    expiring.parameters = params(json!({"expires_at": "2023-11-14T22:13:21.5Z"}));
    broker
        .bind("i", "old", expiring, &ctx(false))
        .await
        .unwrap();
    let rotate = |predecessor: &str| {
        let mut request = bind(SYNC);
        request.predecessor_binding_id = Some(predecessor.into());
        request
    };
    // Not expired yet: rotated.
    assert!(matches!(
        broker
            .bind("i", "new", rotate("old"), &ctx(false))
            .await
            .unwrap(),
        BindResponse::Created(_)
    ));
    clock.advance(Duration::from_secs(2));
    let err = broker
        .bind("i", "newer", rotate("old"), &ctx(false))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(err.description().contains("expired"), "{err}");
    assert!(
        broker
            .store()
            .load_binding("i", "newer")
            .await
            .unwrap()
            .is_none()
    );
    // An expires_at that is not the spec's format counts as not expired.
    let mut odd = bind(SYNC);
    odd.parameters = params(json!({"expires_at": "next tuesday"}));
    broker.bind("i", "odd", odd, &ctx(false)).await.unwrap();
    assert!(matches!(
        broker
            .bind("i", "after-odd", rotate("odd"), &ctx(false))
            .await
            .unwrap(),
        BindResponse::Created(_)
    ));
}
