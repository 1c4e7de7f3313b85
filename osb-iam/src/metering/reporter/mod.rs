//! The usage reporter: an hourly collector and a sender around a durable outbox.

mod collect;
mod deliver;
mod handle;
mod metrics;

pub use collect::CollectionReport;
pub use deliver::DeliveryReport;
pub use handle::ReporterHandle;
pub use metrics::Metrics;

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use osb_core::managed::{Clock, RejectedEntry, StateStore, StoreError, UsageOutbox};

use super::client::MeteringClient;
use super::meter::{DynMeter, Meter};
use super::retry::RetryPolicy;
use metrics::Counters;

/// The reporter could not read or write its store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReporterError {
    /// The state store failed; the step is tried again on the next cycle.
    #[error("the usage reporter's store failed")]
    Store(#[from] StoreError),
}

/// The reporter's configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReporterConfigError {
    /// No metered plan was named, so nothing would ever be reported.
    #[error("no metered plan configured: name the plans with usage-based pricing")]
    NoMeteredPlans,
}

/// Reports the usage of every active instance of a metered plan to IBM, every hour, without
/// losing or double-billing a record.
///
/// - **Collect** ([`collect_due`](Self::collect_due), hourly when [started](Self::start)): for
///   each finished UTC hour not yet collected, every instance the bookkeeping knows as active
///   at some time during the hour (created, enabled, on a metered plan) is measured by the
///   provider's [`Meter`] and its record queued in the outbox. Each (instance, hour) is claimed
///   in the shared store first, so with several replicas it is collected once. Hours missed
///   during downtime are caught up while IBM's [deadline](super::submission_deadline) allows;
///   hours past it are counted in [`Metrics::hours_missed`] and logged.
/// - **Deleted instances** are billed for the hour they were deleted in: the collector finds
///   them through the bookkeeping's tombstones and measures an instance whose deprovision was
///   requested after the hour started (and whose create had succeeded), telling the meter when
///   ([`MeteredInstance::deleted_at`](super::MeteredInstance::deleted_at)). An instance deleted
///   before the hour, or created after it, is not measured for it. This needs the tombstone
///   until the hour is collected: keep tombstones
///   ([`Builder::tombstone_retention`](osb_core::managed::Builder::tombstone_retention), default
///   24 h) longer than the longest reporter outage you want to survive; once a tombstone is
///   purged, the last hour of its instance is lost. To cover every hour IBM still takes (up to
///   the 2nd day of the following month), keep them 33 days. The collector reads the retention
///   in effect from the tombstones it lists and logs a warning, once, when it is under a day.
/// - **Disabled instances** (`bluemix_v1`) are billed for the hour they were disabled in: the
///   bookkeeping records when the enabled flag last changed
///   ([`InstanceRecord::enabled_changed_at`](osb_core::managed::InstanceRecord::enabled_changed_at)),
///   an instance disabled after the hour started is measured for it, and the meter is told when
///   ([`MeteredInstance::disabled_at`](super::MeteredInstance::disabled_at)). An instance
///   enabled again during the hour is measured for it too. Only the latest change is recorded:
///   for an hour before it, the instance counts as having had the other state (disabled and
///   enabled again after an hour ended but before it was collected, it is not billed for that
///   hour). A record stored before the time was kept, disabled, counts as disabled throughout.
/// - **An id provisioned again** before the hour its previous instance was deleted in is
///   collected replaces the tombstone, and that last hour is lost (an instance created in the
///   hour itself is measured for it anyway, one record per instance id and hour). IBM Cloud
///   names instances by CRNs that carry a new GUID for every instance, so this does not happen
///   there.
/// - **A plan change** is judged by the plan at collection time: an instance moved off a
///   metered plan during an hour is not measured for that hour, one moved onto it is measured
///   for the whole hour (the meter decides what it used).
/// - **The create time** comes from the record's recent operations (the last eight): an
///   instance that had more operations after its create by the time an old hour is collected
///   (a catch-up after a long outage) counts as created before that hour.
/// - **Deliver** ([`deliver`](Self::deliver), continuously when started): due outbox records go
///   to IBM in batches of 100. A record leaves the outbox only when IBM accepted it or already
///   had it (409); a refused record is kept with the reason ([`rejected`](Self::rejected)); a
///   record IBM asks to retry, or that met an outage, waits with backoff. A record's identity is
///   its duplicate key, fixed when it was queued, so a resend after a crash is answered 409,
///   never billed twice.
///
/// Clones share everything.
///
/// # Example
///
/// See the [module docs](super) for a complete program.
#[derive(Clone)]
pub struct UsageReporter {
    inner: Arc<Inner>,
}

struct Inner {
    client: MeteringClient,
    instances: Arc<dyn StateStore>,
    outbox: Arc<dyn UsageOutbox>,
    meter: DynMeter,
    metered_plans: BTreeSet<String>,
    region: Option<String>,
    owner: String,
    clock: Arc<dyn Clock>,
    cursor: String,
    collect_delay: Duration,
    claim_lease: Duration,
    send_lease: Duration,
    send_interval: Duration,
    redelivery: RetryPolicy,
    counters: Counters,
    wake: tokio::sync::Notify,
    /// Whether a too short tombstone retention was logged already.
    short_retention_warned: AtomicBool,
}

impl fmt::Debug for UsageReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("UsageReporter")
            .field("client", &inner.client)
            .field("metered_plans", &inner.metered_plans)
            .field("owner", &inner.owner)
            .field("meter", &inner.meter)
            .finish_non_exhaustive()
    }
}

impl UsageReporter {
    /// Starts configuring a reporter that sends with `client`, finds instances in and queues
    /// records to `store` (the broker's state store), and measures with `meter`.
    pub fn builder<S>(
        client: MeteringClient,
        store: Arc<S>,
        meter: impl Meter,
    ) -> UsageReporterBuilder
    where
        S: StateStore + UsageOutbox,
    {
        let clock = client.clock().clone();
        UsageReporterBuilder {
            client,
            instances: store.clone(),
            outbox: store,
            meter: DynMeter(Box::new(meter)),
            metered_plans: BTreeSet::new(),
            region: None,
            owner: None,
            clock,
            collect_delay: Duration::from_secs(60),
            claim_lease: Duration::from_secs(600),
            send_lease: Duration::from_secs(600),
            send_interval: Duration::from_secs(30),
            redelivery: RetryPolicy::new()
                .initial_delay(Duration::from_secs(60))
                .max_delay(Duration::from_secs(3600)),
        }
    }

    /// A snapshot of the counters, the outbox's included.
    ///
    /// # Errors
    ///
    /// [`ReporterError::Store`] when the store cannot be read.
    pub async fn metrics(&self) -> Result<Metrics, ReporterError> {
        let stats = self.inner.outbox.outbox_stats().await?;
        let now = self.inner.clock.now();
        let mut metrics = Metrics {
            pending: stats.pending,
            oldest_pending_age: stats.oldest_pending.map(|t| now.duration_since(t)),
            rejected: stats.rejected,
            ..Metrics::default()
        };
        self.inner.counters.fill(&mut metrics);
        Ok(metrics)
    }

    /// Rejected records (with IBM's reason), in key order after `after`, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`ReporterError::Store`] when the store cannot be read.
    pub async fn rejected(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, ReporterError> {
        Ok(self.inner.outbox.rejected(after, limit).await?)
    }

    /// This replica's id in collection claims.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }
}

/// Configures a [`UsageReporter`]; see [`UsageReporter::builder`].
#[must_use = "call .build() to get a reporter"]
pub struct UsageReporterBuilder {
    client: MeteringClient,
    instances: Arc<dyn StateStore>,
    outbox: Arc<dyn UsageOutbox>,
    meter: DynMeter,
    metered_plans: BTreeSet<String>,
    region: Option<String>,
    owner: Option<String>,
    clock: Arc<dyn Clock>,
    collect_delay: Duration,
    claim_lease: Duration,
    send_lease: Duration,
    send_interval: Duration,
    redelivery: RetryPolicy,
}

impl fmt::Debug for UsageReporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageReporterBuilder")
            .field("client", &self.client)
            .field("metered_plans", &self.metered_plans)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl UsageReporterBuilder {
    /// A plan with usage-based pricing: its active instances are measured every hour. Call once
    /// per plan; free and subscription plans need no usage (IBM's metering docs).
    ///
    /// Default: none (and [`build`](Self::build) refuses that).
    pub fn metered_plan(mut self, plan_id: impl Into<String>) -> Self {
        self.metered_plans.insert(plan_id.into());
        self
    }

    /// The region set on every record, for instance ids that are not CRNs with a region.
    ///
    /// Default: none.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// This replica's id in collection claims; unique per running replica.
    ///
    /// Default: a random id per reporter.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The clock for windows, deadlines and leases.
    ///
    /// Default: the metering client's clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long after an hour ends it is collected, so usage counted at the hour's end is in.
    ///
    /// Default: 60 s.
    pub fn collect_delay(mut self, delay: Duration) -> Self {
        self.collect_delay = delay;
        self
    }

    /// How long a replica holds an (instance, hour) claim before another may take it over
    /// (after a crash). Longer than measuring one page of 100 instances takes.
    ///
    /// Default: 10 minutes.
    pub fn claim_lease(mut self, lease: Duration) -> Self {
        self.claim_lease = lease;
        self
    }

    /// How long a sender holds the records of a batch in flight before another sender may send
    /// them again (after a crash). Longer than the client's timeout × attempts; a resend is
    /// answered 409, never billed twice.
    ///
    /// Default: 10 minutes.
    pub fn send_lease(mut self, lease: Duration) -> Self {
        self.send_lease = lease;
        self
    }

    /// How often the sender looks for due records when not woken by the collector.
    ///
    /// Default: 30 s.
    pub fn send_interval(mut self, interval: Duration) -> Self {
        self.send_interval = interval;
        self
    }

    /// How long a record waits after IBM asked for a retry or an outage, by attempt.
    ///
    /// Default: 1 minute, doubling, capped at 1 hour (the attempt limit is not used: records
    /// are retried until delivered, refused, or past the deadline).
    pub fn redelivery(mut self, policy: RetryPolicy) -> Self {
        self.redelivery = policy;
        self
    }

    /// Builds the reporter (nothing runs yet: call [`UsageReporter::start`], or drive
    /// [`collect_due`](UsageReporter::collect_due) and [`deliver`](UsageReporter::deliver)
    /// yourself).
    ///
    /// # Errors
    ///
    /// [`ReporterConfigError::NoMeteredPlans`] when no plan was named.
    pub fn build(self) -> Result<UsageReporter, ReporterConfigError> {
        if self.metered_plans.is_empty() {
            return Err(ReporterConfigError::NoMeteredPlans);
        }
        let owner = self.owner.unwrap_or_else(|| {
            format!(
                "reporter-{:016x}-{}",
                RandomState::new().hash_one(std::process::id()),
                std::process::id()
            )
        });
        let cursor = serde_json::json!(["metering-collected-through", self.client.resource_id()])
            .to_string();
        Ok(UsageReporter {
            inner: Arc::new(Inner {
                client: self.client,
                instances: self.instances,
                outbox: self.outbox,
                meter: self.meter,
                metered_plans: self.metered_plans,
                region: self.region,
                owner,
                clock: self.clock,
                cursor,
                collect_delay: self.collect_delay,
                claim_lease: self.claim_lease,
                send_lease: self.send_lease,
                send_interval: self.send_interval,
                redelivery: self.redelivery,
                counters: Counters::default(),
                wake: tokio::sync::Notify::new(),
                short_retention_warned: AtomicBool::new(false),
            }),
        })
    }
}
