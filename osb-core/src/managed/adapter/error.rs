//! The adapter's own answers: to a halted operation, a disabled instance, a failing store and
//! contention. Every part of the adapter gives them; none of them depends on any part.

use crate::error::BrokerError;
use crate::managed::record::InstanceRecord;
use crate::managed::store::CasError;

/// The answer to a synchronous request whose operation was halted or taken away meanwhile.
pub(super) fn halted() -> BrokerError {
    BrokerError::concurrency_error()
        .with_description("Another request halted this operation before it finished.")
}

/// The answer to a bind or update on an instance IBM Cloud disabled (rules.md §17.3).
pub(super) fn disabled(record: &InstanceRecord) -> BrokerError {
    let reason = record
        .state_reason
        .as_deref()
        .map(|code| format!(" (reason: {code})"))
        .unwrap_or_default();
    BrokerError::unprocessable(format!(
        "This service instance is disabled{reason}; it keeps its data but accepts no new bindings or changes until it is enabled again."
    ))
}

/// A store failure: 500, the cause kept for logs and logged here with its whole source chain
/// (never sent: [`BrokerError::to_body`] hides it).
pub(super) fn internal(err: impl Into<crate::error::BoxError>) -> BrokerError {
    let err = BrokerError::internal(err);
    tracing::error!(cause = err.cause_chain().as_deref(), "state store failed");
    err
}

/// The answer after too many conflicting writes in a row.
pub(super) fn contended() -> BrokerError {
    BrokerError::concurrency_error()
}

/// Whether a compare-and-set error means "reload and retry".
pub(super) fn retry(err: CasError) -> Result<(), BrokerError> {
    match err {
        CasError::Conflict => Ok(()),
        CasError::Store(err) => Err(internal(err)),
    }
}
