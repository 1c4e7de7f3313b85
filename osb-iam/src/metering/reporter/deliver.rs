//! The sender: due outbox records to IBM, and what IBM said back into the outbox.

use osb_core::managed::Settlement;

use super::metrics::Counters;
use super::{ReporterError, UsageReporter};
use crate::metering::client::{MAX_BATCH, Outcome};
use crate::metering::record::UsageRecord;

/// What one [`UsageReporter::deliver`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Requests sent (one per batch of at most 100 records).
    pub batches: u32,
    /// Records IBM accepted.
    pub accepted: u64,
    /// Records IBM already had (409).
    pub duplicates: u64,
    /// Records refused (by IBM, or by the checks before sending) and kept for inspection.
    pub rejected: u64,
    /// Records scheduled for another attempt.
    pub retry_later: u64,
    /// Whether a batch got no answer (outage, auth failure): delivery stopped there.
    pub interrupted: bool,
}

impl UsageReporter {
    /// Sends every due record in the outbox, 100 per request, until none is due or a request
    /// fails; settles each record by IBM's answer.
    ///
    /// # Errors
    ///
    /// [`ReporterError::Store`] when the store fails. Records already sent but not yet settled
    /// stay leased and are sent again after the
    /// [send lease](super::UsageReporterBuilder::send_lease); IBM answers them 409.
    pub async fn deliver(&self) -> Result<DeliveryReport, ReporterError> {
        let inner = &*self.inner;
        let mut report = DeliveryReport::default();
        loop {
            let now = inner.clock.now();
            let leased = inner
                .outbox
                .lease_due(now, now.saturating_add(inner.send_lease), MAX_BATCH)
                .await?;
            if leased.is_empty() {
                break;
            }
            let mut settlements = Vec::with_capacity(leased.len());
            let mut sent = Vec::with_capacity(leased.len());
            let mut records = Vec::with_capacity(leased.len());
            for entry in leased {
                match serde_json::from_str::<UsageRecord>(&entry.payload) {
                    Ok(record) => {
                        records.push(record);
                        sent.push((entry.key, entry.attempts));
                    }
                    Err(error) => {
                        report.rejected += 1;
                        settlements.push((
                            entry.key,
                            Settlement::Rejected {
                                reason: format!("the stored record is unreadable: {error}"),
                            },
                        ));
                    }
                }
            }
            report.batches += 1;
            let retry_at = |attempts: u32| {
                now.saturating_add(inner.redelivery.delay(attempts.saturating_add(1)))
            };
            match inner.client.submit(&records).await {
                Ok(outcomes) => {
                    for ((key, attempts), outcome) in sent.into_iter().zip(outcomes) {
                        let settlement = match outcome {
                            Outcome::Accepted => {
                                report.accepted += 1;
                                Settlement::Delivered
                            }
                            Outcome::Duplicate => {
                                report.duplicates += 1;
                                Settlement::Delivered
                            }
                            Outcome::Rejected {
                                status,
                                code,
                                message,
                            } => {
                                report.rejected += 1;
                                let reason = format!(
                                    "IBM refused the record ({status} {}): {}",
                                    code.as_deref().unwrap_or("no code"),
                                    message.as_deref().unwrap_or("no message")
                                );
                                tracing::warn!(record = %key, %reason, "usage record rejected");
                                Settlement::Rejected { reason }
                            }
                            Outcome::Invalid(error) => {
                                report.rejected += 1;
                                tracing::warn!(record = %key, error = %error, "usage record not sendable");
                                Settlement::Rejected {
                                    reason: error.to_string(),
                                }
                            }
                            Outcome::RetryLater { .. } => {
                                report.retry_later += 1;
                                Settlement::Retry {
                                    not_before: retry_at(attempts),
                                }
                            }
                        };
                        settlements.push((key, settlement));
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        records = sent.len(),
                        "usage submission failed; the records stay queued"
                    );
                    report.interrupted = true;
                    report.retry_later += sent.len() as u64;
                    settlements.extend(sent.into_iter().map(|(key, attempts)| {
                        (
                            key,
                            Settlement::Retry {
                                not_before: retry_at(attempts),
                            },
                        )
                    }));
                }
            }
            inner.outbox.settle(&settlements, inner.clock.now()).await?;
            if report.interrupted {
                break;
            }
        }
        let counters = &inner.counters;
        Counters::add(&counters.accepted, report.accepted);
        Counters::add(&counters.duplicates, report.duplicates);
        Counters::add(&counters.rejections, report.rejected);
        Counters::add(&counters.retries, report.retry_later);
        if report.batches > 0 {
            tracing::info!(
                batches = report.batches,
                accepted = report.accepted,
                duplicates = report.duplicates,
                rejected = report.rejected,
                retry_later = report.retry_later,
                "usage delivered"
            );
        }
        Ok(report)
    }
}
