//! The request span: method, route template (never the raw ids), status and latency, recorded
//! when a subscriber listens.
#![allow(clippy::unwrap_used)]

mod support;

use std::fmt;
use std::sync::{Arc, Mutex};

use http::Method;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every field recorded on any span, as `(name, Debug of the value)`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(&'static str, String)>>>);

impl Visit for Recorder {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name(), format!("{value:?}")));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut self.clone());
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn span_records_route_template_status_and_latency_but_never_the_raw_ids() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let (_, service) = setup();
    let answered = send(
        service,
        empty(req(
            Method::GET,
            "/v2/service_instances/secret-instance-id/last_operation",
        )),
    )
    .await;
    let fields = recorder.0.lock().unwrap().clone();
    let value = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(value("method").as_deref(), Some("GET"));
    assert_eq!(
        value("route").as_deref(),
        Some("\"/v2/service_instances/:instance_id/last_operation\"")
    );
    assert_eq!(value("status"), Some(answered.status.as_u16().to_string()));
    // Recorded as a whole number of microseconds; its value is not asserted.
    assert!(value("latency_us").unwrap().parse::<u64>().is_ok());
    assert!(
        fields
            .iter()
            .all(|(_, value)| !value.contains("secret-instance-id")),
        "{fields:?}"
    );
}
