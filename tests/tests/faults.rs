//! A broker logic that panics or hangs on one request leaves every other request served.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use minimal_broker::logic::Databases;
use minimal_broker::logic::SMALL_PLAN_ID;
use osb_core::catalog::Catalog;
use osb_core::managed::{
    DeprovisionError, Execution, InstanceRecord, LogicError, Managed, OperationKind, ServiceLogic,
};
use osb_core::{ProvisionRequest, ProvisionedInstance};
use osb_e2e_tests::platform::provision_body;
use osb_e2e_tests::{RunningBroker, test_config};
use osb_tower::auth::Basic;
use tokio::sync::Notify;

/// The example's logic, except that instance `panic` panics, instance `hang` never finishes,
/// and instance `slow` says it started, then takes half a second.
#[derive(Debug)]
struct Faulty(Databases, Arc<Notify>);

fn faulty_app(request_timeout: Duration) -> (axum::Router, Arc<Notify>) {
    let config = test_config();
    let started = Arc::new(Notify::new());
    let logic = Faulty(
        Databases::new(config.provision_time).unwrap(),
        started.clone(),
    );
    let broker = Arc::new(Managed::builder(logic).build());
    let auth = Basic::new(&config.username, &config.password);
    (minimal_broker::app(broker, auth, request_timeout), started)
}

#[async_trait]
impl ServiceLogic for Faulty {
    fn catalog(&self) -> Arc<Catalog> {
        self.0.catalog()
    }

    fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
        self.0.execution(kind, plan_id)
    }

    async fn create_instance(
        &self,
        instance_id: &str,
        request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        match instance_id {
            "panic" => panic!("the logic panicked"),
            "hang" => std::future::pending().await,
            "slow" => {
                self.1.notify_one();
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.0.create_instance(instance_id, request).await
            }
            _ => self.0.create_instance(instance_id, request).await,
        }
    }

    async fn delete_instance(
        &self,
        instance_id: &str,
        instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        self.0.delete_instance(instance_id, instance).await
    }
}

#[tokio::test]
async fn panicking_and_hanging_requests_do_not_stop_the_others() {
    // A short request timeout so the hung request is answered within the test.
    let (app, _) = faulty_app(Duration::from_secs(2));
    let server = RunningBroker::router(app).await;
    let platform = server.platform();

    let hung = {
        let platform = platform.request_identity("hung-1");
        tokio::spawn(async move {
            platform
                .provision("hang", &provision_body(SMALL_PLAN_ID), false)
                .await
        })
    };
    let panicked = platform
        .provision("panic", &provision_body(SMALL_PLAN_ID), false)
        .await;
    let panicked = panicked.expect_error(500, None);
    assert!(
        !panicked.str("description").contains("panicked"),
        "no internals in the body"
    );

    // Everything else is served while the hung request waits.
    for i in 0..20 {
        platform.catalog().await.expect(200);
        let id = format!("ok-{i}");
        platform
            .provision(&id, &provision_body(SMALL_PLAN_ID), false)
            .await
            .expect(201);
        platform.fetch_instance(&id).await.expect(200);
    }

    let hung = tokio::time::timeout(Duration::from_secs(30), hung)
        .await
        .unwrap()
        .unwrap();
    let hung = hung.expect_error(503, None);
    // rules.md §2.3: the timeout layer's answer echoes the request identity too.
    assert_eq!(hung.headers["x-broker-api-request-identity"], "hung-1");
    platform.catalog().await.expect(200);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_the_request_in_flight_finish() {
    let (app, started) = faulty_app(Duration::from_secs(30));
    let server = RunningBroker::router(app).await;
    let platform = server.platform();
    let in_flight = {
        let platform = platform.clone();
        tokio::spawn(async move {
            platform
                .provision("slow", &provision_body(SMALL_PLAN_ID), false)
                .await
        })
    };
    started.notified().await;
    let url = server.url().to_owned();
    server.stop().await;
    in_flight.await.unwrap().expect(201);
    // Once stopped, nothing listens any more.
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err());
}
