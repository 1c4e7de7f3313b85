//! The adapter's settings: the choices the spec leaves to brokers.

use std::time::Duration;

/// What a delete does when it arrives while the resource's create still runs
/// (spec.md "Deprovisioning" / "Unbinding": halt the create, or refuse with 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeleteDuringCreate {
    /// Accept the delete and halt the create: the create's `last_operation` reports `failed`
    /// and the logic's delete cleans up what the create left. The default.
    #[default]
    Halt,
    /// Refuse the delete with 422 `ConcurrencyError` until the create has finished.
    Refuse,
}

/// What `last_operation` answers for a resource whose delete has finished (rules.md §7.3:
/// platforms differ; both answers mean success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AfterDelete {
    /// `200 {"state": "succeeded"}` on every later poll while the tombstone lives. The default.
    #[default]
    Succeeded,
    /// `410 Gone`.
    Gone,
}

/// Settings of the [`Managed`](super::Managed) adapter; set them through its builder.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// See [`DeleteDuringCreate`].
    pub delete_during_create: DeleteDuringCreate,
    /// See [`AfterDelete`].
    pub after_delete: AfterDelete,
    /// How long a deleted resource's tombstone keeps answering polls.
    pub tombstone_retention: Duration,
    /// The `Retry-After` sent with `in progress`.
    pub retry_after: Duration,
    /// How long an operation's lease lasts without renewal.
    pub lease_duration: Duration,
    /// How often the owner renews its leases.
    pub lease_renewal: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delete_during_create: DeleteDuringCreate::Halt,
            after_delete: AfterDelete::Succeeded,
            tombstone_retention: Duration::from_secs(24 * 60 * 60),
            retry_after: Duration::from_secs(5),
            lease_duration: Duration::from_secs(60),
            lease_renewal: Duration::from_secs(20),
        }
    }
}
