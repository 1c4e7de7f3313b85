//! `GET /v2/catalog` (spec.md "Catalog Management").

use http::StatusCode;
use http::header::{ETAG, IF_NONE_MATCH};
use osb_core::{RequestContext, ServiceBroker};

use super::call::{Call, Reply, RequestBody};
use crate::catalog::if_none_match;
use crate::response;

/// The catalog, serialised once per `Arc` and served with its `ETag`.
pub(super) async fn fetch<B: ServiceBroker>(
    call: &Call<B>,
    ctx: &mut RequestContext,
    body: impl RequestBody,
) -> Reply {
    call.check(ctx, &body)?;

    let catalog = call.catalog(ctx).await?;

    // spec.md "Catalog Management" (2.16): ETag / If-None-Match, RFC 7232.
    let not_modified = call
        .headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .any(|value| if_none_match(value, catalog.etag()));
    let mut response = if not_modified {
        response::no_body(StatusCode::NOT_MODIFIED)
    } else {
        response::bytes(StatusCode::OK, catalog.body())
    };
    response.headers_mut().insert(ETAG, catalog.etag().clone());
    Ok(response)
}
