//! The end of a fetch: take the keys or keep the last good ones, schedule the next
//! refresh, remember missing ALB kids, resume the held requests.

use serde_json::json;

use super::body::FetchedKey;
use super::held::Held;
use super::{FetchHost, KeyRefresh, SECOND_MS};
use crate::observe::Level;
use crate::token::encoding::shown;
use crate::token::keys::PublicKey;

/// Why an ALB kid fetch gave no key.
pub(super) enum KidFailure {
    /// The endpoint has no such kid.
    NotFound,
    /// A definite but unusable answer (oversized, malformed, wrong key type).
    Refused(String),
    /// Possibly transient (another status, no answer).
    Failed(String),
}

impl KeyRefresh {
    /// Issuer `i`'s JWKS fetch ended: take the new set or keep the last good one, schedule
    /// the next refresh, resume the issuer's held requests.
    pub(super) fn finish_set<H: FetchHost>(
        &mut self,
        i: usize,
        result: Result<(Vec<FetchedKey>, Option<u64>), String>,
        now_ms: u64,
        host: &mut H,
    ) {
        let (min, max) = (self.bounds.min_interval_s, self.bounds.max_interval_s);
        let Some(s) = self.issuers.get_mut(i) else {
            return;
        };
        let delay_s = match result {
            Ok((keys, max_age)) => {
                let before = if s.authoritative {
                    s.kids()
                } else {
                    let mut seed = s.seed_kids.clone();
                    seed.sort();
                    seed
                };
                s.keys = keys;
                s.authoritative = true;
                s.failures = 0;
                let after = s.kids();
                if before != after {
                    let added: Vec<String> = after
                        .iter()
                        .filter(|k| !before.contains(k))
                        .map(|k| shown(k))
                        .collect();
                    let removed: Vec<String> = before
                        .iter()
                        .filter(|k| !after.contains(k))
                        .map(|k| shown(k))
                        .collect();
                    let line = json!({
                        "gatehouse": "keys_changed",
                        "issuer": s.name,
                        "added": added,
                        "removed": removed,
                    });
                    host.log(Level::Info, &line.to_string());
                }
                host.count(&s.metric("refresh_ok"));
                max_age.unwrap_or(min).clamp(min, max)
            }
            Err(reason) => {
                s.failures = s.failures.saturating_add(1);
                let line = json!({
                    "gatehouse": "keys_refresh_failed",
                    "issuer": s.name,
                    "detail": reason,
                    "kept": if s.authoritative { "the last fetched keys" } else { "the compiled keys" },
                });
                host.log(Level::Warn, &line.to_string());
                host.count(&s.metric("refresh_failed"));
                let doubling = s.failures.saturating_sub(1).min(20);
                min.saturating_mul(1u64 << doubling).min(max)
            }
        };
        s.next_due_ms = now_ms.saturating_add(delay_s.saturating_mul(SECOND_MS));
        self.resume(|h| h.issuer == i, host);
    }

    /// ALB kid `kid` of issuer `i` was fetched: keep its key or remember it as missing,
    /// resume the requests held for it.
    pub(super) fn finish_kid<H: FetchHost>(
        &mut self,
        i: usize,
        kid: &str,
        result: Result<PublicKey, KidFailure>,
        now_ms: u64,
        host: &mut H,
    ) {
        let bounds = &self.bounds;
        let until = now_ms.saturating_add(bounds.refetch_interval_s.saturating_mul(SECOND_MS));
        let Some(s) = self.issuers.get_mut(i) else {
            return;
        };
        let (event, detail) = match result {
            Ok(key) => {
                let removed: Vec<String> = s
                    .add_kid(kid, key, bounds.max_alb_keys)
                    .iter()
                    .map(|k| shown(k))
                    .collect();
                let line = json!({
                    "gatehouse": "keys_changed",
                    "issuer": s.name,
                    "added": [shown(kid)],
                    "removed": removed,
                });
                host.log(Level::Info, &line.to_string());
                ("refresh_ok", None)
            }
            Err(KidFailure::NotFound) => {
                s.remember_not_found(kid, until, bounds.max_negative_kids);
                ("kid_not_found", None)
            }
            Err(KidFailure::Refused(reason)) => {
                s.remember_not_found(kid, until, bounds.max_negative_kids);
                ("refresh_failed", Some(reason))
            }
            Err(KidFailure::Failed(reason)) => ("refresh_failed", Some(reason)),
        };
        if event != "refresh_ok" {
            let line = json!({
                "gatehouse": "alb_kid_fetch_failed",
                "issuer": s.name,
                "kid": shown(kid),
                "result": event,
                "detail": detail,
            });
            let level = if detail.is_some() {
                Level::Warn
            } else {
                Level::Info
            };
            host.log(level, &line.to_string());
        }
        host.count(&s.metric(event));
        self.resume(|h| h.issuer == i && h.kid == kid, host);
    }

    /// Resumes the held requests `wanted` selects.
    fn resume<H: FetchHost>(&mut self, wanted: impl FnMut(&Held) -> bool, host: &mut H) {
        for held in self.held.take(wanted) {
            host.resume(held.context_id);
            if let Some(s) = self.issuers.get(held.issuer) {
                host.count(&s.metric("held_resumed"));
            }
        }
    }
}

/// One line for a status that is not a usable answer.
pub(super) fn status_failure(status: u32) -> String {
    match status {
        0 => "no answer (timeout or connection failure)".to_owned(),
        other => format!("status {other}"),
    }
}
