//! The order of checks of steps 2 and 3 (the `routing` module's table), on every endpoint: a
//! request failing several checks at once is answered by the first, and the broker is never
//! called.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use osb_tower::OsbService;
use support::*;

/// The body limit of the service under test; `LARGE` is over it, `MALFORMED` under it.
const LIMIT: usize = 64;
const LARGE: &str = "{not json, and long enough to be over the limit of sixty-four bytes}";
const MALFORMED: &str = "{not json";

/// A stage of the table: whether the endpoint has it, how to clear the fault it answers, the
/// status and a word of the description.
type Stage = (bool, fn(&mut Faults), u16, &'static str);

/// One request with any of the faults of steps 2 and 3.
#[derive(Clone, Copy)]
struct Faults {
    no_version: bool,
    bad_originating_identity: bool,
    too_large: bool,
    bad_query: bool,
    bad_instance_id: bool,
    bad_binding_id: bool,
}

fn request(
    method: &Method,
    path: &str,
    has_body: bool,
    faults: Faults,
) -> http::Request<Full<Bytes>> {
    let mut path = path.to_owned();
    if faults.bad_instance_id {
        path = path.replacen("inst-1", "inst%zz", 1);
    }
    if faults.bad_binding_id {
        path = path.replacen("bind-1", "bind%zz", 1);
    }
    if faults.bad_query {
        path.push_str("?accepts_incomplete=maybe");
    }
    let mut builder = if faults.no_version {
        bare(method.clone(), &path)
    } else {
        req(method.clone(), &path)
    };
    if faults.bad_originating_identity {
        builder = builder.header("X-Broker-API-Originating-Identity", "cloudfoundry !!!");
    }
    match (has_body, faults.too_large) {
        (true, true) => json_body(builder, LARGE),
        (true, false) => json_body(builder, MALFORMED),
        (false, _) => empty(builder),
    }
}

#[tokio::test]
async fn each_endpoint_answers_the_first_failed_check_of_steps_2_and_3() {
    let state = "/bluemix_v1/service_instances/inst-1";
    // (method, path, OSB endpoint: needs a version, has a body, has a binding id)
    let endpoints = [
        (Method::GET, "/v2/catalog".to_owned(), true, false, false),
        (Method::PUT, INSTANCE.to_owned(), true, true, false),
        (Method::PATCH, INSTANCE.to_owned(), true, true, false),
        (Method::DELETE, INSTANCE.to_owned(), true, false, false),
        (Method::GET, INSTANCE.to_owned(), true, false, false),
        (
            Method::GET,
            format!("{INSTANCE}/last_operation"),
            true,
            false,
            false,
        ),
        (Method::PUT, BINDING.to_owned(), true, true, true),
        (Method::DELETE, BINDING.to_owned(), true, false, true),
        (Method::GET, BINDING.to_owned(), true, false, true),
        (
            Method::GET,
            format!("{BINDING}/last_operation"),
            true,
            false,
            true,
        ),
        (Method::GET, state.to_owned(), false, false, false),
        (Method::PUT, state.to_owned(), false, true, false),
    ];
    for (method, path, osb, has_body, has_binding) in endpoints {
        let broker = Arc::new(TestBroker::default());
        let service = OsbService::builder(broker.clone())
            .max_body_size(LIMIT)
            .build();
        let has_instance = path != "/v2/catalog";
        let mut faults = Faults {
            no_version: true,
            bad_originating_identity: true,
            too_large: true,
            bad_query: true,
            bad_instance_id: true,
            bad_binding_id: true,
        };
        // In the table's order; each fault is cleared before the next stage.
        let stages: [Stage; 7] = [
            (osb, |f| f.no_version = false, 412, "X-Broker-API-Version"),
            (
                true,
                |f| f.bad_originating_identity = false,
                400,
                "Originating-Identity",
            ),
            (has_body, |f| f.too_large = false, 413, "limit"),
            (true, |f| f.bad_query = false, 400, "accepts_incomplete"),
            (
                has_instance,
                |f| f.bad_instance_id = false,
                400,
                "instance_id",
            ),
            (has_binding, |f| f.bad_binding_id = false, 400, "binding_id"),
            (has_body, |_| {}, 400, "request body"),
        ];
        for (applies, clear, status, named) in stages {
            if applies {
                let request = request(&method, &path, has_body, faults);
                let answered = send(service.clone(), request).await;
                assert_error(&answered, status);
                let description = answered.description();
                assert!(
                    description.contains(named),
                    "{method} {path}: {description:?} does not name {named}"
                );
            }
            clear(&mut faults);
        }
        assert!(
            broker.calls().is_empty(),
            "{method} {path} reached the broker"
        );
        assert_eq!(*broker.catalog_calls.lock().unwrap(), 0, "{method} {path}");
    }
}
