//! Usage metering for IBM Cloud's integrated billing: typed usage records, the metering API
//! client, and a reporter that measures every instance active during an hour (those deleted or
//! disabled since included) and delivers each record exactly once through a durable outbox.
//!
//! A service sold with integrated billing is paid for what its instances use: the provider
//! must submit usage for every active instance of a metered plan every hour, and IBM never
//! retries for it (osb-core rules.md §17.7; IBM Cloud docs, "Metering integration" and the Usage Metering
//! API). This module does that beside the broker:
//!
//! - [`UsageRecord`] is a record as IBM takes it, checked before sending ([`InvalidRecord`]):
//!   measures present, quantities finite and not negative, `end >= start`, the window over,
//!   IBM's [submission deadline](submission_deadline) not passed.
//! - [`MeteringClient`] posts batches of at most [`MAX_BATCH`] records with an IAM token from
//!   the [`ApiKeyClient`](crate::apikey::ApiKeyClient), maps IBM's per-record statuses to
//!   [`Outcome`]s and retries what may be retried.
//! - [`UsageReporter`] keeps records in the broker's state store
//!   ([`UsageOutbox`](osb_core::managed::UsageOutbox): memory, SQLite or PostgreSQL) from
//!   before the first send until IBM accepted or refused them, collects each hour once across
//!   replicas, and exposes [`Metrics`] to alert on.
//!
//! # Example
//!
//! A broker process with a metered plan whose meter counts API calls:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use osb_core::managed::MemoryStore;
//! use osb_iam::apikey::{ApiKey, ApiKeyClient};
//! use osb_iam::metering::{Measure, MeterError, MeteredInstance, MeteringClient, UsageReporter, Window};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The broker's state store: the same one its `Managed` adapter uses.
//! let store = Arc::new(MemoryStore::new());
//!
//! // API calls counted per (instance, hour) by the service itself.
//! let calls: Arc<Mutex<HashMap<(String, i64), u64>>> = Arc::default();
//! let counted = calls.clone();
//! let meter = move |instance: MeteredInstance, window: Window| {
//!     let count = counted
//!         .lock()
//!         .map(|c| c.get(&(instance.instance_id.clone(), window.start().as_unix_millis())).copied())
//!         .unwrap_or_default()
//!         .unwrap_or(0);
//!     async move { Ok::<_, MeterError>(vec![Measure::new("API_CALL", count)]) }
//! };
//!
//! // The service ID's API key comes from a secret store; staging while testing.
//! let tokens = ApiKeyClient::new(ApiKey::new("…"));
//! let client = MeteringClient::builder("my-service-id", tokens)
//!     .staging()
//!     .build()?;
//! let reporter = UsageReporter::builder(client, store.clone(), meter)
//!     .metered_plan("plan-pay-as-you-go")
//!     .build()?;
//!
//! // Runs beside the broker: hourly collection, continuous delivery.
//! let running = reporter.start();
//! let metrics = running.metrics().await?;
//! assert_eq!(metrics.pending, 0);
//! assert!(metrics.oldest_pending_age.is_none());
//! // On shutdown: finish the step in progress, then stop.
//! running.shutdown().await;
//! # let _ = (calls, Duration::ZERO);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **Nothing lost.** A record is in the store before any attempt to send it and leaves it
//!   only when IBM accepted it (201), already had it (409), or refused it (kept, with the
//!   reason, in [`UsageReporter::rejected`]). A crash at any point leaves it queued, or its
//!   hour unfinished and measured again.
//! - **Nothing billed twice.** A record's identity is its [duplicate
//!   key](UsageRecord::duplicate_key), fixed when it is queued; a resend after a crash or
//!   timeout carries the same key and IBM answers 409. Each (instance, hour) is claimed in the
//!   store before it is measured, so replicas do not measure it twice either.
//! - **No secrets in logs.** The API key and tokens never reach a log line or a `Debug` string.

mod client;
mod measure;
mod meter;
mod record;
mod reporter;
mod retry;
mod window;

pub use client::{
    InvalidBaseUrl, MAX_BATCH, MeteringClient, MeteringClientBuilder, Outcome, PRODUCTION_URL,
    STAGING_URL, SubmitError,
};
pub use measure::{Measure, Quantity};
pub use meter::{Meter, MeterError, MeteredInstance};
pub use record::{InvalidRecord, UsageRecord, UsageRecordBuilder};
pub use reporter::{
    CollectionReport, DeliveryReport, Metrics, ReporterConfigError, ReporterError, ReporterHandle,
    UsageReporter, UsageReporterBuilder,
};
pub use retry::RetryPolicy;
pub use window::{Window, submission_deadline};
