//! Token verification with keys from the table (no network): ALB `x-amzn-oidc-data` and
//! `Authorization: Bearer` JWTs.

use crate::engine::Identity;
use crate::reason::DenyReason;
use crate::table::IssuerSpec;

/// A token that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Who it names.
    pub identity: Identity,
    /// Unix time after which it is no longer valid (leeway included).
    pub expires_at: u64,
    /// Key id used.
    pub kid: Option<String>,
}

/// Why a token failed, with what logs and `explain` may show (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFailure {
    /// Stable reason.
    pub reason: DenyReason,
    /// Issuer the token was judged against, when known.
    pub issuer: Option<String>,
    /// Key id in the token header, when present.
    pub kid: Option<String>,
    /// One line for operators.
    pub detail: String,
}

/// Verifiers for every issuer in the table.
#[derive(Debug, Default)]
pub struct Verifiers {}

impl Verifiers {
    /// Parses every issuer's keys.
    pub fn new(_issuers: &[IssuerSpec]) -> Result<Verifiers, String> {
        Ok(Verifiers {})
    }
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The ALB's `x-amzn-oidc-data` header.
    Alb,
    /// `Authorization: Bearer`.
    Bearer,
}

/// The credentials a request presents, as read from its headers.
#[derive(Debug, Clone, Default)]
pub struct Credentials<'a> {
    /// Every `x-amzn-oidc-data` header value.
    pub alb: Vec<&'a str>,
    /// Every `Authorization` header value.
    pub authorization: Vec<&'a str>,
}

impl Verifiers {
    /// Verifies an ALB `x-amzn-oidc-data` value.
    pub fn verify_alb(&self, _value: &str, _now: u64, _leeway: u64) -> Result<VerifiedToken, TokenFailure> {
        Err(TokenFailure { reason: DenyReason::UnknownIssuer, issuer: None, kid: None, detail: "not built yet".into() })
    }

    /// Verifies a bearer JWT (the text after `Bearer `).
    pub fn verify_bearer(&self, _token: &str, _now: u64, _leeway: u64) -> Result<VerifiedToken, TokenFailure> {
        Err(TokenFailure { reason: DenyReason::UnknownIssuer, issuer: None, kid: None, detail: "not built yet".into() })
    }
}

/// Finds the request's identity: extracts the tokens from `creds`, verifies each through
/// `verify` (which the filter wraps with its verified-token cache), and applies the precedence
/// rule. `Ok(None)`: no token presented.
pub fn identify<F>(_creds: &Credentials<'_>, _precedence: crate::table::Precedence, _verify: F) -> Result<Option<VerifiedToken>, TokenFailure>
where
    F: FnMut(Source, &str) -> Result<VerifiedToken, TokenFailure>,
{
    Ok(None)
}

/// Key parsing shared by the compiler (validation) and the filter (loading).
pub mod keys {
    use crate::table::PublicJwk;

    /// One key read from a JWKS document.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct JwksKey {
        /// `kid`, when present.
        pub kid: Option<String>,
        /// `alg`, when present.
        pub alg: Option<String>,
        /// The public key.
        pub jwk: PublicJwk,
    }

    /// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`): RSA, EC P-256/P-384, Ed25519.
    pub fn jwk_from_pem(_pem: &str) -> Result<PublicJwk, String> {
        Err("not built yet".into())
    }

    /// Reads a JWKS document (`{"keys": [...]}`); refuses private members and unusable keys.
    pub fn parse_jwks(_json: &str) -> Result<Vec<JwksKey>, String> {
        Err("not built yet".into())
    }
}
