//! What to fetch and within which bounds: the per-issuer [`KeySource`], the [`RefreshBounds`]
//! shared by every issuer, and the [`LiveIssuer`] the refresher is built from.

use super::url::FetchUrl;
use crate::table::{IssuerSpec, KeyRefreshSettings};

/// Where an issuer's keys are fetched from. Only these locations are ever fetched: they come
/// from the compiled table, never from a token (`jku`, `x5u` stay ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document (Dex `/keys`, EKS, Cognito, the cluster JWKS proxy). Once fetched, the
    /// published set is authoritative for the issuer.
    Jwks {
        /// Envoy cluster the fetch goes through.
        cluster: String,
        /// `:authority` of the fetch.
        authority: String,
        /// `:path` of the JWKS document.
        path: String,
    },
    /// The ALB's per-kid endpoint: one SPKI PEM (EC P-256) at `<path_prefix><kid>`. No list
    /// exists, so keys are only ever added, never withdrawn.
    AlbPerKid {
        /// Envoy cluster the fetch goes through.
        cluster: String,
        /// `:authority` of the fetch.
        authority: String,
        /// Path up to the kid, ending in `/` (e.g. `/` for
        /// `public-keys.auth.elb.<region>.amazonaws.com`).
        path_prefix: String,
    },
}

impl KeySource {
    /// The Envoy cluster and authority the fetch goes through.
    pub fn target(&self) -> (&str, &str) {
        match self {
            KeySource::Jwks {
                cluster, authority, ..
            }
            | KeySource::AlbPerKid {
                cluster, authority, ..
            } => (cluster, authority),
        }
    }
}

/// Limits on fetching and holding, per worker. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshBounds {
    /// Shortest time between two scheduled refreshes of an issuer, seconds (a smaller
    /// `Cache-Control: max-age` is raised to this). Default 60.
    pub min_interval_s: u64,
    /// Longest time between two scheduled refreshes, and the longest retry back-off,
    /// seconds. Default 3600.
    pub max_interval_s: u64,
    /// At most one unknown-kid refetch per issuer in this many seconds; also how long an ALB
    /// kid that was not found stays negatively cached, and the window of the ALB kid fetch
    /// budget. Default 30.
    pub refetch_interval_s: u64,
    /// Longest time a request with an unknown kid is held, milliseconds. Default 1500.
    pub hold_ms: u64,
    /// Most requests held at once, per worker (all issuers together). Default 64.
    pub max_held: usize,
    /// Largest response body accepted, bytes; anything larger is refused unread. Default
    /// 256 KiB.
    pub max_body_bytes: usize,
    /// Timeout given to every fetch, milliseconds. Default 5000.
    pub fetch_timeout_ms: u64,
    /// Most ALB kid fetches started per issuer in any `refetch_interval_s` window (so also the
    /// most in flight at once). Default 4.
    pub max_kid_fetches: usize,
    /// Most ALB kids remembered as not found, per issuer (oldest out). Default 256.
    pub max_negative_kids: usize,
    /// Most ALB keys fetched and kept, per issuer (oldest out; an evicted kid is fetched
    /// again when next seen). Default 64.
    pub max_alb_keys: usize,
}

impl Default for RefreshBounds {
    fn default() -> Self {
        RefreshBounds {
            min_interval_s: 60,
            max_interval_s: 3600,
            refetch_interval_s: 30,
            hold_ms: 1500,
            max_held: 64,
            max_body_bytes: 256 * 1024,
            fetch_timeout_ms: 5000,
            max_kid_fetches: 4,
            max_negative_kids: 256,
            max_alb_keys: 64,
        }
    }
}

impl RefreshBounds {
    /// Checks that the bounds make sense together; the message names the first that does not.
    pub fn check(&self) -> Result<(), String> {
        if self.min_interval_s == 0 {
            return Err("`min_interval_s` must be at least 1".into());
        }
        if self.max_interval_s < self.min_interval_s {
            return Err(format!(
                "`max_interval_s` ({}) is below `min_interval_s` ({})",
                self.max_interval_s, self.min_interval_s
            ));
        }
        if self.refetch_interval_s == 0 {
            return Err("`refetch_interval_s` must be at least 1".into());
        }
        if self.fetch_timeout_ms == 0 || self.max_body_bytes == 0 {
            return Err("`fetch_timeout_ms` and `max_body_bytes` must be above 0".into());
        }
        if self.max_kid_fetches == 0 || self.max_alb_keys == 0 {
            return Err("`max_kid_fetches` and `max_alb_keys` must be above 0".into());
        }
        Ok(())
    }
}

/// One issuer whose keys are refreshed: its name in the table, where its keys come from, and
/// the kids of its compiled seed (for the first change log line; the seed keys themselves stay
/// with the verifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIssuer {
    /// The issuer's name in the table.
    pub name: String,
    /// Where its keys are fetched.
    pub source: KeySource,
    /// Kids of the compiled seed keys.
    pub seed_kids: Vec<String>,
}

impl RefreshBounds {
    /// The bounds a table's gateway settings ask for (the rest at their defaults).
    pub fn from_settings(s: &KeyRefreshSettings) -> RefreshBounds {
        RefreshBounds {
            min_interval_s: s.min_interval_seconds,
            max_interval_s: s.max_interval_seconds,
            refetch_interval_s: s.refetch_interval_seconds,
            hold_ms: s.hold_milliseconds,
            max_held: s.max_held,
            max_body_bytes: s.max_body_bytes,
            fetch_timeout_ms: s.fetch_timeout_milliseconds,
            ..RefreshBounds::default()
        }
    }
}

impl LiveIssuer {
    /// The issuers of a table that name a key URL, ready for [`super::KeyRefresh::new`].
    /// A URL that does not read is an error naming the issuer (the compiler never writes one).
    pub fn from_table(issuers: &[IssuerSpec]) -> Result<Vec<LiveIssuer>, String> {
        let mut out = Vec::new();
        for issuer in issuers {
            let (name, fetch, keys, per_kid) = match issuer {
                IssuerSpec::Jwt(j) => (&j.name, &j.key_fetch, &j.keys, false),
                IssuerSpec::Alb(a) => (&a.name, &a.key_fetch, &a.keys, true),
            };
            let Some(fetch) = fetch else { continue };
            let url = FetchUrl::parse(&fetch.url)
                .map_err(|e| format!("issuer `{name}`: key url `{}`: {e}", fetch.url))?;
            if fetch.cluster.is_empty() {
                return Err(format!("issuer `{name}`: key fetch names no cluster"));
            }
            let source = if per_kid {
                if !url.path.ends_with('/') {
                    return Err(format!(
                        "issuer `{name}`: alb key url `{}` must end with `/`",
                        fetch.url
                    ));
                }
                KeySource::AlbPerKid {
                    cluster: fetch.cluster.clone(),
                    authority: url.authority,
                    path_prefix: url.path,
                }
            } else {
                KeySource::Jwks {
                    cluster: fetch.cluster.clone(),
                    authority: url.authority,
                    path: url.path,
                }
            };
            out.push(LiveIssuer {
                name: name.clone(),
                source,
                seed_kids: keys.iter().filter_map(|k| k.kid.clone()).collect(),
            });
        }
        Ok(out)
    }
}
