//! IBM Cloud's `bluemix_v1` instance state: `GET` and `PUT
//! /bluemix_v1/service_instances/:instance_id`, for brokers that offer an
//! [`InstanceStateBroker`](osb_core::InstanceStateBroker).

use http::StatusCode;
use osb_core::{BrokerError, InstanceStateUpdate, RequestContext, ServiceBroker};

use super::call::{Call, Params, Reply, RequestBody};
use crate::response;

/// `GET /bluemix_v1/service_instances/:instance_id`: the instance's state.
pub(super) async fn get<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params { instance_id, .. } = call.check(ctx, &body)?;
    let states = call.broker().instance_state().ok_or_else(not_offered)?;

    let state = states.get_state(&instance_id, ctx).await?;
    Ok(response::json(StatusCode::OK, &state))
}

/// `PUT /bluemix_v1/service_instances/:instance_id`: enables or disables the instance.
pub(super) async fn set<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    let Params { instance_id, .. } = call.check(ctx, &body)?;
    let bytes = call.read(body).await?;
    let states = call.broker().instance_state().ok_or_else(not_offered)?;
    let update: Box<InstanceStateUpdate> = call.parse(&bytes)?;

    let state = states.set_state(&instance_id, *update, ctx).await?;
    Ok(if call.shared().instance_state_no_content {
        response::no_body(StatusCode::NO_CONTENT)
    } else {
        response::json(StatusCode::OK, &state)
    })
}

fn not_offered() -> BrokerError {
    BrokerError::not_found()
        .with_description("This broker does not offer the bluemix_v1 instance state endpoints.")
}
