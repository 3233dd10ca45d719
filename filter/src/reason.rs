//! Stable deny reason codes: what the filter answers in its JSON body, logs and counts, and what
//! `gatehouse check` / `test` compare against. Codes never change meaning once released.

use std::fmt;

/// Why a request is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DenyReason {
    /// No table has been loaded: the filter fails closed.
    NoTable,
    /// The path cannot be judged safely (encoded `/`, `..` above the root, `;`, control bytes).
    BadPath,
    /// The namespace taken from the request is not a valid Kubernetes namespace name.
    BadNamespace,
    /// The namespace query parameter is given more than once, or in a spelling other
    /// frameworks read differently (`namespace[]=`, `;` as a separator).
    AmbiguousNamespace,
    /// A namespaced route matches the path but not the method, and no route names the method
    /// (it would otherwise fall to a catch-all that judges no namespace).
    MethodNotAllowed,
    /// A method override header (`X-HTTP-Method-Override`, …) names another method than the
    /// one the request was judged as.
    MethodOverride,
    /// No token was presented on a path that needs one.
    NoIdentity,
    /// The token cannot be parsed (segments, base64url, JSON, claim types).
    TokenMalformed,
    /// The token's algorithm is not one its issuer allows (`none`, HMAC, …).
    AlgorithmNotAllowed,
    /// No issuer in the table matches the token.
    UnknownIssuer,
    /// The token names a key id the issuer does not have (or none where one is needed).
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the leeway) or missing.
    TokenExpired,
    /// `nbf` is in the future (beyond the leeway).
    TokenNotYetValid,
    /// The token lives longer than the issuer's maximum lifetime.
    LifetimeTooLong,
    /// `aud` holds none of the issuer's audiences.
    WrongAudience,
    /// An ALB token's `iss` or `client` is not the configured one.
    WrongIssuer,
    /// An ALB token's `signer` is not one of the configured ALB ARNs.
    WrongSigner,
    /// The token lacks the claim that names the user.
    ClaimMissing,
    /// The user or a group holds whitespace at either end, Unicode whitespace, or control or
    /// format characters: an upstream could read it as another name.
    BadIdentityValue,
    /// The identity is outside what its issuer may vouch for (a `system:` name from an issuer
    /// of users, or a non-ServiceAccount name from a ServiceAccount issuer).
    IdentityOutOfScope,
    /// The user is an `email` whose `email_verified` is not true.
    EmailNotVerified,
    /// The token carries a `crit` header Gatehouse does not understand.
    UnsupportedCritical,
    /// Two valid tokens name different users.
    ConflictingIdentities,
    /// The ALB issuer requires its access token (`x-amzn-oidc-accesstoken`) and there is none.
    AccessTokenMissing,
    /// The access token is not one (`token_use` is not `access`: an ID token, say).
    NotAccessToken,
    /// The access token's `client_id` is not an allowed app client, or not the ALB's `client`.
    WrongClient,
    /// The access token belongs to another user than `x-amzn-oidc-data` (another `sub`).
    AccessTokenOtherUser,
    /// Several `Authorization` headers, or a non-Bearer scheme.
    BadAuthorizationHeader,
    /// The session cookie does not open: tampered, truncated, sealed under a key the gateway
    /// does not hold, or not a Gatehouse session.
    SessionInvalid,
    /// The session cookie was signed out on this gateway.
    SessionEnded,
    /// A sign-in callback without this browser's sign-in: no or an expired sign-in cookie, or a
    /// `state` that is not the one it sent.
    SignInStateMismatch,
    /// The sign-in did not complete: the issuer refused, the token endpoint refused the code
    /// (reused, expired) or did not answer, or its ID token is not valid for this client.
    SignInFailed,
    /// The ID token of a sign-in lacks the sign-in's `nonce`, or carries another.
    NonceMismatch,
    /// No route in the table matches the request.
    RouteUnknown,
    /// The identity holds no grant with the route's action in the route's namespace.
    NotPermitted,
}

impl DenyReason {
    /// Every reason, for docs, metrics and tests.
    pub const ALL: [DenyReason; 36] = [
        DenyReason::NoTable,
        DenyReason::BadPath,
        DenyReason::BadNamespace,
        DenyReason::AmbiguousNamespace,
        DenyReason::MethodNotAllowed,
        DenyReason::MethodOverride,
        DenyReason::NoIdentity,
        DenyReason::TokenMalformed,
        DenyReason::AlgorithmNotAllowed,
        DenyReason::UnknownIssuer,
        DenyReason::UnknownKid,
        DenyReason::BadSignature,
        DenyReason::TokenExpired,
        DenyReason::TokenNotYetValid,
        DenyReason::LifetimeTooLong,
        DenyReason::WrongAudience,
        DenyReason::WrongIssuer,
        DenyReason::WrongSigner,
        DenyReason::ClaimMissing,
        DenyReason::BadIdentityValue,
        DenyReason::IdentityOutOfScope,
        DenyReason::EmailNotVerified,
        DenyReason::UnsupportedCritical,
        DenyReason::ConflictingIdentities,
        DenyReason::AccessTokenMissing,
        DenyReason::NotAccessToken,
        DenyReason::WrongClient,
        DenyReason::AccessTokenOtherUser,
        DenyReason::BadAuthorizationHeader,
        DenyReason::SessionInvalid,
        DenyReason::SessionEnded,
        DenyReason::SignInStateMismatch,
        DenyReason::SignInFailed,
        DenyReason::NonceMismatch,
        DenyReason::RouteUnknown,
        DenyReason::NotPermitted,
    ];

    /// The stable code (`not_permitted`, …).
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::NoTable => "no_table",
            DenyReason::BadPath => "bad_path",
            DenyReason::BadNamespace => "bad_namespace",
            DenyReason::AmbiguousNamespace => "ambiguous_namespace",
            DenyReason::MethodNotAllowed => "method_not_allowed",
            DenyReason::MethodOverride => "method_override",
            DenyReason::NoIdentity => "no_identity",
            DenyReason::TokenMalformed => "token_malformed",
            DenyReason::AlgorithmNotAllowed => "algorithm_not_allowed",
            DenyReason::UnknownIssuer => "unknown_issuer",
            DenyReason::UnknownKid => "unknown_kid",
            DenyReason::BadSignature => "bad_signature",
            DenyReason::TokenExpired => "token_expired",
            DenyReason::TokenNotYetValid => "token_not_yet_valid",
            DenyReason::LifetimeTooLong => "lifetime_too_long",
            DenyReason::WrongAudience => "wrong_audience",
            DenyReason::WrongIssuer => "wrong_issuer",
            DenyReason::WrongSigner => "wrong_signer",
            DenyReason::ClaimMissing => "claim_missing",
            DenyReason::BadIdentityValue => "bad_identity_value",
            DenyReason::IdentityOutOfScope => "identity_out_of_scope",
            DenyReason::EmailNotVerified => "email_not_verified",
            DenyReason::UnsupportedCritical => "unsupported_critical",
            DenyReason::ConflictingIdentities => "conflicting_identities",
            DenyReason::AccessTokenMissing => "access_token_missing",
            DenyReason::NotAccessToken => "not_access_token",
            DenyReason::WrongClient => "wrong_client",
            DenyReason::AccessTokenOtherUser => "access_token_other_user",
            DenyReason::BadAuthorizationHeader => "bad_authorization_header",
            DenyReason::SessionInvalid => "session_invalid",
            DenyReason::SessionEnded => "session_ended",
            DenyReason::SignInStateMismatch => "signin_state_mismatch",
            DenyReason::SignInFailed => "signin_failed",
            DenyReason::NonceMismatch => "nonce_mismatch",
            DenyReason::RouteUnknown => "route_unknown",
            DenyReason::NotPermitted => "not_permitted",
        }
    }

    /// Parses a stable code back (for `gatehouse test` assertion files).
    pub fn from_code(code: &str) -> Option<DenyReason> {
        DenyReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The HTTP status the filter answers with: 400 for requests that cannot be judged, 405 for
    /// a method no route of a namespaced path names, 401 when identity is missing or invalid,
    /// 403 when a verified identity is not allowed, 503 without a table.
    pub fn status(self) -> u32 {
        match self {
            DenyReason::NoTable => 503,
            DenyReason::BadPath
            | DenyReason::BadNamespace
            | DenyReason::AmbiguousNamespace
            | DenyReason::MethodOverride
            | DenyReason::SignInStateMismatch => 400,
            DenyReason::MethodNotAllowed => 405,
            DenyReason::RouteUnknown | DenyReason::NotPermitted => 403,
            _ => 401,
        }
    }

    /// Whether audit mode may let this denial through. Only authorization denials of a verified
    /// identity qualify: audit mode never passes a request whose identity was not verified, nor
    /// one whose path cannot be judged.
    pub fn auditable(self) -> bool {
        matches!(self, DenyReason::RouteUnknown | DenyReason::NotPermitted)
    }

    /// Whether this is a token verification failure (counted per issuer).
    pub fn is_token_failure(self) -> bool {
        self.status() == 401 && !matches!(self, DenyReason::NoIdentity)
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in DenyReason::ALL {
            assert_eq!(DenyReason::from_code(r.code()), Some(r));
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
        }
        assert_eq!(DenyReason::from_code("nope"), None);
    }

    #[test]
    fn statuses_split_identity_from_authorization() {
        assert_eq!(DenyReason::NoIdentity.status(), 401);
        assert_eq!(DenyReason::BadSignature.status(), 401);
        assert_eq!(DenyReason::NotPermitted.status(), 403);
        assert_eq!(DenyReason::BadPath.status(), 400);
        assert!(!DenyReason::NoIdentity.auditable());
        assert!(DenyReason::NotPermitted.auditable());
        assert!(DenyReason::WrongSigner.is_token_failure());
        assert!(!DenyReason::NoIdentity.is_token_failure());
    }
}
