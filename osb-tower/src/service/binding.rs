//! The service binding operations: bind, unbind, fetch and poll.

use http::StatusCode;
use osb_core::{
    BindRequest, BindResponse, FetchBindingRequest, RequestContext, ServiceBroker, UnbindRequest,
    UnbindResponse,
};

use super::call::{Call, Params, Reply, RequestBody};
use super::operation::{OperationBody, accepted, last_operation_request, with_retry_after};
use crate::response;
use crate::validate;

/// `PUT /v2/service_instances/:instance_id/service_bindings/:binding_id` (spec.md "Binding").
pub(super) async fn bind<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        instance_id,
        binding_id,
        ..
    } = call.check(ctx, &body)?;
    let bytes = call.read(body).await?;
    let request: Box<BindRequest> = call.parse(&bytes)?;

    let catalog = call.catalog(ctx).await?;
    validate::bind(&catalog, &request)?;

    let broker = call.broker();
    match broker
        .bind(&instance_id, &binding_id, *request, ctx)
        .await?
    {
        BindResponse::Created(body) => Ok(response::json(StatusCode::CREATED, &body)),
        BindResponse::AlreadyExists(body) => Ok(response::json(StatusCode::OK, &body)),
        BindResponse::Accepted(body) => accepted(ctx, &body),
    }
}

/// `DELETE /v2/service_instances/:instance_id/service_bindings/:binding_id` (spec.md
/// "Unbinding").
pub(super) async fn unbind<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        mut query,
        instance_id,
        binding_id,
    } = call.check(ctx, &body)?;
    let (service_id, plan_id) = query.required_ids()?;
    let request = UnbindRequest::new(service_id, plan_id);

    let broker = call.broker();
    match broker
        .unbind(&instance_id, &binding_id, request, ctx)
        .await?
    {
        UnbindResponse::Deleted => Ok(response::empty_object(StatusCode::OK)),
        UnbindResponse::Accepted { operation } => accepted(ctx, &OperationBody { operation }),
    }
}

/// `GET /v2/service_instances/:instance_id/service_bindings/:binding_id` (spec.md "Fetching a
/// Service Binding", 2.14).
pub(super) async fn fetch<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        query,
        instance_id,
        binding_id,
    } = call.check(ctx, &body)?;

    let catalog = call.catalog(ctx).await?;
    validate::bindings_retrievable(&catalog, query.service_id.as_deref())?;

    let mut request = FetchBindingRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    let broker = call.broker();
    let binding = broker
        .fetch_binding(&instance_id, &binding_id, request, ctx)
        .await?;
    Ok(response::json(StatusCode::OK, &binding))
}

/// `GET /v2/service_instances/:instance_id/service_bindings/:binding_id/last_operation`
/// (spec.md "Polling Last Operation for Service Bindings", 2.14).
pub(super) async fn last_operation<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        query,
        instance_id,
        binding_id,
    } = call.check(ctx, &body)?;
    let request = last_operation_request(query);

    let broker = call.broker();
    let answer = broker
        .binding_last_operation(&instance_id, &binding_id, request, ctx)
        .await?;
    let response = response::json(StatusCode::OK, &answer);
    Ok(with_retry_after(response, answer.retry_after))
}
