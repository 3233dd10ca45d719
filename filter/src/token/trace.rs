//! The steps of token verification, as the verifier performs them: the verifier announces each
//! step before it runs it ([`Checks::enter`]), so a trace is the list of steps that actually
//! ran, and when verification fails the last step entered is the one that failed. The gateway
//! passes `()` (nothing recorded, nothing spent); `explain` passes a `Vec<Check>`.

use serde::Serialize;

/// One step of token verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The `Authorization` header: one header, `Bearer <token>`.
    AuthorizationHeader,
    /// Three base64url segments; a JSON object header; a readable signature.
    Format,
    /// `alg` is one Gatehouse verifies (never `none` or HMAC; ES256 for the ALB).
    Alg,
    /// No `crit` header.
    Crit,
    /// The payload decodes to a JSON object.
    Payload,
    /// `iss` names an issuer of the table.
    Iss,
    /// The issuer allows `alg`.
    IssuerAlg,
    /// A key for `kid` (compiled or fetched), in force.
    Kid,
    /// The key's type fits `alg`.
    KeyType,
    /// The signature verifies.
    Signature,
    /// The ALB's `signer` is one of the issuer's ARNs.
    Signer,
    /// The ALB's `iss` / `client` match the issuer's.
    IssClient,
    /// `exp` is present and not past (with the leeway).
    Exp,
    /// `nbf`, when present, is not in the future (with the leeway).
    Nbf,
    /// `exp - iat` is within the issuer's maximum lifetime.
    Lifetime,
    /// `aud` holds one of the issuer's audiences.
    Aud,
    /// The user claim is present and a name every upstream reads the same way.
    UserClaim,
    /// `email_verified` is true.
    EmailVerified,
    /// The groups claim holds names every upstream reads the same way.
    GroupsClaim,
    /// The name is one the issuer may vouch for (people or ServiceAccounts).
    IdentityScope,
    /// The request carries a second token (ALB header and bearer token): its steps follow.
    OtherToken,
    /// When a request carries both an ALB header and a bearer token, they name the same user.
    SameUser,
    /// The ALB's access token (`x-amzn-oidc-accesstoken`), when its issuer takes one: its
    /// steps follow.
    AccessToken,
    /// The access token says `token_use: access`.
    TokenUse,
    /// Its `client_id` is an allowed app client and the ALB's `client`.
    Client,
    /// Its `sub` is the `sub` of `x-amzn-oidc-data`.
    SameSub,
}

impl Check {
    /// The name `explain` shows.
    pub fn name(self) -> &'static str {
        match self {
            Check::AuthorizationHeader => "authorization header",
            Check::Format => "format",
            Check::Alg => "alg",
            Check::Crit => "crit",
            Check::Payload => "payload",
            Check::Iss => "iss",
            Check::IssuerAlg => "issuer alg",
            Check::Kid => "kid",
            Check::KeyType => "key type",
            Check::Signature => "signature",
            Check::Signer => "signer",
            Check::IssClient => "iss/client",
            Check::Exp => "exp",
            Check::Nbf => "nbf",
            Check::Lifetime => "lifetime",
            Check::Aud => "aud",
            Check::UserClaim => "user claim",
            Check::EmailVerified => "email_verified",
            Check::GroupsClaim => "groups claim",
            Check::IdentityScope => "identity scope",
            Check::OtherToken => "then the other token",
            Check::SameUser => "same user",
            Check::AccessToken => "then the access token",
            Check::TokenUse => "token_use",
            Check::Client => "client_id",
            Check::SameSub => "same sub",
        }
    }
}

/// Where the verifier announces its steps.
pub trait Checks {
    /// The verifier starts `check`. If verification then fails, `check` is what failed.
    fn enter(&mut self, check: Check);
}

/// The gateway's: nothing recorded.
impl Checks for () {
    #[inline(always)]
    fn enter(&mut self, _check: Check) {}
}

/// `explain`'s: every step, in order.
impl Checks for Vec<Check> {
    fn enter(&mut self, check: Check) {
        self.push(check);
    }
}
