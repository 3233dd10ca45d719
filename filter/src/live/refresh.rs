//! The refresher's events: timer ticks, fetch answers and failures, unknown kids.

use super::answer::{status_failure, KidFailure};
use super::body::{alb_key, is_uuid, jwks_keys, max_age};
use super::held::Held;
use super::issuer::{InFlight, KidFetch};
use super::{FetchHost, KeyRefresh, KeySource, UnknownKid, LOST_ANSWER_GRACE_MS, SECOND_MS};

/// A fetch the refresher is waiting for.
enum Pending {
    /// Issuer `.0`'s JWKS document.
    Set(usize),
    /// Issuer `.0`'s key for kid `.1`.
    Kid(usize, String),
}

impl KeyRefresh {
    /// Timer tick: gives up on fetches whose answer is lost, starts due JWKS refreshes, and
    /// resumes held requests past their deadline.
    pub fn on_tick<H: FetchHost>(&mut self, now_ms: u64, host: &mut H) {
        let lost_after = self
            .bounds
            .fetch_timeout_ms
            .saturating_add(LOST_ANSWER_GRACE_MS);
        let lost = |f: &InFlight| now_ms.saturating_sub(f.started_ms) >= lost_after;
        let mut lost_tokens = Vec::new();
        for s in &self.issuers {
            lost_tokens.extend(s.in_flight.iter().filter(|f| lost(f)).map(|f| f.token));
            lost_tokens.extend(
                s.kid_fetches
                    .iter()
                    .filter(|k| lost(&k.fetch))
                    .map(|k| k.fetch.token),
            );
        }
        for token in lost_tokens {
            self.on_failure(token, "no answer within the fetch timeout", now_ms, host);
        }
        for i in 0..self.issuers.len() {
            let s = &self.issuers[i];
            if s.is_jwks() && s.in_flight.is_none() && now_ms >= s.next_due_ms {
                let _ = self.start_set_fetch(i, now_ms, host);
            }
        }
        for held in self.held.take(|h| now_ms >= h.deadline_ms) {
            host.resume(held.context_id);
            if let Some(s) = self.issuers.get(held.issuer) {
                host.count(&s.metric("held_timed_out"));
            }
        }
    }

    /// A fetch answered: `status` (0 when there was no answer), the response headers (for
    /// `Cache-Control`) and body. Answers to tokens the refresher does not know (a refresher
    /// since replaced, a fetch given up) are ignored.
    pub fn on_response<H: FetchHost>(
        &mut self,
        token: u32,
        status: u32,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: u64,
        host: &mut H,
    ) {
        let Some(pending) = self.take_pending(token) else {
            return;
        };
        let cap = self.bounds.max_body_bytes;
        let oversized = || format!("body of {} bytes is over the {cap}-byte cap", body.len());
        match pending {
            Pending::Set(i) => {
                let result = match status {
                    200 if body.len() > cap => Err(oversized()),
                    200 => jwks_keys(body).map(|keys| (keys, max_age(headers))),
                    other => Err(status_failure(other)),
                };
                self.finish_set(i, result, now_ms, host);
            }
            Pending::Kid(i, kid) => {
                let result = match status {
                    200 if body.len() > cap => Err(KidFailure::Refused(oversized())),
                    200 => alb_key(body).map_err(KidFailure::Refused),
                    403 | 404 => Err(KidFailure::NotFound),
                    other => Err(KidFailure::Failed(status_failure(other))),
                };
                self.finish_kid(i, &kid, result, now_ms, host);
            }
        }
    }

    /// A fetch failed without a usable answer (timeout, reset, a body over the cap the
    /// wiring did not read); `reason` is one line for the log.
    pub fn on_failure<H: FetchHost>(
        &mut self,
        token: u32,
        reason: &str,
        now_ms: u64,
        host: &mut H,
    ) {
        match self.take_pending(token) {
            Some(Pending::Set(i)) => self.finish_set(i, Err(reason.to_owned()), now_ms, host),
            Some(Pending::Kid(i, kid)) => {
                let failure = KidFailure::Failed(reason.to_owned());
                self.finish_kid(i, &kid, Err(failure), now_ms, host);
            }
            None => {}
        }
    }

    /// A request of context `context_id` carries a token of `issuer` whose `kid` is in
    /// neither the seed nor the fetched keys. Starts a fetch when the limits allow, and says
    /// whether to hold the request.
    pub fn on_unknown_kid<H: FetchHost>(
        &mut self,
        issuer: &str,
        kid: &str,
        context_id: u32,
        now_ms: u64,
        host: &mut H,
    ) -> UnknownKid {
        let Some(i) = self.issuers.iter().position(|s| s.name == issuer) else {
            return UnknownKid::Refuse;
        };
        let refetch_ms = self.bounds.refetch_interval_s.saturating_mul(SECOND_MS);
        let s = &mut self.issuers[i];
        if s.key(Some(kid)).is_some() {
            // Fetched meanwhile: decide now, with it.
            return UnknownKid::Refuse;
        }
        if s.is_jwks() {
            if s.in_flight.is_none() {
                let allowed = s
                    .last_refetch_ms
                    .is_none_or(|t| now_ms.saturating_sub(t) >= refetch_ms);
                if !allowed {
                    host.count(&s.metric("refetch_limited"));
                    return UnknownKid::Refuse;
                }
                s.last_refetch_ms = Some(now_ms);
                host.count(&s.metric("refetch_unknown_kid"));
                if self.start_set_fetch(i, now_ms, host).is_err() {
                    return UnknownKid::Refuse;
                }
            }
            return self.hold(i, kid, context_id, now_ms, host);
        }
        if !is_uuid(kid) {
            host.count(&s.metric("kid_refused"));
            return UnknownKid::Refuse;
        }
        if !s.kid_fetches.iter().any(|k| k.kid == kid) {
            let budget = self.bounds.max_kid_fetches;
            if s.is_not_found(kid, now_ms) || !s.kid_budget_left(now_ms, refetch_ms, budget) {
                host.count(&s.metric("refetch_limited"));
                return UnknownKid::Refuse;
            }
            host.count(&s.metric("refetch_unknown_kid"));
            if self.start_kid_fetch(i, kid, now_ms, host).is_err() {
                return UnknownKid::Refuse;
            }
        }
        self.hold(i, kid, context_id, now_ms, host)
    }

    /// Holds a request for issuer `i` while its fetch runs, when the queue has room.
    fn hold<H: FetchHost>(
        &mut self,
        i: usize,
        kid: &str,
        context_id: u32,
        now_ms: u64,
        host: &mut H,
    ) -> UnknownKid {
        let Some(s) = self.issuers.get(i) else {
            return UnknownKid::Refuse;
        };
        if self.held.contains(context_id) {
            return UnknownKid::Hold;
        }
        let held = Held {
            context_id,
            issuer: i,
            kid: kid.to_owned(),
            deadline_ms: now_ms.saturating_add(self.bounds.hold_ms),
        };
        if self.held.push(held) {
            host.count(&s.metric("held"));
            UnknownKid::Hold
        } else {
            host.count(&s.metric("held_refused"));
            UnknownKid::Refuse
        }
    }

    /// Finds and forgets the fetch with `token`.
    fn take_pending(&mut self, token: u32) -> Option<Pending> {
        for (i, s) in self.issuers.iter_mut().enumerate() {
            if s.in_flight.as_ref().is_some_and(|f| f.token == token) {
                s.in_flight = None;
                return Some(Pending::Set(i));
            }
            if let Some(at) = s.kid_fetches.iter().position(|k| k.fetch.token == token) {
                let fetch = s.kid_fetches.remove(at);
                return Some(Pending::Kid(i, fetch.kid));
            }
        }
        None
    }

    /// Dispatches issuer `i`'s JWKS fetch. A dispatch error counts as a failed refresh.
    fn start_set_fetch<H: FetchHost>(
        &mut self,
        i: usize,
        now_ms: u64,
        host: &mut H,
    ) -> Result<(), ()> {
        let timeout = self.bounds.fetch_timeout_ms;
        let Some(s) = self.issuers.get_mut(i) else {
            return Err(());
        };
        let KeySource::Jwks {
            cluster,
            authority,
            path,
        } = &s.source
        else {
            return Err(());
        };
        match host.fetch(cluster, authority, path, timeout) {
            Ok(token) => {
                s.in_flight = Some(InFlight {
                    token,
                    started_ms: now_ms,
                });
                Ok(())
            }
            Err(e) => {
                self.finish_set(i, Err(format!("dispatch failed: {e}")), now_ms, host);
                Err(())
            }
        }
    }

    /// Dispatches the fetch of ALB kid `kid` of issuer `i` (a UUID: safe in a path).
    fn start_kid_fetch<H: FetchHost>(
        &mut self,
        i: usize,
        kid: &str,
        now_ms: u64,
        host: &mut H,
    ) -> Result<(), ()> {
        let timeout = self.bounds.fetch_timeout_ms;
        let Some(s) = self.issuers.get_mut(i) else {
            return Err(());
        };
        let KeySource::AlbPerKid {
            cluster,
            authority,
            path_prefix,
        } = &s.source
        else {
            return Err(());
        };
        let path = format!("{path_prefix}{kid}");
        s.kid_fetch_starts.push_back(now_ms);
        match host.fetch(cluster, authority, &path, timeout) {
            Ok(token) => {
                s.kid_fetches.push(KidFetch {
                    kid: kid.to_owned(),
                    fetch: InFlight {
                        token,
                        started_ms: now_ms,
                    },
                });
                Ok(())
            }
            Err(e) => {
                let failure = KidFailure::Failed(format!("dispatch failed: {e}"));
                self.finish_kid(i, kid, Err(failure), now_ms, host);
                Err(())
            }
        }
    }
}
