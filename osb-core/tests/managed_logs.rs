//! What the managed adapter logs: the cause chains of failed background operations and of store
//! failures reach `tracing` at warn or error level, and never the platform.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    BindingRecord, CasError, DeprovisionError, Execution, InstanceRecord, Listed, LogicError,
    Managed, MemoryStore, OperationKind, ServiceLogic, StateStore, StoreError, Timestamp, Version,
    Versioned,
};
use osb_core::{
    ApiVersion, LastOperationRequest, OperationState, ProvisionRequest, ProvisionedInstance,
    RequestContext, ServiceBroker,
};

/// A tracing subscriber keeping every event as `LEVEL field=value …` lines.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<String>>);

impl LogCapture {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// The captured lines at WARN or ERROR.
    fn warnings(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.starts_with("WARN") || line.starts_with("ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.0.lock().unwrap();
        text.push('\n');
        text.push_str(event.metadata().level().as_str());
        event.record(&mut FieldText(&mut text));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A cause with a cause of its own, to see the whole chain logged.
#[derive(Debug, thiserror::Error)]
#[error("the quota service refused")]
struct QuotaRefused(#[source] std::io::Error);

const SERVICE: &str = "svc";
const ASYNC: &str = "async";

/// Creates fail (asynchronously) with a description and a two-level cause.
#[derive(Debug)]
struct FailingCreates(Arc<Catalog>);

impl FailingCreates {
    fn new() -> Self {
        let service = Service::new(SERVICE, "svc", "Fails", false).with_plan(Plan::new(
            ASYNC,
            "async",
            "Asynchronous",
        ));
        Self(Arc::new(Catalog::new(vec![service])))
    }
}

#[async_trait]
impl ServiceLogic for FailingCreates {
    fn catalog(&self) -> Arc<Catalog> {
        self.0.clone()
    }

    fn execution(&self, _kind: OperationKind, _plan_id: &str) -> Execution {
        Execution::Asynchronous
    }

    async fn create_instance(
        &self,
        _instance_id: &str,
        _request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        Err(
            LogicError::failed("The region is full.").with_source(QuotaRefused(
                std::io::Error::other("connection reset by quota.internal:8443"),
            )),
        )
    }

    async fn delete_instance(
        &self,
        _instance_id: &str,
        _instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError> {
        Ok(())
    }
}

/// A [`MemoryStore`] whose instance loads fail, with a cause, while `down` is set.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
}

#[async_trait]
impl StateStore for FlakyStore {
    async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("loading an instance failed").with_source(
                std::io::Error::other("connection refused by db.internal:5432"),
            ));
        }
        self.inner.load_instance(instance_id).await
    }
    async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError> {
        self.inner
            .save_instance(instance_id, expected, record)
            .await
    }
    async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError> {
        self.inner.remove_instance(instance_id, expected).await
    }
    async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
        self.inner.list_instances(after, limit).await
    }
    async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
        self.inner.load_binding(instance_id, binding_id).await
    }
    async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError> {
        self.inner
            .save_binding(instance_id, binding_id, expected, record)
            .await
    }
    async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        self.inner
            .remove_binding(instance_id, binding_id, expected)
            .await
    }
    async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
        self.inner.list_bindings(instance_id).await
    }
    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.purge_expired(now).await
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(true)
}

#[tokio::test(flavor = "current_thread")]
async fn failed_background_operation_logs_its_cause_chain_as_a_warning_or_error() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let broker = Managed::new(FailingCreates::new(), MemoryStore::new());
    broker
        .provision("i", ProvisionRequest::new(SERVICE, ASYNC), &ctx())
        .await
        .unwrap();
    let polled = loop {
        let polled = broker
            .last_operation("i", LastOperationRequest::default(), &ctx())
            .await
            .unwrap();
        if polled.state != OperationState::InProgress {
            break polled;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    // The platform sees the description only.
    assert_eq!(polled.description.as_deref(), Some("The region is full."));
    // The log has the whole chain, at warn or error.
    let warnings = capture.warnings();
    assert!(
        warnings.iter().any(|line| line
            .contains("the quota service refused: connection reset by quota.internal:8443")),
        "{}",
        capture.text()
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn store_failure_logs_its_cause_chain_as_an_error_and_answers_a_bare_500() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let store = Arc::new(FlakyStore::default());
    let broker = Managed::builder(FailingCreates::new())
        .store(store.clone())
        .build();
    store.down.store(true, Ordering::SeqCst);
    let err = broker
        .provision("i", ProvisionRequest::new(SERVICE, ASYNC), &ctx())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 500);
    let body = serde_json::to_string(&err.to_body()).unwrap();
    assert!(!body.contains("db.internal"), "{body}");
    let errors: Vec<String> = capture
        .warnings()
        .into_iter()
        .filter(|line| line.starts_with("ERROR"))
        .collect();
    assert!(
        errors.iter().any(|line| line.contains(
            "state store failed: loading an instance failed: connection refused by db.internal:5432"
        )),
        "{}",
        capture.text()
    );
}
