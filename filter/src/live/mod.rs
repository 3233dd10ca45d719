//! Live keys: the background key refresher of one worker, as a pure state machine.
//!
//! The compiled table carries every issuer's keys as a seed, so a gateway decides with no
//! network at all. [`KeyRefresh`] keeps those keys fresh from the issuers' key endpoints
//! ([`KeySource`]): the root context drives it with timer ticks, fetch answers and unknown
//! kids from the request path; it answers through a [`FetchHost`] (dispatch a fetch, resume a
//! held request, log, count). It owns no clock and no I/O, so rotation, outage, back-off and
//! holding run in native unit tests with a mock host and a fake clock.
//!
//! # What it does
//!
//! - **Scheduled refresh (JWKS).** Each JWKS issuer is fetched at the first tick, then again
//!   after the answer's `Cache-Control: max-age`, clamped to
//!   [`RefreshBounds::min_interval_s`]..=[`RefreshBounds::max_interval_s`] (the minimum when
//!   absent). Never two fetches of one issuer in flight.
//! - **Answers.** A `200` whose body is within [`RefreshBounds::max_body_bytes`] and parses
//!   (the seed's JWKS rules; for ALB one SPKI PEM, EC P-256) replaces the issuer's fetched
//!   set (JWKS) or adds the kid (ALB). Anything else — another status, no answer (status 0,
//!   timeout), an oversized or malformed body — is refused with a log line and a counter; the
//!   last good keys stay and the refresh is retried after a back-off (the minimum interval,
//!   doubling per failure in a row, at most the maximum interval).
//! - **Authority.** After a JWKS issuer's first successful fetch its published set is
//!   authoritative: [`KeyRefresh::is_withdrawn`] is true for every kid outside it, compiled
//!   seed keys included, so a key the issuer withdrew stops verifying within one refresh
//!   (cached tokens too, when the cache asks). ALB issuers publish no list: their keys are
//!   only ever added, never withdrawn.
//! - **Unknown kid** ([`KeyRefresh::on_unknown_kid`]). JWKS: start a refetch of the issuer
//!   unless one started within [`RefreshBounds::refetch_interval_s`] (whatever the traffic)
//!   or one is in flight, then hold the request while a fetch is in flight. ALB: only kids
//!   shaped like UUIDs, not known to be missing, within a budget of
//!   [`RefreshBounds::max_kid_fetches`] fetches per issuer per refetch interval; one fetch per
//!   kid. A kid the endpoint does not have (`404`, or `403` as S3 answers for a missing
//!   object) or answers badly is not fetched again for the refetch interval (bounded, oldest
//!   out). A storm of random kids costs at most the budget in fetches.
//! - **Holding.** At most [`RefreshBounds::max_held`] requests per worker, each for at most
//!   [`RefreshBounds::hold_ms`]. A held request is resumed when its issuer's fetch (for ALB,
//!   its kid's fetch) ends, well or not, or at the first tick past its deadline; it is then
//!   decided with the keys as they are, so a kid still unknown gets `401 unknown_kid`.
//!
//! Only URLs from the table are fetched; an ALB kid enters a path only after [`is_uuid`].
//! Log lines are JSON and name issuers and kids, never key material.
//!
//! # Counters
//!
//! Per issuer, `gatehouse.keys.<issuer>.<event>` (the issuer name with every character but
//! ASCII letters, digits, `-` and `_` made `_`):
//!
//! | event | when |
//! | --- | --- |
//! | `refresh_ok` | a fetch answered with usable keys (JWKS set or ALB kid) |
//! | `refresh_failed` | a fetch failed: status, no answer, oversized, malformed, dispatch error |
//! | `kid_not_found` | the ALB endpoint has no key for a kid (`404` / `403`) |
//! | `refetch_unknown_kid` | an unknown kid started a fetch |
//! | `refetch_limited` | an unknown kid started no fetch: rate limit, ALB budget, negative cache |
//! | `kid_refused` | an ALB kid that is not a UUID (never fetched) |
//! | `held` | a request was held for a fetch |
//! | `held_refused` | a request could not be held: the worker's held queue is full |
//! | `held_resumed` | a held request was resumed when its fetch ended |
//! | `held_timed_out` | a held request was resumed at its deadline, its fetch still running |
//!
//! "Held, then allowed" is known only once the resumed request is decided: the request path
//! counts it.

mod answer;
mod body;
mod held;
mod issuer;
mod refresh;
mod source;
mod url;

#[cfg(test)]
mod tests;

pub use body::{is_uuid, max_age, read_fetched_jwks, MAX_KEYS_PER_SET};
pub use source::{KeySource, LiveIssuer, RefreshBounds};
pub use url::{alb_key_url, is_in_cluster, FetchUrl};

use crate::observe::Level;
use crate::token::keys::PublicKey;
use crate::token::LiveKeys;

use held::HeldRequests;
use issuer::IssuerState;

/// Extra time past a fetch's own timeout after which an unanswered fetch counts as failed
/// (the host always answers; this only keeps a lost answer from blocking an issuer forever).
pub const LOST_ANSWER_GRACE_MS: u64 = 1000;

/// Milliseconds in a second.
const SECOND_MS: u64 = 1000;

/// How often the root context should tick, milliseconds: held requests are let go at most
/// this late.
pub const TICK_PERIOD_MS: u64 = 250;

/// What the refresher needs from the proxy (the root context's host calls, and the request
/// path's: every [`crate::gate::Host`] is one).
pub trait FetchHost {
    /// Dispatches `GET <path>` with `:authority` `authority` through Envoy cluster `cluster`;
    /// the answer comes later, to [`KeyRefresh::on_response`], with the token returned here.
    /// A host that cannot fetch says so (the default), and a request with an unknown kid is
    /// then decided with the keys as they are.
    fn fetch(
        &mut self,
        _cluster: &str,
        _authority: &str,
        _path: &str,
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        Err("this host does not fetch".into())
    }
    /// [`FetchHost::fetch`] with more request headers (`if-none-match`). The default leaves
    /// them out, which costs a full answer where `304` would do, never a wrong one.
    fn fetch_with(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, String> {
        let _ = headers;
        self.fetch(cluster, authority, path, timeout_ms)
    }
    /// Dispatches `POST <path>` with `body` through Envoy cluster `cluster` (a sign-in's code
    /// exchange); the answer comes back to the request that dispatched it. The default cannot.
    fn post(
        &mut self,
        _cluster: &str,
        _authority: &str,
        _path: &str,
        _headers: &[(&str, &str)],
        _body: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        Err("this host does not post".into())
    }
    /// Lets a held HTTP request go (the host tolerates a context that is gone). The default
    /// does nothing: a host that cannot fetch never has a request held.
    // INVARIANT: the implementation decides the request again (with the keys as they are now)
    // before it continues it or answers it; `resume_http_request` alone would pass an
    // unverified request upstream.
    fn resume(&mut self, _context_id: u32) {}
    /// Writes a log line.
    fn log(&mut self, level: Level, message: &str);
    /// Adds one to a counter.
    fn count(&mut self, metric: &str);
}

/// What the request path does with a request whose kid is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKid {
    /// Held: pause the request; the refresher resumes it when its keys arrive or its wait
    /// ends, and it is then decided again.
    Hold,
    /// Not held: decide now with the keys as they are (`401 unknown_kid` while the kid is
    /// still unknown).
    Refuse,
}

/// The live keys of one worker and the fetches, limits and held requests that keep them fresh.
#[derive(Debug)]
pub struct KeyRefresh {
    issuers: Vec<IssuerState>,
    bounds: RefreshBounds,
    held: HeldRequests,
}

impl KeyRefresh {
    /// A refresher for these issuers; nothing is fetched before the first tick. Refuses bad
    /// bounds, duplicate issuers and fetch paths that do not start with `/`.
    pub fn new(issuers: Vec<LiveIssuer>, bounds: RefreshBounds) -> Result<KeyRefresh, String> {
        bounds.check()?;
        let mut states: Vec<IssuerState> = Vec::with_capacity(issuers.len());
        for issuer in issuers {
            if states.iter().any(|s| s.name == issuer.name) {
                return Err(format!("issuer `{}` is listed twice", issuer.name));
            }
            let path = match &issuer.source {
                KeySource::Jwks { path, .. } => path,
                KeySource::AlbPerKid { path_prefix, .. } => path_prefix,
            };
            if !path.starts_with('/') {
                return Err(format!(
                    "issuer `{}`: key path `{path}` must start with `/`",
                    issuer.name
                ));
            }
            states.push(IssuerState::new(issuer));
        }
        Ok(KeyRefresh {
            held: HeldRequests::new(bounds.max_held),
            issuers: states,
            bounds,
        })
    }

    /// Takes over what `old` (the refresher of the table this one replaces) learned about the
    /// issuers both have with the same key source: the fetched keys, whether they are
    /// authoritative, the refresh schedule and the ALB kids known missing. A table reload
    /// (a new RoleBinding, say) thus neither brings back a seed key the issuer withdrew nor
    /// refetches what is current. Fetches in flight and held requests are not taken over:
    /// the old refresher lets its held requests go, and an issuer whose fetch was in flight
    /// is fetched again at the next tick.
    pub fn adopt(&mut self, old: &KeyRefresh) {
        for s in &mut self.issuers {
            let Some(o) = old
                .issuers
                .iter()
                .find(|o| o.name == s.name && o.source == s.source)
            else {
                continue;
            };
            s.keys.clone_from(&o.keys);
            s.authoritative = o.authoritative;
            s.failures = o.failures;
            s.last_refetch_ms = o.last_refetch_ms;
            s.not_found.clone_from(&o.not_found);
            s.kid_fetch_starts.clone_from(&o.kid_fetch_starts);
            s.next_due_ms = if o.in_flight.is_some() {
                0
            } else {
                o.next_due_ms
            };
        }
    }

    /// The bounds in force (the wiring reads `max_body_bytes` before reading a body).
    pub fn bounds(&self) -> &RefreshBounds {
        &self.bounds
    }

    fn issuer(&self, name: &str) -> Option<&IssuerState> {
        self.issuers.iter().find(|s| s.name == name)
    }

    /// The fetched key for `kid` of `issuer`, to try besides the compiled seed keys (unless
    /// [`KeyRefresh::is_withdrawn`]).
    pub(crate) fn key(&self, issuer: &str, kid: Option<&str>) -> Option<&PublicKey> {
        self.issuer(issuer)?.key(kid)
    }

    /// Whether `issuer`'s published key set is authoritative: it is a JWKS issuer and a fetch
    /// has succeeded.
    pub fn is_authoritative(&self, issuer: &str) -> bool {
        self.issuer(issuer).is_some_and(|s| s.authoritative)
    }

    /// Whether the key `kid` of `issuer` is withdrawn: the issuer's published set is
    /// authoritative and does not hold it. A withdrawn compiled seed key must not verify,
    /// nor may a cached token verified with it.
    pub fn is_withdrawn(&self, issuer: &str, kid: Option<&str>) -> bool {
        self.issuer(issuer)
            .is_some_and(|s| s.authoritative && s.key(kid).is_none())
    }

    /// Kids of `issuer`'s fetched keys, sorted (for `explain`, logs and tests).
    pub fn kids(&self, issuer: &str) -> Vec<String> {
        self.issuer(issuer)
            .map(IssuerState::kids)
            .unwrap_or_default()
    }

    /// Number of issuers whose keys are refreshed.
    pub fn issuers(&self) -> usize {
        self.issuers.len()
    }

    /// Number of requests held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Forgets a held request whose stream ended meanwhile (it is not resumed). Returns
    /// whether it was held.
    pub fn forget(&mut self, context_id: u32) -> bool {
        !self.held.take(|h| h.context_id == context_id).is_empty()
    }

    /// The fetch with `token` will never be answered: the request context that dispatched it
    /// ended first (the proxy cancels a context's fetches with it). Not a failure of the
    /// issuer: a JWKS issuer is fetched again at the next tick, an ALB kid when next seen.
    pub fn abandon(&mut self, token: u32, now_ms: u64) {
        for s in &mut self.issuers {
            if s.in_flight.as_ref().is_some_and(|f| f.token == token) {
                s.in_flight = None;
                s.next_due_ms = now_ms;
                return;
            }
            s.kid_fetches.retain(|k| k.fetch.token != token);
        }
    }

    /// Resumes every held request (before this refresher is replaced or dropped).
    pub fn release_all<H: FetchHost>(&mut self, host: &mut H) {
        for held in self.held.take(|_| true) {
            host.resume(held.context_id);
            if let Some(s) = self.issuers.get(held.issuer) {
                host.count(&s.metric("held_resumed"));
            }
        }
    }
}

impl LiveKeys for KeyRefresh {
    fn key(&self, issuer: &str, kid: Option<&str>) -> Option<&PublicKey> {
        KeyRefresh::key(self, issuer, kid)
    }

    fn is_authoritative(&self, issuer: &str) -> bool {
        KeyRefresh::is_authoritative(self, issuer)
    }
}
