//! The verified-token cache, held on the filter's root context. A token's signature is checked
//! once; later requests with the same token reuse the result until the token expires.
//!
//! Keys are keyed 128-bit SipHash-2-4 digests of (source, token) under a secret drawn when the
//! cache is made: the cache holds no token text, and a collision between two tokens needs that
//! secret, which never leaves the worker. The cache is bounded: when full, the oldest entry goes
//! first. Expiry is re-checked on every hit, so a cached token never outlives its `exp`
//! (+ leeway).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

use siphasher::sip128::{Hasher128, SipHasher24};

use crate::token::{Source, VerifiedToken};

/// Cache key: a keyed digest of the token and where it came from.
pub type TokenKey = [u8; 16];

/// The secret a cache keys tokens with.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(u64, u64);

impl Secret {
    /// A fresh secret: std's `RandomState` draws its keys from the system's randomness (WASI
    /// `random_get` in a gateway); two constants hashed under a fresh one are two secret words.
    fn random() -> Secret {
        let state = std::hash::RandomState::new();
        Secret(state.hash_one(0u8), state.hash_one(1u8))
    }

    /// The secret's 16 bytes (to share it with the proxy's other workers).
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.0.to_le_bytes());
        out[8..].copy_from_slice(&self.1.to_le_bytes());
        out
    }

    /// A secret from [`Secret::to_bytes`]; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Secret> {
        let (a, b) = bytes.split_at_checked(8)?;
        Some(Secret(
            u64::from_le_bytes(a.try_into().ok()?),
            u64::from_le_bytes(b.try_into().ok()?),
        ))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

struct Entry {
    token: VerifiedToken,
    generation: u64,
}

/// A bounded cache of verified tokens.
pub struct TokenCache {
    secret: Secret,
    entries: HashMap<TokenKey, Entry>,
    order: VecDeque<(TokenKey, u64)>,
    capacity: usize,
    generation: u64,
    tag: u64,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (at least 1).
    pub fn new(capacity: usize) -> TokenCache {
        let capacity = capacity.max(1);
        TokenCache {
            secret: Secret::random(),
            entries: HashMap::with_capacity(capacity.min(4096)),
            order: VecDeque::new(),
            capacity,
            generation: 0,
            tag: 0,
        }
    }

    /// The cache, for tokens verified under the table tagged `tag` (the proxy's shared cache, in `gate`).
    pub fn tagged(mut self, tag: u64) -> TokenCache {
        self.tag = tag;
        self
    }

    /// The tag of the table its tokens were verified under.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The cache's secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Keys tokens under `secret` from now on (the proxy's shared one), dropping what was
    /// cached under the old one.
    pub fn use_secret(&mut self, secret: Secret) {
        if secret != self.secret {
            self.secret = secret;
            self.clear();
        }
    }

    /// The cache key of a token from `source`.
    pub fn key(&self, source: Source, token: &str) -> TokenKey {
        let mut h = SipHasher24::new_with_keys(self.secret.0, self.secret.1);
        h.write_u8(match source {
            Source::Alb => b'a',
            Source::Bearer => b'b',
            Source::AlbAccess => b'c',
            Source::Session => b's',
        });
        h.write(token.as_bytes());
        h.finish128().as_bytes()
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of tokens held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached verification of `key`, if any and still valid at `now`. An expired entry is
    /// dropped and reported as a miss, so the token is verified (and refused) again.
    pub fn get(&mut self, key: &TokenKey, now: u64) -> Option<VerifiedToken> {
        let valid = self.entries.get(key).map(|e| now <= e.token.expires_at)?;
        if valid {
            self.entries.get(key).map(|e| e.token.clone())
        } else {
            self.entries.remove(key);
            None
        }
    }

    /// Drops one entry (its key no longer in force).
    pub fn remove(&mut self, key: &TokenKey) {
        self.entries.remove(key);
    }

    /// Stores a verified token, evicting the oldest entries when full.
    pub fn insert(&mut self, key: TokenKey, token: VerifiedToken) {
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&old)
                .is_some_and(|e| e.generation == generation)
            {
                self.entries.remove(&old);
            }
        }
        self.generation += 1;
        self.entries.insert(
            key,
            Entry {
                token,
                generation: self.generation,
            },
        );
        self.order.push_back((key, self.generation));
        // Entries dropped on expiry leave stale places in the order queue; compact it so it
        // stays within a fixed multiple of the capacity.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(k, g)| entries.get(k).is_some_and(|e| e.generation == *g));
        }
    }

    /// Drops every entry (after a table reload: keys or issuers may have changed).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    /// Length of the eviction queue (for tests of boundedness).
    pub fn queue_len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn tok(user: &str, exp: u64) -> VerifiedToken {
        VerifiedToken {
            identity: Identity {
                user: user.into(),
                groups: vec![],
                issuer: "t".into(),
            },
            expires_at: exp,
            kid: None,
            sub: None,
            client: None,
        }
    }

    #[test]
    fn hit_until_expiry_then_miss() {
        let mut c = TokenCache::new(10);
        let k = c.key(Source::Bearer, "abc");
        c.insert(k, tok("a", 100));
        assert_eq!(c.get(&k, 100).map(|t| t.identity.user), Some("a".into()));
        assert_eq!(c.get(&k, 101), None);
        assert!(c.is_empty(), "expired entries are dropped");
    }

    #[test]
    fn source_is_part_of_the_key_and_the_secret_is_the_caches() {
        let c = TokenCache::new(1);
        assert_eq!(c.key(Source::Alb, "x"), c.key(Source::Alb, "x"));
        assert_ne!(c.key(Source::Alb, "x"), c.key(Source::Bearer, "x"));
        assert_ne!(c.key(Source::Alb, "x"), c.key(Source::AlbAccess, "x"));
        assert_ne!(c.key(Source::Alb, "x"), c.key(Source::Alb, "y"));
        // Another cache (another worker) keys the same token differently: its secret is its own.
        assert_ne!(
            c.key(Source::Alb, "x"),
            TokenCache::new(1).key(Source::Alb, "x")
        );
        assert_eq!(format!("{:?}", c.secret), "Secret(..)");
    }

    #[test]
    fn bounded_with_oldest_evicted_first() {
        let mut c = TokenCache::new(3);
        let keys: Vec<_> = (0..5)
            .map(|i| c.key(Source::Bearer, &i.to_string()))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            c.insert(*k, tok(&i.to_string(), 1000));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&keys[0], 0).is_none());
        assert!(c.get(&keys[1], 0).is_none());
        assert!(c.get(&keys[4], 0).is_some());
    }

    #[test]
    fn queue_stays_bounded_when_entries_expire() {
        let mut c = TokenCache::new(4);
        for i in 0..10_000u64 {
            let k = c.key(Source::Bearer, &(i % 2).to_string());
            c.insert(k, tok("a", i));
            let _ = c.get(&k, i + 1); // expired: dropped
        }
        assert!(c.queue_len() <= 8, "queue grew to {}", c.queue_len());
        assert!(c.len() <= 4);
    }
}
