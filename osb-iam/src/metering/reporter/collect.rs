//! The hourly collector: measure every instance active during an hour once and queue its
//! record.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use osb_core::managed::{
    ClaimOutcome, InstanceRecord, Lease, OperationStatus, OutboxEntry, Phase, Timestamp,
};

use super::metrics::Counters;
use super::{ReporterError, UsageReporter};
use crate::metering::meter::MeteredInstance;
use crate::metering::record::UsageRecord;
use crate::metering::window::Window;

/// Instances read from the store at a time (and claimed, measured, queued at a time).
const PAGE: usize = 100;
/// How long claims outlive an hour's deadline (after it nobody collects the hour again).
const CLAIM_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Tombstones kept for less than this lose their instance's last hour when the reporter is
/// down for that long (a day: an outage noticed and fixed the next morning): warn.
const SHORT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What one [`UsageReporter::collect_due`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CollectionReport {
    /// Hours fully collected (by this replica or, for some instances, another).
    pub hours_collected: u32,
    /// Hours found past IBM's submission deadline: their usage is lost.
    pub hours_missed: u32,
    /// Records this call added to the outbox.
    pub records_enqueued: u64,
    /// `false` when an hour could not be finished (a measuring failure, or another replica
    /// still holds some of its instances): it is collected again on the next call.
    pub complete: bool,
}

impl UsageReporter {
    /// Collects every finished hour not collected yet, oldest first: the hours since the last
    /// collection (or, on the very first run, the last finished hour), each at least
    /// [`collect_delay`](super::UsageReporterBuilder::collect_delay) after its end. Hours whose
    /// deadline passed are counted as missed and skipped. Stops at the first hour it cannot
    /// finish, to try it again on the next call.
    ///
    /// # Errors
    ///
    /// [`ReporterError::Store`] when the store fails; nothing is lost, the next call resumes.
    pub async fn collect_due(&self) -> Result<CollectionReport, ReporterError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let ready = Timestamp::from_unix_millis(
            now.as_unix_millis()
                .saturating_sub(i64::try_from(inner.collect_delay.as_millis()).unwrap_or(i64::MAX)),
        );
        // Hours ending at or before `ready` can be collected.
        let latest_end = Window::hour_containing(ready).start();
        let mut hour = match inner.outbox.load_cursor(&inner.cursor).await? {
            Some(next) => Window::hour_containing(next),
            None => Window::hour_containing(latest_end).previous(),
        };
        let mut report = CollectionReport {
            complete: true,
            ..CollectionReport::default()
        };
        while hour.end() <= latest_end {
            if now >= hour.deadline() {
                // IBM no longer takes this hour: count it, say so, move on.
                report.hours_missed += 1;
                Counters::add(&inner.counters.hours_missed, 1);
                tracing::warn!(
                    hour_start = hour.start().as_unix_millis(),
                    deadline = hour.deadline().as_unix_millis(),
                    "usage hour missed: its submission deadline passed before it was collected"
                );
            } else {
                let (enqueued, complete) = self.collect_hour(hour).await?;
                report.records_enqueued += enqueued;
                if !complete {
                    report.complete = false;
                    break;
                }
                report.hours_collected += 1;
            }
            inner
                .outbox
                .advance_cursor(&inner.cursor, hour.end())
                .await?;
            hour = hour.next_hour();
        }
        inner.outbox.purge_collections(now).await?;
        tracing::debug!(
            hours_collected = report.hours_collected,
            hours_missed = report.hours_missed,
            records = report.records_enqueued,
            "usage collection ran"
        );
        Ok(report)
    }

    /// Measures every instance active at some time during `hour` (each once across replicas)
    /// and queues the records. Returns how many records were queued, and whether the hour is
    /// finished for every such instance.
    ///
    /// The listing includes the bookkeeping's tombstones, so an instance deleted after `hour`
    /// started is still measured for it (see [`metered`]).
    async fn collect_hour(&self, hour: Window) -> Result<(u64, bool), ReporterError> {
        let inner = &*self.inner;
        let mut after: Option<String> = None;
        let mut enqueued = 0_u64;
        let mut complete = true;
        let retain_until = hour.deadline().saturating_add(CLAIM_RETENTION);
        loop {
            let page = inner
                .instances
                .list_instances(after.as_deref(), PAGE)
                .await?;
            let full_page = page.len() == PAGE;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            // A store and a meter that answer at once never suspend this loop: give the worker
            // back between pages, so no request waits on a scan of every instance.
            tokio::task::yield_now().await;
            let active: Vec<MeteredInstance> = page
                .into_iter()
                .filter_map(|(instance_id, listed)| {
                    // One unreadable row must not stop the collection of the others; waiting
                    // for it would miss every later hour.
                    let v = match listed {
                        Ok(v) => v,
                        Err(error) => {
                            Counters::add(&inner.counters.unreadable_instances, 1);
                            tracing::error!(
                                instance_id = %instance_id,
                                error = %error,
                                hour_start = hour.start().as_unix_millis(),
                                "an instance record cannot be read: its usage is not collected"
                            );
                            return None;
                        }
                    };
                    self.warn_if_short_retention(&v.record);
                    metered(instance_id, v.record, hour, &inner.metered_plans)
                })
                .collect();
            if !active.is_empty() {
                let (added, finished) = self.collect_page(hour, active, retain_until).await?;
                enqueued += added;
                complete &= finished;
            }
            if !full_page {
                break;
            }
        }
        Ok((enqueued, complete))
    }

    async fn collect_page(
        &self,
        hour: Window,
        active: Vec<MeteredInstance>,
        retain_until: Timestamp,
    ) -> Result<(u64, bool), ReporterError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let keys: Vec<String> = active
            .iter()
            .map(|i| {
                serde_json::json!([
                    inner.client.resource_id(),
                    hour.start().as_unix_millis(),
                    i.instance_id
                ])
                .to_string()
            })
            .collect();
        let lease = Lease::new(inner.owner.clone(), now.saturating_add(inner.claim_lease));
        let claims = inner
            .outbox
            .claim_collections(&keys, &lease, now, retain_until)
            .await?;
        let mut complete = true;
        let mut claimed = Vec::new();
        for ((key, instance), claim) in keys.into_iter().zip(active).zip(claims) {
            match claim {
                ClaimOutcome::Claimed => claimed.push((key, instance)),
                ClaimOutcome::Held => complete = false,
                _ => {}
            }
        }
        let measured = futures_util::future::join_all(
            claimed
                .iter()
                .map(|(_, instance)| inner.meter.0.measure(instance, hour)),
        )
        .await;
        let mut finished = Vec::with_capacity(claimed.len());
        let mut entries = Vec::with_capacity(claimed.len());
        for ((key, instance), result) in claimed.into_iter().zip(measured) {
            match result {
                Ok(measures) if measures.is_empty() => finished.push(key),
                Ok(measures) => {
                    match self.record(&instance, hour, measures) {
                        Ok(entry) => entries.push(entry),
                        Err(error) => {
                            // Measuring again would give the same answer: report, don't retry.
                            Counters::add(&inner.counters.measure_failures, 1);
                            tracing::error!(
                                instance_id = %instance.instance_id,
                                error = %error,
                                "measured usage is invalid and is not reported"
                            );
                        }
                    }
                    finished.push(key);
                }
                Err(error) => {
                    complete = false;
                    Counters::add(&inner.counters.measure_failures, 1);
                    tracing::warn!(
                        instance_id = %instance.instance_id,
                        error = %error,
                        "measuring usage failed; the hour is measured again later"
                    );
                }
            }
        }
        let added = inner
            .outbox
            .finish_collections(&finished, &inner.owner, &entries)
            .await?;
        let added = u64::try_from(added).unwrap_or(u64::MAX);
        Counters::add(&inner.counters.enqueued, added);
        if added > 0 {
            inner.wake.notify_one();
        }
        Ok((added, complete))
    }

    /// Logs once per reporter when a tombstone shows that the broker keeps tombstones for less
    /// than [`SHORT_TOMBSTONE_RETENTION`]: the reporter reads the retention in effect from the
    /// tombstones themselves, the broker's settings being out of its reach.
    fn warn_if_short_retention(&self, record: &InstanceRecord) {
        let Some(retention) = tombstone_retention(record) else {
            return;
        };
        if retention < SHORT_TOMBSTONE_RETENTION
            && !self
                .inner
                .short_retention_warned
                .swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                retention_secs = retention.as_secs(),
                minimum_secs = SHORT_TOMBSTONE_RETENTION.as_secs(),
                "tombstones are kept for less than a day: if the usage reporter is down longer \
                 than that, instances deleted meanwhile are not billed for their last hour \
                 (raise the broker's tombstone_retention)"
            );
        }
    }

    fn record(
        &self,
        instance: &MeteredInstance,
        hour: Window,
        measures: Vec<crate::metering::Measure>,
    ) -> Result<OutboxEntry, crate::metering::InvalidRecord> {
        let mut builder = UsageRecord::builder(&instance.instance_id, &instance.plan_id)
            .window(hour.start().as_unix_millis(), hour.end().as_unix_millis())
            .measures(measures);
        if let Some(region) = &self.inner.region {
            builder = builder.region(region);
        }
        let record = builder.build()?;
        // OK because a checked record always serialises.
        let payload = serde_json::to_string(&record).unwrap_or_default();
        Ok(OutboxEntry::new(
            record.duplicate_key(),
            payload,
            self.inner.clock.now(),
        ))
    }
}

/// How long the bookkeeping keeps this tombstone: from its delete's end, when the adapter set
/// `retain_until` to that time plus its retention.
fn tombstone_retention(record: &InstanceRecord) -> Option<Duration> {
    let life = &record.lifecycle;
    if !life.is_deleted() {
        return None;
    }
    let deleted = life.latest().filter(|op| op.kind.deletes())?.finished_at?;
    Some(life.retain_until?.duration_since(deleted))
}

/// The instance to measure for `hour`, if it was active (created, enabled, on a metered plan)
/// at some time during it: if its active time, from its create (or re-enable) to its delete
/// request (or disable), overlaps `hour`.
///
/// - Ready: active since its create finished.
/// - Being deleted or deleted (a tombstone): active until its delete was requested, if the
///   create had succeeded (a delete that halted a create leaves an instance that never ran).
/// - Creating, create failed: never active.
/// - Disabled: active until it was disabled ([`InstanceRecord::enabled_changed_at`]); without
///   that time (a record from before it was kept) since an unknown time, so never.
/// - Re-enabled: active since then. Only the latest change is recorded, so before it the
///   instance counts as having been disabled.
///
/// An instance whose create is no longer in its operation history is old enough to count as
/// created before `hour`.
fn metered(
    instance_id: String,
    record: InstanceRecord,
    hour: Window,
    metered_plans: &BTreeSet<String>,
) -> Option<MeteredInstance> {
    let life = &record.lifecycle;
    if !metered_plans.contains(&record.plan_id) {
        return None;
    }
    let deleted_at = match life.phase {
        Phase::Ready => None,
        // The delete is the latest operation of a record being deleted or deleted.
        Phase::Deleting | Phase::Deleted if life.created => {
            Some(life.latest().filter(|op| op.kind.deletes())?.started_at)
        }
        _ => return None,
    };
    let (enabled_at, disabled_at) = match (record.enabled, record.enabled_changed_at) {
        (true, changed) => (changed, None),
        (false, Some(changed)) => (None, Some(changed)),
        (false, None) => return None,
    };
    let created_at = life
        .operations
        .iter()
        .rev()
        .find(|op| op.kind.creates() && op.status == OperationStatus::Succeeded)
        .and_then(|op| op.finished_at);
    // Active from the later of create and re-enable, until the earlier of delete and disable.
    let since = created_at.max(enabled_at);
    let until = [deleted_at, disabled_at].into_iter().flatten().min();
    if since.is_some_and(|at| at >= hour.end()) || until.is_some_and(|at| at <= hour.start()) {
        return None;
    }
    Some(MeteredInstance {
        instance_id,
        plan_id: record.plan_id.clone(),
        deleted_at,
        disabled_at,
        record,
    })
}
