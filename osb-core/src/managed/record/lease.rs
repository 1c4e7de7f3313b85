//! Leases: which replica runs an operation, and until when.

use serde::{Deserialize, Serialize};

use crate::managed::clock::Timestamp;

/// Ownership of a running operation: the replica `owner` runs it until `expires_at` and renews
/// the lease while it works. After expiry any replica may take the operation over.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lease {
    /// The owning replica's id.
    pub owner: String,
    /// When the lease ends unless renewed.
    pub expires_at: Timestamp,
}

impl Lease {
    /// A lease for `owner` until `expires_at`.
    pub fn new(owner: impl Into<String>, expires_at: Timestamp) -> Self {
        Self {
            owner: owner.into(),
            expires_at,
        }
    }

    /// Whether the lease has ended at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}
