//! A token's verification, step by step, for `gatehouse explain`: which issuer and key were
//! chosen, which checks ran and passed, and which one failed. The verdict itself always comes
//! from the filter's verifiers ([`gatehouse_filter::token::identify`]), and so do the checks:
//! the verifiers announce each step as they start it ([`gatehouse_filter::token::trace`]), so
//! the list is the steps that ran, in their order, the last one failed when the token did.
//! This module only adds the token's (unverified) `alg` and `kid` and where its key comes
//! from. The token itself is never printed.

use gatehouse_filter::reason::DenyReason;
use gatehouse_filter::table::{IssuerSpec, Precedence};
use gatehouse_filter::token::encoding::{b64_lenient, parse_object, shown, split};
use gatehouse_filter::token::trace::Check as TokenCheck;
use gatehouse_filter::token::{identify, Credentials, TokenFailure, VerifiedToken};
use gatehouse_filter::Engine;
use serde::Serialize;

/// One verification check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its name (`signature`, `exp`, `aud`, …).
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
}

/// What `explain` shows about a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenTrace {
    /// `alb` or `bearer`.
    pub source: &'static str,
    /// `alg` from the header (unverified, sanitized).
    pub alg: Option<String>,
    /// `kid` from the header (unverified, sanitized).
    pub kid: Option<String>,
    /// The issuer the token was judged against, when one was chosen.
    pub issuer: Option<String>,
    /// The checks in the order they ran; a failed one is last.
    pub checks: Vec<Check>,
    /// The stable reason code, when verification failed.
    pub failure: Option<String>,
    /// The verifier's one-line detail on a failure.
    pub detail: Option<String>,
    /// Where the token's key comes from: the compiled seed (its file), or the issuer's key
    /// URL, which the gateway fetches (live keys). `None` when no issuer was chosen.
    pub key: Option<String>,
    /// The claim the chosen issuer reads the user from (`userClaim`).
    pub user_claim: Option<String>,
    /// When the user claim is missing: the names (never the values) of the token's top-level
    /// non-empty string claims, sorted, to pick `userClaim` from.
    pub string_claims: Option<Vec<String>>,
}

/// Most claim names [`TokenTrace::string_claims`] lists.
const MAX_CLAIM_NAMES: usize = 32;

/// The result of verifying one token: the trace, and the verified token (none presented) or
/// the failure.
pub type Verified = (
    Option<TokenTrace>,
    Result<Option<VerifiedToken>, TokenFailure>,
);

/// Verifies a request's credentials at `now` with the engine's verifiers and the gateway's
/// leeway and precedence, as the filter does, tracing the steps of the token the precedence
/// rule judges first (no trace when there is no token).
pub fn verify(engine: &Engine, creds: &Credentials<'_>, now: u64) -> Verified {
    let leeway = engine.gateway().leeway_seconds;
    // The verifier announces each step as it starts it: the trace is what ran, and on a
    // failure the last step is the one that failed.
    let mut steps: Vec<TokenCheck> = Vec::new();
    let v = engine.verifiers();
    let found = identify(
        creds,
        engine.gateway().precedence,
        &mut steps,
        |issuer| v.alb_access(issuer),
        |source, t, steps| v.verify(source, t, now, leeway, None, steps),
    );
    // The token shown: the one the precedence rule judges first.
    let bearer = creds.authorization.first().map(|v| {
        let scheme = v.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer "));
        scheme.map_or(*v, |_| &v[7..])
    });
    let alb_first = engine.gateway().precedence == Precedence::AlbFirst;
    let (token, alb) = match (creds.alb.first(), bearer) {
        (Some(a), Some(_)) if alb_first => (*a, true),
        (_, Some(b)) => (b, false),
        (Some(a), None) => (*a, true),
        (None, None) => return (None, found),
    };
    let result = found.clone().and_then(|v| {
        v.ok_or_else(|| TokenFailure::new(DenyReason::NoIdentity, "no token presented"))
    });
    let (alg, kid) = header_fields(token);
    let issuer = match &result {
        Ok(v) => Some(v.identity.issuer.clone()),
        Err(f) => f.issuer.clone(),
    };
    let spec = issuer_spec(engine, issuer.as_deref());
    let ran = steps.len();
    let checks = steps
        .iter()
        .enumerate()
        .map(|(i, step)| Check {
            name: step.name(),
            passed: result.is_ok() || i + 1 < ran,
        })
        .collect();
    let (failure, detail) = match &result {
        Ok(_) => (None, None),
        Err(f) => (Some(f.reason.code().to_string()), Some(f.detail.clone())),
    };
    let user_claim = spec.map(|i| match i {
        IssuerSpec::Alb(a) => a.user_claim.clone(),
        IssuerSpec::Jwt(j) => j.user_claim.clone(),
    });
    let claim_missing = matches!(&result, Err(f) if f.reason == DenyReason::ClaimMissing);
    let key = spec.map(|i| key_line(engine, i, &result, kid.as_deref()));
    let trace = TokenTrace {
        key,
        source: if alb { "alb" } else { "bearer" },
        alg,
        kid,
        issuer,
        checks,
        failure,
        detail,
        user_claim,
        string_claims: claim_missing.then(|| string_claims(token)),
    };
    (Some(trace), found)
}

/// Where the key of a token of `issuer` comes from, compiled or fetched by the gateway.
fn key_line(
    engine: &Engine,
    issuer: &IssuerSpec,
    result: &Result<VerifiedToken, TokenFailure>,
    header_kid: Option<&str>,
) -> String {
    let (keys, fetch, per_kid) = match issuer {
        IssuerSpec::Alb(a) => (&a.keys, &a.key_fetch, true),
        IssuerSpec::Jwt(j) => (&j.keys, &j.key_fetch, false),
    };
    let kid = match result {
        Ok(v) => v.kid.clone(),
        Err(f) => f.kid.clone(),
    }
    .or_else(|| header_kid.map(str::to_owned));
    let compiled = keys
        .iter()
        .find(|k| k.kid == kid || (keys.len() == 1 && k.kid.is_none()));
    let fetched = match (fetch, per_kid) {
        (None, _) => "the gateway uses compiled keys only (no key URL)".to_string(),
        (Some(f), false) => format!(
            "the gateway refreshes the issuer's keys from {} and then trusts only what it publishes",
            f.url
        ),
        (Some(f), true) => format!("the gateway fetches new kids from {}<kid>", f.url),
    };
    match (compiled, result) {
        (Some(k), _) => format!("compiled, from {}; {fetched}", k.source),
        (None, Err(f)) if f.fetchable && fetch.is_some() => format!(
            "not compiled; in the gateway the request waits (at most {} ms) while the key is fetched, then is decided with what the issuer publishes; {fetched}",
            engine.gateway().key_refresh.hold_milliseconds
        ),
        (None, _) => format!("not compiled; {fetched}"),
    }
}

/// `alg` and `kid` from the token's header, without verifying anything.
fn header_fields(token: &str) -> (Option<String>, Option<String>) {
    let header = split(token)
        .ok()
        .and_then(|p| b64_lenient(p.header))
        .and_then(|h| parse_object(&h).ok());
    let field = |name: &str| {
        header
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str())
            .map(shown)
    };
    (field("alg"), field("kid"))
}

/// The names of the payload's top-level non-empty string claims (sanitized, sorted, at most
/// [`MAX_CLAIM_NAMES`]); read without verifying, as only names are shown.
fn string_claims(token: &str) -> Vec<String> {
    let payload = split(token)
        .ok()
        .and_then(|p| b64_lenient(p.payload))
        .and_then(|p| parse_object(&p).ok());
    let mut names: Vec<String> = payload
        .iter()
        .flatten()
        .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
        .map(|(k, _)| shown(k))
        .collect();
    names.sort();
    names.truncate(MAX_CLAIM_NAMES);
    names
}

/// The issuer of the table named `issuer`.
fn issuer_spec<'a>(engine: &'a Engine, issuer: Option<&str>) -> Option<&'a IssuerSpec> {
    issuer.and_then(|name| {
        engine.table.issuers.iter().find(|i| match i {
            IssuerSpec::Alb(a) => a.name == name,
            IssuerSpec::Jwt(j) => j.name == name,
        })
    })
}
