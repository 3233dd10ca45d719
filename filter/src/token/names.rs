//! What a verified user or group name may be, before Gatehouse judges it and writes it into a
//! header: the same bytes are judged and forwarded, so a name must read the same to every
//! upstream, and an issuer may only vouch for the names of its own kind.
//!
//! - *Unambiguous*: no whitespace at either end (HTTP parsers trim it: `"alice@example.com "`
//!   would be judged as a stranger and served as alice), no whitespace other than the ASCII
//!   space anywhere (NBSP and friends), no control characters (CR, LF, tab, NUL, …) and no
//!   format characters (zero-width spaces and joiners, bidi overrides, soft hyphens, BOM).
//!   Refused as `bad_identity_value`.
//! - *In scope*: an issuer of users never vouches for a `system:` name (user or group), which
//!   is how Kubernetes names its own identities; a ServiceAccount issuer vouches only for
//!   `system:serviceaccount:<namespace>:<name>` users. Refused as `identity_out_of_scope`.
//! - *Verified email*: an issuer whose user claim is `email` requires `email_verified` to be
//!   `true` (or `"true"`, as Cognito's userinfo writes it) unless the table says otherwise:
//!   an IdP that lets users set their email without proving it would let them be anyone.
//!   Refused as `email_not_verified`.

use serde_json::{Map, Value};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::encoding::shown;
use crate::path::is_namespace_name;
use crate::reason::DenyReason;
use crate::table::IdentitySpace;

/// A claim check failure: the reason and one line for operators.
pub type ClaimError = (DenyReason, String);

/// The prefix of every Kubernetes ServiceAccount user.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Checks that a user or group name (`what` says which, for the detail) reads the same to
/// every upstream.
pub fn check_unambiguous(what: &str, value: &str) -> Result<(), ClaimError> {
    let refuse = |why: &str| {
        Err((
            DenyReason::BadIdentityValue,
            format!("{what} `{}` {why}", shown(value)),
        ))
    };
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return refuse("has whitespace at an end");
    }
    for c in value.chars() {
        if c.is_control() {
            return refuse("holds a control character");
        }
        if c.is_whitespace() && c != ' ' {
            return refuse("holds whitespace other than a space");
        }
        if c.general_category() == GeneralCategory::Format {
            return refuse("holds an invisible format character");
        }
    }
    Ok(())
}

/// Checks that `user` (and the groups) are names the issuer may vouch for.
pub fn check_scope(space: IdentitySpace, user: &str, groups: &[String]) -> Result<(), ClaimError> {
    let out_of_scope = |detail: String| Err((DenyReason::IdentityOutOfScope, detail));
    match space {
        IdentitySpace::Users => {
            if user.starts_with("system:") {
                return out_of_scope(format!(
                    "user `{}` is a Kubernetes name; this issuer vouches for users only",
                    shown(user)
                ));
            }
            if let Some(g) = groups.iter().find(|g| g.starts_with("system:")) {
                return out_of_scope(format!(
                    "group `{}` is a Kubernetes name; this issuer vouches for users only",
                    shown(g)
                ));
            }
            Ok(())
        }
        IdentitySpace::ServiceAccounts => {
            let named = user
                .strip_prefix(SERVICE_ACCOUNT_PREFIX)
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(ns, name)| is_namespace_name(ns) && is_object_name(name));
            if named {
                Ok(())
            } else {
                out_of_scope(format!(
                    "user `{}` is not `system:serviceaccount:<namespace>:<name>`; this issuer vouches for ServiceAccounts only",
                    shown(user)
                ))
            }
        }
    }
}

/// A Kubernetes object name (RFC 1123 subdomain: lower-case letters, digits, `-` and `.`).
fn is_object_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_namespace_name)
}

/// Checks `email_verified` for an issuer whose user is the `email` claim.
pub fn check_email_verified(claims: &Map<String, Value>) -> Result<(), ClaimError> {
    match claims.get("email_verified") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::String(s)) if s == "true" => Ok(()),
        Some(Value::Bool(false)) | Some(Value::String(_)) => Err((
            DenyReason::EmailNotVerified,
            "`email_verified` is not true".into(),
        )),
        None => Err((
            DenyReason::EmailNotVerified,
            "token has no `email_verified`; the issuer requires a verified email".into(),
        )),
        Some(_) => Err((
            DenyReason::TokenMalformed,
            "`email_verified` is neither a boolean nor a string".into(),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(r: Result<(), ClaimError>) -> Option<DenyReason> {
        r.err().map(|(r, _)| r)
    }

    #[test]
    fn names_that_read_differently_upstream_are_refused() {
        for bad in [
            "alice@example.com ",
            " team-b-editors",
            "\talice",
            "alice\u{a0}@example.com",
            "alice\u{200b}@example.com",
            "\u{202e}moc.elpmaxe@ecila",
            "alice\u{feff}",
            "alice\u{ad}@example.com",
            "alice\r\nkubeflow-groups: admins",
            "alice\u{3000}",
            "ali\u{2060}ce",
        ] {
            assert_eq!(
                reason(check_unambiguous("user", bad)),
                Some(DenyReason::BadIdentityValue),
                "{bad:?}"
            );
        }
        for good in ["alice@example.com", "ML Researchers", "équipe-ß", "用户"] {
            assert_eq!(reason(check_unambiguous("group", good)), None, "{good}");
        }
    }

    #[test]
    fn issuers_vouch_for_their_own_kind_of_name() {
        let sa = "system:serviceaccount:team-a:default-editor";
        assert_eq!(
            reason(check_scope(IdentitySpace::Users, sa, &[])),
            Some(DenyReason::IdentityOutOfScope)
        );
        assert_eq!(
            reason(check_scope(
                IdentitySpace::Users,
                "a@b",
                &["system:masters".into()]
            )),
            Some(DenyReason::IdentityOutOfScope)
        );
        assert_eq!(
            reason(check_scope(IdentitySpace::Users, "a@b", &["ops".into()])),
            None
        );
        assert_eq!(
            reason(check_scope(IdentitySpace::ServiceAccounts, sa, &[])),
            None
        );
        for bad in [
            "alice@example.com",
            "system:serviceaccount:team-a",
            "system:serviceaccount:Team:x",
            "system:serviceaccount:a:b:c",
            "system:admin",
        ] {
            assert_eq!(
                reason(check_scope(IdentitySpace::ServiceAccounts, bad, &[])),
                Some(DenyReason::IdentityOutOfScope),
                "{bad}"
            );
        }
    }

    #[test]
    fn email_verified_must_be_true() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            reason(check_email_verified(&claims(
                json!({"email_verified": true})
            ))),
            None
        );
        assert_eq!(
            reason(check_email_verified(&claims(
                json!({"email_verified": "true"})
            ))),
            None
        );
        for (v, want) in [
            (
                json!({"email_verified": false}),
                DenyReason::EmailNotVerified,
            ),
            (
                json!({"email_verified": "false"}),
                DenyReason::EmailNotVerified,
            ),
            (
                json!({"email_verified": "TRUE "}),
                DenyReason::EmailNotVerified,
            ),
            (json!({}), DenyReason::EmailNotVerified),
            (json!({"email_verified": 1}), DenyReason::TokenMalformed),
        ] {
            assert_eq!(
                reason(check_email_verified(&claims(v.clone()))),
                Some(want),
                "{v}"
            );
        }
    }
}
