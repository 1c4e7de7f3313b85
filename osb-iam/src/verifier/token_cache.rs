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
/// key set therefore empties the cache in effect: one RSA check per token again, every refresh); when full, expired entries are
/// dropped, and if that frees nothing the whole map is cleared (bounded memory, no bookkeeping).
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
