//! `Gateway` (gatehouse.dev/v1alpha1): gateway-wide settings. At most one; defaults if absent.

use serde::Deserialize;

/// Spec of a `Gateway`; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct GatewaySpec {
    /// Header the verified user is written to (default `kubeflow-userid`).
    pub user_header: Option<String>,
    /// Header the verified groups are written to (default `kubeflow-groups`).
    pub groups_header: Option<String>,
    /// Prefix before the user in the user header (default empty).
    pub user_prefix: Option<String>,
    /// Separator joining groups (default `,`).
    pub groups_separator: Option<String>,
    /// Path prefixes that need no identity (`/dex/`), for every host or for named hosts.
    pub public_paths: Vec<PublicPathIn>,
    /// Clock skew accepted on `exp` / `nbf` (default 30, at most 300).
    pub leeway_seconds: Option<u64>,
    /// Which token wins when both arrive (default `alb-first`).
    pub precedence: Option<PrecedenceName>,
    /// Audit mode.
    pub audit: AuditIn,
    /// Verified-token cache size (default 10000, 1..=1000000).
    pub token_cache_size: Option<u64>,
    /// Built-in route maps to include (default both).
    pub builtin_routes: Option<Vec<BuiltinRouteMap>>,
    /// Host templates of KServe models for the `kserve` route map (default
    /// `{api}.{namespace}.example.com` and `{api}-predictor.{namespace}.svc.cluster.local`).
    pub kserve_hosts: Option<Vec<String>>,
    /// Whether Profile namespaces get Kubeflow's `default-editor` / `default-viewer` grants
    /// (default true).
    pub profile_service_accounts: Option<bool>,
    /// Bounds of the background key refresh (live keys); each field defaults.
    pub key_refresh: KeyRefreshIn,
}

/// `keyRefresh`, as written: every field optional, defaulting to the filter's
/// `KeyRefreshSettings::default()`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KeyRefreshIn {
    /// Shortest time between two scheduled refreshes of an issuer, seconds (default 60).
    pub min_interval_seconds: Option<u64>,
    /// Longest time between two scheduled refreshes, seconds (default 3600).
    pub max_interval_seconds: Option<u64>,
    /// At most one unknown-kid refetch per issuer in this many seconds (default 30).
    pub refetch_interval_seconds: Option<u64>,
    /// Longest time a request with an unknown kid is held, milliseconds (default 1500).
    pub hold_milliseconds: Option<u64>,
    /// Most requests held at once, per worker (default 64).
    pub max_held: Option<u64>,
    /// Largest key document accepted, bytes (default 262144).
    pub max_body_bytes: Option<u64>,
    /// Timeout of every fetch, milliseconds (default 5000).
    pub fetch_timeout_milliseconds: Option<u64>,
}

/// A public path prefix: `/dex/` (every host), or `{path: /dex/, hosts: [dex.example.com]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PublicPathIn {
    /// A prefix, public on every host.
    Prefix(String),
    /// A prefix, public on these hosts only.
    Scoped(ScopedPublicPath),
}

/// A public path prefix for named hosts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedPublicPath {
    /// The prefix.
    pub path: String,
    /// Hosts it is public on (`dex.example.com`, `*.example.com`).
    pub hosts: Vec<String>,
}

impl PublicPathIn {
    /// The prefix.
    pub fn path(&self) -> &str {
        match self {
            PublicPathIn::Prefix(p) => p,
            PublicPathIn::Scoped(s) => &s.path,
        }
    }

    /// The hosts it is public on; empty: every host.
    pub fn hosts(&self) -> &[String] {
        match self {
            PublicPathIn::Prefix(_) => &[],
            PublicPathIn::Scoped(s) => &s.hosts,
        }
    }
}

/// Token precedence, as written in policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PrecedenceName {
    /// ALB header first.
    #[serde(rename = "alb-first")]
    AlbFirst,
    /// Bearer token first.
    #[serde(rename = "bearer-first")]
    BearerFirst,
}

/// Audit settings, as written in policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditIn {
    /// Audit everything.
    pub all: bool,
    /// Audit these namespaces.
    pub namespaces: Vec<String>,
}

/// A built-in route map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinRouteMap {
    /// Kubeflow's web apps and APIs.
    Kubeflow,
    /// Cortex-style model serving under `/serving`.
    Cortex,
    /// KServe inference, by path and by host (opt-in).
    Kserve,
}
