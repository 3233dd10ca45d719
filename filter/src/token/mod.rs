//! Token verification with keys from the table (no network): ALB `x-amzn-oidc-data` and
//! `Authorization: Bearer` JWTs.
//!
//! This module owns everything between a request's credential headers and a verified
//! [`Identity`]:
//!
//! - [`Verifiers::new`] parses every issuer's keys once, when the table loads.
//! - [`Verifiers::verify_alb`]: the ALB header. ES256 only; each base64url part may carry `=`
//!   padding; the signature is checked over the `header.payload` bytes exactly as received;
//!   the key is chosen by the header's `kid` among the ALB issuers' keys; the header's
//!   `signer` must be one of the issuer's ALB ARNs, its `iss` / `client` must match when
//!   configured, and its `exp` (the ALB puts it in the header) is required. The user comes
//!   from the issuer's `user_claim` in the payload; ALB tokens carry no groups. ECDSA
//!   signatures are raw `r || s` (64 bytes); DER is refused. High-S signatures are accepted,
//!   as the ALB does not normalize them (the same holds for bearer ES256/ES384).
//! - [`Verifiers::verify_bearer`]: a compact JWT. The issuer is chosen by the (unverified)
//!   `iss` claim, and only that issuer's keys and algorithms are tried. `none`, `HS*` and
//!   anything unknown are refused; the key type must fit the algorithm. `crit` is refused;
//!   `jku`, `x5u`, `jwk` and `x5c` are ignored (never fetched, never used as keys). `exp` is
//!   required, `nbf` is honoured, `exp - iat` is bounded by the issuer's maximum lifetime,
//!   `aud` must hold one of the issuer's audiences when it lists any. The user comes from
//!   `user_claim`; the special value `kubernetes.io` derives
//!   `system:serviceaccount:<namespace>:<name>` from a projected ServiceAccount token's
//!   private `kubernetes.io` claim (with `sub` those tokens already give the same name).
//!   Groups come from `groups_claim` (an array of strings, or one string), each prefixed
//!   with `groups_prefix`.
//! - [`identify`]: finds the tokens in the request's headers and applies the precedence rule.
//!
//! Hostile input: tokens over 16 KiB are refused before any decoding; JSON must be UTF-8
//! objects with no duplicate member names at any depth; segments must be exactly three and
//! non-empty. Nothing here panics.
//!
//! # Precedence
//!
//! A request may carry an ALB header, a bearer token, both, or neither. Exactly one
//! `Authorization` header is allowed (`Bearer`, any case, one space, a non-empty token with
//! no whitespace), else `bad_authorization_header`; several `x-amzn-oidc-data` headers are
//! `token_malformed`. When both tokens are present, both must verify: the one the table's
//! [`Precedence`](crate::table::Precedence) puts first is verified first and its failure is the answer; then the other,
//! and its failure is the answer too (an invalid token is never silently ignored). When both
//! verify they must name the same user (exact string comparison), else
//! `conflicting_identities`; the identity (and its groups) is then the first one's.

mod alb;
pub mod alg;
mod bearer;
pub mod claims;
pub mod encoding;
#[cfg(any(test, feature = "mint"))]
pub mod es384;
mod identify;
pub mod jose;
pub mod keys;
#[cfg(any(test, feature = "mint"))]
pub mod mint;
pub mod names;
pub mod trace;

#[cfg(test)]
mod tests;

pub use identify::identify;

use crate::identity::Identity;
use crate::reason::DenyReason;
use crate::table::{AccessTokenSpec, AlbIssuerSpec, IssuerSpec, JwtIssuerSpec, KeySpec};

use alg::Alg;
use keys::PublicKey;
use trace::Checks;

/// A token that verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifiedToken {
    /// Who it names.
    pub identity: Identity,
    /// Unix time after which it is no longer valid (leeway included).
    pub expires_at: u64,
    /// Key id used.
    pub kid: Option<String>,
    /// Its `sub` claim (ALB tokens and ALB access tokens, which are matched by it).
    pub sub: Option<String>,
    /// The app client it was issued to: the ALB header's `client`, an access token's
    /// `client_id`.
    pub client: Option<String>,
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
    /// The kid is unknown to the issuer named in `issuer`, and fetching that issuer's keys
    /// may find it (live keys): the request path may hold the request for the fetch.
    pub fetchable: bool,
}

impl TokenFailure {
    /// A failure with no issuer or key id known yet.
    pub fn new(reason: DenyReason, detail: impl Into<String>) -> TokenFailure {
        TokenFailure {
            reason,
            issuer: None,
            kid: None,
            detail: detail.into(),
            fetchable: false,
        }
    }

    /// The failure, of `issuer`.
    pub fn issuer(mut self, issuer: &str) -> TokenFailure {
        self.issuer = Some(issuer.to_owned());
        self
    }

    fn kid(mut self, kid: Option<&str>) -> TokenFailure {
        self.kid = kid.map(str::to_owned);
        self
    }
}

/// A key ready to verify with.
#[derive(Debug, Clone)]
struct ReadyKey {
    kid: Option<String>,
    key: PublicKey,
    not_after: Option<u64>,
}

impl ReadyKey {
    /// Whether the key may verify at `now` (not past its `not_after`).
    fn in_force(&self, now: u64) -> Result<(), String> {
        match self.not_after {
            Some(t) if now > t => Err(format!("key retired at {t}")),
            _ => Ok(()),
        }
    }
}

/// An ALB issuer with its parsed keys.
#[derive(Debug, Clone)]
struct AlbVerifier {
    spec: AlbIssuerSpec,
    keys: Vec<ReadyKey>,
}

/// A JWT issuer with its parsed keys and algorithms.
#[derive(Debug, Clone)]
struct JwtVerifier {
    spec: JwtIssuerSpec,
    algorithms: Vec<Alg>,
    keys: Vec<ReadyKey>,
}

/// Verifiers for every issuer in the table.
#[derive(Debug, Default)]
pub struct Verifiers {
    alb: Vec<AlbVerifier>,
    jwt: Vec<JwtVerifier>,
}

fn ready_keys(issuer: &str, keys: &[KeySpec]) -> Result<Vec<ReadyKey>, String> {
    let mut ready: Vec<ReadyKey> = Vec::with_capacity(keys.len());
    for spec in keys {
        let named = spec.kid.as_deref().unwrap_or("(no kid)");
        let key = keys::public_key(&spec.jwk)
            .map_err(|e| format!("issuer `{issuer}`, key `{named}` ({}): {e}", spec.source))?;
        if spec.kid.is_none() && keys.len() > 1 {
            return Err(format!(
                "issuer `{issuer}`: a key without kid ({}) must be the issuer's only key",
                spec.source
            ));
        }
        if ready.iter().any(|k| k.kid == spec.kid) {
            return Err(format!("issuer `{issuer}`: duplicate key `{named}`"));
        }
        ready.push(ReadyKey {
            kid: spec.kid.clone(),
            key,
            not_after: spec.not_after,
        });
    }
    Ok(ready)
}

impl Verifiers {
    /// Parses every issuer's keys. Errors name the issuer and the key.
    pub fn new(issuers: &[IssuerSpec]) -> Result<Verifiers, String> {
        let mut out = Verifiers::default();
        for issuer in issuers {
            match issuer {
                IssuerSpec::Alb(spec) => {
                    let keys = ready_keys(&spec.name, &spec.keys)?;
                    if let Some(k) = keys.iter().find(|k| !matches!(k.key, PublicKey::P256(_))) {
                        return Err(format!(
                            "issuer `{}`, key `{}`: alb keys must be EC P-256, not {}",
                            spec.name,
                            k.kid.as_deref().unwrap_or("(no kid)"),
                            k.key.kind()
                        ));
                    }
                    if let Some(k) = keys.iter().find(|k| k.kid.is_none()) {
                        return Err(format!(
                            "issuer `{}`: alb keys need a kid ({} has none)",
                            spec.name,
                            k.key.kind()
                        ));
                    }
                    if spec.signers.is_empty() {
                        return Err(format!("issuer `{}`: no alb signer arns", spec.name));
                    }
                    out.alb.push(AlbVerifier {
                        spec: spec.clone(),
                        keys,
                    });
                }
                IssuerSpec::Jwt(spec) => {
                    let keys = ready_keys(&spec.name, &spec.keys)?;
                    let mut algorithms = Vec::with_capacity(spec.algorithms.len());
                    for name in &spec.algorithms {
                        let alg = Alg::from_name(name).ok_or_else(|| {
                            format!(
                                "issuer `{}`: algorithm `{name}` is not supported",
                                spec.name
                            )
                        })?;
                        algorithms.push(alg);
                    }
                    if algorithms.is_empty() {
                        return Err(format!("issuer `{}`: no algorithms allowed", spec.name));
                    }
                    out.jwt.push(JwtVerifier {
                        spec: spec.clone(),
                        algorithms,
                        keys,
                    });
                }
            }
        }
        for alb in &out.alb {
            let Some(access) = &alb.spec.access_token else {
                continue;
            };
            let signer = out.jwt.iter().find(|v| v.spec.name == access.issuer);
            match signer {
                None => {
                    return Err(format!(
                        "issuer `{}`: its access tokens' issuer `{}` is not in the table",
                        alb.spec.name, access.issuer
                    ))
                }
                Some(v) if v.spec.bearer => {
                    return Err(format!(
                        "issuer `{}`: its access tokens' issuer `{}` also takes bearer tokens; it must take access tokens only",
                        alb.spec.name, access.issuer
                    ))
                }
                Some(_) => {}
            }
            if access.client_ids.is_empty() {
                return Err(format!(
                    "issuer `{}`: no app client ids for its access tokens",
                    alb.spec.name
                ));
            }
        }
        Ok(out)
    }

    /// How the ALB issuer `name` verifies its access tokens, when it does.
    pub fn alb_access(&self, name: &str) -> Option<&AccessTokenSpec> {
        self.alb
            .iter()
            .find(|v| v.spec.name == name)?
            .spec
            .access_token
            .as_ref()
    }
}

impl Verifiers {
    /// Whether the key that verified a cached token is still in force at `now`: the key it
    /// names is still one [`choose_key`] would verify with (held, by the seed or the live keys,
    /// not past its `not_after`, not withdrawn by its issuer). The verified-token cache asks
    /// this on every hit, so a key retired or withdrawn after a token was verified stops that
    /// token at once, not at the token's own `exp`.
    pub fn key_in_force(
        &self,
        issuer: &str,
        kid: Option<&str>,
        now: u64,
        live: Option<&dyn LiveKeys>,
    ) -> Result<(), String> {
        let seed = self
            .alb
            .iter()
            .find(|v| v.spec.name == issuer)
            .map(|v| &v.keys)
            .or_else(|| {
                self.jwt
                    .iter()
                    .find(|v| v.spec.name == issuer)
                    .map(|v| &v.keys)
            })
            .ok_or_else(|| format!("issuer `{issuer}` is gone"))?;
        choose_key(seed, live, issuer, kid, now)
            .map(|_| ())
            .map_err(KeyMiss::detail)
    }
}

/// Keys the gateway fetched while it runs (live keys, [`crate::live`]), as verification sees
/// them.
pub trait LiveKeys {
    /// The fetched key for `kid` of `issuer`, to try besides the compiled seed keys.
    fn key(&self, issuer: &str, kid: Option<&str>) -> Option<&PublicKey>;
    /// Whether `issuer`'s published key set is authoritative: then only its keys verify.
    fn is_authoritative(&self, issuer: &str) -> bool;
}

impl Verifiers {
    /// Verifies a token from `source` (see [`Verifiers::verify_alb_traced`] and
    /// [`Verifiers::verify_bearer_traced`]): what the gateway and `explain` both call.
    pub fn verify<T: Checks>(
        &self,
        source: Source,
        token: &str,
        now: u64,
        leeway: u64,
        live: Option<&dyn LiveKeys>,
        checks: &mut T,
    ) -> Result<VerifiedToken, TokenFailure> {
        match source {
            Source::Alb => self.verify_alb_traced(token, now, leeway, live, checks),
            Source::Bearer | Source::Session => {
                self.verify_bearer_traced(token, now, leeway, live, checks)
            }
            Source::AlbAccess => self.verify_access_traced(token, now, leeway, live, checks),
        }
    }
}

/// Why no key verifies a token.
#[derive(Debug)]
enum KeyMiss {
    /// No key with the token's kid is known (yet): fetching the issuer's keys may find it.
    Unknown(String),
    /// The key is known and may not verify: retired (`not_after`) or withdrawn by its issuer.
    Refused(String),
}

impl KeyMiss {
    fn detail(self) -> String {
        match self {
            KeyMiss::Unknown(d) | KeyMiss::Refused(d) => d,
        }
    }

    /// The failure for a token of `issuer`: `unknown_kid`, fetchable when the kid is unknown.
    fn failure(self, issuer: &str, kid: Option<&str>) -> TokenFailure {
        let fetchable = matches!(self, KeyMiss::Unknown(_)) && kid.is_some();
        let mut f = TokenFailure::new(DenyReason::UnknownKid, self.detail())
            .issuer(issuer)
            .kid(kid);
        f.fetchable = fetchable;
        f
    }
}

/// Finds the seed key for `kid`: the named key, or with no `kid` the issuer's only key (an
/// issuer's only key, when it has no kid in the table, answers any kid).
fn seed_key<'k>(keys: &'k [ReadyKey], kid: Option<&str>) -> Result<Option<&'k ReadyKey>, String> {
    Ok(match kid {
        Some(kid) => match (keys.iter().find(|k| k.kid.as_deref() == Some(kid)), keys) {
            (Some(key), _) => Some(key),
            (None, [only]) if only.kid.is_none() => Some(only),
            (None, _) => None,
        },
        None => match keys {
            [only] => Some(only),
            [] => None,
            _ => return Err("token has no kid and the issuer has several keys".into()),
        },
    })
}

/// The key a token of `issuer` with `kid` verifies with, at `now`: the one place that says
/// which keys count.
///
/// - A seed (compiled) key past its `not_after` never verifies, whatever the issuer publishes.
/// - Once the issuer's published set is authoritative (a JWKS fetch succeeded), only its keys
///   verify: a seed key it no longer publishes is withdrawn.
/// - Before that, the seed decides, then keys fetched by kid (ALB).
///
/// Returns the key and the kid it is held under (`None` for an issuer's only key without
/// kid), as a [`HeldAs`] so that callers that only ask whether a key is in force allocate
/// nothing.
fn choose_key<'k>(
    seed: &'k [ReadyKey],
    live: Option<&'k dyn LiveKeys>,
    issuer: &str,
    kid: Option<&str>,
    now: u64,
) -> Result<(&'k PublicKey, HeldAs<'k>), KeyMiss> {
    let from_seed = seed_key(seed, kid).map_err(KeyMiss::Refused)?;
    if let Some(key) = from_seed {
        key.in_force(now).map_err(KeyMiss::Refused)?;
    }
    let named = || encoding::shown(kid.unwrap_or("(no kid)"));
    let authoritative = live.is_some_and(|l| l.is_authoritative(issuer));
    if let (Some(k), false) = (from_seed, authoritative) {
        return Ok((&k.key, HeldAs::Seed(k.kid.as_deref())));
    }
    let fetched = live.and_then(|l| l.key(issuer, kid));
    if authoritative {
        return match (fetched, from_seed) {
            (Some(key), _) => Ok((key, HeldAs::TokenKid)),
            (None, Some(_)) => Err(KeyMiss::Refused(format!(
                "key `{}` was withdrawn: the issuer no longer publishes it",
                named()
            ))),
            (None, None) => Err(KeyMiss::Unknown(format!("no key `{}`", named()))),
        };
    }
    fetched
        .map(|key| (key, HeldAs::TokenKid))
        .ok_or_else(|| KeyMiss::Unknown(format!("no key `{}`", named())))
}

/// The kid a chosen key is held under.
#[derive(Debug, Clone, Copy)]
enum HeldAs<'k> {
    /// A seed key, under its own kid (`None`: an issuer's only key without kid).
    Seed(Option<&'k str>),
    /// A fetched key, under the token's kid.
    TokenKid,
}

impl HeldAs<'_> {
    /// The kid to remember with a verified token.
    fn kid(self, token_kid: Option<&str>) -> Option<String> {
        match self {
            HeldAs::Seed(kid) => kid.map(str::to_owned),
            HeldAs::TokenKid => token_kid.map(str::to_owned),
        }
    }
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The ALB's `x-amzn-oidc-data` header.
    Alb,
    /// `Authorization: Bearer`.
    Bearer,
    /// The ALB's `x-amzn-oidc-accesstoken` (a Cognito access token).
    AlbAccess,
    /// A session cookie of browser sign-in ([`crate::signin`]): its ID token verifies as a
    /// bearer token of the sign-in's issuer.
    Session,
}

/// The credentials a request presents, as read from its headers.
#[derive(Debug, Clone, Default)]
pub struct Credentials<'a> {
    /// Every `x-amzn-oidc-data` header value.
    pub alb: Vec<&'a str>,
    /// Every `Authorization` header value.
    pub authorization: Vec<&'a str>,
    /// Every `x-amzn-oidc-accesstoken` header value.
    pub alb_access: Vec<&'a str>,
    /// The session cookie's sealed value, when the request has one; a bearer token wins over
    /// it ([`identify`]).
    pub session: Option<&'a str>,
}
