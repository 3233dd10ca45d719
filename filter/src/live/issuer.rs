//! One issuer's live state: the keys fetched so far, whether its published set is
//! authoritative yet, when its next refresh is due, the fetches in flight, the unknown-kid
//! rate limit and, for ALB issuers, the kid fetch budget and the kids known not to exist.

use std::collections::VecDeque;

use super::body::FetchedKey;
use super::source::{KeySource, LiveIssuer};
use crate::token::keys::PublicKey;

/// A fetch in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InFlight {
    /// The host's token for it.
    pub(super) token: u32,
    /// When it was dispatched, milliseconds.
    pub(super) started_ms: u64,
}

/// One ALB kid being fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KidFetch {
    /// The kid.
    pub(super) kid: String,
    /// The fetch.
    pub(super) fetch: InFlight,
}

/// The live state of one issuer.
#[derive(Debug)]
pub(super) struct IssuerState {
    /// The issuer's name in the table.
    pub(super) name: String,
    /// Counter prefix: `gatehouse.keys.<issuer, made metric-safe>`.
    metric: String,
    /// Where its keys come from.
    pub(super) source: KeySource,
    /// Kids of the compiled seed, until the first successful fetch replaces them (only used
    /// to say what changed).
    pub(super) seed_kids: Vec<String>,
    /// Fetched keys: the published set (JWKS) or the kids fetched so far, oldest first (ALB).
    pub(super) keys: Vec<FetchedKey>,
    /// Whether a JWKS fetch has succeeded: from then on the published set is authoritative.
    pub(super) authoritative: bool,
    /// When the next scheduled refresh is due, milliseconds (JWKS only).
    pub(super) next_due_ms: u64,
    /// Failed refreshes in a row (for the back-off).
    pub(super) failures: u32,
    /// The JWKS fetch in flight.
    pub(super) in_flight: Option<InFlight>,
    /// When the last unknown-kid refetch started, milliseconds.
    pub(super) last_refetch_ms: Option<u64>,
    /// ALB kid fetches in flight.
    pub(super) kid_fetches: Vec<KidFetch>,
    /// When recent ALB kid fetches started (the budget window), milliseconds.
    pub(super) kid_fetch_starts: VecDeque<u64>,
    /// ALB kids not found, with the time until which they are not fetched again, oldest first.
    pub(super) not_found: VecDeque<(String, u64)>,
}

impl IssuerState {
    /// Fresh state: nothing fetched, the first refresh due at once.
    pub(super) fn new(issuer: LiveIssuer) -> IssuerState {
        IssuerState {
            metric: format!(
                "gatehouse.keys.{}",
                crate::observe::metric_name(&issuer.name)
            ),
            name: issuer.name,
            source: issuer.source,
            seed_kids: issuer.seed_kids,
            keys: Vec::new(),
            authoritative: false,
            next_due_ms: 0,
            failures: 0,
            in_flight: None,
            last_refetch_ms: None,
            kid_fetches: Vec::new(),
            kid_fetch_starts: VecDeque::new(),
            not_found: VecDeque::new(),
        }
    }

    /// The full name of one of this issuer's counters.
    pub(super) fn metric(&self, event: &str) -> String {
        format!("{}.{event}", self.metric)
    }

    /// Whether keys come from a JWKS document.
    pub(super) fn is_jwks(&self) -> bool {
        matches!(self.source, KeySource::Jwks { .. })
    }

    /// The fetched key for `kid`: the key with that kid, or (JWKS) the set's only key when it
    /// has no kid, as for compiled keys.
    pub(super) fn key(&self, kid: Option<&str>) -> Option<&PublicKey> {
        if let Some(k) = self.keys.iter().find(|k| k.kid.as_deref() == kid) {
            return Some(&k.key);
        }
        match self.keys.as_slice() {
            [only] if only.kid.is_none() && self.is_jwks() => Some(&only.key),
            _ => None,
        }
    }

    /// Kids of the fetched keys, sorted (`(no kid)` for a key without one).
    pub(super) fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_else(|| "(no kid)".into()))
            .collect();
        kids.sort();
        kids
    }

    /// Whether an ALB kid is negatively cached at `now_ms`; expired entries are dropped.
    pub(super) fn is_not_found(&mut self, kid: &str, now_ms: u64) -> bool {
        self.not_found.retain(|(_, until)| *until > now_ms);
        self.not_found.iter().any(|(k, _)| k == kid)
    }

    /// Remembers an ALB kid as not found until `until_ms`, dropping the oldest past `cap`.
    pub(super) fn remember_not_found(&mut self, kid: &str, until_ms: u64, cap: usize) {
        self.not_found.retain(|(k, _)| k != kid);
        while cap > 0 && self.not_found.len() >= cap {
            self.not_found.pop_front();
        }
        if cap > 0 {
            self.not_found.push_back((kid.to_owned(), until_ms));
        }
    }

    /// Whether the ALB kid fetch budget allows one more fetch at `now_ms`.
    pub(super) fn kid_budget_left(&mut self, now_ms: u64, window_ms: u64, budget: usize) -> bool {
        while self
            .kid_fetch_starts
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
        {
            self.kid_fetch_starts.pop_front();
        }
        self.kid_fetch_starts.len() < budget
    }

    /// Adds a fetched ALB key, replacing one with the same kid and dropping the oldest past
    /// `cap`; returns the kids dropped.
    pub(super) fn add_kid(&mut self, kid: &str, key: PublicKey, cap: usize) -> Vec<String> {
        self.keys.retain(|k| k.kid.as_deref() != Some(kid));
        let mut dropped = Vec::new();
        while !self.keys.is_empty() && self.keys.len() >= cap {
            let old = self.keys.remove(0);
            dropped.extend(old.kid);
        }
        self.keys.push(FetchedKey {
            kid: Some(kid.to_owned()),
            key,
        });
        dropped
    }
}
