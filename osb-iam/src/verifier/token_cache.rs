//! Verified tokens by the SHA-256 of the whole token: a repeat token skips the RSA check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::IamClaims;
use crate::keys::{KeySet, PublicKey};

type TokenHash = [u8; 32];

struct Entry {
    claims: IamClaims,
    /// The key that verified the token: the entry is served only while this very key (not just
    /// its `kid`) is still in the cache's key set.
    key: Arc<PublicKey>,
}

/// A bounded map from token hash to verified claims. An entry is served only while `now < exp`
/// (no leeway) and while its signing key is still the one in memory (a refresh that replaces the
/// key set therefore empties the cache in effect: one RSA check per token again, every refresh).
/// When full, expired entries are dropped, and if that frees nothing the whole map is cleared
/// (bounded memory, no bookkeeping).
pub(super) struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<TokenHash, Entry>>,
}

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn hash(token: &str) -> TokenHash {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(super) fn get(&self, hash: &TokenHash, now: u64, keys: &KeySet) -> Option<IamClaims> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(hash)?;
        let published = keys
            .get(entry.key.kid())
            .is_some_and(|key| Arc::ptr_eq(key, &entry.key));
        (now < entry.claims.exp && published).then(|| entry.claims.clone())
    }

    pub(super) fn insert(&self, hash: TokenHash, claims: IamClaims, key: Arc<PublicKey>, now: u64) {
        if self.capacity == 0 || claims.exp <= now {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&hash) {
            entries.retain(|_, entry| entry.claims.exp > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(hash, Entry { claims, key });
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FAR: u64 = 4_102_444_800;

    fn fixture_keys() -> KeySet {
        KeySet::from_jwks_json(include_bytes!("../../tests/fixtures/jwks.json")).unwrap()
    }

    fn key(keys: &KeySet) -> Arc<PublicKey> {
        keys.get("20260101-example").unwrap().clone()
    }

    #[test]
    fn cache_never_holds_more_than_its_capacity() {
        let keys = fixture_keys();
        let cache = TokenCache::new(2);
        for token in ["a", "b", "c", "d", "e"] {
            let claims = IamClaims::new("iam-ServiceId-1", FAR);
            cache.insert(TokenCache::hash(token), claims, key(&keys), 1_000);
            assert!(cache.entries.lock().unwrap().len() <= 2);
        }
        assert!(cache.get(&TokenCache::hash("e"), 1_000, &keys).is_some());
    }

    #[test]
    fn full_cache_drops_expired_entries_first() {
        let keys = fixture_keys();
        let cache = TokenCache::new(2);
        cache.insert(
            TokenCache::hash("short"),
            IamClaims::new("a", 1_100),
            key(&keys),
            1_000,
        );
        cache.insert(
            TokenCache::hash("long"),
            IamClaims::new("b", FAR),
            key(&keys),
            1_000,
        );
        cache.insert(
            TokenCache::hash("new"),
            IamClaims::new("c", FAR),
            key(&keys),
            1_200,
        );
        assert!(cache.get(&TokenCache::hash("long"), 1_200, &keys).is_some());
        assert!(cache.get(&TokenCache::hash("new"), 1_200, &keys).is_some());
    }

    #[test]
    fn entry_is_not_served_at_or_after_exp() {
        let keys = fixture_keys();
        let cache = TokenCache::new(8);
        cache.insert(
            TokenCache::hash("t"),
            IamClaims::new("a", 2_000),
            key(&keys),
            1_000,
        );
        assert!(cache.get(&TokenCache::hash("t"), 1_999, &keys).is_some());
        assert!(cache.get(&TokenCache::hash("t"), 2_000, &keys).is_none());
        cache.insert(
            TokenCache::hash("old"),
            IamClaims::new("a", 900),
            key(&keys),
            1_000,
        );
        assert!(cache.get(&TokenCache::hash("old"), 800, &keys).is_none());
    }

    #[test]
    fn entry_is_not_served_once_its_key_was_replaced() {
        let keys = fixture_keys();
        let cache = TokenCache::new(8);
        cache.insert(
            TokenCache::hash("t"),
            IamClaims::new("a", FAR),
            key(&keys),
            1_000,
        );
        assert!(cache.get(&TokenCache::hash("t"), 1_000, &keys).is_some());
        // The same JWK set fetched again: new key objects under the same kid.
        assert!(
            cache
                .get(&TokenCache::hash("t"), 1_000, &fixture_keys())
                .is_none()
        );
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let keys = fixture_keys();
        let cache = TokenCache::new(0);
        cache.insert(
            TokenCache::hash("t"),
            IamClaims::new("a", FAR),
            key(&keys),
            1_000,
        );
        assert!(cache.get(&TokenCache::hash("t"), 1_000, &keys).is_none());
    }
}
