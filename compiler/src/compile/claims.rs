//! The claims an issuer reads the user and groups from. Any top-level claim of the token is
//! accepted (`email`, `sub`, `preferred_username`, Cognito's `username`, `upn`, a namespaced
//! `https://example.com/email`); what can be checked without a token is checked here: a name
//! at all, no whitespace or control characters, and a warning for a dotted path, which the
//! filter would read as one top-level member of that exact name. `kubernetes.io` is special:
//! the ServiceAccount of a projected ServiceAccount token, for JWT issuers only.

use gatehouse_filter::token::claims::KUBERNETES_CLAIM;

use super::Ctx;
use crate::yaml::{Document, Step};

/// The user claim of an issuer (default `email`), checked; `alb` says the issuer is an ALB.
pub(crate) fn user_claim(
    claim: &Option<String>,
    alb: bool,
    doc: &Document,
    at: &[Step],
    ctx: &mut Ctx<'_>,
) -> String {
    let c = claim.clone().unwrap_or_else(|| "email".into());
    if alb && c == KUBERNETES_CLAIM {
        ctx.report(
            doc.error(
                "invalid-value",
                at,
                "`userClaim: kubernetes.io` is for ServiceAccount tokens of a `jwt` issuer; an ALB's tokens never carry it",
            )
            .with_hint("name the claim of the IdP's userinfo that holds the user, such as `email`"),
        );
    } else {
        check_name("userClaim", &c, doc, at, ctx);
    }
    c
}

/// The groups claim of a JWT issuer, when it has one, checked.
pub(crate) fn groups_claim(claim: &Option<String>, doc: &Document, at: &[Step], ctx: &mut Ctx<'_>) {
    if let Some(c) = claim {
        check_name("groupsClaim", c, doc, at, ctx);
    }
}

/// Why `name` cannot be a claim name, if it cannot.
fn malformed(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("holds whitespace or control characters")
    } else {
        None
    }
}

/// Whether `name` looks like a path into nested claims (`realm_access.roles`) rather than
/// one member: dotted, and neither `kubernetes.io` nor a namespaced URL or `prefix:` claim.
fn looks_like_a_path(name: &str) -> bool {
    name != KUBERNETES_CLAIM && name.contains('.') && !name.contains([':', '/'])
}

fn check_name(field: &str, name: &str, doc: &Document, at: &[Step], ctx: &mut Ctx<'_>) {
    let example = if field == "groupsClaim" {
        "`groups`"
    } else {
        "`preferred_username`, `email` or `sub`"
    };
    if let Some(why) = malformed(name) {
        let message = if name.is_empty() {
            format!("`{field}` {why}")
        } else {
            format!("`{field}` `{}` {why}", name.escape_debug())
        };
        ctx.report(doc.error("invalid-value", at, message).with_hint(format!(
            "write the claim's name exactly as the token carries it, such as {example}"
        )));
    } else if looks_like_a_path(name) {
        ctx.report(
            doc.warning(
                "nested-claim",
                at,
                format!("`{field}` `{name}` is read as one top-level claim named exactly that, not as a path into nested claims"),
            )
            .with_hint(format!(
                "name a top-level claim of the token, such as {example} (have the IdP map nested values to one); nested claims are not read"
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_top_level_claim_name_is_accepted() {
        for name in [
            "email",
            "sub",
            "preferred_username",
            "username",
            "upn",
            "cognito:username",
            "https://example.com/claims/email",
            "kubernetes.io",
        ] {
            assert_eq!(malformed(name), None, "{name}");
            assert!(!looks_like_a_path(name), "{name}");
        }
    }

    #[test]
    fn what_cannot_be_a_claim_is_refused() {
        assert!(malformed("").is_some());
        assert!(malformed("user name").is_some());
        assert!(malformed("email\n").is_some());
        assert!(malformed("e\u{7}mail").is_some());
        assert!(looks_like_a_path("realm_access.roles"));
        assert!(looks_like_a_path("profile.email"));
    }
}
