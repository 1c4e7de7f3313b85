//! `ServiceBroker`'s default methods answer as the spec says for a broker that does not offer
//! the optional endpoints, and `Arc<B>` forwards every method.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::{
    ApiVersion, BindRequest, BrokerError, DeprovisionRequest, DeprovisionResponse,
    FetchBindingRequest, FetchInstanceRequest, LastOperationRequest, ProvisionRequest,
    ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker, UnbindRequest,
    UpdateRequest,
};

/// A broker implementing only the three required methods.
struct Minimal {
    catalog: Arc<Catalog>,
}

#[async_trait]
impl ServiceBroker for Minimal {
    async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
        Ok(Arc::clone(&self.catalog))
    }

    async fn provision(
        &self,
        _instance_id: &str,
        _request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        if !ctx.accepts_incomplete {
            return Ok(ProvisionResponse::Created(ProvisionedInstance::default()));
        }
        Err(BrokerError::unprocessable("no async here"))
    }

    async fn deprovision(
        &self,
        _instance_id: &str,
        _request: DeprovisionRequest,
        _ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        Ok(DeprovisionResponse::Deleted)
    }
}

fn broker() -> Minimal {
    Minimal {
        catalog: Arc::new(Catalog::new(vec![
            Service::new("s", "db", "A db", false).with_plan(Plan::new("p", "small", "Small")),
        ])),
    }
}

async fn default_statuses(broker: &dyn ServiceBroker) -> Vec<(&'static str, StatusCode)> {
    let ctx = RequestContext::new(ApiVersion::V2_17);
    let status = |e: BrokerError| e.status();
    vec![
        (
            "update",
            status(
                broker
                    .update("i", UpdateRequest::new("s"), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "fetch_instance",
            status(
                broker
                    .fetch_instance("i", FetchInstanceRequest::default(), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "last_operation",
            status(
                broker
                    .last_operation("i", LastOperationRequest::default(), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "bind",
            status(
                broker
                    .bind("i", "b", BindRequest::new("s", "p"), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "unbind",
            status(
                broker
                    .unbind("i", "b", UnbindRequest::new("s", "p"), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "fetch_binding",
            status(
                broker
                    .fetch_binding("i", "b", FetchBindingRequest::default(), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
        (
            "binding_last_operation",
            status(
                broker
                    .binding_last_operation("i", "b", LastOperationRequest::default(), &ctx)
                    .await
                    .unwrap_err(),
            ),
        ),
    ]
}

const EXPECTED: [(&str, StatusCode); 7] = [
    ("update", StatusCode::UNPROCESSABLE_ENTITY),
    ("fetch_instance", StatusCode::NOT_FOUND),
    ("last_operation", StatusCode::NOT_FOUND),
    ("bind", StatusCode::BAD_REQUEST),
    ("unbind", StatusCode::GONE),
    ("fetch_binding", StatusCode::NOT_FOUND),
    ("binding_last_operation", StatusCode::NOT_FOUND),
];

#[tokio::test]
async fn optional_endpoints_default_to_the_spec_answer_for_a_broker_without_them() {
    let broker = broker();
    assert_eq!(default_statuses(&broker).await, EXPECTED);
    assert!(
        broker.instance_state().is_none(),
        "no bluemix_v1 routes by default"
    );
}

#[tokio::test]
async fn default_errors_carry_a_user_facing_description() {
    let ctx = RequestContext::new(ApiVersion::V2_12);
    let error = broker()
        .update("i", UpdateRequest::new("s"), &ctx)
        .await
        .unwrap_err();
    assert!(
        error.description().contains("does not support updating"),
        "{error}"
    );
    let error = broker()
        .bind("i", "b", BindRequest::new("s", "p"), &ctx)
        .await
        .unwrap_err();
    assert!(
        error.description().contains("does not support bindings"),
        "{error}"
    );
}

#[tokio::test]
async fn arc_of_a_broker_forwards_every_method() {
    let shared = Arc::new(broker());
    assert_eq!(default_statuses(&shared).await, EXPECTED);
    let ctx = RequestContext::new(ApiVersion::V2_17);
    let catalog = shared.catalog(&ctx).await.unwrap();
    assert!(
        Arc::ptr_eq(&catalog, &shared.catalog),
        "the same Arc, so ETag caching works"
    );
    let created = shared
        .provision("i", ProvisionRequest::new("s", "p"), &ctx)
        .await
        .unwrap();
    assert!(matches!(created, ProvisionResponse::Created(_)));
    let async_ctx = RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(true);
    assert!(
        shared
            .provision("i", ProvisionRequest::new("s", "p"), &async_ctx)
            .await
            .is_err()
    );
    let deleted = shared
        .deprovision("i", DeprovisionRequest::new("s", "p"), &ctx)
        .await
        .unwrap();
    assert_eq!(deleted, DeprovisionResponse::Deleted);
}

#[test]
fn request_context_starts_empty() {
    let ctx = RequestContext::new(ApiVersion::V2_12);
    assert_eq!(ctx.api_version, ApiVersion::V2_12);
    assert!(ctx.originating_identity.is_none());
    assert!(ctx.request_identity.is_none());
    assert!(!ctx.accepts_incomplete);
    assert!(ctx.extensions.is_empty());
}
