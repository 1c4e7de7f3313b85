//! Counters a provider can alert on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of the reporter's state, from [`UsageReporter::metrics`](super::UsageReporter::metrics).
///
/// Alert on `oldest_pending_age` (records are not getting out), `rejected` (IBM refused
/// records: inspect them with [`UsageReporter::rejected`](super::UsageReporter::rejected)) and
/// `hours_missed` (usage that can no longer be reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Records in the outbox waiting to be delivered (all replicas).
    pub pending: u64,
    /// How long the oldest pending record has waited.
    pub oldest_pending_age: Option<Duration>,
    /// Rejected records kept in the outbox for inspection (all replicas).
    pub rejected: u64,
    /// Hours this process found past IBM's submission deadline before they were collected.
    pub hours_missed: u64,
    /// Records this process enqueued.
    pub enqueued: u64,
    /// Records IBM accepted from this process.
    pub accepted: u64,
    /// Records IBM already had (409) when this process sent them.
    pub duplicates: u64,
    /// Records this process saw refused (by IBM, or by the checks before sending).
    pub rejections: u64,
    /// Records this process scheduled for another attempt.
    pub retries: u64,
    /// Instances whose measuring failed (measured again later).
    pub measure_failures: u64,
    /// Instance records the store could not read (corrupt rows), counted each time a
    /// collection met one. Such an instance is logged at `error` with its id and skipped, so
    /// the others are still collected; its usage for that hour is not reported.
    pub unreadable_instances: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) hours_missed: AtomicU64,
    pub(super) enqueued: AtomicU64,
    pub(super) accepted: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) rejections: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) measure_failures: AtomicU64,
    pub(super) unreadable_instances: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn fill(&self, metrics: &mut Metrics) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metrics.hours_missed = get(&self.hours_missed);
        metrics.enqueued = get(&self.enqueued);
        metrics.accepted = get(&self.accepted);
        metrics.duplicates = get(&self.duplicates);
        metrics.rejections = get(&self.rejections);
        metrics.retries = get(&self.retries);
        metrics.measure_failures = get(&self.measure_failures);
        metrics.unreadable_instances = get(&self.unreadable_instances);
    }
}
