//! Property tests of the request line: any path routes as the route table says (404/405
//! otherwise), ids are percent-decoded strictly after splitting (a malformed one is a 400, a
//! well-formed one reaches the broker exactly), and any query string is parsed as the spec says
//! (`accepts_incomplete` true/false, empty values absent, first occurrence wins).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod fuzz_support;
mod support;

use bytes::Bytes;
use fuzz_support::http_gen::{self, Id, Pair, route_model};
use fuzz_support::{Expect, Verdict, call, check, run, runtime, test_broker_answer, valid_body};
use http_body_util::Full;
use osb_tower::Endpoint;
use proptest::prelude::*;

fn request(method: http::Method, uri: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Broker-API-Version", "2.17")
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// A path: segments near the route table, or an endpoint's template around generated ids.
fn path() -> impl Strategy<Value = (http::Method, Vec<String>, Option<(Id, Id)>)> {
    let near = (http_gen::method(), http_gen::segments()).prop_map(|(m, s)| (m, s, None));
    let endpoint = (http_gen::endpoint(), http_gen::method(), 0_u8..4);
    let ids = (endpoint, http_gen::id(), http_gen::id()).prop_map(|((e, m, odd), i, b)| {
        let path = http_gen::path_of(e, &i.raw, &b.raw);
        let segments = path.split('/').skip(1).map(str::to_owned).collect();
        (
            if odd == 0 { m } else { e.method() },
            segments,
            Some((i, b)),
        )
    });
    prop_oneof![1 => near, 2 => ids]
}

#[test]
fn any_path_routes_by_the_table_and_ids_decode_strictly() {
    let rt = runtime();
    let (broker, service) = support::setup();
    run("paths", 384, path(), |(method, segments, ids)| {
        let uri = format!(
            "/{}{}",
            segments.join("/"),
            "?service_id=svc-db&plan_id=plan-small"
        );
        let routed = route_model(&method, &segments);
        let (instance, binding) = match &ids {
            Some((i, b)) => (i.verdict, b.verdict),
            None => (Verdict::Valid, Verdict::Valid),
        };
        let allowed = match routed {
            Err(status) => vec![status],
            Ok(endpoint) => {
                let has = |id| endpoint.template().contains(id);
                let instance = if has(":instance_id") {
                    instance
                } else {
                    Verdict::Valid
                };
                let binding = if has(":binding_id") {
                    binding
                } else {
                    Verdict::Valid
                };
                Expect::new()
                    .stage(instance, 400)
                    .stage(binding, 400)
                    .then(&[test_broker_answer(endpoint, false)])
            }
        };
        let body = routed.map_or("", valid_body);
        broker.calls.lock().unwrap().clear();
        let reply = rt.block_on(call(service.clone(), request(method, &uri, body)));
        check(&reply, &allowed)?;
        // A well-formed id reaches the broker exactly as it was before encoding.
        if let (Some((i, b)), true) = (&ids, reply.status.is_success()) {
            let call = broker.calls().pop();
            if let (Some(call), Some(decoded)) = (call, &i.decoded) {
                prop_assert_eq!(&call.instance_id, decoded);
                if let (Some(got), Some(decoded)) = (&call.binding_id, &b.decoded) {
                    prop_assert_eq!(got, decoded);
                }
            }
        }
        if reply.status == 405 {
            prop_assert!(reply.headers.contains_key(http::header::ALLOW));
        }
        Ok(reply.status.as_u16())
    });
}

/// Strict percent-decoding with `+` as a space (an oracle written from RFC 3986 §2.1).
fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(
                    u8::from_str_radix(hex, 16)
                        .ok()
                        .filter(|_| !hex.contains('+'))?,
                );
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What the query means: `Err` when it must be refused.
#[derive(Debug, Default)]
struct Meaning {
    accepts_incomplete: bool,
    service_id: Option<String>,
    plan_id: Option<String>,
    operation: Option<String>,
}

fn query_model(pairs: &[Pair]) -> Result<Meaning, ()> {
    let mut meaning = Meaning::default();
    let mut accepts = None;
    for pair in pairs {
        let value = if pair.form <= 1 {
            pair.value.as_str()
        } else {
            ""
        };
        let slot = match pair.key.as_str() {
            "accepts_incomplete" => &mut accepts,
            "service_id" => &mut meaning.service_id,
            "plan_id" => &mut meaning.plan_id,
            "operation" => &mut meaning.operation,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(decode(value).ok_or(())?);
        }
    }
    meaning.accepts_incomplete = match accepts.map(|a| a.to_ascii_lowercase()).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(()),
    };
    Ok(meaning)
}

#[test]
fn any_query_is_read_as_the_spec_says() {
    let rt = runtime();
    let (broker, service) = support::setup();
    let strategy = (http_gen::endpoint(), http_gen::query(), prop::bool::ANY);
    run("query", 384, strategy, |(endpoint, pairs, double)| {
        let query = http_gen::render_query(&pairs, if double { "&&" } else { "&" });
        let path = http_gen::path_of(endpoint, "inst-1", "bind-1");
        let model = query_model(&pairs);
        let needs_ids = matches!(endpoint, Endpoint::Deprovision | Endpoint::Unbind);
        let ids = match &model {
            Ok(m) if needs_ids && (m.service_id.is_none() || m.plan_id.is_none()) => {
                Verdict::Invalid
            }
            _ => Verdict::Valid,
        };
        let allowed = Expect::new()
            .stage(
                if model.is_ok() {
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                },
                400,
            )
            .stage(ids, 400)
            .then(&[test_broker_answer(endpoint, false)]);
        broker.calls.lock().unwrap().clear();
        let uri = format!("{path}?{query}");
        let reply = rt.block_on(call(
            service.clone(),
            request(endpoint.method(), &uri, valid_body(endpoint)),
        ));
        check(&reply, &allowed)?;
        // The broker gets the decoded values.
        if let (Ok(m), Some(call)) = (&model, broker.calls().pop()) {
            prop_assert_eq!(call.accepts_incomplete, m.accepts_incomplete);
            let expected = match endpoint {
                Endpoint::LastOperation => Some(format!(
                    "{:?} {:?} {:?}",
                    m.service_id, m.plan_id, m.operation
                )),
                Endpoint::BindingLastOperation => Some(format!("{:?}", m.operation)),
                Endpoint::FetchInstance | Endpoint::FetchBinding => {
                    Some(format!("{:?} {:?}", m.service_id, m.plan_id))
                }
                Endpoint::Deprovision | Endpoint::Unbind => Some(format!(
                    "{} {}",
                    m.service_id.as_deref().unwrap_or_default(),
                    m.plan_id.as_deref().unwrap_or_default()
                )),
                _ => None,
            };
            if let Some(expected) = expected {
                prop_assert_eq!(call.detail, expected);
            }
        }
        Ok(reply.status.as_u16())
    });
}
