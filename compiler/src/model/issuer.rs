//! `Issuer` (gatehouse.dev/v1alpha1): a token issuer, either an AWS ALB or a JWT issuer.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Spec of an `Issuer`: exactly one of `alb` and `jwt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpecIn {
    /// An AWS ALB (`x-amzn-oidc-data`).
    pub alb: Option<AlbIn>,
    /// A JWT issuer (`Authorization: Bearer`).
    pub jwt: Option<JwtIn>,
}

/// An ALB issuer as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlbIn {
    /// AWS region (`us-east-1`).
    pub region: String,
    /// ALB ARNs accepted as `signer`.
    pub signers: Vec<String>,
    /// Expected `iss`, when set.
    pub issuer: Option<String>,
    /// Expected `client`, when set.
    pub client: Option<String>,
    /// Claim with the user (default `email`).
    pub user_claim: Option<String>,
    /// With `userClaim: email`, whether `email_verified` must be true (default `true`).
    pub require_email_verified: Option<bool>,
    /// ES256 keys by `kid` (the seed: they verify before any fetch).
    pub keys: Vec<AlbKeyIn>,
    /// Where keys of new kids are fetched, `<keyEndpoint><kid>` (https, ending in `/`;
    /// default: AWS's endpoint for `region`).
    pub key_endpoint: Option<String>,
    /// Whether keys of new kids are fetched at run time (default `true`); `false`: the
    /// compiled keys only.
    pub fetch_keys: Option<bool>,
    /// The Cognito access token the ALB forwards (`x-amzn-oidc-accesstoken`), verified for
    /// its groups; absent: that header is dropped.
    pub access_token: Option<AccessTokenIn>,
}

/// An ALB issuer's access tokens, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessTokenIn {
    /// The `Issuer` (a `jwt:` one with `bearer: false`) that verifies them: the user pool.
    pub issuer: String,
    /// App client ids accepted in `client_id`.
    pub client_ids: Vec<String>,
    /// Whether a request without one is refused (default `false`: no groups then).
    pub required: Option<bool>,
}

/// One ALB key as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlbKeyIn {
    /// Key id.
    pub kid: String,
    /// PEM file, relative to the YAML file.
    pub pem: String,
    /// RFC 3339 time after which the key must not be used.
    pub not_after: Option<String>,
}

/// A JWT issuer as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtIn {
    /// Exact `iss` (an https URL).
    pub issuer: String,
    /// Accepted audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// JWKS file, relative to the YAML file: the seed keys, which verify before any fetch.
    /// Required (checked when compiling, with a hint, rather than by serde).
    pub jwks_file: Option<String>,
    /// The issuer's published JWKS (https; `http://` only for in-cluster `*.svc` hosts),
    /// refreshed at run time; absent: the compiled keys only.
    pub jwks_uri: Option<String>,
    /// Allowed algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Claim with the user (default `email`).
    pub user_claim: Option<String>,
    /// Claim with the groups.
    pub groups_claim: Option<String>,
    /// Prefix before each group.
    #[serde(default)]
    pub groups_prefix: String,
    /// Longest accepted `exp - iat` (default one day).
    pub max_lifetime_seconds: Option<u64>,
    /// What names the issuer vouches for: `users` (never a `system:` name) or
    /// `serviceAccounts` (only `system:serviceaccount:<namespace>:<name>`). Default:
    /// `serviceAccounts` with `userClaim: kubernetes.io`, else `users`.
    pub identities: Option<Identities>,
    /// With `userClaim: email`, whether `email_verified` must be true (default `true`).
    pub require_email_verified: Option<bool>,
    /// RFC 3339 expiry per `kid`.
    #[serde(default)]
    pub key_not_after: BTreeMap<String, String>,
    /// Whether `Authorization: Bearer` tokens of this issuer are accepted (default `true`);
    /// `false` for a user pool that only verifies an ALB's access tokens (`accessToken`).
    pub bearer: Option<bool>,
    /// Browser sign-in through this issuer (OpenID Connect code flow with PKCE).
    pub sign_in: Option<Box<SignInIn>>,
}

/// Browser sign-in, as written (docs/policy-format.md, *Browser sign-in*).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignInIn {
    /// The OAuth client id; an audience of the issuer.
    pub client_id: String,
    /// Environment variable of the gateway's Wasm VM with the client secret (default
    /// `GATEHOUSE_CLIENT_SECRET`).
    pub client_secret_env: Option<String>,
    /// Environment variable with the cookie keys (default `GATEHOUSE_COOKIE_KEYS`).
    pub cookie_keys_env: Option<String>,
    /// Where browsers sign in: `https://…`, or a path on the gateway (`/dex/auth`); default:
    /// the discovery document's.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint, reached through an Envoy cluster; default: the discovery
    /// document's.
    pub token_endpoint: Option<String>,
    /// The discovery document (default `<issuer>/.well-known/openid-configuration`, fetched
    /// when an endpoint is not named).
    pub discovery_uri: Option<String>,
    /// The end-session endpoint, where sign-out sends the browser next.
    pub end_session_endpoint: Option<String>,
    /// The callback path (default `/oauth2/callback`).
    pub redirect_path: Option<String>,
    /// The sign-out path (default `/oauth2/sign_out`).
    pub sign_out_path: Option<String>,
    /// Where the browser lands after sign-out (default `/`).
    pub post_sign_out: Option<String>,
    /// Scopes (default `openid email profile groups`).
    pub scopes: Option<Vec<String>>,
    /// Session cookie name (default `__Host-gatehouse`, or `gatehouse` with a domain or
    /// without `Secure`).
    pub cookie_name: Option<String>,
    /// Cookie `Domain` (default none: the gateway's host only).
    pub cookie_domain: Option<String>,
    /// `Secure` cookies (default `true`; `false` only for local tests over plain HTTP).
    pub cookie_secure: Option<bool>,
    /// Path prefixes where browsers are sent to sign in (default `/`).
    pub browser_paths: Option<Vec<String>>,
}

/// What names an issuer vouches for, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Identities {
    /// People: any name except a `system:` one.
    Users,
    /// Kubernetes ServiceAccounts only.
    ServiceAccounts,
}

/// A JWT signature algorithm Gatehouse accepts (never `none`, never HMAC): the filter's own
/// list, so a policy can name every algorithm the gateway verifies and nothing else.
pub use gatehouse_filter::token::alg::Alg as Algorithm;
