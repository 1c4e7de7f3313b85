//! The short-lived, bounded cache of IAM's decisions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{AuthzRequest, Decision};

/// Decisions by SHA-256 of the request, each kept for `min(maxCacheAgeSeconds, max_age)`.
pub(super) struct DecisionCache {
    capacity: usize,
    max_age: Duration,
    entries: Mutex<HashMap<[u8; 32], (Decision, Instant)>>,
}

impl DecisionCache {
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            capacity,
            max_age,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn max_age(&self) -> Duration {
        self.max_age
    }

    fn enabled(&self) -> bool {
        self.capacity > 0 && !self.max_age.is_zero()
    }

    /// The key of `request`; the subject may hold a token body, so only its hash is kept.
    pub(super) fn key(request: &AuthzRequest) -> [u8; 32] {
        // OK to default: serialising plain strings cannot fail.
        let bytes = serde_json::to_vec(request).unwrap_or_default();
        Sha256::digest(bytes).into()
    }

    pub(super) fn get(&self, key: &[u8; 32], now: Instant) -> Option<Decision> {
        if !self.enabled() {
            return None;
        }
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(decision, _)| *decision)
    }

    pub(super) fn insert(&self, key: [u8; 32], decision: Decision, now: Instant) {
        let age = decision
            .max_cache_age
            .map_or(self.max_age, |age| age.min(self.max_age));
        if !self.enabled() || age.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= self.capacity {
                // Full of live entries: drop the one that would expire first.
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(key, _)| *key);
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, (decision, now + age));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::Subject;

    fn request(crn: &str) -> AuthzRequest {
        AuthzRequest::new(
            Subject::attributes("IBMid-1", "ibm"),
            crn,
            "svc.dashboard.view",
        )
    }

    #[test]
    fn a_decision_is_served_until_its_max_cache_age_and_not_after() {
        let cache = DecisionCache::new(8, Duration::from_secs(60));
        let now = Instant::now();
        let key = DecisionCache::key(&request("crn:a"));
        cache.insert(key, Decision::permitted(Some(Duration::from_secs(10))), now);
        assert!(cache.get(&key, now + Duration::from_secs(9)).is_some());
        assert!(cache.get(&key, now + Duration::from_secs(10)).is_none());
    }

    #[test]
    fn the_configured_max_age_caps_iams_cache_age() {
        let cache = DecisionCache::new(8, Duration::from_secs(5));
        let now = Instant::now();
        let key = DecisionCache::key(&request("crn:a"));
        cache.insert(
            key,
            Decision::permitted(Some(Duration::from_secs(600))),
            now,
        );
        assert!(cache.get(&key, now + Duration::from_secs(5)).is_none());
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let cache = DecisionCache::new(2, Duration::from_secs(60));
        let now = Instant::now();
        for (i, crn) in ["crn:a", "crn:b", "crn:c"].iter().enumerate() {
            let age = Duration::from_secs(10 + i as u64);
            cache.insert(
                DecisionCache::key(&request(crn)),
                Decision::denied(Some(age)),
                now,
            );
        }
        let len = cache
            .entries
            .lock()
            .map(|entries| entries.len())
            .unwrap_or_default();
        assert_eq!(len, 2);
        // The entry expiring soonest ("crn:a") made room.
        assert!(
            cache
                .get(&DecisionCache::key(&request("crn:a")), now)
                .is_none()
        );
        assert!(
            cache
                .get(&DecisionCache::key(&request("crn:c")), now)
                .is_some()
        );
    }

    #[test]
    fn different_actions_are_different_entries() {
        let a = AuthzRequest::new(Subject::attributes("IBMid-1", "ibm"), "crn:a", "x.view");
        let b = AuthzRequest::new(Subject::attributes("IBMid-1", "ibm"), "crn:a", "x.edit");
        assert_ne!(DecisionCache::key(&a), DecisionCache::key(&b));
    }
}
