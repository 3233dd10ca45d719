//! The compiled ACL table: the versioned contract between `gatehouse compile` (which writes it)
//! and the filter (which loads it). These serde types are the wire format only; [`crate::Engine`]
//! turns them into the immutable runtime structure the request path reads.
//!
//! Every map is a `BTreeMap` and every list is written sorted by the compiler, so the JSON a
//! compile produces is byte-for-byte deterministic and diffs cleanly in Git.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The table format this build of Gatehouse writes and reads. The filter refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// The whole compiled table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Gateway-wide settings: identity headers, public paths, audit mode.
    pub gateway: GatewaySettings,
    /// Every action any role or route names, in bit order (index = bit in the action mask).
    pub actions: Vec<String>,
    /// Roles by name: the actions each grants.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Token issuers with their keys.
    pub issuers: Vec<IssuerSpec>,
    /// Route map, in declaration order; the engine orders them by specificity. The gateway's
    /// public paths are compiled into routes with [`Access::Public`].
    pub routes: Vec<RouteSpec>,
    /// Grants: scope (a namespace, or `*` for every namespace) → subject (`user:<name>` or
    /// `group:<name>`; ServiceAccounts are users named `system:serviceaccount:<ns>:<name>`)
    /// → grants.
    pub grants: BTreeMap<Scope, BTreeMap<Subject, Vec<GrantSpec>>>,
    /// Namespaces the policy declares (from Profiles and explicit declarations).
    pub namespaces: Vec<String>,
}

/// Gateway-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Header the verified user is written to (e.g. `kubeflow-userid`).
    pub user_header: String,
    /// Header the verified groups are written to (e.g. `kubeflow-groups`).
    pub groups_header: String,
    /// Prefix put before the user in `user_header` (e.g. `accounts.google.com:`); may be empty.
    pub user_prefix: String,
    /// Separator joining groups in `groups_header`.
    pub groups_separator: String,
    /// Seconds of clock skew accepted on `exp` / `nbf`.
    pub leeway_seconds: u64,
    /// Which token wins when both an ALB header and a bearer token arrive.
    pub precedence: Precedence,
    /// Audit mode: would-be denials are logged and counted but let through.
    pub audit: AuditSpec,
    /// Maximum number of verified tokens kept in the filter's cache.
    pub token_cache_size: usize,
    /// Bounds of the background key refresh (live keys). Absent in a table: the defaults.
    #[serde(default, skip_serializing_if = "KeyRefreshSettings::is_default")]
    pub key_refresh: KeyRefreshSettings,
}

/// Bounds of the background key refresh, per worker. [`Default`] gives the documented
/// defaults; the filter turns them into [`crate::live::RefreshBounds`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyRefreshSettings {
    /// Shortest time between two scheduled refreshes of an issuer (a smaller
    /// `Cache-Control: max-age` is raised to it), seconds.
    pub min_interval_seconds: u64,
    /// Longest time between two scheduled refreshes, and the longest retry back-off, seconds.
    pub max_interval_seconds: u64,
    /// At most one unknown-kid refetch per issuer in this many seconds.
    pub refetch_interval_seconds: u64,
    /// Longest time a request with an unknown kid is held, milliseconds.
    pub hold_milliseconds: u64,
    /// Most requests held at once, per worker.
    pub max_held: usize,
    /// Largest key document accepted, bytes.
    pub max_body_bytes: usize,
    /// Timeout of every fetch, milliseconds.
    pub fetch_timeout_milliseconds: u64,
}

impl Default for KeyRefreshSettings {
    fn default() -> Self {
        KeyRefreshSettings {
            min_interval_seconds: 60,
            max_interval_seconds: 3600,
            refetch_interval_seconds: 30,
            hold_milliseconds: 1500,
            max_held: 64,
            max_body_bytes: 256 * 1024,
            fetch_timeout_milliseconds: 5000,
        }
    }
}

impl KeyRefreshSettings {
    /// Whether these are the defaults (then the table does not write them).
    pub fn is_default(&self) -> bool {
        *self == KeyRefreshSettings::default()
    }
}

/// Where the filter fetches an issuer's current keys, off the request path (live keys). Only
/// URLs written here are ever fetched; nothing a token says adds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFetchSpec {
    /// JWT issuers: the JWKS document's URL. ALB issuers: the URL a kid is appended to
    /// (ending in `/`).
    pub url: String,
    /// The Envoy cluster the fetch goes through: `outbound|<port>||<host>`, as Istio names the
    /// cluster of a mesh service or ServiceEntry (`gatehouse emit envoy` names its own
    /// clusters the same way).
    pub cluster: String,
}

/// Which token source is consulted first when a request carries both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precedence {
    /// `x-amzn-oidc-data` decides the identity; a bearer token, when also present and valid,
    /// must name the same user.
    AlbFirst,
    /// `Authorization: Bearer` decides; an ALB header, when also present and valid, must agree.
    BearerFirst,
}

/// Audit mode settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    /// Audit the whole gateway.
    pub all: bool,
    /// Audit only these namespaces.
    pub namespaces: Vec<String>,
}

/// A token issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum IssuerSpec {
    /// AWS ALB `x-amzn-oidc-data` (ES256, padded base64url, signer pinned).
    Alb(AlbIssuerSpec),
    /// A JWT issuer read from `Authorization: Bearer`.
    Jwt(JwtIssuerSpec),
}

/// An AWS ALB issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbIssuerSpec {
    /// Declared name (for logs, metrics and `explain`).
    pub name: String,
    /// AWS region of the load balancer.
    pub region: String,
    /// ALB ARNs whose `signer` header is accepted.
    pub signers: Vec<String>,
    /// When set, the token header's `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, the token header's `client` must equal it.
    pub client: Option<String>,
    /// Claim holding the user (usually `email`).
    pub user_claim: String,
    /// With `user_claim` `email`: the token's `email_verified` must be `true` (or `"true"`,
    /// as Cognito's userinfo writes it). Absent in a table: required.
    #[serde(default = "required")]
    pub require_email_verified: bool,
    /// ES256 public keys by `kid` (the seed; more are fetched by kid when `key_fetch` is set).
    pub keys: Vec<KeySpec>,
    /// Where keys of new kids are fetched (`<url><kid>`); absent: compiled keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fetch: Option<KeyFetchSpec>,
    /// The Cognito access token the ALB forwards in `x-amzn-oidc-accesstoken`, verified beside
    /// `x-amzn-oidc-data` for the groups it carries; absent: the header is ignored (stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessTokenSpec>,
}

/// How an ALB issuer verifies the access token its load balancer forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenSpec {
    /// The JWT issuer of this table that signs the access tokens (a Cognito user pool), by
    /// name; it takes no bearer tokens (its `bearer` is false).
    pub issuer: String,
    /// App client ids accepted in the token's `client_id`; it must also be the ALB header's
    /// `client` when that names one.
    pub client_ids: Vec<String>,
    /// Whether a request without the header is refused (`access_token_missing`); otherwise it
    /// goes on without groups.
    #[serde(default)]
    pub required: bool,
}

fn required() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What names an issuer may vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySpace {
    /// People: any name except one starting with `system:` (Kubernetes' own identities).
    Users,
    /// Kubernetes ServiceAccounts: only `system:serviceaccount:<namespace>:<name>`.
    ServiceAccounts,
}

/// A JWT issuer (Dex, Cognito, Kubernetes / EKS ServiceAccount tokens, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerSpec {
    /// Declared name (for logs, metrics and `explain`).
    pub name: String,
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted audiences; the token's `aud` must hold at least one. Empty: `aud` not checked.
    pub audiences: Vec<String>,
    /// Allowed algorithms (`RS256`, `ES256`, `EdDSA`, …).
    pub algorithms: Vec<String>,
    /// Claim holding the user (`email`, `sub`, …).
    pub user_claim: String,
    /// Claim holding the groups (an array of strings, or a string); `None`: no groups.
    pub groups_claim: Option<String>,
    /// Prefix put before each group taken from this issuer (may be empty).
    pub groups_prefix: String,
    /// Longest accepted `exp - iat`; absent: [`DEFAULT_MAX_LIFETIME_SECONDS`].
    pub max_lifetime_seconds: Option<u64>,
    /// What names the issuer may vouch for. Absent in a table: ServiceAccounts when
    /// `user_claim` is `kubernetes.io`, else users.
    #[serde(default)]
    pub identities: Option<IdentitySpace>,
    /// With `user_claim` `email`: the token's `email_verified` must be `true` (or `"true"`).
    /// Absent in a table: required.
    #[serde(default = "required")]
    pub require_email_verified: bool,
    /// Verification keys (the seed; replaced by the published set once `key_fetch` succeeds).
    pub keys: Vec<KeySpec>,
    /// Where the issuer's JWKS is fetched; absent: compiled keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fetch: Option<KeyFetchSpec>,
    /// Whether tokens in `Authorization: Bearer` are accepted from it. False for an issuer
    /// that only signs the access tokens an ALB forwards ([`AccessTokenSpec`]).
    #[serde(default = "required", skip_serializing_if = "is_true")]
    pub bearer: bool,
    /// Browser sign-in through this issuer (OpenID Connect authorization code + PKCE); at most
    /// one issuer of a table has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<Box<SignInSpec>>,
}

/// Browser sign-in: how the filter sends a browser without a session to the issuer, takes
/// the code back, and keeps the ID token in an encrypted session cookie. The secrets (the
/// client secret, the cookie keys) are never in the table: it names the environment variables
/// of the gateway's Wasm VM that hold them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSpec {
    /// The OAuth client id (an audience of the issuer's ID tokens).
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: String,
    /// The environment variable holding the cookie keys: `kid:key` pairs, comma-separated,
    /// each key 32 bytes in base64url; the first seals new cookies, every one opens them.
    pub cookie_keys_env: String,
    /// Where browsers are sent to sign in: an absolute `https://` URL, or a path on the
    /// gateway's own host (`/dex/auth`, Kubeflow's Dex behind the gateway); absent: the
    /// discovery document's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint (code exchange), fetched through an Envoy cluster; absent: the
    /// discovery document's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<KeyFetchSpec>,
    /// The issuer's discovery document (`/.well-known/openid-configuration`), fetched through
    /// an Envoy cluster off the request path, for the endpoints not named here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<KeyFetchSpec>,
    /// The issuer's end-session endpoint (absolute or a path), where sign-out sends the
    /// browser next; absent: to `post_sign_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// The callback path (the redirect URI's path): `/oauth2/callback`.
    pub redirect_path: String,
    /// The sign-out path: `/oauth2/sign_out`.
    pub sign_out_path: String,
    /// Where a browser lands after signing out (a path, or an absolute URL).
    pub post_sign_out: String,
    /// Scopes asked for (`openid` first).
    pub scopes: Vec<String>,
    /// The session cookie's name (more cookies, `<name>-1`, … when it is large).
    pub cookie_name: String,
    /// `Domain` of the cookies; absent: the gateway host only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<String>,
    /// `Secure` on every cookie (only a local test turns it off).
    #[serde(default = "required", skip_serializing_if = "is_true")]
    pub cookie_secure: bool,
    /// Path prefixes where a browser without a session is redirected to sign in (elsewhere,
    /// and for API clients everywhere, it gets 401).
    pub browser_paths: Vec<String>,
}

/// The longest lifetime (`exp` − `iat`) a JWT issuer accepts when its table entry sets none:
/// one day, as long as Dex's default ID token and EKS's default projected token. A token that
/// claims to live longer is refused (`lifetime_too_long`), so no signed token is good forever.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 86_400;

impl JwtIssuerSpec {
    /// What names the issuer may vouch for (the table's, or the default for its user claim).
    pub fn identity_space(&self) -> IdentitySpace {
        self.identities
            .unwrap_or(if self.user_claim == "kubernetes.io" {
                IdentitySpace::ServiceAccounts
            } else {
                IdentitySpace::Users
            })
    }

    /// The longest accepted lifetime.
    pub fn max_lifetime(&self) -> u64 {
        self.max_lifetime_seconds
            .unwrap_or(DEFAULT_MAX_LIFETIME_SECONDS)
    }
}

/// One public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Key id; `None` only for a key that is an issuer's only key.
    pub kid: Option<String>,
    /// The key itself, as a public JWK (RFC 7517) with only the public members.
    pub jwk: PublicJwk,
    /// Where the key came from (file) — for `explain` and logs.
    pub source: String,
    /// Unix time after which the key must not be used, when the source says so.
    pub not_after: Option<u64>,
}

/// A public JWK, only the members a verifier needs (all base64url, unpadded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty", deny_unknown_fields)]
pub enum PublicJwk {
    /// RSA key.
    #[serde(rename = "RSA")]
    Rsa {
        /// Modulus.
        n: String,
        /// Exponent.
        e: String,
    },
    /// Elliptic curve key (`P-256`, `P-384`).
    #[serde(rename = "EC")]
    Ec {
        /// Curve name.
        crv: String,
        /// X coordinate.
        x: String,
        /// Y coordinate.
        y: String,
    },
    /// Octet key pair (`Ed25519`).
    #[serde(rename = "OKP")]
    Okp {
        /// Curve name.
        crv: String,
        /// Public key.
        x: String,
    },
}

/// One route: method + path (+ query parameter) → what the request needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Upper-case methods; empty means every method.
    pub methods: Vec<String>,
    /// Path template: `/` separated segments, each a literal, `{namespace}`, `{api}` or `*`
    /// (one segment); a last segment `**` matches any rest, including none.
    pub path: String,
    /// When set, the route matches only if this query parameter is present (exactly once), and
    /// the namespace is taken from it.
    pub namespace_query: Option<String>,
    /// A fixed namespace, for routes whose path does not carry one.
    pub namespace: Option<String>,
    /// A fixed API name, for routes whose path does not carry one.
    pub api: Option<String>,
    /// What the route requires.
    pub access: Access,
    /// Where the route was declared (`file:line`), for `explain`.
    pub source: String,
    /// Hosts the route answers for (`dex.example.com`, `*.models.example.com`); empty: every
    /// host. Host-scoped routes are tried before routes for every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// What a route requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Access {
    /// No identity needed.
    Public,
    /// Any verified identity.
    Authenticated,
    /// A grant of this action in the route's namespace.
    Action(String),
}

/// Where a grant holds: one namespace, or every namespace (`*` in the table's JSON). Ordered
/// as the JSON keys sort: `*` first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every namespace.
    Every,
    /// One namespace.
    Namespace(String),
}

impl Scope {
    /// The scope a table key names: `*`, or a namespace.
    pub fn parse(key: &str) -> Scope {
        match key {
            "*" => Scope::Every,
            ns => Scope::Namespace(ns.to_string()),
        }
    }

    /// The namespace, or `None` for every namespace.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Every => None,
            Scope::Namespace(ns) => Some(ns),
        }
    }
}

impl From<&str> for Scope {
    fn from(key: &str) -> Scope {
        Scope::parse(key)
    }
}

impl From<String> for Scope {
    fn from(key: String) -> Scope {
        if key == "*" {
            Scope::Every
        } else {
            Scope::Namespace(key)
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.namespace().unwrap_or("*"))
    }
}

/// Whom a grant is for: a user or a group (`user:<name>` / `group:<name>` in the table's
/// JSON). Ordered as the JSON keys sort: groups first, then by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A group.
    Group(String),
    /// A user (ServiceAccounts included).
    User(String),
}

impl Subject {
    /// A subject from its table key, `user:<name>` or `group:<name>`.
    pub fn parse(key: &str) -> Result<Subject, String> {
        if let Some(u) = key.strip_prefix("user:") {
            Ok(Subject::User(u.to_string()))
        } else if let Some(g) = key.strip_prefix("group:") {
            Ok(Subject::Group(g.to_string()))
        } else {
            Err(format!("subject `{key}` is neither `user:…` nor `group:…`"))
        }
    }

    /// Whether it is a group.
    pub fn is_group(&self) -> bool {
        matches!(self, Subject::Group(_))
    }

    /// The user's or group's name.
    pub fn name(&self) -> &str {
        match self {
            Subject::Group(n) | Subject::User(n) => n,
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Group(g) => write!(f, "group:{g}"),
            Subject::User(u) => write!(f, "user:{u}"),
        }
    }
}

/// Serialized as the table's JSON keys write them.
macro_rules! as_key {
    ($ty:ty, $parse:expr, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Key;
                impl serde::de::Visitor<'_> for Key {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        $parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(Key)
            }
        }
    };
}

as_key!(
    Scope,
    |v: &str| Ok::<_, String>(Scope::parse(v)),
    "a namespace or `*`"
);
as_key!(Subject, Subject::parse, "`user:<name>` or `group:<name>`");

/// One grant to one subject in one namespace (or all).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// The role granted.
    pub role: String,
    /// When set, the grant holds only for these API names.
    pub apis: Option<Vec<String>>,
    /// Where the grant came from (`file:line` and binding name), for `explain` and `who-can`.
    pub source: String,
}
