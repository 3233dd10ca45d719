//! Claim checks after the signature verified: times, audience, user and groups.

use serde_json::{Map, Value};

use super::names::{check_email_verified, check_scope, check_unambiguous};
use super::trace::{Check, Checks};
use crate::reason::DenyReason;
use crate::table::JwtIssuerSpec;

/// The special `user_claim` that derives a ServiceAccount user from the private
/// `kubernetes.io` claim of a projected ServiceAccount token.
pub const KUBERNETES_CLAIM: &str = "kubernetes.io";

pub use super::names::ClaimError;

fn malformed(detail: String) -> ClaimError {
    (DenyReason::TokenMalformed, detail)
}

/// Reads a NumericDate claim (seconds since the epoch; fractions are truncated).
/// A string, a negative number or anything else is malformed.
pub fn numeric_date(map: &Map<String, Value>, name: &str) -> Result<Option<u64>, ClaimError> {
    let Some(value) = map.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return Err(malformed(format!("`{name}` is not a number")));
    };
    if let Some(v) = n.as_u64() {
        return Ok(Some(v));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(malformed(format!("`{name}` is not a valid time"))),
    }
}

/// Checks `exp` (required) and `nbf` against `now` with `leeway`; returns `exp`.
pub fn check_times<T: Checks>(
    claims: &Map<String, Value>,
    exp: Option<u64>,
    now: u64,
    leeway: u64,
    checks: &mut T,
) -> Result<u64, ClaimError> {
    // The caller entered `Check::Exp` before it read `exp`.
    let Some(exp) = exp else {
        return Err((DenyReason::TokenExpired, "token has no `exp`".into()));
    };
    if now > exp.saturating_add(leeway) {
        return Err((
            DenyReason::TokenExpired,
            format!("token expired at {exp} (now {now}, leeway {leeway}s)"),
        ));
    }
    checks.enter(Check::Nbf);
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(leeway) {
            return Err((
                DenyReason::TokenNotYetValid,
                format!("token not valid before {nbf} (now {now}, leeway {leeway}s)"),
            ));
        }
    }
    Ok(exp)
}

/// Checks a JWT issuer's claims and builds the user and groups.
pub fn check_jwt<T: Checks>(
    spec: &JwtIssuerSpec,
    claims: &Map<String, Value>,
    now: u64,
    leeway: u64,
    checks: &mut T,
) -> Result<(String, Vec<String>, u64), ClaimError> {
    checks.enter(Check::Exp);
    let exp = numeric_date(claims, "exp")?;
    let iat = numeric_date(claims, "iat")?;
    let exp = check_times(claims, exp, now, leeway, checks)?;
    checks.enter(Check::Lifetime);
    // Every issuer has a maximum lifetime (a default when the table sets none), so no signed
    // token is good forever. Without `iat`, the lifetime counts from `nbf`, else from now.
    let max = spec.max_lifetime();
    let start = match iat {
        Some(iat) => iat,
        None => numeric_date(claims, "nbf")?.unwrap_or(now),
    };
    let lifetime = exp.saturating_sub(start);
    if lifetime > max {
        return Err((
            DenyReason::LifetimeTooLong,
            format!("token lives {lifetime}s; the issuer allows {max}s"),
        ));
    }
    if !spec.audiences.is_empty() {
        checks.enter(Check::Aud);
        check_audience(spec, claims)?;
    }
    checks.enter(Check::UserClaim);
    let user = if spec.user_claim == KUBERNETES_CLAIM {
        service_account_user(claims)?
    } else {
        user(claims, &spec.user_claim)?
    };
    if spec.require_email_verified && spec.user_claim == "email" {
        checks.enter(Check::EmailVerified);
        check_email_verified(claims)?;
    }
    let groups = match &spec.groups_claim {
        Some(name) => {
            checks.enter(Check::GroupsClaim);
            groups(claims, name, &spec.groups_prefix)?
        }
        None => Vec::new(),
    };
    checks.enter(Check::IdentityScope);
    check_scope(spec.identity_space(), &user, &groups)?;
    Ok((user, groups, exp))
}

fn check_audience(spec: &JwtIssuerSpec, claims: &Map<String, Value>) -> Result<(), ClaimError> {
    if spec.audiences.is_empty() {
        return Ok(());
    }
    let accepted = |aud: &str| spec.audiences.iter().any(|a| a == aud);
    let found = match claims.get("aud") {
        None => return Err((DenyReason::WrongAudience, "token has no `aud`".into())),
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(auds)) => {
            let mut found = false;
            for aud in auds {
                let Value::String(aud) = aud else {
                    return Err(malformed("`aud` holds a non-string".into()));
                };
                found |= accepted(aud);
            }
            found
        }
        Some(_) => return Err(malformed("`aud` is neither a string nor an array".into())),
    };
    if found {
        Ok(())
    } else {
        Err((
            DenyReason::WrongAudience,
            "`aud` holds none of the issuer's audiences".into(),
        ))
    }
}

/// The user from a string claim: present, non-empty, and read the same by every upstream
/// ([`check_unambiguous`]).
pub fn user(claims: &Map<String, Value>, name: &str) -> Result<String, ClaimError> {
    match claims.get(name) {
        Some(Value::String(user)) if !user.is_empty() => {
            check_unambiguous(&format!("user claim `{name}`"), user)?;
            Ok(user.clone())
        }
        _ => Err((
            DenyReason::ClaimMissing,
            format!("no non-empty string claim `{name}`"),
        )),
    }
}

/// `system:serviceaccount:<namespace>:<name>` from a projected ServiceAccount token's
/// `kubernetes.io` claim (`{"namespace": …, "serviceaccount": {"name": …}}`).
fn service_account_user(claims: &Map<String, Value>) -> Result<String, ClaimError> {
    let k8s = claims.get(KUBERNETES_CLAIM);
    let namespace = k8s.and_then(|k| k.get("namespace")).and_then(Value::as_str);
    let name = k8s
        .and_then(|k| k.get("serviceaccount"))
        .and_then(|sa| sa.get("name"))
        .and_then(Value::as_str);
    match (namespace, name) {
        (Some(ns), Some(name)) if !ns.is_empty() && !name.is_empty() => {
            let dns_label = |s: &str| {
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            };
            if dns_label(ns) && dns_label(name) {
                Ok(format!("system:serviceaccount:{ns}:{name}"))
            } else {
                Err(malformed(
                    "`kubernetes.io` namespace or serviceaccount name is not a valid name".into(),
                ))
            }
        }
        _ => Err((
            DenyReason::ClaimMissing,
            "no `kubernetes.io` namespace and serviceaccount name".into(),
        )),
    }
}

/// Groups from an array-of-strings (or single string) claim, each prefixed.
fn groups(
    claims: &Map<String, Value>,
    name: &str,
    prefix: &str,
) -> Result<Vec<String>, ClaimError> {
    let one = |g: &Value| match g {
        Value::String(g) => {
            check_unambiguous(&format!("a group in `{name}`"), g)?;
            Ok(format!("{prefix}{g}"))
        }
        _ => Err(malformed(format!("`{name}` holds a non-string"))),
    };
    match claims.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(single @ Value::String(_)) => Ok(vec![one(single)?]),
        Some(_) => Err(malformed(format!(
            "`{name}` is neither an array of strings nor a string"
        ))),
    }
}
