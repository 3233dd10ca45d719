//! From credential headers to one identity, by the precedence rule (see the module docs).

use super::encoding::shown;
use super::trace::{Check, Checks};
use super::{Credentials, Source, TokenFailure, VerifiedToken};
use crate::headers::ALB_ACCESS_HEADER;
use crate::reason::DenyReason;
use crate::table::{AccessTokenSpec, Precedence};

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
/// rule. When the ALB token verified and its issuer takes access tokens (`access` says how),
/// the ALB's access token is verified too and its groups join the identity. `Ok(None)`: no
/// token presented.
pub fn identify<'v, T, F, A>(
    creds: &Credentials<'_>,
    precedence: Precedence,
    checks: &mut T,
    access: A,
    mut verify: F,
) -> Result<Option<VerifiedToken>, TokenFailure>
where
    T: Checks,
    F: FnMut(Source, &str, &mut T) -> Result<VerifiedToken, TokenFailure>,
    A: Fn(&str) -> Option<&'v AccessTokenSpec>,
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
    // A session cookie stands where a bearer token would, and only when there is none.
    let bearer = match (bearer, creds.session) {
        (Some(t), _) => Some((Source::Bearer, t)),
        (None, Some(s)) => Some((Source::Session, s)),
        (None, None) => None,
    };
    let alb = alb.map(|t| (Source::Alb, t));
    let order = match precedence {
        Precedence::AlbFirst => [alb, bearer],
        Precedence::BearerFirst => [bearer, alb],
    };
    let mut chosen: Option<VerifiedToken> = None;
    // The ALB token, kept only when its issuer takes access tokens (and how).
    let mut alb_access: Option<(VerifiedToken, &AccessTokenSpec)> = None;
    for (source, token) in order.into_iter().flatten() {
        // INVARIANT: a presented token that fails verification fails the request, whichever
        // source it came from.
        if chosen.is_some() {
            checks.enter(Check::OtherToken);
        }
        let verified = verify(source, token, checks)?;
        if source == Source::Alb {
            alb_access = access(&verified.identity.issuer).map(|spec| (verified.clone(), spec));
        }
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
    if let (Some((alb, spec)), Some(identity)) = (alb_access, chosen.as_mut()) {
        with_access_token(creds, &alb, spec, identity, checks, &mut verify)?;
    }
    Ok(chosen)
}

/// Verifies the ALB's access token beside its verified `x-amzn-oidc-data` (`alb`) and adds its
/// groups to `identity`.
fn with_access_token<T, F>(
    creds: &Credentials<'_>,
    alb: &VerifiedToken,
    spec: &AccessTokenSpec,
    identity: &mut VerifiedToken,
    checks: &mut T,
    verify: &mut F,
) -> Result<(), TokenFailure>
where
    T: Checks,
    F: FnMut(Source, &str, &mut T) -> Result<VerifiedToken, TokenFailure>,
{
    let fail = |reason: DenyReason, detail: String| {
        TokenFailure::new(reason, detail).issuer(&alb.identity.issuer)
    };
    checks.enter(Check::AccessToken);
    let token = match creds.alb_access.as_slice() {
        [] if spec.required => {
            return Err(fail(
                DenyReason::AccessTokenMissing,
                format!(
                    "issuer `{}` requires the ALB's access token ({ALB_ACCESS_HEADER})",
                    alb.identity.issuer
                ),
            ))
        }
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(fail(
                DenyReason::TokenMalformed,
                format!("several {ALB_ACCESS_HEADER} headers"),
            ))
        }
    };
    let access = verify(Source::AlbAccess, token, checks)?;
    if access.identity.issuer != spec.issuer {
        return Err(fail(
            DenyReason::UnknownIssuer,
            format!(
                "access token from issuer `{}`; issuer `{}` takes those of `{}`",
                access.identity.issuer, alb.identity.issuer, spec.issuer
            ),
        ));
    }
    checks.enter(Check::Client);
    let client = access.client.as_deref().unwrap_or_default();
    if !spec.client_ids.iter().any(|c| c == client) {
        return Err(fail(
            DenyReason::WrongClient,
            format!(
                "access token for app client `{}`, which is not allowed",
                shown(client)
            ),
        ));
    }
    if alb.client.as_deref().is_some_and(|c| c != client) {
        return Err(fail(
            DenyReason::WrongClient,
            format!(
                "access token for app client `{}`; the ALB's is `{}`",
                shown(client),
                shown(alb.client.as_deref().unwrap_or_default())
            ),
        ));
    }
    checks.enter(Check::SameSub);
    if alb.sub.is_none() || access.sub != alb.sub {
        return Err(fail(
            DenyReason::AccessTokenOtherUser,
            "the access token's `sub` is not the ALB header's".into(),
        ));
    }
    for g in access.identity.groups {
        if !identity.identity.groups.contains(&g) {
            identity.identity.groups.push(g);
        }
    }
    identity.expires_at = identity.expires_at.min(access.expires_at);
    Ok(())
}
