//! The service instance operations: provision, update, deprovision, fetch and poll.

use http::StatusCode;
use osb_core::{
    DeprovisionRequest, DeprovisionResponse, FetchInstanceRequest, ProvisionRequest,
    ProvisionResponse, RequestContext, ServiceBroker, UpdateRequest, UpdateResponse,
};

use super::call::{Call, Params, Reply, RequestBody};
use super::operation::{OperationBody, accepted, last_operation_request, with_retry_after};
use crate::response;
use crate::validate;

/// `PUT /v2/service_instances/:instance_id` (spec.md "Provisioning").
pub(super) async fn provision<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params { instance_id, .. } = call.check(ctx, &body)?;
    let bytes = call.read(body).await?;
    let request: Box<ProvisionRequest> = call.parse(&bytes)?;

    let catalog = call.catalog(ctx).await?;
    let strict = call.shared().require_organization_and_space;
    validate::provision(&catalog, &request, strict)?;

    match call.broker().provision(&instance_id, *request, ctx).await? {
        ProvisionResponse::Created(body) => Ok(response::json(StatusCode::CREATED, &body)),
        ProvisionResponse::AlreadyExists(body) => Ok(response::json(StatusCode::OK, &body)),
        ProvisionResponse::Accepted(body) => accepted(ctx, &body),
    }
}

/// `PATCH /v2/service_instances/:instance_id` (spec.md "Updating a Service Instance").
pub(super) async fn update<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params { instance_id, .. } = call.check(ctx, &body)?;
    let bytes = call.read(body).await?;
    let request: Box<UpdateRequest> = call.parse(&bytes)?;

    let catalog = call.catalog(ctx).await?;
    validate::update(&catalog, &request)?;

    match call.broker().update(&instance_id, *request, ctx).await? {
        UpdateResponse::Updated(body) => Ok(response::json(StatusCode::OK, &body)),
        UpdateResponse::Accepted(body) => accepted(ctx, &body),
    }
}

/// `DELETE /v2/service_instances/:instance_id` (spec.md "Deprovisioning").
pub(super) async fn deprovision<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        mut query,
        instance_id,
        ..
    } = call.check(ctx, &body)?;
    let (service_id, plan_id) = query.required_ids()?;
    let request = DeprovisionRequest::new(service_id, plan_id);

    match call
        .broker()
        .deprovision(&instance_id, request, ctx)
        .await?
    {
        DeprovisionResponse::Deleted => Ok(response::empty_object(StatusCode::OK)),
        DeprovisionResponse::Accepted { operation } => accepted(ctx, &OperationBody { operation }),
    }
}

/// `GET /v2/service_instances/:instance_id` (spec.md "Fetching a Service Instance", 2.14).
pub(super) async fn fetch<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        query, instance_id, ..
    } = call.check(ctx, &body)?;

    let catalog = call.catalog(ctx).await?;
    validate::instances_retrievable(&catalog, query.service_id.as_deref())?;

    let mut request = FetchInstanceRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    let instance = call
        .broker()
        .fetch_instance(&instance_id, request, ctx)
        .await?;
    Ok(response::json(StatusCode::OK, &instance))
}

/// `GET /v2/service_instances/:instance_id/last_operation` (spec.md "Polling Last Operation for
/// Service Instances").
pub(super) async fn last_operation<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params {
        query, instance_id, ..
    } = call.check(ctx, &body)?;
    let request = last_operation_request(query);

    let answer = call
        .broker()
        .last_operation(&instance_id, request, ctx)
        .await?;
    let response = response::json(StatusCode::OK, &answer);
    Ok(with_retry_after(response, answer.retry_after))
}
