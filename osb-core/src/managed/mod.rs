//! Broker bookkeeping done once: write the business logic, get the spec's rules for free.
//!
//! GUIDE_PLACEHOLDER

mod clock;
mod logic;
mod outbox;
mod record;
mod store;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

#[cfg(feature = "tokio")]
mod adapter;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use adapter::{AfterDelete, Builder, DeleteDuringCreate, Managed, Settings};
pub use clock::{Clock, SystemClock, Timestamp};
pub use logic::{
    DeprovisionError, Execution, LogicError, OperationKind, ServiceLogic, UpdateError,
};
pub use outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement, UsageOutbox,
};
pub use record::{
    BindingRecord, InstanceRecord, Lease, Lifecycle, OPERATION_HISTORY, OperationRecord,
    OperationStatus, Outcome, Phase, bind_identical, provision_identical, update_identical,
};
pub use store::{CasError, MemoryStore, StateStore, StoreError, Version, Versioned};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::{SqliteStore, SqliteStoreBuilder};
