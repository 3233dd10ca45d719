//! From credential headers to one identity, by the precedence rule (see the module docs).

use super::trace::{Check, Checks};
use super::{Credentials, Source, TokenFailure, VerifiedToken};
use crate::reason::DenyReason;
use crate::table::Precedence;

/// The token in the request's `Authorization` headers: none, or exactly one header holding
/// `Bearer <token>` (scheme in any case, one space, a non-empty token without whitespace).
fn bearer_token<'a>(values: &[&'a str]) -> Result<Option<&'a str>, TokenFailure> {
    let bad = |detail: &str| TokenFailure::new(DenyReason::BadAuthorizationHeader, detail);
    let value = match values {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(bad("several Authorization headers")),
    };
    let scheme = value.get(..7);
    let token = value.get(7..).unwrap_or_default();
    if !scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer ")) {
        return Err(bad("Authorization scheme is not `Bearer `"));
    }
    if token.is_empty() {
        return Err(bad("empty bearer token"));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("bearer token holds whitespace"));
    }
    Ok(Some(token))
}

/// Finds the request's identity: extracts the tokens from `creds`, verifies each through
/// `verify` (which the filter wraps with its verified-token cache), and applies the precedence
/// rule. `Ok(None)`: no token presented.
pub fn identify<T, F>(
    creds: &Credentials<'_>,
    precedence: Precedence,
    checks: &mut T,
    mut verify: F,
) -> Result<Option<VerifiedToken>, TokenFailure>
where
    T: Checks,
    F: FnMut(Source, &str, &mut T) -> Result<VerifiedToken, TokenFailure>,
{
    if !creds.authorization.is_empty() {
        checks.enter(Check::AuthorizationHeader);
    }
    let bearer = bearer_token(&creds.authorization)?;
    let alb = match creds.alb.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => {
            return Err(TokenFailure::new(
                DenyReason::TokenMalformed,
                "several x-amzn-oidc-data headers",
            ))
        }
    };
    let order = match precedence {
        Precedence::AlbFirst => [(Source::Alb, alb), (Source::Bearer, bearer)],
        Precedence::BearerFirst => [(Source::Bearer, bearer), (Source::Alb, alb)],
    };
    let mut chosen: Option<VerifiedToken> = None;
    for (source, token) in order {
        let Some(token) = token else { continue };
        // INVARIANT: a presented token that fails verification fails the request, whichever
        // source it came from.
        if chosen.is_some() {
            checks.enter(Check::OtherToken);
        }
        let verified = verify(source, token, checks)?;
        match &chosen {
            None => chosen = Some(verified),
            Some(first) if first.identity.user == verified.identity.user => {}
            Some(first) => {
                checks.enter(Check::SameUser);
                return Err(TokenFailure {
                    reason: DenyReason::ConflictingIdentities,
                    issuer: Some(first.identity.issuer.clone()),
                    kid: None,
                    detail: format!(
                        "the ALB token and the bearer token name different users (issuers `{}` and `{}`)",
                        first.identity.issuer, verified.identity.issuer
                    ),
                    fetchable: false,
                });
            }
        }
    }
    Ok(chosen)
}
