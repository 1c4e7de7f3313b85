//! Property tests of the headers, behind `RequireAuthLayer<Basic>`: `Authorization` (401 first),
//! `X-Broker-API-Version` (412), `X-Broker-API-Originating-Identity` (400), `Content-Length`
//! (413), then `X-Broker-API-Request-Identity` (echoed as sent), `Content-Type` (forgiven when
//! the body parses) and `If-None-Match` (304 when it names the catalog's ETag).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod fuzz_support;
mod support;

use bytes::Bytes;
use fuzz_support::http_gen::{self, Header};
use fuzz_support::{
    Expect, Verdict, call, check, run, runtime, test_broker_answer, valid_body, valid_query,
};
use http::HeaderValue;
use http_body_util::Full;
use osb_tower::auth::{Basic, RequireAuthLayer};
use osb_tower::{Endpoint, OsbService};
use proptest::prelude::*;
use proptest::sample::select;
use tower::Layer;

const LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
struct Headers {
    authorization: Header,
    version: Header,
    originating: Header,
    request_identity: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    content_length: Option<String>,
    if_none_match: Option<Vec<u8>>,
}

fn headers(etag: String) -> impl Strategy<Value = Headers> {
    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {etag}");
    let tags = vec!["*", "\"nope\"", ""];
    let if_none_match = prop_oneof![
        1 => Just(None),
        1 => select(vec![etag, weak, listed]).prop_map(|t| Some(t.into_bytes())),
        1 => http_gen::optional(tags),
    ];
    (
        http_gen::authorization(),
        http_gen::version(),
        http_gen::originating_identity(),
        http_gen::optional(vec!["r-1", "0f8b6c1e-5d3a-4f6e-9b7a-2c1d0e9f8a7b", ""]),
        http_gen::optional(vec![
            "application/json",
            "text/plain",
            "application/x+json; q=1",
            "",
        ]),
        http_gen::content_length(),
        if_none_match,
    )
        .prop_map(
            |(
                authorization,
                version,
                originating,
                request_identity,
                content_type,
                content_length,
                if_none_match,
            )| Headers {
                authorization,
                version,
                originating,
                request_identity,
                content_type,
                content_length,
                if_none_match,
            },
        )
}

fn insert(request: &mut http::Request<Full<Bytes>>, name: &'static str, value: Option<&[u8]>) {
    if let Some(value) = value {
        let value = HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().insert(name, value);
    }
}

/// The catalog answer an `If-None-Match` must get (`None`: either, for random bytes).
fn not_modified(value: Option<&[u8]>, etag: &str) -> Option<bool> {
    let Some(value) = value else {
        return Some(false);
    };
    let value = std::str::from_utf8(value).ok()?;
    let known = ["*", "\"nope\"", ""];
    let ours = [
        etag.to_owned(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
    ];
    if known.contains(&value) || ours.iter().any(|t| t == value) {
        Some(value == "*" || value.contains(etag))
    } else {
        None
    }
}

#[test]
fn any_headers_are_checked_in_the_order_of_the_table() {
    let rt = runtime();
    let (broker, service) = support::setup();
    let service = RequireAuthLayer::new(Basic::new(http_gen::USER, http_gen::PASSWORD))
        .layer(service.clone());
    // The catalog's ETag, for `If-None-Match`.
    let etag = rt.block_on(call(
        OsbService::new(broker.clone()),
        support::empty(support::req(http::Method::GET, "/v2/catalog")),
    ));
    let etag = etag.headers[http::header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let strategy = (http_gen::endpoint(), headers(etag.clone()));
    run("headers", 512, strategy, |(endpoint, h)| {
        let uri = format!(
            "{}{}",
            http_gen::path_of(endpoint, "inst-1", "bind-1"),
            valid_query(endpoint)
        );
        let mut request = http::Request::builder()
            .method(endpoint.method())
            .uri(uri)
            .body(Full::new(Bytes::from(valid_body(endpoint))))
            .unwrap();
        insert(
            &mut request,
            "authorization",
            h.authorization.value.as_deref(),
        );
        insert(
            &mut request,
            "x-broker-api-version",
            h.version.value.as_deref(),
        );
        insert(
            &mut request,
            "x-broker-api-originating-identity",
            h.originating.value.as_deref(),
        );
        insert(
            &mut request,
            "x-broker-api-request-identity",
            h.request_identity.as_deref(),
        );
        insert(&mut request, "content-type", h.content_type.as_deref());
        insert(
            &mut request,
            "content-length",
            h.content_length.as_deref().map(str::as_bytes),
        );
        insert(&mut request, "if-none-match", h.if_none_match.as_deref());

        let version = if endpoint.is_osb() {
            h.version.verdict
        } else {
            Verdict::Valid
        };
        let declared = h
            .content_length
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let too_large = endpoint.has_body_for_test() && declared.is_some_and(|n| n > LIMIT);
        let answers: Vec<u16> = match (endpoint, not_modified(h.if_none_match.as_deref(), &etag)) {
            (Endpoint::Catalog, Some(true)) => vec![304],
            (Endpoint::Catalog, None) => vec![200, 304],
            _ => vec![test_broker_answer(endpoint, false)],
        };
        let allowed = Expect::new()
            .stage(h.authorization.verdict, 401)
            .stage(version, 412)
            .stage(h.originating.verdict, 400)
            .stage(
                if too_large {
                    Verdict::Invalid
                } else {
                    Verdict::Valid
                },
                413,
            )
            .then(&answers);
        let reply = rt.block_on(call(service.clone(), request));
        check(&reply, &allowed)?;
        // Every answer of the OSB service echoes a non-empty request identity as sent.
        if reply.status != 401 {
            let sent = h.request_identity.as_deref().filter(|v| !v.is_empty());
            let echoed = reply
                .headers
                .get("x-broker-api-request-identity")
                .map(HeaderValue::as_bytes);
            prop_assert_eq!(echoed, sent);
        } else {
            prop_assert!(reply.headers.contains_key(http::header::WWW_AUTHENTICATE));
        }
        broker.calls.lock().unwrap().clear();
        Ok(reply.status.as_u16())
    });
}

/// Whether an endpoint reads a body (the crate's own `has_body` is private).
trait HasBody {
    fn has_body_for_test(self) -> bool;
}

impl HasBody for Endpoint {
    fn has_body_for_test(self) -> bool {
        matches!(
            self,
            Endpoint::Provision | Endpoint::Update | Endpoint::Bind | Endpoint::SetInstanceState
        )
    }
}
