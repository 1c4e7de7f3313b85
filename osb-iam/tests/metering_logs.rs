//! Neither the API key nor a token reaches a log line, whatever happens: token refresh on 401,
//! retries, an outage, rejected records. A tombstone retention too short to survive a reporter
//! outage of a day is logged, once.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use metering_support::broker::{Asked, MINUTE, deleting_instance};
use metering_support::{
    API_KEY, FakeMetering, Fault, HOUR, MARCH_10, PLAN, Rule, TestClock, crn, provision,
};
use osb_core::managed::{MemoryStore, Phase, StateStore, Timestamp};
use osb_iam::metering::{Measure, MeterError, MeteredInstance, UsageReporter, Window};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event and span field, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Text(&mut self.0.lock().unwrap()));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Text(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = self.0.lock().unwrap();
        text.push('\n');
        event.record(&mut Text(&mut text));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn no_api_key_or_token_in_any_log_event() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    provision(&*store, 5, PLAN).await;
    let clock = TestClock::at(MARCH_10 + 2 * HOUR + 120_000);
    let meter = |_: MeteredInstance, _: Window| async {
        Ok::<_, MeterError>(vec![Measure::new("API_CALL", 1_u64)])
    };
    let reporter = UsageReporter::builder(fake.client(clock.clone()), store, meter)
        .metered_plan(PLAN)
        .build()
        .unwrap();
    fake.rule(&crn(1), Rule::Reject(400));
    reporter.collect_due().await.unwrap();
    // An outage longer than the retry budget, then a revoked token, then recovery.
    fake.fault(Fault::Status(503), 4);
    assert!(reporter.deliver().await.unwrap().interrupted);
    fake.revoke_tokens();
    clock.advance(std::time::Duration::from_secs(7200));
    assert_eq!(reporter.deliver().await.unwrap().accepted, 4);
    assert!(fake.token_requests() >= 2);

    let logged = capture.0.lock().unwrap().clone();
    assert!(
        logged.contains("usage record rejected"),
        "the test saw no events: {logged}"
    );
    assert!(logged.contains("usage submission failed"), "{logged}");
    assert!(
        !logged.contains(API_KEY),
        "the API key was logged: {logged}"
    );
    assert!(!logged.contains("token-"), "a token was logged: {logged}");
    assert!(
        !logged.contains("Bearer"),
        "an Authorization header was logged: {logged}"
    );
}

/// Collects two hours over tombstones kept `retention_hours` after their delete, returning the
/// log.
async fn collect_over_tombstones_kept(retention_hours: i64) -> String {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let fake = FakeMetering::start().await;
    let store = Arc::new(MemoryStore::new());
    let h = MARCH_10 + HOUR;
    for (n, deleted_at) in [(1, h + 10 * MINUTE), (2, h + HOUR + 10 * MINUTE)] {
        let mut tombstone = deleting_instance(MARCH_10, deleted_at, Phase::Deleted);
        tombstone.lifecycle.retain_until = Some(Timestamp::from_unix_millis(
            deleted_at + retention_hours * HOUR,
        ));
        store
            .save_instance(&crn(n), None, &tombstone)
            .await
            .unwrap();
    }
    let clock = TestClock::at(h + HOUR + 2 * MINUTE);
    let reporter =
        UsageReporter::builder(fake.client(clock.clone()), store, Asked::default().meter())
            .metered_plan(PLAN)
            .build()
            .unwrap();
    assert_eq!(reporter.collect_due().await.unwrap().records_enqueued, 2);
    clock.set(h + 2 * HOUR + 2 * MINUTE);
    assert_eq!(reporter.collect_due().await.unwrap().records_enqueued, 1);
    capture.0.lock().unwrap().clone()
}

const SHORT_RETENTION: &str = "tombstones are kept for less than a day";

#[tokio::test(flavor = "current_thread")]
async fn a_tombstone_retention_under_a_day_is_logged_once() {
    let logged = collect_over_tombstones_kept(1).await;
    assert_eq!(logged.matches(SHORT_RETENTION).count(), 1, "{logged}");
    assert!(logged.contains("retention_secs=3600"), "{logged}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_tombstone_retention_of_a_day_is_not_logged() {
    let logged = collect_over_tombstones_kept(24).await;
    assert!(
        logged.contains("usage collection ran"),
        "the test saw no events: {logged}"
    );
    assert!(!logged.contains(SHORT_RETENTION), "{logged}");
}
